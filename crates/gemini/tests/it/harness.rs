//! A simulator on a free loopback port plus a rotating client whose pool points at it.

use std::sync::Arc;
use std::time::Duration;

use gemini::{ClientConfig, GeminiClient, RotatingClient};
use gemini_sim::{SimConfig, SimHandle};
use keypool::{Clock, Environment, FailoverPolicy, KeyPool, PoolConfig, SystemClock};

pub const FLASH: &str = "gemini-2.5-flash";

pub fn prompt(text: &str) -> gemini::GenerateContentRequest {
    gemini::GenerateContentRequest::from_prompt(text)
}

pub struct Harness {
    pub sim: SimHandle,
    pub client: RotatingClient,
    _dir: tempfile::TempDir,
}

impl Harness {
    pub fn pool(&self) -> &KeyPool {
        self.client.pool()
    }

    pub fn row(&self, key_id: &str) -> keypool::KeyReport {
        self.pool()
            .health()
            .unwrap()
            .keys
            .into_iter()
            .find(|r| r.key_id == key_id)
            .unwrap_or_else(|| panic!("no key {key_id}"))
    }
}

pub struct Setup<'a> {
    pub sim_toml: &'a str,
    /// keys.json of the pool; `GEMINI_KEY_<id>` = `test-key-<id>` for each entry.
    pub keys_json: &'a str,
    pub extra_env: &'a [(&'a str, &'a str)],
    pub first_byte_timeout: Duration,
    pub policy: FailoverPolicy,
    /// The pool's clock (a `ScaledClock` beside a time-scaled simulator).
    pub clock: Arc<dyn Clock>,
}

impl Default for Setup<'_> {
    fn default() -> Self {
        Self {
            sim_toml: "",
            keys_json: r#"{"keys": []}"#,
            extra_env: &[],
            first_byte_timeout: Duration::from_secs(10),
            policy: FailoverPolicy::default(),
            clock: Arc::new(SystemClock),
        }
    }
}

/// [`start`] with the defaults but for the simulator's and the pool's configuration.
pub async fn start_plain(sim_toml: &str, keys_json: &str) -> Harness {
    start(Setup {
        sim_toml,
        keys_json,
        ..Setup::default()
    })
    .await
}

pub async fn start(setup: Setup<'_>) -> Harness {
    let config = SimConfig::from_toml("test sim", setup.sim_toml).unwrap();
    let sim = gemini_sim::spawn(config, "127.0.0.1:0").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys.json");
    std::fs::write(&keys, setup.keys_json).unwrap();
    let v: serde_json::Value = serde_json::from_str(setup.keys_json).unwrap();
    let mut pairs: Vec<(String, String)> = vec![
        ("ENABLE_KEY_ROTATION".into(), "true".into()),
        ("KEYS_FILE".into(), keys.display().to_string()),
        ("GEMINI_BASE_URL".into(), sim.base_url()),
    ];
    for k in v["keys"].as_array().unwrap() {
        let id = k["key_id"].as_str().unwrap();
        pairs.push((format!("GEMINI_KEY_{id}"), format!("test-key-{id}")));
    }
    pairs.extend(
        setup
            .extra_env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    let env = Environment::from_pairs(pairs);
    let pool = KeyPool::in_memory(&PoolConfig::load(&env, &env).unwrap(), setup.clock).unwrap();
    let cfg = ClientConfig {
        first_byte_timeout: setup.first_byte_timeout,
        total_timeout: Duration::from_secs(20),
        stream_idle_timeout: setup.first_byte_timeout,
        ..ClientConfig::from_env(&env)
    };
    let client = RotatingClient::new(Arc::new(pool), GeminiClient::new(cfg).unwrap())
        .with_policy(setup.policy);
    Harness {
        sim,
        client,
        _dir: dir,
    }
}

/// `[[keys]]` entries for the simulator: `id`, material `test-key-<id>`, project, state.
pub fn sim_keys(keys: &[(&str, &str, &str)]) -> String {
    use std::fmt::Write;
    keys.iter().fold(String::new(), |mut out, (id, project, state)| {
        let _ = writeln!(
            out,
            "[[keys]]\nid = \"{id}\"\nkey = \"test-key-{id}\"\nproject = \"{project}\"\nstate = \"{state}\""
        );
        out
    })
}

/// keys.json for the pool: flash keys with generous limits in the given projects.
pub fn pool_keys(keys: &[(&str, &str)]) -> String {
    let entries: Vec<String> = keys
        .iter()
        .map(|(id, project)| {
            format!(r#"{{"key_id": "{id}", "project": "{project}", "rpm": 100000, "tpm": 100000000, "rpd": 100000000}}"#)
        })
        .collect();
    format!(r#"{{"keys": [{}]}}"#, entries.join(","))
}

/// Two keys in two projects; every request that reaches k1 meets `kind`.
pub async fn faulty_k1(kind: &str, extra: &str, first_byte: Duration) -> Harness {
    let sim_toml = format!(
        "{}\n[[faults]]\nkey = \"k1\"\nkind = \"{kind}\"\nprobability = 1.0\n{extra}\n",
        sim_keys(&[("k1", "p1", "valid"), ("k2", "p2", "valid")])
    );
    let keys = pool_keys(&[("k1", "p1"), ("k2", "p2")]);
    start(Setup {
        sim_toml: &sim_toml,
        keys_json: &keys,
        first_byte_timeout: first_byte,
        ..Setup::default()
    })
    .await
}
