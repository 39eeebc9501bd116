//! Failover through `KeyPool::execute`, one test per outcome class, plus its limits.

use std::cell::RefCell;
use std::time::Duration;

use keypool::{
    ExecuteError, FailoverPolicy, Grant, KeyState, Limits, Outcome, RetryBudget, SelectRequest,
};

use crate::fixtures::{Backend, FLASH, Pool, keys_json, pool_with_file, row};

const BIG: u64 = 1_000_000;

/// Runs one request whose attempts answer `script[n]` in turn; returns the result and the keys
/// that were tried.
async fn run(
    pool: &Pool,
    script: &[Outcome],
    policy: FailoverPolicy,
    budget: &RetryBudget,
) -> (Result<String, ExecuteError<String>>, Vec<String>) {
    let tried = RefCell::new(Vec::new());
    let r = pool
        .execute(
            &SelectRequest::new(FLASH, 10),
            &policy,
            budget,
            |g: Grant<'_>| {
                tried.borrow_mut().push(g.key_id.to_owned());
                let outcome = script
                    .get(g.attempt as usize - 1)
                    .cloned()
                    .unwrap_or(Outcome::Success { input_tokens: 7 });
                let result = match &outcome {
                    Outcome::Success { .. } => Ok(format!("answer from {}", g.key_id)),
                    other => Err(format!("{} on {}", other.class(), g.key_id)),
                };
                async move { (outcome, result) }
            },
        )
        .await
        .map(|e| e.value);
    (r, tried.into_inner())
}

async fn four_keys_two_projects(b: Backend) -> (Pool, keypool::ManualClock) {
    pool_with_file(
        b,
        &keys_json(
            &[
                ("a1", Some("pa")),
                ("a2", Some("pa")),
                ("b1", Some("pb")),
                ("b2", Some("pb")),
            ],
            BIG,
            BIG,
            BIG,
        ),
        &[],
    )
    .await
}

fn transient() -> Outcome {
    Outcome::Transient {
        detail: "500 INTERNAL".into(),
    }
}

async fn transient_error_fails_over_to_another_key(b: Backend) {
    let (pool, _c) = four_keys_two_projects(b).await;
    let budget = RetryBudget::default();
    let (r, tried) = run(&pool, &[transient()], FailoverPolicy::default(), &budget).await;
    assert_eq!(tried.len(), 2);
    assert_ne!(tried[0], tried[1]);
    assert_eq!(r.unwrap(), format!("answer from {}", tried[1]));
    let first = row(&pool, &tried[0]);
    assert_eq!((first.error_count, first.consecutive_errors), (1, 1));
    assert_eq!(row(&pool, &tried[1]).success_count, 1);
}

async fn per_minute_429_fails_over_to_another_project(b: Backend) {
    for _ in 0..10 {
        let (pool, _c) = four_keys_two_projects(b).await;
        let budget = RetryBudget::default();
        let limited = Outcome::RateLimited {
            retry_after: Some(Duration::from_secs(30)),
            detail: "429 RESOURCE_EXHAUSTED".into(),
            learned: Limits::UNKNOWN,
        };
        let (r, tried) = run(&pool, &[limited], FailoverPolicy::default(), &budget).await;
        assert!(r.is_ok());
        assert_ne!(
            tried[0].chars().next(),
            tried[1].chars().next(),
            "{tried:?}"
        );
        // the whole first project cools, the key itself stays active
        let other_in_project = if tried[0].ends_with('1') {
            tried[0].replace('1', "2")
        } else {
            tried[0].replace('2', "1")
        };
        assert!(row(&pool, &other_in_project).in_cooldown);
        assert_eq!(row(&pool, &tried[0]).state, KeyState::CoolingDown);
        assert!(row(&pool, &tried[0]).active);
    }
}

async fn per_day_429_fails_over_and_cools_until_pacific_midnight(b: Backend) {
    let (pool, _c) = four_keys_two_projects(b).await;
    let budget = RetryBudget::default();
    let spent = Outcome::QuotaExhausted {
        detail: "429 per day".into(),
        learned: Limits::UNKNOWN,
    };
    let (r, tried) = run(&pool, &[spent], FailoverPolicy::default(), &budget).await;
    assert!(r.is_ok());
    // T0 is 04:00 PST: 20 h to midnight.
    assert!((row(&pool, &tried[0]).cooldown_remaining_s - 72_000.0).abs() < 1e-9);
}

