//! The offline compiler against its corpus (`tests/corpus/descriptions.toml`): every wording of
//! an idea must trade exactly like the strategy it means, on three markets, and every vague or
//! impossible idea must be refused with its words quoted.

use std::path::PathBuf;

use backtest::engine::{Settings, Trade, run};
use backtest::{Bars, load_csv};
use generator::GenerateError;
use generator::offline::compile;
use serde::Deserialize;
use strategy::Strategy;

#[derive(Deserialize)]
struct Corpus {
    idea: Vec<Idea>,
    refuse: Vec<Refusal>,
    #[serde(default)]
    cut: Vec<Cut>,
}

/// A corpus wording with words cut out that still reads as a strategy: what it means, judged
/// from the text that remains.
#[derive(Deserialize)]
struct Cut {
    text: String,
    expect: toml::Table,
}

#[derive(Deserialize)]
struct Idea {
    source: String,
    expect: toml::Table,
    texts: Vec<String>,
}

#[derive(Deserialize)]
struct Refusal {
    text: String,
    quote: Vec<String>,
    incomplete: Option<String>,
}

const RULES: [&str; 4] = ["entry_long", "exit_long", "entry_short", "exit_short"];

fn corpus() -> Corpus {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/descriptions.toml");
    toml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The strategy an idea means, from its `expect` table.
fn expected(idea: &Idea) -> Strategy {
    let mut rules = toml::Table::new();
    let mut risk = toml::Table::new();
    let mut orders = toml::Table::new();
    let mut file = toml::Table::new();
    for (k, v) in &idea.expect {
        if k == "timeframe" || k == "portfolio" {
            file.insert(k.clone(), v.clone());
        } else if RULES.contains(&k.as_str()) {
            rules.insert(k.clone(), v.clone());
        } else if k == "fill"
            || k == "reverse"
            || k == "oca"
            || k.starts_with("entry_") && (k.ends_with("_stop") || k.ends_with("_limit"))
        {
            orders.insert(k.clone(), v.clone());
        } else {
            risk.insert(k.clone(), v.clone());
        }
    }
    file.insert("name".into(), "Expected".into());
    file.insert("rules".into(), rules.into());
    if !risk.is_empty() {
        file.insert("risk".into(), risk.into());
    }
    if !orders.is_empty() {
        file.insert("orders".into(), orders.into());
    }
    Strategy::from_toml(&idea.source, &toml::to_string(&file).unwrap())
        .unwrap_or_else(|e| panic!("{}: the expected strategy is invalid: {e}", idea.source))
}

/// A portfolio strategy's symbols, on bars made from `base` (one trend per symbol, the same
/// times): the symbols it trades and reads, then generic ones up to three.
fn symbols_for(s: &Strategy, base: &Bars) -> Vec<backtest::portfolio::Symbol> {
    let mut names: Vec<String> = s
        .portfolio
        .as_ref()
        .and_then(|p| p.trade.clone())
        .unwrap_or_default();
    for (n, _) in s.symbols_used() {
        if !names.contains(&n) {
            names.push(n);
        }
    }
    for n in ["A", "B", "C"] {
        if names.len() < 3 {
            names.push(n.to_owned());
        }
    }
    names
        .into_iter()
        .enumerate()
        .map(|(k, name)| {
            #[expect(
                clippy::cast_precision_loss,
                reason = "bar and symbol indexes are small"
            )]
            let f = |i: usize| 1.0 + 0.3 * (i as f64 / (97.0 + 31.0 * k as f64)).sin();
            let scale = |v: &[f64]| -> std::sync::Arc<Vec<f64>> {
                std::sync::Arc::new(v.iter().enumerate().map(|(i, x)| x * f(i)).collect())
            };
            let mut bars = base.clone();
            bars.open = scale(&base.open);
            bars.high = scale(&base.high);
            bars.low = scale(&base.low);
            bars.close = scale(&base.close);
            backtest::portfolio::Symbol { name, bars }
        })
        .collect()
}

/// What a strategy did on a market: closed and open trades, and (a portfolio's) the symbol of
/// each closed trade.
type Traded = (Vec<Trade>, Vec<Trade>, Vec<usize>);

