//! Gemini's error bodies (the `google.rpc` envelope, also array-wrapped by the OpenAI-compatible
//! endpoint) and their classification into the key pool's outcome classes (DESIGN.md §3).

use std::fmt;
use std::time::Duration;

use keypool::{Limits, Outcome};
use serde_json::Value;

/// One `QuotaFailure` violation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotaViolation {
    /// e.g. `generativelanguage.googleapis.com/generate_content_free_tier_requests`.
    pub quota_metric: Option<String>,
    /// e.g. `GenerateRequestsPerDayPerProjectPerModel-FreeTier`.
    pub quota_id: Option<String>,
    /// The limit, e.g. `"20"`.
    pub quota_value: Option<String>,
}

/// Which window a 429 is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuotaScope {
    /// A per-minute limit: wait `retryDelay`.
    PerMinute,
    /// A per-day limit (or a zero quota): spent until Pacific midnight.
    PerDay,
}

/// A parsed upstream error. The message has anything shaped like an API key redacted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status.
    pub http: u16,
    /// Canonical status (`RESOURCE_EXHAUSTED`…), empty when the body had none.
    pub status: String,
    /// The message.
    pub message: String,
    /// `ErrorInfo.reason` (`API_KEY_INVALID`…).
    pub reason: Option<String>,
    /// `QuotaFailure.violations`.
    pub violations: Vec<QuotaViolation>,
    /// `RetryInfo.retryDelay`.
    pub retry_delay: Option<Duration>,
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.http)?;
        if !self.status.is_empty() {
            write!(f, " {}", self.status)?;
        }
        if let Some(r) = &self.reason {
            write!(f, " ({r})")?;
        }
        if !self.message.is_empty() {
            write!(f, ": {}", self.message)?;
        }
        Ok(())
    }
}

/// Replaces Google API keys (`AIza` + 35 characters) in text from upstream.
pub fn redact_keys(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("AIza") {
        out.push_str(&rest[..i]);
        let tail = &rest[i + 4..];
        let n = tail
            .bytes()
            .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_' || *b == b'-')
            .count();
        if n >= 20 {
            out.push_str("AIza…(redacted)");
            rest = &tail[n..];
        } else {
            out.push_str("AIza");
            rest = tail;
        }
    }
    out.push_str(rest);
    out
}

/// Replaces every occurrence of `secret` in `text` by `…(redacted)`. Secrets shorter than 8
/// characters are left alone (they would match ordinary words).
pub fn redact_value(text: &str, secret: &str) -> String {
    if secret.len() < 8 || !text.contains(secret) {
        return text.to_owned();
    }
    text.replace(secret, "…(redacted)")
}

/// The longest retry delay believed (DESIGN.md §3.1): a longer one is clamped to it.
pub const MAX_RETRY_DELAY: Duration = Duration::from_secs(24 * 3600);

/// Parses `"27s"`, `"27.359489363s"`, `"1.5s"` (protobuf `Duration` JSON), clamped to
/// [`MAX_RETRY_DELAY`]; anything that is not a finite, non-negative number of seconds is `None`
/// (never a panic: `"1e30s"` is 24 h, `"NaNs"` nothing).
pub fn parse_proto_duration(s: &str) -> Option<Duration> {
    let secs: f64 = s.trim().strip_suffix('s')?.parse().ok()?;
    if !(secs.is_finite() && secs >= 0.0) {
        return None;
    }
    Some(
        Duration::try_from_secs_f64(secs)
            .unwrap_or(MAX_RETRY_DELAY)
            .min(MAX_RETRY_DELAY),
    )
}

fn str_field(v: &Value, k: &str) -> Option<String> {
    v.get(k).and_then(Value::as_str).map(str::to_owned)
}

