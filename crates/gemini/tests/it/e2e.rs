//! End to end over real HTTP: the rotating client, its pool, and the simulator.

use std::time::Duration;

use gemini::{CallOptions, GeminiError, NoAnswer, RotateError};
use keypool::{CooldownReason, KeyState, PoolError};

use crate::harness::{FLASH, Setup, faulty_k1, pool_keys, prompt, sim_keys, start};

#[tokio::test]
async fn invalid_then_rate_limited_then_healthy_every_request_lands_on_the_healthy_key() {
    let sim_toml = format!(
        "{}\n[projects.p2.\"{FLASH}\"]\nrpm = 1\n",
        sim_keys(&[
            ("k1", "p1", "invalid"),
            ("k2", "p2", "valid"),
            ("k3", "p3", "valid")
        ])
    );
    let keys = pool_keys(&[("k1", "p1"), ("k2", "p2"), ("k3", "p3")]);
    let h = start(Setup {
        sim_toml: &sim_toml,
        keys_json: &keys,
        ..Setup::default()
    })
    .await;
    // Spend p2's one request of this minute outside the pool, so k2's next call is a 429.
    let direct = h.client.client();
    direct
        .generate(
            &keypool::ApiKey::new("test-key-k2"),
            FLASH,
            &prompt("warm up"),
        )
        .await
        .unwrap();

    for i in 0..20 {
        let r = h
            .client
            .generate(
                FLASH,
                &prompt(&format!("request {i}")),
                CallOptions::default(),
            )
            .await
            .unwrap_or_else(|e| panic!("request {i}: {e}"));
        assert_eq!(r.key_id, "k3", "request {i}");
        assert!(r.value.answer().unwrap().text.starts_with("Hello from"));
    }
    let k1 = h.row("k1");
    assert_eq!(k1.state, KeyState::Disabled);
    assert_eq!(
        k1.disabled_reason.as_deref(),
        Some("400 INVALID_ARGUMENT (API_KEY_INVALID)")
    );
    let k2 = h.row("k2");
    assert!(k2.in_cooldown, "{k2:?}");
    assert_eq!(k2.cooldown_reason, Some(CooldownReason::RateLimited));
    assert!(k2.active);
    assert_eq!(h.row("k3").success_count, 20);
    let stats = h.sim.sim.stats();
    assert_eq!(stats.keys["k1"].requests, 1, "a dead key is asked once");
    assert_eq!(
        stats.keys["k2"].rate_limited, 1,
        "a cooling project is asked once"
    );
    assert_eq!(stats.keys["k3"].successes, 20);
}

#[tokio::test]
async fn when_every_pool_key_fails_gemini_api_key_serves() {
    let sim_toml = sim_keys(&[
        ("k1", "p1", "revoked"),
        ("k2", "p2", "invalid"),
        ("fallback", "p9", "valid"),
    ]);
    let keys = pool_keys(&[("k1", "p1"), ("k2", "p2")]);
    let h = start(Setup {
        sim_toml: &sim_toml,
        keys_json: &keys,
        extra_env: &[("GEMINI_API_KEY", "test-key-fallback")],
        ..Setup::default()
    })
    .await;
    let r = h
        .client
        .generate(FLASH, &prompt("hello"), CallOptions::default())
        .await
        .unwrap();
    assert_eq!(r.key_id, "GEMINI_API_KEY");
    assert_eq!(r.attempts, 3);
    assert_eq!(h.row("k1").state, KeyState::Disabled);
    assert_eq!(h.row("k2").state, KeyState::Disabled);
}

#[tokio::test]
async fn with_no_key_left_the_error_lists_every_key() {
    let sim_toml = sim_keys(&[("k1", "p1", "revoked"), ("k2", "p2", "revoked")]);
    let keys = pool_keys(&[("k1", "p1"), ("k2", "p2")]);
    let h = start(Setup {
        sim_toml: &sim_toml,
        keys_json: &keys,
        ..Setup::default()
    })
    .await;
    let err = h
        .client
        .generate(FLASH, &prompt("hello"), CallOptions::default())
        .await
        .unwrap_err();
    let RotateError::Pool {
        pool: PoolError::Exhausted(e),
        last,
        attempts,
    } = &err
    else {
        panic!("{err}")
    };
    assert_eq!(*attempts, 2);
    assert_eq!(e.keys.len(), 2);
    assert!(e.keys.iter().all(|k| k.state == KeyState::Disabled));
    let last = last.as_ref().unwrap().api().unwrap();
    assert_eq!(
        (last.http, last.status.as_str()),
        (403, "PERMISSION_DENIED")
    );
    let msg = err.to_string();
    assert!(
        msg.contains("k1: disabled (403 PERMISSION_DENIED (confirmed by a probe))"),
        "{msg}"
    );
}

