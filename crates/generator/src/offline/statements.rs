//! Statements: labels before a colon, declarations, filters, rules (an action and its
//! condition, either way round) and the risk said beside them.

use strategy::{BinOp, Expr, ExprKind, Func};

use super::actions::{action, signal_of};
use super::lex::Tok;
use super::parser::{self, Parser, bin, name, num};
use super::risk::{ACCOUNT, Item};
use super::{Action, R, Said, Side};

/// One statement; `false` when nothing could be placed (the position shows where it stuck).
pub(super) fn statement(p: &mut Parser<'_>, said: &mut Said) -> R<bool> {
    let start = p.at;
    // Trials that fail must not leave what they read in memory ("RSI 50 cross:" is a name).
    let memory = p.mem.clone();
    // A label before a colon.
    if let Some(colon) = label_colon(p) {
        let role = label_role(p, start, colon);
        p.at = colon + 1;
        match role {
            Label::Rule(a) => {
                let at = p.at;
                if let Some(mut c) = p.condition()? {
                    // "Long entry conditions: MACD above signal, price above 200 EMA": a list.
                    loop {
                        let before = p.at;
                        if !p.sym(",") {
                            break;
                        }
                        let memory = p.mem.clone();
                        match p.condition() {
                            Ok(Some(more)) if p.clause_ends() => c = bin(BinOp::And, c, more),
                            _ => {
                                p.mem = memory;
                                p.at = before;
                                break;
                            }
                        }
                    }
                    said.rules.push((a, c));
                    risk_tail(p, said)?;
                    return Ok(true);
                }
                p.at = at;
                if let Some(items) = p.risk_statement()? {
                    said.items.extend(items);
                    return Ok(true);
                }
                return rule(p, said, Some(a));
            }
            Label::Filter(side) => {
                let _ = p.eat("only");
                let _ = p.eat("when") || p.eat("if") || p.eat("while");
                return match p.condition()? {
                    Some(c) => {
                        said.filters.push((side, c));
                        Ok(true)
                    }
                    None => Ok(false),
                };
            }
            Label::Title => {
                if let Some(done) = title(p, said, start, colon, &memory)? {
                    return Ok(done);
                }
            }
            Label::Risk => {
                // "Stop: 5%", "Position size: half the account": read with the label.
                p.at = start;
                if let Some(items) = p.risk_statement()? {
                    said.items.extend(items);
                    return Ok(true);
                }
                p.at = colon + 1;
                return Ok(false);
            }
        }
    }
    let here = p.at;
    let memory = p.mem.clone();
    if definition(p) {
        return Ok(true);
    }
    if declaration(p, usize::MAX)? {
        return Ok(true);
    }
    p.mem = memory.clone();
    p.at = here;
    if let Some(items) = p.risk_statement()? {
        said.items.extend(items);
        return Ok(true);
    }
    p.mem = memory.clone();
    p.at = here;
    if let Some(done) = filter(p, said)? {
        return Ok(done);
    }
    p.mem = memory;
    p.at = here;
    rule(p, said, None)
}

