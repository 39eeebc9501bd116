//! OHLCV data from CSV as traders have it (DESIGN.md §6.1): the delimiter, the columns, the time
//! format and a decimal comma detected from the file itself (`layout.rs`), gzip read
//! transparently, `Adj Close` applied on request; every malformed row an error naming the file,
//! the line and the column.

mod layout;
#[cfg(feature = "parquet")]
mod parquet;
mod times;

use std::io::{BufRead, BufReader, Read as _};
use std::ops::ControlFlow;
use std::path::Path;

use chrono::{NaiveDate, NaiveDateTime};

pub use layout::TimeFormat;
use layout::{Role, delimiter, detect_time};
pub use times::Times;

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
    /// Times as written in the file (ISO 8601 as the loader writes other layouts).
    pub time: Times,
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

/// Reads a data file with what is detected in it.
///
/// # Errors
/// [`DataError`] naming the file and line.
pub fn load_csv(path: &Path) -> Result<Bars, DataError> {
    load(path, &LoadOptions::default()).map(|(b, _)| b)
}

/// Reads a data file (`.csv`, `.csv.gz`): bars and what was detected. The file is read as a
/// stream, a line at a time (never whole into memory), once to detect its layout and once to
/// load it.
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
        parse_stream(
            &file,
            || {
                let f = open()?;
                Ok(BufReader::with_capacity(
                    1 << 18,
                    flate2::read::MultiGzDecoder::new(BufReader::new(f)),
                ))
            },
            // Market data compresses about 3:1.
            size.saturating_mul(3),
            opts,
        )?
    } else {
        parse_stream(
            &file,
            || Ok(BufReader::with_capacity(1 << 18, open()?)),
            size,
            opts,
        )?
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

/// The columns of a header.
struct Columns {
    open: usize,
    high: usize,
    low: usize,
    close: usize,
    volume: Option<usize>,
    adj_close: Option<usize>,
    time: usize,
    time_of_day: Option<usize>,
}

fn columns(
    headers: &csv::StringRecord,
    bad: &impl Fn(u64, String) -> DataError,
) -> Result<(Columns, Vec<Option<Role>>), DataError> {
    let found: Vec<&str> = headers.iter().collect();
    let (roles, [open, high, low, close]) = layout::find_prices(&found, |m| bad(1, m))?;
    let find = |r: Role| roles.iter().position(|x| *x == Some(r));
    // The time: a named date column (with a time-of-day column beside it, as MetaTrader writes),
    // else a `time` column, else the first column when it is nothing else.
    let (time, time_of_day) = match (find(Role::Time), find(Role::TimeOfDay)) {
        (Some(d), t) => (d, t),
        (None, Some(t)) => (t, None),
        (None, None) if roles.first() == Some(&None) => (0, None),
        (None, None) => {
            return Err(bad(
                1,
                "no time column: name it Date, Time, Datetime, Timestamp or open_time, or put it first".to_owned(),
            ));
        }
    };
    Ok((
        Columns {
            open,
            high,
            low,
            close,
            volume: find(Role::Volume),
            adj_close: find(Role::AdjClose),
            time,
            time_of_day,
        },
        roles,
    ))
}

/// Splits a line without quotes at `delim` into `out`, each field trimmed (one pass over the
/// bytes; `delim` is ASCII, so every cut is at a character boundary).
fn split_plain<'l>(line: &'l str, delim: u8, out: &mut Vec<&'l str>) {
    let trim = |f: &'l str| {
        let b = f.as_bytes();
        if b.first().is_some_and(u8::is_ascii_whitespace)
            || b.last().is_some_and(u8::is_ascii_whitespace)
        {
            f.trim()
        } else {
            f
        }
    };
    let mut start = 0;
    for (i, &c) in line.as_bytes().iter().enumerate() {
        if c == delim {
            out.push(trim(line.get(start..i).unwrap_or_default()));
            start = i + 1;
        }
    }
    out.push(trim(line.get(start..).unwrap_or_default()));
}

