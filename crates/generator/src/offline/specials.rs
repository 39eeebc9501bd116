//! Atoms with no subject of their own: golden and death crosses, the opposite cross, candlestick
//! patterns, bullish/bearish crossovers, moving-average pairs, green/red candles, N down days
//! in a row, breakouts, and time filters.

use strategy::{BinOp, Expr, ExprKind, Field, Func};

use super::conditions::new_extreme;
use super::lex::Tok;
use super::parser::{
    Kind, Parser, R, Term, and, back, bin, call, ex, incomplete, name, num, whole,
};
use super::parser::{MONTHS, UNITS, WEEKDAYS, side_op};
use super::vocab::CANDLES;
use crate::GenerateError;

impl Parser<'_> {
    /// Atoms with no subject of their own.
    #[expect(clippy::too_many_lines, reason = "one branch per special")]
    pub(super) fn special(&mut self) -> R<Option<Expr>> {
        let save = self.at;
        // "there is no position", "when in a position": the position state (DESIGN.md §5.4).
        for (phrases, flat) in [
            (
                &[
                    "there is no position",
                    "there is no open position",
                    "no position is open",
                    "not in a position",
                    "not in the market",
                    "no position",
                    "no open position",
                    "we are flat",
                    "we are not in a position",
                ][..],
                true,
            ),
            (
                &[
                    "there is a position",
                    "there is an open position",
                    "an open position",
                    "in a position",
                    "we are in a position",
                    "we have a position",
                ][..],
                false,
            ),
        ] {
            if self.eat_phrases(phrases) {
                let op = if flat { BinOp::Eq } else { BinOp::Ne };
                return Ok(Some(bin(op, name("position"), num(0.0))));
            }
        }
        self.skip_articles();
        // "the candle is green", "the bar is red".
        if self.eat_any(&["candle", "bar", "candlestick"]).is_some() {
            let _ = self.eat("is") || self.eat("closes");
            if let Some(c) = self.eat_any(&[
                "green", "red", "white", "black", "bullish", "bearish", "up", "down",
            ]) {
                let up = matches!(c, "green" | "white" | "bullish" | "up");
                return Ok(Some(bin(
                    if up { BinOp::Gt } else { BinOp::Lt },
                    name("close"),
                    name("open"),
                )));
            }
            self.at = save;
            self.skip_articles();
        }
        // "a cross of EMA 12 above EMA 26", "a crossover of the 10 SMA over the 30 SMA".
        if self.eat_any(&["cross", "crossover", "crossing"]).is_some() && self.eat("of") {
            if let Some(a) = self.term()?
                && let Some(up) = self.side()
                && let Some(b) = self.term()?
            {
                self.mem.subject = Some(a.clone());
                return Ok(Some(self.cross(a.expr.clone(), b.expr, up, &a)));
            }
            self.at = save;
            self.skip_articles();
        } else {
            self.at = save;
            self.skip_articles();
        }
        // "a breakout above the 20-day high", "a breakdown below the 10-day low".
        if self.eat("breakout") || self.eat("breakdown") {
            let up = !(self.eat("below")
                || self.eat("under")
                || self
                    .toks
                    .get(self.at.wrapping_sub(1))
                    .is_some_and(|t| t.tok == Tok::Word("breakdown".into())));
            let _ = self.eat("above") || self.eat("over") || self.eat("of") || self.eat("to");
            if let Some(t) = self.term()? {
                return Ok(Some(bin(
                    if up { BinOp::Gt } else { BinOp::Lt },
                    name("close"),
                    t.expr,
                )));
            }
            self.at = save;
            return Ok(None);
        }
        // Golden and death crosses (DESIGN.md §5.1).
        for (phrase, up) in [("golden cross", true), ("death cross", false)] {
            if self.eat_phrase(phrase) {
                let _ = self.eat_any(&["occurs", "forms", "happens", "appears", "signal"]);
                let fast = call(Func::Sma, vec![name("close"), num(50.0)], None);
                let slow = call(Func::Sma, vec![name("close"), num(200.0)], None);
                let subject = Term::new(fast.clone(), Kind::Indicator(Func::Sma));
                self.mem.subject = Some(subject.clone());
                return Ok(Some(self.cross(fast, slow, up, &subject)));
            }
        }
        // "the opposite cross", "the reverse".
        if self.eat("opposite") || self.eat("reverse") {
            // "exit on the reverse": the word alone, ending the clause, after a cross.
            let alone = self.clause_ends() && self.mem.cross.is_some();
            if alone
                || self
                    .eat_any(&["cross", "crossover", "crossing", "signal", "crossunder"])
                    .is_some()
            {
                let Some((a, b, up)) = self.mem.cross.clone() else {
                    return incomplete("\"the opposite cross\" needs a cross said before it");
                };
                let subject = Term::new(a.clone(), Kind::Other);
                return Ok(Some(self.cross(a, b, !up, &subject)));
            }
            self.at = save;
            return Ok(None);
        }
        if let Some(e) = self.bar_pattern() {
            return Ok(Some(e));
        }
        // "… and opens above the previous close": the bar's open.
        let opens_at = self.at;
        if self.eat("opens") || self.eat("opened") {
            if let Some(up) = self.side()
                && let Some(t) = self.term()?
            {
                return Ok(Some(bin(side_op(up, false), name("open"), t.expr)));
            }
            self.at = opens_at;
        }
        // Candlestick patterns and bullish/bearish crossovers.
        let side = if self.eat("bullish") {
            Some(true)
        } else if self.eat("bearish") {
            Some(false)
        } else {
            None
        };
        for c in CANDLES {
            for p in c.phrases {
                if self.eat_phrase(p) {
                    let _ = self.eat_any(&["candle", "candlestick", "pattern", "bar"]);
                    let _ = self.eat_any(&["candle", "pattern"]);
                    let _ = self.eat_any(&["appears", "forms", "occurs", "prints", "shows"]);
                    let bullish = match (c.two_sided, side) {
                        (_, Some(s)) => s,
                        (false, None) => c.bullish,
                        (true, None) => {
                            return Err(GenerateError::NotUnderstood {
                                words: vec![self.written(save, self.at)],
                                hints: vec![format!("bullish {p}"), format!("bearish {p}")],
                            });
                        }
                    };
                    if !c.two_sided && bullish != c.bullish {
                        return incomplete(format!(
                            "a {p} is only ever {}",
                            if c.bullish { "bullish" } else { "bearish" }
                        ));
                    }
                    let e = call(c.func, vec![], None);
                    let e = if bullish {
                        bin(BinOp::Gt, e, num(0.0))
                    } else {
                        bin(BinOp::Lt, e, num(0.0))
                    };
                    // "a hammer that touches the lower band": the bar's price does.
                    let at = self.at;
                    if self.eat("that") || self.eat("which") {
                        let price = Term::new(name("close"), Kind::Price);
                        if let Some(p) = self.predicate(&price)? {
                            return Ok(Some(and(e, p)));
                        }
                        self.at = at;
                    }
                    return Ok(Some(e));
                }
            }
        }
        // "a 9/21 EMA cross up", "a bullish 10/30 SMA crossover".
        let at = self.at;
        let memory = self.mem.clone();
        if self.ma_pair()? {
            let up = if self.eat("up") || self.eat("upward") || self.eat("higher") {
                Some(true)
            } else if self.eat("down") || self.eat("downward") || self.eat("lower") {
                Some(false)
            } else {
                side
            };
            let (Some(up), Some(fast), Some(slow)) =
                (up, self.mem.fast.clone(), self.mem.slow.clone())
            else {
                return Err(GenerateError::NotUnderstood {
                    words: vec![self.written(save, self.at)],
                    hints: vec![
                        format!("a bullish {} crossover", self.written(at, self.at)),
                        "the fast one crosses above the slow one".into(),
                    ],
                });
            };
            self.mem.subject = Some(fast.clone());
            return Ok(Some(self.cross(fast.expr.clone(), slow.expr, up, &fast)));
        }
        self.mem = memory;
        self.at = at;
        // "go long on a bullish cross" after "20/50 EMA crossover": the pair said before.
        if let (Some(up), Some(fast), Some(slow)) =
            (side, self.mem.fast.clone(), self.mem.slow.clone())
        {
            let at = self.at;
            if self
                .eat_any(&["cross", "crossover", "crossing", "crossunder"])
                .is_some()
                && !self.eat("of")
            {
                self.mem.subject = Some(fast.clone());
                return Ok(Some(self.cross(fast.expr.clone(), slow.expr, up, &fast)));
            }
            self.at = at;
        }
        if let Some(up) = side {
            // "a bullish crossover of MACD above its signal".
            if self.eat_any(&["crossover", "cross", "crossing"]).is_some() && self.eat("of") {
                if let Some(a) = self.term()? {
                    self.mem.subject = Some(a.clone());
                    let _ = self.eat("above")
                        || self.eat("over")
                        || self.eat("below")
                        || self.eat("under");
                    if let Some(b) = self.term()? {
                        return Ok(Some(self.cross(a.expr.clone(), b.expr, up, &a)));
                    }
                }
                self.at = save;
                return Ok(None);
            }
            self.at = at;
            // "a bullish MACD crossover", "bullish stochastic cross".
            if let Some(ind) = self.indicator_here() {
                let t = self.indicator(None)?;
                if self
                    .eat_any(&["crossover", "cross", "crossing", "crossunder"])
                    .is_some()
                {
                    let ExprKind::Call { func, args, .. } = &t.expr.kind else {
                        self.at = save;
                        return Ok(None);
                    };
                    let (a, b) = match func {
                        Func::Macd => (
                            call(Func::Macd, args.clone(), Some(Field::Line)),
                            call(Func::Macd, args.clone(), Some(Field::Signal)),
                        ),
                        Func::Stoch => (
                            call(Func::Stoch, args.clone(), Some(Field::K)),
                            call(Func::Stoch, args.clone(), Some(Field::D)),
                        ),
                        _ => {
                            return incomplete(format!(
                                "a bullish or bearish {} crossover of what? e.g. \"{} crosses above the 50-day SMA\"",
                                ind.stem, ind.stem
                            ));
                        }
                    };
                    let subject = Term::new(a.clone(), t.kind);
                    self.mem.subject = Some(subject.clone());
                    return Ok(Some(self.cross(a, b, up, &subject)));
                }
                self.at = at;
            }
            // "a bullish candle" = close above open.
            if self.eat_any(&["candle", "bar"]).is_some() {
                return Ok(Some(bin(
                    if up { BinOp::Gt } else { BinOp::Lt },
                    name("close"),
                    name("open"),
                )));
            }
            self.at = save;
            return Ok(None);
        }
        // "a green candle", "a red bar".
        if let Some(c) = self.eat_any(&["green", "red", "white", "black"]) {
            if self.eat_any(&["candle", "bar", "candlestick"]).is_some() {
                return Ok(Some(bin(
                    if matches!(c, "green" | "white") {
                        BinOp::Gt
                    } else {
                        BinOp::Lt
                    },
                    name("close"),
                    name("open"),
                )));
            }
            self.at = save;
        }
        // "3 down days in a row", "two consecutive lower closes", "3 red candles in a row".
        self.at = save;
        if let Some(n) = self.number().and_then(whole) {
            self.eat("consecutive");
            let cond =
                if let Some(w) = self.eat_any(&["down", "lower", "up", "higher", "red", "green"]) {
                    if self
                        .eat_any(&[
                            "days", "day", "closes", "close", "bars", "bar", "candles", "candle",
                            "sessions",
                        ])
                        .is_none()
                    {
                        self.at = save;
                        return Ok(None);
                    }
                    match w {
                        "down" | "lower" => bin(BinOp::Lt, name("close"), back(name("close"), 1)),
                        "up" | "higher" => bin(BinOp::Gt, name("close"), back(name("close"), 1)),
                        "red" => bin(BinOp::Lt, name("close"), name("open")),
                        _ => bin(BinOp::Gt, name("close"), name("open")),
                    }
                } else {
                    self.at = save;
                    return Ok(None);
                };
            let _ = self.eat_phrase("in a row") || self.eat_phrase("in succession");
            return Ok(Some(bin(
                BinOp::Eq,
                call(Func::Count, vec![cond, num(f64::from(n))], None),
                num(f64::from(n)),
            )));
        }
        self.at = save;
        // Breakouts: "a new 20-day high", "a breakout above the 20-day high".
        self.skip_articles();
        // "a new 20-day high"; "a 20-day high" after "on" is the same event.
        let article = self
            .toks
            .get(self.at.wrapping_sub(1))
            .is_some_and(|t| matches!(&t.tok, Tok::Word(w) if w == "a" || w == "an"));
        if (self.eat("new") || self.eat("fresh") || article)
            && let Some(n) = self.number().and_then(whole)
        {
            self.unit();
            // "a 20-day breakout" is through the 20-day high; a breakdown through the low.
            let high = if self.eat("high") || self.eat("highs") || self.word() == Some("breakout") {
                Some(true)
            } else if self.eat("low") || self.eat("lows") || self.word() == Some("breakdown") {
                Some(false)
            } else {
                None
            };
            if let Some(high) = high {
                let _ = self.eat("breakout") || self.eat("breakdown");
                let src = name(if high { "high" } else { "low" });
                return Ok(Some(new_extreme(name("close"), src, n, high)));
            }
        }
        self.at = save;
        // "a 55-day high breakout", "a 20-day low breakdown".
        self.skip_articles();
        let memory = self.mem.clone();
        if let Ok(Some(t)) = self.term()
            && matches!(t.kind, Kind::Upper | Kind::Lower)
            && (self.eat("breakout") || self.eat("breakdown") || self.eat("break"))
        {
            let op = if t.kind == Kind::Upper {
                BinOp::Gt
            } else {
                BinOp::Lt
            };
            return Ok(Some(bin(op, name("close"), t.expr)));
        }
        self.mem = memory;
        self.at = save;
        // Time filters.
        if let Some(e) = self.time_atom()? {
            return Ok(Some(e));
        }
        self.at = save;
        Ok(None)
    }

    /// "on Mondays", "not on Fridays", "between 9 and 16", "between 9:30 and 15:00", "after
    /// 10am", "before 3 pm", "in January".
    pub(super) fn time_atom(&mut self) -> R<Option<Expr>> {
        let save = self.at;
        let _ = self.eat("only");
        let _ = self.eat_phrase("it is");
        let not = self.eat("not") || self.eat("except");
        let start = self.at;
        if let Some(e) = self.time_atom_inner(not)? {
            return Ok(Some(e));
        }
        self.at = start;
        if not && let Some(e) = self.time_atom_inner(false)? {
            return Ok(Some(ex(ExprKind::Not(Box::new(e)))));
        }
        self.at = save;
        Ok(None)
    }

    pub(super) fn time_atom_inner(&mut self, not: bool) -> R<Option<Expr>> {
        let save = self.at;
        let _ = self.eat("on") || self.eat("every") || self.eat("each");
        // "it's not a Wednesday".
        let _ = self.eat("a");
        // "on weekdays", "not on weekends".
        if let Some(weekend) = self.eat_any(&["weekdays", "weekday", "weekends", "weekend"]) {
            let op = match (weekend.starts_with("weekend"), not) {
                (false, false) | (true, true) => BinOp::Lt,
                _ => BinOp::Ge,
            };
            return Ok(Some(bin(op, name("weekday"), num(5.0))));
        }
        if let Some(w) = self.word() {
            let day = w.trim_end_matches('s');
            if let Some(i) = WEEKDAYS.iter().position(|d| *d == day) {
                self.at += 1;
                #[expect(clippy::cast_precision_loss, reason = "0..7")]
                let e = bin(
                    if not { BinOp::Ne } else { BinOp::Eq },
                    name("weekday"),
                    num(i as f64),
                );
                return Ok(Some(e));
            }
        }
        self.at = save;
        if self.eat("in") || self.eat("during") {
            if let Some(i) = self
                .word()
                .and_then(|w| MONTHS.iter().position(|m| *m == w))
            {
                self.at += 1;
                #[expect(clippy::cast_precision_loss, reason = "1..=12")]
                return Ok(Some(bin(
                    if not { BinOp::Ne } else { BinOp::Eq },
                    name("month"),
                    num((i + 1) as f64),
                )));
            }
            self.at = save;
            return Ok(None);
        }
        let _ = self.eat("trade") || self.eat("trading");
        if self.eat("between") || self.eat("from") {
            let Some(a) = self.clock()? else {
                self.at = save;
                return Ok(None);
            };
            if !(self.eat("and") || self.eat("to") || self.eat("until") || self.sym("-")) {
                self.at = save;
                return Ok(None);
            }
            let Some(b) = self.clock()? else {
                self.at = save;
                return Ok(None);
            };
            return Ok(Some(and(a.at_or_after(), b.before())));
        }
        if self.eat("after") {
            if let Some(a) = self.clock()? {
                return Ok(Some(a.at_or_after()));
            }
        } else if self.eat("before")
            && let Some(b) = self.clock()?
        {
            return Ok(Some(b.before()));
        }
        self.at = save;
        Ok(None)
    }

    /// A time of day: `9`, `9am`, `3 pm`, `9:30`, `15:00`, "noon".
    fn clock(&mut self) -> R<Option<Clock>> {
        let minutes = match self.peek().cloned() {
            Some(Tok::Time(m)) => {
                self.at += 1;
                m
            }
            Some(Tok::Num(v)) => {
                let Some(h) = whole(v).or((v == 0.0).then_some(0)) else {
                    return Ok(None);
                };
                // "after 10 days" is a span, not a time of day.
                if self.word_at(1).is_some_and(|w| {
                    UNITS.contains(&w) || matches!(w, "trading" | "weeks" | "months" | "%")
                }) || matches!(self.peek_at(1), Some(Tok::Sym("%")))
                {
                    return Ok(None);
                }
                self.at += 1;
                h * 60
            }
            Some(Tok::Word(w)) if w == "noon" => {
                self.at += 1;
                12 * 60
            }
            Some(Tok::Word(w)) if w == "midnight" => {
                self.at += 1;
                0
            }
            _ => return Ok(None),
        };
        let minutes = if self.eat("pm") || self.eat_phrase("p m") {
            if minutes < 12 * 60 {
                minutes + 12 * 60
            } else {
                minutes
            }
        } else if self.eat("am") || self.eat_phrase("a m") {
            if minutes >= 12 * 60 {
                minutes - 12 * 60
            } else {
                minutes
            }
        } else {
            minutes
        };
        let _ = self.eat("o") && self.eat("clock");
        if minutes >= 24 * 60 {
            return incomplete("a time of day runs from 0:00 to 23:59");
        }
        Ok(Some(Clock(minutes)))
    }
}

