//! OHLCV data from CSV: a date/time column (named or unnamed, first) and Open, High, Low,
//! Close[, Volume] in any order and case — the layout of Yahoo/yfinance exports and of
//! backtesting.py's sample files.

use std::path::Path;

use chrono::{NaiveDate, NaiveDateTime};

/// A problem with a data file, naming the file and the line.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DataError {
    /// The file cannot be read.
    #[error("{file}: cannot read")]
    Read {
        /// The file.
        file: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A row or the header is wrong.
    #[error("{file}:{line}: {message}")]
    Bad {
        /// The file.
        file: String,
        /// 1-based line.
        line: u64,
        /// What is wrong and what to fix.
        message: String,
    },
}

/// Bars in file order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Bars {
    /// Times as written in the file.
    pub time: Vec<String>,
    /// Times as milliseconds since the epoch (naive times read as UTC).
    pub epoch_ms: Vec<i64>,
    /// Opens.
    pub open: Vec<f64>,
    /// Highs.
    pub high: Vec<f64>,
    /// Lows.
    pub low: Vec<f64>,
    /// Closes.
    pub close: Vec<f64>,
    /// Volumes (NaN when the file has none).
    pub volume: Vec<f64>,
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
}

/// Parses a time as written by common exports: a date, a date and time (`T` or space), with
/// optional seconds, fractions or a UTC offset.
pub fn parse_time(s: &str) -> Option<i64> {
    let s = s.trim();
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Some(t.timestamp_millis());
    }
    for f in ["%Y-%m-%d %H:%M:%S%.f%:z", "%Y-%m-%d %H:%M:%S%:z"] {
        if let Ok(t) = chrono::DateTime::parse_from_str(s, f) {
            return Some(t.timestamp_millis());
        }
    }
    for f in [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, f) {
            return Some(t.and_utc().timestamp_millis());
        }
    }
    for f in ["%Y-%m-%d", "%Y/%m/%d", "%Y%m%d"] {
        if let Ok(d) = NaiveDate::parse_from_str(s, f) {
            return d
                .and_hms_opt(0, 0, 0)
                .map(|t| t.and_utc().timestamp_millis());
        }
    }
    None
}

/// Reads a CSV file.
///
/// # Errors
/// [`DataError`] naming the file and line.
pub fn load_csv(path: &Path) -> Result<Bars, DataError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| DataError::Read {
        file: file.clone(),
        source,
    })?;
    parse_csv(&file, &text)
}

