//! Type checking: numbers and booleans in the right places, known names, function arity and
//! TA-Lib's parameter ranges.

use crate::expr::{BinOp, Expr, ExprKind, Span};
use crate::func::{Arg, Func, MAX_PERIOD, Timeframe};

/// The type of an expression: a numeric series or a boolean series.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Type {
    /// Numbers.
    Number,
    /// Conditions.
    Bool,
}

impl Type {
    fn article(self) -> &'static str {
        match self {
            Type::Number => "a number",
            Type::Bool => "a condition (true/false)",
        }
    }
}

/// What a name stands for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Binding {
    /// `open high low close volume`.
    Price,
    /// A parameter and its value.
    Param(f64),
    /// An indicator of the given type.
    Indicator(Type),
    /// Position state (`position entry_price bars_in_trade open_pnl_pct`): a number per bar that
    /// the run itself decides, so it is read bar by bar and cannot feed a series function.
    Position,
}

/// Resolves names.
pub trait Scope {
    /// What `name` stands for, if anything.
    fn lookup(&self, name: &str) -> Option<Binding>;
    /// Every name in scope (for suggestions).
    fn names(&self) -> Vec<String>;
}

/// A type error: where and what.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("at character {}: {message}", span.start + 1)]
pub struct TypeError {
    /// Where.
    pub span: Span,
    /// What is wrong and what to write instead.
    pub message: String,
}

fn err(span: Span, message: String) -> TypeError {
    TypeError { span, message }
}

/// Whether `name` is one of the bar's own series: its prices and volume, or a field of its
/// time.
pub fn is_price(name: &str) -> bool {
    matches!(name, "open" | "high" | "low" | "close" | "volume") || is_time_field(name)
}

/// The bar time fields (DESIGN.md §5.2), from each bar's time as written in the data file;
/// `weekday` counts from Monday = 0.
pub const TIME_FIELDS: [&str; 6] = ["hour", "minute", "weekday", "month", "day", "year"];

/// Whether `name` is a bar time field.
pub fn is_time_field(name: &str) -> bool {
    TIME_FIELDS.contains(&name)
}

/// The position-state names (DESIGN.md §5.2): `position` (1 long, -1 short, 0 flat),
/// `entry_price`, `bars_in_trade` and `open_pnl_pct` (missing while flat).
pub const POSITION_NAMES: [&str; 4] = ["position", "entry_price", "bars_in_trade", "open_pnl_pct"];

/// Whether `name` is position state.
pub fn is_position(name: &str) -> bool {
    POSITION_NAMES.contains(&name)
}

/// Where `e` first reads position state (a position name or `at_entry`), if it does.
pub fn uses_position(e: &Expr) -> Option<Span> {
    match &e.kind {
        ExprKind::Num(_) => None,
        ExprKind::Name(n) => is_position(n).then_some(e.span),
        ExprKind::AtEntry(_) => Some(e.span),
        ExprKind::Neg(x)
        | ExprKind::Not(x)
        | ExprKind::Back(x, _)
        | ExprKind::Tf(_, x)
        | ExprKind::On(_, x) => uses_position(x),
        ExprKind::Binary(_, l, r) => uses_position(l).or_else(|| uses_position(r)),
        ExprKind::Call { args, .. } => args.iter().find_map(uses_position),
    }
}

