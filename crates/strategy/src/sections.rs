//! The `[risk]` section (DESIGN.md §5, §5.2 and §5.4): sizing, stops and targets as percentages
//! or as price expressions, trailing stops, time exits, fractional units, stepping targets and
//! pyramiding, and the field readers the `[orders]` section shares. Each field is defined by the
//! backtesting.py 0.6.6 code it equals; validation here rejects what that code would refuse or
//! what cannot mean anything.

use serde::Deserialize;
use toml::Spanned;

use crate::check::{Scope, Type, check};
use crate::expr::{BinOp, Expr, ExprKind, parse};
use crate::func::Func;
use crate::parts::{Ctx, Rules, StrategyError};

/// How many units an entry buys or sells: exactly one of `size`, `units` or `risk_pct`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Sizing {
    /// `size`: a fraction of equity in (0, 1] (1.0 is backtesting.py's default `buy()`).
    Fraction(f64),
    /// `units`: whole units, `buy(size=N)`.
    Units(f64),
    /// `risk_pct`: percent of equity lost if the stop is hit:
    /// `int(equity * r / 100 // abs(close - sl))` units, no order when that is 0.
    RiskPct(f64),
}

impl Default for Sizing {
    fn default() -> Self {
        Sizing::Fraction(1.0)
    }
}

/// Position sizing and exits.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Risk {
    /// How entries are sized.
    pub sizing: Sizing,
    /// Stop loss in percent of the signal bar's close, in (0, 100).
    pub stop_loss_pct: Option<f64>,
    /// Take profit in percent of the signal bar's close, > 0.
    pub take_profit_pct: Option<f64>,
    /// A long's stop price, valued on the signal bar (instead of `stop_loss_pct`).
    pub stop_loss_long: Option<Expr>,
    /// A short's stop price, valued on the signal bar.
    pub stop_loss_short: Option<Expr>,
    /// A long's target price, valued on the signal bar (instead of `take_profit_pct`).
    pub take_profit_long: Option<Expr>,
    /// A short's target price, valued on the signal bar.
    pub take_profit_short: Option<Expr>,
    /// Trailing stop in percent of each close, in (0, 100).
    pub trailing_stop_pct: Option<f64>,
    /// A long's trailing stop level, valued at every close (the stop only rises).
    pub trailing_stop_long: Option<Expr>,
    /// A short's trailing stop level, valued at every close (the stop only falls).
    pub trailing_stop_short: Option<Expr>,
    /// Close a trade once it has been open this many bars.
    pub max_bars: Option<u32>,
    /// Trade in whole multiples of this fraction of the asset (`FractionalBacktest`).
    pub fractional_unit: Option<f64>,
    /// Caps `risk_pct` sizing at this fraction of equity: `n = min(n, int(f * equity // close))`
    /// instead of refusing the order (DESIGN.md §5.4).
    pub max_size: Option<f64>,
    /// A trailing stop starts moving only once the trade's `open_pnl_pct` reaches this (and then
    /// moves for the rest of the trade): freqtrade's `trailing_stop_positive_offset`.
    pub trailing_offset_pct: Option<f64>,
    /// What `trailing_stop_pct` trails.
    pub trailing_from: TrailFrom,
    /// freqtrade's `minimal_roi` as a stepping take-profit: `(age, percent)` pairs, ages
    /// increasing; at every close an open trade's target is `entry · (1 ± r/100)` with `r` the
    /// percent of the largest age not above the trade's.
    pub roi: Vec<(f64, f64)>,
    /// What `roi`'s ages count.
    pub roi_unit: RoiUnit,
    /// Where `stop_loss_pct` / `take_profit_pct` are measured from.
    pub stop_from: StopFrom,
    /// Up to this many open trades in one direction: an entry while holding that direction adds
    /// a trade instead of being ignored (`None`: one).
    pub pyramiding: Option<u32>,
}

/// What `roi`'s ages count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RoiUnit {
    /// Bars since the entry bar (`bars_in_trade`).
    #[default]
    Bars,
    /// Minutes from the entry bar's time to the time of the bar whose close sets the target.
    Minutes,
}

