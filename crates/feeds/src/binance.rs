//! Binance's public market data (no key): REST `klines`, `time` and `exchangeInfo`, and the
//! `<symbol>@kline_<interval>` stream. Closed bars come from the stream's `"x": true` events;
//! a hole before one is backfilled over REST first, an interval REST has no bar for either is a
//! gap, a bar at or before the last one is a duplicate. With no closed bar by the next close
//! time plus a grace, on the exchange's clock, REST is polled. Reconnects back off with jitter
//! (capped at 60 s, reset once a connection stayed up 60 s); 429 and 418 wait `Retry-After`;
//! the used weight header slows requests near the limit.

use std::collections::VecDeque;
use std::time::Duration;

use backon::BackoffBuilder as _;
use futures_util::StreamExt as _;
use reqwest::{StatusCode, Url};
use serde_json::Value;
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::{Event, Feed, FeedError, Interval, Kline, Source};

/// Rows per `klines` call (Binance's maximum).
const PAGE: usize = 1000;
/// Binance's request weight per minute for one IP.
const WEIGHT_LIMIT: u64 = 6000;
/// How long a run keeps trying an exchange it cannot reach at start.
pub const START_RETRY: Duration = Duration::from_secs(60);

/// Where the exchange is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// Binance's production hosts.
    Mainnet,
    /// Binance's spot testnet.
    Testnet,
    /// One URL for REST (`URL/api/v3/…`) and the stream (`ws://host/ws/…`).
    Url(Url),
}

impl Endpoint {
    /// `mainnet`, `testnet` or an http(s) URL.
    ///
    /// # Errors
    /// [`FeedError::BadEndpoint`].
    pub fn parse(s: &str) -> Result<Endpoint, FeedError> {
        match s {
            "mainnet" => Ok(Endpoint::Mainnet),
            "testnet" => Ok(Endpoint::Testnet),
            _ => Url::parse(s)
                .ok()
                .filter(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
                .map(Endpoint::Url)
                .ok_or_else(|| FeedError::BadEndpoint(s.to_owned())),
        }
    }

    fn rest(&self) -> Url {
        match self {
            Endpoint::Mainnet => url("https://api.binance.com"),
            Endpoint::Testnet => url("https://testnet.binance.vision"),
            Endpoint::Url(u) => u.clone(),
        }
    }

    fn stream(&self) -> Url {
        match self {
            Endpoint::Mainnet => url("wss://stream.binance.com:9443"),
            Endpoint::Testnet => url("wss://stream.testnet.binance.vision"),
            Endpoint::Url(u) => {
                let mut w = u.clone();
                let scheme = if u.scheme() == "https" { "wss" } else { "ws" };
                // http → ws and https → wss are both allowed scheme changes.
                if w.set_scheme(scheme).is_err() {
                    return u.clone();
                }
                w
            }
        }
    }

    /// How messages name it.
    pub fn name(&self) -> String {
        match self {
            Endpoint::Mainnet => "binance mainnet (api.binance.com)".to_owned(),
            Endpoint::Testnet => "binance testnet (testnet.binance.vision)".to_owned(),
            Endpoint::Url(u) => u.as_str().trim_end_matches('/').to_owned(),
        }
    }
}

#[expect(clippy::expect_used, reason = "constant, well-formed URLs")]
fn url(s: &str) -> Url {
    Url::parse(s).expect("a constant URL")
}

/// The REST side.
#[derive(Debug, Clone)]
pub struct Rest {
    http: reqwest::Client,
    base: Url,
    name: String,
}

impl Rest {
    /// A client for `endpoint`, each call bounded by `timeout`.
    ///
    /// # Errors
    /// [`FeedError::Protocol`] when no HTTP client can be built.
    pub fn new(endpoint: &Endpoint, timeout: Duration) -> Result<Rest, FeedError> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .build()
            .map_err(|e| FeedError::Protocol {
                endpoint: endpoint.name(),
                what: format!("cannot build an HTTP client: {e}"),
            })?;
        Ok(Rest {
            http,
            base: endpoint.rest(),
            name: endpoint.name(),
        })
    }

    fn unreachable(&self, reason: impl std::fmt::Display) -> FeedError {
        FeedError::Unreachable {
            endpoint: self.name.clone(),
            reason: reason.to_string(),
        }
    }

    fn protocol(&self, what: impl std::fmt::Display) -> FeedError {
        FeedError::Protocol {
            endpoint: self.name.clone(),
            what: what.to_string(),
        }
    }

