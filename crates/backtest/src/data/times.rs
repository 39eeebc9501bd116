//! Bar times as written. Most files hold times that are exactly the ISO 8601 rendering of
//! their own milliseconds (`2024-01-02 09:30:00`, or dates alone, and every layout the loader
//! rewrites): those keep no text at all and are written out when asked for, from the bars'
//! shared milliseconds. Other times (offsets, `T`, fractions kept as written) sit in one text
//! buffer: while every time has the same width a time is found by its index alone, else by an
//! end offset per bar. A million times never take a `String` (24 bytes plus an allocation)
//! apiece.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use chrono::NaiveDateTime;

/// The times of the bars, in order, each as the loader wrote it (ISO 8601).
#[derive(Clone, Default)]
pub struct Times {
    /// The times kept as text (none while they are rendered).
    text: Text,
    /// When the times are rendered: the milliseconds, each time [`write_iso`] of one read as
    /// UTC (the date alone when the flag is set).
    rendered: Option<(Arc<Vec<i64>>, bool)>,
}

/// Times as text in one buffer.
#[derive(Clone, Default)]
struct Text {
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

/// The wall-clock time of `ms` milliseconds since the epoch, read as UTC.
fn wall_of(ms: i64) -> Option<NaiveDateTime> {
    chrono::DateTime::from_timestamp_millis(ms).map(|t| t.naive_utc())
}

/// `ms` written as [`write_iso`] writes it (empty past chrono's range).
pub(crate) fn render(ms: i64, date_only: bool) -> String {
    let mut b = String::with_capacity(23);
    if let Some(t) = wall_of(ms) {
        write_iso(&mut b, t, date_only);
    }
    b
}

impl Text {
    /// Appends a time.
    fn push(&mut self, t: &str) {
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
    fn append(&mut self, other: &Text) {
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

    fn len(&self) -> usize {
        match &self.cuts {
            Cuts::Fixed { count, .. } => *count,
            Cuts::Ends(e) => e.len(),
        }
    }

    fn get(&self, i: usize) -> Option<&str> {
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
}

impl Times {
    /// No times, with room for `rows` of about `width` bytes each.
    pub fn with_capacity(rows: usize, width: usize) -> Self {
        Times {
            text: Text {
                text: String::with_capacity(rows.saturating_mul(width)),
                cuts: Cuts::default(),
            },
            rendered: None,
        }
    }

    /// Times that are each `ms` written in ISO 8601 (as [`write_iso`] writes a time read as
    /// UTC; the date alone when `date_only`): no text is kept.
    pub(crate) fn rendered(ms: Arc<Vec<i64>>, date_only: bool) -> Self {
        Times {
            text: Text::default(),
            rendered: Some((ms, date_only)),
        }
    }

    /// The times as text, written out first when they are rendered.
    fn text_mut(&mut self) -> &mut Text {
        if let Some((ms, date_only)) = self.rendered.take() {
            for &m in ms.iter() {
                self.text.push(&render(m, date_only));
            }
        }
        &mut self.text
    }

    /// Appends a time.
    pub fn push(&mut self, t: &str) {
        self.text_mut().push(t);
    }

    /// Appends every time of `other`, in order.
    pub fn append(&mut self, other: &Times) {
        if other.rendered.is_some() {
            let mine = self.text_mut();
            for t in other.iter() {
                mine.push(&t);
            }
        } else {
            self.text_mut().append(&other.text);
        }
    }

    /// Number of times.
    pub fn len(&self) -> usize {
        match &self.rendered {
            Some((ms, _)) => ms.len(),
            None => self.text.len(),
        }
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The `i`-th time (borrowed when kept as text, written out when rendered).
    pub fn get(&self, i: usize) -> Option<Cow<'_, str>> {
        match &self.rendered {
            Some((ms, date_only)) => ms.get(i).map(|&m| Cow::Owned(render(m, *date_only))),
            None => self.text.get(i).map(Cow::Borrowed),
        }
    }

    /// The `i`-th time, empty past the end.
    pub fn at(&self, i: usize) -> Cow<'_, str> {
        self.get(i).unwrap_or_default()
    }

    /// The `i`-th time's wall clock (an offset kept as written, not applied).
    pub fn wall(&self, i: usize) -> Option<NaiveDateTime> {
        match &self.rendered {
            Some((ms, _)) => wall_of(*ms.get(i)?),
            None => super::layout::TimeFormat::Iso
                .parse(self.text.get(i)?)
                .map(|(_, w)| w),
        }
    }

    /// The first time.
    pub fn first(&self) -> Option<Cow<'_, str>> {
        self.get(0)
    }

    /// The last time.
    pub fn last(&self) -> Option<Cow<'_, str>> {
        self.len().checked_sub(1).and_then(|i| self.get(i))
    }

