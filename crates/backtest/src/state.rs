//! Expressions that read position state (`position entry_price bars_in_trade open_pnl_pct
//! at_entry(…)`, DESIGN.md §5.2 and §5.4). The run decides those values, so such an expression
//! is compiled into a small tree evaluated bar by bar; every part that does not read position
//! state is still a whole series computed once. Scalar semantics are numpy's on one bar: a
//! comparison with a missing value is false, arithmetic propagates NaN, `if min max abs` are
//! `where minimum maximum abs`.

use std::sync::Arc;

use strategy::{BinOp, Expr, ExprKind, Func, uses_position};

use crate::eval::{EvalError, Evaluator, Series};
use crate::functions::extreme_of;

/// Position state at one bar's close. Missing values are NaN (flat).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct PosState {
    /// 1 long, -1 short, 0 flat.
    pub(crate) position: f64,
    /// The open trade's fill price.
    pub(crate) entry_price: f64,
    /// Bars since the entry bar.
    pub(crate) bars_in_trade: f64,
    /// The open trade's profit in percent of its entry price, before commission.
    pub(crate) open_pnl_pct: f64,
    /// The bar whose close placed the (first) open trade's entry order, for `at_entry`.
    pub(crate) placed: Option<usize>,
}

impl PosState {
    /// Flat.
    pub(crate) const FLAT: PosState = PosState {
        position: 0.0,
        entry_price: f64::NAN,
        bars_in_trade: f64::NAN,
        open_pnl_pct: f64::NAN,
        placed: None,
    };
}

#[derive(Debug, Clone)]
pub(crate) enum Node {
    Num(Arc<Vec<f64>>),
    Bool(Arc<Vec<bool>>),
    Const(f64),
    Position,
    EntryPrice,
    BarsInTrade,
    OpenPnlPct,
    /// `at_entry(x)`: `x` on the bar that placed the entry.
    AtEntry(Arc<Vec<f64>>),
    Neg(Box<Node>),
    Not(Box<Node>),
    Bin(BinOp, Box<Node>, Box<Node>),
    Abs(Box<Node>),
    /// `min` (false) or `max` (true).
    Extreme(bool, Box<Node>, Box<Node>),
    If(Box<Node>, Box<Node>, Box<Node>),
}

impl Node {
    fn num(&self, i: usize, st: &PosState) -> f64 {
        match self {
            Node::Num(v) => v[i],
            Node::Bool(b) => f64::from(u8::from(b[i])),
            Node::Const(c) => *c,
            Node::Position => st.position,
            Node::EntryPrice => st.entry_price,
            Node::BarsInTrade => st.bars_in_trade,
            Node::OpenPnlPct => st.open_pnl_pct,
            Node::AtEntry(v) => st
                .placed
                .and_then(|at| v.get(at).copied())
                .unwrap_or(f64::NAN),
            Node::Neg(x) => -x.num(i, st),
            Node::Abs(x) => x.num(i, st).abs(),
            Node::Extreme(max, a, b) => extreme_of(a.num(i, st), b.num(i, st), *max),
            Node::If(c, a, b) => {
                if c.truth(i, st) {
                    a.num(i, st)
                } else {
                    b.num(i, st)
                }
            }
            Node::Not(_) => f64::from(u8::from(self.truth(i, st))),
            Node::Bin(op, l, r) => match op {
                BinOp::Add => l.num(i, st) + r.num(i, st),
                BinOp::Sub => l.num(i, st) - r.num(i, st),
                BinOp::Mul => l.num(i, st) * r.num(i, st),
                BinOp::Div => l.num(i, st) / r.num(i, st),
                _ => f64::from(u8::from(self.truth(i, st))),
            },
        }
    }

    #[expect(
        clippy::float_cmp,
        reason = "`==` and `!=` in the language are exact, as numpy's are"
    )]
    fn truth(&self, i: usize, st: &PosState) -> bool {
        match self {
            Node::Bool(b) => b[i],
            Node::Not(x) => !x.truth(i, st),
            Node::Bin(op, l, r) => match op {
                BinOp::And => l.truth(i, st) && r.truth(i, st),
                BinOp::Or => l.truth(i, st) || r.truth(i, st),
                BinOp::Lt => l.num(i, st) < r.num(i, st),
                BinOp::Le => l.num(i, st) <= r.num(i, st),
                BinOp::Gt => l.num(i, st) > r.num(i, st),
                BinOp::Ge => l.num(i, st) >= r.num(i, st),
                BinOp::Eq => l.num(i, st) == r.num(i, st),
                BinOp::Ne => {
                    let (a, b) = (l.num(i, st), r.num(i, st));
                    !a.is_nan() && !b.is_nan() && a != b
                }
                _ => self.num(i, st) != 0.0,
            },
            other => other.num(i, st) != 0.0,
        }
    }
}

