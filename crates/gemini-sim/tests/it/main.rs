//! The simulator over real HTTP on loopback, checked against what the real service sends
//! (reference/gemini-api.md §8).
#![expect(clippy::unwrap_used, reason = "test helpers")]

use std::time::Duration;

use gemini_sim::{SimConfig, SimHandle};

mod resources;
use serde_json::{Value, json};

const FLASH: &str = "gemini-2.5-flash";

async fn sim(toml: &str) -> SimHandle {
    gemini_sim::spawn(SimConfig::from_toml("test", toml).unwrap(), "127.0.0.1:0")
        .await
        .unwrap()
}

const KEYS: &str = r#"
[[keys]]
id = "a1"
key = "test-key-a1"
project = "pa"
[[keys]]
id = "a2"
key = "test-key-a2"
project = "pa"
[[keys]]
id = "bad"
key = "test-key-bad"
state = "invalid"
[[keys]]
id = "gone"
key = "test-key-gone"
state = "revoked"
"#;

struct Reply {
    status: u16,
    content_type: String,
    body: Vec<u8>,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
    fn text(&self) -> String {
        String::from_utf8(self.body.clone()).unwrap()
    }
}

async fn call(
    s: &SimHandle,
    method: &str,
    path: &str,
    key: Option<&str>,
    body: Option<Value>,
) -> Reply {
    let http = reqwest::Client::new();
    let url = format!("{}{path}", s.base_url());
    let mut b = if method == "GET" {
        http.get(url)
    } else {
        http.post(url)
    };
    if let Some(k) = key {
        b = b.header("x-goog-api-key", k);
    }
    if let Some(v) = body {
        b = b
            .header("content-type", "application/json")
            .body(v.to_string());
    }
    let r = b.send().await.unwrap();
    Reply {
        status: r.status().as_u16(),
        content_type: r
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default(),
        body: r.bytes().await.unwrap().to_vec(),
    }
}

fn gen_path(model: &str) -> String {
    format!("/v1beta/models/{model}:generateContent")
}

fn hello() -> Value {
    json!({"contents": [{"role": "user", "parts": [{"text": "Hello there, simulator"}]}]})
}

#[tokio::test]
async fn auth_forms_and_key_states() {
    let s = sim(KEYS).await;
    let r = call(&s, "POST", &gen_path(FLASH), None, Some(hello())).await;
    assert_eq!(r.status, 403);
    assert!(
        r.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("unregistered callers")
    );
    assert_eq!(r.content_type, "application/json; charset=UTF-8");
    assert!(
        r.text().starts_with("{\n  \"error\": {\n"),
        "pretty-printed like the service"
    );

    let r = call(
        &s,
        "POST",
        &gen_path(FLASH),
        Some("test-key-a1"),
        Some(hello()),
    )
    .await;
    assert_eq!(r.status, 200);
    let r = call(
        &s,
        "POST",
        &format!("{}?key=test-key-a1", gen_path(FLASH)),
        None,
        Some(hello()),
    )
    .await;
    assert_eq!(r.status, 200, "?key= works too");

    for key in ["test-key-bad", "test-key-unknown"] {
        let r = call(&s, "POST", &gen_path(FLASH), Some(key), Some(hello())).await;
        assert_eq!(r.status, 400);
        let e = r.json();
        assert_eq!(e["error"]["status"], "INVALID_ARGUMENT");
        assert_eq!(e["error"]["details"][0]["reason"], "API_KEY_INVALID");
        assert!(!r.text().contains(key), "the key is never echoed");
    }
    let r = call(
        &s,
        "POST",
        &gen_path(FLASH),
        Some("test-key-gone"),
        Some(hello()),
    )
    .await;
    assert_eq!(r.status, 403);
    assert!(
        r.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("leaked")
    );
}

