//! How a data file is laid out (DESIGN.md §6.1), detected once from the file itself and then
//! applied to every row: the delimiter, the decimal mark, the columns (by name, case-insensitive,
//! with aliases and `MetaTrader`'s `<…>` brackets; the time in the first column, a named one, or
//! `Date` + `Time`), and the time format.

use chrono::{DateTime, NaiveDate, NaiveDateTime};

/// The column names of a file without a header, by position: Binance's kline layout (open
/// time, open, high, low, close, volume, close time, quote volume, trades, taker buy base and
/// quote volumes, ignore), which starts as every headerless OHLCV file does.
pub(super) fn positional_header(n: usize) -> csv::StringRecord {
    const BINANCE: [&str; 12] = [
        "open_time",
        "open",
        "high",
        "low",
        "close",
        "volume",
        "close_time",
        "quote_volume",
        "count",
        "taker_buy_volume",
        "taker_buy_quote_volume",
        "ignore",
    ];
    (0..n)
        .map(|i| {
            BINANCE
                .get(i)
                .map_or_else(|| format!("column_{}", i + 1), |s| (*s).to_owned())
        })
        .collect()
}

/// A time format, fixed for the whole file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TimeFormat {
    /// ISO 8601: a date, or a date and time (`T` or space), optional fractions, `Z` or an offset;
    /// also with `/` or `.` between year, month and day.
    Iso,
    /// Month first: `MM/DD/YYYY` (or `.`/`-`), optional time.
    MonthFirst,
    /// Day first: `DD/MM/YYYY` or `DD.MM.YYYY` (or `-`), optional time.
    DayFirst,
    /// `YYYYMMDD`, optional time.
    Compact,
    /// Unix epoch seconds.
    EpochSeconds,
    /// Unix epoch milliseconds.
    EpochMillis,
    /// Unix epoch microseconds.
    EpochMicros,
    /// A strftime format given with `--date-format`.
    Custom(String),
    /// A typed time column (a Parquet timestamp or date), described as its type.
    Native(String),
}

impl TimeFormat {
    /// How `data check` names it.
    pub fn describe(&self) -> String {
        match self {
            TimeFormat::Iso => {
                "ISO 8601 (YYYY-MM-DD, also YYYY.MM.DD or YYYY/MM/DD; [ HH:MM[:SS]][offset])"
                    .to_owned()
            }
            TimeFormat::MonthFirst => "month first (MM/DD/YYYY[ HH:MM[:SS]])".to_owned(),
            TimeFormat::DayFirst => "day first (DD/MM/YYYY or DD.MM.YYYY[ HH:MM[:SS]])".to_owned(),
            TimeFormat::Compact => "YYYYMMDD[ HH:MM[:SS]]".to_owned(),
            TimeFormat::EpochSeconds => "Unix epoch seconds".to_owned(),
            TimeFormat::EpochMillis => "Unix epoch milliseconds".to_owned(),
            TimeFormat::EpochMicros => "Unix epoch microseconds".to_owned(),
            TimeFormat::Custom(f) => format!("--date-format {f}"),
            TimeFormat::Native(t) => t.clone(),
        }
    }

    /// The time as milliseconds since the epoch (an offset applied; naive times read as UTC)
    /// and as a naive wall-clock time, or `None` when `s` is not in this format.
    pub fn parse(&self, s: &str) -> Option<(i64, NaiveDateTime)> {
        let s = s.trim();
        let naive = |t: NaiveDateTime| Some((t.and_utc().timestamp_millis(), t));
        match self {
            TimeFormat::Iso => iso(s),
            TimeFormat::MonthFirst | TimeFormat::DayFirst => {
                let (date, rest) = split_date_time(s);
                let parts: Vec<&str> = date.split(['/', '.', '-']).collect();
                let [a, b, y] = parts.as_slice() else {
                    return None;
                };
                if y.len() != 4 {
                    return None;
                }
                let (m, d) = if *self == TimeFormat::MonthFirst {
                    (a, b)
                } else {
                    (b, a)
                };
                let d = NaiveDate::from_ymd_opt(y.parse().ok()?, m.parse().ok()?, d.parse().ok()?)?;
                naive(with_time(d, rest)?)
            }
            TimeFormat::Compact => {
                let (date, rest) = split_date_time(s);
                if date.len() != 8 || !date.bytes().all(|c| c.is_ascii_digit()) {
                    return None;
                }
                let d = NaiveDate::parse_from_str(date, "%Y%m%d").ok()?;
                naive(with_time(d, rest)?)
            }
            TimeFormat::EpochSeconds | TimeFormat::EpochMillis | TimeFormat::EpochMicros => {
                let v: i64 = s.parse().ok()?;
                let ms = match self {
                    TimeFormat::EpochSeconds => v.checked_mul(1000)?,
                    TimeFormat::EpochMillis => v,
                    _ => v / 1000,
                };
                let t = DateTime::from_timestamp_millis(ms)?.naive_utc();
                Some((ms, t))
            }
            TimeFormat::Native(_) => None,
            TimeFormat::Custom(f) => {
                if let Ok(t) = DateTime::parse_from_str(s, f) {
                    return Some((t.timestamp_millis(), t.naive_local()));
                }
                if let Ok(t) = NaiveDateTime::parse_from_str(s, f) {
                    return naive(t);
                }
                naive(NaiveDate::parse_from_str(s, f).ok()?.and_hms_opt(0, 0, 0)?)
            }
        }
    }
}

