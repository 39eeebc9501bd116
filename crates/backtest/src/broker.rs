//! backtesting.py 0.6.6's `_Broker`, ported operation by operation (`backtesting.py`
//! l.726-1110; `reference/backtesting-semantics.md` §2-5): one queue of orders processed against
//! each bar — market orders at the open (or the previous close with `trade_on_close`), stop
//! orders once the bar's range reaches them, limit orders with the pessimistic
//! stop-then-limit rule, stop-loss orders first, contingent stops and targets re-checked on the
//! bar a market entry filled — relative sizes in whole units from the margin available,
//! commission on both legs, and FIFO closing of opposite trades (hedging off). The float
//! operations are backtesting.py's own, in its order, so sizes and cash match it to the bit.

use crate::data::Bars;
use crate::trade::{ExitReason, LevelStep, Trade};

/// What an order does.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Kind {
    /// A stand-alone order that opens (or reduces) a position.
    Entry,
    /// A rotation's buy: the whole units this much cash buys at the fill's open and
    /// commission, `floor(budget / (open * (1 + c)))`, or those the margin pays.
    Spend(f64),
    /// `trade.close()`: a market order for the whole trade, with why it was placed.
    Close(ExitReason),
    /// The trade's stop loss (a stop order); `true` once a trailing rule has set it.
    Sl(bool),
    /// The trade's take profit (a limit order).
    Tp,
}

/// An order in the queue. `size` is signed: positive buys; `|size| < 1` is a fraction of the
/// margin available, otherwise whole units.
#[derive(Debug, Clone)]
pub(crate) struct Order {
    pub(crate) id: u64,
    pub(crate) size: f64,
    pub(crate) limit: Option<f64>,
    pub(crate) stop: Option<f64>,
    pub(crate) sl: Option<f64>,
    pub(crate) tp: Option<f64>,
    pub(crate) parent: Option<u64>,
    pub(crate) kind: Kind,
    /// The bar whose close placed it (an entry's, for `at_entry`; 0 for a trade's orders).
    pub(crate) placed: usize,
    /// `reverse = "on_fill"`: when it fills it closes the opposite trades at its price and is
    /// sized then (DESIGN.md §5.4).
    pub(crate) at_fill: Option<AtFill>,
    /// `oca`: when it fills, the other waiting entry orders are cancelled.
    pub(crate) oca: bool,
}

/// How a reversing entry is sized once the opposite trades closed at its fill price.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum AtFill {
    /// Whole units, as given.
    Units(f64),
    /// A fraction of the margin available after the close.
    Fraction(f64),
    /// `risk_pct` of the equity after the close over the stop distance from the signal close,
    /// capped by `max_size` of that equity at the signal close.
    Risk {
        pct: f64,
        dist: f64,
        cap: Option<(f64, f64)>,
    },
}

impl Order {
    /// A stand-alone order (an entry or a rotation's buy) placed at bar `placed`'s close, at
    /// market until a stop, limit or bracket is set with struct update.
    pub(crate) fn stand_alone(kind: Kind, size: f64, placed: usize) -> Order {
        Order {
            id: 0,
            size,
            limit: None,
            stop: None,
            sl: None,
            tp: None,
            parent: None,
            kind,
            placed,
            at_fill: None,
            oca: false,
        }
    }

    /// An order of open trade `trade` (a close, its stop loss or its take profit).
    fn of_trade(trade: u64, size: f64, kind: Kind) -> Order {
        Order {
            parent: Some(trade),
            ..Order::stand_alone(kind, size, 0)
        }
    }

    fn is_long(&self) -> bool {
        self.size > 0.0
    }

    fn is_contingent(&self) -> bool {
        matches!(self.kind, Kind::Sl(_) | Kind::Tp)
    }
}

