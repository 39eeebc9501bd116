//! The gateway over real HTTP on loopback, in front of the Gemini simulator: authentication
//! in each protocol's shape with no upstream call, failover hidden from the client, Gemini's SSE
//! framing, the OpenAI-compatible surface, admin routes, limits, and no key material anywhere.
#![expect(
    clippy::unwrap_used,
    clippy::panic,
    clippy::float_cmp,
    reason = "test helpers; metric values are small whole numbers"
)]

use std::sync::Arc;
use std::time::Duration;

use gemini::{ClientConfig, GeminiClient, RotatingClient};
use gemini_sim::{SimConfig, SimHandle};
use keypool::{AnyStore, Environment, KeyPool, MemoryStore, PoolConfig, PoolOptions, SystemClock};
use secrecy::SecretString;
use serde_json::{Value, json};
use server::{Gateway, check_bind, router};

#[path = "../../../../tests/support/browser.rs"]
mod browser;
mod hardening;
mod operations;
mod resources;

const FLASH: &str = "gemini-2.5-flash";
const TOKEN: &str = "gw-client-token";
const ADMIN: &str = "gw-admin-token";

struct Up {
    sim: SimHandle,
    base: String,
    http: reqwest::Client,
    dir: tempfile::TempDir,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl Up {
    fn upstream_requests(&self) -> u64 {
        self.sim.sim.stats().total.requests
    }
}

/// k1 is revoked upstream (403), k2 and k3 are fine: the first pick may fail and the gateway
/// must hide it.
async fn up(tokens: &[&str]) -> Up {
    up_with(tokens, Some(ADMIN)).await
}

/// [`up`] with the admin token given (`None`: the admin routes are off).
async fn up_with(tokens: &[&str], admin: Option<&str>) -> Up {
    up_limited(tokens, admin, server::Limits::default()).await
}

/// [`up_with`], serving within `limits`.
async fn up_limited(tokens: &[&str], admin: Option<&str>, limits: server::Limits) -> Up {
    let sim_toml = "[[keys]]\nid = \"k1\"\nkey = \"sim-material-k1\"\nproject = \"p1\"\nstate = \"revoked\"\n\
                    [[keys]]\nid = \"k2\"\nkey = \"sim-material-k2\"\nproject = \"p2\"\nstate = \"valid\"\n\
                    [[keys]]\nid = \"k3\"\nkey = \"sim-material-k3\"\nproject = \"p3\"\nstate = \"valid\"\n\
                    [[keys]]\nid = \"k1new\"\nkey = \"sim-material-k1-rotated\"\nproject = \"p1\"\nstate = \"valid\"\n";
    let sim = gemini_sim::spawn(
        SimConfig::from_toml("sim", sim_toml).unwrap(),
        "127.0.0.1:0",
    )
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys.json");
    let entries: Vec<String> = ["k1", "k2", "k3"]
        .iter()
        .enumerate()
        .map(|(i, id)| format!(r#"{{"key_id": "{id}", "project": "p{}", "rpm": 100000, "tpm": 100000000, "rpd": 100000000}}"#, i + 1))
        .collect();
    std::fs::write(&keys, format!(r#"{{"keys": [{}]}}"#, entries.join(","))).unwrap();
    let env = Environment::from_pairs([
        ("ENABLE_KEY_ROTATION".to_owned(), "true".to_owned()),
        ("KEYS_FILE".to_owned(), keys.display().to_string()),
        ("GEMINI_BASE_URL".to_owned(), sim.base_url()),
        ("GEMINI_KEY_k1".to_owned(), "sim-material-k1".to_owned()),
        ("GEMINI_KEY_k2".to_owned(), "sim-material-k2".to_owned()),
        ("GEMINI_KEY_k3".to_owned(), "sim-material-k3".to_owned()),
    ]);
    // The same material in a dotenv file: the secret store that `POST /v1/keys/reload` reads.
    let dotenv = dir.path().join(".env");
    std::fs::write(
        &dotenv,
        "GEMINI_KEY_k1=sim-material-k1\nGEMINI_KEY_k2=sim-material-k2\nGEMINI_KEY_k3=sim-material-k3\n",
    )
    .unwrap();
    let store = secrets::Store::Env(Environment::from_process_with_dotenv(&dotenv).unwrap());
    let secrets = secrets::Cached::start(store, Duration::from_secs(300))
        .await
        .unwrap();
    let pool = KeyPool::new(
        &PoolConfig::load(&env, &env).unwrap(),
        AnyStore::Memory(MemoryStore::new()),
        Arc::new(SystemClock),
        PoolOptions::default(),
    )
    .unwrap();
    let client = RotatingClient::new(
        Arc::new(pool),
        GeminiClient::new(ClientConfig::from_env(&env)).unwrap(),
    );
    let owners = client
        .pool()
        .store()
        .owners(Arc::clone(client.pool().clock()));
    let activity = Arc::clone(client.pool().activity());
    let gateway = Arc::new(Gateway {
        client,
        client_tokens: tokens.iter().map(|t| SecretString::from(*t)).collect(),
        admin_token: admin.map(SecretString::from),
        body_limit: 64 * 1024,
        metrics: server::Metrics::new().with_activity(activity),
        strategy_dir: dir.path().join("codes"),
        data_dir: Some(std::path::PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../backtest/data"
        ))),
        secrets: Some(Arc::new(secrets)),
        fallback_models: vec!["gemini-2.5-flash-lite".to_owned()],
        browser: server::BrowserPolicy::default(),
        owners,
        ready: server::ReadyCache::default(),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(server::serve_with(
        listener,
        router(gateway),
        limits,
        async move {
            let _ = stopped.await;
        },
    ));
    Up {
        sim,
        base,
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(20))
            .build()
            .unwrap(),
        dir,
        _stop: stop,
    }
}

fn prompt(text: &str) -> Value {
    json!({"contents": [{"role": "user", "parts": [{"text": text}]}]})
}

async fn body(r: reqwest::Response) -> (u16, Value, String) {
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::Null),
        text,
    )
}

fn no_key_material(text: &str) {
    assert!(
        !text.contains("sim-material"),
        "key material leaked: {text}"
    );
}

#[tokio::test]
async fn missing_or_wrong_tokens_are_refused_in_each_protocols_shape_without_an_upstream_call() {
    let up = up(&[TOKEN]).await;
    let url = format!("{}/v1beta/models/{FLASH}:generateContent", up.base);
    let (s, v, _) = body(up.http.post(&url).json(&prompt("hi")).send().await.unwrap()).await;
    assert_eq!(s, 401);
    assert_eq!(v["error"]["status"], "UNAUTHENTICATED");
    assert_eq!(v["error"]["code"], 401);
    let (s, v, _) = body(
        up.http
            .post(&url)
            .header("x-goog-api-key", "not-the-token")
            .json(&prompt("hi"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, 403);
    assert_eq!(v["error"]["status"], "PERMISSION_DENIED");
    let (s, v, _) = body(
        up.http
            .post(format!("{}/v1/chat/completions", up.base))
            .bearer_auth("not-the-token")
            .json(&json!({"model": FLASH, "messages": [{"role": "user", "content": "hi"}]}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, 403);
    assert_eq!(
        v["error"]["type"], "authentication_error",
        "OpenAI's shape: {v}"
    );
    let (s, v, _) = body(
        up.http
            .get(format!("{}/v1/models", up.base))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, 401);
    assert!(v["error"]["message"].is_string());
    assert_eq!(
        up.upstream_requests(),
        0,
        "refused requests never reach upstream"
    );
}

#[tokio::test]
async fn generate_fails_over_behind_the_clients_back() {
    let up = up(&[TOKEN]).await;
    let mut keys_seen = std::collections::BTreeSet::new();
    for i in 0..6 {
        let (s, v, text) = body(
            up.http
                .post(format!(
                    "{}/v1beta/models/{FLASH}:generateContent?key={TOKEN}",
                    up.base
                ))
                .json(&prompt(&format!("hello {i}")))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(s, 200, "{text}");
        assert!(
            v["candidates"][0]["content"]["parts"][0]["text"].is_string(),
            "{v}"
        );
        no_key_material(&text);
        keys_seen.insert(i);
    }
    let stats = up.sim.sim.stats();
    // The revoked key was tried (and failed) at most once before being set aside: its call
    // and the probe that confirmed it broken (its 403 names no structured reason).
    assert!(stats.keys.get("k1").map_or(0, |c| c.successes) == 0);
    assert!(
        stats.keys.get("k1").map_or(0, |c| c.requests) <= 2,
        "{stats:?}"
    );
    // Either healthy key may have served them all (the pick is random).
    let served = |id: &str| stats.keys.get(id).map_or(0, |c| c.successes);
    assert_eq!(served("k2") + served("k3"), 6, "{stats:?}");
    // The gateway token was never sent upstream (the simulator counts unknown keys too).
    assert_eq!(
        stats.total.requests,
        6 + stats.keys.get("k1").map_or(0, |c| c.requests)
    );

    let (s, v, _) = body(
        up.http
            .post(format!("{}/v1beta/models/{FLASH}:countTokens", up.base))
            .header("x-goog-api-key", TOKEN)
            .json(&prompt("count these words please"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, 200);
    assert!(v["totalTokens"].as_u64().unwrap() > 0);
}

#[tokio::test]
async fn streams_keep_geminis_sse_framing() {
    let up = up(&[TOKEN]).await;
    let r = up
        .http
        .post(format!(
            "{}/v1beta/models/{FLASH}:streamGenerateContent?alt=sse",
            up.base
        ))
        .header("x-goog-api-key", TOKEN)
        .json(&prompt("write a long answer about moving averages"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/event-stream");
    let text = r.text().await.unwrap();
    let events: Vec<&str> = text.split("\r\n\r\n").filter(|e| !e.is_empty()).collect();
    assert!(!events.is_empty(), "{text}");
    let mut joined = String::new();
    for e in &events {
        let json = e
            .strip_prefix("data: ")
            .unwrap_or_else(|| panic!("not an SSE event: {e:?}"));
        assert!(!json.contains('\n'), "one line per event");
        let v: Value = serde_json::from_str(json).unwrap();
        joined.push_str(
            v["candidates"][0]["content"]["parts"][0]["text"]
                .as_str()
                .unwrap_or(""),
        );
    }
    assert!(!joined.is_empty());
    let last: Value =
        serde_json::from_str(events[events.len() - 1].trim_start_matches("data: ")).unwrap();
    assert_eq!(last["candidates"][0]["finishReason"], "STOP");
    no_key_material(&text);
}

#[tokio::test]
async fn the_openai_surface_answers_and_streams() {
    let up = up(&[TOKEN]).await;
    let chat = json!({"model": FLASH, "messages": [{"role": "user", "content": "say hi"}]});
    let (s, v, text) = body(
        up.http
            .post(format!("{}/v1/chat/completions", up.base))
            .bearer_auth(TOKEN)
            .json(&chat)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, 200, "{text}");
    assert_eq!(v["object"], "chat.completion");
    assert!(v["choices"][0]["message"]["content"].is_string());
    no_key_material(&text);

    let mut streaming = chat.clone();
    streaming["stream"] = json!(true);
    let r = up
        .http
        .post(format!("{}/v1/chat/completions", up.base))
        .bearer_auth(TOKEN)
        .json(&streaming)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    assert!(text.contains("chat.completion.chunk"), "{text}");
    assert!(text.trim_end().ends_with("data: [DONE]"), "{text}");

    let (s, v, _) = body(
        up.http
            .get(format!("{}/v1/models", up.base))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, 200);
    // Keys without a model serve any: the default model first, then every model with a bucket.
    let ids: Vec<&str> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["id"].as_str())
        .collect();
    assert_eq!(ids.first(), Some(&"gemini-flash-latest"), "{ids:?}");
    assert!(ids.contains(&FLASH) && !ids.contains(&"*"), "{ids:?}");

    let (s, v, _) = body(
        up.http
            .post(format!("{}/v1/chat/completions", up.base))
            .bearer_auth(TOKEN)
            .json(&json!({"model": "no-such-model", "messages": []}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, 404);
    assert_eq!(v["error"]["type"], "invalid_request_error");

    // Bodies the gateway cannot route are refused here, in OpenAI's shape, with no upstream call.
    let before = up.upstream_requests();
    for bad in [
        json!({"messages": []}),
        json!({"model": 7, "messages": []}),
        json!([1, 2]),
        json!([FLASH]),
    ] {
        let (s, v, _) = body(
            up.http
                .post(format!("{}/v1/chat/completions", up.base))
                .bearer_auth(TOKEN)
                .json(&bad)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(s, 400, "{bad}");
        assert_eq!(v["error"]["type"], "invalid_request_error", "{v}");
    }
    assert_eq!(up.upstream_requests(), before);
}

/// Issue 15: a web page in the user's browser can never drive a tokenless loopback gateway.
/// Each attack shape is refused with 403 before anything runs: no file written, no upstream call.
#[tokio::test]
async fn a_browser_page_cannot_drive_a_tokenless_gateway() {
    let up = up_with(&[], None).await;
    let strategy =
        json!({"description": "buy when rsi < 30", "provider": "offline", "name": "Pwned"});
    let generate = format!("{}/v1beta/models/{FLASH}:generateContent", up.base);
    let attacks: Vec<(&str, reqwest::RequestBuilder)> = vec![
        (
            "a cross-site text/plain POST (no preflight) writing a strategy",
            up.http
                .post(format!("{}/v1/strategies", up.base))
                .header("origin", "https://evil.example")
                .header("content-type", "text/plain;charset=UTF-8")
                .body(strategy.to_string()),
        ),
        (
            "the same without Origin (an old browser, a form)",
            up.http
                .post(format!("{}/v1/strategies", up.base))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(strategy.to_string()),
        ),
        (
            "a cross-site JSON fetch",
            up.http
                .post(&generate)
                .header("origin", "https://evil.example")
                .header("sec-fetch-site", "cross-site")
                .json(&prompt("spend a call")),
        ),
        (
            "DNS rebinding: evil.example resolved to 127.0.0.1",
            up.http
                .post(&generate)
                .header("host", "evil.example:8080")
                .json(&prompt("spend a call")),
        ),
        (
            "a rebinding GET of the model list",
            up.http
                .get(format!("{}/v1beta/models", up.base))
                .header("host", "evil.example"),
        ),
        (
            "a sandboxed page (Origin: null)",
            up.http
                .post(&generate)
                .header("origin", "null")
                .json(&prompt("spend a call")),
        ),
        (
            "a CORS preflight while CORS is off",
            up.http
                .request(reqwest::Method::OPTIONS, &generate)
                .header("origin", "https://evil.example")
                .header("access-control-request-method", "POST"),
        ),
    ];
    for (what, request) in attacks {
        let r = request.send().await.unwrap();
        assert_eq!(r.status(), 403, "{what}");
        assert!(
            r.headers().get("access-control-allow-origin").is_none(),
            "{what}"
        );
    }
    assert_eq!(up.upstream_requests(), 0, "nothing reached upstream");
    assert!(!up.dir.path().join("codes").exists(), "no file was written");

    // The SDKs' shape still works, and so does the gateway's own page.
    let r = up
        .http
        .post(&generate)
        .json(&prompt("hello"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let own = up.base.trim_start_matches("http://").to_owned();
    let r = up
        .http
        .get(format!("{}/v1/keys/health", up.base))
        .header("origin", format!("http://{own}"))
        .header("sec-fetch-site", "same-origin")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // Without an admin token the admin routes do not exist.
    for path in ["/v1/keys/k2/disable", "/v1/keys/reload"] {
        let r = up
            .http
            .post(format!("{}{path}", up.base))
            .bearer_auth(ADMIN)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404, "{path}");
    }
}

/// Issue 15: every route that calls upstream, writes or changes state sits behind an auth
/// layer. Driven by the OpenAPI document, so a route added there without one fails here: each
/// operation not marked public (`"security": []`) answers 401 without a token, and nothing
/// reaches upstream.
#[tokio::test]
async fn every_route_but_the_public_ones_needs_a_token() {
    let up = up(&[TOKEN]).await;
    let doc: Value = up
        .http
        .get(format!("{}/openapi.json", up.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut checked = 0;
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for (method, op) in ops.as_object().unwrap() {
            let url = format!(
                "{}{}",
                up.base,
                path.replace("{model}", FLASH)
                    .replace("{key_id}", "k2")
                    .replace("{id}", "abc123")
            );
            let m = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let r = up
                .http
                .request(m, &url)
                .header("content-type", "application/json")
                .body(prompt("hi").to_string())
                .send()
                .await
                .unwrap();
            let public = op["security"].as_array().is_some_and(Vec::is_empty);
            if public {
                assert_ne!(r.status(), 401, "{method} {path} is public");
            } else {
                assert_eq!(r.status(), 401, "{method} {path} needs a token");
                checked += 1;
            }
        }
    }
    assert!(
        checked >= 12,
        "{checked} guarded operations in the document"
    );
    // The bot API, which the document does not describe.
    for path in ["/v1/strategies", "/v1/backtests"] {
        let r = up
            .http
            .post(format!("{}{path}", up.base))
            .json(&json!({"description": "buy when rsi < 30", "provider": "offline"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "{path}");
    }
    assert_eq!(up.upstream_requests(), 0);
    assert!(!up.dir.path().join("codes").exists());
}

#[test]
fn an_open_address_needs_tokens() {
    let open: std::net::SocketAddr = "0.0.0.0:8080".parse().unwrap();
    let local: std::net::SocketAddr = "127.0.0.1:8080".parse().unwrap();
    let e = check_bind(open, &[]).unwrap_err().to_string();
    assert!(e.contains("set BOTFORGE_CLIENT_TOKENS"), "{e}");
    assert!(check_bind(open, &[SecretString::from("t")]).is_ok());
    assert!(check_bind(local, &[]).is_ok());
}

/// The official `google-genai` and `openai` packages (pinned in the CI venv) through the
/// gateway: generate, stream, count, list, and a wrong token; the upstream failure of the
/// revoked key stays hidden and no provider key reaches them.
#[tokio::test]
async fn the_official_sdks_work_through_the_gateway() {
    let Some(python) = std::env::var_os("BOTFORGE_PYTHON") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "BOTFORGE_PYTHON is not set: .ci/run creates the SDK venv and sets it"
        );
        return;
    };
    let up = up(&[TOKEN]).await;
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/python/gateway_sdks.py"
    );
    let base = up.base.clone();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(python)
            .arg(script)
            .arg(base)
            .arg(TOKEN)
            .output()
    })
    .await
    .unwrap()
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    no_key_material(&stdout);
    no_key_material(&stderr);
    let found: Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(found["genai_wrong_token"], 403);
    assert_eq!(found["openai_wrong_token"], 403);
    assert!(found["genai_stream_chunks"].as_u64().unwrap() >= 1);
    assert_eq!(found["genai_embeddings"], 2);
    assert_eq!(found["openai_embeddings"], 3);
    assert!(found["genai_file"].as_str().unwrap().starts_with("files/"));
    assert!(
        found["genai_cache"]
            .as_str()
            .unwrap()
            .starts_with("cachedContents/")
    );
    let stats = up.sim.sim.stats();
    assert_eq!((stats.files_created, stats.caches_created), (1, 1));
    assert!(
        found["genai_batch"]
            .as_str()
            .unwrap()
            .starts_with("batches/")
    );
    assert_eq!(
        found["genai_interactions"].as_array().map(Vec::len),
        Some(2)
    );
    assert_eq!((stats.batches_created, stats.interactions_created), (1, 2));
    assert_eq!(
        stats.embeddings, 5,
        "both SDKs' embeddings went through the gateway"
    );
    assert_eq!(stats.keys.get("k1").map_or(0, |c| c.successes), 0);
    // Either healthy key may have served them all (the pick is random).
    let served = |id: &str| stats.keys.get(id).map_or(0, |c| c.successes);
    assert!(served("k2") + served("k3") >= 8, "{stats:?}");
}

/// A GET of the gateway's `path` with the token; (status, JSON, text).
async fn get_with_token(up: &Up, path: &str) -> (u16, Value, String) {
    body(
        up.http
            .get(format!("{}{path}", up.base))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap(),
    )
    .await
}

/// A native POST with the gateway token; (status, JSON, text).
async fn gemini_post(http: &reqwest::Client, url: String, json: &Value) -> (u16, Value, String) {
    body(
        http.post(url)
            .header("x-goog-api-key", TOKEN)
            .json(json)
            .send()
            .await
            .unwrap(),
    )
    .await
}

/// Issue 15 item 4: embeddings on both protocols go through the pool like generation: rotated
/// (the revoked key set aside), counted in their (project, model) bucket, in the metrics, and a
/// bad body is refused before any upstream call.
#[tokio::test]
async fn embeddings_rotate_and_count_on_both_protocols() {
    let up = up(&[TOKEN]).await;
    let embed = "gemini-embedding-001";
    let url = |method: &str| format!("{}/v1beta/models/{embed}:{method}", up.base);
    for i in 0..4 {
        let (s, v, text) = gemini_post(
            &up.http,
            url("embedContent"),
            &json!({"content": {"parts": [{"text": format!("text {i}")}]}}),
        )
        .await;
        assert_eq!(s, 200, "{text}");
        assert_eq!(v["embedding"]["values"].as_array().unwrap().len(), 3072);
        no_key_material(&text);
    }
    let request = |t: &str| {
        json!({"model": format!("models/{embed}"), "content": {"parts": [{"text": t}]},
               "outputDimensionality": 8})
    };
    let (s, v, text) = gemini_post(
        &up.http,
        url("batchEmbedContents"),
        &json!({"requests": [request("a"), request("b"), request("c")]}),
    )
    .await;
    assert_eq!(s, 200, "{text}");
    let embeddings = v["embeddings"].as_array().unwrap();
    assert_eq!(embeddings.len(), 3);
    assert!(
        embeddings
            .iter()
            .all(|e| e["values"].as_array().unwrap().len() == 8)
    );
    let (s, v, text) = body(
        up.http
            .post(format!("{}/v1/embeddings", up.base))
            .bearer_auth(TOKEN)
            .json(&json!({"model": embed, "input": ["x", "y"]}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, 200, "{text}");
    assert_eq!(v["data"].as_array().unwrap().len(), 2);
    assert!(v["usage"]["prompt_tokens"].as_u64().unwrap() > 0);

    // Upstream's own refusal (a request naming another model) is the caller's: no key cools.
    let other = json!({"requests": [{"model": "models/gemini-2.5-flash", "content": {"parts": [{"text": "a"}]}}]});
    let (s, _, text) = gemini_post(&up.http, url("batchEmbedContents"), &other).await;
    assert_eq!(s, 400, "{text}");
    // A body that is no object never goes upstream.
    let before = up.upstream_requests();
    let r = up
        .http
        .post(url("embedContent"))
        .header("x-goog-api-key", TOKEN)
        .header("content-type", "application/json")
        .body("[1, 2]")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(up.upstream_requests(), before);

    let stats = up.sim.sim.stats();
    assert_eq!(stats.embeddings, 4 + 3 + 2);
    let served = |id: &str| stats.keys.get(id).map_or(0, |c| c.successes);
    assert_eq!(served("k1"), 0);
    assert_eq!(served("k2") + served("k3"), 6, "{stats:?}");
    // The revoked k1 met at most once: its call and the probe that confirmed it broken.
    assert!(
        stats.keys.get("k1").map_or(0, |c| c.requests) <= 2,
        "{stats:?}"
    );
    // Counted in the embedding model's buckets, and every key is still active.
    let (_, health, _) = get_with_token(&up, "/v1/keys/health").await;
    let rows = health["keys"].as_array().unwrap();
    let used: u64 = rows
        .iter()
        .filter(|r| r["model"] == embed)
        .map(|r| r["rpm_used"].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(used, 7, "{health}");
    assert!(
        rows.iter()
            .filter(|r| r["key_id"] != "k1")
            .all(|r| r["state"] == "active"),
        "{health}"
    );
    let (_, _, metrics) = get_with_token(&up, "/metrics").await;
    for route in ["embedContent", "batchEmbedContents", "embeddings"] {
        assert!(
            metrics.contains(&format!("route=\"{route}\",status=\"200\"")),
            "{route}: {metrics}"
        );
    }
}
