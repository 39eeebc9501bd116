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
mod resources;
mod routes;

use std::net::SocketAddr;

use std::sync::Arc;

use axum::Router;
use gemini::RotatingClient;
use keypool::AnyStore;
use secrecy::SecretString;

pub use errors::ServeError;
pub use guard::BrowserPolicy;
pub use listen::{Limits, serve_with};
pub use llm::GeminiLlm;
pub use metrics::Metrics;

/// Request bodies larger than this are refused with 413: 100 MB, Gemini's inline request limit
/// since January 2026.
pub const DEFAULT_BODY_LIMIT: usize = 100 * 1024 * 1024;

/// Bytes of request bodies held at once, as a multiple of the per-body limit (plus 16 MiB for
/// the small ones): bodies past it wait for earlier ones to finish.
pub const BODIES_IN_FLIGHT: usize = 2;

/// What the gateway needs.
#[derive(Debug)]
pub struct Gateway {
    /// Upstream, with rotation.
    pub client: RotatingClient<AnyStore>,
    /// Tokens clients may present; empty: no authentication (loopback only).
    pub client_tokens: Vec<SecretString>,
    /// Token for the key enable/disable routes; `None`: those routes are off.
    pub admin_token: Option<SecretString>,
    /// Largest accepted request body, in bytes.
    pub body_limit: usize,
    /// What `/metrics` reports.
    pub metrics: Metrics,
    /// Where `POST /v1/strategies` saves and `strategy_name` is looked up.
    pub strategy_dir: std::path::PathBuf,
    /// The only folder `POST /v1/backtests` reads data from (`None`: the bundled sample only).
    pub data_dir: Option<std::path::PathBuf>,
    /// Where key material comes from, for `POST /v1/keys/reload` and the refresh timer
    /// (`None`: reloading is off).
    pub secrets: Option<Arc<secrets::Cached>>,
    /// Models a native generate request moves to, in order, when its own is overloaded
    /// (`BOTFORGE_FALLBACK_MODELS`); a request's `x-botforge-fallback-models` header comes first.
    pub fallback_models: Vec<String>,
    /// Which hosts and origins a browser may reach it by (DNS rebinding, cross-site requests).
    pub browser: BrowserPolicy,
    /// Which project owns each file, cache and upload session made through the gateway
    /// (project affinity): beside the pool's state (Redis when shared).
    pub owners: keypool::Owners,
    /// `/readyz`'s last answer, reused for a second (anonymous callers cause no store work).
    pub ready: ReadyCache,
}

/// `/readyz`'s last verdict and when it was reached.
#[derive(Debug, Default)]
pub struct ReadyCache(parking_lot::Mutex<Option<(tokio::time::Instant, bool, &'static str)>>);

impl ReadyCache {
    /// How long a verdict is reused.
    pub const FRESH: std::time::Duration = std::time::Duration::from_secs(1);

    pub(crate) fn fresh(&self) -> Option<(bool, &'static str)> {
        self.0
            .lock()
            .filter(|(at, ..)| at.elapsed() < Self::FRESH)
            .map(|(_, ok, why)| (ok, why))
    }

    pub(crate) fn store(&self, ok: bool, why: &'static str) {
        *self.0.lock() = Some((tokio::time::Instant::now(), ok, why));
    }
}

/// What a key reload did. Key ids and variable names only, never material.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ReloadReport {
    /// The store read (`env`, `vault`, `aws`, `azure`).
    pub store: &'static str,
    /// Swapped material, missing material and re-enabled keys.
    #[serde(flatten)]
    pub update: keypool::MaterialUpdate,
    /// `GEMINI_KEY_<id>` names in the store for keys the pool does not have (not in
    /// `keys.json` when it was read): a restart adds them.
    pub not_in_pool: Vec<String>,
}

/// Reads the secret store again and swaps rotated key material into the running pool.
///
/// # Errors
/// [`ServeError::Secrets`] when the store fails (the current material stays in use) or
/// [`ServeError::NoSecretStore`] when none is configured.
pub async fn reload_keys(gateway: &Gateway) -> Result<ReloadReport, ServeError> {
    let cached = gateway.secrets.as_ref().ok_or(ServeError::NoSecretStore)?;
    let (snapshot, _changed) = cached.reload().await.map_err(ServeError::Secrets)?;
    let pool = gateway.client.pool();
    let update = pool
        .update_material(&snapshot)
        .await
        .map_err(|e| ServeError::Pool(e.to_string()))?;
    let known: Vec<String> = pool
        .keys()
        .map(|(id, ..)| format!("{}{id}", keypool::vars::GEMINI_KEY_PREFIX))
        .collect();
    let not_in_pool = keypool::KeySource::names(&snapshot)
        .into_iter()
        .filter(|n| n.starts_with(keypool::vars::GEMINI_KEY_PREFIX) && !known.contains(n))
        .collect();
    Ok(ReloadReport {
        store: cached.kind(),
        update,
        not_in_pool,
    })
}

/// Reloads key material every `every` until the process ends; a failing store is logged and
/// the current material kept.
pub async fn reload_periodically(gateway: Arc<Gateway>, every: std::time::Duration) {
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match reload_keys(&gateway).await {
            Ok(r) if !r.update.rotated.is_empty() => {
                tracing::info!(store = r.store, rotated = ?r.update.rotated, reenabled = ?r.update.reenabled, "key material reloaded");
            }
            Ok(r) => {
                if !r.not_in_pool.is_empty() {
                    tracing::debug!(names = ?r.not_in_pool, "keys in the store that the pool lacks; restart to add them");
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "key reload failed; keeping the current key material");
            }
        }
    }
}

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
