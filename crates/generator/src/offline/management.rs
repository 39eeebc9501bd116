//! How a trade is managed beyond its stop and target, in words: targets as reward-to-risk
//! ratios, the bar timeframe, pyramiding and reversing (DESIGN.md §5.4), and freqtrade's stepping
//! take-profit.

use strategy::BarInterval;

use super::lex::Tok;
use super::parser::{Parser, R, whole};
use super::risk::Item;
use crate::GenerateError;

impl Parser<'_> {
    /// A reward-to-risk ratio as the target's multiple of the stop distance: "2:1 reward to
    /// risk", "a reward to risk of 2", "risk reward 1:3", "1:2 risk/reward", "2 to 1 reward to
    /// risk"; `None`, position unchanged, otherwise.
    pub(super) fn reward_to_risk(&mut self) -> Option<f64> {
        let save = self.at;
        let _ = self.eat("a") || self.eat("an") || self.eat("with");
        let ratio = |p: &mut Self| -> Option<(f64, f64)> {
            let a = p.number()?;
            if !(p.sym(":") || p.eat("to") || p.sym("/")) {
                return None;
            }
            Some((a, p.number()?))
        };
        let order = |p: &mut Self| -> Option<bool> {
            // true: reward first.
            let _ = p.eat("ratio");
            if p.eat("reward") {
                let _ = p.eat("to") || p.sym("/") || p.sym(":") || p.sym("-");
                p.eat("risk").then_some(true)
            } else if p.eat("risk") {
                let _ = p.eat("to") || p.sym("/") || p.sym(":") || p.sym("-");
                p.eat("reward").then_some(false)
            } else {
                None
            }
        };
        let at = self.at;
        // The ratio first: "2:1 reward to risk".
        if let Some((a, b)) = ratio(self)
            && let Some(reward_first) = order(self)
        {
            let _ = self.eat("ratio");
            return Self::multiple(a, b, reward_first);
        }
        self.at = at;
        // The words first: "reward to risk of 2:1", "risk/reward 1:3", "a reward to risk of 2".
        if let Some(reward_first) = order(self) {
            let _ = self.eat("ratio");
            let _ = self.eat("of") || self.eat("is") || self.sym("=");
            let _ = self.eat("at") || self.eat("a") || self.eat("an");
            let b_at = self.at;
            if let Some((a, b)) = ratio(self) {
                return Self::multiple(a, b, reward_first);
            }
            self.at = b_at;
            if let Some(v) = self.number()
                && reward_first
            {
                return (v > 0.0).then_some(v);
            }
        }
        self.at = save;
        None
    }

    fn multiple(a: f64, b: f64, reward_first: bool) -> Option<f64> {
        let (reward, risk) = if reward_first { (a, b) } else { (b, a) };
        (reward > 0.0 && risk > 0.0).then(|| reward / risk)
    }
}

/// Units of a bar timeframe with their minutes.
const BAR_UNITS: &[(&str, i64)] = &[
    ("minute", 1),
    ("minutes", 1),
    ("min", 1),
    ("mins", 1),
    ("m", 1),
    ("hour", 60),
    ("hours", 60),
    ("hr", 60),
    ("h", 60),
    ("day", 1_440),
    ("days", 1_440),
    ("d", 1_440),
    ("week", 10_080),
    ("weeks", 10_080),
    ("w", 10_080),
];

