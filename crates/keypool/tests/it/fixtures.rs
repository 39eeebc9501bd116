//! Shared inputs: environments, key files, pools on a manual clock.

use std::path::PathBuf;
use std::sync::Arc;

use keypool::{Environment, KeyPool, ManualClock, Outcome, PoolConfig, SelectRequest};

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

/// A rotation pool from a keys.json; material `test-key-<id>-material` for every entry.
pub fn pool_with_file(json: &str, extra: &[(&str, &str)]) -> (KeyPool, ManualClock) {
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
    let config = PoolConfig::load(&env, &env).unwrap();
    let clock = ManualClock::at(T0).unwrap();
    let pool = KeyPool::in_memory(&config, Arc::new(clock.clone())).unwrap();
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
pub async fn use_once(pool: &KeyPool, model: &str, tokens: u64) -> String {
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
pub fn row(pool: &KeyPool, key_id: &str) -> keypool::KeyReport {
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
