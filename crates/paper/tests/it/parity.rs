//! Issue 34, item 6: paper runs on `sim-exchange` (with faults) against independent
//! backtesting.py strategies (`tests/python/paper_reference.py`) on the bars the runs
//! journaled, entries gated to `live_from` as the warm-up requires.

use std::time::Duration;

use exchange_sim::{Faults, Market};
use paper::status::RunDir;
use serde_json::Value;

use crate::simulated::sessions;
use crate::{STRATEGIES, minutes};

/// The CI venv's Python (`BOTFORGE_PYTHON`); outside CI a missing one skips the test, in CI it
/// fails it.
fn python() -> Option<std::ffi::OsString> {
    let p = std::env::var_os("BOTFORGE_PYTHON");
    assert!(
        p.is_some() || std::env::var_os("CI").is_none(),
        "BOTFORGE_PYTHON is not set: .ci/run creates the venv with backtesting.py and sets it"
    );
    p
}

fn close(what: &str, got: f64, want: f64) {
    assert!(
        (got - want).abs() <= 1e-9 * want.abs().max(1e-6),
        "{what}: botforge {got} vs backtesting.py {want}"
    );
}

#[tokio::test]
async fn paper_runs_trade_as_backtesting_py_on_the_bars_they_saw() {
    let Some(python) = python() else { return };
    let market = Market::new(
        minutes(900, 23),
        "BTCUSDT",
        "1m",
        60_000,
        60,
        25.0,
        Faults::parse("drop_final=9,duplicate=7,disconnect=41").unwrap(),
    );
    let ex = exchange_sim::spawn(market, "127.0.0.1:0", Duration::from_millis(100))
        .await
        .unwrap();
    let root = tempfile::tempdir().unwrap();
    let mut tasks = Vec::new();
    for (name, text) in STRATEGIES {
        let url = ex.url();
        let dir = root.path().join(name);
        tasks.push(tokio::spawn(async move {
            sessions(&url, &dir, (name, text), &[(150, 40)], None).await;
            dir
        }));
    }
    let mut compared = 0;
    for (t, (name, _)) in tasks.into_iter().zip(STRATEGIES) {
        let dir = t.await.unwrap();
        let run = RunDir::read(&dir).unwrap();
        let csv = dir.join("bars.csv");
        std::fs::write(&csv, run.csv()).unwrap();
        let live_from = run.manifest.live_from.clone().unwrap();
        let out = std::process::Command::new(&python)
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../tests/python/paper_reference.py"
            ))
            .arg(&csv)
            .arg(&live_from)
            .arg(name)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let reference: Value = serde_json::from_slice(&out.stdout).unwrap();
        let want = reference[name]["trades"].as_array().unwrap();
        let status = run.status().unwrap();
        let ours = status["trade_list"].as_array().unwrap();
        assert_eq!(ours.len(), want.len(), "{name}: trade count");
        for (i, (o, w)) in ours.iter().zip(want).enumerate() {
            let what = format!("{name} trade {i}");
            assert_eq!(o["entry_bar"], w["entry_bar"], "{what}");
            assert_eq!(o["exit_bar"], w["exit_bar"], "{what}");
            for k in ["entry_price", "exit_price", "size", "pnl", "commission"] {
                close(
                    &format!("{what} {k}"),
                    o[k].as_f64().unwrap(),
                    w[k].as_f64().unwrap(),
                );
            }
        }
        let open = u64::from(!status["position"].is_null());
        assert_eq!(
            open,
            reference[name]["open"].as_u64().unwrap(),
            "{name}: open"
        );
        compared += ours.len();
    }
    assert!(compared >= 10, "{compared} trades compared");
}
