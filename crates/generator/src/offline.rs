//! The offline compiler: a deterministic translation of a description written in a controlled
//! vocabulary. Anything it cannot place exactly is an error that quotes the words; it never
//! guesses.
//!
//! It reads clauses separated by `,` `;` `.` or "then". A rule clause is an action (`buy`, `go
//! long`, `sell`, `exit`, `short`, `cover`…) with a condition after `when`/`if` (or the condition
//! first: "when …, buy"). Conditions join atoms with `and`/`or`; an atom compares two terms
//! (`<`, `>`, `<=`, `>=`, `below`, `above`, `under`, `over`), or says one `crosses above/below`
//! another, `breaks above/below` an N-bar high or low, or `touches` a Bollinger band. Terms are
//! numbers, prices (`close`, `price`, `open`, `high`, `low`), and `rsi`, `sma`/`ema`/`wma` (or
//! "simple/exponential/weighted moving average"), `macd` (`line`, `signal`, `histogram`),
//! `bollinger` bands (`upper`, `middle`, `lower`), `stochastic` (`%k`, `%d`), `adx`, `atr`, with
//! periods as `rsi(14)`, `rsi 14` or `14-day rsi`. Risk clauses: "N% stop loss", "N% take
//! profit", "size N%", "long only", "short only", "long and short".

use std::collections::BTreeMap;
use std::fmt::Write;

use strategy::Strategy;

use crate::GenerateError;

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(String),
    Num(f64),
    Sym(&'static str),
}

fn tokenize(text: &str) -> Vec<Tok> {
    let lower = text
        .to_lowercase()
        .replace("%k", " pctk ")
        .replace("%d", " pctd ");
    let chars: Vec<char> = lower.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() || c == '-' && i > 0 && chars[i - 1].is_ascii_digit() {
            i += 1;
            continue;
        }
        if c.is_ascii_digit() || (c == '.' && chars.get(i + 1).is_some_and(char::is_ascii_digit)) {
            let start = i;
            while i < chars.len()
                && (chars[i].is_ascii_digit()
                    || chars[i] == '.' && chars.get(i + 1).is_some_and(char::is_ascii_digit))
            {
                i += 1;
            }
            let s: String = chars[start..i].iter().collect();
            out.push(Tok::Num(s.parse().unwrap_or(f64::NAN)));
            continue;
        }
        if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            out.push(Tok::Word(chars[start..i].iter().collect()));
            continue;
        }
        let two: String = chars[i..(i + 2).min(chars.len())].iter().collect();
        let sym = match two.as_str() {
            "<=" => Some("<="),
            ">=" => Some(">="),
            _ => None,
        };
        if let Some(s) = sym {
            out.push(Tok::Sym(s));
            i += 2;
            continue;
        }
        let sym = match c {
            '<' => "<",
            '>' => ">",
            '(' => "(",
            ')' => ")",
            ',' => ",",
            ';' => ";",
            '.' => ".",
            '%' => "%",
            _ => "?",
        };
        if sym == "?" {
            out.push(Tok::Word(c.to_string()));
        } else {
            out.push(Tok::Sym(sym));
        }
        i += 1;
    }
    out
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Action {
    EntryLong,
    ExitLong,
    EntryShort,
    ExitShort,
    /// `sell`: exit a long, or reverse to short when the strategy trades both ways.
    Sell,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Unsaid,
    LongOnly,
    ShortOnly,
    Both,
}

/// A term: an expression and the indicator it needs, if any.
#[derive(Debug, Clone)]
struct Term {
    expr: String,
    indicator: Option<(String, String)>,
}

const FILLER: [&str; 11] = [
    "the", "a", "an", "is", "are", "goes", "its", "value", "level", "line", "of",
];

/// What earlier clauses said, for later ones: periods of indicators mentioned without one, and
/// the terms of the last cross ("exit when it crosses below").
struct Memory {
    periods: BTreeMap<String, u32>,
    last_cross: Option<(Term, Term)>,
    macd: (u32, u32, u32),
    bbands: (u32, f64),
    stoch: (u32, u32, u32),
}

impl Default for Memory {
    fn default() -> Self {
        Self {
            periods: BTreeMap::new(),
            last_cross: None,
            macd: (12, 26, 9),
            bbands: (20, 2.0),
            stoch: (14, 3, 3),
        }
    }
}

