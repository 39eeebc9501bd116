//! Several OS processes sharing one pool through Redis (`tests/mp_worker.rs`).

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use keypool::{
    AnyStore, Clock, Environment, HealthPolicy, KeyPool, Outcome, PoolConfig, PoolOptions,
    RedisOptions, RedisStore, SelectRequest, SystemClock,
};

use crate::fixtures::{
    KeysFile, cleanup, prefix, random_id, redis_available, redis_pool, redis_url,
};

const RPM: usize = 20;
const WINDOW_MS: i64 = 1000;

fn worker() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_keypool-mp-worker"))
}

pub async fn run_workers(args: Vec<Vec<String>>) -> Vec<String> {
    let mut handles = Vec::new();
    for a in args {
        handles.push(tokio::task::spawn_blocking(move || {
            let out = Command::new(worker()).args(&a).output().unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8(out.stdout).unwrap()
        }));
    }
    let mut all = Vec::new();
    for h in handles {
        all.push(h.await.unwrap());
    }
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_processes_never_admit_more_than_a_shared_limit() {
    if !redis_available().await {
        return;
    }
    let id = random_id();
    let keys = KeysFile::new(&format!(
        r#"{{"keys": [
          {{"key_id": "p1", "project": "p", "rpm": {RPM}, "tpm": 100000000, "rpd": 100000000}},
          {{"key_id": "p2", "project": "p", "rpm": {RPM}, "tpm": 100000000, "rpd": 100000000}},
          {{"key_id": "q1", "project": "q", "rpm": {RPM}, "tpm": 100000000, "rpd": 100000000}}]}}"#
    ));
    let args: Vec<Vec<String>> = (0..4)
        .map(|_| {
            vec![
                "load".into(),
                redis_url(),
                prefix(id),
                keys.path.display().to_string(),
                WINDOW_MS.to_string(),
                "3500".into(),
                "32".into(),
            ]
        })
        .collect();
    let outputs = run_workers(args).await;
    cleanup(id).await;

    let mut grants: HashMap<String, Vec<i64>> = HashMap::new();
    for out in &outputs {
        for line in out.lines() {
            let mut f = line.split_whitespace();
            assert_eq!(f.next(), Some("GRANT"), "{line}");
            let project = f.next().unwrap().to_owned();
            let at: i64 = f.next().unwrap().parse().unwrap();
            grants.entry(project).or_default().push(at);
        }
    }
    assert_eq!(grants.len(), 2, "both projects served");
    for (project, times) in &mut grants {
        times.sort_unstable();
        // The most grants in any trailing window, by the server's clock.
        let worst = busiest_window(times, WINDOW_MS);
        assert!(
            worst <= RPM,
            "{project}: {worst} grants in one {WINDOW_MS} ms window"
        );
        // 128 tasks saturate the limit: at least three full windows were used.
        assert!(
            times.len() >= 3 * RPM,
            "{project}: only {} grants",
            times.len()
        );
    }
}

fn health() -> HealthPolicy {
    // The same numbers as mp_worker's.
    HealthPolicy {
        base_cooldown: Duration::from_millis(200),
        max_cooldown: Duration::from_millis(800),
        trial_timeout: Duration::from_millis(500),
        ..HealthPolicy::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_process_wins_the_half_open_trial_and_a_crashed_holder_expires() {
    if !redis_available().await {
        return;
    }
    let id = random_id();
    let keys = KeysFile::new(
        r#"{"keys": [{"key_id": "a", "rpm": 1000, "tpm": 100000000, "rpd": 100000000}]}"#,
    );
    let (kf, path) = keys.var();
    let env = Environment::from_pairs([
        ("ENABLE_KEY_ROTATION", "true"),
        (kf, path.as_str()),
        ("GEMINI_KEY_a", "test-key-a-material"),
    ]);
    let config = PoolConfig::load(&env, &env).unwrap();
    let store = RedisStore::connect(
        &redis_url(),
        RedisOptions {
            prefix: prefix(id),
            ..RedisOptions::default()
        },
    )
    .await
    .unwrap();
    let options = PoolOptions {
        health: health(),
        ..PoolOptions::default()
    };
    let pool = KeyPool::new(
        &config,
        AnyStore::Redis(Box::new(store)),
        Arc::new(SystemClock),
        options,
    )
    .unwrap();
    for _ in 0..3 {
        let lease = pool
            .select(&SelectRequest::new("gemini-2.5-flash", 1))
            .await
            .unwrap();
        pool.report(
            lease,
            &Outcome::Transient {
                detail: "503".into(),
            },
        )
        .await
        .unwrap();
    }
    tokio::time::sleep(Duration::from_millis(250)).await; // the 200 ms cooldown is over

    let start_at = SystemClock.now_ms() + 400;
    let args: Vec<Vec<String>> = (0..2)
        .map(|_| {
            vec![
                "trial".into(),
                redis_url(),
                prefix(id),
                path.clone(),
                start_at.to_string(),
            ]
        })
        .collect();
    let outputs = run_workers(args).await;
    let mut results: Vec<&str> = outputs.iter().map(|o| o.trim()).collect();
    results.sort_unstable();
    assert_eq!(
        results,
        ["TRIAL lost", "TRIAL won"],
        "exactly one process gets the trial"
    );

    // The winner exited holding the trial: nobody else may try until its lock expires.
    assert!(
        pool.select(&SelectRequest::new("gemini-2.5-flash", 1))
            .await
            .is_err()
    );
    tokio::time::sleep(Duration::from_millis(600)).await;
    let lease = pool
        .select(&SelectRequest::new("gemini-2.5-flash", 1))
        .await
        .unwrap();
    assert!(lease.is_trial(), "the expired lock frees the trial");
    pool.report(lease, &Outcome::Success { input_tokens: 1 })
        .await
        .unwrap();
    pool.refresh().await.unwrap();
    let row = pool.health().unwrap().keys.remove(0);
    assert_eq!(row.state, keypool::KeyState::Active);
    assert_eq!(row.success_count, 1);
    assert_eq!(row.error_count, 3);
    cleanup(id).await;
}

/// Issue 20: one pipelined round trip refreshes every bucket and key, and a Redis that lost its
/// scripts (restarted, flushed) is given the script again instead of failing the refresh.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_pipelined_refresh_reads_every_bucket_even_after_redis_lost_its_scripts() {
    if !redis_available().await {
        return;
    }
    let id = random_id();
    let keys = KeysFile::new(
        r#"{"keys": [
            {"key_id": "a", "project": "pa", "rpm": 10},
            {"key_id": "b", "project": "pb", "rpm": 10},
            {"key_id": "c", "project": "pc", "rpm": 10}]}"#,
    );
    let (kf, path) = keys.var();
    let env = Environment::from_pairs([
        ("ENABLE_KEY_ROTATION", "true"),
        (kf, path.as_str()),
        ("GEMINI_KEY_a", "test-key-a-material"),
        ("GEMINI_KEY_b", "test-key-b-material"),
        ("GEMINI_KEY_c", "test-key-c-material"),
    ]);
    let config = PoolConfig::load(&env, &env).unwrap();
    let pfx = prefix(id);
    let (one, two) = (
        redis_pool(&redis_url(), &pfx, &config).await,
        redis_pool(&redis_url(), &pfx, &config).await,
    );
    // One call on each key (each its own project), from process one.
    let mut exclude = Vec::new();
    for _ in 0..3 {
        let lease = one
            .select(&SelectRequest {
                exclude: &exclude,
                ..SelectRequest::new("gemini-2.5-flash", 1)
            })
            .await
            .unwrap();
        exclude.push(lease.key_index());
        one.report(lease, &Outcome::Success { input_tokens: 1 })
            .await
            .unwrap();
    }
    let client = redis::Client::open(redis_url()).unwrap();
    let mut direct = client.get_multiplexed_async_connection().await.unwrap();
    let _: () = redis::cmd("SCRIPT")
        .arg("FLUSH")
        .query_async(&mut direct)
        .await
        .unwrap();
    two.refresh().await.unwrap();
    let health = two.health().unwrap();
    let used: HashMap<String, u64> = health
        .keys
        .iter()
        .map(|k| (k.key_id.clone(), k.rpm_used))
        .collect();
    assert_eq!(
        used,
        HashMap::from([("a".into(), 1), ("b".into(), 1), ("c".into(), 1)]),
        "process two sees every bucket process one used"
    );
    assert!(health.keys.iter().all(|k| k.success_count == 1));
    cleanup(id).await;
}