/// Trades of a strategy on a market: one symbol's, or a portfolio's with each trade's symbol.
fn trades_on(s: &Strategy, bars: &Bars) -> Traded {
    if s.is_portfolio() {
        let symbols = symbols_for(s, bars);
        let r = backtest::portfolio::run(&symbols, s, Settings::default()).unwrap();
        (r.run.trades, r.run.open_trades, r.trade_symbols)
    } else {
        let r = run(bars, s, Settings::default()).unwrap();
        (r.trades, r.open_trades, Vec::new())
    }
}

fn markets() -> Vec<(&'static str, Bars)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../backtest/data");
    ["GOOG.csv", "EURUSD.csv", "BTCUSD.csv"]
        .into_iter()
        .map(|f| (f, load_csv(&dir.join(f)).unwrap()))
        .collect()
}

#[test]
fn every_wording_of_every_idea_trades_like_the_strategy_it_means() {
    let corpus = corpus();
    let markets = markets();
    let mut failures = Vec::new();
    let mut wordings = 0;
    for idea in &corpus.idea {
        let want = expected(idea);
        let want_runs: Vec<Traded> = markets
            .iter()
            .map(|(_, bars)| trades_on(&want, bars))
            .collect();
        let traded: usize = want_runs.iter().map(|r| r.0.len() + r.1.len()).sum();
        assert!(
            traded > 0,
            "{}: the expected strategy never trades, so the comparison proves nothing",
            idea.source
        );
        for text in &idea.texts {
            wordings += 1;
            let got = match compile(text) {
                Ok(s) => s,
                Err(e) => {
                    failures.push(format!("{text}\n    refused: {e}"));
                    continue;
                }
            };
            // The bar timeframe said in the text is recorded (it does not change the trades).
            if got.timeframe != want.timeframe {
                failures.push(format!(
                    "{text}\n    timeframe {:?}, expected {:?}",
                    got.timeframe, want.timeframe
                ));
                continue;
            }
            for ((market, bars), want_run) in markets.iter().zip(&want_runs) {
                let got_run = trades_on(&got, bars);
                if got_run != *want_run {
                    failures.push(format!(
                        "{text}\n    on {market}: {} trades, expected {}\n    got:\n{}",
                        got_run.0.len(),
                        want_run.0.len(),
                        got.to_toml()
                    ));
                    break;
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {wordings} wordings failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(wordings >= 250, "the corpus holds {wordings} wordings");
}

#[test]
fn vague_and_impossible_ideas_are_refused_with_their_words_quoted() {
    let mut failures = Vec::new();
    for r in corpus().refuse {
        match compile(&r.text) {
            Ok(s) => failures.push(format!("{}: compiled to\n{}", r.text, s.to_toml())),
            Err(e) => {
                let msg = e.to_string();
                for q in &r.quote {
                    if !msg.contains(&format!("\"{q}")) && !msg.contains(q.as_str()) {
                        failures.push(format!(
                            "{}: the message does not quote {q:?}: {msg}",
                            r.text
                        ));
                    }
                }
                match (&r.incomplete, &e) {
                    (Some(want), GenerateError::Incomplete(m)) if m.contains(want.as_str()) => {}
                    (Some(want), _) => failures.push(format!(
                        "{}: expected a message with {want:?}: {msg}",
                        r.text
                    )),
                    (None, GenerateError::NotUnderstood { words, .. }) => {
                        for q in &r.quote {
                            if !words.iter().any(|w| w.contains(q.as_str())) {
                                failures.push(format!(
                                    "{}: {q:?} is not among the unplaced words {words:?}",
                                    r.text
                                ));
                            }
                        }
                    }
                    (None, _) => {}
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Never a wrong file from a dangling word (issue 36): every accepted wording cut right after a
/// word that joins or introduces something ("and", "or", "when", "then", "than", "at", "twice",
/// "deviations", …) is
/// refused, never compiled to the part before it. (A comparison with nothing after it, "sell
/// when it closes below", is DESIGN.md §5.1's reference to what the same subject was last
/// compared with, and compiles.)
#[test]
fn a_wording_cut_after_a_word_that_needs_more_is_refused() {
    const NEEDS_MORE: [&str; 17] = [
        "and",
        "or",
        "when",
        "if",
        "then",
        "but",
        "while",
        "unless",
        "than",
        "at",
        "after",
        "with",
        "whenever",
        "twice",
        "double",
        "triple",
        "deviations",
    ];
    let corpus = corpus();
    let mut cuts = 0;
    let mut accepted = Vec::new();
    for text in corpus.idea.iter().flat_map(|i| &i.texts) {
        for (k, _) in text.match_indices(' ') {
            let head = &text[..k];
            let last = head
                .rsplit(' ')
                .next()
                .unwrap_or_default()
                .trim_matches(|c: char| !c.is_alphanumeric())
                .to_lowercase();
            if !NEEDS_MORE.contains(&last.as_str()) || head.ends_with([',', '.', ';', ':']) {
                continue;
            }
            cuts += 1;
            if let Ok(s) = compile(head) {
                accepted.push(format!("{head:?}\n{}", s.to_toml()));
            }
        }
    }
    assert!(cuts > 300, "{cuts} cuts");
    assert!(
        accepted.is_empty(),
        "{} of {cuts} cut wordings compiled:\n{}",
        accepted.len(),
        accepted.join("\n")
    );
}

/// Never a wrong file from cut text (issue 36): each accepted wording with a random span of one
/// to three words cut out is refused, or trades like its idea (the words were redundant), or is
/// a text of the corpus's `[[cut]]` list and trades like the strategy written there for it (a
/// second reading of what is left, written from the text, not from the compiler). The spans
/// come from a fixed seed, so a failure names a text to judge once.
#[test]
fn a_wording_with_a_random_span_cut_is_refused_or_means_what_is_left() {
    let corpus = corpus();
    let markets = markets();
    let judged: std::collections::HashMap<&str, &Cut> =
        corpus.cut.iter().map(|c| (c.text.as_str(), c)).collect();
    let mut rng = 0x5eed_0f0b_07f0_26e1_u64;
    let mut next = move |n: usize| {
        // SplitMix64.
        rng = rng.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        usize::try_from((z ^ (z >> 31)) % n as u64).unwrap()
    };
    let (mut cuts, mut refused, mut same, mut read) = (0, 0, 0, 0);
    let mut used = std::collections::HashSet::new();
    let mut failures = Vec::new();
    for idea in &corpus.idea {
        let want_runs: Vec<Traded> = {
            let want = expected(idea);
            markets.iter().map(|(_, b)| trades_on(&want, b)).collect()
        };
        for text in &idea.texts {
            let words: Vec<(usize, usize)> = word_spans(text);
            if words.len() < 3 {
                continue;
            }
            let len = 1 + next(3);
            let from = next(words.len() + 1 - len.min(words.len()));
            let to = (from + len - 1).min(words.len() - 1);
            let left = format!("{}{}", &text[..words[from].0], &text[words[to].1..]);
            cuts += 1;
            let Ok(got) = compile(&left) else {
                refused += 1;
                continue;
            };
            let runs: Vec<Traded> = markets.iter().map(|(_, b)| trades_on(&got, b)).collect();
            if runs == want_runs {
                same += 1;
                continue;
            }
            let Some(cut) = judged.get(left.as_str()) else {
                failures.push(format!(
                    "{left:?} (cut from {text:?}) compiles to a strategy that trades otherwise:\n{}\
                     refuse it, or add it to [[cut]] with the strategy the text means",
                    got.to_toml()
                ));
                continue;
            };
            used.insert(left.clone());
            read += 1;
            let want = expected(&Idea {
                source: format!("[[cut]] {left:?}"),
                expect: cut.expect.clone(),
                texts: Vec::new(),
            });
            let want_runs: Vec<Traded> = markets.iter().map(|(_, b)| trades_on(&want, b)).collect();
            if runs != want_runs {
                failures.push(format!(
                    "{left:?} (cut from {text:?}) does not trade like its [[cut]] strategy:\n{}",
                    got.to_toml()
                ));
            }
        }
    }
    for c in &corpus.cut {
        if !used.contains(&c.text) {
            failures.push(format!(
                "[[cut]] {:?} is no longer a cut the test makes",
                c.text
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {cuts} cuts ({refused} refused, {same} as the idea, {read} as judged):\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(
        cuts > 400 && refused > cuts / 2,
        "{cuts} cuts, {refused} refused"
    );
}

/// Byte ranges of the whitespace-separated words of `text`.
fn word_spans(text: &str) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    let mut start = None;
    for (i, c) in text.char_indices() {
        if c.is_whitespace() {
            if let Some(s) = start.take() {
                spans.push((s, i));
            }
        } else if start.is_none() {
            start = Some(i);
        }
    }
    if let Some(s) = start {
        spans.push((s, text.len()));
    }
    spans
}

/// A real description as found (`tests/corpus/found.toml`).
#[derive(Deserialize)]
struct Found {
    source: String,
    #[serde(default)]
    held_out: bool,
    text: String,
    expect: Option<toml::Table>,
    inexpressible: Option<String>,
}

#[derive(Deserialize)]
struct FoundFile {
    found: Vec<Found>,
}

/// The share of real descriptions, as found, that the language can state and the compiler
/// writes correctly: measured on the corpus when it was gathered, before any rewording. It may
/// only rise.
const FOUND_ACCEPTED_AT_LEAST: usize = 70;

/// Real descriptions as their authors wrote them (issue 36): never a wrong file (each accepted
/// text trades like the strategy it means; each the language cannot state is refused), and the
/// share compiled as found is reported and may not fall.
#[test]
fn real_descriptions_as_found_are_compiled_right_or_refused() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/found.toml");
    let file: FoundFile = toml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let markets = markets();
    let (mut expressible, mut accepted) = (0, 0);
    let (mut held_expressible, mut held_accepted) = (0, 0);
    let mut wrong = Vec::new();
    let mut missed = Vec::new();
    for f in &file.found {
        let got = compile(&f.text);
        match (&f.expect, &f.inexpressible, got) {
            (Some(expect), None, Ok(got)) => {
                expressible += 1;
                held_expressible += usize::from(f.held_out);
                let want = expected(&Idea {
                    source: f.source.clone(),
                    expect: expect.clone(),
                    texts: Vec::new(),
                });
                let same = got.timeframe == want.timeframe
                    && markets
                        .iter()
                        .all(|(_, b)| trades_on(&got, b) == trades_on(&want, b));
                if same {
                    accepted += 1;
                    held_accepted += usize::from(f.held_out);
                } else {
                    wrong.push(format!(
                        "{} {:?}: compiles to\n{}",
                        f.source,
                        f.text,
                        got.to_toml()
                    ));
                }
            }
            (Some(_), None, Err(e)) => {
                expressible += 1;
                held_expressible += usize::from(f.held_out);
                missed.push(format!("{} {:?}\n    {e}", f.source, f.text));
            }
            (None, Some(_), Err(_)) => {}
            (None, Some(why), Ok(got)) => wrong.push(format!(
                "{} {:?} cannot be stated ({why}) but compiles to\n{}",
                f.source,
                f.text,
                got.to_toml()
            )),
            _ => panic!("{}: give exactly one of expect and inexpressible", f.source),
        }
    }
    println!(
        "real descriptions as found: {accepted} of {expressible} the language can state compiled \
         right ({} in all, {} refused as inexpressible); of those held out, {held_accepted} of \
         {held_expressible}; missed:\n{}",
        file.found.len(),
        file.found.len() - expressible,
        missed.join("\n")
    );
    assert!(
        wrong.is_empty(),
        "{} wrong files:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
    assert!(file.found.len() >= 150, "{} descriptions", file.found.len());
    assert!(
        accepted >= FOUND_ACCEPTED_AT_LEAST,
        "{accepted} compiled right, fewer than {FOUND_ACCEPTED_AT_LEAST}"
    );
}
