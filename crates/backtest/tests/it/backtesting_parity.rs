//! The engine and the statistics against backtesting.py 0.6.6 itself (pinned in the CI venv):
//! identical trade lists and every statistic within 1e-9 relative, for SMA-cross long-only, SMA-cross
//! long/short reversal, RSI thresholds, RSI with a stop loss, and with a take profit, short RSI
//! thresholds (which run out of money on GOOG), on GOOG
//! (daily) and EURUSD (hourly), with commission 0.002.

use std::collections::HashMap;
use std::path::PathBuf;

use backtest::engine::{Settings, run};
use backtest::load_csv;
use serde_json::Value;
use strategy::Strategy;

use crate::reference::{compare_stats, compare_trades, python};

fn strategy(scenario: &str) -> Strategy {
    let (ind, rules, risk) = match scenario {
        "sma_long" => (
            "fast = \"sma(close, 10)\"\nslow = \"sma(close, 20)\"",
            "entry_long = \"crosses_above(fast, slow)\"\nexit_long = \"crosses_below(fast, slow)\"",
            "",
        ),
        "sma_reversal" => (
            "fast = \"sma(close, 10)\"\nslow = \"sma(close, 30)\"",
            "entry_long = \"crosses_above(fast, slow)\"\nentry_short = \"crosses_below(fast, slow)\"",
            "",
        ),
        "rsi" => (
            "rsi = \"rsi(close, 14)\"",
            "entry_long = \"rsi < 30\"\nexit_long = \"rsi > 70\"",
            "",
        ),
        "rsi_sl" => (
            "rsi = \"rsi(close, 14)\"",
            "entry_long = \"rsi < 30\"\nexit_long = \"rsi > 70\"",
            "stop_loss_pct = 5.0",
        ),
        "rsi_tp" => (
            "rsi = \"rsi(close, 14)\"",
            "entry_long = \"rsi < 30\"\nexit_long = \"rsi > 70\"",
            "stop_loss_pct = 5.0\ntake_profit_pct = 8.0",
        ),
        "rsi_short" => (
            "rsi = \"rsi(close, 14)\"",
            "entry_short = \"rsi > 70\"\nexit_short = \"rsi < 30\"",
            "",
        ),
        other => panic!("no scenario {other}"),
    };
    Strategy::from_toml(
        scenario,
        &format!("name = \"{scenario}\"\n[indicators]\n{ind}\n[rules]\n{rules}\n[risk]\nsize = 1.0\n{risk}\n"),
    )
    .unwrap()
}

#[test]
fn trades_and_statistics_match_backtesting_py() {
    let Some(python) = python() else { return };
    let data = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data");
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/python/backtesting_reference.py"
    );
    let out = std::process::Command::new(python)
        .arg(script)
        .arg(&data)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let reference: HashMap<String, Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(reference.len(), 12, "6 scenarios × 2 files");
    for (key, want) in &reference {
        let (file, scenario) = key.split_once(':').unwrap();
        let bars = load_csv(&data.join(file)).unwrap();
        let settings = Settings {
            cash: 10_000.0,
            commission: 0.002,
            finalize: false,
            trade_from: None,
        };
        let r = run(&bars, &strategy(scenario), settings).unwrap();
        crate::portfolio::same_through_the_portfolio(key, &bars, &strategy(scenario), settings, &r);
        compare_trades(key, &r, want);
        let ours = backtest::report::to_json(&bars, &r, &backtest::stats::compute(&bars, &r));
        compare_stats(key, &ours, want);
    }
}
