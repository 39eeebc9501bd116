//! A data file as lines: text in memory, a plain file or a gzip file, read in blocks of 256
//! KB (never whole into memory), checked as UTF-8 a block at a time and cut into lines
//! in place; and, for text and plain files, cut into byte ranges that each start at a line, so
//! that several threads can read one file.

use std::fs::File;
use std::io::{self, BufRead as _, BufReader, Read, Seek as _, SeekFrom};
use std::ops::ControlFlow;
use std::path::Path;

/// Bytes read at a time.
const BLOCK: usize = 1 << 18;

/// Where the bytes come from.
#[derive(Debug, Clone, Copy)]
pub(super) enum Source<'a> {
    /// Text in memory.
    Text(&'a [u8]),
    /// A plain file.
    File(&'a Path),
    /// A gzip-compressed file (read only as a whole stream).
    Gzip(&'a Path),
}

impl Source<'_> {
    /// The whole input from its start.
    pub(super) fn open(&self) -> io::Result<Box<dyn Read + '_>> {
        Ok(match *self {
            Source::Text(t) => Box::new(t),
            Source::File(p) => Box::new(File::open(p)?),
            Source::Gzip(p) => Box::new(flate2::read::MultiGzDecoder::new(BufReader::new(
                File::open(p)?,
            ))),
        })
    }

    /// The length in bytes, when the input can be read by ranges (text and plain files).
    pub(super) fn len(&self) -> io::Result<Option<u64>> {
        Ok(match *self {
            Source::Text(t) => Some(t.len() as u64),
            Source::File(p) => Some(std::fs::metadata(p)?.len()),
            Source::Gzip(_) => None,
        })
    }

    /// Bytes `start..end` (text and plain files).
    pub(super) fn range(&self, start: u64, end: u64) -> io::Result<Box<dyn Read + '_>> {
        match *self {
            Source::Text(t) => {
                let at = |x: u64| usize::try_from(x).unwrap_or(usize::MAX).min(t.len());
                Ok(Box::new(t.get(at(start)..at(end)).unwrap_or_default()))
            }
            Source::File(p) => {
                let mut f = File::open(p)?;
                f.seek(SeekFrom::Start(start))?;
                Ok(Box::new(f.take(end.saturating_sub(start))))
            }
            Source::Gzip(_) => Err(io::Error::other("a gzip stream is read only as a whole")),
        }
    }

    /// Cuts `start..end` into at most `parts` ranges of about equal size, each but the first
    /// starting just after a line break (so every range holds whole lines).
    pub(super) fn split(&self, start: u64, end: u64, parts: usize) -> io::Result<Vec<(u64, u64)>> {
        let parts = parts.max(1) as u64;
        let mut cuts = vec![start];
        for i in 1..parts {
            let nominal = start + (end - start) * i / parts;
            let from = (*cuts.last().unwrap_or(&start)).max(nominal);
            let cut = self.next_line_start(from, end)?;
            if cut < end && cut > *cuts.last().unwrap_or(&start) {
                cuts.push(cut);
            }
        }
        cuts.push(end);
        Ok(cuts.windows(2).map(|w| (w[0], w[1])).collect())
    }

    /// The offset just after the first `\n` at or after `from` (or `end`).
    fn next_line_start(&self, from: u64, end: u64) -> io::Result<u64> {
        let mut r = BufReader::with_capacity(1 << 16, self.range(from, end)?);
        let mut skipped = Vec::new();
        let n = r.read_until(b'\n', &mut skipped)?;
        Ok(from + n as u64)
    }
}

/// How many lines `input` holds: its line breaks, plus one for a last line without one.
pub(super) fn count_lines(mut input: impl Read) -> io::Result<u64> {
    let mut buf = vec![0u8; BLOCK];
    let mut lines = 0u64;
    let mut last = b'\n';
    loop {
        let n = match input.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let block = buf.get(..n).unwrap_or_default();
        lines += bytecount::count(block, b'\n') as u64;
        last = block.last().copied().unwrap_or(last);
    }
    Ok(lines + u64::from(last != b'\n'))
}

/// Why reading lines stopped early.
#[derive(Debug)]
pub(super) enum LineError<E> {
    /// The input could not be read.
    Io(io::Error),
    /// The text is not UTF-8 from this (1-based) line on.
    NotUtf8(u64, std::str::Utf8Error),
    /// What `each` answered.
    Stop(E),
}

