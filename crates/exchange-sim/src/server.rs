//! The simulated exchange's HTTP and websocket server.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use parking_lot::Mutex;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::time::Instant;

use crate::Market;

/// What the exchange saw and did (`GET /sim/stats`).
#[derive(Debug, Default)]
pub struct Counters {
    /// REST calls answered (refused ones included).
    pub rest_calls: AtomicU64,
    /// Stream connections accepted.
    pub connections: AtomicU64,
    /// Final klines sent.
    pub finals: AtomicU64,
    /// Pings sent.
    pub pings: AtomicU64,
    /// Pongs received.
    pub pongs: AtomicU64,
    /// Connections closed for an unanswered ping.
    pub ping_timeouts: AtomicU64,
}

#[derive(Debug)]
struct Shared {
    market: Market,
    counters: Counters,
    ping_every: Duration,
    /// REST calls per real minute, for `X-MBX-USED-WEIGHT-1M`.
    weight: Mutex<(u64, Instant)>,
    /// Set when the exchange stops: open streams close too.
    stopping: tokio::sync::watch::Receiver<bool>,
}

/// A refused REST call: the status, Binance's error code and its message.
type Refusal = (StatusCode, i64, &'static str);

fn error(status: StatusCode, code: i64, msg: &str) -> Response {
    (status, axum::Json(json!({"code": code, "msg": msg}))).into_response()
}

impl Shared {
    /// Counts a REST call; a refusal when a fault says so.
    fn admit(&self) -> Result<u64, Box<Response>> {
        let n = self.counters.rest_calls.fetch_add(1, Ordering::Relaxed) + 1;
        let f = &self.market.faults;
        if f.rest_down.is_some_and(|(a, b)| (a..=b).contains(&n)) {
            return Err(Box::new(error(
                StatusCode::SERVICE_UNAVAILABLE,
                -1001,
                "Internal error; unable to process your request. Please try again.",
            )));
        }
        for (every, status, code) in [
            (f.rate_limit, StatusCode::TOO_MANY_REQUESTS, -1003),
            (f.ban, StatusCode::IM_A_TEAPOT, -1003),
        ] {
            if every.is_some_and(|e| n.is_multiple_of(e)) {
                let mut r = error(status, code, "Too many requests; please use the websocket.");
                r.headers_mut()
                    .insert("retry-after", HeaderValue::from_static("1"));
                return Err(Box::new(r));
            }
        }
        let mut w = self.weight.lock();
        if w.1.elapsed() >= Duration::from_secs(60) {
            *w = (0, Instant::now());
        }
        w.0 += 1;
        Ok(w.0)
    }

    /// A REST answer: the call is counted (and refused when a fault says so), then `body`
    /// answers it, with the weight header.
    fn rest(&self, body: impl FnOnce() -> Result<Value, Refusal>) -> Response {
        let used = match self.admit() {
            Ok(u) => u,
            Err(r) => return *r,
        };
        match body() {
            Ok(v) => Self::answer(used, v),
            Err((status, code, msg)) => error(status, code, msg),
        }
    }

    fn answer(used: u64, body: Value) -> Response {
        let mut r = axum::Json(body).into_response();
        if let Ok(v) = HeaderValue::from_str(&used.to_string()) {
            r.headers_mut().insert("x-mbx-used-weight-1m", v);
        }
        r
    }
}

async fn time(State(s): State<Arc<Shared>>) -> Response {
    s.rest(|| Ok(json!({"serverTime": s.market.now_ms()})))
}

async fn exchange_info(
    State(s): State<Arc<Shared>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    s.rest(|| {
        if q.get("symbol").is_some_and(|x| *x != s.market.symbol) {
            return Err((StatusCode::BAD_REQUEST, -1121, "Invalid symbol."));
        }
        Ok(json!({
            "timezone": "UTC",
            "serverTime": s.market.now_ms(),
            "symbols": [{"symbol": s.market.symbol, "status": "TRADING"}]
        }))
    })
}

async fn klines(
    State(s): State<Arc<Shared>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    s.rest(|| {
        if q.get("symbol") != Some(&s.market.symbol) {
            return Err((StatusCode::BAD_REQUEST, -1121, "Invalid symbol."));
        }
        if q.get("interval") != Some(&s.market.interval) {
            return Err((StatusCode::BAD_REQUEST, -1120, "Invalid interval."));
        }
        let num = |k: &str| q.get(k).map(|v| v.parse::<i64>()).transpose();
        let (Ok(start), Ok(end), Ok(limit)) = (num("startTime"), num("endTime"), num("limit"))
        else {
            return Err((
                StatusCode::BAD_REQUEST,
                -1100,
                "Illegal characters found in a parameter.",
            ));
        };
        let limit = usize::try_from(limit.unwrap_or(500).clamp(1, 1000)).unwrap_or(500);
        Ok(Value::Array(s.market.rows(start, end, limit)))
    })
}

async fn stream(
    State(s): State<Arc<Shared>>,
    Path(name): Path<String>,
    ws: WebSocketUpgrade,
) -> Response {
    let want = format!(
        "{}@kline_{}",
        s.market.symbol.to_lowercase(),
        s.market.interval
    );
    if name != want {
        return error(StatusCode::NOT_FOUND, -1121, "Invalid stream.");
    }
    ws.on_upgrade(move |socket| feed(s, socket))
}

/// One stream connection: every bar that closes from now on, each open bar's first update,
/// pings; faults applied.
#[expect(
    clippy::many_single_char_names,
    reason = "s(hared), m(arket), f(aults), n(th final), j (bar): read as the loop's short names"
)]
async fn feed(s: Arc<Shared>, mut socket: WebSocket) {
    s.counters.connections.fetch_add(1, Ordering::Relaxed);
    let m = &s.market;
    let f = &m.faults;
    let mut next = m.closed();
    let mut updated = None;
    let mut sent = 0u64;
    let mut last_final: Option<usize> = None;
    let mut ping_at = Instant::now() + s.ping_every;
    let mut awaiting: Option<Instant> = None;
    let tick = (m.bar_period() / 4).clamp(Duration::from_millis(1), Duration::from_millis(50));
    let mut stopping = s.stopping.clone();
    loop {
        tokio::select! {
            () = tokio::time::sleep(tick) => {}
            _ = stopping.changed() => return,
            msg = socket.recv() => match msg {
                Some(Ok(Message::Pong(_))) => {
                    s.counters.pongs.fetch_add(1, Ordering::Relaxed);
                    awaiting = None;
                    continue;
                }
                Some(Ok(Message::Close(_)) | Err(_)) | None => return,
                Some(Ok(_)) => continue,
            }
        }
        let mut out: Vec<Value> = Vec::new();
        let closed = m.closed();
        while next < closed {
            let j = next;
            next += 1;
            if f.hidden(j) {
                continue;
            }
            let n = s.counters.finals.fetch_add(1, Ordering::Relaxed) + 1;
            if f.drop_final.is_some_and(|e| n.is_multiple_of(e)) {
                last_final = Some(j);
                continue;
            }
            out.push(m.event(j, true));
            if f.duplicate.is_some_and(|e| n.is_multiple_of(e)) {
                out.push(m.event(j, true));
                if let Some(p) = last_final {
                    out.push(m.event(p, true));
                }
            }
            last_final = Some(j);
            if let Some((at, d)) = f.stall
                && at == j
            {
                for v in out.drain(..) {
                    if socket
                        .send(Message::Text(v.to_string().into()))
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
                tokio::time::sleep(d).await;
            }
        }
        if closed < m.len() && updated != Some(closed) && !f.hidden(closed) {
            out.push(m.event(closed, false));
            updated = Some(closed);
        }
        for v in out {
            if socket
                .send(Message::Text(v.to_string().into()))
                .await
                .is_err()
            {
                return;
            }
            sent += 1;
            if f.disconnect.is_some_and(|e| sent.is_multiple_of(e)) {
                let _ = socket.send(Message::Close(None)).await;
                return;
            }
        }
        if let Some(t) = awaiting
            && t.elapsed() > s.ping_every * 3
        {
            s.counters.ping_timeouts.fetch_add(1, Ordering::Relaxed);
            let _ = socket.send(Message::Close(None)).await;
            return;
        }
        if Instant::now() >= ping_at {
            ping_at = Instant::now() + s.ping_every;
            if awaiting.is_none() {
                awaiting = Some(Instant::now());
            }
            s.counters.pings.fetch_add(1, Ordering::Relaxed);
            if socket.send(Message::Ping(Vec::new().into())).await.is_err() {
                return;
            }
        }
    }
}

async fn stats(State(s): State<Arc<Shared>>) -> Response {
    let c = &s.counters;
    let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
    axum::Json(json!({
        "rest_calls": get(&c.rest_calls),
        "connections": get(&c.connections),
        "finals": get(&c.finals),
        "pings": get(&c.pings),
        "pongs": get(&c.pongs),
        "ping_timeouts": get(&c.ping_timeouts),
        "closed": s.market.closed(),
        "bars": s.market.len(),
        "server_time": s.market.now_ms(),
    }))
    .into_response()
}

fn router(s: Arc<Shared>) -> Router {
    Router::new()
        .route("/api/v3/time", get(time))
        .route("/api/v3/exchangeInfo", get(exchange_info))
        .route("/api/v3/klines", get(klines))
        .route("/ws/{name}", get(stream))
        .route("/sim/stats", get(stats))
        .with_state(s)
}

/// A running simulated exchange; dropping it stops the server.
#[derive(Debug)]
pub struct ExchangeHandle {
    /// Where it listens.
    pub addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    stop_streams: tokio::sync::watch::Sender<bool>,
}

impl ExchangeHandle {
    /// `http://ADDR`, for `--endpoint`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops the server and closes every open stream.
    pub fn stop(self) {
        drop(self);
    }
}

impl Drop for ExchangeHandle {
    fn drop(&mut self) {
        let _ = self.stop_streams.send(true);
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Serves `market` on `addr` (port 0: any free one) in the background, pinging every
/// `ping_every` (Binance: 20 s).
///
/// # Errors
/// When the address cannot be bound.
pub async fn spawn(
    market: Market,
    addr: &str,
    ping_every: Duration,
) -> std::io::Result<ExchangeHandle> {
    let listener = TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let (stop_streams, stopping) = tokio::sync::watch::channel(false);
    let shared = Arc::new(Shared {
        market,
        counters: Counters::default(),
        ping_every,
        weight: Mutex::new((0, Instant::now())),
        stopping,
    });
    let (tx, rx) = oneshot::channel::<()>();
    tokio::spawn(async move {
        let served = axum::serve(listener, router(shared))
            .with_graceful_shutdown(async {
                let _ = rx.await;
            })
            .await;
        if let Err(e) = served {
            tracing::error!(error = %e, "simulated exchange stopped");
        }
    });
    Ok(ExchangeHandle {
        addr,
        shutdown: Some(tx),
        stop_streams,
    })
}
