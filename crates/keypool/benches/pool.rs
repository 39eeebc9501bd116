//! select + report on the in-memory pool: 10, 100 and 1,000 keys, one thread and two threads
//! contending. Time comes from a manual clock moved 1 ms per operation (no wall-clock reads).
#![expect(clippy::unwrap_used, reason = "benchmark setup")]
#![expect(
    clippy::disallowed_methods,
    reason = "iter_custom measures wall time of the contending threads"
)]

use std::hint::black_box;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use keypool::{Environment, KeyPool, ManualClock, Outcome, PoolConfig, SelectRequest};

/// Drives a future of the in-memory store, which is ready on its first poll.
fn ready<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
    }
}

fn pool(n: usize) -> (KeyPool, ManualClock, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keys.json");
    let entries: Vec<String> = (0..n)
        .map(|i| format!(r#"{{"key_id": "k{i}", "rpm": 1000000000, "tpm": 1000000000000, "rpd": 1000000000000}}"#))
        .collect();
    std::fs::write(&path, format!(r#"{{"keys": [{}]}}"#, entries.join(","))).unwrap();
    let mut pairs = vec![
        ("ENABLE_KEY_ROTATION".to_owned(), "true".to_owned()),
        ("KEYS_FILE".to_owned(), path.display().to_string()),
    ];
    pairs.extend((0..n).map(|i| (format!("GEMINI_KEY_k{i}"), format!("bench-key-{i:06}"))));
    let env = Environment::from_pairs(pairs);
    let config = PoolConfig::load(&env, &env).unwrap();
    let clock = ManualClock::at("2026-01-15T12:00:00Z").unwrap();
    let pool = KeyPool::in_memory(&config, Arc::new(clock.clone())).unwrap();
    (pool, clock, dir)
}

fn one(pool: &KeyPool, clock: &ManualClock) {
    clock.advance(Duration::from_millis(1));
    let lease = ready(pool.select(&SelectRequest::new("gemini-2.5-flash", 100))).unwrap();
    black_box(pool.key_id(&lease));
    ready(pool.report(lease, &Outcome::Success { input_tokens: 90 })).unwrap();
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("select_report");
    g.sample_size(50)
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1))
        .throughput(Throughput::Elements(1));
    for n in [10, 100, 1_000] {
        let (p, clock, _dir) = pool(n);
        g.bench_with_input(BenchmarkId::new("1_thread", n), &n, |b, _| {
            b.iter(|| one(&p, &clock));
        });
        let p = Arc::new(p);
        g.bench_with_input(BenchmarkId::new("2_threads", n), &n, |b, _| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                std::thread::scope(|s| {
                    for _ in 0..2 {
                        s.spawn(|| {
                            for _ in 0..iters {
                                one(&p, &clock);
                            }
                        });
                    }
                });
                start.elapsed()
            });
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
