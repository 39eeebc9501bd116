//! Prices blended from a bar's own ("hl2", "the typical price") and levels named with their
//! number ("the oversold level 30", "the lower threshold (30)").

use strategy::{BinOp, Expr};

use super::parser::{Parser, bin, name, num};

impl Parser<'_> {
    /// "the oversold level 30", "the lower threshold (30)", "the upper limit of 70": a level
    /// named with its number; `None` (position unchanged) otherwise.
    pub(super) fn named_level(&mut self) -> Option<f64> {
        let save = self.at;
        let _ = self.eat_any(&[
            "lower",
            "upper",
            "oversold",
            "overbought",
            "buy",
            "sell",
            "entry",
            "exit",
        ]);
        if self.eat_any(&["level", "threshold", "limit"]).is_some() {
            let _ = self.eat("of") || self.eat("at");
            let paren = self.sym("(");
            if let Some(v) = self.number()
                && (!paren || self.sym(")"))
            {
                return Some(v);
            }
        }
        self.at = save;
        None
    }

    /// "hl2" / "the median price", "hlc3" / "the typical price", "ohlc4": a price blended from
    /// the bar's own; `None` (position unchanged) otherwise.
    pub(super) fn blended_price(&mut self) -> Option<Expr> {
        let sum = |names: &[&str]| {
            names
                .iter()
                .map(|n| name(n))
                .reduce(|a, b| bin(BinOp::Add, a, b))
                .map(|e| {
                    bin(
                        BinOp::Div,
                        e,
                        num(f64::from(u8::try_from(names.len()).unwrap_or(1))),
                    )
                })
        };
        // "hl2" comes as the word "hl" and the number 2.
        let mut written = |w: &str, n: f64| {
            let at = self.at;
            if self.eat(w) && self.number() == Some(n) {
                return true;
            }
            self.at = at;
            false
        };
        if written("hl", 2.0) {
            return sum(&["high", "low"]);
        }
        if written("hlc", 3.0) {
            return sum(&["high", "low", "close"]);
        }
        if written("ohlc", 4.0) {
            return sum(&["open", "high", "low", "close"]);
        }
        if self.eat_phrase("median price") {
            return sum(&["high", "low"]);
        }
        if self.eat_phrase("typical price") {
            return sum(&["high", "low", "close"]);
        }
        None
    }
}
