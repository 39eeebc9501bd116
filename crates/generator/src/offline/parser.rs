//! The reader's state and tools: tokens with backtracking by position, what earlier words said
//! ([`Memory`]), terms ([`Term`]) and the expression builders the grammar uses. The grammar
//! itself is in [`super::terms`], [`super::conditions`] and [`super::specials`]:
//!
//! ```text
//! condition := conj ("or" conj)*
//! conj      := atom (("and" | "while" | "with" | "but" | "&" | "as long as") atom | time-atom)*
//! atom      := "not" atom | special | "both"? term ("and" term)* predicate
//! predicate := copula* (comparison term | N "%" above/below term | cross term? | touch term
//!              | oversold/overbought | leaves oversold/overbought | turns/is positive/negative
//!              | rising/falling | between term and term | makes a new N-day high/low)
//! term      := product (("+" | "-" | plus | minus) product)*
//! product   := primary (("*" | x | times) primary)*
//! primary   := number | price | previous price | indicator settings? field? | it/its… | "(" term ")"
//! ```
//! Specials: golden/death cross, candlestick patterns, bullish/bearish crossovers, N down/up
//! days in a row, green/red candles, the opposite cross, breakouts, and time filters.

use std::collections::HashMap;

use strategy::{BinOp, Expr, ExprKind, Field, Func, Span};

use super::lex::{Tok, Token};
use crate::GenerateError;

/// Words of the grammar itself (for suggestions).
pub(super) const KEYWORDS: &[&str] = &[
    "while",
    "candle",
    "candles",
    "bar",
    "bars",
    "day",
    "days",
    "row",
    "consecutive",
    "position",
    "trade",
    "trades",
    "half",
    "period",
    "periods",
    "weekday",
    "weekdays",
    "trading",
    "first",
    "last",
    "prior",
    "average",
    "moving",
    "trend",
    "market",
    "stock",
    "closes",
    "closing",
    "opposite",
    "reverse",
    "back",
    "then",
    "until",
    "unless",
    "every",
    "each",
    "either",
    "time",
    "green",
    "red",
    "fast",
    "slow",
    "down",
    "lower",
    "higher",
    "above",
    "below",
    "under",
    "over",
    "crosses",
    "cross",
    "when",
    "whenever",
    "if",
    "once",
    "buy",
    "sell",
    "short",
    "cover",
    "exit",
    "close",
    "long",
    "enter",
    "stop",
    "loss",
    "take",
    "profit",
    "target",
    "trailing",
    "size",
    "equity",
    "account",
    "oversold",
    "overbought",
    "golden",
    "death",
    "rising",
    "falling",
    "positive",
    "negative",
    "between",
    "price",
    "high",
    "low",
    "open",
    "volume",
    "previous",
    "touches",
    "bullish",
    "bearish",
    "crossover",
    "consecutive",
    "signal",
    "histogram",
    "band",
    "bands",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "after",
    "before",
    "only",
    "risk",
    "percent",
    "shares",
    "units",
];

pub(super) fn ex(kind: ExprKind) -> Expr {
    Expr {
        kind,
        span: Span::default(),
    }
}
pub(super) fn num(v: f64) -> Expr {
    ex(ExprKind::Num(v))
}
pub(super) fn name(n: &str) -> Expr {
    ex(ExprKind::Name(n.to_owned()))
}
pub(super) fn bin(op: BinOp, l: Expr, r: Expr) -> Expr {
    ex(ExprKind::Binary(op, Box::new(l), Box::new(r)))
}
pub(super) fn call(func: Func, args: Vec<Expr>, field: Option<Field>) -> Expr {
    ex(ExprKind::Call { func, args, field })
}
pub(super) fn back(e: Expr, n: u32) -> Expr {
    ex(ExprKind::Back(Box::new(e), n))
}
pub(super) fn and(a: Expr, b: Expr) -> Expr {
    bin(BinOp::And, a, b)
}
/// The conditions joined by `and` (at least one).
pub(super) fn and_all(v: Vec<Expr>) -> Expr {
    let mut it = v.into_iter();
    let first = it.next().unwrap_or_else(|| num(1.0));
    it.fold(first, and)
}

