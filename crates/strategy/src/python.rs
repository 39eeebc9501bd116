//! Export to a backtesting.py `Strategy` (DESIGN.md §4 `--python`): one self-contained file that
//! needs only numpy, pandas and backtesting.py (no TA-Lib), and reproduces botforge's engine
//! trade for trade under backtesting.py 0.6.6.
//!
//! The file computes every series once in `init()` as whole numpy arrays (our indicators are
//! causal, so this equals computing them bar by bar) and registers the same series with `self.I`
//! that botforge counts for the warm-up: each `[indicators]` entry and each function call inside
//! it and inside the rules. `next()` then applies the rules exactly as the engine does: exits first, then
//! entries, no pyramiding, an opposite entry closes first, stops and targets from the signal
//! bar's close.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;

use crate::check::uses_position;
use crate::expr::{BinOp, Expr, ExprKind};
use crate::file::Strategy;
use crate::func::{Field, Func};
use crate::orders::Fill;

/// TA-Lib's indicators and the language's operations, in plain Python.
mod next;

use next::{Attrs, enter_method, next_method, settings};

/// The runtime every export carries, in three files so none grows past a reading: TA-Lib's
/// indicators, its candlestick patterns, and the language's other operations.
const RUNTIME: &str = concat!(
    include_str!("python_runtime/indicators.py"),
    include_str!("python_runtime/candles.py"),
    include_str!("python_runtime/operations.py")
);

/// Python's keywords, which cannot be attribute or class names.
const KEYWORDS: [&str; 35] = [
    "False", "None", "True", "and", "as", "assert", "async", "await", "break", "class", "continue",
    "def", "del", "elif", "else", "except", "finally", "for", "from", "global", "if", "import",
    "in", "is", "lambda", "nonlocal", "not", "or", "pass", "raise", "return", "try", "while",
    "with", "yield",
];

/// What a backtesting.py `Strategy` subclass already defines (a param must not shadow it).
const STRATEGY_ATTRS: [&str; 12] = [
    "I",
    "buy",
    "sell",
    "equity",
    "data",
    "position",
    "orders",
    "trades",
    "closed_trades",
    "init",
    "next",
    "rules",
];

/// Module-level names of the exported file (the class must not shadow them).
const MODULE_NAMES: [&str; 62] = [
    "engulfing",
    "hammer",
    "shooting_star",
    "doji",
    "harami",
    "morning_star",
    "evening_star",
    "three_white_soldiers",
    "three_black_crows",
    "supertrend",
    "_vwap",
    "tsum",
    "stddev",
    "roc",
    "mom",
    "cmo",
    "linearreg",
    "cci",
    "willr",
    "mfi",
    "obv",
    "ad",
    "adosc",
    "natr",
    "trange",
    "plus_di",
    "minus_di",
    "sar",
    "aroon",
    "_count",
    "_bars_since",
    "_valuewhen",
    "_tf",
    "_load",
    "run",
    "STRATEGY",
    "FRACTIONAL_UNIT",
    "TRADE_ON_CLOSE",
    "_state",
    "_price_ok",
    "np",
    "pd",
    "sys",
    "math",
    "argparse",
    "Backtest",
    "Strategy",
    "sma",
    "ema",
    "wma",
    "rsi",
    "highest",
    "lowest",
    "macd",
    "bbands",
    "atr",
    "stoch",
    "adx",
    "main",
    "DESCRIPTION",
    "BOTFORGE_STRATEGY",
    "TOML",
];

/// The series type of an expression, as the checker would infer it.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Ty {
    Num,
    Bool,
}

/// Makes a Python identifier that is not a keyword and not in `taken`.
fn py_ident(name: &str, taken: &HashSet<String>) -> String {
    let mut s: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    if s.is_empty() || s.starts_with(|c: char| c.is_ascii_digit()) || s.starts_with("__") {
        s.insert_str(0, "p_");
    }
    while KEYWORDS.contains(&s.as_str()) || taken.contains(&s) {
        s.push('_');
    }
    s
}