/// An indicator name with its settings, unless they are the usual ones.
fn tagged(base: &str, settings: &[f64], usual: &[f64], field: &str) -> String {
    if settings == usual {
        format!("{base}_{field}")
    } else {
        let parts: Vec<String> = settings
            .iter()
            .map(|v| num_text(*v).replace('.', "p"))
            .collect();
        format!("{base}_{}_{field}", parts.join("_"))
    }
}

struct Clause<'a> {
    toks: &'a [Tok],
    at: usize,
    unknown: &'a mut Vec<String>,
    indicators: &'a mut BTreeMap<String, String>,
    memory: &'a mut Memory,
}

fn period(v: f64) -> Option<u32> {
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

fn num_text(v: f64) -> String {
    format!("{v}")
}

impl Clause<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.at)
    }

    fn word(&self) -> Option<&str> {
        match self.peek() {
            Some(Tok::Word(w)) => Some(w.as_str()),
            _ => None,
        }
    }

    fn eat_word(&mut self, w: &str) -> bool {
        if self.word() == Some(w) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    fn eat_sym(&mut self, s: &str) -> bool {
        if matches!(self.peek(), Some(Tok::Sym(x)) if *x == s) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    fn skip_filler(&mut self) {
        while self.word().is_some_and(|w| FILLER.contains(&w)) {
            self.at += 1;
        }
    }

    fn num(&mut self) -> Option<f64> {
        if let Some(Tok::Num(v)) = self.peek() {
            let v = *v;
            self.at += 1;
            Some(v)
        } else {
            None
        }
    }

    /// `(a, b, c)` or a bare number after a function word.
    fn args(&mut self) -> Vec<f64> {
        let save = self.at;
        if self.eat_sym("(") {
            let mut v = Vec::new();
            while let Some(n) = self.num() {
                v.push(n);
                if !self.eat_sym(",") {
                    break;
                }
            }
            if self.eat_sym(")") {
                return v;
            }
            self.at = save;
            return Vec::new();
        }
        let save = self.at;
        if let Some(n) = self.num() {
            // "rsi 14", but not "rsi 30" in "rsi below 30" (a comparison word comes first).
            return vec![n];
        }
        self.at = save;
        Vec::new()
    }

    fn add(&mut self, name: String, expr: String) -> Term {
        self.indicators.insert(name.clone(), expr.clone());
        Term {
            expr: name.clone(),
            indicator: Some((name, expr)),
        }
    }

    /// A period given here, or the one this kind had earlier in the description, or a default.
    fn period_for(&mut self, kind: &str, given: Option<f64>, default: Option<u32>) -> Option<u32> {
        let n = match given {
            Some(v) => period(v),
            None => self.memory.periods.get(kind).copied().or(default),
        }?;
        self.memory.periods.insert(kind.to_owned(), n);
        Some(n)
    }

    fn ma(&mut self, kind: &str, before: Option<f64>) -> Result<Term, GenerateError> {
        let args = self.args();
        let given = args.first().copied().or(before);
        let n = self
            .period_for(kind, given, None)
            .filter(|n| *n >= 2)
            .ok_or_else(|| {
                GenerateError::Incomplete(format!(
                    "{kind} needs a period of 2 or more, e.g. \"{kind}(20)\" or \"20-day {kind}\""
                ))
            })?;
        Ok(self.add(format!("{kind}_{n}"), format!("{kind}(close, {n})")))
    }

    /// A term, or `None` when the next words are not one.
    #[expect(clippy::too_many_lines, reason = "one branch per kind of term")]
    fn term(&mut self) -> Result<Option<Term>, GenerateError> {
        self.skip_filler();
        let start = self.at;
        // A leading number: a value, or the period of what follows ("20 day sma").
        let lead = self.num();
        if lead.is_some() {
            while self.eat_word("day")
                || self.eat_word("days")
                || self.eat_word("bar")
                || self.eat_word("bars")
                || self.eat_word("period")
            {}
        }
        let Some(w) = self.word().map(str::to_owned) else {
            return Ok(lead.map(|v| Term {
                expr: num_text(v),
                indicator: None,
            }));
        };
        let plain = |e: &str| {
            Ok(Some(Term {
                expr: e.to_owned(),
                indicator: None,
            }))
        };
        match w.as_str() {
            "close" | "price" | "open" | "high" | "low" | "volume" if lead.is_none() => {
                self.at += 1;
                self.eat_word("price");
                let e = if w == "price" { "close" } else { w.as_str() };
                plain(e)
            }
            "high" | "low" if lead.is_some() => {
                self.at += 1;
                let n = lead.and_then(period).filter(|n| *n >= 2).ok_or_else(|| {
                    GenerateError::Incomplete(
                        "a breakout needs 2 bars or more, e.g. \"the 20-day high\"".into(),
                    )
                })?;
                let (f, src) = if w == "high" {
                    ("highest", "high")
                } else {
                    ("lowest", "low")
                };
                let t = self.add(format!("{f}_{n}"), format!("{f}({src}, {n})"));
                // The N bars before this one: a close above their high is a breakout.
                Ok(Some(Term {
                    expr: format!("{}[1]", t.expr),
                    indicator: t.indicator,
                }))
            }
            "it" | "they" if lead.is_none() => {
                self.at += 1;
                match &self.memory.last_cross {
                    Some((left, _)) => Ok(Some(left.clone())),
                    None => Err(GenerateError::Incomplete(format!(
                        "\"{w}\" refers to nothing: name what crosses, e.g. \"sma(20) crosses below sma(50)\""
                    ))),
                }
            }
            "rsi" => {
                self.at += 1;
                let given = self.args().first().copied().or(lead);
                let n = self
                    .period_for("rsi", given, Some(14))
                    .filter(|n| *n >= 2)
                    .ok_or_else(|| {
                        GenerateError::Incomplete(
                            "rsi's period must be a whole number of 2 or more".into(),
                        )
                    })?;
                Ok(Some(
                    self.add(format!("rsi_{n}"), format!("rsi(close, {n})")),
                ))
            }
            "sma" | "ema" | "wma" | "ma" => {
                self.at += 1;
                let kind = if w == "ma" { "sma" } else { w.as_str() };
                self.ma(kind, lead).map(Some)
            }
            "simple" | "exponential" | "weighted" | "moving" => {
                self.at += 1;
                let kind = match w.as_str() {
                    "exponential" => "ema",
                    "weighted" => "wma",
                    _ => "sma",
                };
                if w != "moving" && !self.eat_word("moving") {
                    self.unknown.push(w.clone());
                }
                if !self.eat_word("average") {
                    self.unknown.push("moving".into());
                }
                self.ma(kind, lead).map(Some)
            }
            "macd" | "signal" | "histogram" => {
                self.at += 1;
                let (f, s, g) =
                    if w == "macd" {
                        match self.args().as_slice() {
                            [] => self.memory.macd,
                            [a, b, c] => match (period(*a), period(*b), period(*c)) {
                                (Some(a), Some(b), Some(c)) if a >= 2 && a < b => (a, b, c),
                                _ => return Err(GenerateError::Incomplete(
                                    "macd(fast, slow, signal) needs whole numbers with fast < slow"
                                        .into(),
                                )),
                            },
                            _ => {
                                return Err(GenerateError::Incomplete(
                                    "macd takes three periods: macd(12, 26, 9)".into(),
                                ));
                            }
                        }
                    } else {
                        self.memory.macd
                    };
                self.memory.macd = (f, s, g);
                let field = if w == "signal" || self.eat_word("signal") {
                    "signal"
                } else if w == "histogram" || self.eat_word("histogram") || self.eat_word("hist") {
                    "hist"
                } else {
                    self.eat_word("line");
                    "line"
                };
                self.eat_word("line");
                let name = tagged(
                    "macd",
                    &[f64::from(f), f64::from(s), f64::from(g)],
                    &[12.0, 26.0, 9.0],
                    field,
                );
                Ok(Some(
                    self.add(name, format!("macd(close, {f}, {s}, {g}).{field}")),
                ))
            }
            "upper" | "lower" | "middle" | "bollinger" => {
                self.at += 1;
                let mut band = if w == "bollinger" {
                    None
                } else {
                    Some(w.clone())
                };
                self.eat_word("bollinger");
                let args = self.args();
                if band.is_none() {
                    for b in ["upper", "lower", "middle"] {
                        if self.eat_word(b) {
                            band = Some(b.to_owned());
                        }
                    }
                }
                if !(self.eat_word("band") || self.eat_word("bands")) && w != "bollinger" {
                    self.unknown.push(w.clone());
                }
                let args = if args.is_empty() { self.args() } else { args };
                let (n, k) = match args.as_slice() {
                    [] => self.memory.bbands,
                    [n] => (period(*n).unwrap_or(0), 2.0),
                    [n, k] => (period(*n).unwrap_or(0), *k),
                    _ => (0, 0.0),
                };
                if n < 2 || k.is_nan() || k <= 0.0 {
                    return Err(GenerateError::Incomplete(
                        "bollinger bands take (period, deviations), e.g. (20, 2)".into(),
                    ));
                }
                let Some(band) = band else {
                    return Err(GenerateError::Incomplete(
                        "say which bollinger band: upper, middle or lower".into(),
                    ));
                };
                self.memory.bbands = (n, k);
                let name = tagged("bb", &[f64::from(n), k], &[20.0, 2.0], &band);
                Ok(Some(self.add(
                    name,
                    format!("bbands(close, {n}, {}).{band}", num_text(k)),
                )))
            }
            "stochastic" | "stoch" | "pctk" | "pctd" => {
                self.at += 1;
                let (k, sk, d) = match self.args().as_slice() {
                    [] => self.memory.stoch,
                    [a, b, c] => match (period(*a), period(*b), period(*c)) {
                        (Some(a), Some(b), Some(c)) => (a, b, c),
                        _ => {
                            return Err(GenerateError::Incomplete(
                                "stochastic(k, smooth_k, d) needs whole numbers".into(),
                            ));
                        }
                    },
                    _ => {
                        return Err(GenerateError::Incomplete(
                            "stochastic takes three periods: stochastic(14, 3, 3)".into(),
                        ));
                    }
                };
                let field = if w == "pctd" || self.eat_word("pctd") || self.eat_word("d") {
                    "d"
                } else {
                    let _ = self.eat_word("pctk") || self.eat_word("k");
                    "k"
                };
                self.memory.stoch = (k, sk, d);
                let name = tagged(
                    "stoch",
                    &[f64::from(k), f64::from(sk), f64::from(d)],
                    &[14.0, 3.0, 3.0],
                    field,
                );
                Ok(Some(
                    self.add(name, format!("stoch({k}, {sk}, {d}).{field}")),
                ))
            }
            "adx" | "atr" => {
                self.at += 1;
                let given = self.args().first().copied().or(lead);
                let n = self
                    .period_for(&w, given, Some(14))
                    .filter(|n| *n >= 1 && (w == "atr" || *n >= 2))
                    .ok_or_else(|| {
                        GenerateError::Incomplete(format!("{w}'s period must be a whole number"))
                    })?;
                Ok(Some(self.add(format!("{w}_{n}"), format!("{w}({n})"))))
            }
            _ => {
                self.at = start;
                if let Some(v) = self.num() {
                    return Ok(Some(Term {
                        expr: num_text(v),
                        indicator: None,
                    }));
                }
                Ok(None)
            }
        }
    }

    fn comparison(&mut self) -> Option<&'static str> {
        if let Some(Tok::Sym(s @ ("<" | ">" | "<=" | ">="))) = self.peek() {
            let s = *s;
            self.at += 1;
            return Some(s);
        }
        let save = self.at;
        self.eat_word("is");
        self.eat_word("goes");
        let op = match self.word() {
            Some("below" | "under") => "<",
            Some("above" | "over") => ">",
            Some("less" | "lower") => {
                self.at += 1;
                self.eat_word("than");
                return Some("<");
            }
            Some("greater" | "higher" | "more") => {
                self.at += 1;
                self.eat_word("than");
                return Some(">");
            }
            _ => {
                self.at = save;
                return None;
            }
        };
        self.at += 1;
        Some(op)
    }

    fn atom(&mut self) -> Result<Option<String>, GenerateError> {
        let Some(left) = self.term()? else {
            return Ok(None);
        };
        self.skip_filler();
        let verb = self.word().map(str::to_owned);
        match verb.as_deref() {
            Some(
                "crosses" | "cross" | "crossing" | "breaks" | "break" | "closes" | "moves"
                | "rises" | "falls" | "drops",
            ) => {
                self.at += 1;
                let dir = if self.eat_word("above") || self.eat_word("over") || self.eat_word("up")
                {
                    "above"
                } else if self.eat_word("below") || self.eat_word("under") || self.eat_word("down")
                {
                    "below"
                } else if verb.as_deref() == Some("rises") {
                    "above"
                } else if matches!(verb.as_deref(), Some("falls" | "drops")) {
                    "below"
                } else {
                    return Err(GenerateError::Incomplete(format!(
                        "say which way it {}: \"above\" or \"below\"",
                        verb.unwrap_or_default()
                    )));
                };
                self.eat_word("through");
                let right = match self.term()? {
                    Some(r) => r,
                    // "it crosses below": the other side of the last cross.
                    None => match &self.memory.last_cross {
                        Some((_, r)) => r.clone(),
                        None => {
                            return Err(GenerateError::Incomplete(format!(
                                "crosses {dir} what? e.g. \"crosses {dir} sma(50)\""
                            )));
                        }
                    },
                };
                self.memory.last_cross = Some((left.clone(), right.clone()));
                if matches!(verb.as_deref(), Some("breaks" | "break" | "closes")) {
                    let op = if dir == "above" { ">" } else { "<" };
                    return Ok(Some(format!("{} {op} {}", left.expr, right.expr)));
                }
                Ok(Some(format!(
                    "crosses_{dir}({}, {})",
                    left.expr, right.expr
                )))
            }
            Some("touches" | "touch" | "hits" | "reaches") => {
                self.at += 1;
                let Some(band) = self.term()? else {
                    return Err(GenerateError::Incomplete(
                        "touches what? e.g. \"touches the lower bollinger band\"".into(),
                    ));
                };
                // A touch is the bar's range reaching the band.
                let (price, op) = if band.expr.ends_with("upper") {
                    ("high", ">=")
                } else {
                    ("low", "<=")
                };
                let price = if left.expr == "close" {
                    price
                } else {
                    left.expr.as_str()
                };
                Ok(Some(format!("{price} {op} {}", band.expr)))
            }
            _ => {
                let Some(op) = self.comparison() else {
                    return Err(GenerateError::Incomplete(format!(
                        "after \"{}\" say how it compares: below/above a value, or crosses above/below something",
                        left.expr
                    )));
                };
                let Some(right) = self.term()? else {
                    return Err(GenerateError::Incomplete(format!(
                        "\"{}\" {op} what?",
                        left.expr
                    )));
                };
                Ok(Some(format!("{} {op} {}", left.expr, right.expr)))
            }
        }
    }

    /// Atoms joined by `and` / `or`.
    fn condition(&mut self) -> Result<Option<String>, GenerateError> {
        let Some(first) = self.atom()? else {
            return Ok(None);
        };
        let mut out = first;
        loop {
            let save = self.at;
            let join = if self.eat_word("and") {
                "and"
            } else if self.eat_word("or") {
                "or"
            } else {
                return Ok(Some(out));
            };
            if let Some(next) = self.atom()? {
                out = format!("{out} {join} {next}");
            } else {
                self.at = save;
                return Ok(Some(out));
            }
        }
    }

    fn action(&mut self) -> Option<Action> {
        let w = self.word()?.to_owned();
        let a = match w.as_str() {
            "buy" | "long" | "enter" | "go" | "open" => {
                self.at += 1;
                if w == "buy" && self.eat_word("to") {
                    self.eat_word("cover");
                    return Some(Action::ExitShort);
                }
                if self.eat_word("short") {
                    Action::EntryShort
                } else {
                    self.eat_word("long");
                    Action::EntryLong
                }
            }
            "sell" => {
                self.at += 1;
                if self.eat_word("short") {
                    Action::EntryShort
                } else {
                    Action::Sell
                }
            }
            "short" => {
                self.at += 1;
                Action::EntryShort
            }
            "exit" | "close" => {
                if w == "close"
                    && !matches!(self.toks.get(self.at + 1), Some(Tok::Word(x)) if ["long", "short", "the", "position", "when", "if"].contains(&x.as_str()))
                {
                    return None;
                }
                self.at += 1;
                self.eat_word("the");
                if self.eat_word("short") {
                    Action::ExitShort
                } else {
                    self.eat_word("long");
                    Action::ExitLong
                }
            }
            "cover" => {
                self.at += 1;
                Action::ExitShort
            }
            _ => return None,
        };
        self.eat_word("position");
        Some(a)
    }
}