async fn broken_key_is_deactivated_and_skipped(b: Backend) {
    let (pool, _c) = four_keys_two_projects(b).await;
    let budget = RetryBudget::default();
    let broken = Outcome::KeyBroken {
        detail: "400 API_KEY_INVALID".into(),
    };
    let (r, tried) = run(&pool, &[broken], FailoverPolicy::default(), &budget).await;
    assert!(r.is_ok());
    let dead = row(&pool, &tried[0]);
    assert_eq!(dead.state, KeyState::Disabled);
    assert_eq!(dead.disabled_reason.as_deref(), Some("400 API_KEY_INVALID"));
    // A refused key's reservation is given back: its bucket counts only the retry, if the retry
    // went to the same project.
    let same_project = tried[0].chars().next() == tried[1].chars().next();
    assert_eq!(dead.rpm_used, u64::from(same_project));
    for _ in 0..30 {
        let (_, tried_again) = run(&pool, &[], FailoverPolicy::default(), &budget).await;
        assert_ne!(tried_again[0], tried[0]);
    }
}

async fn callers_fault_is_returned_at_once_without_penalty(b: Backend) {
    let (pool, _c) = four_keys_two_projects(b).await;
    let budget = RetryBudget::default();
    let bad = Outcome::CallerFault {
        detail: "400 INVALID_ARGUMENT".into(),
    };
    let (r, tried) = run(&pool, &[bad], FailoverPolicy::default(), &budget).await;
    assert_eq!(tried.len(), 1);
    match r {
        Err(ExecuteError::Caller { error, key_id }) => {
            assert_eq!(key_id, tried[0]);
            assert!(error.starts_with("caller_fault"));
        }
        other => panic!("expected the caller's error, got {other:?}"),
    }
    let k = row(&pool, &tried[0]);
    assert_eq!((k.error_count, k.state), (0, KeyState::Active));
}

async fn not_sent_gives_the_reservation_back(b: Backend) {
    let (pool, _c) = four_keys_two_projects(b).await;
    let budget = RetryBudget::default();
    let (r, tried) = run(
        &pool,
        &[Outcome::NotSent],
        FailoverPolicy::default(),
        &budget,
    )
    .await;
    assert!(r.is_ok());
    let first = row(&pool, &tried[0]);
    let second = row(&pool, &tried[1]);
    if first.project == second.project {
        assert_eq!(first.rpm_used, 1);
    } else {
        assert_eq!((first.rpm_used, first.tpm_used), (0, 0));
    }
}

async fn attempts_are_capped(b: Backend) {
    let (pool, _c) = four_keys_two_projects(b).await;
    let budget = RetryBudget::default();
    let policy = FailoverPolicy {
        max_attempts: 3,
        ..FailoverPolicy::default()
    };
    let script = vec![transient(); 10];
    let (r, tried) = run(&pool, &script, policy, &budget).await;
    assert_eq!(tried.len(), 3);
    assert!(matches!(
        r,
        Err(ExecuteError::GaveUp {
            attempts: 3,
            why: "max attempts",
            ..
        })
    ));
}

async fn every_key_failing_ends_with_the_pool_error_and_the_last_upstream_error(b: Backend) {
    let (pool, _c) = four_keys_two_projects(b).await;
    let budget = RetryBudget::default();
    let policy = FailoverPolicy {
        max_attempts: 10,
        ..FailoverPolicy::default()
    };
    let script = vec![transient(); 10];
    let (r, tried) = run(&pool, &script, policy, &budget).await;
    assert_eq!(tried.len(), 4, "each key once");
    match r {
        Err(ExecuteError::Pool { last, attempts, .. }) => {
            assert_eq!(attempts, 4);
            assert!(last.unwrap().starts_with("transient"));
        }
        other => panic!("{other:?}"),
    }
}

async fn a_spent_retry_budget_stops_a_failure_burst(b: Backend) {
    let (pool, _c) = four_keys_two_projects(b).await;
    let budget = RetryBudget::new(Duration::from_secs(10), 0, 0.1);
    let mut upstream_calls = 0;
    for _ in 0..50 {
        let (_, tried) = run(
            &pool,
            &[transient(), transient()],
            FailoverPolicy::default(),
            &budget,
        )
        .await;
        upstream_calls += tried.len();
        for k in ["a1", "a2", "b1", "b2"] {
            pool.enable(k).await.unwrap();
        }
    }
    // 50 first attempts may add at most 10 % retries.
    assert!(
        upstream_calls <= 55,
        "{upstream_calls} upstream calls for 50 requests"
    );
    assert!(upstream_calls >= 50);
}

