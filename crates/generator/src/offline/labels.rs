//! Averages labelled by a number glued to their name: "ema1 (5)" names EMA(5), and "ema1"
//! later means it.

use strategy::Func;

use super::lex::Tok;
use super::parser::{Kind, Parser, Term, call, name, num, whole};

impl Parser<'_> {
    /// After an indicator's name: a number glued to it ("ema1") is a label when its settings
    /// follow in parentheses ("ema1 (5)", which it then names) or when that label was given
    /// before ("ema1" again); `None` (position unchanged) otherwise.
    pub(super) fn labelled(&mut self, func: Func) -> Option<Term> {
        let at = self.at;
        let glued = at
            .checked_sub(1)
            .and_then(|k| Some((self.toks.get(k)?, self.toks.get(at)?)))
            .is_some_and(|(a, b)| a.end == b.start && matches!(b.tok, Tok::Num(_)));
        if !glued {
            return None;
        }
        let Some(k) = self.number().and_then(whole) else {
            self.at = at;
            return None;
        };
        if let Some(t) = self.mem.labels.get(&(func, k)) {
            return Some(t.clone());
        }
        if let Some(t) = self.settings_in_parentheses(func) {
            self.mem.labels.insert((func, k), t.clone());
            return Some(t);
        }
        self.at = at;
        None
    }

    /// The settings in parentheses after a labelled average's name: "(5)".
    fn settings_in_parentheses(&mut self, func: Func) -> Option<Term> {
        let at = self.at;
        if !matches!(func, Func::Sma | Func::Ema | Func::Wma) {
            return None;
        }
        if self.sym("(")
            && let Some(n) = self.number().and_then(whole).filter(|n| *n >= 2)
            && self.sym(")")
        {
            return Some(Term::new(
                call(func, vec![name("close"), num(f64::from(n))], None),
                Kind::Indicator(func),
            ));
        }
        self.at = at;
        None
    }
}
