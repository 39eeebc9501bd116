//! A live session: the backtest advanced one closed bar at a time (DESIGN.md §8). Each bar runs
//! the backtest's own loop body ([`engine::bar`](crate::engine)) on the account carried over
//! from the bar before, so a session fed every bar of a file trades exactly as
//! [`engine::run`](crate::engine::run) on that file.
//!
//! Indicators are recomputed on the bars so far at every bar. Every function is causal (its
//! value at a bar reads that bar and the ones before), so the prefix's values are the full
//! data's: exact by construction, where an incremental update of, say, TA-Lib's EMA seeding
//! would have to be proven equal function by function. The cost is linear in the bars held.

use std::sync::Arc;

use strategy::{Fill, Strategy};

use crate::broker::{Broker, Kind, Order};
use crate::data::{Bars, Times};
use crate::engine::{Plan, Settings, Step, bar, entries_from, unscale, warmup};
use crate::eval::{EvalError, Evaluator};
use crate::trade::Trade;

/// One closed bar as a feed delivers it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bar {
    /// Open time, milliseconds since the epoch (UTC).
    pub open_ms: i64,
    /// Open.
    pub open: f64,
    /// High.
    pub high: f64,
    /// Low.
    pub low: f64,
    /// Close.
    pub close: f64,
    /// Volume.
    pub volume: f64,
}

impl Bar {
    /// Bar `i` of `bars` (which must have it).
    pub fn at(bars: &Bars, i: usize) -> Bar {
        Bar {
            open_ms: bars.epoch_ms[i],
            open: bars.open[i],
            high: bars.high[i],
            low: bars.low[i],
            close: bars.close[i],
            volume: bars.volume[i],
        }
    }
}

/// Why a bar was not taken.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SessionError {
    /// The bar does not open after the last one.
    #[error("bar at {open_ms} ms does not open after the last bar ({last_ms} ms)")]
    OutOfOrder {
        /// The bar's open time.
        open_ms: i64,
        /// The last bar's open time.
        last_ms: i64,
    },
    /// A price is not a positive finite number.
    #[error("bar at {open_ms} ms: {field} is {value}, not a positive price")]
    BadPrice {
        /// The bar's open time.
        open_ms: i64,
        /// `open`, `high`, `low` or `close`.
        field: &'static str,
        /// What it was.
        value: f64,
    },
    /// An expression could not be evaluated.
    #[error(transparent)]
    Eval(#[from] EvalError),
}

/// Which way an order trades.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// Buys.
    Buy,
    /// Sells.
    Sell,
}

impl Side {
    /// `buy` or `sell`.
    pub fn name(self) -> &'static str {
        match self {
            Side::Buy => "buy",
            Side::Sell => "sell",
        }
    }
}

/// A waiting order, as a status shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderView {
    /// The broker's order number (1, 2, … in the order placed).
    pub id: u64,
    /// Buy or sell.
    pub side: Side,
    /// `entry`, `close`, `stop_loss` or `take_profit`.
    pub kind: &'static str,
    /// Signed size: units, or a fraction of the margin when below 1 in magnitude.
    pub size: f64,
    /// Stop price (an entry stop, or a stop loss).
    pub stop: Option<f64>,
    /// Limit price (an entry limit, or a take profit).
    pub limit: Option<f64>,
}

/// What one bar did.
#[derive(Debug, Clone, PartialEq)]
pub struct Advance {
    /// The bar's index in the session.
    pub index: usize,
    /// Still warming up: the indicators are not yet all valid, nothing was decided.
    pub warming: bool,
    /// Trades opened by a fill on this bar.
    pub opened: Vec<Trade>,
    /// Trades closed on this bar.
    pub closed: Vec<Trade>,
    /// Orders placed on this bar's close (still waiting).
    pub placed: Vec<OrderView>,
    /// Orders that left the queue on this bar without opening a trade or closing one
    /// (cancelled, expired, or a bracket whose trade closed).
    pub cancelled: usize,
    /// Equity at the close.
    pub equity: f64,
    /// Cash at the close.
    pub cash: f64,
    /// Signed position size at the close (units of the asset).
    pub position: f64,
    /// The account ran out of money on this bar; nothing trades after it.
    pub out_of_money: bool,
}

impl Advance {
    /// Whether anything besides marking to the close happened.
    pub fn changed(&self) -> bool {
        !(self.opened.is_empty()
            && self.closed.is_empty()
            && self.placed.is_empty()
            && self.cancelled == 0
            && !self.out_of_money)
    }
}

/// The account fed one closed bar at a time.
#[derive(Debug)]
pub struct Session {
    strategy: Strategy,
    settings: Settings,
    /// `fractional_unit`: prices are held scaled by it, as in a backtest.
    unit: Option<f64>,
    bars: Bars,
    broker: Broker,
    pending: crate::engine::Pending,
    equity: Vec<f64>,
    stopped: bool,
}

