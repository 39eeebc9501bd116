//! botforge's Gemini client: typed bodies that survive new fields and enum values, the
//! `google.rpc` error envelope parsed into the key pool's outcome classes, an SSE stream parser
//! for CRLF- or LF-framed events and mid-stream error objects, and a [`RotatingClient`] that
//! fails over across a [`keypool::KeyPool`].
//!
//! ```no_run
//! use std::sync::Arc;
//! use gemini::{CallOptions, ClientConfig, GeminiClient, GenerateContentRequest, RotatingClient};
//! use keypool::{Environment, KeyPool, PoolConfig, SystemClock};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let env = Environment::from_process()?;
//! let pool = Arc::new(KeyPool::in_memory(&PoolConfig::load(&env, &env)?, Arc::new(SystemClock))?);
//! let client = RotatingClient::new(pool, GeminiClient::new(ClientConfig::from_env(&env))?);
//! let request = GenerateContentRequest::from_prompt("Say hello");
//! let reply = client.generate("gemini-2.5-flash", &request, CallOptions::default()).await?;
//! println!("{} (key {})", reply.value.answer()?.text, reply.key_id);
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

mod body;
mod client;
mod error;
mod media;
mod openai;
mod passthrough;
mod resource;
mod rotating;
mod sse;
mod types;

pub use client::{
    ClientConfig, DEFAULT_ANSWER_TIMEOUT, DEFAULT_BASE_URL, GeminiClient, PROBE_TIMEOUT,
    RawGenerated, RawMethod, ResponseStream, model_id,
};
pub use error::{
    ApiError, Denial, GeminiError, MAX_RETRY_DELAY, QuotaScope, QuotaViolation,
    parse_proto_duration, redact_keys, redact_value,
};
pub use media::{IMAGE_TILE_TOKENS, image_tokens, inline_tokens};
pub use openai::{IMAGE_TOKENS, estimate_chat_tokens, estimate_text_tokens};
pub use passthrough::Passthrough;
pub use resource::{RawRequest, RawResponse, resource_path_ok};
pub use rotating::{CallOptions, Generated, RotateError, RotatingClient, RotatingStream};
pub use sse::{Event, SseParser};
pub use types::{
    Answer, BlockReason, Candidate, Content, CountTokensResponse, FinishReason,
    GenerateContentRequest, GenerateContentResponse, GenerationConfig, ListModelsResponse, Model,
    NoAnswer, Part, PromptFeedback, StoredParts, UsageMetadata,
};
