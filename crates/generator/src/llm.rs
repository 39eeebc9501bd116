//! The small trait the generator talks to a model through. The rotating Gemini client implements
//! it in the binary; tests implement it in memory or point the real one at the simulator.

use serde_json::Value;

/// One message of the conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Turn {
    /// `user` or `model`.
    pub role: &'static str,
    /// The text.
    pub text: String,
}

/// What the generator asks of a model.
#[derive(Debug, Clone, PartialEq)]
pub struct LlmRequest {
    /// The model, e.g. `gemini-2.5-flash`.
    pub model: String,
    /// System instruction: the language reference and worked examples.
    pub system: String,
    /// The conversation so far (the description, earlier answers and their errors).
    pub turns: Vec<Turn>,
    /// JSON Schema the answer must follow (sent as Gemini's `responseJsonSchema`).
    pub schema: Value,
}

/// A model's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LlmReply {
    /// The answer's text (JSON, when the model obeys).
    pub text: String,
    /// The key that served it (for the report), if the provider has keys.
    pub key_id: Option<String>,
    /// The model that answered.
    pub model: String,
}

/// Why a model could not answer. The message never holds key material.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct LlmError {
    /// What went wrong.
    pub message: String,
    /// Whether the request itself was refused (so retrying cannot help).
    pub caller_fault: bool,
    /// Whether the model answered but with nothing usable (empty, blocked, a recitation stop,
    /// cut off at the token limit): worth another attempt.
    pub no_answer: bool,
}

/// A model that can write a strategy.
pub trait Llm: Send + Sync {
    /// Sends the request, returns the answer's text.
    fn generate(
        &self,
        request: &LlmRequest,
    ) -> impl Future<Output = Result<LlmReply, LlmError>> + Send;
}
