//! One strategy over several symbols with one cash account (DESIGN.md §5.3): the union of the
//! symbols' bar times, each symbol's indicators and rules on its own bars, and at each time
//! (1) the orders placed before fill at each symbol's open — every symbol's exits, stops and
//! targets first, in `--data` order, then the entries, then the stops and targets of trades
//! that entered at this time (backtesting.py's second pass) —, (2) equity marked at each
//! symbol's latest close, (3) the rules on each symbol's close. A symbol without a bar at a
//! time does nothing then. One symbol is §6's loop exactly (its orders in queue order).
//! `[portfolio]` orders the entries by `rank`, caps open positions (`max_positions`), names
//! the symbols that trade (`trade`) and rotates (`rebalance` with `top`: the rules then give
//! way to the rotation on the last bar of each period); `on("SYM", x)` reads another symbol's
//! series (the evaluator knows every symbol's bars).

use strategy::{Fill, Rebalance, Strategy};

use crate::broker::{Broker, Phase};
use crate::data::{Bars, Times};
use crate::engine::{
    self, ExitReason, Plan, Run, Settings, Step, Trade, entries_from, unscale, warmup,
};
use crate::eval::{EvalError, Evaluator, Series};
use crate::stats::{self, Stats};

/// One symbol: its name (`--data NAME=path`, else the file's stem) and its bars.
#[derive(Debug, Clone)]
pub struct Symbol {
    /// The name trades and `on()` use.
    pub name: String,
    /// Its bars.
    pub bars: Bars,
}

/// The outcome of a portfolio run.
#[derive(Debug, Clone)]
pub struct PortfolioRun {
    /// The symbols' names, in `--data` order.
    pub names: Vec<String>,
    /// The union of the symbols' times (a time's text from the first symbol with a bar then);
    /// the prices are the equal-weight basket of the symbols, 1 at their first common bar.
    pub bars: Bars,
    /// Trades with `entry_bar`/`exit_bar` counted on the union of times, ordered by entry
    /// time then `--data` order; the portfolio's equity at each time.
    pub run: Run,
    /// The symbol of each closed trade (an index into `names`).
    pub trade_symbols: Vec<usize>,
    /// The symbol of each open trade.
    pub open_symbols: Vec<usize>,
}

/// What one symbol did.
#[derive(Debug, Clone, PartialEq)]
pub struct SymbolSummary {
    /// Closed trades.
    pub trades: usize,
    /// Its closed trades' profit and loss (commissions included) against the starting cash,
    /// in percent.
    pub return_pct: f64,
    /// Share of the union's times inside one of its closed trades, in percent.
    pub exposure_time_pct: f64,
}

/// Why a portfolio cannot run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PortfolioError {
    /// A symbol the strategy names that no `--data` gives.
    #[error(
        "{field}: no --data file is named {name} (the symbols are {known}); name a file so: --data {name}=FILE"
    )]
    UnknownSymbol {
        /// Where it is named (`portfolio.trade`).
        field: String,
        /// The name.
        name: String,
        /// The symbols there are, comma-separated.
        known: String,
    },
    /// An expression could not be evaluated on a symbol's bars.
    #[error("{0}")]
    Eval(#[from] EvalError),
}

/// One symbol in the loop.
struct Leg<'s> {
    bars: Bars,
    /// The union index of each of its bars.
    at: Vec<usize>,
    /// Its next bar.
    cursor: usize,
    /// Its latest bar at or before the current time.
    latest: Option<usize>,
    warmup: usize,
    /// `None` when the symbol is data only (not in `trade`).
    step: Option<Step<'s>>,
    broker: Broker,
    /// `rank` on its bars.
    rank: Option<Vec<f64>>,
}

