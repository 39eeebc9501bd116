//! Delimited text (CSV and its kin, DESIGN.md §6.1): the header and the first rows detected
//! once (`layout.rs`), then every row read into the bars. A plain file of some size is cut into
//! ranges of whole lines that threads read at once, each straight into its own stretch of the
//! final columns (the lines are counted first, so the columns are allocated once, at their
//! exact length); a gzip file or text in memory is read in one pass.

use std::io::{BufRead as _, BufReader, Read};
use std::ops::ControlFlow;
use std::sync::Arc;

use super::fields::{for_each_row, parse_number};
use super::layout::{self, Role, TimeFormat, delimiter, detect_time};
use super::lines::{Source, count_lines};
use super::times::{render, write_iso};
use super::{Bars, DataError, Detected, LoadOptions, Times};

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

/// The last date read in the exact ISO layout, so that the bars of one day read it once.
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
struct Rows<'a> {
    file: &'a str,
    delim: u8,
    cols: &'a Columns,
    names: &'a [String],
    time_label: &'a str,
    time_format: &'a TimeFormat,
    decimal_comma: bool,
    adjusted: bool,
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

    /// A row's values, each checked; `time` is its time text.
    fn row(
        &self,
        line: u64,
        fields: &[&str],
        numbers: &mut String,
        (time, days): (&str, &mut DayCache),
    ) -> Result<(Row, chrono::NaiveDateTime, bool), DataError> {
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
        for_each_row(
            input,
            first_line,
            skip_header,
            self.delim,
            &bad,
            &read,
            |line, fields, _| {
                let time = self.time_of(fields, &mut joined);
                let (row, wall, rendering) =
                    self.row(line, fields, &mut numbers, (time, &mut days))?;
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

    /// Reads bytes `start..end` of `src` (whole lines after the header) in `parts` ranges at
    /// once, each into its stretch of the columns, and joins them: the ranges' boundary rows
    /// checked for order, errors reported in file order, rows moved up over blank lines.
    /// `date_only` is how the first row's time is rendered.
    fn read_parallel(
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
fn time_text(cols: &Columns, fields: &[&str], buf: &mut String) {
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

/// Parses delimited data from `src` with detection; `size` is about how many bytes of text it
/// holds. With `parts` above one, a text or plain file is read by that many threads at once.
#[expect(
    clippy::too_many_lines,
    reason = "the header, then the first rows for the layout, then every row, in file order"
)]
pub(super) fn parse_source(
    file: &str,
    src: Source<'_>,
    size: usize,
    opts: &LoadOptions,
    parts: usize,
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
    let mut raw_header = Vec::new();
    let header_len = BufReader::new(src.open().map_err(read)?)
        .read_until(b'\n', &mut raw_header)
        .map_err(|e| bad(1, format!("cannot read the header: {e}")))?;
    let header = std::str::from_utf8(&raw_header).map_err(|e| {
        bad(
            1,
            format!("cannot read the header: is not UTF-8 text (a CSV file, or one gzip-compressed): {e}"),
        )
    })?;
    let header = header.strip_prefix('\u{feff}').unwrap_or(header);
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
    let names: Vec<String> = headers.iter().map(str::to_owned).collect();
    let name = |i: usize| names.get(i).cloned().unwrap_or_default();
    let time_label = match cols.time_of_day {
        Some(t) => format!("{} + {}", name(cols.time), name(t)),
        None => name(cols.time),
    };
    let time_label = if time_label.is_empty() {
        "the first column".to_owned()
    } else {
        format!("`{time_label}`")
    };

    // The time format: from the first row, or, for dates that only the data can tell day-first
    // from month-first, from every row.
    let mut first: Option<(u64, String, String, usize)> = None;
    let mut buf = String::new();
    let input = src.open().map_err(read)?;
    for_each_row(input, 1, true, delim, &bad, &read, |line, fields, len| {
        time_text(&cols, fields, &mut buf);
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
                let input = src.open().map_err(read)?;
                for_each_row(input, 1, true, delim, &bad, &read, |_, fields, _| {
                    time_text(&cols, fields, &mut b);
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
    let rows = Rows {
        file,
        delim,
        cols: &cols,
        names: &names,
        time_label: &time_label,
        time_format: &time_format,
        decimal_comma,
        adjusted: opts.adjusted,
    };
    let ranged = if parts > 1 {
        src.len().map_err(read)?
    } else {
        None
    };
    // How the first row's time is rendered: most files render every time alike.
    let fixed = if time_format == TimeFormat::Iso {
        DayCache::default().read(first_time.as_bytes())
    } else {
        None
    };
    let date_only = fixed
        .map(|(ms, wall)| (ms, wall, true))
        .or_else(|| {
            time_format
                .parse(&first_time)
                .map(|(ms, wall)| (ms, wall, false))
        })
        .is_some_and(|parsed| {
            matches!(
                rows.kept(&first_time, parsed, &mut String::new(), &mut false),
                KeptTime::Rendering { date_only: true }
            )
        });
    let (bars, offsets) = if let Some(end) = ranged {
        rows.read_parallel(src, (header_len as u64, end), parts, date_only)?
    } else {
        // Rows vary in length: a margin keeps the columns from doubling near the end
        // (capacity never written is never resident).
        let guess = size / row_len.max(16);
        let guess = guess + guess / 8 + 16;
        let mut epoch_ms = Vec::with_capacity(guess);
        let mut prices: [Vec<f64>; 5] = std::array::from_fn(|_| Vec::with_capacity(guess));
        let mut part = Part::default();
        part.kept.date_only = date_only;
        let input = src.open().map_err(read)?;
        let mut sink = Sink::Grow {
            epoch_ms: &mut epoch_ms,
            prices: prices.each_mut(),
        };
        rows.read(input, 1, true, &mut sink, &mut part)?;
        let epoch_ms = Arc::new(epoch_ms);
        let time = part
            .kept
            .text
            .unwrap_or_else(|| Times::rendered(Arc::clone(&epoch_ms), date_only));
        (bars_of(time, epoch_ms, prices), part.offsets)
    };
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

    use std::fmt::Write as _;

    type Break = fn(String) -> String;

    fn read(text: &str, parts: usize) -> Result<(Bars, Detected), String> {
        parse_source(
            "x.csv",
            Source::Text(text.as_bytes()),
            text.len(),
            &LoadOptions::default(),
            parts,
        )
        .map_err(|e| e.to_string())
    }

    /// 120 one-minute rows, a blank line after every 13th, CRLF on every 7th.
    fn rows(edit: impl Fn(usize, String) -> String) -> String {
        let mut text = "Date,Open,High,Low,Close,Volume\n".to_owned();
        for i in 0..120 {
            let row = format!(
                "2024-01-01 {:02}:{:02}:00,{}.5,{}.75,{}.25,{}.5,{}",
                i / 60,
                i % 60,
                100 + i,
                101 + i,
                99 + i,
                100 + i,
                1000 + i
            );
            text.push_str(&edit(i, row));
            text.push_str(if i % 7 == 0 { "\r\n" } else { "\n" });
            if i % 13 == 0 {
                text.push('\n');
            }
        }
        text
    }

    #[test]
    fn ranges_read_by_threads_give_what_one_pass_gives() {
        let whole = rows(|_, r| r);
        // Every time as the file writes it (the first field of each row).
        let written = |text: &str| -> Vec<String> {
            text.lines()
                .skip(1)
                .filter(|l| !l.trim().is_empty())
                .map(|l| l.split(',').next().unwrap_or_default().to_owned())
                .collect()
        };
        let one = read(&whole, 1).unwrap();
        assert_eq!(one.0.len(), 120);
        assert_eq!(one.0.time.iter().collect::<Vec<_>>(), written(&whole));
        for parts in 2..=7 {
            assert_eq!(read(&whole, parts), Ok(one.clone()), "{parts} parts");
        }
        // Times of other widths (fractions of a second, an offset) from the first row, from the
        // middle, or only near the end: kept as written, in order.
        for from in [0, 50, 110] {
            let mixed = rows(|i, r| {
                if i >= from && i % 9 == 4 {
                    r.replacen(":00,", ":00.250,", 1)
                } else if i >= from && i % 9 == 6 {
                    r.replacen(":00,", ":00+00:00,", 1)
                } else {
                    r
                }
            });
            let one = read(&mixed, 1).unwrap();
            assert!(one.1.offsets);
            assert_eq!(one.0.time.iter().collect::<Vec<_>>(), written(&mixed));
            for parts in 2..=7 {
                assert_eq!(
                    read(&mixed, parts),
                    Ok(one.clone()),
                    "from {from}, {parts} parts"
                );
            }
        }
        // Dates alone mixed with dates and times, the first row either.
        for k in [0, 7] {
            let mut daily = "Date,Open,High,Low,Close,Volume\n".to_owned();
            let start = chrono::NaiveDate::from_ymd_opt(2024, 1, 1).unwrap_or_default();
            for i in 0..90 {
                let d = start + chrono::Days::new(i);
                let t = if i % 10 == k {
                    format!("{d} 12:00:00")
                } else {
                    d.to_string()
                };
                let _ = writeln!(daily, "{t},1,2,1,1,5");
            }
            let one = read(&daily, 1).unwrap();
            assert_eq!(one.0.time.iter().collect::<Vec<_>>(), written(&daily));
            for parts in 2..=7 {
                assert_eq!(
                    read(&daily, parts),
                    Ok(one.clone()),
                    "daily {k}, {parts} parts"
                );
            }
        }
        // Each kind of bad row, alone and before a later one, at rows where ranges start and
        // end: the same error (line and message) however the file is cut.
        let breaks: [(&str, Break); 4] = [
            ("repeat", |_| "2024-01-01 00:00:00,1,2,1,1,1".to_owned()),
            ("earlier", |r| r.replacen("2024-01-01", "2023-12-31", 1)),
            ("number", |r| r.replacen(".75", ".7x", 1)),
            ("high", |r| r.replacen(".25,", "9.25,", 1)),
        ];
        for at in [1, 2, 17, 34, 59, 60, 61, 85, 119] {
            for (what, broken) in &breaks {
                let text = rows(|i, r| if i == at { broken(r) } else { r });
                let want = read(&text, 1);
                assert!(want.is_err(), "{what} at {at}");
                let later = rows(|i, r| {
                    if i == at {
                        broken(r)
                    } else if i == (at + 23).min(119) && i != at {
                        r.replacen(".5,", "x,", 1)
                    } else {
                        r
                    }
                });
                let want_later = read(&later, 1);
                for parts in 2..=7 {
                    assert_eq!(read(&text, parts), want, "{what} at {at}, {parts} parts");
                    assert_eq!(
                        read(&later, parts),
                        want_later,
                        "{what} at {at} and later, {parts} parts"
                    );
                }
            }
        }
    }

    #[test]
    fn a_plain_file_read_by_threads_equals_one_pass() {
        let mut text = "time;open;high;low;close\n".to_owned();
        let mut t = 1_600_000_000i64;
        while text.len() < 5 << 20 {
            t += 60;
            let _ = writeln!(text, "{t};1,5;2,25;1,125;2");
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.csv");
        std::fs::write(&path, &text).unwrap();
        let (bars, detected) = super::super::load(&path, &LoadOptions::default()).unwrap();
        let (want, want_detected) = read(&text, 1).unwrap();
        assert!(want.len() > 100_000);
        assert!(want.volume.iter().all(|v| v.is_nan()));
        // No volume column: NaN volumes, which `==` would call unequal.
        let (mut bars, mut want) = (bars, want);
        bars.volume = Arc::default();
        want.volume = Arc::default();
        assert_eq!(bars, want);
        assert_eq!(detected, want_detected);
        assert!(detected.decimal_comma);
        assert_eq!(detected.time_format, TimeFormat::EpochSeconds);
    }

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

    /// One row: minutes since the previous row (0 repeats it), how its time is written, its
    /// values and its line ending.
    fn random_row() -> impl proptest::strategy::Strategy<Value = (i64, u8, u8, u8)> {
        use proptest::prelude::*;
        (
            prop_oneof![8 => Just(1i64), 1 => Just(0), 1 => Just(-2), 2 => 2i64..600],
            prop_oneof![6 => Just(0u8), 1 => Just(1), 1 => Just(2), 1 => Just(3)],
            prop_oneof![8 => Just(0u8), 1 => Just(1), 1 => Just(2), 1 => Just(3)],
            0u8..4,
        )
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig {
            cases: 400,
            failure_persistence: None,
            rng_algorithm: proptest::test_runner::RngAlgorithm::ChaCha,
            ..proptest::prelude::ProptestConfig::default()
        })]

        /// Whatever the rows hold (times out of order or repeated, bad numbers, high below
        /// low, times as fractions, offsets or with `T`, blank lines, CRLF), threads read what
        /// one pass reads: the same bars and times, or the same first error.
        #[test]
        fn threads_read_what_one_pass_reads(
            rows in proptest::collection::vec(random_row(), 0..90),
            parts in 2usize..7,
        ) {
            let start = chrono::NaiveDate::from_ymd_opt(2024, 3, 1)
                .and_then(|d| d.and_hms_opt(0, 0, 0))
                .unwrap_or_default();
            let mut text = "Date,Open,High,Low,Close,Volume\n".to_owned();
            let mut minute = 0i64;
            for (step, shape, values, end) in rows {
                minute += step;
                let t = start + chrono::Duration::minutes(minute);
                let time = match shape {
                    0 => t.format("%Y-%m-%d %H:%M:%S").to_string(),
                    1 => t.format("%Y-%m-%d %H:%M:%S.250").to_string(),
                    2 => t.format("%Y-%m-%d %H:%M:%S+02:00").to_string(),
                    _ => t.format("%Y-%m-%dT%H:%M:%S").to_string(),
                };
                let values = match values {
                    0 => "1.5,2.25,1.25,2,10",
                    1 => "1.5,2.25,1.25,2,",
                    2 => "1.5,1,1.25,2,10",
                    _ => "1.5,x,1.25,2,10",
                };
                let end = ["\n", "\r\n", "\n\n", "\n \n"][usize::from(end)];
                let _ = write!(text, "{time},{values}{end}");
            }
            let one = format!("{:?}", read(&text, 1));
            proptest::prop_assert_eq!(format!("{:?}", read(&text, parts)), one);
        }
    }
}