/// The most grants of any trailing window (`window_ms`) in sorted `times`.
pub fn busiest_window(times: &[i64], window_ms: i64) -> usize {
    let mut worst = 0;
    let mut lo = 0;
    for hi in 0..times.len() {
        while times[hi] - times[lo] >= window_ms {
            lo += 1;
        }
        worst = worst.max(hi - lo + 1);
    }
    worst
}

/// Issue 20: four processes started while Redis is down run degraded at a quarter of each
/// limit, then share it as soon as Redis answers — and the switch lets no window exceed the
/// limit: what each spent while degraded is written to Redis, and each keeps within its share
/// for one more window (the others may not have noticed Redis yet).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_processes_started_before_redis_share_it_once_it_answers() {
    if !crate::fixtures::tool("redis-server") {
        return;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("redis://127.0.0.1:{port}/");
    let id = random_id();
    let keys = KeysFile::new(&format!(
        r#"{{"keys": [
          {{"key_id": "p1", "project": "p", "rpm": {RPM}, "tpm": 100000000, "rpd": 100000000}},
          {{"key_id": "q1", "project": "q", "rpm": {RPM}, "tpm": 100000000, "rpd": 100000000}}]}}"#
    ));
    let args: Vec<Vec<String>> = (0..4)
        .map(|_| {
            vec![
                "late".into(),
                url.clone(),
                prefix(id),
                keys.path.display().to_string(),
                WINDOW_MS.to_string(),
                "4500".into(),
                "16".into(),
            ]
        })
        .collect();
    let workers = tokio::spawn(run_workers(args));
    // Redis comes up a second and a half into the run, on the port the workers were given.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let _redis = crate::fixtures::Killed(
        Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let outputs = workers.await.unwrap();

    let mut grants: HashMap<String, Vec<i64>> = HashMap::new();
    for out in &outputs {
        let mut shared = 0;
        let mut degraded = 0;
        for line in out.lines() {
            let f: Vec<&str> = line.split_whitespace().collect();
            assert_eq!((f.len(), f[0]), (4, "GRANT"), "{line}");
            grants
                .entry(f[1].to_owned())
                .or_default()
                .push(f[2].parse().unwrap());
            match f[3] {
                "shared" => shared += 1,
                _ => degraded += 1,
            }
        }
        // Each process served both ways: alone before Redis, shared after.
        assert!(
            degraded > 0 && shared > 0,
            "{degraded} degraded, {shared} shared grants"
        );
    }
    assert_eq!(grants.len(), 2, "both projects served");
    for (project, times) in &mut grants {
        times.sort_unstable();
        let worst = busiest_window(times, WINDOW_MS);
        assert!(
            worst <= RPM,
            "{project}: {worst} grants in one {WINDOW_MS} ms window (limit {RPM})"
        );
        // The load saturates the limit: most of the run's windows were used in full.
        assert!(
            times.len() >= 3 * RPM,
            "{project}: only {} grants",
            times.len()
        );
    }
}
