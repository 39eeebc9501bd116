//! Every recording in `tests/fixtures/` (real Gemini API traffic, from
//! FirebaseExtended/vertexai-sdk-test-data, Apache-2.0) parses to the right outcome.

use std::path::PathBuf;

use gemini::{ApiError, Event, GenerateContentResponse, NoAnswer, SseParser};
use keypool::Outcome;

fn fixture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// What a recording must become.
#[derive(Debug)]
enum Expect {
    /// An answer whose text starts so.
    Text(&'static str),
    /// An answer with function calls and no text.
    FunctionCall,
    /// An upstream error with this HTTP code and pool outcome class.
    Error(u16, &'static str),
    /// No answer, of this kind.
    No(fn(&NoAnswer) -> bool),
}

fn stream(name: &str) -> Result<GenerateContentResponse, ApiError> {
    let bytes = fixture(name);
    let mut p = SseParser::default();
    // Feed in odd slices to exercise reassembly.
    let mut chunks = Vec::new();
    for piece in bytes.chunks(97) {
        p.feed(piece);
        while let Some(e) = p.next_event(false).unwrap() {
            match e {
                Event::Chunk(c) => chunks.push(*c),
                Event::Error(e) => return Err(e),
            }
        }
    }
    while let Some(e) = p.next_event(true).unwrap() {
        match e {
            Event::Chunk(c) => chunks.push(*c),
            Event::Error(e) => return Err(e),
        }
    }
    assert!(!chunks.is_empty(), "{name}: no events");
    // usage is cumulative: it never decreases
    let totals: Vec<u64> = chunks
        .iter()
        .filter_map(|c| c.usage_metadata.as_ref().map(|u| u.total_token_count))
        .collect();
    assert!(
        totals.windows(2).all(|w| w[0] <= w[1]),
        "{name}: {totals:?}"
    );
    Ok(GenerateContentResponse::merge_stream(chunks))
}

fn unary(name: &str) -> Result<GenerateContentResponse, ApiError> {
    let bytes = fixture(name);
    let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    if let Some(code) = v.pointer("/error/code").and_then(serde_json::Value::as_u64) {
        return Err(ApiError::parse(u16::try_from(code).unwrap(), &bytes));
    }
    Ok(serde_json::from_slice(&bytes).unwrap())
}

fn check(name: &str, got: Result<GenerateContentResponse, ApiError>, want: &Expect) {
    match (got, want) {
        (Ok(r), Expect::Text(prefix)) => {
            let a = r.answer().unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(a.text.starts_with(prefix), "{name}: {:?}", a.text);
            assert!(!a.truncated);
        }
        (Ok(r), Expect::FunctionCall) => {
            let a = r.answer().unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(
                a.text.is_empty() && !a.function_calls.is_empty(),
                "{name}: {a:?}"
            );
        }
        (Ok(r), Expect::No(is)) => {
            let e = r.answer().unwrap_err();
            assert!(is(&e), "{name}: {e:?}");
        }
        (Err(e), Expect::Error(code, class)) => {
            assert_eq!(e.http, *code, "{name}");
            assert_eq!(e.outcome().class(), *class, "{name}: {e}");
        }
        (got, want) => panic!("{name}: got {got:?}, wanted {want:?}"),
    }
}

#[test]
#[expect(clippy::too_many_lines, reason = "one table row per recording")]
fn every_recording_parses_to_the_right_outcome() {
    use Expect::{Error, FunctionCall, No, Text};
    let cases: Vec<(&str, Expect)> = vec![
        (
            "streaming-failure-image-rejected.txt",
            Error(400, "caller_fault"),
        ),
        (
            "streaming-failure-prompt-blocked-safety.txt",
            No(|e| matches!(e, NoAnswer::PromptBlocked { reason, .. } if reason == "SAFETY")),
        ),
        (
            "streaming-failure-recitation-no-content.txt",
            No(
                |e| matches!(e, NoAnswer::Recitation { partial } if partial.starts_with("text1text2")),
            ),
        ),
        (
            "streaming-success-basic-reply-long.txt",
            Text("Okay, let's dive into the world of cats"),
        ),
        (
            "streaming-success-basic-reply-short.txt",
            Text("The capital of Wyoming is **Cheyenne**."),
        ),
        (
            "streaming-success-citations.txt",
            Text("Okay, let's break down quantum mechanics"),
        ),
        (
            "streaming-success-code-execution.txt",
            Text("To find the sum of the first 5 prime"),
        ),
        (
            "streaming-success-empty-parts.txt",
            Text("Here's a cute cartoon kitten"),
        ),
        ("streaming-success-finish-message.txt", Text("Hello world!")),
        (
            "streaming-success-no-content-parts.txt",
            Text("I will generate a 3D rendering"),
        ),
        (
            "streaming-success-thinking-function-call-thought-summary-signature.txt",
            FunctionCall,
        ),
        (
            "streaming-success-thinking-reply-thought-summary.txt",
            Text("The sky is blue because"),
        ),
        (
            "streaming-success-url-context.txt",
            Text("\nThe Google homepage"),
        ),
        ("unary-failure-api-key.json", Error(400, "key_broken")),
        ("unary-failure-api-key.txt", Error(400, "key_broken")),
        (
            "unary-failure-finish-reason-safety.json",
            No(
                |e| matches!(e, NoAnswer::Safety { partial } if partial.starts_with("Safety error")),
            ),
        ),
        (
            "unary-failure-finish-reason-safety.txt",
            No(|e| matches!(e, NoAnswer::Safety { .. })),
        ),
        (
            "unary-failure-generativelanguage-api-not-enabled.json",
            Error(403, "key_broken"),
        ),
        (
            "unary-failure-only-prompt-feedback.json",
            No(
                |e| matches!(e, NoAnswer::PromptBlocked { reason, message } if reason == "UNSPECIFIED" && message.as_deref() == Some("Message")),
            ),
        ),
        (
            "unary-failure-unknown-model.json",
            Error(404, "caller_fault"),
        ),
        (
            "unary-failure-unknown-model.txt",
            Error(404, "caller_fault"),
        ),
        (
            "unary-failure-with-message-no-content.json",
            No(
                |e| matches!(e, NoAnswer::Other { reason, message } if reason == "OTHER" && message.is_some()),
            ),
        ),
        (
            "unary-success-basic-reply-long.json",
            Text("Making professional-quality coffee"),
        ),
        (
            "unary-success-basic-reply-long.txt",
            Text("Making professional-quality coffee"),
        ),
        (
            "unary-success-basic-reply-short.json",
            Text("Google's headquarters"),
        ),
        (
            "unary-success-basic-reply-short.txt",
            Text("Google's headquarters"),
        ),
        (
            "unary-success-citations.json",
            Text("Okay, let's break down quantum mechanics"),
        ),
        (
            "unary-success-citations.txt",
            Text("Okay, let's break down quantum mechanics"),
        ),
        (
            "unary-success-code-execution.json",
            Text("The first 5 prime numbers are"),
        ),
        (
            "unary-success-google-maps-grounding.json",
            Text("Here are a few pizza places"),
        ),
        (
            "unary-success-google-search-grounding-empty-grounding-chunks.json",
            Text("The current weather in London"),
        ),
        (
            "unary-success-google-search-grounding.json",
            Text("The current weather in London"),
        ),
        (
            "unary-success-thinking-function-call-thought-summary-signature.json",
            FunctionCall,
        ),
        (
            "unary-success-thinking-reply-thought-summary.json",
            Text("Mountain View"),
        ),
        (
            "unary-success-url-context-mixed-validity.json",
            Text("\nThe valid page"),
        ),
        ("unary-success-url-context.json", Text("Berkshire Hathaway")),
    ];
    // Every file in the folder has a case.
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != "LICENSE")
        .collect();
    files.sort();
    let mut named: Vec<String> = cases.iter().map(|(n, _)| (*n).to_owned()).collect();
    named.sort();
    assert_eq!(files, named);

    for (name, want) in &cases {
        let got = if name.starts_with("streaming") {
            stream(name)
        } else {
            unary(name)
        };
        check(name, got, want);
    }
}

#[test]
fn thinking_that_used_every_token_is_not_an_empty_success() {
    // google/adk-python#1357, as quoted in reference/gemini-api.md §1.4.
    let body = r#"{"candidates":[{"content":{"role":"model"},"finishReason":"MAX_TOKENS"}],
      "modelVersion":"gemini-2.5-pro-preview-05-06","responseId":"Dj9LaPCjJsCvgLUPgeGuqAU",
      "usageMetadata":{"billablePromptUsage":{"textCount":5080},"promptTokenCount":1706,
      "thoughtsTokenCount":2999,"totalTokenCount":4705,"trafficType":"ON_DEMAND"}}"#;
    let r: GenerateContentResponse = serde_json::from_str(body).unwrap();
    assert_eq!(
        r.answer().unwrap_err(),
        NoAnswer::TruncatedWhileThinking { thoughts: 2999 }
    );
    assert_eq!(r.prompt_tokens(), Some(1706));
}