/// What a term is, beyond its expression.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Kind {
    Number,
    /// `open high low close volume`.
    Price,
    /// A bar time field.
    Time,
    /// A call of an indicator (with its settings, for "the N" and references).
    Indicator(Func),
    /// Something above price (an upper band, an N-bar high): touched from below.
    Upper,
    /// Something below price: touched from above.
    Lower,
    /// A channel's middle line (Keltner's, Donchian's): "sell at" it reaches it from below, "buy
    /// at" it from above.
    Middle,
    Other,
}

#[derive(Debug, Clone)]
pub(super) struct Term {
    pub expr: Expr,
    pub kind: Kind,
}

impl Term {
    pub(super) fn new(expr: Expr, kind: Kind) -> Self {
        Term { expr, kind }
    }
}

/// What earlier words said, for later ones.
#[derive(Debug, Default, Clone)]
pub(super) struct Memory {
    /// The settings last given for each indicator ("RSI(2) < 10 … RSI > 70" uses 2 for both).
    pub settings: HashMap<Func, Vec<f64>>,
    /// The series last given for each indicator, when not the close ("RSI(10) of hl2").
    pub series: HashMap<Func, Expr>,
    /// Averages named with a label glued to the name ("ema1 (5)"): the label's term.
    pub labels: HashMap<(Func, u32), Term>,
    /// Names defined with "=" ("FMA = simple moving average of length 400").
    pub defined: HashMap<String, Term>,
    /// Indicators named with two different settings: one named again without settings is
    /// ambiguous ("above the 200-day SMA … below the 5-day SMA … below the SMA").
    pub varied: std::collections::HashSet<Func>,
    /// The subject of the last atom ("it").
    pub subject: Option<Term>,
    /// The two sides of the last cross or subject pair ("both", "they", "crosses back below").
    pub pair: Option<(Term, Term)>,
    /// The last cross: left, right, upward.
    pub cross: Option<(Expr, Expr, bool)>,
    /// "fast" and "slow" averages.
    pub fast: Option<Term>,
    /// The right side of the last comparison or cross ("exit when price crosses under it").
    pub object: Option<Term>,
    /// What that comparison or cross measured (its left side): an elliptical "closes below"
    /// reuses `object` only for the same subject.
    pub object_of: Option<Expr>,
    /// The kind of moving average named last ("the 50-day crosses the 200-day").
    pub last_ma: Option<Func>,
    pub slow: Option<Term>,
}

/// Words written in capitals that are not symbols: indicators' abbreviations and the like.
const NOT_SYMBOLS: &[&str] = &[
    "RSI", "SMA", "EMA", "WMA", "MA", "MACD", "ATR", "ADX", "CCI", "MFI", "ROC", "OBV", "SAR",
    "BB", "VWAP", "CMO", "DMA", "CMF", "AO", "DI", "ATH", "I", "A", "AND", "OR", "IF", "N", "R",
    "TP", "SL", "K", "D", "EOD", "US", "OCA", "ROI",
];

/// A recursive-descent reader over the tokens, with backtracking by position.
pub(super) struct Parser<'a> {
    pub toks: &'a [Token],
    pub text: &'a str,
    pub at: usize,
    pub mem: Memory,
    /// A suggestion for the refusal, when a subject was read but nothing said how it compares.
    pub hint: Option<String>,
    /// Reading a declaration ("Bollinger(10, 1.5):"): an indicator may stand without its line.
    pub declaring: bool,
    /// The symbol named as the instrument traded ("buy QQQ when"): a condition on another
    /// symbol reads that symbol's bars.
    pub instrument: Option<String>,
    /// A bare number right after an indicator's name is a level, not a setting ("exit at RSI
    /// 65").
    pub level_next: bool,
    /// A time exit said in days or sessions ("exit after 10 days"): its number and words,
    /// which count bars only on daily bars.
    pub days: Option<(u32, String)>,
    /// Reading a comparison that continues the last one with no joiner ("%K crosses above %D
    /// below 20"): it needs its own level, never the last one's.
    pub continuing: bool,
    /// Indicators declared for later mentions ("using Bollinger bands 10/1.5"), with their
    /// words: one the strategy never uses is a dangling declaration, refused.
    pub declared: Vec<(Expr, String)>,
}

