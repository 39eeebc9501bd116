//! Runs against `sim-exchange` with faults: every journaled bar is the file's, once, in order;
//! the trades are those of a backtest of those bars from `live_from`.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use exchange_sim::{Faults, Market};
use feeds::Interval;
use feeds::binance::{BinanceFeed, Config, Endpoint};

use paper::manifest::FeedSpec;
use paper::metrics::RunMetrics;
use paper::runner;
use paper::status::RunDir;
use serde_json::Value;

use crate::{STRATEGIES, minutes, spec};

/// A run of strategy `name` on the exchange at `url` into `dir`, one session per
/// `(live bars in the directory, warm-up)`, each ended by `--bars`; its JSON lines are checked.
pub async fn sessions(
    url: &str,
    dir: &Path,
    (name, text): (&str, &str),
    plan: &[(u64, usize)],
    metrics: Option<Arc<RunMetrics>>,
) {
    for &(bars, warmup) in plan {
        let mut s = spec(dir, name, text, feed_spec(url, warmup));
        s.bars = Some(bars);
        let (after, went_live) = runner::preflight(&s).unwrap();
        let w = if after.is_some() || went_live {
            0
        } else {
            warmup
        };
        let f = feed(url, w, after).await;
        let p = runner::prepare(&s).unwrap();
        let mut out = Vec::new();
        let ended = tokio::time::timeout(
            Duration::from_secs(60),
            runner::run(p, s, f, &mut out, metrics.clone(), std::future::pending()),
        )
        .await
        .unwrap()
        .unwrap();
        assert_eq!(ended, runner::Ended::Bars);
        for line in String::from_utf8(out).unwrap().lines() {
            let v: Value = serde_json::from_str(line).unwrap();
            assert!(v["event"].is_string(), "{line}");
        }
    }
}

fn feed_spec(url: &str, warmup: usize) -> FeedSpec {
    FeedSpec {
        kind: "binance".to_owned(),
        endpoint: Some(url.to_owned()),
        symbol: "BTCUSDT".to_owned(),
        interval: "1m".to_owned(),
        data: None,
        warmup,
    }
}

async fn feed(url: &str, warmup: usize, after: Option<i64>) -> BinanceFeed {
    let mut c = Config::new(
        Endpoint::parse(url).unwrap(),
        "BTCUSDT",
        Interval::parse("1m").unwrap(),
    );
    c.warmup = warmup;
    c.after = after;
    c.tick = Duration::from_millis(100);
    BinanceFeed::start(c).await.unwrap()
}

