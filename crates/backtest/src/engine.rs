//! The bar loop with backtesting.py 0.6.6's semantics (DESIGN.md §6 and §5.2,
//! `reference/backtesting-semantics.md` §1-5): the broker fills last bar's orders, equity is
//! marked to the close, then the strategy's step runs on the close — trailing stops, time exits,
//! expiry of waiting entry orders, exits, then entries (one position at a time; an opposite entry
//! closes first). Orders, fills and sizing are the broker's (`broker.rs`); expressions that read
//! position state are evaluated bar by bar (`state.rs`). Trades open at the end are left open
//! (marked to the last close) or, with `finalize`, closed on the last bar as backtesting.py's
//! re-run of its broker does. A run whose equity reaches 0 stops there, as backtesting.py's does.

use std::sync::Arc;

use strategy::{
    Expr, ExprKind, Fill, Reverse, RoiUnit, Sizing, StopFrom, Strategy, TrailFrom, uses_position,
};

use crate::broker::{AtFill, Broker, Kind, Order, floordiv};
use crate::data::Bars;
use crate::eval::{EvalError, Evaluator};
use crate::state::{Level, PosState, Rule};
pub use crate::trade::{ExitReason, LevelStep, Trade};

/// backtesting.py's `_FULL_EQUITY`: `1 - sys.float_info.epsilon`, which decides rounding.
const FULL_EQUITY: f64 = 1.0 - f64::EPSILON;

/// Backtest settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Settings {
    /// Starting cash.
    pub cash: f64,
    /// Commission as a fraction of each fill's value (0.002 = 0.2 %), on entry and on exit.
    pub commission: f64,
    /// Close trades still open at the end at the last bar's open (and count them).
    pub finalize: bool,
    /// No entry is decided on a bar that opens before this time (milliseconds since the
    /// epoch, `--trade-from`): the bars before it only feed the indicators.
    pub trade_from: Option<i64>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            cash: 10_000.0,
            commission: 0.002,
            finalize: false,
            trade_from: None,
        }
    }
}

/// The outcome of a run.
#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    /// Closed trades, in exit order.
    pub trades: Vec<Trade>,
    /// Trades still open at the end (default mode).
    pub open_trades: Vec<Trade>,
    /// Equity per bar (cash + open trades marked to the close); warm-up bars hold the cash.
    pub equity: Vec<f64>,
    /// Bars of warm-up: the largest first-valid index of every indicator.
    pub warmup: usize,
}

/// The largest first-valid index over every indicator the strategy computes: each
/// `[indicators]` entry and each function call and look-back (`x[n]`, n bars more than `x`)
/// inside it, the rules, the `[risk]` price expressions and the `[orders]` prices (as
/// backtesting.py counts each `self.I`).
///
/// # Errors
/// [`EvalError`] if an expression cannot be evaluated.
pub fn warmup(ev: &mut Evaluator<'_>, strategy: &Strategy) -> Result<usize, EvalError> {
    fn calls<'e>(e: &'e Expr, out: &mut Vec<&'e Expr>) {
        match &e.kind {
            ExprKind::Call { args, .. } => {
                // An element-wise call reading position state is valued bar by bar; what
                // it reads waits as itself.
                if uses_position(e).is_none() {
                    out.push(e);
                }
                for a in args {
                    calls(a, out);
                }
            }
            // One series on the data's bars (what runs inside is on the resampled ones).
            ExprKind::Tf(..) | ExprKind::On(..) => out.push(e),
            // `x[n]` adds n bars to what `x` waits for (DESIGN.md §5.4).
            ExprKind::Back(x, _) => {
                out.push(e);
                calls(x, out);
            }
            // `at_entry(x)` reads `x` on the bar that placed the entry: `x` waits as itself.
            ExprKind::Neg(x) | ExprKind::Not(x) | ExprKind::AtEntry(x) => calls(x, out),
            ExprKind::Binary(_, l, r) => {
                calls(l, out);
                calls(r, out);
            }
            ExprKind::Num(_) | ExprKind::Name(_) => {}
        }
    }
    let mut w = 0;
    let mut found = Vec::new();
    for (_, e) in &strategy.indicators {
        w = w.max(ev.eval(e)?.first_valid());
        // A true/false entry (`sma(close, 50) > sma(close, 100)`) is valid from its first bar
        // but means nothing before its inputs are: their warm-up counts (DESIGN.md §5.4).
        calls(e, &mut found);
    }
    for (_, rule) in strategy.rules.iter() {
        calls(rule, &mut found);
    }
    for (_, e) in strategy.risk.expressions() {
        calls(e, &mut found);
    }
    for (_, e) in strategy.orders.expressions() {
        calls(e, &mut found);
    }
    // A portfolio's `rank` (DESIGN.md §5.3): before it has a value, the symbol waits.
    if let Some(rank) = strategy.portfolio.as_ref().and_then(|p| p.rank.as_ref()) {
        w = w.max(ev.eval(rank)?.first_valid());
        calls(rank, &mut found);
    }
    for e in found {
        w = w.max(ev.eval(e)?.first_valid());
        // Everything inside `on()` counts, mapped onto these bars (DESIGN.md §5.3): a
        // condition there is defined from its first bar, its inputs are not.
        if let ExprKind::On(symbol, x) = &e.kind {
            let mut inner = Vec::new();
            calls(x, &mut inner);
            for c in inner {
                let on = Expr {
                    kind: ExprKind::On(symbol.clone(), Box::new(c.clone())),
                    span: c.span,
                };
                w = w.max(ev.eval(&on)?.first_valid());
            }
        }
    }
    Ok(w)
}

