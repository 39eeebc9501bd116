//! Issue 34, item 1: a session fed one closed bar at a time trades exactly as the batch
//! backtest of the same bars (every trade, every equity value), and every function's value on a
//! growing prefix of the bars is its value on the whole data.

use std::fmt::Write as _;
use std::path::PathBuf;

use backtest::engine::{Run, Settings, run};
use backtest::session::{Bar, Session, SessionError};
use backtest::{Bars, Evaluator, Series, load_csv, parse_csv};
use proptest::strategy::{Strategy as _, ValueTree as _};
use proptest::test_runner::{Config, TestRunner};
use strategy::{Arg, Func, Strategy, parse};

use crate::random_strategies::{CASES, parts, toml_for};

pub(crate) fn sample(file: &str) -> Bars {
    load_csv(
        &PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("data")
            .join(file),
    )
    .unwrap()
}

/// A seeded random walk of hourly bars with weekend holes (so `tf('D')` and `tf('W-FRI')`
/// have partial periods at the end of every prefix).
pub(crate) fn walk(seed: u64, n: usize) -> Bars {
    let mut rng = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
    let mut unit = move || {
        rng = rng
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (rng >> 11) as f64 / (1u64 << 53) as f64
    };
    let mut text = String::from("time,Open,High,Low,Close,Volume\n");
    let mut price = 100.0_f64;
    let mut t = chrono::NaiveDate::from_ymd_opt(2024, 1, 1)
        .unwrap()
        .and_hms_opt(0, 0, 0)
        .unwrap();
    let mut made = 0;
    while made < n {
        t += chrono::Duration::hours(1);
        if matches!(
            chrono::Datelike::weekday(&t),
            chrono::Weekday::Sat | chrono::Weekday::Sun
        ) {
            continue;
        }
        let open = price;
        let close = (open * (1.0 + (unit() - 0.5) * 0.03)).max(1.0);
        let high = open.max(close) * (1.0 + unit() * 0.01);
        let low = open.min(close) * (1.0 - unit() * 0.01);
        let volume = 1000.0 + unit() * 500.0;
        let _ = writeln!(
            text,
            "{},{open},{high},{low},{close},{volume}",
            t.format("%Y-%m-%d %H:%M:%S")
        );
        price = close;
        made += 1;
    }
    parse_csv("walk.csv", &text).unwrap()
}

fn bars_of(b: &Bars, range: std::ops::Range<usize>) -> Vec<Bar> {
    range.map(|i| Bar::at(b, i)).collect()
}

/// The first `n` bars of `b` as their own data.
pub(crate) fn prefix(b: &Bars, n: usize) -> Bars {
    let mut text = String::from("time,Open,High,Low,Close,Volume\n");
    for i in 0..n {
        let _ = writeln!(
            text,
            "{},{:?},{:?},{:?},{:?},{:?}",
            b.time.at(i),
            b.open[i],
            b.high[i],
            b.low[i],
            b.close[i],
            b.volume[i]
        );
    }
    parse_csv("prefix.csv", &text).unwrap()
}

fn same_run(what: &str, s: &Session, batch: &Run) {
    assert_eq!(s.trades(), batch.trades, "{what}: closed trades");
    assert_eq!(s.open_trades(), batch.open_trades, "{what}: open trades");
    assert_eq!(s.equity().len(), batch.equity.len(), "{what}");
    for (i, (a, b)) in s.equity().iter().zip(&batch.equity).enumerate() {
        assert!(a == b, "{what}: equity at bar {i}: {a} vs {b}");
    }
}

#[test]
fn a_session_fed_bar_by_bar_trades_as_the_batch_backtest() {
    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        proptest::test_runner::TestRng::deterministic_rng(
            proptest::test_runner::RngAlgorithm::ChaCha,
        ),
    );
    let goog = sample("GOOG.csv");
    let goog = prefix(&goog, 700);
    let mut trades = 0;
    let mut strategies_with_trades = 0;
    for i in 0..CASES {
        let p = parts().new_tree(&mut runner).unwrap().current();
        let text = toml_for(&p, i);
        let strategy = Strategy::from_toml(&format!("random_{i:02}"), &text).unwrap();
        let walk = walk(i as u64, 500);
        for (name, data) in [("GOOG", &goog), ("walk", &walk)] {
            let what = format!("{name}:\n{text}");
            let batch = run(data, &strategy, Settings::default()).unwrap();
            let mut session = Session::new(strategy.clone(), Settings::default());
            let mut closed = 0;
            let mut advances = Vec::new();
            for b in bars_of(data, 0..data.len()) {
                let a = session.push(b).unwrap();
                closed += a.closed.len();
                advances.push(a);
            }
            assert_eq!(closed, batch.trades.len(), "{what}: closed events");
            same_run(&what, &session, &batch);
            // In chunks (a restart's replay, then live bars): the same bar by bar.
            let mut chunked = Session::new(strategy.clone(), Settings::default());
            let mut got = Vec::new();
            let mut at = 0;
            for size in [data.len() / 3, 1, 7, data.len()] {
                let end = (at + size).min(data.len());
                got.extend(chunked.extend(&bars_of(data, at..end)).unwrap());
                at = end;
            }
            assert_eq!(got, advances, "{what}: extend in chunks vs push");
            same_run(&what, &chunked, &batch);
            trades += batch.trades.len();
            strategies_with_trades += usize::from(!batch.trades.is_empty());
        }
    }
    assert!(trades > 500, "{trades} trades compared");
    assert!(strategies_with_trades > CASES, "{strategies_with_trades}");
}

