//! Shared inputs: environments, key files, pools on a manual clock.

use std::path::PathBuf;
use std::sync::Arc;

use keypool::{
    AnyStore, Environment, KeyPool, ManualClock, MemoryStore, Outcome, PoolConfig, PoolOptions,
    SelectRequest,
};

/// The pool under test, on either backend.
pub type Pool = KeyPool<AnyStore>;

/// Which state backend a test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Memory,
    /// Redis, under a key prefix of the test's own.
    Redis(u64),
}

/// Where the Redis tests connect: `BOTFORGE_TEST_REDIS_URL`, or the local server.
pub fn redis_url() -> String {
    std::env::var("BOTFORGE_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379/".into())
}

/// Whether Redis answers. Under CI a missing Redis fails the test; elsewhere it is skipped.
pub async fn redis_available() -> bool {
    let ok = keypool::RedisStore::connect(&redis_url(), keypool::RedisOptions::default())
        .await
        .is_ok();
    if !ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "Redis is not answering at {}: .ci/run starts one",
            redis_url()
        );
        eprintln!("skipped: Redis is not answering at {}", redis_url());
    }
    ok
}

/// A Redis store under exactly `prefix` (processes that share state use one prefix), on the
/// client's clock.
pub async fn shared_store(prefix: &str) -> keypool::RedisStore {
    keypool::RedisStore::connect(
        &redis_url(),
        keypool::RedisOptions {
            prefix: prefix.to_owned(),
            time: keypool::RedisTime::Client,
            ..keypool::RedisOptions::default()
        },
    )
    .await
    .unwrap()
}

/// A fresh store; Redis ones get a key prefix of their own and run on the test's clock.
pub async fn store(b: Backend) -> AnyStore {
    match b {
        Backend::Memory => AnyStore::Memory(MemoryStore::new()),
        Backend::Redis(id) => {
            let options = keypool::RedisOptions {
                // Each pool of a test gets its own space under the test's prefix.
                prefix: format!("{}:{:x}", prefix(id), random_id()),
                time: keypool::RedisTime::Client,
                ..keypool::RedisOptions::default()
            };
            AnyStore::Redis(Box::new(
                keypool::RedisStore::connect(&redis_url(), options)
                    .await
                    .unwrap(),
            ))
        }
    }
}

/// A pool on the Redis at `url` under `prefix`, on the system clock (tests of real outages and
/// of several processes).
pub async fn redis_pool(url: &str, prefix: &str, config: &PoolConfig) -> Pool {
    let store = keypool::RedisStore::connect(
        url,
        keypool::RedisOptions {
            prefix: prefix.to_owned(),
            ..keypool::RedisOptions::default()
        },
    )
    .await
    .unwrap();
    KeyPool::new(
        config,
        AnyStore::Redis(Box::new(store)),
        Arc::new(keypool::SystemClock),
        PoolOptions::default(),
    )
    .unwrap()
}

pub fn prefix(id: u64) -> String {
    format!("bftest:{}:{id:x}", std::process::id())
}

/// Deletes every key a Redis test made.
pub async fn cleanup(id: u64) {
    let client = redis::Client::open(redis_url()).unwrap();
    let mut con = client.get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{}:*", prefix(id)))
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

/// A random id (tests must not share Redis keys).
pub fn random_id() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(0);
    h.finish()
}

/// Runs each listed `async fn name(b: Backend)` as `name::memory` and `name::redis`.
#[macro_export]
macro_rules! backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test]
            async fn memory() {
                super::$name($crate::fixtures::Backend::Memory).await;
            }
            #[tokio::test]
            async fn redis() {
                if $crate::fixtures::redis_available().await {
                    let id = $crate::fixtures::random_id();
                    super::$name($crate::fixtures::Backend::Redis(id)).await;
                    $crate::fixtures::cleanup(id).await;
                }
            }
        }
    )*};
}

/// 2026-01-15T12:00:00Z, a plain winter weekday (PST).
pub const T0: &str = "2026-01-15T12:00:00Z";
pub const FLASH: &str = "gemini-2.5-flash";
pub const PRO: &str = "gemini-2.5-pro";

