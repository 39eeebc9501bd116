//! `botforge serve` end to end: the binary as a gateway in front of the simulator.

use super::*;

/// `keys.json` with the one key `a1` in `dir`, and a simulator that knows its material.
fn one_key_sim(dir: &Path) -> Listening {
    std::fs::write(
        dir.join("keys.json"),
        r#"{"keys": [{"key_id": "a1", "rpm": 1000, "tpm": 1000000, "rpd": 100000}]}"#,
    )
    .unwrap();
    start_sim(
        dir,
        "[[keys]]\nid = \"a1\"\nkey = \"sim-material-a1\"\nproject = \"p1\"\n",
    )
}

#[test]
fn serve_refuses_an_open_address_without_tokens_and_gateways_to_the_simulator() {
    let dir = tempfile::tempdir().unwrap();
    let sim = one_key_sim(dir.path());
    let env = [
        ("ENABLE_KEY_ROTATION", "true"),
        ("GEMINI_KEY_a1", "sim-material-a1"),
        ("GEMINI_BASE_URL", sim.base.as_str()),
    ];
    let open = botforge(dir.path(), &["serve", "--bind", "0.0.0.0:0"], &env);
    assert_eq!(open.status.code(), Some(1));
    assert!(
        text(&open.stderr).contains("without client tokens"),
        "{}",
        text(&open.stderr)
    );

    let mut cmd = Command::new(env!("CARGO_BIN_EXE_botforge"));
    cmd.args(["serve", "--bind", "127.0.0.1:0", "--token", "cli-token"])
        .current_dir(dir.path())
        .env_clear()
        .envs(env);
    let gateway = listening(&mut cmd);
    let base = &gateway.base;
    let out = Command::new("curl")
        .args([
            "-s",
            "-H",
            "x-goog-api-key: cli-token",
            "-H",
            "content-type: application/json",
        ])
        .arg("-d")
        .arg(r#"{"contents":[{"parts":[{"text":"hi"}]}]}"#)
        .arg(format!(
            "{base}/v1beta/models/gemini-2.5-flash:generateContent"
        ))
        .output();
    drop(gateway);
    let Ok(out) = out else {
        // No curl on this machine: the gateway itself is tested over HTTP in the server crate.
        return;
    };
    let body = text(&out.stdout);
    assert!(body.contains("Hello from"), "{body}");
    assert!(!body.contains("sim-material"));
}

/// `serve --workers 1` runs one event loop on one thread: it still serves many calls at once,
/// generate and stream alike, through the simulator.
#[tokio::test]
async fn serve_on_one_worker_thread_serves_concurrent_calls() {
    let dir = tempfile::tempdir().unwrap();
    let sim = one_key_sim(dir.path());
    let gateway = one_key_gateway(dir.path(), &sim.base, &["--workers", "1"], &[]);
    let client = reqwest::Client::new();
    let body = r#"{"contents":[{"parts":[{"text":"hi"}]}]}"#;
    let mut calls = tokio::task::JoinSet::new();
    for i in 0..24 {
        let action = if i % 3 == 0 {
            "streamGenerateContent?alt=sse"
        } else {
            "generateContent"
        };
        let request = client
            .post(format!(
                "{}/v1beta/models/gemini-2.5-flash:{action}",
                gateway.base
            ))
            .header("x-goog-api-key", "cli-token")
            .header("content-type", "application/json")
            .body(body);
        calls.spawn(async move {
            let r = request.send().await.unwrap();
            (action, r.status().as_u16(), r.text().await.unwrap())
        });
    }
    let mut streamed = 0;
    while let Some(done) = calls.join_next().await {
        let (action, status, text) = done.unwrap();
        assert_eq!(status, 200, "{action}: {text}");
        assert!(!text.contains("sim-material"));
        if action.starts_with("stream") {
            assert!(text.starts_with("data: "), "{text}");
            streamed += 1;
        } else {
            assert!(text.contains("Hello from"), "{text}");
        }
    }
    assert_eq!(streamed, 8);
    let refused = botforge(dir.path(), &["serve", "--workers", "0"], &[]);
    assert_ne!(refused.status.code(), Some(0));
    assert!(text(&refused.stderr).contains("--workers"));
}

/// Issue 14 item 4: a model the API did not list when the gateway started (released since)
/// shares the project's `*` bucket for its first call only; from its first answer on it has a
/// bucket of its own, so two such models stop sharing one limit.
#[tokio::test]
async fn serve_gives_a_model_missing_from_the_apis_list_a_bucket_once_it_is_served() {
    let g = OneKeyGateway::start(
        "models = [\"gemini-2.5-flash\"]\n\
         hidden_models = [\"gemini-9-pro-preview\", \"gemini-9-flash-preview\"]\n",
    );
    // Each model's first call counts in `*` (2 of its 3), the rest in its own bucket: 3 more
    // each. Sharing `*` alone, the two would get 3 together.
    g.answers(&["gemini-9-pro-preview", "gemini-9-flash-preview"], 4)
        .await;
    let (fifth, _) = g.generate("gemini-9-pro-preview").await;
    assert_eq!(fifth, 429, "3 a minute in its own bucket");
    let models = g.get_json("/v1/models").await;
    let listed: Vec<&str> = models["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["id"].as_str())
        .collect();
    assert!(
        listed.iter().any(|m| m.ends_with("gemini-9-flash-preview")),
        "the gateway lists what it adopted: {listed:?}"
    );
}

/// `botforge serve` over one key without `model_name` (`a1`, 3 a minute, in project `p1` of a
/// simulator whose model lines are given).
struct OneKeyGateway {
    _dir: tempfile::TempDir,
    _sim: Listening,
    gateway: Listening,
    client: reqwest::Client,
}

impl OneKeyGateway {
    fn start(sim_models: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("keys.json"),
            r#"{"keys": [{"key_id": "a1", "rpm": 3, "tpm": 1000000, "rpd": 100000}]}"#,
        )
        .unwrap();
        let sim = start_sim(
            dir.path(),
            &format!(
                "{sim_models}[[keys]]\nid = \"a1\"\nkey = \"sim-material-a1\"\nproject = \"p1\"\n"
            ),
        );
        let gateway = one_key_gateway(dir.path(), &sim.base, &[], &[]);
        Self {
            _dir: dir,
            _sim: sim,
            gateway,
            client: reqwest::Client::new(),
        }
    }

    /// `calls` calls of each of `models` in turn, each answered 200.
    async fn answers(&self, models: &[&str], calls: usize) {
        for model in models {
            for i in 0..calls {
                let (status, body) = self.generate(model).await;
                assert_eq!(status, 200, "{model} call {i}: {body}");
            }
        }
    }

    /// One `generateContent` of `model`: the status and the body.
    async fn generate(&self, model: &str) -> (u16, String) {
        say_hi(&self.client, &self.gateway.base, model).await
    }

    async fn get_json(&self, path: &str) -> serde_json::Value {
        self.client
            .get(format!("{}{path}", self.gateway.base))
            .bearer_auth("cli-token")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
}

/// Issue 14: a key without `model_name` keeps each model's limits apart, whatever model a
/// client names: the gateway asks the API at start which models it serves and gives each a
/// bucket of its own. Two models outside the built-in list each get their 3 a minute; a fourth
/// call of one of them is refused by the gateway before Google sees it.
#[tokio::test]
async fn serve_gives_every_model_the_api_serves_a_bucket_of_its_own() {
    let g = OneKeyGateway::start(
        "models = [\"gemini-2.5-flash\", \"gemini-9-pro-preview\", \"gemini-9-flash-preview\"]\n",
    );
    g.answers(&["gemini-9-pro-preview", "gemini-9-flash-preview"], 3)
        .await;
    let (fourth, _) = g.generate("gemini-9-pro-preview").await;
    assert_eq!(fourth, 429, "3 a minute for each model");
    let health = g.get_json("/v1/keys/health").await;
    let rows: Vec<(String, u64)> = health["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            (
                k["model"].as_str().unwrap().to_owned(),
                k["rpm_used"].as_u64().unwrap(),
            )
        })
        .collect();
    for model in ["gemini-9-pro-preview", "gemini-9-flash-preview"] {
        assert!(
            rows.contains(&(model.to_owned(), 3)),
            "{model} has a row of its own: {rows:?}"
        );
    }
}