#[test]
fn trade_from_gates_entries_alike_in_both() {
    let goog = prefix(&sample("GOOG.csv"), 600);
    let strategy = Strategy::from_toml(
        "x",
        "name = \"x\"\n[indicators]\nfast = \"sma(close, 10)\"\nslow = \"sma(close, 30)\"\n[rules]\nentry_long = \"crosses_above(fast, slow)\"\nexit_long = \"crosses_below(fast, slow)\"\n",
    )
    .unwrap();
    let from = goog.epoch_ms[300];
    let settings = Settings {
        trade_from: Some(from),
        ..Settings::default()
    };
    let gated = run(&goog, &strategy, settings).unwrap();
    let free = run(&goog, &strategy, Settings::default()).unwrap();
    assert!(
        free.trades.iter().any(|t| t.entry_bar <= 300),
        "the ungated run trades before the cut"
    );
    // An entry decided on bar 300 fills at 301.
    assert!(gated.trades.iter().all(|t| t.entry_bar > 300));
    assert!(!gated.trades.is_empty());
    let mut session = Session::new(strategy, settings);
    for b in bars_of(&goog, 0..goog.len()) {
        session.push(b).unwrap();
    }
    same_run("trade_from", &session, &gated);
}

#[test]
fn out_of_order_and_unusable_bars_are_refused_and_change_nothing() {
    let goog = sample("GOOG.csv");
    let strategy = Strategy::from_toml(
        "x",
        "name = \"x\"\n[rules]\nentry_long = \"close > open\"\nexit_long = \"close < open\"\n",
    )
    .unwrap();
    let mut s = Session::new(strategy, Settings::default());
    let bars = bars_of(&goog, 0..20);
    for b in &bars {
        s.push(*b).unwrap();
    }
    let before = (s.len(), s.trades(), s.equity().to_vec());
    assert!(matches!(
        s.push(bars[19]),
        Err(SessionError::OutOfOrder { .. })
    ));
    let mut bad = bars_of(&goog, 20..21)[0];
    bad.low = f64::NAN;
    assert!(matches!(
        s.push(bad),
        Err(SessionError::BadPrice { field: "low", .. })
    ));
    assert_eq!((s.len(), s.trades(), s.equity().to_vec()), before);
}

/// One call of each function with small periods (every output field), plus the time fields,
/// look-backs and higher timeframes.
fn every_call() -> Vec<String> {
    let mut out = Vec::new();
    for f in Func::ALL {
        let consts: &[&str] = match f.name() {
            "bbands" => &["2"],
            "supertrend" => &["3"],
            "sar" => &["0.02", "0.2"],
            _ => &[],
        };
        let mut k = consts.iter();
        let args: Vec<String> = f
            .args()
            .iter()
            .map(|(_, a)| match a {
                Arg::Series => "close".to_owned(),
                Arg::Cond => "close > open".to_owned(),
                Arg::Period { min } => (*min).max(5).to_string(),
                Arg::Constant => (*k.next().unwrap()).to_owned(),
            })
            .collect();
        let call = format!("{}({})", f.name(), args.join(", "));
        if f.fields().is_empty() {
            out.push(call);
        } else {
            for field in f.fields() {
                out.push(format!("{call}.{}", field.name()));
            }
        }
    }
    out.extend(
        [
            "close[3]",
            "hour",
            "weekday",
            "tf('D', sma(close, 3))",
            "tf('W-FRI', rsi(close, 3))",
            "tf('4h', highest(high, 2))",
        ]
        .map(str::to_owned),
    );
    out
}

#[test]
fn every_function_on_a_growing_prefix_equals_its_full_data_values() {
    let full = walk(7, 260);
    let calls = every_call();
    assert!(calls.len() > Func::ALL.len());
    let mut ev = Evaluator::new(&full);
    let whole: Vec<Series> = calls
        .iter()
        .map(|c| {
            ev.eval(&parse(c).unwrap())
                .unwrap_or_else(|e| panic!("{c}: {e}"))
        })
        .collect();
    for n in 1..=full.len() {
        let part = prefix(&full, n);
        let mut ev = Evaluator::new(&part);
        for (c, w) in calls.iter().zip(&whole) {
            let got = ev.eval(&parse(c).unwrap()).unwrap();
            let at = n - 1;
            let same = match (&got, w) {
                (Series::Num(a), Series::Num(b)) => {
                    a[at] == b[at] || (a[at].is_nan() && b[at].is_nan())
                }
                (Series::Bool(a), Series::Bool(b)) => a[at] == b[at],
                _ => false,
            };
            assert!(
                same,
                "{c} at bar {at} of a {n}-bar prefix: {} vs {} on the whole data",
                backtest::cell(&got, at),
                backtest::cell(w, at)
            );
        }
    }
}
