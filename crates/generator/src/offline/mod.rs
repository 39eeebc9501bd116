//! The offline compiler: a deterministic reading of a trading idea as traders write it
//! (DESIGN.md §5.1), with no key and no network. It never guesses: what it cannot place is
//! refused with the words quoted and the nearest things it does understand.
//!
//! A description is read as statements separated by `,` `;` `.` "then", a new line, or "and"
//! before a new statement. A statement may start with a label before a colon ("Connors RSI-2:",
//! "Entry:", "Trend filter:", "Stop:"). Statements are:
//! - rules: an action ("buy", "go long", "sell", "exit", "short", "cover", …) with a condition
//!   after "when"/"if"/"once"/"on"/"at", or the condition first ("when RSI < 30, buy");
//! - filters: "only buy when …", "trade only between 9 and 16", "Trend filter: …";
//! - risk: stops, targets and trailing stops in percent or ATRs, "exit after N bars", sizing,
//!   "long only" / "long and short", "trade on the close".
//!
//! Statements are read in `statements` (risk ones in `risk`); conditions and terms are the
//! grammar of `parser`, `terms`, `conditions` and `specials`; indicator names come from the one
//! vocabulary table in `vocab`, shared with the language's function list. `build` turns what
//! was said into expressions (never into text) and validates them as any strategy file is.

mod actions;
mod build;
mod conditions;
mod derived;
mod deviations;
mod labels;
mod lex;
mod management;
mod parser;
mod portfolio;
mod prices;
mod risk;
mod specials;
mod statements;
#[cfg(test)]
mod table;
mod terms;
mod verbs;
mod vocab;

use strategy::{Expr, ExprKind, Strategy};

use crate::GenerateError;
use lex::{Tok, tokenize};
use parser::Parser;
use risk::Item;

type R<T> = Result<T, GenerateError>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    EntryLong,
    ExitLong,
    EntryShort,
    ExitShort,
    /// "sell": a long's exit, or a short entry when the strategy trades both ways.
    Sell,
    /// "exit", "close the position": whichever side is open.
    Exit,
    /// "enter": the side the strategy trades.
    Enter,
}

/// Which entries a filter applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Long,
    Short,
    All,
}

#[derive(Debug, Default)]
struct Said {
    rules: Vec<(Action, Expr)>,
    filters: Vec<(Side, Expr)>,
    items: Vec<Item>,
    /// The symbol named as the instrument ("buy QQQ when"), if any.
    instrument: Option<String>,
}

/// Compiles a description into a validated strategy (named from the description; [`crate::save`]
/// renames it).
///
/// # Errors
/// [`GenerateError::NotUnderstood`] quoting the words it could not place (with suggestions), or
/// [`GenerateError::Incomplete`] saying what is missing.
pub fn compile(description: &str) -> Result<Strategy, GenerateError> {
    compile_noted(description).map(|(s, _)| s)
}