impl<'s> Leg<'s> {
    /// Symbol `sym` ready for the loop: its indicators, warm-up, rules and rank on its own bars
    /// (prices scaled by `fractional_unit`), and where its bars fall on the union `times`.
    /// `all` holds every symbol's bars as the run sees them (for `on()`); `sym` is one of them.
    fn new(
        sym: &Symbol,
        all: &[Symbol],
        strategy: &'s Strategy,
        s: Settings,
        times: &[i64],
    ) -> Result<Self, PortfolioError> {
        let section = strategy.portfolio.as_ref();
        let trades = section
            .and_then(|p| p.trade.as_ref())
            .is_none_or(|t| t.contains(&sym.name));
        let bars = sym.bars.clone();
        let named =
            |e: EvalError| PortfolioError::Eval(EvalError(format!("{}: {}", sym.name, e.0)));
        let (w, plan, rank) = {
            let mut ev = Evaluator::for_strategy(&bars, strategy)
                .with_symbols(all.iter().map(|s| (s.name.as_str(), &s.bars)).collect());
            let w = warmup(&mut ev, strategy).map_err(named)?;
            let plan = if trades && bars.len() > w + 1 {
                Some(Plan::new(&mut ev, strategy, bars.len()).map_err(named)?)
            } else {
                None
            };
            let rank = match section.and_then(|p| p.rank.as_ref()) {
                Some(e) => match ev.eval(e).map_err(named)? {
                    Series::Num(v) => Some(v.to_vec()),
                    Series::Bool(_) => None,
                },
                None => None,
            };
            (w, plan, rank)
        };
        let step = plan.map(|plan| Step {
            s: strategy,
            plan,
            pending: [None, None],
            entries_from: entries_from(&bars, s.trade_from),
        });
        let at = bars
            .epoch_ms
            .iter()
            .map(|ms| times.partition_point(|t| t < ms))
            .collect();
        Ok(Leg {
            bars,
            at,
            cursor: 0,
            latest: None,
            warmup: w,
            step,
            broker: Broker::new(0.0, s.commission, strategy.orders.fill == Fill::Close),
            rank,
        })
    }

    fn latest_close(&self) -> Option<f64> {
        self.latest.map(|i| self.bars.close[i])
    }
}

