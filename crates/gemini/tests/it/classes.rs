//! Issue 14: failures that are not the key's fault never cost a key (DESIGN.md §3.1), against
//! the simulator over real HTTP.

use std::time::Duration;

use gemini::{CallOptions, RotateError};
use keypool::{FailoverPolicy, KeyState, LimitSource, ScaledClock};

use crate::harness::{FLASH, Setup, faulty_k1, pool_keys, prompt, sim_keys, start, start_plain};

const LITE: &str = "gemini-2.5-flash-lite";

fn active_and_clean(h: &crate::harness::Harness, ids: &[&str]) {
    for id in ids {
        let r = h.row(id);
        assert_eq!(
            (r.active, r.state, r.error_count, r.in_cooldown),
            (true, KeyState::Active, 0, false),
            "{id}: {r:?}"
        );
    }
}

#[tokio::test]
async fn requests_naming_another_projects_file_leave_every_key_active() {
    let sim_toml = format!(
        "{}\n[[faults]]\nkind = \"file_denied\"\nprobability = 1.0\n",
        sim_keys(&[
            ("k1", "p1", "valid"),
            ("k2", "p2", "valid"),
            ("k3", "p3", "valid")
        ])
    );
    let keys = pool_keys(&[("k1", "p1"), ("k2", "p2"), ("k3", "p3")]);
    let h = start_plain(&sim_toml, &keys).await;
    for i in 0..20 {
        let err = h
            .client
            .generate(FLASH, &prompt(&format!("x{i}")), CallOptions::default())
            .await
            .unwrap_err();
        let RotateError::Rejected { error, .. } = &err else {
            panic!("the caller's fault goes back to the caller: {err}")
        };
        assert_eq!(error.api().map(|a| a.http), Some(403));
        assert!(err.is_caller_error());
    }
    // One upstream call per request (no failover for the caller's fault), and no key harmed:
    // a 403's words prove nothing (issue 30), so each key is probed once (ListModels, free), and
    // its passing probe vouches for it for the following requests.
    assert_eq!(h.sim.sim.stats().total.requests, 20 + 3);
    active_and_clean(&h, &["k1", "k2", "k3"]);
}

/// Requests until one meets k1 (the others are k2's) and comes back to the caller: its error.
async fn rejected_on_k1(h: &crate::harness::Harness) -> gemini::GeminiError {
    for i in 0..64 {
        match h
            .client
            .generate(FLASH, &prompt(&format!("x{i}")), CallOptions::default())
            .await
        {
            Ok(r) => assert_eq!(r.key_id, "k2"),
            Err(RotateError::Rejected { key_id, error }) => {
                assert_eq!(key_id, "k1");
                return error;
            }
            Err(e) => panic!("{e}"),
        }
    }
    panic!("no request met k1")
}

#[tokio::test]
async fn an_unexplained_403_is_confirmed_by_a_probe_before_it_costs_the_key() {
    // k1's key works (the probe passes) but this request is refused: the caller's.
    let h = faulty_k1("denied", "", Duration::from_secs(10)).await;
    let error = rejected_on_k1(&h).await;
    assert_eq!(error.api().map(|a| a.http), Some(403));
    active_and_clean(&h, &["k1", "k2"]);

    // A key refused on the probe too is broken: deactivated, and the request fails over.
    let sim_toml = sim_keys(&[("k1", "p1", "denied"), ("k2", "p2", "valid")]);
    let h = start_plain(&sim_toml, &pool_keys(&[("k1", "p1"), ("k2", "p2")])).await;
    for i in 0..64 {
        let r = h
            .client
            .generate(FLASH, &prompt(&format!("x{i}")), CallOptions::default())
            .await
            .unwrap();
        assert_eq!(r.key_id, "k2");
        if r.attempts == 2 {
            break;
        }
    }
    let k1 = h.row("k1");
    assert_eq!((k1.active, k1.state), (false, KeyState::Disabled), "{k1:?}");
    assert!(
        k1.disabled_reason
            .as_deref()
            .is_some_and(|r| r.contains("confirmed by a probe")),
        "{k1:?}"
    );
}