#[tokio::test]
async fn validation_errors_match_the_service() {
    let s = sim("").await;
    let k = Some("test-key-any");
    let r = call(
        &s,
        "POST",
        &gen_path(FLASH),
        k,
        Some(json!({"contents": [{"parts": [{"text": "x"}]}], "bogus": 1})),
    )
    .await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json()["error"]["details"][0]["fieldViolations"][0]["description"],
        "Invalid JSON payload received. Unknown name \"bogus\": Cannot find field."
    );
    let r = call(
        &s,
        "POST",
        &gen_path(FLASH),
        k,
        Some(json!({"contents": []})),
    )
    .await;
    assert_eq!(r.status, 400);
    assert!(
        r.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("contents is not specified")
    );
    let r = call(&s, "POST", &gen_path(FLASH), k, Some(json!({"contents": [{"parts": [{"text": "x"}]}], "generationConfig": {"candidateCount": 9}}))).await;
    assert_eq!(r.status, 400);
    // snake_case is accepted, as by any proto3 JSON parser
    let r = call(&s, "POST", &gen_path(FLASH), k, Some(json!({"contents": [{"parts": [{"text": "x"}]}], "system_instruction": {"parts": [{"text": "be brief"}]}, "generation_config": {"max_output_tokens": 100}}))).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = call(&s, "POST", &gen_path("gemini-5.0-flash"), k, Some(hello())).await;
    assert_eq!(r.status, 404);
    assert!(
        r.json()["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("models/gemini-5.0-flash is not found for API version v1beta")
    );
}

#[tokio::test]
async fn quotas_are_per_project_with_real_429_bodies() {
    let s = sim(&format!(
        "{KEYS}\n[projects.pa.\"{FLASH}\"]\nrpm = 2\ntpm = 100\nrpd = 3\n"
    ))
    .await;
    // Two keys, one project: two requests in all per minute.
    assert_eq!(
        call(
            &s,
            "POST",
            &gen_path(FLASH),
            Some("test-key-a1"),
            Some(hello())
        )
        .await
        .status,
        200
    );
    assert_eq!(
        call(
            &s,
            "POST",
            &gen_path(FLASH),
            Some("test-key-a2"),
            Some(hello())
        )
        .await
        .status,
        200
    );
    let r = call(
        &s,
        "POST",
        &gen_path(FLASH),
        Some("test-key-a1"),
        Some(hello()),
    )
    .await;
    assert_eq!(r.status, 429);
    let e = r.json();
    assert_eq!(e["error"]["status"], "RESOURCE_EXHAUSTED");
    let v = &e["error"]["details"][1]["violations"][0];
    assert_eq!(
        v["quotaId"],
        "GenerateRequestsPerMinutePerProjectPerModel-FreeTier"
    );
    assert_eq!(v["quotaValue"], "2");
    assert_eq!(v["quotaDimensions"]["model"], FLASH);
    let delay = e["error"]["details"][2]["retryDelay"].as_str().unwrap();
    assert!(
        delay.ends_with('s') && delay.trim_end_matches('s').parse::<f64>().unwrap() > 50.0,
        "{delay}"
    );
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Please retry in ")
    );
    // The client reads it the way it reads the real thing.
    let parsed = gemini::ApiError::parse(429, &r.body);
    assert_eq!(parsed.outcome().class(), "rate_limited");
    let stats = s.sim.stats();
    assert_eq!(stats.projects["pa"].rate_limited, 1);
    assert_eq!(stats.projects["pa"].successes, 2);
}