    /// `GET /api/v3/<path>?query`, waiting out 429 and 418 (`Retry-After`) and a weight near
    /// the limit.
    async fn get(&self, path: &str, query: &[(&str, String)]) -> Result<Value, FeedError> {
        let mut u = self.base.clone();
        u.path_segments_mut()
            .map_err(|()| self.protocol("the endpoint URL cannot take a path"))?
            .pop_if_empty()
            .extend(["api", "v3", path]);
        loop {
            let resp = self
                .http
                .get(u.clone())
                .query(query)
                .send()
                .await
                .map_err(|e| self.unreachable(e))?;
            let status = resp.status();
            let header = |name: &str| {
                resp.headers()
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<u64>().ok())
            };
            if status == StatusCode::TOO_MANY_REQUESTS || status.as_u16() == 418 {
                let wait = header("retry-after").unwrap_or(60);
                tracing::warn!(%status, wait, "{}: rate limited, waiting", self.name);
                tokio::time::sleep(Duration::from_secs(wait)).await;
                continue;
            }
            let used = header("x-mbx-used-weight-1m");
            let body: Value = resp
                .json()
                .await
                .map_err(|e| self.protocol(format!("{path}: not JSON: {e}")))?;
            if status == StatusCode::BAD_REQUEST && body["code"].as_i64() == Some(-1121) {
                return Err(FeedError::UnknownSymbol {
                    endpoint: self.name.clone(),
                    symbol: query
                        .iter()
                        .find(|(k, _)| *k == "symbol")
                        .map(|(_, v)| v.clone())
                        .unwrap_or_default(),
                });
            }
            if !status.is_success() {
                return Err(self.protocol(format!("{path}: {status}: {body}")));
            }
            if let Some(used) = used
                && used * 10 >= WEIGHT_LIMIT * 9
            {
                // Within 10 % of the minute's weight: let the minute turn.
                tracing::warn!(
                    used,
                    "{}: request weight near the limit, pausing",
                    self.name
                );
                tokio::time::sleep(Duration::from_secs(60)).await;
            }
            return Ok(body);
        }
    }

    /// The exchange's clock, ms since the epoch.
    ///
    /// # Errors
    /// [`FeedError`] when it cannot be read.
    pub async fn server_time(&self) -> Result<i64, FeedError> {
        let v = self.get("time", &[]).await?;
        v["serverTime"]
            .as_i64()
            .ok_or_else(|| self.protocol(format!("time: no serverTime in {v}")))
    }

    /// Whether the exchange lists `symbol`.
    ///
    /// # Errors
    /// [`FeedError::UnknownSymbol`], or the exchange cannot be read.
    pub async fn check_symbol(&self, symbol: &str) -> Result<(), FeedError> {
        let v = self
            .get("exchangeInfo", &[("symbol", symbol.to_owned())])
            .await?;
        let listed = v["symbols"]
            .as_array()
            .is_some_and(|a| a.iter().any(|s| s["symbol"].as_str() == Some(symbol)));
        if listed {
            Ok(())
        } else {
            Err(FeedError::UnknownSymbol {
                endpoint: self.name.clone(),
                symbol: symbol.to_owned(),
            })
        }
    }

    /// Klines with open times from `start` to `end` (inclusive), every page.
    ///
    /// # Errors
    /// [`FeedError`] when the exchange cannot be read.
    pub async fn klines(
        &self,
        symbol: &str,
        interval: Interval,
        start: i64,
        end: i64,
    ) -> Result<Vec<Kline>, FeedError> {
        let mut out: Vec<Kline> = Vec::new();
        let mut from = start;
        while from <= end {
            let v = self
                .get(
                    "klines",
                    &[
                        ("symbol", symbol.to_owned()),
                        ("interval", interval.name().to_owned()),
                        ("startTime", from.to_string()),
                        ("endTime", end.to_string()),
                        ("limit", PAGE.to_string()),
                    ],
                )
                .await?;
            let rows = v
                .as_array()
                .ok_or_else(|| self.protocol(format!("klines: not a list: {v}")))?;
            let mut page = Vec::with_capacity(rows.len());
            for r in rows {
                let k =
                    Kline::from_row(r).ok_or_else(|| self.protocol(format!("klines row {r}")))?;
                if k.open_ms >= from && k.open_ms <= end {
                    page.push(k);
                }
            }
            let full = rows.len() >= PAGE;
            let Some(last) = page.last().map(|k| k.open_ms) else {
                break;
            };
            out.extend(page);
            if !full {
                break;
            }
            from = last + 1;
        }
        Ok(out)
    }
}