#[tokio::test]
async fn a_503_storm_on_one_model_moves_to_the_fallback_and_harms_no_key() {
    let sim_toml = format!(
        "{}\n[[faults]]\nmodel = \"{FLASH}\"\nkind = \"high_demand\"\nprobability = 1.0\n",
        sim_keys(&[
            ("a1", "p1", "valid"),
            ("a2", "p2", "valid"),
            ("b1", "p3", "valid")
        ])
    );
    let keys = format!(
        r#"{{"keys": [
        {{"key_id": "a1", "project": "p1", "model_name": "{FLASH}"}},
        {{"key_id": "a2", "project": "p2", "model_name": "{FLASH}"}},
        {{"key_id": "b1", "project": "p3", "model_name": "{LITE}"}}]}}"#
    );
    let h = start_plain(&sim_toml, &keys).await;
    let fallback = [LITE];
    for i in 0..20 {
        let r = h
            .client
            .generate(
                FLASH,
                &prompt(&format!("x{i}")),
                CallOptions {
                    also_models: &fallback,
                    project: None,
                    input_tokens: None,
                },
            )
            .await
            .unwrap_or_else(|e| panic!("request {i}: {e}"));
        assert_eq!((r.key_id.as_str(), r.model.as_str()), ("b1", LITE));
    }
    active_and_clean(&h, &["a1", "a2", "b1"]);
    // Once the model cooled, requests stopped spending attempts on it.
    let overloaded = h.sim.sim.stats().total.overloaded;
    assert!(
        (3..20).contains(&overloaded),
        "{overloaded} requests met the overloaded model"
    );
}

#[tokio::test]
async fn the_deadline_bounds_a_call_in_flight() {
    let sim_toml = format!(
        "{}\n[[faults]]\nkind = \"slow\"\nprobability = 1.0\ndelay_ms = 600000\n",
        sim_keys(&[("k1", "p1", "valid")])
    );
    let keys = pool_keys(&[("k1", "p1")]);
    let h = start(Setup {
        sim_toml: &sim_toml,
        keys_json: &keys,
        first_byte_timeout: Duration::from_secs(300),
        policy: FailoverPolicy {
            deadline: Duration::from_secs(2),
            ..FailoverPolicy::default()
        },
        ..Setup::default()
    })
    .await;
    let started = tokio::time::Instant::now();
    let err = h
        .client
        .generate(FLASH, &prompt("never answered"), CallOptions::default())
        .await
        .unwrap_err();
    let took = started.elapsed();
    assert!(
        matches!(err, RotateError::Deadline { attempts: 1, .. }),
        "{err}"
    );
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(4),
        "{took:?}"
    );
    // A slow answer is not a broken key (issue 30): abandoned without a verdict on k1.
    let k1 = h.row("k1");
    assert_eq!(
        (k1.error_count, k1.state, k1.in_cooldown),
        (0, KeyState::Active, false),
        "{k1:?}"
    );
}

#[tokio::test]
async fn key_material_echoed_upstream_never_reaches_the_caller() {
    // An `AQ.`-shaped key, which no pattern would recognise: redaction is by value.
    let material = format!("AQ.{}", "Ab8RN6Lx-q_".repeat(4));
    let sim_toml = format!(
        "[[keys]]\nid = \"k1\"\nkey = \"{material}\"\nproject = \"p1\"\nstate = \"suspended\"\n"
    );
    let keys = pool_keys(&[("k1", "p1")]);
    let var = "GEMINI_KEY_k1";
    let h = start(Setup {
        sim_toml: &sim_toml,
        keys_json: &keys,
        extra_env: &[(var, material.as_str())],
        ..Setup::default()
    })
    .await;
    let err = h
        .client
        .generate(FLASH, &prompt("hello"), CallOptions::default())
        .await
        .unwrap_err();
    let text = format!("{err} {err:?}");
    assert!(text.contains("has been suspended"), "{text}");
    assert!(!text.contains(&material), "{text}");
    let k1 = h.row("k1");
    assert!(!format!("{k1:?}").contains(&material));
    assert_eq!(k1.state, KeyState::Disabled, "suspended is key-level");
}