/// A time of day in minutes.
struct Clock(u32);

impl Clock {
    fn of_day(&self) -> (Expr, f64) {
        if self.0.is_multiple_of(60) {
            (name("hour"), f64::from(self.0 / 60))
        } else {
            (
                bin(
                    BinOp::Add,
                    bin(BinOp::Mul, name("hour"), num(60.0)),
                    name("minute"),
                ),
                f64::from(self.0),
            )
        }
    }
    fn at_or_after(&self) -> Expr {
        let (e, v) = self.of_day();
        bin(BinOp::Ge, e, num(v))
    }
    fn before(&self) -> Expr {
        let (e, v) = self.of_day();
        bin(BinOp::Lt, e, num(v))
    }
}

/// Bar patterns of two bars (DESIGN.md §5.1's documented readings): an inside bar, an outside
/// bar, a gap up or down (the open beyond the previous bar's whole range), a higher high, a
/// lower low, a higher low, a lower high.
/// A pattern's expression.
type Make = fn() -> Expr;

const BAR_PATTERNS: &[(&str, Make)] = &[
    ("inside bar", inside),
    ("inside day", inside),
    ("inside candle", inside),
    ("outside bar", outside),
    ("outside day", outside),
    ("outside candle", outside),
    ("gap up", gap_up),
    ("gap higher", gap_up),
    ("gap down", gap_down),
    ("gap lower", gap_down),
    ("higher high", || {
        bin(BinOp::Gt, name("high"), back(name("high"), 1))
    }),
    ("lower low", || {
        bin(BinOp::Lt, name("low"), back(name("low"), 1))
    }),
    ("higher low", || {
        bin(BinOp::Gt, name("low"), back(name("low"), 1))
    }),
    ("lower high", || {
        bin(BinOp::Lt, name("high"), back(name("high"), 1))
    }),
];