/// Where percent stops and targets are measured from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StopFrom {
    /// The signal bar's close, placed with the entry order (§5.2).
    #[default]
    Signal,
    /// The trade's fill price, set at the close of its entry bar, live from the next bar.
    Fill,
}

/// What `trailing_stop_pct` follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TrailFrom {
    /// Each close (`lib.TrailingStrategy`).
    #[default]
    Close,
    /// The highest high since entry (lowest low for shorts):
    /// `t.sl = max(t.sl, max(high[t.entry_bar:]) * (1 - p/100))`.
    High,
}

impl TrailFrom {
    /// The name in the file.
    pub fn name(self) -> &'static str {
        match self {
            TrailFrom::Close => "close",
            TrailFrom::High => "high",
        }
    }
}

impl Risk {
    /// The fraction of equity for [`Sizing::Fraction`], else `None`.
    pub fn fraction(&self) -> Option<f64> {
        match self.sizing {
            Sizing::Fraction(f) => Some(f),
            _ => None,
        }
    }

    /// `(field, expression)` for each price expression that is set, in file order.
    pub fn expressions(&self) -> impl Iterator<Item = (&'static str, &Expr)> {
        [
            ("stop_loss_long", &self.stop_loss_long),
            ("stop_loss_short", &self.stop_loss_short),
            ("take_profit_long", &self.take_profit_long),
            ("take_profit_short", &self.take_profit_short),
            ("trailing_stop_long", &self.trailing_stop_long),
            ("trailing_stop_short", &self.trailing_stop_short),
        ]
        .into_iter()
        .filter_map(|(n, e)| e.as_ref().map(|e| (n, e)))
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRisk {
    size: Option<Spanned<f64>>,
    units: Option<Spanned<f64>>,
    risk_pct: Option<Spanned<f64>>,
    stop_loss_pct: Option<Spanned<f64>>,
    take_profit_pct: Option<Spanned<f64>>,
    stop_loss_long: Option<Spanned<String>>,
    stop_loss_short: Option<Spanned<String>>,
    take_profit_long: Option<Spanned<String>>,
    take_profit_short: Option<Spanned<String>>,
    trailing_stop_pct: Option<Spanned<f64>>,
    trailing_stop_long: Option<Spanned<String>>,
    trailing_stop_short: Option<Spanned<String>>,
    max_bars: Option<Spanned<f64>>,
    fractional_unit: Option<Spanned<f64>>,
    max_size: Option<Spanned<f64>>,
    trailing_offset_pct: Option<Spanned<f64>>,
    trailing_from: Option<Spanned<String>>,
    roi: Option<Spanned<toml::Value>>,
    roi_unit: Option<Spanned<String>>,
    stop_from: Option<Spanned<String>>,
    pyramiding: Option<Spanned<f64>>,
}

/// A price expression: parsed, type-checked as a number, position state allowed.
pub(crate) fn price(
    ctx: &Ctx<'_>,
    scope: &dyn Scope,
    section: &str,
    name: &str,
    raw: Option<Spanned<String>>,
) -> Result<Option<Expr>, StrategyError> {
    let Some(raw) = raw else { return Ok(None) };
    let field = format!("{section}.{name}");
    let byte = raw.span().start;
    let text = raw.into_inner();
    let with_expr = |pos: usize, message: String| StrategyError {
        pos: Some(pos),
        expression: Some(text.clone()),
        ..ctx.error(byte, &field, message)
    };
    let e = parse(&text).map_err(|s| with_expr(s.pos, s.message))?;
    match check(&e, scope) {
        Ok(Type::Number) => Ok(Some(e)),
        Ok(Type::Bool) => Err(with_expr(
            0,
            format!("must be a price (a number), but `{e}` is a condition"),
        )),
        Err(t) => Err(with_expr(t.span.start, t.message)),
    }
}

/// A number field with a range check; `what` says the range in words.
pub(crate) fn number(
    ctx: &Ctx<'_>,
    field: &str,
    v: Option<Spanned<f64>>,
    ok: impl Fn(f64) -> bool,
    what: &str,
) -> Result<Option<(f64, usize)>, StrategyError> {
    match v {
        None => Ok(None),
        Some(v) => {
            let x = *v.get_ref();
            if x.is_finite() && ok(x) {
                Ok(Some((x, v.span().start)))
            } else {
                Err(ctx.error(v.span().start, field, format!("must be {what}, got {x}")))
            }
        }
    }
}

/// A string field that names one of `choices`; the default when absent.
pub(crate) fn one_of<T: Copy + Default>(
    ctx: &Ctx<'_>,
    field: &str,
    raw: Option<Spanned<String>>,
    choices: &[(&str, T)],
    what: &str,
) -> Result<T, StrategyError> {
    let Some(v) = raw else {
        return Ok(T::default());
    };
    choices
        .iter()
        .find(|(n, _)| *n == v.get_ref().as_str())
        .map(|(_, t)| *t)
        .ok_or_else(|| {
            ctx.error(
                v.span().start,
                field,
                format!("must be {what}, got \"{}\"", v.get_ref()),
            )
        })
}

/// `roi = [[0, 4.0], [30, 2.0], [60, 0.0]]` and `roi_unit`: ages whole and increasing, percents
/// 0 or more.
fn parse_roi(
    ctx: &Ctx<'_>,
    raw: Option<Spanned<toml::Value>>,
    unit: Option<Spanned<String>>,
) -> Result<(Vec<(f64, f64)>, RoiUnit), StrategyError> {
    let unit = one_of(
        ctx,
        "risk.roi_unit",
        unit,
        &[("bars", RoiUnit::Bars), ("minutes", RoiUnit::Minutes)],
        "\"bars\" or \"minutes\"",
    )?;
    let Some(raw) = raw else {
        return Ok((Vec::new(), unit));
    };
    let at = raw.span().start;
    let bad = |why: String| {
        ctx.error(
            at,
            "risk.roi",
            format!("{why}: write [[AGE, PERCENT], ...] with ages increasing, like [[0, 4.0], [30, 2.0], [60, 0.0]]"),
        )
    };
    let num = |v: &toml::Value| v.as_float().or_else(|| v.as_integer().map(|i| i as f64));
    let Some(rows) = raw.get_ref().as_array() else {
        return Err(bad("not a list".into()));
    };
    if rows.is_empty() {
        return Err(bad("an empty list".into()));
    }
    let mut out: Vec<(f64, f64)> = Vec::with_capacity(rows.len());
    for row in rows {
        let pair = row.as_array().filter(|p| p.len() == 2);
        let Some((k, v)) = pair.and_then(|p| Some((num(&p[0])?, num(&p[1])?))) else {
            return Err(bad(format!("`{row}` is not a pair of numbers")));
        };
        if !(k >= 0.0 && k.fract() == 0.0 && k <= 1e12) {
            return Err(bad(format!("the age {k} is not a whole number, 0 or more")));
        }
        if !(v >= 0.0 && v.is_finite()) {
            return Err(bad(format!("the percent {v} is not 0 or more")));
        }
        if let Some(&(prev, _)) = out.last()
            && k <= prev
        {
            return Err(bad(format!("the ages do not increase ({prev} then {k})")));
        }
        out.push((k, v));
    }
    Ok((out, unit))
}

/// Which side of the signal bar's close a price expression certainly lies on: `Some(1)` above,
/// `Some(-1)` below, `Some(0)` at it, `None` when it depends on the data.
/// `indicators` resolves names (an `atr = "atr(14)"` entry is as positive as the call).
fn side_of_close(e: &Expr, indicators: &[(String, Expr)]) -> Option<i8> {
    /// Whether `e` is certainly positive on every bar with a value.
    fn positive(e: &Expr, indicators: &[(String, Expr)], depth: usize) -> bool {
        match &e.kind {
            ExprKind::Num(v) => *v > 0.0,
            ExprKind::Call { func, .. } => matches!(func, Func::Atr),
            ExprKind::Name(n) => {
                depth < 16
                    && indicators
                        .iter()
                        .find(|(name, _)| name == n)
                        .is_some_and(|(_, d)| positive(d, indicators, depth + 1))
            }
            ExprKind::Binary(BinOp::Mul | BinOp::Div | BinOp::Add, l, r) => {
                positive(l, indicators, depth) && positive(r, indicators, depth)
            }
            _ => false,
        }
    }
    let positive = |e: &Expr| positive(e, indicators, 0);
    match &e.kind {
        ExprKind::Name(n) if n == "close" => Some(0),
        ExprKind::Name(n) if n == "high" => Some(1),
        ExprKind::Binary(op, l, r) if matches!(&l.kind, ExprKind::Name(n) if n == "close") => {
            match (op, &r.kind) {
                (BinOp::Mul, ExprKind::Num(k)) if *k > 0.0 => Some(if *k > 1.0 {
                    1
                } else if *k < 1.0 {
                    -1
                } else {
                    0
                }),
                (BinOp::Add, _) if positive(r) => Some(1),
                (BinOp::Sub, _) if positive(r) => Some(-1),
                _ => None,
            }
        }
        _ => None,
    }
}

#[expect(
    clippy::too_many_lines,
    reason = "one check per field, in the order of the table in DESIGN.md §5.2"
)]
pub(crate) fn parse_risk(
    ctx: &Ctx<'_>,
    scope: &dyn Scope,
    rules: &Rules,
    indicators: &[(String, Expr)],
    raw: Option<RawRisk>,
) -> Result<Risk, StrategyError> {
    let Some(r) = raw else {
        return Ok(Risk::default());
    };
    let size = number(
        ctx,
        "risk.size",
        r.size,
        |x| x > 0.0 && x <= 1.0,
        "a fraction of equity above 0 and at most 1",
    )?;
    let units = number(
        ctx,
        "risk.units",
        r.units,
        |x| x >= 1.0 && x.fract() == 0.0 && x <= 1e15,
        "a whole number of units, at least 1",
    )?;
    let risk_pct = number(
        ctx,
        "risk.risk_pct",
        r.risk_pct,
        |x| x > 0.0 && x <= 100.0,
        "a percent of equity above 0 and at most 100",
    )?;
    let given: Vec<(&str, usize)> = [("size", size), ("units", units), ("risk_pct", risk_pct)]
        .into_iter()
        .filter_map(|(n, v)| v.map(|(_, b)| (n, b)))
        .collect();
    if let [(first, _), (second, byte), ..] = given.as_slice() {
        return Err(ctx.error(
            *byte,
            &format!("risk.{second}"),
            format!("give one sizing, not both `{first}` and `{second}`: size is a fraction of equity, units a count, risk_pct a percent of equity lost at the stop"),
        ));
    }
    let sizing = match (size, units, risk_pct) {
        (_, Some((u, _)), _) => Sizing::Units(u),
        (_, _, Some((p, _))) => Sizing::RiskPct(p),
        (Some((f, _)), _, _) => Sizing::Fraction(f),
        _ => Sizing::Fraction(1.0),
    };
    let stop_loss_pct = number(
        ctx,
        "risk.stop_loss_pct",
        r.stop_loss_pct,
        |x| x > 0.0 && x < 100.0,
        "above 0 and below 100 (percent)",
    )?;
    let take_profit_pct = number(
        ctx,
        "risk.take_profit_pct",
        r.take_profit_pct,
        |x| x > 0.0,
        "above 0 (percent)",
    )?;
    if let Some((tp, byte)) = take_profit_pct
        && tp >= 100.0
        && rules.entry_short.is_some()
    {
        return Err(ctx.error(
            byte,
            "risk.take_profit_pct",
            format!("a short's target {tp}% below the entry would be a price of 0 or less: use less than 100"),
        ));
    }
    let trailing_stop_pct = number(
        ctx,
        "risk.trailing_stop_pct",
        r.trailing_stop_pct,
        |x| x > 0.0 && x < 100.0,
        "above 0 and below 100 (percent)",
    )?;
    let max_bars = number(
        ctx,
        "risk.max_bars",
        r.max_bars,
        |x| x >= 1.0 && x.fract() == 0.0 && x <= f64::from(u32::MAX),
        "a whole number of bars, at least 1",
    )?;
    let pyramiding = number(
        ctx,
        "risk.pyramiding",
        r.pyramiding,
        |x| (1.0..=1000.0).contains(&x) && x.fract() == 0.0,
        "a whole number of open trades from 1 to 1000",
    )?;
    let fractional_unit = number(
        ctx,
        "risk.fractional_unit",
        r.fractional_unit,
        |x| x > 0.0 && x <= 1.0,
        "a fraction of one unit above 0 and at most 1, like 0.00000001 (one satoshi)",
    )?;
    let max_size = number(
        ctx,
        "risk.max_size",
        r.max_size,
        |x| x > 0.0 && x <= 1.0,
        "a fraction of equity above 0 and at most 1",
    )?;
    if let (Some((_, byte)), None) = (max_size, risk_pct) {
        return Err(ctx.error(
            byte,
            "risk.max_size",
            "max_size caps `risk_pct` sizing at a fraction of equity: add risk_pct, or size entries with `size`".into(),
        ));
    }
    let trailing_offset_pct = number(
        ctx,
        "risk.trailing_offset_pct",
        r.trailing_offset_pct,
        |x| x >= 0.0,
        "0 or more (percent of profit before the trail moves)",
    )?;
    let trailing_from_at = r.trailing_from.as_ref().map_or(0, |v| v.span().start);
    let trailing_from = match r.trailing_from {
        None => TrailFrom::Close,
        Some(v) => match v.get_ref().as_str() {
            "close" => TrailFrom::Close,
            "high" => TrailFrom::High,
            other => {
                return Err(ctx.error(
                    v.span().start,
                    "risk.trailing_from",
                    format!("must be \"close\" or \"high\" (the highest high since entry; the lowest low for shorts), got \"{other}\""),
                ));
            }
        },
    };
    if let (Some((_, byte)), None) = (
        trailing_offset_pct,
        trailing_stop_pct
            .map(|_| ())
            .or(r.trailing_stop_long.as_ref().map(|_| ()))
            .or(r.trailing_stop_short.as_ref().map(|_| ())),
    ) {
        return Err(ctx.error(
            byte,
            "risk.trailing_offset_pct",
            "delays a trailing stop, and there is none: add trailing_stop_pct (or trailing_stop_long / trailing_stop_short)".into(),
        ));
    }
    if trailing_from == TrailFrom::High && trailing_stop_pct.is_none() {
        return Err(ctx.error(
            trailing_from_at,
            "risk.trailing_from",
            "\"high\" trails `trailing_stop_pct` from the highest high since entry: add trailing_stop_pct".into(),
        ));
    }
    let roi_at = r.roi.as_ref().map_or(0, |v| v.span().start);
    let stop_from_at = r.stop_from.as_ref().map_or(0, |v| v.span().start);
    let (roi, roi_unit) = parse_roi(ctx, r.roi, r.roi_unit)?;
    if let Some((_, byte)) = take_profit_pct.filter(|_| !roi.is_empty()) {
        return Err(ctx.error(
            byte,
            "risk.take_profit_pct",
            "two targets: `roi` sets the take-profit at every close; give `roi` or `take_profit_pct`, not both".into(),
        ));
    }
    if let Some(byte) = [&r.take_profit_long, &r.take_profit_short]
        .into_iter()
        .flatten()
        .map(|v| v.span().start)
        .next()
        .filter(|_| !roi.is_empty())
    {
        return Err(ctx.error(
            byte,
            "risk.roi",
            "two targets: `roi` sets the take-profit at every close; give `roi` or take_profit_long / take_profit_short, not both".into(),
        ));
    }
    if roi.iter().any(|(_, v)| *v >= 100.0) && rules.entry_short.is_some() {
        return Err(ctx.error(
            roi_at,
            "risk.roi",
            "a short's target 100% or more below the entry would be a price of 0 or less: use less than 100".into(),
        ));
    }
    let stop_from = one_of(
        ctx,
        "risk.stop_from",
        r.stop_from,
        &[("signal", StopFrom::Signal), ("fill", StopFrom::Fill)],
        "\"signal\" (the signal bar's close) or \"fill\" (the trade's fill price)",
    )?;
    if stop_from == StopFrom::Fill && stop_loss_pct.is_none() && take_profit_pct.is_none() {
        return Err(ctx.error(
            stop_from_at,
            "risk.stop_from",
            "\"fill\" measures stop_loss_pct and take_profit_pct from the fill, and there is neither: add one".into(),
        ));
    }
    if let (Some((_, byte)), Some(_)) = (units, fractional_unit) {
        return Err(ctx.error(
            byte,
            "risk.units",
            "units counts whole units of the asset; with fractional_unit size entries by `size` or `risk_pct`".into(),
        ));
    }

    let spans: Vec<(&str, usize)> = [
        ("stop_loss_long", &r.stop_loss_long),
        ("stop_loss_short", &r.stop_loss_short),
        ("take_profit_long", &r.take_profit_long),
        ("take_profit_short", &r.take_profit_short),
        ("trailing_stop_long", &r.trailing_stop_long),
        ("trailing_stop_short", &r.trailing_stop_short),
    ]
    .into_iter()
    .filter_map(|(n, v)| v.as_ref().map(|v| (n, v.span().start)))
    .collect();
    let span_of = |n: &str| spans.iter().find(|(f, _)| *f == n).map_or(0, |(_, b)| *b);
    let p = |name: &str, v| price(ctx, scope, "risk", name, v);
    let risk = Risk {
        sizing,
        stop_loss_pct: stop_loss_pct.map(|(x, _)| x),
        take_profit_pct: take_profit_pct.map(|(x, _)| x),
        stop_loss_long: p("stop_loss_long", r.stop_loss_long)?,
        stop_loss_short: p("stop_loss_short", r.stop_loss_short)?,
        take_profit_long: p("take_profit_long", r.take_profit_long)?,
        take_profit_short: p("take_profit_short", r.take_profit_short)?,
        trailing_stop_pct: trailing_stop_pct.map(|(x, _)| x),
        trailing_stop_long: p("trailing_stop_long", r.trailing_stop_long)?,
        trailing_stop_short: p("trailing_stop_short", r.trailing_stop_short)?,
        #[expect(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "checked whole and within u32 above"
        )]
        max_bars: max_bars.map(|(x, _)| x as u32),
        fractional_unit: fractional_unit.map(|(x, _)| x),
        max_size: max_size.map(|(x, _)| x),
        trailing_offset_pct: trailing_offset_pct.map(|(x, _)| x),
        trailing_from,
        roi,
        roi_unit,
        stop_from,
        #[expect(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "checked whole and from 1 to 1000 above"
        )]
        pyramiding: pyramiding.map(|(x, _)| x as u32).filter(|n| *n > 1),
    };

    // Two ways to say one thing are refused rather than one silently winning.
    for (pct, pct_name, long, short, what) in [
        (
            stop_loss_pct,
            "stop_loss_pct",
            &risk.stop_loss_long,
            &risk.stop_loss_short,
            "stop",
        ),
        (
            take_profit_pct,
            "take_profit_pct",
            &risk.take_profit_long,
            &risk.take_profit_short,
            "target",
        ),
        (
            trailing_stop_pct,
            "trailing_stop_pct",
            &risk.trailing_stop_long,
            &risk.trailing_stop_short,
            "trailing stop",
        ),
    ] {
        if pct.is_some() {
            for (e, side) in [(long, "long"), (short, "short")] {
                if e.is_some() {
                    let field = format!("{}_{side}", pct_name.trim_end_matches("_pct"));
                    return Err(ctx.error(
                        span_of(&field),
                        &format!("risk.{field}"),
                        format!(
                            "two {what}s for {side}s: give `{pct_name}` or `{field}`, not both"
                        ),
                    ));
                }
            }
        }
    }
    // A level on the wrong side of the price the entry is measured from can never be placed.
    for (field, e, want) in [
        ("stop_loss_long", &risk.stop_loss_long, -1),
        ("take_profit_long", &risk.take_profit_long, 1),
        ("stop_loss_short", &risk.stop_loss_short, 1),
        ("take_profit_short", &risk.take_profit_short, -1),
    ] {
        if let Some(e) = e
            && let Some(side) = side_of_close(e, indicators)
            && side != want
        {
            let (which, dir) = if want < 0 {
                ("below", "under")
            } else {
                ("above", "over")
            };
            return Err(StrategyError {
                pos: Some(0),
                expression: Some(e.to_string()),
                ..ctx.error(
                    span_of(field),
                    &format!("risk.{field}"),
                    format!("`{e}` is not {which} the entry's close, so backtesting.py would refuse every order: put the level {dir} `close`"),
                )
            });
        }
    }
    if let Sizing::RiskPct(_) = risk.sizing {
        for (rule, stop_pct, stop_expr, side) in [
            (
                &rules.entry_long,
                risk.stop_loss_pct,
                &risk.stop_loss_long,
                "long",
            ),
            (
                &rules.entry_short,
                risk.stop_loss_pct,
                &risk.stop_loss_short,
                "short",
            ),
        ] {
            if rule.is_some() && stop_pct.is_none() && stop_expr.is_none() {
                return Err(ctx.error(
                    risk_pct.map_or(0, |(_, b)| b),
                    "risk.risk_pct",
                    format!("risk_pct sizes each entry by its distance to the stop, but {side} entries have no stop: add `stop_loss_pct` or `stop_loss_{side}`"),
                ));
            }
        }
    }
    Ok(risk)
}

