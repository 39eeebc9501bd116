//! Issue 19: the same data in the shapes other tools write — a European spreadsheet (`;`,
//! decimal comma, DD.MM.YYYY), Yahoo (MM/DD/YYYY, Adj Close), `MetaTrader` 5 (tab, `<DATE>`
//! `<TIME>`), Binance klines (epoch milliseconds, extra columns), ISO with `Z`, YYYYMMDD, gzip —
//! generated from the bundled samples with pandas, gives the canonical file's trades and
//! statistics; `--adjusted` scales by Adj Close.

use std::path::PathBuf;

use backtest::engine::{Settings, run};
use backtest::{LoadOptions, TimeFormat, load};
use strategy::Strategy;

use crate::reference::python;

const SMA: &str = r#"name = "sma"
[indicators]
fast = "sma(close, 10)"
slow = "sma(close, 30)"
[rules]
entry_long = "crosses_above(fast, slow)"
entry_short = "crosses_below(fast, slow) and hour >= 0"
[risk]
stop_loss_pct = 3.0
"#;

/// Malformed Parquet (written by `data_variants.py`): each names the file, the row group, the
/// row and the column.
fn malformed_parquet_names_the_row_group(dir: &std::path::Path) {
    for (f, want) in [
        (
            "bad_no_close.parquet",
            "column `Close`: not found (the columns are Open, High, Low, Volume, Date)",
        ),
        (
            "bad_null_close.parquet",
            ":701: row group 1: column `Close`: is empty (null)",
        ),
        (
            "bad_high_low.parquet",
            ":10: row group 0: column `High`: High",
        ),
        (
            "bad_order.parquet",
            ":6: row group 0: column `Date`: the time is earlier than the previous row's",
        ),
        (
            "bad_bool_close.parquet",
            "row group 0: column `Close`: is true/false, not a number or a time",
        ),
    ] {
        let err = load(&dir.join(f), &LoadOptions::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains(want), "{f}: {err}");
        assert!(err.contains(f), "{f}: the message names the file: {err}");
    }
}

#[test]
fn every_shape_trades_as_the_canonical_file() {
    let Some(python) = python() else {
        return;
    };
    let data = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data");
    let dir = tempfile::tempdir().unwrap();
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/python/data_variants.py"
    );
    let out = std::process::Command::new(python)
        .arg(script)
        .arg(&data)
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let files: Vec<String> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(files.len(), 27);
    malformed_parquet_names_the_row_group(dir.path());
    let files: Vec<String> = files
        .into_iter()
        .filter(|f| !f.starts_with("bad_"))
        .collect();
    let s = Strategy::from_toml("sma", SMA).unwrap();
    let mut checked = 0;
    for stem in ["GOOG", "EURUSD"] {
        let (canon, _) = load(&data.join(format!("{stem}.csv")), &LoadOptions::default()).unwrap();
        let want = run(&canon, &s, Settings::default()).unwrap();
        let want_stats =
            backtest::report::to_json(&canon, &want, &backtest::stats::compute(&canon, &want));
        assert!(want.trades.len() > 20);
        for f in files.iter().filter(|f| f.starts_with(stem)) {
            let (bars, detected) = load(&dir.path().join(f), &LoadOptions::default())
                .unwrap_or_else(|e| panic!("{f}: {e}"));
            assert_eq!(bars.epoch_ms, canon.epoch_ms, "{f}: times");
            assert_eq!(bars.close, canon.close, "{f}: closes");
            if f.ends_with(".parquet") {
                // Typed times are written out as the canonical file writes them.
                assert_eq!(bars.time, canon.time, "{f}: times as text");
                assert_eq!(detected.format, "parquet", "{f}");
            }
            let got = run(&bars, &s, Settings::default()).unwrap();
            assert_eq!(got.trades, want.trades, "{f}: trades");
            let stats =
                backtest::report::to_json(&bars, &got, &backtest::stats::compute(&bars, &got));
            for key in [
                "return_pct",
                "sharpe_ratio",
                "max_drawdown_pct",
                "trades",
                "equity_final",
                "duration_days",
            ] {
                assert_eq!(stats[key], want_stats[key], "{f}: {key}");
            }
            let expected = if f.ends_with("_eu.csv") {
                TimeFormat::DayFirst
            } else if f.ends_with("_yahoo.csv") {
                TimeFormat::MonthFirst
            } else if f.ends_with("_binance.csv") {
                TimeFormat::EpochMillis
            } else if f.ends_with("_compact.tsv") {
                TimeFormat::Compact
            } else if f.ends_with("_zstd.parquet") {
                TimeFormat::Native("Parquet timestamp (milliseconds)".to_owned())
            } else if f.ends_with("_rowgroups.parquet") {
                TimeFormat::Native("Parquet timestamp (nanoseconds)".to_owned())
            } else if f.ends_with(".parquet") && !f.ends_with("_text.parquet") {
                TimeFormat::Native("Parquet timestamp (microseconds)".to_owned())
            } else {
                TimeFormat::Iso
            };
            assert_eq!(detected.time_format, expected, "{f}");
            assert_eq!(detected.decimal_comma, f.ends_with("_eu.csv"), "{f}");
            assert_eq!(detected.gzip, f.contains(".csv.gz"), "{f}");
            checked += 1;
        }
    }
    assert_eq!(checked, 22);
    // --adjusted scales every price by Adj Close / Close (here one half).
    let yahoo = dir.path().join("GOOG_yahoo.csv");
    let (plain, _) = load(&yahoo, &LoadOptions::default()).unwrap();
    let (adjusted, d) = load(
        &yahoo,
        &LoadOptions {
            adjusted: true,
            ..LoadOptions::default()
        },
    )
    .unwrap();
    assert!(d.adjusted);
    for i in 0..plain.len() {
        assert!((adjusted.open[i] - plain.open[i] * 0.5).abs() <= 1e-12 * plain.open[i]);
        assert!((adjusted.close[i] - plain.close[i] * 0.5).abs() <= 1e-12 * plain.close[i]);
    }
}
