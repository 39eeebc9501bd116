//! Issue 21's property: strategies built at random from §5.2's parts — entries, exits, sizing,
//! stops and targets (percent or price expressions), trailing stops, time exits, stop / limit
//! entries, fills at the close, fractional units, position state, higher timeframes — trade the
//! same in the engine and in their exported file under backtesting.py 0.6.6. A bounded,
//! seeded sample runs in CI (one Python process per data file).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::PathBuf;

use backtest::engine::{Settings, run};
use backtest::load_csv;
use proptest::prelude::*;
use proptest::strategy::ValueTree as _;
use proptest::test_runner::TestRunner;
use serde_json::Value;

use crate::reference::python;

/// How many strategies are drawn.
pub(crate) const CASES: usize = 40;

/// The `[rules]` of rule set `n`; whether it trades short.
fn rules(t: &mut String, n: u8) -> bool {
    t.push_str("[rules]\n");
    let (entry_long, exit_long, entry_short, exit_short) = match n {
        0 => (
            "crosses_above(fast, slow)",
            "crosses_below(fast, slow)",
            "",
            "",
        ),
        1 => ("rsi < 35", "rsi > 65", "rsi > 72", "rsi < 40"),
        2 => (
            "crosses_above(fast, slow)",
            "",
            "crosses_below(fast, slow)",
            "",
        ),
        3 => (
            "rsi < 40 and position == 0",
            "bars_in_trade >= 8 or abs(open_pnl_pct) > 4",
            "rsi > 70",
            "open_pnl_pct < -2 or close > at_entry(close) + at_entry(atr)",
        ),
        _ => (
            "close > tf('W-FRI', sma(close, 4))",
            "close < tf('D', lowest(low, 3))",
            "",
            "",
        ),
    };
    for (k, v) in [
        ("entry_long", entry_long),
        ("exit_long", exit_long),
        ("entry_short", entry_short),
        ("exit_short", exit_short),
    ] {
        if !v.is_empty() {
            let _ = writeln!(t, "{k} = \"{v}\"");
        }
    }
    !entry_short.is_empty()
}

pub(crate) fn toml_for(parts: &Parts, i: usize) -> String {
    let mut t = format!("name = \"random_{i:02}\"\n[indicators]\n");
    t.push_str("rsi = \"rsi(close, 14)\"\natr = \"atr(14)\"\nfast = \"sma(close, 10)\"\nslow = \"sma(close, 30)\"\n");
    let shorts = rules(&mut t, parts.rules);
    let t = &mut t;
    t.push_str("[risk]\n");
    // Stops: none, percent, or ATR levels (needed for risk_pct).
    let stop = if parts.sizing == 2 {
        parts.stop.max(1)
    } else {
        parts.stop
    };
    levels_for(t, parts, stop, shorts);
    match parts.trailing {
        0 => {}
        1 => {
            let _ = writeln!(t, "trailing_stop_pct = {:.1}", 3.0 + f64::from(parts.k));
            if parts.k % 2 == 1 {
                t.push_str("trailing_from = \"high\"\n");
            }
        }
        _ => {
            t.push_str("trailing_stop_long = \"close - 2.5 * atr\"\n");
            if shorts {
                t.push_str("trailing_stop_short = \"close + 2.5 * atr\"\n");
            }
        }
    }
    if parts.trailing > 0 && parts.k.is_multiple_of(3) {
        let _ = writeln!(
            t,
            "trailing_offset_pct = {:.1}",
            1.0 + f64::from(parts.k) / 4.0
        );
    }
    if (stop == 1 || parts.target == 1) && parts.k % 4 == 1 {
        t.push_str("stop_from = \"fill\"\n");
    }
    if parts.sizing == 0 && parts.k >= 5 {
        let _ = writeln!(t, "pyramiding = {}", parts.k - 3);
    }
    if parts.max_bars > 0 {
        let _ = writeln!(t, "max_bars = {}", parts.max_bars);
    }
    match parts.sizing {
        0 => {
            let _ = writeln!(t, "size = {:.2}", 0.25 + f64::from(parts.k) / 10.0);
        }
        1 if !parts.fractional => t.push_str("units = 5\n"),
        2 => {
            let _ = writeln!(t, "risk_pct = {:.1}", 0.5 + f64::from(parts.k) / 2.0);
            if parts.k.is_multiple_of(2) {
                let _ = writeln!(t, "max_size = {:.2}", 0.3 + f64::from(parts.k) / 20.0);
            }
        }
        _ => {}
    }
    if parts.fractional {
        t.push_str("fractional_unit = 0.001\n");
    }
    orders_for(t, parts, shorts);
    t.clone()
}

