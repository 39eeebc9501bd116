//! The bar loop, fills and sizing with backtesting.py 0.6.6's semantics (DESIGN.md §6,
//! `reference/backtesting-semantics.md` §1-5): rules on a bar's close, market orders at the next
//! open, commission on both legs, whole units, one position at a time (an opposite entry closes
//! first), stop loss and take profit live from the entry bar (the stop wins a tie), and open
//! trades at the end either left open (marked to the last close) or, with `finalize`, closed at
//! the last bar's open. A run whose equity reaches 0 stops there, as backtesting.py's does.

use std::sync::Arc;

use strategy::{Expr, ExprKind, Strategy};

use crate::data::Bars;
use crate::eval::{EvalError, Evaluator, Series};

/// backtesting.py's `_FULL_EQUITY`: "all of it" minus one ulp-ish, which decides rounding.
const FULL_EQUITY: f64 = 1.0 - 2.2e-16;

/// Backtest settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Settings {
    /// Starting cash.
    pub cash: f64,
    /// Commission as a fraction of each fill's value (0.002 = 0.2 %), on entry and on exit.
    pub commission: f64,
    /// Close trades still open at the end at the last bar's open (and count them).
    pub finalize: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            cash: 10_000.0,
            commission: 0.002,
            finalize: false,
        }
    }
}

/// A trade. `size` is negative for shorts; prices are raw fills, without commission.
#[derive(Debug, Clone, PartialEq)]
pub struct Trade {
    /// Bar of the entry fill.
    pub entry_bar: usize,
    /// Bar of the exit fill (`None` while open).
    pub exit_bar: Option<usize>,
    /// Entry fill price.
    pub entry_price: f64,
    /// Exit fill price (`None` while open).
    pub exit_price: Option<f64>,
    /// Units; negative for a short.
    pub size: i64,
    /// Stop loss price, if any.
    pub sl: Option<f64>,
    /// Take profit price, if any.
    pub tp: Option<f64>,
    /// Commission paid so far (entry leg, plus the exit leg once closed).
    pub commission: f64,
}

impl Trade {
    /// Profit in cash after commission (at `price` while open).
    pub fn pnl_at(&self, price: f64) -> f64 {
        self.size as f64 * (price - self.entry_price) - self.commission
    }

    /// Closed trade's profit after commission.
    pub fn pnl(&self) -> f64 {
        self.pnl_at(self.exit_price.unwrap_or(self.entry_price))
    }

    /// Return as a fraction, as backtesting.py's `ReturnPct`:
    /// `sign(size)·(exit/entry − 1) − commission/(|size|·entry)`.
    pub fn return_frac(&self) -> f64 {
        let exit = self.exit_price.unwrap_or(self.entry_price);
        let sign = if self.size < 0 { -1.0 } else { 1.0 };
        sign * (exit / self.entry_price - 1.0)
            - self.commission / (self.size.unsigned_abs() as f64 * self.entry_price)
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
/// `[indicators]` entry, and each function call inside the rules (as backtesting.py counts each
/// `self.I`).
///
/// # Errors
/// [`EvalError`] if an expression cannot be evaluated.
pub fn warmup(ev: &mut Evaluator<'_>, strategy: &Strategy) -> Result<usize, EvalError> {
    fn calls<'e>(e: &'e Expr, out: &mut Vec<&'e Expr>) {
        match &e.kind {
            ExprKind::Call { args, .. } => {
                out.push(e);
                for a in args {
                    calls(a, out);
                }
            }
            ExprKind::Neg(x) | ExprKind::Not(x) | ExprKind::Back(x, _) => calls(x, out),
            ExprKind::Binary(_, l, r) => {
                calls(l, out);
                calls(r, out);
            }
            ExprKind::Num(_) | ExprKind::Name(_) => {}
        }
    }
    let mut w = 0;
    for (_, e) in &strategy.indicators {
        w = w.max(ev.eval(e)?.first_valid());
    }
    let mut found = Vec::new();
    for (_, rule) in strategy.rules.iter() {
        calls(rule, &mut found);
    }
    for e in found {
        w = w.max(ev.eval(e)?.first_valid());
    }
    Ok(w)
}

fn rule(ev: &mut Evaluator<'_>, e: Option<&Expr>, len: usize) -> Result<Arc<Vec<bool>>, EvalError> {
    match e {
        None => Ok(Arc::new(vec![false; len])),
        Some(e) => match ev.eval(e)? {
            Series::Bool(v) => Ok(v),
            Series::Num(_) => Err(EvalError(format!("rule `{e}` is not a condition"))),
        },
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Long,
    Short,
}

struct Broker<'a> {
    bars: &'a Bars,
    s: Settings,
    cash: f64,
    trade: Option<Trade>,
    closed: Vec<Trade>,
}

impl Broker<'_> {
    fn close(&mut self, i: usize, price: f64) {
        if let Some(mut t) = self.trade.take() {
            let c = t.size.unsigned_abs() as f64 * price * self.s.commission;
            self.cash += t.size as f64 * (price - t.entry_price) - c;
            t.commission += c;
            t.exit_bar = Some(i);
            t.exit_price = Some(price);
            self.closed.push(t);
        }
    }

