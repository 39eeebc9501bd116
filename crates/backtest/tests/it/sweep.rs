//! Sweeps: ranges, ranking, shared indicators, the heatmap grid; the report's compact data.

use std::fmt::Write as _;

use backtest::engine::{Settings, run};
use backtest::html::{Page, html};
use backtest::sweep::{SweepError, parse_axis, sweep, with_params};
use backtest::{load_csv, stats};
use strategy::Strategy;

fn goog() -> backtest::Bars {
    load_csv(&std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data/GOOG.csv")).unwrap()
}

const SMA: &str = "name = \"s\"\n[params]\nfast = 10\nslow = 30\nk = 2\n[indicators]\nf = \"sma(close, fast)\"\ns = \"sma(close, slow)\"\nb = \"bbands(close, slow, k).lower\"\n[rules]\nentry_long = \"crosses_above(f, s) or close < b\"\nexit_long = \"crosses_below(f, s)\"\n";

#[test]
fn ranges_are_exact_and_mistakes_are_named() {
    assert_eq!(
        parse_axis("fast=5..20:5").unwrap().values,
        [5.0, 10.0, 15.0, 20.0]
    );
    assert_eq!(parse_axis("fast=5..7").unwrap().values, [5.0, 6.0, 7.0]);
    assert_eq!(
        parse_axis(" k = 0.1..0.5:0.1").unwrap().values,
        [0.1, 0.2, 0.3, 0.4, 0.5]
    );
    assert_eq!(
        parse_axis("k=1..2:0.3").unwrap().values,
        [1.0, 1.3, 1.6, 1.9]
    );
    assert_eq!(parse_axis("k=3..3:1").unwrap().values, [3.0]);
    for (spec, says) in [
        ("fast", "no `=`"),
        ("=1..2", "no param name"),
        ("fast=1..2:0", "STEP must be above 0"),
        ("fast=a..2", "FROM `a` is not a number"),
        ("fast=1..inf", "TO `inf` is not a number"),
        ("fast=1..1e9:1", "more than 1000000"),
    ] {
        let e = parse_axis(spec).unwrap_err().to_string();
        assert!(e.contains(says), "{spec}: {e}");
    }
}

#[test]
fn a_sweep_equals_single_runs_and_computes_each_indicator_once() {
    let bars = goog();
    let base = Strategy::from_toml("s.toml", SMA).unwrap();
    let axes = vec![
        parse_axis("fast=5..20:5").unwrap(),
        parse_axis("slow=20..60:20").unwrap(),
    ];
    let calls = std::sync::atomic::AtomicUsize::new(0);
    let r = sweep(
        &bars,
        &base,
        axes.clone(),
        Settings::default(),
        "sqn",
        &|| {
            calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        },
    )
    .unwrap();
    assert_eq!(calls.into_inner(), 12, "progress once per combination");
    assert_eq!(r.outcomes.len(), 12);
    // sma: 5, 10, 15, 20, 40, 60 (20 shared); bbands lower for slow 20, 40, 60.
    assert_eq!(r.indicators_computed, 9);
    for w in r.outcomes.windows(2) {
        assert!(w[0].score >= w[1].score || w[1].score.is_none());
    }
    for o in &r.outcomes {
        let single = run(
            &bars,
            &with_params(&base, &axes, &o.values),
            Settings::default(),
        )
        .unwrap();
        assert_eq!(stats::compute(&bars, &single), o.stats, "{:?}", o.values);
    }
    let best = r.best_strategy(&base).unwrap();
    assert_eq!(best.params[0].1, r.outcomes[0].values[0]);
    assert_eq!(best.params[2], ("k".to_owned(), 2.0), "unswept params stay");

    let h = r.heatmap().unwrap();
    assert_eq!((h.xs.len(), h.ys.len(), h.values.len()), (4, 3, 12));
    for o in &r.outcomes {
        let xi = h.xs.iter().position(|v| *v == o.values[0]).unwrap();
        let yi = h.ys.iter().position(|v| *v == o.values[1]).unwrap();
        assert_eq!(h.values[yi * 4 + xi], o.score);
    }
}

#[test]
fn sweep_plans_are_checked_before_running() {
    let bars = goog();
    let base = Strategy::from_toml("s.toml", SMA).unwrap();
    let go = |specs: &[&str], stat: &str| {
        let axes = specs.iter().map(|s| parse_axis(s).unwrap()).collect();
        sweep(&bars, &base, axes, Settings::default(), stat, &|| {}).unwrap_err()
    };
    assert!(matches!(
        go(&["speed=1..2"], "sqn"),
        SweepError::UnknownParam { .. }
    ));
    assert!(
        go(&["speed=1..2"], "sqn")
            .to_string()
            .contains("(its params: fast, slow, k)")
    );
    assert!(matches!(
        go(&["fast=5..6", "fast=7..8"], "sqn"),
        SweepError::Duplicate(_)
    ));
    assert!(matches!(
        go(&["fast=5..6"], "winrate"),
        SweepError::UnknownStat(_)
    ));
    assert!(matches!(
        go(&["fast=1..1000", "slow=1..2000"], "sqn"),
        SweepError::TooMany(_)
    ));
    let e = go(&["slow=1..2"], "sqn");
    assert!(matches!(e, SweepError::Invalid { .. }), "{e}");
    assert!(
        e.to_string()
            .starts_with("--sweep: with slow=1 the strategy is invalid"),
        "{e}"
    );
}

#[test]
fn the_report_holds_every_bar_compactly_and_escapes_text() {
    // 200 000 synthetic bars: the page holds every one, a few bytes each.
    let n = 200_000;
    let mut csv = String::from("Date,Open,High,Low,Close\n");
    for i in 0..n {
        let p = 100.0 + (i as f64 / 500.0).sin() * 20.0 + (i % 7) as f64 * 0.1;
        let day = chrono::NaiveDate::from_ymd_opt(1500, 1, 1).unwrap() + chrono::Days::new(i);
        writeln!(csv, "{day},{p},{},{},{p}", p + 1.0, p - 1.0).unwrap();
    }
    let bars = backtest::parse_csv("synthetic.csv", &csv).unwrap();
    let s = Strategy::from_toml(
        "t.toml",
        "name = \"x\"\ndescription = \"<b>a</b> & b\"\n[rules]\nentry_long = \"crosses_above(close, sma(close, 50))\"\nexit_long = \"crosses_below(close, sma(close, 50))\"\n",
    )
    .unwrap();
    let r = run(&bars, &s, Settings::default()).unwrap();
    let st = stats::compute(&bars, &r);
    let page = html(&Page {
        name: &s.name,
        description: &s.description,
        data_label: "synthetic.csv",
        settings: Settings::default(),
        bars: &bars,
        run: &r,
        stats: &st,
        sweep: None,
        plots: &[],
        symbols: &[],
        trade_symbols: &[],
    });
    assert!(page.contains("&lt;b&gt;a&lt;/b&gt; &amp; b"));
    assert!(!page.contains("<b>"));
    // Every bar is in the page, each close within half a unit of the decimals it is written with.
    let data = page
        .split(r#"<script type="application/json" id="report-data">"#)
        .nth(1)
        .and_then(|s| s.split("</script>").next())
        .unwrap();
    let doc: serde_json::Value = serde_json::from_str(data).unwrap();
    let close = &doc["symbols"][0]["c"];
    let p = i32::try_from(close["p"].as_i64().unwrap()).unwrap();
    let steps = close["d"].as_array().unwrap();
    assert_eq!(steps.len(), usize::try_from(n).unwrap());
    let mut acc = 0_i64;
    for (i, d) in steps.iter().enumerate() {
        acc += d.as_i64().unwrap();
        let back = acc as f64 / 10f64.powi(p);
        assert!(
            (back - bars.close[i]).abs() <= 0.5 / 10f64.powi(p) + 1e-9,
            "bar {i}: {back}"
        );
    }
    // Seven significant digits of prices up to about 121: four decimals.
    assert_eq!(p, 4);
    assert_eq!(
        doc["trades"].as_array().unwrap().len(),
        r.trades.len() + r.open_trades.len()
    );
    assert!(page.len() < 250_000 + 200_000 * 40, "{} bytes", page.len());
}
