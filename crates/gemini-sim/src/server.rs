//! The simulator's HTTP server: its routes (each in the module of its area) and its life.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use crate::config::SimConfig;
use crate::native::{compat_chat, compat_models, get_model, list_models, native_post};
use crate::sim::{Sim, json_response};

async fn stats(State(sim): State<Arc<Sim>>) -> Response {
    let mut v = serde_json::to_value(sim.stats()).unwrap_or_default();
    v["sim_time_ms"] = json!(sim.clock.now_ms());
    v["time_scale"] = json!(sim.clock.scale());
    json_response(200, &v)
}

async fn reset(State(sim): State<Arc<Sim>>) -> impl IntoResponse {
    sim.reset();
    StatusCode::NO_CONTENT
}

/// Records every request before it is routed (unknown paths included).
async fn record(
    State(sim): State<Arc<Sim>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let uri = request.uri();
    let target = uri.path_and_query().map_or(uri.path(), |p| p.as_str());
    sim.seen.push(format!("{} {target}", request.method()));
    next.run(request).await
}

/// The router.
pub fn router(sim: Arc<Sim>) -> Router {
    Router::new()
        .route("/v1beta/models", get(list_models))
        .route("/v1beta/models/{tail}", post(native_post).get(get_model))
        .route("/v1beta/openai/chat/completions", post(compat_chat))
        .route("/v1beta/openai/models", get(compat_models))
        .route("/v1beta/openai/embeddings", post(crate::embed::compat))
        .route("/upload/v1beta/files", post(crate::resources::upload))
        .route("/v1beta/files", get(crate::resources::list_files))
        .route(
            "/v1beta/files/{id}",
            get(crate::resources::file).delete(crate::resources::file),
        )
        .route(
            "/v1beta/cachedContents",
            get(crate::resources::list_caches).post(crate::resources::create_cache),
        )
        .route(
            "/v1beta/cachedContents/{id}",
            get(crate::resources::cache)
                .patch(crate::resources::cache)
                .delete(crate::resources::cache),
        )
        .route("/v1beta/batches", get(crate::jobs::list_batches))
        .route(
            "/v1beta/batches/{tail}",
            get(crate::jobs::batch)
                .post(crate::jobs::batch)
                .delete(crate::jobs::batch),
        )
        .route(
            "/v1beta/interactions",
            post(crate::jobs::create_interaction),
        )
        .route(
            "/v1beta/interactions/{id}",
            get(crate::jobs::interaction).delete(crate::jobs::interaction),
        )
        .route("/sim/stats", get(stats))
        .route("/sim/reset", post(reset))
        .route("/healthz", get(|| async { "ok" }))
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&sim),
            record,
        ))
        .with_state(sim)
}

/// A running simulator; dropping it stops the server.
#[derive(Debug)]
pub struct SimHandle {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its state (for stats in tests).
    pub sim: Arc<Sim>,
    shutdown: Option<oneshot::Sender<()>>,
}

impl SimHandle {
    /// `http://ADDR`, for `GEMINI_BASE_URL`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Serves `sim` on `listener` until `shutdown` completes.
///
/// # Errors
/// When serving fails.
pub async fn serve(
    listener: TcpListener,
    sim: Arc<Sim>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // As Google's front ends: no Nagle delay between streamed events.
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, router(sim))
        .with_graceful_shutdown(shutdown)
        .await
}

/// Starts a simulator on `addr` (use port 0 for any free port) in the background.
///
/// # Errors
/// When the address cannot be bound.
pub async fn spawn(config: SimConfig, addr: &str) -> std::io::Result<SimHandle> {
    let listener = TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let sim = Sim::new(config);
    let (tx, rx) = oneshot::channel::<()>();
    let state = Arc::clone(&sim);
    tokio::spawn(async move {
        if let Err(e) = serve(listener, state, async {
            let _ = rx.await;
        })
        .await
        {
            tracing::error!(error = %e, "simulator stopped");
        }
    });
    Ok(SimHandle {
        addr,
        sim,
        shutdown: Some(tx),
    })
}
