//! `bench/paper_run.sh`'s measurements of paper runs, one JSON line each:
//! - per live bar, from the feed handing over a parsed closed kline to that bar being
//!   journaled (one write, fsync) and its events printed, p50 and p99, with 1,000 and with
//!   500,000 bars of history held (the history goes in as warm-up, in one pass);
//! - replay throughput: `run --replay` of a file (journal and fsync per bar included), the
//!   session alone (bar by bar, no journal), and the batch backtest of the same bars.
//!
//! `cargo bench -p paper --bench run [-- HISTORY ...]`
#![expect(
    clippy::print_stdout,
    clippy::disallowed_methods,
    clippy::unwrap_used,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    reason = "a benchmark: prints its results, reads the clock, fails loudly, rounds a rank"
)]

use std::time::{Duration, Instant};

use backtest::engine::{Settings, run};
use backtest::session::{Bar, Session};
use feeds::replay::ReplayFeed;
use feeds::{Event, Feed, Kline, Source};
use paper::manifest::FeedSpec;
use paper::runner::{self, Spec};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const STRATEGY: &str = "name = \"bench\"\n[indicators]\nfast = \"sma(close, 10)\"\nslow = \"sma(close, 30)\"\nrsi = \"rsi(close, 14)\"\n[rules]\nentry_long = \"crosses_above(fast, slow) and rsi < 70\"\nexit_long = \"crosses_below(fast, slow)\"\n[risk]\nstop_loss_pct = 2\n";

/// Hands over `warmup` history bars, then live ones, timing each live bar from being handed
/// over to the runner asking for the next event (the bar journaled and printed by then).
struct Timed {
    klines: Vec<Kline>,
    warmup: usize,
    next: usize,
    handed: Option<Instant>,
    latencies: Vec<Duration>,
}

impl Feed for Timed {
    async fn next(&mut self) -> Result<Event, feeds::FeedError> {
        if let Some(t) = self.handed.take() {
            self.latencies.push(t.elapsed());
        }
        let Some(k) = self.klines.get(self.next).cloned() else {
            return Ok(Event::End);
        };
        let warmup = self.next < self.warmup;
        self.next += 1;
        if !warmup {
            self.handed = Some(Instant::now());
        }
        Ok(Event::Bar {
            kline: k,
            source: if warmup { Source::Rest } else { Source::Ws },
            warmup,
        })
    }
}

fn klines(bars: &backtest::Bars) -> Vec<Kline> {
    (0..bars.len())
        .map(|i| Kline {
            open_ms: bars.epoch_ms[i],
            close_ms: bars.epoch_ms[i] + 59_999,
            open: format!("{}", bars.open[i]),
            high: format!("{}", bars.high[i]),
            low: format!("{}", bars.low[i]),
            close: format!("{}", bars.close[i]),
            volume: format!("{}", bars.volume[i]),
        })
        .collect()
}

fn spec(dir: &std::path::Path, warmup: usize) -> Spec {
    Spec {
        strategy_file: "bench.toml".into(),
        strategy_text: STRATEGY.to_owned(),
        dir: dir.to_owned(),
        cash: 10_000.0,
        commission: 0.002,
        feed: FeedSpec {
            kind: "replay".to_owned(),
            endpoint: None,
            symbol: "walk".to_owned(),
            interval: "replay".to_owned(),
            data: None,
            warmup,
        },
        bars: None,
        until: None,
        new: false,
        json: true,
    }
}

fn quantile(v: &mut [Duration], q: f64) -> f64 {
    v.sort();
    let i = ((v.len() as f64 - 1.0) * q).round() as usize;
    v[i].as_secs_f64() * 1000.0
}

async fn latency(history: usize, live: usize) {
    let data = exchange_sim::walk(history + live, 7, 1_600_000_000_000, 60_000);
    let dir = tempfile::tempdir().unwrap();
    let s = spec(dir.path(), history);
    let p = runner::prepare(&s).unwrap();
    let mut feed = Timed {
        klines: klines(&data),
        warmup: history,
        next: 0,
        handed: None,
        latencies: Vec::new(),
    };
    let t = Instant::now();
    runner::run(
        p,
        s,
        &mut feed,
        &mut std::io::sink(),
        None,
        std::future::pending(),
    )
    .await
    .unwrap();
    let total = t.elapsed().as_secs_f64();
    // The first live bar also takes the whole warm-up through the session and the journal.
    let first = feed.latencies.remove(0).as_secs_f64() * 1000.0;
    let lat = &mut feed.latencies;
    println!(
        "{{\"what\":\"latency\",\"history\":{history},\"live\":{},\"p50_ms\":{:.3},\"p99_ms\":{:.3},\"max_ms\":{:.3},\"first_with_warmup_ms\":{first:.1},\"total_s\":{total:.3}}}",
        lat.len(),
        quantile(lat, 0.5),
        quantile(lat, 0.99),
        quantile(lat, 1.0)
    );
}

async fn throughput(n: usize) {
    let data = exchange_sim::walk(n, 11, 1_600_000_000_000, 60_000);
    let strategy = strategy::Strategy::from_toml("bench.toml", STRATEGY).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let s = spec(dir.path(), 0);
    let p = runner::prepare(&s).unwrap();
    let t = Instant::now();
    runner::run(
        p,
        s,
        ReplayFeed::new(data.clone(), 0, None, None),
        &mut std::io::sink(),
        None,
        std::future::pending(),
    )
    .await
    .unwrap();
    let replay = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let mut session = Session::new(strategy.clone(), Settings::default());
    for i in 0..data.len() {
        session.push(Bar::at(&data, i)).unwrap();
    }
    let pushed = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let batch = run(&data, &strategy, Settings::default()).unwrap();
    let batch_s = t.elapsed().as_secs_f64();
    assert_eq!(session.trades(), batch.trades);
    println!(
        "{{\"what\":\"throughput\",\"bars\":{n},\"replay_bars_per_s\":{:.0},\"session_bars_per_s\":{:.0},\"batch_bars_per_s\":{:.0}}}",
        n as f64 / replay,
        n as f64 / pushed,
        n as f64 / batch_s
    );
}

impl Feed for &mut Timed {
    async fn next(&mut self) -> Result<Event, feeds::FeedError> {
        Timed::next(self).await
    }
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let histories = if args.is_empty() {
        vec![1_000, 500_000]
    } else {
        args
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        for h in histories {
            latency(h, 300).await;
        }
        throughput(2_000).await;
        throughput(10_000).await;
    });
}
