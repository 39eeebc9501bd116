//! What a data file becomes: the bars, how it was read (what was detected), and the options of
//! reading it (below every reader, which fills them).

use std::sync::Arc;

use super::layout::TimeFormat;
use super::times::Times;

/// Bars in file order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Bars {
    /// Times as written in the file (ISO 8601 as the loader writes other layouts).
    pub time: Times,
    /// Times as milliseconds since the epoch (naive times read as UTC).
    pub epoch_ms: Arc<Vec<i64>>,
    /// Opens. The price columns are shared (`Arc`), so an evaluator hands them out as series
    /// without copying a million values.
    pub open: Arc<Vec<f64>>,
    /// Highs.
    pub high: Arc<Vec<f64>>,
    /// Lows.
    pub low: Arc<Vec<f64>>,
    /// Closes.
    pub close: Arc<Vec<f64>>,
    /// Volumes (NaN when the file has none).
    pub volume: Arc<Vec<f64>>,
    /// Log returns of the closes and their variance, computed on first use (every run's beta
    /// needs them; a sweep's runs share them).
    pub(crate) market: MarketCache,
}

/// A lazily computed cache that is not part of the data: equal to any other, empty when cloned.
#[derive(Default)]
pub(crate) struct MarketCache(pub(crate) std::sync::OnceLock<(Vec<f64>, f64)>);

impl Clone for MarketCache {
    fn clone(&self) -> Self {
        Self::default()
    }
}

impl PartialEq for MarketCache {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl std::fmt::Debug for MarketCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MarketCache")
    }
}

impl Bars {
    /// Number of bars.
    pub fn len(&self) -> usize {
        self.close.len()
    }

    /// Whether there are no bars.
    pub fn is_empty(&self) -> bool {
        self.close.is_empty()
    }

    /// The data's own bar spacing in milliseconds: the most common positive gap between
    /// consecutive bars (the shorter on a tie); `None` with fewer than two distinct times.
    pub fn spacing_ms(&self) -> Option<i64> {
        let mut counts: std::collections::HashMap<i64, usize> = std::collections::HashMap::new();
        for w in self.epoch_ms.windows(2) {
            let gap = w[1] - w[0];
            if gap > 0 {
                *counts.entry(gap).or_default() += 1;
            }
        }
        counts
            .into_iter()
            .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(&a.0)))
            .map(|(gap, _)| gap)
    }
}

/// How to read a data file beyond what is detected.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoadOptions {
    /// A strftime format for the time column (`--date-format`), instead of detecting it.
    pub date_format: Option<String>,
    /// Scale open, high, low and close by `Adj Close / Close` (`--adjusted`).
    pub adjusted: bool,
}

/// What was detected in a data file (`botforge data check`).
#[derive(Debug, Clone, PartialEq)]
#[expect(
    clippy::struct_excessive_bools,
    reason = "independent facts about the file, each reported as is"
)]
pub struct Detected {
    /// `csv` or `parquet`.
    pub format: &'static str,
    /// The delimiter.
    pub delimiter: char,
    /// Whether numbers use a decimal comma.
    pub decimal_comma: bool,
    /// Whether the file was gzip-compressed.
    pub gzip: bool,
    /// The header's columns, each with what it was read as (`None`: ignored).
    pub columns: Vec<(String, Option<&'static str>)>,
    /// The time column(s): one, or a date and a time of day.
    pub time_columns: Vec<String>,
    /// The time format.
    pub time_format: TimeFormat,
    /// Whether some times carry a UTC offset (compared as instants).
    pub offsets: bool,
    /// Whether prices were scaled by `Adj Close / Close`.
    pub adjusted: bool,
}