#[tokio::test]
async fn tpm_and_rpd_violations_name_their_quota() {
    let s = sim(&format!(
        "{KEYS}\n[projects.pa.\"{FLASH}\"]\ntpm = 10\nrpd = 1\n"
    ))
    .await;
    let big = json!({"contents": [{"parts": [{"text": "x".repeat(100)}]}]});
    let r = call(&s, "POST", &gen_path(FLASH), Some("test-key-a1"), Some(big)).await;
    assert_eq!(r.status, 429);
    assert_eq!(
        r.json()["error"]["details"][1]["violations"][0]["quotaId"],
        "GenerateContentInputTokensPerModelPerMinute-FreeTier"
    );
    assert_eq!(
        call(
            &s,
            "POST",
            &gen_path(FLASH),
            Some("test-key-a1"),
            Some(hello())
        )
        .await
        .status,
        200
    );
    let r = call(
        &s,
        "POST",
        &gen_path(FLASH),
        Some("test-key-a2"),
        Some(hello()),
    )
    .await;
    assert_eq!(
        r.json()["error"]["details"][1]["violations"][0]["quotaId"],
        "GenerateRequestsPerDayPerProjectPerModel-FreeTier"
    );
    assert_eq!(
        gemini::ApiError::parse(429, &r.body).outcome().class(),
        "quota_exhausted"
    );
}

#[tokio::test]
async fn a_scaled_minute_passes_quickly() {
    // 600×: a simulated minute is 0.1 s.
    let s = sim(&format!(
        "time_scale = 600.0\n{KEYS}\n[projects.pa.\"{FLASH}\"]\nrpm = 1\n"
    ))
    .await;
    assert_eq!(
        call(
            &s,
            "POST",
            &gen_path(FLASH),
            Some("test-key-a1"),
            Some(hello())
        )
        .await
        .status,
        200
    );
    let r = call(
        &s,
        "POST",
        &gen_path(FLASH),
        Some("test-key-a1"),
        Some(hello()),
    )
    .await;
    assert_eq!(r.status, 429);
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(
        call(
            &s,
            "POST",
            &gen_path(FLASH),
            Some("test-key-a1"),
            Some(hello())
        )
        .await
        .status,
        200
    );
}

#[tokio::test]
async fn streams_are_framed_like_the_service() {
    let s = sim("default_reply = \"alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi\"").await;
    let r = call(
        &s,
        "POST",
        &format!("/v1beta/models/{FLASH}:streamGenerateContent?alt=sse"),
        Some("k"),
        Some(hello()),
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.content_type, "text/event-stream");
    let text = r.text();
    assert!(text.ends_with("\r\n\r\n"));
    let events: Vec<&str> = text.split("\r\n\r\n").filter(|e| !e.is_empty()).collect();
    assert_eq!(events.len(), 2);
    assert!(
        events[0].starts_with("data: {\"candidates\": [{\"content\": {"),
        "{}",
        events[0]
    );
    let chunks: Vec<Value> = events
        .iter()
        .map(|e| serde_json::from_str(&e[6..]).unwrap())
        .collect();
    assert_eq!(chunks[0]["responseId"], chunks[1]["responseId"]);
    assert!(chunks[0]["candidates"][0].get("finishReason").is_none());
    assert_eq!(chunks[1]["candidates"][0]["finishReason"], "STOP");
    let c0 = chunks[0]["usageMetadata"]["candidatesTokenCount"]
        .as_u64()
        .unwrap();
    let c1 = chunks[1]["usageMetadata"]["candidatesTokenCount"]
        .as_u64()
        .unwrap();
    assert!(c0 < c1, "usage is cumulative");
    let total = chunks[1]["usageMetadata"]["totalTokenCount"]
        .as_u64()
        .unwrap();
    let prompt = chunks[1]["usageMetadata"]["promptTokenCount"]
        .as_u64()
        .unwrap();
    assert_eq!(total, prompt + c1);
    // the client's own parser reads it back
    let mut p = gemini::SseParser::default();
    p.feed(&r.body);
    let mut n = 0;
    while let Some(gemini::Event::Chunk(_)) = p.next_event(true).unwrap() {
        n += 1;
    }
    assert_eq!(n, 2);
}

