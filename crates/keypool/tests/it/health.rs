//! Health tracking through the pool: counts, cooldown growth, the half-open trial.

use std::time::Duration;

use keypool::{CooldownReason, KeyState, Outcome, PoolError, SelectRequest};

use crate::fixtures::{Backend, FLASH, keys_json, pool_with_file, row, transient, use_once};

const BIG: u64 = 1_000_000;

async fn success_and_errors_are_counted(b: Backend) {
    let (pool, _c) = pool_with_file(b, &keys_json(&[("a", None)], BIG, BIG, BIG), &[]).await;
    use_once(&pool, FLASH, 5).await;
    let lease = pool.select(&SelectRequest::new(FLASH, 5)).await.unwrap();
    pool.report(lease, &transient()).await.unwrap();
    let r = row(&pool, "a");
    assert_eq!(
        (r.success_count, r.error_count, r.consecutive_errors),
        (1, 1, 1)
    );
    assert_eq!(r.last_error.as_deref(), Some("transient: 503 UNAVAILABLE"));
    assert_eq!(r.last_used.as_deref(), Some("2026-01-15T12:00:00Z"));
    use_once(&pool, FLASH, 5).await;
    assert_eq!(row(&pool, "a").consecutive_errors, 0);
}

async fn cooldown_grows_and_the_half_open_trial_is_single(b: Backend) {
    let (pool, clock) = pool_with_file(b, &keys_json(&[("a", None)], BIG, BIG, BIG), &[]).await;
    for _ in 0..3 {
        let lease = pool.select(&SelectRequest::new(FLASH, 1)).await.unwrap();
        pool.report(lease, &transient()).await.unwrap();
    }
    let r = row(&pool, "a");
    assert_eq!(r.state, KeyState::CoolingDown);
    assert!(r.in_cooldown);
    assert_eq!(r.cooldown_reason, Some(CooldownReason::Errors));
    assert!((r.cooldown_remaining_s - 30.0).abs() < 1e-9);
    assert!(pool.select(&SelectRequest::new(FLASH, 1)).await.is_err());

    clock.advance(Duration::from_secs(30));
    assert_eq!(row(&pool, "a").state, KeyState::HalfOpen);
    let trial = pool.select(&SelectRequest::new(FLASH, 1)).await.unwrap();
    assert!(trial.is_trial());
    let second = pool
        .select(&SelectRequest::new(FLASH, 1))
        .await
        .unwrap_err();
    assert!(
        second.to_string().contains("a trial request is in flight"),
        "{second}"
    );
    pool.report(trial, &transient()).await.unwrap();
    // failed trial: the next cooldown is 60 s
    assert!((row(&pool, "a").cooldown_remaining_s - 60.0).abs() < 1e-9);

    clock.advance(Duration::from_secs(60));
    let trial = pool.select(&SelectRequest::new(FLASH, 1)).await.unwrap();
    assert!(trial.is_trial());
    pool.report(trial, &Outcome::Success { input_tokens: 1 })
        .await
        .unwrap();
    let r = row(&pool, "a");
    assert_eq!(r.state, KeyState::Active);
    assert!(!r.in_cooldown);
    // the step was reset: a new streak cools for 30 s again
    for _ in 0..3 {
        let lease = pool.select(&SelectRequest::new(FLASH, 1)).await.unwrap();
        assert!(!lease.is_trial());
        pool.report(lease, &transient()).await.unwrap();
    }
    assert!((row(&pool, "a").cooldown_remaining_s - 30.0).abs() < 1e-9);
}

async fn cooldowns_double_up_to_300_seconds(b: Backend) {
    let (pool, clock) = pool_with_file(b, &keys_json(&[("a", None)], BIG, BIG, BIG), &[]).await;
    for _ in 0..3 {
        let lease = pool.select(&SelectRequest::new(FLASH, 1)).await.unwrap();
        pool.report(lease, &transient()).await.unwrap();
    }
    let mut seen = vec![row(&pool, "a").cooldown_remaining_s];
    for _ in 0..5 {
        clock.advance(Duration::from_secs_f64(seen[seen.len() - 1]));
        let trial = pool.select(&SelectRequest::new(FLASH, 1)).await.unwrap();
        pool.report(trial, &transient()).await.unwrap();
        seen.push(row(&pool, "a").cooldown_remaining_s);
    }
    assert_eq!(seen, [30.0, 60.0, 120.0, 240.0, 300.0, 300.0]);
}

