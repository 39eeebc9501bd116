//! The words that name an action ("buy", "sell short", "cover", "a buy order is triggered"),
//! and the signal words after a condition ("is a sell signal").

use super::Action;
use super::parser::Parser;

/// The words of actions, matched longest first.
const ACTIONS: &[(&str, Action)] = &[
    ("buy to cover", Action::ExitShort),
    ("buy back", Action::ExitShort),
    ("buy to close", Action::ExitShort),
    ("sell to close", Action::ExitLong),
    ("sell short", Action::EntryShort),
    ("short sell", Action::EntryShort),
    ("sell the long", Action::ExitLong),
    ("buy long", Action::EntryLong),
    ("buy", Action::EntryLong),
    ("buys", Action::EntryLong),
    ("go long", Action::EntryLong),
    ("get long", Action::EntryLong),
    ("enter long", Action::EntryLong),
    ("enter a long", Action::EntryLong),
    ("enter longs", Action::EntryLong),
    ("open a long", Action::EntryLong),
    ("open long", Action::EntryLong),
    ("take a long", Action::EntryLong),
    ("take long", Action::EntryLong),
    ("go short", Action::EntryShort),
    ("get short", Action::EntryShort),
    ("enter short", Action::EntryShort),
    ("enter a short", Action::EntryShort),
    ("open a short", Action::EntryShort),
    ("open short", Action::EntryShort),
    ("take a short", Action::EntryShort),
    ("short", Action::EntryShort),
    ("long entry", Action::EntryLong),
    ("long position", Action::EntryLong),
    ("short position", Action::EntryShort),
    ("closes the position", Action::Exit),
    ("closes the trade", Action::Exit),
    ("exits the position", Action::Exit),
    ("exits the trade", Action::Exit),
    ("bull entry", Action::EntryLong),
    ("bear entry", Action::EntryShort),
    ("goes long", Action::EntryLong),
    ("goes short", Action::EntryShort),
    ("short entry", Action::EntryShort),
    ("long exit", Action::ExitLong),
    ("short exit", Action::ExitShort),
    ("exit long", Action::ExitLong),
    ("exit longs", Action::ExitLong),
    ("exit the long", Action::ExitLong),
    ("exit a long", Action::ExitLong),
    ("close long", Action::ExitLong),
    ("close longs", Action::ExitLong),
    ("close the long", Action::ExitLong),
    ("exit short", Action::ExitShort),
    ("exit shorts", Action::ExitShort),
    ("exit the short", Action::ExitShort),
    ("close short", Action::ExitShort),
    ("close shorts", Action::ExitShort),
    ("close the short", Action::ExitShort),
    ("cover the short", Action::ExitShort),
    ("cover", Action::ExitShort),
    ("sell", Action::Sell),
    ("sold", Action::Sell),
    ("bought", Action::EntryLong),
    ("sell the open position", Action::ExitLong),
    ("close the open position", Action::Exit),
    ("sells", Action::Sell),
    ("close it", Action::Exit),
    ("exit it", Action::Exit),
    ("sell it", Action::ExitLong),
    ("cover it", Action::ExitShort),
    ("exit the trade", Action::Exit),
    ("exit the position", Action::Exit),
    ("exit all positions", Action::Exit),
    ("exit", Action::Exit),
    ("exits", Action::Exit),
    ("close the trade", Action::Exit),
    ("close the position", Action::Exit),
    ("close out the position", Action::Exit),
    ("close out", Action::Exit),
    ("close all positions", Action::Exit),
    ("close position", Action::Exit),
    ("get out", Action::Exit),
    ("liquidate", Action::Exit),
    ("flatten", Action::Exit),
    ("take profit", Action::Exit),
    ("take profits", Action::Exit),
    ("enter a trade", Action::Enter),
    ("enter a position", Action::Enter),
    ("enter the market", Action::Enter),
    ("enter", Action::Enter),
    ("open a position", Action::Enter),
    ("open a trade", Action::Enter),
];

