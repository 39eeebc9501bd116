//! The offline compiler against its corpus (`tests/corpus/descriptions.toml`): every wording of
//! an idea must trade exactly like the strategy it means, on three markets, and every vague or
//! impossible idea must be refused with its words quoted.

use std::path::PathBuf;

use backtest::engine::{Settings, run};
use backtest::{Bars, load_csv};
use generator::GenerateError;
use generator::offline::compile;
use serde::Deserialize;
use strategy::Strategy;

#[derive(Deserialize)]
struct Corpus {
    idea: Vec<Idea>,
    refuse: Vec<Refusal>,
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
        if k == "timeframe" {
            file.insert(k.clone(), v.clone());
        } else if RULES.contains(&k.as_str()) {
            rules.insert(k.clone(), v.clone());
        } else if k == "fill" || k == "reverse" {
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
        let want_runs: Vec<_> = markets
            .iter()
            .map(|(_, bars)| run(bars, &want, Settings::default()).unwrap())
            .collect();
        let traded: usize = want_runs
            .iter()
            .map(|r| r.trades.len() + r.open_trades.len())
            .sum();
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
                let got_run = run(bars, &got, Settings::default()).unwrap();
                if got_run.trades != want_run.trades || got_run.open_trades != want_run.open_trades
                {
                    failures.push(format!(
                        "{text}\n    on {market}: {} trades, expected {}\n    got:\n{}",
                        got_run.trades.len(),
                        want_run.trades.len(),
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
