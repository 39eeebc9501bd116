//! The `[portfolio]` section (DESIGN.md §5.3): how entries of several symbols share one account
//! — their priority (`rank`), a cap on open positions, the symbols that trade, and rotation
//! (`rebalance` with `top`).

use serde::Deserialize;
use toml::Spanned;

use crate::check::{Scope, Type, check, uses_position};
use crate::expr::{Expr, parse};
use crate::parts::{Ctx, Rules, StrategyError};

/// What the `[portfolio]` section says (each field optional).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Portfolio {
    /// Priority of entries filling at one time, highest first (missing ranks last; ties in
    /// `--data` order). `None`: `--data` order.
    pub rank: Option<Expr>,
    /// An entry that would make this many + 1 open positions is skipped.
    pub max_positions: Option<u32>,
    /// The symbols that trade (the others are data only); `None`: all.
    pub trade: Option<Vec<String>>,
    /// Rotation: on the last bar of each period, hold the `top` symbols by `rank`.
    pub rotation: Option<(Rebalance, u32)>,
}

/// The periods a rotation rebalances on: it acts on the last bar of each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rebalance {
    /// Weeks ending Sunday (pandas' `W`).
    Week,
    /// Weeks ending Friday (`W-FRI`).
    WeekFri,
    /// Calendar months (`ME`).
    Month,
    /// Calendar quarters (`QE`).
    Quarter,
    /// Calendar years (`YE`).
    Year,
}

impl Rebalance {
    /// Every rule, with its name in the file.
    pub const ALL: [(&'static str, Rebalance); 5] = [
        ("W", Rebalance::Week),
        ("W-FRI", Rebalance::WeekFri),
        ("ME", Rebalance::Month),
        ("QE", Rebalance::Quarter),
        ("YE", Rebalance::Year),
    ];

    /// The name in the file.
    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, r)| *r == self)
            .map_or("ME", |(n, _)| n)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPortfolio {
    rank: Option<Spanned<String>>,
    max_positions: Option<Spanned<f64>>,
    trade: Option<Spanned<Vec<String>>>,
    rebalance: Option<Spanned<String>>,
    top: Option<Spanned<f64>>,
}

/// Reads the section (a rank reads no position state: it orders entries before they exist).
pub(crate) fn parse_portfolio(
    ctx: &Ctx<'_>,
    scope: &dyn Scope,
    rules: &Rules,
    raw: Option<RawPortfolio>,
) -> Result<Option<Portfolio>, StrategyError> {
    let Some(raw) = raw else { return Ok(None) };
    let rank = match raw.rank {
        None => None,
        Some(r) => {
            let byte = r.span().start;
            let text = r.into_inner();
            let with_expr = |pos: usize, message: String| StrategyError {
                pos: Some(pos),
                expression: Some(text.clone()),
                ..ctx.error(byte, "portfolio.rank", message)
            };
            let e = parse(&text).map_err(|s| with_expr(s.pos, s.message))?;
            if let Some(at) = uses_position(&e) {
                return Err(with_expr(
                    at.start,
                    "orders entries before they exist, so it cannot read position state (position, entry_price, bars_in_trade, open_pnl_pct)".to_owned(),
                ));
            }
            match check(&e, scope) {
                Ok(Type::Number) => Some(e),
                Ok(Type::Bool) => {
                    return Err(with_expr(
                        0,
                        format!(
                            "must be a number to order entries by (highest first), but `{e}` is a condition, e.g. roc(close, 63)"
                        ),
                    ));
                }
                Err(t) => return Err(with_expr(t.span.start, t.message)),
            }
        }
    };
    let max_positions = match raw.max_positions {
        None => None,
        Some(v) => {
            let x = *v.get_ref();
            if !(x.is_finite() && x >= 1.0 && x.fract() == 0.0 && x <= f64::from(u32::MAX)) {
                return Err(ctx.error(
                    v.span().start,
                    "portfolio.max_positions",
                    format!("must be a whole number of positions, at least 1, got {x}"),
                ));
            }
            #[expect(
                clippy::cast_possible_truncation,
                clippy::cast_sign_loss,
                reason = "checked whole and within u32 above"
            )]
            Some(x as u32)
        }
    };
    let trade = match raw.trade {
        None => None,
        Some(t) => {
            let byte = t.span().start;
            let names = t.into_inner();
            if names.is_empty() {
                return Err(ctx.error(
                    byte,
                    "portfolio.trade",
                    "names no symbol: list the symbols that trade, e.g. [\"AAPL\", \"MSFT\"], or drop it (all trade)".into(),
                ));
            }
            for (i, n) in names.iter().enumerate() {
                if n.trim().is_empty() || names[..i].contains(n) {
                    return Err(ctx.error(
                        byte,
                        "portfolio.trade",
                        format!("`{n}`: each symbol once, by the name --data gives it"),
                    ));
                }
            }
            Some(names)
        }
    };
    let at = raw.rebalance.as_ref().map(|r| r.span().start);
    let rotation = rotation(ctx, raw.rebalance, raw.top, rank.is_some())?;
    if let (Some(_), Some(byte), Some(_)) = (rotation, at, rules.entry_short.as_ref()) {
        return Err(ctx.error(
            byte,
            "portfolio.rebalance",
            "a rotation holds long positions only: drop entry_short (entry_long is its filter)"
                .into(),
        ));
    }
    Ok(Some(Portfolio {
        rank,
        max_positions,
        trade,
        rotation,
    }))
}

