//! `botforge backtest` over several `--data` files (DESIGN.md §5.3) as a user runs it: names,
//! globs, the document's `symbols` and each trade's `symbol`, the trade list's symbol column,
//! and the mistakes named with exit 1 and nothing written.

use std::fmt::Write as _;

use crate::{botforge, goog, text};

const STRATEGY: &str = "name = \"pf\"\n[indicators]\nfast = \"sma(close, 10)\"\nslow = \"sma(close, 30)\"\n[rules]\nentry_long = \"crosses_above(fast, slow)\"\nexit_long = \"crosses_below(fast, slow)\"\n[risk]\nsize = 0.4\n";

/// GOOG's rows with every `keep`-th kept and prices scaled: another symbol on GOOG's calendar,
/// with holes.
fn thinned(keep: usize, scale: f64) -> String {
    let src = std::fs::read_to_string(goog()).unwrap();
    let mut out = String::from("Date,Open,High,Low,Close,Volume\n");
    for (i, line) in src.lines().skip(1).enumerate() {
        if i % keep == keep - 1 {
            continue;
        }
        let f: Vec<&str> = line.split(',').collect();
        let p = |k: usize| f[k].parse::<f64>().unwrap() * scale;
        let _ = writeln!(out, "{},{},{},{},{},{}", f[0], p(1), p(2), p(3), p(4), f[5]);
    }
    out
}

/// `botforge args` in `dir` exits 1, says `want` on stderr and prints nothing.
fn refused(dir: &std::path::Path, args: &[&str], want: &str) {
    let out = botforge(dir, args, &[]);
    let said = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{args:?}: {said}");
    assert!(said.contains(want), "{args:?}: {said}");
    assert!(out.stdout.is_empty(), "{args:?}");
}

#[test]
fn a_portfolio_backtest_names_each_trade_and_each_symbol() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("pf.toml"), STRATEGY).unwrap();
    std::fs::create_dir(dir.path().join("stocks")).unwrap();
    std::fs::write(dir.path().join("stocks/BBB.csv"), thinned(7, 0.5)).unwrap();
    std::fs::write(dir.path().join("stocks/AAA.csv"), thinned(5, 2.0)).unwrap();
    let data = goog();
    let spy = format!("SPY={data}");
    let out = botforge(
        dir.path(),
        &[
            "backtest",
            "pf.toml",
            "--data",
            "stocks/*.csv",
            "--data",
            &spy,
            "--json",
            "--trades",
            "trades.csv",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let symbols = v["symbols"].as_object().unwrap();
    let names: Vec<&String> = symbols.keys().collect();
    assert_eq!(names, ["AAA", "BBB", "SPY"]);
    let trades = v["trade_list"].as_array().unwrap();
    assert_eq!(trades.len() as u64, v["trades"].as_u64().unwrap());
    let mut per: std::collections::BTreeMap<&str, u64> = std::collections::BTreeMap::new();
    let mut last = (0, 0);
    for t in trades {
        let s = t["symbol"].as_str().unwrap();
        *per.entry(s).or_default() += 1;
        // Ordered by entry time, then --data order (AAA, BBB, SPY).
        let key = (
            t["entry_bar"].as_u64().unwrap(),
            ["AAA", "BBB", "SPY"].iter().position(|n| *n == s).unwrap(),
        );
        assert!(key >= last, "{key:?} after {last:?}");
        last = key;
    }
    for (name, s) in symbols {
        assert_eq!(
            s["trades"].as_u64(),
            per.get(name.as_str()).copied(),
            "{name}"
        );
        assert!(s["exposure_time_pct"].as_f64().unwrap() > 10.0, "{name}");
    }
    // The union of the times: GOOG's calendar (the thinned files add none).
    assert_eq!(v["start"], "2004-08-19");
    let csv = std::fs::read_to_string(dir.path().join("trades.csv")).unwrap();
    let mut lines = csv.lines();
    assert!(lines.next().unwrap().ends_with(",exit_reason,symbol"));
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), trades.len());
    for (row, t) in rows.iter().zip(trades) {
        let symbol = t["symbol"].as_str().unwrap();
        assert!(row.ends_with(&format!(",{symbol}")), "{row}");
        assert!(row.starts_with(&format!("{},", t["entry_bar"])), "{row}");
    }

    // The table names each symbol.
    let out = botforge(
        dir.path(),
        &[
            "backtest",
            "pf.toml",
            "--data",
            "stocks/*.csv",
            "--data",
            &spy,
        ],
        &[],
    );
    let table = text(&out.stdout);
    assert!(table.contains("portfolio: 3 symbols"), "{table}");
    for n in ["AAA", "BBB", "SPY"] {
        assert!(table.lines().any(|l| l.starts_with(n)), "{table}");
    }
}

#[test]
fn portfolio_mistakes_are_named_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("pf.toml"), STRATEGY).unwrap();
    let data = goog();
    let cases: [(Vec<String>, &str); 5] = [
        (
            vec!["nothing/*.csv".to_owned()],
            "--data nothing/*.csv: the pattern matches no file",
        ),
        (
            vec![data.clone(), format!("GOOG={data}")],
            "two files are named GOOG",
        ),
        (
            vec![
                data.clone(),
                format!("X={data}"),
                "--sweep".to_owned(),
                "n=1..2:1".to_owned(),
            ],
            "--sweep n: the strategy has no param `n`",
        ),
        (
            vec![
                data.clone(),
                format!("X={data}"),
                "--maximize".to_owned(),
                "return_pct".to_owned(),
            ],
            "--maximize return_pct: chooses what a parameter sweep maximizes, and there is no sweep",
        ),
        (
            vec![
                data.clone(),
                "Y=missing.csv".to_owned(),
                "--trades".to_owned(),
                "t.csv".to_owned(),
            ],
            "missing.csv",
        ),
    ];
    for (extra, want) in cases {
        let mut args = vec!["backtest", "pf.toml"];
        let mut it = extra.iter().peekable();
        while let Some(a) = it.next() {
            if a.starts_with("--") {
                args.push(a);
                args.push(it.next().unwrap());
            } else {
                args.push("--data");
                args.push(a);
            }
        }
        refused(dir.path(), &args, want);
    }
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, ["pf.toml"]);
}

