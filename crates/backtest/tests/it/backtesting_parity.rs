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

fn close(what: &str, got: f64, want: f64) {
    let tol = 1e-9 * want.abs().max(1e-6);
    assert!(
        (got - want).abs() <= tol,
        "{what}: {got} vs backtesting.py {want}"
    );
}

#[test]
fn trades_and_statistics_match_backtesting_py() {
    let Some(python) = std::env::var_os("BOTFORGE_PYTHON") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "BOTFORGE_PYTHON is not set: .ci/run creates the venv with backtesting.py and sets it"
        );
        eprintln!(
            "skipped: set BOTFORGE_PYTHON to a python with tests/python/requirements.txt installed"
        );
        return;
    };
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
        let r = run(
            &bars,
            &strategy(scenario),
            Settings {
                cash: 10_000.0,
                commission: 0.002,
                finalize: false,
            },
        )
        .unwrap();
        let trades = want["trades"].as_array().unwrap();
        assert_eq!(r.trades.len(), trades.len(), "{key}: trade count");
        for (i, (t, w)) in r.trades.iter().zip(trades).enumerate() {
            let what = format!("{key} trade {i}");
            assert_eq!(
                t.entry_bar as u64,
                w["entry_bar"].as_u64().unwrap(),
                "{what} entry bar"
            );
            assert_eq!(
                t.exit_bar.unwrap() as u64,
                w["exit_bar"].as_u64().unwrap(),
                "{what} exit bar"
            );
            close(&format!("{what} size"), t.size, w["size"].as_f64().unwrap());
            close(
                &format!("{what} entry"),
                t.entry_price,
                w["entry_price"].as_f64().unwrap(),
            );
            close(
                &format!("{what} exit"),
                t.exit_price.unwrap(),
                w["exit_price"].as_f64().unwrap(),
            );
            close(&format!("{what} pnl"), t.pnl(), w["pnl"].as_f64().unwrap());
            close(
                &format!("{what} return"),
                t.return_frac() * 100.0,
                w["return_pct"].as_f64().unwrap(),
            );
            close(
                &format!("{what} commission"),
                t.commission,
                w["commission"].as_f64().unwrap(),
            );
        }
        let ours = backtest::report::to_json(&bars, &r, &backtest::stats::compute(&bars, &r));
        for (k, v) in want["stats"].as_object().unwrap() {
            match (v.as_f64(), ours[k].as_f64()) {
                (None, got) => assert!(
                    got.is_none(),
                    "{key} {k}: backtesting.py has none, we have {got:?}"
                ),
                (Some(w), Some(g)) => close(&format!("{key} {k}"), g, w),
                (Some(w), None) => panic!("{key} {k}: backtesting.py has {w}, we have none"),
            }
        }
    }
}