#[tokio::test]
async fn each_transient_fault_fails_over_to_another_key() {
    let cases = [
        ("internal", "", "500 INTERNAL"),
        ("deadline", "", "504 DEADLINE_EXCEEDED"),
        ("reset", "", "connection reset"),
        ("malformed", "", "unreadable body"),
    ];
    for (kind, extra, detail) in cases {
        let h = faulty_k1(kind, extra, Duration::from_millis(500)).await;
        // Requests go to either key at random; each one that meets k1 must fail over to k2.
        for i in 0..64 {
            let r = h
                .client
                .generate(FLASH, &prompt(&format!("x{i}")), CallOptions::default())
                .await
                .unwrap_or_else(|e| panic!("{kind}: {e}"));
            assert_eq!(r.key_id, "k2", "{kind}");
            if h.row("k1").error_count > 0 {
                assert_eq!(r.attempts, 2, "{kind}");
                break;
            }
            assert_eq!(r.attempts, 1, "{kind}");
        }
        let k1 = h.row("k1");
        assert_eq!(k1.error_count, 1, "{kind}");
        assert_eq!(
            k1.last_error.as_deref(),
            Some(format!("transient: {detail}").as_str()),
            "{kind}"
        );
        assert_eq!(
            k1.state,
            KeyState::Active,
            "{kind}: one transient error does not cool a key"
        );
    }
}

/// Issue 14: a 503 "overloaded" / "high demand" is the model's state: the request moves to
/// another key, and the key that answered it is neither counted against nor cooled.
#[tokio::test]
async fn an_overloaded_answer_fails_over_and_leaves_the_key_alone() {
    for kind in ["unavailable", "high_demand"] {
        let h = faulty_k1(kind, "", Duration::from_millis(500)).await;
        let mut failed_over = 0;
        // A few failovers stay well within the retry budget.
        for i in 0..64 {
            let r = h
                .client
                .generate(FLASH, &prompt(&format!("x{i}")), CallOptions::default())
                .await
                .unwrap_or_else(|e| panic!("{kind}: {e}"));
            assert_eq!(r.key_id, "k2", "{kind}");
            if r.attempts == 2 {
                failed_over += 1;
                if failed_over == 4 {
                    break;
                }
            }
        }
        assert!(failed_over > 0, "{kind}: some request met k1");
        let k1 = h.row("k1");
        assert_eq!(
            (k1.state, k1.error_count, k1.consecutive_errors),
            (KeyState::Active, 0, 0),
            "{kind}: no penalty on the key"
        );
        let stats = h.sim.sim.stats();
        assert_eq!(stats.keys["k1"].overloaded, failed_over, "{kind}");
    }
}

#[tokio::test]
async fn three_transient_errors_cool_a_key_and_traffic_moves_away() {
    let h = faulty_k1("internal", "", Duration::from_secs(5)).await;
    for i in 0..200 {
        h.client
            .generate(FLASH, &prompt(&format!("x{i}")), CallOptions::default())
            .await
            .unwrap();
        if h.row("k1").error_count == 3 {
            break;
        }
    }
    let k1 = h.row("k1");
    assert_eq!(
        (k1.state, k1.cooldown_reason),
        (KeyState::CoolingDown, Some(CooldownReason::Errors))
    );
    let before = h.sim.sim.stats().keys["k1"].requests;
    for i in 0..20 {
        let r = h
            .client
            .generate(FLASH, &prompt(&format!("y{i}")), CallOptions::default())
            .await
            .unwrap();
        assert_eq!((r.key_id.as_str(), r.attempts), ("k2", 1));
    }
    assert_eq!(
        h.sim.sim.stats().keys["k1"].requests,
        before,
        "a cooling key gets no traffic"
    );
}

#[tokio::test]
async fn thinking_that_used_every_token_reaches_the_caller_typed() {
    let h = faulty_k1("max_tokens", "", Duration::from_secs(5)).await;
    h.pool().disable("k2", "test").await.unwrap();
    let r = h
        .client
        .generate(FLASH, &prompt("think hard"), CallOptions::default())
        .await
        .unwrap();
    assert!(matches!(
        r.value.answer(),
        Err(NoAnswer::TruncatedWhileThinking { .. })
    ));
    // HTTP 200: the key worked.
    assert_eq!(h.row("k1").success_count, 1);
}

