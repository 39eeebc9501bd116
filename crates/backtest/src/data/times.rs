//! Bar times as written, kept in one text buffer: while every time has the same width (the
//! usual case) a time is found by its index alone, else by an end offset per bar. A million
//! times take their text, not a `String` (24 bytes plus an allocation) apiece.

use std::fmt;
use std::ops::Index;

/// The times of the bars, in order, each as the loader wrote it (ISO 8601).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Times {
    text: String,
    cuts: Cuts,
}

/// Where each time ends in the text. The form follows from the times (equal widths, or not),
/// so equal times compare equal.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Cuts {
    /// `count` times of `width` bytes each.
    Fixed { width: usize, count: usize },
    /// The end of each time.
    Ends(Vec<usize>),
}

impl Default for Cuts {
    fn default() -> Self {
        Cuts::Fixed { width: 0, count: 0 }
    }
}

impl Times {
    /// No times, with room for `rows` of about `width` bytes each.
    pub fn with_capacity(rows: usize, width: usize) -> Self {
        Times {
            text: String::with_capacity(rows.saturating_mul(width)),
            cuts: Cuts::default(),
        }
    }

    /// Appends a time.
    pub fn push(&mut self, t: &str) {
        self.text.push_str(t);
        self.cut(t.len());
    }

    /// Records that a time of `width` bytes was just written to the text.
    fn cut(&mut self, width: usize) {
        match &mut self.cuts {
            Cuts::Fixed { count: 0, .. } => {
                self.cuts = Cuts::Fixed { width, count: 1 };
            }
            Cuts::Fixed { width: w, count } if *w == width => *count += 1,
            Cuts::Fixed { .. } | Cuts::Ends(_) => self.push_ends([self.text.len()]),
        }
    }

    /// Appends end offsets, switching to them from fixed widths.
    fn push_ends(&mut self, more: impl IntoIterator<Item = usize>) {
        let mut ends = match std::mem::take(&mut self.cuts) {
            Cuts::Fixed { width, count } => (1..=count).map(|i| i * width).collect(),
            Cuts::Ends(e) => e,
        };
        ends.extend(more);
        self.cuts = Cuts::Ends(ends);
    }

    /// Appends every time of `other`, in order.
    pub fn append(&mut self, other: &Times) {
        match (&self.cuts, &other.cuts) {
            (_, Cuts::Fixed { count: 0, .. }) => {}
            (Cuts::Fixed { count: 0, .. }, _) => {
                self.text.push_str(&other.text);
                self.cuts = other.cuts.clone();
            }
            (
                Cuts::Fixed { width: a, .. },
                Cuts::Fixed {
                    width: b,
                    count: more,
                },
            ) if a == b => {
                let more = *more;
                self.text.push_str(&other.text);
                if let Cuts::Fixed { count, .. } = &mut self.cuts {
                    *count += more;
                }
            }
            _ => {
                let base = self.text.len();
                self.text.push_str(&other.text);
                let theirs: Vec<usize> = match &other.cuts {
                    Cuts::Fixed { width, count } => {
                        (1..=*count).map(|i| base + i * width).collect()
                    }
                    Cuts::Ends(e) => e.iter().map(|x| base + x).collect(),
                };
                self.push_ends(theirs);
            }
        }
    }

    /// Appends `t` in ISO 8601 as [`write_iso`] writes it.
    pub(crate) fn push_iso(&mut self, t: chrono::NaiveDateTime, date_only: bool) {
        let start = self.text.len();
        write_iso(&mut self.text, t, date_only);
        let width = self.text.len() - start;
        self.cut(width);
    }

    /// Times of `width` bytes each, back to back in `text`.
    pub(crate) fn of_width(text: Vec<u8>, width: usize) -> Self {
        let text = String::from_utf8(text)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
        let count = text.len().checked_div(width).unwrap_or(0);
        if count == 0 {
            return Times::default();
        }
        Times {
            text,
            cuts: Cuts::Fixed { width, count },
        }
    }

    /// Number of times.
    pub fn len(&self) -> usize {
        match &self.cuts {
            Cuts::Fixed { count, .. } => *count,
            Cuts::Ends(e) => e.len(),
        }
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The `i`-th time.
    pub fn get(&self, i: usize) -> Option<&str> {
        let (start, end) = match &self.cuts {
            Cuts::Fixed { width, count } => {
                if i >= *count {
                    return None;
                }
                (i * width, (i + 1) * width)
            }
            Cuts::Ends(e) => {
                let end = *e.get(i)?;
                let start = if i == 0 { 0 } else { *e.get(i - 1)? };
                (start, end)
            }
        };
        self.text.get(start..end)
    }

    /// The first time.
    pub fn first(&self) -> Option<&str> {
        self.get(0)
    }

    /// The last time.
    pub fn last(&self) -> Option<&str> {
        self.len().checked_sub(1).and_then(|i| self.get(i))
    }

    /// Every time, in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &str> + '_ {
        (0..self.len()).map(|i| self.get(i).unwrap_or_default())
    }
}

