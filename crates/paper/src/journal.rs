//! `journal.jsonl`: append-only, one JSON object a line, each with a sequence number (`seq`,
//! from 1) and a CRC-32 of the rest of its line (`crc`, 8 hex digits, the line's last field).
//! A bar's lines go out in one write followed by one fsync. On opening, a torn last line (no
//! newline, or a checksum that fails) is cut off the file with a warning; any other damage
//! refuses the journal. Complete records are never rewritten.

use std::fs::{File, OpenOptions};
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::PaperError;

/// One record: a JSON object with a `kind`.
pub type Record = Map<String, Value>;

/// A journal opened: the file at its end, its complete records, and the warning when a torn
/// last line was cut off.
#[derive(Debug)]
pub struct Opened {
    /// The journal.
    pub journal: Journal,
    /// Its complete records.
    pub records: Vec<Record>,
    /// Set when a torn last line was cut off.
    pub warning: Option<String>,
}

/// `,"crc":"xxxxxxxx"}`: how every line ends.
const SUFFIX_LEN: usize = 18;

/// An open journal, positioned at its end.
#[derive(Debug)]
pub struct Journal {
    file: File,
    path: PathBuf,
    next_seq: u64,
}

/// One line: its text with the `crc` field.
fn encode(seq: u64, record: &Map<String, Value>) -> String {
    let mut m = Map::with_capacity(record.len() + 1);
    m.insert("seq".to_owned(), Value::from(seq));
    for (k, v) in record {
        if k != "seq" && k != "crc" {
            m.insert(k.clone(), v.clone());
        }
    }
    let body = Value::Object(m).to_string();
    let crc = crc32fast::hash(body.as_bytes());
    format!("{},\"crc\":\"{crc:08x}\"}}\n", &body[..body.len() - 1])
}

/// A line's record, when its checksum holds.
fn decode(line: &str) -> Option<Map<String, Value>> {
    if line.len() < SUFFIX_LEN + 2 || !line.is_char_boundary(line.len() - SUFFIX_LEN) {
        return None;
    }
    let (head, tail) = line.split_at(line.len() - SUFFIX_LEN);
    let hex = tail.strip_prefix(",\"crc\":\"")?.strip_suffix("\"}")?;
    let want = u32::from_str_radix(hex, 16).ok()?;
    let body = format!("{head}}}");
    if crc32fast::hash(body.as_bytes()) != want {
        return None;
    }
    match serde_json::from_str(&body).ok()? {
        Value::Object(m) => Some(m),
        _ => None,
    }
}

impl Journal {
    /// Opens `path` (creating it), reads every record, and cuts a torn last line off (the
    /// warning says so).
    ///
    /// # Errors
    /// [`PaperError::Journal`] naming the line when a complete line is damaged or out of
    /// sequence; [`PaperError::Io`] when the file cannot be read or written.
    pub fn open(path: &Path) -> Result<Opened, PaperError> {
        let io = |e| PaperError::io(path, e);
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(path)
            .map_err(io)?;
        let mut text = String::new();
        file.read_to_string(&mut text).map_err(io)?;
        let (records, torn_at) = read_records(path, &text)?;
        let mut warning = None;
        if let Some(at) = torn_at {
            file.set_len(at as u64).map_err(io)?;
            file.sync_data().map_err(io)?;
            warning = Some(format!(
                "{}: the last line was torn ({} bytes, no complete record): cut off",
                path.display(),
                text.len() - at
            ));
        }
        let next_seq = records.len() as u64 + 1;
        Ok(Opened {
            journal: Journal {
                file,
                path: path.to_owned(),
                next_seq,
            },
            records,
            warning,
        })
    }

    /// Appends records in one write; with `sync`, then one fsync.
    ///
    /// # Errors
    /// [`PaperError::Io`].
    pub fn append(&mut self, records: &[Map<String, Value>], sync: bool) -> Result<(), PaperError> {
        if records.is_empty() {
            return Ok(());
        }
        let mut buf = String::new();
        for r in records {
            buf.push_str(&encode(self.next_seq, r));
            self.next_seq += 1;
        }
        let io = |e| PaperError::io(&self.path, e);
        self.file.write_all(buf.as_bytes()).map_err(io)?;
        if sync {
            self.file.sync_data().map_err(io)?;
        }
        Ok(())
    }
}