impl ApiError {
    /// Parses an error body of HTTP status `http`: `{"error":{…}}`, `[{"error":{…}}]`, or
    /// anything else (kept as a short, redacted message).
    pub fn parse(http: u16, body: &[u8]) -> Self {
        let parsed: Option<Value> = serde_json::from_slice(body).ok();
        let envelope = parsed.as_ref().and_then(|v| match v {
            Value::Array(items) => items.first().and_then(|i| i.get("error")),
            other => other.get("error"),
        });
        let Some(e) = envelope else {
            let text = String::from_utf8_lossy(body);
            let short: String = text.trim().chars().take(300).collect();
            return Self {
                http,
                status: String::new(),
                message: redact_keys(&short),
                reason: None,
                violations: Vec::new(),
                retry_delay: None,
            };
        };
        let mut out = Self {
            http: e
                .get("code")
                .and_then(Value::as_u64)
                .and_then(|c| u16::try_from(c).ok())
                .unwrap_or(http),
            status: str_field(e, "status").unwrap_or_default(),
            message: redact_keys(&str_field(e, "message").unwrap_or_default()),
            reason: None,
            violations: Vec::new(),
            retry_delay: None,
        };
        for d in e
            .get("details")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let kind = d.get("@type").and_then(Value::as_str).unwrap_or_default();
            if kind.ends_with("google.rpc.ErrorInfo") {
                out.reason = str_field(d, "reason");
            } else if kind.ends_with("google.rpc.QuotaFailure") {
                for v in d
                    .get("violations")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    out.violations.push(QuotaViolation {
                        quota_metric: str_field(v, "quotaMetric"),
                        quota_id: str_field(v, "quotaId"),
                        quota_value: str_field(v, "quotaValue"),
                    });
                }
            } else if kind.ends_with("google.rpc.RetryInfo") {
                out.retry_delay = d
                    .get("retryDelay")
                    .and_then(Value::as_str)
                    .and_then(parse_proto_duration);
            }
        }
        out
    }

    /// For a 429: per-day when any violation is a daily quota or a zero limit, otherwise
    /// per-minute (including the bare 429 with no details: back off briefly).
    pub fn quota_scope(&self) -> QuotaScope {
        let daily = self.violations.iter().any(|v| {
            v.quota_id
                .as_deref()
                .is_some_and(|id| id.contains("PerDay"))
                || v.quota_value.as_deref() == Some("0")
        });
        if daily {
            QuotaScope::PerDay
        } else {
            QuotaScope::PerMinute
        }
    }

    /// The limits a 429 reports: each `QuotaFailure` violation's `quotaValue`, placed by its
    /// `quotaId` / `quotaMetric` as requests per minute, input tokens per minute or requests per
    /// day (reference/gemini-api.md §2.6). Other quotas (input tokens per day, images) and a
    /// zero value (no quota on this tier: the bucket is spent instead) teach nothing.
    pub fn learned_limits(&self) -> Limits {
        let mut limits = Limits::UNKNOWN;
        for v in &self.violations {
            let Some(value) = v
                .quota_value
                .as_deref()
                .and_then(|q| q.trim().parse::<u64>().ok())
                .filter(|&n| n >= 1)
            else {
                continue;
            };
            let id = v.quota_id.as_deref().unwrap_or_default();
            let metric = v.quota_metric.as_deref().unwrap_or_default();
            let tokens = id.contains("InputToken") || metric.contains("input_token");
            let requests = id.contains("Requests") || metric.ends_with("_requests");
            let daily = id.contains("PerDay");
            let slot = match (tokens, requests, daily) {
                (true, _, false) => &mut limits.tpm,
                (false, true, false) => &mut limits.rpm,
                (false, true, true) => &mut limits.rpd,
                _ => continue,
            };
            *slot = Some(slot.map_or(value, |old| old.min(value)));
        }
        limits
    }

    /// The delay to wait for a per-minute 429: `RetryInfo`, else the message's
    /// "Please retry in N s", else none.
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_delay.or_else(|| {
            let i = self.message.find("Please retry in ")?;
            let rest = &self.message[i + "Please retry in ".len()..];
            let end = rest.find('s')?;
            parse_proto_duration(&rest[..=end])
        })
    }

    /// What a 401 or 403 is about, from Google's structured fields only: an `ErrorInfo.reason`
    /// that is about the key or its project (`API_KEY_INVALID`, `SERVICE_DISABLED`,
    /// `CONSUMER_SUSPENDED`…) is the key's; anything else is unclear, whatever its message says.
    /// The message is never read: Google's "You do not have permission to access the File
    /// leaked or it may not exist" echoes the id the client sent (DESIGN.md §3.1, "Evidence,
    /// not words"), so words in it prove nothing about the key.
    pub fn denial(&self) -> Denial {
        if self
            .reason
            .as_deref()
            .is_some_and(|r| KEY_REASONS.contains(&r))
        {
            Denial::Key
        } else {
            Denial::Ambiguous
        }
    }

    /// The key pool's view of this error.
    pub fn outcome(&self) -> Outcome {
        let detail = match &self.reason {
            Some(r) => format!("{} {} ({r})", self.http, self.status),
            None => format!("{} {}", self.http, self.status),
        };
        let detail = detail.trim_end().to_owned();
        match self.http {
            429 => match self.quota_scope() {
                QuotaScope::PerMinute => Outcome::RateLimited {
                    retry_after: self.retry_after(),
                    detail,
                    learned: self.learned_limits(),
                },
                QuotaScope::PerDay => Outcome::QuotaExhausted {
                    detail,
                    learned: self.learned_limits(),
                },
            },
            400 | 401 | 403 if self.denial() == Denial::Key => Outcome::KeyBroken { detail },
            // A 401, or a 403 whose fields do not say it is about the key (another project's
            // file or cache, a leaked key: Google's words alone cannot tell them apart), changes
            // no key here: `RotatingClient` confirms it with a probe using the key first.
            // Overloaded / high demand: the model's state, never the key's.
            503 => Outcome::Overloaded { detail },
            // 499 CANCELLED arrives mid-stream when upstream drops the operation.
            408 | 499 | 500..=599 => Outcome::Transient { detail },
            _ => Outcome::CallerFault { detail },
        }
    }
}

