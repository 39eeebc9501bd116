//! A run's results as DESIGN.md §6's JSON document and as an aligned table.

use std::fmt::Write;

use serde_json::{Value, json};

use crate::data::Bars;
use crate::engine::Run;
use crate::stats::Stats;
use crate::trade::Trade;

fn opt(v: Option<f64>) -> Value {
    v.map_or(Value::Null, |x| json!(x))
}

/// A trade size as JSON: an integer when whole (the usual case), else the fraction of units.
pub fn size_json(size: f64) -> Value {
    if size.fract() == 0.0 && size.abs() < 9.0e15 {
        #[expect(
            clippy::cast_possible_truncation,
            reason = "whole and far below 2^53, so exact"
        )]
        let whole = size as i64;
        json!(whole)
    } else {
        json!(size)
    }
}

/// One trade as `trade_list` and `open_trades` show it.
pub fn trade_json(bars: &Bars, t: &Trade) -> Value {
    let mut v = json!({
        "entry_bar": t.entry_bar,
        "entry_time": bars.time.at(t.entry_bar),
        "entry_price": t.entry_price,
        "size": size_json(t.size),
        "commission": t.commission,
        "sl": opt(t.sl),
        "tp": opt(t.tp),
    });
    if let (Some(bar), Some(price)) = (t.exit_bar, t.exit_price) {
        v["exit_bar"] = json!(bar);
        v["exit_time"] = json!(bars.time.at(bar));
        v["exit_price"] = json!(price);
        v["pnl"] = json!(t.pnl());
        v["return_pct"] = json!(t.return_frac() * 100.0);
        v["exit_reason"] = json!(t.exit_reason.map_or("signal", |r| r.name()));
    }
    v
}

/// The statistics at the top level, plus `trade_list` and `open_trades`.
pub fn to_json(bars: &Bars, run: &Run, s: &Stats) -> Value {
    json!({
        "start": s.start,
        "end": s.end,
        "duration_days": s.duration_days,
        "exposure_time_pct": s.exposure_time_pct,
        "equity_final": s.equity_final,
        "equity_peak": s.equity_peak,
        "return_pct": s.return_pct,
        "buy_hold_return_pct": s.buy_hold_return_pct,
        "return_ann_pct": opt(s.return_ann_pct),
        "volatility_ann_pct": opt(s.volatility_ann_pct),
        "cagr_pct": opt(s.cagr_pct),
        "sharpe_ratio": opt(s.sharpe_ratio),
        "sortino_ratio": opt(s.sortino_ratio),
        "calmar_ratio": opt(s.calmar_ratio),
        "alpha_pct": opt(s.alpha_pct),
        "beta": opt(s.beta),
        "max_drawdown_pct": s.max_drawdown_pct,
        "avg_drawdown_pct": opt(s.avg_drawdown_pct),
        "max_drawdown_duration_days": opt(s.max_drawdown_duration_days),
        "avg_drawdown_duration_days": opt(s.avg_drawdown_duration_days),
        "trades": s.trades,
        "win_rate_pct": opt(s.win_rate_pct),
        "best_trade_pct": opt(s.best_trade_pct),
        "worst_trade_pct": opt(s.worst_trade_pct),
        "avg_trade_pct": opt(s.avg_trade_pct),
        "max_trade_duration_days": opt(s.max_trade_duration_days),
        "avg_trade_duration_days": opt(s.avg_trade_duration_days),
        "profit_factor": opt(s.profit_factor),
        "expectancy_pct": opt(s.expectancy_pct),
        "sqn": opt(s.sqn),
        "kelly_criterion": opt(s.kelly_criterion),
        "commissions": s.commissions,
        "trade_list": run.trades.iter().map(|t| trade_json(bars, t)).collect::<Vec<_>>(),
        "open_trades": run.open_trades.iter().map(|t| trade_json(bars, t)).collect::<Vec<_>>(),
    })
}