/// Parses CSV text; `file` names it in errors.
///
/// # Errors
/// [`DataError::Bad`] naming the line: a missing column, an unparsable number or time, high
/// below low, times out of order or repeated, or no rows.
pub fn parse_csv(file: &str, text: &str) -> Result<Bars, DataError> {
    let bad = |line: u64, message: String| DataError::Bad {
        file: file.to_owned(),
        line,
        message,
    };
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let headers = rdr
        .headers()
        .map_err(|e| bad(1, format!("cannot read the header: {e}")))?
        .clone();
    let col = |name: &str| headers.iter().position(|h| h.eq_ignore_ascii_case(name));
    let need = |name: &str| {
        col(name).ok_or_else(|| {
            bad(
                1,
                format!("no `{name}` column (the header needs a date column, then Open, High, Low, Close and optionally Volume)"),
            )
        })
    };
    let (o, h, l, c) = (need("open")?, need("high")?, need("low")?, need("close")?);
    let v = col("volume");
    let t = ["date", "datetime", "time", "timestamp", ""]
        .iter()
        .find_map(|n| col(n))
        .unwrap_or(0);
    let mut bars = Bars::default();
    for rec in rdr.records() {
        let rec = rec.map_err(|e| {
            let line = e.position().map_or(0, csv::Position::line);
            bad(line, format!("unreadable row: {e}"))
        })?;
        let line = rec.position().map_or(0, csv::Position::line);
        if rec.iter().all(str::is_empty) {
            continue;
        }
        let num = |i: usize, name: &str| -> Result<f64, DataError> {
            let s = rec.get(i).unwrap_or("");
            s.parse::<f64>()
                .ok()
                .filter(|x| x.is_finite())
                .ok_or_else(|| bad(line, format!("{name} `{s}` is not a number")))
        };
        let time = rec.get(t).unwrap_or("").to_owned();
        let ms = parse_time(&time)
            .ok_or_else(|| bad(line, format!("time `{time}` is not a date or date-time (write e.g. 2024-01-31 or 2024-01-31 14:00:00)")))?;
        let (op, hi, lo, cl) = (
            num(o, "Open")?,
            num(h, "High")?,
            num(l, "Low")?,
            num(c, "Close")?,
        );
        let vol = match v {
            Some(i) if rec.get(i).is_some_and(|s| !s.is_empty()) => num(i, "Volume")?,
            _ => f64::NAN,
        };
        if hi < lo {
            return Err(bad(line, format!("High {hi} is below Low {lo}")));
        }
        if let Some(&prev) = bars.epoch_ms.last() {
            if ms == prev {
                return Err(bad(
                    line,
                    format!("time `{time}` repeats the previous row's"),
                ));
            }
            if ms < prev {
                return Err(bad(
                    line,
                    format!(
                        "time `{time}` is earlier than the previous row's: rows must be in time order"
                    ),
                ));
            }
        }
        bars.time.push(time);
        bars.epoch_ms.push(ms);
        bars.open.push(op);
        bars.high.push(hi);
        bars.low.push(lo);
        bars.close.push(cl);
        bars.volume.push(vol);
    }
    if bars.is_empty() {
        return Err(bad(2, "no rows of data".to_owned()));
    }
    Ok(bars)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_unnamed_first_column_layout_reads() {
        let b = parse_csv("x.csv", ",Open,High,Low,Close,Volume\n2004-08-19,100,104.06,95.96,100.34,22351900\n2004-08-20,101.01,109.08,100.5,108.31,11428600\n").unwrap();
        assert_eq!(b.len(), 2);
        assert_eq!(b.time[1], "2004-08-20");
        assert_eq!(b.close, [100.34, 108.31]);
    }

    #[test]
    fn named_columns_in_any_order_and_case_without_volume() {
        let b = parse_csv(
            "x.csv",
            "close,DATE,low,High,open\n2,2024-01-02 10:00:00,1,3,2\n",
        )
        .unwrap();
        assert_eq!(
            (b.open[0], b.high[0], b.low[0], b.close[0]),
            (2.0, 3.0, 1.0, 2.0)
        );
        assert!(b.volume[0].is_nan());
    }

    #[test]
    fn bad_rows_name_the_line() {
        let head = "Date,Open,High,Low,Close\n2024-01-01,1,2,1,1\n";
        let cases = [
            (
                format!("{head}2024-01-02,1,x,1,1\n"),
                "x.csv:3: High `x` is not a number",
            ),
            (
                format!("{head}2024-01-02,1,1,2,1\n"),
                "x.csv:3: High 1 is below Low 2",
            ),
            (
                format!("{head}2024-01-01,1,2,1,1\n"),
                "x.csv:3: time `2024-01-01` repeats",
            ),
            (
                format!("{head}2023-12-31,1,2,1,1\n"),
                "x.csv:3: time `2023-12-31` is earlier",
            ),
            (
                format!("{head}yesterday,1,2,1,1\n"),
                "x.csv:3: time `yesterday` is not a date",
            ),
            (
                "Date,Open,High,Close\n".to_owned(),
                "x.csv:1: no `low` column",
            ),
            (
                "Date,Open,High,Low,Close\n".to_owned(),
                "x.csv:2: no rows of data",
            ),
        ];
        for (text, want) in cases {
            let e = parse_csv("x.csv", &text).unwrap_err().to_string();
            assert!(e.starts_with(want), "{e}");
        }
    }
}
