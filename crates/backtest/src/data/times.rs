//! Bar times as written, kept in one text buffer with an end offset per bar: a million times
//! take their text and 8 bytes each, not a `String` (24 bytes plus an allocation) apiece.

use std::fmt;
use std::ops::Index;

/// The times of the bars, in order, each as the loader wrote it (ISO 8601).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Times {
    text: String,
    ends: Vec<usize>,
}

impl Times {
    /// No times, with room for `rows` of about `width` bytes each.
    pub fn with_capacity(rows: usize, width: usize) -> Self {
        Times {
            text: String::with_capacity(rows.saturating_mul(width)),
            ends: Vec::with_capacity(rows),
        }
    }

    /// Appends a time.
    pub fn push(&mut self, t: &str) {
        self.text.push_str(t);
        self.ends.push(self.text.len());
    }

    /// Appends `t` in ISO 8601, `YYYY-MM-DD` or `YYYY-MM-DD HH:MM:SS` (with `.mmm` when there
    /// are milliseconds), written digit by digit: no format string is interpreted per bar.
    pub(crate) fn push_iso(&mut self, t: chrono::NaiveDateTime, date_only: bool) {
        use chrono::{Datelike as _, Timelike as _};
        let two = |b: &mut String, v: u32| {
            b.push(char::from(b'0' + u8::try_from(v / 10 % 10).unwrap_or(0)));
            b.push(char::from(b'0' + u8::try_from(v % 10).unwrap_or(0)));
        };
        let y = t.year();
        let b = &mut self.text;
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
        self.ends.push(self.text.len());
    }

    /// Number of times.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// The `i`-th time.
    pub fn get(&self, i: usize) -> Option<&str> {
        let end = *self.ends.get(i)?;
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
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

impl Index<usize> for Times {
    type Output = str;

    /// # Panics
    /// When `i` is out of range, as a slice does.
    fn index(&self, i: usize) -> &str {
        let end = self.ends[i];
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.text[start..end]
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