/// The statistics as `(label, json key, value)` rows in backtesting.py's order, values with two
/// decimals and `-` where undefined.
pub fn rows(s: &Stats) -> Vec<(&'static str, &'static str, String)> {
    let f = |v: Option<f64>| v.map_or_else(|| "-".to_owned(), |x| format!("{x:.2}"));
    vec![
        ("Start", "start", s.start.clone()),
        ("End", "end", s.end.clone()),
        ("Duration [days]", "duration_days", f(Some(s.duration_days))),
        (
            "Exposure Time [%]",
            "exposure_time_pct",
            f(Some(s.exposure_time_pct)),
        ),
        ("Equity Final [$]", "equity_final", f(Some(s.equity_final))),
        ("Equity Peak [$]", "equity_peak", f(Some(s.equity_peak))),
        ("Return [%]", "return_pct", f(Some(s.return_pct))),
        (
            "Buy & Hold Return [%]",
            "buy_hold_return_pct",
            f(Some(s.buy_hold_return_pct)),
        ),
        ("Return (Ann.) [%]", "return_ann_pct", f(s.return_ann_pct)),
        (
            "Volatility (Ann.) [%]",
            "volatility_ann_pct",
            f(s.volatility_ann_pct),
        ),
        ("CAGR [%]", "cagr_pct", f(s.cagr_pct)),
        ("Sharpe Ratio", "sharpe_ratio", f(s.sharpe_ratio)),
        ("Sortino Ratio", "sortino_ratio", f(s.sortino_ratio)),
        ("Calmar Ratio", "calmar_ratio", f(s.calmar_ratio)),
        ("Alpha [%]", "alpha_pct", f(s.alpha_pct)),
        ("Beta", "beta", f(s.beta)),
        (
            "Max. Drawdown [%]",
            "max_drawdown_pct",
            f(Some(s.max_drawdown_pct)),
        ),
        (
            "Avg. Drawdown [%]",
            "avg_drawdown_pct",
            f(s.avg_drawdown_pct),
        ),
        (
            "Max. Drawdown Duration [days]",
            "max_drawdown_duration_days",
            f(s.max_drawdown_duration_days),
        ),
        (
            "Avg. Drawdown Duration [days]",
            "avg_drawdown_duration_days",
            f(s.avg_drawdown_duration_days),
        ),
        ("# Trades", "trades", s.trades.to_string()),
        ("Win Rate [%]", "win_rate_pct", f(s.win_rate_pct)),
        ("Best Trade [%]", "best_trade_pct", f(s.best_trade_pct)),
        ("Worst Trade [%]", "worst_trade_pct", f(s.worst_trade_pct)),
        ("Avg. Trade [%]", "avg_trade_pct", f(s.avg_trade_pct)),
        (
            "Max. Trade Duration [days]",
            "max_trade_duration_days",
            f(s.max_trade_duration_days),
        ),
        (
            "Avg. Trade Duration [days]",
            "avg_trade_duration_days",
            f(s.avg_trade_duration_days),
        ),
        ("Profit Factor", "profit_factor", f(s.profit_factor)),
        ("Expectancy [%]", "expectancy_pct", f(s.expectancy_pct)),
        ("SQN", "sqn", f(s.sqn)),
        ("Kelly Criterion", "kelly_criterion", f(s.kelly_criterion)),
        ("Commissions [$]", "commissions", f(Some(s.commissions))),
    ]
}

/// What the statistics leave out when a run ends with trades open (they are not in the trade
/// statistics, as in backtesting.py): one line per open trade with its entry time and its
/// return at the last close, and what `--finalize` does. `None` when nothing is open.
pub fn open_note(bars: &Bars, run: &Run) -> Option<String> {
    if run.open_trades.is_empty() {
        return None;
    }
    let last = bars.close.last().copied()?;
    let n = run.open_trades.len();
    let parts: Vec<String> = run
        .open_trades
        .iter()
        .map(|t| {
            let pct = (last / t.entry_price - 1.0) * t.size.signum() * 100.0;
            format!("since {} ({pct:+.1} %)", bars.time.at(t.entry_bar))
        })
        .collect();
    Some(format!(
        "{n} trade{} still open {}: `--finalize` closes {} at the last bar and counts {} in the statistics",
        if n == 1 { "" } else { "s" },
        parts.join(", "),
        if n == 1 { "it" } else { "them" },
        if n == 1 { "it" } else { "them" },
    ))
}

/// `name   value` lines, aligned, in backtesting.py's order.
pub fn table(s: &Stats) -> String {
    let rows = rows(s);
    let w = rows.iter().map(|(n, _, _)| n.len()).max().unwrap_or(0);
    rows.iter().fold(String::new(), |mut out, (n, _, v)| {
        let _ = writeln!(out, "{n:<w$}  {v}");
        out
    })
}

/// The trade list as CSV.
pub fn trades_csv(bars: &Bars, run: &Run) -> String {
    let mut out = String::from(
        "entry_bar,exit_bar,entry_time,exit_time,entry_price,exit_price,size,pnl,return_pct,commission,exit_reason\n",
    );
    for t in &run.trades {
        let (eb, ep) = (
            t.exit_bar.unwrap_or(t.entry_bar),
            t.exit_price.unwrap_or(t.entry_price),
        );
        let _ = writeln!(
            out,
            "{},{},{},{},{},{},{},{},{},{},{}",
            t.entry_bar,
            eb,
            bars.time.at(t.entry_bar),
            bars.time.at(eb),
            t.entry_price,
            ep,
            t.size,
            t.pnl(),
            t.return_frac() * 100.0,
            t.commission,
            t.exit_reason.map_or("", |r| r.name())
        );
    }
    out
}

/// The sample data bundled for the main command (GOOG daily, 2004-2013, from backtesting.py).
pub const SAMPLE_CSV: &str = include_str!("../data/GOOG.csv");
