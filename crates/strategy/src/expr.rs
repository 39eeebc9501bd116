//! The expression language: lexer, parser, syntax tree and printer.
//!
//! ```text
//! expr    := or
//! or      := and ("or" and)*
//! and     := not ("and" not)*
//! not     := "not" not | cmp
//! cmp     := add (("<" | "<=" | ">" | ">=" | "==" | "!=") add)?
//! add     := mul (("+" | "-") mul)*
//! mul     := unary (("*" | "/") unary)*
//! unary   := "-" unary | postfix
//! postfix := primary ("." FIELD)? ("[" INTEGER "]")*
//! primary := NUMBER | NAME | FUNC "(" expr ("," expr)* ")" | "(" expr ")"
//! ```
//! Positions are character offsets into the expression text.

use crate::func::{Field, Func, Timeframe};

/// A character range in the expression text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Span {
    /// First character (0-based).
    pub start: usize,
    /// One past the last character.
    pub end: usize,
}

/// A binary operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `and`
    And,
    /// `or`
    Or,
}

impl BinOp {
    /// The operator as written.
    pub fn symbol(self) -> &'static str {
        match self {
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::Lt => "<",
            BinOp::Le => "<=",
            BinOp::Gt => ">",
            BinOp::Ge => ">=",
            BinOp::Eq => "==",
            BinOp::Ne => "!=",
            BinOp::And => "and",
            BinOp::Or => "or",
        }
    }

    pub(crate) fn prec(self) -> u8 {
        match self {
            BinOp::Or => 1,
            BinOp::And => 2,
            BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge | BinOp::Eq | BinOp::Ne => 4,
            BinOp::Add | BinOp::Sub => 5,
            BinOp::Mul | BinOp::Div => 6,
        }
    }

    /// Whether it compares two numbers.
    pub fn is_comparison(self) -> bool {
        self.prec() == 4
    }
}

pub(crate) const PREC_NOT: u8 = 3;
pub(crate) const PREC_NEG: u8 = 7;
pub(crate) const PREC_POSTFIX: u8 = 8;
pub(crate) const PREC_PRIMARY: u8 = 9;

/// The shape of an expression.
#[derive(Debug, Clone)]
pub enum ExprKind {
    /// A number literal.
    Num(f64),
    /// `open high low close volume`, a param, or an indicator.
    Name(String),
    /// `-x`
    Neg(Box<Expr>),
    /// `not x`
    Not(Box<Expr>),
    /// `a op b`
    Binary(BinOp, Box<Expr>, Box<Expr>),
    /// `f(args)` or `f(args).field`
    Call {
        /// The function.
        func: Func,
        /// Its arguments.
        args: Vec<Expr>,
        /// The chosen output of a multi-output function.
        field: Option<Field>,
    },
    /// `x[n]`: the value `n` bars ago.
    Back(Box<Expr>, u32),
    /// `tf("W-FRI", x)`: `x` on bars resampled to a higher timeframe, each bar seeing the
    /// latest completed one.
    Tf(Timeframe, Box<Expr>),
    /// `on("SPY", x)`: `x` on another symbol's bars (a portfolio's, DESIGN.md §5.3), each bar
    /// seeing that symbol's latest bar at or before its time.
    On(String, Box<Expr>),
    /// `at_entry(x)`: position state, `x` on the bar whose close placed the open trade's entry
    /// (missing while flat; DESIGN.md §5.4).
    AtEntry(Box<Expr>),
}

/// An expression with its place in the text. Equality ignores places.
#[derive(Debug, Clone)]
pub struct Expr {
    /// What it is.
    pub kind: ExprKind,
    /// Where it is.
    pub span: Span,
}

