//! Every row of a delimited file into the bars, once its layout is known: the columns of the
//! header, each row's values checked, its time kept (or not: most times are the rendering of
//! their own milliseconds), and the rows in time order. A plain file of some size is cut into
//! ranges of whole lines that threads read at once, each straight into its own stretch of the
//! final columns (the lines are counted first, so the columns are allocated once, at their
//! exact length), then joined with every check in file order.

use std::io::Read;
use std::ops::ControlFlow;
use std::sync::Arc;

use super::error::DataError;
use super::fields::{Given, for_each_scanned_row, parse_number};
use super::layout::{self, Role, TimeFormat};
use super::lines::{Source, count_lines};
use super::model::Bars;
use super::scan::Plan;
use super::times::Times;
use super::times::{render, write_iso};

/// The columns of a header.
pub(super) struct Columns {
    pub(super) open: usize,
    pub(super) high: usize,
    pub(super) low: usize,
    pub(super) close: usize,
    pub(super) volume: Option<usize>,
    pub(super) adj_close: Option<usize>,
    pub(super) time: usize,
    pub(super) time_of_day: Option<usize>,
}

/// The columns of a header, and each name's role.
///
/// # Errors
/// A price or the time column missing.
pub(super) fn columns(
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

/// One row's values.
#[derive(Debug, Clone, Copy)]
struct Row {
    ms: i64,
    open: f64,
    high: f64,
    low: f64,
    close: f64,
    volume: f64,
}

/// Where rows go: pushed onto the bars (one pass), or written into a stretch of columns
/// allocated at their final length (one range of a file read by threads).
enum Sink<'c> {
    Grow {
        epoch_ms: &'c mut Vec<i64>,
        prices: [&'c mut Vec<f64>; 5],
    },
    Stretch {
        epoch_ms: &'c mut [i64],
        prices: [&'c mut [f64]; 5],
    },
}

/// How the times of a range are kept: not at all while each is the ISO rendering of its own
/// milliseconds (dates alone when `date_only`), as text from the first one that is not.
#[derive(Debug, Default)]
struct Kept {
    date_only: bool,
    text: Option<Times>,
}

/// A row's time as kept: the rendering of its milliseconds, or text.
#[derive(Debug, Clone, Copy)]
enum KeptTime<'t> {
    Rendering { date_only: bool },
    Text(&'t str),
}

/// Whether ISO text is exactly what [`write_iso`] writes for the time it reads as:
/// `YYYY-MM-DD` or `YYYY-MM-DD HH:MM:SS`, digits where digits go.
fn is_rendering(b: &[u8]) -> bool {
    let shape: &[u8] = match b.len() {
        10 => b"0000-00-00",
        19 => b"0000-00-00 00:00:00",
        _ => return false,
    };
    let mut ok = true;
    for (c, s) in b.iter().zip(shape) {
        ok &= if *s == b'0' {
            c.wrapping_sub(b'0') < 10
        } else {
            c == s
        };
    }
    ok
}

/// The last date read in the exact ISO layout, so that the bars of one day read it once: the
/// positions `layout::iso_fixed` reads (a space before the time only, so the text is its own
/// rendering), with the date cached; a test checks it reads what `TimeFormat::Iso` reads.
#[derive(Debug, Default)]
struct DayCache {
    text: [u8; 10],
    day: Option<(chrono::NaiveDate, i64)>,
}

impl DayCache {
    /// `YYYY-MM-DD` or `YYYY-MM-DD HH:MM:SS` exactly (text that is then the rendering of its
    /// time): the milliseconds and the wall clock, as `TimeFormat::Iso` reads them; `None` for
    /// any other text, or a date or time that does not exist.
    fn read(&mut self, b: &[u8]) -> Option<(i64, chrono::NaiveDateTime)> {
        if !is_rendering(b) {
            return None;
        }
        let digit = |i: usize| u32::from(b.get(i).map_or(0, |c| c - b'0'));
        let two = |i: usize| digit(i) * 10 + digit(i + 1);
        let date_text = b.get(..10)?;
        let (date, day_ms) = match self.day {
            Some(day) if self.text == date_text => day,
            _ => {
                let year = i32::try_from(two(0) * 100 + two(2)).ok()?;
                let date = chrono::NaiveDate::from_ymd_opt(year, two(5), two(8))?;
                let day_ms = date
                    .and_time(chrono::NaiveTime::MIN)
                    .and_utc()
                    .timestamp_millis();
                self.text.copy_from_slice(date_text);
                self.day = Some((date, day_ms));
                (date, day_ms)
            }
        };
        if b.len() == 10 {
            return Some((day_ms, date.and_time(chrono::NaiveTime::MIN)));
        }
        let (h, m, s) = (two(11), two(14), two(17));
        let wall = date.and_hms_opt(h, m, s)?;
        Some((day_ms + i64::from(h * 3600 + m * 60 + s) * 1000, wall))
    }
}

impl Kept {
    /// Keeps time `i` at `ms`; `before` holds the earlier times' milliseconds.
    fn put(&mut self, i: usize, ms: i64, time: KeptTime<'_>, before: &[i64]) {
        match (&mut self.text, time) {
            (None, KeptTime::Rendering { date_only }) if date_only == self.date_only => {}
            (Some(t), KeptTime::Text(text)) => t.push(text),
            (Some(t), KeptTime::Rendering { date_only }) => t.push(&render(ms, date_only)),
            (None, time) => {
                let earlier = before.get(..i).unwrap_or_default().to_vec();
                let mut t = Times::rendered(Arc::new(earlier), self.date_only);
                match time {
                    KeptTime::Text(text) => t.push(text),
                    KeptTime::Rendering { date_only } => t.push(&render(ms, date_only)),
                }
                self.text = Some(t);
            }
        }
    }
}

impl Sink<'_> {
    /// Stores row `i`; `false` when a stretch has no room (the file grew since it was
    /// counted).
    fn put(&mut self, i: usize, r: &Row) -> bool {
        let values = [r.open, r.high, r.low, r.close, r.volume];
        match self {
            Sink::Grow { epoch_ms, prices } => {
                epoch_ms.push(r.ms);
                for (col, v) in prices.iter_mut().zip(values) {
                    col.push(v);
                }
                true
            }
            Sink::Stretch { epoch_ms, prices } => {
                let Some(t) = epoch_ms.get_mut(i) else {
                    return false;
                };
                *t = r.ms;
                for (col, v) in prices.iter_mut().zip(values) {
                    if let Some(x) = col.get_mut(i) {
                        *x = v;
                    }
                }
                true
            }
        }
    }

    /// The milliseconds stored so far (and, in a stretch, those still to come).
    fn epoch_ms(&self) -> &[i64] {
        match self {
            Sink::Grow { epoch_ms, .. } => epoch_ms,
            Sink::Stretch { epoch_ms, .. } => epoch_ms,
        }
    }
}

/// What reading one range of rows leaves for joining the ranges.
#[derive(Debug, Default)]
struct Part {
    /// Rows stored.
    rows: usize,
    /// The first row's line, time and text (checked against the previous range's last).
    first: Option<(u64, i64, String)>,
    /// The last row's time.
    last_ms: Option<i64>,
    /// Whether some time carried a UTC offset.
    offsets: bool,
    /// The range's times.
    kept: Kept,
}

/// How every row of one file is read: the layout detected from its header and first rows.
pub(super) struct Rows<'a> {
    pub(super) file: &'a str,
    pub(super) delim: u8,
    pub(super) cols: &'a Columns,
    pub(super) names: &'a [String],
    pub(super) time_label: &'a str,
    pub(super) time_format: &'a TimeFormat,
    pub(super) decimal_comma: bool,
    pub(super) adjusted: bool,
    /// The first line is data, not a header (Binance's kline files as downloaded).
    pub(super) headerless: bool,
}