impl Parser<'_> {
    /// The bar timeframe ("on 5-minute candles", "on the daily chart", "using 1h bars", "4h
    /// timeframe"): a number with a unit, or "hourly" / "daily" / "weekly", said with "on" or
    /// "using" before it or "candles", "bars", "chart" or "timeframe" after it. `None`,
    /// position unchanged, when none is said here.
    pub(super) fn timeframe(&mut self) -> R<Option<BarInterval>> {
        let save = self.at;
        let lead = self
            .eat_any(&["on", "using", "use", "with", "trade", "trading", "for"])
            .is_some();
        let _ = self.eat("the") || self.eat("a") || self.eat("an");
        let spelled = self.at;
        let mut compact = false;
        let minutes = if let Some(v) = self.number() {
            match (
                whole(v),
                self.eat_any(&BAR_UNITS.iter().map(|(w, _)| *w).collect::<Vec<_>>()),
            ) {
                (Some(n), Some(unit)) => {
                    compact = unit.len() == 1;
                    let per = BAR_UNITS
                        .iter()
                        .find(|(w, _)| *w == unit)
                        .map_or(1, |(_, m)| *m);
                    Some(i64::from(n) * per)
                }
                _ => None,
            }
        } else {
            [("hourly", 60), ("daily", 1_440), ("weekly", 10_080)]
                .into_iter()
                .find(|(w, _)| self.eat(w))
                .map(|(_, m)| m)
        };
        let Some(minutes) = minutes else {
            self.at = save;
            return Ok(None);
        };
        let noun = self
            .eat_any(&[
                "candles",
                "candle",
                "bars",
                "bar",
                "chart",
                "charts",
                "timeframe",
                "tf",
                "data",
                "candlesticks",
            ])
            .is_some()
            || self.eat_phrase("time frame");
        // "5m." standing as a statement of its own.
        let alone = compact
            && !lead
            && save
                .checked_sub(1)
                .is_none_or(|k| matches!(self.toks[k].tok, Tok::Sym("." | ";" | "\n" | ":")));
        if !(noun || lead && self.clause_ends() || alone) || !self.clause_ends() {
            self.at = save;
            return Ok(None);
        }
        BarInterval::of_ms(minutes * 60_000)
            .map(Some)
            .ok_or_else(|| {
                let names: Vec<&str> = BarInterval::ALL.iter().map(|b| b.name()).collect();
                GenerateError::NotUnderstood {
                    words: vec![self.written(spelled, self.at)],
                    hints: vec![format!("a bar timeframe: one of {}", names.join(", "))],
                }
            })
    }
}

impl Parser<'_> {
    /// DESIGN.md §5.4's position words: "add up to 3 times" / "pyramid up to 3 times" (that
    /// many entries added to the first: `pyramiding = 4`), "up to 3 entries" / "at most 3
    /// positions" (`pyramiding = 3`), and "reverse when the opposite stop fills" (`reverse =
    /// "on_fill"`). `None`, position unchanged, otherwise.
    pub(super) fn position_words(&mut self) -> Option<Item> {
        let save = self.at;
        // "add" may have been read as a lead word ("add a 5% stop").
        let after_add = matches!(
            self.toks.get(self.at.wrapping_sub(1)).map(|t| &t.tok),
            Some(Tok::Word(w)) if w == "add"
        );
        if after_add || self.eat_any(&["add", "pyramid", "scale"]).is_some() {
            let _ = self.eat("in");
            let _ = self.eat_phrases(&["to the position", "to winners", "to the trade"]);
            let _ = self.eat_phrase("up to") || self.eat_phrase("at most");
            if let Some(n) = self.number().and_then(whole) {
                let _ = self.eat("more");
                if self.eat_any(&["times", "time"]).is_some() && self.clause_ends() {
                    return Some(Item::Pyramiding(n + 1));
                }
            }
            self.at = save;
        }
        if self.eat_phrase("up to") || self.eat_phrase("at most") || self.eat_phrase("max") {
            if let Some(n) = self.number().and_then(whole)
                && self
                    .eat_any(&["entries", "positions", "trades", "units", "lots"])
                    .is_some()
            {
                let _ = self.eat_phrases(&["in one direction", "at once", "open"]);
                if self.clause_ends() {
                    return Some(Item::Pyramiding(n));
                }
            }
            self.at = save;
        }
        // "one cancels the other": both entry orders wait and the first fill cancels the other.
        // ("one" reads as the number 1.)
        let one = matches!(
            self.toks.get(self.at).map(|t| &t.tok),
            Some(Tok::Num(v)) if whole(*v) == Some(1)
        );
        if (one && {
            self.at += 1;
            self.eat_phrases(&["cancels the other", "cancels all", "cancels other"])
        }) || self.eat("oca")
        {
            let _ = self.eat_any(&["orders", "order", "entries"]);
            if self.clause_ends() {
                return Some(Item::Oca);
            }
            self.at = save;
        }
        let _ = self.eat_phrase("stop and");
        if self.eat("reverse") || self.eat("flip") {
            let _ = self.eat_any(&["when", "once", "as", "on"]);
            let _ = self.eat("the");
            let _ = self.eat("opposite");
            let _ = self.eat_any(&["stop", "order", "entry", "limit"]);
            let _ = self.eat("is") || self.eat("gets");
            let filled = self
                .eat_any(&[
                    "fills",
                    "filled",
                    "fill",
                    "triggers",
                    "triggered",
                    "executes",
                ])
                .is_some();
            if filled && self.clause_ends() {
                return Some(Item::ReverseOnFill);
            }
            self.at = save;
        }
        self.at = save;
        None
    }
}