pub(super) type R<T> = Result<T, GenerateError>;

pub(super) fn incomplete<T>(m: impl Into<String>) -> R<T> {
    Err(GenerateError::Incomplete(m.into()))
}

/// A period from a number, when it is a whole number in range.
pub(super) fn whole(v: f64) -> Option<u32> {
    (v.fract() == 0.0 && (1.0..=100_000.0).contains(&v)).then(|| {
        #[expect(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "checked whole and in range"
        )]
        let n = v as u32;
        n
    })
}

pub(super) const UNITS: [&str; 10] = [
    "day", "days", "bar", "bars", "period", "periods", "candle", "candles", "session", "sessions",
];
pub(super) const WEEKDAYS: [&str; 7] = [
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];
pub(super) const MONTHS: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];

impl<'a> Parser<'a> {
    pub(super) fn new(toks: &'a [Token], text: &'a str) -> Self {
        Parser {
            toks,
            text,
            at: 0,
            mem: Memory::default(),
            hint: None,
            declaring: false,
            instrument: None,
            level_next: false,
            days: None,
            continuing: false,
            declared: Vec::new(),
        }
    }

    pub(super) fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.at).map(|t| &t.tok)
    }

    pub(super) fn peek_at(&self, k: usize) -> Option<&Tok> {
        self.toks.get(self.at + k).map(|t| &t.tok)
    }

    pub(super) fn word(&self) -> Option<&str> {
        match self.peek() {
            Some(Tok::Word(w)) => Some(w.as_str()),
            _ => None,
        }
    }

    pub(super) fn word_at(&self, k: usize) -> Option<&str> {
        match self.peek_at(k) {
            Some(Tok::Word(w)) => Some(w.as_str()),
            _ => None,
        }
    }

    pub(super) fn eat(&mut self, w: &str) -> bool {
        if self.word() == Some(w) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    pub(super) fn eat_any<'w>(&mut self, ws: &[&'w str]) -> Option<&'w str> {
        let w = self.word()?;
        let found = *ws.iter().find(|x| **x == w)?;
        self.at += 1;
        Some(found)
    }

    /// Eats a phrase of space-separated words, all or nothing.
    pub(super) fn eat_phrase(&mut self, phrase: &str) -> bool {
        let n = self.phrase_len(phrase, self.at);
        if n > 0 {
            self.at += n;
            true
        } else {
            false
        }
    }

    /// Eats the first of `phrases` that matches here.
    pub(super) fn eat_phrases(&mut self, phrases: &[&str]) -> bool {
        phrases.iter().any(|p| self.eat_phrase(p))
    }

    /// Tokens the phrase takes at `at`, 0 when it does not match.
    pub(super) fn phrase_len(&self, phrase: &str, at: usize) -> usize {
        let mut k = 0;
        for w in phrase.split(' ') {
            match self.toks.get(at + k).map(|t| &t.tok) {
                Some(Tok::Word(x)) if x == w => k += 1,
                _ => return 0,
            }
        }
        k
    }

    pub(super) fn sym(&mut self, s: &str) -> bool {
        if matches!(self.peek(), Some(Tok::Sym(x)) if *x == s) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    pub(super) fn is_sym(&self, s: &str) -> bool {
        matches!(self.peek(), Some(Tok::Sym(x)) if *x == s)
    }

    pub(super) fn number(&mut self) -> Option<f64> {
        if let Some(Tok::Num(v)) = self.peek() {
            let v = *v;
            self.at += 1;
            Some(v)
        } else {
            None
        }
    }

    /// A number followed by `%` or "percent" / "pct".
    pub(super) fn percent(&mut self) -> Option<f64> {
        let save = self.at;
        let v = self.number()?;
        if self.sym("%") || self.eat("percent") || self.eat("pct") {
            Some(v)
        } else {
            self.at = save;
            None
        }
    }

    pub(super) fn skip_articles(&mut self) {
        while self.eat_any(&["the", "a", "an"]).is_some() {}
    }

    /// The text as written from token `from` up to (not including) token `to`.
    pub(super) fn written(&self, from: usize, to: usize) -> String {
        let (Some(a), Some(b)) = (self.toks.get(from), self.toks.get(to.max(from + 1) - 1)) else {
            return String::new();
        };
        self.text.get(a.start..b.end).unwrap_or_default().to_owned()
    }
}