/// The two fixed layouts most files use, read by position: `YYYY-MM-DD` and
/// `YYYY-MM-DD HH:MM:SS` (no format string to interpret per row).
fn iso_fixed(s: &str) -> Option<NaiveDateTime> {
    let b = s.as_bytes();
    if !(b.len() == 10 || b.len() == 19) || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let n = |r: std::ops::Range<usize>| -> Option<u32> {
        let mut v = 0u32;
        for &c in &b[r] {
            if !c.is_ascii_digit() {
                return None;
            }
            v = v * 10 + u32::from(c - b'0');
        }
        Some(v)
    };
    let date = NaiveDate::from_ymd_opt(i32::try_from(n(0..4)?).ok()?, n(5..7)?, n(8..10)?)?;
    if b.len() == 10 {
        return date.and_hms_opt(0, 0, 0);
    }
    if b[10] != b' ' && b[10] != b'T' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    date.and_hms_opt(n(11..13)?, n(14..16)?, n(17..19)?)
}

/// ISO 8601 and its `/` and `.` variants.
fn iso(s: &str) -> Option<(i64, NaiveDateTime)> {
    if let Some(t) = iso_fixed(s) {
        return Some((t.and_utc().timestamp_millis(), t));
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some((t.timestamp_millis(), t.naive_local()));
    }
    for f in [
        "%Y-%m-%d %H:%M:%S%.f%:z",
        "%Y-%m-%d %H:%M:%S%:z",
        "%Y-%m-%d %H:%M:%S%#z",
    ] {
        if let Ok(t) = DateTime::parse_from_str(s, f) {
            return Some((t.timestamp_millis(), t.naive_local()));
        }
    }
    let (date, rest) = split_date_time(s);
    let b = date.as_bytes();
    if b.len() != 10 || !(b[4] == b'-' || b[4] == b'/' || b[4] == b'.') || b[7] != b[4] {
        return None;
    }
    let d = NaiveDate::from_ymd_opt(
        date[..4].parse().ok()?,
        date[5..7].parse().ok()?,
        date[8..10].parse().ok()?,
    )?;
    let t = with_time(d, rest)?;
    Some((t.and_utc().timestamp_millis(), t))
}

/// `date` and the time after a space or `T`.
fn split_date_time(s: &str) -> (&str, &str) {
    match s.find([' ', 'T']) {
        Some(i) => (&s[..i], s[i + 1..].trim()),
        None => (s, ""),
    }
}

/// `d` at `HH:MM[:SS[.fff]]` (midnight when empty).
fn with_time(d: NaiveDate, t: &str) -> Option<NaiveDateTime> {
    if t.is_empty() {
        return d.and_hms_opt(0, 0, 0);
    }
    let t = t.trim_end_matches('Z');
    for f in ["%H:%M:%S%.f", "%H:%M:%S", "%H:%M"] {
        if let Ok(time) = chrono::NaiveTime::parse_from_str(t, f) {
            return Some(d.and_time(time));
        }
    }
    None
}

