//! The `[orders]` section: entry orders other than at market (stop and limit prices, how long
//! they wait), when market orders fill, how an opposite entry reverses and whether waiting entry
//! orders cancel each other (DESIGN.md §5.2, §5.4).

use serde::Deserialize;
use toml::Spanned;

use crate::check::Scope;
use crate::expr::Expr;
use crate::parts::Ctx;
use crate::parts::{Rules, StrategyError};
use crate::sections::{number, one_of, price, quoted};

/// When market orders fill.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Fill {
    /// At the next bar's open (backtesting.py's default).
    #[default]
    NextOpen,
    /// At the signal bar's close (`Backtest(..., trade_on_close=True)`).
    Close,
}

impl Fill {
    /// The name in the file.
    pub fn name(self) -> &'static str {
        match self {
            Fill::NextOpen => "next_open",
            Fill::Close => "close",
        }
    }
}

/// What an opposite entry does to the open trade.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Reverse {
    /// The open trade closes at the next open, then the entry order goes (today's way).
    #[default]
    NextOpen,
    /// `TradingView`'s `strategy.entry`: the entry order, when it fills, closes the open trade at
    /// its fill price and opens the new one, sized against the equity after that close.
    OnFill,
}

impl Reverse {
    /// The name in the file.
    pub fn name(self) -> &'static str {
        match self {
            Reverse::NextOpen => "next_open",
            Reverse::OnFill => "on_fill",
        }
    }
}

/// Entry orders other than at market, and the fill mode.
#[derive(Debug, Clone, PartialEq)]
pub struct Orders {
    /// `entry_long` places a buy stop at this price (valued on the signal bar).
    pub entry_long_stop: Option<Expr>,
    /// `entry_long` places a buy limit at this price.
    pub entry_long_limit: Option<Expr>,
    /// `entry_short` places a sell stop at this price.
    pub entry_short_stop: Option<Expr>,
    /// `entry_short` places a sell limit at this price.
    pub entry_short_limit: Option<Expr>,
    /// An unfilled entry order is cancelled at the close this many bars after the one that
    /// placed it (at least 1).
    pub valid_bars: u32,
    /// When market orders fill.
    pub fill: Fill,
    /// What an opposite entry does to the open trade.
    pub reverse: Reverse,
    /// Entry orders of both directions wait at once and the first to fill cancels the others
    /// (`TradingView`'s `strategy.oca.cancel`).
    pub oca: bool,
}

impl Default for Orders {
    fn default() -> Self {
        Self {
            entry_long_stop: None,
            entry_long_limit: None,
            entry_short_stop: None,
            entry_short_limit: None,
            valid_bars: 1,
            fill: Fill::NextOpen,
            reverse: Reverse::NextOpen,
            oca: false,
        }
    }
}

impl Orders {
    /// `(field, expression)` for each order price that is set, in file order.
    pub fn expressions(&self) -> impl Iterator<Item = (&'static str, &Expr)> {
        [
            ("entry_long_stop", &self.entry_long_stop),
            ("entry_long_limit", &self.entry_long_limit),
            ("entry_short_stop", &self.entry_short_stop),
            ("entry_short_limit", &self.entry_short_limit),
        ]
        .into_iter()
        .filter_map(|(n, e)| e.as_ref().map(|e| (n, e)))
    }