/// A label that names no role: "RSI below 30: buy" is a rule; "Bollinger(10, 1.5):" declares
/// settings; "Use half of the account:" sizes; "Long and short:" says the direction; "Only on
/// Mondays:" filters; anything else is a name. `Some` when the whole statement was read here.
fn title(
    p: &mut Parser<'_>,
    said: &mut Said,
    start: usize,
    colon: usize,
    memory: &parser::Memory,
) -> R<Option<bool>> {
    // "RSI below 30: buy" is a rule; "Bollinger(10, 1.5):" declares settings;
    // "Long and short:" says the direction; anything else is a name.
    p.at = start;
    // "Use half of the account:", "Stop 5%:".
    if let Ok(Some(items)) = p.risk_statement()
        && p.at == colon
    {
        said.items.extend(items);
        p.at = colon + 1;
        return statement(p, said).map(Some);
    }
    p.mem = memory.clone();
    p.at = start;
    if let Some(m) = p.mode()
        && p.at == colon
    {
        said.items.push(Item::Mode(m));
        p.at = colon + 1;
        return statement(p, said).map(Some);
    }
    p.at = start;
    let mut trial = Said::default();
    if matches!(rule(p, &mut trial, None), Ok(true)) && p.clause_ends() {
        said.rules.extend(trial.rules);
        said.items.extend(trial.items);
        return Ok(Some(true));
    }
    p.mem = memory.clone();
    p.at = start;
    let mut declared = true;
    if !matches!(declaration(p, colon), Ok(true)) {
        p.mem = memory.clone();
        // "Only on Mondays:", "Trade only between 10:00 and 14:00:": a filter.
        p.at = start;
        let mut trial = Said::default();
        if matches!(filter(p, &mut trial), Ok(Some(true))) && p.at == colon {
            said.filters.extend(trial.filters);
            p.at = colon + 1;
            return Ok(None);
        }
        p.mem = memory.clone();
        declared = false;
    }
    // "RSI 50 cross, long/short:": the direction anywhere in a title.
    let read = p.mem.clone();
    let mut direction = false;
    for k in start..colon {
        p.at = k;
        if let Some(m) = p.mode()
            && p.at == colon
        {
            said.items.push(Item::Mode(m));
            direction = true;
        }
    }
    // "a simple SMA cross on daily candles:": the bar timeframe anywhere in a title.
    for k in start..colon {
        p.at = k;
        if let Ok(Some(t)) = p.timeframe()
            && p.at == colon
        {
            said.items.push(Item::Timeframe(t));
        }
    }
    p.mem = read;
    // A name may be dropped; words that would change the strategy may not.
    let telling = p.toks[start..colon].iter().any(|t| match &t.tok {
        Tok::Sym(s) => matches!(*s, "<" | ">" | "<=" | ">=" | "="),
        Tok::Word(w) => matches!(
            w.as_str(),
            "only"
                | "between"
                | "above"
                | "below"
                | "after"
                | "before"
                | "when"
                | "if"
                | "unless"
                | "except"
                | "not"
                | "no"
                | "under"
                | "over"
                | "crosses"
                | "while"
        ),
        _ => false,
    });
    if telling && !direction && !declared {
        p.at = start;
        return Ok(Some(false));
    }
    p.at = colon + 1;
    Ok(None)
}

enum Label {
    Rule(Action),
    Filter(Side),
    Risk,
    Title,
}

/// The colon of a label at the start of a statement (within 16 tokens, before any punctuation).
fn label_colon(p: &Parser<'_>) -> Option<usize> {
    let mut depth = 0;
    for k in 0..16 {
        match p.peek_at(k) {
            // Not a ratio between numbers ("3:1 reward to risk").
            Some(Tok::Sym(":"))
                if k > 0
                    && depth == 0
                    && !(matches!(p.peek_at(k - 1), Some(Tok::Num(_)))
                        && matches!(p.peek_at(k + 1), Some(Tok::Num(_)))) =>
            {
                return Some(p.at + k);
            }
            Some(Tok::Sym("(")) => depth += 1,
            Some(Tok::Sym(")")) => depth -= 1,
            // A title may hold commas: "RSI 50 cross, long/short: …".
            Some(Tok::Sym(",")) if depth > 0 || p.at == 0 => {}
            Some(Tok::Sym("," | ";" | "." | "\n" | "<" | ">" | "<=" | ">=" | "=")) | None => {
                return None;
            }
            _ => {}
        }
    }
    None
}