/// Keys given only by environment have no declared limits: nothing is enforced until Google's
/// 429 says what the project allows; from then on the pool holds to it (one 429, then none).
#[tokio::test]
async fn an_undeclared_limit_is_learned_from_one_429_and_then_kept() {
    // A "minute" passes in a second on both sides.
    let scale = 60.0;
    let sim_toml = format!(
        "time_scale = {scale}\n{}\n[projects.p1.\"{FLASH}\"]\nrpm = 3\n",
        sim_keys(&[("k1", "p1", "valid")])
    );
    let keys = r#"{"keys": [{"key_id": "k1", "project": "p1"}]}"#;
    let h = start(Setup {
        sim_toml: &sim_toml,
        keys_json: keys,
        policy: FailoverPolicy {
            wait_for_capacity: true,
            deadline: Duration::from_secs(600),
            ..FailoverPolicy::default()
        },
        clock: std::sync::Arc::new(ScaledClock::new(scale)),
        ..Setup::default()
    })
    .await;
    let before = h.row("k1");
    assert_eq!(
        (before.rpm_limit, before.rpm_limit_source),
        (None, LimitSource::Unknown)
    );
    // Twelve requests: four "minutes" of the project's real limit.
    for i in 0..12 {
        h.client
            .generate(FLASH, &prompt(&format!("x{i}")), CallOptions::default())
            .await
            .unwrap_or_else(|e| panic!("request {i}: {e}"));
    }
    let stats = h.sim.sim.stats();
    assert_eq!(stats.total.successes, 12);
    assert_eq!(stats.total.rate_limited, 1, "one 429 teaches the limit");
    let after = h.row("k1");
    assert_eq!(
        (after.rpm_limit, after.rpm_limit_source),
        (Some(3), LimitSource::Learned)
    );
    assert_eq!(
        (after.active, after.consecutive_errors),
        (true, 0),
        "a 429 is the project's state, not the key's"
    );
}

/// A model the API does not know: the caller's, and the message says where the list is.
#[tokio::test]
async fn a_404_for_a_model_points_at_keys_models() {
    let sim_toml = sim_keys(&[("k1", "p1", "valid")]);
    let keys =
        r#"{"keys": [{"key_id": "k1", "project": "p1", "model_name": "models/gemini-9-ultra"}]}"#;
    let h = start_plain(&sim_toml, keys).await;
    let err = h
        .client
        .generate("gemini-9-ultra", &prompt("hello"), CallOptions::default())
        .await
        .unwrap_err();
    assert!(err.is_caller_error(), "{err}");
    let text = err.to_string();
    assert!(text.contains("404"), "{text}");
    assert!(text.contains("`botforge keys models`"), "{text}");
    active_and_clean(&h, &["k1"]);
}

/// Issue 15: a stream that ends without `finishReason` was cut off. The caller gets an error,
/// never a silently truncated answer, and the key is charged for it like any transient error:
/// after three in a row it cools, and streams stop going to it.
#[tokio::test]
async fn a_cut_off_stream_is_an_error_and_its_key_stops_being_chosen() {
    let h = faulty_k1("truncated", "", Duration::from_secs(10)).await;
    let mut cut = 0;
    for i in 0..30 {
        let mut s = h
            .client
            .stream(
                FLASH,
                &prompt(&format!("a long answer please {i}")),
                CallOptions::default(),
            )
            .await
            .unwrap()
            .value;
        let mut last = None;
        while let Some(item) = s.next().await {
            last = Some(item.is_ok());
        }
        if last == Some(false) {
            cut += 1;
        }
    }
    assert_eq!(cut, 3, "three cut-off streams cool k1; the rest go to k2");
    let k1 = h.row("k1");
    assert_eq!((k1.error_count, k1.in_cooldown), (3, true), "{k1:?}");
    assert!(
        k1.last_error
            .as_deref()
            .is_some_and(|e| e.contains("transient")),
        "{k1:?}"
    );
}