/// An open trade with its bracket orders.
#[derive(Debug, Clone)]
pub(crate) struct Open {
    pub(crate) id: u64,
    pub(crate) trade: Trade,
    sl_order: Option<u64>,
    tp_order: Option<u64>,
    /// The trailing stop has passed `trailing_offset_pct` and moves from now on.
    pub(crate) trail_on: bool,
    /// `stop_from = "fill"`: its stop and target were set from the fill.
    pub(crate) levels_set: bool,
    /// The bar whose close placed its entry order.
    pub(crate) placed: usize,
}

/// The broker: cash, the order queue, open and closed trades.
#[derive(Debug)]
pub(crate) struct Broker {
    commission: f64,
    trade_on_close: bool,
    pub(crate) cash: f64,
    pub(crate) orders: Vec<Order>,
    pub(crate) trades: Vec<Open>,
    pub(crate) closed: Vec<Trade>,
    next_id: u64,
    /// In a portfolio (DESIGN.md §5.3): the other symbols' open positions marked at their
    /// latest close, as profit and loss and as value used; 0 for one symbol.
    pub(crate) others_pl: f64,
    pub(crate) others_used: f64,
    /// Whether an entry may open a position (a portfolio's `max_positions` reached: no).
    pub(crate) may_open: bool,
    /// The bar being processed or closed (where a level set now is recorded).
    now: usize,
}

/// Which of the waiting orders a pass over them takes (a portfolio fills every symbol's exits
/// before any entry).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Every order, in queue order.
    All,
    /// Orders of an open trade: closes, stops and targets.
    Exits,
    /// Stand-alone orders: entries.
    Entries,
}

/// Python's `float // float` (`CPython`'s `float_floor_div`, numpy's `npy_floor_divide`): not
/// always `floor(a / b)`.
pub(crate) fn floordiv(a: f64, b: f64) -> f64 {
    let m = a % b;
    let mut div = (a - m) / b;
    if m != 0.0 && ((b < 0.0) != (m < 0.0)) {
        div -= 1.0;
    }
    if div == 0.0 {
        return 0.0_f64.copysign(a / b);
    }
    let f = div.floor();
    if div - f > 0.5 { f + 1.0 } else { f }
}

impl Broker {
    pub(crate) fn new(cash: f64, commission: f64, trade_on_close: bool) -> Self {
        Self {
            commission,
            trade_on_close,
            cash,
            orders: Vec::new(),
            trades: Vec::new(),
            closed: Vec::new(),
            next_id: 0,
            others_pl: 0.0,
            others_used: 0.0,
            may_open: true,
            now: 0,
        }
    }

    fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// `commission(size, price)` for a relative commission: `|size| * price * c`.
    fn fee(&self, size: f64, price: f64) -> f64 {
        size.abs() * price * self.commission
    }

    /// Σ size over open trades (`_position_size`).
    pub(crate) fn position_size(&self) -> f64 {
        self.trades.iter().map(|t| t.trade.size).sum()
    }

    /// `equity` at bar `i`'s close: `cash + last * position_size - Σ size * entry`.
    pub(crate) fn equity(&self, bars: &Bars, i: usize) -> f64 {
        self.cash + self.unrealized(bars.close[i]) + self.others_pl
    }

    /// The open trades marked at `last`: `last * position_size - Σ size * entry` (0 when flat).
    pub(crate) fn unrealized(&self, last: f64) -> f64 {
        if self.trades.is_empty() {
            return 0.0;
        }
        let entry: f64 = self
            .trades
            .iter()
            .map(|t| t.trade.size * t.trade.entry_price)
            .sum();
        last * self.position_size() - entry
    }

    /// The value the open trades use at `last`: `Σ |size| * last`.
    pub(crate) fn used(&self, last: f64) -> f64 {
        self.trades.iter().map(|t| t.trade.size.abs() * last).sum()
    }

    fn margin_available(&self, bars: &Bars, i: usize) -> f64 {
        let used = self.used(bars.close[i]) + self.others_used;
        (self.equity(bars, i) - used).max(0.0)
    }