#[tokio::test]
async fn a_stream_that_fails_before_its_first_byte_fails_over() {
    let sim_toml = format!(
        "default_reply = \"one two three four five six seven eight nine ten eleven twelve thirteen\"\n{}\n[[faults]]\nkey = \"k1\"\nkind = \"unavailable\"\nscript = [true]\n",
        sim_keys(&[("k1", "p1", "valid"), ("k2", "p2", "valid")])
    );
    let keys = pool_keys(&[("k1", "p1"), ("k2", "p2")]);
    let h = start(Setup {
        sim_toml: &sim_toml,
        keys_json: &keys,
        ..Setup::default()
    })
    .await;
    // Whichever key comes first, at most one failure happens (k1's scripted 503).
    let mut s = h
        .client
        .stream(FLASH, &prompt("stream please"), CallOptions::default())
        .await
        .unwrap();
    let mut chunks = Vec::new();
    while let Some(c) = s.value.next().await {
        chunks.push(c.unwrap());
    }
    assert!(chunks.len() >= 2, "streamed in pieces");
    let merged = gemini::GenerateContentResponse::merge_stream(chunks);
    assert_eq!(
        merged.answer().unwrap().text,
        "one two three four five six seven eight nine ten eleven twelve thirteen"
    );
    drop(s);
    let served = h.row(if h.row("k1").success_count == 1 {
        "k1"
    } else {
        "k2"
    });
    assert_eq!(served.success_count, 1);
    // tokens reconciled from the stream's usage: ceil(13 chars / 4)
    assert_eq!(served.tpm_used, 4);
}

#[tokio::test]
async fn an_error_after_the_first_byte_reaches_the_caller_and_the_pool() {
    let sim_toml = format!(
        "{}\n[[faults]]\nkind = \"mid_stream\"\nprobability = 1.0\n",
        sim_keys(&[("k1", "p1", "valid")])
    );
    let keys = pool_keys(&[("k1", "p1")]);
    let h = start(Setup {
        sim_toml: &sim_toml,
        keys_json: &keys,
        ..Setup::default()
    })
    .await;
    let mut s = h
        .client
        .stream(FLASH, &prompt("stream please"), CallOptions::default())
        .await
        .unwrap();
    assert!(
        s.value.next().await.unwrap().is_ok(),
        "the first chunk arrives"
    );
    let err = s.value.next().await.unwrap().unwrap_err();
    let GeminiError::Api(api) = &err else {
        panic!("{err}")
    };
    assert_eq!((api.http, api.status.as_str()), (499, "CANCELLED"));
    assert!(s.value.next().await.is_none());
    let k1 = h.row("k1");
    assert_eq!((k1.success_count, k1.error_count), (0, 1));
}

#[tokio::test]
async fn a_bad_request_is_returned_without_trying_other_keys() {
    let sim_toml = sim_keys(&[("k1", "p1", "valid"), ("k2", "p2", "valid")]);
    let keys = pool_keys(&[("k1", "p1"), ("k2", "p2")]);
    let h = start(Setup {
        sim_toml: &sim_toml,
        keys_json: &keys,
        ..Setup::default()
    })
    .await;
    let mut req = prompt("x");
    req.extra.insert("bogusField".into(), serde_json::json!(1));
    let err = h
        .client
        .generate(FLASH, &req, CallOptions::default())
        .await
        .unwrap_err();
    assert!(err.is_caller_error(), "{err}");
    let RotateError::Rejected { error, .. } = &err else {
        panic!("{err}")
    };
    assert!(
        error.to_string().contains("Unknown name \"bogusField\""),
        "{error}"
    );
    let stats = h.sim.sim.stats();
    assert_eq!(stats.total.requests, 1);
    assert_eq!(h.row("k1").error_count + h.row("k2").error_count, 0);
}

#[tokio::test]
async fn count_tokens_agrees_with_generate_and_reservations_reconcile() {
    let sim_toml = sim_keys(&[("k1", "p1", "valid")]);
    let keys = pool_keys(&[("k1", "p1")]);
    let h = start(Setup {
        sim_toml: &sim_toml,
        keys_json: &keys,
        ..Setup::default()
    })
    .await;
    let mut req = prompt(&"word ".repeat(50));
    req.system_instruction = Some(gemini::Content::system("You write trading bots."));
    let counted = h
        .client
        .count_tokens(FLASH, &req, CallOptions::default())
        .await
        .unwrap();
    assert_eq!(
        h.row("k1").rpm_used,
        0,
        "counting is free: its reservation was released"
    );
    let r = h
        .client
        .generate(FLASH, &req, CallOptions::default())
        .await
        .unwrap();
    assert_eq!(r.value.prompt_tokens(), Some(counted));
    let u = r.value.usage_metadata.as_ref().unwrap();
    assert_eq!(
        u.total_token_count,
        u.prompt_token_count
            + u.candidates_token_count.unwrap_or(0)
            + u.thoughts_token_count.unwrap_or(0)
    );
    assert!(
        req.estimate_tokens() > counted,
        "the local estimate errs high"
    );
    assert_eq!(
        h.row("k1").tpm_used,
        counted,
        "the estimate was replaced by the real count"
    );
    let models = h.client.list_models(FLASH).await.unwrap();
    assert!(models.iter().any(|m| m.name == "models/gemini-2.5-flash"));
}