/// "is a sell signal", "gives a buy signal", "triggers an exit", "signals a short": the
/// action a condition before it stands for.
pub(super) fn signal_of(p: &mut Parser<'_>) -> Option<Action> {
    let save = p.at;
    let verb = p.eat("is")
        || p.eat("gives")
        || p.eat("generates")
        || p.eat("triggers")
        || p.eat("signals")
        || p.eat("means");
    if !verb {
        return None;
    }
    let _ = p.eat_any(&["a", "an", "the", "our", "my"]);
    let Some(a) = action(p) else {
        p.at = save;
        return None;
    };
    let _ = p.eat("signal");
    Some(a)
}

/// An action at the start of a rule.
pub(super) fn action(p: &mut Parser<'_>) -> Option<Action> {
    let save = p.at;
    // "My objective is to buy", "a strategy that buys".
    let _ = p.eat_phrases(&[
        "my objective is to",
        "my goal is to",
        "the idea is to",
        "the plan is to",
        "i would like to",
        "how can i",
        "how do i",
        "a strategy that",
        "the strategy",
        "the stock is",
        "the asset is",
        "the coin is",
    ]);
    // "…, while a sell signal is triggered when …".
    let _ = p.eat("while") || p.eat("whereas");
    let _ = p.eat("we") || p.eat("i") || p.eat("you");
    let _ = p.eat("should") || p.eat("will") || p.eat("want") && p.eat("to");
    if let Some(a) = action_phrase(p) {
        return Some(a);
    }
    // "generate a buy signal when", "a buy order is triggered when", "place a sell order".
    let lead = p.at;
    let _ = p.eat_any(&[
        "generate",
        "generates",
        "trigger",
        "triggers",
        "issue",
        "issues",
        "give",
        "gives",
        "fire",
        "fires",
        "place",
        "places",
        "send",
        "sends",
    ]);
    let article = p.eat_any(&["a", "an", "the"]).is_some();
    if article || p.at > lead {
        let at = p.at;
        if let Some(a) = action_phrase(p)
            && p.at > at
            && (p.eat("signal") || p.eat("order") || p.eat("alert") || p.at > lead + 1)
        {
            let _ = p.eat_phrases(&[
                "is triggered",
                "is generated",
                "is given",
                "is placed",
                "is fired",
                "becomes true",
                "happens",
                "occurs",
                "fires",
            ]);
            return Some(a);
        }
    }
    p.at = save;
    None
}

/// An action phrase at the position: the action and what it says of itself ("buy entry",
/// "sell signal", "sell entry" is a short's entry).
fn action_phrase(p: &mut Parser<'_>) -> Option<Action> {
    let save = p.at;
    // "close when …", "entry if …": the noun or the price word as the action, only before a
    // "when" (elsewhere "close" is the price).
    if matches!(p.word_at(1), Some("when" | "if" | "once" | "whenever")) {
        match p.word() {
            Some("close") => {
                p.at += 1;
                return Some(Action::Exit);
            }
            Some("entry") => {
                p.at += 1;
                return Some(Action::Enter);
            }
            _ => {}
        }
    }
    let mut best: Option<(Action, usize)> = None;
    for (ph, a) in ACTIONS {
        let n = p.phrase_len(ph, p.at);
        if n > 0 && best.is_none_or(|b| n > b.1) {
            best = Some((*a, n));
        }
    }
    // "long when …" / "long: …": a long entry, but not "long only".
    if best.is_none()
        && p.word() == Some("long")
        && matches!(
            p.word_at(1),
            Some("when" | "whenever" | "if" | "once" | "on" | "after" | "while" | "as")
        )
    {
        best = Some((Action::EntryLong, 1));
    }
    if let Some((a, n)) = best {
        p.at += n;
        let _ = p.eat("position") || p.eat("positions") || p.eat("trade") || p.eat("trades");
        // "sell entry when …": selling to open is a short's entry.
        if p.eat("entry") && a == Action::Sell {
            return Some(Action::EntryShort);
        }
        let _ = p.eat("signal") || p.eat("signals") || p.eat("order") || p.eat("orders");
        // "buy a coin when", "sell the stock if": the instrument, said as an object.
        let at = p.at;
        let _ = p.eat_any(&["a", "an", "the"]);
        if p.eat_any(&["coin", "stock", "asset", "share", "shares", "pair"])
            .is_none()
            || !matches!(
                p.word(),
                Some("when" | "if" | "once" | "whenever" | "on" | "at")
            )
        {
            p.at = at;
        }
        Some(a)
    } else {
        p.at = save;
        None
    }
}