    /// `new_order`: stop-loss orders go to the front, everything else to the back.
    pub(crate) fn new_order(&mut self, mut o: Order) -> u64 {
        o.id = self.id();
        let id = o.id;
        if o.parent.is_some() && o.stop.is_some() {
            self.orders.insert(0, o);
        } else {
            self.orders.push(o);
        }
        id
    }

    /// `Order.cancel()`.
    pub(crate) fn cancel(&mut self, id: u64) {
        self.orders.retain(|o| o.id != id);
        for t in &mut self.trades {
            if t.sl_order == Some(id) {
                t.sl_order = None;
                t.trade.sl = None;
            }
            if t.tp_order == Some(id) {
                t.tp_order = None;
                t.trade.tp = None;
            }
        }
    }

    pub(crate) fn is_pending(&self, id: u64) -> bool {
        self.orders.iter().any(|o| o.id == id)
    }

    /// `trade.close()`: a market order for the whole trade at the front of the queue.
    pub(crate) fn close_trade_order(&mut self, trade: u64, reason: ExitReason) {
        let Some(t) = self.trades.iter().find(|t| t.id == trade) else {
            return;
        };
        let size = -t.trade.size;
        let id = self.id();
        self.orders.insert(
            0,
            Order {
                id,
                ..Order::of_trade(trade, size, Kind::Close(reason))
            },
        );
    }

    /// `trade.sl = price` (`trailing`: set by a trailing rule).
    pub(crate) fn set_sl(&mut self, trade: u64, price: f64, trailing: bool) {
        let Some(pos) = self.trades.iter().position(|t| t.id == trade) else {
            return;
        };
        if let Some(old) = self.trades[pos].sl_order {
            self.cancel(old);
        }
        let size = -self.trades[pos].trade.size;
        let id = self.new_order(Order {
            stop: Some(price),
            ..Order::of_trade(trade, size, Kind::Sl(trailing))
        });
        let t = &mut self.trades[pos];
        t.sl_order = Some(id);
        t.trade.sl = Some(price);
        record(&mut t.trade, self.now, true, price);
    }

    /// Whether the trade's stop was last set by a trailing rule.
    pub(crate) fn sl_trailing(&self, trade: u64) -> bool {
        self.trades
            .iter()
            .find(|t| t.id == trade)
            .and_then(|t| t.sl_order)
            .and_then(|id| self.orders.iter().find(|o| o.id == id))
            .is_some_and(|o| o.kind == Kind::Sl(true))
    }

    /// `trade.tp = price`.
    pub(crate) fn set_tp(&mut self, trade: u64, price: f64) {
        let Some(pos) = self.trades.iter().position(|t| t.id == trade) else {
            return;
        };
        if let Some(old) = self.trades[pos].tp_order {
            self.cancel(old);
        }
        let size = -self.trades[pos].trade.size;
        let id = self.new_order(Order {
            limit: Some(price),
            ..Order::of_trade(trade, size, Kind::Tp)
        });
        let t = &mut self.trades[pos];
        t.tp_order = Some(id);
        t.trade.tp = Some(price);
        record(&mut t.trade, self.now, false, price);
    }

    fn remove_order(&mut self, id: u64) {
        self.orders.retain(|o| o.id != id);
    }

    /// `_close_trade`.
    pub(crate) fn close_trade(&mut self, pos: usize, price: f64, bar: usize, reason: ExitReason) {
        let open = self.trades.remove(pos);
        if let Some(id) = open.sl_order {
            self.remove_order(id);
        }
        if let Some(id) = open.tp_order {
            self.remove_order(id);
        }
        let mut t = open.trade;
        let fee = self.fee(t.size, price);
        self.cash += t.size * (price - t.entry_price) - fee;
        t.commission = fee + self.fee(t.size, t.entry_price);
        t.exit_bar = Some(bar);
        t.exit_price = Some(price);
        t.exit_reason = Some(reason);
        self.closed.push(t);
    }