/// Issue 14, item 8: under random faults every request ends in exactly one outcome, and the
/// books balance exactly. Requests run one after another against the seeded simulator, so the
/// faults fall the same way every run; the pool's clock runs 1,000× faster, so backoffs cost
/// no wall time, and the retry budget is wide, so only the attempt cap can stop a request.
#[tokio::test]
async fn nothing_is_lost_under_random_faults() {
    // As many attempts as keys: a request fails only when every key met a fault.
    const MAX_ATTEMPTS: u32 = 4;
    let sim_toml = format!(
        "seed = 11\n{}\n[[faults]]\nkind = \"unavailable\"\nprobability = 0.1\n[[faults]]\nkind = \"internal\"\nprobability = 0.05\n[[faults]]\nkind = \"reset\"\nprobability = 0.03\n[[faults]]\nkind = \"malformed\"\nprobability = 0.02\n",
        sim_keys(&[
            ("k1", "p1", "valid"),
            ("k2", "p1", "valid"),
            ("k3", "p2", "valid"),
            ("k4", "p3", "valid")
        ])
    );
    let keys = pool_keys(&[("k1", "p1"), ("k2", "p1"), ("k3", "p2"), ("k4", "p3")]);
    let h = start(Setup {
        sim_toml: &sim_toml,
        keys_json: &keys,
        policy: keypool::FailoverPolicy {
            max_attempts: MAX_ATTEMPTS,
            deadline: Duration::from_secs(36_000),
            wait_for_capacity: true,
        },
        clock: std::sync::Arc::new(keypool::ScaledClock::new(1000.0)),
        ..Setup::default()
    })
    .await;
    let client = h
        .client
        .clone()
        .with_budget(std::sync::Arc::new(keypool::RetryBudget::new(
            Duration::from_secs(10),
            1_000_000,
            1.0,
        )));
    let (mut ok, mut failed, mut attempts) = (0u64, 0u64, 0u64);
    for i in 0..1000 {
        match client
            .generate(
                FLASH,
                &prompt(&format!("request {i}")),
                CallOptions::default(),
            )
            .await
        {
            Ok(r) => {
                ok += 1;
                attempts += u64::from(r.attempts);
            }
            Err(RotateError::GaveUp {
                attempts: n, why, ..
            }) => {
                assert_eq!((n, why), (MAX_ATTEMPTS, "max attempts"), "request {i}");
                failed += 1;
                attempts += u64::from(n);
            }
            Err(e) => panic!("request {i}: {e}"),
        }
    }
    assert_eq!(
        ok + failed,
        1000,
        "every request ends in exactly one outcome"
    );
    let stats = h.sim.sim.stats();
    // Each attempt reached the simulator exactly once; each success is a success there.
    assert_eq!(stats.total.requests, attempts);
    assert_eq!(stats.total.successes, ok);
    let health = h.pool().health().unwrap();
    let mut pool_ok = 0;
    for k in &health.keys {
        let s = stats.keys.get(&k.key_id).copied().unwrap_or_default();
        assert_eq!(
            s.successes, k.success_count,
            "{}: sim {s:?} vs pool {k:?}",
            k.key_id
        );
        // 503s are the model's state: counted upstream, never against the key.
        assert_eq!(s.errors, k.error_count, "{}", k.key_id);
        assert_eq!(
            s.requests,
            k.success_count + k.error_count + s.overloaded,
            "{}",
            k.key_id
        );
        pool_ok += k.success_count;
    }
    assert_eq!(pool_ok, ok);
    // Failover hid the faults: a request fails only when all its attempts met one.
    let faulted = stats.total.requests - stats.total.successes;
    assert!(faulted > 100, "the faults did fire: {faulted}");
    assert_eq!(
        faulted,
        (attempts - ok),
        "every attempt but the last of a success met a fault"
    );
}