async fn enable_and_disable_by_key_id(b: Backend) {
    let (pool, _c) = pool_with_file(b, &keys_json(&[("a", None)], BIG, BIG, BIG), &[]).await;
    pool.disable("a", "operator").await.unwrap();
    let r = row(&pool, "a");
    assert_eq!((r.state, r.active), (KeyState::Disabled, false));
    assert_eq!(r.disabled_reason.as_deref(), Some("operator"));
    pool.enable("a").await.unwrap();
    assert_eq!(row(&pool, "a").state, KeyState::Active);
    assert!(matches!(
        pool.enable("nope").await,
        Err(PoolError::UnknownKeyId { .. })
    ));
}

async fn health_json_has_every_documented_field(b: Backend) {
    let (pool, _c) = pool_with_file(b, &keys_json(&[("a", Some("p"))], 7, 700, 70), &[]).await;
    use_once(&pool, FLASH, 42).await;
    let v = serde_json::to_value(pool.health().unwrap()).unwrap();
    let k = &v["keys"][0];
    for field in [
        "key_id",
        "model",
        "project",
        "active",
        "state",
        "in_cooldown",
        "cooldown_remaining_s",
        "cooldown_reason",
        "success_count",
        "error_count",
        "consecutive_errors",
        "last_used",
        "last_error",
        "rpm_used",
        "rpm_limit",
        "tpm_used",
        "tpm_limit",
        "rpd_used",
        "rpd_limit",
    ] {
        assert!(k.get(field).is_some(), "missing {field} in {k}");
    }
    assert_eq!(k["state"], "active");
    assert_eq!(
        (k["rpm_used"].as_u64(), k["rpm_limit"].as_u64()),
        (Some(1), Some(7))
    );
    assert_eq!(
        (k["tpm_used"].as_u64(), k["tpm_limit"].as_u64()),
        (Some(42), Some(700))
    );
    assert_eq!(
        (k["rpd_used"].as_u64(), k["rpd_limit"].as_u64()),
        (Some(1), Some(70))
    );
    assert_eq!(k["project"], "p");
}

/// A lease on `key_id`, reporting other picks as successes (bounded).
async fn lease_of(pool: &crate::fixtures::Pool, key_id: &str) -> keypool::Lease {
    for _ in 0..50 {
        let l = pool.select(&SelectRequest::new(FLASH, 1)).await.unwrap();
        if pool.key_id(&l) == key_id {
            return l;
        }
        pool.report(l, &Outcome::Success { input_tokens: 1 })
            .await
            .unwrap();
    }
    panic!("{key_id} was never selected");
}

/// Rotated material replaces the old for later grants; a key deactivated as broken comes back,
/// one an operator deactivated does not; keys the source lacks keep their material.
async fn rotated_material_is_swapped_in(b: Backend) {
    let (pool, _c) = pool_with_file(
        b,
        &keys_json(&[("a", None), ("b", None), ("c", None)], BIG, BIG, BIG),
        &[],
    )
    .await;
    for id in ["a", "b"] {
        let lease = lease_of(&pool, id).await;
        pool.report(
            lease,
            &Outcome::KeyBroken {
                detail: "400 API_KEY_INVALID".into(),
            },
        )
        .await
        .unwrap();
    }
    pool.disable("b", "retired by the operator").await.unwrap();
    let source = keypool::Environment::from_pairs([
        ("GEMINI_KEY_a", "test-key-a-rotated"),
        ("GEMINI_KEY_b", "test-key-b-rotated"),
    ]);
    let update = pool.update_material(&source).await.unwrap();
    assert_eq!(update.rotated, ["a", "b"]);
    assert_eq!(update.reenabled, ["a"]);
    assert_eq!(update.missing, ["c"]);
    assert_eq!(row(&pool, "a").state, KeyState::Active);
    assert_eq!(row(&pool, "a").key_hint, "…ated");
    assert_eq!(row(&pool, "b").state, KeyState::Disabled);
    assert_eq!(row(&pool, "c").key_hint, "…rial", "kept its material");
    let lease = lease_of(&pool, "a").await;
    assert_eq!(pool.api_key(&lease).expose(), "test-key-a-rotated");
    pool.report(lease, &Outcome::Success { input_tokens: 1 })
        .await
        .unwrap();
    assert!(
        pool.update_material(&source)
            .await
            .unwrap()
            .rotated
            .is_empty()
    );
}

crate::backends!(
    rotated_material_is_swapped_in,
    success_and_errors_are_counted,
    cooldown_grows_and_the_half_open_trial_is_single,
    cooldowns_double_up_to_300_seconds,
    enable_and_disable_by_key_id,
    health_json_has_every_documented_field,
);
