//! Quota goodput and rotation overhead against the simulator over loopback HTTP.
//!
//! 1. Goodput: 6 keys in 3 projects, per-project RPM limits in the simulator, time scaled so a
//!    minute passes in 3 s, offered load twice the aggregate quota. Reports served / aggregate
//!    quota and the 429s the simulator had to send, twice:
//!    - limits declared in keys.json, 4 windows (goal ≥ 0.99, no 429);
//!    - limits **undeclared** (keys.json says nothing: the pool learns them from the 429s),
//!      5 windows counting the learning (goal ≥ 0.98, at most one 429 per project).
//! 2. Overhead: the rotating client against a plain call to the simulator, p50 and p99.
//!
//! Run: `cargo bench -p gemini --bench goodput` (or `bench/gemini.sh`). Prints a table.
#![expect(
    clippy::unwrap_used,
    clippy::print_stdout,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    reason = "benchmark program"
)]

use std::fmt::Write;
use std::sync::Arc;
use std::time::Duration;

use gemini::{CallOptions, ClientConfig, GeminiClient, GenerateContentRequest, RotatingClient};
use keypool::{
    ApiKey, Environment, FailoverPolicy, KeyPool, MemoryStore, PoolConfig, PoolOptions,
    ScaledClock, SystemClock,
};
use tokio::time::Instant;

const FLASH: &str = "gemini-2.5-flash";
const SCALE: f64 = 20.0;
const RPM: u64 = 30;
const PROJECTS: u64 = 3;
const WINDOWS: u64 = 4;