#[test]
fn the_three_429_formats_classify_by_quota_id() {
    // (B) current: a daily cap with a short retryDelay → spent for the day.
    let b = r#"{"error":{"code":429,"message":"You exceeded your current quota ... Please retry in 27.359489363s.","status":"RESOURCE_EXHAUSTED","details":[
      {"@type":"type.googleapis.com/google.rpc.Help","links":[]},
      {"@type":"type.googleapis.com/google.rpc.QuotaFailure","violations":[{"quotaMetric":"generativelanguage.googleapis.com/generate_content_free_tier_requests","quotaId":"GenerateRequestsPerDayPerProjectPerModel-FreeTier","quotaDimensions":{"location":"global","model":"gemini-2.5-flash"},"quotaValue":"20"}]},
      {"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"27s"}]}}"#;
    let e = ApiError::parse(429, b.as_bytes());
    assert!(matches!(e.outcome(), Outcome::QuotaExhausted { .. }), "{e}");
    // (A) mid-2025: per-minute input tokens → rate limited for retryDelay.
    let a = r#"{"error":{"code":429,"message":"You exceeded your current quota","status":"RESOURCE_EXHAUSTED","details":[
      {"@type":"type.googleapis.com/google.rpc.QuotaFailure","violations":[{"quotaMetric":"generativelanguage.googleapis.com/generate_content_free_tier_input_token_count","quotaId":"GenerateContentInputTokensPerModelPerMinute-FreeTier","quotaValue":"250000"}]},
      {"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"26s"}]}}"#;
    let e = ApiError::parse(429, a.as_bytes());
    assert_eq!(
        e.outcome(),
        Outcome::RateLimited {
            retry_after: Some(std::time::Duration::from_secs(26)),
            detail: "429 RESOURCE_EXHAUSTED".into(),
            // The 429's quotaValue teaches the bucket's input TPM (issue 14).
            learned: keypool::Limits {
                tpm: Some(250_000),
                ..keypool::Limits::UNKNOWN
            },
        }
    );
    // (C) 2024: ErrorInfo RATE_LIMIT_EXCEEDED, no RetryInfo → rate limited, default delay.
    let c = r#"{"error":{"code":429,"message":"Quota exceeded for quota metric 'Generate Content API requests per minute'","status":"RESOURCE_EXHAUSTED","details":[
      {"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"RATE_LIMIT_EXCEEDED","domain":"googleapis.com"}]}}"#;
    let e = ApiError::parse(429, c.as_bytes());
    assert!(
        matches!(
            e.outcome(),
            Outcome::RateLimited {
                retry_after: None,
                ..
            }
        ),
        "{e}"
    );
    // The OpenAI-compatible endpoint wraps the same envelope in an array.
    let wrapped = format!("[{a}]");
    let e = ApiError::parse(429, wrapped.as_bytes());
    assert_eq!(e.retry_delay, Some(std::time::Duration::from_secs(26)));
    assert_eq!(e.violations.len(), 1);
}

#[test]
fn transient_statuses_and_texts() {
    for (code, body) in [
        (
            500,
            r#"{"error":{"code":500,"message":"An internal error has occurred.","status":"INTERNAL"}}"#,
        ),
        (
            504,
            r#"{"error":{"code":504,"message":"Deadline expired before operation could complete.","status":"DEADLINE_EXCEEDED"}}"#,
        ),
    ] {
        let e = ApiError::parse(code, body.as_bytes());
        assert_eq!(e.outcome().class(), "transient", "{e}");
    }
    // Overloaded / high demand is the model's state, not the key's (issue 14).
    for body in [
        r#"{"error":{"code":503,"message":"The model is overloaded. Please try again later.","status":"UNAVAILABLE"}}"#,
        r#"{"error":{"code":503,"message":"This model is currently experiencing high demand. Spikes in demand are usually temporary. Please try again later.","status":"UNAVAILABLE"}}"#,
    ] {
        let e = ApiError::parse(503, body.as_bytes());
        assert_eq!(e.outcome().class(), "overloaded", "{e}");
    }
    let leaked = ApiError::parse(
        403,
        br#"{"error":{"code":403,"message":"Your API key was reported as leaked. Please use another API key.","status":"PERMISSION_DENIED"}}"#,
    );
    // Its words prove nothing (a client's file id can say "leaked"): a probe decides (issue 30).
    assert_eq!(leaked.outcome().class(), "caller_fault");
    assert!(gemini::GeminiError::Api(leaked).needs_probe());
    let bad = ApiError::parse(
        400,
        br#"{"error":{"code":400,"message":"Invalid JSON payload received. Unknown name \"x\": Cannot find field.","status":"INVALID_ARGUMENT"}}"#,
    );
    assert_eq!(bad.outcome().class(), "caller_fault");
}