/// DESIGN.md §7: with `REDIS_URL`, every gateway's dashboard charts the whole pool's traffic:
/// calls made through one gateway show in the other's `/v1/keys/activity`.
#[tokio::test]
async fn gateways_sharing_redis_chart_each_others_calls() {
    let url = "redis://127.0.0.1:6379/";
    let prefix = format!("bftest:activity:{}", std::process::id());
    let Ok(mut con) = redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
    else {
        assert!(
            std::env::var_os("CI").is_none(),
            "Redis must answer under CI"
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let sim = one_key_sim(dir.path());
    let shared = [
        ("REDIS_URL", url),
        ("BOTFORGE_REDIS_PREFIX", prefix.as_str()),
    ];
    let gateway = || one_key_gateway(dir.path(), &sim.base, &[], &shared);
    let (one, two) = (gateway(), gateway());
    let client = reqwest::Client::new();
    for _ in 0..3 {
        let (status, body) = say_hi(&client, &one.base, "gemini-2.5-flash").await;
        assert_eq!(status, 200, "{body}");
    }
    let calls = |doc: &serde_json::Value| -> u64 {
        doc["keys"][0]["counts"]["calls"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap())
            .sum()
    };
    let read = |base: &str| {
        client
            .get(format!("{base}/v1/keys/activity"))
            .header("x-goog-api-key", "cli-token")
            .send()
    };
    // The first gateway adds its counts when asked (or within 2 s); the second reads the sums.
    let first: serde_json::Value = read(&one.base).await.unwrap().json().await.unwrap();
    assert_eq!((first["shared"].as_bool(), calls(&first)), (Some(true), 3));
    let second: serde_json::Value = read(&two.base).await.unwrap().json().await.unwrap();
    assert_eq!(second["shared"], true);
    assert_eq!(second["keys"][0]["key_id"], "a1");
    assert_eq!(calls(&second), 3, "the other gateway's calls: {second}");
    let answered: u64 = second["gateway"]["calls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert!(answered >= 3, "{answered}");
    drop((one, two));
    forget_prefix(&mut con, &prefix).await;
}

/// `botforge serve` with the one key `a1` of a simulator at `sim`, the client token
/// `cli-token`, `args` after those and `env` besides.
fn one_key_gateway(dir: &Path, sim: &str, args: &[&str], env: &[(&str, &str)]) -> Listening {
    listening(
        Command::new(env!("CARGO_BIN_EXE_botforge"))
            .args(["serve", "--bind", "127.0.0.1:0", "--token", "cli-token"])
            .args(args)
            .current_dir(dir)
            .env_clear()
            .envs([
                ("ENABLE_KEY_ROTATION", "true"),
                ("GEMINI_KEY_a1", "sim-material-a1"),
                ("GEMINI_BASE_URL", sim),
            ])
            .envs(env.iter().copied()),
    )
}

/// One `generateContent` of `model` through the gateway at `base` (client token `cli-token`):
/// the status and the body.
async fn say_hi(client: &reqwest::Client, base: &str, model: &str) -> (u16, String) {
    let r = client
        .post(format!("{base}/v1beta/models/{model}:generateContent"))
        .header("x-goog-api-key", "cli-token")
        .header("content-type", "application/json")
        .body(r#"{"contents":[{"parts":[{"text":"hi"}]}]}"#)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}