fn inside() -> Expr {
    and(
        bin(BinOp::Lt, name("high"), back(name("high"), 1)),
        bin(BinOp::Gt, name("low"), back(name("low"), 1)),
    )
}

fn outside() -> Expr {
    and(
        bin(BinOp::Gt, name("high"), back(name("high"), 1)),
        bin(BinOp::Lt, name("low"), back(name("low"), 1)),
    )
}

fn gap_up() -> Expr {
    bin(BinOp::Gt, name("open"), back(name("high"), 1))
}

fn gap_down() -> Expr {
    bin(BinOp::Lt, name("open"), back(name("low"), 1))
}

impl Parser<'_> {
    /// "an inside bar", "a gap up", "a higher high" (see [`BAR_PATTERNS`]); `None`, position
    /// unchanged, when none is named here.
    fn bar_pattern(&mut self) -> Option<Expr> {
        let save = self.at;
        // "the bar is an inside bar".
        let _ = self.eat_phrases(&[
            "the bar is",
            "the candle is",
            "bar is",
            "candle is",
            "this bar is",
            "this candle is",
            "it is",
        ]);
        let _ = self.eat("a") || self.eat("an") || self.eat("the");
        for (phrase, make) in BAR_PATTERNS {
            if self.eat_phrase(phrase) {
                let _ = self.eat_any(&["forms", "occurs", "appears", "prints", "pattern"]);
                let pattern = make();
                return Some(match self.bar_close_side() {
                    Some(up) => and(
                        pattern,
                        bin(
                            if up { BinOp::Gt } else { BinOp::Lt },
                            name("close"),
                            name("open"),
                        ),
                    ),
                    None => pattern,
                });
            }
        }
        self.at = save;
        None
    }

    /// After a bar pattern: "and closes up", "that closes higher than it opened", "closes
    /// down": whether the bar closes above its open; `None` (position unchanged) when not said.
    fn bar_close_side(&mut self) -> Option<bool> {
        let save = self.at;
        let _ = self.eat("and") || self.eat("that") || self.eat("which");
        if self.eat("closes") || self.eat("closed") {
            const UP: [&str; 6] = [
                "up",
                "green",
                "bullish",
                "higher than it opened",
                "above its open",
                "above the open",
            ];
            const DOWN: [&str; 6] = [
                "down",
                "red",
                "bearish",
                "lower than it opened",
                "below its open",
                "below the open",
            ];
            if UP.iter().any(|p| self.eat_phrase(p)) {
                return Some(true);
            }
            if DOWN.iter().any(|p| self.eat_phrase(p)) {
                return Some(false);
            }
        }
        self.at = save;
        None
    }
}

