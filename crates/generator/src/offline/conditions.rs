//! Conditions: atoms joined by "and"/"or", and what is said of a subject (comparisons in many
//! verbs, crosses, touches, oversold/overbought, signs, slopes, ranges, new highs and lows).

use strategy::{BinOp, Expr, ExprKind, Field, Func};

use super::lex::Tok;
use super::parser::{
    Kind, Parser, R, Term, and, back, bin, call, ex, incomplete, name, num, whole,
};
use super::parser::{MONTHS, WEEKDAYS, display, display_expr, hint_for, side_op};
use super::verbs::{COPULAS, Pred, VERBS};
use super::vocab;
use crate::GenerateError;

/// What "both" or "they" decided about an atom.
enum Both {
    /// Not said, or a term follows: read on (at the atom's start).
    ReadOn,
    /// The atom: the pair's predicates, or none.
    Atom(Option<Expr>),
}

impl Parser<'_> {
    // ---- conditions --------------------------------------------------------------------

    /// Atoms joined by "or" of conjunctions; `None` (position unchanged) when none starts here.
    pub(super) fn condition(&mut self) -> R<Option<Expr>> {
        let Some(mut out) = self.conj()? else {
            return Ok(None);
        };
        loop {
            let save = self.at;
            if !self.eat("or") {
                return Ok(Some(out));
            }
            let _ = self.eat("when") || self.eat("if") || self.eat("on");
            if let Some(c) = self.conj()? {
                out = bin(BinOp::Or, out, c);
            } else {
                self.at = save;
                return Ok(Some(out));
            }
        }
    }

    pub(super) fn conj(&mut self) -> R<Option<Expr>> {
        // "on the previous candle CCI was below -100, MFI below 20 and CMO below -50": the
        // whole condition one bar back.
        let save = self.at;
        if self.eat_phrases(&[
            "on the previous candle",
            "on the previous bar",
            "on the prior candle",
            "on the prior bar",
            "on the previous day",
        ]) {
            if let Some(c) = self.conj_here()? {
                return Ok(Some(bars_back(c, 1)));
            }
            self.at = save;
            return Ok(None);
        }
        self.conj_here()
    }

    fn conj_here(&mut self) -> R<Option<Expr>> {
        self.eat("either");
        let start = self.at;
        let Some(first) = self.atom()? else {
            return Ok(None);
        };
        let first = self.in_a_row(first);
        self.annotation(&first);
        let mut out = first;
        loop {
            let save = self.at;
            // "A, B and C": a comma list ended by "and".
            if let Some(a) = self.listed_atom() {
                out = and(out, a);
                continue;
            }
            let joined = self.comma_and()
                || self.eat("and")
                || self.sym("&")
                || self.eat("while")
                || self.eat("when")
                || self.eat("whenever")
                || self.eat("if")
                || self.eat("with")
                || self.eat("but")
                || self.eat_phrase("as long as")
                || self.eat_phrase("provided that")
                || self.eat("provided");
            if joined {
                self.eat("also");
                self.eat("only");
                self.eat("when");
                self.eat("if");
            }
            // "RSI is below price is above the SMA": two comparisons with nothing joining them.
            if !joined
                && matches!(self.word(), Some("is" | "are" | "was" | "were"))
                && self.predicate_starts_after_copula()
            {
                return incomplete(format!(
                    "\"{}\" runs two comparisons together: join them with \"and\" or \"or\", \
                     or end the first with a comma",
                    self.written(start, self.at + 2)
                ));
            }
            let time_next = !joined && self.time_atom_here();
            // "%K crosses above %D below 20": a comparison right after says where.
            let ellipsis = !joined
                && self.mem.subject.is_some()
                && matches!(self.verb(), Some((Pred::Cmp(_), _)));
            if !joined && !time_next && !ellipsis {
                return Ok(Some(out));
            }
            // A failed atom after a joiner ends the condition (the joiner belongs to the
            // sentence: "buy when X and sell when Y").
            let inner = self.at;
            self.continuing = ellipsis;
            let next = self.atom();
            self.continuing = false;
            match next {
                Ok(Some(a)) => {
                    let a = self.in_a_row(a);
                    self.annotation(&a);
                    out = and(out, a);
                }
                Ok(None) | Err(_) if joined => {
                    let _ = inner;
                    self.at = save;
                    return Ok(Some(out));
                }
                Ok(None) => {
                    self.at = save;
                    return Ok(Some(out));
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// ", and" joining two conditions ("buy if ADX is above 20, and RSI is below 40").
    fn comma_and(&mut self) -> bool {
        let save = self.at;
        if self.sym(",") && self.eat("and") {
            return true;
        }
        self.at = save;
        false
    }

    /// One more atom of a comma list that "and" ends ("CCI below -100, MFI below 20 and CMO
    /// below -50"); `None` (position and memory unchanged) when the comma does not start one.
    fn listed_atom(&mut self) -> Option<Expr> {
        if !self.is_sym(",") {
            return None;
        }
        let (save, memory) = (self.at, self.mem.clone());
        self.at += 1;
        let found = match self.atom() {
            Ok(Some(a)) if self.word() == Some("and") || self.ends_list() => Some(self.in_a_row(a)),
            _ => None,
        };
        if found.is_none() {
            self.at = save;
            self.mem = memory;
        }
        found
    }

    /// Whether a comma list goes on from here to an "and": ", and …" or ", <atom> …, and".
    fn ends_list(&mut self) -> bool {
        let (save, memory) = (self.at, self.mem.clone());
        let ends = self.sym(",")
            && (self.word() == Some("and")
                || matches!(self.atom(), Ok(Some(_)))
                    && (self.word() == Some("and") || self.ends_list()));
        self.at = save;
        self.mem = memory;
        ends
    }

    /// "Close > MA(10) > MA(20) > MA(50)": comparisons written as a chain of symbols, each
    /// link holding (`left` the last term compared).
    fn chain(&mut self, mut out: Expr, mut left: Expr) -> R<Expr> {
        loop {
            let at = self.at;
            let op = match self.peek() {
                Some(Tok::Sym(">")) => BinOp::Gt,
                Some(Tok::Sym("<")) => BinOp::Lt,
                Some(Tok::Sym(">=")) => BinOp::Ge,
                Some(Tok::Sym("<=")) => BinOp::Le,
                _ => return Ok(out),
            };
            self.at += 1;
            let Some(right) = self.term()? else {
                self.at = at;
                return Ok(out);
            };
            out = and(out, bin(op, left, right.expr.clone()));
            left = right.expr;
        }
    }

    /// "RSI below 30 for 2 days in a row": the condition on each of the last N bars.
    fn in_a_row(&mut self, cond: Expr) -> Expr {
        let save = self.at;
        // "… three trading days ago": the condition as it stood then.
        if let Some(n) = self.number().and_then(whole)
            && self.unit()
            && (self.eat("ago") || self.eat("earlier"))
        {
            return bars_back(cond, n);
        }
        self.at = save;
        // "for the third day in a row": the ordinal counts the days.
        if self.eat_phrase("for the") {
            let n = self
                .eat_any(&["second", "third", "fourth", "fifth", "sixth", "seventh"])
                .map(|w| match w {
                    "second" => 2.0,
                    "third" => 3.0,
                    "fourth" => 4.0,
                    "fifth" => 5.0,
                    "sixth" => 6.0,
                    _ => 7.0,
                });
            if let Some(n) = n
                && self.unit()
                && self.eat_phrase("in a row")
            {
                return bin(
                    BinOp::Eq,
                    call(Func::Count, vec![cond, num(n)], None),
                    num(n),
                );
            }
            self.at = save;
        }
        let _ = self.eat("for");
        let _ = self.eat("the") && (self.eat("last") || self.eat("past"));
        if let Some(n) = self.number().and_then(whole).filter(|n| *n >= 2) {
            let consecutive = self.eat("consecutive") || self.eat("straight");
            if self.unit() || self.eat("times") {
                let in_row = self.eat_phrase("in a row") || self.eat("consecutively");
                if consecutive
                    || in_row
                    || self
                        .toks
                        .get(save)
                        .is_some_and(|t| t.tok == Tok::Word("for".into()))
                        && self.word_at(0).is_none()
                {
                    let n = f64::from(n);
                    return bin(
                        BinOp::Eq,
                        call(Func::Count, vec![cond, num(n)], None),
                        num(n),
                    );
                }
            }
        }
        self.at = save;
        cond
    }

    pub(super) fn time_atom_here(&self) -> bool {
        match self.word() {
            Some("on" | "only" | "between" | "after" | "before" | "during") => true,
            Some("in") => self.word_at(1).is_some_and(|w| MONTHS.contains(&w)),
            Some("except" | "not") => {
                matches!(
                    self.word_at(1),
                    Some("on" | "in" | "between" | "after" | "before" | "during")
                ) || self
                    .word_at(1)
                    .is_some_and(|w| WEEKDAYS.contains(&w.trim_end_matches('s')))
            }
            _ => false,
        }
    }

    /// One comparison, cross or special; `None` (position unchanged) when none starts here.
    /// "both", "they": the two sides of the last cross or pair, with no term after them.
    fn both_they(&mut self, save: usize) -> R<Both> {
        if !(self.eat("both") || self.eat("they") || self.eat_phrase("both of them")) {
            return Ok(Both::ReadOn);
        }
        let both_at = self.at;
        if self.term()?.is_some() {
            self.at = save;
            return Ok(Both::ReadOn);
        }
        if let Some((a, b)) = self.mem.pair.clone() {
            self.at = both_at;
            if let Some(x) = self.predicate(&a)? {
                self.at = both_at;
                if let Some(y) = self.predicate(&b)? {
                    return Ok(Both::Atom(Some(and(x, y))));
                }
            }
        }
        self.at = save;
        Ok(Both::Atom(None))
    }

    pub(super) fn atom(&mut self) -> R<Option<Expr>> {
        let _ = self.eat_phrases(&["there are", "there is", "we have", "we get", "we see"]);
        let save = self.at;
        if self.eat("not") {
            let a = self.atom()?.map(|a| ex(ExprKind::Not(Box::new(a))));
            if a.is_none() {
                self.at = save;
            }
            return Ok(a);
        }
        if let Some(e) = self.special()? {
            return Ok(Some(e));
        }
        self.at = save;
        if let Both::Atom(done) = self.both_they(save)? {
            return Ok(done);
        }
        let _ = self.eat("both") || self.eat("all");
        // Another symbol's condition: "SPY is above its 200-day average".
        if let Some(e) = self.other_symbol()? {
            return Ok(Some(e));
        }
        let Some(first) = self.term()? else {
            // "sell above 70": the subject left out is the last one named.
            self.at = save;
            if let Some(subject) = self.mem.subject.clone()
                && self.verb().is_some_and(|(p, _)| {
                    matches!(
                        p,
                        Pred::Cmp(_)
                            | Pred::Cross(_)
                            | Pred::Oversold
                            | Pred::Overbought
                            | Pred::Slope(_)
                            | Pred::Sign(_)
                    )
                })
                && let Some(e) = self.predicate(&subject)?
            {
                return Ok(Some(e));
            }
            self.at = save;
            return Ok(None);
        };
        // Several subjects: "%K and %D are both below 20".
        let mut subjects = vec![first];
        loop {
            let s = self.at;
            if !(self.eat("and") || self.sym("&") || self.sym(",")) {
                break;
            }
            match self.term()? {
                Some(t) if self.predicate_starts_after_copula() => {
                    subjects.push(t);
                    break;
                }
                Some(t) if self.word() == Some("and") || self.is_sym(",") => subjects.push(t),
                _ => {
                    self.at = s;
                    break;
                }
            }
        }
        if subjects.len() == 1 {
            let subject = subjects.remove(0);
            let before_pred = self.at;
            let previous = self.mem.subject.replace(subject.clone());
            let e = self.predicate(&subject)?;
            if e.is_none() {
                self.mem.subject = previous;
                if !matches!(subject.kind, Kind::Price | Kind::Number) {
                    self.hint = Some(hint_for(&subject)).filter(|h| !h.is_empty());
                }
                self.at = before_pred;
                // A subject with nothing after it is not an atom.
                self.at = save;
                return Ok(None);
            }
            self.mem.subject = Some(subject.clone());
            return self.sound(save, &[subject], e);
        }
        let pred_at = self.at;
        let mut out: Option<Expr> = None;
        for s in &subjects {
            self.at = pred_at;
            let Some(e) = self.predicate(s)? else {
                self.at = save;
                return Ok(None);
            };
            out = Some(match out {
                Some(o) => and(o, e),
                None => e,
            });
        }
        if subjects.len() == 2 {
            self.mem.pair = Some((subjects[0].clone(), subjects[1].clone()));
        }
        self.sound(save, &subjects, out)
    }

    /// Never a wrong file from garbled or cut text (issue 36): a comparison needs something
    /// to compare ("14 falls under 30" has no indicator) and two different sides ("%K crosses
    /// over %K" never happens). Such an atom is refused, quoting its words.
    fn sound(&self, from: usize, subjects: &[Term], e: Option<Expr>) -> R<Option<Expr>> {
        let Some(e) = e else { return Ok(None) };
        let words = self.written(from, self.at);
        if subjects.iter().any(|s| s.kind == Kind::Number) {
            return incomplete(format!(
                "\"{words}\" compares a number, not an indicator or price: name what is compared \
                 (\"RSI(14) below 30\", \"the close above the 50-day SMA\")"
            ));
        }
        if let Some(side) = compares_with_itself(&e) {
            return incomplete(format!(
                "\"{words}\" compares {side} with itself, which never says anything: name the \
                 other side (\"%K crosses above %D\", \"the 50-day SMA above the 200-day SMA\")"
            ));
        }
        Ok(Some(e))
    }

    pub(super) fn predicate_starts_after_copula(&self) -> bool {
        let mut k = 0;
        while self.word_at(k).is_some_and(|w| COPULAS.contains(&w)) {
            k += 1;
        }
        matches!(
            self.peek_at(k),
            Some(Tok::Sym("<" | ">" | "<=" | ">=" | "="))
        ) || VERBS
            .iter()
            .any(|(p, _)| self.phrase_len(p, self.at + k) > 0)
    }

    /// The verb phrase at the position after copulas: the predicate and its length.
    fn verb(&self) -> Option<(Pred, usize)> {
        let mut k = 0;
        while self.word_at(k).is_some_and(|w| COPULAS.contains(&w)) {
            k += 1;
        }
        let op = match self.peek_at(k) {
            Some(Tok::Sym("<")) => Some(BinOp::Lt),
            Some(Tok::Sym(">")) => Some(BinOp::Gt),
            Some(Tok::Sym("<=")) => Some(BinOp::Le),
            Some(Tok::Sym(">=")) => Some(BinOp::Ge),
            Some(Tok::Sym("=")) => Some(BinOp::Eq),
            Some(Tok::Sym("!=")) => Some(BinOp::Ne),
            _ => None,
        };
        if let Some(op) = op {
            return Some((Pred::Cmp(op), k + 1));
        }
        let mut best: Option<(Pred, usize)> = None;
        for (p, pred) in VERBS {
            let n = self.phrase_len(p, self.at + k);
            if n > 0 && best.is_none_or(|b| n + k > b.1) {
                best = Some((*pred, n + k));
            }
        }
        best
    }

    /// What is said of `subject`; `None` (position unchanged) when nothing is.
    #[expect(clippy::too_many_lines, reason = "one branch per kind of predicate")]
    pub(super) fn predicate(&mut self, subject: &Term) -> R<Option<Expr>> {
        let save = self.at;
        // "closes lower 3 days in a row", "has closed up for 2 consecutive days".
        if subject.kind == Kind::Price {
            while self.word().is_some_and(|w| COPULAS.contains(&w)) {
                self.at += 1;
            }
            if self
                .eat_any(&["closes", "closed", "close", "closing"])
                .is_some()
                && let Some(dir) = self.eat_any(&["lower", "down", "higher", "up"])
            {
                let _ = self.eat("for");
                if let Some(n) = self.number().and_then(whole) {
                    let _ = self.eat("consecutive") || self.eat("straight");
                    if self.unit() || self.eat("times") {
                        let _ = self.eat_phrase("in a row")
                            || self.eat("consecutively")
                            || self.eat_phrase("in succession");
                        let op = if matches!(dir, "lower" | "down") {
                            BinOp::Lt
                        } else {
                            BinOp::Gt
                        };
                        let cond = bin(op, name("close"), back(name("close"), 1));
                        return Ok(Some(bin(
                            BinOp::Eq,
                            call(Func::Count, vec![cond, num(f64::from(n))], None),
                            num(f64::from(n)),
                        )));
                    }
                }
            }
            self.at = save;
        }
        // "2% above the SMA", "at least 3% below", "closes 2% above".
        while self.word().is_some_and(|w| {
            COPULAS.contains(&w) || matches!(w, "closes" | "closed" | "trades" | "trading")
        }) {
            self.at += 1;
        }
        // "ADX is 25 or greater", "RSI is 40 and above".
        let at = self.at;
        if let Some(v) = self.number()
            && (self.eat("or") || self.eat("and"))
        {
            let op = match self.word() {
                Some("greater" | "higher" | "more" | "above" | "over") => Some(BinOp::Ge),
                Some("less" | "lower" | "below" | "under" | "fewer") => Some(BinOp::Le),
                _ => None,
            };
            if let Some(op) = op {
                self.at += 1;
                let _ = self.eat("than");
                self.mem.object_of = Some(subject.expr.clone());
                self.mem.object = Some(super::parser::Term::new(num(v), Kind::Number));
                let e = bin(op, subject.expr.clone(), num(v));
                // "40 and above, up to a limit of 70".
                let at = self.at;
                let _ = self.sym(",");
                let upto = op == BinOp::Ge && self.eat_phrase("up to");
                let _ = self.eat_phrase("a limit of") || self.eat_phrase("a maximum of");
                if upto && let Some(m) = self.number() {
                    return Ok(Some(and(e, bin(BinOp::Le, subject.expr.clone(), num(m)))));
                }
                self.at = at;
                return Ok(Some(e));
            }
        }
        self.at = at;
        let mut at_least = self.eat_phrase("at least") || self.eat_phrase("more than");
        if let Some(p) = self.percent() {
            // "2% or more below".
            at_least |= self.eat_phrase("or more");
            let Some(up) = self.side() else {
                self.at = save;
                return Ok(None);
            };
            let Some(right) = self.term()? else {
                return incomplete(format!("{p}% {} what?", if up { "above" } else { "below" }));
            };
            self.mem.object = Some(right.clone());
            let factor = if up { 1.0 + p / 100.0 } else { 1.0 - p / 100.0 };
            return Ok(Some(bin(
                side_op(up, at_least),
                subject.expr.clone(),
                bin(BinOp::Mul, right.expr, num(factor)),
            )));
        }
        if let Some(e) = self.deviations_from(subject, at_least)? {
            return Ok(Some(e));
        }
        self.at = save;
        // "is down for the third day in a row": a slope, said only with how many bars it held
        // ("it is up" alone could mean a trade in profit).
        let before = self.at;
        while self.word().is_some_and(|w| COPULAS.contains(&w)) {
            self.at += 1;
        }
        if let Some(w) = self.eat_any(&["down", "up"]) {
            let op = if w == "up" { BinOp::Gt } else { BinOp::Lt };
            let slope = bin(op, subject.expr.clone(), back(subject.expr.clone(), 1));
            let counted = self.in_a_row(slope.clone());
            if counted != slope {
                return Ok(Some(counted));
            }
        }
        self.at = before;
        let Some((pred, n)) = self.verb() else {
            return Ok(None);
        };
        let verb_start = self.at;
        self.at += n;
        let subj = subject.expr.clone();
        match pred {
            Pred::Cmp(op) => {
                let right = match self.right_side(subject)? {
                    Some(r) => r,
                    // "sell when it closes below" with nothing after: what the last comparison
                    // or cross of the same subject measured against ("… above the 20-day SMA").
                    // Not after "than": "less than" needs what it is less than.
                    // Nor after a symbol ("RSI >"), nor in a comparison that continues another
                    // ("crosses below %D above"): both are cut text.
                    None if self.clause_ends()
                        && !self.continuing
                        && !matches!(
                            self.toks.get(self.at.wrapping_sub(1)).map(|t| &t.tok),
                            Some(Tok::Word(w)) if w == "than"
                        )
                        && !matches!(
                            self.toks.get(self.at.wrapping_sub(1)).map(|t| &t.tok),
                            Some(Tok::Sym(_))
                        )
                        && self.mem.object_of.as_ref() == Some(&subj)
                        && self.mem.object.is_some() =>
                    {
                        self.mem.object.clone().unwrap_or_else(|| subject.clone())
                    }
                    None => {
                        self.at = save;
                        return Ok(None);
                    }
                };
                self.mem.object_of = Some(subj.clone());
                let first = bin(op, subj, right.expr.clone());
                Ok(Some(self.chain(first, right.expr)?))
            }
            Pred::Cross(up) => {
                let right = match self.right_side(subject)? {
                    Some(r) => r,
                    None => match self.mem.cross.clone() {
                        // "it crosses back below": the other side of the last cross.
                        Some((_, r, _)) => Term::new(r, Kind::Other),
                        None => {
                            return incomplete(format!(
                                "\"{}\" what? e.g. \"crosses above the 50-day SMA\"",
                                self.written(verb_start, self.at)
                            ));
                        }
                    },
                };
                self.mem.object_of = Some(subj.clone());
                let up = if self.eat_phrase("from below") {
                    true
                } else if self.eat_phrase("from above") {
                    false
                } else {
                    up
                };
                Ok(Some(self.cross(subj, right.expr, up, subject)))
            }
            Pred::Color(up, turns) => {
                // "MACD crosses bullish": its line crosses its signal line.
                if turns
                    && let ExprKind::Call {
                        func: Func::Macd,
                        args,
                        ..
                    } = &subject.expr.kind
                {
                    let line = call(Func::Macd, args.clone(), Some(Field::Line));
                    let signal = call(Func::Macd, args.clone(), Some(Field::Signal));
                    return Ok(Some(self.cross(line, signal, up, subject)));
                }
                // Supertrend's direction is -1 in an uptrend (TradingView's green).
                let ExprKind::Call {
                    func: Func::Supertrend,
                    args,
                    ..
                } = &subject.expr.kind
                else {
                    self.at = save;
                    return Ok(None);
                };
                let dir = call(Func::Supertrend, args.clone(), Some(Field::Direction));
                Ok(Some(match (up, turns) {
                    (true, true) => self.cross(dir, num(0.0), false, subject),
                    (false, true) => self.cross(dir, num(0.0), true, subject),
                    (true, false) => bin(BinOp::Lt, dir, num(0.0)),
                    (false, false) => bin(BinOp::Gt, dir, num(0.0)),
                }))
            }
            Pred::Broken => match subject.kind {
                Kind::Upper => Ok(Some(bin(BinOp::Gt, name("close"), subj))),
                Kind::Lower => Ok(Some(bin(BinOp::Lt, name("close"), subj))),
                _ => {
                    self.at = save;
                    Ok(None)
                }
            },
            Pred::CrossBack => {
                let Some((a, b, up)) = self.mem.cross.clone() else {
                    return incomplete("\"crosses back\" needs a cross said before it");
                };
                // Crossing back over what is named, or over the last cross's other side.
                let b = match self.right_side(subject)? {
                    Some(r) => r.expr,
                    None => b,
                };
                let _ = a;
                Ok(Some(self.cross(subj, b, !up, subject)))
            }
            Pred::CrossSomeway => {
                let right = match self.right_side(subject)? {
                    Some(r) => r,
                    // "if it crosses to the downside": the last cross's other side.
                    None => match self.mem.cross.clone() {
                        Some((_, r, _))
                            if matches!(self.word_at(2), Some("upside" | "downside")) =>
                        {
                            Term::new(r, Kind::Other)
                        }
                        _ => {
                            self.at = save;
                            return Ok(None);
                        }
                    },
                };
                if self.eat_phrase("from below")
                    || self.eat_phrase("to the upside")
                    || self.eat_phrase("from bottom to top")
                {
                    return Ok(Some(self.cross(subj, right.expr, true, subject)));
                }
                if self.eat_phrase("from above")
                    || self.eat_phrase("to the downside")
                    || self.eat_phrase("from top to bottom")
                {
                    return Ok(Some(self.cross(subj, right.expr, false, subject)));
                }
                let s = display(subject);
                let r = display(&right);
                Err(GenerateError::NotUnderstood {
                    words: vec![self.written(verb_start, self.at)],
                    hints: vec![
                        format!("{s} crosses above {r}"),
                        format!("{s} crosses below {r}"),
                    ],
                })
            }
            Pred::Touch => {
                let Some(right) = self.term()? else {
                    self.at = save;
                    return Ok(None);
                };
                if subject.kind != Kind::Price {
                    self.at = save;
                    return Ok(None);
                }
                match right.kind {
                    Kind::Upper => Ok(Some(bin(BinOp::Ge, name("high"), right.expr))),
                    Kind::Lower => Ok(Some(bin(BinOp::Le, name("low"), right.expr))),
                    _ => Err(GenerateError::NotUnderstood {
                        words: vec![self.written(verb_start, self.at)],
                        hints: vec![
                            format!("price crosses above {}", display(&right)),
                            format!("price falls below {}", display(&right)),
                        ],
                    }),
                }
            }
            Pred::Oversold | Pred::Overbought | Pred::LeavesOversold | Pred::LeavesOverbought => {
                self.eat_any(&["territory", "zone", "area", "levels", "level", "region"]);
                let (lo, hi) = Self::levels(subject)?;
                let subj = oscillator_line(subject);
                Ok(Some(match pred {
                    Pred::Oversold => bin(BinOp::Lt, subj, num(lo)),
                    Pred::Overbought => bin(BinOp::Gt, subj, num(hi)),
                    Pred::LeavesOversold => self.cross(subj, num(lo), true, subject),
                    _ => self.cross(subj, num(hi), false, subject),
                }))
            }
            Pred::Turns(up) => Ok(Some(self.cross(subj, num(0.0), up, subject))),
            Pred::Sign(up) => Ok(Some(bin(
                if up { BinOp::Gt } else { BinOp::Lt },
                subj,
                num(0.0),
            ))),
            Pred::Slope(up) => {
                // "rises above" is a comparison; here the verb stands alone.
                if matches!(
                    self.word(),
                    Some("above" | "below" | "over" | "under" | "to")
                ) {
                    self.at = save;
                    return Ok(None);
                }
                Ok(Some(bin(
                    if up { BinOp::Gt } else { BinOp::Lt },
                    subj.clone(),
                    back(subj, 1),
                )))
            }
            Pred::Between => {
                let Some(a) = self.term()? else {
                    return incomplete("between what? e.g. \"between 40 and 60\"");
                };
                if !(self.eat("and") || self.sym("-") || self.eat("to")) {
                    return incomplete("between what and what? e.g. \"between 40 and 60\"");
                }
                let Some(b) = self.term()? else {
                    return incomplete("between what and what? e.g. \"between 40 and 60\"");
                };
                let (lo, hi) = if subject.kind == Kind::Time {
                    (BinOp::Ge, BinOp::Lt)
                } else {
                    (BinOp::Gt, BinOp::Lt)
                };
                Ok(Some(and(
                    bin(lo, subj.clone(), a.expr),
                    bin(hi, subj, b.expr),
                )))
            }
            Pred::New => {
                let Some(n) = self.number().and_then(whole) else {
                    return incomplete(
                        "a new high or low over how many bars? e.g. \"a new 20-day high\"",
                    );
                };
                self.unit();
                let high =
                    if self.eat("high") || self.eat("highs") || self.eat_phrase("closing high") {
                        true
                    } else if self.eat("low") || self.eat("lows") || self.eat_phrase("closing low")
                    {
                        false
                    } else {
                        return incomplete("a new what? \"a new 20-day high\" or \"low\"");
                    };
                let (src, left) = if subject.kind == Kind::Price {
                    (name(if high { "high" } else { "low" }), name("close"))
                } else {
                    (subj.clone(), subj)
                };
                Ok(Some(new_extreme(left, src, n, high)))
            }
        }
    }

    /// The right side of a comparison: a term, with "the 50" meaning the subject's kind of
    /// average with period 50.
    pub(super) fn right_side(&mut self, subject: &Term) -> R<Option<Term>> {
        let t = self.right_side_inner(subject)?;
        if let Some(t) = &t {
            self.mem.object = Some(t.clone());
        }
        Ok(t)
    }

    pub(super) fn right_side_inner(&mut self, subject: &Term) -> R<Option<Term>> {
        let save = self.at;
        if self.eat("it") || self.eat("them") {
            if let Some(o) = self.mem.object.clone() {
                return Ok(Some(o));
            }
            self.at = save;
        }
        self.skip_articles();
        if let Some(Tok::Num(v)) = self.peek().cloned() {
            let had_article = self.at > save;
            if let (true, Kind::Indicator(f @ (Func::Sma | Func::Ema | Func::Wma))) =
                (had_article, &subject.kind)
            {
                self.at += 1;
                self.unit();
                if self.indicator_here().is_none() && !self.is_sym("%") {
                    let ExprKind::Call { args, .. } = &subject.expr.kind else {
                        return Ok(None);
                    };
                    let Some(n) = whole(v) else {
                        return incomplete("a period must be a whole number");
                    };
                    let mut args = args.clone();
                    args[1] = num(f64::from(n));
                    return Ok(Some(Term::new(call(*f, args, None), subject.kind.clone())));
                }
            }
        }
        self.at = save;
        let t = self.term()?;
        Ok(t)
    }

    /// Builds a cross; "in the last candle", "on this bar" after it say it is this bar's, as
    /// every cross is.
    pub(super) fn cross(&mut self, a: Expr, b: Expr, up: bool, subject: &Term) -> Expr {
        let _ = self.eat_phrases(&[
            "in the last candle",
            "on the last candle",
            "in the last bar",
            "on the last bar",
            "on this candle",
            "on this bar",
            "on the current candle",
            "on the current bar",
        ]);
        self.mem.cross = Some((a.clone(), b.clone(), up));
        self.mem.pair = Some((subject.clone(), Term::new(b.clone(), Kind::Other)));
        call(
            if up {
                Func::CrossesAbove
            } else {
                Func::CrossesBelow
            },
            vec![a, b],
            None,
        )
    }

    pub(super) fn levels(subject: &Term) -> R<(f64, f64)> {
        let f = match &subject.expr.kind {
            ExprKind::Call { func, .. } => Some(*func),
            _ => None,
        };
        match f.and_then(vocab::indicator).and_then(|i| i.levels) {
            Some(l) => Ok(l),
            None => incomplete(
                "oversold and overbought are defined for RSI, the stochastic, Williams %R, CCI and MFI: say the level, e.g. \"below 30\"",
            ),
        }
    }
}

/// `left > highest(src, n)[1]` (or below the lowest).
pub(super) fn new_extreme(left: Expr, src: Expr, n: u32, high: bool) -> Expr {
    let (f, op) = if high {
        (Func::Highest, BinOp::Gt)
    } else {
        (Func::Lowest, BinOp::Lt)
    };
    bin(
        op,
        left,
        back(call(f, vec![src, num(f64::from(n))], None), 1),
    )
}

/// The line oversold/overbought speak of: the stochastic's %K, else the subject.
pub(super) fn oscillator_line(t: &Term) -> Expr {
    match &t.expr.kind {
        ExprKind::Call {
            func: Func::Stoch,
            args,
            field: None,
        } => call(Func::Stoch, args.clone(), Some(Field::K)),
        _ => t.expr.clone(),
    }
}

/// The side of a comparison or cross in `e` (through "and", "or", "not") whose two sides are
/// the same expression, written as a trader would.
fn compares_with_itself(e: &Expr) -> Option<String> {
    match &e.kind {
        ExprKind::Not(a) => compares_with_itself(a),
        ExprKind::Binary(BinOp::And | BinOp::Or, a, b) => {
            compares_with_itself(a).or_else(|| compares_with_itself(b))
        }
        ExprKind::Binary(op, a, b) if op.is_comparison() && a == b => Some(display_expr(a)),
        ExprKind::Call {
            func: Func::CrossesAbove | Func::CrossesBelow,
            args,
            ..
        } if args.len() == 2 && args[0] == args[1] => Some(display_expr(&args[0])),
        _ => None,
    }
}

/// `e` `n` bars back: every series in it read `n` bars earlier (numbers stay).
fn bars_back(e: Expr, n: u32) -> Expr {
    match e.kind {
        ExprKind::Num(_) => e,
        ExprKind::Binary(op, a, b)
            if op.is_comparison() || matches!(op, BinOp::And | BinOp::Or) =>
        {
            bin(op, bars_back(*a, n), bars_back(*b, n))
        }
        ExprKind::Not(a) => ex(ExprKind::Not(Box::new(bars_back(*a, n)))),
        ExprKind::Back(inner, k) => back(*inner, k + n),
        _ => back(e, n),
    }
}