impl PartialEq for Expr {
    fn eq(&self, other: &Self) -> bool {
        match (&self.kind, &other.kind) {
            (ExprKind::Num(a), ExprKind::Num(b)) => a.to_bits() == b.to_bits(),
            (ExprKind::Name(a), ExprKind::Name(b)) => a == b,
            (ExprKind::Neg(a), ExprKind::Neg(b)) | (ExprKind::Not(a), ExprKind::Not(b)) => a == b,
            (ExprKind::Binary(o1, l1, r1), ExprKind::Binary(o2, l2, r2)) => {
                o1 == o2 && l1 == l2 && r1 == r2
            }
            (
                ExprKind::Call {
                    func: f1,
                    args: a1,
                    field: d1,
                },
                ExprKind::Call {
                    func: f2,
                    args: a2,
                    field: d2,
                },
            ) => f1 == f2 && a1 == a2 && d1 == d2,
            (ExprKind::Back(e1, n1), ExprKind::Back(e2, n2)) => n1 == n2 && e1 == e2,
            (ExprKind::Tf(r1, e1), ExprKind::Tf(r2, e2)) => r1 == r2 && e1 == e2,
            (ExprKind::On(s1, e1), ExprKind::On(s2, e2)) => s1 == s2 && e1 == e2,
            (ExprKind::AtEntry(e1), ExprKind::AtEntry(e2)) => e1 == e2,
            _ => false,
        }
    }
}

/// A syntax error: where and what.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("at character {}: {message}", pos + 1)]
pub struct SyntaxError {
    /// 0-based character offset.
    pub pos: usize,
    /// What is wrong.
    pub message: String,
}

/// Names that cannot be used for params or indicators.
pub const RESERVED: [&str; 18] = [
    "open",
    "high",
    "low",
    "close",
    "volume",
    "and",
    "or",
    "not",
    "position",
    "entry_price",
    "bars_in_trade",
    "open_pnl_pct",
    "hour",
    "minute",
    "weekday",
    "month",
    "day",
    "year",
];

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Num(f64),
    Ident(String),
    /// Quoted text (`"D"` or `'D'`): only a timeframe rule.
    Str(String),
    Op(&'static str),
    End,
}

struct Lexer {
    chars: Vec<char>,
    toks: Vec<(Tok, Span)>,
}

/// Lexes a number starting at `start`; returns the index after it.
fn lex_number(lx: &mut Lexer, start: usize) -> Result<usize, SyntaxError> {
    let mut i = start;
    while i < lx.chars.len() && (lx.chars[i].is_ascii_digit() || lx.chars[i] == '.') {
        i += 1;
    }
    if i < lx.chars.len() && (lx.chars[i] == 'e' || lx.chars[i] == 'E') {
        let mut j = i + 1;
        if j < lx.chars.len() && (lx.chars[j] == '+' || lx.chars[j] == '-') {
            j += 1;
        }
        if j < lx.chars.len() && lx.chars[j].is_ascii_digit() {
            i = j;
            while i < lx.chars.len() && lx.chars[i].is_ascii_digit() {
                i += 1;
            }
        }
    }
    let s: String = lx.chars[start..i].iter().collect();
    let v: f64 = s.parse().map_err(|_| SyntaxError {
        pos: start,
        message: format!("`{s}` is not a number"),
    })?;
    if !v.is_finite() {
        return Err(SyntaxError {
            pos: start,
            message: format!("`{s}` is too large"),
        });
    }
    lx.toks.push((Tok::Num(v), Span { start, end: i }));
    Ok(i)
}

