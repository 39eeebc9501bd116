//! Sizing, stops, targets, trailing stops, time exits, the trading direction and the fill:
//! the statements that become `[risk]` and `[orders]` (DESIGN.md §5.1 and §5.2).

use strategy::{BarInterval, Expr, Func};

use super::lex::Tok;
use super::parser::{Kind, Parser, Term, display, incomplete, name, num, whole};
use crate::GenerateError;

type R<T> = Result<T, GenerateError>;

/// An ATR distance: `k × ATR(n)`, or any price distance the trader named.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Distance(pub Expr);

/// Which trades are taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    LongOnly,
    ShortOnly,
    Both,
}

/// One thing a risk statement says.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Item {
    StopPct(f64),
    StopBy(Distance),
    /// A stop at a price level (a long's; a short's mirrors it when given).
    StopAt(Expr),
    TargetPct(f64),
    TargetBy(Distance),
    /// A target at this multiple of the stop's distance ("3R", "2:1 reward to risk").
    TargetR(f64),
    TrailPct(f64),
    TrailBy(Distance),
    MaxBars(u32),
    Size(f64),
    Units(f64),
    RiskPct(f64),
    Mode(Mode),
    FillClose,
    /// The bar timeframe the idea is for ("on 5-minute candles", "daily chart").
    Timeframe(BarInterval),
    /// Percent stops and targets measured from the fill ("5% stop below entry").
    FromFill,
    /// The trailing stop follows the highest high since entry ("from the highest high").
    TrailFromHigh,
    /// The trailing stop moves once the trade is this far in profit ("once 5% up").
    TrailOffset(f64),
    /// Up to this many open trades in one direction ("add up to 3 times": 4).
    Pyramiding(u32),
    /// A stepping take-profit ("take 4% at once, 2% after 30 minutes, break even after an
    /// hour"): (age, percent) in bars or minutes of bar time.
    Roi(Vec<(f64, f64)>, strategy::RoiUnit),
    /// "no stop loss", "no ROI", "no trailing stop": that exit is absent (a contradiction with
    /// one given is refused).
    Without(&'static str),
    /// Both entry orders wait and the first fill cancels the other ("one cancels the other").
    Oca,
    /// An entry's stop or limit price ("buy stop at the 20-day high").
    EntryOrder {
        long: bool,
        stop: bool,
        price: Expr,
    },
    /// A rotation holding the top this many symbols (DESIGN.md §5.3).
    Rotation(u32),
    /// What a portfolio ranks symbols by.
    Rank(Expr),
    /// When a rotation rebalances.
    Rebalance(strategy::Rebalance),
    /// At most this many open positions across symbols.
    MaxPositions(u32),
    /// An opposite entry order closes the trade when it fills ("reverse when the opposite stop
    /// fills").
    ReverseOnFill,
    /// A stop at a distance from the fill ("stop 2 ATR from the fill").
    StopFromFill(Distance),
    /// A target at a distance from the fill.
    TargetFromFill(Distance),
}

