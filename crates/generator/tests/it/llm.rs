//! The LLM path's repair loop with an in-memory model.

use std::sync::Mutex;

use generator::{
    GenerateError, Llm, LlmError, LlmReply, LlmRequest, MAX_ATTEMPTS, generate_with_llm,
};

/// Answers from a script, recording what it was asked.
struct Scripted {
    replies: Mutex<Vec<String>>,
    seen: Mutex<Vec<LlmRequest>>,
}

impl Scripted {
    fn new(replies: &[&str]) -> Self {
        Self {
            replies: Mutex::new(replies.iter().rev().map(|s| (*s).to_owned()).collect()),
            seen: Mutex::new(Vec::new()),
        }
    }
}

impl Llm for Scripted {
    fn generate(
        &self,
        request: &LlmRequest,
    ) -> impl Future<Output = Result<LlmReply, LlmError>> + Send {
        self.seen.lock().unwrap().push(request.clone());
        let r = self.replies.lock().unwrap().pop().ok_or(LlmError {
            message: "no more replies".into(),
            caller_fault: false,
            no_answer: false,
        });
        // `NO_ANSWER` stands for an empty, blocked or cut-off answer.
        let r = r.and_then(|text| {
            if text == NO_ANSWER {
                Err(LlmError {
                    message: "Gemini gave no usable answer: RECITATION".into(),
                    caller_fault: false,
                    no_answer: true,
                })
            } else {
                Ok(text)
            }
        });
        std::future::ready(r.map(|text| LlmReply {
            text,
            key_id: Some("k1".into()),
            model: request.model.clone(),
        }))
    }
}

const NO_ANSWER: &str = "<no answer>";

const VALID: &str = r#"{"name": "Rsi", "description": "x", "params": {"period": 14}, "indicators": {"rsi": "rsi(close, period)"}, "rules": {"entry_long": "rsi < 30", "exit_long": "rsi > 70"}, "risk": {"size": 1.0, "stop_loss_pct": null}}"#;

#[tokio::test]
async fn a_valid_answer_is_taken_at_once() {
    let llm = Scripted::new(&[VALID]);
    let g = generate_with_llm(&llm, "buy rsi dips", "gemini-2.5-flash")
        .await
        .unwrap();
    assert_eq!(g.attempts, 1);
    assert_eq!(g.key_id.as_deref(), Some("k1"));
    assert_eq!(g.strategy.indicators[0].1.to_string(), "rsi(close, period)");
    let seen = llm.seen.lock().unwrap();
    assert_eq!(
        seen[0].schema["required"],
        serde_json::json!(["name", "rules"])
    );
    assert!(seen[0].system.contains("crosses_above(a, b)"));
    assert_eq!(seen[0].turns[0].text, "Trading idea: buy rsi dips");
}

#[tokio::test]
async fn invalid_json_then_a_wrong_strategy_are_repaired_with_the_exact_errors() {
    let wrong = VALID.replace("rsi < 30", "rsi < 30 and close");
    let llm = Scripted::new(&["{not json", &wrong, VALID]);
    let g = generate_with_llm(&llm, "idea", "m").await.unwrap();
    assert_eq!(g.attempts, 3);
    let seen = llm.seen.lock().unwrap();
    assert_eq!(seen.len(), 3);
    let second = &seen[1].turns;
    assert_eq!(second[1].role, "model");
    assert_eq!(second[1].text, "{not json");
    assert!(
        second[2]
            .text
            .starts_with("That strategy is invalid:\nthe reply is not valid JSON"),
        "{}",
        second[2].text
    );
    let third = &seen[2].turns;
    assert!(
        third[4].text.contains("rules.entry_long: each side of `and` must be a condition (true/false), but `close` is a number\n    rsi < 30 and close\n                 ^"),
        "{}",
        third[4].text
    );
}

#[tokio::test]
async fn an_unknown_indicator_is_named_back_to_the_model() {
    let unknown = VALID.replace("rsi(close, period)", "kama(close, period)");
    let llm = Scripted::new(&[&unknown, VALID]);
    let g = generate_with_llm(&llm, "idea", "m").await.unwrap();
    assert_eq!(g.attempts, 2);
    let seen = llm.seen.lock().unwrap();
    assert!(
        seen[1].turns[2].text.contains("unknown function `kama`"),
        "{}",
        seen[1].turns[2].text
    );
}

