//! `botforge serve`: the key pool as a gateway. Gemini-native routes
//! (`/v1beta/models/{model}:generateContent`, `:streamGenerateContent`, `:countTokens`,
//! `GET /v1beta/models[/{model}]`) and OpenAI-compatible ones (`/v1/chat/completions`,
//! `/v1/models`) go upstream through the rotating client, so any Gemini or OpenAI SDK gains
//! rotation, health tracking and failover without a code change.
//!
//! Clients present a gateway token the way their SDK sends a key (`x-goog-api-key`, `?key=`, or
//! `Authorization: Bearer`); it is compared in constant time and never forwarded, and no
//! provider key ever reaches a client. Errors come back in each protocol's own shape.
#![deny(missing_docs)]

mod auth;
mod bot;
mod dashboard;
mod errors;
mod gate;
mod grammar;
mod guard;
mod inflight;
mod jobs;
mod listen;
mod llm;
mod metrics;
mod openapi;
mod reload;
mod resources;
mod routes;
mod state;

use std::net::SocketAddr;

use std::sync::Arc;

use axum::Router;
use secrecy::SecretString;

pub use dashboard::flush_activity_periodically;
pub use errors::ServeError;
pub use guard::BrowserPolicy;
pub use listen::{Limits, serve_with};
pub use llm::GeminiLlm;
pub use metrics::Metrics;
pub use reload::{ReloadReport, reload_keys, reload_periodically};
pub use state::{Gateway, ReadyCache};

/// Request bodies larger than this are refused with 413: 100 MB, Gemini's inline request limit
/// since January 2026.
pub const DEFAULT_BODY_LIMIT: usize = 100 * 1024 * 1024;

pub use inflight::BODIES_IN_FLIGHT;

/// Refuses to listen beyond this machine without client tokens: anyone who can reach the
/// port would spend the keys.
///
/// # Errors
/// [`ServeError::OpenWithoutTokens`].
pub fn check_bind(addr: SocketAddr, tokens: &[SecretString]) -> Result<(), ServeError> {
    if tokens.is_empty() && !addr.ip().is_loopback() {
        return Err(ServeError::OpenWithoutTokens(addr));
    }
    Ok(())
}

/// The gateway's routes.
pub fn router(gateway: Arc<Gateway>) -> Router {
    routes::router(gateway)
}

/// Serves `router` on `listener` with the default [`Limits`] until `shutdown` completes, then
/// finishes in-flight requests.
///
/// # Errors
/// [`ServeError::Io`] when the listener fails.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    listen::serve_with(listener, router, Limits::default(), shutdown).await
}