/// How a Binance feed starts.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where.
    pub endpoint: Endpoint,
    /// `BTCUSDT`.
    pub symbol: String,
    /// The bar interval.
    pub interval: Interval,
    /// Closed bars fetched before the first live one (a fresh run only).
    pub warmup: usize,
    /// The last bar a resumed run processed: bars after it are backfilled, none before.
    pub after: Option<i64>,
    /// How often the feed looks at the exchange's clock while the stream is quiet.
    pub tick: Duration,
    /// Each HTTP call's bound.
    pub request_timeout: Duration,
    /// How long an exchange unreachable at start is retried.
    pub start_retry: Duration,
}

impl Config {
    /// The defaults of DESIGN.md §8 for `symbol` at `interval`.
    pub fn new(endpoint: Endpoint, symbol: &str, interval: Interval) -> Config {
        Config {
            endpoint,
            symbol: symbol.to_owned(),
            interval,
            warmup: 0,
            after: None,
            tick: Duration::from_secs(2),
            request_timeout: Duration::from_secs(10),
            start_retry: START_RETRY,
        }
    }
}

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Opens the kline stream. `wss://` needs a process-wide rustls crypto provider: the binary
/// compiles in two (ring, and aws-lc-rs through the HTTP client), and with two rustls will not
/// pick one, so ring is installed first (as the Redis TLS path does).
async fn open_stream(url: &Url) -> Result<Ws, tokio_tungstenite::tungstenite::Error> {
    if url.scheme() == "wss" {
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
    tokio_tungstenite::connect_async(url.as_str())
        .await
        .map(|(ws, _)| ws)
}

/// Closed bars from Binance.
#[derive(Debug)]
pub struct BinanceFeed {
    cfg: Config,
    rest: Rest,
    stream_url: Url,
    ws: Option<Ws>,
    queue: VecDeque<Event>,
    /// The last bar emitted.
    last: Option<Kline>,
    /// Recent bars, to tell a differing duplicate.
    recent: VecDeque<Kline>,
    /// The exchange's clock minus the local one, ms (re-read when it matters).
    offset_ms: i64,
    backoff: backon::ExponentialBackoff,
    connected_at: Option<Instant>,
    ever_connected: bool,
}

fn backoff() -> backon::ExponentialBackoff {
    backon::ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(200))
        .with_max_delay(Duration::from_secs(60))
        .with_jitter()
        .without_max_times()
        .build()
}

#[expect(
    clippy::disallowed_methods,
    reason = "the local wall clock, only to estimate the exchange's between two readings of it"
)]
fn local_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

impl BinanceFeed {
    /// Checks the symbol and reads the exchange's clock, retrying an unreachable exchange for
    /// `start_retry`.
    ///
    /// # Errors
    /// [`FeedError::UnknownSymbol`] at once; [`FeedError::Unreachable`] after the retries.
    pub async fn start(cfg: Config) -> Result<BinanceFeed, FeedError> {
        let rest = Rest::new(&cfg.endpoint, cfg.request_timeout)?;
        let deadline = Instant::now() + cfg.start_retry;
        let mut delays = backoff();
        let server = loop {
            let tried = async {
                rest.check_symbol(&cfg.symbol).await?;
                rest.server_time().await
            }
            .await;
            match tried {
                Ok(t) => break t,
                Err(e) if e.is_unreachable() && Instant::now() < deadline => {
                    let wait = delays.next().unwrap_or(Duration::from_secs(1));
                    tracing::warn!("{e}; retrying in {wait:?}");
                    tokio::time::sleep_until((Instant::now() + wait).min(deadline)).await;
                }
                Err(e) => return Err(e),
            }
        };
        let mut stream_url = cfg.endpoint.stream();
        let path = format!(
            "{}@kline_{}",
            cfg.symbol.to_lowercase(),
            cfg.interval.name()
        );
        stream_url
            .path_segments_mut()
            .map_err(|()| rest.protocol("the endpoint URL cannot take a path"))?
            .pop_if_empty()
            .extend(["ws", path.as_str()]);
        Ok(BinanceFeed {
            offset_ms: server - local_ms(),
            last: None,
            cfg,
            rest,
            stream_url,
            ws: None,
            queue: VecDeque::new(),
            recent: VecDeque::new(),
            backoff: backoff(),
            connected_at: None,
            ever_connected: false,
        })
    }