async fn the_deadline_bounds_a_request(b: Backend) {
    let (pool, clock) = four_keys_two_projects(b).await;
    let budget = RetryBudget::default();
    let policy = FailoverPolicy {
        max_attempts: 10,
        deadline: Duration::from_secs(5),
        ..FailoverPolicy::default()
    };
    let calls = RefCell::new(0);
    let r: Result<_, ExecuteError<String>> = pool
        .execute(&SelectRequest::new(FLASH, 1), &policy, &budget, |_g| {
            *calls.borrow_mut() += 1;
            clock.advance(Duration::from_secs(3)); // a slow upstream
            async { (transient(), Err::<(), _>("slow".to_owned())) }
        })
        .await;
    assert_eq!(*calls.borrow(), 2);
    assert!(matches!(
        r,
        Err(ExecuteError::GaveUp {
            why: "deadline",
            ..
        })
    ));
}

async fn the_fallback_key_serves_when_the_pool_cannot(b: Backend) {
    let (pool, _c) = pool_with_file(
        b,
        &keys_json(&[("a", None), ("b", None)], BIG, BIG, BIG),
        &[("GEMINI_API_KEY", "test-key-fallback-9999")],
    )
    .await;
    let budget = RetryBudget::default();
    let broken = Outcome::KeyBroken {
        detail: "403 PERMISSION_DENIED".into(),
    };
    let (r, tried) = run(
        &pool,
        &[broken.clone(), broken],
        FailoverPolicy::default(),
        &budget,
    )
    .await;
    assert_eq!(tried.len(), 3);
    assert_eq!(tried[2], "GEMINI_API_KEY");
    assert_eq!(r.unwrap(), "answer from GEMINI_API_KEY");
    // With the pool healthy, the fallback is never used.
    pool.enable("a").await.unwrap();
    for _ in 0..20 {
        let l = pool.select(&SelectRequest::new(FLASH, 1)).await.unwrap();
        assert!(!l.is_fallback());
        pool.report(l, &Outcome::NotSent).await.unwrap();
    }
}

async fn without_fallback_the_error_lists_every_key_and_when_one_frees(b: Backend) {
    let (pool, _c) =
        pool_with_file(b, &keys_json(&[("a", None), ("b", None)], 1, BIG, BIG), &[]).await;
    let l1 = pool.select(&SelectRequest::new(FLASH, 1)).await.unwrap();
    pool.report(l1, &Outcome::Success { input_tokens: 1 })
        .await
        .unwrap();
    pool.disable(
        if row(&pool, "a").rpm_used == 1 {
            "b"
        } else {
            "a"
        },
        "revoked",
    )
    .await
    .unwrap();
    let err = pool
        .select(&SelectRequest::new(FLASH, 1))
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.starts_with("no key can serve gemini-2.5-flash now; the earliest frees up in 60.0 s"),
        "{msg}"
    );
    assert!(msg.contains("\n  a: ") && msg.contains("\n  b: "), "{msg}");
    assert!(msg.contains("disabled (revoked)"), "{msg}");
    assert!(msg.contains("RPM limit reached, frees in 60.0 s"), "{msg}");
    assert!(err.is_retryable());
}

/// Issue 14: a key without `model_name` serves a model with no bucket of its own from its
/// project's shared bucket, and the call goes upstream under the model the request named —
/// never the bucket's `*` — with its fallback model too.
async fn a_model_without_a_bucket_is_called_by_its_own_name(b: Backend) {
    let (pool, _clock) = pool_with_file(
        b,
        r#"{"keys": [{"key_id": "a1", "project": "pa", "rpm": 100, "tpm": 100000, "rpd": 1000}]}"#,
        &[],
    )
    .await;
    let policy = FailoverPolicy::default();
    let budget = RetryBudget::default();
    let called = RefCell::new(Vec::new());
    let also = ["models/gemini-9-flash-preview"];
    let done = pool
        .execute(
            &SelectRequest {
                also_models: &also,
                ..SelectRequest::new("models/gemini-9-pro-preview", 10)
            },
            &policy,
            &budget,
            |g: Grant<'_>| {
                called.borrow_mut().push(g.model.to_owned());
                // The first model is overloaded: the fallback model is called next.
                let answer = if g.attempt == 1 {
                    (
                        Outcome::Overloaded {
                            detail: "503 UNAVAILABLE".into(),
                        },
                        Err("overloaded".to_owned()),
                    )
                } else {
                    (Outcome::Success { input_tokens: 7 }, Ok(()))
                };
                async move { answer }
            },
        )
        .await;
    assert!(done.is_ok(), "{done:?}");
    assert_eq!(
        called.into_inner(),
        ["gemini-9-pro-preview", "gemini-9-flash-preview"]
    );
}