impl Rows<'_> {
    fn bad(&self, line: u64, message: String) -> DataError {
        DataError::Bad {
            file: self.file.to_owned(),
            line,
            message,
        }
    }

    fn name(&self, i: usize) -> &str {
        self.names.get(i).map_or("", String::as_str)
    }

    /// A row's time text: the date column itself, or joined with a time-of-day column in
    /// `buf`.
    fn time_of<'t>(&self, fields: &[&'t str], buf: &'t mut String) -> &'t str {
        if self.cols.time_of_day.is_none() {
            return fields.get(self.cols.time).copied().unwrap_or("");
        }
        time_text(self.cols, fields, buf);
        buf
    }

    /// A row's prices from its fields (open, high, low, close, volume), each checked, with
    /// `Adj Close` applied when asked.
    fn prices(
        &self,
        line: u64,
        fields: &[&str],
        numbers: &mut String,
    ) -> Result<[f64; 5], DataError> {
        let mut num = |i: usize| -> Result<f64, DataError> {
            let raw = fields.get(i).copied().unwrap_or("");
            let s = if self.decimal_comma {
                numbers.clear();
                numbers.push_str(raw);
                *numbers = numbers.replace(',', ".");
                numbers.as_str()
            } else {
                raw
            };
            parse_number(s).filter(|x| x.is_finite()).ok_or_else(|| {
                self.bad(
                    line,
                    format!("column `{}`: `{raw}` is not a number", self.name(i)),
                )
            })
        };
        let c = self.cols;
        let (mut op, mut hi, mut lo, mut cl) =
            (num(c.open)?, num(c.high)?, num(c.low)?, num(c.close)?);
        if self.adjusted
            && let Some(a) = c.adj_close
        {
            let ratio = num(a)? / cl;
            op *= ratio;
            hi *= ratio;
            lo *= ratio;
            cl *= ratio;
        }
        let volume = match c.volume {
            Some(i) if fields.get(i).is_some_and(|s| !s.is_empty()) => num(i)?,
            _ => f64::NAN,
        };
        Ok([op, hi, lo, cl, volume])
    }

    /// A row from its prices (open, high, low, close, volume), checked; `time` is its time
    /// text.
    fn row(
        &self,
        line: u64,
        [op, hi, lo, cl, volume]: [f64; 5],
        (time, days): (&str, &mut DayCache),
    ) -> Result<(Row, chrono::NaiveDateTime, bool), DataError> {
        // ISO text in the exact layout is read here (and is then the rendering of its time).
        let fixed = if *self.time_format == TimeFormat::Iso {
            days.read(time.as_bytes())
        } else {
            None
        };
        let rendering = fixed.is_some();
        let (ms, wall) = fixed.or_else(|| self.time_format.parse(time)).ok_or_else(|| {
            self.bad(
                line,
                format!(
                    "column {}: `{time}` is not in the file's time format ({}); one file holds one format (--date-format sets it)",
                    self.time_label,
                    self.time_format.describe()
                ),
            )
        })?;
        let c = self.cols;
        if hi < lo {
            return Err(self.bad(
                line,
                format!(
                    "column `{}`: High {hi} is below Low {lo}",
                    self.name(c.high)
                ),
            ));
        }
        let row = Row {
            ms,
            open: op,
            high: hi,
            low: lo,
            close: cl,
            volume,
        };
        Ok((row, wall, rendering))
    }

    /// A row's time as the bars keep it: as written when it is ISO 8601 already (noting a UTC
    /// offset in `offsets`), else written out in ISO form (the report, the JSON and the time
    /// fields read them); no text at all when it is the ISO rendering of its own milliseconds
    /// `ms`, as most are.
    /// `rendering` says ISO text was read in the exact layout [`DayCache::read`] reads.
    fn kept<'t>(
        &self,
        time: &'t str,
        (ms, wall, rendering): (i64, chrono::NaiveDateTime, bool),
        written: &'t mut String,
        offsets: &mut bool,
    ) -> KeptTime<'t> {
        let b = time.as_bytes();
        if *self.time_format == TimeFormat::Iso && b.get(4) == Some(&b'-') {
            if rendering {
                return KeptTime::Rendering {
                    date_only: b.len() == 10,
                };
            }
            // An offset follows the seconds: `+02:00`, `-05:00`, `Z`.
            *offsets |= time.len() > 16
                && b.get(11..)
                    .is_some_and(|t| t.iter().any(|c| matches!(c, b'+' | b'-' | b'Z')));
            return KeptTime::Text(time);
        }
        let epoch = matches!(
            self.time_format,
            TimeFormat::EpochSeconds | TimeFormat::EpochMillis | TimeFormat::EpochMicros
        );
        let date_only = wall.time() == chrono::NaiveTime::MIN && !time.contains(':') && !epoch;
        if wall.and_utc().timestamp_millis() == ms {
            return KeptTime::Rendering { date_only };
        }
        written.clear();
        write_iso(written, wall, date_only);
        KeptTime::Text(written)
    }

    /// The error when a row at `ms` may not follow one at `prev`.
    fn out_of_order(&self, line: u64, time: &str, ms: i64, prev: i64) -> Option<DataError> {
        let label = self.time_label;
        if ms == prev {
            return Some(self.bad(
                line,
                format!("column {label}: time `{time}` repeats the previous row's"),
            ));
        }
        (ms < prev).then(|| {
            self.bad(
                line,
                format!(
                    "column {label}: time `{time}` is earlier than the previous row's: rows must be in time order"
                ),
            )
        })
    }

    /// Reads the rows of `input` (lines numbered from `first_line`) into `sink` and `part`.
    fn read(
        &self,
        input: impl Read,
        first_line: u64,
        skip_header: bool,
        sink: &mut Sink<'_>,
        part: &mut Part,
    ) -> Result<(), DataError> {
        let bad = |line, message| self.bad(line, message);
        let read = |source| DataError::Read {
            file: self.file.to_owned(),
            source,
        };
        let mut numbers = String::new();
        let mut joined = String::new();
        let mut written = String::new();
        let mut days = DayCache::default();
        let c = self.cols;
        let prices = [c.open, c.high, c.low, c.close].map(Some);
        let plan = Plan::new(
            c.time,
            [prices[0], prices[1], prices[2], prices[3], c.volume],
            self.delim,
            !self.decimal_comma && !self.adjusted && c.time_of_day.is_none(),
        );
        for_each_scanned_row(
            input,
            (first_line, skip_header),
            self.delim,
            plan.as_ref(),
            &bad,
            &read,
            |line, given, _| {
                let (time, prices) = match given {
                    Given::Scanned(time, prices) => (time, prices),
                    Given::Fields(fields) => (
                        self.time_of(fields, &mut joined),
                        self.prices(line, fields, &mut numbers)?,
                    ),
                };
                let (row, wall, rendering) = self.row(line, prices, (time, &mut days))?;
                match part.last_ms {
                    Some(prev) => {
                        if let Some(e) = self.out_of_order(line, time, row.ms, prev) {
                            return Err(e);
                        }
                    }
                    None => part.first = Some((line, row.ms, time.to_owned())),
                }
                let kept = self.kept(
                    time,
                    (row.ms, wall, rendering),
                    &mut written,
                    &mut part.offsets,
                );
                part.kept.put(part.rows, row.ms, kept, sink.epoch_ms());
                if !sink.put(part.rows, &row) {
                    return Err(self.bad(
                        line,
                        "the file changed while it was being read: read it again once it is written".to_owned(),
                    ));
                }
                part.rows += 1;
                part.last_ms = Some(row.ms);
                Ok(ControlFlow::Continue(()))
            },
        )
    }

    /// Whether the first row's time is rendered as a date alone (most files render every
    /// time alike).
    pub(super) fn date_only(&self, first_time: &str) -> bool {
        let fixed = if *self.time_format == TimeFormat::Iso {
            DayCache::default().read(first_time.as_bytes())
        } else {
            None
        };
        fixed
            .map(|(ms, wall)| (ms, wall, true))
            .or_else(|| {
                self.time_format
                    .parse(first_time)
                    .map(|(ms, wall)| (ms, wall, false))
            })
            .is_some_and(|parsed| {
                matches!(
                    self.kept(first_time, parsed, &mut String::new(), &mut false),
                    KeptTime::Rendering { date_only: true }
                )
            })
    }

    /// Reads every row of `src` after its header in one pass, into columns with room for
    /// `rows`; `date_only` is how the first row's time is rendered.
    pub(super) fn read_whole(
        &self,
        src: Source<'_>,
        rows: usize,
        date_only: bool,
    ) -> Result<(Bars, bool), DataError> {
        let mut epoch_ms = Vec::with_capacity(rows);
        let mut prices: [Vec<f64>; 5] = std::array::from_fn(|_| Vec::with_capacity(rows));
        let mut part = Part::default();
        part.kept.date_only = date_only;
        let input = src.open().map_err(|source| DataError::Read {
            file: self.file.to_owned(),
            source,
        })?;
        let mut sink = Sink::Grow {
            epoch_ms: &mut epoch_ms,
            prices: prices.each_mut(),
        };
        self.read(input, 1, !self.headerless, &mut sink, &mut part)?;
        let epoch_ms = Arc::new(epoch_ms);
        let time = part
            .kept
            .text
            .unwrap_or_else(|| Times::rendered(Arc::clone(&epoch_ms), date_only));
        Ok((bars_of(time, epoch_ms, prices), part.offsets))
    }

    /// Reads bytes `start..end` of `src` (whole lines after the header) in `parts` ranges at
    /// once, each into its stretch of the columns, and joins them: the ranges' boundary rows
    /// checked for order, errors reported in file order, rows moved up over blank lines.
    /// `date_only` is how the first row's time is rendered.
    pub(super) fn read_parallel(
        &self,
        src: Source<'_>,
        (start, end): (u64, u64),
        parts: usize,
        date_only: bool,
    ) -> Result<(Bars, bool), DataError> {
        let io = |source| DataError::Read {
            file: self.file.to_owned(),
            source,
        };
        let ranges = src.split(start, end, parts).map_err(io)?;
        let counted: Vec<std::io::Result<u64>> = std::thread::scope(|s| {
            let jobs: Vec<_> = ranges
                .iter()
                .map(|&(a, b)| s.spawn(move || count_lines(src.range(a, b)?)))
                .collect();
            jobs.into_iter()
                .map(|j| {
                    j.join()
                        .unwrap_or_else(|_| Err(std::io::Error::other("a counting thread failed")))
                })
                .collect()
        });
        let lines = counted
            .into_iter()
            .map(|c| c.map(|n| usize::try_from(n).unwrap_or(usize::MAX)))
            .collect::<Result<Vec<usize>, _>>()
            .map_err(io)?;
        let total: usize = lines.iter().sum();
        let mut epoch_ms = vec![0i64; total];
        let mut prices: [Vec<f64>; 5] = std::array::from_fn(|_| vec![0.0; total]);
        let results: Vec<(Part, Result<(), DataError>)> = {
            let mut epoch_rest = epoch_ms.as_mut_slice();
            let mut rest: [&mut [f64]; 5] = prices.each_mut().map(Vec::as_mut_slice);
            let mut first_line = 2u64;
            let mut jobs = Vec::with_capacity(ranges.len());
            for (&(a, b), &n) in ranges.iter().zip(&lines) {
                let (mine, later) = std::mem::take(&mut epoch_rest).split_at_mut(n);
                epoch_rest = later;
                let stretch = rest.each_mut().map(|r| {
                    let (mine, later) = std::mem::take(r).split_at_mut(n);
                    *r = later;
                    mine
                });
                jobs.push((a, b, first_line, mine, stretch));
                first_line += n as u64;
            }
            std::thread::scope(|s| {
                let handles: Vec<_> = jobs
                    .into_iter()
                    .map(|(a, b, first_line, epoch_ms, prices)| {
                        s.spawn(move || {
                            let mut part = Part::default();
                            part.kept.date_only = date_only;
                            let mut sink = Sink::Stretch { epoch_ms, prices };
                            let r = src.range(a, b).map_err(io).and_then(|input| {
                                self.read(input, first_line, false, &mut sink, &mut part)
                            });
                            (part, r)
                        })
                    })
                    .collect();
                handles
                    .into_iter()
                    .map(|h| {
                        h.join().unwrap_or_else(|_| {
                            (
                                Part::default(),
                                Err(self.bad(0, "a reading thread failed".to_owned())),
                            )
                        })
                    })
                    .collect()
            })
        };
        self.join(results, &lines, epoch_ms, prices, date_only)
    }

    /// Joins ranges read at once: errors in file order (a range's first row against the
    /// previous range's last comes before anything later in the range), rows moved up over
    /// the blank lines counted before them, the times appended in order.
    fn join(
        &self,
        results: Vec<(Part, Result<(), DataError>)>,
        lines: &[usize],
        mut epoch_ms: Vec<i64>,
        mut prices: [Vec<f64>; 5],
        date_only: bool,
    ) -> Result<(Bars, bool), DataError> {
        let mut prev: Option<i64> = None;
        let mut parts = Vec::with_capacity(results.len());
        for (part, r) in results {
            if let (Some(p), Some((line, ms, time))) = (prev, &part.first)
                && let Some(e) = self.out_of_order(*line, time, *ms, p)
            {
                return Err(e);
            }
            r?;
            prev = part.last_ms.or(prev);
            parts.push(part);
        }
        let mut at = 0;
        let mut offset = 0;
        let mut offsets = false;
        for (part, &n) in parts.iter().zip(lines) {
            if at != offset {
                epoch_ms.copy_within(offset..offset + part.rows, at);
                for col in &mut prices {
                    col.copy_within(offset..offset + part.rows, at);
                }
            }
            at += part.rows;
            offset += n;
            offsets |= part.offsets;
        }
        epoch_ms.truncate(at);
        let epoch_ms = Arc::new(epoch_ms);
        for col in &mut prices {
            col.truncate(at);
        }
        let time = if parts.iter().all(|p| p.kept.text.is_none()) {
            Times::rendered(Arc::clone(&epoch_ms), date_only)
        } else {
            let mut time = Times::default();
            let mut from = 0;
            for part in parts {
                if let Some(t) = part.kept.text {
                    time.append(&t);
                } else {
                    let mine = epoch_ms.get(from..from + part.rows).unwrap_or_default();
                    time.append(&Times::rendered(Arc::new(mine.to_vec()), date_only));
                }
                from += part.rows;
            }
            time
        };
        Ok((bars_of(time, epoch_ms, prices), offsets))
    }
}

