//! Issue 35, items 1-2: a portfolio of one symbol is §6's backtest exactly (every drawn
//! strategy, every trade and equity value); several symbols with holes in their times trade as
//! an independent reference of DESIGN.md §5.3 (`tests/python/portfolio_reference.py`), and a
//! strategy sized in units, which cash cannot couple, trades each symbol as it trades alone.

use std::fmt::Write as _;
use std::path::PathBuf;

use backtest::engine::{Run, Settings, run};
use backtest::portfolio::{self, Symbol};
use backtest::{Bars, parse_csv};
use proptest::strategy::{Strategy as _, ValueTree as _};
use proptest::test_runner::{Config, TestRunner};
use serde_json::Value;
use strategy::Strategy;

use crate::random_strategies::{CASES, parts, toml_for};
use crate::reference::{close, compare_trades, python, python_json};
use crate::session::{prefix, sample, walk};

fn one(name: &str, bars: &Bars) -> Vec<Symbol> {
    vec![Symbol {
        name: name.to_owned(),
        bars: bars.clone(),
    }]
}

/// The engine's trades in the portfolio's order (entry time; ties keep exit order).
fn by_entry(r: &Run) -> Run {
    let mut r = r.clone();
    r.trades.sort_by_key(|t| t.entry_bar);
    r.open_trades.sort_by_key(|t| t.entry_bar);
    r
}

/// The portfolio path over `bars` alone gives the run `want` of the single-symbol engine:
/// every trade (in entry order), every equity value, the warm-up. The parity tests against
/// backtesting.py call it on each of their runs, so each is proven through both paths.
pub(crate) fn same_through_the_portfolio(
    what: &str,
    bars: &Bars,
    strategy: &Strategy,
    settings: Settings,
    want: &Run,
) {
    let got = portfolio::run(&one("ONE", bars), strategy, settings).unwrap();
    let want = by_entry(want);
    assert_eq!(
        got.run.trades, want.trades,
        "{what}: closed trades via the portfolio"
    );
    assert_eq!(
        got.run.open_trades, want.open_trades,
        "{what}: open trades via the portfolio"
    );
    assert_eq!(got.run.equity.len(), want.equity.len(), "{what}");
    for (k, (a, b)) in got.run.equity.iter().zip(&want.equity).enumerate() {
        assert!(
            a == b,
            "{what}: equity at bar {k} via the portfolio: {a} vs {b}"
        );
    }
}

#[test]
fn a_portfolio_of_one_symbol_is_the_backtest() {
    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        proptest::test_runner::TestRng::deterministic_rng(
            proptest::test_runner::RngAlgorithm::ChaCha,
        ),
    );
    let goog = prefix(&sample("GOOG.csv"), 900);
    let mut trades = 0;
    for i in 0..CASES {
        let p = parts().new_tree(&mut runner).unwrap().current();
        let text = toml_for(&p, i);
        let strategy = Strategy::from_toml(&format!("random_{i:02}"), &text).unwrap();
        let walk = walk(i as u64 + 100, 600);
        for (name, data) in [("GOOG", &goog), ("walk", &walk)] {
            for finalize in [false, true] {
                let settings = Settings {
                    finalize,
                    ..Settings::default()
                };
                let what = format!("{name} finalize={finalize}:\n{text}");
                let want = by_entry(&run(data, &strategy, settings).unwrap());
                let got = portfolio::run(&one(name, data), &strategy, settings).unwrap();
                assert_eq!(got.run.trades, want.trades, "{what}: closed trades");
                assert_eq!(got.run.open_trades, want.open_trades, "{what}: open trades");
                assert_eq!(got.run.equity.len(), want.equity.len(), "{what}");
                for (k, (a, b)) in got.run.equity.iter().zip(&want.equity).enumerate() {
                    assert!(a == b, "{what}: equity at bar {k}: {a} vs {b}");
                }
                assert!(got.trade_symbols.iter().all(|&s| s == 0));
                assert_eq!(got.bars.epoch_ms, data.epoch_ms, "{what}: times");
                trades += want.trades.len();
            }
        }
    }
    assert!(trades > 1000, "{trades} trades compared");
}

