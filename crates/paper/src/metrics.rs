//! A run's Prometheus metrics (DESIGN.md §8, `--metrics ADDR`): bars by source, the last bar's
//! close time and each bar's lag, gaps, backfills, duplicates, reconnects, the connection,
//! orders by side and kind, trades, equity and position. Served at `/metrics`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::IntoResponse;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;

use crate::PaperError;

type Labels = Vec<(&'static str, String)>;
type FloatGauge = Gauge<f64, AtomicU64>;

/// The run's metrics.
#[derive(Debug)]
pub struct RunMetrics {
    registry: Registry,
    pub(crate) bars: Family<Labels, Counter>,
    pub(crate) last_close: FloatGauge,
    pub(crate) lag: Histogram,
    pub(crate) gaps: Counter,
    pub(crate) backfilled: Counter,
    pub(crate) duplicates: Counter,
    pub(crate) reconnects: Counter,
    pub(crate) connected: Gauge,
    pub(crate) orders: Family<Labels, Counter>,
    pub(crate) trades: Counter,
    pub(crate) equity: FloatGauge,
    pub(crate) position: FloatGauge,
}

impl Default for RunMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl RunMetrics {
    /// Every metric registered, at zero.
    pub fn new() -> RunMetrics {
        let mut registry = Registry::default();
        let m = RunMetrics {
            bars: Family::default(),
            last_close: FloatGauge::default(),
            lag: Histogram::new(exponential_buckets(0.01, 2.0, 14)),
            gaps: Counter::default(),
            backfilled: Counter::default(),
            duplicates: Counter::default(),
            reconnects: Counter::default(),
            connected: Gauge::default(),
            orders: Family::default(),
            trades: Counter::default(),
            equity: FloatGauge::default(),
            position: FloatGauge::default(),
            registry: Registry::default(),
        };
        registry.register(
            "botforge_run_bars",
            "Closed bars taken, by source (ws, rest, file)",
            m.bars.clone(),
        );
        registry.register(
            "botforge_run_last_bar_close_timestamp_seconds",
            "Close time of the last bar taken",
            m.last_close.clone(),
        );
        registry.register(
            "botforge_run_bar_lag_seconds",
            "From a live bar's close on the exchange's clock to its records on disk",
            m.lag.clone(),
        );
        registry.register(
            "botforge_run_gaps",
            "Intervals with no bar anywhere",
            m.gaps.clone(),
        );
        registry.register(
            "botforge_run_backfilled_bars",
            "Live bars fetched over REST",
            m.backfilled.clone(),
        );
        registry.register(
            "botforge_run_duplicates",
            "Closed bars received again",
            m.duplicates.clone(),
        );
        registry.register(
            "botforge_run_reconnects",
            "Stream reconnects",
            m.reconnects.clone(),
        );
        registry.register(
            "botforge_run_connected",
            "1 while the stream is connected",
            m.connected.clone(),
        );
        registry.register(
            "botforge_run_orders",
            "Orders placed, by side and kind",
            m.orders.clone(),
        );
        registry.register("botforge_run_trades", "Trades closed", m.trades.clone());
        registry.register(
            "botforge_run_equity",
            "Paper equity at the last close",
            m.equity.clone(),
        );
        registry.register(
            "botforge_run_position_size",
            "Signed position size (units)",
            m.position.clone(),
        );
        RunMetrics { registry, ..m }
    }

    /// The exposition for a scraper's `Accept`, and its content type.
    pub fn exposition(&self, accept: Option<&str>) -> (String, &'static str) {
        exposition::negotiate(&self.registry, accept)
    }
}

async fn scrape(State(m): State<Arc<RunMetrics>>, headers: HeaderMap) -> impl IntoResponse {
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
    let (text, ty) = m.exposition(accept);
    ([(header::CONTENT_TYPE, ty)], text)
}

/// Binds `addr` (before anything else starts, so a bad address is refused first).
///
/// # Errors
/// [`PaperError::Io`] naming the address.
pub async fn bind(addr: &str) -> Result<TcpListener, PaperError> {
    let parsed: SocketAddr = addr.parse().map_err(|_| PaperError::Io {
        path: format!("--metrics {addr}").into(),
        source: std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "expected HOST:PORT, e.g. 127.0.0.1:9464",
        ),
    })?;
    TcpListener::bind(parsed).await.map_err(|e| PaperError::Io {
        path: format!("--metrics {addr}").into(),
        source: e,
    })
}

/// Serves `/metrics` on `listener` in the background.
pub fn serve(listener: TcpListener, metrics: Arc<RunMetrics>) {
    let app = axum::Router::new()
        .route("/metrics", axum::routing::get(scrape))
        .with_state(metrics);
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "metrics server stopped");
        }
    });
}
