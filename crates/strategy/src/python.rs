//! Export to a backtesting.py `Strategy` (DESIGN.md §4 `--python`): one self-contained file that
//! needs only numpy, pandas and backtesting.py (no TA-Lib), and reproduces botforge's engine
//! trade for trade under backtesting.py 0.6.6.
//!
//! The file computes every series once in `init()` as whole numpy arrays (our indicators are
//! causal, so this equals computing them bar by bar) and registers the same series with `self.I`
//! that botforge counts for the warm-up: each `[indicators]` entry and each function call inside
//! the rules. `next()` then applies the rules exactly as the engine does: exits first, then
//! entries, no pyramiding, an opposite entry closes first, stops and targets from the signal
//! bar's close.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;

use crate::expr::{BinOp, Expr, ExprKind};
use crate::file::Strategy;
use crate::func::{Field, Func};

/// TA-Lib's indicators and the language's operations, in plain Python.
const RUNTIME: &str = include_str!("python_runtime.py");

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
const MODULE_NAMES: [&str; 22] = [
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
enum Ty {
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
            ExprKind::Num(_) | ExprKind::Neg(_) => Ty::Num,
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
            ExprKind::Back(x, _) => self.ty(x),
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
            ExprKind::Back(x, n) => format!("_back({}, {n})", self.series(x, register)),
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
            Func::Sma | Func::Ema | Func::Wma | Func::Rsi | Func::Highest | Func::Lowest => {
                format!("{}({}, {})", func.name(), arg(0), per(1))
            }
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
/// Run it as `python NAME.py DATA.csv [--cash 10000] [--commission 0.002] [--finalize]`, or
/// import the class and hand it to `backtesting.Backtest`. Params become class attributes, so
/// `Backtest.optimize` can sweep them.
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
    let size_attr = py_ident("size", &taken);
    taken.insert(size_attr.clone());
    let sl_attr = py_ident("stop_loss_pct", &taken);
    taken.insert(sl_attr.clone());
    let tp_attr = py_ident("take_profit_pct", &taken);
    taken.insert(tp_attr.clone());

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
    out.push_str("    # [risk]: size is a fraction of equity; stops and targets in percent\n");
    let _ = writeln!(out, "    {size_attr} = {}", py_float(s.risk.size));
    let opt = |v: Option<f64>| v.map_or_else(|| "None".to_owned(), py_float);
    let _ = writeln!(out, "    {sl_attr} = {}", opt(s.risk.stop_loss_pct));
    let _ = writeln!(out, "    {tp_attr} = {}\n", opt(s.risk.take_profit_pct));

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
         \x20       self._kept = []\n\n\
         \x20       def _full(x):\n\
         \x20           return np.full(size, float(x))\n\n\
         \x20       with np.errstate(all=\"ignore\"):\n",
    );
    let body = init_body(s, &em, &order);
    for line in body.lines() {
        let _ = writeln!(out, "            {line}");
    }
    out.push_str(&tail(&class, &sl_attr, &tp_attr, &size_attr));
    out
}

/// `_order`, `next` and the command-line entry point.
fn tail(class: &str, sl_attr: &str, tp_attr: &str, size_attr: &str) -> String {
    format!(
        "
    def _order(self, long, close):
        sl, tp = self.{sl_attr}, self.{tp_attr}
        if long:
            sl = close * (1 - sl / 100) if sl is not None else None
            tp = close * (1 + tp / 100) if tp is not None else None
        else:
            sl = close * (1 + sl / 100) if sl is not None else None
            tp = close * (1 - tp / 100) if tp is not None else None
        # size 1.0 is backtesting.py's default: all available equity.
        kwargs = {{}} if self.{size_attr} >= 1 else {{\"size\": self.{size_attr}}}
        (self.buy if long else self.sell)(sl=sl, tp=tp, **kwargs)

    def next(self):
        i = len(self.data) - 1
        long, short = self.position.is_long, self.position.is_short
        closing = False
        # Exits first, then entries; an entry in the held direction is ignored.
        if (long and self._exit_long[i]) or (short and self._exit_short[i]):
            self.position.close()
            closing = True
        close = self.data.Close[-1]
        if self._entry_long[i] and not long:
            if short and not closing:
                self.position.close()
            self._order(True, close)
        elif self._entry_short[i] and not short:
            if long and not closing:
                self.position.close()
            self._order(False, close)


def main(argv=None):
    p = argparse.ArgumentParser(description=DESCRIPTION)
    p.add_argument(\"data\", help=\"OHLCV CSV: a date column first, then Open, High, Low, Close[, Volume]\")
    p.add_argument(\"--cash\", type=float, default=10_000)
    p.add_argument(\"--commission\", type=float, default=0.002)
    p.add_argument(\"--finalize\", action=\"store_true\", help=\"close open trades at the end\")
    a = p.parse_args(argv)
    bt = Backtest(_load(a.data), {class}, cash=a.cash, commission=a.commission,
                  finalize_trades=a.finalize)
    print(bt.run())


if __name__ == \"__main__\":
    sys.exit(main())
",
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
        let _ = writeln!(
            body,
            "{local} = self._series(lambda: {}, {}, True)",
            em.series(e, false),
            py_str(&label)
        );
    }
    body.push_str("# [rules]: whole-series conditions; next() reads bar i\n");
    for (rule, e) in [
        ("entry_long", &s.rules.entry_long),
        ("exit_long", &s.rules.exit_long),
        ("entry_short", &s.rules.entry_short),
        ("exit_short", &s.rules.exit_short),
    ] {
        match e {
            Some(e) => {
                let _ = writeln!(body, "# {rule} = {e}");
                let _ = writeln!(
                    body,
                    "self._{rule} = np.asarray({}, dtype=bool)",
                    em.series(e, true)
                );
            }
            None => {
                let _ = writeln!(body, "self._{rule} = np.full(size, False)");
            }
        }
    }
    body
}