/// A stop or target that reads position state, if `l` is one.
fn dynamic(l: Option<&Level>) -> Option<&Level> {
    l.filter(|l| l.reads_position())
}

/// A usable order price: present, positive and finite.
fn price_ok(p: f64) -> bool {
    p > 0.0 && p < f64::INFINITY
}

/// The strategy's compiled rules and price expressions.
pub(crate) struct Plan {
    entry_long: Rule,
    exit_long: Rule,
    entry_short: Rule,
    exit_short: Rule,
    sl_long: Option<Level>,
    sl_short: Option<Level>,
    tp_long: Option<Level>,
    tp_short: Option<Level>,
    trail_long: Option<Level>,
    trail_short: Option<Level>,
    stop_long: Option<Level>,
    limit_long: Option<Level>,
    stop_short: Option<Level>,
    limit_short: Option<Level>,
    /// Whether a stop or target reads position state (valued at every close of a trade).
    state_levels: bool,
}

impl Plan {
    pub(crate) fn new(ev: &mut Evaluator<'_>, s: &Strategy, len: usize) -> Result<Plan, EvalError> {
        let (r, k, o) = (&s.rules, &s.risk, &s.orders);
        let mut plan = Plan {
            entry_long: Rule::new(ev, r.entry_long.as_ref(), len)?,
            exit_long: Rule::new(ev, r.exit_long.as_ref(), len)?,
            entry_short: Rule::new(ev, r.entry_short.as_ref(), len)?,
            exit_short: Rule::new(ev, r.exit_short.as_ref(), len)?,
            sl_long: Level::new(ev, k.stop_loss_long.as_ref())?,
            sl_short: Level::new(ev, k.stop_loss_short.as_ref())?,
            tp_long: Level::new(ev, k.take_profit_long.as_ref())?,
            tp_short: Level::new(ev, k.take_profit_short.as_ref())?,
            trail_long: Level::new(ev, k.trailing_stop_long.as_ref())?,
            trail_short: Level::new(ev, k.trailing_stop_short.as_ref())?,
            stop_long: Level::new(ev, o.entry_long_stop.as_ref())?,
            limit_long: Level::new(ev, o.entry_long_limit.as_ref())?,
            stop_short: Level::new(ev, o.entry_short_stop.as_ref())?,
            limit_short: Level::new(ev, o.entry_short_limit.as_ref())?,
            state_levels: false,
        };
        plan.state_levels = [&plan.sl_long, &plan.sl_short, &plan.tp_long, &plan.tp_short]
            .iter()
            .any(|l| dynamic(l.as_ref()).is_some());
        Ok(plan)
    }
}

/// Waiting entry orders by direction (long, short), each with the bar that placed it.
pub(crate) type Pending = [Option<(u64, usize)>; 2];

/// The strategy's side of the loop: what `next()` does on each bar's close.
pub(crate) struct Step<'s> {
    pub(crate) s: &'s Strategy,
    pub(crate) plan: Plan,
    /// The waiting entry orders (long, short) and the bars that placed them; without `oca`
    /// at most one waits.
    pub(crate) pending: Pending,
    /// The first bar on which an entry may be decided (`trade_from`).
    pub(crate) entries_from: usize,
}

/// The first bar at or after `trade_from` (0 without one).
pub(crate) fn entries_from(bars: &Bars, trade_from: Option<i64>) -> usize {
    trade_from.map_or(0, |t| bars.epoch_ms.partition_point(|&ms| ms < t))
}

