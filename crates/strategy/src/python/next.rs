//! The generated strategy class's `next()` and `_enter()` and the class attributes they read:
//! position state, trailing stops (from the close or the highest high, after an offset), time
//! exits, order expiry, the rules, then sizing and placing an entry.

use std::fmt::Write as _;

use super::{Emitter, Ty, py_float};
use crate::check::uses_position;
use crate::expr::Expr;
use crate::file::Strategy;
use crate::orders::Reverse;
use crate::sections::{RoiUnit, Sizing, StopFrom, TrailFrom};

/// The class attributes that hold `[risk]` and `[orders]` settings (renamed when a param
/// already has the name).
pub(super) struct Attrs {
    pub(super) size: String,
    pub(super) units: String,
    pub(super) risk_pct: String,
    pub(super) sl: String,
    pub(super) tp: String,
    pub(super) trail: String,
    pub(super) max_bars: String,
    pub(super) valid_bars: String,
    pub(super) max_size: String,
    pub(super) trail_offset: String,
    pub(super) roi: String,
    pub(super) pyramiding: String,
}

/// The class attributes for `[risk]` and `[orders]`.
pub(super) fn settings(s: &Strategy, a: &Attrs) -> String {
    let mut out = String::new();
    let opt = |v: Option<f64>| v.map_or_else(|| "None".to_owned(), py_float);
    out.push_str(
        "    # [risk]: sizing (one of size / units / risk_pct), stops and targets in percent\n",
    );
    let (size, units, risk) = match s.risk.sizing {
        Sizing::Fraction(f) => (Some(f), None, None),
        Sizing::Units(u) => (None, Some(u), None),
        Sizing::RiskPct(r) => (None, None, Some(r)),
    };
    let _ = writeln!(out, "    {} = {}", a.size, opt(size));
    let _ = writeln!(out, "    {} = {}", a.units, opt(units));
    let _ = writeln!(out, "    {} = {}", a.risk_pct, opt(risk));
    let _ = writeln!(out, "    {} = {}", a.sl, opt(s.risk.stop_loss_pct));
    let _ = writeln!(out, "    {} = {}", a.tp, opt(s.risk.take_profit_pct));
    let _ = writeln!(out, "    {} = {}", a.trail, opt(s.risk.trailing_stop_pct));
    let _ = writeln!(
        out,
        "    {} = {}",
        a.trail_offset,
        opt(s.risk.trailing_offset_pct)
    );
    let _ = writeln!(out, "    {} = {}", a.max_size, opt(s.risk.max_size));
    let roi: Vec<String> = s
        .risk
        .roi
        .iter()
        .map(|(k, v)| format!("({}, {})", py_float(*k), py_float(*v)))
        .collect();
    let _ = writeln!(out, "    {} = [{}]", a.roi, roi.join(", "));
    let _ = writeln!(
        out,
        "    {} = {}",
        a.pyramiding,
        s.risk.pyramiding.unwrap_or(1)
    );
    let _ = writeln!(
        out,
        "    {} = {}",
        a.max_bars,
        s.risk
            .max_bars
            .map_or_else(|| "None".to_owned(), |n| n.to_string())
    );
    out.push_str("    # [orders]: an unfilled entry order is cancelled after this many bars\n");
    let _ = writeln!(out, "    {} = {}\n", a.valid_bars, s.orders.valid_bars);
    out
}

