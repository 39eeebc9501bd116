//! The gateway's state: what every route and layer reads (the rotating client, tokens, limits,
//! owners, caches). At the bottom of the crate: it depends on no module above it.

use std::sync::Arc;

use gemini::RotatingClient;
use keypool::AnyStore;
use secrecy::SecretString;

use crate::guard::BrowserPolicy;
use crate::metrics::Metrics;

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