fn label_role(p: &Parser<'_>, from: usize, colon: usize) -> Label {
    let words: Vec<&str> = p.toks[from..colon]
        .iter()
        .filter_map(|t| match &t.tok {
            Tok::Word(w) => Some(w.as_str()),
            _ => None,
        })
        .filter(|w| {
            !matches!(
                *w,
                "signal"
                    | "signals"
                    | "rule"
                    | "rules"
                    | "condition"
                    | "conditions"
                    | "setup"
                    | "trigger"
                    | "criteria"
                    | "the"
                    | "a"
            )
        })
        .collect();
    let has = |w: &str| words.contains(&w);
    match words.as_slice() {
        ["long", "filter"] => Label::Filter(Side::Long),
        ["short", "filter"] => Label::Filter(Side::Short),
        ["filter" | "filters"] | [_, "filter" | "filters"] => Label::Filter(Side::All),
        ["buy" | "long"]
        | ["long" | "bull" | "bullish", "entry" | "entries"]
        | ["entry" | "enter" | "go", "long"] => Label::Rule(Action::EntryLong),
        ["entry" | "entries" | "enter"] => Label::Rule(Action::Enter),
        ["sell"] => Label::Rule(Action::Sell),
        ["exit" | "exits" | "close"] => Label::Rule(Action::Exit),
        ["long", "exit"] | ["exit", "long"] => Label::Rule(Action::ExitLong),
        ["short"]
        | ["short" | "bear" | "bearish", "entry" | "entries"]
        | ["entry" | "go" | "sell", "short"] => Label::Rule(Action::EntryShort),
        ["short", "exit"] | ["exit", "short"] | ["cover"] => Label::Rule(Action::ExitShort),
        _ if has("stop")
            || has("target")
            || has("size")
            || has("sizing")
            || has("risk")
            || (has("take") && has("profit"))
            || has("trailing") =>
        {
            Label::Risk
        }
        _ => Label::Title,
    }
}

/// "FMA = simple moving average of length 400", "fast = EMA(9)": a name for an indicator, which
/// later words use ("low <= FMA"). `false` (position unchanged) when the words are not one.
fn definition(p: &mut Parser<'_>) -> bool {
    let save = p.at;
    let (Some(Tok::Word(w)), Some(Tok::Sym("="))) = (p.peek().cloned(), p.peek_at(1).cloned())
    else {
        return false;
    };
    p.at += 2;
    let memory = p.mem.clone();
    match p.term() {
        Ok(Some(t)) if matches!(t.expr.kind, ExprKind::Call { .. }) && p.clause_ends() => {
            // One nothing uses is refused, as a declaration is.
            p.declared.push((t.expr.clone(), p.written(save, p.at)));
            p.mem.defined.insert(w, t);
            true
        }
        _ => {
            p.mem = memory;
            p.at = save;
            false
        }
    }
}

/// "fast SMA 20", "using Bollinger bands 10/1.5", "MACD(5, 35, 5)": indicators named with their
/// settings and nothing said of them, for later mentions. Ends at `until` (a label's colon) or
/// at the clause's end; `false` (position unchanged) when the words are not one.
fn declaration(p: &mut Parser<'_>, until: usize) -> R<bool> {
    let save = p.at;
    let label = until != usize::MAX;
    let _ = p.eat("use") || p.eat("using") || p.eat("with") || p.eat("set");
    let mut declared = Vec::new();
    loop {
        let _ = p.eat("a") || p.eat("an") || p.eat("the");
        let _ = p.eat_any(&["dual", "simple", "classic", "basic"]);
        let at = p.at;
        if p.ma_pair()? {
            // "EMA 10/30 crossover": the fast and the slow average.
        } else if label && p.mode().is_some() {
            // "RSI 2 system, long only:": the direction is read by the label.
        } else {
            p.at = at;
            let fast = p.word() == Some("fast") || p.word() == Some("slow");
            p.declaring = true;
            let t = p.term();
            p.declaring = false;
            match t? {
                Some(t) if fast || matches!(t.expr.kind, ExprKind::Call { .. }) && p.at > at => {
                    // What is declared is what later words speak of ("buy below 10").
                    declared.push((t.expr.clone(), p.written(at, p.at)));
                    p.mem.subject = Some(t);
                }
                _ => {
                    p.at = save;
                    return Ok(false);
                }
            }
        }
        let _ = p.eat_any(&["strategy", "system", "crossover", "settings", "setup"]);
        // In a label ("fast SMA 20, slow SMA 50:") a comma joins too.
        if !(p.eat("and") || label && p.sym(",")) {
            break;
        }
    }
    let ends = if label {
        p.at == until
    } else {
        p.clause_ends() && !matches!(p.word(), Some("and"))
    };
    if ends {
        p.declared.extend(declared);
        return Ok(true);
    }
    p.at = save;
    Ok(false)
}