/// The stop and target of a drawn strategy (`stop` 3 and `target` 3 read position state).
fn levels_for(t: &mut String, parts: &Parts, stop: u8, shorts: bool) {
    match stop {
        0 => {}
        1 => {
            let _ = writeln!(t, "stop_loss_pct = {:.1}", 2.0 + f64::from(parts.k) / 2.0);
        }
        3 => {
            // Position state: an initial R from the fill, re-valued at every close.
            let r = 1.0 + f64::from(parts.k) / 4.0;
            let _ = writeln!(
                t,
                "stop_loss_long = \"entry_price - {r:.1} * at_entry(atr)\""
            );
            if shorts {
                let _ = writeln!(
                    t,
                    "stop_loss_short = \"if(open_pnl_pct > 2, entry_price, entry_price + {r:.1} * at_entry(atr))\""
                );
            }
        }
        _ => {
            let _ = writeln!(
                t,
                "stop_loss_long = \"close - {:.1} * atr\"",
                1.0 + f64::from(parts.k) / 4.0
            );
            if shorts {
                let _ = writeln!(
                    t,
                    "stop_loss_short = \"close + {:.1} * atr\"",
                    1.0 + f64::from(parts.k) / 4.0
                );
            }
        }
    }
    match parts.target {
        0 => {}
        1 if parts.k.is_multiple_of(4) => {
            // freqtrade's stepping target instead of a fixed one.
            let _ = writeln!(
                t,
                "roi = [[0, {:.1}], [{}, 1.5], [{}, 0.0]]",
                3.0 + f64::from(parts.k),
                3 + parts.k,
                12 + parts.k
            );
        }
        1 => {
            let _ = writeln!(t, "take_profit_pct = {:.1}", 3.0 + f64::from(parts.k));
        }
        2 => {
            t.push_str("take_profit_long = \"close + 3 * atr\"\n");
            if shorts {
                t.push_str("take_profit_short = \"close - 3 * atr\"\n");
            }
        }
        _ => {
            t.push_str("take_profit_long = \"max(entry_price + 3 * at_entry(atr) - bars_in_trade * atr / 4, entry_price * 1.002)\"\n");
            if shorts {
                t.push_str("take_profit_short = \"entry_price - 3 * at_entry(atr)\"\n");
            }
        }
    }
}