#[derive(Default)]
struct Risk {
    stop: Option<f64>,
    target: Option<f64>,
    size: Option<f64>,
}

/// Reads a risk or mode clause; `false` when the clause is not one.
fn risk_clause(toks: &[Tok], risk: &mut Risk, mode: &mut Mode) -> Result<bool, GenerateError> {
    let words: Vec<&str> = toks
        .iter()
        .filter_map(|t| {
            if let Tok::Word(w) = t {
                Some(w.as_str())
            } else {
                None
            }
        })
        .collect();
    let nums: Vec<f64> = toks
        .iter()
        .filter_map(|t| if let Tok::Num(v) = t { Some(*v) } else { None })
        .collect();
    let pct = toks.contains(&Tok::Sym("%")) || words.contains(&"percent");
    let has = |w: &str| words.contains(&w);
    let known = |allowed: &[&str]| {
        words
            .iter()
            .all(|w| allowed.contains(w) || FILLER.contains(w))
    };
    if has("stop") {
        let ([v], true) = (nums.as_slice(), pct) else {
            return Err(GenerateError::Incomplete(
                "a stop loss needs one percentage, e.g. \"5% stop loss\"".into(),
            ));
        };
        if !known(&["stop", "loss", "at", "with", "use", "percent", "and"]) {
            return Ok(false);
        }
        risk.stop = Some(*v);
        return Ok(true);
    }
    if has("profit") || has("target") {
        let ([v], true) = (nums.as_slice(), pct) else {
            return Err(GenerateError::Incomplete(
                "a take profit needs one percentage, e.g. \"10% take profit\"".into(),
            ));
        };
        if !known(&[
            "take", "profit", "target", "at", "with", "use", "percent", "and",
        ]) {
            return Ok(false);
        }
        risk.target = Some(*v);
        return Ok(true);
    }
    if has("size") || has("equity") || has("capital") {
        let [v] = nums.as_slice() else {
            return Err(GenerateError::Incomplete(
                "a position size needs one number, e.g. \"size 50%\"".into(),
            ));
        };
        if !known(&[
            "size", "position", "equity", "capital", "use", "with", "percent", "per", "trade",
            "invest", "risk",
        ]) {
            return Ok(false);
        }
        risk.size = Some(if pct || *v > 1.0 { v / 100.0 } else { *v });
        return Ok(true);
    }
    let m = match words.as_slice() {
        ["long" | "longs", "only"] | ["only", "long"] => Mode::LongOnly,
        ["short" | "shorts", "only"] | ["only", "short"] => Mode::ShortOnly,
        ["long", "and", "short"] | ["both", "directions" | "ways"] | ["long", "short"] => {
            Mode::Both
        }
        _ => return Ok(false),
    };
    *mode = m;
    Ok(true)
}