fn lex(text: &str) -> Result<Vec<(Tok, Span)>, SyntaxError> {
    let mut lx = Lexer {
        chars: text.chars().collect(),
        toks: Vec::new(),
    };
    let mut i = 0;
    while i < lx.chars.len() {
        let c = lx.chars[i];
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let start = i;
        if c.is_ascii_digit() || (c == '.' && lx.chars.get(i + 1).is_some_and(char::is_ascii_digit))
        {
            i = lex_number(&mut lx, start)?;
            continue;
        }
        if c.is_alphabetic() || c == '_' {
            while i < lx.chars.len() && (lx.chars[i].is_alphanumeric() || lx.chars[i] == '_') {
                i += 1;
            }
            let s: String = lx.chars[start..i].iter().collect();
            lx.toks.push((Tok::Ident(s), Span { start, end: i }));
            continue;
        }
        if c == '"' || c == '\'' {
            let Some(len) = lx.chars[i + 1..].iter().position(|&q| q == c) else {
                return Err(SyntaxError {
                    pos: i,
                    message: format!("this text has no closing {c}"),
                });
            };
            let s: String = lx.chars[i + 1..i + 1 + len].iter().collect();
            i += len + 2;
            lx.toks.push((Tok::Str(s), Span { start, end: i }));
            continue;
        }
        let two: String = lx.chars[i..(i + 2).min(lx.chars.len())].iter().collect();
        let op = match two.as_str() {
            "<=" => Some("<="),
            ">=" => Some(">="),
            "==" => Some("=="),
            "!=" => Some("!="),
            _ => None,
        };
        if let Some(op) = op {
            lx.toks.push((Tok::Op(op), Span { start, end: i + 2 }));
            i += 2;
            continue;
        }
        let op = match c {
            '+' => "+",
            '-' => "-",
            '*' => "*",
            '/' => "/",
            '<' => "<",
            '>' => ">",
            '(' => "(",
            ')' => ")",
            '[' => "[",
            ']' => "]",
            ',' => ",",
            '.' => ".",
            '=' => {
                return Err(SyntaxError {
                    pos: i,
                    message: "`=` is not an operator: use `==` to compare".to_owned(),
                });
            }
            '&' | '|' | '!' => {
                return Err(SyntaxError {
                    pos: i,
                    message: format!("`{c}` is not an operator: use `and`, `or`, `not`"),
                });
            }
            other => {
                return Err(SyntaxError {
                    pos: i,
                    message: format!("unexpected character `{other}`"),
                });
            }
        };
        lx.toks.push((Tok::Op(op), Span { start, end: i + 1 }));
        i += 1;
    }
    let end = lx.chars.len();
    lx.toks.push((Tok::End, Span { start: end, end }));
    Ok(lx.toks)
}

struct Parser {
    toks: Vec<(Tok, Span)>,
    at: usize,
    depth: usize,
}

/// Nesting deeper than this is refused (and keeps the parser's stack small).
const MAX_DEPTH: usize = 64;
/// Longer expressions are refused: a rule is a line, and long chains would make deep trees.
pub const MAX_LEN: usize = 2_000;

fn describe(t: &Tok) -> String {
    match t {
        Tok::Num(v) => format!("number `{v}`"),
        Tok::Ident(s) => format!("`{s}`"),
        Tok::Str(s) => format!("the text \"{s}\""),
        Tok::Op(o) => format!("`{o}`"),
        Tok::End => "the end".to_owned(),
    }
}

impl Parser {
    fn peek(&self) -> &(Tok, Span) {
        &self.toks[self.at.min(self.toks.len() - 1)]
    }

    fn next(&mut self) -> (Tok, Span) {
        let t = self.peek().clone();
        if self.at < self.toks.len() - 1 {
            self.at += 1;
        }
        t
    }

    fn is_op(&self, op: &str) -> bool {
        matches!(&self.peek().0, Tok::Op(o) if *o == op)
    }

    fn is_word(&self, w: &str) -> bool {
        matches!(&self.peek().0, Tok::Ident(s) if s == w)
    }

    fn expect(&mut self, op: &'static str, what: &str) -> Result<Span, SyntaxError> {
        if self.is_op(op) {
            return Ok(self.next().1);
        }
        let (t, span) = self.peek().clone();
        Err(SyntaxError {
            pos: span.start,
            message: format!("expected {what}, found {}", describe(&t)),
        })
    }