fn pool_config(dir: &std::path::Path, base: &str, rpm: Option<u64>) -> (Environment, PoolConfig) {
    let mut entries = Vec::new();
    let mut pairs = vec![
        ("ENABLE_KEY_ROTATION".to_owned(), "true".to_owned()),
        ("GEMINI_BASE_URL".to_owned(), base.to_owned()),
    ];
    for i in 1..=6 {
        let project = format!("p{}", (i + 1) / 2);
        entries.push(match rpm {
            Some(rpm) => format!(
                r#"{{"key_id": "k{i}", "project": "{project}", "rpm": {rpm}, "tpm": 100000000, "rpd": 100000000}}"#
            ),
            None => format!(r#"{{"key_id": "k{i}", "project": "{project}"}}"#),
        });
        pairs.push((format!("GEMINI_KEY_k{i}"), format!("test-key-k{i}")));
    }
    let path = dir.join("keys.json");
    std::fs::write(&path, format!(r#"{{"keys": [{}]}}"#, entries.join(","))).unwrap();
    pairs.push(("KEYS_FILE".to_owned(), path.display().to_string()));
    let env = Environment::from_pairs(pairs);
    let config = PoolConfig::load(&env, &env).unwrap();
    (env, config)
}

fn sim_config(limits: bool) -> gemini_sim::SimConfig {
    let mut toml = format!("time_scale = {}\n", if limits { SCALE } else { 1.0 });
    for i in 1..=6 {
        let _ = writeln!(
            toml,
            "[[keys]]\nid = \"k{i}\"\nkey = \"test-key-k{i}\"\nproject = \"p{}\"",
            (i + 1) / 2
        );
    }
    if limits {
        for p in 1..=PROJECTS {
            let _ = writeln!(toml, "[projects.p{p}.\"{FLASH}\"]\nrpm = {RPM}");
        }
    }
    gemini_sim::SimConfig::from_toml("bench", &toml).unwrap()
}

/// Offered load twice the quota for `windows` windows; limits in keys.json only when `declared`.
async fn goodput(declared: bool, windows: u64) {
    let sim = gemini_sim::spawn(sim_config(true), "127.0.0.1:0")
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (env, config) = pool_config(dir.path(), &sim.base_url(), declared.then_some(RPM));
    let options = PoolOptions {
        window: Duration::from_millis(60_250),
        ..PoolOptions::default()
    };
    let pool = KeyPool::new(
        &config,
        MemoryStore::new(),
        Arc::new(ScaledClock::new(SCALE)),
        options,
    )
    .unwrap();
    let client = RotatingClient::new(
        Arc::new(pool),
        GeminiClient::new(ClientConfig::from_env(&env)).unwrap(),
    )
    .with_policy(FailoverPolicy {
        wait_for_capacity: false,
        ..FailoverPolicy::default()
    });

    let quota_per_window = RPM * PROJECTS;
    let window_real = Duration::from_secs_f64(60.0 / SCALE);
    let offered_total = 2 * quota_per_window * windows;
    let gap = window_real.mul_f64(windows as f64) / u32::try_from(offered_total).unwrap();
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..offered_total {
        tokio::time::sleep_until(start + gap * u32::try_from(i).unwrap()).await;
        let c = client.clone();
        tasks.spawn(async move {
            c.generate(
                FLASH,
                &GenerateContentRequest::from_prompt(format!("bot {i}")),
                CallOptions::default(),
            )
            .await
            .is_ok()
        });
    }
    let mut served = 0u64;
    while let Some(r) = tasks.join_next().await {
        served += u64::from(r.unwrap());
    }
    let stats = sim.sim.stats();
    let capacity = quota_per_window * windows;
    let limits = if declared {
        "declared in keys.json"
    } else {
        "undeclared: learned from 429s"
    };
    println!(
        "quota goodput, limits {limits} (6 keys, 3 projects, {RPM} RPM each project, time ×{SCALE}, {windows} windows, offered 2× quota)"
    );
    println!("  {:<28} {offered_total}", "offered requests");
    println!("  {:<28} {capacity}", "aggregate quota");
    println!("  {:<28} {served}", "served");
    println!(
        "  {:<28} {:.4}",
        "served / quota",
        served as f64 / capacity as f64
    );
    println!(
        "  {:<28} {}",
        "429s sent by the simulator", stats.total.rate_limited
    );
    println!("  {:<28} {}", "upstream requests", stats.total.requests);
}

fn pct(v: &mut [Duration], p: f64) -> Duration {
    v.sort_unstable();
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

async fn overhead() {
    let sim = gemini_sim::spawn(sim_config(false), "127.0.0.1:0")
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (env, config) = pool_config(dir.path(), &sim.base_url(), Some(100_000_000));
    let pool = KeyPool::in_memory(&config, Arc::new(SystemClock)).unwrap();
    let plain = GeminiClient::new(ClientConfig::from_env(&env)).unwrap();
    let rotating = RotatingClient::new(Arc::new(pool), plain.clone());
    let key = ApiKey::new("test-key-k1");
    let req = GenerateContentRequest::from_prompt("Buy when RSI(14) < 30, sell when RSI > 70");
    let n = 3000;
    for _ in 0..200 {
        plain.generate(&key, FLASH, &req).await.unwrap();
        rotating
            .generate(FLASH, &req, CallOptions::default())
            .await
            .unwrap();
    }
    let mut a = Vec::with_capacity(n);
    let mut b = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        plain.generate(&key, FLASH, &req).await.unwrap();
        a.push(t.elapsed());
        let t = Instant::now();
        rotating
            .generate(FLASH, &req, CallOptions::default())
            .await
            .unwrap();
        b.push(t.elapsed());
    }
    let (a50, a99, b50, b99) = (
        pct(&mut a, 0.5),
        pct(&mut a, 0.99),
        pct(&mut b, 0.5),
        pct(&mut b, 0.99),
    );
    println!("rotation overhead ({n} sequential generateContent calls each, loopback simulator)");
    println!("  {:<12} {:>10} {:>10}", "", "p50", "p99");
    println!(
        "  {:<12} {:>8.1}µs {:>8.1}µs",
        "plain",
        a50.as_secs_f64() * 1e6,
        a99.as_secs_f64() * 1e6
    );
    println!(
        "  {:<12} {:>8.1}µs {:>8.1}µs",
        "rotating",
        b50.as_secs_f64() * 1e6,
        b99.as_secs_f64() * 1e6
    );
    println!(
        "  {:<12} {:>8.1}µs {:>8.1}µs",
        "added",
        (b50.as_secs_f64() - a50.as_secs_f64()) * 1e6,
        (b99.as_secs_f64() - a99.as_secs_f64()) * 1e6
    );
}

fn main() {
    // `cargo test --benches` runs bench targets with no arguments; only run under `cargo bench`.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        goodput(true, WINDOWS).await;
        goodput(false, 5).await;
        overhead().await;
    });
}