impl Item {
    /// A way the trade closes (a stop, a target, a trailing stop, a time exit).
    fn is_exit(&self) -> bool {
        matches!(
            self,
            Item::StopPct(_)
                | Item::StopBy(_)
                | Item::StopAt(_)
                | Item::TargetPct(_)
                | Item::TargetBy(_)
                | Item::TargetR(_)
                | Item::StopFromFill(_)
                | Item::TargetFromFill(_)
                | Item::TrailPct(_)
                | Item::TrailBy(_)
                | Item::MaxBars(_)
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum What {
    Stop,
    Target,
    Trail,
}

const LEAD: [&str; 17] = [
    "use", "with", "a", "an", "and", "set", "place", "put", "initial", "hard", "fixed", "plus",
    "add", "apply", "using", "have", "the",
];
pub(super) const ACCOUNT: [&str; 9] = [
    "equity",
    "account",
    "capital",
    "portfolio",
    "cash",
    "balance",
    "bankroll",
    "money",
    "funds",
];

impl Parser<'_> {
    /// Risk statements from here to the end of the clause; `None` (position unchanged) when
    /// the clause is not one.
    pub(super) fn risk_statement(&mut self) -> R<Option<Vec<Item>>> {
        let save = self.at;
        let mut items = Vec::new();
        loop {
            let before = self.at;
            if let Some(item) = self.risk_item()? {
                items.extend(item);
            } else {
                self.at = before;
                break;
            }
            // Another item after a joiner continues the statement; anything else ends it.
            // "or" joins exits only, each of which closes the trade first ("a 3% stop or a 6%
            // target", "take profit at 5% or exit after 20 bars"): between sizes it would be
            // a choice nobody made.
            let joiner = self.at;
            let or = self.eat("or");
            if or || self.eat("and") || self.sym(",") || self.eat("with") || self.eat("plus") {
                let next = self.at;
                // "… or after 20 bars": a time exit among exits needs no verb of its own.
                if or && items.iter().all(Item::is_exit) && self.eat("after") {
                    if let Some(n) = self.bar_count() {
                        items.push(Item::MaxBars(n));
                        continue;
                    }
                    self.at = next;
                }
                if let Some(more) = self.risk_item()?
                    && (!or || items.iter().chain(&more).all(Item::is_exit))
                {
                    self.at = next;
                    continue;
                }
                self.at = joiner;
            }
            break;
        }
        if items.is_empty() || !self.clause_ends() {
            self.at = save;
            return Ok(None);
        }
        Ok(Some(items))
    }

    /// Whether the clause ends here (end, punctuation, "then", or a joiner before a new
    /// statement).
    pub(super) fn clause_ends(&self) -> bool {
        match self.peek() {
            None | Some(Tok::Sym("," | ";" | "." | "\n" | "->" | ":")) => true,
            Some(Tok::Word(w)) => matches!(
                w.as_str(),
                "then" | "and" | "also" | "plus" | "with" | "but"
            ),
            _ => false,
        }
    }

    #[expect(clippy::too_many_lines, reason = "one branch per way of saying it")]
    fn risk_item(&mut self) -> R<Option<Vec<Item>>> {
        let save = self.at;
        while self.eat_any(&LEAD).is_some() {}
        // Direction.
        if let Some(m) = self.mode() {
            return Ok(Some(vec![Item::Mode(m)]));
        }
        if let Some(t) = self.timeframe()? {
            return Ok(Some(vec![Item::Timeframe(t)]));
        }
        for (words, what) in [
            ("no stop loss", "stop loss"),
            ("no stoploss", "stop loss"),
            ("no stop", "stop loss"),
            ("no trailing stop", "trailing stop"),
            ("no trailing", "trailing stop"),
            ("no roi", "profit target"),
            ("no take profit", "profit target"),
            ("no profit target", "profit target"),
            ("no target", "profit target"),
        ] {
            if self.eat_phrase(words) && self.clause_ends() {
                return Ok(Some(vec![Item::Without(what)]));
            }
            self.at = save;
        }
        if let Some(item) = self.roi_list()? {
            return Ok(Some(vec![item]));
        }
        self.at = save;
        while self.eat_any(&LEAD).is_some() {}
        if let Some(items) = self.portfolio_words()? {
            return Ok(Some(items));
        }
        if let Some(item) = self.position_words() {
            return Ok(Some(vec![item]));
        }
        // Fill at the close.
        if self.eat_phrases(&[
            "trade on the close",
            "trade at the close",
            "fill at the close",
            "fill on the close",
            "orders fill at the close",
            "execute at the close",
            "execute on the close",
            "enter and exit at the close",
            "trades fill at the close",
        ]) {
            return Ok(Some(vec![Item::FillClose]));
        }
        // "…, buy at the close;": said on its own, how every entry fills.
        let at = self.at;
        if self.eat_phrases(&[
            "buy at the close",
            "buy on the close",
            "enter at the close",
            "enter on the close",
        ]) && self.clause_ends()
        {
            return Ok(Some(vec![Item::FillClose]));
        }
        self.at = at;
        // "sell right after the value has increased 2%": a target; "sell once it is down 3%":
        // a stop.
        if self.eat_any(&["sell", "exit", "close"]).is_some() {
            let _ = self.eat("it") || self.eat("out");
            for w in [What::Target, What::Stop] {
                if let Some(v) = self.once_moved(w) {
                    return Ok(Some(pct_items(w, v, false)?));
                }
            }
        }
        self.at = at;
        // Time exits: "exit after 10 bars", "hold for 5 days", "time stop of 20 bars".
        let time_lead = self
            .eat_any(&["exit", "close", "sell", "cover", "liquidate"])
            .is_some()
            && {
                let _ = self.eat_any(&["the", "a", "all", "any", "each"]);
                let _ =
                    self.eat_any(&["trade", "trades", "position", "positions", "long", "short"]);
                self.eat("after") || self.eat("in")
            };
        if time_lead {
            if let Some(n) = self.bar_count() {
                let _ = self.eat_phrases(&[
                    "in the trade",
                    "in trade",
                    "if not stopped out",
                    "at the latest",
                ]);
                return Ok(Some(vec![Item::MaxBars(n)]));
            }
            self.at = save;
            return Ok(None);
        }
        self.at = save;
        while self.eat_any(&LEAD).is_some() {}
        if self.eat("hold")
            || self.eat_phrases(&[
                "holding period",
                "time stop",
                "time exit",
                "max holding period",
                "maximum holding period",
                "max hold",
            ])
            || self.eat("max")
            || self.eat("maximum")
        {
            let _ = self.eat_any(&[
                "for", "of", "at", "after", "is", "=", "up", "to", "most", "max", "maximum",
            ]);
            let _ = self.eat_any(&["up", "at", "to", "most", "a", "max", "maximum", "of"]);
            let _ = self.eat_any(&["to", "most", "of"]);
            if let Some(n) = self.bar_count() {
                return Ok(Some(vec![Item::MaxBars(n)]));
            }
            self.at = save;
            return Ok(None);
        }
        self.at = save;
        while self.eat_any(&LEAD).is_some() {}
        // Sizing said with a verb: "invest 50% of equity", "risk 1% per trade".
        let verb = self.eat_any(&[
            "invest", "allocate", "use", "deploy", "commit", "put", "risk", "bet", "trade", "buy",
            "spend",
        ]);
        if verb.is_some()
            || self.word() == Some("half")
            || self.word() == Some("size")
            || self.word() == Some("position")
            || self.word() == Some("all")
        {
            let save_v = self.at;
            if let Some(item) = self.sizing(verb == Some("risk"), verb.is_some())? {
                return Ok(Some(vec![item]));
            }
            self.at = save_v;
            if verb.is_some() {
                self.at = save;
            }
        }
        if let Some(r) = self.reward_to_risk() {
            return Ok(Some(vec![Item::TargetR(r)]));
        }
        // "N% stop", "2 ATR trailing stop", "100 shares", "50% of equity", "1% risk per trade".
        let lead_at = self.at;
        if let Some(v) = self.number() {
            // "a 3R target".
            if self.eat("r")
                && let Some(What::Target) = self.what()
            {
                let _ = self.trailing_words();
                return Ok(Some(vec![Item::TargetR(v)]));
            }
            self.at = lead_at;
            let _ = self.number();
            let pct = self.sym("%") || self.eat("percent") || self.eat("pct");
            if pct {
                if let Some(w) = self.what() {
                    let fill = self.trailing_words();
                    return self.trail_tail(w, pct_items(w, v, fill));
                }
                if self.eat("risk") || self.eat_phrase("of risk") {
                    self.per_trade();
                    return Ok(Some(vec![Item::RiskPct(v)]));
                }
                self.at = lead_at;
                if let Some(item) = self.sizing(false, false)? {
                    return Ok(Some(vec![item]));
                }
                self.at = save;
                return Ok(None);
            }
            if self
                .eat_any(&[
                    "shares",
                    "share",
                    "units",
                    "unit",
                    "contracts",
                    "contract",
                    "coins",
                    "lots",
                ])
                .is_some()
            {
                return Ok(Some(vec![Item::Units(v)]));
            }
            // "2 ATR stop", "2x ATR trailing stop".
            self.at = lead_at;
            if let Some(d) = self.distance()?
                && let Some(w) = self.what()
            {
                let fill = self.trailing_words();
                return self.trail_tail(w, by_items(w, d, fill));
            }
            self.at = save;
            return Ok(None);
        }
        // "stop loss at 5%", "take profit 10%", "trailing stop of 3 ATR", "stop out at 5%",
        // "stop at the 10-day low".
        if let Some(w) = self.what() {
            // "take profits once the trade is up 5%", "stop out when the position is down 3%".
            if let Some(v) = self.once_moved(w) {
                let fill = self.trailing_words();
                return self.trail_tail(w, pct_items(w, v, fill));
            }
            let _ = self.sym(":") || self.sym("=");
            let _ = self.eat_any(&["at", "of", "is", "to", "by", "set", "placed", "out"]);
            let _ = self.eat_any(&["at", "of", "to", "a", "an", "the"]);
            if let Some(v) = self.percent() {
                let fill = self.trailing_words();
                return self.trail_tail(w, pct_items(w, v, fill));
            }
            // "take profit at 3R", "target of 2 R", "target 2:1 reward to risk".
            if w == What::Target {
                let at = self.at;
                if let Some(v) = self.number()
                    && (self.eat("r") || self.eat_phrase("times the risk"))
                {
                    let _ = self.trailing_words();
                    return Ok(Some(vec![Item::TargetR(v)]));
                }
                self.at = at;
                if let Some(r) = self.reward_to_risk() {
                    return Ok(Some(vec![Item::TargetR(r)]));
                }
                self.at = at;
            }
            if let Some(d) = self.distance()? {
                let fill = self.trailing_words();
                return self.trail_tail(w, by_items(w, d, fill));
            }
            if w == What::Stop {
                let at = self.at;
                let _ = self.eat("below") || self.eat("under") || self.eat("at");
                if let Some(t) = self.term()? {
                    // "stop loss 10": a price of 10, or 10 percent, or 10 points? Never guessed.
                    if t.kind == Kind::Number {
                        return incomplete(format!(
                            "\"{}\" gives a stop with no unit: write \"{n}% stop loss\", \"{n} ATR stop\" \
                             or a level (\"stop below the 10-day low\")",
                            self.written(save, self.at),
                            n = display(&t)
                        ));
                    }
                    return Ok(Some(vec![Item::StopAt(t.expr)]));
                }
                self.at = at;
            }
            self.at = save;
            return Ok(None);
        }
        self.at = save;
        Ok(None)
    }

    pub(super) fn mode(&mut self) -> Option<Mode> {
        let save = self.at;
        for (p, m) in [
            ("long only", Mode::LongOnly),
            ("longs only", Mode::LongOnly),
            ("only long", Mode::LongOnly),
            ("only longs", Mode::LongOnly),
            ("only go long", Mode::LongOnly),
            ("only long trades", Mode::LongOnly),
            ("only long positions", Mode::LongOnly),
            ("no shorts", Mode::LongOnly),
            ("no shorting", Mode::LongOnly),
            ("no short selling", Mode::LongOnly),
            ("never short", Mode::LongOnly),
            ("short only", Mode::ShortOnly),
            ("shorts only", Mode::ShortOnly),
            ("only short", Mode::ShortOnly),
            ("only shorts", Mode::ShortOnly),
            ("only go short", Mode::ShortOnly),
            ("no longs", Mode::ShortOnly),
            ("long and short", Mode::Both),
            ("always in the market", Mode::Both),
            ("always in a position", Mode::Both),
            ("always long or short", Mode::Both),
            ("long short", Mode::Both),
            ("longs and shorts", Mode::Both),
            ("both long and short", Mode::Both),
            ("both directions", Mode::Both),
            ("both ways", Mode::Both),
            ("both sides", Mode::Both),
            ("trade both directions", Mode::Both),
            ("trade both ways", Mode::Both),
            ("trade both sides", Mode::Both),
            ("trade long only", Mode::LongOnly),
            ("trade longs only", Mode::LongOnly),
            ("trade short only", Mode::ShortOnly),
            ("trade shorts only", Mode::ShortOnly),
            ("stop and reverse", Mode::Both),
        ] {
            let n = self.phrase_len(p, self.at);
            if n > 0 {
                self.at += n;
                let _ = self.eat_any(&["trades", "positions", "strategy", "system"]);
                return Some(m);
            }
        }
        // "long/short".
        if self.eat("long") && self.sym("/") && self.eat("short") {
            return Some(Mode::Both);
        }
        self.at = save;
        None
    }

    /// A number of bars: "10 bars", "5 trading days", "3 candles"; `None` (position unchanged)
    /// otherwise.
    pub(super) fn bar_count(&mut self) -> Option<u32> {
        let save = self.at;
        if let Some(n) = self.number().and_then(whole) {
            let _ = self.eat("trading");
            if let Some(unit) = self.eat_any(&[
                "bars", "bar", "days", "day", "candles", "sessions", "periods",
            ]) {
                if matches!(unit, "days" | "day" | "sessions") {
                    self.days = Some((n, self.written(save, self.at)));
                }
                return Some(n);
            }
        }
        self.at = save;
        None
    }

    /// A stop, target or trailing stop word.
    fn what(&mut self) -> Option<What> {
        let save = self.at;
        let _ = self.eat_any(&["initial", "hard", "fixed", "protective"]);
        if self.eat("trailing") || self.eat("trail") {
            let _ = self.eat_any(&["a", "the", "my"]);
            if self.eat("stop") {
                self.eat("loss");
            }
            let _ = self.eat("by");
            return Some(What::Trail);
        }
        if self.eat("stop") || self.eat("stoploss") || self.eat("sl") {
            self.eat("loss");
            if self.eat("trailing") {
                return Some(What::Trail);
            }
            return Some(What::Stop);
        }
        if self.eat_phrases(&["cut losses", "cut the loss", "max loss", "maximum loss"]) {
            return Some(What::Stop);
        }
        if self.eat_phrases(&[
            "take profit",
            "take profits",
            "profit target",
            "profit taking",
        ]) || self.eat("target")
            || self.eat("tp")
            || self.eat("profit")
            || self.eat("gain")
            || self.eat_phrase("take")
        {
            let _ = self.eat("profit") || self.eat("target");
            return Some(What::Target);
        }
        self.at = save;
        None
    }

    /// "once the trade is up 5%" after a target ("down" after a stop): the percent, or
    /// `None` with the position unchanged.
    fn once_moved(&mut self, w: What) -> Option<f64> {
        let save = self.at;
        if w == What::Stop {
            let _ = self.eat("out");
        }
        let _ = self.eat("right");
        if self
            .eat_any(&["once", "when", "if", "after", "as soon as"])
            .is_some()
        {
            let _ = self.eat_any(&["the", "a", "my", "our"]);
            let _ = self.eat_any(&["trade", "position", "it", "value", "price"]);
            let _ = self.eat_any(&["is", "gets", "goes", "moves", "has", "runs"]);
            let _ = self.eat("gone") || self.eat("moved") || self.eat("run");
            let way = match w {
                What::Target => {
                    self.eat_any(&["up", "increased", "risen", "gained", "rises", "rallied"])
                        .is_some()
                        || self.eat_phrase("in profit by")
                }
                What::Stop => {
                    self.eat_any(&["down", "decreased", "fallen", "dropped", "falls", "lost"])
                        .is_some()
                        || self.eat_phrase("in loss by")
                }
                What::Trail => false,
            };
            if way {
                let _ = self.eat("by");
                if let Some(v) = self.percent() {
                    return Some(v);
                }
            }
        }
        self.at = save;
        None
    }

    /// After a trailing stop: "from the highest high" (`trailing_from = "high"`) and "once 5%
    /// up", "once the trade is 5% in profit", "after a 5% gain" (`trailing_offset_pct`).
    fn trail_tail(&mut self, w: What, items: R<Vec<Item>>) -> R<Option<Vec<Item>>> {
        let mut items = items?;
        if w != What::Trail {
            return Ok(Some(items));
        }
        loop {
            let save = self.at;
            if self.eat("from") || self.eat("off") {
                let _ = self.eat("the");
                if self.eat_phrases(&["highest high", "highest price", "high", "highs", "peak"]) {
                    let _ = self.eat_phrases(&["since entry", "since the entry", "of the trade"]);
                    items.push(Item::TrailFromHigh);
                    continue;
                }
                self.at = save;
            }
            if self
                .eat_any(&["once", "when", "after", "as soon as"])
                .is_some()
            {
                let _ = self.eat_any(&["the", "a", "my", "our"]);
                let _ = self.eat_any(&["trade", "position", "it"]);
                let _ = self.eat_any(&["is", "gets", "goes", "has"]);
                let _ = self.eat("up") || self.eat_phrase("in profit by");
                if let Some(v) = self.percent() {
                    let _ = self.eat("up")
                        || self.eat_phrase("in profit")
                        || self.eat("profit")
                        || self.eat("gain");
                    items.push(Item::TrailOffset(v));
                    continue;
                }
                self.at = save;
            }
            break;
        }
        Ok(Some(items))
    }

    /// Words after a stop, target or trailing stop; `true` when they measure it from the
    /// trade's fill ("below entry", "from the fill", "off the buy price").
    fn trailing_words(&mut self) -> bool {
        let _ = self.eat_any(&["stop", "loss"]);
        // "2 ATR away", "2% away from the price": from the signal's close, as without it.
        if self.eat("away") {
            let at = self.at;
            if !(self.eat("from")
                && (self.eat_phrases(&["the price", "the close", "price", "close"])))
            {
                self.at = at;
            }
        }
        let save = self.at;
        if self
            .eat_any(&["below", "above", "from", "under", "over", "of", "off"])
            .is_some()
        {
            let _ = self.eat_any(&["the", "my", "our"]);
            if self
                .eat_any(&["entry", "buy", "purchase", "fill", "entering"])
                .is_some()
            {
                let _ = self.eat("price");
                let _ = self.eat("point");
                return true;
            }
            // "3 ATR below": below the price.
            let _ = self.eat_any(&["the", "price", "close"]);
            if matches!(self.toks.get(self.at.wrapping_sub(1)).map(|t| &t.tok), Some(Tok::Word(w)) if ["below", "above", "under", "over"].contains(&w.as_str()) || ["price", "close", "the"].contains(&w.as_str()))
                && self.clause_ends()
            {
                return false;
            }
            self.at = save;
        }
        self.per_trade();
        false
    }

    fn per_trade(&mut self) {
        let save = self.at;
        let _ = self.eat_any(&["per", "on", "each", "for", "in"]);
        let _ = self.eat_any(&["each", "every", "a", "the"]);
        if self.eat_any(&["trade", "position", "entry"]).is_none() {
            self.at = save;
        }
    }

    /// `k × ATR(n)`: "2 ATR", "2x ATR(20)", "1.5 times the ATR", "3 ATRs".
    fn distance(&mut self) -> R<Option<Distance>> {
        let save = self.at;
        let Some(k) = self.number() else {
            return Ok(None);
        };
        // The Turtles' "2N, where N is the 20-day ATR".
        if self.eat("n") {
            let _ = self.sym(",") || self.sym("(");
            if self.eat_phrase("where n is") || self.eat_phrase("n being") {
                let _ = self.eat("the");
                if let Some(t) = self.term()?
                    && matches!(
                        t.expr.kind,
                        strategy::ExprKind::Call {
                            func: Func::Atr,
                            ..
                        }
                    )
                {
                    let _ = self.sym(")");
                    return Ok(Some(Distance(super::parser::bin(
                        strategy::BinOp::Mul,
                        num(k),
                        t.expr,
                    ))));
                }
            }
            self.at = save;
            return Ok(None);
        }
        let _ = self.eat("x") || self.eat("times") || self.sym("*");
        let _ = self.eat("the");
        if self.indicator_here().is_some_and(|i| i.func == Func::Atr) {
            let t: Term = {
                // Settings after ATR only: the number before was the multiplier.
                let at = self.at;
                let t = self.term()?;
                if let Some(t) = t {
                    t
                } else {
                    self.at = at;
                    return Ok(None);
                }
            };
            return Ok(Some(Distance(super::parser::bin(
                strategy::BinOp::Mul,
                num(k),
                t.expr,
            ))));
        }
        self.at = save;
        Ok(None)
    }

    /// "50% of equity", "half the account", "position size 25%", "1% per trade" (risk).
    fn sizing(&mut self, risk: bool, led: bool) -> R<Option<Item>> {
        let save = self.at;
        let led = self.eat("position") | (self.eat("size") || self.eat("sizing")) || led;
        let _ = self.sym(":") || self.sym("=");
        let _ = self.eat_any(&["of", "is", "to", "at"]);
        let fraction = if self.eat("half") {
            Some(50.0)
        } else if self.eat_phrase("a quarter") || self.eat("quarter") {
            Some(25.0)
        } else if self.eat("all")
            || self.eat("full")
            || self.eat("whole")
            || self.eat("entire")
            || self.eat("100%")
        {
            Some(100.0)
        } else {
            self.percent()
        };
        let Some(pct) = fraction else {
            self.at = save;
            return Ok(None);
        };
        let _ = self.eat("of");
        let _ = self.eat_any(&["the", "my", "your", "our", "total", "available"]);
        let _ = self.eat_any(&["total", "available", "current"]);
        let named = self.eat_any(&ACCOUNT).is_some() || self.eat("size");
        self.per_trade();
        let _ = self.eat_phrase("per trade");
        if risk {
            return Ok(Some(Item::RiskPct(pct)));
        }
        // A bare "10%" is a size only after a sizing word ("position size 10%", "invest 10%").
        if !(named || led && self.clause_ends()) {
            self.at = save;
            return Ok(None);
        }
        if !(pct > 0.0 && pct <= 100.0) {
            return Err(GenerateError::Incomplete(format!(
                "a position size is a percentage of equity above 0 and at most 100, not {pct}%"
            )));
        }
        Ok(Some(Item::Size(pct / 100.0)))
    }
}

/// A trailing stop said from the entry: it follows the price.
fn trail_from_entry() -> GenerateError {
    GenerateError::Incomplete(
        "a trailing stop follows the price, not the entry: drop \"from the entry\"".into(),
    )
}

/// A percent stop, target or trailing stop; measured from the fill when the words say so
/// (`stop_from = "fill"`), which a trailing stop cannot be.
fn pct_items(w: What, v: f64, fill: bool) -> R<Vec<Item>> {
    match (w, fill) {
        (_, false) => Ok(vec![pct_item(w, v)]),
        (What::Trail, true) => Err(trail_from_entry()),
        (_, true) => Ok(vec![pct_item(w, v), Item::FromFill]),
    }
}

/// A stop, target or trailing stop at a distance; from the fill when the words say so
/// (valued at the entry bar's close with the signal bar's distance: `entry_price -
/// at_entry(2 * atr(14))`).
fn by_items(w: What, d: Distance, fill: bool) -> R<Vec<Item>> {
    match (w, fill) {
        (_, false) => Ok(vec![by_item(w, d)]),
        (What::Trail, true) => Err(trail_from_entry()),
        (What::Stop, true) => Ok(vec![Item::StopFromFill(d)]),
        (What::Target, true) => Ok(vec![Item::TargetFromFill(d)]),
    }
}

fn pct_item(w: What, v: f64) -> Item {
    match w {
        What::Stop => Item::StopPct(v),
        What::Target => Item::TargetPct(v),
        What::Trail => Item::TrailPct(v),
    }
}

fn by_item(w: What, d: Distance) -> Item {
    match w {
        What::Stop => Item::StopBy(d),
        What::Target => Item::TargetBy(d),
        What::Trail => Item::TrailBy(d),
    }
}

/// A long's price `close - d` and a short's `close + d`.
pub(super) fn around_close(d: &Distance) -> (Expr, Expr) {
    use strategy::BinOp;
    (
        super::parser::bin(BinOp::Sub, name("close"), d.0.clone()),
        super::parser::bin(BinOp::Add, name("close"), d.0.clone()),
    )
}