/// Runs a strategy over several symbols sharing one account.
///
/// # Errors
/// [`PortfolioError`]: a symbol in `trade` that no file is named, or an expression that cannot
/// be evaluated on a symbol's bars (the message names the symbol).
pub fn run(
    symbols: &[Symbol],
    strategy: &Strategy,
    s: Settings,
) -> Result<PortfolioRun, PortfolioError> {
    let unit = strategy.risk.fractional_unit;
    let section = strategy.portfolio.as_ref();
    let known = || {
        symbols
            .iter()
            .map(|s| s.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    for name in section.and_then(|p| p.trade.as_ref()).into_iter().flatten() {
        if !symbols.iter().any(|s| &s.name == name) {
            return Err(PortfolioError::UnknownSymbol {
                field: "portfolio.trade".to_owned(),
                name: name.clone(),
                known: known(),
            });
        }
    }
    for (name, field) in strategy.symbols_used() {
        if !symbols.iter().any(|s| s.name == name) {
            return Err(PortfolioError::UnknownSymbol {
                field: format!("{field}: on(\"{name}\", …)"),
                name,
                known: known(),
            });
        }
    }
    let times = union(symbols);
    // Prices in units of `fractional_unit` for every symbol, `on()`'s included.
    let seen: Vec<Symbol> = symbols
        .iter()
        .map(|sym| Symbol {
            name: sym.name.clone(),
            bars: unit.map_or_else(|| sym.bars.clone(), |u| engine::scaled(&sym.bars, u)),
        })
        .collect();
    let legs = seen
        .iter()
        .map(|sym| Leg::new(sym, &seen, strategy, s, &times))
        .collect::<Result<Vec<_>, _>>()?;
    let mut acct = Account {
        max_positions: section.and_then(|p| p.max_positions),
        cash: s.cash,
        legs,
        equity: vec![s.cash; times.len()],
    };
    let rotation = section.and_then(|p| p.rotation);
    let mut bankrupt = false;
    let mut here: Vec<(usize, usize)> = Vec::with_capacity(symbols.len());
    for u in 0..times.len() {
        // The symbols with a bar now, past their warm-up.
        here.clear();
        for (k, leg) in acct.legs.iter_mut().enumerate() {
            if leg.at.get(leg.cursor) == Some(&u) {
                let i = leg.cursor;
                leg.latest = Some(i);
                leg.cursor += 1;
                if i > leg.warmup && leg.step.is_some() {
                    here.push((k, i));
                }
            }
        }
        acct.fill(&here);
        acct.equity[u] = acct.marked();
        if acct.equity[u] <= 0.0 {
            acct.out_of_money(u);
            bankrupt = true;
            break;
        }
        match rotation {
            None => {
                for &(k, i) in &here {
                    acct.with(k, |leg| {
                        if let Some(step) = leg.step.as_mut() {
                            step.next(&mut leg.broker, &leg.bars, i);
                        }
                    });
                }
            }
            Some((rule, top)) => {
                // Stops, targets and trailing act on every bar; the rotation on the last
                // bar of each period.
                for &(k, i) in &here {
                    acct.with(k, |leg| {
                        if let Some(step) = leg.step.as_mut() {
                            let st = Step::state(&leg.broker, i, leg.bars.close[i]);
                            step.manage(&mut leg.broker, &leg.bars, i, &st);
                        }
                    });
                }
                if times
                    .get(u + 1)
                    .is_none_or(|next| period(rule, times[u]) != period(rule, *next))
                {
                    acct.rotate(u, &here, top);
                }
            }
        }
    }
    if !bankrupt && s.finalize {
        acct.finalize();
    }
    Ok(finish(symbols, acct, &times, unit))
}

/// The shared account and every symbol's broker: the cash lives here and is handed to the
/// broker acting, with the other symbols' positions marked at their latest close.
struct Account<'s> {
    max_positions: Option<u32>,
    cash: f64,
    legs: Vec<Leg<'s>>,
    equity: Vec<f64>,
}

impl Account<'_> {
    /// Lets symbol `k`'s broker act on the shared cash, seeing the others' positions.
    fn with<T>(&mut self, k: usize, f: impl FnOnce(&mut Leg<'_>) -> T) -> T {
        let (mut pl, mut used) = (0.0, 0.0);
        for (j, leg) in self.legs.iter().enumerate() {
            if j != k
                && let Some(c) = leg.latest_close()
            {
                pl += leg.broker.unrealized(c);
                used += leg.broker.used(c);
            }
        }
        let leg = &mut self.legs[k];
        leg.broker.cash = self.cash;
        leg.broker.others_pl = pl;
        leg.broker.others_used = used;
        let out = f(leg);
        self.cash = leg.broker.cash;
        out
    }

    /// Whether symbol `k` may open a position now: it holds one, or fewer than
    /// `max_positions` are open.
    fn may_open(&self, k: usize) -> bool {
        let Some(n) = self.max_positions else {
            return true;
        };
        let open = self
            .legs
            .iter()
            .filter(|l| !l.broker.trades.is_empty())
            .count();
        !self.legs[k].broker.trades.is_empty() || open < n as usize
    }

    /// The rank deciding when symbol `k`'s entries fill at its bar `i`: its value at the
    /// symbol's bar before (whose close placed a market entry); `None` when missing.
    fn rank(&self, k: usize, i: usize) -> Option<f64> {
        let r = self.legs[k].rank.as_ref()?;
        i.checked_sub(1)
            .and_then(|j| r.get(j))
            .copied()
            .filter(|x| !x.is_nan())
    }

    /// Step (1) for the symbols `here` (with their bar index).
    fn fill(&mut self, here: &[(usize, usize)]) {
        if let [(k, i)] = here
            && self.legs.len() == 1
        {
            let (k, i) = (*k, *i);
            let may = self.may_open(k);
            self.with(k, |leg| {
                leg.broker.may_open = may;
                leg.broker.process_orders(&leg.bars, i);
            });
            return;
        }
        for &(k, i) in here {
            self.with(k, |leg| leg.broker.pass(&leg.bars, i, Phase::Exits));
        }
        // Entries by rank, highest first, missing ranks last; ties in `--data` order.
        let mut order: Vec<(usize, usize)> = here.to_vec();
        order.sort_by(|a, b| match (self.rank(a.0, a.1), self.rank(b.0, b.1)) {
            (Some(x), Some(y)) => y.total_cmp(&x),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => std::cmp::Ordering::Equal,
        });
        let mut again = Vec::new();
        for (k, i) in order {
            let may = self.may_open(k);
            let more = self.with(k, |leg| {
                leg.broker.may_open = may;
                leg.broker.pass(&leg.bars, i, Phase::Entries)
            });
            if more {
                again.push((k, i));
            }
        }
        // The second pass in `--data` order.
        again.sort_unstable();
        for (k, i) in again {
            self.with(k, |leg| leg.broker.process_orders(&leg.bars, i));
        }
    }

    /// A rotation on its rebalance time `u`: among the symbols with a bar now (`here`) whose
    /// filter holds and whose rank has a value, the `top` highest are the target; held ones
    /// outside it close, and each one entering it is bought with the equity at this close
    /// over `top` (orders for the next bar). A held symbol without a bar now is left alone.
    fn rotate(&mut self, u: usize, here: &[(usize, usize)], top: u32) {
        let mut ranked: Vec<(f64, usize, usize)> = here
            .iter()
            .filter_map(|&(k, i)| {
                let leg = &self.legs[k];
                let r = leg.rank.as_ref().and_then(|r| r.get(i)).copied()?;
                let wants = leg
                    .step
                    .as_ref()
                    .is_some_and(|s| s.wants(&leg.broker, &leg.bars, i));
                (!r.is_nan() && wants).then_some((r, k, i))
            })
            .collect();
        ranked.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        let target: Vec<(usize, usize)> = ranked
            .iter()
            .take(top as usize)
            .map(|&(_, k, i)| (k, i))
            .collect();
        for &(k, _) in here {
            let held = !self.legs[k].broker.trades.is_empty();
            if held && !target.iter().any(|&(t, _)| t == k) {
                let ids: Vec<u64> = self.legs[k].broker.trades.iter().map(|t| t.id).collect();
                for id in ids {
                    self.legs[k]
                        .broker
                        .close_trade_order(id, ExitReason::Signal);
                }
            }
        }
        let budget = self.equity[u] / f64::from(top);
        for (k, i) in target {
            let leg = &mut self.legs[k];
            if !leg.broker.trades.is_empty() {
                continue;
            }
            // A buy of an earlier rotation still waiting (no bar since) gives way.
            leg.broker.orders.retain(|o| o.parent.is_some());
            if let Some(step) = leg.step.as_mut() {
                step.rotate_in(&mut leg.broker, &leg.bars, i, budget);
            }
        }
    }

    /// Cash plus every open position marked at its symbol's latest close.
    fn marked(&self) -> f64 {
        let mut pl = 0.0;
        for leg in &self.legs {
            if let Some(c) = leg.latest_close() {
                pl += leg.broker.unrealized(c);
            }
        }
        self.cash + pl
    }

    /// Equity reached 0 at time `u`: every trade closes at its symbol's latest close, and the
    /// cash and all later equity are 0.
    fn out_of_money(&mut self, u: usize) {
        for leg in &mut self.legs {
            if let Some(i) = leg.latest {
                leg.broker.out_of_money(leg.bars.close[i], i);
            }
        }
        self.cash = 0.0;
        for e in &mut self.equity[u..] {
            *e = 0.0;
        }
    }

    /// `--finalize`: what is open closes at each symbol's last bar, as backtesting.py's
    /// re-run of its broker on the last bar does (orders still waiting fill then too).
    fn finalize(&mut self) {
        for k in 0..self.legs.len() {
            let leg = &mut self.legs[k];
            // A symbol whose loop never started has nothing to fill.
            if leg.step.is_none() || leg.bars.len() <= leg.warmup + 1 {
                continue;
            }
            let ids: Vec<u64> = leg.broker.trades.iter().rev().map(|t| t.id).collect();
            for id in ids {
                leg.broker.close_trade_order(id, ExitReason::End);
            }
            let Some(last) = leg.bars.len().checked_sub(1) else {
                continue;
            };
            self.with(k, |leg| leg.broker.process_orders(&leg.bars, last));
        }
        if let Some(u) = self.equity.len().checked_sub(1) {
            self.equity[u] = self.marked();
            if self.equity[u] <= 0.0 {
                self.out_of_money(u);
            }
        }
    }
}

/// The period of `rule` a time (milliseconds, UTC) falls in: weeks by the date of their
/// Sunday (or Friday), months, quarters, years.
fn period(rule: Rebalance, ms: i64) -> i64 {
    use chrono::Datelike;
    let Some(t) = chrono::DateTime::from_timestamp_millis(ms) else {
        return i64::MIN;
    };
    let d = t.date_naive();
    let (y, m) = (i64::from(d.year()), i64::from(d.month0()));
    let to = |end: u32| {
        let wd = d.weekday().num_days_from_monday();
        i64::from(d.num_days_from_ce()) + i64::from((end + 7 - wd) % 7)
    };
    match rule {
        Rebalance::Week => to(6),
        Rebalance::WeekFri => to(4),
        Rebalance::Month => y * 12 + m,
        Rebalance::Quarter => y * 4 + m / 3,
        Rebalance::Year => y,
    }
}

/// Every symbol's times, once each, in order.
fn union(symbols: &[Symbol]) -> Vec<i64> {
    let mut t: Vec<i64> = symbols
        .iter()
        .flat_map(|s| s.bars.epoch_ms.iter().copied())
        .collect();
    t.sort_unstable();
    t.dedup();
    t
}

/// The trades on the union's bars, ordered by entry time then symbol, and the union's bars.
fn finish(symbols: &[Symbol], acct: Account<'_>, times: &[i64], unit: Option<f64>) -> PortfolioRun {
    let mut closed: Vec<(usize, Trade)> = Vec::new();
    let mut open: Vec<(usize, Trade)> = Vec::new();
    let mut warm = times.len();
    for (k, leg) in acct.legs.into_iter().enumerate() {
        let to_union = |t: &mut Trade| {
            t.entry_bar = leg.at[t.entry_bar];
            t.exit_bar = t.exit_bar.map(|b| leg.at[b]);
            if let Some(u) = unit {
                unscale(t, u);
            }
        };
        for mut t in leg.broker.closed {
            to_union(&mut t);
            closed.push((k, t));
        }
        for mut t in leg.broker.trades.into_iter().map(|o| o.trade) {
            to_union(&mut t);
            open.push((k, t));
        }
        if let Some(&u) = leg.at.get(leg.warmup) {
            warm = warm.min(u);
        }
    }
    closed.sort_by_key(|(k, t)| (t.entry_bar, *k));
    open.sort_by_key(|(k, t)| (t.entry_bar, *k));
    let bars = union_bars(symbols, times);
    PortfolioRun {
        names: symbols.iter().map(|s| s.name.clone()).collect(),
        bars,
        trade_symbols: closed.iter().map(|(k, _)| *k).collect(),
        open_symbols: open.iter().map(|(k, _)| *k).collect(),
        run: Run {
            trades: closed.into_iter().map(|(_, t)| t).collect(),
            open_trades: open.into_iter().map(|(_, t)| t).collect(),
            equity: acct.equity,
            warmup: warm.min(times.len().saturating_sub(1)),
        },
    }
}

/// The union's bars: each time's text from the first symbol with a bar then, and as prices the
/// equal-weight basket of every symbol (each at its latest close over its close at the first
/// time every symbol has a bar; 1 before it).
fn union_bars(symbols: &[Symbol], times: &[i64]) -> Bars {
    let n = times.len();
    let mut text = Times::default();
    let mut latest: Vec<Option<usize>> = vec![None; symbols.len()];
    let mut cursor = vec![0usize; symbols.len()];
    let mut base: Option<Vec<f64>> = None;
    let mut basket = Vec::with_capacity(n);
    for &t in times {
        let mut all = true;
        let mut named = false;
        for (k, s) in symbols.iter().enumerate() {
            if s.bars.epoch_ms.get(cursor[k]) == Some(&t) {
                if !named {
                    text.push(&s.bars.time.at(cursor[k]));
                    named = true;
                }
                latest[k] = Some(cursor[k]);
                cursor[k] += 1;
            } else {
                all = false;
            }
        }
        if base.is_none() && all {
            base = Some(
                symbols
                    .iter()
                    .zip(&latest)
                    .map(|(s, l)| l.map_or(f64::NAN, |i| s.bars.close[i]))
                    .collect(),
            );
        }
        let v = base.as_ref().map_or(1.0, |b| {
            let sum: f64 = symbols
                .iter()
                .zip(&latest)
                .zip(b)
                .map(|((s, l), b0)| l.map_or(f64::NAN, |i| s.bars.close[i]) / b0)
                .sum();
            sum / symbols.len() as f64
        });
        basket.push(v);
    }
    let col = std::sync::Arc::new(basket);
    Bars {
        time: text,
        epoch_ms: std::sync::Arc::new(times.to_vec()),
        open: col.clone(),
        high: col.clone(),
        low: col.clone(),
        close: col,
        volume: std::sync::Arc::new(vec![f64::NAN; n]),
        market: crate::data::MarketCache::default(),
    }
}

impl PortfolioRun {
    /// The portfolio's statistics: §6's on its equity, with `buy_hold_return_pct` that of the
    /// equal-weight basket held from the symbols' first common bar (and alpha against it).
    pub fn stats(&self) -> Stats {
        let mut s = stats::compute(&self.bars, &self.run);
        let c = &self.bars.close;
        if let Some(&last) = c.last() {
            s.buy_hold_return_pct = (last - 1.0) * 100.0;
            s.alpha_pct = s
                .beta
                .map(|b| s.return_pct - b * s.buy_hold_return_pct)
                .filter(|a| a.is_finite());
        }
        s
    }

    /// Symbol `k`'s trades (closed and open) at the indices of its own `bars` (the bars it was
    /// run on), for drawing them over its prices; no equity.
    pub fn symbol_run(&self, k: usize, bars: &Bars) -> Run {
        let local = |u: usize| {
            let ms = self.bars.epoch_ms.get(u).copied().unwrap_or(i64::MAX);
            bars.epoch_ms.partition_point(|t| *t < ms)
        };
        let mine = |trades: &[Trade], of: &[usize]| -> Vec<Trade> {
            trades
                .iter()
                .zip(of)
                .filter(|(_, s)| **s == k)
                .map(|(t, _)| {
                    let mut t = t.clone();
                    t.entry_bar = local(t.entry_bar);
                    t.exit_bar = t.exit_bar.map(local);
                    t
                })
                .collect()
        };
        Run {
            trades: mine(&self.run.trades, &self.trade_symbols),
            open_trades: mine(&self.run.open_trades, &self.open_symbols),
            equity: Vec::new(),
            warmup: 0,
        }
    }

    /// What each symbol did, in `--data` order.
    pub fn summaries(&self, cash: f64) -> Vec<SymbolSummary> {
        let n = self.run.equity.len().max(1) as f64;
        (0..self.names.len())
            .map(|k| {
                let mine: Vec<&Trade> = self
                    .run
                    .trades
                    .iter()
                    .zip(&self.trade_symbols)
                    .filter(|(_, s)| **s == k)
                    .map(|(t, _)| t)
                    .collect();
                let pnl: f64 = mine.iter().map(|t| t.pnl()).sum();
                let mut spans: Vec<(usize, usize)> = mine
                    .iter()
                    .map(|t| (t.entry_bar, t.exit_bar.unwrap_or(t.entry_bar)))
                    .collect();
                spans.sort_unstable();
                let (mut covered, mut next_free) = (0usize, 0usize);
                for (a, b) in spans {
                    let from = a.max(next_free);
                    if b >= from {
                        covered += b - from + 1;
                        next_free = b + 1;
                    }
                }
                SymbolSummary {
                    trades: mine.len(),
                    return_pct: pnl / cash * 100.0,
                    exposure_time_pct: covered as f64 / n * 100.0,
                }
            })
            .collect()
    }
}