/// A decimal number: plain decimals of up to 15 significant digits (what price files hold) are
/// read exactly by one IEEE division (Clinger's fast path: both operands are exact, so the
/// quotient is the correctly rounded value); anything else goes to the standard parser.
pub(crate) fn parse_number(s: &str) -> Option<f64> {
    const POW10: [f64; 16] = [
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
    ];
    let b = s.as_bytes();
    let (neg, digits) = match b.first() {
        Some(b'-') => (true, &b[1..]),
        Some(b'+') => (false, &b[1..]),
        _ => (false, b),
    };
    let mut mantissa: u64 = 0;
    let mut count = 0usize;
    let mut frac: Option<usize> = None;
    let mut fast = !digits.is_empty() && digits.len() <= 17;
    if fast {
        for (i, &c) in digits.iter().enumerate() {
            match c {
                b'0'..=b'9' => {
                    mantissa = mantissa * 10 + u64::from(c - b'0');
                    count += 1;
                }
                b'.' if frac.is_none() => frac = Some(i),
                _ => {
                    fast = false;
                    break;
                }
            }
        }
    }
    if fast && count > 0 && count <= 15 {
        let scale = frac.map_or(0, |f| digits.len() - f - 1);
        #[expect(clippy::cast_precision_loss, reason = "below 10^15 < 2^53: exact")]
        let v = mantissa as f64 / POW10[scale];
        return Some(if neg { -v } else { v });
    }
    s.parse::<f64>().ok()
}

/// Splits one line with quoted fields (`"1,5"`, `"a ""b"""`); fields trimmed.
fn split_quoted(line: &str, delim: char) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            c if c == delim && !quoted => out.push(std::mem::take(&mut field).trim().to_owned()),
            c => field.push(c),
        }
    }
    if quoted {
        return Err(
            "a quoted field is not closed on its line (fields may not span lines)".to_owned(),
        );
    }
    out.push(field.trim().to_owned());
    Ok(out)
}

/// Calls `row(line, fields)` for each row after the header that is not blank, fields trimmed,
/// until `row` answers [`ControlFlow::Break`]. The input is read a line at a time into one
/// buffer; a line without quotes is split in place (no allocation per row).
fn for_each_row<R: BufRead>(
    mut input: R,
    delim: u8,
    bad: &impl Fn(u64, String) -> DataError,
    read: &impl Fn(std::io::Error) -> DataError,
    mut row: impl FnMut(u64, &[&str], usize) -> Result<ControlFlow<()>, DataError>,
) -> Result<(), DataError> {
    /// An empty vector with `v`'s allocation, for borrows of another lifetime (the standard
    /// library collects in place when the element layouts match).
    fn reuse<'b>(mut v: Vec<&str>) -> Vec<&'b str> {
        v.clear();
        v.into_iter().map(|_| "").collect()
    }
    let mut buf: Vec<u8> = Vec::with_capacity(256);
    let mut spare: Vec<&str> = Vec::new();
    let d = char::from(delim);
    let mut line_no: u64 = 0;
    loop {
        buf.clear();
        if input.read_until(b'\n', &mut buf).map_err(read)? == 0 {
            return Ok(());
        }
        line_no += 1;
        if line_no == 1 {
            continue;
        }
        let len = buf.len();
        let line = std::str::from_utf8(&buf).map_err(|e| {
            bad(
                line_no,
                format!("is not UTF-8 text (a CSV file, or one gzip-compressed): {e}"),
            )
        })?;
        let line = line.strip_suffix('\n').unwrap_or(line);
        let line = line.strip_suffix('\r').unwrap_or(line);
        let owned: Vec<String>;
        let mut fields = reuse(std::mem::take(&mut spare));
        if line.contains('"') {
            owned = split_quoted(line, d).map_err(|m| bad(line_no, m))?;
            fields.extend(owned.iter().map(String::as_str));
        } else {
            split_plain(line, delim, &mut fields);
        }
        if !fields.iter().all(|f| f.is_empty()) && row(line_no, &fields, len)?.is_break() {
            return Ok(());
        }
        spare = reuse(fields);
    }
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
    parse_stream(file, || Ok(text.as_bytes()), text.len(), opts)
}

