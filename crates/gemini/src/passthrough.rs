//! An answer of Gemini's OpenAI-compatible endpoint passed through to the client byte for byte,
//! watched on its way: its outcome is reported to the pool when it ends, not when its headers
//! arrive, so an error inside a stream or a stream cut off before its `finish_reason` counts
//! against the key (issue 15), and the real `usage.prompt_tokens` settle the reservation
//! (issue 14).

use std::sync::Arc;

use bytes::Bytes;
use keypool::{KeyPool, Lease, MemoryStore, Outcome, StateStore};
use serde_json::Value;

use crate::error::GeminiError;

/// The largest non-streaming answer kept to read its `usage` (larger ones settle at the
/// estimate).
const KEEP_LIMIT: usize = 4 << 20;

/// What the bytes said so far.
#[derive(Debug, Default)]
struct Watch {
    /// An unfinished line of a stream.
    line: Vec<u8>,
    /// A non-streaming body, kept to read at its end.
    whole: Vec<u8>,
    finished: bool,
    /// An error object inside the stream, classified as Google's envelope is (a 503 inside a
    /// stream is the model's state, a 429 the quota's, a 400 the request's; not every error is
    /// the key's).
    error: Option<crate::error::ApiError>,
    prompt_tokens: Option<u64>,
}

impl Watch {
    /// One event (an object, or Google's array-wrapped error envelope).
    fn event(&mut self, v: &Value) {
        let items = v.as_array().map_or(std::slice::from_ref(v), Vec::as_slice);
        for item in items {
            if item
                .get("choices")
                .and_then(Value::as_array)
                .is_some_and(|cs| cs.iter().any(|c| !c["finish_reason"].is_null()))
            {
                self.finished = true;
            }
            if let Some(n) = item["usage"]["prompt_tokens"].as_u64() {
                self.prompt_tokens = Some(n);
            }
            if let Some(e) = item.get("error") {
                let code = e
                    .get("code")
                    .and_then(Value::as_u64)
                    .and_then(|c| u16::try_from(c).ok())
                    .unwrap_or(500);
                let envelope = serde_json::json!({ "error": e });
                self.error = Some(crate::error::ApiError::parse(
                    code,
                    envelope.to_string().as_bytes(),
                ));
            }
        }
    }

    fn feed_stream(&mut self, bytes: &[u8]) {
        for &b in bytes {
            if b == b'\n' {
                let line = std::mem::take(&mut self.line);
                let line = String::from_utf8_lossy(&line);
                let line = line.trim();
                if let Some(data) = line.strip_prefix("data:") {
                    let data = data.trim();
                    if data == "[DONE]" {
                        self.finished = true;
                    } else if let Ok(v) = serde_json::from_str::<Value>(data) {
                        self.event(&v);
                    }
                } else if line.starts_with('{') || line.starts_with('[') {
                    // An error object sent bare in the stream.
                    if let Ok(v) = serde_json::from_str::<Value>(line) {
                        self.event(&v);
                    }
                }
            } else {
                self.line.push(b);
            }
        }
    }
}

/// A passed-through answer whose outcome the pool learns when it ends.
#[derive(Debug)]
pub struct Passthrough<S: StateStore = MemoryStore> {
    pool: Arc<KeyPool<S>>,
    lease: Option<Lease>,
    response: reqwest::Response,
    streaming: bool,
    estimate: u64,
    /// The longest pause between chunks.
    idle: std::time::Duration,
    watch: Watch,
    /// The last chunk was sent (or the stream failed): nothing more.
    done: bool,
}

