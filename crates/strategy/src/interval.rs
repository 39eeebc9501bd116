//! The bar timeframe a strategy was written for (`timeframe = "5m"`, a top-level field): the
//! exchange-style interval names, each with its length, so a backtest can check it against the
//! data's bar spacing.

use std::fmt;

/// A bar timeframe: one of [`BarInterval::ALL`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BarInterval {
    name: &'static str,
    ms: i64,
}

const MINUTE: i64 = 60_000;

impl BarInterval {
    /// Every timeframe, shortest first (Binance's kline intervals).
    pub const ALL: [BarInterval; 13] = [
        BarInterval::of("1m", MINUTE),
        BarInterval::of("3m", 3 * MINUTE),
        BarInterval::of("5m", 5 * MINUTE),
        BarInterval::of("15m", 15 * MINUTE),
        BarInterval::of("30m", 30 * MINUTE),
        BarInterval::of("1h", 60 * MINUTE),
        BarInterval::of("2h", 120 * MINUTE),
        BarInterval::of("4h", 240 * MINUTE),
        BarInterval::of("6h", 360 * MINUTE),
        BarInterval::of("8h", 480 * MINUTE),
        BarInterval::of("12h", 720 * MINUTE),
        BarInterval::of("1d", 1_440 * MINUTE),
        BarInterval::of("1w", 7 * 1_440 * MINUTE),
    ];

    const fn of(name: &'static str, ms: i64) -> Self {
        BarInterval { name, ms }
    }

    /// Looks a name up (`"5m"`, `"1h"`, `"1d"`).
    pub fn parse(name: &str) -> Option<BarInterval> {
        Self::ALL.into_iter().find(|b| b.name == name)
    }

    /// The one this many milliseconds long, if any.
    pub fn of_ms(ms: i64) -> Option<BarInterval> {
        Self::ALL.into_iter().find(|b| b.ms == ms)
    }

    /// Its name.
    pub fn name(self) -> &'static str {
        self.name
    }

    /// Its length in milliseconds.
    pub fn ms(self) -> i64 {
        self.ms
    }
}

impl fmt::Display for BarInterval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)
    }
}