/// Issue 15 (and 14, item 7): OpenAI-compatible answers pass through byte for byte, and the
/// pool hears how they ended: a stream cut off before its `finish_reason` counts against the
/// key (three cool it) and ends, for the client, with an error event; a whole answer settles
/// the reservation at its `usage.prompt_tokens`.
#[tokio::test]
async fn openai_compatible_answers_report_how_they_ended() {
    let h = faulty_k1("truncated", "", Duration::from_secs(10)).await;
    let mut cut = 0;
    for i in 0..30 {
        let body = serde_json::json!({
            "model": FLASH, "stream": true,
            "messages": [{"role": "user", "content": format!("a long answer please {i}")}]
        });
        let mut p = h
            .client
            .openai(FLASH, "chat/completions", body.to_string().into())
            .await
            .unwrap()
            .value;
        let mut text = Vec::new();
        while let Some(b) = p.chunk().await {
            text.extend_from_slice(&b);
        }
        let text = String::from_utf8(text).unwrap();
        if text.contains("no finish_reason") {
            assert!(text.contains("\"upstream_error\""), "{text}");
            cut += 1;
        } else {
            assert!(text.contains("[DONE]"), "{text}");
        }
    }
    assert_eq!(cut, 3, "three cut-off streams cool k1; the rest go to k2");
    let k1 = h.row("k1");
    assert_eq!((k1.error_count, k1.in_cooldown), (3, true), "{k1:?}");

    // A whole answer: the reservation settles at what upstream counted, not the estimate.
    let prompt = "x".repeat(400);
    let body =
        serde_json::json!({"model": FLASH, "messages": [{"role": "user", "content": prompt}]});
    let before = h.row("k2").tpm_used;
    let mut p = h
        .client
        .openai(FLASH, "chat/completions", body.to_string().into())
        .await
        .unwrap()
        .value;
    let mut answer = Vec::new();
    while let Some(b) = p.chunk().await {
        answer.extend_from_slice(&b);
    }
    let v: serde_json::Value = serde_json::from_slice(&answer).unwrap();
    let counted = v["usage"]["prompt_tokens"].as_u64().unwrap();
    let estimate = gemini::estimate_chat_tokens(body.to_string().as_bytes());
    assert_ne!(counted, estimate, "the test must tell the two apart");
    assert_eq!(h.row("k2").tpm_used - before, counted);
}

/// Issue 30: an answer slower than the wait for it is not a broken key (thinking models take
/// minutes): the probe with the key passes, so the timeout goes back to the caller (not re-sent
/// to another key) and the key stays clean.
#[tokio::test]
async fn a_slow_answer_is_returned_as_a_timeout_and_costs_the_key_nothing() {
    let h = faulty_k1("slow", "delay_ms = 1500", Duration::from_millis(300)).await;
    let mut met_k1 = 0;
    for i in 0..64 {
        match h
            .client
            .generate(FLASH, &prompt(&format!("x{i}")), CallOptions::default())
            .await
        {
            Ok(r) => assert_eq!((r.key_id.as_str(), r.attempts), ("k2", 1)),
            Err(RotateError::Rejected { key_id, error }) => {
                assert_eq!(key_id, "k1");
                assert_eq!(error.kind(), "timeout", "{error}");
                met_k1 += 1;
                if met_k1 == 4 {
                    break;
                }
            }
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(met_k1, 4, "some requests met k1");
    active_and_clean(&h, &["k1", "k2"]);
}

/// A stand-in upstream that refuses a large body as Google does: it reads the request head and
/// resets the connection without reading the body or answering. A probe (`GET`) is answered.
/// Returns its base URL and the count of refused bodies.
async fn refusing_upstream() -> (String, std::sync::Arc<std::sync::atomic::AtomicU32>) {
    use std::sync::atomic::{AtomicU32, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let refused = std::sync::Arc::new(AtomicU32::new(0));
    let count = std::sync::Arc::clone(&refused);
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let count = std::sync::Arc::clone(&count);
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    if sock.read(&mut byte).await.unwrap_or(0) == 0 {
                        return;
                    }
                    head.push(byte[0]);
                }
                if head.starts_with(b"GET ") {
                    let body = br#"{"models": []}"#;
                    let reply = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                        body.len()
                    );
                    let _ = sock.write_all(reply.as_bytes()).await;
                    let _ = sock.write_all(body).await;
                    return;
                }
                count.fetch_add(1, Ordering::SeqCst);
                // Reset, not a polite close: the body is refused unread.
                let _ = sock.set_zero_linger();
                drop(sock);
            });
        }
    });
    (base, refused)
}