/// Bars from their columns (open, high, low, close, volume).
fn bars_of(time: Times, epoch_ms: Arc<Vec<i64>>, prices: [Vec<f64>; 5]) -> Bars {
    let [open, high, low, close, volume] = prices.map(Arc::new);
    Bars {
        time,
        epoch_ms,
        open,
        high,
        low,
        close,
        volume,
        ..Bars::default()
    }
}

/// A row's time text in `buf`: the date column, joined with a time-of-day column when there is
/// one.
pub(super) fn time_text(cols: &Columns, fields: &[&str], buf: &mut String) {
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_day_cache_reads_what_the_iso_format_reads() {
        let mut days = DayCache::default();
        let mut read = 0;
        for y in [999, 1999, 2000, 2023, 2024] {
            for m in 0..=13 {
                for d in [0, 1, 28, 29, 30, 31, 32] {
                    for t in [
                        "",
                        " 00:00:00",
                        " 23:59:59",
                        " 24:00:00",
                        " 12:60:00",
                        " 12:00:60",
                        "T12:00:00",
                        " 12:00:00.5",
                        " 1:00:00",
                    ] {
                        let text = format!("{y:04}-{m:02}-{d:02}{t}");
                        // What it reads, it reads as the format does; what it does not (a leap
                        // second, say), the format reads instead.
                        let got = days.read(text.as_bytes());
                        let want = TimeFormat::Iso.parse(&text);
                        if is_rendering(text.as_bytes()) && !text.ends_with(":60") {
                            assert_eq!(got, want, "{text}");
                            read += usize::from(got.is_some());
                        } else {
                            assert_eq!(got, None, "{text}");
                        }
                    }
                }
            }
        }
        assert!(read > 500, "{read}");
        for text in [
            "+024-01-01 00:00:00",
            "2024-01-01  0:00:00",
            "2024/01/01 00:00:00",
        ] {
            assert_eq!(days.read(text.as_bytes()), None, "{text}");
        }
    }
}
