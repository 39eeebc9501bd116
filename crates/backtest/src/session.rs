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
    pending: Option<(u64, usize)>,
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
            pending: None,
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

    /// The strategy.
    pub fn strategy(&self) -> &Strategy {
        &self.strategy
    }

    /// The settings.
    pub fn settings(&self) -> Settings {
        self.settings
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
        self.append(bar_in)?;
        let i = self.bars.len() - 1;
        let before = Snapshot::of(&self.broker);
        self.equity.push(self.settings.cash);
        let mut advance = Advance {
            index: i,
            warming: true,
            opened: Vec::new(),
            closed: Vec::new(),
            placed: Vec::new(),
            cancelled: 0,
            equity: self.settings.cash,
            out_of_money: false,
        };
        if self.stopped {
            self.equity[i] = 0.0;
            advance.equity = 0.0;
            advance.warming = false;
            return Ok(advance);
        }
        let mut ev = Evaluator::for_strategy(&self.bars, &self.strategy);
        let w = warmup(&mut ev, &self.strategy)?;
        if i <= w {
            return Ok(advance);
        }
        let plan = Plan::new(&mut ev, &self.strategy, self.bars.len())?;
        drop(ev);
        let mut step = Step {
            s: &self.strategy,
            plan,
            pending: self.pending,
            entries_from: entries_from(&self.bars, self.settings.trade_from),
        };
        let alive = bar(&mut step, &mut self.broker, &self.bars, i, &mut self.equity);
        self.pending = step.pending;
        drop(step);
        self.stopped = !alive;
        advance.warming = false;
        advance.out_of_money = !alive;
        advance.equity = self.equity[i];
        before.diff(&self.broker, &mut advance);
        if let Some(u) = self.unit {
            for t in advance.opened.iter_mut().chain(advance.closed.iter_mut()) {
                unscale(t, u);
            }
            for o in &mut advance.placed {
                o.size *= if o.size.abs() >= 1.0 { u } else { 1.0 };
                o.stop = o.stop.map(|p| p / u);
                o.limit = o.limit.map(|p| p / u);
            }
        }
        Ok(advance)
    }

    /// Adds the bar to the columns (each is shared only between pushes, so it grows in place).
    fn append(&mut self, b: Bar) -> Result<(), SessionError> {
        if let Some(last_ms) = self.last_ms()
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
        let u = self.unit.unwrap_or(1.0);
        let scale = |v: f64| if self.unit.is_some() { v * u } else { v };
        let volume = if self.unit.is_some() {
            b.volume / u
        } else {
            b.volume
        };
        let (open, high, low, close) = (scale(b.open), scale(b.high), scale(b.low), scale(b.close));
        // The times are rendered from the milliseconds: drop that share first.
        self.bars.time = Times::default();
        let bars = &mut self.bars;
        Arc::make_mut(&mut bars.epoch_ms).push(b.open_ms);
        Arc::make_mut(&mut bars.open).push(open);
        Arc::make_mut(&mut bars.high).push(high);
        Arc::make_mut(&mut bars.low).push(low);
        Arc::make_mut(&mut bars.close).push(close);
        Arc::make_mut(&mut bars.volume).push(volume);
        bars.time = Times::rendered(Arc::clone(&bars.epoch_ms), false);
        Ok(())
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
        let u = self.unit.unwrap_or(1.0);
        self.broker
            .orders
            .iter()
            .map(|o| {
                let mut v = view(o);
                if self.unit.is_some() {
                    v.size *= if v.size.abs() >= 1.0 { u } else { 1.0 };
                    v.stop = v.stop.map(|p| p / u);
                    v.limit = v.limit.map(|p| p / u);
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

    /// Signed position size now (units of the asset).
    pub fn position_size(&self) -> f64 {
        self.open_trades().iter().map(|t| t.size).sum::<f64>() + 0.0
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

fn view(o: &Order) -> OrderView {
    OrderView {
        id: o.id,
        side: if o.size > 0.0 { Side::Buy } else { Side::Sell },
        kind: match o.kind {
            Kind::Entry => "entry",
            Kind::Close(_) => "close",
            Kind::Sl(_) => "stop_loss",
            Kind::Tp => "take_profit",
        },
        size: o.size,
        stop: o.stop,
        limit: o.limit,
    }
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
