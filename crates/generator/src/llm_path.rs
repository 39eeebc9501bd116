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

/// Reads a model's JSON answer into a validated strategy, or the exact errors to send back.
///
/// # Errors
/// A message for the model: what is wrong and where.
pub fn strategy_from_json(text: &str) -> Result<Strategy, String> {
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
    let table =
        toml::Value::try_from(&v).map_err(|e| format!("the reply cannot be a strategy: {e}"))?;
    let toml_text =
        toml::to_string(&table).map_err(|e| format!("the reply cannot be a strategy: {e}"))?;
    Strategy::from_toml("reply", &toml_text).map_err(|e| {
        let mut m = if e.field.is_empty() {
            e.message.clone()
        } else {
            format!("{}: {}", e.field, e.message)
        };
        if let (Some(expr), Some(pos)) = (&e.expression, e.pos) {
            m = format!("{m}\n    {expr}\n    {}^", " ".repeat(pos));
        }
        m
    })
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
        let reply = llm.generate(&request).await.map_err(GenerateError::Llm)?;
        match strategy_from_json(&reply.text) {
            Ok(strategy) => {
                return Ok(Generated {
                    strategy,
                    attempts: attempt,
                    provider: "gemini",
                    model: Some(reply.model),
                    key_id: reply.key_id,
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