/// "with a 5% stop", "using a 2 ATR trailing stop", "or after 10 days" after a rule.
fn risk_tail(p: &mut Parser<'_>, said: &mut Said) -> R<()> {
    // "RSI < 30 (oversold)": a note that agrees with the rule just read.
    if let Some((_, c)) = said.rules.last() {
        let c = c.clone();
        p.annotation(&c);
    }
    // "(filled at close)": how the orders fill.
    let at = p.at;
    if p.sym("(")
        && p.eat_phrases(&[
            "filled at close",
            "filled at the close",
            "fill at close",
            "at close",
        ])
        && p.sym(")")
    {
        said.items.push(Item::FillClose);
    } else {
        p.at = at;
    }
    let save = p.at;
    // "exit when RSI > 80 or after 10 days": a time exit beside the rule.
    if p.eat("or") && (p.eat("after") || p.eat("in")) {
        if let Some(n) = p.bar_count() {
            said.items.push(Item::MaxBars(n));
            return Ok(());
        }
        p.at = save;
    }
    let _ = p.sym(",");
    if let Some(items) = p.risk_statement()? {
        said.items.extend(items);
    } else {
        p.at = save;
    }
    Ok(())
}

/// "only buy when …", "trade only between 9 and 16", "only take longs above the 200 SMA", and
/// a requirement on its own ("The asset must be above its 200-day moving average.").
fn filter(p: &mut Parser<'_>, said: &mut Said) -> R<Option<bool>> {
    let save = p.at;
    if let Ok(Some(c)) = p.condition() {
        let required = p.toks[save..p.at]
            .iter()
            .any(|t| matches!(&t.tok, Tok::Word(w) if ["must", "should", "needs", "required"].contains(&w.as_str())));
        if required && p.clause_ends() {
            said.filters.push((Side::All, c));
            return Ok(Some(true));
        }
    }
    p.at = save;
    let lead_trade = p.eat("trade") || p.eat("enter") || p.eat("trades");
    if !p.eat("only") {
        p.at = save;
        return Ok(None);
    }
    let mut side = Side::All;
    if !lead_trade {
        if p.eat("buy")
            || p.eat_phrases(&[
                "go long",
                "take longs",
                "take long trades",
                "trade long",
                "enter long",
                "be long",
            ])
        {
            side = Side::Long;
        } else if p.eat("short")
            || p.eat_phrases(&[
                "go short",
                "take shorts",
                "take short trades",
                "enter short",
                "sell short",
            ])
        {
            side = Side::Short;
        } else {
            let _ = p.eat("trade")
                || p.eat("enter")
                || p.eat_phrase("take trades")
                || p.eat_phrase("take entries");
        }
    }
    let _ = p.eat("when") || p.eat("if") || p.eat("while") || p.eat("whenever");
    if let Some(c) = p.condition()? {
        said.filters.push((side, c));
        Ok(Some(true))
    } else {
        p.at = save;
        Ok(None)
    }
}