/// One bar of the loop, the same for a backtest and for a live session: the broker fills the
/// orders waiting from the bar before, equity is marked to the close, then `next()` runs on the
/// close. `false` when equity reached 0 on this bar (every trade is closed at its close and
/// the run stops).
pub(crate) fn bar(
    step: &mut Step<'_>,
    b: &mut Broker,
    bars: &Bars,
    i: usize,
    equity: &mut [f64],
) -> bool {
    b.process_orders(bars, i);
    equity[i] = b.equity(bars, i);
    if equity[i] <= 0.0 {
        out_of_money(b, bars, i, equity);
        return false;
    }
    step.next(b, bars, i);
    true
}

impl Step<'_> {
    /// Position state at bar `i`'s close. With several open trades (`pyramiding`):
    /// `entry_price` is their size-weighted average fill, `bars_in_trade` counts from the first,
    /// `open_pnl_pct` is the position's (`position.pl_pct`).
    pub(crate) fn state(b: &Broker, i: usize, close: f64) -> PosState {
        let Some(last) = b.trades.last() else {
            return PosState::FLAT;
        };
        let t = &last.trade;
        let sign = if t.size > 0.0 { 1.0 } else { -1.0 };
        if let [first, _, ..] = b.trades.as_slice() {
            let size: f64 = b.trades.iter().map(|o| o.trade.size).sum();
            let cost: f64 = b
                .trades
                .iter()
                .map(|o| o.trade.size * o.trade.entry_price)
                .sum();
            // backtesting.py's `_position_unrealized_pl`, in its order.
            let pl = close * size - cost;
            let invested: f64 = b
                .trades
                .iter()
                .map(|o| o.trade.size.abs() * o.trade.entry_price)
                .sum();
            return PosState {
                position: sign,
                entry_price: cost / size,
                bars_in_trade: (i - first.trade.entry_bar.min(i)) as f64,
                open_pnl_pct: pl / invested * 100.0,
                placed: Some(first.placed),
            };
        }
        PosState {
            position: sign,
            entry_price: t.entry_price,
            bars_in_trade: (i - t.entry_bar.min(i)) as f64,
            open_pnl_pct: (sign * (close / t.entry_price - 1.0) - 0.0) * 100.0,
            placed: Some(last.placed),
        }
    }

    /// Position state as if an entry placed at bar `i`'s close had filled at that close: what
    /// a stop or target that reads position state is valued with before the trade exists
    /// (to check the entry's prices and size it by risk).
    fn pro_forma(i: usize, close: f64, long: bool) -> PosState {
        PosState {
            position: if long { 1.0 } else { -1.0 },
            entry_price: close,
            bars_in_trade: 0.0,
            open_pnl_pct: 0.0,
            placed: Some(i),
        }
    }

    /// `next()` on bar `i`'s close.
    pub(crate) fn next(&mut self, b: &mut Broker, bars: &Bars, i: usize) {
        let st = Self::state(b, i, bars.close[i]);
        let closing = self.manage(b, bars, i, &st);
        self.rules(b, bars, i, &st, closing);
    }

    /// What acts at every close before the rules: levels from the fill, trailing stops,
    /// stepping targets, time exits, the expiry of a waiting entry. `true` when a time exit
    /// is closing the position.
    pub(crate) fn manage(&mut self, b: &mut Broker, bars: &Bars, i: usize, st: &PosState) -> bool {
        let close = bars.close[i];
        let mut closing = false;
        let risk = &self.s.risk;

        self.levels_from_fill(b);
        self.levels_from_state(b, i, st);
        // Trailing stops, before the rules (lib.TrailingStrategy.next).
        let pct = risk.trailing_stop_pct;
        if pct.is_some() || self.plan.trail_long.is_some() || self.plan.trail_short.is_some() {
            let ids: Vec<(u64, bool, Option<f64>)> = b
                .trades
                .iter()
                .map(|t| (t.id, t.trade.size > 0.0, t.trade.sl))
                .collect();
            for (id, is_long, cur) in ids {
                if !self.trail_armed(b, id, close) {
                    continue;
                }
                let level = if is_long {
                    pct.map(|p| self.trail_base(b, bars, id, i, true) * (1.0 - p / 100.0))
                        .or_else(|| self.plan.trail_long.as_ref().map(|l| l.at(i, st)))
                } else {
                    pct.map(|p| self.trail_base(b, bars, id, i, false) * (1.0 + p / 100.0))
                        .or_else(|| self.plan.trail_short.as_ref().map(|l| l.at(i, st)))
                };
                let Some(level) = level.filter(|l| price_ok(*l)) else {
                    continue;
                };
                let new = if is_long {
                    let c = cur.unwrap_or(f64::NEG_INFINITY);
                    if level > c { level } else { c }
                } else {
                    let c = cur.unwrap_or(f64::INFINITY);
                    if level < c { level } else { c }
                };
                b.set_sl(id, new, cur != Some(new) || b.sl_trailing(id));
            }
        }
        self.roi_targets(b, bars, i);
        // Time exit.
        if let Some(n) = risk.max_bars {
            let due: Vec<u64> = b
                .trades
                .iter()
                .filter(|t| i - t.trade.entry_bar.min(i) >= n as usize)
                .map(|t| t.id)
                .collect();
            for id in due {
                b.close_trade_order(id, ExitReason::Time);
                closing = true;
            }
        }
        // A waiting entry order lives valid_bars bars.
        for slot in &mut self.pending {
            if let Some((id, at)) = *slot
                && b.is_pending(id)
                && i - at >= self.s.orders.valid_bars as usize
            {
                b.cancel(id);
                *slot = None;
            }
        }
        closing
    }

    /// The rules on bar `i`'s close: exits first, then entries; an entry in the held
    /// direction is ignored.
    fn rules(&mut self, b: &mut Broker, bars: &Bars, i: usize, st: &PosState, closing: bool) {
        let size = b.position_size();
        let (long, short) = (size > 0.0, size < 0.0);
        let mut closing = closing;
        let p = &self.plan;
        if (long && p.exit_long.at(i, st)) || (short && p.exit_short.at(i, st)) {
            if !closing {
                close_all(b, ExitReason::Signal);
            }
            closing = true;
        }
        // `pyramiding`: an entry in the held direction adds a trade while there is room.
        let adds = b.trades.len() < self.s.risk.pyramiding.map_or(1, |n| n as usize);
        // `reverse = "on_fill"`: the entry order closes the opposite trade when it fills.
        let on_fill = self.s.orders.reverse == Reverse::OnFill;
        let want_long = p.entry_long.at(i, st) && (!long || (adds && !closing));
        let want_short = p.entry_short.at(i, st) && (!short || (adds && !closing));
        if i < self.entries_from {
            // Before `trade_from`: exits only.
            return;
        }
        if want_long {
            if short && !closing && !on_fill {
                close_all(b, ExitReason::Signal);
            }
            self.enter(b, bars, true, i, st);
        }
        // With `oca` both entries may wait at once (long placed first); otherwise a long
        // entry wins the bar.
        if want_short && (!want_long || self.s.orders.oca) {
            if long && !closing && !on_fill {
                close_all(b, ExitReason::Signal);
            }
            self.enter(b, bars, false, i, st);
        }
    }

    /// `stop_from = "fill"`: percent stops and targets from the fill, at the entry bar's close
    /// (the first close with the trade open), live from the next bar.
    fn levels_from_fill(&self, b: &mut Broker) {
        let risk = &self.s.risk;
        if risk.stop_from != StopFrom::Fill {
            return;
        }
        let fresh: Vec<(u64, bool, f64)> = b
            .trades
            .iter_mut()
            .filter(|t| !t.levels_set)
            .map(|t| {
                t.levels_set = true;
                (t.id, t.trade.size > 0.0, t.trade.entry_price)
            })
            .collect();
        for (id, long, entry) in fresh {
            let sign = if long { 1.0 } else { -1.0 };
            if let Some(p) = risk.stop_loss_pct {
                b.set_sl(id, entry * (1.0 - sign * p / 100.0), false);
            }
            if let Some(p) = risk.take_profit_pct {
                b.set_tp(id, entry * (1.0 + sign * p / 100.0));
            }
        }
    }

    /// Stops and targets that read position state: valued at every close of the trade, from
    /// its entry bar's, live from the next bar (DESIGN.md §5.4); an unusable value leaves the
    /// level as it was.
    fn levels_from_state(&self, b: &mut Broker, i: usize, st: &PosState) {
        let p = &self.plan;
        if !p.state_levels {
            return;
        }
        let (sl_long, sl_short) = (dynamic(p.sl_long.as_ref()), dynamic(p.sl_short.as_ref()));
        let (tp_long, tp_short) = (dynamic(p.tp_long.as_ref()), dynamic(p.tp_short.as_ref()));
        let open: Vec<(u64, bool)> = b
            .trades
            .iter()
            .map(|t| (t.id, t.trade.size > 0.0))
            .collect();
        for (id, long) in open {
            let (sl, tp) = if long {
                (&sl_long, &tp_long)
            } else {
                (&sl_short, &tp_short)
            };
            if let Some(v) = sl.map(|l| l.at(i, st)).filter(|v| price_ok(*v)) {
                b.set_sl(id, v, false);
            }
            if let Some(v) = tp.map(|l| l.at(i, st)).filter(|v| price_ok(*v)) {
                b.set_tp(id, v);
            }
        }
    }

    /// The stop loss and take profit an entry order carries: none of those set later (from
    /// the fill with `stop_from = "fill"`, or valued from the entry bar's close when they read
    /// position state).
    fn attached(&self, long: bool, sl: Option<f64>, tp: Option<f64>) -> (Option<f64>, Option<f64>) {
        let (r, p) = (&self.s.risk, &self.plan);
        let from_fill = r.stop_from == StopFrom::Fill;
        let (sl_level, tp_level) = if long {
            (p.sl_long.as_ref(), p.tp_long.as_ref())
        } else {
            (p.sl_short.as_ref(), p.tp_short.as_ref())
        };
        // A percent level and an expression are never both set (the file refuses it).
        let sl_later = dynamic(sl_level).is_some() || (from_fill && r.stop_loss_pct.is_some());
        let tp_later = dynamic(tp_level).is_some() || (from_fill && r.take_profit_pct.is_some());
        (
            if sl_later { None } else { sl },
            if tp_later { None } else { tp },
        )
    }

    /// `roi`: the stepping take-profit of each open trade at its age.
    fn roi_targets(&self, b: &mut Broker, bars: &Bars, i: usize) {
        let risk = &self.s.risk;
        if risk.roi.is_empty() {
            return;
        }
        let open: Vec<(u64, bool, f64, usize)> = b
            .trades
            .iter()
            .map(|t| {
                (
                    t.id,
                    t.trade.size > 0.0,
                    t.trade.entry_price,
                    t.trade.entry_bar,
                )
            })
            .collect();
        for (id, long, entry, at) in open {
            let age = match risk.roi_unit {
                RoiUnit::Bars => (i - at.min(i)) as f64,
                RoiUnit::Minutes => (bars.epoch_ms[i] - bars.epoch_ms[at.min(i)]) as f64 / 60_000.0,
            };
            let Some(&(_, r)) = risk.roi.iter().rev().find(|(k, _)| *k <= age) else {
                continue;
            };
            let tp = if long {
                entry * (1.0 + r / 100.0)
            } else {
                entry * (1.0 - r / 100.0)
            };
            b.set_tp(id, tp);
        }
    }

    /// Whether trade `id`'s trailing stop moves at this close: always, or with
    /// `trailing_offset_pct` once its `open_pnl_pct` (`trade.pl_pct * 100`) has reached it.
    fn trail_armed(&self, b: &mut Broker, id: u64, close: f64) -> bool {
        let Some(q) = self.s.risk.trailing_offset_pct else {
            return true;
        };
        let Some(t) = b.trades.iter_mut().find(|t| t.id == id) else {
            return false;
        };
        if !t.trail_on {
            let sign = if t.trade.size > 0.0 { 1.0 } else { -1.0 };
            let pnl = (sign * (close / t.trade.entry_price - 1.0) - 0.0) * 100.0;
            t.trail_on = pnl >= q;
        }
        t.trail_on
    }

    /// What `trailing_stop_pct` trails for trade `id` at bar `i`: the close, or with
    /// `trailing_from = "high"` the highest high (a short: the lowest low) since its entry bar.
    fn trail_base(&self, b: &Broker, bars: &Bars, id: u64, i: usize, long: bool) -> f64 {
        if self.s.risk.trailing_from == TrailFrom::Close {
            return bars.close[i];
        }
        let from = b
            .trades
            .iter()
            .find(|t| t.id == id)
            .map_or(i, |t| t.trade.entry_bar.min(i));
        if long {
            bars.high[from..=i]
                .iter()
                .copied()
                .fold(f64::NEG_INFINITY, f64::max)
        } else {
            bars.low[from..=i]
                .iter()
                .copied()
                .fold(f64::INFINITY, f64::min)
        }
    }

    /// An entry's stop loss, take profit, stop and limit prices at bar `i`'s close; `None`
    /// when one that is set is not a usable price.
    #[expect(
        clippy::type_complexity,
        reason = "the four prices of an entry, in order"
    )]
    fn levels(
        &self,
        i: usize,
        close: f64,
        long: bool,
        st: &PosState,
    ) -> Option<(Option<f64>, Option<f64>, Option<f64>, Option<f64>)> {
        let (r, p) = (&self.s.risk, &self.plan);
        let at = |l: &Option<Level>| l.as_ref().map(|l| l.at(i, st));
        // A stop or target that reads position state, as if the entry filled at this close.
        let pro = Self::pro_forma(i, close, long);
        let exit_at = |l: &Option<Level>| {
            l.as_ref().map(|l| {
                if l.reads_position() {
                    l.at(i, &pro)
                } else {
                    l.at(i, st)
                }
            })
        };
        let levels = if long {
            (
                exit_at(&p.sl_long).or_else(|| r.stop_loss_pct.map(|x| close * (1.0 - x / 100.0))),
                exit_at(&p.tp_long)
                    .or_else(|| r.take_profit_pct.map(|x| close * (1.0 + x / 100.0))),
                at(&p.stop_long),
                at(&p.limit_long),
            )
        } else {
            (
                exit_at(&p.sl_short).or_else(|| r.stop_loss_pct.map(|x| close * (1.0 + x / 100.0))),
                exit_at(&p.tp_short)
                    .or_else(|| r.take_profit_pct.map(|x| close * (1.0 - x / 100.0))),
                at(&p.stop_short),
                at(&p.limit_short),
            )
        };
        let (sl, tp, stop, limit) = levels;
        [sl, tp, stop, limit]
            .iter()
            .flatten()
            .all(|v| price_ok(*v))
            .then_some(levels)
    }

    /// Whether a rotation may hold this symbol from bar `i`'s close: `entry_long` (its
    /// filter) holds and entries are allowed from there (`trade_from`).
    pub(crate) fn wants(&self, b: &Broker, bars: &Bars, i: usize) -> bool {
        i >= self.entries_from
            && self
                .plan
                .entry_long
                .at(i, &Self::state(b, i, bars.close[i]))
    }

    /// A rotation's buy (DESIGN.md §5.3) placed at bar `i`'s close: whole units of `budget`
    /// at the fill's open and commission (fewer when the margin cannot pay them), with the
    /// strategy's stop loss and take profit as an entry there would have them.
    pub(crate) fn rotate_in(&mut self, b: &mut Broker, bars: &Bars, i: usize, budget: f64) {
        let close = bars.close[i];
        let Some((sl, tp, _, _)) = self.levels(i, close, true, &PosState::FLAT) else {
            return;
        };
        if !(sl.unwrap_or(f64::NEG_INFINITY) < close && close < tp.unwrap_or(f64::INFINITY)) {
            return;
        }
        let (sl, tp) = self.attached(true, sl, tp);
        b.new_order(Order {
            sl,
            tp,
            ..Order::stand_alone(Kind::Spend(budget), 1.0, i)
        });
    }

    /// Places an entry (replacing a waiting one) when its prices are usable.
    fn enter(&mut self, b: &mut Broker, bars: &Bars, long: bool, i: usize, st: &PosState) {
        let close = bars.close[i];
        // A new entry signal replaces the waiting entry order (with `oca`, its own direction's).
        let slot_of = usize::from(!long);
        for (k, slot) in self.pending.iter_mut().enumerate() {
            if (k == slot_of || !self.s.orders.oca)
                && let Some((id, _)) = slot.take()
                && b.is_pending(id)
            {
                b.cancel(id);
            }
        }
        let r = &self.s.risk;
        // Reversing on the fill: an entry against the position held is sized when it fills.
        let held = b.position_size();
        let reverses =
            self.s.orders.reverse == Reverse::OnFill && held != 0.0 && (held > 0.0) != long;
        let Some((sl, tp, stop, limit)) = self.levels(i, close, long, st) else {
            return;
        };
        // Set later: the order goes without them.
        let (attach_sl, attach_tp) = self.attached(long, sl, tp);
        let reference = limit.or(stop).unwrap_or(close);
        let (lo, hi) = if long { (sl, tp) } else { (tp, sl) };
        if !(lo.unwrap_or(f64::NEG_INFINITY) < reference && reference < hi.unwrap_or(f64::INFINITY))
        {
            return;
        }
        let (units, at_fill) = match r.sizing {
            Sizing::Fraction(f) => {
                let f = if f >= 1.0 { FULL_EQUITY } else { f };
                (f, reverses.then_some(AtFill::Fraction(f)))
            }
            Sizing::Units(u) => (u, reverses.then_some(AtFill::Units(u))),
            Sizing::RiskPct(pct) => {
                let Some(sl) = sl else { return };
                let dist = (close - sl).abs();
                if dist.is_nan() || dist <= 0.0 {
                    return;
                }
                if reverses {
                    // Sized at the fill against the equity after the close.
                    let cap = r.max_size.map(|f| (f, close));
                    (1.0, Some(AtFill::Risk { pct, dist, cap }))
                } else {
                    let equity = b.equity(bars, i);
                    let mut n = floordiv(equity * pct / 100.0, dist).trunc();
                    // `max_size`: at most that fraction of equity, instead of no order.
                    if let Some(f) = r.max_size {
                        n = n.min(floordiv(f * equity, close).trunc());
                    }
                    if !(n >= 1.0 && n.is_finite()) {
                        return;
                    }
                    (n, None)
                }
            }
        };
        let size = if long { units } else { -units };
        let id = b.new_order(Order {
            stop,
            limit,
            sl: attach_sl,
            tp: attach_tp,
            at_fill,
            oca: self.s.orders.oca,
            ..Order::stand_alone(Kind::Entry, size, i)
        });
        self.pending[slot_of] = Some((id, i));
    }

    /// Whether nothing but marking to the close can happen until a rule acts.
    fn quiet(&self, b: &Broker) -> bool {
        b.orders.is_empty()
            && self.s.risk.max_bars.is_none()
            && self.s.risk.roi.is_empty()
            && self.s.risk.pyramiding.is_none()
            && self.s.risk.stop_from == StopFrom::Signal
            && !self.plan.state_levels
            && self.s.risk.trailing_stop_pct.is_none()
            && self.plan.trail_long.is_none()
            && self.plan.trail_short.is_none()
            && self.plan.entry_long.series().is_some()
            && self.plan.exit_long.series().is_some()
            && self.plan.entry_short.series().is_some()
            && self.plan.exit_short.series().is_some()
    }
}