/// Calls `each(line_no, line, len)` for every line of `input`, numbered from `first_line`:
/// the line without its `\n` or `\r\n`, and its length in bytes with them; until `each`
/// answers [`ControlFlow::Break`].
pub(super) fn for_each_line<E>(
    mut input: impl Read,
    first_line: u64,
    mut each: impl FnMut(u64, &str, usize) -> Result<ControlFlow<()>, E>,
) -> Result<(), LineError<E>> {
    let mut buf = vec![0u8; BLOCK];
    let mut filled = 0;
    let mut line_no = first_line;
    loop {
        if filled == buf.len() {
            // A line longer than the buffer.
            buf.resize(buf.len() * 2, 0);
        }
        let n = match input.read(buf.get_mut(filled..).unwrap_or_default()) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(LineError::Io(e)),
        };
        filled += n;
        let eof = n == 0;
        let held = buf.get(..filled).unwrap_or_default();
        let cut = if eof {
            filled
        } else {
            match held.iter().rposition(|&b| b == b'\n') {
                Some(i) => i + 1,
                None => continue,
            }
        };
        let whole = held.get(..cut).unwrap_or_default();
        let text = std::str::from_utf8(whole).map_err(|e| {
            let before = whole.get(..e.valid_up_to()).unwrap_or_default();
            let breaks = bytecount::count(before, b'\n') as u64;
            LineError::NotUtf8(line_no + breaks, e)
        })?;
        // Line ends found for the whole block at once (short lines make a search per line
        // costly).
        let mut ends = memchr::memchr_iter(b'\n', whole);
        let mut from = 0;
        loop {
            let to = match ends.next() {
                Some(i) => i + 1,
                None if from < text.len() => text.len(),
                None => break,
            };
            let raw = text.get(from..to).unwrap_or_default();
            from = to;
            let line = raw.strip_suffix('\n').unwrap_or(raw);
            let line = line.strip_suffix('\r').unwrap_or(line);
            if each(line_no, line, raw.len())
                .map_err(LineError::Stop)?
                .is_break()
            {
                return Ok(());
            }
            line_no += 1;
        }
        if eof {
            return Ok(());
        }
        buf.copy_within(cut..filled, 0);
        filled -= cut;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines_of(r: impl Read) -> Vec<(u64, String, usize)> {
        let mut out = Vec::new();
        for_each_line::<()>(r, 1, |n, l, len| {
            out.push((n, l.to_owned(), len));
            Ok(ControlFlow::Continue(()))
        })
        .unwrap();
        out
    }

    /// A reader that hands out at most `step` bytes per read, so lines straddle reads.
    struct Trickle<'a>(&'a [u8], usize);

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.1.min(buf.len()).min(self.0.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    #[test]
    fn lines_come_whole_with_their_numbers_however_the_reads_fall() {
        let text = "a,b\r\n\nccc\nlast";
        let want = vec![
            (1, "a,b".to_owned(), 5),
            (2, String::new(), 1),
            (3, "ccc".to_owned(), 4),
            (4, "last".to_owned(), 4),
        ];
        assert_eq!(lines_of(text.as_bytes()), want);
        for step in 1..6 {
            assert_eq!(lines_of(Trickle(text.as_bytes(), step)), want, "{step}");
        }
        let long = format!("{}\nx\n", "y".repeat(BLOCK * 2 + 3));
        let got = lines_of(long.as_bytes());
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].1.len(), BLOCK * 2 + 3);
        assert_eq!(got[1], (2, "x".to_owned(), 2));
    }

    #[test]
    fn text_that_is_not_utf8_names_its_line() {
        let bytes = b"ok\nok\nbad \xff here\n";
        let e = for_each_line::<()>(&bytes[..], 1, |_, _, _| Ok(ControlFlow::Continue(())));
        assert!(matches!(e, Err(LineError::NotUtf8(3, _))), "{e:?}");
    }

    #[test]
    fn ranges_start_at_lines_and_cover_everything() {
        let text = "h\n111\n22\n3\n4444\n55555\n6\n";
        let src = Source::Text(text.as_bytes());
        for parts in 1..9 {
            let r = src.split(2, text.len() as u64, parts).unwrap();
            assert_eq!(r.first().unwrap().0, 2);
            assert_eq!(r.last().unwrap().1, text.len() as u64);
            for w in r.windows(2) {
                assert_eq!(w[0].1, w[1].0);
                assert_eq!(text.as_bytes()[usize::try_from(w[1].0).unwrap() - 1], b'\n');
            }
            let lines: u64 = r
                .iter()
                .map(|&(a, b)| count_lines(src.range(a, b).unwrap()).unwrap())
                .sum();
            assert_eq!(lines, 6, "{parts} parts: {r:?}");
        }
        assert_eq!(count_lines("a\nb".as_bytes()).unwrap(), 2);
        assert_eq!(count_lines("".as_bytes()).unwrap(), 0);
    }
}
