//! What operators use: health, admin routes, limits, metrics, the OpenAPI document, the dashboard in
//! a browser, the bot API and key reloads.

use super::*;
use crate::browser::{artifact, assert_clean, browser};

#[tokio::test]
async fn health_admin_and_limits() {
    let up = up(&[TOKEN]).await;
    let get = |path: &str| up.http.get(format!("{}{path}", up.base));
    assert_eq!(get("/healthz").send().await.unwrap().status(), 200);
    assert_eq!(get("/readyz").send().await.unwrap().status(), 200);
    let (s, v, text) = body(
        get("/v1/keys/health")
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(v["keys"].as_array().unwrap().len(), 3);
    no_key_material(&text);

    // Admin routes need the admin token, not a client token.
    let disable = |token: &str| {
        up.http
            .post(format!("{}/v1/keys/k2/disable", up.base))
            .bearer_auth(token)
            .send()
    };
    assert_eq!(disable(TOKEN).await.unwrap().status(), 403);
    assert_eq!(disable(ADMIN).await.unwrap().status(), 200);
    let (_, v, _) = body(
        get("/v1/keys/health")
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap(),
    )
    .await;
    let k2 = v["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["key_id"] == "k2")
        .unwrap();
    assert_eq!(k2["state"], "disabled");
    let r = up
        .http
        .post(format!("{}/v1/keys/nope/enable", up.base))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);

    // Bodies over the limit are refused before anything else happens.
    let big = "x".repeat(128 * 1024);
    let r = up
        .http
        .post(format!("{}/v1beta/models/{FLASH}:generateContent", up.base))
        .header("x-goog-api-key", TOKEN)
        .json(&prompt(&big))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    let (s, v, _) = body(
        up.http
            .post(format!("{}/v1beta/models/{FLASH}:generateContent", up.base))
            .header("x-goog-api-key", TOKEN)
            .header("content-type", "application/json")
            .body("{not json")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, 400);
    assert_eq!(v["error"]["status"], "INVALID_ARGUMENT");
}

#[tokio::test]
async fn the_admin_token_counts_in_a_header_only() {
    let up = up(&[TOKEN]).await;
    let r = up
        .http
        .post(format!("{}/v1/keys/k2/disable?key={ADMIN}", up.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "not from the query string");
    let r = up
        .http
        .post(format!("{}/v1/keys/k2/disable", up.base))
        .header("x-goog-api-key", ADMIN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn an_exhausted_pool_says_when_to_come_back() {
    let up = up(&[TOKEN]).await;
    for id in ["k1", "k2", "k3"] {
        let r = up
            .http
            .post(format!("{}/v1/keys/{id}/disable", up.base))
            .bearer_auth(ADMIN)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    assert_eq!(
        up.http
            .get(format!("{}/readyz", up.base))
            .send()
            .await
            .unwrap()
            .status(),
        503
    );
    let (s, v, _) = body(
        up.http
            .post(format!("{}/v1beta/models/{FLASH}:generateContent", up.base))
            .header("x-goog-api-key", TOKEN)
            .json(&prompt("hi"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    // Nothing frees up by itself: 503, not 429.
    assert_eq!(s, 503, "{v}");
    assert_eq!(v["error"]["status"], "UNAVAILABLE");
}

/// `name{labels}` → value, from Prometheus' text format; panics on a malformed line.
fn parse_metrics(text: &str) -> std::collections::HashMap<String, f64> {
    let mut out = std::collections::HashMap::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let (name, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("malformed metrics line {line:?}"));
        let v: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("bad value in {line:?}"));
        out.insert(name.to_owned(), v);
    }
    out
}

#[tokio::test]
async fn metrics_parse_and_move_with_traffic() {
    let up = up(&[TOKEN]).await;
    let scrape = || async {
        let r = up
            .http
            .get(format!("{}/metrics", up.base))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert!(
            r.headers()[reqwest::header::CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with("text/plain; version=0.0.4"),
            "Prometheus' text format without an Accept for OpenMetrics"
        );
        let text = r.text().await.unwrap();
        assert!(!text.contains("# EOF"), "{text}");
        no_key_material(&text);
        parse_metrics(&text)
    };
    let ok = r#"botforge_gateway_requests_total{route="generateContent",status="200"}"#;
    let before = scrape().await;
    assert_eq!(before.get(ok), None);
    for i in 0..5 {
        let r = up
            .http
            .post(format!("{}/v1beta/models/{FLASH}:generateContent", up.base))
            .header("x-goog-api-key", TOKEN)
            .json(&prompt(&format!("count me {i}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    let after = scrape().await;
    assert_eq!(after[ok], 5.0);
    assert_eq!(
        after[r#"botforge_upstream_latency_seconds_count{route="generateContent"}"#],
        5.0
    );
    assert_eq!(
        after[r#"botforge_gateway_overhead_seconds_count{route="generateContent"}"#],
        5.0
    );
    assert!(after[r#"botforge_tokens_total{model="gemini-2.5-flash",kind="prompt"}"#] > 0.0);
    let successes: f64 = after
        .iter()
        .filter(|(k, _)| {
            k.starts_with("botforge_key_calls_total{") && k.contains(r#"result="success""#)
        })
        .map(|(_, v)| v)
        .sum();
    assert_eq!(successes, 5.0);
    // k2 serves any model: its rows are the buckets it used, else the default model's.
    let k2_active: Vec<f64> = after
        .iter()
        .filter(|(k, _)| {
            k.starts_with(r#"botforge_key_state{key_id="k2","#) && k.contains(r#"state="active""#)
        })
        .map(|(_, v)| *v)
        .collect();
    assert!(
        !k2_active.is_empty() && k2_active.iter().all(|v| *v == 1.0),
        "{after:?}"
    );
    let unauthorized = up
        .http
        .get(format!("{}/metrics", up.base))
        .send()
        .await
        .unwrap();
    assert_eq!(unauthorized.status(), 401);
}

/// Issue 37 (DESIGN.md §7): `/metrics` follows Prometheus' conventions, checked with a parser
/// of the text format: counters are `_total` counters, an unknown limit is absent (never -1),
/// every quota-bucket series carries `project` and `model`, used and limit are metrics of their
/// own, and `Accept` picks Prometheus' text format or OpenMetrics.
#[tokio::test]
async fn metrics_follow_prometheus_conventions_and_honour_accept() {
    let up = up(&[TOKEN]).await;
    let r = up
        .http
        .post(format!("{}/v1beta/models/{FLASH}:generateContent", up.base))
        .header("x-goog-api-key", TOKEN)
        .json(&prompt("count me"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let get = |accept: Option<&'static str>| {
        let mut rq = up
            .http
            .get(format!("{}/metrics", up.base))
            .bearer_auth(TOKEN);
        if let Some(a) = accept {
            rq = rq.header(reqwest::header::ACCEPT, a);
        }
        async move {
            let r = rq.send().await.unwrap();
            let ct = r.headers()[reqwest::header::CONTENT_TYPE]
                .to_str()
                .unwrap()
                .to_owned();
            (ct, r.text().await.unwrap())
        }
    };
    let (ct, open) = get(Some("application/openmetrics-text; version=1.0.0")).await;
    assert!(ct.starts_with("application/openmetrics-text"), "{ct}");
    assert!(open.trim_end().ends_with("# EOF"));
    let (ct, text) = get(Some("text/plain;version=0.0.4")).await;
    assert!(ct.starts_with("text/plain; version=0.0.4"), "{ct}");
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).unwrap();
    assert!(scrape.samples.len() > 10, "{text}");
    let mut counters = 0;
    let mut limits = 0;
    for sample in &scrape.samples {
        if let prometheus_parse::Value::Counter(v) = sample.value {
            counters += 1;
            assert!(sample.metric.ends_with("_total"), "{}", sample.metric);
            assert!(v >= 0.0);
        }
        if let prometheus_parse::Value::Gauge(v) | prometheus_parse::Value::Untyped(v) =
            sample.value
        {
            assert!(v >= 0.0, "{} {v}: no made-up -1", sample.metric);
        }
        if sample.metric.starts_with("botforge_bucket_") {
            assert!(
                sample.labels.get("project").is_some() && sample.labels.get("model").is_some(),
                "{sample:?}"
            );
        }
        if sample.metric == "botforge_bucket_limit" {
            limits += 1;
            assert_eq!(sample.labels.get("source"), Some("declared"), "{sample:?}");
        }
    }
    assert!(counters >= 3, "{text}");
    // Every key of `up` declares its three limits; the used side is its own metric.
    assert!(limits >= 3, "{text}");
    assert!(
        scrape
            .samples
            .iter()
            .any(|s| s.metric == "botforge_bucket_used")
    );
    assert!(
        !text.contains("botforge_key_usage"),
        "used and limit are separate metrics"
    );
}

#[tokio::test]
async fn the_openapi_document_lists_every_route() {
    let up = up(&[TOKEN]).await;
    let (s, v, _) = body(
        up.http
            .get(format!("{}/openapi.json", up.base))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, 200);
    assert!(v["openapi"].as_str().unwrap().starts_with("3.1"));
    for path in [
        "/v1beta/models/{model}:generateContent",
        "/v1beta/models/{model}:streamGenerateContent",
        "/v1beta/models/{model}:countTokens",
        "/v1beta/models/{model}:embedContent",
        "/v1beta/models/{model}:batchEmbedContents",
        "/v1beta/models",
        "/v1/chat/completions",
        "/v1/embeddings",
        "/v1/models",
        "/upload/v1beta/files",
        "/v1beta/files",
        "/v1beta/files/{id}",
        "/v1beta/cachedContents",
        "/v1beta/cachedContents/{id}",
        "/v1/keys/health",
        "/v1/keys/activity",
        "/v1/keys/{key_id}/disable",
        "/v1/keys/reload",
        "/metrics",
        "/healthz",
        "/readyz",
        "/",
    ] {
        assert!(v["paths"].get(path).is_some(), "{path} missing");
    }
}

/// Requests until k1 (revoked upstream) was picked, four more, and k3 disabled by an operator:
/// the requests sent.
async fn dashboard_traffic(up: &Up) -> u64 {
    // k1 is revoked upstream: the first request that picks it sets it aside (selection is
    // weighted at random, so send until that happened); k3 is disabled by an operator.
    let mut sent = 0;
    while up
        .sim
        .sim
        .stats()
        .keys
        .get("k1")
        .is_none_or(|c| c.requests == 0)
    {
        assert!(sent < 60, "k1 was never picked in 60 requests");
        let r = up
            .http
            .post(format!("{}/v1beta/models/{FLASH}:generateContent", up.base))
            .header("x-goog-api-key", TOKEN)
            .json(&prompt(&format!("warm {sent}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        sent += 1;
    }
    for _ in 0..4 {
        let r = up
            .http
            .post(format!("{}/v1beta/models/{FLASH}:generateContent", up.base))
            .header("x-goog-api-key", TOKEN)
            .json(&prompt("more"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        sent += 1;
    }
    let r = up
        .http
        .post(format!("{}/v1/keys/k3/disable", up.base))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    sent
}

/// `/v1/keys/activity` against what the simulator served: each key's calls (its total per
/// key returned), k1's refusal as `key_broken`, tokens where calls succeeded.
async fn checked_activity(up: &Up) -> (Value, std::collections::BTreeMap<String, u64>) {
    // What the charts read: every upstream call the simulator saw, per key, and each answer.
    let (code, activity, _) = body(
        up.http
            .get(format!("{}/v1/keys/activity", up.base))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(code, 200);
    assert_eq!(activity["shared"], false);
    let total = |row: &Value, field: &str| -> u64 {
        row["counts"][field]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap())
            .sum()
    };
    let served_by = up.sim.sim.stats();
    let mut calls = std::collections::BTreeMap::new();
    for row in activity["keys"].as_array().unwrap() {
        let id = row["key_id"].as_str().unwrap();
        let served = served_by.keys.get(id).map_or(0, |c| c.requests);
        calls.insert(id.to_owned(), total(row, "calls"));
        if id == "k1" {
            // Its one call was refused; the probe that confirmed the key broken is no call.
            assert_eq!(
                (total(row, "calls"), total(row, "key_broken"), served),
                (1, 1, 2)
            );
        } else {
            assert_eq!(total(row, "calls"), served, "{id}");
            assert_eq!(total(row, "tokens") > 0, served > 0, "{id}");
        }
    }
    (activity, calls)
}

/// The dashboard in Chromium (driven by Playwright): the charts show the last hour's calls per
/// key as `/v1/keys/activity` counts them (and those match what the simulator served), the
/// state table each key's state, the admin buttons disable and enable a key, nothing is asked
/// of any other host, and at 390 px nothing overflows while the charts and key ids show.
#[tokio::test]
async fn the_dashboard_charts_the_pools_traffic_and_its_buttons_work_in_a_browser() {
    let Some(chrome) = browser() else { return };
    let up = up(&[TOKEN]).await;
    let sent = dashboard_traffic(&up).await;
    let (activity, calls) = checked_activity(&up).await;
    let answered: u64 = activity["gateway"]["calls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert!(answered >= sent, "{answered} answers of {sent} requests");

    let page = up.http.get(format!("{}/", up.base)).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(
        html.contains("TradingView Lightweight Charts™ v5.2.1"),
        "the library is inlined"
    );
    assert!(!html.contains("<script src") && !html.contains("<link"));

    let base = format!("{}/", up.base);
    let url = format!("{base}#token={TOKEN}&admin={ADMIN}");
    let (desktop, narrow) = (artifact("dashboard.png"), artifact("dashboard-390.png"));
    let state = "window.botforgeDashboard.state()";
    let keys = |f: &str| {
        format!("window.botforgeDashboard && window.botforgeDashboard.state().keys.some(k => {f})")
    };
    let steps = json!([
        {"wait_for": "window.botforgeDashboard && window.botforgeDashboard.state().rounds > 0"},
        {"frames": 2},
        {"eval": state},
        {"eval": "document.documentElement.outerHTML"},
        {"screenshot": desktop, "full": true},
        {"click": "tr[data-key=k2] button[data-action=disable]"},
        {"wait_for": keys("k[0] === 'k2' && k[1] === 'disabled'")},
        {"click": "tr[data-key=k2] button[data-action=enable]"},
        {"wait_for": keys("k[0] === 'k2' && k[1] === 'active'")},
        {"viewport": [390, 900]},
        {"frames": 3},
        {"eval": "[document.scrollingElement.scrollWidth, window.innerWidth, ...['k1', 'k2', 'k3'].map(k => document.querySelector(`tr[data-key=${k}] td`).getBoundingClientRect().right), ...[...document.querySelectorAll('.chart')].map(c => c.getBoundingClientRect().width)]"},
        {"screenshot": narrow, "full": true},
    ]);
    let seen = tokio::task::spawn_blocking(move || chrome.run(&url, (1280, 900), &steps))
        .await
        .unwrap();
    assert_clean(&seen, &base);
    let r = &seen["results"];
    let shown = &r[0];
    assert_eq!(shown["admin"], true, "the admin token from the address");
    let key_states: Vec<(String, String)> = serde_json::from_value(shown["keys"].clone()).unwrap();
    assert_eq!(
        key_states,
        [("k1", "disabled"), ("k2", "active"), ("k3", "disabled")]
            .map(|(a, b)| (a.to_owned(), b.to_owned()))
    );
    // The calls chart has a line per key whose total is what the simulator served it.
    let chart = shown["charts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "calls")
        .unwrap();
    for line in chart["lines"].as_array().unwrap() {
        let id = line["name"].as_str().unwrap();
        assert_eq!(line["total"].as_u64(), calls.get(id).copied(), "{id}");
    }
    let errors = shown["charts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "errors")
        .unwrap();
    assert!(
        errors["lines"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["name"] == "key broken" && l["total"] == 1),
        "{errors}"
    );
    no_key_material(r[1].as_str().unwrap());
    // At 390 px: no sideways overflow, each key id and every chart within the width.
    let narrow_px: Vec<f64> = serde_json::from_value(r[2].clone()).unwrap();
    assert!(narrow_px[0] <= narrow_px[1], "{narrow_px:?}");
    for right in &narrow_px[2..5] {
        assert!(
            *right > 20.0 && *right <= narrow_px[1],
            "a key id: {narrow_px:?}"
        );
    }
    assert_eq!(narrow_px.len(), 5 + 6, "six charts");
    for width in &narrow_px[5..] {
        assert!(
            *width > 300.0 && *width <= narrow_px[1],
            "a chart: {narrow_px:?}"
        );
    }
}

#[tokio::test]
async fn the_bot_api_generates_saves_and_backtests() {
    let up = up(&[TOKEN]).await;
    let post = |path: &str, body: Value| {
        up.http
            .post(format!("{}{path}", up.base))
            .bearer_auth(TOKEN)
            .json(&body)
            .send()
    };
    let d = "buy when RSI(14) < 30, sell when RSI > 70";
    let (s, v, text) = body(
        post(
            "/v1/strategies",
            json!({"description": d, "name": "Rsi", "provider": "offline"}),
        )
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(s, 201, "{text}");
    assert_eq!(v["name"], "Rsi");
    assert_eq!(v["strategy"]["rules"]["entry_long"], "rsi_14 < 30");
    assert!(up.dir.path().join("codes/Rsi.toml").is_file());
    // The server's paths stay on the server.
    assert!(
        !text.contains(&up.dir.path().display().to_string()),
        "{text}"
    );
    let (s, _, _) = body(
        post(
            "/v1/strategies",
            json!({"description": d, "name": "Rsi", "provider": "offline"}),
        )
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(s, 409);
    let (s, v, _) = body(
        post(
            "/v1/strategies",
            json!({"description": "buy when the moon is full", "provider": "offline"}),
        )
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(s, 400);
    assert!(v["error"]["message"].as_str().unwrap().contains("moon"));
    // The simulator answers prose, never a strategy: three attempts, then an error, no file.
    let (s, _, _) = body(
        post(
            "/v1/strategies",
            json!({"description": "anything", "name": "Never"}),
        )
        .await
        .unwrap(),
    )
    .await;
    // The pool worked; the idea could not be expressed (issue 16).
    assert_eq!(s, 422);
    assert!(!up.dir.path().join("codes/Never.toml").exists());

    // A saved strategy on a data file from the data folder, and inline on the sample.
    let (s, by_name, text) = body(
        post(
            "/v1/backtests",
            json!({"strategy_name": "Rsi", "data": "GOOG.csv"}),
        )
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(s, 200, "{text}");
    assert!(by_name["trades"].as_u64().unwrap() > 0);
    assert!(by_name["trade_list"].is_array());
    let toml = std::fs::read_to_string(up.dir.path().join("codes/Rsi.toml")).unwrap();
    let (s, inline, _) = body(
        post("/v1/backtests", json!({"strategy": toml}))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, 200);
    // The bundled sample is GOOG: the same numbers.
    assert_eq!(inline["equity_final"], by_name["equity_final"]);
    assert_eq!(inline["data"], "sample");

    for (bad, want) in [
        (
            json!({"strategy_name": "Rsi", "data": "../data/GOOG.csv"}),
            404,
        ),
        (json!({"strategy_name": "Rsi", "data": "/etc/passwd"}), 404),
        (json!({"strategy_name": "../Rsi"}), 404),
        (json!({"strategy_name": "Nope"}), 404),
        (
            json!({"strategy": "name = \"x\"\n[rules]\nentry_long = \"close >\"\n"}),
            400,
        ),
        (json!({"strategy": "x", "strategy_name": "Rsi"}), 400),
        (json!({"strategy_name": "Rsi", "commission": 2.0}), 400),
    ] {
        let (s, v, _) = body(post("/v1/backtests", bad.clone()).await.unwrap()).await;
        assert_eq!(s, want, "{bad}: {v}");
        assert!(v["error"]["message"].is_string());
    }
}

pub(crate) fn key_row(health: &Value, key_id: &str) -> Value {
    health["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["key_id"] == key_id)
        .unwrap()
        .clone()
}

#[tokio::test]
async fn a_rotated_key_is_reloaded_without_a_restart() {
    let up = up(&[TOKEN]).await;
    let generate = || {
        up.http
            .post(format!("{}/v1beta/models/{FLASH}:generateContent", up.base))
            .header("x-goog-api-key", TOKEN)
            .json(&prompt("hi"))
            .send()
    };
    let health = || async {
        body(
            up.http
                .get(format!("{}/v1/keys/health", up.base))
                .bearer_auth(TOKEN)
                .send()
                .await
                .unwrap(),
        )
        .await
        .1
    };
    // k1's material is revoked upstream: traffic finds that out and deactivates it.
    for _ in 0..30 {
        assert_eq!(generate().await.unwrap().status(), 200);
        if key_row(&health().await, "k1")["state"] == "disabled" {
            break;
        }
    }
    assert_eq!(key_row(&health().await, "k1")["state"], "disabled");

    // The operator rotates k1 in the store and asks the gateway to reload.
    std::fs::write(
        up.dir.path().join(".env"),
        "GEMINI_KEY_k1=sim-material-k1-rotated\nGEMINI_KEY_k2=sim-material-k2\nGEMINI_KEY_k3=sim-material-k3\nGEMINI_KEY_k9=sim-material-k9\n",
    )
    .unwrap();
    let reload = |token: &str| {
        up.http
            .post(format!("{}/v1/keys/reload", up.base))
            .bearer_auth(token)
            .send()
    };
    assert_eq!(reload(TOKEN).await.unwrap().status(), 403, "admin only");
    let (s, v, text) = body(reload(ADMIN).await.unwrap()).await;
    assert_eq!(s, 200, "{text}");
    no_key_material(&text);
    assert_eq!(v["store"], "env");
    assert_eq!(v["rotated"], json!(["k1"]));
    assert_eq!(
        v["reenabled"],
        json!(["k1"]),
        "broken under the old material"
    );
    assert_eq!(v["missing"], json!([]));
    assert_eq!(v["not_in_pool"], json!(["GEMINI_KEY_k9"]));
    let k1 = key_row(&health().await, "k1");
    assert_eq!(k1["state"], "active", "{k1}");
    assert_eq!(k1["key_hint"], "…ated", "the hint follows the new material");

    // The new material works upstream.
    let before = k1["success_count"].as_u64().unwrap();
    for _ in 0..30 {
        assert_eq!(generate().await.unwrap().status(), 200);
        if key_row(&health().await, "k1")["success_count"]
            .as_u64()
            .unwrap()
            > before
        {
            break;
        }
    }
    let k1 = key_row(&health().await, "k1");
    assert!(k1["success_count"].as_u64().unwrap() > before, "{k1}");
    assert_eq!(k1["state"], "active");

    // Nothing changed since: a second reload rotates nothing.
    let (_, v, _) = body(reload(ADMIN).await.unwrap()).await;
    assert_eq!(v["rotated"], json!([]));
}
