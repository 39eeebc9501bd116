//! The bar loop against backtesting.py's own test-suite numbers and hand-checked cases.

use std::path::PathBuf;

use backtest::engine::{ExitReason, Settings, run};
use backtest::{load_csv, parse_csv};
use strategy::Strategy;

fn goog() -> backtest::Bars {
    load_csv(&PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data/GOOG.csv")).unwrap()
}

fn strat(rules: &str, risk: &str) -> Strategy {
    Strategy::from_toml(
        "t.toml",
        &format!(
            "name = \"t\"\n[indicators]\nfast = \"sma(close, 10)\"\nslow = \"sma(close, 30)\"\n[rules]\n{rules}\n[risk]\n{risk}\n"
        ),
    )
    .unwrap()
}

/// backtesting.py's `TestBacktest.test_compute_stats`: SmaCross(10, 30), long and short, cash
/// 10 000, no commission, `finalize_trades=True` (reference/backtesting-semantics.md §7).
#[test]
fn smacross_10_30_matches_backtesting_py_test_suite() {
    let s = strat(
        "entry_long = \"crosses_above(fast, slow)\"\nentry_short = \"crosses_below(fast, slow)\"",
        "size = 1.0",
    );
    let r = run(
        &goog(),
        &s,
        Settings {
            cash: 10_000.0,
            commission: 0.0,
            finalize: true,
            trade_from: None,
        },
    )
    .unwrap();
    assert_eq!(r.warmup, 29);
    assert_eq!(r.trades.len(), 66);
    assert!(r.open_trades.is_empty());
    let last = *r.equity.last().unwrap();
    let peak = r.equity.iter().copied().fold(f64::MIN, f64::max);
    assert!(
        (last - 51_422.989_999_999_96).abs() <= 1e-8 * 51_422.99,
        "{last}"
    );
    assert!((peak - 75_787.44).abs() <= 1e-8 * 75_787.44, "{peak}");
    // Reversals: every trade but the first starts on the bar the previous one ends.
    for w in r.trades.windows(2) {
        assert_eq!(w[0].exit_bar, Some(w[1].entry_bar));
        assert_eq!(w[0].size.signum(), -w[1].size.signum());
    }
}

fn bars(rows: &[(f64, f64, f64, f64)]) -> backtest::Bars {
    use std::fmt::Write;
    let mut text = String::from("Date,Open,High,Low,Close\n");
    for (i, (o, h, l, c)) in rows.iter().enumerate() {
        let _ = writeln!(text, "2024-01-{:02},{o},{h},{l},{c}", i + 1);
    }
    parse_csv("t.csv", &text).unwrap()
}

fn plain(rules: &str, risk: &str) -> Strategy {
    Strategy::from_toml(
        "t.toml",
        &format!("name = \"t\"\n[rules]\n{rules}\n[risk]\n{risk}\n"),
    )
    .unwrap()
}

#[test]
fn next_open_fills_commission_on_both_legs_and_whole_units() {
    // Signal on bar 1's close (close > 100), fill at bar 2's open 103; exit signal on bar 3,
    // fill at bar 4's open 110.
    let b = bars(&[
        (100.0, 101.0, 99.0, 100.0),
        (100.0, 102.0, 99.0, 101.0),
        (103.0, 104.0, 102.0, 103.0),
        (104.0, 106.0, 95.0, 99.0),
        (110.0, 111.0, 98.0, 99.0),
        (99.0, 100.0, 98.0, 99.0),
    ]);
    let s = plain(
        // No look-back in the rule: `close[1]` would add a bar of warm-up (DESIGN.md §5.4).
        "entry_long = \"close > 100 and close < 102\"\nexit_long = \"close < 100\"",
        "size = 1.0",
    );
    let r = run(
        &b,
        &s,
        Settings {
            cash: 1000.0,
            commission: 0.01,
            finalize: false,
            trade_from: None,
        },
    )
    .unwrap();
    assert_eq!(r.trades.len(), 1);
    let t = &r.trades[0];
    // floor(1000·(1−2.2e-16) / (103·1.01)) = 9 units.
    assert_eq!((t.entry_bar, t.exit_bar, t.size), (2, Some(4), 9.0));
    assert_eq!((t.entry_price, t.exit_price), (103.0, Some(110.0)));
    let fees = 9.0 * 103.0 * 0.01 + 9.0 * 110.0 * 0.01;
    assert!((t.commission - fees).abs() < 1e-9);
    assert!((t.pnl() - (9.0 * 7.0 - fees)).abs() < 1e-9);
    assert!((r.equity[5] - (1000.0 + t.pnl())).abs() < 1e-9);
    // Marked to the close while open: bar 3 closes at 99.
    assert!((r.equity[3] - (1000.0 - 9.0 * 103.0 * 0.01 + 9.0 * (99.0 - 103.0))).abs() < 1e-9);
}

#[test]
fn a_stop_is_live_on_the_entry_bar_and_wins_a_tie_with_the_target() {
    // The first bar evaluated is bar 1 (warm-up + 1). Entry signal on bar 1 (close 100): stop
    // at 95, target at 110. Bar 2 opens at 100 and reaches both 94 and 111: the stop wins.
    let b = bars(&[
        (90.0, 90.0, 90.0, 90.0),
        (100.0, 100.0, 100.0, 100.0),
        (100.0, 111.0, 94.0, 100.0),
        (100.0, 100.0, 100.0, 100.0),
    ]);
    let s = plain(
        "entry_long = \"crosses_above(close, 95)\"",
        "size = 1.0\nstop_loss_pct = 5.0\ntake_profit_pct = 10.0",
    );
    let r = run(
        &b,
        &s,
        Settings {
            cash: 1000.0,
            commission: 0.0,
            finalize: false,
            trade_from: None,
        },
    )
    .unwrap();
    let t = &r.trades[0];
    assert_eq!(
        (t.entry_bar, t.exit_bar, t.exit_price),
        (2, Some(2), Some(95.0))
    );
}

#[test]
fn a_gap_through_the_stop_fills_at_the_open_and_a_short_mirrors() {
    let b = bars(&[
        (90.0, 90.0, 90.0, 90.0),
        (100.0, 100.0, 100.0, 100.0),
        (100.0, 100.0, 100.0, 100.0),
        (108.0, 109.0, 107.0, 108.0),
        (108.0, 109.0, 107.0, 108.0),
    ]);
    // Short on bar 1's close (100): stop at 105; bar 3 gaps to 108: filled at the open.
    let s = plain(
        "entry_short = \"crosses_above(close, 95)\"",
        "size = 0.5\nstop_loss_pct = 5.0",
    );
    let r = run(
        &b,
        &s,
        Settings {
            cash: 1000.0,
            commission: 0.0,
            finalize: false,
            trade_from: None,
        },
    )
    .unwrap();
    let t = &r.trades[0];
    // floor(1000·0.5/100) = 5 units short.
    assert_eq!(
        (t.size, t.entry_bar, t.exit_bar, t.exit_price),
        (-5.0, 2, Some(3), Some(108.0))
    );
    assert!((t.pnl() - -40.0).abs() < 1e-9);
    assert!((t.return_frac() - -0.08).abs() < 1e-12);
}

#[test]
fn open_trades_stay_open_unless_finalized_at_the_last_open() {
    let b = bars(&[
        (5.0, 5.0, 5.0, 5.0),
        (10.0, 10.0, 10.0, 10.0),
        (11.0, 12.0, 9.0, 11.0),
        (11.0, 13.0, 10.0, 12.0),
        (12.5, 13.0, 12.0, 12.8),
    ]);
    // Signal on bar 1; fills at bar 2's open 11: floor(100·(1−ε)/11) = 9 units.
    let s = plain("entry_long = \"crosses_above(close, 8)\"", "size = 1.0");
    let open = run(
        &b,
        &s,
        Settings {
            cash: 100.0,
            commission: 0.0,
            finalize: false,
            trade_from: None,
        },
    )
    .unwrap();
    assert!(open.trades.is_empty());
    assert_eq!(open.open_trades.len(), 1);
    assert_eq!(open.open_trades[0].size, 9.0);
    // Marked to the last close 12.8.
    assert!((open.equity[4] - (100.0 + 9.0 * 1.8)).abs() < 1e-9);
    let fin = run(
        &b,
        &s,
        Settings {
            cash: 100.0,
            commission: 0.0,
            finalize: true,
            trade_from: None,
        },
    )
    .unwrap();
    assert_eq!(fin.trades.len(), 1);
    assert_eq!(
        fin.trades[0].exit_price,
        Some(12.5),
        "closed at the last bar's open"
    );
    assert!((fin.equity[4] - (100.0 + 9.0 * 1.5)).abs() < 1e-9);
}

/// backtesting.py's README example under 0.6.6: SmaCross(10, 20) with commission 0.002, always
/// in the market, default (not finalized) end: Equity Final 56 263.52
/// (reference/backtesting-semantics.md §2).
#[test]
fn smacross_10_20_with_commission_matches_backtesting_py() {
    let s = Strategy::from_toml(
        "t.toml",
        "name = \"t\"\n[indicators]\nfast = \"sma(close, 10)\"\nslow = \"sma(close, 20)\"\n[rules]\nentry_long = \"crosses_above(fast, slow)\"\nentry_short = \"crosses_below(fast, slow)\"\n",
    )
    .unwrap();
    let r = run(
        &goog(),
        &s,
        Settings {
            cash: 10_000.0,
            commission: 0.002,
            finalize: false,
            trade_from: None,
        },
    )
    .unwrap();
    let last = *r.equity.last().unwrap();
    assert!((last - 56_263.52).abs() < 0.005, "{last}");
    assert_eq!(r.open_trades.len(), 1, "the last trade stays open");
}

/// Every statistic backtesting.py's own test suite asserts for SmaCross(10, 30)
/// (reference/backtesting-semantics.md §7), at its tolerance (rtol 1e-8).
#[test]
fn statistics_match_backtesting_py_test_suite() {
    let s = strat(
        "entry_long = \"crosses_above(fast, slow)\"\nentry_short = \"crosses_below(fast, slow)\"",
        "size = 1.0",
    );
    let bars = goog();
    let r = run(
        &bars,
        &s,
        Settings {
            cash: 10_000.0,
            commission: 0.0,
            finalize: true,
            trade_from: None,
        },
    )
    .unwrap();
    let st = backtest::stats::compute(&bars, &r);
    let close = |name: &str, got: Option<f64>, want: f64| {
        let got = got.unwrap_or_else(|| panic!("{name} is undefined"));
        assert!(
            (got - want).abs() <= 1e-8 * want.abs(),
            "{name}: {got} vs {want}"
        );
    };
    assert_eq!(st.trades, 66);
    assert_eq!(
        (st.start.as_str(), st.end.as_str()),
        ("2004-08-19", "2013-03-01")
    );
    close("duration", Some(st.duration_days), 3116.0);
    close("equity_final", Some(st.equity_final), 51_422.989_999_999_96);
    close("equity_peak", Some(st.equity_peak), 75_787.44);
    close("return", Some(st.return_pct), 414.229_899_999_999_6);
    close(
        "buy_hold",
        Some(st.buy_hold_return_pct),
        522.060_185_185_185_2,
    );
    close("return_ann", st.return_ann_pct, 21.191_099_249_053_224);
    close(
        "volatility_ann",
        st.volatility_ann_pct,
        36.497_160_907_023_89,
    );
    close("cagr", st.cagr_pct, 21.160_245_705_962_623);
    close("sharpe", st.sharpe_ratio, 0.580_623_224_448_534_9);
    close("sortino", st.sortino_ratio, 1.085_343_435_248_866_2);
    close("calmar", st.calmar_ratio, 0.441_664_092_029_946_05);
    close("max_dd", Some(st.max_drawdown_pct), -47.980_127_050_075_89);
    close("avg_dd", st.avg_drawdown_pct, -5.925_851_581_948_801);
    close("max_dd_duration", st.max_drawdown_duration_days, 584.0);
    close("avg_dd_duration", st.avg_drawdown_duration_days, 41.0);
    close("win_rate", st.win_rate_pct, 46.969_696_969_696_97);
    close("best", st.best_trade_pct, 53.595_952_294_904_24);
    close("worst", st.worst_trade_pct, -18.398_873_538_354_81);
    close("avg_trade", st.avg_trade_pct, 2.531_715_975_158_555);
    close("expectancy", st.expectancy_pct, 3.274_807_806_674_883_4);
    close("profit_factor", st.profit_factor, 2.167_945_974_262_033);
    close("sqn", st.sqn, 1.076_618_735_669_770_5);
    close("kelly", st.kelly_criterion, 0.151_870_512_702_971_7);
    close(
        "exposure",
        Some(st.exposure_time_pct),
        96.741_154_562_383_61,
    );
    close("max_trade_duration", st.max_trade_duration_days, 183.0);
    close("avg_trade_duration", st.avg_trade_duration_days, 46.0);
    close("alpha", st.alpha_pct, 394.373_911_420_274_6);
    close("beta", st.beta, 0.038_033_907_091_92);
}

/// A series with no bars (a library caller may build one; the loader refuses empty files) runs
/// to an empty result instead of panicking, and one bar is all warm-up.
#[test]
fn an_empty_or_one_bar_series_runs_without_trades() {
    let s = plain(
        "entry_long = \"close > 0\"\nexit_long = \"close < 0\"",
        "size = 1.0",
    );
    let empty = run(&backtest::Bars::default(), &s, Settings::default()).unwrap();
    assert!(empty.equity.is_empty() && empty.trades.is_empty() && empty.open_trades.is_empty());
    let one = run(&bars(&[(10.0, 11.0, 9.0, 10.5)]), &s, Settings::default()).unwrap();
    assert_eq!(one.equity, vec![Settings::default().cash]);
    assert!(one.trades.is_empty() && one.open_trades.is_empty());
}

/// Bars from `(open, high, low, close)` rows, one a day from 2024-01-01.
fn rows(rows: &[(f64, f64, f64, f64)]) -> backtest::Bars {
    use std::fmt::Write as _;
    let mut text = String::from("Date,Open,High,Low,Close\n");
    let day0 = chrono::NaiveDate::from_ymd_opt(2024, 1, 1).unwrap();
    for (i, (o, h, l, c)) in rows.iter().enumerate() {
        let _ = writeln!(
            text,
            "{},{o},{h},{l},{c}",
            day0 + chrono::Days::new(i as u64)
        );
    }
    parse_csv("edge.csv", &text).unwrap()
}

fn file(body: &str) -> Strategy {
    Strategy::from_toml("edge.toml", &format!("name = \"edge\"\n{body}")).unwrap()
}

const FLAT: (f64, f64, f64, f64) = (100.0, 102.0, 99.5, 101.0);

/// Issue 21 edge: `risk_pct` whose units would cost more than the equity places nothing (the
/// broker cancels it, as backtesting.py's does); a wider stop sizes within the cash.
#[test]
fn risk_pct_that_needs_more_cash_than_equity_is_skipped() {
    let bars = rows(&[FLAT; 10]);
    let tight = file(
        "[rules]\nentry_long = \"close > 100\"\n[risk]\nrisk_pct = 10\nstop_loss_long = \"close - 0.01\"\n",
    );
    let r = run(&bars, &tight, Settings::default()).unwrap();
    assert!(r.trades.is_empty() && r.open_trades.is_empty(), "{r:?}");
    let wide = file(
        "[rules]\nentry_long = \"close > 100\"\n[risk]\nrisk_pct = 10\nstop_loss_long = \"close - 20\"\n",
    );
    let r = run(&bars, &wide, Settings::default()).unwrap();
    // int(10 000 · 10 / 100 // 20) = 50 units, bought at bar 2's open.
    assert_eq!(r.open_trades.len(), 1);
    assert_eq!(
        (r.open_trades[0].entry_bar, r.open_trades[0].size),
        (2, 50.0)
    );
    assert_eq!(r.open_trades[0].sl, Some(81.0));
}

/// Issue 21 edge: `max_bars` and an exit rule on the same bar close the trade once.
#[test]
fn max_bars_and_an_exit_rule_on_one_bar_close_once() {
    let bars = rows(&[FLAT; 14]);
    let s = file(
        "[rules]\nentry_long = \"close > 100\"\nexit_long = \"bars_in_trade >= 3\"\n[risk]\nmax_bars = 3\n",
    );
    let r = run(&bars, &s, Settings::default()).unwrap();
    let t = &r.trades[0];
    // In at bar 2; 3 bars old at bar 5's close; out at bar 6's open; back in at bar 7.
    assert_eq!((t.entry_bar, t.exit_bar), (2, Some(6)));
    assert_eq!(t.exit_reason, Some(ExitReason::Time));
    assert_eq!(r.trades[1].entry_bar, 7);
    for w in r.trades.windows(2) {
        assert!(w[0].exit_bar.unwrap() < w[1].entry_bar, "{w:?}");
    }
}

/// Issue 21 edge: a buy stop-limit whose limit is below its stop, with both prices inside one
/// bar: backtesting.py assumes the limit came first, so nothing fills there; the triggered order
/// then waits as a limit and fills on a later bar if it is still valid (checked against
/// backtesting.py 0.6.6 when written: entry bar 4 at 100.5 with `valid_bars` 3, none with 1).
#[test]
fn stop_and_limit_in_one_bar_fill_pessimistically() {
    let bars = rows(&[
        (99.0, 99.5, 98.5, 99.0),
        (99.0, 99.5, 98.5, 99.0),
        (99.0, 101.2, 98.8, 101.0),
        (100.0, 102.5, 99.5, 100.0),
        (100.5, 100.8, 99.8, 100.2),
        (100.2, 100.5, 99.9, 100.1),
        (100.0, 100.4, 99.7, 100.0),
    ]);
    let body = |valid: u32| {
        format!(
            "[rules]\nentry_long = \"crosses_above(close, 100)\"\n[orders]\nentry_long_stop = \"close + 1\"\nentry_long_limit = \"close\"\nvalid_bars = {valid}\n"
        )
    };
    let r = run(&bars, &file(&body(1)), Settings::default()).unwrap();
    assert!(r.trades.is_empty() && r.open_trades.is_empty(), "{r:?}");
    let r = run(&bars, &file(&body(3)), Settings::default()).unwrap();
    assert_eq!(r.open_trades.len(), 1, "{r:?}");
    assert_eq!(
        (r.open_trades[0].entry_bar, r.open_trades[0].entry_price),
        (4, 100.5)
    );
}

/// Issue 21 edge: a stop entry that gaps through its price fills at the open; a trailing stop
/// set at the entry bar's close triggers on the next bar at the stop.
#[test]
fn a_gapped_stop_entry_fills_at_the_open_and_the_trail_follows() {
    let bars = rows(&[
        (100.0, 100.5, 99.5, 100.0),
        (100.0, 100.8, 99.6, 100.5),
        (103.0, 104.0, 102.5, 103.5),
        (103.4, 103.6, 101.0, 101.5),
        (101.5, 102.0, 101.0, 101.8),
    ]);
    let s = file(
        "[rules]\nentry_long = \"crosses_above(close, 100.2)\"\n[risk]\ntrailing_stop_pct = 1\n[orders]\nentry_long_stop = \"high\"\n",
    );
    let r = run(&bars, &s, Settings::default()).unwrap();
    let t = &r.trades[0];
    // Signal at bar 1 (stop at its high, 100.8); bar 2 opens at 103 above it.
    assert_eq!((t.entry_bar, t.entry_price), (2, 103.0));
    // The trail moves to 103.5 · 0.99 at bar 2's close; bar 3's low reaches it.
    assert_eq!(t.exit_bar, Some(3));
    assert_eq!(t.exit_price, Some(103.5 * (1.0 - 1.0 / 100.0)));
    assert_eq!(t.exit_reason, Some(ExitReason::Trailing));
}

/// Each trade keeps the history of its stop and target for the report: the levels the entry
/// carried at its fill bar, then every move (a trailing stop only up for a long, never before
/// its fill, never after its exit), and the final level is the trade's `sl`.
#[test]
fn trades_record_each_level_their_stop_and_target_took() {
    let s = strat(
        "entry_long = \"crosses_above(fast, slow)\"\nexit_long = \"crosses_below(fast, slow)\"",
        "size = 0.5\nstop_loss_pct = 8\ntrailing_stop_pct = 5\ntake_profit_pct = 30",
    );
    let r = run(&goog(), &s, Settings::default()).unwrap();
    let mut moved = 0;
    for t in r.trades.iter().chain(&r.open_trades) {
        let stops: Vec<_> = t.steps.iter().filter(|x| x.stop).collect();
        let targets: Vec<_> = t.steps.iter().filter(|x| !x.stop).collect();
        // The bracket at the fill: one target, the first stop.
        assert_eq!(targets.len(), 1, "{t:?}");
        assert_eq!(targets[0].bar, t.entry_bar);
        assert_eq!(stops[0].bar, t.entry_bar);
        assert!(
            (stops[0].price / t.entry_price - 0.92).abs() < 0.05,
            "{t:?}"
        );
        // The entry bar's close may move it already (same bar as the fill).
        assert!(
            stops
                .windows(2)
                .all(|w| w[1].bar >= w[0].bar && w[1].price > w[0].price)
        );
        assert!(
            stops
                .iter()
                .all(|x| x.bar <= t.exit_bar.unwrap_or(usize::MAX))
        );
        assert_eq!(stops.last().map(|x| x.price), t.sl);
        moved += stops.len() - 1;
    }
    assert!(moved > 50, "{moved} trailing moves");
}
