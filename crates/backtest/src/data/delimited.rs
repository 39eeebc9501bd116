//! Delimited text (CSV and its kin, DESIGN.md §6.1): the header and the first rows detected
//! once (`layout.rs`), then every row read into the bars (`rows.rs`): a plain file of some
//! size by several threads, a gzip file or text in memory in one pass.

use std::io::{BufRead as _, BufReader};
use std::ops::ControlFlow;

use super::error::DataError;
use super::fields::for_each_row;
use super::layout::{self, TimeFormat, delimiter, detect_time};
use super::lines::Source;
use super::model::{Bars, Detected, LoadOptions};
use super::rows::{Rows, columns, time_text};

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
    if header_len == 0 || header.trim().is_empty() {
        return Err(bad(
            1,
            "the file is empty: botforge needs a header line (a time, Open, High, Low, Close[, Volume]) and rows of data".to_owned(),
        ));
    }
    let delim = delimiter(header);
    let mut headers = csv::ReaderBuilder::new()
        .has_headers(true)
        .delimiter(delim)
        .trim(csv::Trim::All)
        .flexible(true)
        .from_reader(header.as_bytes())
        .headers()
        .map_err(|e| bad(1, format!("cannot read the header: {e}")))?
        .clone();
    // A first line of numbers only is data: Binance's kline files as downloaded have no
    // header (open time, open, high, low, close, volume, close time and five more).
    let headerless = headers.len() >= 5
        && headers
            .iter()
            .all(|f| !f.is_empty() && f.parse::<f64>().is_ok_and(f64::is_finite));
    if headerless {
        headers = layout::positional_header(headers.len());
    }
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
    for_each_row(
        input,
        1,
        !headerless,
        delim,
        &bad,
        &read,
        |line, fields, len| {
            time_text(&cols, fields, &mut buf);
            let open = fields.get(cols.open).copied().unwrap_or("").to_owned();
            first = Some((line, buf.clone(), open, len));
            Ok(ControlFlow::Break(()))
        },
    )?;
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
                for_each_row(input, 1, !headerless, delim, &bad, &read, |_, fields, _| {
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
        headerless,
    };
    let ranged = if parts > 1 {
        src.len().map_err(read)?
    } else {
        None
    };
    let date_only = rows.date_only(&first_time);
    let (bars, offsets) = if let Some(end) = ranged {
        let start = if headerless { 0 } else { header_len as u64 };
        rows.read_parallel(src, (start, end), parts, date_only)?
    } else {
        // Rows vary in length: a margin keeps the columns from doubling near the end
        // (capacity never written is never resident).
        let guess = size / row_len.max(16);
        rows.read_whole(src, guess + guess / 8 + 16, date_only)?
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
    use std::sync::Arc;

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