impl Parser<'_> {
    /// freqtrade's `minimal_roi` said in words (DESIGN.md §5.4): "take 4% profit at once, 2% after
    /// 30 minutes, break even after an hour", "5% target immediately, 3% after 10 bars, 1% after
    /// 20 bars". Ages in bars, or in minutes of bar time for minutes, hours and days (one kind in
    /// a list). `None`, position unchanged, unless the first step is at once and another follows,
    /// or the first step has an age.
    pub(super) fn roi_list(&mut self) -> R<Option<Item>> {
        let save = self.at;
        let take = self.eat("take");
        let Some(first) = self.percent() else {
            self.at = save;
            return Ok(None);
        };
        let profit = self
            .eat_any(&["profit", "profits", "gain", "target", "roi"])
            .is_some();
        let mut steps = Vec::new();
        let mut unit = None;
        if let Some(age) = self.roi_age(&mut unit)? {
            steps.push((age, first));
        } else {
            if !self.eat_phrases(&["at once", "right away", "from the start"])
                && !self.eat("immediately")
            {
                // "take 4% profit": a plain target.
                if take && profit && self.clause_ends() {
                    return Ok(Some(Item::TargetPct(first)));
                }
                self.at = save;
                return Ok(None);
            }
            steps.push((0.0, first));
        }
        loop {
            let at = self.at;
            let _ = self.sym(",");
            let _ = self.eat("and") || self.eat("then");
            let v = if self.eat_phrases(&["break even", "breakeven", "break-even"]) {
                Some(0.0)
            } else {
                let v = self.percent();
                let _ = self.eat_any(&["profit", "gain"]);
                v
            };
            let Some(v) = v else {
                self.at = at;
                break;
            };
            let Some(age) = self.roi_age(&mut unit)? else {
                self.at = at;
                break;
            };
            steps.push((age, v));
        }
        if steps.len() < 2 && steps[0].0 == 0.0 {
            self.at = save;
            return Ok(None);
        }
        let unit = unit.unwrap_or(strategy::RoiUnit::Bars);
        Ok(Some(Item::Roi(steps, unit)))
    }

    /// "after 30 minutes", "after an hour", "after 10 bars": the age and (setting `unit`) its
    /// kind; two kinds in one list are refused.
    fn roi_age(&mut self, unit: &mut Option<strategy::RoiUnit>) -> R<Option<f64>> {
        let save = self.at;
        if !self.eat("after") {
            return Ok(None);
        }
        let n = if self.eat("an") || self.eat("a") || self.eat("one") {
            1.0
        } else if let Some(v) = self.number() {
            v
        } else {
            self.at = save;
            return Ok(None);
        };
        let (k, per) = match self.eat_any(&[
            "minute", "minutes", "min", "mins", "hour", "hours", "day", "days", "bar", "bars",
            "candle", "candles",
        ]) {
            Some("minute" | "minutes" | "min" | "mins") => (strategy::RoiUnit::Minutes, 1.0),
            Some("hour" | "hours") => (strategy::RoiUnit::Minutes, 60.0),
            Some("day" | "days") => (strategy::RoiUnit::Minutes, 1_440.0),
            Some(_) => (strategy::RoiUnit::Bars, 1.0),
            None => {
                self.at = save;
                return Ok(None);
            }
        };
        if unit.is_some_and(|u| u != k) {
            return Err(GenerateError::Incomplete(
                "a stepping target counts its ages in bars or in time, not both: say all of them one way".into(),
            ));
        }
        *unit = Some(k);
        Ok(Some(n * per))
    }
}