/// `self.position.close()`: a close order for each open trade, each put at the front.
fn close_all(b: &mut Broker, reason: ExitReason) {
    let ids: Vec<u64> = b.trades.iter().map(|t| t.id).collect();
    for id in ids {
        b.close_trade_order(id, reason);
    }
}

/// From bar `from`, with no order in the queue and rules that read no position state, each bar
/// until one where a rule that `acts` fires only marks the position to its close. Fills those
/// bars' equity in one pass and returns the bar to go on from bar by bar: the signal bar, or the
/// first whose equity is not positive (running out of money is handled there).
fn quiet_stretch(
    b: &Broker,
    bars: &Bars,
    from: usize,
    acts: impl Fn(usize) -> bool,
    equity: &mut [f64],
) -> usize {
    let len = equity.len();
    let signal = (from..len).find(|&j| acts(j)).unwrap_or(len);
    let cash = b.cash;
    let Some(t) = b
        .trades
        .first()
        .map(|o| &o.trade)
        .filter(|_| b.trades.len() == 1)
    else {
        if b.trades.is_empty() && cash > 0.0 {
            equity[from..signal].fill(cash + 0.0);
            return signal;
        }
        return from;
    };
    let (size, held) = (t.size, t.size * t.entry_price);
    for ((e, &c), j) in equity[from..signal]
        .iter_mut()
        .zip(&bars.close[from..signal])
        .zip(from..)
    {
        *e = cash + (c * size - held);
        if *e <= 0.0 {
            return j;
        }
    }
    signal
}

