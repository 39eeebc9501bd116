//! The fields of one delimited line: split in place when the line has no quotes, by a small
//! quote-aware splitter when it has; decimal numbers read by a fast exact path; and every row
//! of an input handed out as its fields, blank lines skipped.

use std::io::Read;
use std::ops::ControlFlow;

use super::error::DataError;
use super::lines::{LineError, for_each_line};
use super::scan::Plan;

/// Splits a line at `delim` into `out`, each field trimmed (`delim` is ASCII, so every cut is
/// at a character boundary); `false`, with `out` left partial, when the line holds a quote and
/// needs [`split_quoted`]. The bytes are scanned eight at a time: a word's delimiters and
/// quotes are found together by a zero-byte test (no false matches), then visited in order.
pub(super) fn split_plain<'l>(line: &'l str, delim: u8, out: &mut Vec<&'l str>) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const LOW7: u64 = 0x7F7F_7F7F_7F7F_7F7F;
    /// The top bit of each byte of `x` that equals the byte repeated in `pattern`.
    fn equal(x: u64, pattern: u64) -> u64 {
        let y = x ^ pattern;
        !(((y & LOW7).wrapping_add(LOW7)) | y | LOW7)
    }
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
    let bytes = line.as_bytes();
    let (d, q) = (ONES * u64::from(delim), ONES * u64::from(b'"'));
    let mut start = 0;
    let mut at = 0;
    while let Some(word) = bytes.get(at..at + 8) {
        let x = u64::from_le_bytes(<[u8; 8]>::try_from(word).unwrap_or_default());
        let mut hits = equal(x, d) | equal(x, q);
        while hits != 0 {
            let i = at + (hits.trailing_zeros() / 8) as usize;
            if bytes.get(i) == Some(&b'"') {
                return false;
            }
            out.push(trim(line.get(start..i).unwrap_or_default()));
            start = i + 1;
            hits &= hits - 1;
        }
        at += 8;
    }
    for (i, &c) in bytes.iter().enumerate().skip(at) {
        if c == delim {
            out.push(trim(line.get(start..i).unwrap_or_default()));
            start = i + 1;
        } else if c == b'"' {
            return false;
        }
    }
    out.push(trim(line.get(start..).unwrap_or_default()));
    true
}

/// A decimal number, read as the standard parser reads it (the same strings accepted, the
/// same correctly rounded value) by `fast-float2`'s Eisel-Lemire parser, which keeps the
/// 17-significant-digit floats pandas writes on its fast path.
pub(crate) fn parse_number(s: &str) -> Option<f64> {
    fast_float2::parse::<f64, _>(s).ok()
}

/// Splits one line with quoted fields (`"1,5"`, `"a ""b"""`); fields trimmed.
pub(super) fn split_quoted(line: &str, delim: char) -> Result<Vec<String>, String> {
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

/// Calls `row(line, fields, len)` for each row that is not blank, fields trimmed, until `row`
/// answers [`ControlFlow::Break`]; lines are numbered from `first_line`, and the first is
/// skipped when `skip_header`. A line without quotes is split in place (no allocation per row).
pub(super) fn for_each_row(
    input: impl Read,
    first_line: u64,
    skip_header: bool,
    delim: u8,
    bad: &impl Fn(u64, String) -> DataError,
    read: &impl Fn(std::io::Error) -> DataError,
    mut row: impl FnMut(u64, &[&str], usize) -> Result<ControlFlow<()>, DataError>,
) -> Result<(), DataError> {
    let header = (first_line, skip_header);
    for_each_scanned_row(
        input,
        header,
        delim,
        None,
        bad,
        read,
        |line, given, len| match given {
            Given::Fields(fields) => row(line, fields, len),
            // Without a plan no line is scanned.
            Given::Scanned(..) => Ok(ControlFlow::Continue(())),
        },
    )
}

/// A row as [`for_each_scanned_row`] hands it out.
pub(super) enum Given<'a, 'l> {
    /// Its fields, trimmed.
    Fields(&'a [&'l str]),
    /// Its time text and prices, read in one scan by a [`Plan`].
    Scanned(&'l str, [f64; 5]),
}

/// [`for_each_row`], with each line first offered to `plan` (when given): a line it reads is
/// handed out as [`Given::Scanned`], any other split into [`Given::Fields`].
/// `(first_line, skip_header)` number the lines and say whether the first is a header.
pub(super) fn for_each_scanned_row(
    input: impl Read,
    (first_line, skip_header): (u64, bool),
    delim: u8,
    plan: Option<&Plan>,
    bad: &impl Fn(u64, String) -> DataError,
    read: &impl Fn(std::io::Error) -> DataError,
    mut row: impl FnMut(u64, Given<'_, '_>, usize) -> Result<ControlFlow<()>, DataError>,
) -> Result<(), DataError> {
    /// An empty vector with `v`'s allocation, for borrows of another lifetime (the standard
    /// library collects in place when the element layouts match).
    fn reuse<'b>(mut v: Vec<&str>) -> Vec<&'b str> {
        v.clear();
        v.into_iter().map(|_| "").collect()
    }
    let mut spare: Vec<&str> = Vec::new();
    let d = char::from(delim);
    let result = for_each_line(input, first_line, |line_no, line, len| {
        if skip_header && line_no == first_line {
            return Ok(ControlFlow::Continue(()));
        }
        if let Some(plan) = plan {
            let mut prices = [0.0; 5];
            if let Some(time) = plan.scan(line, &mut prices) {
                return row(line_no, Given::Scanned(time, prices), len);
            }
        }
        let owned: Vec<String>;
        let mut fields = reuse(std::mem::take(&mut spare));
        if !split_plain(line, delim, &mut fields) {
            owned = split_quoted(line, d).map_err(|m| bad(line_no, m))?;
            fields.clear();
            fields.extend(owned.iter().map(String::as_str));
        }
        let flow = if fields.iter().all(|f| f.is_empty()) {
            ControlFlow::Continue(())
        } else {
            row(line_no, Given::Fields(&fields), len)?
        };
        spare = reuse(fields);
        Ok(flow)
    });
    result.map_err(|e| match e {
        LineError::Io(e) => read(e),
        LineError::NotUtf8(line, e) => bad(
            line,
            format!("is not UTF-8 text (a CSV file, or one gzip-compressed): {e}"),
        ),
        LineError::Stop(e) => e,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig {
            cases: 2000,
            failure_persistence: None,
            rng_algorithm: proptest::test_runner::RngAlgorithm::ChaCha,
            ..proptest::prelude::ProptestConfig::default()
        })]

        /// The word-at-a-time split gives what splitting at every delimiter gives, fields
        /// trimmed, and sends every line with a quote to the quote-aware splitter.
        #[test]
        fn split_plain_is_a_split_at_every_delimiter(
            line in "[0-9a-z.,; \t\"é€\u{80}]{0,40}",
            delim in proptest::sample::select(vec![b',', b';', b'\t']),
        ) {
            let mut got = Vec::new();
            let plain = split_plain(&line, delim, &mut got);
            proptest::prop_assert_eq!(plain, !line.contains('"'));
            if plain {
                let want: Vec<&str> = line.split(char::from(delim)).map(str::trim).collect();
                proptest::prop_assert_eq!(got, want);
            }
        }
    }
}