    /// The REST client (for tests and the run's own checks).
    pub fn rest(&self) -> &Rest {
        &self.rest
    }

    fn last_ms(&self) -> Option<i64> {
        self.last.as_ref().map(|k| k.open_ms).or(self.cfg.after)
    }

    async fn connect(&mut self) -> Result<(), FeedError> {
        loop {
            match tokio::time::timeout(self.cfg.request_timeout, open_stream(&self.stream_url))
                .await
            {
                Ok(Ok(ws)) => {
                    self.ws = Some(ws);
                    break;
                }
                Ok(Err(e)) => tracing::warn!("{}: stream: {e}", self.rest.name),
                Err(_) => tracing::warn!("{}: stream: connect timed out", self.rest.name),
            }
            let wait = self.backoff.next().unwrap_or(Duration::from_secs(60));
            tokio::time::sleep(wait).await;
        }
        if self
            .connected_at
            .is_some_and(|t| t.elapsed() >= Duration::from_secs(60))
        {
            self.backoff = backoff();
        }
        self.connected_at = Some(Instant::now());
        self.queue.push_back(Event::Connected {
            reconnect: self.ever_connected,
        });
        self.ever_connected = true;
        // What closed while no stream was up.
        if let Some(after) = self.last_ms() {
            self.sync_clock().await?;
            let now = local_ms() + self.offset_ms;
            self.backfill(after + self.cfg.interval.ms(), now, None)
                .await?;
        }
        Ok(())
    }

    async fn sync_clock(&mut self) -> Result<(), FeedError> {
        let t = self.rest.server_time().await?;
        self.offset_ms = t - local_ms();
        Ok(())
    }

    /// Bars with open times from `from` up to `to` that have closed on the exchange's clock
    /// (every one before `upper`, a bar the stream delivered closed). A hole REST has no bar
    /// for either becomes a gap when the next bar is taken.
    async fn backfill(&mut self, from: i64, to: i64, upper: Option<i64>) -> Result<(), FeedError> {
        if from > to {
            return Ok(());
        }
        let now = local_ms() + self.offset_ms;
        let rows = self
            .rest
            .klines(&self.cfg.symbol, self.cfg.interval, from, to)
            .await?;
        for k in rows {
            // The open bar is not a bar yet.
            if k.close_ms >= now && upper.is_none_or(|u| k.open_ms >= u) {
                break;
            }
            self.take(k, Source::Rest, false);
        }
        Ok(())
    }

    /// Emits a closed bar after the last one (a hole between REST rows is a gap); a bar at or
    /// before the last is a duplicate.
    fn take(&mut self, k: Kline, source: Source, warmup: bool) {
        let iv = self.cfg.interval.ms();
        if let Some(last) = self.last_ms()
            && k.open_ms <= last
        {
            let differs = self
                .recent
                .iter()
                .find(|r| r.open_ms == k.open_ms)
                .is_some_and(|r| !r.same_prices(&k));
            if differs {
                tracing::warn!(
                    open_ms = k.open_ms,
                    "a closed bar came again with other prices"
                );
            }
            self.queue.push_back(Event::Duplicate {
                open_ms: k.open_ms,
                differs,
            });
            return;
        }
        if !warmup
            && let Some(last) = self.last_ms()
            && k.open_ms > last + iv
        {
            self.queue.push_back(Event::Gap {
                from_ms: last + iv,
                to_ms: k.open_ms - iv,
            });
        }
        self.recent.push_back(k.clone());
        if self.recent.len() > 64 {
            self.recent.pop_front();
        }
        self.last = Some(k.clone());
        self.queue.push_back(Event::Bar {
            kline: k,
            source,
            warmup,
        });
    }

    /// A closed kline from the stream.
    async fn on_closed(&mut self, k: Kline) -> Result<(), FeedError> {
        let iv = self.cfg.interval.ms();
        match self.last_ms() {
            None => {
                // The first live bar: the warm-up bars before it come first.
                if self.cfg.warmup > 0 {
                    let n = i64::try_from(self.cfg.warmup).unwrap_or(i64::MAX / iv - 1);
                    let rows = self
                        .rest
                        .klines(
                            &self.cfg.symbol,
                            self.cfg.interval,
                            k.open_ms - n * iv,
                            k.open_ms - 1,
                        )
                        .await?;
                    let skip = rows.len().saturating_sub(self.cfg.warmup);
                    for r in rows.into_iter().skip(skip) {
                        self.take(r, Source::Rest, true);
                    }
                }
            }
            Some(last) if k.open_ms > last + iv => {
                self.backfill(last + iv, k.open_ms - 1, Some(k.open_ms))
                    .await?;
            }
            Some(_) => {}
        }
        self.take(k, Source::Ws, false);
        Ok(())
    }