impl Parser<'_> {
    /// "(oversold)" or "(overbought)" after a comparison that says exactly that (an oscillator
    /// below or at its oversold level, above or at its overbought one), "(support)" or
    /// "(resistance)" after one with a lower or an upper band or extreme: read as a note.
    /// Anything else in parentheses is left for the reader to refuse.
    pub(super) fn annotation(&mut self, rule: &Expr) {
        let save = self.at;
        if !self.sym("(") {
            return;
        }
        let word = self.eat_any(&["oversold", "overbought", "support", "resistance"]);
        let agrees = self.sym(")")
            && match (&rule.kind, word) {
                (ExprKind::Binary(_, _, r), Some(w @ ("support" | "resistance"))) => {
                    side_of_price(r) == Some(w)
                }
                (ExprKind::Binary(op, l, r), Some(w)) => {
                    let (ExprKind::Call { func, .. }, ExprKind::Num(v)) = (&l.kind, &r.kind) else {
                        self.at = save;
                        return;
                    };
                    super::vocab::indicator(*func)
                        .and_then(|i| i.levels)
                        .is_some_and(|(lo, hi)| {
                            if w == "oversold" {
                                matches!(op, BinOp::Lt | BinOp::Le) && *v <= lo
                            } else {
                                matches!(op, BinOp::Gt | BinOp::Ge) && *v >= hi
                            }
                        })
                }
                _ => false,
            };
        if !agrees {
            self.at = save;
        }
    }
}

/// Whether a price level is one below the price ("support": a lower band, an N-bar low) or
/// above it ("resistance"), for a note after a comparison with it.
fn side_of_price(e: &Expr) -> Option<&'static str> {
    match &e.kind {
        ExprKind::Back(inner, _) => side_of_price(inner),
        ExprKind::Call {
            func: Func::Lowest, ..
        }
        | ExprKind::Call {
            field: Some(strategy::Field::Lower),
            ..
        } => Some("support"),
        ExprKind::Call {
            func: Func::Highest,
            ..
        }
        | ExprKind::Call {
            field: Some(strategy::Field::Upper),
            ..
        } => Some("resistance"),
        _ => None,
    }
}
