//! A kline as the exchange sends it: times in milliseconds, prices as its decimal strings.

use backtest::session::Bar;
use serde_json::Value;

/// One bar, prices kept as the exchange's own decimal strings (`run export` writes them as
/// they came).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kline {
    /// Open time, ms since the epoch.
    pub open_ms: i64,
    /// Close time, ms since the epoch (the last millisecond of the bar).
    pub close_ms: i64,
    /// Open.
    pub open: String,
    /// High.
    pub high: String,
    /// Low.
    pub low: String,
    /// Close.
    pub close: String,
    /// Volume.
    pub volume: String,
}

impl Kline {
    /// The bar the engine takes (prices read as f64); `None` when a price is not a number.
    pub fn bar(&self) -> Option<Bar> {
        let num = |s: &str| s.trim().parse::<f64>().ok();
        Some(Bar {
            open_ms: self.open_ms,
            open: num(&self.open)?,
            high: num(&self.high)?,
            low: num(&self.low)?,
            close: num(&self.close)?,
            volume: num(&self.volume)?,
        })
    }

    /// Whether the prices and volume are those of `other`.
    pub fn same_prices(&self, other: &Kline) -> bool {
        (&self.open, &self.high, &self.low, &self.close, &self.volume)
            == (
                &other.open,
                &other.high,
                &other.low,
                &other.close,
                &other.volume,
            )
    }

    /// A REST row `[openTime, "open", "high", "low", "close", "volume", closeTime, …]`.
    pub(crate) fn from_row(row: &Value) -> Option<Kline> {
        let a = row.as_array()?;
        let s = |i: usize| a.get(i)?.as_str().map(str::to_owned);
        Some(Kline {
            open_ms: a.first()?.as_i64()?,
            open: s(1)?,
            high: s(2)?,
            low: s(3)?,
            close: s(4)?,
            volume: s(5)?,
            close_ms: a.get(6)?.as_i64()?,
        })
    }

    /// A stream event's `k` object; with whether it is final (`x`).
    pub(crate) fn from_stream(k: &Value) -> Option<(Kline, bool)> {
        let s = |f: &str| k.get(f)?.as_str().map(str::to_owned);
        Some((
            Kline {
                open_ms: k.get("t")?.as_i64()?,
                close_ms: k.get("T")?.as_i64()?,
                open: s("o")?,
                high: s("h")?,
                low: s("l")?,
                close: s("c")?,
                volume: s("v")?,
            },
            k.get("x")?.as_bool()?,
        ))
    }
}