    /// `_reduce_trade`: closes `-size` units of the trade at `pos`.
    fn reduce_trade(&mut self, pos: usize, price: f64, size: f64, bar: usize, reason: ExitReason) {
        let left = self.trades[pos].trade.size + size;
        if left == 0.0 {
            self.close_trade(pos, price, bar, reason);
            return;
        }
        let mut part = self.trades[pos].clone();
        self.trades[pos].trade.size = left;
        let ids = (self.trades[pos].sl_order, self.trades[pos].tp_order);
        for o in &mut self.orders {
            if Some(o.id) == ids.0 || Some(o.id) == ids.1 {
                o.size = -left;
            }
        }
        part.trade.size = -size;
        part.sl_order = None;
        part.tp_order = None;
        part.id = self.id();
        self.trades.push(part);
        let last = self.trades.len() - 1;
        self.close_trade(last, price, bar, reason);
    }

    fn open_trade(&mut self, price: f64, size: f64, order: &Order, bar: usize) {
        let (sl, tp) = (order.sl, order.tp);
        let id = self.id();
        self.trades.push(Open {
            id,
            trade: Trade {
                entry_bar: bar,
                exit_bar: None,
                entry_price: price,
                exit_price: None,
                size,
                sl: None,
                tp: None,
                commission: 0.0,
                exit_reason: None,
                steps: Vec::new(),
            },
            sl_order: None,
            tp_order: None,
            trail_on: false,
            levels_set: false,
            placed: order.placed,
        });
        let fee = self.fee(size, price);
        self.cash -= fee;
        if let Some(t) = self.trades.last_mut() {
            t.trade.commission = fee;
        }
        if let Some(tp) = tp {
            self.set_tp(id, tp);
        }
        if let Some(sl) = sl {
            self.set_sl(id, sl, false);
        }
    }

    /// Equity reached 0 at bar `i`: every trade closes at `close` (the bar's), and the cash is 0.
    pub(crate) fn out_of_money(&mut self, close: f64, i: usize) {
        while !self.trades.is_empty() {
            self.close_trade(0, close, i, ExitReason::OutOfMoney);
        }
        self.cash = 0.0;
    }

    /// `_process_orders` against bar `i`, including its re-run for brackets of a market entry.
    pub(crate) fn process_orders(&mut self, bars: &Bars, i: usize) {
        while self.pass(bars, i, Phase::All) {}
    }

