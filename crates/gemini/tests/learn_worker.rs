//! A worker process for the multi-process learning test (tests/it/shared.rs): one process of a
//! gateway fleet, sharing its pool through Redis, against a time-scaled simulator.
//!
//! `gemini-learn-worker REDIS_URL PREFIX KEYS_JSON SIM_BASE ANCHOR_MS SCALE ID PHASE...`:
//! a pool on Redis under `PREFIX` whose keys are `KEYS_JSON`'s (material `test-key-<id>`), on
//! a clock that started at wall-clock `ANCHOR_MS` running `SCALE` times faster (every worker
//! reads the same time), calling the simulator at `SIM_BASE`. Each `PHASE` is
//! `START_MS:REQUESTS`: from wall-clock `START_MS` on, that many requests one after another
//! (waiting for capacity). Prints `DONE <phase> <request>` per answer, then
//! `LIMIT <rpm> <source>` as its pool's health shows the flash bucket.
#![expect(
    clippy::unwrap_used,
    clippy::print_stdout,
    clippy::panic,
    reason = "a test helper program"
)]

use std::sync::Arc;
use std::time::Duration;

use gemini::{CallOptions, ClientConfig, GeminiClient, RotatingClient};
use keypool::{
    Clock, Environment, FailoverPolicy, KeyPool, PoolConfig, PoolOptions, RedisOptions, RedisStore,
    RedisTime, ScaledClock, SystemClock,
};

const FLASH: &str = "gemini-2.5-flash";

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [url, prefix, keys, sim, anchor, scale, id, phases @ ..] = args.as_slice() else {
        panic!(
            "usage: gemini-learn-worker URL PREFIX KEYS_JSON SIM_BASE ANCHOR_MS SCALE ID PHASE..."
        );
    };
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(keys).unwrap()).unwrap();
    let mut pairs = vec![
        ("ENABLE_KEY_ROTATION".to_owned(), "true".to_owned()),
        ("KEYS_FILE".to_owned(), keys.clone()),
        ("GEMINI_BASE_URL".to_owned(), sim.clone()),
    ];
    for k in v["keys"].as_array().unwrap() {
        let key_id = k["key_id"].as_str().unwrap();
        pairs.push((format!("GEMINI_KEY_{key_id}"), format!("test-key-{key_id}")));
    }
    let env = Environment::from_pairs(pairs);
    let config = PoolConfig::load(&env, &env).unwrap();
    let clock: Arc<dyn Clock> = Arc::new(ScaledClock::since(
        anchor.parse().unwrap(),
        scale.parse().unwrap(),
    ));
    let store = RedisStore::connect(
        url,
        RedisOptions {
            prefix: prefix.clone(),
            // Windows on the scaled clock (passed with each call); the store's timeouts and
            // heartbeats stay on real time, as the network's latency does.
            time: RedisTime::Client,
            ..RedisOptions::default()
        },
    )
    .await
    .unwrap();
    let pool = KeyPool::new(&config, store, clock, PoolOptions::default()).unwrap();
    let http = GeminiClient::new(ClientConfig {
        total_timeout: Duration::from_secs(20),
        ..ClientConfig::from_env(&env)
    })
    .unwrap();
    let client = RotatingClient::new(Arc::new(pool), http).with_policy(FailoverPolicy {
        wait_for_capacity: true,
        deadline: Duration::from_secs(600),
        ..FailoverPolicy::default()
    });
    for (p, phase) in phases.iter().enumerate() {
        let (start, n) = phase.split_once(':').unwrap();
        let (start, n): (i64, usize) = (start.parse().unwrap(), n.parse().unwrap());
        let wait = u64::try_from(start - SystemClock.now_ms()).unwrap_or(0);
        tokio::time::sleep(Duration::from_millis(wait)).await;
        for i in 0..n {
            let prompt = gemini::GenerateContentRequest::from_prompt(format!("w{id} p{p} r{i}"));
            client
                .generate(FLASH, &prompt, CallOptions::default())
                .await
                .unwrap_or_else(|e| panic!("worker {id}, phase {p}, request {i}: {e}"));
            println!("DONE {p} {i}");
        }
    }
    client.pool().refresh().await.unwrap();
    let health = client.pool().health().unwrap();
    let row = health.keys.iter().find(|r| r.model == FLASH).unwrap();
    println!(
        "LIMIT {} {}",
        row.rpm_limit.map_or("none".to_owned(), |l| l.to_string()),
        serde_json::to_value(row.rpm_limit_source).unwrap()
    );
}