/// The `[orders]` section of a drawn strategy.
fn orders_for(t: &mut String, parts: &Parts, shorts: bool) {
    t.push_str("[orders]\n");
    match parts.order {
        0 => {}
        1 => t.push_str("entry_long_stop = \"highest(high, 5)\"\n"),
        _ => t.push_str("entry_long_limit = \"close * 0.995\"\n"),
    }
    if parts.order > 0 && shorts {
        t.push_str(if parts.order == 1 {
            "entry_short_stop = \"lowest(low, 5)\"\n"
        } else {
            "entry_short_limit = \"close * 1.005\"\n"
        });
    }
    let _ = writeln!(t, "valid_bars = {}", 1 + parts.k % 4);
    // TradingView's entries (§5.4): reversing when the opposite order fills, and both entry
    // orders waiting at once with the first fill cancelling the other.
    if shorts && parts.k % 3 == 2 {
        t.push_str("reverse = \"on_fill\"\n");
    }
    if shorts && parts.order > 0 && parts.k.is_multiple_of(2) {
        t.push_str("oca = true\n");
    }
    if parts.on_close {
        t.push_str("fill = \"close\"\n");
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Parts {
    pub(crate) rules: u8,
    pub(crate) sizing: u8,
    pub(crate) stop: u8,
    pub(crate) target: u8,
    pub(crate) trailing: u8,
    pub(crate) max_bars: u32,
    pub(crate) order: u8,
    pub(crate) on_close: bool,
    pub(crate) fractional: bool,
    pub(crate) k: u32,
}

pub(crate) fn parts() -> impl Strategy<Value = Parts> {
    (
        (0u8..5, 0u8..3, 0u8..4, 0u8..4, 0u8..3),
        (
            prop_oneof![Just(0u32), 3u32..30],
            0u8..3,
            any::<bool>(),
            prop::bool::weighted(0.2),
            0u32..8,
        ),
    )
        .prop_map(
            |(
                (rules, sizing, stop, target, trailing),
                (max_bars, order, on_close, fractional, k),
            )| Parts {
                rules,
                sizing,
                stop,
                target,
                trailing,
                max_bars,
                order,
                on_close,
                fractional,
                k,
            },
        )
}

#[test]
#[expect(
    clippy::too_many_lines,
    reason = "draw, check the sample's reach, export, run, compare: one story"
)]
fn random_strategies_trade_the_same_in_the_engine_and_their_export() {
    let Some(python) = python() else {
        return;
    };
    let mut runner = TestRunner::deterministic();
    let dir = tempfile::tempdir().unwrap();
    let mut strategies = Vec::new();
    let mut specs = Vec::new();
    let mut drawn = Vec::new();
    for i in 0..CASES {
        let p = parts().new_tree(&mut runner).unwrap().current();
        drawn.push(p.clone());
        let text = toml_for(&p, i);
        let s = strategy::Strategy::from_toml(&format!("random_{i:02}"), &text)
            .unwrap_or_else(|e| panic!("{p:?}\n{text}\n{e}"));
        let path = dir.path().join(format!("{}.py", s.name));
        std::fs::write(&path, strategy::to_python(&s)).unwrap();
        specs.push(format!(
            "{}:{}",
            path.display(),
            strategy::python_class_name(&s)
        ));
        strategies.push((s, text));
    }
    // The sample reaches every part.
    for (what, n) in [
        (
            "every rule set",
            (0..5)
                .filter(|r| drawn.iter().any(|p| p.rules == *r))
                .count()
                == 5,
        ),
        (
            "every sizing",
            (0..3)
                .filter(|z| drawn.iter().any(|p| p.sizing == *z))
                .count()
                == 3,
        ),
        ("stop entries", drawn.iter().any(|p| p.order == 1)),
        ("limit entries", drawn.iter().any(|p| p.order == 2)),
        ("fills at the close", drawn.iter().any(|p| p.on_close)),
        ("fractional units", drawn.iter().any(|p| p.fractional)),
        (
            "trailing from the high",
            drawn.iter().any(|p| p.trailing == 1 && p.k % 2 == 1),
        ),
        (
            "a trailing offset",
            drawn
                .iter()
                .any(|p| p.trailing > 0 && p.k.is_multiple_of(3)),
        ),
        (
            "roi",
            drawn.iter().any(|p| p.target == 1 && p.k.is_multiple_of(4)),
        ),
        (
            "stop_from = fill",
            drawn
                .iter()
                .any(|p| (p.stop == 1 || p.target == 1) && p.k % 4 == 1),
        ),
        (
            "pyramiding",
            drawn.iter().any(|p| p.sizing == 0 && p.k >= 5),
        ),
        (
            "max_size",
            drawn.iter().any(|p| p.sizing == 2 && p.k.is_multiple_of(2)),
        ),
        ("time exits", drawn.iter().any(|p| p.max_bars > 0)),
        (
            "trailing expressions",
            drawn.iter().any(|p| p.trailing == 2),
        ),
        (
            "stops reading position state",
            drawn.iter().any(|p| p.stop == 3),
        ),
        (
            "targets reading position state",
            drawn.iter().any(|p| p.target == 3),
        ),
        (
            "reverse on the fill",
            drawn
                .iter()
                .any(|p| p.k % 3 == 2 && matches!(p.rules, 1..=3)),
        ),
        (
            "one-cancels-all entries",
            drawn
                .iter()
                .any(|p| p.order > 0 && p.k.is_multiple_of(2) && matches!(p.rules, 1..=3)),
        ),
    ] {
        assert!(n, "the sample has no {what}");
    }
    let data = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data");
    let runner_py = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/python/run_exported.py"
    );
    let children: Vec<_> = ["GOOG.csv", "EURUSD.csv"]
        .iter()
        .map(|f| {
            let child = std::process::Command::new(&python)
                .arg(runner_py)
                .arg(data.join(f))
                .args(&specs)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            (f, child)
        })
        .collect();
    let mut trades = 0;
    for (file, child) in children {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let got: HashMap<String, Value> = serde_json::from_slice(&out.stdout).unwrap();
        let bars = load_csv(&data.join(file)).unwrap();
        for (s, text) in &strategies {
            let r = run(&bars, s, Settings::default()).unwrap();
            let want = &got[&format!("{}.py", s.name)];
            let w = want["trades"].as_array().unwrap();
            let what = format!("{} on {file}:\n{text}", s.name);
            assert_eq!(r.trades.len(), w.len(), "{what}: trade count");
            for (t, w) in r.trades.iter().zip(w) {
                assert_eq!(
                    t.entry_bar as u64,
                    w["entry_bar"].as_u64().unwrap(),
                    "{what}"
                );
                assert_eq!(
                    t.exit_bar.unwrap() as u64,
                    w["exit_bar"].as_u64().unwrap(),
                    "{what}"
                );
                for (ours, key) in [
                    (t.size, "size"),
                    (t.entry_price, "entry_price"),
                    (t.exit_price.unwrap(), "exit_price"),
                    (t.pnl(), "pnl"),
                ] {
                    let theirs = w[key].as_f64().unwrap();
                    assert!(
                        (ours - theirs).abs() <= 1e-9 * theirs.abs().max(1e-6),
                        "{what}: {key} {ours} vs {theirs}"
                    );
                }
            }
            let stats = backtest::report::to_json(&bars, &r, &backtest::stats::compute(&bars, &r));
            let eq = stats["equity_final"].as_f64().unwrap();
            let want_eq = want["stats"]["equity_final"].as_f64().unwrap();
            assert!(
                (eq - want_eq).abs() <= 1e-9 * want_eq.abs(),
                "{what}: equity {eq} vs {want_eq}"
            );
            trades += r.trades.len();
        }
    }
    assert!(trades > 1000, "{trades} trades compared");
}