/// GOOG's dates with a few dropped (a seeded tenth, and a stretch of 40) and prices from a
/// seeded walk: a symbol with holes where the others have bars.
fn holed(seed: u64, goog: &Bars) -> String {
    let mut rng = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut unit = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        (rng >> 11) as f64 / (1u64 << 53) as f64
    };
    let mut text = String::from("Date,Open,High,Low,Close,Volume\n");
    let mut price = 20.0 + unit() * 80.0;
    let hole = 200 + usize::try_from(seed * 97 % 800).unwrap();
    for i in 0..goog.len() {
        let drop = unit() < 0.1 || (hole..hole + 40).contains(&i);
        let open = price * (1.0 + (unit() - 0.5) * 0.01);
        let close = (open * (1.0 + (unit() - 0.49) * 0.04)).max(1.0);
        let high = open.max(close) * (1.0 + unit() * 0.015);
        let low = open.min(close) * (1.0 - unit() * 0.015);
        price = close;
        if drop {
            continue;
        }
        let _ = writeln!(
            text,
            "{},{open:?},{high:?},{low:?},{close:?},1000",
            goog.time.at(i)
        );
    }
    text
}

/// One run against the reference: the `[risk]` and `[portfolio]` fields, the commission and
/// how many symbols.
#[derive(Default)]
struct Case {
    size: Option<f64>,
    sl: Option<f64>,
    tp: Option<f64>,
    commission: f64,
    n: usize,
    /// `rank = "roc(close, N)"`.
    rank: Option<u32>,
    max_positions: Option<u32>,
    trade: Option<Vec<&'static str>>,
    /// `and on("SYMBOL", close > sma(close, N))` in the entry (`true`: `or not on(…)`).
    on: Option<(&'static str, u32, bool)>,
    /// A rotation: rebalance rule, top, and the filter `entry_long = "close > sma(close, F)"`.
    rotation: Option<(&'static str, u32, u32)>,
}

/// The run equals the reference's: the union of times, every trade (symbol, bars, size, exit
/// reason, prices, profit, commission) and the equity at every time. Returns the trades compared.
fn same_as_reference(what: &str, got: &portfolio::PortfolioRun, want: &Value) -> usize {
    let times = want["times"].as_array().unwrap();
    assert_eq!(got.bars.len(), times.len(), "{what}: union of times");
    for (u, t) in times.iter().enumerate() {
        assert_eq!(got.bars.time.at(u), t.as_str().unwrap(), "{what}: time {u}");
    }
    compare_trades(what, &got.run, want);
    let trades = want["trades"].as_array().unwrap();
    for (k, (t, w)) in got.run.trades.iter().zip(trades).enumerate() {
        let what = format!("{what} trade {k}");
        let symbol = &got.names[got.trade_symbols[k]];
        assert_eq!(symbol, w["symbol"].as_str().unwrap(), "{what}: symbol");
        assert_eq!(t.size, w["size"].as_f64().unwrap(), "{what}: size");
        let reason = t.exit_reason.map(backtest::engine::ExitReason::name);
        assert_eq!(reason, w["exit_reason"].as_str(), "{what}: exit reason");
    }
    let equity = want["equity"].as_array().unwrap();
    assert_eq!(got.run.equity.len(), equity.len(), "{what}: equity length");
    for (u, (g, w)) in got.run.equity.iter().zip(equity).enumerate() {
        close(&format!("{what} equity at {u}"), *g, w.as_f64().unwrap());
    }
    trades.len()
}

impl Case {
    /// The strategy file: an SMA(10)/SMA(30) cross with this case's fields.
    fn toml(&self) -> String {
        let filter = self
            .on
            .map(|(s, n, negate)| {
                let how = if negate { "or not" } else { "and" };
                format!(" {how} on('{s}', close > sma(close, {n}))")
            })
            .unwrap_or_default();
        let entry = match self.rotation {
            Some((_, _, f)) => format!("close > sma(close, {f})"),
            None => format!("crosses_above(fast, slow){filter}"),
        };
        let mut toml = format!(
            "name = \"p\"\n[indicators]\nfast = \"sma(close, 10)\"\nslow = \"sma(close, 30)\"\n[rules]\nentry_long = \"{entry}\"\nexit_long = \"crosses_below(fast, slow)\"\n[risk]\n",
        );
        for (k, v) in [
            ("size", self.size),
            ("stop_loss_pct", self.sl),
            ("take_profit_pct", self.tp),
        ] {
            if let Some(v) = v {
                let _ = writeln!(toml, "{k} = {v:?}");
            }
        }
        if self.rank.is_some()
            || self.max_positions.is_some()
            || self.trade.is_some()
            || self.rotation.is_some()
        {
            toml.push_str("[portfolio]\n");
        }
        if let Some(r) = self.rank {
            let _ = writeln!(toml, "rank = \"roc(close, {r})\"");
        }
        if let Some(m) = self.max_positions {
            let _ = writeln!(toml, "max_positions = {m}");
        }
        if let Some(t) = &self.trade {
            let _ = writeln!(toml, "trade = {t:?}");
        }
        if let Some((rule, top, _)) = self.rotation {
            let _ = writeln!(toml, "rebalance = \"{rule}\"\ntop = {top}");
        }
        toml
    }

    /// What the reference does with these files (name, path).
    fn reference(
        &self,
        py: &std::ffi::OsStr,
        dir: &std::path::Path,
        files: &[(&str, PathBuf)],
        cash: f64,
    ) -> Value {
        let spec = serde_json::json!({
            "files": files.iter().map(|(n, p)| [(*n).to_owned(), p.display().to_string()]).collect::<Vec<_>>(),
            "fast": 10, "slow": 30, "size": self.size, "sl_pct": self.sl, "tp_pct": self.tp,
            "cash": cash, "commission": self.commission, "rank": self.rank,
            "max_positions": self.max_positions, "trade": self.trade,
            "on": self.on.map(|(s, n, negate)| serde_json::json!({"symbol": s, "period": n, "negate": negate})),
            "rotation": self.rotation.map(|(rule, top, f)| serde_json::json!({"rule": rule, "top": top, "filter": f})),
        });
        ask(py, "portfolio_reference.py", dir, &spec)
    }

    /// Only the symbols `trade` allows traded, all of them did, and `max_positions` held at
    /// every time.
    fn limits_held(&self, what: &str, got: &portfolio::PortfolioRun) {
        let traded: std::collections::BTreeSet<&str> = got
            .trade_symbols
            .iter()
            .map(|&k| got.names[k].as_str())
            .collect();
        let may: std::collections::BTreeSet<&str> = got
            .names
            .iter()
            .map(String::as_str)
            .filter(|s| self.trade.as_ref().is_none_or(|t| t.contains(s)))
            .collect();
        assert_eq!(traded, may, "{what}: symbols that traded");
        if let Some(m) = self.max_positions {
            for u in 0..got.bars.len() {
                let open = got
                    .run
                    .trades
                    .iter()
                    .filter(|t| t.entry_bar <= u && t.exit_bar.is_some_and(|x| x > u))
                    .count();
                assert!(open <= m as usize, "{what}: {open} open at {u}");
            }
        }
    }
}

/// Cases of the shared account alone.
fn account_cases() -> Vec<Case> {
    vec![
        Case {
            size: Some(0.3),
            commission: 0.002,
            n: 5,
            ..Case::default()
        },
        Case {
            size: Some(0.5),
            sl: Some(4.0),
            tp: Some(8.0),
            commission: 0.002,
            n: 5,
            ..Case::default()
        },
        Case {
            sl: Some(3.0),
            n: 5,
            ..Case::default()
        },
        Case {
            size: Some(0.2),
            tp: Some(5.0),
            commission: 0.001,
            n: 3,
            ..Case::default()
        },
        Case {
            size: Some(0.9),
            sl: Some(6.0),
            tp: Some(6.0),
            commission: 0.002,
            n: 2,
            ..Case::default()
        },
    ]
}

/// Cases of the `[portfolio]` section and `on()`.
fn section_cases() -> Vec<Case> {
    vec![
        // Entries by 40-bar momentum (its warm-up longer than the averages'), at most two open.
        Case {
            size: Some(0.45),
            commission: 0.002,
            n: 5,
            rank: Some(40),
            max_positions: Some(2),
            ..Case::default()
        },
        Case {
            size: Some(0.3),
            sl: Some(5.0),
            commission: 0.002,
            n: 5,
            rank: Some(10),
            ..Case::default()
        },
        Case {
            size: Some(0.6),
            commission: 0.0,
            n: 4,
            max_positions: Some(1),
            ..Case::default()
        },
        // Only when a holed symbol is above its 60-bar average (its latest bar at or before
        // each time; the filter's warm-up counts); then a cap as well.
        Case {
            size: Some(0.4),
            commission: 0.002,
            n: 5,
            on: Some(("S1", 60, false)),
            ..Case::default()
        },
        Case {
            size: Some(0.4),
            sl: Some(4.0),
            commission: 0.002,
            n: 5,
            on: Some(("S3", 120, false)),
            max_positions: Some(3),
            rank: Some(20),
            ..Case::default()
        },
        // Entries also while S2 is not above its 150-bar average: before that average has a
        // value the symbol waits (the warm-up of what is inside on()).
        Case {
            size: Some(0.3),
            tp: Some(6.0),
            sl: Some(6.0),
            commission: 0.002,
            n: 4,
            on: Some(("S2", 150, true)),
            max_positions: Some(2),
            ..Case::default()
        },
        // Rotations: the top 2 of 5 by 3-month momentum each month end, above their 100-bar
        // average; the top 1 each week to Friday with a stop; the top 3 each quarter.
        Case {
            commission: 0.002,
            n: 5,
            rank: Some(63),
            rotation: Some(("ME", 2, 100)),
            ..Case::default()
        },
        Case {
            sl: Some(5.0),
            commission: 0.001,
            n: 4,
            rank: Some(20),
            rotation: Some(("W-FRI", 1, 50)),
            ..Case::default()
        },
        Case {
            commission: 0.0,
            n: 5,
            rank: Some(126),
            rotation: Some(("QE", 3, 30)),
            ..Case::default()
        },
        // Two symbols are data only.
        Case {
            size: Some(0.5),
            commission: 0.002,
            n: 5,
            trade: Some(vec!["GOOG", "S2", "S4"]),
            max_positions: Some(2),
            ..Case::default()
        },
    ]
}

/// Runs a reference script on `spec` (written beside it as JSON) and reads its answer.
fn ask(py: &std::ffi::OsStr, script: &str, dir: &std::path::Path, spec: &Value) -> Value {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/python")
        .join(script);
    let spec_path = dir.join("spec.json");
    std::fs::write(&spec_path, spec.to_string()).unwrap();
    Value::Object(
        python_json(py, &[script.as_os_str(), spec_path.as_os_str()])
            .into_iter()
            .collect(),
    )
}

/// GOOG and four seeded symbols on its calendar with holes (written to `dir`): their names and
/// paths, and their bars.
fn five_symbols(dir: &std::path::Path) -> (Vec<(String, PathBuf)>, Vec<Symbol>) {
    let goog = sample("GOOG.csv");
    let mut files: Vec<(String, PathBuf)> = vec![(
        "GOOG".to_owned(),
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data/GOOG.csv"),
    )];
    for seed in 1..=4 {
        let path = dir.join(format!("S{seed}.csv"));
        std::fs::write(&path, holed(seed, &goog)).unwrap();
        files.push((format!("S{seed}"), path));
    }
    let symbols = files
        .iter()
        .map(|(name, path)| Symbol {
            name: name.clone(),
            bars: backtest::load_csv(path).unwrap(),
        })
        .collect();
    (files, symbols)
}

#[test]
fn several_symbols_trade_as_the_independent_reference() {
    let Some(py) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (files, symbols) = five_symbols(dir.path());
    let mut compared = 0;
    for c in account_cases().into_iter().chain(section_cases()) {
        let toml = c.toml();
        let strategy = Strategy::from_toml("p.toml", &toml).unwrap();
        let settings = Settings {
            commission: c.commission,
            ..Settings::default()
        };
        // Symbols with holes first, so GOOG (no holes) is not always first in line.
        let order: Vec<usize> = (1..=c.n).map(|k| k % files.len()).collect();
        let mine: Vec<Symbol> = order.iter().map(|&k| symbols[k].clone()).collect();
        let got = portfolio::run(&mine, &strategy, settings).unwrap();
        let named: Vec<(&str, PathBuf)> = order
            .iter()
            .map(|&k| (files[k].0.as_str(), files[k].1.clone()))
            .collect();
        let want = c.reference(&py, dir.path(), &named, settings.cash);
        let what = format!("{} symbols, {toml}", c.n);
        compared += same_as_reference(&what, &got, &want);
        c.limits_held(&what, &got);
    }
    assert!(compared > 400, "{compared} trades compared");
}

/// Sized in units with cash to spare, nothing couples the symbols: each trades as it does
/// alone (its bars mapped onto the union of times), and the portfolio's equity is the cash plus
/// each one's gain at its latest close.
#[test]
fn symbols_sized_in_units_trade_as_each_does_alone() {
    let goog = sample("GOOG.csv");
    let names = ["GOOG", "A", "B"];
    let data: Vec<Bars> = vec![
        goog.clone(),
        parse_csv("A.csv", &holed(11, &goog)).unwrap(),
        parse_csv("B.csv", &holed(12, &goog)).unwrap(),
    ];
    let symbols: Vec<Symbol> = names
        .iter()
        .zip(&data)
        .map(|(n, b)| Symbol {
            name: (*n).to_owned(),
            bars: b.clone(),
        })
        .collect();
    let strategy = Strategy::from_toml(
        "u.toml",
        "name = \"u\"\n[indicators]\nfast = \"ema(close, 8)\"\nslow = \"sma(close, 21)\"\n[rules]\nentry_long = \"crosses_above(fast, slow)\"\nexit_long = \"crosses_below(fast, slow)\"\nentry_short = \"crosses_below(fast, slow) and rsi(close, 14) < 45\"\nexit_short = \"crosses_above(fast, slow)\"\n[risk]\nunits = 2\nstop_loss_pct = 6\ntrailing_stop_pct = 9\n",
    )
    .unwrap();
    let settings = Settings {
        cash: 1e7,
        ..Settings::default()
    };
    let got = portfolio::run(&symbols, &strategy, settings).unwrap();
    let union: Vec<i64> = got.bars.epoch_ms.to_vec();
    let mut total = 0;
    for (k, bars) in data.iter().enumerate() {
        let alone = run(bars, &strategy, settings).unwrap();
        let to_union = |b: usize| union.binary_search(&bars.epoch_ms[b]).unwrap();
        let mine: Vec<_> = got
            .run
            .trades
            .iter()
            .zip(&got.trade_symbols)
            .filter(|(_, s)| **s == k)
            .map(|(t, _)| t.clone())
            .collect();
        let mut want: Vec<_> = alone
            .trades
            .iter()
            .map(|t| {
                let mut t = t.clone();
                t.entry_bar = to_union(t.entry_bar);
                t.exit_bar = t.exit_bar.map(to_union);
                t
            })
            .collect();
        want.sort_by_key(|t| t.entry_bar);
        assert_eq!(mine, want, "{}", names[k]);
        total += want.len();
    }
    assert!(total > 100, "{total}");
    // Equity: the cash plus each symbol's own gain (its alone-run equity less the cash) at its
    // latest bar.
    let alone: Vec<Run> = data
        .iter()
        .map(|b| run(b, &strategy, settings).unwrap())
        .collect();
    for (u, &ms) in union.iter().enumerate() {
        let mut want = settings.cash;
        for (b, r) in data.iter().zip(&alone) {
            let at = b.epoch_ms.partition_point(|&t| t <= ms);
            if let Some(i) = at.checked_sub(1) {
                want += r.equity[i] - settings.cash;
            }
        }
        close(&format!("equity at {u}"), got.run.equity[u], want);
    }
}

/// vectorbt keeps the same account for the same fills: every fill of a portfolio run (both
/// legs of each trade) replayed through `Portfolio.from_orders(..., cash_sharing=True)` gives
/// the portfolio's value at every time (`tests/python/portfolio_vectorbt.py` says where the two
/// engines coincide and where they do not).
#[test]
fn vectorbt_keeps_the_same_account_for_the_same_fills() {
    let Some(py) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (files, symbols) = five_symbols(dir.path());
    let mut replayed = 0;
    for c in account_cases()
        .into_iter()
        .chain(section_cases())
        .filter(|c| c.rotation.is_none())
    {
        let strategy = Strategy::from_toml("p.toml", &c.toml()).unwrap();
        let settings = Settings {
            commission: c.commission,
            ..Settings::default()
        };
        let order: Vec<usize> = (1..=c.n).map(|k| k % files.len()).collect();
        let mine: Vec<Symbol> = order.iter().map(|&k| symbols[k].clone()).collect();
        let got = portfolio::run(&mine, &strategy, settings).unwrap();
        let time = |u: usize| got.bars.time.at(u).into_owned();
        let mut orders = Vec::new();
        // Steps at a time: 0 exits of earlier trades, 1 entries, 2 same-time stops/targets.
        for (t, &k) in got.run.trades.iter().zip(&got.trade_symbols) {
            let (name, exit) = (&got.names[k], t.exit_bar.unwrap());
            let step = if exit == t.entry_bar { 2 } else { 0 };
            let (size, price) = (t.size, t.exit_price.unwrap());
            orders.push(serde_json::json!([
                name,
                time(t.entry_bar),
                1,
                size,
                t.entry_price
            ]));
            orders.push(serde_json::json!([name, time(exit), step, -size, price]));
        }
        for (t, &k) in got.run.open_trades.iter().zip(&got.open_symbols) {
            let name = &got.names[k];
            orders.push(serde_json::json!([
                name,
                time(t.entry_bar),
                1,
                t.size,
                t.entry_price
            ]));
        }
        replayed += orders.len();
        let spec = serde_json::json!({
            "files": order.iter().map(|&k| [files[k].0.clone(), files[k].1.display().to_string()]).collect::<Vec<_>>(),
            "orders": orders, "cash": settings.cash, "commission": c.commission,
        });
        let want = ask(&py, "portfolio_vectorbt.py", dir.path(), &spec);
        let value = want["value"].as_array().unwrap();
        assert_eq!(value.len(), got.run.equity.len(), "{}", c.toml());
        for (u, (g, w)) in got.run.equity.iter().zip(value).enumerate() {
            close(
                &format!("{} value at {}", c.toml(), time(u)),
                *g,
                w.as_f64().unwrap(),
            );
        }
    }
    assert!(replayed > 1000, "{replayed} fills replayed");
}
