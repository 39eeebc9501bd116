//! The rotating Gemini client as the generator's model: structured output with the strategy's
//! response schema; blocked, cut-off or empty answers are errors.

use gemini::{
    CallOptions, Content, GenerateContentRequest, GenerationConfig, Part, RotatingClient,
};
use generator::{Llm, LlmError, LlmReply, LlmRequest};
use keypool::AnyStore;

/// The rotating Gemini client as the generator's model.
#[derive(Debug, Clone)]
pub struct GeminiLlm {
    client: RotatingClient<AnyStore>,
    fallback_models: Vec<String>,
}

impl GeminiLlm {
    /// The generator's model, through `client`.
    pub fn new(client: RotatingClient<AnyStore>) -> Self {
        Self {
            client,
            fallback_models: Vec::new(),
        }
    }

    /// Models to move to, in order, when the requested one is overloaded (503s) or has no key.
    #[must_use]
    pub fn with_fallback_models(mut self, models: Vec<String>) -> Self {
        self.fallback_models = models;
        self
    }
}

impl Llm for GeminiLlm {
    async fn generate(&self, request: &LlmRequest) -> Result<LlmReply, LlmError> {
        let body = GenerateContentRequest {
            contents: request
                .turns
                .iter()
                .map(|t| Content {
                    role: Some(t.role.to_owned()),
                    parts: vec![Part::text(t.text.clone())],
                    extra: serde_json::Map::new(),
                })
                .collect(),
            system_instruction: Some(Content::system(request.system.clone())),
            generation_config: Some(GenerationConfig {
                temperature: Some(0.2),
                response_mime_type: Some("application/json".to_owned()),
                response_json_schema: Some(request.schema.clone()),
                ..GenerationConfig::default()
            }),
            extra: serde_json::Map::new(),
        };
        let reply = self
            .client
            .generate(
                &request.model,
                &body,
                CallOptions {
                    also_models: &self
                        .fallback_models
                        .iter()
                        .map(String::as_str)
                        .collect::<Vec<_>>(),
                    project: None,
                    input_tokens: None,
                },
            )
            .await
            .map_err(|e| LlmError {
                caller_fault: e.is_caller_error(),
                no_answer: false,
                message: e.to_string(),
            })?;
        // Blocked, recited, cut off or empty answers are no answer (another attempt may do
        // better), never "success with empty or partial text".
        let answer = reply.value.answer().map_err(|e| LlmError {
            caller_fault: false,
            no_answer: true,
            message: format!("Gemini gave no usable answer: {e}"),
        })?;
        if answer.truncated {
            return Err(LlmError {
                caller_fault: false,
                no_answer: true,
                message: "Gemini's answer was cut off at the token limit (MAX_TOKENS)".to_owned(),
            });
        }
        Ok(LlmReply {
            text: answer.text,
            key_id: Some(reply.key_id),
            model: reply.model,
        })
    }
}
