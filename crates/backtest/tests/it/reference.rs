//! What the tests against Python references share: the pinned interpreter, running a script for
//! its JSON, and comparing trade lists and statistics at 1e-9.

use std::collections::HashMap;
use std::io::Write as _;

use backtest::engine::Run;
use serde_json::Value;

/// The CI venv's Python (`BOTFORGE_PYTHON`); outside CI a missing one skips the test, in CI it
/// fails it.
pub fn python() -> Option<std::ffi::OsString> {
    let p = std::env::var_os("BOTFORGE_PYTHON");
    if p.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "BOTFORGE_PYTHON is not set: .ci/run creates the venv with backtesting.py and sets it"
        );
        let _ = writeln!(
            std::io::stderr(),
            "skipped: set BOTFORGE_PYTHON to a python with tests/python/requirements.txt installed"
        );
    }
    p
}

/// Runs `python args…` and reads its stdout as a JSON object.
pub fn python_json(python: &std::ffi::OsStr, args: &[&std::ffi::OsStr]) -> HashMap<String, Value> {
    let out = std::process::Command::new(python)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// `got` equals `want` within 1e-9 relative (1e-15 absolute near zero).
pub fn close(what: &str, got: f64, want: f64) {
    let tol = 1e-9 * want.abs().max(1e-6);
    assert!(
        (got - want).abs() <= tol,
        "{what}: botforge {got} vs the reference {want}"
    );
}

/// The engine's closed trades equal the reference's `trades`: bars, size, prices, profit and
/// commission.
pub fn compare_trades(what: &str, ours: &Run, want: &Value) {
    let trades = want["trades"].as_array().unwrap();
    assert_eq!(ours.trades.len(), trades.len(), "{what}: trade count");
    for (i, (t, w)) in ours.trades.iter().zip(trades).enumerate() {
        let what = format!("{what} trade {i}");
        assert_eq!(
            (t.entry_bar as u64, t.exit_bar.unwrap() as u64),
            (
                w["entry_bar"].as_u64().unwrap(),
                w["exit_bar"].as_u64().unwrap()
            ),
            "{what} bars"
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
            &format!("{what} commission"),
            t.commission,
            w["commission"].as_f64().unwrap(),
        );
        if let Some(r) = w.get("return_pct").and_then(Value::as_f64) {
            close(&format!("{what} return"), t.return_frac() * 100.0, r);
        }
    }
}

/// Every statistic of the reference's `stats` equals ours (`null` where it has none).
pub fn compare_stats(what: &str, stats: &Value, want: &Value) {
    for (k, v) in want["stats"].as_object().unwrap() {
        match (v.as_f64(), stats[k].as_f64()) {
            (None, got) => assert!(
                got.is_none(),
                "{what} {k}: the reference has none, we have {got:?}"
            ),
            (Some(w), Some(g)) => close(&format!("{what} {k}"), g, w),
            (Some(w), None) => panic!("{what} {k}: the reference has {w}, we have none"),
        }
    }
}