    fn open(
        &mut self,
        i: usize,
        side: Side,
        fraction: f64,
        signal_close: f64,
        sl_pct: Option<f64>,
        tp_pct: Option<f64>,
    ) {
        let price = self.bars.open[i];
        let c = self.s.commission;
        let units = (self.cash.max(0.0) * fraction / (price * (1.0 + c))).floor();
        if !(units >= 1.0 && units.is_finite()) {
            return;
        }
        #[expect(
            clippy::cast_possible_truncation,
            reason = "whole, positive and finite"
        )]
        let units = units as i64;
        let fee = units as f64 * price * c;
        self.cash -= fee;
        let (signed, sl, tp) = match side {
            Side::Long => (
                units,
                sl_pct.map(|p| signal_close * (1.0 - p / 100.0)),
                tp_pct.map(|p| signal_close * (1.0 + p / 100.0)),
            ),
            Side::Short => (
                -units,
                sl_pct.map(|p| signal_close * (1.0 + p / 100.0)),
                tp_pct.map(|p| signal_close * (1.0 - p / 100.0)),
            ),
        };
        self.trade = Some(Trade {
            entry_bar: i,
            exit_bar: None,
            entry_price: price,
            exit_price: None,
            size: signed,
            sl,
            tp,
            commission: fee,
        });
    }

    /// Stop loss, then take profit, against bar `i`'s range.
    fn contingent(&mut self, i: usize) {
        let Some(t) = &self.trade else { return };
        let (o, h, l) = (self.bars.open[i], self.bars.high[i], self.bars.low[i]);
        let long = t.size > 0;
        if let Some(sl) = t.sl {
            let hit = if long { l <= sl } else { h >= sl };
            if hit {
                let fill = if long { o.min(sl) } else { o.max(sl) };
                self.close(i, fill);
                return;
            }
        }
        if let Some(tp) = t.tp {
            let hit = if long { h >= tp } else { l <= tp };
            if hit {
                let fill = if long { o.max(tp) } else { o.min(tp) };
                self.close(i, fill);
            }
        }
    }

    /// From bar `from`, with no order pending and no stop or target to watch, each bar until
    /// one where a rule that `acts` fires only marks the position to its close. Fills those
    /// bars' equity in one pass and returns the bar to go on from bar by bar: the signal bar,
    /// or the first whose equity is not positive (running out of money is handled there).
    fn quiet_stretch(
        &self,
        from: usize,
        acts: impl Fn(usize) -> bool,
        equity: &mut [f64],
    ) -> usize {
        let len = equity.len();
        let signal = (from..len).find(|&j| acts(j)).unwrap_or(len);
        let cash = self.cash;
        let Some(t) = &self.trade else {
            if cash > 0.0 {
                equity[from..signal].fill(cash);
                return signal;
            }
            return from;
        };
        let (size, entry) = (t.size as f64, t.entry_price);
        for ((e, &c), j) in equity[from..signal]
            .iter_mut()
            .zip(&self.bars.close[from..signal])
            .zip(from..)
        {
            *e = cash + size * (c - entry);
            if *e <= 0.0 {
                return j;
            }
        }
        signal
    }

    fn equity(&self, i: usize) -> f64 {
        self.cash
            + self.trade.as_ref().map_or(0.0, |t| {
                t.size as f64 * (self.bars.close[i] - t.entry_price)
            })
    }
}

/// Runs a strategy over bars.
///
/// # Errors
/// [`EvalError`] if an expression cannot be evaluated.
pub fn run(bars: &Bars, strategy: &Strategy, s: Settings) -> Result<Run, EvalError> {
    run_with(bars, strategy, s, Evaluator::for_strategy(bars, strategy))
}