#[tokio::test]
async fn runs_with_faults_trade_as_the_backtest_of_their_bars_and_resume() {
    let data = minutes(600, 11);
    let market = Market::new(
        data.clone(),
        "BTCUSDT",
        "1m",
        60_000,
        60,
        25.0,
        Faults::parse("drop_final=6,duplicate=5,disconnect=31,gap=100-101,rate_limit=13").unwrap(),
    );
    let ex = exchange_sim::spawn(market, "127.0.0.1:0", Duration::from_millis(50))
        .await
        .unwrap();
    let root = tempfile::tempdir().unwrap();
    let mut trades = 0;
    // The faults showed, over the four runs (one run on a loaded machine may see fewer).
    let mut seen = [0u64; 3];
    let mut tasks = Vec::new();
    // The first strategy's run serves its metrics over HTTP.
    let metrics = Arc::new(RunMetrics::new());
    let listener = paper::metrics::bind("127.0.0.1:0").await.unwrap();
    let scrape_url = format!("http://{}/metrics", listener.local_addr().unwrap());
    paper::metrics::serve(listener, Arc::clone(&metrics));
    for (i, (name, text)) in STRATEGIES.into_iter().enumerate() {
        let url = ex.url();
        let dir = root.path().join(name);
        let m = (i == 0).then(|| Arc::clone(&metrics));
        tasks.push(tokio::spawn(async move {
            // Two sessions: 40 live bars, a stop, then 40 more in the same directory.
            sessions(&url, &dir, (name, text), &[(40, 30), (80, 30)], m).await;
            dir
        }));
    }
    let mut first_run = None;
    for t in tasks {
        let dir = t.await.unwrap();
        let run = RunDir::read(&dir).unwrap();
        let what = dir.display().to_string();
        assert_eq!(run.verify().unwrap(), None, "{what}");
        // Every bar the file's, once, in order; the hidden ones absent.
        let times: Vec<i64> = run
            .of_kind("bar")
            .map(|r| r["open_ms"].as_i64().unwrap())
            .collect();
        let first = data.epoch_ms.iter().position(|&t| t == times[0]).unwrap();
        let last = data
            .epoch_ms
            .iter()
            .position(|&t| t == *times.last().unwrap())
            .unwrap();
        let want: Vec<i64> = (first..=last)
            .filter(|i| !(100..=101).contains(i))
            .map(|i| data.epoch_ms[i])
            .collect();
        assert_eq!(times, want, "{what}");
        let warm = run.of_kind("bar").filter(|r| r["warmup"] == true).count();
        assert_eq!(warm, 30, "{what}");
        let status = run.status().unwrap();
        assert_eq!(status["bars"], 110, "{what}: 30 warm-up + 80 live");
        let feed = &status["feed"];
        for (n, k) in seen
            .iter_mut()
            .zip(["duplicates", "reconnects", "backfilled"])
        {
            *n += feed[k].as_u64().unwrap();
        }
        // The warm-up bars decided nothing.
        let live_from = run.manifest.live_from_ms().unwrap();
        for t in status["trade_list"].as_array().unwrap() {
            let entry = backtest::parse_time(t["entry_time"].as_str().unwrap()).unwrap();
            assert!(entry > live_from, "{what}: {t}");
        }
        trades += status["trade_list"].as_array().unwrap().len();
        first_run.get_or_insert(status);
    }
    // The first run's metrics agree with its journal.
    let status = first_run.unwrap();
    metrics_agree(&scrape_url, &status).await;
    assert!(trades >= 8, "{trades} trades");
    assert!(
        seen.iter().all(|n| *n > 0),
        "duplicates, reconnects, backfills: {seen:?}"
    );
}

/// A run's scraped metrics agree with its journal's status.
async fn metrics_agree(scrape_url: &str, status: &Value) {
    let text = reqwest::get(scrape_url)
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).unwrap();
    let value = |name: &str, label: Option<(&str, &str)>| -> f64 {
        scrape
            .samples
            .iter()
            .filter(|s| s.metric == name && label.is_none_or(|(k, v)| s.labels.get(k) == Some(v)))
            .map(|s| match s.value {
                prometheus_parse::Value::Counter(v) | prometheus_parse::Value::Gauge(v) => v,
                _ => f64::NAN,
            })
            .sum()
    };
    let ws = value("botforge_run_bars_total", Some(("source", "ws")));
    let rest = value("botforge_run_bars_total", Some(("source", "rest")));
    assert_eq!(ws + rest, 110.0, "{text}");
    assert!(
        rest >= 30.0,
        "the warm-up and the backfills came over REST: {text}"
    );
    assert_eq!(
        value("botforge_run_trades_total", None),
        status["trade_list"].as_array().unwrap().len() as f64
    );
    assert_eq!(
        value("botforge_run_equity", None),
        status["equity"].as_f64().unwrap()
    );
    let feed = &status["feed"];
    assert_eq!(
        value("botforge_run_duplicates_total", None),
        feed["duplicates"].as_f64().unwrap()
    );
    assert_eq!(
        value("botforge_run_reconnects_total", None),
        feed["reconnects"].as_f64().unwrap()
    );
    assert_eq!(
        value("botforge_run_backfilled_bars_total", None),
        feed["backfilled"].as_f64().unwrap()
    );
    assert!(value("botforge_run_last_bar_close_timestamp_seconds", None) > 1.7e9);
    assert!(
        text.contains("botforge_run_bar_lag_seconds_bucket"),
        "{text}"
    );
}