    /// Whether this is the default section (nothing to write).
    pub fn is_default(&self) -> bool {
        *self == Orders::default()
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawOrders {
    entry_long_stop: Option<Spanned<String>>,
    entry_long_limit: Option<Spanned<String>>,
    entry_short_stop: Option<Spanned<String>>,
    entry_short_limit: Option<Spanned<String>>,
    valid_bars: Option<Spanned<f64>>,
    fill: Option<Spanned<String>>,
    reverse: Option<Spanned<String>>,
    oca: Option<Spanned<bool>>,
}

pub(crate) fn parse_orders(
    ctx: &Ctx<'_>,
    scope: &dyn Scope,
    rules: &Rules,
    raw: Option<RawOrders>,
) -> Result<Orders, StrategyError> {
    let Some(o) = raw else {
        return Ok(Orders::default());
    };
    let valid_bars = number(
        ctx,
        "orders.valid_bars",
        o.valid_bars,
        |x| x >= 1.0 && x.fract() == 0.0 && x <= f64::from(u32::MAX),
        "a whole number of bars, at least 1",
    )?;
    let fill = match o.fill {
        None => Fill::NextOpen,
        Some(f) => match f.get_ref().as_str() {
            "next_open" => Fill::NextOpen,
            "close" => Fill::Close,
            other => {
                return Err(ctx.error(
                    f.span().start,
                    "orders.fill",
                    format!("must be \"next_open\" (the next bar's open) or \"close\" (the signal bar's close), got \"{other}\""),
                ));
            }
        },
    };
    let spans: Vec<(&str, usize)> = [
        ("entry_long_stop", &o.entry_long_stop),
        ("entry_long_limit", &o.entry_long_limit),
        ("entry_short_stop", &o.entry_short_stop),
        ("entry_short_limit", &o.entry_short_limit),
    ]
    .into_iter()
    .filter_map(|(n, v)| v.as_ref().map(|v| (n, v.span().start)))
    .collect();
    let reverse_at = o.reverse.as_ref().map(|v| v.span().start);
    let oca_at = o.oca.as_ref().map(|v| v.span().start);
    let p = |name: &str, v| price(ctx, scope, "orders", name, v);
    let orders = Orders {
        entry_long_stop: p("entry_long_stop", o.entry_long_stop)?,
        entry_long_limit: p("entry_long_limit", o.entry_long_limit)?,
        entry_short_stop: p("entry_short_stop", o.entry_short_stop)?,
        entry_short_limit: p("entry_short_limit", o.entry_short_limit)?,
        #[expect(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "checked whole and within u32 above"
        )]
        valid_bars: valid_bars.map_or(1, |(x, _)| x as u32),
        fill,
        reverse: one_of(
            ctx,
            "orders.reverse",
            o.reverse,
            &[
                ("next_open", Reverse::NextOpen),
                ("on_fill", Reverse::OnFill),
            ],
            "\"next_open\" (close at the next open, then enter) or \"on_fill\" (the entry order closes the trade when it fills)",
        )?,
        oca: o.oca.as_ref().is_some_and(|v| *v.get_ref()),
    };
    for (field, byte) in &spans {
        let rule = if field.starts_with("entry_long") {
            &rules.entry_long
        } else {
            &rules.entry_short
        };
        if rule.is_none() {
            let r = if field.starts_with("entry_long") {
                "entry_long"
            } else {
                "entry_short"
            };
            return Err(ctx.error(
                *byte,
                &format!("orders.{field}"),
                format!("prices the order that `[rules] {r}` places, but there is no {r} rule"),
            ));
        }
    }
    check_entries(ctx, rules, (reverse_at, oca_at), &orders)?;
    Ok(orders)
}

/// `reverse = "on_fill"` needs entries both ways; `oca` needs a stop or limit entry both ways.
fn check_entries(
    ctx: &Ctx<'_>,
    rules: &Rules,
    (reverse_at, oca_at): (Option<usize>, Option<usize>),
    orders: &Orders,
) -> Result<(), StrategyError> {
    if let Some(at) = reverse_at
        && orders.reverse == Reverse::OnFill
        && (rules.entry_long.is_none() || rules.entry_short.is_none())
    {
        return Err(ctx.error(
            at,
            "orders.reverse",
            "\"on_fill\" reverses a trade with an opposite entry, and this strategy enters one way only: add entry_long and entry_short rules, or drop reverse".into(),
        ));
    }
    if let Some(at) = oca_at
        && orders.oca
    {
        let long = orders.entry_long_stop.is_some() || orders.entry_long_limit.is_some();
        let short = orders.entry_short_stop.is_some() || orders.entry_short_limit.is_some();
        if !(long && short) {
            return Err(ctx.error(
                at,
                "orders.oca",
                "cancels the other waiting entry order when one fills, and needs two: a stop or limit price for both entries (entry_long_stop or entry_long_limit, and entry_short_stop or entry_short_limit)".into(),
            ));
        }
    }
    Ok(())
}

/// The `[orders]` section's text (nothing when it is the default).
pub(crate) fn print_orders(out: &mut String, o: &Orders) {
    use std::fmt::Write;
    if o.is_default() {
        return;
    }
    out.push_str("\n[orders]\n");
    for (name, e) in o.expressions() {
        let _ = writeln!(out, "{name} = {}", quoted(e));
    }
    if o.valid_bars != 1 {
        let _ = writeln!(out, "valid_bars = {}", o.valid_bars);
    }
    if o.fill != Fill::NextOpen {
        let _ = writeln!(out, "fill = \"{}\"", o.fill.name());
    }
    if o.reverse != Reverse::NextOpen {
        let _ = writeln!(out, "reverse = \"{}\"", o.reverse.name());
    }
    if o.oca {
        out.push_str("oca = true\n");
    }
}