impl Session {
    /// A session with no bars yet.
    pub fn new(strategy: Strategy, settings: Settings) -> Self {
        let broker = Broker::new(
            settings.cash,
            settings.commission,
            strategy.orders.fill == Fill::Close,
        );
        Session {
            unit: strategy.risk.fractional_unit,
            strategy,
            settings,
            bars: Bars::default(),
            broker,
            pending: [None, None],
            equity: Vec::new(),
            stopped: false,
        }
    }

    /// The bars so far (prices scaled by `fractional_unit` when the strategy has one).
    pub fn len(&self) -> usize {
        self.bars.len()
    }

    /// Whether no bar was pushed yet.
    pub fn is_empty(&self) -> bool {
        self.bars.is_empty()
    }

    /// The last bar's open time.
    pub fn last_ms(&self) -> Option<i64> {
        self.bars.epoch_ms.last().copied()
    }

    /// Moves the time from which entries may be decided (`trade_from`). Only the bars to come
    /// are affected, so a run that held every entry back through its warm-up and then opens
    /// at its first live bar trades as a backtest with `trade_from` at that bar.
    pub fn set_trade_from(&mut self, trade_from: Option<i64>) {
        self.settings.trade_from = trade_from;
    }

    /// Appends one closed bar and runs the loop on it.
    ///
    /// # Errors
    /// [`SessionError`] when the bar is out of order or a price is unusable (nothing changes),
    /// or an expression cannot be evaluated.
    pub fn push(&mut self, bar_in: Bar) -> Result<Advance, SessionError> {
        let mut a = self.extend(&[bar_in])?;
        a.pop()
            .ok_or(SessionError::Eval(EvalError("no bar was taken".to_owned())))
    }

    /// Appends closed bars and runs the loop on each, in order: what a restart does with the
    /// bars of its journal. The indicators are computed once, on every bar held: as each is
    /// causal, its values at a bar are those of the prefix ending there, so this is exactly
    /// [`Session::push`] of each bar in turn, in one pass.
    ///
    /// # Errors
    /// [`SessionError`] when a bar is out of order or a price is unusable (nothing changes),
    /// or an expression cannot be evaluated.
    pub fn extend(&mut self, bars: &[Bar]) -> Result<Vec<Advance>, SessionError> {
        let mut last = self.last_ms();
        for b in bars {
            check(b, last)?;
            last = Some(b.open_ms);
        }
        let start = self.bars.len();
        self.append(bars);
        let len = self.bars.len();
        let mut out = Vec::with_capacity(bars.len());
        let mut ev = Evaluator::for_strategy(&self.bars, &self.strategy);
        let w = warmup(&mut ev, &self.strategy)?;
        let plan = if self.stopped || len <= w + 1 {
            None
        } else {
            Some(Plan::new(&mut ev, &self.strategy, len)?)
        };
        drop(ev);
        let mut step = plan.map(|plan| Step {
            s: &self.strategy,
            plan,
            pending: self.pending,
            entries_from: entries_from(&self.bars, self.settings.trade_from),
        });
        for i in start..len {
            let before = Snapshot::of(&self.broker);
            self.equity.push(self.settings.cash);
            let mut a = Advance {
                index: i,
                warming: true,
                opened: Vec::new(),
                closed: Vec::new(),
                placed: Vec::new(),
                cancelled: 0,
                equity: self.settings.cash,
                cash: self.broker.cash,
                position: 0.0,
                out_of_money: false,
            };
            if self.stopped {
                self.equity[i] = 0.0;
                a.equity = 0.0;
                a.cash = 0.0;
                a.warming = false;
                out.push(a);
                continue;
            }
            let Some(step) = step.as_mut().filter(|_| i > w) else {
                out.push(a);
                continue;
            };
            let alive = bar(step, &mut self.broker, &self.bars, i, &mut self.equity);
            self.stopped = !alive;
            a.warming = false;
            a.out_of_money = !alive;
            a.equity = self.equity[i];
            a.cash = self.broker.cash;
            before.diff(&self.broker, &mut a);
            a.position = self.broker.position_size() * self.unit.unwrap_or(1.0) + 0.0;
            if let Some(u) = self.unit {
                for t in a.opened.iter_mut().chain(a.closed.iter_mut()) {
                    unscale(t, u);
                }
                for o in &mut a.placed {
                    unscale_order(o, u);
                }
            }
            out.push(a);
        }
        if let Some(step) = step {
            self.pending = step.pending;
        }
        Ok(out)
    }