/// A Python string literal for any text.
fn py_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A float literal Python reads back to the same value.
fn py_float(v: f64) -> String {
    format!("{v:?}")
}

struct Emitter<'a> {
    /// Param name → class attribute.
    params: HashMap<&'a str, String>,
    /// Indicator name → local variable in `init`.
    locals: HashMap<&'a str, String>,
    types: HashMap<&'a str, Ty>,
}

impl Emitter<'_> {
    fn ty(&self, e: &Expr) -> Ty {
        match &e.kind {
            ExprKind::Num(_) | ExprKind::Neg(_) | ExprKind::Tf(..) | ExprKind::AtEntry(_) => {
                Ty::Num
            }
            ExprKind::Not(_) => Ty::Bool,
            ExprKind::Name(n) => self.types.get(n.as_str()).copied().unwrap_or(Ty::Num),
            ExprKind::Binary(op, ..) => match op {
                BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div => Ty::Num,
                _ => Ty::Bool,
            },
            ExprKind::Call { func, .. } => {
                if func.is_boolean() {
                    Ty::Bool
                } else {
                    Ty::Num
                }
            }
            ExprKind::Back(x, _) | ExprKind::On(_, x) => self.ty(x),
        }
    }

    /// A constant argument (period or `k`) as a Python scalar expression over `self`'s params,
    /// so `Backtest.optimize` can vary them.
    fn scalar(&self, e: &Expr) -> String {
        match &e.kind {
            ExprKind::Num(v) => py_float(*v),
            ExprKind::Name(n) => match self.params.get(n.as_str()) {
                Some(attr) => format!("self.{attr}"),
                // The checker only lets params and literals be constants.
                None => "math.nan".to_owned(),
            },
            ExprKind::Neg(x) => format!("(-{})", self.scalar(x)),
            ExprKind::Binary(op, l, r) => {
                format!("({} {} {})", self.scalar(l), op_text(*op), self.scalar(r))
            }
            _ => "math.nan".to_owned(),
        }
    }

    fn period(&self, e: &Expr) -> String {
        match &e.kind {
            #[expect(
                clippy::cast_possible_truncation,
                reason = "periods are whole numbers checked to be at most MAX_PERIOD"
            )]
            ExprKind::Num(v) if v.fract() == 0.0 && v.abs() <= 1e9 => format!("{}", *v as i64),
            _ => format!("int({})", self.scalar(e)),
        }
    }

    /// A whole-series expression. With `register`, every function call becomes a `self.I`
    /// (which is how backtesting.py learns the warm-up).
    fn series(&self, e: &Expr, register: bool) -> String {
        match &e.kind {
            ExprKind::Num(v) => format!("_full({})", py_float(*v)),
            ExprKind::Name(n) => match n.as_str() {
                "open" => "o".to_owned(),
                "high" => "h".to_owned(),
                "low" => "l".to_owned(),
                "close" => "c".to_owned(),
                "volume" => "v".to_owned(),
                "hour" | "minute" | "weekday" | "month" | "day" | "year" => format!("_{n}"),
                other => {
                    if let Some(attr) = self.params.get(other) {
                        format!("_full(self.{attr})")
                    } else if let Some(local) = self.locals.get(other) {
                        local.clone()
                    } else {
                        format!("_unknown_name_{}", py_ident(other, &HashSet::new()))
                    }
                }
            },
            ExprKind::Neg(x) => format!("(-{})", self.series(x, register)),
            ExprKind::Not(x) => format!("(~{})", self.series(x, register)),
            ExprKind::Binary(BinOp::Ne, l, r) => format!(
                "_ne({}, {})",
                self.series(l, register),
                self.series(r, register)
            ),
            ExprKind::Binary(op, l, r) => format!(
                "({} {} {})",
                self.series(l, register),
                op_text(*op),
                self.series(r, register)
            ),
            ExprKind::Back(x, n) => {
                let call = format!("_back({}, {n})", self.series(x, register));
                if register {
                    // A look-back adds its n bars to the warm-up, as botforge counts it.
                    let label = e.to_string().replace('{', "{{").replace('}', "}}");
                    format!("self._series(lambda: {call}, {}, False)", py_str(&label))
                } else {
                    call
                }
            }
            ExprKind::Tf(rule, x) => {
                // The inner expression runs on the resampled bars: the lambda rebinds the
                // prices (and `_full`) to them; its own calls are not registered.
                let call = format!(
                    "_tf(df.index, o, h, l, c, v, {}, lambda o, h, l, c, v, _full: {})",
                    py_str(rule.name()),
                    self.series(x, false)
                );
                if register {
                    let label = e.to_string().replace('{', "{{").replace('}', "}}");
                    format!("self._series(lambda: {call}, {}, False)", py_str(&label))
                } else {
                    call
                }
            }
            // A portfolio strategy has no backtesting.py form (`export` refuses it first).
            ExprKind::On(symbol, _) => format!("_no_portfolio({})", py_str(symbol)),
            // Validation keeps position state out of whole series.
            ExprKind::AtEntry(_) => "_full(math.nan)".to_owned(),
            ExprKind::Call { func, args, field } => {
                let call = self.call(*func, args, *field, register);
                if register && !func.is_boolean() {
                    // A label for backtesting.py's plot; it runs `str.format` on it.
                    let label = e.to_string().replace('{', "{{").replace('}', "}}");
                    format!("self._series(lambda: {call}, {}, False)", py_str(&label))
                } else {
                    call
                }
            }
        }
    }

    /// What `next()` reads for `e` at bar `i`: `self.ATTR[i]` of a series computed in `init`
    /// when `e` does not read position state; otherwise a scalar expression over the position
    /// locals whose position-free parts are such series. `init` lines go to `parts`.
    fn value(&self, e: &Expr, attr: &str, ty: Ty, parts: &mut Vec<String>) -> String {
        if uses_position(e).is_none() {
            let dtype = if ty == Ty::Bool { "bool" } else { "float" };
            parts.push(format!("# {attr} = {e}"));
            parts.push(format!(
                "self.{attr} = np.asarray({}, dtype={dtype})",
                self.series(e, true)
            ));
            return format!("self.{attr}[i]");
        }
        let mut n = 0;
        parts.push(format!(
            "# {attr} = {e} (reads position state: evaluated in next())"
        ));
        let code = self.at_bar(e, attr, parts, &mut n);
        if ty == Ty::Bool {
            format!("bool({code})")
        } else {
            code
        }
    }

    fn at_bar(&self, e: &Expr, attr: &str, parts: &mut Vec<String>, n: &mut usize) -> String {
        if uses_position(e).is_none() {
            if let ExprKind::Num(v) = e.kind {
                return format!("np.float64({})", py_float(v));
            }
            let name = format!("{attr}_{n}");
            *n += 1;
            let dtype = if self.ty(e) == Ty::Bool {
                "bool"
            } else {
                "float"
            };
            parts.push(format!(
                "self.{name} = np.asarray({}, dtype={dtype})",
                self.series(e, true)
            ));
            return format!("self.{name}[i]");
        }
        match &e.kind {
            ExprKind::Name(v) => format!("_{v}"),
            ExprKind::Neg(x) => format!("(-{})", self.at_bar(x, attr, parts, n)),
            ExprKind::Not(x) => format!("(not {})", self.at_bar(x, attr, parts, n)),
            ExprKind::Binary(op, l, r) => {
                let (l, r) = (
                    self.at_bar(l, attr, parts, n),
                    self.at_bar(r, attr, parts, n),
                );
                match op {
                    BinOp::And => format!("({l} and {r})"),
                    BinOp::Or => format!("({l} or {r})"),
                    BinOp::Ne => format!("_ne_s({l}, {r})"),
                    other => format!("({l} {} {r})", other.symbol()),
                }
            }
            // The value on the bar whose close placed the first open trade's entry (its tag).
            ExprKind::AtEntry(x) => {
                let name = format!("{attr}_{n}");
                *n += 1;
                parts.push(format!(
                    "self.{name} = np.asarray({}, dtype=float)",
                    self.series(x, true)
                ));
                format!("(self.{name}[_placed] if _placed is not None else math.nan)")
            }
            // Element-wise functions, valued on this bar as numpy values them.
            ExprKind::Call { func, args, .. } if func.is_elementwise() => {
                let vals: Vec<String> = args
                    .iter()
                    .map(|x| self.at_bar(x, attr, parts, n))
                    .collect();
                match (func, vals.as_slice()) {
                    (Func::If, [cond, yes, no]) => format!("({yes} if {cond} else {no})"),
                    (Func::Min, [one, two]) => format!("np.minimum({one}, {two})"),
                    (Func::Max, [one, two]) => format!("np.maximum({one}, {two})"),
                    (_, [one]) => format!("np.abs({one})"),
                    _ => "math.nan".to_owned(),
                }
            }
            // Validation keeps position state out of other calls and lookbacks.
            ExprKind::Num(_)
            | ExprKind::Call { .. }
            | ExprKind::Back(..)
            | ExprKind::Tf(..)
            | ExprKind::On(..) => "math.nan".to_owned(),
        }
    }

    fn call(&self, func: Func, args: &[Expr], field: Option<Field>, register: bool) -> String {
        let arg = |i: usize| {
            args.get(i)
                .map_or_else(|| "None".to_owned(), |a| self.series(a, register))
        };
        let per = |i: usize| {
            args.get(i)
                .map_or_else(|| "None".to_owned(), |a| self.period(a))
        };
        let pick = |fields: &[Field]| {
            field
                .and_then(|f| fields.iter().position(|x| *x == f))
                .unwrap_or(0)
        };
        match func {
            Func::Sma
            | Func::Ema
            | Func::Wma
            | Func::Rsi
            | Func::Highest
            | Func::Lowest
            | Func::Stddev
            | Func::Roc
            | Func::Mom
            | Func::Cmo
            | Func::Linearreg => format!("{}({}, {})", func.name(), arg(0), per(1)),
            Func::Macd => format!(
                "macd({}, {}, {}, {})[{}]",
                arg(0),
                per(1),
                per(2),
                per(3),
                pick(func.fields())
            ),
            Func::Bbands => format!(
                "bbands({}, {}, float({}))[{}]",
                arg(0),
                per(1),
                args.get(2)
                    .map_or_else(|| "None".to_owned(), |a| self.scalar(a)),
                pick(func.fields())
            ),
            Func::Atr | Func::Adx => format!("{}(h, l, c, {})", func.name(), per(0)),
            Func::Stoch => format!(
                "stoch(h, l, c, {}, {}, {})[{}]",
                per(0),
                per(1),
                per(2),
                pick(func.fields())
            ),
            Func::CrossesAbove => format!("_crosses_above({}, {})", arg(0), arg(1)),
            Func::CrossesBelow => format!("_crosses_below({}, {})", arg(0), arg(1)),
            Func::Abs => format!("np.abs({})", arg(0)),
            Func::Min => format!("np.minimum({}, {})", arg(0), arg(1)),
            Func::Max => format!("np.maximum({}, {})", arg(0), arg(1)),
            Func::If => format!("np.where({}, {}, {}).astype(float)", arg(0), arg(1), arg(2)),
            Func::Sum => format!("tsum({}, {})", arg(0), per(1)),
            Func::Count => format!("_count({}, {})", arg(0), per(1)),
            Func::BarsSince => format!("_bars_since({})", arg(0)),
            Func::ValueWhen => format!("_valuewhen({}, {})", arg(0), arg(1)),
            Func::Cci | Func::Willr | Func::Natr | Func::PlusDi | Func::MinusDi => {
                format!("{}(h, l, c, {})", func.name(), per(0))
            }
            Func::Mfi => format!("mfi(h, l, c, v, {})", per(0)),
            Func::Obv => "obv(c, v)".to_owned(),
            Func::Ad => "ad(h, l, c, v)".to_owned(),
            Func::Adosc => format!("adosc(h, l, c, v, {}, {})", per(0), per(1)),
            Func::Trange => "trange(h, l, c)".to_owned(),
            Func::Sar => format!(
                "sar(h, l, float({}), float({}))",
                args.first()
                    .map_or_else(|| "None".to_owned(), |a| self.scalar(a)),
                args.get(1)
                    .map_or_else(|| "None".to_owned(), |a| self.scalar(a))
            ),
            Func::Aroon => format!("aroon(h, l, {})[{}]", per(0), pick(func.fields())),
            Func::Supertrend => format!(
                "supertrend(h, l, c, {}, float({}))[{}]",
                per(0),
                args.get(1)
                    .map_or_else(|| "None".to_owned(), |a| self.scalar(a)),
                pick(func.fields())
            ),
            Func::Vwap => "_vwap(df.index, h, l, c, v)".to_owned(),
            Func::Engulfing
            | Func::Hammer
            | Func::ShootingStar
            | Func::Doji
            | Func::Harami
            | Func::MorningStar
            | Func::EveningStar
            | Func::ThreeWhiteSoldiers
            | Func::ThreeBlackCrows => format!("{}(o, h, l, c)", func.name()),
        }
    }
}