/// `next()`: position state, trailing stops, time exits, order expiry, then the rules. Series
/// it reads are added to `init_lines`.
#[expect(
    clippy::too_many_lines,
    reason = "one block of generated Python per step of the bar, in order"
)]
pub(super) fn next_method(
    s: &Strategy,
    em: &Emitter<'_>,
    attrs: &Attrs,
    init_lines: &mut String,
) -> String {
    let mut parts = Vec::new();
    let mut value = |e: Option<&Expr>, attr: &str, ty: Ty| -> Option<String> {
        e.map(|e| em.value(e, attr, ty, &mut parts))
    };
    let rule = |v: Option<String>| v.unwrap_or_else(|| "False".to_owned());
    let entry_long = rule(value(s.rules.entry_long.as_ref(), "_entry_long", Ty::Bool));
    let exit_long = rule(value(s.rules.exit_long.as_ref(), "_exit_long", Ty::Bool));
    let entry_short = rule(value(
        s.rules.entry_short.as_ref(),
        "_entry_short",
        Ty::Bool,
    ));
    let exit_short = rule(value(s.rules.exit_short.as_ref(), "_exit_short", Ty::Bool));
    let risk = &s.risk;
    let orders = &s.orders;
    let level = |v: Option<String>, pct: Option<(&str, &str)>| -> String {
        match (v, pct) {
            (Some(v), _) => v,
            (None, Some((attr, sign))) => {
                format!("close * (1 {sign} self.{attr} / 100) if self.{attr} is not None else None")
            }
            (None, None) => "None".to_owned(),
        }
    };
    // A stop or target that reads position state is a function of it (DESIGN.md §5.4): valued
    // as if the entry filled at the signal's close to check and size the entry, then at every
    // close of the trade.
    let mut state_levels: Vec<(&str, String)> = Vec::new();
    let mut exit_level = |e: Option<&Expr>, attr: &'static str, long: bool| {
        let code = value(e, attr, Ty::Num)?;
        if e.is_some_and(|e| uses_position(e).is_some()) {
            state_levels.push((attr, code));
            let side = if long { "1.0" } else { "-1.0" };
            return Some(format!("{attr}_at({side}, close, 0.0, 0.0, i)"));
        }
        Some(code)
    };
    let sl_long = exit_level(risk.stop_loss_long.as_ref(), "_sl_long", true);
    let sl_short = exit_level(risk.stop_loss_short.as_ref(), "_sl_short", false);
    let tp_long = exit_level(risk.take_profit_long.as_ref(), "_tp_long", true);
    let tp_short = exit_level(risk.take_profit_short.as_ref(), "_tp_short", false);
    let sl_long = level(sl_long, Some((&attrs.sl, "-")));
    let sl_short = level(sl_short, Some((&attrs.sl, "+")));
    let tp_long = level(tp_long, Some((&attrs.tp, "+")));
    let tp_short = level(tp_short, Some((&attrs.tp, "-")));
    let stop_long = level(
        value(orders.entry_long_stop.as_ref(), "_stop_long", Ty::Num),
        None,
    );
    let limit_long = level(
        value(orders.entry_long_limit.as_ref(), "_limit_long", Ty::Num),
        None,
    );
    let stop_short = level(
        value(orders.entry_short_stop.as_ref(), "_stop_short", Ty::Num),
        None,
    );
    let limit_short = level(
        value(orders.entry_short_limit.as_ref(), "_limit_short", Ty::Num),
        None,
    );
    // What trailing_stop_pct trails: the close, or the extreme since the trade's entry bar.
    let base = |long: bool| match (risk.trailing_from, long) {
        (TrailFrom::Close, _) => "close",
        (TrailFrom::High, true) => "self.data.High[t.entry_bar:].max()",
        (TrailFrom::High, false) => "self.data.Low[t.entry_bar:].min()",
    };
    let trail_long =
        value(risk.trailing_stop_long.as_ref(), "_trail_long", Ty::Num).or_else(|| {
            risk.trailing_stop_pct
                .map(|_| format!("{} * (1 - self.{} / 100)", base(true), attrs.trail))
        });
    let trail_short =
        value(risk.trailing_stop_short.as_ref(), "_trail_short", Ty::Num).or_else(|| {
            risk.trailing_stop_pct
                .map(|_| format!("{} * (1 + self.{} / 100)", base(false), attrs.trail))
        });
    for p in parts {
        let _ = writeln!(init_lines, "{p}");
    }

    // Orders deciding at their fill see the stop the next bar starts with.
    let fill_orders = if s.orders.reverse == Reverse::OnFill || s.orders.oca {
        "
        for o in self.orders:
            if isinstance(o, _FillOrder):
                o._bf_stop = o.stop"
    } else {
        ""
    };
    let mut out = format!(
        "
    def next(self):
        i = len(self.data) - 1
        _position, _entry_price, _bars_in_trade, _open_pnl_pct = _state(self.trades, i, self.data.Close[-1])
        # The bar whose close placed the first open trade's entry (its tag), for at_entry.
        _placed = self.trades[0].tag if self.trades else None
        long, short = self.position.is_long, self.position.is_short
        close = self.data.Close[-1]{fill_orders}
        closing = False
        with np.errstate(all=\"ignore\"):
"
    );
    let body = &mut out;
    for (attr, code) in &state_levels {
        let _ = writeln!(
            body,
            "            {attr}_at = lambda _position, _entry_price, _bars_in_trade, _open_pnl_pct, _placed: {code}"
        );
    }
    if risk.stop_from == StopFrom::Fill {
        let mut set = String::new();
        if risk.stop_loss_pct.is_some() {
            let _ = write!(
                set,
                "
                    t.sl = t.entry_price * (1 - self.{sl} / 100) if t.is_long else t.entry_price * (1 + self.{sl} / 100)",
                sl = attrs.sl
            );
        }
        if risk.take_profit_pct.is_some() {
            let _ = write!(
                set,
                "
                    t.tp = t.entry_price * (1 + self.{tp} / 100) if t.is_long else t.entry_price * (1 - self.{tp} / 100)",
                tp = attrs.tp
            );
        }
        let _ = write!(
            body,
            "            # stop_from = \"fill\": percent stop and target from the fill, at the entry bar's close.
            for t in self.trades:
                if id(t) not in self._from_fill:
                    self._from_fill.add(id(t)){set}
"
        );
    }
    if !state_levels.is_empty() {
        let set = |side: &str| {
            let mut out = String::new();
            for (attr, field) in [("_sl", "sl"), ("_tp", "tp")] {
                let name = format!("{attr}_{side}");
                if state_levels.iter().any(|(a, _)| *a == name) {
                    let _ = write!(
                        out,
                        "
                    v = {name}_at(_position, _entry_price, _bars_in_trade, _open_pnl_pct, _placed)
                    if _price_ok(v):
                        t.{field} = v"
                    );
                }
            }
            if out.is_empty() {
                "\n                    pass".to_owned()
            } else {
                out
            }
        };
        let _ = write!(
            body,
            "            # Stops and targets that read position state: valued at every close of the trade.
            for t in self.trades:
                if t.is_long:{}
                else:{}
",
            set("long"),
            set("short")
        );
    }
    if trail_long.is_some() || trail_short.is_some() {
        let tl = trail_long.unwrap_or_else(|| "None".to_owned());
        let ts = trail_short.unwrap_or_else(|| "None".to_owned());
        let _ = write!(
            body,
            "            # Trailing stops, before the rules (as lib.TrailingStrategy.next).
            for t in self.trades:
{offset}                if t.is_long:
                    lvl = {tl}
                    if _price_ok(lvl):
                        t.sl = max(t.sl or -math.inf, lvl)
                else:
                    lvl = {ts}
                    if _price_ok(lvl):
                        t.sl = min(t.sl or math.inf, lvl)
",
            offset = if risk.trailing_offset_pct.is_some() {
                format!(
                    "                # trailing_offset_pct: the trail moves once the trade is that far in profit.
                if id(t) not in self._trail_on:
                    if not t.pl_pct * 100 >= self.{q}:
                        continue
                    self._trail_on.add(id(t))
",
                    q = attrs.trail_offset
                )
            } else {
                String::new()
            }
        );
    }
    if !risk.roi.is_empty() {
        let age = match risk.roi_unit {
            RoiUnit::Bars => "i - t.entry_bar",
            RoiUnit::Minutes => {
                "(self.data.index[-1] - self.data.index[t.entry_bar]).total_seconds() / 60"
            }
        };
        let _ = write!(
            body,
            "            # roi: the stepping take-profit (freqtrade's minimal_roi) at each trade's age.
            for t in self.trades:
                age = {age}
                steps = [r for k, r in self.{roi} if k <= age]
                if steps:
                    r = steps[-1]
                    t.tp = t.entry_price * (1 + r / 100) if t.is_long else t.entry_price * (1 - r / 100)
",
            roi = attrs.roi
        );
    }
    if risk.max_bars.is_some() {
        let _ = write!(
            body,
            "            # Time exit: close a trade open for max_bars bars.
            for t in self.trades:
                if i - t.entry_bar >= self.{mb}:
                    t.close()
                    closing = True
",
            mb = attrs.max_bars
        );
    }
    let _ = write!(
        body,
        "            # An unfilled entry order lives valid_bars bars.
            for k in (0, 1):
                o = self._pending[k]
                if o is not None and o in self.orders and i - self._pending_bar[k] >= self.{vb}:
                    o.cancel()
                    self._pending[k] = None
            # Exits first, then entries; an entry in the held direction is ignored.
            if (long and {exit_long}) or (short and {exit_short}):
                if not closing:
                    self.position.close()
                closing = True
            # pyramiding: an entry in the held direction adds a trade while there is room.
            adds = len(self.trades) < self.{pyr}
            want_long = bool({entry_long}) and (not long or (adds and not closing))
            want_short = bool({entry_short}) and (not short or (adds and not closing))
            # {reverse_note}
            if want_long:
                if short and not closing{keep}:
                    self.position.close()
                self._enter(True, i, close, {sl_long}, {tp_long}, {stop_long}, {limit_long})
            # {both}
            if want_short and {second}:
                if long and not closing{keep}:
                    self.position.close()
                self._enter(False, i, close, {sl_short}, {tp_short}, {stop_short}, {limit_short})
",
        vb = attrs.valid_bars,
        pyr = attrs.pyramiding,
        keep = if s.orders.reverse == Reverse::OnFill {
            " and False"
        } else {
            ""
        },
        reverse_note = if s.orders.reverse == Reverse::OnFill {
            "reverse = \"on_fill\": an opposite entry order closes the trade when it fills."
        } else {
            "An opposite entry closes the trade at the next open first."
        },
        both = if s.orders.oca {
            "oca: both entries may wait at once (long placed first)."
        } else {
            "A long entry wins the bar."
        },
        second = if s.orders.oca {
            "True"
        } else {
            "not want_long"
        },
    );
    out
}

