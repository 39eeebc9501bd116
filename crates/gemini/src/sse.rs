//! Splits a `streamGenerateContent?alt=sse` body into events.
//!
//! Events are `data: <json>` blocks separated by a blank line (CRLF in the real service, LF in
//! some recordings). An error in the middle of a stream arrives as a bare, pretty-printed
//! `{"error": …}` object with no `data:` prefix; it is recognised by its leading brace.

use crate::error::{ApiError, GeminiError};
use crate::types::GenerateContentResponse;

/// One parsed item of a stream.
#[derive(Debug)]
pub enum Event {
    /// A response chunk.
    Chunk(Box<GenerateContentResponse>),
    /// An error object sent mid-stream.
    Error(ApiError),
}

/// Incremental parser: feed bytes, take events.
#[derive(Debug, Default)]
pub struct SseParser {
    buf: Vec<u8>,
}

fn blank_line_end(buf: &[u8]) -> Option<(usize, usize)> {
    // The end of the event and the length of the separator.
    let lf = buf.windows(2).position(|w| w == b"\n\n").map(|i| (i, 2));
    let crlf = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| (i, 4));
    match (lf, crlf) {
        (Some(a), Some(b)) => Some(if a.0 < b.0 { a } else { b }),
        (a, b) => a.or(b),
    }
}

fn parse_data(block: &[u8]) -> Result<Event, GeminiError> {
    let text = std::str::from_utf8(block).map_err(|e| GeminiError::Decode(e.to_string()))?;
    let mut json = String::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("data:") {
            json.push_str(rest.trim_start());
        }
    }
    if json.trim_start().starts_with("{\"error\"") {
        return Ok(Event::Error(ApiError::parse(500, json.as_bytes())));
    }
    serde_json::from_str(&json)
        .map(|c| Event::Chunk(Box::new(c)))
        .map_err(|e| GeminiError::Decode(format!("stream event: {e}")))
}

impl SseParser {
    /// Adds bytes read from the body.
    pub fn feed(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete event, if the buffer holds one. With `eof`, a final event without a
    /// trailing blank line is taken too.
    ///
    /// # Errors
    /// An event that is not valid JSON, or a truncated error object at the end.
    pub fn next_event(&mut self, eof: bool) -> Result<Option<Event>, GeminiError> {
        loop {
            let start = self
                .buf
                .iter()
                .position(|b| !b.is_ascii_whitespace())
                .unwrap_or(self.buf.len());
            self.buf.drain(..start);
            if self.buf.is_empty() {
                return Ok(None);
            }
            if self.buf[0] == b'{' || self.buf[0] == b'[' {
                // A bare error object: wait until it is a complete JSON value.
                let mut it = serde_json::Deserializer::from_slice(&self.buf)
                    .into_iter::<serde_json::Value>();
                return match it.next() {
                    Some(Ok(_)) => {
                        let end = it.byte_offset();
                        let body: Vec<u8> = self.buf.drain(..end).collect();
                        Ok(Some(Event::Error(ApiError::parse(500, &body))))
                    }
                    Some(Err(e)) if e.is_eof() && !eof => Ok(None),
                    Some(Err(e)) => Err(GeminiError::Decode(format!("stream error object: {e}"))),
                    None => Ok(None),
                };
            }
            if self.buf.starts_with(b":") {
                // An SSE comment line.
                let end = self
                    .buf
                    .iter()
                    .position(|b| *b == b'\n')
                    .map_or(self.buf.len(), |i| i + 1);
                self.buf.drain(..end);
                continue;
            }
            return match blank_line_end(&self.buf) {
                Some((end, sep)) => {
                    let block: Vec<u8> = self.buf.drain(..end + sep).take(end).collect();
                    parse_data(&block).map(Some)
                }
                None if eof => {
                    let block: Vec<u8> = std::mem::take(&mut self.buf);
                    parse_data(&block).map(Some)
                }
                None => Ok(None),
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(input: &[u8], step: usize) -> Vec<Event> {
        let mut p = SseParser::default();
        let mut out = Vec::new();
        for chunk in input.chunks(step) {
            p.feed(chunk);
            while let Some(e) = p.next_event(false).unwrap() {
                out.push(e);
            }
        }
        while let Some(e) = p.next_event(true).unwrap() {
            out.push(e);
        }
        out
    }

    #[test]
    fn crlf_and_lf_framing_byte_by_byte() {
        let crlf = b"data: {\"responseId\": \"a\"}\r\n\r\ndata: {\"responseId\": \"b\"}\r\n\r\n";
        let lf = b"data: {\"responseId\": \"a\"}\n\ndata: {\"responseId\": \"b\"}";
        for input in [&crlf[..], &lf[..]] {
            for step in [1, 3, 1000] {
                let ev = all(input, step);
                assert_eq!(ev.len(), 2);
                let ids: Vec<_> = ev
                    .iter()
                    .map(|e| match e {
                        Event::Chunk(c) => c.response_id.clone().unwrap(),
                        Event::Error(_) => panic!("no error expected"),
                    })
                    .collect();
                assert_eq!(ids, ["a", "b"]);
            }
        }
    }

    #[test]
    fn a_bare_error_object_mid_stream() {
        let input = b"data: {\"responseId\": \"a\"}\r\n\r\n{\n  \"error\": {\n    \"code\": 499,\n    \"message\": \"The operation was cancelled.\",\n    \"status\": \"CANCELLED\"\n  }\n}\n";
        let ev = all(input, 7);
        assert_eq!(ev.len(), 2);
        match &ev[1] {
            Event::Error(e) => assert_eq!((e.http, e.status.as_str()), (499, "CANCELLED")),
            Event::Chunk(_) => panic!("expected the error"),
        }
    }

    #[test]
    fn garbage_is_a_decode_error() {
        let mut p = SseParser::default();
        p.feed(b"data: {not json\r\n\r\n");
        assert!(matches!(p.next_event(false), Err(GeminiError::Decode(_))));
    }
}