/// Runs a strategy over bars.
///
/// # Errors
/// [`EvalError`] if an expression cannot be evaluated.
pub fn run(bars: &Bars, strategy: &Strategy, s: Settings) -> Result<Run, EvalError> {
    run_with(bars, strategy, s, Evaluator::for_strategy(bars, strategy))
}

/// [`run`] with a prepared evaluator (one that shares indicators across a sweep, say); it must
/// be for `bars` and `strategy`. With `fractional_unit` the run happens on prices scaled by the
/// unit (as `FractionalBacktest` does), with its own evaluator, and the trades are scaled back.
///
/// # Errors
/// [`EvalError`] if an expression cannot be evaluated.
pub fn run_with(
    bars: &Bars,
    strategy: &Strategy,
    s: Settings,
    ev: Evaluator<'_>,
) -> Result<Run, EvalError> {
    let Some(unit) = strategy.risk.fractional_unit else {
        return simulate(bars, strategy, s, ev);
    };
    let scaled = scaled(bars, unit);
    let mut run = simulate(
        &scaled,
        strategy,
        s,
        Evaluator::for_strategy(&scaled, strategy),
    )?;
    for t in run.trades.iter_mut().chain(run.open_trades.iter_mut()) {
        unscale(t, unit);
    }
    Ok(run)
}