/// `rebalance` and `top`: both or neither, with a rank to choose by.
fn rotation(
    ctx: &Ctx<'_>,
    rebalance: Option<Spanned<String>>,
    top: Option<Spanned<f64>>,
    ranked: bool,
) -> Result<Option<(Rebalance, u32)>, StrategyError> {
    let names: Vec<String> = Rebalance::ALL
        .iter()
        .map(|(n, _)| format!("\"{n}\""))
        .collect();
    match (rebalance, top) {
        (None, None) => Ok(None),
        (Some(r), None) => Err(ctx.error(
            r.span().start,
            "portfolio.rebalance",
            "needs top = N: how many symbols to hold".into(),
        )),
        (None, Some(t)) => Err(ctx.error(
            t.span().start,
            "portfolio.top",
            format!(
                "needs rebalance = one of {}: when to rotate",
                names.join(", ")
            ),
        )),
        (Some(r), Some(t)) => {
            let Some(rule) = Rebalance::ALL
                .iter()
                .find(|(n, _)| *n == r.get_ref().as_str())
                .map(|(_, x)| *x)
            else {
                return Err(ctx.error(
                    r.span().start,
                    "portfolio.rebalance",
                    format!(
                        "\"{}\" is not a rebalance rule: use one of {} (the last bar of each week, week to Friday, month, quarter, year)",
                        r.get_ref(),
                        names.join(", ")
                    ),
                ));
            };
            let n = *t.get_ref();
            if !(n.is_finite() && n >= 1.0 && n.fract() == 0.0 && n <= f64::from(u32::MAX)) {
                return Err(ctx.error(
                    t.span().start,
                    "portfolio.top",
                    format!("must be a whole number of symbols, at least 1, got {n}"),
                ));
            }
            if !ranked {
                return Err(ctx.error(
                    r.span().start,
                    "portfolio.rebalance",
                    "needs rank = \"…\": the symbols held are the top ones by rank, e.g. rank = \"roc(close, 63)\"".into(),
                ));
            }
            #[expect(
                clippy::cast_possible_truncation,
                clippy::cast_sign_loss,
                reason = "checked whole and within u32 above"
            )]
            Ok(Some((rule, n as u32)))
        }
    }
}

/// Writes the section back (nothing without one).
pub(crate) fn print_portfolio(out: &mut String, p: Option<&Portfolio>) {
    use std::fmt::Write;
    let Some(p) = p else { return };
    let s = |v: &str| toml::Value::String(v.to_owned()).to_string();
    out.push_str("\n[portfolio]\n");
    if let Some(r) = &p.rank {
        let _ = writeln!(out, "rank = {}", s(&r.to_string()));
    }
    if let Some(n) = p.max_positions {
        let _ = writeln!(out, "max_positions = {n}");
    }
    if let Some(t) = &p.trade {
        let list: Vec<String> = t.iter().map(|n| s(n)).collect();
        let _ = writeln!(out, "trade = [{}]", list.join(", "));
    }
    if let Some((rule, top)) = p.rotation {
        let _ = writeln!(out, "rebalance = {}", s(rule.name()));
        let _ = writeln!(out, "top = {top}");
    }
}