#[tokio::test]
async fn count_tokens_agrees_with_generate() {
    let s = sim("").await;
    let req = json!({"contents": [{"parts": [{"text": "How many tokens is this sentence?"}]}], "systemInstruction": {"parts": [{"text": "You are terse."}]}});
    let g = call(&s, "POST", &gen_path(FLASH), Some("k"), Some(req.clone()))
        .await
        .json();
    let c = call(
        &s,
        "POST",
        &format!("/v1beta/models/{FLASH}:countTokens"),
        Some("k"),
        Some(json!({"generateContentRequest": req})),
    )
    .await
    .json();
    assert_eq!(c["totalTokens"], g["usageMetadata"]["promptTokenCount"]);
    // ceil((33 + 14) / 4) = 12
    assert_eq!(c["totalTokens"], 12);
}

#[tokio::test]
async fn scripted_replies_by_model_and_prompt() {
    let s = sim(r#"
[[replies]]
model = "gemini-2.5-pro"
text = "pro answer"
[[replies]]
prompt_contains = "RSI"
json = { name = "RsiBot", thoughts = 3 }
thoughts_tokens = 40
"#)
    .await;
    let r = call(
        &s,
        "POST",
        &gen_path("gemini-2.5-pro"),
        Some("k"),
        Some(hello()),
    )
    .await
    .json();
    assert_eq!(
        r["candidates"][0]["content"]["parts"][0]["text"],
        "pro answer"
    );
    let rsi = json!({"contents": [{"parts": [{"text": "buy when RSI < 30"}]}]});
    let r = call(&s, "POST", &gen_path(FLASH), Some("k"), Some(rsi))
        .await
        .json();
    let text = r["candidates"][0]["content"]["parts"][0]["text"]
        .as_str()
        .unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(text).unwrap()["name"],
        "RsiBot"
    );
    assert_eq!(r["usageMetadata"]["thoughtsTokenCount"], 40);
    let r = call(&s, "POST", &gen_path(FLASH), Some("k"), Some(hello()))
        .await
        .json();
    assert!(
        r["candidates"][0]["content"]["parts"][0]["text"]
            .as_str()
            .unwrap()
            .starts_with("Hello from")
    );
}

#[tokio::test]
async fn max_output_tokens_truncates_and_thinking_can_use_it_all() {
    let s =
        sim("[[replies]]\ntext = \"abcdefghijklmnopqrstuvwxyz0123456789\"\nthoughts_tokens = 5\n")
            .await;
    let req = |max: u64| json!({"contents": [{"parts": [{"text": "x"}]}], "generationConfig": {"maxOutputTokens": max}});
    let r = call(&s, "POST", &gen_path(FLASH), Some("k"), Some(req(7)))
        .await
        .json();
    assert_eq!(r["candidates"][0]["finishReason"], "MAX_TOKENS");
    assert_eq!(
        r["candidates"][0]["content"]["parts"][0]["text"],
        "abcdefgh"
    );
    let r = call(&s, "POST", &gen_path(FLASH), Some("k"), Some(req(5)))
        .await
        .json();
    assert_eq!(r["candidates"][0]["finishReason"], "MAX_TOKENS");
    assert!(
        r["candidates"][0]["content"].get("parts").is_none(),
        "no parts at all"
    );
}

#[tokio::test]
async fn scripted_faults_fire_in_order() {
    let s = sim(&format!(
        "{KEYS}\n[[faults]]\nkey = \"a1\"\nkind = \"high_demand\"\nscript = [true, false, true]\n"
    ))
    .await;
    let statuses: Vec<u16> = {
        let mut v = Vec::new();
        for _ in 0..4 {
            v.push(
                call(
                    &s,
                    "POST",
                    &gen_path(FLASH),
                    Some("test-key-a1"),
                    Some(hello()),
                )
                .await
                .status,
            );
        }
        v
    };
    assert_eq!(statuses, [503, 200, 503, 200]);
    assert_eq!(
        call(
            &s,
            "POST",
            &gen_path(FLASH),
            Some("test-key-a2"),
            Some(hello())
        )
        .await
        .status,
        200
    );
    let st = s.sim.stats();
    assert_eq!(
        (
            st.keys["a1"].requests,
            st.keys["a1"].successes,
            st.keys["a1"].overloaded,
            st.keys["a1"].errors
        ),
        (4, 2, 2, 0)
    );
    let stats = call(&s, "GET", "/sim/stats", None, None).await.json();
    assert_eq!(stats["keys"]["a2"]["successes"], 1);
    assert_eq!(stats["projects"]["pa"]["requests"], 5);
    assert_eq!(call(&s, "POST", "/sim/reset", None, None).await.status, 204);
    assert_eq!(s.sim.stats().total.requests, 0);
}