/// The time format of a column of time texts, from all of them: ISO, the compact and epoch
/// forms, then slashed or dotted dates, day-first only when some first field exceeds 12 and
/// month-first only when some second one does.
///
/// # Errors
/// What is ambiguous or unknown, in words for the user.
pub fn detect_time(samples: &[&str]) -> Result<TimeFormat, String> {
    let first = samples
        .iter()
        .map(|s| s.trim())
        .find(|s| !s.is_empty())
        .unwrap_or("");
    if iso(first).is_some() {
        return Ok(TimeFormat::Iso);
    }
    let digits = !first.is_empty() && first.bytes().all(|c| c.is_ascii_digit());
    if digits && first.len() == 8 {
        return Ok(TimeFormat::Compact);
    }
    if digits {
        let v: f64 = first.parse().unwrap_or(0.0);
        return Ok(if v < 1e11 {
            TimeFormat::EpochSeconds
        } else if v < 1e14 {
            TimeFormat::EpochMillis
        } else {
            TimeFormat::EpochMicros
        });
    }
    if TimeFormat::Compact.parse(first).is_some() {
        return Ok(TimeFormat::Compact);
    }
    let (date, _) = split_date_time(first);
    let parts: Vec<&str> = date.split(['/', '.', '-']).collect();
    if parts.len() == 3 && parts[2].len() == 4 {
        let fields = |k: usize| {
            samples.iter().filter_map(move |s| {
                split_date_time(s.trim())
                    .0
                    .split(['/', '.', '-'])
                    .nth(k)
                    .and_then(|x| x.parse::<u32>().ok())
            })
        };
        let day_first = fields(0).any(|x| x > 12);
        let month_first = fields(1).any(|x| x > 12);
        return match (day_first, month_first) {
            (true, false) => Ok(TimeFormat::DayFirst),
            (false, true) => Ok(TimeFormat::MonthFirst),
            (true, true) => Err(format!(
                "dates like `{date}` have values over 12 in both the first and the second field: give --date-format"
            )),
            (false, false) => Err(format!(
                "dates like `{date}` could be day-first or month-first (no field above 12 tells): give --date-format, e.g. --date-format %d/%m/%Y"
            )),
        };
    }
    Err(format!(
        "`{first}` is not a time format botforge knows (ISO 8601, YYYY.MM.DD, MM/DD/YYYY, DD.MM.YYYY, YYYYMMDD, Unix epoch): give --date-format"
    ))
}

/// A column name as compared: trimmed, without `MetaTrader`'s angle brackets, lower case,
/// without spaces, `_` and `-`.
pub fn normalise(name: &str) -> String {
    name.trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .chars()
        .filter(|c| !matches!(c, ' ' | '_' | '-'))
        .flat_map(char::to_lowercase)
        .collect()
}

/// What a column holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Opens.
    Open,
    /// Highs.
    High,
    /// Lows.
    Low,
    /// Closes.
    Close,
    /// Adjusted closes.
    AdjClose,
    /// Volumes.
    Volume,
    /// Date and time, or the date alone.
    Time,
    /// The time of day, beside a date column.
    TimeOfDay,
}

/// The role of a column by its normalised name.
pub fn role(name: &str) -> Option<Role> {
    Some(match name {
        "open" | "o" | "opening" => Role::Open,
        "high" | "h" | "max" => Role::High,
        "low" | "l" | "min" => Role::Low,
        "close" | "c" | "last" | "closing" => Role::Close,
        "adjclose" | "adjustedclose" | "adjclosing" => Role::AdjClose,
        "volume" | "vol" | "v" | "tickvol" | "tickvolume" | "realvolume" | "basevolume" => {
            Role::Volume
        }
        "date" | "datetime" | "timestamp" | "opentime" | "day" | "gmttime" | "localtime" => {
            Role::Time
        }
        "time" => Role::TimeOfDay,
        _ => return None,
    })
}

/// The delimiter of a header line: the most frequent of `,`, `;` and tab.
pub fn delimiter(header: &str) -> u8 {
    [b',', b';', b'\t']
        .into_iter()
        .max_by_key(|d| header.bytes().filter(|c| c == d).count())
        .unwrap_or(b',')
}

/// The roles of a file's columns and where open, high, low and close are; `err` makes the
/// message for a missing one (`names` lists what the file has).
pub(super) fn find_prices(
    names: &[&str],
    err: impl Fn(String) -> super::error::DataError,
) -> Result<(Vec<Option<Role>>, [usize; 4]), super::error::DataError> {
    let roles: Vec<Option<Role>> = names.iter().map(|h| role(&normalise(h))).collect();
    let mut at = [0usize; 4];
    for (slot, (r, label)) in at.iter_mut().zip([
        (Role::Open, "Open"),
        (Role::High, "High"),
        (Role::Low, "Low"),
        (Role::Close, "Close"),
    ]) {
        *slot = roles.iter().position(|x| *x == Some(r)).ok_or_else(|| {
            err(format!(
                "column `{label}`: not found (the columns are {}); botforge needs a time, Open, High, Low and Close, and reads Volume when present",
                names.join(", ")
            ))
        })?;
    }
    Ok((roles, at))
}