/// Issue 30: a body upstream refuses early (the connection reset while it was being sent) is
/// the request's, not the key's: not blamed on the key (its probe passes), and not re-sent to
/// the next key.
#[tokio::test]
async fn a_body_refused_while_being_sent_is_not_the_keys_and_not_resent() {
    let (base, refused) = refusing_upstream().await;
    let keys = pool_keys(&[("k1", "p1"), ("k2", "p2")]);
    let h = start(Setup {
        keys_json: &keys,
        extra_env: &[("GEMINI_BASE_URL", base.as_str())],
        ..Setup::default()
    })
    .await;
    let text = "x".repeat(8 << 20);
    let body = serde_json::to_vec(&serde_json::json!({"contents": [{"parts": [{"text": text}]}]}))
        .unwrap();
    let err = h
        .client
        .generate_raw(FLASH, body.into(), 10, CallOptions::default())
        .await
        .unwrap_err();
    let RotateError::Rejected { error, .. } = &err else {
        panic!("returned to the caller: {err}")
    };
    assert_eq!(error.kind(), "sending", "{error}");
    assert_eq!(
        refused.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "sent once, not re-sent to the next key"
    );
    active_and_clean(&h, &["k1", "k2"]);
}

/// Issue 30: a key deactivated as broken is probed again on a schedule, and enabled when its
/// probe passes (a wrong deactivation heals itself); a key really revoked, or disabled by an
/// operator, stays off.
#[tokio::test]
async fn deactivated_keys_are_probed_again_and_heal_when_they_pass() {
    let sim_toml = sim_keys(&[
        ("k1", "p1", "valid"),
        ("k2", "p2", "revoked"),
        ("k3", "p3", "valid"),
    ]);
    let keys = pool_keys(&[("k1", "p1"), ("k2", "p2"), ("k3", "p3")]);
    let h = start_plain(&sim_toml, &keys).await;
    let pool = h.client.pool();
    // k1 and k2 deactivated as broken (for k1 wrongly), k3 by an operator.
    for id in ["k1", "k2"] {
        let i = pool.keys().position(|(k, ..)| k == id).unwrap();
        let mut req = keypool::SelectRequest::new(FLASH, 1);
        let others: Vec<usize> = (0..3).filter(|&j| j != i).collect();
        req.exclude = &others;
        let lease = pool.select(&req).await.unwrap();
        pool.report(
            lease,
            &keypool::Outcome::KeyBroken {
                detail: "403 PERMISSION_DENIED".into(),
            },
        )
        .await
        .unwrap();
    }
    pool.disable("k3", "maintenance").await.unwrap();
    for id in ["k1", "k2", "k3"] {
        assert!(!h.row(id).active, "{id}");
    }
    let healed = h.client.reprobe_broken().await.unwrap();
    assert_eq!(healed, ["k1"]);
    let (k1, k2, k3) = (h.row("k1"), h.row("k2"), h.row("k3"));
    assert_eq!((k1.active, k1.state), (true, KeyState::Active), "{k1:?}");
    assert!(!k2.active, "really revoked: {k2:?}");
    assert_eq!(k3.disabled_reason.as_deref(), Some("maintenance"));
}

