//! Runs against `sim-exchange` with faults: every journaled bar is the file's, once, in order;
//! the trades are those of a backtest of those bars from `live_from`.

use std::time::Duration;

use exchange_sim::{Faults, Market};
use feeds::Interval;
use feeds::binance::{BinanceFeed, Config, Endpoint};
use paper::manifest::FeedSpec;
use paper::runner;
use paper::status::RunDir;
use serde_json::Value;

use crate::{STRATEGIES, minutes, spec};

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
        60.0,
        Faults::parse("drop_final=6,duplicate=5,disconnect=31,gap=100-101,rate_limit=13").unwrap(),
    );
    let ex = exchange_sim::spawn(market, "127.0.0.1:0", Duration::from_millis(50))
        .await
        .unwrap();
    let root = tempfile::tempdir().unwrap();
    let mut trades = 0;
    let mut tasks = Vec::new();
    for (name, text) in STRATEGIES {
        let url = ex.url();
        let dir = root.path().join(name);
        tasks.push(tokio::spawn(async move {
            // Two sessions: 40 live bars, a stop, then 40 more in the same directory.
            for (bars, warmup) in [(40, 30), (80, 30)] {
                let mut s = spec(&dir, name, text, feed_spec(&url, warmup));
                s.bars = Some(bars);
                let (after, went_live) = runner::preflight(&s).unwrap();
                let w = if after.is_some() || went_live {
                    0
                } else {
                    warmup
                };
                let f = feed(&url, w, after).await;
                let p = runner::prepare(&s).unwrap();
                let mut out = Vec::new();
                let ended = tokio::time::timeout(
                    Duration::from_secs(60),
                    runner::run(p, s, f, &mut out, std::future::pending()),
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
            dir
        }));
    }
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
        assert!(feed["duplicates"].as_u64().unwrap() > 0, "{what}: {feed}");
        assert!(feed["reconnects"].as_u64().unwrap() > 0, "{what}: {feed}");
        assert!(feed["backfilled"].as_u64().unwrap() > 0, "{what}: {feed}");
        // The warm-up bars decided nothing.
        let live_from = run.manifest.live_from_ms().unwrap();
        for t in status["trade_list"].as_array().unwrap() {
            let entry = backtest::parse_time(t["entry_time"].as_str().unwrap()).unwrap();
            assert!(entry > live_from, "{what}: {t}");
        }
        trades += status["trade_list"].as_array().unwrap().len();
    }
    assert!(trades >= 8, "{trades} trades");
}
