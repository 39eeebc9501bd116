//! The LLM path: ask, validate, feed the exact errors back, at most three attempts in all.

use serde_json::Value;
use strategy::Strategy;

use crate::llm::{Llm, LlmRequest, Turn};
use crate::prompt::{SYSTEM_PROMPT, response_schema};
use crate::{GenerateError, Generated};

/// Attempts in all, the first one included.
pub const MAX_ATTEMPTS: u32 = 3;

fn strip_nulls(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.retain(|_, x| !x.is_null());
            m.values_mut().for_each(strip_nulls);
        }
        Value::Array(a) => a.iter_mut().for_each(strip_nulls),
        _ => {}
    }
}

/// A model's answer: the strategy, and what it says it could not say or had to change.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelAnswer {
    /// The validated strategy.
    pub strategy: Strategy,
    /// `unsupported`: what the idea asked for that the language cannot say.
    pub unsupported: Vec<String>,
    /// `approximations`: what was changed to fit.
    pub approximations: Vec<String>,
}

/// Takes a list of notes out of the reply object (absent: none; anything but a list of text is
/// an error for the model).
fn notes(v: &mut Value, key: &str) -> Result<Vec<String>, String> {
    let Some(x) = v.as_object_mut().and_then(|m| m.remove(key)) else {
        return Ok(Vec::new());
    };
    let Value::Array(items) = x else {
        return Err(format!("`{key}` must be a list of short texts"));
    };
    items
        .into_iter()
        .map(|i| match i {
            Value::String(s) => Ok(s.trim().to_owned()),
            _ => Err(format!("`{key}` must be a list of short texts")),
        })
        .filter(|s| s.as_ref().map_or(true, |s| !s.is_empty()))
        .collect()
}

/// Reads a model's JSON answer into a validated strategy (with its `unsupported` and
/// `approximations` notes), or the exact errors to send back.
///
/// # Errors
/// A message for the model: what is wrong and where.
pub fn answer_from_json(text: &str) -> Result<ModelAnswer, String> {
    let trimmed = text.trim();
    // Some models wrap JSON in a code fence despite the MIME type.
    let body = trimmed
        .strip_prefix("```json")
        .or_else(|| trimmed.strip_prefix("```"))
        .and_then(|t| t.strip_suffix("```"))
        .unwrap_or(trimmed);
    let mut v: Value =
        serde_json::from_str(body).map_err(|e| format!("the reply is not valid JSON: {e}"))?;
    if !v.is_object() {
        return Err("the reply must be one JSON object".to_owned());
    }
    strip_nulls(&mut v);
    let unsupported = notes(&mut v, "unsupported")?;
    let approximations = notes(&mut v, "approximations")?;
    let table =
        toml::Value::try_from(&v).map_err(|e| format!("the reply cannot be a strategy: {e}"))?;
    let toml_text =
        toml::to_string(&table).map_err(|e| format!("the reply cannot be a strategy: {e}"))?;
    let strategy = Strategy::from_toml("reply", &toml_text).map_err(|e| {
        let mut m = if e.field.is_empty() {
            e.message.clone()
        } else {
            format!("{}: {}", e.field, e.message)
        };
        if let (Some(expr), Some(pos)) = (&e.expression, e.pos) {
            m = format!("{m}\n    {expr}\n    {}^", " ".repeat(pos));
        }
        m
    })?;
    Ok(ModelAnswer {
        strategy,
        unsupported,
        approximations,
    })
}

/// Reads a model's JSON answer into a validated strategy, or the exact errors to send back.
///
/// # Errors
/// A message for the model: what is wrong and where.
pub fn strategy_from_json(text: &str) -> Result<Strategy, String> {
    answer_from_json(text).map(|a| a.strategy)
}

/// Generates a strategy with a model, repairing invalid answers.
///
/// # Errors
/// [`GenerateError::Llm`] when the model cannot be reached; [`GenerateError::Invalid`] when no
/// attempt gave a valid strategy (with every attempt's errors).
pub async fn generate_with_llm(
    llm: &impl Llm,
    description: &str,
    model: &str,
) -> Result<Generated, GenerateError> {
    let mut request = LlmRequest {
        model: model.to_owned(),
        system: SYSTEM_PROMPT.to_owned(),
        turns: vec![Turn {
            role: "user",
            text: format!("Trading idea: {description}"),
        }],
        schema: response_schema(),
    };
    let mut errors = Vec::new();
    for attempt in 1..=MAX_ATTEMPTS {
        let reply = match llm.generate(&request).await {
            Ok(reply) => reply,
            // An empty, blocked, recited or cut-off answer costs an attempt, not the run.
            Err(e) if e.no_answer => {
                tracing::info!(attempt, error = %e, "no usable answer from the model; asking again");
                errors.push(e.message);
                continue;
            }
            Err(e) => return Err(GenerateError::Llm(e)),
        };
        match answer_from_json(&reply.text) {
            Ok(answer) => {
                return Ok(Generated {
                    strategy: answer.strategy,
                    attempts: attempt,
                    provider: "gemini",
                    model: Some(reply.model),
                    key_id: reply.key_id,
                    unsupported: answer.unsupported,
                    approximations: answer.approximations,
                });
            }
            Err(message) => {
                tracing::info!(attempt, %message, "invalid strategy from the model; asking again");
                request.turns.push(Turn {
                    role: "model",
                    text: reply.text,
                });
                request.turns.push(Turn {
                    role: "user",
                    text: format!(
                        "That strategy is invalid:\n{message}\nReply with the whole corrected JSON object."
                    ),
                });
                errors.push(message);
            }
        }
    }
    Err(GenerateError::Invalid {
        attempts: MAX_ATTEMPTS,
        errors,
    })
}
