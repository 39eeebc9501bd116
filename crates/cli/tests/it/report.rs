//! `backtest --sweep`: the sweep's ranking against single runs, and its mistakes (the report
//! itself is checked in a browser by `report_page`).

use std::path::Path;

use super::{botforge, goog, text};

const SMA: &str = "name = \"SmaCross\"\ndescription = \"SMA cross <long only> & more\"\n[params]\nfast = 10\nslow = 30\n[indicators]\nf = \"sma(close, fast)\"\ns = \"sma(close, slow)\"\n[rules]\nentry_long = \"crosses_above(f, s)\"\nexit_long = \"crosses_below(f, s)\"\n";

fn json(dir: &Path, args: &[&str]) -> serde_json::Value {
    let out = botforge(dir, args, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn a_sweep_ranks_every_combination_as_single_runs_would() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("sma.toml"), SMA).unwrap();
    let data = goog();
    let v = json(
        dir.path(),
        &[
            "backtest",
            "sma.toml",
            "--data",
            &data,
            "--sweep",
            "fast=5..15:5",
            "--sweep",
            "slow=20..60:20",
            "--maximize",
            "return_pct",
            "--top",
            "9",
            "--json",
        ],
    );
    let sweep = &v["sweep"];
    assert_eq!(sweep["combinations"], 9);
    assert_eq!(sweep["maximize"], "return_pct");
    // fast 5/10/15 and slow 20/40/60: six distinct SMAs, each computed once.
    assert_eq!(sweep["indicators_computed"], 6);
    let results = sweep["results"].as_array().unwrap();
    assert_eq!(results.len(), 9);
    let mut best = f64::NEG_INFINITY;
    let mut previous = f64::INFINITY;
    for r in results {
        let (fast, slow) = (
            r["params"]["fast"].as_f64().unwrap(),
            r["params"]["slow"].as_f64().unwrap(),
        );
        // The same combination as a file of its own gives the same numbers.
        let file = dir.path().join(format!("s_{fast}_{slow}.toml"));
        std::fs::write(
            &file,
            SMA.replace("fast = 10", &format!("fast = {fast}"))
                .replace("slow = 30", &format!("slow = {slow}")),
        )
        .unwrap();
        let single = json(
            dir.path(),
            &[
                "backtest",
                file.to_str().unwrap(),
                "--data",
                &data,
                "--json",
            ],
        );
        assert_eq!(
            r["return_pct"], single["return_pct"],
            "fast={fast} slow={slow}"
        );
        assert_eq!(r["trades"], single["trades"]);
        assert_eq!(r["max_drawdown_pct"], single["max_drawdown_pct"]);
        let got = r["return_pct"].as_f64().unwrap();
        assert!(got <= previous, "best first");
        previous = got;
        best = best.max(single["return_pct"].as_f64().unwrap());
    }
    // The document's own statistics are the winner's.
    assert_eq!(v["return_pct"].as_f64().unwrap().to_bits(), best.to_bits());
    assert_eq!(v["params"]["fast"], results[0]["params"]["fast"]);

    let table = text(
        &botforge(
            dir.path(),
            &[
                "backtest",
                "sma.toml",
                "--data",
                &data,
                "--sweep",
                "fast=5..15:5",
            ],
            &[],
        )
        .stdout,
    );
    assert!(
        table.starts_with("sweep: 3 combinations by sharpe_ratio"),
        "{table}"
    );
    assert!(table.contains("best: fast="), "{table}");
    assert!(table.contains("Sharpe Ratio"), "{table}");
}

#[test]
fn sweep_mistakes_are_named_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("sma.toml"), SMA).unwrap();
    let data = goog();
    for (sweep, maximize, says) in [
        (
            "fast=5-15",
            "sharpe_ratio",
            "--sweep fast=5-15: no `..` between FROM and TO",
        ),
        ("fast=5..x:5", "sharpe_ratio", "TO `x` is not a number"),
        ("fast=15..5", "sharpe_ratio", "TO is below FROM"),
        (
            "period=5..15",
            "sharpe_ratio",
            "the strategy has no param `period`",
        ),
        (
            "fast=1..3",
            "sharpe_ratio",
            "with fast=1 the strategy is invalid: sma's `n` must be a whole number from 2",
        ),
        (
            "fast=5..15:5",
            "profit",
            "--maximize profit: not a statistic",
        ),
    ] {
        let out = botforge(
            dir.path(),
            &[
                "backtest",
                "sma.toml",
                "--data",
                &data,
                "--sweep",
                sweep,
                "--maximize",
                maximize,
                "--report",
                "r.html",
            ],
            &[],
        );
        assert_eq!(out.status.code(), Some(1), "{sweep}: {}", text(&out.stderr));
        assert!(
            text(&out.stderr).contains(says),
            "{sweep}: {}",
            text(&out.stderr)
        );
        assert!(!dir.path().join("r.html").exists());
    }
}