#[tokio::test]
async fn models_are_listed_and_fetched() {
    let s = sim("").await;
    let r = call(&s, "GET", "/v1beta/models", Some("k"), None)
        .await
        .json();
    let names: Vec<&str> = r["models"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"models/gemini-2.5-flash"));
    let r = call(
        &s,
        "GET",
        &format!("/v1beta/models/{FLASH}"),
        Some("k"),
        None,
    )
    .await;
    assert_eq!(r.json()["name"], "models/gemini-2.5-flash");
    assert_eq!(
        call(&s, "GET", "/v1beta/models", None, None).await.status,
        403
    );
}

#[tokio::test]
async fn openai_compatible_routes() {
    let s = sim(KEYS).await;
    let http = reqwest::Client::new();
    let url = format!("{}/v1beta/openai/chat/completions", s.base_url());
    let body = json!({"model": FLASH, "messages": [{"role": "user", "content": "Say hi"}]});
    let r = http
        .post(&url)
        .bearer_auth("test-key-a1")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    assert!(
        text.starts_with("{\"choices\":[{\"finish_reason\":\"stop\""),
        "sorted, compact: {text}"
    );
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["usage"]["prompt_tokens"], 2);

    let mut stream_body = body.clone();
    stream_body["stream"] = json!(true);
    let r = http
        .post(&url)
        .bearer_auth("test-key-a1")
        .json(&stream_body)
        .send()
        .await
        .unwrap();
    let text = r.text().await.unwrap();
    assert!(text.ends_with("data: [DONE]\n\n"), "{text}");

    let r = http
        .post(&url)
        .bearer_auth("test-key-bad")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        v[0]["error"]["details"][0]["reason"], "API_KEY_INVALID",
        "errors are array-wrapped"
    );

    let r = http
        .get(format!("{}/v1beta/openai/models", s.base_url()))
        .bearer_auth("test-key-a1")
        .send()
        .await
        .unwrap();
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["object"], "list");
    assert!(
        v["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["id"] == "models/gemini-2.5-flash")
    );
}

/// The official `google-genai` and `openai` Python packages against the simulator: generate,
/// stream, count, list, and a 429 that reaches each SDK as its own error type with the details
/// intact. `.ci/run` installs the pinned packages and sets `BOTFORGE_PYTHON`.
#[tokio::test]
async fn official_sdks_accept_the_simulator() {
    let Some(python) = std::env::var_os("BOTFORGE_PYTHON") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "BOTFORGE_PYTHON is not set: .ci/run creates the SDK venv and sets it"
        );
        eprintln!(
            "skipped: set BOTFORGE_PYTHON to a python with tests/python/requirements.txt installed"
        );
        return;
    };
    let s = sim(r#"
[[keys]]
id = "a1"
key = "test-key-a1"
[[keys]]
id = "r1"
key = "test-key-r1"
project = "limited"
[projects.limited."gemini-2.5-flash"]
rpm = 1
"#)
    .await;
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/python/check_sdks.py"
    );
    let base = s.base_url();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(python)
            .arg(script)
            .arg(base)
            .output()
    })
    .await
    .unwrap()
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let found: Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(found["openai_429"], true);
    assert_eq!(found["genai_429_retry_delay"], "60s");
    assert_eq!(s.sim.stats().keys["r1"].rate_limited, 2, "one 429 per SDK");
}