/// `_enter()`: checks the order's prices, sizes it and places it (replacing a pending entry).
pub(super) fn enter_method(s: &Strategy, a: &Attrs) -> String {
    // stop_from = "fill": percent levels are set from the fill instead (in next()).
    let from_fill = s.risk.stop_from == StopFrom::Fill;
    // A stop or target that reads position state is set from the entry bar's close instead.
    let later = |pct: bool, long: Option<&Expr>, short: Option<&Expr>, name: &str| {
        let reads = |e: Option<&Expr>| e.is_some_and(|e| uses_position(e).is_some());
        match (from_fill && pct, reads(long), reads(short)) {
            (true, ..) | (false, true, true) => "None".to_owned(),
            (false, true, false) => format!("(None if long else {name})"),
            (false, false, true) => format!("({name} if long else None)"),
            (false, false, false) => name.to_owned(),
        }
    };
    let r = &s.risk;
    let sl = later(
        r.stop_loss_pct.is_some(),
        r.stop_loss_long.as_ref(),
        r.stop_loss_short.as_ref(),
        "sl",
    );
    let tp = later(
        r.take_profit_pct.is_some(),
        r.take_profit_long.as_ref(),
        r.take_profit_short.as_ref(),
        "tp",
    );
    let sizing = match s.risk.sizing {
        Sizing::Fraction(_) => format!(
            "        # size 1.0 is backtesting.py's default: all available equity.
        kwargs = {{}} if self.{size} >= 1 else {{\"size\": self.{size}}}
        if reverses:
            at_fill = (\"fraction\", _FULL_EQUITY if self.{size} >= 1 else self.{size})
",
            size = a.size
        ),
        Sizing::Units(_) => format!(
            "        kwargs = {{\"size\": self.{u}}}
        if reverses:
            at_fill = (\"units\", self.{u})
",
            u = a.units
        ),
        Sizing::RiskPct(_) => format!(
            "        # Risk-based: the units whose loss at the stop is risk_pct of equity.
        dist = abs(close - sl)
        if not dist > 0:
            return
        if reverses:
            # Sized at the fill against the equity after the close.
            at_fill = (\"risk\", self.{risk}, dist, self.{cap}, close)
            n = 1
        else:
            n = int(self.equity * self.{risk} / 100 // dist)
            # max_size: at most that fraction of equity, instead of no order.
            if self.{cap} is not None:
                n = min(n, int(self.{cap} * self.equity // close))
            if n < 1:
                return
        kwargs = {{\"size\": n}}
",
            risk = a.risk_pct,
            cap = a.max_size
        ),
    };
    format!(
        "
    def _enter(self, long, i, close, sl, tp, stop, limit):
        # A new entry signal replaces an entry order still waiting{replaced}.
        side = 0 if long else 1
        for k in {slots}:
            o = self._pending[k]
            if o is not None and o in self.orders:
                o.cancel()
            self._pending[k] = None
        # A missing or non-positive price, or a stop / target on the wrong side, places nothing
        # (backtesting.py would raise).
        for p in (sl, tp, stop, limit):
            if p is not None and not _price_ok(p):
                return
        ref = limit or stop or close
        lo, hi = (sl, tp) if long else (tp, sl)
        if not ((-math.inf if lo is None else lo) < ref < (math.inf if hi is None else hi)):
            return
        held = self.position.size
        # reverse = \"on_fill\": an entry against the position held is sized when it fills.
        reverses = {on_fill} and held != 0 and (held > 0) != long
        at_fill = None
{sizing}        order = (self.buy if long else self.sell)(stop=stop, limit=limit, sl={sl}, tp={tp}, tag=i, **kwargs)
        if at_fill is not None or {oca}:
            _decide_at_fill(self, order, at_fill, {oca})
        self._pending[side] = order
        self._pending_bar[side] = i
",
        replaced = if s.orders.oca { " in its own direction (oca)" } else { "" },
        slots = if s.orders.oca { "(side,)" } else { "(0, 1)" },
        on_fill = if s.orders.reverse == Reverse::OnFill { "True" } else { "False" },
        oca = if s.orders.oca { "True" } else { "False" },
    )
}