    fn enter(&mut self) -> Result<(), SyntaxError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(SyntaxError {
                pos: self.peek().1.start,
                message: format!("nested more than {MAX_DEPTH} levels deep"),
            });
        }
        Ok(())
    }

    fn binary(op: BinOp, l: Expr, r: Expr) -> Expr {
        let span = Span {
            start: l.span.start,
            end: r.span.end,
        };
        Expr {
            kind: ExprKind::Binary(op, Box::new(l), Box::new(r)),
            span,
        }
    }

    fn or(&mut self) -> Result<Expr, SyntaxError> {
        self.enter()?;
        let mut l = self.and()?;
        while self.is_word("or") {
            self.next();
            let r = self.and()?;
            l = Self::binary(BinOp::Or, l, r);
        }
        self.depth -= 1;
        Ok(l)
    }

    fn and(&mut self) -> Result<Expr, SyntaxError> {
        let mut l = self.not()?;
        while self.is_word("and") {
            self.next();
            let r = self.not()?;
            l = Self::binary(BinOp::And, l, r);
        }
        Ok(l)
    }

    fn not(&mut self) -> Result<Expr, SyntaxError> {
        if self.is_word("not") {
            let (_, span) = self.next();
            self.enter()?;
            let e = self.not()?;
            self.depth -= 1;
            let end = e.span.end;
            return Ok(Expr {
                kind: ExprKind::Not(Box::new(e)),
                span: Span {
                    start: span.start,
                    end,
                },
            });
        }
        self.cmp()
    }

    fn cmp(&mut self) -> Result<Expr, SyntaxError> {
        let l = self.add()?;
        let op = match &self.peek().0 {
            Tok::Op("<") => BinOp::Lt,
            Tok::Op("<=") => BinOp::Le,
            Tok::Op(">") => BinOp::Gt,
            Tok::Op(">=") => BinOp::Ge,
            Tok::Op("==") => BinOp::Eq,
            Tok::Op("!=") => BinOp::Ne,
            _ => return Ok(l),
        };
        self.next();
        let r = self.add()?;
        if let (Tok::Op(o @ ("<" | "<=" | ">" | ">=" | "==" | "!=")), span) = self.peek() {
            return Err(SyntaxError {
                pos: span.start,
                message: format!(
                    "comparisons do not chain: write `a {} b and b {o} c`",
                    op.symbol()
                ),
            });
        }
        Ok(Self::binary(op, l, r))
    }

    fn add(&mut self) -> Result<Expr, SyntaxError> {
        let mut l = self.mul()?;
        loop {
            let op = match &self.peek().0 {
                Tok::Op("+") => BinOp::Add,
                Tok::Op("-") => BinOp::Sub,
                _ => return Ok(l),
            };
            self.next();
            let r = self.mul()?;
            l = Self::binary(op, l, r);
        }
    }

    fn mul(&mut self) -> Result<Expr, SyntaxError> {
        let mut l = self.unary()?;
        loop {
            let op = match &self.peek().0 {
                Tok::Op("*") => BinOp::Mul,
                Tok::Op("/") => BinOp::Div,
                _ => return Ok(l),
            };
            self.next();
            let r = self.unary()?;
            l = Self::binary(op, l, r);
        }
    }

    fn unary(&mut self) -> Result<Expr, SyntaxError> {
        if self.is_op("-") {
            let (_, span) = self.next();
            self.enter()?;
            let e = self.unary()?;
            self.depth -= 1;
            let end = e.span.end;
            return Ok(Expr {
                kind: ExprKind::Neg(Box::new(e)),
                span: Span {
                    start: span.start,
                    end,
                },
            });
        }
        self.postfix()
    }

    fn postfix(&mut self) -> Result<Expr, SyntaxError> {
        let mut e = self.primary()?;
        while self.is_op("[") {
            self.next();
            let (t, span) = self.next();
            let n = match t {
                Tok::Num(v) if v >= 0.0 && v.fract() == 0.0 && v <= f64::from(u32::MAX) => {
                    #[expect(
                        clippy::cast_possible_truncation,
                        clippy::cast_sign_loss,
                        reason = "checked: a whole number within u32"
                    )]
                    let n = v as u32;
                    n
                }
                other => {
                    return Err(SyntaxError {
                        pos: span.start,
                        message: format!(
                            "a lookback `x[n]` needs a whole number n ≥ 0, found {}",
                            describe(&other)
                        ),
                    });
                }
            };
            let close = self.expect("]", "`]`")?;
            e = Expr {
                span: Span {
                    start: e.span.start,
                    end: close.end,
                },
                kind: ExprKind::Back(Box::new(e), n),
            };
        }
        if self.is_op(".") {
            let (_, span) = self.peek().clone();
            return Err(SyntaxError {
                pos: span.start,
                message: "`.field` goes right after a call: `macd(close, 12, 26, 9).line`"
                    .to_owned(),
            });
        }
        Ok(e)
    }

    fn primary(&mut self) -> Result<Expr, SyntaxError> {
        let (t, span) = self.next();
        match t {
            Tok::Num(v) => Ok(Expr {
                kind: ExprKind::Num(v),
                span,
            }),
            Tok::Op("(") => {
                self.enter()?;
                let e = self.or()?;
                self.depth -= 1;
                let close = self.expect(")", "`)`")?;
                Ok(Expr {
                    kind: e.kind,
                    span: Span {
                        start: span.start,
                        end: close.end,
                    },
                })
            }
            Tok::Ident(name) => {
                if matches!(name.as_str(), "and" | "or" | "not") {
                    return Err(SyntaxError {
                        pos: span.start,
                        message: format!("`{name}` needs a value before it"),
                    });
                }
                if !self.is_op("(") {
                    // A bare function name may name an indicator (`rsi = "rsi(close, 14)"`);
                    // the type checker tells a missing call from a name.
                    return Ok(Expr {
                        kind: ExprKind::Name(name),
                        span,
                    });
                }
                if name == "tf" {
                    return self.timeframe(span);
                }
                if name == "on" {
                    return self.symbol(span);
                }
                if name == "at_entry" {
                    return self.at_entry(span);
                }
                self.call(&name, span)
            }
            Tok::Str(_) => Err(SyntaxError {
                pos: span.start,
                message: "quoted text only names a timeframe or a symbol, as in tf(\"D\", sma(close, 10)) or on(\"SPY\", close)"
                    .to_owned(),
            }),
            other => Err(SyntaxError {
                pos: span.start,
                message: format!("expected a value, found {}", describe(&other)),
            }),
        }
    }

    /// A function call, after its name.
    fn call(&mut self, name: &str, span: Span) -> Result<Expr, SyntaxError> {
        let Some(func) = Func::from_name(name) else {
            return Err(SyntaxError {
                pos: span.start,
                message: unknown_function(name),
            });
        };
        self.next();
        self.enter()?;
        let mut args = Vec::new();
        if !self.is_op(")") {
            loop {
                args.push(self.or()?);
                if self.is_op(",") {
                    self.next();
                    continue;
                }
                break;
            }
        }
        self.depth -= 1;
        let close = self.expect(")", "`,` or `)`")?;
        let mut end = close.end;
        let mut field = None;
        if self.is_op(".") {
            self.next();
            let (t, fspan) = self.next();
            let Tok::Ident(fname) = t else {
                return Err(SyntaxError {
                    pos: fspan.start,
                    message: "expected an output name after `.`".to_owned(),
                });
            };
            let Some(f) = func.fields().iter().find(|f| f.name() == fname) else {
                let names: Vec<&str> = func.fields().iter().map(|f| f.name()).collect();
                return Err(SyntaxError {
                    pos: fspan.start,
                    message: if names.is_empty() {
                        format!("{name} has a single output: drop `.{fname}`")
                    } else {
                        format!(
                            "{name} has no output `{fname}` (it has: {})",
                            names.join(", ")
                        )
                    },
                });
            };
            field = Some(*f);
            end = fspan.end;
        }
        Ok(Expr {
            kind: ExprKind::Call { func, args, field },
            span: Span {
                start: span.start,
                end,
            },
        })
    }

    /// `on("SYMBOL", expr)`, after the name.
    fn symbol(&mut self, name: Span) -> Result<Expr, SyntaxError> {
        self.next();
        let (t, span) = self.next();
        let Tok::Str(symbol) = t else {
            return Err(SyntaxError {
                pos: span.start,
                message: "on's first argument is a symbol in quotes, as --data names it: on(\"SPY\", close > sma(close, 200))".to_owned(),
            });
        };
        if symbol.trim().is_empty() || symbol.chars().any(|c| c.is_control() || c == '"') {
            return Err(SyntaxError {
                pos: span.start,
                message: format!("\"{symbol}\" is not a symbol name: write it as --data names it"),
            });
        }
        self.expect(
            ",",
            "`,` and the expression to evaluate on that symbol's bars",
        )?;
        self.enter()?;
        let e = self.or()?;
        self.depth -= 1;
        let close = self.expect(")", "`)`")?;
        Ok(Expr {
            kind: ExprKind::On(symbol, Box::new(e)),
            span: Span {
                start: name.start,
                end: close.end,
            },
        })
    }

    /// `at_entry(expr)`, after the name.
    fn at_entry(&mut self, name: Span) -> Result<Expr, SyntaxError> {
        self.next();
        self.enter()?;
        let e = self.or()?;
        self.depth -= 1;
        let close = self.expect(")", "`)`: at_entry takes one expression")?;
        Ok(Expr {
            kind: ExprKind::AtEntry(Box::new(e)),
            span: Span {
                start: name.start,
                end: close.end,
            },
        })
    }

    /// `tf("RULE", expr)`, after the name.
    fn timeframe(&mut self, name: Span) -> Result<Expr, SyntaxError> {
        self.next();
        let (t, span) = self.next();
        let rules: Vec<String> = Timeframe::ALL
            .iter()
            .map(|r| format!("\"{}\"", r.name()))
            .collect();
        let Tok::Str(rule) = t else {
            return Err(SyntaxError {
                pos: span.start,
                message: format!(
                    "tf's first argument is a timeframe in quotes: one of {}",
                    rules.join(", ")
                ),
            });
        };
        let Some(rule) = Timeframe::from_name(&rule) else {
            return Err(SyntaxError {
                pos: span.start,
                message: format!(
                    "\"{rule}\" is not a timeframe tf knows: use one of {}",
                    rules.join(", ")
                ),
            });
        };
        self.expect(",", "`,` and the expression to evaluate on that timeframe")?;
        self.enter()?;
        let e = self.or()?;
        self.depth -= 1;
        let close = self.expect(")", "`)`")?;
        Ok(Expr {
            kind: ExprKind::Tf(rule, Box::new(e)),
            span: Span {
                start: name.start,
                end: close.end,
            },
        })
    }
}

