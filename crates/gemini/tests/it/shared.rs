//! Issue 14: a limit nobody declared is learned from Google's 429 once, through Redis, for every
//! process that shares it: four pools (each with its own Redis connection and caches, as four
//! processes have) send twice the project's quota for several windows and meet one 429.

use std::sync::Arc;
use std::time::Duration;

use gemini::{CallOptions, ClientConfig, GeminiClient, RotatingClient};
use keypool::{
    Clock, Environment, FailoverPolicy, KeyPool, LimitSource, PoolConfig, PoolOptions,
    RedisOptions, RedisStore, RedisTime, ScaledClock,
};

use crate::harness::{FLASH, prompt, sim_keys};

fn redis_url() -> String {
    std::env::var("BOTFORGE_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379/".into())
}

async fn delete_prefix(prefix: &str) {
    let client = redis::Client::open(redis_url()).unwrap();
    let mut con = client.get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}:*"))
        .query_async(&mut con)
        .await
        .unwrap();
    if !keys.is_empty() {
        let _: () = redis::cmd("DEL")
            .arg(keys)
            .query_async(&mut con)
            .await
            .unwrap();
    }
}

/// Four pools on one Redis prefix, each with its own connection and caches (as four
/// processes), on one scaled clock, with rotating clients that wait for capacity.
async fn four_pools(
    env: &Environment,
    prefix: &str,
    clock: &Arc<dyn Clock>,
) -> Vec<RotatingClient<RedisStore>> {
    let config = PoolConfig::load(env, env).unwrap();
    let mut clients = Vec::new();
    for _ in 0..4 {
        let store = RedisStore::connect(
            &redis_url(),
            RedisOptions {
                prefix: prefix.to_owned(),
                time: RedisTime::Client,
                ..RedisOptions::default()
            },
        )
        .await
        .unwrap();
        let pool = KeyPool::new(&config, store, Arc::clone(clock), PoolOptions::default()).unwrap();
        let http = GeminiClient::new(ClientConfig {
            total_timeout: Duration::from_secs(20),
            ..ClientConfig::from_env(env)
        })
        .unwrap();
        clients.push(
            RotatingClient::new(Arc::new(pool), http).with_policy(FailoverPolicy {
                wait_for_capacity: true,
                deadline: Duration::from_secs(600),
                ..FailoverPolicy::default()
            }),
        );
    }
    clients
}

/// `n` requests from each of the four clients at once, each client's one after another.
async fn load(clients: &[RotatingClient<RedisStore>], n: usize, tag: &str) {
    let run = |p: usize| {
        let c = clients[p].clone();
        async move {
            for i in 0..n {
                c.generate(
                    FLASH,
                    &prompt(&format!("{tag} p{p} r{i}")),
                    CallOptions::default(),
                )
                .await
                .unwrap_or_else(|e| panic!("{tag}: pool {p}, request {i}: {e}"));
            }
        }
    };
    tokio::join!(run(0), run(1), run(2), run(3));
}

#[tokio::test]
async fn four_pools_on_redis_learn_an_undeclared_limit_from_one_429() {
    if RedisStore::connect(&redis_url(), RedisOptions::default())
        .await
        .is_err()
    {
        assert!(
            std::env::var_os("CI").is_none(),
            "Redis must answer under CI"
        );
        return;
    }
    // A "minute" passes in a second on both sides; the project allows 3 requests a minute.
    let scale = 60.0;
    let sim_toml = format!(
        "time_scale = {scale}\n{}\n[projects.p1.\"{FLASH}\"]\nrpm = 3\n",
        sim_keys(&[("k1", "p1", "valid"), ("k2", "p1", "valid")])
    );
    let sim = gemini_sim::spawn(
        gemini_sim::SimConfig::from_toml("sim", &sim_toml).unwrap(),
        "127.0.0.1:0",
    )
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys.json");
    std::fs::write(
        &keys,
        r#"{"keys": [{"key_id": "k1", "project": "p1"}, {"key_id": "k2", "project": "p1"}]}"#,
    )
    .unwrap();
    let env = Environment::from_pairs([
        ("ENABLE_KEY_ROTATION".to_owned(), "true".to_owned()),
        ("KEYS_FILE".to_owned(), keys.display().to_string()),
        ("GEMINI_BASE_URL".to_owned(), sim.base_url()),
        ("GEMINI_KEY_k1".to_owned(), "test-key-k1".to_owned()),
        ("GEMINI_KEY_k2".to_owned(), "test-key-k2".to_owned()),
    ]);
    let prefix = format!("botforge-test-learn-{}", std::process::id());
    delete_prefix(&prefix).await;
    let clock: Arc<dyn Clock> = Arc::new(ScaledClock::new(scale));
    let clients = four_pools(&env, &prefix, &clock).await;

    // One request from each pool at once: the project takes 3, Google's 429 to the fourth
    // teaches the limit to all four, and the fourth waits for a slot instead.
    Box::pin(load(&clients, 1, "first")).await;
    let first = sim.sim.stats().total;
    assert_eq!((first.successes, first.rate_limited), (4, 1), "{first:?}");
    // Then twice the quota for several minutes from all four: not one more 429.
    Box::pin(load(&clients, 5, "then")).await;
    let stats = sim.sim.stats();
    assert_eq!(stats.total.successes, 24, "{stats:?}");
    assert_eq!(
        stats.total.rate_limited, 1,
        "no 429 once learned: {stats:?}"
    );
    for (p, c) in clients.iter().enumerate() {
        c.pool().refresh().await.unwrap();
        let health = c.pool().health().unwrap();
        let row = health
            .keys
            .iter()
            .find(|r| r.model == FLASH)
            .unwrap_or_else(|| panic!("pool {p}: no {FLASH} row"));
        assert_eq!(
            (row.rpm_limit, row.rpm_limit_source),
            (Some(3), LimitSource::Learned),
            "pool {p} holds what one of them learned"
        );
        assert!(row.active, "a 429 is the project's, not the key's");
    }
    delete_prefix(&prefix).await;
}