/// Issue 30: a stream that goes silent ends with an error after the idle timeout, native or
/// OpenAI-compatible, instead of holding its client forever.
#[tokio::test]
async fn a_stalled_stream_ends_with_an_error_after_the_idle_timeout() {
    let h = faulty_k1("stall", "delay_ms = 20000", Duration::from_millis(300)).await;
    // Native: the first chunk, then silence, then an error (not the end of a whole answer).
    let mut stalled = false;
    for i in 0..64 {
        let started = h
            .client
            .stream(FLASH, &prompt(&format!("x{i}")), CallOptions::default())
            .await
            .unwrap();
        if started.key_id != "k1" {
            continue;
        }
        let mut s = started.value;
        assert!(s.next().await.unwrap().is_ok(), "the first chunk comes");
        let t = tokio::time::Instant::now();
        let end = s.next().await.unwrap();
        assert!(
            matches!(end, Err(gemini::GeminiError::Timeout("stream"))),
            "{end:?}"
        );
        assert!(t.elapsed() < Duration::from_secs(5));
        stalled = true;
        break;
    }
    assert!(stalled, "some stream met k1");
    // OpenAI-compatible: the bytes stop, then one error event ends the answer.
    let body = serde_json::json!({"model": FLASH, "stream": true, "messages": [{"role": "user", "content": "hi"}]});
    for i in 0..64 {
        let mut b = body.clone();
        b["messages"][0]["content"] = serde_json::json!(format!("hi {i}"));
        let done = h
            .client
            .openai(
                FLASH,
                "chat/completions",
                serde_json::to_vec(&b).unwrap().into(),
            )
            .await
            .unwrap();
        if done.key_id != "k1" {
            continue;
        }
        let mut p = done.value;
        let mut all = Vec::new();
        let t = tokio::time::Instant::now();
        while let Some(chunk) = p.chunk().await {
            all.extend_from_slice(&chunk);
        }
        let text = String::from_utf8_lossy(&all);
        assert!(text.contains("upstream sent nothing for"), "{text}");
        assert!(t.elapsed() < Duration::from_secs(5));
        return;
    }
    panic!("no OpenAI-compatible stream met k1");
}

/// Issue 30: a stream the client drops before its end reports no success it did not see (it
/// could restore a cooling key): the key's counts are unchanged, and its slot is freed.
#[tokio::test]
async fn a_stream_dropped_by_its_client_reports_no_success() {
    let sim_toml = format!(
        "{}\n[[replies]]\ntext = \"{}\"\n",
        sim_keys(&[("k1", "p1", "valid")]),
        "word ".repeat(64)
    );
    let h = start_plain(&sim_toml, &pool_keys(&[("k1", "p1")])).await;
    let mut s = h
        .client
        .stream(FLASH, &prompt("a long answer"), CallOptions::default())
        .await
        .unwrap()
        .value;
    assert!(s.next().await.unwrap().is_ok());
    drop(s);
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    h.client.pool().refresh().await.unwrap();
    let k1 = h.row("k1");
    assert_eq!((k1.success_count, k1.error_count), (0, 0), "{k1:?}");
    // A stream read to its end is a success.
    let mut s = h
        .client
        .stream(FLASH, &prompt("again"), CallOptions::default())
        .await
        .unwrap()
        .value;
    while s.next().await.is_some() {}
    assert_eq!(h.row("k1").success_count, 1);
}

/// Issue 30: a 401 that the key did not cause (the key answers its probe) changes no key; it
/// once deactivated the key at once.
#[tokio::test]
async fn a_401_is_confirmed_by_a_probe_before_it_costs_the_key() {
    let h = faulty_k1("unauthenticated", "", Duration::from_secs(10)).await;
    let error = rejected_on_k1(&h).await;
    assert_eq!(error.api().map(|a| a.http), Some(401));
    active_and_clean(&h, &["k1", "k2"]);
}