    /// One pass over the waiting orders `phase` takes, in queue order; `true` when a fill
    /// left a bracket to check on this bar (backtesting.py passes over its orders again).
    #[expect(
        clippy::too_many_lines,
        reason = "a line-for-line port of one backtesting.py method; splitting it would hide the correspondence"
    )]
    pub(crate) fn pass(&mut self, bars: &Bars, i: usize, phase: Phase) -> bool {
        self.now = i;
        let (open, high, low) = (bars.open[i], bars.high[i], bars.low[i]);
        let mut again = false;
        {
            let ids: Vec<u64> = self
                .orders
                .iter()
                .filter(|o| match phase {
                    Phase::All => true,
                    Phase::Exits => o.parent.is_some(),
                    Phase::Entries => o.parent.is_none(),
                })
                .map(|o| o.id)
                .collect();
            for id in ids {
                let Some(pos) = self.orders.iter().position(|o| o.id == id) else {
                    continue;
                };
                let order = self.orders[pos].clone();
                let long = order.is_long();
                let stop_price = order.stop;
                if let Some(stop) = stop_price {
                    let hit = if long { high >= stop } else { low <= stop };
                    if !hit {
                        continue;
                    }
                    // A triggered stop becomes a market (or limit) order.
                    self.orders[pos].stop = None;
                }
                let price = if let Some(limit) = order.limit {
                    let hit = if long { low <= limit } else { high >= limit };
                    let before_stop = hit
                        && if long {
                            limit <= stop_price.unwrap_or(f64::NEG_INFINITY)
                        } else {
                            limit >= stop_price.unwrap_or(f64::INFINITY)
                        };
                    if !hit || before_stop {
                        continue;
                    }
                    let s = stop_price.unwrap_or(open);
                    if long {
                        py_min(s, limit)
                    } else {
                        py_max(s, limit)
                    }
                } else {
                    let mut p = if self.trade_on_close && !order.is_contingent() && i > 0 {
                        bars.close[i - 1]
                    } else {
                        open
                    };
                    if let Some(stop) = stop_price {
                        p = if long {
                            py_max(p, stop)
                        } else {
                            py_min(p, stop)
                        };
                    }
                    p
                };
                let market = order.limit.is_none() && stop_price.is_none();
                let bar = if market && self.trade_on_close && !order.is_contingent() && i > 0 {
                    i - 1
                } else {
                    i
                };

                if let Some(parent) = order.parent {
                    if let Some(tpos) = self.trades.iter().position(|t| t.id == parent) {
                        let prev = self.trades[tpos].trade.size;
                        let size = prev.abs().min(order.size.abs()).copysign(order.size);
                        let reason = match order.kind {
                            Kind::Close(r) => r,
                            Kind::Sl(true) => ExitReason::Trailing,
                            Kind::Sl(false) => ExitReason::Stop,
                            Kind::Tp => ExitReason::Target,
                            Kind::Entry | Kind::Spend(_) => ExitReason::Signal,
                        };
                        self.reduce_trade(tpos, price, size, bar, reason);
                    }
                    if !order.is_contingent() {
                        self.remove_order(id);
                    }
                    continue;
                }

                // A stand-alone order. The spread is 0, so the adjusted price is the price.
                let adjusted = price;
                let plus_fee = adjusted + self.fee(order.size, price) / order.size.abs();
                let mut size = order.size;
                if let Some(at) = order.at_fill {
                    let Some(n) = self.reverse_fill(bars, i, long, at, (price, plus_fee), bar)
                    else {
                        self.remove_order(id);
                        continue;
                    };
                    size = n;
                } else if let Kind::Spend(budget) = order.kind {
                    let per = price * (1.0 + self.commission);
                    let margin = self.margin_available(bars, i);
                    let mut units = floordiv(budget, per).trunc();
                    if units * per > margin {
                        units = floordiv(margin, per).trunc();
                    }
                    if !(units >= 1.0 && units.is_finite()) {
                        self.remove_order(id);
                        continue;
                    }
                    size = units;
                } else if -1.0 < size && size < 1.0 {
                    let units =
                        floordiv(self.margin_available(bars, i) * size.abs(), plus_fee).trunc();
                    if units == 0.0 || !units.is_finite() {
                        // Not enough margin for one unit: the broker cancels it.
                        self.remove_order(id);
                        continue;
                    }
                    size = units.copysign(size);
                }
                let mut need = size;
                // FIFO: fill against opposite trades first (hedging off).
                let mut k = 0;
                while k < self.trades.len() && need != 0.0 {
                    let t_size = self.trades[k].trade.size;
                    if (t_size > 0.0) == long {
                        k += 1;
                        continue;
                    }
                    if need.abs() >= t_size.abs() {
                        self.close_trade(k, price, bar, ExitReason::Signal);
                        need += t_size;
                    } else {
                        self.reduce_trade(k, price, need, bar, ExitReason::Signal);
                        need = 0.0;
                    }
                }
                if need != 0.0 && !self.may_open {
                    // `max_positions`: skipped, not queued.
                    self.remove_order(id);
                    continue;
                }
                if need.abs() * plus_fee > self.margin_available(bars, i) {
                    // More than the margin available: the broker cancels it.
                    self.remove_order(id);
                    continue;
                }
                if need != 0.0 {
                    self.open_trade(adjusted, need, &order, bar);
                    if order.oca {
                        // One cancels all: the other waiting entries go before they are processed.
                        self.orders
                            .retain(|o| !(o.oca && o.parent.is_none() && o.id != id));
                    }
                    if order.sl.is_some() || order.tp.is_some() {
                        if market {
                            again = true;
                        } else if stop_price.is_some()
                            && order.limit.is_none()
                            && let Some(tp) = order.tp
                            && ((long && tp <= high && order.sl.unwrap_or(f64::NEG_INFINITY) < low)
                                || (!long && tp >= low && order.sl.unwrap_or(f64::INFINITY) > high))
                        {
                            again = true;
                        }
                        // Otherwise a bracket hit on the fill bar waits for the next bar
                        // (backtesting.py warns that it cannot know the order inside a bar).
                    }
                }
                self.remove_order(id);
            }
        }
        again
    }
}