/// Bars with prices in units of `fractional_unit` (as `FractionalBacktest` makes them).
pub(crate) fn scaled(bars: &Bars, unit: f64) -> Bars {
    Bars {
        time: bars.time.clone(),
        epoch_ms: bars.epoch_ms.clone(),
        open: Arc::new(bars.open.iter().map(|v| v * unit).collect()),
        high: Arc::new(bars.high.iter().map(|v| v * unit).collect()),
        low: Arc::new(bars.low.iter().map(|v| v * unit).collect()),
        close: Arc::new(bars.close.iter().map(|v| v * unit).collect()),
        volume: Arc::new(bars.volume.iter().map(|v| v / unit).collect()),
        market: crate::data::MarketCache::default(),
    }
}

/// A trade made on prices scaled by `fractional_unit`, in the data's own units.
pub(crate) fn unscale(t: &mut Trade, unit: f64) {
    t.size *= unit;
    t.entry_price /= unit;
    t.exit_price = t.exit_price.map(|p| p / unit);
    t.sl = t.sl.map(|p| p / unit);
    t.tp = t.tp.map(|p| p / unit);
    for s in &mut t.steps {
        s.price /= unit;
    }
}

fn simulate(
    bars: &Bars,
    strategy: &Strategy,
    s: Settings,
    mut ev: Evaluator<'_>,
) -> Result<Run, EvalError> {
    let len = bars.len();
    let w = warmup(&mut ev, strategy)?;
    let plan = Plan::new(&mut ev, strategy, len)?;
    let mut step = Step {
        s: strategy,
        plan,
        pending: [None, None],
        entries_from: entries_from(bars, s.trade_from),
    };
    let mut b = Broker::new(s.cash, s.commission, strategy.orders.fill == Fill::Close);
    // Warm-up bars hold the cash (backtesting.py back-fills the first recorded equity, which is
    // the cash); every later bar is written by the loop.
    let mut equity = vec![0.0; len];
    if let Some(last) = len.checked_sub(1) {
        equity[..=w.min(last)].fill(s.cash);
    }
    let start = w + 1;
    let mut bankrupt = false;
    let mut i = start;
    while i < len {
        if !bar(&mut step, &mut b, bars, i, &mut equity) {
            bankrupt = true;
            break;
        }
        i += 1;
        if i < len && step.quiet(&b) {
            let size = b.position_size();
            let (long, short) = (size > 0.0, size < 0.0);
            let p = &step.plan;
            let (el, xl, es, xs) = (
                p.entry_long.series().unwrap_or(&[]),
                p.exit_long.series().unwrap_or(&[]),
                p.entry_short.series().unwrap_or(&[]),
                p.exit_short.series().unwrap_or(&[]),
            );
            let acts = |j: usize| {
                let at = |v: &[bool]| v.get(j).copied().unwrap_or(false);
                (long && (at(xl) || at(es)))
                    || (short && (at(xs) || at(el)))
                    || (!long && !short && (at(el) || at(es)))
            };
            i = quiet_stretch(&b, bars, i, acts, &mut equity);
        }
    }
    let mut open_trades = Vec::new();
    if bankrupt {
        // Nothing is left open, and nothing to finalize.
    } else if s.finalize {
        // Close orders for what is open, then the broker once more on the last bar.
        let ids: Vec<u64> = b.trades.iter().rev().map(|t| t.id).collect();
        for id in ids {
            b.close_trade_order(id, ExitReason::End);
        }
        if let Some(last) = len.checked_sub(1)
            && start < len
        {
            b.process_orders(bars, last);
            equity[last] = b.equity(bars, last);
            if equity[last] <= 0.0 {
                out_of_money(&mut b, bars, last, &mut equity);
            }
        }
        open_trades = b.trades.drain(..).map(|t| t.trade).collect();
    } else {
        open_trades = b.trades.drain(..).map(|t| t.trade).collect();
    }
    Ok(Run {
        trades: b.closed,
        open_trades,
        equity,
        warmup: w,
    })
}

/// Equity reached 0 at bar `i`: every trade closes at this close, cash and all later equity
/// are 0.
fn out_of_money(b: &mut Broker, bars: &Bars, i: usize, equity: &mut [f64]) {
    b.out_of_money(bars.close[i], i);
    for e in &mut equity[i..] {
        *e = 0.0;
    }
}
