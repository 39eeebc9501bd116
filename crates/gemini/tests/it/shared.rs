//! Issue 14: a limit nobody declared is learned from Google's 429 once, through Redis, for every
//! process that shares it: four worker processes (`tests/learn_worker.rs`) send twice the
//! project's quota for several windows and meet one 429.

use std::time::Duration;

use keypool::{Clock, RedisOptions, RedisStore, SystemClock};

use crate::harness::{FLASH, sim_keys};

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

/// Runs one worker process to its end; its output.
async fn worker(args: Vec<String>) -> String {
    let run = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_gemini-learn-worker"))
            .args(&args)
            .output()
            .unwrap()
    });
    let out = tokio::time::timeout(Duration::from_secs(120), run)
        .await
        .unwrap_or_else(|_| panic!("a worker ran past 2 minutes"))
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "worker failed: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_processes_on_redis_learn_an_undeclared_limit_from_one_429() {
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
    // A "minute" passes in a second on both sides; the project allows 3 requests a minute,
    // which keys.json does not say.
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
    // The workers' clocks start now, just after the simulator's: never ahead of it.
    let anchor = SystemClock.now_ms();
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys.json");
    std::fs::write(
        &keys,
        r#"{"keys": [{"key_id": "k1", "project": "p1"}, {"key_id": "k2", "project": "p1"}]}"#,
    )
    .unwrap();
    let prefix = format!("botforge-test-learn-{}", std::process::id());
    delete_prefix(&prefix).await;

    // Four processes. First one request from each at once: the project takes 3, Google's 429
    // to the fourth teaches the limit to all four, and the fourth waits for a slot instead.
    // Then, a second later, twice the quota for several minutes from all four.
    let first = anchor + 1_500;
    let then = first + 1_000;
    let runs: Vec<_> = (0..4)
        .map(|id| {
            tokio::spawn(worker(vec![
                redis_url(),
                prefix.clone(),
                keys.display().to_string(),
                sim.base_url(),
                anchor.to_string(),
                scale.to_string(),
                id.to_string(),
                format!("{first}:1"),
                format!("{then}:5"),
            ]))
        })
        .collect();
    let mut outputs = Vec::new();
    for run in runs {
        outputs.push(run.await.unwrap());
    }
    let stats = sim.sim.stats();
    assert_eq!(stats.total.successes, 24, "{stats:?}");
    assert_eq!(
        stats.total.rate_limited, 1,
        "one 429 to learn from, none once learned: {stats:?}"
    );
    for (id, out) in outputs.iter().enumerate() {
        assert_eq!(
            out.lines().filter(|l| l.starts_with("DONE ")).count(),
            6,
            "worker {id}: {out}"
        );
        assert!(
            out.lines().any(|l| l == "LIMIT 3 \"learned\""),
            "worker {id} holds what one of them learned: {out}"
        );
    }
    delete_prefix(&prefix).await;
}