fn split_clauses(toks: &[Tok]) -> Vec<Vec<Tok>> {
    let mut out = Vec::new();
    let mut cur = Vec::new();
    let mut depth = 0;
    for t in toks {
        match t {
            Tok::Sym("(") => depth += 1,
            Tok::Sym(")") => depth -= 1,
            _ => {}
        }
        let split = depth == 0 && matches!(t, Tok::Sym("," | ";" | "."))
            || matches!(t, Tok::Word(w) if w == "then");
        if split {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
        } else {
            cur.push(t.clone());
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

fn describe(t: &Tok) -> String {
    match t {
        Tok::Word(w) => w.clone(),
        Tok::Num(v) => num_text(*v),
        Tok::Sym(s) => (*s).to_owned(),
    }
}

/// Compiles a description in the controlled vocabulary into a validated strategy (named from
/// the description; [`crate::save`] renames it).
///
/// # Errors
/// [`GenerateError::NotUnderstood`] quoting the words it could not place, or
/// [`GenerateError::Incomplete`] saying what is missing.
pub fn compile(description: &str) -> Result<Strategy, GenerateError> {
    let toks = tokenize(description);
    let mut unknown: Vec<String> = Vec::new();
    let mut indicators: BTreeMap<String, String> = BTreeMap::new();
    let mut rules: BTreeMap<Action, Vec<String>> = BTreeMap::new();
    let mut risk = Risk::default();
    let mut mode = Mode::Unsaid;
    let mut pending: Option<String> = None;
    let mut memory = Memory::default();
    for clause in split_clauses(&toks) {
        if risk_clause(&clause, &mut risk, &mut mode)? {
            continue;
        }
        let mut c = Clause {
            toks: &clause,
            at: 0,
            unknown: &mut unknown,
            indicators: &mut indicators,
            memory: &mut memory,
        };
        let action = c.action();
        let cond_first =
            action.is_none() && (c.eat_word("when") || c.eat_word("if") || c.eat_word("once"));
        if action.is_some() {
            let _ =
                c.eat_word("when") || c.eat_word("if") || c.eat_word("once") || c.eat_word("on");
        }
        let cond = c.condition()?;
        // "when COND buy" or "when COND, buy": the action after the condition.
        let action = match action {
            Some(a) => Some(a),
            None if cond_first => {
                let a = c.action();
                if a.is_none() {
                    pending.clone_from(&cond);
                }
                a
            }
            None => None,
        };
        let leftover: Vec<String> = clause[c.at..].iter().map(describe).collect();
        match (action, cond) {
            (Some(a), Some(cond)) if leftover.is_empty() => rules.entry(a).or_default().push(cond),
            (Some(a), None) if leftover.is_empty() => match pending.take() {
                Some(cond) => rules.entry(a).or_default().push(cond),
                None => {
                    return Err(GenerateError::Incomplete(format!(
                        "say when to {}: e.g. \"buy when rsi(14) < 30\"",
                        clause.iter().map(describe).collect::<Vec<_>>().join(" ")
                    )));
                }
            },
            (None, Some(_)) if cond_first && leftover.is_empty() => {}
            _ => {
                let from = if leftover.is_empty() { 0 } else { c.at };
                unknown.extend(clause[from..].iter().map(describe));
            }
        }
    }
    if !unknown.is_empty() {
        unknown.dedup();
        return Err(GenerateError::NotUnderstood { words: unknown });
    }
    build(description, &indicators, rules, mode, &risk)
}

fn build(
    description: &str,
    indicators: &BTreeMap<String, String>,
    mut rules: BTreeMap<Action, Vec<String>>,
    mode: Mode,
    risk: &Risk,
) -> Result<Strategy, GenerateError> {
    let both = mode == Mode::Both
        || rules.contains_key(&Action::EntryShort)
            && mode != Mode::LongOnly
            && rules.contains_key(&Action::EntryLong);
    if let Some(sells) = rules.remove(&Action::Sell) {
        let target = if both || mode == Mode::ShortOnly {
            Action::EntryShort
        } else {
            Action::ExitLong
        };
        rules.entry(target).or_default().extend(sells);
    }
    if mode == Mode::LongOnly {
        rules.remove(&Action::EntryShort);
        rules.remove(&Action::ExitShort);
    }
    if mode == Mode::ShortOnly {
        if let Some(buys) = rules.remove(&Action::EntryLong) {
            rules.entry(Action::ExitShort).or_default().extend(buys);
        }
        rules.remove(&Action::ExitLong);
    }
    if !rules.contains_key(&Action::EntryLong) && !rules.contains_key(&Action::EntryShort) {
        return Err(GenerateError::Incomplete(
            "no entry rule: say when to buy or to short, e.g. \"buy when rsi(14) < 30\"".into(),
        ));
    }
    let join = |v: &Vec<String>| {
        if v.len() == 1 {
            v[0].clone()
        } else {
            v.iter()
                .map(|c| format!("({c})"))
                .collect::<Vec<_>>()
                .join(" or ")
        }
    };
    let q = |s: &str| toml::Value::String(s.to_owned()).to_string();
    let mut text = format!(
        "name = {}\ndescription = {}\n[indicators]\n",
        q(&crate::name_from_description(description)),
        q(description)
    );
    for (n, e) in indicators {
        let _ = writeln!(text, "{n} = {}", q(e));
    }
    text.push_str("[rules]\n");
    for (a, key) in [
        (Action::EntryLong, "entry_long"),
        (Action::ExitLong, "exit_long"),
        (Action::EntryShort, "entry_short"),
        (Action::ExitShort, "exit_short"),
    ] {
        if let Some(v) = rules.get(&a) {
            let _ = writeln!(text, "{key} = {}", q(&join(v)));
        }
    }
    let _ = writeln!(text, "[risk]\nsize = {:?}", risk.size.unwrap_or(1.0));
    if let Some(s) = risk.stop {
        let _ = writeln!(text, "stop_loss_pct = {s:?}");
    }
    if let Some(t) = risk.target {
        let _ = writeln!(text, "take_profit_pct = {t:?}");
    }
    Strategy::from_toml("offline", &text)
        .map_err(|e| GenerateError::Incomplete(format!("{}: {}", e.field, e.message)))
}