#[tokio::test]
async fn never_valid_is_an_error_after_three_attempts() {
    let llm = Scripted::new(&["[]", "{}", r#"{"name": "x", "rules": {}}"#, VALID]);
    let err = generate_with_llm(&llm, "idea", "m").await.unwrap_err();
    let GenerateError::Invalid { attempts, errors } = &err else {
        panic!("{err}")
    };
    assert_eq!(*attempts, MAX_ATTEMPTS);
    assert_eq!(errors.len(), 3);
    assert!(
        errors[2].contains("needs entry_long or entry_short"),
        "{errors:?}"
    );
    assert_eq!(llm.seen.lock().unwrap().len(), 3, "no fourth call");
    // The model answered every time: the idea could not be expressed, which is the user's to
    // change (exit 1), not an outage (issue 16).
    assert!(err.is_user_error());
}

#[tokio::test]
async fn an_unreachable_model_is_an_upstream_error() {
    let llm = Scripted::new(&[]);
    let err = generate_with_llm(&llm, "idea", "m").await.unwrap_err();
    assert!(matches!(err, GenerateError::Llm(_)));
    assert!(!err.is_user_error());
}

/// Issue 18: an empty, blocked, recited or cut-off answer costs one attempt, not the run.
#[tokio::test]
async fn a_missing_answer_is_retried_within_the_attempts() {
    let llm = Scripted::new(&[NO_ANSWER, VALID]);
    let g = generate_with_llm(&llm, "idea", "m").await.unwrap();
    assert_eq!(g.attempts, 2);
    // The same question again: nothing to repair.
    {
        let seen = llm.seen.lock().unwrap();
        assert_eq!(seen[1].turns, seen[0].turns);
    }
    let llm = Scripted::new(&[NO_ANSWER, NO_ANSWER, NO_ANSWER]);
    match generate_with_llm(&llm, "idea", "m").await {
        Err(e @ GenerateError::Invalid { attempts, .. }) => {
            assert_eq!(attempts, MAX_ATTEMPTS);
            assert!(e.to_string().contains("RECITATION"), "{e}");
            assert!(e.is_user_error());
        }
        other => panic!("{other:?}"),
    }
}

/// Issue 18: the model's account of what it could not say and what it changed comes back with
/// the strategy; a note that is not a list of texts is sent back as an error.
#[tokio::test]
async fn unsupported_and_approximations_come_back_with_the_strategy() {
    let noted = VALID.replace(
        r#""name": "Rsi","#,
        r#""name": "Rsi", "unsupported": ["news sentiment filter"], "approximations": ["Keltner channel as ema(close, 20) ± 2 * atr(10)", " "],"#,
    );
    let llm = Scripted::new(&[&noted]);
    let g = generate_with_llm(&llm, "idea", "m").await.unwrap();
    assert_eq!(g.unsupported, vec!["news sentiment filter".to_owned()]);
    assert_eq!(
        g.approximations,
        vec!["Keltner channel as ema(close, 20) ± 2 * atr(10)".to_owned()]
    );
    {
        let seen = llm.seen.lock().unwrap();
        let schema = &seen[0].schema["properties"];
        assert_eq!(schema["unsupported"]["type"], "array");
        assert_eq!(schema["approximations"]["items"]["type"], "string");
        assert!(seen[0].system.contains("\"unsupported\""));
    }
    let bad = VALID.replace(
        r#""name": "Rsi","#,
        r#""name": "Rsi", "unsupported": "options","#,
    );
    let llm = Scripted::new(&[&bad, VALID]);
    let g = generate_with_llm(&llm, "idea", "m").await.unwrap();
    assert_eq!(g.attempts, 2);
    assert!(g.unsupported.is_empty());
    let seen = llm.seen.lock().unwrap();
    assert!(
        seen[1].turns[2]
            .text
            .contains("`unsupported` must be a list of short texts"),
        "{}",
        seen[1].turns[2].text
    );
}