pub fn env(pairs: &[(&str, &str)]) -> Environment {
    Environment::from_pairs(pairs.iter().map(|(k, v)| (*k, *v)))
}

/// A keys.json in a fresh temporary folder.
pub struct KeysFile {
    _dir: tempfile::TempDir,
    pub path: PathBuf,
}

impl KeysFile {
    pub fn new(json: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys.json");
        std::fs::write(&path, json).unwrap();
        Self { _dir: dir, path }
    }

    pub fn var(&self) -> (&'static str, String) {
        ("KEYS_FILE", self.path.display().to_string())
    }
}

/// The rotation config of a keys.json; material `test-key-<id>-material` for every entry.
pub fn config_of(json: &str) -> PoolConfig {
    config_with(json, &[])
}

fn config_with(json: &str, extra: &[(&str, &str)]) -> PoolConfig {
    let file = KeysFile::new(json);
    let v: serde_json::Value = serde_json::from_str(json).unwrap();
    let mut pairs: Vec<(String, String)> = vec![
        ("ENABLE_KEY_ROTATION".into(), "true".into()),
        ("KEYS_FILE".into(), file.path.display().to_string()),
    ];
    for k in v["keys"].as_array().unwrap() {
        let id = k["key_id"].as_str().unwrap();
        pairs.push((
            format!("GEMINI_KEY_{id}"),
            format!("test-key-{id}-material"),
        ));
    }
    pairs.extend(
        extra
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    let env = Environment::from_pairs(pairs);
    PoolConfig::load(&env, &env).unwrap()
}

/// A rotation pool from a keys.json ([`config_of`]) on a manual clock.
pub async fn pool_with_file(b: Backend, json: &str, extra: &[(&str, &str)]) -> (Pool, ManualClock) {
    let config = config_with(json, extra);
    let clock = ManualClock::at(T0).unwrap();
    let pool = KeyPool::new(
        &config,
        store(b).await,
        Arc::new(clock.clone()),
        PoolOptions::default(),
    )
    .unwrap();
    (pool, clock)
}

/// `n` keys `k0..` in their own projects, serving flash with the given limits.
pub fn keys_json(ids: &[(&str, Option<&str>)], rpm: u64, tpm: u64, rpd: u64) -> String {
    let entries: Vec<String> = ids
        .iter()
        .map(|(id, project)| {
            let project = project.map_or(String::new(), |p| format!(r#", "project": "{p}""#));
            format!(
                r#"{{"key_id": "{id}", "model_name": "{FLASH}", "rpm": {rpm}, "tpm": {tpm}, "rpd": {rpd}{project}}}"#
            )
        })
        .collect();
    format!(r#"{{"keys": [{}]}}"#, entries.join(", "))
}

/// Selects and reports success; returns the key id.
pub async fn use_once(pool: &Pool, model: &str, tokens: u64) -> String {
    let lease = pool
        .select(&SelectRequest::new(model, tokens))
        .await
        .unwrap();
    let id = pool.key_id(&lease).to_owned();
    pool.report(
        lease,
        &Outcome::Success {
            input_tokens: tokens,
        },
    )
    .await
    .unwrap();
    id
}

/// The health row of a key.
pub fn row(pool: &Pool, key_id: &str) -> keypool::KeyReport {
    pool.health()
        .unwrap()
        .keys
        .into_iter()
        .find(|r| r.key_id == key_id)
        .unwrap_or_else(|| panic!("no row for {key_id}"))
}

pub fn transient() -> Outcome {
    Outcome::Transient {
        detail: "503 UNAVAILABLE".into(),
    }
}

/// A child process killed (and reaped) when dropped.
pub struct Killed(pub std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Whether a tool runs; under CI a missing one fails the test (`.ci/run` installs it).
pub fn tool(name: &str) -> bool {
    let found = std::process::Command::new(name)
        .arg("--version")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok();
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "`{name}` is missing: .ci/run installs it"
        );
        eprintln!("skipped: `{name}` is not installed");
    }
    found
}