impl Broker {
    /// `reverse = "on_fill"` (DESIGN.md §5.4): closes the trades opposite to the entry at its
    /// fill price, then sizes it against what is left; the signed units, or `None` when not one
    /// whole unit results (the closes stand).
    fn reverse_fill(
        &mut self,
        bars: &Bars,
        i: usize,
        long: bool,
        at: AtFill,
        (price, plus_fee): (f64, f64),
        bar: usize,
    ) -> Option<f64> {
        let mut k = 0;
        while k < self.trades.len() {
            if (self.trades[k].trade.size > 0.0) == long {
                k += 1;
            } else {
                self.close_trade(k, price, bar, ExitReason::Signal);
            }
        }
        let n = match at {
            AtFill::Units(u) => u,
            AtFill::Fraction(f) => floordiv(self.margin_available(bars, i) * f, plus_fee).trunc(),
            AtFill::Risk { pct, dist, cap } => {
                let equity = self.equity(bars, i);
                let n = floordiv(equity * pct / 100.0, dist).trunc();
                cap.map_or(n, |(f, close)| n.min(floordiv(f * equity, close).trunc()))
            }
        };
        (n >= 1.0 && n.is_finite()).then_some(if long { n } else { -n })
    }
}

/// Records a stop (or target) set to `price` at `bar` when it is a new level.
fn record(t: &mut Trade, bar: usize, stop: bool, price: f64) {
    #[expect(
        clippy::float_cmp,
        reason = "an unchanged level is the very same value"
    )]
    let same = t
        .steps
        .iter()
        .rev()
        .find(|s| s.stop == stop)
        .is_some_and(|s| s.price == price);
    if !same {
        t.steps.push(LevelStep { bar, stop, price });
    }
}

/// Python's `min(a, b)`: `b` only when it is smaller.
fn py_min(a: f64, b: f64) -> f64 {
    if b < a { b } else { a }
}

/// Python's `max(a, b)`: `b` only when it is larger.
fn py_max(a: f64, b: f64) -> f64 {
    if b > a { b } else { a }
}

#[cfg(test)]
mod tests {
    use super::floordiv;

    #[test]
    #[expect(clippy::float_cmp, reason = "Python's results are exact values")]
    fn floordiv_is_pythons() {
        // Values where floor(a / b) and Python's a // b differ or meet edge cases.
        assert_eq!(floordiv(7.0, 2.0), 3.0);
        assert_eq!(floordiv(-7.0, 2.0), -4.0);
        assert_eq!(floordiv(1.0, 0.1), 9.0);
        assert_eq!((1.0_f64 / 0.1).floor(), 10.0);
        assert_eq!(floordiv(0.0, 3.0), 0.0);
        assert!(floordiv(-0.0, 3.0).is_sign_negative());
        assert_eq!(floordiv(9_999.999_999_999_998, 179.13 * 1.002), 55.0);
    }
}
