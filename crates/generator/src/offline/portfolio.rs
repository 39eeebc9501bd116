//! Portfolio words (DESIGN.md §5.3): a rotation ("hold the top 3 by 3-month momentum,
//! rebalance monthly"), a rank ("rank by 6-month return"), a cap ("at most 5 positions") and a
//! market filter on another symbol ("only when SPY is above its 200-day average", read as
//! `on("SPY", …)`). Months and weeks of momentum count daily bars (21 and 5), as the Gemini
//! prompt says.

use strategy::{Expr, ExprKind, Func, Rebalance};

use super::parser::{Kind, Parser, R, Term, call, name, num, whole};
use super::risk::Item;
use crate::GenerateError;

/// Rebalancing words.
const REBALANCE: &[(&str, Rebalance)] = &[
    ("weekly", Rebalance::Week),
    ("every week", Rebalance::Week),
    ("each week", Rebalance::Week),
    ("every friday", Rebalance::WeekFri),
    ("each friday", Rebalance::WeekFri),
    ("on fridays", Rebalance::WeekFri),
    ("monthly", Rebalance::Month),
    ("every month", Rebalance::Month),
    ("each month", Rebalance::Month),
    ("at month end", Rebalance::Month),
    ("at the end of each month", Rebalance::Month),
    ("quarterly", Rebalance::Quarter),
    ("every quarter", Rebalance::Quarter),
    ("each quarter", Rebalance::Quarter),
    ("yearly", Rebalance::Year),
    ("annually", Rebalance::Year),
    ("every year", Rebalance::Year),
    ("each year", Rebalance::Year),
];

impl Parser<'_> {
    /// "SPY is above its 200-day average" where SPY is not the instrument traded: the
    /// condition on SPY's own bars, `on("SPY", close > sma(close, 200))`. What was remembered
    /// while reading it (subjects, crosses) is forgotten after: it belongs to the other symbol.
    pub(super) fn other_symbol(&mut self) -> R<Option<Expr>> {
        let Some(symbol) = self.symbol_here() else {
            return Ok(None);
        };
        if self.instrument.as_deref() == Some(symbol.as_str()) {
            return Ok(None);
        }
        let save = self.at;
        let memory = self.mem.clone();
        self.at += 1;
        self.mem.subject = Some(Term::new(name("close"), Kind::Price));
        let inner = self.atom();
        self.mem = memory;
        let Some(e) = inner? else {
            self.at = save;
            return Ok(None);
        };
        Ok(Some(Expr {
            kind: ExprKind::On(symbol, Box::new(e)),
            span: strategy::Span::default(),
        }))
    }

    /// "hold the top 3 by 3-month momentum", "rank by 6-month return", "rebalance monthly",
    /// "at most 5 positions". `None`, position unchanged, when none is said here.
    pub(super) fn portfolio_words(&mut self) -> R<Option<Vec<Item>>> {
        let save = self.at;
        // "hold / buy / own the top 3 by …".
        let _ = self.eat_any(&["hold", "buy", "own", "keep", "pick", "select"]);
        let _ = self.eat("the");
        if self.eat("top")
            && let Some(n) = self.number().and_then(whole).filter(|n| *n >= 1)
        {
            let _ = self.eat_any(&["symbols", "stocks", "assets", "etfs", "names", "coins"]);
            if self.eat("by") || self.eat_phrase("ranked by") || self.eat("on") {
                let rank = self.rank_term()?;
                let mut items = vec![Item::Rotation(n), Item::Rank(rank)];
                if let Some(r) = self.rebalance() {
                    items.push(Item::Rebalance(r));
                }
                return Ok(Some(items));
            }
        }
        self.at = save;
        if self.eat("rank") || self.eat("ranked") {
            let _ = self.eat_any(&["symbols", "stocks", "them", "entries"]);
            if self.eat("by") || self.eat("on") {
                return Ok(Some(vec![Item::Rank(self.rank_term()?)]));
            }
        }
        self.at = save;
        if let Some(r) = self.rebalance() {
            return Ok(Some(vec![Item::Rebalance(r)]));
        }
        if (self.eat_phrase("at most") || self.eat_phrase("no more than") || self.eat("max"))
            && let Some(n) = self.number().and_then(whole).filter(|n| *n >= 1)
            && self
                .eat_any(&["positions", "symbols", "stocks", "holdings"])
                .is_some()
        {
            let _ = self.eat_phrase("at once") || self.eat_phrase("at a time");
            return Ok(Some(vec![Item::MaxPositions(n)]));
        }
        self.at = save;
        Ok(None)
    }

    /// "rebalance monthly", "rebalanced every Friday", "monthly rebalance".
    fn rebalance(&mut self) -> Option<Rebalance> {
        let save = self.at;
        let _ = self.sym(",");
        let lead = self.eat("rebalance") || self.eat("rebalanced") || self.eat("rebalancing");
        for (words, r) in REBALANCE {
            if self.eat_phrase(words) {
                if lead || self.eat("rebalance") || self.eat("rebalancing") {
                    return Some(*r);
                }
                break;
            }
        }
        self.at = save;
        None
    }

    /// What a rotation ranks by: "3-month momentum" / "6-month return" (`roc` over 21 daily bars
    /// a month, 5 a week), or a term ("RSI", "the 100-day rate of change").
    fn rank_term(&mut self) -> R<Expr> {
        let _ = self.eat("the");
        let save = self.at;
        if let Some(n) = self.number().and_then(whole) {
            let per = match self.eat_any(&["month", "months", "week", "weeks", "day", "days"]) {
                Some("month" | "months") => Some(21),
                Some("week" | "weeks") => Some(5),
                Some(_) => Some(1),
                None => None,
            };
            if let Some(per) = per
                && self
                    .eat_any(&["momentum", "return", "returns", "performance", "change"])
                    .is_some()
            {
                return Ok(call(
                    Func::Roc,
                    vec![name("close"), num(f64::from(n * per))],
                    None,
                ));
            }
        }
        self.at = save;
        match self.term()? {
            Some(t) => Ok(t.expr),
            None => Err(GenerateError::NotUnderstood {
                words: vec![self.written(save, (save + 3).min(self.toks.len()))],
                hints: vec![
                    "the top 3 by 3-month momentum".into(),
                    "rank by 6-month return".into(),
                ],
            }),
        }
    }
}