/// Python's operator: the language's own symbol, except `and`/`or`, which are numpy's
/// element-wise `&`/`|` on whole series.
fn op_text(op: BinOp) -> &'static str {
    match op {
        BinOp::And => "&",
        BinOp::Or => "|",
        other => other.symbol(),
    }
}

fn visit(
    i: usize,
    s: &Strategy,
    index: &HashMap<&str, usize>,
    done: &mut [bool],
    order: &mut Vec<usize>,
    depth: usize,
) {
    // Validation rejects cycles; the depth bound keeps a hand-built strategy from looping.
    if done[i] || depth > s.indicators.len() {
        return;
    }
    let mut names = Vec::new();
    crate::check::names(&s.indicators[i].1, &mut names);
    for n in names {
        if let Some(&j) = index.get(n.as_str()) {
            visit(j, s, index, done, order, depth + 1);
        }
    }
    if !done[i] {
        done[i] = true;
        order.push(i);
    }
}

/// Indicators in an order where each comes after the ones it uses (file order otherwise).
fn ordered(s: &Strategy) -> Vec<usize> {
    let index: HashMap<&str, usize> = s
        .indicators
        .iter()
        .enumerate()
        .map(|(i, (n, _))| (n.as_str(), i))
        .collect();
    let mut done = vec![false; s.indicators.len()];
    let mut order = Vec::with_capacity(s.indicators.len());
    for i in 0..s.indicators.len() {
        visit(i, s, &index, &mut done, &mut order, 0);
    }
    order
}