/// A TOML string for an expression.
pub(crate) fn quoted(e: &Expr) -> String {
    toml::Value::String(e.to_string()).to_string()
}

/// The `[risk]` section's text.
pub(crate) fn print_risk(out: &mut String, r: &Risk) {
    use std::fmt::Write;
    out.push_str("\n[risk]\n");
    // Writing into a String cannot fail.
    match r.sizing {
        Sizing::Fraction(f) => {
            let _ = writeln!(out, "size = {}", float(f));
        }
        Sizing::Units(u) => {
            let _ = writeln!(out, "units = {u:.0}");
        }
        Sizing::RiskPct(p) => {
            let _ = writeln!(out, "risk_pct = {}", float(p));
        }
    }
    for (name, v) in [
        ("stop_loss_pct", r.stop_loss_pct),
        ("take_profit_pct", r.take_profit_pct),
    ] {
        if let Some(v) = v {
            let _ = writeln!(out, "{name} = {}", float(v));
        }
    }
    for (name, e) in [
        ("stop_loss_long", &r.stop_loss_long),
        ("stop_loss_short", &r.stop_loss_short),
        ("take_profit_long", &r.take_profit_long),
        ("take_profit_short", &r.take_profit_short),
    ] {
        if let Some(e) = e {
            let _ = writeln!(out, "{name} = {}", quoted(e));
        }
    }
    if let Some(v) = r.trailing_stop_pct {
        let _ = writeln!(out, "trailing_stop_pct = {}", float(v));
    }
    if r.trailing_from != TrailFrom::Close {
        let _ = writeln!(out, "trailing_from = \"{}\"", r.trailing_from.name());
    }
    if let Some(v) = r.trailing_offset_pct {
        let _ = writeln!(out, "trailing_offset_pct = {}", float(v));
    }
    if let Some(v) = r.max_size {
        let _ = writeln!(out, "max_size = {}", float(v));
    }
    if !r.roi.is_empty() {
        let pairs: Vec<String> = r
            .roi
            .iter()
            .map(|(k, v)| format!("[{k:.0}, {}]", float(*v)))
            .collect();
        let _ = writeln!(out, "roi = [{}]", pairs.join(", "));
    }
    if r.roi_unit == RoiUnit::Minutes {
        let _ = writeln!(out, "roi_unit = \"minutes\"");
    }
    if r.stop_from == StopFrom::Fill {
        let _ = writeln!(out, "stop_from = \"fill\"");
    }
    if let Some(n) = r.pyramiding {
        let _ = writeln!(out, "pyramiding = {n}");
    }
    for (name, e) in [
        ("trailing_stop_long", &r.trailing_stop_long),
        ("trailing_stop_short", &r.trailing_stop_short),
    ] {
        if let Some(e) = e {
            let _ = writeln!(out, "{name} = {}", quoted(e));
        }
    }
    if let Some(n) = r.max_bars {
        let _ = writeln!(out, "max_bars = {n}");
    }
    if let Some(u) = r.fractional_unit {
        let _ = writeln!(out, "fractional_unit = {}", float(u));
    }
}

/// A TOML float that reads back to the same f64 (always with a `.` or an exponent).
pub(crate) fn float(v: f64) -> String {
    let s = format!("{v:?}");
    if s.contains(['.', 'e', 'E']) {
        s
    } else {
        format!("{s}.0")
    }
}