/// One call of `model` through `execute`, answered `outcome`.
async fn call_once(pool: &Pool, model: &str, outcome: Outcome) -> bool {
    let ok = matches!(outcome, Outcome::Success { .. });
    pool.execute(
        &SelectRequest::new(model, 10),
        &FailoverPolicy {
            max_attempts: 1,
            ..FailoverPolicy::default()
        },
        &RetryBudget::default(),
        |_: Grant<'_>| {
            let answer = (outcome.clone(), if ok { Ok(()) } else { Err(()) });
            async move { answer }
        },
    )
    .await
    .is_ok()
}

/// Selects `model` until refused; how many were granted (each reported a success).
async fn grants(pool: &Pool, model: &str) -> u64 {
    let mut n = 0;
    while let Ok(lease) = pool.select(&SelectRequest::new(model, 10)).await {
        pool.report(lease, &Outcome::Success { input_tokens: 10 })
            .await
            .unwrap();
        n += 1;
        assert!(n <= 100, "no limit held");
    }
    n
}

/// Issue 14 item 4: a model a key without `model_name` turns out to serve after the pool was
/// made (released later, or missing from the API's list at start) gets buckets of its own once
/// upstream knows it (an answer, or a 429 that counts it against a quota), so it stops sharing
/// its project's `*` bucket with the other unlisted models. A name upstream does not know
/// (404) gets none.
async fn a_model_served_after_start_gets_buckets_of_its_own(b: Backend) {
    let (pool, clock) = pool_with_file(
        b,
        r#"{"keys": [{"key_id": "a1", "project": "pa", "rpm": 4, "tpm": 100000, "rpd": 1000}]}"#,
        &[],
    )
    .await;
    let new = "gemini-9-pro-preview";
    assert!(!pool.models().contains(&new));
    assert!(
        call_once(
            &pool,
            &format!("models/{new}"),
            Outcome::Success { input_tokens: 10 }
        )
        .await
    );
    assert!(pool.models().contains(&new), "adopted: {:?}", pool.models());
    // Its own bucket is fresh (the first call counted in `*`): 4 a minute of its own, while
    // another unlisted model keeps the 3 that `*` has left.
    assert_eq!(grants(&pool, new).await, 4, "a bucket of its own");
    assert_eq!(
        grants(&pool, "gemini-9-flash-preview").await,
        3,
        "`*` for the others"
    );
    let health = pool.health().unwrap();
    let own = health
        .keys
        .iter()
        .find(|r| r.key_id == "a1" && r.model == new)
        .expect("a health row of its own");
    assert_eq!(own.rpm_used, 4);
    if let Backend::Redis(id) = b {
        // Named by the model in Redis, as a bucket made at start would be: every process counts
        // the same calls.
        let client = redis::Client::open(crate::fixtures::redis_url()).unwrap();
        let mut con = client.get_multiplexed_async_connection().await.unwrap();
        let logs: Vec<String> = redis::cmd("KEYS")
            .arg(format!(
                "{}:*:v2:{{p:pa}}:m:{new}:log",
                crate::fixtures::prefix(id)
            ))
            .query_async(&mut con)
            .await
            .unwrap();
        assert_eq!(logs.len(), 1, "{logs:?}");
        let logged: u64 = redis::cmd("ZCARD")
            .arg(&logs[0])
            .query_async(&mut con)
            .await
            .unwrap();
        assert_eq!(logged, 4);
    }

    // A 429 proves the model exists too; a 404 does not (a window later, `*` has room).
    clock.advance(Duration::from_secs(61));
    let limited = "gemini-9-ultra";
    let _ = call_once(
        &pool,
        limited,
        Outcome::RateLimited {
            retry_after: None,
            detail: "429".into(),
            learned: Limits::UNKNOWN,
        },
    )
    .await;
    assert!(pool.models().contains(&limited));
    let typo = "gemini-9-prro";
    let _ = call_once(
        &pool,
        typo,
        Outcome::CallerFault {
            detail: "404 model not found".into(),
        },
    )
    .await;
    assert!(!pool.models().contains(&typo), "{:?}", pool.models());
}