/// The value of a constant argument: a literal, a param, or a negated one.
pub fn constant(e: &Expr, scope: &dyn Scope) -> Option<f64> {
    match &e.kind {
        ExprKind::Num(v) => Some(*v),
        ExprKind::Name(n) => match scope.lookup(n) {
            Some(Binding::Param(v)) => Some(v),
            _ => None,
        },
        ExprKind::Neg(inner) => constant(inner, scope).map(|v| -v),
        _ => None,
    }
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

fn unknown_name(name: &str, span: Span, scope: &dyn Scope) -> TypeError {
    if is_position(name) {
        return err(
            span,
            format!(
                "`{name}` is position state, known per trade while the backtest runs, not a series: \
                 use it in [rules], [risk] or [orders], not in [indicators]"
            ),
        );
    }
    if let Some(f) = Func::from_name(name) {
        return err(
            span,
            format!("`{name}` is a function: call it as {}", f.signature()),
        );
    }
    let mut all = scope.names();
    all.extend(["open", "high", "low", "close", "volume"].map(str::to_owned));
    all.extend(TIME_FIELDS.map(str::to_owned));
    let close = all
        .iter()
        .filter(|n| edit_distance(n, name) <= 2)
        .min_by_key(|n| edit_distance(n, name));
    let hint = close.map_or_else(
        || {
            " (use open, high, low, close, volume, a [params] name or an [indicators] name)"
                .to_owned()
        },
        |n| format!(" (did you mean `{n}`?)"),
    );
    err(span, format!("unknown name `{name}`{hint}"))
}

fn expect(e: &Expr, want: Type, scope: &dyn Scope, what: &str) -> Result<(), TypeError> {
    let got = check(e, scope)?;
    if got == want {
        Ok(())
    } else {
        Err(err(
            e.span,
            format!(
                "{what} must be {}, but `{e}` is {}",
                want.article(),
                got.article()
            ),
        ))
    }
}

fn check_call(
    func: Func,
    args: &[Expr],
    span: Span,
    needs_field: bool,
    scope: &dyn Scope,
) -> Result<Type, TypeError> {
    let spec = func.args();
    if args.len() != spec.len() {
        return Err(err(
            span,
            format!(
                "{func} takes {} argument{} — {} — but got {}",
                spec.len(),
                if spec.len() == 1 { "" } else { "s" },
                func.signature(),
                args.len()
            ),
        ));
    }
    for (a, (name, kind)) in args.iter().zip(spec) {
        // Element-wise functions are valued bar by bar like arithmetic (DESIGN.md §5.4);
        // the others look back over bars.
        if let Some(at) = uses_position(a).filter(|_| !func.is_elementwise()) {
            return Err(err(
                at,
                format!(
                    "{func} looks back over a whole series computed before the run, so its \
                     `{name}` cannot read position state: compare position state outside the call \
                     (only if, min, max and abs may take it)"
                ),
            ));
        }
        match kind {
            Arg::Series => expect(a, Type::Number, scope, &format!("{func}'s `{name}`"))?,
            Arg::Period { min } => {
                let Some(v) = constant(a, scope) else {
                    return Err(err(
                        a.span,
                        format!(
                            "{func}'s `{name}` must be a whole number or a [params] name, not `{a}`"
                        ),
                    ));
                };
                if v.fract() != 0.0 || v < f64::from(*min) || v > f64::from(MAX_PERIOD) {
                    return Err(err(
                        a.span,
                        format!(
                            "{func}'s `{name}` must be a whole number from {min} to {MAX_PERIOD}, got {v}"
                        ),
                    ));
                }
            }
            Arg::Constant => {
                let Some(v) = constant(a, scope) else {
                    return Err(err(
                        a.span,
                        format!("{func}'s `{name}` must be a number or a [params] name, not `{a}`"),
                    ));
                };
                if func == Func::Sar && !(v.is_finite() && v >= 0.0) {
                    return Err(err(
                        a.span,
                        format!(
                            "sar's `{name}` must be a number of at least 0, like 0.02, got {v}"
                        ),
                    ));
                }
            }
            Arg::Cond => expect(a, Type::Bool, scope, &format!("{func}'s `{name}`"))?,
        }
    }
    if let Func::Macd = func
        && let (Some(fast), Some(slow)) = (constant(&args[1], scope), constant(&args[2], scope))
        && fast >= slow
    {
        return Err(err(
            args[1].span,
            format!("macd's fast period ({fast}) must be shorter than its slow period ({slow})"),
        ));
    }
    if needs_field {
        let names: Vec<&str> = func.fields().iter().map(|f| f.name()).collect();
        return Err(err(
            span,
            format!(
                "{func} has several outputs: add one of .{}",
                names.join(", .")
            ),
        ));
    }
    Ok(if func.is_boolean() {
        Type::Bool
    } else {
        Type::Number
    })
}

/// The type of `e`, or the first error in it.
///
/// # Errors
/// [`TypeError`] naming the place and the problem.
pub fn check(e: &Expr, scope: &dyn Scope) -> Result<Type, TypeError> {
    match &e.kind {
        ExprKind::Num(_) => Ok(Type::Number),
        ExprKind::Name(n) => match scope.lookup(n) {
            Some(Binding::Price | Binding::Param(_) | Binding::Position) => Ok(Type::Number),
            Some(Binding::Indicator(t)) => Ok(t),
            None => Err(unknown_name(n, e.span, scope)),
        },
        ExprKind::Neg(inner) => {
            expect(inner, Type::Number, scope, "the operand of `-`")?;
            Ok(Type::Number)
        }
        ExprKind::Not(inner) => {
            expect(inner, Type::Bool, scope, "the operand of `not`")?;
            Ok(Type::Bool)
        }
        ExprKind::Binary(op, l, r) => {
            let (operand, result) = match op {
                BinOp::And | BinOp::Or => (Type::Bool, Type::Bool),
                BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div => (Type::Number, Type::Number),
                _ => (Type::Number, Type::Bool),
            };
            let what = format!("each side of `{}`", op.symbol());
            expect(l, operand, scope, &what)?;
            expect(r, operand, scope, &what)?;
            Ok(result)
        }
        ExprKind::Call { func, args, field } => check_call(
            *func,
            args,
            e.span,
            field.is_none() && !func.fields().is_empty(),
            scope,
        ),
        ExprKind::Tf(rule, inner) => check_tf(*rule, inner, scope),
        ExprKind::On(symbol, inner) => check_on(symbol, inner, scope),
        ExprKind::AtEntry(inner) => check_at_entry(e.span, inner, scope),
        ExprKind::Back(inner, _) => {
            if let Some(at) = uses_position(inner) {
                return Err(err(
                    at,
                    "`[n]` looks back over a series, and position state is not one: \
                     keep the lookback off it"
                        .to_owned(),
                ));
            }
            check(inner, scope)
        }
    }
}

/// Every name an expression uses.
pub fn names(e: &Expr, out: &mut Vec<String>) {
    match &e.kind {
        ExprKind::Num(_) => {}
        ExprKind::Name(n) => out.push(n.clone()),
        ExprKind::Neg(x)
        | ExprKind::Not(x)
        | ExprKind::Back(x, _)
        | ExprKind::Tf(_, x)
        | ExprKind::On(_, x)
        | ExprKind::AtEntry(x) => names(x, out),
        ExprKind::Binary(_, l, r) => {
            names(l, out);
            names(r, out);
        }
        ExprKind::Call { args, .. } => args.iter().for_each(|a| names(a, out)),
    }
}

/// Where an inner expression runs: on resampled bars (`tf`) or on another symbol's (`on`).
#[derive(Clone, Copy)]
enum Inner<'a> {
    Tf(Timeframe),
    On(&'a str),
}

/// The inner expression of `tf` or `on` runs on other bars, computed before the run: prices,
/// params and functions only (and `tf` inside `on`); no position state, no `[indicators]`
/// names (series of the data's own bars), no second `tf` or `on`.
fn walk_inner(e: &Expr, inner: Inner<'_>, scope: &dyn Scope) -> Result<(), TypeError> {
    // What it is, what it runs on, and what an `[indicators]` name is a series of.
    let (what, computes, bars, own) = match inner {
        Inner::Tf(rule) => (
            format!("tf(\"{}\", …)", rule.name()),
            "tf computes a series".to_owned(),
            "the resampled bars".to_owned(),
            "the data's own bars",
        ),
        Inner::On(symbol) => (
            format!("on(\"{symbol}\", …)"),
            format!("on computes a series of {symbol}'s bars"),
            format!("{symbol}'s bars"),
            "this symbol's bars",
        ),
    };
    match (&e.kind, inner) {
        (ExprKind::Name(n), _) if is_position(n) => Err(err(
            e.span,
            format!("{computes} before the run, so it cannot read position state `{n}`"),
        )),
        (ExprKind::AtEntry(_), _) => Err(err(
            e.span,
            format!("{computes} before the run, so it cannot read position state `at_entry`"),
        )),
        (ExprKind::Name(n), _) => match scope.lookup(n) {
            Some(Binding::Indicator(_)) => Err(err(
                e.span,
                format!(
                    "`{n}` is a series of {own}; inside {what} write its expression out, as it runs on {bars}"
                ),
            )),
            _ => Ok(()),
        },
        (ExprKind::Tf(..), Inner::Tf(_)) => {
            Err(err(e.span, "tf inside tf: use one timeframe".to_owned()))
        }
        (ExprKind::On(..), Inner::Tf(_)) => Err(err(
            e.span,
            "on inside tf: write tf inside on, as in on(\"SPY\", tf(\"W\", close))".to_owned(),
        )),
        (ExprKind::On(..), Inner::On(_)) => Err(err(
            e.span,
            "on inside on: name one symbol per on()".to_owned(),
        )),
        (ExprKind::Num(_), _) => Ok(()),
        (ExprKind::Neg(x) | ExprKind::Not(x) | ExprKind::Back(x, _) | ExprKind::Tf(_, x), _) => {
            walk_inner(x, inner, scope)
        }
        (ExprKind::Binary(_, l, r), _) => {
            walk_inner(l, inner, scope)?;
            walk_inner(r, inner, scope)
        }
        (ExprKind::Call { args, .. }, _) => {
            args.iter().try_for_each(|a| walk_inner(a, inner, scope))
        }
    }
}

/// `tf(rule, inner)`: a number computed on resampled bars (see [`walk_inner`]).
fn check_tf(rule: Timeframe, inner: &Expr, scope: &dyn Scope) -> Result<Type, TypeError> {
    walk_inner(inner, Inner::Tf(rule), scope)?;
    expect(inner, Type::Number, scope, "tf's expression")?;
    Ok(Type::Number)
}

/// `at_entry(inner)`: position state where position state may stand, of a number that does
/// not read it.
fn check_at_entry(span: Span, inner: &Expr, scope: &dyn Scope) -> Result<Type, TypeError> {
    if scope.lookup("position") != Some(Binding::Position) {
        return Err(err(
            span,
            "`at_entry(…)` is position state, known per trade while the backtest runs, not a \
             series: use it in [rules], [risk] or [orders], not in [indicators]"
                .to_owned(),
        ));
    }
    if let Some(at) = uses_position(inner) {
        return Err(err(
            at,
            "at_entry values its expression on the bar that placed the entry, before the trade: \
             it cannot read position state"
                .to_owned(),
        ));
    }
    expect(inner, Type::Number, scope, "at_entry's expression")?;
    Ok(Type::Number)
}

/// `on(symbol, inner)`: `inner` on another symbol's bars (see [`walk_inner`]); its type is
/// the inner expression's.
fn check_on(symbol: &str, inner: &Expr, scope: &dyn Scope) -> Result<Type, TypeError> {
    walk_inner(inner, Inner::On(symbol), scope)?;
    check(inner, scope)
}
