//! The Redis backend against the in-process one: reservations per second, round trips per
//! request (from Redis's own command statistics), and the latency each adds, on local Redis.
//!
//! Run: `cargo bench -p keypool --bench redis` (needs Redis on 127.0.0.1:6379, or
//! `BOTFORGE_TEST_REDIS_URL`). Prints a table. On a Redis Cluster (`bench/redis_cluster.sh`
//! makes one), `BOTFORGE_BENCH_NODES` lists every master's URL, so that round trips are counted
//! on all of them.
#![expect(
    clippy::unwrap_used,
    clippy::print_stdout,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::cast_precision_loss,
    reason = "benchmark program"
)]

use std::sync::Arc;
use std::time::Duration;

use keypool::{
    AnyStore, Environment, KeyPool, MemoryStore, Outcome, PoolConfig, PoolOptions, RedisOptions,
    RedisStore, SelectRequest, SystemClock,
};
use tokio::time::Instant;

const KEYS: usize = 10;

fn config(dir: &std::path::Path) -> PoolConfig {
    let entries: Vec<String> = (0..KEYS)
        .map(|i| format!(r#"{{"key_id": "k{i}", "rpm": 1000000000, "tpm": 1000000000000, "rpd": 1000000000000}}"#))
        .collect();
    let path = dir.join("keys.json");
    std::fs::write(&path, format!(r#"{{"keys": [{}]}}"#, entries.join(","))).unwrap();
    let mut pairs = vec![
        ("ENABLE_KEY_ROTATION".to_owned(), "true".to_owned()),
        ("KEYS_FILE".to_owned(), path.display().to_string()),
    ];
    pairs.extend((0..KEYS).map(|i| (format!("GEMINI_KEY_k{i}"), format!("bench-key-{i:04}"))));
    let env = Environment::from_pairs(pairs);
    PoolConfig::load(&env, &env).unwrap()
}

async fn one(pool: &KeyPool<AnyStore>) {
    let lease = pool
        .select(&SelectRequest::new("gemini-2.5-flash", 100))
        .await
        .unwrap();
    pool.report(lease, &Outcome::Success { input_tokens: 90 })
        .await
        .unwrap();
}

fn pct(v: &mut [Duration], p: f64) -> Duration {
    v.sort_unstable();
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

async fn command_calls(nodes: &[String]) -> u64 {
    let mut sum = 0;
    for node in nodes {
        sum += node_calls(node).await;
    }
    sum
}

async fn node_calls(url: &str) -> u64 {
    let client = redis::Client::open(url).unwrap();
    let mut con = client.get_multiplexed_async_connection().await.unwrap();
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(&mut con)
        .await
        .unwrap();
    // Commands run inside scripts are counted too, so count what a client sends: scripts.
    info.lines()
        .filter(|l| l.starts_with("cmdstat_evalsha:") || l.starts_with("cmdstat_eval:"))
        .filter_map(|l| {
            l.split("calls=")
                .nth(1)?
                .split(',')
                .next()?
                .parse::<u64>()
                .ok()
        })
        .sum()
}

async fn latency(pool: &KeyPool<AnyStore>, n: usize) -> (Duration, Duration, f64) {
    for _ in 0..500 {
        one(pool).await;
    }
    let mut v = Vec::with_capacity(n);
    let start = Instant::now();
    for _ in 0..n {
        let t = Instant::now();
        one(pool).await;
        v.push(t.elapsed());
    }
    let per_sec = n as f64 / start.elapsed().as_secs_f64();
    (pct(&mut v, 0.5), pct(&mut v, 0.99), per_sec)
}

async fn throughput(pool: Arc<KeyPool<AnyStore>>, tasks: usize, each: usize) -> f64 {
    let start = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..tasks {
        let p = Arc::clone(&pool);
        set.spawn(async move {
            for _ in 0..each {
                one(&p).await;
            }
        });
    }
    while set.join_next().await.is_some() {}
    (tasks * each) as f64 / start.elapsed().as_secs_f64()
}

/// Deletes the benchmark's keys from every node.
async fn cleanup(nodes: &[String], prefix: &str) {
    for node in nodes {
        let client = redis::Client::open(node.as_str()).unwrap();
        let mut con = client.get_multiplexed_async_connection().await.unwrap();
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{prefix}:*"))
            .query_async(&mut con)
            .await
            .unwrap();
        // One by one: a cluster node refuses a DEL across slots.
        for key in keys {
            let _: i64 = redis::cmd("DEL")
                .arg(&key)
                .query_async(&mut con)
                .await
                .unwrap();
        }
    }
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let url = std::env::var("BOTFORGE_TEST_REDIS_URL")
            .unwrap_or_else(|_| "redis://127.0.0.1:6379/".into());
        let nodes: Vec<String> = std::env::var("BOTFORGE_BENCH_NODES").map_or_else(
            |_| vec![url.clone()],
            |v| v.split(',').map(str::to_owned).collect(),
        );
        let dir = tempfile::tempdir().unwrap();
        let config = config(dir.path());
        let memory = KeyPool::new(
            &config,
            AnyStore::Memory(MemoryStore::new()),
            Arc::new(SystemClock),
            PoolOptions::default(),
        )
        .unwrap();
        let prefix = format!("bfbench:{}", std::process::id());
        let store = RedisStore::connect(
            &url,
            RedisOptions {
                prefix: prefix.clone(),
                ..RedisOptions::default()
            },
        )
        .await
        .unwrap();
        let redis = Arc::new(
            KeyPool::new(
                &config,
                AnyStore::Redis(Box::new(store)),
                Arc::new(SystemClock),
                PoolOptions::default(),
            )
            .unwrap(),
        );

        let n = 20_000;
        let (m50, m99, mps) = latency(&memory, n).await;
        let cluster = match redis.store() {
            AnyStore::Redis(r) => r.is_cluster(),
            _ => false,
        };
        let before = command_calls(&nodes).await;
        let (r50, r99, rps) = latency(&redis, n).await;
        let after = command_calls(&nodes).await;
        let per_request = (after - before) as f64 / (n + 500) as f64;
        let conc = throughput(Arc::clone(&redis), 32, 1_000).await;

        let shape = if cluster {
            format!("a Redis Cluster of {} masters", nodes.len())
        } else {
            "one Redis".to_owned()
        };
        println!("select + report, {KEYS} keys, sequential ({n} requests each), on {shape}");
        println!(
            "  {:<10} {:>10} {:>10} {:>12}",
            "backend", "p50", "p99", "requests/s"
        );
        println!(
            "  {:<10} {:>8.1}µs {:>8.1}µs {:>12.0}",
            "memory",
            m50.as_secs_f64() * 1e6,
            m99.as_secs_f64() * 1e6,
            mps
        );
        println!(
            "  {:<10} {:>8.1}µs {:>8.1}µs {:>12.0}",
            "redis",
            r50.as_secs_f64() * 1e6,
            r99.as_secs_f64() * 1e6,
            rps
        );
        println!(
            "  {:<10} {:>8.1}µs {:>8.1}µs",
            "added",
            (r50.as_secs_f64() - m50.as_secs_f64()) * 1e6,
            (r99.as_secs_f64() - m99.as_secs_f64()) * 1e6
        );
        println!("redis round trips per request (reserve + report): {per_request:.2}");
        println!("redis reservations/s with 32 concurrent tasks: {conc:.0}");

        cleanup(&nodes, &prefix).await;
    });
}