    /// Adds checked bars to the columns (each is shared only between calls, so it grows in
    /// place).
    fn append(&mut self, new: &[Bar]) {
        let unit = self.unit;
        let scale = |v: f64| unit.map_or(v, |u| v * u);
        // The times are rendered from the milliseconds: drop that share first.
        self.bars.time = Times::default();
        let bars = &mut self.bars;
        for b in new {
            Arc::make_mut(&mut bars.epoch_ms).push(b.open_ms);
            Arc::make_mut(&mut bars.open).push(scale(b.open));
            Arc::make_mut(&mut bars.high).push(scale(b.high));
            Arc::make_mut(&mut bars.low).push(scale(b.low));
            Arc::make_mut(&mut bars.close).push(scale(b.close));
            Arc::make_mut(&mut bars.volume).push(unit.map_or(b.volume, |u| b.volume / u));
        }
        bars.time = Times::rendered(Arc::clone(&bars.epoch_ms), false);
    }

    /// Trades closed so far, in exit order (prices as traded).
    pub fn trades(&self) -> Vec<Trade> {
        self.scaled(self.broker.closed.iter())
    }

    /// Trades open now.
    pub fn open_trades(&self) -> Vec<Trade> {
        self.scaled(self.broker.trades.iter().map(|o| &o.trade))
    }

    /// Orders waiting for the next bar.
    pub fn orders(&self) -> Vec<OrderView> {
        self.broker
            .orders
            .iter()
            .map(|o| {
                let mut v = view(o);
                if let Some(u) = self.unit {
                    unscale_order(&mut v, u);
                }
                v
            })
            .collect()
    }

    /// Equity per bar so far.
    pub fn equity(&self) -> &[f64] {
        &self.equity
    }

    /// Cash now.
    pub fn cash(&self) -> f64 {
        self.broker.cash
    }

    /// The session's bars, in their traded scale (for the evaluator and the reports).
    pub fn bars(&self) -> &Bars {
        &self.bars
    }

    fn scaled<'t>(&self, it: impl Iterator<Item = &'t Trade>) -> Vec<Trade> {
        it.cloned()
            .map(|mut t| {
                if let Some(u) = self.unit {
                    unscale(&mut t, u);
                }
                t
            })
            .collect()
    }
}

/// An order placed on prices scaled by `fractional_unit`, in the data's own units (a size
/// below 1 is a fraction of the margin, not units).
fn unscale_order(o: &mut OrderView, unit: f64) {
    if o.size.abs() >= 1.0 {
        o.size *= unit;
    }
    o.stop = o.stop.map(|p| p / unit);
    o.limit = o.limit.map(|p| p / unit);
}

fn view(o: &Order) -> OrderView {
    OrderView {
        id: o.id,
        side: if o.size > 0.0 { Side::Buy } else { Side::Sell },
        kind: match o.kind {
            Kind::Entry | Kind::Spend(_) => "entry",
            Kind::Close(_) => "close",
            Kind::Sl(_) => "stop_loss",
            Kind::Tp => "take_profit",
        },
        size: o.size,
        stop: o.stop,
        limit: o.limit,
    }
}

/// A bar the session can take after `last`: later, with usable prices.
fn check(b: &Bar, last: Option<i64>) -> Result<(), SessionError> {
    if let Some(last_ms) = last
        && b.open_ms <= last_ms
    {
        return Err(SessionError::OutOfOrder {
            open_ms: b.open_ms,
            last_ms,
        });
    }
    for (field, value) in [
        ("open", b.open),
        ("high", b.high),
        ("low", b.low),
        ("close", b.close),
    ] {
        if !(value > 0.0 && value.is_finite()) {
            return Err(SessionError::BadPrice {
                open_ms: b.open_ms,
                field,
                value,
            });
        }
    }
    Ok(())
}

/// The broker's books before a bar, to tell what the bar changed.
struct Snapshot {
    orders: Vec<u64>,
    trades: Vec<u64>,
    closed: usize,
}

impl Snapshot {
    fn of(b: &Broker) -> Snapshot {
        Snapshot {
            orders: b.orders.iter().map(|o| o.id).collect(),
            trades: b.trades.iter().map(|t| t.id).collect(),
            closed: b.closed.len(),
        }
    }

    fn diff(&self, b: &Broker, a: &mut Advance) {
        a.opened = b
            .trades
            .iter()
            .filter(|t| !self.trades.contains(&t.id))
            .map(|t| t.trade.clone())
            .collect();
        a.closed = b.closed[self.closed.min(b.closed.len())..].to_vec();
        a.placed = b
            .orders
            .iter()
            .filter(|o| !self.orders.contains(&o.id))
            .map(view)
            .collect();
        let gone = self
            .orders
            .iter()
            .filter(|id| !b.orders.iter().any(|o| o.id == **id))
            .count();
        // Each fill took one order out of the queue.
        a.cancelled = gone.saturating_sub(a.opened.len() + a.closed.len());
    }
}
