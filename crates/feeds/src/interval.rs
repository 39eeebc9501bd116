//! Binance's kline intervals.

use crate::FeedError;

/// Every interval a run takes, with its length in milliseconds.
pub const INTERVALS: [(&str, i64); 13] = [
    ("1m", 60_000),
    ("3m", 180_000),
    ("5m", 300_000),
    ("15m", 900_000),
    ("30m", 1_800_000),
    ("1h", 3_600_000),
    ("2h", 7_200_000),
    ("4h", 14_400_000),
    ("6h", 21_600_000),
    ("8h", 28_800_000),
    ("12h", 43_200_000),
    ("1d", 86_400_000),
    ("1w", 604_800_000),
];

/// A bar interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interval {
    name: &'static str,
    ms: i64,
}

impl Interval {
    /// Reads `1m` … `1w`.
    ///
    /// # Errors
    /// [`FeedError::UnknownInterval`] naming the accepted ones.
    pub fn parse(s: &str) -> Result<Interval, FeedError> {
        INTERVALS
            .iter()
            .find(|(n, _)| *n == s)
            .map(|&(name, ms)| Interval { name, ms })
            .ok_or_else(|| FeedError::UnknownInterval(s.to_owned()))
    }

    /// Its name (`1m`).
    pub fn name(self) -> &'static str {
        self.name
    }

    /// Its length in milliseconds.
    pub fn ms(self) -> i64 {
        self.ms
    }

    /// How long after a bar's close time a run waits for it before polling REST: a tenth of
    /// the interval, at least 2 s (DESIGN.md §8).
    pub fn grace_ms(self) -> i64 {
        (self.ms / 10).max(2_000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_interval_parses_and_others_are_refused() {
        for (n, ms) in INTERVALS {
            let i = Interval::parse(n).ok();
            assert_eq!(i.map(|i| (i.name(), i.ms())), Some((n, ms)));
        }
        for bad in ["1M", "2m", "", "1H", "60s"] {
            assert!(Interval::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            Interval::parse("1m").map(Interval::grace_ms).ok(),
            Some(6_000)
        );
        assert_eq!(
            Interval::parse("1h").map(Interval::grace_ms).ok(),
            Some(360_000)
        );
    }
}
