//! The replayed market and its clock: `speed` bars' worth of exchange time pass each real
//! second, from the close of bar `start - 1`; a bar has closed once the clock passes its close.

use std::time::Duration;

use backtest::Bars;
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::Faults;

/// A data file as a market.
#[derive(Debug)]
pub struct Market {
    bars: Bars,
    /// `BTCUSDT`.
    pub symbol: String,
    /// `1m`.
    pub interval: String,
    iv_ms: i64,
    t0: i64,
    speed: f64,
    began: Instant,
    /// The faults injected.
    pub faults: Faults,
}

impl Market {
    /// `bars` as `symbol` at `interval` (`iv_ms` long), the first `start` closed already.
    pub fn new(
        bars: Bars,
        symbol: &str,
        interval: &str,
        iv_ms: i64,
        start: usize,
        speed: f64,
        faults: Faults,
    ) -> Market {
        let t0 = match start.min(bars.len()).checked_sub(1) {
            Some(last) => bars.epoch_ms[last] + iv_ms,
            None => bars.epoch_ms.first().copied().unwrap_or(0),
        };
        Market {
            bars,
            symbol: symbol.to_owned(),
            interval: interval.to_owned(),
            iv_ms,
            t0,
            speed: if speed > 0.0 && speed.is_finite() {
                speed
            } else {
                1.0
            },
            began: Instant::now(),
            faults,
        }
    }

    /// The exchange's clock, ms since the epoch.
    pub fn now_ms(&self) -> i64 {
        let passed = self.began.elapsed().as_secs_f64() * self.speed * self.iv_ms as f64;
        #[expect(
            clippy::cast_possible_truncation,
            reason = "milliseconds of a replay, far inside i64"
        )]
        let passed = passed as i64;
        self.t0 + passed
    }

    /// How many bars have closed (hidden ones included).
    pub fn closed(&self) -> usize {
        let now = self.now_ms();
        self.bars
            .epoch_ms
            .partition_point(|&t| t + self.iv_ms <= now)
    }

    /// The number of bars in the file.
    pub fn len(&self) -> usize {
        self.bars.len()
    }

    /// Whether the file has no bars.
    pub fn is_empty(&self) -> bool {
        self.bars.is_empty()
    }

    /// Real time for one bar.
    pub fn bar_period(&self) -> Duration {
        Duration::from_secs_f64(1.0 / self.speed)
    }

    fn num(v: f64) -> String {
        format!("{v}")
    }

    /// Bar `i` as a REST row.
    pub fn row(&self, i: usize) -> Value {
        let b = &self.bars;
        let t = b.epoch_ms[i];
        json!([
            t,
            Self::num(b.open[i]),
            Self::num(b.high[i]),
            Self::num(b.low[i]),
            Self::num(b.close[i]),
            Self::num(b.volume[i]),
            t + self.iv_ms - 1,
            "0",
            0,
            "0",
            "0",
            "0"
        ])
    }

    /// Bar `i` as a stream event (`x`: whether it is the final one).
    pub fn event(&self, i: usize, closed: bool) -> Value {
        let b = &self.bars;
        let t = b.epoch_ms[i];
        json!({
            "e": "kline",
            "E": self.now_ms(),
            "s": self.symbol,
            "k": {
                "t": t,
                "T": t + self.iv_ms - 1,
                "s": self.symbol,
                "i": self.interval,
                "o": Self::num(b.open[i]),
                "c": Self::num(b.close[i]),
                "h": Self::num(b.high[i]),
                "l": Self::num(b.low[i]),
                "v": Self::num(b.volume[i]),
                "x": closed
            }
        })
    }

    /// REST rows from `start` to `end` (open times, inclusive), at most `limit`: the closed
    /// bars and the one open now, none hidden. Without `start`, the last `limit` up to `end`.
    pub fn rows(&self, start: Option<i64>, end: Option<i64>, limit: usize) -> Vec<Value> {
        let visible = (self.closed() + 1).min(self.bars.len());
        let ms = &self.bars.epoch_ms[..visible];
        let lo = start.map_or(0, |s| ms.partition_point(|&t| t < s));
        let hi = end.map_or(visible, |e| ms.partition_point(|&t| t <= e));
        let idx: Vec<usize> = (lo..hi.max(lo))
            .filter(|&i| !self.faults.hidden(i))
            .collect();
        let pick: Vec<usize> = if start.is_none() {
            idx[idx.len().saturating_sub(limit)..].to_vec()
        } else {
            idx.into_iter().take(limit).collect()
        };
        pick.into_iter().map(|i| self.row(i)).collect()
    }
}

/// `n` bars of a seeded random walk, `iv_ms` apart from `start_ms` (prices with 2 decimals),
/// for demos and tests of anything that reads the simulated exchange.
///
/// # Panics
/// Never: the generated text is always a valid data file.
pub fn walk(n: usize, seed: u64, start_ms: i64, iv_ms: i64) -> Bars {
    use std::fmt::Write as _;
    let mut x = seed | 1;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x % 10_000) as f64 / 10_000.0
    };
    let mut text = String::from("time,Open,High,Low,Close,Volume\n");
    let mut price = 100.0_f64;
    for i in 0..n {
        let ms = start_ms + i64::try_from(i).unwrap_or(i64::MAX / 2) * iv_ms;
        let time = chrono_iso(ms);
        let open = price;
        let close = (open * (1.0 + (next() - 0.5) * 0.01)).max(1.0);
        let high = open.max(close) * (1.0 + next() * 0.002);
        let low = open.min(close) * (1.0 - next() * 0.002);
        let _ = writeln!(
            text,
            "{time},{open:.2},{high:.2},{low:.2},{close:.2},{:.3}",
            10.0 + next()
        );
        price = (close * 100.0).round() / 100.0;
    }
    #[expect(clippy::expect_used, reason = "the text written above is always valid")]
    backtest::parse_csv("walk.csv", &text).expect("a generated walk")
}

/// `YYYY-MM-DDTHH:MM:SSZ` of an epoch-ms time.
fn chrono_iso(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default()
}
