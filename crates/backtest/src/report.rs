//! A run's results as DESIGN.md §6's JSON document and as an aligned table.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::io::Write as _;

use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::Value;

use crate::data::Bars;
use crate::engine::Run;
use crate::portfolio::{PortfolioRun, SymbolSummary};
use crate::stats::Stats;
use crate::trade::Trade;

/// A trade size as JSON: an integer when whole (the usual case), else the fraction of units.
#[derive(Debug, Clone, Copy, serde::Serialize)]
#[serde(untagged)]
pub enum Size {
    /// Whole units.
    Whole(i64),
    /// A fraction of units.
    Part(f64),
}

impl Size {
    /// The JSON form of a size.
    pub fn of(size: f64) -> Self {
        if size.fract() == 0.0 && size.abs() < 9.0e15 {
            #[expect(
                clippy::cast_possible_truncation,
                reason = "whole and far below 2^53, so exact"
            )]
            let whole = size as i64;
            Size::Whole(whole)
        } else {
            Size::Part(size)
        }
    }
}

/// A trade size as a JSON value (see [`Size`]).
pub fn size_json(size: f64) -> Value {
    match Size::of(size) {
        Size::Whole(n) => Value::from(n),
        Size::Part(x) => Value::from(x),
    }
}

/// One trade as `trade_list` and `open_trades` show it (keys in alphabetical order, as every
/// object of the document; the exit's keys only once it closed).
#[derive(Debug, serde::Serialize)]
pub struct TradeDoc<'a> {
    commission: f64,
    entry_bar: usize,
    entry_price: f64,
    entry_time: Cow<'a, str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    exit_bar: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    exit_price: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    exit_reason: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    exit_time: Option<Cow<'a, str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pnl: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    return_pct: Option<f64>,
    size: Size,
    sl: Option<f64>,
    /// In a portfolio: the trade's symbol.
    #[serde(skip_serializing_if = "Option::is_none")]
    symbol: Option<&'a str>,
    tp: Option<f64>,
}

impl<'a> TradeDoc<'a> {
    /// The document of one trade on `bars`.
    pub fn new(bars: &'a Bars, t: &Trade) -> Self {
        let exit = t.exit_bar.zip(t.exit_price);
        TradeDoc {
            commission: t.commission,
            entry_bar: t.entry_bar,
            entry_price: t.entry_price,
            entry_time: bars.time.at(t.entry_bar),
            exit_bar: exit.map(|(bar, _)| bar),
            exit_price: exit.map(|(_, price)| price),
            exit_reason: exit.map(|_| t.exit_reason.map_or("signal", |r| r.name())),
            exit_time: exit.map(|(bar, _)| bars.time.at(bar)),
            pnl: exit.map(|_| t.pnl()),
            return_pct: exit.map(|_| t.return_frac() * 100.0),
            size: Size::of(t.size),
            sl: t.sl,
            symbol: None,
            tp: t.tp,
        }
    }
}

/// One trade as a JSON value (see [`TradeDoc`]).
pub fn trade_json(bars: &Bars, t: &Trade) -> Value {
    serde_json::to_value(TradeDoc::new(bars, t)).unwrap_or(Value::Null)
}

/// A list of trades, serialized one at a time; in a portfolio each with its symbol's name.
struct TradeList<'a> {
    bars: &'a Bars,
    trades: &'a [Trade],
    symbols: Option<(&'a [String], &'a [usize])>,
}

impl Serialize for TradeList<'_> {
    fn serialize<S: Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        ser.collect_seq(self.trades.iter().enumerate().map(|(k, t)| {
            let mut doc = TradeDoc::new(self.bars, t);
            doc.symbol = self
                .symbols
                .and_then(|(names, of)| of.get(k).and_then(|&s| names.get(s)).map(String::as_str));
            doc
        }))
    }
}

/// The `symbols` entry of a portfolio's document: per symbol, in `--data` order.
struct SymbolsDoc<'a>(&'a [String], &'a [SymbolSummary]);

impl Serialize for SymbolsDoc<'_> {
    fn serialize<S: Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        #[derive(serde::Serialize)]
        struct One {
            exposure_time_pct: f64,
            return_pct: f64,
            trades: usize,
        }
        let mut m = ser.serialize_map(Some(self.0.len()))?;
        for (name, s) in self.0.iter().zip(self.1) {
            m.serialize_entry(
                name,
                &One {
                    exposure_time_pct: s.exposure_time_pct,
                    return_pct: s.return_pct,
                    trades: s.trades,
                },
            )?;
        }
        m.end()
    }
}