/// The name of the exported class.
pub fn python_class_name(s: &Strategy) -> String {
    let taken: HashSet<String> = MODULE_NAMES.iter().map(|n| (*n).to_owned()).collect();
    py_ident(&s.name, &taken)
}

/// Exports a validated strategy as a backtesting.py 0.6.6 `Strategy` subclass in a runnable
/// Python file (numpy and pandas only). The output is deterministic: the same strategy always
/// gives the same bytes.
///
/// Run it as `python NAME.py DATA.csv [--cash 10000] [--commission 0.002] [--finalize]`, call its
/// `run(data, cash=10000, commission=0.002, finalize=False)` (which builds the right `Backtest`:
/// fractional units, fills at the close), or import the class and hand it to
/// `backtesting.Backtest`. Params become class attributes, so `Backtest.optimize` can sweep them.
#[must_use]
pub fn to_python(s: &Strategy) -> String {
    let class = python_class_name(s);
    let mut taken: HashSet<String> = STRATEGY_ATTRS.iter().map(|n| (*n).to_owned()).collect();
    let mut params = HashMap::new();
    let mut param_lines = String::new();
    for (name, value) in &s.params {
        let attr = py_ident(name, &taken);
        taken.insert(attr.clone());
        let _ = writeln!(param_lines, "    {attr} = {}", py_float(*value));
        params.insert(name.as_str(), attr);
    }
    let mut attr = |name: &str| {
        let a = py_ident(name, &taken);
        taken.insert(a.clone());
        a
    };
    let attrs = Attrs {
        size: attr("size"),
        units: attr("units"),
        risk_pct: attr("risk_pct"),
        sl: attr("stop_loss_pct"),
        tp: attr("take_profit_pct"),
        trail: attr("trailing_stop_pct"),
        max_bars: attr("max_bars"),
        valid_bars: attr("valid_bars"),
        max_size: attr("max_size"),
        trail_offset: attr("trailing_offset_pct"),
        roi: attr("roi"),
        pyramiding: attr("pyramiding"),
    };

    let mut local_taken: HashSet<String> = ["o", "h", "l", "c", "v", "self", "_full"]
        .iter()
        .map(|n| (*n).to_owned())
        .collect();
    let mut locals = HashMap::new();
    for (name, _) in &s.indicators {
        let local = py_ident(&format!("i_{name}"), &local_taken);
        local_taken.insert(local.clone());
        locals.insert(name.as_str(), local);
    }
    let mut em = Emitter {
        params,
        locals,
        types: HashMap::new(),
    };
    let order = ordered(s);
    for &i in &order {
        let (name, e) = &s.indicators[i];
        let t = em.ty(e);
        em.types.insert(name.as_str(), t);
    }

    let mut out = header(s, &class);
    let _ = writeln!(out, "class {class}(Strategy):");
    let _ = writeln!(out, "    {}", py_str(&s.description));
    if !param_lines.is_empty() {
        out.push_str("    # [params]\n");
        out.push_str(&param_lines);
    }
    out.push_str(&settings(s, &attrs));

    out.push_str(
        "    def _series(self, compute, name, plot):\n\
         \x20       # backtesting.py counts the warm-up over indicators kept as attributes.\n\
         \x20       series = self.I(compute, name=name, plot=plot)\n\
         \x20       setattr(self, f\"_series_{len(self._kept)}\", series)\n\
         \x20       self._kept.append(series)\n\
         \x20       return np.asarray(series)\n\n\
         \x20   def init(self):\n\
         \x20       df = self.data.df\n\
         \x20       o = df[\"Open\"].to_numpy(dtype=float)\n\
         \x20       h = df[\"High\"].to_numpy(dtype=float)\n\
         \x20       l = df[\"Low\"].to_numpy(dtype=float)  # noqa: E741\n\
         \x20       c = df[\"Close\"].to_numpy(dtype=float)\n\
         \x20       v = df[\"Volume\"].to_numpy(dtype=float) if \"Volume\" in df else np.full(len(c), np.nan)\n\
         \x20       size = len(c)\n\
         \x20       # Bar time fields, from each bar's time as written (weekday: Monday = 0).\n\
         \x20       ix = df.index\n\
         \x20       _hour, _minute, _weekday, _month, _day, _year = (\n\
         \x20           np.asarray(getattr(ix, f), dtype=float) if hasattr(ix, f) else np.full(size, np.nan)\n\
         \x20           for f in (\"hour\", \"minute\", \"dayofweek\", \"month\", \"day\", \"year\"))\n\
         \x20       self._kept = []\n\
         \x20       self._pending = [None, None]  # waiting entry orders: long, short\n\
         \x20       self._pending_bar = [0, 0]\n\
         \x20       self._trail_on = set()\n\
         \x20       self._from_fill = set()\n\n\
         \x20       def _full(x):\n\
         \x20           return np.full(size, float(x))\n\n\
         \x20       with np.errstate(all=\"ignore\"):\n",
    );
    let mut body = init_body(s, &em, &order);
    let next = next_method(s, &em, &attrs, &mut body);
    for line in body.lines() {
        let _ = writeln!(out, "            {line}");
    }
    out.push_str(&next);
    out.push_str(&enter_method(s, &attrs));
    out.push_str(&tail(s, &class));
    out
}