    /// The stream was quiet for a tick: past the next bar's close plus the grace on the
    /// exchange's clock, poll REST.
    async fn on_quiet(&mut self) -> Result<(), FeedError> {
        let Some(last) = self.last_ms() else {
            return Ok(());
        };
        let iv = self.cfg.interval;
        let due = last + 2 * iv.ms() + iv.grace_ms();
        if local_ms() + self.offset_ms < due {
            // The local estimate may lag a clock that runs fast (a simulator): check it.
            self.sync_clock().await?;
            if local_ms() + self.offset_ms < due {
                return Ok(());
            }
        }
        let now = local_ms() + self.offset_ms;
        self.backfill(last + iv.ms(), now, None).await
    }

    async fn on_message(&mut self, m: Message) -> Result<(), FeedError> {
        let text = match m {
            Message::Text(t) => t,
            Message::Close(_) => {
                self.drop_stream("closed by the exchange");
                return Ok(());
            }
            // Pings are answered by the stream itself on the next read.
            _ => return Ok(()),
        };
        let Ok(v) = serde_json::from_str::<Value>(text.as_str()) else {
            tracing::warn!("{}: stream: not JSON: {text}", self.rest.name);
            return Ok(());
        };
        if v["e"].as_str() != Some("kline") {
            return Ok(());
        }
        let Some((k, closed)) = Kline::from_stream(&v["k"]) else {
            tracing::warn!(
                "{}: stream: a kline without its fields: {v}",
                self.rest.name
            );
            return Ok(());
        };
        if closed {
            self.on_closed(k).await?;
        }
        Ok(())
    }

    fn drop_stream(&mut self, reason: &str) {
        self.ws = None;
        self.queue.push_back(Event::Disconnected {
            reason: reason.to_owned(),
        });
    }
}

impl Feed for BinanceFeed {
    async fn next(&mut self) -> Result<Event, FeedError> {
        loop {
            if let Some(e) = self.queue.pop_front() {
                return Ok(e);
            }
            let tick = self.cfg.tick;
            let step = match self.ws.as_mut() {
                None => self.connect().await,
                Some(ws) => match tokio::time::timeout(tick, ws.next()).await {
                    Err(_) => self.on_quiet().await,
                    Ok(None) => {
                        self.drop_stream("the stream ended");
                        Ok(())
                    }
                    Ok(Some(Err(e))) => {
                        self.drop_stream(&e.to_string());
                        Ok(())
                    }
                    Ok(Some(Ok(m))) => self.on_message(m).await,
                },
            };
            match step {
                Ok(()) => {}
                // Once running, an exchange that fails for a while is waited out: the stream
                // is dropped and, after a backoff, reconnected and the hole backfilled.
                Err(e @ (FeedError::Unreachable { .. } | FeedError::Protocol { .. })) => {
                    tracing::warn!("{e}; reconnecting");
                    if self.ws.is_some() {
                        self.drop_stream(&e.to_string());
                    }
                    let wait = self.backoff.next().unwrap_or(Duration::from_secs(60));
                    tokio::time::sleep(wait).await;
                }
                Err(e) => return Err(e),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `wss://` stream in a process that compiles two rustls providers gets as far as the TLS
    /// handshake (here against a server that never answers) instead of panicking for want of a
    /// provider.
    #[tokio::test]
    async fn a_wss_stream_reaches_the_handshake() -> Result<(), Box<dyn std::error::Error>> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = Url::parse(&format!(
            "wss://{}/ws/btcusdt@kline_1m",
            listener.local_addr()?
        ))?;
        let silent = tokio::spawn(async move {
            let held = listener.accept().await;
            tokio::time::sleep(Duration::from_secs(2)).await;
            drop(held);
        });
        let tried = tokio::time::timeout(Duration::from_millis(300), open_stream(&url)).await;
        assert!(tried.is_err(), "the handshake waits on the silent server");
        silent.abort();
        Ok(())
    }
}