/// A value of the document's top level.
enum Entry<'a> {
    Num(f64),
    Opt(Option<f64>),
    Count(usize),
    Text(&'a str),
    Value(&'a Value),
    Trades(TradeList<'a>),
    Symbols(SymbolsDoc<'a>),
}

impl Serialize for Entry<'_> {
    fn serialize<S: Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        match self {
            Entry::Num(x) => x.serialize(ser),
            Entry::Opt(x) => x.serialize(ser),
            Entry::Count(n) => n.serialize(ser),
            Entry::Text(t) => t.serialize(ser),
            Entry::Value(v) => v.serialize(ser),
            Entry::Trades(t) => t.serialize(ser),
            Entry::Symbols(t) => t.serialize(ser),
        }
    }
}

/// DESIGN.md §6's JSON document of a run: the statistics at the top level, `trade_list` and
/// `open_trades`, and a sweep's `params` and `sweep` when given. It serializes straight to its
/// writer, a trade at a time (no JSON tree of the trades is built), keys in alphabetical order.
#[derive(Debug)]
pub struct Document<'a> {
    bars: &'a Bars,
    run: &'a Run,
    stats: &'a Stats,
    /// A sweep's winning `params` and its `sweep` table.
    pub sweep: Option<(Value, Value)>,
    /// A portfolio's symbols (DESIGN.md §5.3): `symbols`, and a `symbol` in every trade.
    pub portfolio: Option<(&'a PortfolioRun, Vec<SymbolSummary>)>,
}

impl<'a> Document<'a> {
    /// The document of a portfolio run with its statistics (`cash`: the starting cash, for
    /// each symbol's `return_pct`).
    pub fn of_portfolio(p: &'a PortfolioRun, stats: &'a Stats, cash: f64) -> Self {
        let mut doc = Document::new(&p.bars, &p.run, stats);
        doc.portfolio = Some((p, p.summaries(cash)));
        doc
    }

    /// The document of a run on `bars` with its statistics.
    pub fn new(bars: &'a Bars, run: &'a Run, stats: &'a Stats) -> Self {
        Document {
            bars,
            run,
            stats,
            sweep: None,
            portfolio: None,
        }
    }
}

impl Serialize for Document<'_> {
    fn serialize<S: Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        let s = self.stats;
        let mut entries = vec![
            ("start", Entry::Text(&s.start)),
            ("end", Entry::Text(&s.end)),
            ("duration_days", Entry::Num(s.duration_days)),
            ("exposure_time_pct", Entry::Num(s.exposure_time_pct)),
            ("equity_final", Entry::Num(s.equity_final)),
            ("equity_peak", Entry::Num(s.equity_peak)),
            ("return_pct", Entry::Num(s.return_pct)),
            ("buy_hold_return_pct", Entry::Num(s.buy_hold_return_pct)),
            ("return_ann_pct", Entry::Opt(s.return_ann_pct)),
            ("volatility_ann_pct", Entry::Opt(s.volatility_ann_pct)),
            ("cagr_pct", Entry::Opt(s.cagr_pct)),
            ("sharpe_ratio", Entry::Opt(s.sharpe_ratio)),
            ("sortino_ratio", Entry::Opt(s.sortino_ratio)),
            ("calmar_ratio", Entry::Opt(s.calmar_ratio)),
            ("alpha_pct", Entry::Opt(s.alpha_pct)),
            ("beta", Entry::Opt(s.beta)),
            ("max_drawdown_pct", Entry::Num(s.max_drawdown_pct)),
            ("avg_drawdown_pct", Entry::Opt(s.avg_drawdown_pct)),
            (
                "max_drawdown_duration_days",
                Entry::Opt(s.max_drawdown_duration_days),
            ),
            (
                "avg_drawdown_duration_days",
                Entry::Opt(s.avg_drawdown_duration_days),
            ),
            ("trades", Entry::Count(s.trades)),
            ("win_rate_pct", Entry::Opt(s.win_rate_pct)),
            ("best_trade_pct", Entry::Opt(s.best_trade_pct)),
            ("worst_trade_pct", Entry::Opt(s.worst_trade_pct)),
            ("avg_trade_pct", Entry::Opt(s.avg_trade_pct)),
            (
                "max_trade_duration_days",
                Entry::Opt(s.max_trade_duration_days),
            ),
            (
                "avg_trade_duration_days",
                Entry::Opt(s.avg_trade_duration_days),
            ),
            ("profit_factor", Entry::Opt(s.profit_factor)),
            ("expectancy_pct", Entry::Opt(s.expectancy_pct)),
            ("sqn", Entry::Opt(s.sqn)),
            ("kelly_criterion", Entry::Opt(s.kelly_criterion)),
            ("commissions", Entry::Num(s.commissions)),
            (
                "trade_list",
                Entry::Trades(TradeList {
                    bars: self.bars,
                    trades: &self.run.trades,
                    symbols: self
                        .portfolio
                        .as_ref()
                        .map(|(p, _)| (p.names.as_slice(), p.trade_symbols.as_slice())),
                }),
            ),
            (
                "open_trades",
                Entry::Trades(TradeList {
                    bars: self.bars,
                    trades: &self.run.open_trades,
                    symbols: self
                        .portfolio
                        .as_ref()
                        .map(|(p, _)| (p.names.as_slice(), p.open_symbols.as_slice())),
                }),
            ),
        ];
        if let Some((p, summaries)) = &self.portfolio {
            entries.push(("symbols", Entry::Symbols(SymbolsDoc(&p.names, summaries))));
        }
        if let Some((params, sweep)) = &self.sweep {
            entries.push(("params", Entry::Value(params)));
            entries.push(("sweep", Entry::Value(sweep)));
        }
        entries.sort_unstable_by_key(|(k, _)| *k);
        let mut m = ser.serialize_map(Some(entries.len()))?;
        for (k, v) in &entries {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

/// Writes the document of a run (see [`Document`]) and a new line to `out`, buffered.
///
/// # Errors
/// What writing to `out` returns.
pub fn write_json(out: impl std::io::Write, doc: &Document<'_>) -> std::io::Result<()> {
    let mut w = std::io::BufWriter::with_capacity(1 << 16, out);
    serde_json::to_writer(&mut w, doc)?;
    w.write_all(b"\n")?;
    w.flush()
}

/// The document of a run (see [`Document`]) as a JSON value.
pub fn to_json(bars: &Bars, run: &Run, s: &Stats) -> Value {
    serde_json::to_value(Document::new(bars, run, s)).unwrap_or(Value::Null)
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

/// The trade list as CSV; with `symbols` (a portfolio's, one per closed trade) a `symbol`
/// column last.
pub fn trades_csv(bars: &Bars, run: &Run, symbols: &[&str]) -> String {
    let mut out = String::from(
        "entry_bar,exit_bar,entry_time,exit_time,entry_price,exit_price,size,pnl,return_pct,commission,exit_reason",
    );
    out.push_str(if symbols.is_empty() {
        "\n"
    } else {
        ",symbol\n"
    });
    for (k, t) in run.trades.iter().enumerate() {
        let (eb, ep) = (
            t.exit_bar.unwrap_or(t.entry_bar),
            t.exit_price.unwrap_or(t.entry_price),
        );
        let _ = write!(
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
        if let Some(s) = symbols.get(k) {
            out.push(',');
            out.push_str(s);
        }
        out.push('\n');
    }
    out
}

/// The sample data bundled for the main command (GOOG daily, 2004-2013, from backtesting.py).
pub const SAMPLE_CSV: &str = include_str!("../data/GOOG.csv");

#[cfg(test)]
mod tests {
    use super::*;

    /// The document written a trade at a time is, byte for byte, what printing its JSON tree
    /// gives (that tree sorts keys): every top-level statistic, every trade, open ones without
    /// exit keys, and a sweep's `params` and `sweep`.
    #[test]
    fn the_streamed_document_is_the_json_tree_printed() {
        let bars = crate::parse_csv("GOOG.csv", SAMPLE_CSV).unwrap();
        let strategy = strategy::Strategy::from_toml(
            "t.toml",
            "name = \"t\"\n[indicators]\nfast = \"sma(close, 10)\"\nslow = \"sma(close, 30)\"\n[rules]\nentry_long = \"crosses_above(fast, slow)\"\nexit_long = \"crosses_below(fast, slow) and close < 750\"\n[risk]\nsize = 0.5\n",
        )
        .unwrap();
        let run = crate::engine::run(&bars, &strategy, crate::engine::Settings::default()).unwrap();
        assert!(
            run.trades.len() > 10 && !run.open_trades.is_empty(),
            "{} {}",
            run.trades.len(),
            run.open_trades.len()
        );
        let stats = crate::stats::compute(&bars, &run);
        let mut doc = Document::new(&bars, &run, &stats);
        let mut streamed = Vec::new();
        write_json(&mut streamed, &doc).unwrap();
        let tree = to_json(&bars, &run, &stats);
        assert_eq!(String::from_utf8(streamed).unwrap(), format!("{tree}\n"));
        assert_eq!(
            tree["trade_list"].as_array().unwrap().len(),
            run.trades.len()
        );
        let open = &tree["open_trades"][0];
        assert!(open.get("exit_bar").is_none() && open.get("pnl").is_none());
        assert_eq!(open["entry_bar"], run.open_trades[0].entry_bar);
        let closed = &tree["trade_list"][0];
        assert_eq!(closed["exit_reason"], "signal");
        assert_eq!(
            closed["exit_time"],
            bars.time.at(run.trades[0].exit_bar.unwrap()).as_ref()
        );
        assert_eq!(tree["trades"], stats.trades);

        doc.sweep = Some((
            serde_json::json!({"fast": 10}),
            serde_json::json!({"combinations": 3}),
        ));
        let mut streamed = Vec::new();
        write_json(&mut streamed, &doc).unwrap();
        let mut tree = tree;
        tree["params"] = serde_json::json!({"fast": 10});
        tree["sweep"] = serde_json::json!({"combinations": 3});
        assert_eq!(String::from_utf8(streamed).unwrap(), format!("{tree}\n"));
    }

    #[test]
    fn sizes_are_integers_when_whole() {
        assert_eq!(size_json(3.0).to_string(), "3");
        assert_eq!(size_json(-2.0).to_string(), "-2");
        assert_eq!(size_json(0.25).to_string(), "0.25");
        let big: Value =
            serde_json::from_str(&serde_json::to_string(&Size::of(1e16)).unwrap()).unwrap();
        assert!(big.is_f64() && big.as_f64() == Some(1e16));
    }
}