/// What each column was read as, for `data check`: `time` for the time column(s) used.
pub(super) fn read_as(
    names: &[&str],
    roles: &[Option<Role>],
    time: &[usize],
    adjusted: bool,
) -> Vec<(String, Option<&'static str>)> {
    names
        .iter()
        .zip(roles)
        .enumerate()
        .map(|(i, (n, r))| {
            let used = match r {
                _ if time.contains(&i) => Some("time"),
                Some(Role::Open) => Some("open"),
                Some(Role::High) => Some("high"),
                Some(Role::Low) => Some("low"),
                Some(Role::Close) => Some("close"),
                Some(Role::Volume) => Some("volume"),
                Some(Role::AdjClose) => adjusted.then_some("adj_close"),
                _ => None,
            };
            ((*n).to_owned(), used)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_are_told_apart_from_the_data() {
        assert_eq!(detect_time(&["2024-01-31"]), Ok(TimeFormat::Iso));
        assert_eq!(detect_time(&["2024.01.31 13:00"]), Ok(TimeFormat::Iso));
        assert_eq!(detect_time(&["20240131"]), Ok(TimeFormat::Compact));
        assert_eq!(detect_time(&["1706659200"]), Ok(TimeFormat::EpochSeconds));
        assert_eq!(detect_time(&["1706659200000"]), Ok(TimeFormat::EpochMillis));
        assert_eq!(
            detect_time(&["1706659200000000"]),
            Ok(TimeFormat::EpochMicros)
        );
        assert_eq!(
            detect_time(&["01/05/2024", "01/31/2024"]),
            Ok(TimeFormat::MonthFirst)
        );
        assert_eq!(
            detect_time(&["05.01.2024", "31.01.2024"]),
            Ok(TimeFormat::DayFirst)
        );
        assert!(
            detect_time(&["01/02/2024", "03/04/2024"])
                .unwrap_err()
                .contains("--date-format")
        );
        assert!(
            detect_time(&["yesterday"])
                .unwrap_err()
                .contains("not a time format")
        );
        let (ms, _) = TimeFormat::DayFirst.parse("31.01.2024 13:30").unwrap();
        assert_eq!(
            Some(ms),
            TimeFormat::Iso.parse("2024-01-31 13:30:00").map(|t| t.0)
        );
        let (ms, t) = TimeFormat::Iso.parse("2024-01-31T10:00:00+02:00").unwrap();
        assert_eq!(ms, TimeFormat::Iso.parse("2024-01-31 08:00:00").unwrap().0);
        assert_eq!(t.to_string(), "2024-01-31 10:00:00");
    }

    #[test]
    fn columns_are_found_by_name() {
        assert_eq!(role(&normalise("<TICKVOL>")), Some(Role::Volume));
        assert_eq!(role(&normalise(" Adj Close")), Some(Role::AdjClose));
        assert_eq!(role(&normalise("open_time")), Some(Role::Time));
        assert_eq!(role(&normalise("<TIME>")), Some(Role::TimeOfDay));
        assert_eq!(delimiter("Date;Open;High;Low;Close"), b';');
        assert_eq!(delimiter("<DATE>\t<TIME>\t<OPEN>"), b'\t');
    }

    #[test]
    fn fixed_iso_fast_path_agrees_with_chrono() {
        for s in [
            "2024-01-31",
            "2024-02-29 23:59:59",
            "1999-12-31T00:00:01",
            "2023-02-29",
            "2024-13-01",
            "2024-01-31 24:00:00",
            "2024-01-3a",
            "2024/01/31",
        ] {
            let chrono = NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S")
                .or_else(|_| NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S"))
                .ok()
                .or_else(|| {
                    NaiveDate::parse_from_str(s, "%Y-%m-%d")
                        .ok()
                        .and_then(|d| d.and_hms_opt(0, 0, 0))
                });
            assert_eq!(iso_fixed(s), chrono, "{s}");
        }
    }
}