/// Issue 14 item 4: the spare slots are finite; once every one is taken, a further model
/// keeps sharing its project's `*` bucket (and a warning says so).
async fn models_beyond_the_spare_slots_share_the_project_bucket(b: Backend) {
    let (pool, _clock) = pool_with_file(
        b,
        r#"{"keys": [{"key_id": "a1", "project": "pa", "rpm": 2, "tpm": 100000, "rpd": 1000}]}"#,
        &[],
    )
    .await;
    let mut adopted = 0;
    for i in 0..20 {
        if pool.adopt_model(&format!("gemini-new-{i}")) {
            adopted += 1;
        }
    }
    assert_eq!(adopted, 16, "one per spare slot");
    assert!(!pool.adopt_model("gemini-new-3"), "adopted once");
    assert!(
        !pool.adopt_model(FLASH),
        "a bucket of its own at start already"
    );
    // Keys that each serve one model take no other: nothing to adopt.
    let (named, _clock) = pool_with_file(b, &keys_json(&[("f1", None)], 2, 1000, 1000), &[]).await;
    assert!(!named.adopt_model("gemini-new-0"));
    assert!(!named.models().contains(&"gemini-new-0"));
    // Each adopted model has its own 2 a minute; the ones left over share `*`.
    assert_eq!(grants(&pool, "gemini-new-15").await, 2);
    assert_eq!(grants(&pool, "gemini-new-0").await, 2);
    assert_eq!(grants(&pool, "gemini-new-16").await, 2);
    assert_eq!(
        grants(&pool, "gemini-new-17").await,
        0,
        "shares `*` with new-16"
    );
}

/// Issue 14 item 4: `GEMINI_API_KEY` alone (single-key mode, a new user's setup) adopts a
/// model too.
async fn the_single_key_adopts_a_model_too(b: Backend) {
    let env = crate::fixtures::env(&[("GEMINI_API_KEY", "test-key-single-0001")]);
    let config = keypool::PoolConfig::load(&env, &env).unwrap();
    let pool = keypool::KeyPool::new(
        &config,
        crate::fixtures::store(b).await,
        std::sync::Arc::new(keypool::ManualClock::at(crate::fixtures::T0).unwrap()),
        keypool::PoolOptions::default(),
    )
    .unwrap();
    let new = "gemini-9-pro-preview";
    assert!(call_once(&pool, new, Outcome::Success { input_tokens: 10 }).await);
    assert!(call_once(&pool, new, Outcome::Success { input_tokens: 10 }).await);
    let health = pool.health().unwrap();
    let own: Vec<_> = health.keys.iter().filter(|r| r.model == new).collect();
    assert_eq!(own.len(), 1, "{:?}", health.keys);
    assert_eq!(own[0].key_id, "GEMINI_API_KEY");
    assert_eq!(own[0].rpm_used, 1, "the call after the adoption");
}

crate::backends!(
    the_single_key_adopts_a_model_too,
    a_model_served_after_start_gets_buckets_of_its_own,
    models_beyond_the_spare_slots_share_the_project_bucket,
    a_model_without_a_bucket_is_called_by_its_own_name,
    transient_error_fails_over_to_another_key,
    per_minute_429_fails_over_to_another_project,
    per_day_429_fails_over_and_cools_until_pacific_midnight,
    broken_key_is_deactivated_and_skipped,
    callers_fault_is_returned_at_once_without_penalty,
    not_sent_gives_the_reservation_back,
    attempts_are_capped,
    every_key_failing_ends_with_the_pool_error_and_the_last_upstream_error,
    a_spent_retry_budget_stops_a_failure_burst,
    the_deadline_bounds_a_request,
    the_fallback_key_serves_when_the_pool_cannot,
    without_fallback_the_error_lists_every_key_and_when_one_frees,
);