    /// Every time, in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = Cow<'_, str>> + '_ {
        (0..self.len()).map(|i| self.at(i))
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

impl PartialEq for Times {
    /// Times are equal when they read the same, however they are kept.
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl Eq for Times {}

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

impl<'a> FromIterator<Cow<'a, str>> for Times {
    fn from_iter<I: IntoIterator<Item = Cow<'a, str>>>(iter: I) -> Self {
        let mut t = Times::default();
        for s in iter {
            t.push(&s);
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
            fixed.text.cuts,
            Cuts::Fixed {
                width: 10,
                count: 3
            }
        ));
        let varied: Times = mixed.iter().copied().collect();
        assert!(matches!(varied.text.cuts, Cuts::Ends(_)));
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
    fn rendered_times_read_as_chrono_writes_them_and_equal_the_same_text() {
        let walls = [
            "2024-01-02 09:30:05",
            "0999-12-31 23:59:59",
            "2024-02-29 00:00:00",
        ];
        let ms: Vec<i64> = walls
            .iter()
            .map(|s| {
                chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S")
                    .unwrap()
                    .and_utc()
                    .timestamp_millis()
            })
            .chain([1_700_000_000_123])
            .collect();
        let full = Times::rendered(Arc::new(ms.clone()), false);
        let dates = Times::rendered(Arc::new(ms.clone()), true);
        assert_eq!(full.len(), 4);
        for (i, &m) in ms.iter().enumerate() {
            let wall = wall_of(m).unwrap();
            let want = if i == 3 {
                wall.format("%Y-%m-%d %H:%M:%S%.3f").to_string()
            } else {
                wall.format("%Y-%m-%d %H:%M:%S").to_string()
            };
            assert_eq!(full.at(i), want);
            assert_eq!(dates.at(i), wall.date().to_string());
            assert_eq!(full.wall(i), Some(wall));
        }
        assert_eq!(full.get(4), None);
        assert_eq!(full.at(4), "");
        assert_eq!(full.last().as_deref(), Some("2023-11-14 22:13:20.123"));
        // Equal to the same times kept as text, and appended alike either way round.
        let text: Times = full.iter().collect();
        assert_eq!(text, full);
        assert_ne!(dates, full);
        let mut a = text.clone();
        a.append(&dates);
        let mut b = full.clone();
        b.append(&dates);
        assert_eq!(a, b);
        assert_eq!(a.len(), 8);
        assert_eq!(a.at(4), dates.at(0));
        assert_eq!(b.at(5), dates.at(1));
        let mut pushed = full.clone();
        pushed.push("2030-01-01T00:00:00+02:00");
        assert_eq!(pushed.len(), 5);
        assert_eq!(pushed.at(0), "2024-01-02 09:30:05");
        assert_eq!(pushed.at(4), "2030-01-01T00:00:00+02:00");
        assert_eq!(
            pushed.wall(4).map(|w| w.to_string()).as_deref(),
            Some("2030-01-01 00:00:00")
        );
    }

    #[test]
    fn times_come_back_as_pushed() {
        let t: Times = ["2024-01-01", "2024-01-02 09:30:00", ""]
            .into_iter()
            .collect();
        assert_eq!(t.len(), 3);
        assert_eq!(t.at(0), "2024-01-01");
        assert_eq!(t.get(1).as_deref(), Some("2024-01-02 09:30:00"));
        assert_eq!(t.last().as_deref(), Some(""));
        assert_eq!(t.get(3), None);
        assert_eq!(
            t.iter().collect::<Vec<_>>(),
            ["2024-01-01", "2024-01-02 09:30:00", ""]
        );
    }
}