impl<S: StateStore> Passthrough<S> {
    pub(crate) fn new(
        pool: Arc<KeyPool<S>>,
        lease: Lease,
        response: reqwest::Response,
        estimate: u64,
        idle: std::time::Duration,
    ) -> Self {
        let streaming = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.starts_with("text/event-stream"));
        Self {
            pool,
            lease: Some(lease),
            response,
            streaming,
            estimate,
            idle,
            watch: Watch::default(),
            done: false,
        }
    }

    /// Upstream's HTTP status.
    pub fn status(&self) -> u16 {
        self.response.status().as_u16()
    }

    /// Upstream's `Content-Type`.
    pub fn content_type(&self) -> Option<&str> {
        self.response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
    }

    /// The next bytes for the client, as upstream sent them; `None` at the end. A stream that
    /// ends before its `finish_reason`, breaks, or sends nothing for the idle timeout (60 s)
    /// ends with one more event, an error in OpenAI's streaming shape, so the client never
    /// takes a cut-off answer for a whole one.
    pub async fn chunk(&mut self) -> Option<Bytes> {
        if self.done {
            return None;
        }
        let Ok(next) = tokio::time::timeout(self.idle, self.response.chunk()).await else {
            self.done = true;
            let why = format!(
                "upstream sent nothing for {} s; the answer was cut off",
                self.idle.as_secs_f64()
            );
            return self.end(Some(why)).await;
        };
        match next {
            Ok(Some(b)) => {
                if self.streaming {
                    self.watch.feed_stream(&b);
                } else if self.watch.whole.len() + b.len() <= KEEP_LIMIT {
                    self.watch.whole.extend_from_slice(&b);
                }
                Some(b)
            }
            Ok(None) => {
                self.done = true;
                self.end(None).await
            }
            Err(e) => {
                self.done = true;
                self.end(Some(format!("the connection to Gemini broke: {e}")))
                    .await
            }
        }
    }

    /// Reports the outcome; returns the error event a cut-off stream still owes the client.
    async fn end(&mut self, broke: Option<String>) -> Option<Bytes> {
        if !self.streaming
            && let Ok(v) = serde_json::from_slice::<Value>(&self.watch.whole)
        {
            self.watch.event(&v);
            // A whole JSON answer is complete even without a finish_reason.
            self.watch.finished = true;
        }
        let cut = broke.or_else(|| {
            (self.streaming && !self.watch.finished && self.watch.error.is_none()).then(|| {
                "the stream ended before the answer was complete (no finish_reason)".to_owned()
            })
        });
        let outcome = match (&self.watch.error, &cut) {
            (Some(e), _) => e.outcome(),
            (None, Some(why)) => GeminiError::Broken(why.clone()).outcome(),
            (None, None) => Outcome::Success {
                input_tokens: self.watch.prompt_tokens.unwrap_or(self.estimate),
            },
        };
        if let Some(lease) = self.lease.take() {
            self.pool.report_answered(lease, &outcome).await;
        }
        let why = cut?;
        let event =
            serde_json::json!({"error": {"message": why, "type": "upstream_error", "code": 502}});
        Some(Bytes::from(format!("data: {event}\n\n")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stream_is_read_for_its_end_its_errors_and_its_usage() {
        let mut w = Watch::default();
        w.feed_stream(
            b"data: {\"choices\":[{\"delta\":{\"content\":\"Hi\"},\"finish_reason\":null}]}\n\nda",
        );
        assert!(!w.finished);
        w.feed_stream(b"ta: {\"choices\":[{\"delta\":{},\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":7}}\n\ndata: [DONE]\n\n");
        assert!(w.finished);
        assert_eq!(w.prompt_tokens, Some(7));
        assert_eq!(w.error, None);
        let mut e = Watch::default();
        e.feed_stream(b"data: {\"choices\":[{\"delta\":{\"content\":\"Hi\"}}]}\n\n[{\"error\":{\"code\":500,\"message\":\"Internal error encountered.\"}}]\n");
        let err = e.error.as_ref().unwrap();
        assert_eq!(err.message, "Internal error encountered.");
        assert!(matches!(err.outcome(), Outcome::Transient { .. }));
        assert!(!e.finished);
        // Not every error inside a stream is the key's: an overloaded model is the model's,
        // a spent quota the bucket's (issue 30).
        for (body, class) in [
            (
                r#"{"error":{"code":503,"message":"The model is overloaded.","status":"UNAVAILABLE"}}"#,
                "overloaded",
            ),
            (
                r#"{"error":{"code":429,"message":"Resource exhausted.","status":"RESOURCE_EXHAUSTED"}}"#,
                "rate_limited",
            ),
            (
                r#"{"error":{"code":400,"message":"Bad.","status":"INVALID_ARGUMENT"}}"#,
                "caller_fault",
            ),
        ] {
            let mut w = Watch::default();
            w.feed_stream(format!("data: {body}\n\n").as_bytes());
            assert_eq!(w.error.unwrap().outcome().class(), class, "{body}");
        }
    }
}