/// A `[portfolio]` section makes a portfolio even over one file (the document has `symbols`);
/// a symbol in `trade` that no file is named, a portfolio strategy without `--data`, and its
/// export are refused with exit 1, naming what to do.
#[test]
fn a_portfolio_section_runs_as_a_portfolio_and_is_checked() {
    let dir = tempfile::tempdir().unwrap();
    let with = |section: &str| format!("{STRATEGY}[portfolio]\n{section}\n");
    std::fs::write(dir.path().join("one.toml"), with("max_positions = 1")).unwrap();
    std::fs::write(
        dir.path().join("trade.toml"),
        with("trade = [\"GOOG\", \"MSFT\"]"),
    )
    .unwrap();
    let data = goog();
    let out = botforge(
        dir.path(),
        &["backtest", "one.toml", "--data", &data, "--json"],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["symbols"]["GOOG"]["trades"], v["trades"]);
    assert_eq!(v["trade_list"][0]["symbol"], "GOOG");

    let cases: [(&[&str], &str); 3] = [
        (
            &["backtest", "trade.toml", "--data", &data],
            "portfolio.trade: no --data file is named MSFT (the symbols are GOOG)",
        ),
        (
            &["backtest", "one.toml"],
            "runs on symbols: name them with --data",
        ),
        (
            &["export", "one.toml"],
            "a portfolio strategy ([portfolio] or on()) has no backtesting.py form",
        ),
    ];
    for (args, want) in cases {
        refused(dir.path(), args, want);
    }
    assert!(!dir.path().join("one.py").exists());
}

/// `on("SYM", x)`: a market filter from another file gates the entries; a symbol no file is
/// named is refused naming the field, and the strategy's export too.
#[test]
fn on_reads_another_files_bars() {
    let dir = tempfile::tempdir().unwrap();
    let filtered = STRATEGY.replace(
        "entry_long = \"crosses_above(fast, slow)\"",
        "entry_long = \"crosses_above(fast, slow) and on('MKT', close > sma(close, 100))\"",
    );
    std::fs::write(dir.path().join("f.toml"), &filtered).unwrap();
    std::fs::write(dir.path().join("plain.toml"), STRATEGY).unwrap();
    std::fs::write(dir.path().join("mkt.csv"), thinned(3, 1.0)).unwrap();
    let data = goog();
    let run = |file: &str| -> serde_json::Value {
        let out = botforge(
            dir.path(),
            &[
                "backtest",
                file,
                "--data",
                &data,
                "--data",
                "MKT=mkt.csv",
                "--json",
            ],
            &[],
        );
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let (f, plain) = (run("f.toml"), run("plain.toml"));
    let n = |v: &serde_json::Value, s: &str| v["symbols"][s]["trades"].as_u64().unwrap();
    assert!(
        n(&f, "GOOG") < n(&plain, "GOOG"),
        "{} vs {}",
        n(&f, "GOOG"),
        n(&plain, "GOOG")
    );
    assert!(n(&f, "GOOG") > 5);

    let out = botforge(dir.path(), &["backtest", "f.toml", "--data", &data], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains(
            "rules.entry_long: on(\"MKT\", …): no --data file is named MKT (the symbols are GOOG)"
        ),
        "{}",
        text(&out.stderr)
    );
    let out = botforge(dir.path(), &["export", "f.toml"], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(!dir.path().join("f.py").exists());
}

/// `--sweep` over a portfolio: every combination runs on the shared account, the document has
/// the winner's `params` and the `sweep` table, and its statistics are the winner's own run.
#[test]
fn a_portfolio_sweeps_its_params() {
    let dir = tempfile::tempdir().unwrap();
    let swept = STRATEGY
        .replace("name = \"pf\"", "name = \"pf\"\n[params]\nn = 10")
        .replace("sma(close, 10)", "sma(close, n)");
    std::fs::write(dir.path().join("s.toml"), &swept).unwrap();
    std::fs::write(dir.path().join("b.csv"), thinned(4, 0.7)).unwrap();
    let data = goog();
    let run = |args: &[&str]| -> serde_json::Value {
        let mut all = vec![
            "backtest", "s.toml", "--data", &data, "--data", "B=b.csv", "--json",
        ];
        all.extend(args);
        let out = botforge(dir.path(), &all, &[]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let v = run(&["--sweep", "n=5..20:5", "--maximize", "return_pct"]);
    let results = v["sweep"]["results"].as_array().unwrap();
    assert_eq!(v["sweep"]["combinations"], 4);
    let best = v["params"]["n"].as_f64().unwrap();
    assert_eq!(results[0]["params"]["n"].as_f64(), Some(best));
    let scores: Vec<f64> = results
        .iter()
        .map(|r| r["return_pct"].as_f64().unwrap())
        .collect();
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "{scores:?}");
    assert_eq!(v["return_pct"].as_f64(), Some(scores[0]));
    // The winner run on its own gives the same document.
    std::fs::write(
        dir.path().join("s.toml"),
        swept.replace("n = 10", &format!("n = {best}")),
    )
    .unwrap();
    let alone = run(&[]);
    assert_eq!(alone["equity_final"], v["equity_final"]);
    assert_eq!(alone["symbols"], v["symbols"]);
}