/// Every complete record of a journal's text, without changing the file; and where a torn
/// last line starts.
///
/// # Errors
/// [`PaperError::Journal`] naming the line.
pub fn read_records(path: &Path, text: &str) -> Result<(Vec<Record>, Option<usize>), PaperError> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut line_no = 0;
    while start < text.len() {
        line_no += 1;
        let (line, next, complete) = match text[start..].find('\n') {
            Some(n) => (&text[start..start + n], start + n + 1, true),
            None => (&text[start..], text.len(), false),
        };
        let record = if complete { decode(line) } else { None };
        let Some(r) = record else {
            if next >= text.len() {
                return Ok((out, Some(start)));
            }
            return Err(PaperError::Journal {
                path: path.to_owned(),
                line: line_no,
                what: "a damaged record before the end (its checksum fails): restore the file, or start a new run with --new".to_owned(),
            });
        };
        if r.get("seq").and_then(Value::as_u64) != Some(line_no as u64) {
            return Err(PaperError::Journal {
                path: path.to_owned(),
                line: line_no,
                what: format!(
                    "sequence number {} where {line_no} was due",
                    r.get("seq").unwrap_or(&Value::Null)
                ),
            });
        }
        out.push(r);
        start = next;
    }
    Ok((out, None))
}

/// Reads a journal without changing it (a torn last line is skipped).
///
/// # Errors
/// [`PaperError`] when it cannot be read or is damaged before its end.
pub fn read(path: &Path) -> Result<Vec<Map<String, Value>>, PaperError> {
    let text = std::fs::read_to_string(path).map_err(|e| PaperError::io(path, e))?;
    Ok(read_records(path, &text)?.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rec(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    #[test]
    fn records_round_trip_and_a_torn_tail_is_cut_once() -> Result<(), PaperError> {
        let dir = tempfile::tempdir().map_err(|e| PaperError::io(Path::new("tmp"), e))?;
        let path = dir.path().join("journal.jsonl");
        let Opened {
            journal: mut j,
            records: got,
            warning: warn,
        } = Journal::open(&path)?;
        assert!(got.is_empty() && warn.is_none());
        j.append(
            &[
                rec(json!({"kind": "bar", "close": "1.5"})),
                rec(json!({"kind": "equity", "equity": 10.0})),
            ],
            true,
        )?;
        drop(j);
        let whole = std::fs::read_to_string(&path).map_err(|e| PaperError::io(&path, e))?;
        assert_eq!(whole.lines().count(), 2);
        // Torn: half of a third line.
        let third = encode(3, &rec(json!({"kind": "bar", "close": "2"})));
        let mut f = OpenOptions::new()
            .append(true)
            .open(&path)
            .map_err(|e| PaperError::io(&path, e))?;
        f.write_all(&third.as_bytes()[..third.len() / 2])
            .map_err(|e| PaperError::io(&path, e))?;
        drop(f);
        let Opened {
            journal: mut j,
            records: got,
            warning: warn,
        } = Journal::open(&path)?;
        assert_eq!(got.len(), 2);
        assert_eq!(got[0]["close"], "1.5");
        assert!(warn.is_some_and(|w| w.contains("torn")));
        assert_eq!(
            std::fs::read_to_string(&path).map_err(|e| PaperError::io(&path, e))?,
            whole
        );
        j.append(&[rec(json!({"kind": "shutdown"}))], true)?;
        assert_eq!(read(&path)?.len(), 3);
        Ok(())
    }

    #[test]
    fn a_damaged_line_before_the_end_refuses_the_journal() -> Result<(), PaperError> {
        let dir = tempfile::tempdir().map_err(|e| PaperError::io(Path::new("tmp"), e))?;
        let path = dir.path().join("journal.jsonl");
        let a = encode(1, &rec(json!({"kind": "bar", "close": "1.5"})));
        let b = encode(2, &rec(json!({"kind": "bar", "close": "1.6"})));
        let text = format!("{}{b}", a.replace("1.5", "9.5"));
        std::fs::write(&path, &text).map_err(|e| PaperError::io(&path, e))?;
        let e = Journal::open(&path)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("line 1") && e.contains("checksum"), "{e}");
        // Nothing was cut.
        assert_eq!(
            std::fs::read_to_string(&path).map_err(|e| PaperError::io(&path, e))?,
            text
        );
        let skipped = format!("{a}{}", encode(3, &rec(json!({"kind": "x"}))));
        std::fs::write(&path, skipped).map_err(|e| PaperError::io(&path, e))?;
        let e = Journal::open(&path)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("line 2") && e.contains("sequence"), "{e}");
        Ok(())
    }
}
