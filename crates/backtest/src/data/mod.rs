//! OHLCV data from CSV as traders have it (DESIGN.md §6.1): the delimiter, the columns, the time
//! format and a decimal comma detected from the file itself (`layout.rs`), gzip read
//! transparently, `Adj Close` applied on request; every malformed row an error naming the file,
//! the line and the column.

mod delimited;
mod error;
mod fields;
mod layout;
mod lines;
mod model;
#[cfg(feature = "parquet")]
mod parquet;
mod rows;
mod scan;
mod times;

use std::io::Read as _;
use std::path::Path;

use chrono::{NaiveDate, NaiveDateTime};

pub use error::DataError;
pub use layout::TimeFormat;
use lines::Source;
pub(crate) use model::MarketCache;
pub use model::{Bars, Detected, LoadOptions};
pub use times::Times;

/// A plain file at least this large is read by several threads at once.
const PARALLEL_FROM: usize = 4 << 20;

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

/// Reads a data file with what is detected in it.
///
/// # Errors
/// [`DataError`] naming the file and line.
pub fn load_csv(path: &Path) -> Result<Bars, DataError> {
    load(path, &LoadOptions::default()).map(|(b, _)| b)
}

/// Reads a data file (`.csv`, `.csv.gz`, `.parquet`): bars and what was detected. A CSV file
/// is read in blocks (never whole into memory), once to detect its layout and once to load it;
/// a plain one of 4 MB or more by as many threads as there are CPUs (at most 8).
///
/// # Errors
/// [`DataError`] naming the file, the line and the column.
pub fn load(path: &Path, opts: &LoadOptions) -> Result<(Bars, Detected), DataError> {
    let file = path.display().to_string();
    let read = |source| DataError::Read {
        file: file.clone(),
        source,
    };
    let open = || std::fs::File::open(path).map_err(read);
    let mut magic = [0u8; 4];
    let got = open()?.read(&mut magic).map_err(read)?;
    if got == 4 && &magic == b"PAR1" {
        #[cfg(feature = "parquet")]
        return parquet::load(path, &file, opts);
        #[cfg(not(feature = "parquet"))]
        return Err(DataError::Bad {
            file,
            line: 0,
            message: "is a Parquet file, and this build of botforge was made without the `parquet` feature: rebuild with it, or convert the file to CSV".to_owned(),
        });
    }
    let gzip = got >= 2 && magic[..2] == [0x1f, 0x8b];
    let size = std::fs::metadata(path).map_err(read)?.len();
    let size = usize::try_from(size).unwrap_or(usize::MAX);
    let (bars, mut detected) = if gzip {
        // Market data compresses about 3:1.
        delimited::parse_source(&file, Source::Gzip(path), size.saturating_mul(3), opts, 1)?
    } else {
        let parts = if size >= PARALLEL_FROM {
            std::thread::available_parallelism().map_or(1, |n| n.get().min(8))
        } else {
            1
        };
        delimited::parse_source(&file, Source::File(path), size, opts, parts)?
    };
    detected.gzip = gzip;
    Ok((bars, detected))
}

/// Parses CSV text; `file` names it in errors.
///
/// # Errors
/// [`DataError::Bad`] naming the line: a missing column, an unparsable number or time, high
/// below low, times out of order or repeated, or no rows.
pub fn parse_csv(file: &str, text: &str) -> Result<Bars, DataError> {
    parse_with(file, text, &LoadOptions::default()).map(|(b, _)| b)
}

