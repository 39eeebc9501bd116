//! Bodies byte for byte as the real service writes them: pretty-printed JSON (2-space indent)
//! for unary answers and errors; one line per SSE event with `": "` after each key.

use serde::Serialize;
use serde_json::{Value, json};

/// `serde_json`'s compact output, but with a space after each colon (`{"a": 1,"b": 2}`), as in
/// real `streamGenerateContent` events.
struct StreamFormatter;

impl serde_json::ser::Formatter for StreamFormatter {
    fn begin_object_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        w.write_all(b": ")
    }
}

/// One SSE event line: `data: <json>\r\n\r\n`.
pub fn sse_event(v: &Value) -> Vec<u8> {
    let mut out = b"data: ".to_vec();
    let mut ser = serde_json::Serializer::with_formatter(&mut out, StreamFormatter);
    // Serializing a Value into a Vec cannot fail.
    let _ = v.serialize(&mut ser);
    out.extend_from_slice(b"\r\n\r\n");
    out
}

/// Pretty JSON with a trailing newline.
pub fn pretty(v: &Value) -> Vec<u8> {
    let mut out = serde_json::to_vec_pretty(v).unwrap_or_default();
    out.push(b'\n');
    out
}

/// The `google.rpc` error envelope.
pub fn error_body(code: u16, status: &str, message: &str, details: Option<Value>) -> Value {
    let mut e = json!({ "code": code, "message": message, "status": status });
    if let Some(d) = details {
        e["details"] = d;
    }
    json!({ "error": e })
}

/// 400 `API_KEY_INVALID`, 2026 form.
pub fn api_key_invalid() -> Value {
    let m = "API key not valid. Please pass a valid API key.";
    error_body(
        400,
        "INVALID_ARGUMENT",
        m,
        Some(json!([
            {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID",
             "domain": "googleapis.com", "metadata": {"service": "generativelanguage.googleapis.com"}},
            {"@type": "type.googleapis.com/google.rpc.LocalizedMessage", "locale": "en-US", "message": m}
        ])),
    )
}

/// 403 for a leaked (revoked) key.
pub fn key_revoked() -> Value {
    error_body(
        403,
        "PERMISSION_DENIED",
        "Your API key was reported as leaked. Please use another API key.",
        None,
    )
}

/// 403 that names neither the key nor a resource.
pub fn caller_denied() -> Value {
    error_body(
        403,
        "PERMISSION_DENIED",
        "The caller does not have permission",
        None,
    )
}

/// 403 for a suspended consumer; like Google's, the message quotes the key.
pub fn consumer_suspended(key: &str) -> Value {
    error_body(
        403,
        "PERMISSION_DENIED",
        &format!("Permission denied: Consumer 'api_key:{key}' has been suspended."),
        None,
    )
}

/// 403 with no key at all.
pub fn no_key() -> Value {
    error_body(
        403,
        "PERMISSION_DENIED",
        "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.",
        None,
    )
}

/// 404 for an unknown model.
pub fn unknown_model(model: &str, method: &str) -> Value {
    error_body(
        404,
        "NOT_FOUND",
        &format!(
            "models/{model} is not found for API version v1beta, or is not supported for {method}. Call ListModels to see the list of available models and their supported methods."
        ),
        None,
    )
}

/// 400 with a `BadRequest` field violation.
pub fn bad_request(description: &str) -> Value {
    error_body(
        400,
        "INVALID_ARGUMENT",
        description,
        Some(json!([{
            "@type": "type.googleapis.com/google.rpc.BadRequest",
            "fieldViolations": [{"description": description}]
        }])),
    )
}

/// Which limit a 429 is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// Requests per minute.
    Rpm,
    /// Input tokens per minute.
    Tpm,
    /// Requests per day.
    Rpd,
}

/// The current (format B) 429 body.
pub fn quota_exceeded(limit: Limit, value: u64, model: &str, retry_secs: f64) -> Value {
    let (metric, quota_id) = match limit {
        Limit::Rpm => (
            "generativelanguage.googleapis.com/generate_content_free_tier_requests",
            "GenerateRequestsPerMinutePerProjectPerModel-FreeTier",
        ),
        Limit::Tpm => (
            "generativelanguage.googleapis.com/generate_content_free_tier_input_token_count",
            "GenerateContentInputTokensPerModelPerMinute-FreeTier",
        ),
        Limit::Rpd => (
            "generativelanguage.googleapis.com/generate_content_free_tier_requests",
            "GenerateRequestsPerDayPerProjectPerModel-FreeTier",
        ),
    };
    let message = format!(
        "You exceeded your current quota, please check your plan and billing details. For more information on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits. To monitor your current usage, head to: https://ai.dev/rate-limit. \n* Quota exceeded for metric: {metric}, limit: {value}, model: {model}\nPlease retry in {retry_secs:.9}s."
    );
    // Whole seconds, as the real RetryInfo; sub-second values only under a fast time scale.
    let delay = if retry_secs >= 1.0 {
        format!("{}s", retry_secs.ceil())
    } else {
        format!("{:.3}s", retry_secs.max(0.001))
    };
    error_body(
        429,
        "RESOURCE_EXHAUSTED",
        &message,
        Some(json!([
            {"@type": "type.googleapis.com/google.rpc.Help", "links": [
                {"description": "Learn more about Gemini API quotas", "url": "https://ai.google.dev/gemini-api/docs/rate-limits"}]},
            {"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": [{
                "quotaMetric": metric, "quotaId": quota_id,
                "quotaDimensions": {"location": "global", "model": model},
                "quotaValue": value.to_string()}]},
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": delay}
        ])),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_events_look_like_the_real_ones() {
        let v = json!({"candidates": [{"content": {"parts": [{"text": "The"}], "role": "model"}}]});
        let line = String::from_utf8(sse_event(&v)).unwrap();
        assert_eq!(
            line,
            "data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"The\"}],\"role\": \"model\"}}]}\r\n\r\n"
        );
    }

    #[test]
    fn retry_delay_is_whole_seconds_at_real_speed() {
        let b = quota_exceeded(Limit::Rpm, 10, "gemini-2.5-flash", 26.2);
        assert_eq!(b["error"]["details"][2]["retryDelay"], "27s");
        assert!(
            b["error"]["message"]
                .as_str()
                .unwrap()
                .ends_with("Please retry in 26.200000000s.")
        );
    }
}
