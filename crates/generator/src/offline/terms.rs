//! Terms: numbers, prices, earlier bars, indicators with their settings, outputs and series,
//! and references ("it", "its signal line", "the fast one").

use strategy::{BinOp, Expr, ExprKind, Field, Func};

use super::lex::Tok;
use super::parser::UNITS;
use super::parser::{Kind, Parser, R, Term, back, bin, call, incomplete, name, num, whole};
use super::vocab::{INDICATORS, Indicator};
use crate::GenerateError;

impl Parser<'_> {
    // ---- terms -------------------------------------------------------------------------

    /// A term, or `None` (position unchanged) when the next words are not one.
    pub(super) fn term(&mut self) -> R<Option<Term>> {
        let save = self.at;
        let Some(mut left) = self.product()? else {
            self.at = save;
            return Ok(None);
        };
        loop {
            let op_at = self.at;
            let op = if self.sym("+") || self.eat("plus") {
                BinOp::Add
            } else if self.sym("-") || self.eat("minus") {
                BinOp::Sub
            } else {
                break;
            };
            if let Some(r) = self.product()? {
                left = Term::new(bin(op, left.expr, r.expr), Kind::Other);
            } else {
                self.at = op_at;
                break;
            }
        }
        Ok(Some(left))
    }

    pub(super) fn product(&mut self) -> R<Option<Term>> {
        // "twice the 20-day average volume", "triple the ATR".
        let save = self.at;
        if let Some(w) = self.eat_any(&["twice", "double", "triple", "thrice"]) {
            self.skip_articles();
            let factor = if w == "twice" || w == "double" {
                2.0
            } else {
                3.0
            };
            if let Some(r) = self.product()? {
                return Ok(Some(Term::new(
                    bin(BinOp::Mul, num(factor), r.expr),
                    Kind::Other,
                )));
            }
            self.at = save;
            return Ok(None);
        }
        let Some(mut left) = self.primary()? else {
            return Ok(None);
        };
        loop {
            let op_at = self.at;
            // "(close - low) / (high - low)": a division of a parenthesised term.
            let divide = self.is_sym("/") && matches!(self.peek_at(1), Some(Tok::Sym("(")));
            if divide {
                self.at += 1;
            } else if !(self.sym("*") || self.eat("x") || self.eat("times")) {
                break;
            }
            self.skip_articles();
            if let Some(r) = self.primary()? {
                let op = if divide { BinOp::Div } else { BinOp::Mul };
                left = Term::new(bin(op, left.expr, r.expr), Kind::Other);
            } else {
                self.at = op_at;
                break;
            }
        }
        Ok(Some(left))
    }

    pub(super) fn unit(&mut self) -> bool {
        let save = self.at;
        let _ = self.eat("trading");
        if self.eat_any(&UNITS).is_some() {
            return true;
        }
        self.at = save;
        false
    }

    #[expect(clippy::too_many_lines, reason = "one branch per kind of term")]
    pub(super) fn primary(&mut self) -> R<Option<Term>> {
        let save = self.at;
        self.skip_articles();
        if let Some(v) = self.named_level() {
            return Ok(Some(Term::new(num(v), Kind::Number)));
        }
        if self.sym("(") {
            if let Some(mut t) = self.term()? {
                // "(close - low)": sums and differences inside parentheses.
                loop {
                    let op = if self.sym("+") {
                        BinOp::Add
                    } else if self.sym("-") {
                        BinOp::Sub
                    } else {
                        break;
                    };
                    let Some(r) = self.term()? else {
                        self.at = save;
                        return Ok(None);
                    };
                    t = Term::new(bin(op, t.expr, r.expr), Kind::Other);
                }
                if self.sym(")") {
                    return Ok(Some(t));
                }
            }
            self.at = save;
            return Ok(None);
        }
        // A number: a value, or the period of what follows ("20-day SMA"), or a multiplier
        // ("2 ATR").
        let number_at = self.at;
        if let Some(v) = self.number() {
            let after_num = self.at;
            // Calendar spans are not bars: "52-week high" would need the data's bar size.
            if self
                .eat_any(&["week", "weeks", "month", "months", "year", "years"])
                .is_some()
            {
                let _ = self.eat_any(&["high", "low", "highs", "lows", "average", "moving"]);
                return Err(GenerateError::NotUnderstood {
                    words: vec![self.written(after_num - 1, self.at)],
                    hints: vec![format!(
                        "a span in bars, e.g. \"the {}-day high\" (about {} weeks of daily bars)",
                        (v * 5.0).round(),
                        v
                    )],
                });
            }
            let had_unit = self.unit();
            // "the 2-day sum of RSI(2)".
            if had_unit
                && self.word() == Some("sum")
                && self.word_at(1) == Some("of")
                && let Some(n) = whole(v)
            {
                self.at += 2;
                if let Some(t) = self.primary()? {
                    return Ok(Some(Term::new(
                        call(Func::Sum, vec![t.expr, num(f64::from(n))], None),
                        Kind::Other,
                    )));
                }
                self.at = save;
                return Ok(None);
            }
            if let Some(t) = self.n_bar_extreme(v)? {
                return Ok(Some(t));
            }
            if let Some(t) = self.derived(Some(v))? {
                return Ok(Some(t));
            }
            if let Some(ind) = self.indicator_here() {
                if ind.multiplier_first && !had_unit {
                    let t = self.indicator(None)?;
                    return Ok(Some(Term::new(
                        bin(BinOp::Mul, num(v), t.expr),
                        Kind::Other,
                    )));
                }
                return self.indicator(Some(v)).map(Some);
            }
            if had_unit
                && self.indicator_here().is_none()
                && !matches!(self.word(), Some("ago" | "earlier" | "in" | "high" | "low"))
                && let (Some(f), Some(n)) = (self.mem.last_ma, whole(v))
            {
                let t = Term::new(
                    call(f, vec![name("close"), num(f64::from(n))], None),
                    Kind::Indicator(f),
                );
                return Ok(Some(t));
            }
            if had_unit && (self.eat("ago") || self.eat("earlier")) {
                // "20 bars ago" without a series: not a term.
                self.at = save;
                return Ok(None);
            }
            self.at = after_num;
            if self.eat("ago") {
                self.at = save;
                return Ok(None);
            }
            // "above the 200": the article makes it an average's period, not a level ("above
            // 200", "the 50 level").
            let the_before = number_at
                .checked_sub(1)
                .and_then(|k| self.toks.get(k))
                .is_some_and(|t| t.tok == Tok::Word("the".into()));
            if the_before
                && !had_unit
                && !matches!(
                    self.word(),
                    Some("level" | "line" | "mark" | "area" | "zone" | "threshold")
                )
                && !self.is_sym("%")
                && !self.is_sym("/")
                && let Some(n) = whole(v)
            {
                let Some(f) = self.mem.last_ma else {
                    return incomplete(format!(
                        "\"the {n}\": the {n} of what? Write \"the {n}-day SMA\" (or EMA) for an \
                         average, or \"{n}\" alone for a level"
                    ));
                };
                return Ok(Some(Term::new(
                    call(f, vec![name("close"), num(f64::from(n))], None),
                    Kind::Indicator(f),
                )));
            }
            // "98% of the lower band": a fraction of a level.
            let pct_at = self.at;
            if (self.sym("%") || self.eat("percent"))
                && self.eat("of")
                && let Some(t) = self.primary()?
                && !matches!(t.kind, Kind::Number)
            {
                return Ok(Some(Term::new(
                    bin(BinOp::Mul, num(v / 100.0), t.expr),
                    Kind::Other,
                )));
            }
            self.at = pct_at;
            // "profit above 10%", "ROC over 5%": a value in percent.
            if (self.sym("%") || self.eat("percent"))
                && matches!(self.word(), Some("above" | "below" | "over" | "under"))
            {
                self.at = pct_at;
            }
            return Ok(Some(Term::new(num(v), Kind::Number)));
        }
        if self.eat("zero") {
            self.eat("line");
            return Ok(Some(Term::new(num(0.0), Kind::Number)));
        }
        // "today's close", "the current day's close".
        if self.eat("today") || self.eat("todays") || self.eat("current") || self.eat("latest") {
            let _ = self.eat_any(&["day", "bar", "candle", "session"]);
        }
        if self.eat_phrases(&[
            "open profit",
            "trade profit",
            "open pnl",
            "unrealized profit",
            "profit",
        ]) {
            return Ok(Some(Term::new(name("open_pnl_pct"), Kind::Other)));
        }
        // "the highest high of the last 20 days", "the lowest close in the past 10 bars".
        for (w, func, kind) in [
            ("highest", Func::Highest, Kind::Upper),
            ("lowest", Func::Lowest, Kind::Lower),
        ] {
            let at = self.at;
            if self.eat(w) {
                if let Some(p) = self.price_word() {
                    let _ =
                        self.eat("of") || self.eat("in") || self.eat("over") || self.eat("during");
                    self.skip_articles();
                    let _ = self.eat_any(&["last", "previous", "past", "prior", "preceding"]);
                    if let Some(n) = self.number().and_then(whole).filter(|n| *n >= 2)
                        && self.unit()
                    {
                        return Ok(Some(Term::new(
                            back(call(func, vec![name(p), num(f64::from(n))], None), 1),
                            kind,
                        )));
                    }
                }
                self.at = at;
            }
        }
        // Previous bars: "the previous close", "yesterday's high", "the prior day's low".
        if self
            .eat_any(&[
                "previous",
                "prior",
                "yesterday",
                "yesterdays",
                "preceding",
                "last",
            ])
            .is_some()
        {
            // "the previous 20-bar high": the N-bar high (already the bars before this one).
            let at = self.at;
            if let Some(v) = self.number() {
                let _ = self.unit();
                if let Some(t) = self.n_bar_extreme(v)? {
                    return Ok(Some(t));
                }
                self.at = at;
            }
            let _ = self.eat_any(&["day", "bar", "candle", "session", "days", "bars"]);
            if let Some(p) = self.price_word() {
                return Ok(Some(Term::new(back(name(p), 1), Kind::Price)));
            }
            // "the previous RSI": the indicator one bar back.
            if self.indicator_here().is_some() {
                let t = self.indicator(None)?;
                return Ok(Some(Term::new(back(t.expr, 1), t.kind)));
            }
            self.at = save;
            return Ok(None);
        }
        // "the signal candle's low": the bar that gives the signal, this one.
        let signal_at = self.at;
        if self.eat_phrases(&["signal candle", "signal bar", "setup bar", "setup candle"]) {
            if let Some(p) = self.price_word() {
                return Ok(Some(Term::new(name(p), Kind::Price)));
            }
            self.at = signal_at;
        }
        if let Some(p) = self.price_word() {
            // "the close 3 bars ago", "close[1]", "the high of the previous bar".
            if let Some(n) = self.bars_ago() {
                return Ok(Some(Term::new(back(name(p), n), Kind::Price)));
            }
            if self.eat_phrases(&[
                "of the previous bar",
                "of the previous day",
                "of the prior bar",
                "of the prior day",
                "of the previous candle",
            ]) {
                return Ok(Some(Term::new(back(name(p), 1), Kind::Price)));
            }
            // "volume's 20-day average", "the average of volume" come through indicators.
            if let Some(t) = self.source_of_average(p)? {
                return Ok(Some(t));
            }
            return Ok(Some(Term::new(name(p), Kind::Price)));
        }
        for f in ["hour", "minute", "weekday", "month", "year"] {
            if self.eat(f) {
                return Ok(Some(Term::new(name(f), Kind::Time)));
            }
        }
        if self.eat_phrase("entry price") || self.eat_phrase("entry") {
            return Ok(Some(Term::new(name("entry_price"), Kind::Price)));
        }

        // References.
        if self.eat("it") {
            // With nothing named yet, "it" is the instrument: "buy when it closes above …".
            return Ok(Some(
                self.mem
                    .subject
                    .clone()
                    .unwrap_or_else(|| Term::new(name("close"), Kind::Price)),
            ));
        }
        if self.eat("its") {
            return self.its().map(Some);
        }
        if self.word() == Some("signal")
            && let Some(t) = self.signal_of_subject()
        {
            return Ok(Some(t));
        }
        // A name defined before ("SMA = simple moving average of length 200"), unless settings
        // follow it ("SMA(50)", "SMA 50").
        if let Some(t) = self.word().and_then(|w| self.mem.defined.get(w)).cloned()
            && !matches!(self.peek_at(1), Some(Tok::Num(_)))
            && !(matches!(self.peek_at(1), Some(Tok::Sym("(")))
                && matches!(self.peek_at(2), Some(Tok::Num(_))))
        {
            self.at += 1;
            return Ok(Some(t));
        }
        if self.word() == Some("fast") || self.word() == Some("slow") {
            return self.fast_slow();
        }
        if let Some(t) = self.derived(None)? {
            return Ok(Some(t));
        }
        if self.indicator_here().is_some() {
            return self.indicator(None).map(Some);
        }
        self.at = save;
        Ok(None)
    }

    pub(super) fn price_word(&mut self) -> Option<&'static str> {
        let w = self.word()?.to_owned();
        let p = match w.as_str() {
            "close" | "closes" | "closing" | "price" | "prices" | "stock" | "market" | "asset"
            | "etf" | "instrument" | "security" | "index" | "share" | "spy" | "ticker" => "close",
            "open" | "opening" => "open",
            "high" => "high",
            "low" => "low",
            // "the max of the previous candle".
            "max" | "maximum" if self.word_at(1) == Some("of") => "high",
            "min" | "minimum" if self.word_at(1) == Some("of") => "low",
            "volume" => "volume",
            "candle" | "bar" => {
                // "the candle closes above": the close, named by the verb.
                if matches!(
                    self.word_at(1),
                    Some("closes" | "close" | "trades" | "crosses")
                ) {
                    "close"
                } else {
                    return None;
                }
            }
            _ => return None,
        };
        self.at += 1;
        if p != "volume" && matches!(w.as_str(), "closing" | "opening") {
            self.eat("price");
        }
        if p == "close" && w != "price" {
            let _ = self.eat("price") || self.eat("prices");
        }
        Some(p)
    }

    pub(super) fn bars_ago(&mut self) -> Option<u32> {
        let save = self.at;
        if self.sym("[") {
            if let Some(n) = self.number().and_then(whole)
                && self.sym("]")
            {
                return Some(n);
            }
            self.at = save;
            return None;
        }
        let n = self.number().and_then(whole);
        if let Some(n) = n
            && self.unit()
            && self.eat("ago")
        {
            return Some(n);
        }
        self.at = save;
        None
    }

    /// "close" followed by "'s N-day average" / "N-day moving average": an average of it.
    pub(super) fn source_of_average(&mut self, p: &str) -> R<Option<Term>> {
        let save = self.at;
        if let Some(n) = self.number() {
            self.unit();
            if let Some(ind) = self.indicator_here()
                && ind.series
                && !ind.multiplier_first
            {
                let t = self.indicator_on(Some(n), Some(name(p)))?;
                return Ok(Some(t));
            }
        }
        self.at = save;
        Ok(None)
    }

    /// "its signal line", "its 20-day average", "its previous value".
    pub(super) fn its(&mut self) -> R<Term> {
        // With nothing named yet, "its" is the instrument's: "above its 200-day average".
        let subject = self
            .mem
            .subject
            .clone()
            .unwrap_or_else(|| Term::new(name("close"), Kind::Price));
        if self.eat("signal") {
            self.eat("line");
            return match &subject.expr.kind {
                ExprKind::Call {
                    func: Func::Macd,
                    args,
                    ..
                } => Ok(Term::new(
                    call(Func::Macd, args.clone(), Some(Field::Signal)),
                    Kind::Indicator(Func::Macd),
                )),
                ExprKind::Call {
                    func: Func::Stoch,
                    args,
                    ..
                } => Ok(Term::new(
                    call(Func::Stoch, args.clone(), Some(Field::D)),
                    Kind::Indicator(Func::Stoch),
                )),
                _ => incomplete(
                    "only MACD and the stochastic have a signal line: say \"MACD crosses above its signal line\"",
                ),
            };
        }
        if self.eat_phrase("previous value") || self.eat_phrase("prior value") {
            return Ok(Term::new(back(subject.expr, 1), subject.kind));
        }
        // "the bar closes above its open": the bar's own prices.
        if subject.kind == Kind::Price
            && let Some(p) = self.eat_any(&["open", "high", "low"])
        {
            return Ok(Term::new(name(p), Kind::Price));
        }
        let n = self.number();
        self.unit();
        if let Some(ind) = self.indicator_here()
            && ind.series
        {
            return self.indicator_on(n, Some(subject.expr));
        }
        incomplete(
            "after \"its\" say what: \"its signal line\", \"its 20-day average\" or \"its previous value\"",
        )
    }

    /// "10/20 SMA crossover", "SMA 10/20 cross", "EMA 9/21": a fast and a slow average.
    pub(super) fn ma_pair(&mut self) -> R<bool> {
        let save = self.at;
        let lead = self.number().and_then(|a| {
            (self.sym("/")).then_some(())?;
            self.number().map(|b| (a, b))
        });
        let _ = self.unit();
        let Some(ind) = self
            .indicator_here()
            .filter(|i| matches!(i.func, Func::Sma | Func::Ema | Func::Wma))
        else {
            self.at = save;
            return Ok(false);
        };
        let Some((_, _, n)) = self.match_indicator(self.at) else {
            self.at = save;
            return Ok(false);
        };
        self.at += n;
        // "SMA crossover 10/20", "dual SMA cross (10, 20)".
        let named_first = lead.is_none()
            && self
                .eat_any(&["crossover", "cross", "crossing", "crossovers"])
                .is_some();
        let paren = named_first && self.sym("(");
        let pair = match lead {
            Some(p) => Some(p),
            None if paren => self.number().and_then(|a| {
                (self.sym(",") || self.sym("/")).then_some(())?;
                let b = self.number()?;
                self.sym(")").then_some((a, b))
            }),
            None => self.number().and_then(|a| {
                (self.sym("/")).then_some(())?;
                self.number().map(|b| (a, b))
            }),
        };
        let Some((a, b)) = pair else {
            self.at = save;
            return Ok(false);
        };
        let (Some(a), Some(b)) = (whole(a).filter(|a| *a >= 2), whole(b).filter(|b| *b >= 2))
        else {
            return incomplete("a moving-average pair needs two whole periods, e.g. \"10/30 SMA\"");
        };
        let _ = self.eat_any(&[
            "crossover",
            "cross",
            "crossing",
            "crossovers",
            "system",
            "strategy",
        ]);
        let ma = |n: u32| {
            Term::new(
                call(ind.func, vec![name("close"), num(f64::from(n))], None),
                Kind::Indicator(ind.func),
            )
        };
        self.mem.fast = Some(ma(a.min(b)));
        self.mem.slow = Some(ma(a.max(b)));
        self.mem.last_ma = Some(ind.func);
        Ok(true)
    }

    /// "signal" / "signal line" after a stochastic: its %D (after MACD: its signal).
    pub(super) fn signal_of_subject(&mut self) -> Option<Term> {
        let subject = self.mem.subject.clone()?;
        let ExprKind::Call {
            func: f @ (Func::Stoch | Func::Macd),
            args,
            ..
        } = &subject.expr.kind
        else {
            return None;
        };
        self.eat("signal");
        self.eat("line");
        let field = if *f == Func::Stoch {
            Field::D
        } else {
            Field::Signal
        };
        Some(Term::new(
            call(*f, args.clone(), Some(field)),
            Kind::Indicator(*f),
        ))
    }

    /// "the fast MA", "fast SMA 10", "the slow one".
    pub(super) fn fast_slow(&mut self) -> R<Option<Term>> {
        let save = self.at;
        let fast = self.eat("fast");
        if !fast {
            self.eat("slow");
        }
        let referenced = if fast {
            self.mem.fast.clone()
        } else {
            self.mem.slow.clone()
        };
        if let (Some(t), Some((_, _, n))) = (referenced, self.match_indicator(self.at)) {
            // "the fast EMA" after "9/21 EMA": the remembered one.
            if !matches!(self.peek_at(n), Some(Tok::Num(_) | Tok::Sym("("))) {
                self.at += n;
                return Ok(Some(t));
            }
        }
        if self.indicator_here().is_some() || matches!(self.peek(), Some(Tok::Num(_))) {
            let n = self.number();
            self.unit();
            if self.indicator_here().is_some() {
                let t = self.indicator(n)?;
                if fast {
                    self.mem.fast = Some(t.clone());
                } else {
                    self.mem.slow = Some(t.clone());
                }
                return Ok(Some(t));
            }
            self.at = save;
            return Ok(None);
        }
        let _ = self.eat_any(&["one", "line", "average", "ma"]);
        let t = if fast {
            self.mem.fast.clone()
        } else {
            self.mem.slow.clone()
        };
        if let Some(t) = t {
            Ok(Some(t))
        } else {
            self.at = save;
            Ok(None)
        }
    }

    /// The indicator whose phrase starts here, without moving.
    pub(super) fn indicator_here(&self) -> Option<&'static Indicator> {
        self.match_indicator(self.at).map(|(i, _, _)| i)
    }

    /// The longest indicator phrase at `at`: the indicator, the field it names and its length.
    pub(super) fn match_indicator(
        &self,
        at: usize,
    ) -> Option<(&'static Indicator, Option<Field>, usize)> {
        let mut best: Option<(&'static Indicator, Option<Field>, usize)> = None;
        for ind in INDICATORS {
            for (p, f) in ind.phrases {
                let n = self.phrase_len(p, at);
                if n > 0 && best.is_none_or(|b| n > b.2) {
                    best = Some((ind, *f, n));
                }
            }
        }
        best
    }

    pub(super) fn indicator(&mut self, lead: Option<f64>) -> R<Term> {
        self.indicator_on(lead, None)
    }

    /// An indicator mention with its settings, output and series.
    #[expect(
        clippy::too_many_lines,
        reason = "settings, outputs and series in one place"
    )]
    pub(super) fn indicator_on(&mut self, lead: Option<f64>, series: Option<Expr>) -> R<Term> {
        let start = self.at;
        let Some((ind, mut field, n)) = self.match_indicator(self.at) else {
            return incomplete("an indicator was expected");
        };
        self.at += n;
        // "ema1 (5) … ema1": a name with a number glued to it labels one average.
        if let Some(t) = self.labelled(ind.func) {
            return Ok(t);
        }
        let mut series = series;
        let mut settings: Vec<f64> = lead.into_iter().collect();
        // Settings after the name: (14), (close, 20), (12, 26, 9), (14-day), 12/26/9, 14,
        // "with a period of 14", "of 14", "period 14", "length 14".
        let mut after = Vec::new();
        let save = self.at;
        if self.sym("(") {
            if ind.series
                && let Some(p) = self.price_word()
            {
                series = Some(name(p));
                self.sym(",");
            }
            while let Some(v) = self.number() {
                after.push(v);
                self.unit();
                if !(self.sym(",") || self.sym("/")) {
                    break;
                }
            }
            if !self.sym(")") {
                self.at = save;
                after.clear();
            }
        } else if !self.level_next {
            let save = self.at;
            let _ = self.eat_phrases(&[
                "with a period of",
                "with period",
                "period of",
                "of length",
                "with a length of",
                "with length",
                "length of",
            ]) || self.eat("period")
                || self.eat("length")
                || self.eat("of") && matches!(self.peek(), Some(Tok::Num(_)));
            if let Some(v) = self.number() {
                // Not a value: "RSI 30%" or "20 bars ago".
                if self.is_sym("%") || self.word() == Some("percent") {
                    self.at = save;
                } else {
                    after.push(v);
                    while self.is_sym("/") {
                        self.sym("/");
                        match self.number() {
                            Some(v) => after.push(v),
                            None => break,
                        }
                    }
                    if self.unit() && (self.word() == Some("ago")) {
                        self.at = save;
                        after.clear();
                    }
                }
            } else {
                self.at = save;
            }
        }
        if !after.is_empty() {
            if !settings.is_empty() {
                return incomplete(format!(
                    "\"{}\" gives the settings twice",
                    self.written(start.saturating_sub(2), self.at)
                ));
            }
            settings = after;
        }
        // An output named after the name: "MACD signal line", "Bollinger upper band", "%K".
        if !ind.fields.is_empty() {
            let mut best: Option<(Field, usize)> = None;
            for (p, f) in ind.fields {
                let k = self.phrase_len(p, self.at);
                if k > 0 && best.is_none_or(|b| k > b.1) {
                    best = Some((*f, k));
                }
            }
            if let Some((f, k)) = best {
                field = Some(f);
                self.at += k;
                // Settings after the output: "stochastic %K(14, 3, 3)".
                if settings.is_empty() && self.is_sym("(") {
                    let save = self.at;
                    self.sym("(");
                    let mut after = Vec::new();
                    while let Some(v) = self.number() {
                        after.push(v);
                        if !(self.sym(",") || self.sym("/")) {
                            break;
                        }
                    }
                    if self.sym(")") && !after.is_empty() {
                        settings = after;
                    } else {
                        self.at = save;
                    }
                }
            }
        }
        // A series after: "SMA of volume", "the 20-day average of the close".
        if ind.series && series.is_none() {
            let save = self.at;
            if self.eat("of") || self.eat("on") {
                self.skip_articles();
                if let Some(p) = self.price_word() {
                    series = Some(name(p));
                } else if let Some(e) = self.blended_price() {
                    series = Some(e);
                } else {
                    self.at = save;
                }
            } else if let Some(p) = (ind.func == Func::Sma && matches!(self.word(), Some("volume")))
                .then(|| self.price_word())
                .flatten()
            {
                // "20-day average volume".
                series = Some(name(p));
            }
        }
        let defaults = ind.defaults;
        // Named again with nothing said: the same one ("RSI(10) of hl2 … RSI crosses below").
        if settings.is_empty() && series.is_none() {
            series = self.mem.series.get(&ind.func).cloned();
        } else if let Some(e) = &series {
            self.mem.series.insert(ind.func, e.clone());
        } else {
            self.mem.series.remove(&ind.func);
        }
        let settings = if settings.is_empty() {
            match self.mem.settings.get(&ind.func) {
                Some(_) if self.mem.varied.contains(&ind.func) => {
                    return incomplete(format!(
                        "\"{}\" could be either {} named before: give its settings",
                        self.written(start, start + n),
                        ind.func.name().to_uppercase()
                    ));
                }
                Some(s) => s.clone(),
                None if !defaults.is_empty() => defaults.to_vec(),
                None if ind.func.args().len() == usize::from(ind.series) => Vec::new(),
                None => {
                    return incomplete(format!(
                        "\"{}\" needs a period, e.g. \"{} 50\" or \"50-day {}\"",
                        self.written(start, start + n),
                        self.written(start, start + n),
                        self.written(start, start + n)
                    ));
                }
            }
        } else if settings.len() < defaults.len() {
            let mut s = settings;
            s.extend_from_slice(&defaults[s.len()..]);
            s
        } else {
            settings
        };
        let wanted = ind.func.args().len() - usize::from(ind.series);
        if settings.len() != wanted {
            return incomplete(format!(
                "\"{}\" takes {wanted} setting(s): {}",
                self.written(start, self.at),
                ind.func.signature()
            ));
        }
        let mut args = Vec::new();
        if ind.series {
            args.push(series.unwrap_or_else(|| name("close")));
        }
        for (v, (argname, kind)) in settings
            .iter()
            .zip(ind.func.args().iter().skip(usize::from(ind.series)))
        {
            if let strategy::Arg::Period { min } = kind
                && whole(*v).is_none_or(|p| p < *min)
            {
                return incomplete(format!(
                    "\"{}\": {argname} must be a whole number of {min} or more",
                    self.written(start, self.at)
                ));
            }
            args.push(num(*v));
        }
        if let Some(before) = self.mem.settings.insert(ind.func, settings.clone())
            && before != settings
        {
            self.mem.varied.insert(ind.func);
        }
        if matches!(ind.func, Func::Sma | Func::Ema | Func::Wma) {
            self.mem.last_ma = Some(ind.func);
        }
        let field = field.or(ind.field);
        if !ind.func.fields().is_empty() && field.is_none() && !self.declaring {
            let names: Vec<&str> = ind.func.fields().iter().map(|f| f.name()).collect();
            return incomplete(format!(
                "say which line of \"{}\": {}",
                self.written(start, self.at),
                names.join(", ")
            ));
        }
        let kind = match field {
            Some(Field::Upper) => Kind::Upper,
            Some(Field::Lower) => Kind::Lower,
            _ => Kind::Indicator(ind.func),
        };
        Ok(Term::new(call(ind.func, args, field), kind))
    }

    /// After "N (day)": "high"/"low" is the N-bar high/low before this bar; also "highest
    /// high", "closing high".
    pub(super) fn n_bar_extreme(&mut self, v: f64) -> R<Option<Term>> {
        let save = self.at;
        let (func, src, kind) = if self.eat("high") || self.eat_phrase("highest high") {
            (Func::Highest, "high", Kind::Upper)
        } else if self.eat("low") || self.eat_phrase("lowest low") {
            (Func::Lowest, "low", Kind::Lower)
        } else if self.eat_phrase("closing high") || self.eat_phrase("highest close") {
            (Func::Highest, "close", Kind::Upper)
        } else if self.eat_phrase("closing low") || self.eat_phrase("lowest close") {
            (Func::Lowest, "close", Kind::Lower)
        } else {
            return Ok(None);
        };
        let Some(n) = whole(v).filter(|n| *n >= 2) else {
            self.at = save;
            return incomplete(
                "an N-day high or low needs N of 2 or more, e.g. \"the 20-day high\"",
            );
        };
        // "high of the last 20 days" is read elsewhere; here the number came first.
        Ok(Some(Term::new(
            back(call(func, vec![name(src), num(f64::from(n))], None), 1),
            kind,
        )))
    }
}