/// [`run`] with a prepared evaluator (one that shares indicators across a sweep, say); it must
/// be for `bars` and `strategy`.
///
/// # Errors
/// [`EvalError`] if an expression cannot be evaluated.
pub fn run_with(
    bars: &Bars,
    strategy: &Strategy,
    s: Settings,
    mut ev: Evaluator<'_>,
) -> Result<Run, EvalError> {
    let len = bars.len();
    let w = warmup(&mut ev, strategy)?;
    let r = &strategy.rules;
    let entry_long = rule(&mut ev, r.entry_long.as_ref(), len)?;
    let exit_long = rule(&mut ev, r.exit_long.as_ref(), len)?;
    let entry_short = rule(&mut ev, r.entry_short.as_ref(), len)?;
    let exit_short = rule(&mut ev, r.exit_short.as_ref(), len)?;
    let fraction = if strategy.risk.size >= 1.0 {
        FULL_EQUITY
    } else {
        strategy.risk.size
    };
    let (sl, tp) = (strategy.risk.stop_loss_pct, strategy.risk.take_profit_pct);

    let mut b = Broker {
        bars,
        s,
        cash: s.cash,
        trade: None,
        closed: Vec::new(),
    };
    // Warm-up bars hold the cash; every later bar is written by the loop (zeroed memory is
    // not written twice).
    let mut equity = vec![0.0; len];
    if let Some(last) = len.checked_sub(1) {
        equity[..=w.min(last)].fill(s.cash);
    }
    // Orders placed on the previous bar's close.
    let mut close_order = false;
    let mut entry_order: Option<(Side, f64)> = None;
    let mut bankrupt = false;
    let mut i = w + 1;
    while i < len {
        // 1. Fill last bar's orders at this open: closes first, then the trade's stop and
        //    target, then the entry, whose stop and target are live on this same bar.
        if close_order {
            b.close(i, bars.open[i]);
        }
        b.contingent(i);
        if let Some((side, signal_close)) = entry_order.take() {
            // An opposite entry closes the open trade first (hedging off).
            if let Some(t) = &b.trade
                && (t.size > 0) != (side == Side::Long)
            {
                b.close(i, bars.open[i]);
            }
            if b.trade.is_none() {
                b.open(i, side, fraction, signal_close, sl, tp);
                b.contingent(i);
            }
        }
        close_order = false;
        // 2. Mark to the close. Out of money (equity <= 0) ends the run as backtesting.py's
        //    does: the trade closes at this close, cash and all later equity are 0.
        equity[i] = b.equity(i);
        if equity[i] <= 0.0 {
            b.close(i, bars.close[i]);
            b.cash = 0.0;
            for e in &mut equity[i..] {
                *e = 0.0;
            }
            bankrupt = true;
            break;
        }
        // 3. Rules on this bar's close: exits first, then entries (no pyramiding).
        let long = b.trade.as_ref().is_some_and(|t| t.size > 0);
        let short = b.trade.as_ref().is_some_and(|t| t.size < 0);
        if (long && exit_long[i]) || (short && exit_short[i]) {
            close_order = true;
        }
        if entry_long[i] && !long {
            close_order |= short;
            entry_order = Some((Side::Long, bars.close[i]));
        } else if entry_short[i] && !short {
            close_order |= long;
            entry_order = Some((Side::Short, bars.close[i]));
        }
        i += 1;
        // A quiet stretch: no order pending and no stop or target to watch.
        let watched = b
            .trade
            .as_ref()
            .is_some_and(|t| t.sl.is_some() || t.tp.is_some());
        if !close_order && entry_order.is_none() && !watched && i < len {
            let acts = |j: usize| {
                (long && (exit_long[j] || entry_short[j]))
                    || (short && (exit_short[j] || entry_long[j]))
                    || (!long && !short && (entry_long[j] || entry_short[j]))
            };
            i = b.quiet_stretch(i, acts, &mut equity);
        }
    }
    let mut open_trades = Vec::new();
    if bankrupt {
        // Nothing is left open, and nothing to finalize.
    } else if s.finalize {
        if let Some(last) = len.checked_sub(1) {
            b.close(last, bars.open[last]);
            equity[last] = b.cash;
        }
    } else if let Some(t) = b.trade.take() {
        open_trades.push(t);
    }
    Ok(Run {
        trades: b.closed,
        open_trades,
        equity,
        warmup: w,
    })
}