/// Parses CSV text; `file` names it in errors.
///
/// # Errors
/// [`DataError::Bad`] naming the line and the column.
pub fn parse_with(
    file: &str,
    text: &str,
    opts: &LoadOptions,
) -> Result<(Bars, Detected), DataError> {
    delimited::parse_source(file, Source::Text(text.as_bytes()), text.len(), opts, 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_exactly_as_the_standard_parser_reads_them() {
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..200_000 {
            let digits = 1 + next() % 17;
            let m = next() % 10u64.pow(u32::try_from(digits).unwrap_or(1));
            let text = m.to_string();
            let dot = usize::try_from(next() % (text.len() as u64 + 1)).unwrap_or(0);
            let mut s = format!("{}.{}", &text[..dot], &text[dot..]);
            if next() % 3 == 0 {
                s.insert(0, '-');
            }
            let want: Option<f64> = s.parse().ok();
            assert_eq!(
                fields::parse_number(&s).map(f64::to_bits),
                want.map(f64::to_bits),
                "{s}"
            );
        }
        for _ in 0..50_000 {
            // Exponents, and more digits than a float holds (pandas writes up to 17).
            let m = next() % 100_000_000_000_000_000;
            let e = i64::try_from(next() % 700).unwrap_or(0) - 350;
            let s = match next() % 3 {
                0 => format!("{m}e{e}"),
                1 => format!("0.{m}{m}"),
                _ => format!("-{m}.{}E+{}", next() % 1000, e.abs() % 30),
            };
            let want: Option<f64> = s.parse().ok();
            assert_eq!(
                fields::parse_number(&s).map(f64::to_bits),
                want.map(f64::to_bits),
                "{s}"
            );
        }
        for s in [
            "1e5",
            "-0.0",
            "+3.25",
            "nan",
            "NaN",
            "inf",
            "-inf",
            "+infinity",
            "Infinity",
            "",
            ".",
            "1.2.3",
            "0x10",
            "12,5",
            "1.",
            ".5",
            "-.5",
            "1e",
            "e5",
            "1e400",
            "1e-400",
            "-",
            "+",
            "+-1",
            " 1",
            "1 ",
            "1_000",
            "0.1000000000000000055511151231257827",
            "4.9e-324",
            "2.2250738585072011e-308",
            "1.7976931348623157e308",
            "1.7976931348623159e308",
        ] {
            assert_eq!(
                fields::parse_number(s).map(f64::to_bits),
                s.parse::<f64>().ok().map(f64::to_bits),
                "{s}"
            );
        }
    }

    #[test]
    fn the_unnamed_first_column_layout_reads() {
        let b = parse_csv("x.csv", ",Open,High,Low,Close,Volume\n2004-08-19,100,104.06,95.96,100.34,22351900\n2004-08-20,101.01,109.08,100.5,108.31,11428600\n").unwrap();
        assert_eq!(b.len(), 2);
        assert_eq!(b.time.at(1), "2004-08-20");
        assert_eq!(*b.close, [100.34, 108.31]);
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
                "x.csv:3: column `High`: `x` is not a number",
            ),
            (
                format!("{head}2024-01-02,1,1,2,1\n"),
                "x.csv:3: column `High`: High 1 is below Low 2",
            ),
            (
                format!("{head}2024-01-01,1,2,1,1\n"),
                "x.csv:3: column `Date`: time `2024-01-01` repeats",
            ),
            (
                format!("{head}2023-12-31,1,2,1,1\n"),
                "x.csv:3: column `Date`: time `2023-12-31` is earlier",
            ),
            (
                format!("{head}2024/01/03 10:00,1,2,1,1\n2024-01-04,1,2,1,1\n01/05/2024,1,2,1,1\n"),
                "x.csv:5: column `Date`: `01/05/2024` is not in the file's time format (ISO 8601",
            ),
            (
                "Date,Open,High,Low,Close\nyesterday,1,2,1,1\n".to_owned(),
                "x.csv:2: column `Date`: `yesterday` is not a time format botforge knows",
            ),
            (
                "Date,Open,High,Close\n".to_owned(),
                "x.csv:1: column `Low`: not found (the columns are Date, Open, High, Close)",
            ),
            (
                "Date,Open,High,Low,Close\n".to_owned(),
                "x.csv:2: no rows of data",
            ),
            (
                "Date,Open,High,Low,Close\n01/02/2024,1,2,1,1\n03/04/2024,1,2,1,1\n".to_owned(),
                "x.csv:2: column `Date`: dates like `01/02/2024` could be day-first or month-first",
            ),
        ];
        for (text, want) in cases {
            let e = parse_csv("x.csv", &text).unwrap_err().to_string();
            assert!(e.starts_with(want), "{e}");
        }
    }
}