/// [`compile`], with what the user should know about how the file reads the description: a
/// time exit said in days is a count of bars, which are days only on daily bars.
///
/// # Errors
/// As [`compile`]; also [`GenerateError::Incomplete`] for a time exit in days on bars that are
/// not days long (the description's `timeframe`), saying it in bars instead.
pub fn compile_noted(description: &str) -> Result<(Strategy, Vec<String>), GenerateError> {
    let toks = tokenize(description);
    let mut p = Parser::new(&toks, description);
    let mut said = Said::default();
    let mut unplaced: Vec<String> = Vec::new();
    let mut hints: Vec<String> = Vec::new();
    let mut placed_any = false;
    while p.at < toks.len() {
        // "then" separates statements; at the end it joins nothing and is left to refuse.
        let then = p.word() == Some("then") && p.at + 1 < toks.len();
        // After a statement, a colon too ("fast = EMA(9), slow = EMA(21): buy when …").
        if p.sym(",")
            || p.sym(";")
            || p.sym(".")
            || p.sym("\n")
            || p.sym("->")
            || placed_any && p.sym(":")
            || then && p.eat("then")
        {
            continue;
        }
        let conj = p.at;
        if p.eat("and") || p.eat("also") || p.eat("plus") || p.eat("but") {
            // A conjunction joins what follows it: one before the end of its clause joins
            // nothing, and whatever the writer meant there is missing. Never a silent drop.
            let dangling = matches!(
                p.peek(),
                None | Some(Tok::Sym("," | ";" | "." | "\n" | "->"))
            );
            if dangling {
                unplaced.push(p.written(conj, conj + 1));
                hints.push(format!(
                    "\"{}\" joins nothing here: finish what it joins, or delete it",
                    p.written(conj, conj + 1)
                ));
            }
            continue;
        }
        // A numbered or lettered list: "1. Buy when …", "2) Sell when …".
        if matches!(p.peek(), Some(Tok::Num(_)))
            && matches!(p.peek_at(1), Some(Tok::Sym("." | ")")))
            && p.at
                .checked_sub(1)
                .is_none_or(|k| matches!(toks[k].tok, Tok::Sym("." | ";" | "," | "\n")))
        {
            p.at += 2;
            continue;
        }
        let otherwise = else_if(&mut p, &said);
        let rules_before = said.rules.len();
        let start = p.at;
        p.hint = None;
        let placed = statements::statement(&mut p, &mut said)?;
        placed_any |= placed;
        if let Some(previous) = otherwise {
            for (_, c) in &mut said.rules[rules_before..] {
                *c = parser::and(
                    c.clone(),
                    parser::ex(ExprKind::Not(Box::new(previous.clone()))),
                );
            }
        }
        if placed && p.clause_ends() {
            continue;
        }
        // What is left of the clause could not be placed.
        let mut stuck = if placed { p.at } else { p.at.max(start) };
        if matches!(
            toks.get(stuck).map(|t| &t.tok),
            Some(Tok::Sym("," | ";" | "." | "\n" | "->")) | None
        ) {
            stuck = start;
        }
        let end = clause_end(&p, stuck);
        let words = p.written(stuck, end);
        if !words.is_empty() {
            unplaced.push(words);
        }
        for t in &toks[stuck..end] {
            if let Tok::Word(w) = &t.tok
                && let Some(s) = nearest(w)
            {
                hints.push(format!("\"{s}\" for \"{w}\""));
            }
        }
        if let Some(h) = p.hint.take() {
            hints.push(h);
        }
        hints.extend(risk_hint(&toks[stuck..end]));
        p.at = end.max(start + 1);
    }
    if !unplaced.is_empty() {
        hints.dedup();
        return Err(GenerateError::NotUnderstood {
            words: unplaced,
            hints,
        });
    }
    said.instrument.clone_from(&p.instrument);
    let strategy = build::build(description, said)?;
    unused_declarations(&p.declared, &strategy)?;
    unknown_indicators(&toks)?;
    let notes = days_in_bars(p.days.as_ref(), strategy.timeframe)?;
    Ok((strategy, notes))
}

/// "if A, buy; else, if B, sell": B's rule holds only when A's does not. Reads "else" (or
/// "otherwise") before "if"/"when" and gives the last rule's condition, when there is one.
fn else_if(p: &mut Parser<'_>, said: &Said) -> Option<Expr> {
    if !matches!(p.word(), Some("else" | "otherwise")) {
        return None;
    }
    let comma = matches!(p.peek_at(1), Some(Tok::Sym(",")));
    if !matches!(p.word_at(1 + usize::from(comma)), Some("if" | "when")) {
        return None;
    }
    let before = said.rules.last().map(|(_, c)| c.clone())?;
    p.at += 1 + usize::from(comma);
    Some(before)
}