/// Parses an expression.
///
/// # Errors
/// [`SyntaxError`] with the character position of the problem.
pub fn parse(text: &str) -> Result<Expr, SyntaxError> {
    if text.chars().count() > MAX_LEN {
        return Err(SyntaxError {
            pos: MAX_LEN,
            message: format!("longer than {MAX_LEN} characters: split it into indicators"),
        });
    }
    let toks = lex(text)?;
    let mut p = Parser {
        toks,
        at: 0,
        depth: 0,
    };
    if matches!(p.peek().0, Tok::End) {
        return Err(SyntaxError {
            pos: 0,
            message: "the expression is empty".to_owned(),
        });
    }
    let e = p.or()?;
    let (t, span) = p.peek().clone();
    if t != Tok::End {
        return Err(SyntaxError {
            pos: span.start,
            message: format!("unexpected {} after a complete expression", describe(&t)),
        });
    }
    Ok(e)
}

/// The message for a call of a function the language lacks: the one of the language's own
/// table it most likely means (written in another case, or a letter or two off), else where
/// the whole table is.
fn unknown_function(name: &str) -> String {
    let lower = name.to_ascii_lowercase();
    if let Some(f) = Func::from_name(&lower) {
        return format!(
            "unknown function `{name}` (did you mean `{}`? function names are lowercase)",
            f.name()
        );
    }
    // Edits counted with transpositions as one (`sam` is one from `sma`), only when close.
    let scored: Vec<(usize, &str)> = Func::ALL
        .iter()
        .map(|f| (strsim::osa_distance(f.name(), &lower), f.name()))
        .filter(|&(d, n)| d <= 2 && d < n.len().min(lower.len()))
        .collect();
    let best = scored.iter().map(|&(d, _)| d).min();
    let near: Vec<String> = scored
        .iter()
        .filter(|&&(d, _)| Some(d) == best)
        .take(3)
        .map(|(_, n)| format!("`{n}`"))
        .collect();
    match near.as_slice() {
        [] => {
            let known: Vec<&str> = Func::ALL.iter().map(|f| f.name()).collect();
            format!("unknown function `{name}` (known: {})", known.join(", "))
        }
        some => format!(
            "unknown function `{name}` (did you mean {}?)",
            some.join(" or ")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round(s: &str) -> String {
        parse(s).unwrap().to_string()
    }

    #[test]
    fn precedence_and_canonical_printing() {
        assert_eq!(round("a+b*c"), "a + b * c");
        assert_eq!(round("(a+b)*c"), "(a + b) * c");
        assert_eq!(round("a - (b - c)"), "a - (b - c)");
        assert_eq!(round("(a - b) - c"), "a - b - c");
        assert_eq!(round("not a > b and c or d"), "not a > b and c or d");
        assert_eq!(round("not (a and b)"), "not (a and b)");
        assert_eq!(round("--x"), "--x");
        assert_eq!(round("(a + b)[2]"), "(a + b)[2]");
        assert_eq!(
            round("macd(close,12,26,9).signal[1]"),
            "macd(close, 12, 26, 9).signal[1]"
        );
        assert_eq!(round("1.50e2 + .5"), "150 + 0.5");
        assert_eq!(round("(a < b) == (c < d)"), "(a < b) == (c < d)");
    }

    #[test]
    fn errors_point_at_the_problem() {
        let e = parse("rsi(close, 14) < 30 and").unwrap_err();
        assert_eq!(e.pos, 23);
        assert!(
            e.message.starts_with("expected a value, found the end"),
            "{e}"
        );
        let e = parse("close > sma(close 20)").unwrap_err();
        assert_eq!(e.pos, 18);
        let e = parse("a < b < c").unwrap_err();
        assert!(e.message.contains("do not chain"), "{e}");
        let e = parse("close[-1]").unwrap_err();
        assert!(e.message.contains("n ≥ 0"), "{e}");
        let e = parse("foo(close)").unwrap_err();
        assert!(e.message.starts_with("unknown function `foo`"), "{e}");
        let e = parse("macd(close, 12, 26, 9).upper").unwrap_err();
        assert!(e.message.contains("it has: line, signal, hist"), "{e}");
        let e = parse("rsi > 30 & x").unwrap_err();
        assert!(e.message.contains("use `and`"), "{e}");
        assert_eq!(parse("  ").unwrap_err().message, "the expression is empty");
    }

    #[test]
    fn deep_nesting_is_refused_not_a_stack_overflow() {
        let deep = format!("{}1{}", "(".repeat(100), ")".repeat(100));
        assert!(
            parse(&deep).unwrap_err().message.contains("nested"),
            "parens"
        );
        let negs = format!("{}1", "-".repeat(100));
        assert!(
            parse(&negs).unwrap_err().message.contains("nested"),
            "minus"
        );
        let nots = format!("{}a", "not ".repeat(100));
        assert!(parse(&nots).unwrap_err().message.contains("nested"), "not");
        let long = "a + ".repeat(1_000) + "a";
        assert!(parse(&long).unwrap_err().message.starts_with("longer than"));
    }
}