/// `ErrorInfo.reason` values that are about the key or its project, never about the request.
const KEY_REASONS: [&str; 9] = [
    "API_KEY_INVALID",
    "SERVICE_DISABLED",
    "API_KEY_SERVICE_BLOCKED",
    "API_KEY_HTTP_REFERRER_BLOCKED",
    "API_KEY_IP_ADDRESS_BLOCKED",
    "API_KEY_ANDROID_APP_BLOCKED",
    "CONSUMER_SUSPENDED",
    "CONSUMER_INVALID",
    "BILLING_DISABLED",
];

/// What a 401 or 403 is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denial {
    /// The key or its project, by Google's structured `ErrorInfo.reason`.
    Key,
    /// Unclear from the fields (a leaked key and another project's file look the same): a cheap
    /// probe with the key decides.
    Ambiguous,
}

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GeminiError {
    /// Upstream answered with an error status (or an error object mid-stream).
    #[error("Gemini API error {0}")]
    Api(ApiError),
    /// No connection could be made.
    #[error("cannot connect to the Gemini API: {0}")]
    Connect(String),
    /// A timeout: connect, first byte, or total.
    #[error("Gemini API timed out ({0})")]
    Timeout(&'static str),
    /// The connection broke while reading.
    #[error("connection to the Gemini API broke: {0}")]
    Broken(String),
    /// The connection broke before any answer came: while the request was being sent (upstream
    /// refusing a body it will not take closes the connection early) or awaited.
    #[error("the connection to the Gemini API broke before an answer came: {0}")]
    Sending(String),
    /// The body could not be understood.
    #[error("unreadable Gemini API response: {0}")]
    Decode(String),
    /// The request could not be built (bad model name, bad base URL).
    #[error("invalid request: {0}")]
    Request(String),
}

impl GeminiError {
    /// The key pool's view of this error.
    pub fn outcome(&self) -> Outcome {
        match self {
            GeminiError::Api(e) => e.outcome(),
            GeminiError::Connect(_) => Outcome::Transient {
                detail: "connect error".into(),
            },
            GeminiError::Timeout(what) => Outcome::Transient {
                detail: format!("timeout ({what})"),
            },
            GeminiError::Broken(_) | GeminiError::Sending(_) => Outcome::Transient {
                detail: "connection reset".into(),
            },
            GeminiError::Decode(_) => Outcome::Transient {
                detail: "unreadable body".into(),
            },
            GeminiError::Request(_) => Outcome::NotSent,
        }
    }

    /// The same error with every occurrence of `secret` (a key's exact material, whatever its
    /// shape: `AIza…`, `AQ.…`, what a store returns) replaced, in every text it carries.
    #[must_use]
    pub fn redacted(self, secret: &str) -> Self {
        let scrub = |t: String| redact_value(&t, secret);
        match self {
            GeminiError::Api(mut e) => {
                e.message = scrub(e.message);
                GeminiError::Api(e)
            }
            GeminiError::Connect(t) => GeminiError::Connect(scrub(t)),
            GeminiError::Broken(t) => GeminiError::Broken(scrub(t)),
            GeminiError::Sending(t) => GeminiError::Sending(scrub(t)),
            GeminiError::Decode(t) => GeminiError::Decode(scrub(t)),
            GeminiError::Request(t) => GeminiError::Request(scrub(t)),
            other @ GeminiError::Timeout(_) => other,
        }
    }

    /// Whether this failure says nothing certain about the key until a probe with the key
    /// decides (DESIGN.md §3.1): a 401, a 403 whose fields do not name the key, a timeout
    /// waiting for a whole answer, a connection broken before any answer came.
    pub fn needs_probe(&self) -> bool {
        match self {
            GeminiError::Api(a) => matches!(a.http, 401 | 403) && a.denial() == Denial::Ambiguous,
            GeminiError::Timeout(phase) => matches!(*phase, "first byte" | "total"),
            GeminiError::Sending(_) => true,
            _ => false,
        }
    }

    /// The upstream error, if this is one.
    pub fn api(&self) -> Option<&ApiError> {
        match self {
            GeminiError::Api(e) => Some(e),
            _ => None,
        }
    }

    /// A payload-free label for metrics and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            GeminiError::Api(_) => "api",
            GeminiError::Connect(_) => "connect",
            GeminiError::Timeout(_) => "timeout",
            GeminiError::Broken(_) => "broken",
            GeminiError::Sending(_) => "sending",
            GeminiError::Decode(_) => "decode",
            GeminiError::Request(_) => "request",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse() {
        assert_eq!(parse_proto_duration("27s"), Some(Duration::from_secs(27)));
        assert_eq!(
            parse_proto_duration("1.5s"),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(parse_proto_duration("soon"), None);
        assert_eq!(parse_proto_duration("-1s"), None);
    }

    #[test]
    fn keys_in_messages_are_redacted() {
        // Built at run time so the source holds nothing shaped like a real key.
        let fake = format!("AIza{}", "x".repeat(35));
        let m = format!("Consumer 'api_key:{fake}' has been suspended.");
        assert_eq!(
            redact_keys(&m),
            "Consumer 'api_key:AIza…(redacted)' has been suspended."
        );
        assert_eq!(redact_keys("AIza short"), "AIza short");
    }

    #[test]
    fn key_material_of_any_shape_is_redacted_by_value() {
        // Built at run time: an `AQ.`-shaped key, which no pattern of ours would recognise.
        let key = format!("AQ.{}", "Ab3_x-9".repeat(6));
        let body = format!(
            r#"{{"error":{{"code":403,"message":"Permission denied: Consumer 'api_key:{key}' has been suspended.","status":"PERMISSION_DENIED"}}}}"#
        );
        let e = GeminiError::Api(ApiError::parse(403, body.as_bytes())).redacted(&key);
        let text = e.to_string();
        assert!(!text.contains(&key), "{text}");
        assert!(text.contains("api_key:…(redacted)"), "{text}");
        let e = GeminiError::Broken(format!("reset while sending {key}")).redacted(&key);
        assert!(!e.to_string().contains(&key));
        assert_eq!(redact_value("short ab", "ab"), "short ab");
    }

    #[test]
    fn retry_delay_falls_back_to_the_message() {
        let e = ApiError::parse(
            429,
            br#"{"error":{"code":429,"message":"x\nPlease retry in 27.359489363s.","status":"RESOURCE_EXHAUSTED"}}"#,
        );
        assert_eq!(
            e.retry_after(),
            Some(Duration::from_secs_f64(27.359_489_363))
        );
        assert!(matches!(e.outcome(), Outcome::RateLimited { .. }));
    }

    #[test]
    fn zero_quota_counts_as_spent_for_the_day() {
        let e = ApiError::parse(
            429,
            br#"{"error":{"code":429,"status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.QuotaFailure","violations":[{"quotaId":"GenerateRequestsPerMinutePerProjectPerModel-FreeTier","quotaValue":"0"}]}]}}"#,
        );
        assert_eq!(e.quota_scope(), QuotaScope::PerDay);
    }

    #[test]
    fn a_429_teaches_each_limit_it_names() {
        let v = |metric: &str, id: &str, value: &str| {
            format!(
                r#"{{"quotaMetric":"generativelanguage.googleapis.com/{metric}","quotaId":"{id}","quotaValue":"{value}"}}"#
            )
        };
        let body = format!(
            r#"{{"error":{{"code":429,"status":"RESOURCE_EXHAUSTED","details":[{{"@type":"type.googleapis.com/google.rpc.QuotaFailure","violations":[{},{},{},{}]}}]}}}}"#,
            v(
                "generate_content_paid_tier_input_token_count",
                "GenerateContentPaidTierInputTokensPerModelPerMinute",
                "1000000"
            ),
            v(
                "generate_content_free_tier_requests",
                "GenerateRequestsPerMinutePerProjectPerModel-FreeTier",
                "10"
            ),
            v(
                "generate_content_free_tier_requests",
                "GenerateRequestsPerDayPerProjectPerModel-FreeTier",
                "20"
            ),
            v(
                "generate_content_free_tier_input_token_count",
                "GenerateContentInputTokensPerModelPerDay-FreeTier",
                "5"
            ),
        );
        let e = ApiError::parse(429, body.as_bytes());
        assert_eq!(e.learned_limits(), Limits::new(10, 1_000_000, 20));
        let Outcome::QuotaExhausted { learned, .. } = e.outcome() else {
            panic!("a daily violation is a spent quota")
        };
        assert_eq!(learned.rpd, Some(20));
        // The bare 429 teaches nothing.
        let bare = ApiError::parse(
            429,
            br#"{"error":{"code":429,"message":"Resource has been exhausted (e.g. check quota).","status":"RESOURCE_EXHAUSTED"}}"#,
        );
        assert_eq!(bare.learned_limits(), Limits::UNKNOWN);
    }

    fn e403(reason: Option<&str>, message: &str) -> ApiError {
        let mut error =
            serde_json::json!({"code": 403, "message": message, "status": "PERMISSION_DENIED"});
        if let Some(r) = reason {
            error["details"] = serde_json::json!([{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": r}]);
        }
        ApiError::parse(
            403,
            serde_json::json!({ "error": error }).to_string().as_bytes(),
        )
    }

    #[test]
    fn a_403_is_the_keys_only_when_its_fields_say_so() {
        let by_reason = e403(
            Some("SERVICE_DISABLED"),
            "Generative Language API has not been used in project 1 before or it is disabled.",
        );
        assert_eq!(by_reason.denial(), Denial::Key);
        assert!(matches!(by_reason.outcome(), Outcome::KeyBroken { .. }));
        // Words alone decide nothing: a leaked key's real 403 and another project's file read
        // the same to the fields, and both wait for a probe (no key changes here).
        for message in [
            "Your API key was reported as leaked. Please use another API key.",
            "Permission denied: Consumer 'api_key:x' has been suspended.",
            "You do not have permission to access the File leaked or it may not exist.",
            "The caller does not have permission",
        ] {
            let e = e403(None, message);
            assert_eq!(e.denial(), Denial::Ambiguous, "{message}");
            assert!(
                matches!(e.outcome(), Outcome::CallerFault { .. }),
                "{message}"
            );
            assert!(GeminiError::Api(e).needs_probe(), "{message}");
        }
        let e401 = ApiError::parse(
            401,
            br#"{"error":{"code":401,"message":"Request had invalid authentication credentials.","status":"UNAUTHENTICATED"}}"#,
        );
        assert!(matches!(e401.outcome(), Outcome::CallerFault { .. }));
        assert!(GeminiError::Api(e401).needs_probe());
        assert!(GeminiError::Timeout("total").needs_probe());
        assert!(GeminiError::Sending("reset".into()).needs_probe());
        assert!(!GeminiError::Timeout("stream").needs_probe());
    }

    proptest::proptest! {
        /// Issue 30: whatever a client puts in an id or a prompt, and so in the message Google
        /// echoes, the classification never blames the key. Only the structured reason can.
        #[test]
        fn client_chosen_text_never_breaks_a_key(
            http in proptest::sample::select(vec![400u16, 401, 403, 404, 409, 413]),
            status in proptest::sample::select(vec!["INVALID_ARGUMENT", "PERMISSION_DENIED", "UNAUTHENTICATED", "NOT_FOUND", ""]),
            words in proptest::collection::vec(proptest::sample::select(vec![
                "leaked", "suspended", "API key", "api_key", "has been denied access", "unregistered callers",
                "it is disabled", "API_KEY_INVALID", "SERVICE_DISABLED", "files/", "You do not have permission to access the File",
                "or it may not exist", "Consumer", "project", "\"", "{", "reason",
            ]), 0..8),
            id in "[a-zA-Z0-9_ ./:-]{0,40}",
        ) {
            let message = format!("{} {id}", words.join(" "));
            let body = serde_json::json!({"error": {"code": http, "message": message, "status": status}});
            let e = ApiError::parse(http, body.to_string().as_bytes());
            proptest::prop_assert!(!matches!(e.outcome(), Outcome::KeyBroken { .. }), "{e}");
            proptest::prop_assert!(matches!(e.outcome(), Outcome::CallerFault { .. }), "{e}");
        }
    }

    #[test]
    fn retry_delays_are_clamped_and_never_panic() {
        assert_eq!(parse_proto_duration("1e30s"), Some(MAX_RETRY_DELAY));
        assert_eq!(parse_proto_duration("90000s"), Some(MAX_RETRY_DELAY));
        assert_eq!(parse_proto_duration("infs"), None);
        assert_eq!(parse_proto_duration("NaNs"), None);
        let e = ApiError::parse(
            429,
            br#"{"error":{"code":429,"status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"1e30s"}]}}"#,
        );
        assert_eq!(e.retry_after(), Some(MAX_RETRY_DELAY));
    }

    #[test]
    fn a_503_is_the_models_state_not_the_keys() {
        for message in [
            "The model is overloaded. Please try again later.",
            "This model is currently experiencing high demand. Spikes in demand are usually temporary. Please try again later.",
        ] {
            let body = format!(
                r#"{{"error":{{"code":503,"message":"{message}","status":"UNAVAILABLE"}}}}"#
            );
            let e = ApiError::parse(503, body.as_bytes());
            assert!(
                matches!(e.outcome(), Outcome::Overloaded { .. }),
                "{message}"
            );
        }
        let e = ApiError::parse(500, br#"{"error":{"code":500,"message":"An internal error has occurred.","status":"INTERNAL"}}"#);
        assert!(matches!(e.outcome(), Outcome::Transient { .. }));
    }

    #[test]
    fn a_non_json_body_is_kept_short() {
        let e = ApiError::parse(502, b"<html>bad gateway</html>");
        assert_eq!(e.message, "<html>bad gateway</html>");
        assert!(matches!(e.outcome(), Outcome::Transient { .. }));
    }
}