/// A rule statement: action then condition, or condition then action.
fn rule(p: &mut Parser<'_>, said: &mut Said, labelled: Option<Action>) -> R<bool> {
    let start = p.at;
    let first = labelled.or_else(|| action(p));
    if let Some(a) = first {
        // "buy 100 shares when", "buy at the close when".
        qualifiers(p, said);
        // "buy stop at the 20-day high", "short on a stop at the 20-day low when …".
        if entry_order(p, said, a)? && p.clause_ends() {
            // Placed on every bar (an entry while holding that side is ignored).
            said.rules
                .push((a, bin(BinOp::Gt, name("close"), num(0.0))));
            return Ok(true);
        }
        let intro = p.eat_any(&[
            "when", "whenever", "if", "once", "on", "after", "at", "as", "while",
        ]);
        if intro.is_none() && (p.eat_phrase("every time") || p.eat_phrase("each time")) {
            let _ = p.eat("that");
        }
        if intro == Some("as") {
            let _ = p.eat("soon") && p.eat("as");
        }
        if (intro == Some("at") || intro == Some("on"))
            && let Some(c) = at_level(p, a)?
        {
            said.rules.push((a, c));
            risk_tail(p, said)?;
            return Ok(true);
        }
        if let Some(c) = p.condition()? {
            said.rules.push((a, c));
            risk_tail(p, said)?;
            return Ok(true);
        }
        if intro == Some("after") && time_or_rule(p, said, a)? {
            return Ok(true);
        }
        // "exit after 16:00": the word belongs to a time of day.
        if intro == Some("after") {
            p.at -= 1;
            if let Some(c) = p.condition()? {
                said.rules.push((a, c));
                risk_tail(p, said)?;
                return Ok(true);
            }
        }
        return Ok(false);
    }
    p.at = start;
    if p.eat_any(&["when", "whenever", "if", "once", "on", "after"])
        .is_some()
        || p.eat_phrase("as soon as")
        || p.word() == Some("every") && p.word_at(1) != Some("time")
        || p.eat_phrases(&["every time", "each time"])
    {
        let Some(c) = p.condition()? else {
            p.at = start;
            return Ok(false);
        };
        let _ = p.sym(",") || p.eat("then") || p.sym("->") || p.sym(":");
        let _ = p.eat("we") || p.eat("i");
        if let Some(a) = action(p) {
            qualifiers(p, said);
            let c = also_if(p, c)?;
            said.rules.push((a, c));
            risk_tail(p, said)?;
            return Ok(true);
        }
        return Ok(false);
    }
    // "RSI < 30 -> buy", "RSI below 30: buy", "RSI < 30, buy", "RSI below 30 buy" (the
    // action alone).
    if let Some(c) = p.condition()? {
        let at = p.at;
        let comma = p.sym(",");
        let separated = comma || p.sym("->") || p.sym(":") || p.sym("=") || p.eat("then");
        // "… : then buy", "…, then sell".
        if separated {
            let _ = p.eat("then");
        }
        if separated
            && let Some(a) = action(p)
            && (!comma || p.clause_ends() || p.word() == Some("at"))
        {
            // "…: then buy at the close".
            qualifiers(p, said);
            said.rules.push((a, c));
            risk_tail(p, said)?;
            return Ok(true);
        }
        // "crossing below it is a sell signal", "a close above the band triggers a buy".
        p.at = at;
        if let Some(a) = signal_of(p)
            && p.clause_ends()
        {
            said.rules.push((a, c));
            return Ok(true);
        }
        // "golden cross buy, death cross sell": the action right after, ending the clause.
        p.at = at;
        if let Some(a) = action(p)
            && p.clause_ends()
        {
            said.rules.push((a, c));
            return Ok(true);
        }
        // A condition with no action: the whole clause is unplaced.
        p.at = start;
        return Ok(false);
    }
    p.at = start;
    Ok(false)
}

/// "when not in a position, buy if the 50 SMA is above the 200 SMA": a condition after the
/// action too, which holds with the one before it.
fn also_if(p: &mut Parser<'_>, c: Expr) -> R<Expr> {
    let at = p.at;
    if p.eat_any(&["if", "when", "once"]).is_some() {
        if let Some(more) = p.condition()? {
            return Ok(parser::and(c, more));
        }
        p.at = at;
    }
    Ok(c)
}