fn compile(ev: &mut Evaluator<'_>, e: &Expr) -> Result<Node, EvalError> {
    if uses_position(e).is_none() {
        if let ExprKind::Num(v) = e.kind {
            return Ok(Node::Const(v));
        }
        return Ok(match ev.eval(e)? {
            Series::Num(v) => Node::Num(v),
            Series::Bool(b) => Node::Bool(b),
        });
    }
    Ok(match &e.kind {
        ExprKind::Name(n) => match n.as_str() {
            "position" => Node::Position,
            "entry_price" => Node::EntryPrice,
            "bars_in_trade" => Node::BarsInTrade,
            _ => Node::OpenPnlPct,
        },
        ExprKind::Neg(x) => Node::Neg(Box::new(compile(ev, x)?)),
        ExprKind::Not(x) => Node::Not(Box::new(compile(ev, x)?)),
        ExprKind::Binary(op, l, r) => {
            Node::Bin(*op, Box::new(compile(ev, l)?), Box::new(compile(ev, r)?))
        }
        ExprKind::AtEntry(x) => match ev.eval(x)? {
            Series::Num(v) => Node::AtEntry(v),
            Series::Bool(_) => {
                return Err(EvalError(format!("`{e}`: at_entry takes a number")));
            }
        },
        ExprKind::Call { func, args, .. } if func.is_elementwise() => {
            let mut a = Vec::with_capacity(args.len());
            for x in args {
                a.push(Box::new(compile(ev, x)?));
            }
            let mut a = a.into_iter();
            match (func, a.next(), a.next(), a.next()) {
                (Func::If, Some(c), Some(x), Some(y)) => Node::If(c, x, y),
                (Func::Min | Func::Max, Some(x), Some(y), None) => {
                    Node::Extreme(*func == Func::Max, x, y)
                }
                (Func::Abs, Some(x), None, None) => Node::Abs(x),
                _ => return Err(EvalError(format!("`{e}`: wrong number of arguments"))),
            }
        }
        ExprKind::Num(_)
        | ExprKind::Call { .. }
        | ExprKind::Back(..)
        | ExprKind::Tf(..)
        | ExprKind::On(..) => {
            return Err(EvalError(format!(
                "`{e}` reads position state inside a function or a lookback"
            )));
        }
    })
}

/// A rule: a whole condition series, or a tree read bar by bar.
#[derive(Debug, Clone)]
pub(crate) enum Rule {
    /// Known for every bar before the run.
    Series(Arc<Vec<bool>>),
    /// Reads position state.
    Dynamic(Node),
}

impl Rule {
    /// The rule's expression, or never.
    pub(crate) fn new(
        ev: &mut Evaluator<'_>,
        e: Option<&Expr>,
        len: usize,
    ) -> Result<Rule, EvalError> {
        let Some(e) = e else {
            return Ok(Rule::Series(Arc::new(vec![false; len])));
        };
        match compile(ev, e)? {
            Node::Bool(b) => Ok(Rule::Series(b)),
            Node::Num(_) | Node::Const(_) => {
                Err(EvalError(format!("rule `{e}` is not a condition")))
            }
            n => Ok(Rule::Dynamic(n)),
        }
    }

    pub(crate) fn at(&self, i: usize, st: &PosState) -> bool {
        match self {
            Rule::Series(b) => b[i],
            Rule::Dynamic(n) => n.truth(i, st),
        }
    }

    /// The whole series, when the rule does not read position state.
    pub(crate) fn series(&self) -> Option<&[bool]> {
        match self {
            Rule::Series(b) => Some(b),
            Rule::Dynamic(_) => None,
        }
    }
}

/// A price expression (stop, target, trailing level, order price).
#[derive(Debug, Clone)]
pub(crate) struct Level(Node);

impl Level {
    pub(crate) fn new(
        ev: &mut Evaluator<'_>,
        e: Option<&Expr>,
    ) -> Result<Option<Level>, EvalError> {
        e.map(|e| compile(ev, e).map(Level)).transpose()
    }

    pub(crate) fn at(&self, i: usize, st: &PosState) -> f64 {
        self.0.num(i, st)
    }

    /// Whether it reads position state (then a stop or target is valued at every close of
    /// the trade, DESIGN.md §5.4).
    pub(crate) fn reads_position(&self) -> bool {
        !matches!(self.0, Node::Num(_) | Node::Const(_) | Node::Bool(_))
    }
}