/// Parses a CSV stream with detection; `open` gives the stream from its start (it is read
/// more than once: the layout, then the rows); `size` is about how many bytes it holds.
#[expect(
    clippy::too_many_lines,
    reason = "one pass over the rows with each check in file order"
)]
fn parse_stream<R: BufRead>(
    file: &str,
    mut open: impl FnMut() -> Result<R, DataError>,
    size: usize,
    opts: &LoadOptions,
) -> Result<(Bars, Detected), DataError> {
    let bad = |line: u64, message: String| DataError::Bad {
        file: file.to_owned(),
        line,
        message,
    };
    let read = |source| DataError::Read {
        file: file.to_owned(),
        source,
    };
    let mut header = String::new();
    open()?
        .read_line(&mut header)
        .map_err(|e| bad(1, format!("cannot read the header: {e}")))?;
    let header = header.strip_prefix('\u{feff}').unwrap_or(&header);
    let header = header.trim_end_matches(['\r', '\n']);
    let delim = delimiter(header);
    let headers = csv::ReaderBuilder::new()
        .has_headers(true)
        .delimiter(delim)
        .trim(csv::Trim::All)
        .flexible(true)
        .from_reader(header.as_bytes())
        .headers()
        .map_err(|e| bad(1, format!("cannot read the header: {e}")))?
        .clone();
    let (cols, roles) = columns(&headers, &bad)?;
    let name = |i: usize| headers.get(i).unwrap_or("").to_owned();
    let time_label = match cols.time_of_day {
        Some(t) => format!("{} + {}", name(cols.time), name(t)),
        None => name(cols.time),
    };
    let time_label = if time_label.is_empty() {
        "the first column".to_owned()
    } else {
        format!("`{time_label}`")
    };
    // A row's time text, borrowed when it is one column, joined into `buf` when it is two.
    let time_of = |fields: &[&str], buf: &mut String| {
        let date = fields.get(cols.time).copied().unwrap_or("");
        buf.clear();
        buf.push_str(date);
        if let Some(t) = cols
            .time_of_day
            .and_then(|t| fields.get(t))
            .filter(|t| !t.is_empty())
        {
            buf.push(' ');
            buf.push_str(t);
        }
    };

    // The time format: from the first row, or, for dates that only the data can tell day-first
    // from month-first, from every row.
    let mut first: Option<(u64, String, String, usize)> = None;
    let mut buf = String::new();
    for_each_row(open()?, delim, &bad, &read, |line, fields, len| {
        time_of(fields, &mut buf);
        let open = fields.get(cols.open).copied().unwrap_or("").to_owned();
        first = Some((line, buf.clone(), open, len));
        Ok(ControlFlow::Break(()))
    })?;
    let Some((first_line, first_time, first_open, row_len)) = first else {
        return Err(bad(2, "no rows of data".to_owned()));
    };
    let time_format = if let Some(f) = &opts.date_format {
        TimeFormat::Custom(f.clone())
    } else {
        let one = detect_time(&[first_time.as_str()]);
        let all = match &one {
            Ok(TimeFormat::DayFirst | TimeFormat::MonthFirst) | Err(_) => {
                let mut samples = Vec::new();
                let mut b = String::new();
                for_each_row(open()?, delim, &bad, &read, |_, fields, _| {
                    time_of(fields, &mut b);
                    samples.push(b.clone());
                    Ok(ControlFlow::Continue(()))
                })?;
                let refs: Vec<&str> = samples.iter().map(String::as_str).collect();
                detect_time(&refs)
            }
            Ok(_) => one,
        };
        all.map_err(|m| bad(first_line, format!("column {time_label}: {m}")))?
    };
    // A decimal comma: `;`-separated numbers written `1,25` (and no `.` in them).
    let decimal_comma = delim == b';' && first_open.contains(',') && !first_open.contains('.');
    if opts.adjusted && cols.adj_close.is_none() {
        return Err(bad(
            1,
            "--adjusted needs an `Adj Close` column, and the header has none".to_owned(),
        ));
    }
    let mut bars = Bars::default();
    // Rows vary in length: a margin keeps the columns from doubling near the end (capacity
    // never written is never resident).
    let rows_guess = size / row_len.max(16);
    let rows_guess = rows_guess + rows_guess / 8 + 16;
    bars.time = Times::with_capacity(rows_guess, first_time.len());
    bars.epoch_ms.reserve(rows_guess);
    for v in [
        &mut bars.open,
        &mut bars.high,
        &mut bars.low,
        &mut bars.close,
        &mut bars.volume,
    ] {
        v.reserve(rows_guess);
    }
    let mut offsets = false;
    let mut numbers = String::new();
    let mut time = String::new();
    for_each_row(open()?, delim, &bad, &read, |line, fields, _| {
        let mut num = |i: usize| -> Result<f64, DataError> {
            let raw = fields.get(i).copied().unwrap_or("");
            let s = if decimal_comma {
                numbers.clear();
                numbers.push_str(raw);
                numbers = numbers.replace(',', ".");
                numbers.as_str()
            } else {
                raw
            };
            parse_number(s).filter(|x| x.is_finite()).ok_or_else(|| {
                bad(
                    line,
                    format!("column `{}`: `{raw}` is not a number", name(i)),
                )
            })
        };
        time_of(fields, &mut time);
        let (ms, wall) = time_format.parse(&time).ok_or_else(|| {
            bad(
                line,
                format!(
                    "column {time_label}: `{time}` is not in the file's time format ({}); one file holds one format (--date-format sets it)",
                    time_format.describe()
                ),
            )
        })?;
        let (mut op, mut hi, mut lo, mut cl) = (
            num(cols.open)?,
            num(cols.high)?,
            num(cols.low)?,
            num(cols.close)?,
        );
        if opts.adjusted
            && let Some(a) = cols.adj_close
        {
            let ratio = num(a)? / cl;
            op *= ratio;
            hi *= ratio;
            lo *= ratio;
            cl *= ratio;
        }
        let vol = match cols.volume {
            Some(i) if fields.get(i).is_some_and(|s| !s.is_empty()) => num(i)?,
            _ => f64::NAN,
        };
        if hi < lo {
            return Err(bad(
                line,
                format!("column `{}`: High {hi} is below Low {lo}", name(cols.high)),
            ));
        }
        if let Some(&prev) = bars.epoch_ms.last() {
            if ms == prev {
                return Err(bad(
                    line,
                    format!("column {time_label}: time `{time}` repeats the previous row's"),
                ));
            }
            if ms < prev {
                return Err(bad(
                    line,
                    format!(
                        "column {time_label}: time `{time}` is earlier than the previous row's: rows must be in time order"
                    ),
                ));
            }
        }
        // Times are kept as written when they are ISO 8601 already; other layouts are written
        // out in ISO form (the report, the JSON and the time fields read them).
        if time_format == TimeFormat::Iso && time.as_bytes().get(4) == Some(&b'-') {
            // An offset follows the seconds: `+02:00`, `-05:00`, `Z`.
            offsets |=
                time.len() > 16 && time.get(11..).is_some_and(|t| t.contains(['+', '-', 'Z']));
            bars.time.push(&time);
        } else {
            let date_only = wall.time() == chrono::NaiveTime::MIN
                && !time.contains(':')
                && !matches!(
                    time_format,
                    TimeFormat::EpochSeconds | TimeFormat::EpochMillis | TimeFormat::EpochMicros
                );
            bars.time.push_iso(wall, date_only);
        }
        bars.epoch_ms.push(ms);
        bars.open.push(op);
        bars.high.push(hi);
        bars.low.push(lo);
        bars.close.push(cl);
        bars.volume.push(vol);
        Ok(ControlFlow::Continue(()))
    })?;
    if bars.is_empty() {
        return Err(bad(2, "no rows of data".to_owned()));
    }
    let time_at: Vec<usize> = std::iter::once(cols.time).chain(cols.time_of_day).collect();
    let header_names: Vec<&str> = headers.iter().collect();
    let columns = layout::read_as(&header_names, &roles, &time_at, opts.adjusted);
    let mut time_columns = vec![name(cols.time)];
    if let Some(t) = cols.time_of_day {
        time_columns.push(name(t));
    }
    Ok((
        bars,
        Detected {
            format: "csv",
            delimiter: char::from(delim),
            decimal_comma,
            gzip: false,
            columns,
            time_columns,
            time_format,
            offsets,
            adjusted: opts.adjusted,
        },
    ))
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
                parse_number(&s).map(f64::to_bits),
                want.map(f64::to_bits),
                "{s}"
            );
        }
        for s in [
            "1e5", "-0.0", "+3.25", "nan", "inf", "", ".", "1.2.3", "0x10", "12,5",
        ] {
            assert_eq!(
                parse_number(s).map(f64::to_bits),
                s.parse::<f64>().ok().map(f64::to_bits),
                "{s}"
            );
        }
    }

    #[test]
    fn the_unnamed_first_column_layout_reads() {
        let b = parse_csv("x.csv", ",Open,High,Low,Close,Volume\n2004-08-19,100,104.06,95.96,100.34,22351900\n2004-08-20,101.01,109.08,100.5,108.31,11428600\n").unwrap();
        assert_eq!(b.len(), 2);
        assert_eq!(&b.time[1], "2004-08-20");
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