/// After "sell after": "10 bars or when RSI > 70", a time exit or the rule, whichever comes
/// first (exits only); `false` with the position unchanged otherwise.
fn time_or_rule(p: &mut Parser<'_>, said: &mut Said, a: Action) -> R<bool> {
    let exits = matches!(
        a,
        Action::Sell | Action::ExitLong | Action::ExitShort | Action::Exit
    );
    let at = p.at;
    if exits
        && let Some(n) = p.bar_count()
        && p.eat("or")
    {
        let _ = p.eat_any(&["when", "if", "once", "whenever"]);
        if let Some(c) = p.condition()? {
            said.items.push(Item::MaxBars(n));
            // "sell after N bars" closes a long: never a short entry, whatever the mode.
            let a = if a == Action::Sell {
                Action::ExitLong
            } else {
                a
            };
            said.rules.push((a, c));
            risk_tail(p, said)?;
            return Ok(true);
        }
    }
    p.at = at;
    Ok(false)
}

/// "sell at the upper band", "buy at the lower band", "exit at the middle band".
fn at_level(p: &mut Parser<'_>, a: Action) -> R<Option<Expr>> {
    if let Some(e) = at_oscillator_level(p, a)? {
        return Ok(Some(e));
    }
    let save = p.at;
    // "exit on a 20-day low": an event, the new low ("a new 20-day low"), not a level touched.
    if p.eat_any(&["a", "an"]).is_some() {
        p.at = save;
        return Ok(None);
    }
    let Some(t) = p.term()? else {
        return Ok(None);
    };
    if !p.clause_ends() {
        p.at = save;
        return Ok(None);
    }
    let middle = || {
        // The middle line is reached from below by an exit of a long, from above by a long's
        // entry.
        matches!(
            a,
            Action::Sell | Action::ExitLong | Action::Exit | Action::EntryShort
        )
    };
    let up = match (&t.kind, &t.expr.kind) {
        (parser::Kind::Upper, _) => true,
        (parser::Kind::Lower, _) => false,
        // "sell at the previous candle's high": a past high is reached from below.
        (parser::Kind::Price, ExprKind::Back(e, _)) if **e == name("high") => true,
        (parser::Kind::Price, ExprKind::Back(e, _)) if **e == name("low") => false,
        (parser::Kind::Middle, _) => middle(),
        _ if matches!(
            &t.expr.kind,
            ExprKind::Call {
                func: Func::Bbands,
                ..
            }
        ) =>
        {
            middle()
        }
        _ => {
            p.at = save;
            return Ok(None);
        }
    };
    Ok(Some(if up {
        bin(BinOp::Ge, name("high"), t.expr)
    } else {
        bin(BinOp::Le, name("low"), t.expr)
    }))
}

/// "exit at RSI 65", "buy at an RSI of 30": an oscillator's level (one with oversold and
/// overbought levels) after "at", reached from below by a long's exit or a short's entry
/// (`rsi >= 65`), from above by a long's entry or a short's exit (`rsi <= 30`).
fn at_oscillator_level(p: &mut Parser<'_>, a: Action) -> R<Option<Expr>> {
    let save = p.at;
    p.skip_articles();
    // "RSI length 14, low level 30, high level 70: buy at 30": the oscillator named before.
    let named = match (&p.mem.subject, p.peek()) {
        (Some(t), Some(Tok::Num(_)))
            if matches!(&t.kind, parser::Kind::Indicator(f)
                if super::vocab::indicator(*f).is_some_and(|i| i.levels.is_some())) =>
        {
            Some(t.clone())
        }
        _ => None,
    };
    let t = if let Some(t) = named {
        t
    } else {
        if p.indicator_here().is_none_or(|i| i.levels.is_none()) {
            p.at = save;
            return Ok(None);
        }
        p.level_next = true;
        let t = p.indicator(None);
        p.level_next = false;
        t?
    };
    let _ = p.eat("of") || p.eat("level") || p.eat("reading");
    let Some(v) = p.number() else {
        p.at = save;
        return Ok(None);
    };
    if !p.clause_ends() {
        p.at = save;
        return Ok(None);
    }
    let up = matches!(
        a,
        Action::Sell | Action::ExitLong | Action::Exit | Action::EntryShort
    );
    Ok(Some(bin(
        if up { BinOp::Ge } else { BinOp::Le },
        t.expr,
        num(v),
    )))
}