/// A term as a trader would write it: `RSI(14)`, `SMA(50)`, `MACD(12,26,9) signal`, `close`.
pub(super) fn display(t: &Term) -> String {
    display_expr(&t.expr)
}

pub(super) fn display_expr(e: &Expr) -> String {
    match &e.kind {
        ExprKind::Call { func, args, field } => {
            let settings: Vec<String> = args
                .iter()
                .filter(|a| !matches!(&a.kind, ExprKind::Name(n) if n == "close"))
                .map(display_expr)
                .collect();
            let mut s = format!("{}({})", func.name().to_uppercase(), settings.join(","));
            if let Some(f) = field {
                s.push(' ');
                s.push_str(f.name());
            }
            s
        }
        // "the 20-day high" as traders say it.
        ExprKind::Back(inner, 1) => match &inner.kind {
            ExprKind::Call {
                func: f @ (Func::Highest | Func::Lowest),
                args,
                ..
            } if args.len() == 2 => format!(
                "the {}-day {}",
                args[1],
                if *f == Func::Highest { "high" } else { "low" }
            ),
            _ => e.to_string(),
        },
        _ => e.to_string(),
    }
}

/// A rewording that says how `subject` compares, in the terms of its own role: an oscillator
/// at its own oversold level, a line on the price's scale crossed by the close, a band broken;
/// nothing when the role gives no sensible level.
pub(super) fn hint_for(subject: &Term) -> String {
    let s = display(subject);
    let on_price = strategy::scale(&subject.expr, &[]) == strategy::Scale::Price;
    match subject.kind {
        Kind::Price => format!("{s} crosses above SMA(50)"),
        Kind::Upper => format!("close breaks above {s}"),
        Kind::Lower => format!("close breaks below {s}"),
        Kind::Number | Kind::Time => String::new(),
        _ if on_price => format!("close crosses above {s}"),
        Kind::Indicator(f) => super::vocab::INDICATORS
            .iter()
            .find(|i| i.func == f)
            .and_then(|i| i.levels)
            .map_or_else(String::new, |(low, _)| format!("{s} crosses below {low}")),
        _ => String::new(),
    }
}

/// The comparison a side word and "at least" / "more than" make: above is `>` (`>=` with "at
/// least"), below `<` (`<=`).
pub(super) fn side_op(up: bool, at_least: bool) -> BinOp {
    match (up, at_least) {
        (true, true) => BinOp::Ge,
        (true, false) => BinOp::Gt,
        (false, true) => BinOp::Le,
        (false, false) => BinOp::Lt,
    }
}

impl Parser<'_> {
    /// "above" / "over" (`true`) or "below" / "under" (`false`) here; `None`, position
    /// unchanged, otherwise.
    pub(super) fn side(&mut self) -> Option<bool> {
        if self.eat("above") || self.eat("over") {
            Some(true)
        } else if self.eat("below") || self.eat("under") {
            Some(false)
        } else {
            None
        }
    }

    /// A ticker written in capitals right before an intro word ("buy AAPL when"): skipped.
    pub(super) fn ticker(&mut self) -> bool {
        if matches!(
            self.word_at(1),
            Some("when" | "whenever" | "if" | "on" | "once" | "after")
        ) && let Some(symbol) = self.symbol_here()
        {
            self.instrument = Some(symbol);
            self.at += 1;
            return true;
        }
        false
    }

    /// The symbol written in capitals here ("SPY", "QQQ", "AAPL"): not an indicator's
    /// abbreviation or another capitalised word ([`NOT_SYMBOLS`]); without moving.
    pub(super) fn symbol_here(&self) -> Option<String> {
        let t = self.toks.get(self.at)?;
        let Tok::Word(_) = &t.tok else {
            return None;
        };
        let written = self.text.get(t.start..t.end)?;
        ((1..=6).contains(&written.len())
            && written.chars().all(|c| c.is_ascii_uppercase())
            && !NOT_SYMBOLS.contains(&written)
            && self.match_indicator(self.at).is_none())
        .then(|| written.to_owned())
    }
}
