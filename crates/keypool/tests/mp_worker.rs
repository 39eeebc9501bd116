//! A worker process for the multi-process tests of the Redis backend (tests/it/multiprocess.rs).
//!
//! `keypool-mp-worker load URL PREFIX KEYS_JSON WINDOW_MS RUN_MS TASKS`: TASKS concurrent loops select,
//! then report success, for `RUN_MS`; every grant prints `GRANT <project> <server ms>`.
//! `keypool-mp-worker late URL PREFIX KEYS_JSON WINDOW_MS RUN_MS TASKS`: `load` for a process
//! that may start before Redis (degraded until it answers); every grant prints
//! `GRANT <project> <ms> shared|degraded`.
//! `keypool-mp-worker cluster URL PREFIX KEYS_JSON WINDOW_MS RUN_MS TASKS`: `load` on a Redis
//! Cluster; every grant prints `GRANT <project> <ms> shared|local|switch`: whether the pool ran
//! on local shares for that project (its master unavailable) before and after the select, or
//! switched meanwhile.
//! `keypool-mp-worker trial URL PREFIX KEYS_JSON START_AT_MS`: waits until `START_AT_MS` (wall clock),
//! tries one select, prints `TRIAL won` or `TRIAL lost`, and exits without reporting (a crash).
#![expect(
    clippy::unwrap_used,
    clippy::print_stdout,
    reason = "a test helper program"
)]

use std::sync::Arc;
use std::time::Duration;

use keypool::{
    AnyStore, Environment, HealthPolicy, KeyPool, Outcome, PoolConfig, PoolOptions, RedisOptions,
    RedisStore, SelectRequest, StateStore, SystemClock,
};

async fn pool(url: &str, prefix: &str, keys: &str, window_ms: u64) -> KeyPool<AnyStore> {
    pool_with(url, prefix, keys, window_ms, false).await
}

async fn pool_with(
    url: &str,
    prefix: &str,
    keys: &str,
    window_ms: u64,
    late: bool,
) -> KeyPool<AnyStore> {
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(keys).unwrap()).unwrap();
    let mut pairs = vec![
        ("ENABLE_KEY_ROTATION".to_owned(), "true".to_owned()),
        ("KEYS_FILE".to_owned(), keys.to_owned()),
    ];
    for k in v["keys"].as_array().unwrap() {
        let id = k["key_id"].as_str().unwrap();
        pairs.push((
            format!("GEMINI_KEY_{id}"),
            format!("test-key-{id}-material"),
        ));
    }
    let env = Environment::from_pairs(pairs);
    let config = PoolConfig::load(&env, &env).unwrap();
    let options = RedisOptions {
        prefix: prefix.to_owned(),
        ..RedisOptions::default()
    };
    let store = if late {
        RedisStore::connect_or_degrade(url, options).await.unwrap()
    } else {
        RedisStore::connect(url, options).await.unwrap()
    };
    let options = PoolOptions {
        window: Duration::from_millis(window_ms),
        health: test_health(),
    };
    KeyPool::new(
        &config,
        AnyStore::Redis(Box::new(store)),
        Arc::new(SystemClock),
        options,
    )
    .unwrap()
}

/// Short cooldowns and trial holds, shared with the test that sets the key up.
fn test_health() -> HealthPolicy {
    HealthPolicy {
        base_cooldown: Duration::from_millis(200),
        max_cooldown: Duration::from_millis(800),
        trial_timeout: Duration::from_millis(500),
        ..HealthPolicy::default()
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some(mode @ ("load" | "late" | "cluster")) => {
            let late = mode == "late";
            let cluster = mode == "cluster";
            let window: u64 = args[5].parse().unwrap();
            let run = Duration::from_millis(args[6].parse().unwrap());
            let tasks: usize = args[7].parse().unwrap();
            let pool = Arc::new(pool_with(&args[2], &args[3], &args[4], window, late).await);
            let end = tokio::time::Instant::now() + run;
            let mut set = tokio::task::JoinSet::new();
            for _ in 0..tasks {
                let pool = Arc::clone(&pool);
                set.spawn(async move {
                    let mut lines = Vec::new();
                    let degraded = |pool: &KeyPool<AnyStore>| match pool.store() {
                        AnyStore::Redis(r) => r.degraded_projects(),
                        _ => Vec::new(),
                    };
                    while tokio::time::Instant::now() < end {
                        let before = degraded(&pool);
                        match pool
                            .select(&SelectRequest::new("gemini-2.5-flash", 10))
                            .await
                        {
                            Ok(lease) => {
                                let project = pool.project(&lease).to_owned();
                                let how = if cluster {
                                    let after = degraded(&pool);
                                    match (before.contains(&project), after.contains(&project)) {
                                        (true, true) => " local",
                                        (false, false) => " shared",
                                        _ => " switch",
                                    }
                                } else if !late {
                                    ""
                                } else if pool.store().backend() == "redis" {
                                    " shared"
                                } else {
                                    " degraded"
                                };
                                lines.push(format!("GRANT {project} {}{how}", lease.granted_at()));
                                pool.report(lease, &Outcome::Success { input_tokens: 10 })
                                    .await
                                    .unwrap();
                            }
                            Err(_) => tokio::time::sleep(Duration::from_millis(5)).await,
                        }
                    }
                    lines
                });
            }
            while let Some(lines) = set.join_next().await {
                for l in lines.unwrap() {
                    println!("{l}");
                }
            }
        }
        Some("trial") => {
            let pool = pool(&args[2], &args[3], &args[4], 60_000).await;
            let start: i64 = args[5].parse().unwrap();
            let now = keypool::Clock::now_ms(&SystemClock);
            tokio::time::sleep(Duration::from_millis(
                u64::try_from(start - now).unwrap_or(0),
            ))
            .await;
            match pool
                .select(&SelectRequest::new("gemini-2.5-flash", 1))
                .await
            {
                Ok(lease) if lease.is_trial() => {
                    println!("TRIAL won");
                    // Exit without reporting, holding the trial as a crashed process would.
                    drop(lease);
                }
                Ok(_) => println!("TRIAL not-a-trial"),
                Err(_) => println!("TRIAL lost"),
            }
        }
        _ => {}
    }
}