/// `run()`, the command-line entry point.
fn tail(s: &Strategy, class: &str) -> String {
    let unit = s
        .risk
        .fractional_unit
        .map_or_else(|| "None".to_owned(), py_float);
    let on_close = if s.orders.fill == Fill::Close {
        "True"
    } else {
        "False"
    };
    format!(
        "

STRATEGY = {class}
FRACTIONAL_UNIT = {unit}
TRADE_ON_CLOSE = {on_close}


def run(data, cash=10_000, commission=0.002, finalize=False):
    \"\"\"backtesting.py's stats for this strategy on `data` (a CSV path or an OHLCV DataFrame).\"\"\"
    df = data if isinstance(data, pd.DataFrame) else _load(data)
    kwargs = dict(cash=cash, commission=commission, finalize_trades=finalize,
                  trade_on_close=TRADE_ON_CLOSE)
    if FRACTIONAL_UNIT is not None:
        from backtesting.lib import FractionalBacktest
        bt = FractionalBacktest(df, {class}, fractional_unit=FRACTIONAL_UNIT, **kwargs)
    else:
        bt = Backtest(df, {class}, **kwargs)
    return bt.run()


def main(argv=None):
    p = argparse.ArgumentParser(description=DESCRIPTION)
    p.add_argument(\"data\", help=\"OHLCV CSV: a date column first, then Open, High, Low, Close[, Volume]\")
    p.add_argument(\"--cash\", type=float, default=10_000)
    p.add_argument(\"--commission\", type=float, default=0.002)
    p.add_argument(\"--finalize\", action=\"store_true\", help=\"close open trades at the end\")
    a = p.parse_args(argv)
    print(run(a.data, cash=a.cash, commission=a.commission, finalize=a.finalize))


if __name__ == \"__main__\":
    sys.exit(main())
"
    )
}

/// The comment block, imports, constants and the runtime.
fn header(s: &Strategy, class: &str) -> String {
    let mut out = String::new();
    // Control characters (a lone CR ends a line for Python) never reach the comments.
    let clean = |text: &str| -> String {
        text.chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect()
    };
    let _ = writeln!(
        out,
        "# {}: a backtesting.py strategy exported by botforge {} from {}.toml.",
        clean(&s.name),
        env!("CARGO_PKG_VERSION"),
        clean(&s.name)
    );
    for line in s.description.split('\n') {
        let _ = writeln!(out, "# {}", clean(line));
    }
    let usage = format!(
        "#\n\
         # It reproduces `botforge backtest` trade for trade under backtesting.py 0.6.6, with plain\n\
         # numpy and pandas (no TA-Lib): the indicators below follow TA-Lib's definitions and warm-up.\n\
         # Run it:   python {file}.py DATA.csv [--cash 10000] [--commission 0.002] [--finalize]\n\
         # Or:       from {file} import {class}; Backtest(df, {class}, ...).run()\n\
         # Generated file: edit the TOML and export again rather than editing this.\n\n",
        file = clean(&s.name),
    );
    out.push_str(&usage);
    out.push_str(
        "import argparse\nimport math\nimport sys\n\nimport numpy as np\nimport pandas as pd\n\
         from backtesting import Backtest, Strategy\n\n",
    );
    let _ = writeln!(out, "DESCRIPTION = {}", py_str(&s.description));
    let _ = writeln!(out, "TOML = {}\n\n", py_str(&s.to_toml()));
    out.push_str(RUNTIME);
    out.push_str("\n\n");

    out
}

/// The series `init()` computes: indicators in dependency order, then the four rules.
fn init_body(s: &Strategy, em: &Emitter<'_>, order: &[usize]) -> String {
    let mut body = String::new();
    if !s.indicators.is_empty() {
        body.push_str("# [indicators]\n");
    }
    for &i in order {
        let (name, e) = &s.indicators[i];
        let local = &em.locals[name.as_str()];
        let label = name.replace('{', "{{").replace('}', "}}");
        let _ = writeln!(body, "# {name} = {e}");
        // The calls inside are registered too: backtesting.py then counts their warm-up, as
        // botforge does for a true/false entry (DESIGN.md §5.4).
        let _ = writeln!(
            body,
            "{local} = self._series(lambda: {}, {}, True)",
            em.series(e, true),
            py_str(&label)
        );
    }
    body.push_str("# [rules], [risk] and [orders]: whole series; next() reads bar i\n");
    body
}