/// Writes `t` in ISO 8601, `YYYY-MM-DD` or `YYYY-MM-DD HH:MM:SS` (with `.mmm` when there are
/// milliseconds), digit by digit: no format string is interpreted per bar.
pub(crate) fn write_iso(b: &mut String, t: chrono::NaiveDateTime, date_only: bool) {
    use chrono::{Datelike as _, Timelike as _};
    let two = |b: &mut String, v: u32| {
        b.push(char::from(b'0' + u8::try_from(v / 10 % 10).unwrap_or(0)));
        b.push(char::from(b'0' + u8::try_from(v % 10).unwrap_or(0)));
    };
    let y = t.year();
    if (0..=9999).contains(&y) {
        let y = y.unsigned_abs();
        two(b, y / 100);
        two(b, y % 100);
    } else {
        b.push_str(&y.to_string());
    }
    b.push('-');
    two(b, t.month());
    b.push('-');
    two(b, t.day());
    if !date_only {
        b.push(' ');
        two(b, t.hour());
        b.push(':');
        two(b, t.minute());
        b.push(':');
        two(b, t.second());
        let ms = t.nanosecond() / 1_000_000;
        if ms > 0 {
            b.push('.');
            b.push(char::from(b'0' + u8::try_from(ms / 100 % 10).unwrap_or(0)));
            two(b, ms % 100);
        }
    }
}

impl Index<usize> for Times {
    type Output = str;

    /// # Panics
    /// When `i` is out of range, as a slice does.
    fn index(&self, i: usize) -> &str {
        match &self.cuts {
            Cuts::Fixed { width, .. } => &self.text[i * width..(i + 1) * width],
            Cuts::Ends(e) => {
                let start = if i == 0 { 0 } else { e[i - 1] };
                &self.text[start..e[i]]
            }
        }
    }
}

impl fmt::Debug for Times {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl<'a> FromIterator<&'a str> for Times {
    fn from_iter<I: IntoIterator<Item = &'a str>>(iter: I) -> Self {
        let mut t = Times::default();
        for s in iter {
            t.push(s);
        }
        t
    }
}

impl FromIterator<String> for Times {
    fn from_iter<I: IntoIterator<Item = String>>(iter: I) -> Self {
        let mut t = Times::default();
        for s in iter {
            t.push(&s);
        }
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_of_one_width_and_of_many_read_back_and_append_alike() {
        let daily = ["2024-01-02", "2024-01-03", "2024-01-04"];
        let mixed = ["2024-01-05", "2024-01-05 10:00:00", "2024-01-06"];
        let fixed: Times = daily.iter().copied().collect();
        assert!(matches!(
            fixed.cuts,
            Cuts::Fixed {
                width: 10,
                count: 3
            }
        ));
        let varied: Times = mixed.iter().copied().collect();
        assert!(matches!(varied.cuts, Cuts::Ends(_)));
        let all: Vec<&str> = daily.iter().chain(&mixed).copied().collect();
        for (a, b) in [(&fixed, &varied), (&varied, &fixed), (&fixed, &fixed)] {
            let mut joined = a.clone();
            joined.append(b);
            let want: Times = a.iter().chain(b.iter()).collect();
            assert_eq!(joined, want);
            assert_eq!(joined.len(), a.len() + b.len());
        }
        let mut joined = fixed.clone();
        joined.append(&varied);
        assert_eq!(joined.iter().collect::<Vec<_>>(), all);
        assert_eq!(joined.get(6), None);
        let mut empty = Times::default();
        empty.append(&varied);
        assert_eq!(empty, varied);
        empty.append(&Times::default());
        assert_eq!(empty, varied);
    }

    #[test]
    fn iso_is_written_as_chrono_writes_it() {
        let mut t = Times::default();
        let cases = [
            ("2024-01-02 09:30:05", false),
            ("0999-12-31 23:59:59", false),
            ("2024-02-29 00:00:00", true),
        ];
        for (s, date_only) in cases {
            let wall =
                chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap_or_default();
            t.push_iso(wall, date_only);
            let want = if date_only {
                wall.date().to_string()
            } else {
                wall.format("%Y-%m-%d %H:%M:%S").to_string()
            };
            assert_eq!(t.last(), Some(want.as_str()));
        }
        let with_ms = chrono::DateTime::from_timestamp_millis(1_700_000_000_123)
            .map(|d| d.naive_utc())
            .unwrap_or_default();
        t.push_iso(with_ms, false);
        assert_eq!(
            t.last(),
            Some(with_ms.format("%Y-%m-%d %H:%M:%S%.3f").to_string().as_str())
        );
    }

    #[test]
    fn times_come_back_as_pushed() {
        let t: Times = ["2024-01-01", "2024-01-02 09:30:00", ""]
            .into_iter()
            .collect();
        assert_eq!(t.len(), 3);
        assert_eq!(&t[0], "2024-01-01");
        assert_eq!(t.get(1), Some("2024-01-02 09:30:00"));
        assert_eq!(t.last(), Some(""));
        assert_eq!(t.get(3), None);
        assert_eq!(
            t.iter().collect::<Vec<_>>(),
            ["2024-01-01", "2024-01-02 09:30:00", ""]
        );
    }
}