/// "buy stop at X", "buy on a stop at X", "buy with a limit order at X", "short stop at X": the
/// entry's order price (DESIGN.md §5.2's `entry_long_stop` and kin). `true` when one was read.
fn entry_order(p: &mut Parser<'_>, said: &mut Said, a: Action) -> R<bool> {
    let long = match a {
        Action::EntryLong | Action::Enter => true,
        Action::EntryShort => false,
        _ => return Ok(false),
    };
    let save = p.at;
    let _ = p.eat("on") || p.eat("with") || p.eat("using");
    let _ = p.eat("a") || p.eat("an");
    let stop = if p.eat("stop") {
        true
    } else if p.eat("limit") {
        false
    } else {
        p.at = save;
        return Ok(false);
    };
    let _ = p.eat("order") || p.eat("entry");
    if !(p.eat("at") || p.eat("of") || p.eat_phrase("placed at")) {
        p.at = save;
        return Ok(false);
    }
    let Some(t) = p.term()? else {
        p.at = save;
        return Ok(false);
    };
    said.items.push(Item::EntryOrder {
        long,
        stop,
        price: t.expr,
    });
    Ok(true)
}

/// Words between an action and its condition that say how to trade.
fn qualifiers(p: &mut Parser<'_>, said: &mut Said) {
    loop {
        let save = p.at;
        // What is traded: "buy the SPY when", "short the stock if", "buy AAPL when".
        let _ = p.eat("the");
        if p.ticker() {
            continue;
        }
        if let Some(w) = p.eat_any(&["spy", "qqq"]) {
            p.instrument = Some(w.to_ascii_uppercase());
            continue;
        }
        if p.eat_any(&[
            "stock",
            "stocks",
            "etf",
            "asset",
            "market",
            "index",
            "instrument",
            "security",
            "shares",
            "coin",
            "pair",
            "futures",
            "contract",
            "ticker",
            "symbol",
        ])
        .is_some()
        {
            continue;
        }
        p.at = save;
        if let Some(v) = p.number() {
            if p.eat_any(&[
                "shares",
                "share",
                "units",
                "unit",
                "contracts",
                "coins",
                "lots",
            ])
            .is_some()
            {
                said.items.push(Item::Units(v));
                continue;
            }
            p.at = save;
        }
        if p.eat_phrases(&["at the close", "on the close", "at close"]) {
            said.items.push(Item::FillClose);
            continue;
        }
        if p.eat_phrases(&[
            "at the next open",
            "at the next bar's open",
            "at the next bar open",
            "on the next bar",
            "on the next open",
            "at the open",
            "at market",
            "at the market",
            "next bar",
        ]) {
            continue;
        }
        if p.eat("position")
            || p.eat("positions")
            || p.eat("trade")
            || p.eat("signal")
            || p.eat("signals")
            || p.eat_phrases(&["at open", "on open", "on the open"])
        {
            continue;
        }
        // "buy 50% of equity when …".
        if let Some(v) = p.percent() {
            let _ = p.eat("of");
            let _ = p.eat_any(&["the", "my", "your"]);
            if p.eat_any(&ACCOUNT).is_some() && v > 0.0 && v <= 100.0 {
                said.items.push(Item::Size(v / 100.0));
                continue;
            }
            p.at = save;
        }
        // "sell everything", "sell all".
        if p.eat("everything")
            || p.eat("all")
            || p.eat_phrase("the whole position")
            || p.eat_phrase("the entire position")
        {
            continue;
        }
        break;
    }
}