/// Never a dangling word (issue 36): an indicator named on its own ("…, ATR", "using the
/// 20-day SMA") is there for later words to use; one the strategy never reads is refused.
fn unused_declarations(declared: &[(Expr, String)], s: &Strategy) -> Result<(), GenerateError> {
    let file = s.to_toml();
    let unused: Vec<&str> = declared
        .iter()
        .filter(|(e, _)| {
            let mut e = e.clone();
            if let ExprKind::Call { field, .. } = &mut e.kind {
                *field = None;
            }
            !file.contains(&e.to_string())
        })
        .map(|(_, words)| words.as_str())
        .collect();
    match unused.as_slice() {
        [] => Ok(()),
        [one] => Err(GenerateError::Incomplete(format!(
            "\"{one}\" names an indicator that no rule, stop or target uses: use it, or delete it"
        ))),
        many => Err(GenerateError::Incomplete(format!(
            "{} name indicators that no rule, stop or target uses: use them, or delete them",
            many.iter()
                .map(|w| format!("\"{w}\""))
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// Indicators traders name that the language does not compute: a text that names one means
/// something the file cannot say, wherever the name stands (a title "Stoch RSI:" over "%K
/// crosses %D", "RVOL" read as a symbol's name).
const UNKNOWN_INDICATORS: [&str; 19] = [
    "stochrsi", "srsi", "tema", "dema", "hma", "hull", "kama", "trix", "ppo", "rvol", "vwma",
    "alma", "zlema", "fisher", "heikin", "heiken", "ttm", "kst", "tsi",
];

/// Refuses a text that names an indicator of [`UNKNOWN_INDICATORS`], or the stochastic RSI.
fn unknown_indicators(toks: &[lex::Token]) -> Result<(), GenerateError> {
    let words: Vec<&str> = toks
        .iter()
        .map(|t| match &t.tok {
            Tok::Word(w) => w.as_str(),
            _ => "",
        })
        .collect();
    let stoch_rsi = words
        .windows(2)
        .any(|w| matches!(w[0], "stoch" | "stochastic") && w[1] == "rsi");
    let named = words
        .iter()
        .find(|w| UNKNOWN_INDICATORS.contains(w))
        .copied()
        .or(stoch_rsi.then_some("stochastic RSI"));
    match named {
        None => Ok(()),
        Some(n) => Err(GenerateError::Incomplete(format!(
            "\"{n}\" names an indicator botforge does not compute, so the file could not mean \
             what the text does; set a Gemini key (GEMINI_API_KEY) to have it written from the \
             language's functions, or describe it with them"
        ))),
    }
}

/// A time exit said in days (`n`, `words`) against the bar timeframe: nothing to say on daily
/// bars; a refusal with the count in bars on bars of another length (a day holds 24 hourly
/// bars around the clock but 7 in a 6.5-hour session, so the count is the writer's to give);
/// a note when the timeframe is not said.
fn days_in_bars(
    days: Option<&(u32, String)>,
    timeframe: Option<strategy::BarInterval>,
) -> Result<Vec<String>, GenerateError> {
    const DAY_MS: i64 = 86_400_000;
    let Some((n, words)) = days else {
        return Ok(Vec::new());
    };
    match timeframe {
        Some(t) if t.ms() == DAY_MS => Ok(Vec::new()),
        Some(t) if t.ms() < DAY_MS => {
            let per_day = DAY_MS / t.ms();
            #[expect(clippy::cast_precision_loss, reason = "minutes of a bar: small")]
            let session = 390.0 / (t.ms() / 60_000).max(1) as f64;
            Err(GenerateError::Incomplete(format!(
                "\"{words}\" on {t} bars: the time exit counts bars, and a day holds {per_day} bars of {t} around the clock but {session} in a 6.5-hour session: say it in bars, e.g. \"exit after {} bars\"",
                u64::from(*n) * u64::try_from(per_day).unwrap_or(1)
            )))
        }
        Some(t) => Err(GenerateError::Incomplete(format!(
            "\"{words}\" on {t} bars: the time exit counts bars, each longer than a day: say it in bars"
        ))),
        None => Ok(vec![format!(
            "\"{words}\" is `max_bars = {n}`: bars, which are days on daily data only; on intraday data say it in bars, or name the timeframe (\"on daily candles\")"
        )]),
    }
}

/// Where the clause that holds token `from` ends.
fn clause_end(p: &Parser<'_>, from: usize) -> usize {
    let mut depth = 0i32;
    for (i, t) in p.toks.iter().enumerate().skip(from) {
        match &t.tok {
            Tok::Sym("(") => depth += 1,
            Tok::Sym(")") => depth -= 1,
            Tok::Sym("," | ";" | "." | "\n" | "->") if depth <= 0 && i > from => return i,
            Tok::Word(w) if w == "then" && i > from => return i,
            _ => {}
        }
    }
    p.toks.len()
}

/// "5 stop loss": the stop, target or size said without its unit.
fn risk_hint(toks: &[lex::Token]) -> Option<String> {
    let n = toks.iter().find_map(|t| match t.tok {
        Tok::Num(v) => Some(v),
        _ => None,
    })?;
    let words: Vec<&str> = toks
        .iter()
        .filter_map(|t| match &t.tok {
            Tok::Word(w) => Some(w.as_str()),
            _ => None,
        })
        .collect();
    let what = if words.contains(&"trailing") {
        "trailing stop"
    } else if words.contains(&"stop") {
        "stop loss"
    } else if words.contains(&"profit") || words.contains(&"target") {
        "take profit"
    } else {
        return None;
    };
    Some(format!("{n}% {what}; {n} ATR {what}"))
}

/// The known word an unknown one is a misspelling of, only when that is likely: a short word
/// (up to 5 letters) only for two letters swapped (`stpo` for `stop`), a longer one within one
/// edit (two from 9 letters) that keeps its first letter; never a word that is the known one
/// plus or minus an ending (`start` is not `star` misspelt, `full` not `fall`: English words
/// near the vocabulary are not typos of it).
fn nearest(w: &str) -> Option<&'static str> {
    if w.len() < 3 || w.chars().any(|c| c.is_ascii_digit()) {
        return None;
    }
    let known = known_words();
    if known.contains(&w) || parser::KEYWORDS.contains(&w) || FUNCTION_WORDS.contains(&w) {
        return None;
    }
    let swapped = |a: &str, b: &str| {
        a.len() == b.len() && {
            let diff: Vec<(char, char)> =
                a.chars().zip(b.chars()).filter(|(x, y)| x != y).collect();
            matches!(diff.as_slice(), [(a1, b1), (a2, b2)] if a1 == b2 && a2 == b1)
        }
    };
    let plausible = |k: &str| {
        if w.len() <= 5 || k.len() <= 5 {
            return swapped(w, k);
        }
        let limit = if w.len() >= 9 { 2 } else { 1 };
        w.chars().next() == k.chars().next()
            && !w.starts_with(k)
            && !k.starts_with(w)
            && strsim::damerau_levenshtein(w, k) <= limit
    };
    known
        .into_iter()
        .filter(|k| plausible(k))
        .min_by_key(|k| strsim::damerau_levenshtein(w, k))
}

/// Every word the compiler knows, for "did you mean" suggestions.
fn known_words() -> Vec<&'static str> {
    let mut out: Vec<&'static str> = vocab::INDICATORS
        .iter()
        .flat_map(|i| i.phrases.iter().map(|(p, _)| *p))
        .chain(
            vocab::CANDLES
                .iter()
                .flat_map(|c| c.phrases.iter().copied()),
        )
        .flat_map(str::split_whitespace)
        .chain(parser::KEYWORDS.iter().copied())
        .chain(verbs::verb_words())
        .filter(|w| w.len() > 2)
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// Words too common to be misspellings of vocabulary.
const FUNCTION_WORDS: &[&str] = &[
    "the", "and", "when", "then", "with", "for", "its", "that", "this", "are", "was", "has",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn misspellings_get_the_nearest_word() {
        assert_eq!(nearest("bolinger"), Some("bollinger"));
        assert_eq!(nearest("stochastc"), Some("stochastic"));
        assert_eq!(nearest("rsi"), None);
        assert_eq!(nearest("xyzzy"), None);
    }

    /// Issue 36: a conjunction that joins nothing is refused, quoted; never a silently shorter
    /// strategy.
    #[test]
    fn a_dangling_conjunction_is_refused() {
        for d in [
            "Buy when RSI is under 30, and ; sell when the Parabolic SAR is above price and . 10% stop",
            "Buy when the 10-day SMA crosses above the 20-day SMA, and",
            "buy when RSI < 30 and, sell when RSI > 70",
        ] {
            let Err(GenerateError::NotUnderstood { words, .. }) = compile(d) else {
                panic!("{d}: accepted")
            };
            assert!(words.iter().any(|w| w == "and"), "{d}: {words:?}");
        }
        // Joining something is fine.
        assert!(compile("buy when RSI < 30 and sell when RSI > 70").is_ok());
        assert!(compile("buy when RSI < 30, and sell when RSI > 70").is_ok());
    }

    /// Issue 31: English words near the vocabulary are not its misspellings.
    #[test]
    fn no_absurd_hints() {
        assert_eq!(nearest("start"), None);
        assert_eq!(nearest("full"), None);
        assert_eq!(nearest("starts"), None);
        assert_eq!(nearest("crossing"), None);
        let e = compile("buy at the start of the month when the bar is full").unwrap_err();
        let text = e.to_string();
        assert!(!text.contains("\"star\" for"), "{text}");
        assert!(!text.contains("\"fall\" for"), "{text}");
    }
}
