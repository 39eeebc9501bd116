//! Rate limiting: RPM, TPM with reconciliation, RPD at Pacific midnight across DST, waiting.

use std::time::Duration;

use keypool::{Clock, LimitSource, Limits, ManualClock, Millis, Outcome, PoolError, SelectRequest};

use crate::fixtures::{Backend, FLASH, keys_json, pool_with_file, row, use_once};

fn ms(rfc: &str) -> Millis {
    ManualClock::at(rfc).unwrap().now_ms()
}

fn earliest(err: PoolError) -> Option<Millis> {
    match err {
        PoolError::Exhausted(e) => e.earliest_free,
        other => panic!("expected exhausted, got {other}"),
    }
}

async fn rpm_admits_the_limit_in_any_60_seconds(b: Backend) {
    let (pool, clock) =
        pool_with_file(b, &keys_json(&[("a", None)], 3, 1_000_000, 1_000), &[]).await;
    let t0 = clock.now_ms();
    use_once(&pool, FLASH, 1).await;
    clock.advance(Duration::from_secs(10));
    use_once(&pool, FLASH, 1).await;
    use_once(&pool, FLASH, 1).await;
    let err = pool
        .select(&SelectRequest::new(FLASH, 1))
        .await
        .unwrap_err();
    assert_eq!(earliest(err), Some(t0 + 60_000));
    clock.advance(Duration::from_millis(49_999)); // t0 + 59.999 s
    assert!(pool.select(&SelectRequest::new(FLASH, 1)).await.is_err());
    clock.advance(Duration::from_millis(1));
    use_once(&pool, FLASH, 1).await; // the first left the window
    assert!(pool.select(&SelectRequest::new(FLASH, 1)).await.is_err());
}

async fn tpm_reserves_estimates_and_reconciles_real_counts(b: Backend) {
    let (pool, _clock) =
        pool_with_file(b, &keys_json(&[("a", None)], 100, 1_000, 1_000), &[]).await;
    let lease = pool.select(&SelectRequest::new(FLASH, 600)).await.unwrap();
    assert_eq!(row(&pool, "a").tpm_used, 600);
    assert!(pool.select(&SelectRequest::new(FLASH, 600)).await.is_err());
    // refund: the prompt was really 100 tokens
    pool.report(lease, &Outcome::Success { input_tokens: 100 })
        .await
        .unwrap();
    assert_eq!(row(&pool, "a").tpm_used, 100);
    let lease = pool.select(&SelectRequest::new(FLASH, 600)).await.unwrap();
    // charge: it was really 850 tokens
    pool.report(lease, &Outcome::Success { input_tokens: 850 })
        .await
        .unwrap();
    assert_eq!(row(&pool, "a").tpm_used, 950);
    assert!(pool.select(&SelectRequest::new(FLASH, 60)).await.is_err());
    use_once(&pool, FLASH, 50).await;
}

async fn a_request_larger_than_tpm_is_refused_outright(b: Backend) {
    let (pool, _clock) =
        pool_with_file(b, &keys_json(&[("a", None)], 100, 1_000, 1_000), &[]).await;
    let err = pool
        .select(&SelectRequest::new(FLASH, 1_001))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            PoolError::TooLarge {
                tokens: 1_001,
                limit: 1_000,
                ..
            }
        ),
        "{err}"
    );
}

async fn rpd_resets_at(b: Backend, start: &str, midnight: &str, following: &str) {
    let (pool, clock) = pool_with_file(b, &keys_json(&[("a", None)], 100, 1_000_000, 2), &[]).await;
    clock.set(ms(start));
    use_once(&pool, FLASH, 1).await;
    clock.advance(Duration::from_secs(120));
    use_once(&pool, FLASH, 1).await;
    let err = pool
        .select(&SelectRequest::new(FLASH, 1))
        .await
        .unwrap_err();
    assert_eq!(earliest(err), Some(ms(midnight)), "{start}");
    clock.set(ms(midnight) - 1);
    assert!(pool.select(&SelectRequest::new(FLASH, 1)).await.is_err());
    clock.set(ms(midnight));
    use_once(&pool, FLASH, 1).await;
    use_once(&pool, FLASH, 1).await;
    let err = pool
        .select(&SelectRequest::new(FLASH, 1))
        .await
        .unwrap_err();
    assert_eq!(earliest(err), Some(ms(following)), "{start}");
}

async fn rpd_resets_at_pacific_midnight_across_spring_forward(b: Backend) {
    // 2026-03-08: PST midnight is 08:00Z; that day is 23 h long, the next midnight is 07:00Z.
    rpd_resets_at(
        b,
        "2026-03-07T20:00:00Z",
        "2026-03-08T08:00:00Z",
        "2026-03-09T07:00:00Z",
    )
    .await;
}

async fn rpd_resets_at_pacific_midnight_across_fall_back(b: Backend) {
    // 2026-11-01 is 25 h long: midnights at 07:00Z, then 08:00Z the day after.
    rpd_resets_at(
        b,
        "2026-10-31T20:00:00Z",
        "2026-11-01T07:00:00Z",
        "2026-11-02T08:00:00Z",
    )
    .await;
}

async fn a_caller_may_wait_for_capacity_up_to_a_deadline(b: Backend) {
    let (pool, clock) =
        pool_with_file(b, &keys_json(&[("a", None)], 1, 1_000_000, 1_000), &[]).await;
    let t0 = clock.now_ms();
    use_once(&pool, FLASH, 1).await;
    let req = SelectRequest::new(FLASH, 1);
    let err = pool
        .select_wait(&req, Duration::from_secs(30))
        .await
        .unwrap_err();
    assert_eq!(earliest(err), Some(t0 + 60_000));
    assert_eq!(clock.now_ms(), t0, "no wait when it cannot help");
    let lease = pool
        .select_wait(&req, Duration::from_secs(90))
        .await
        .unwrap();
    assert_eq!(clock.now_ms(), t0 + 60_000, "waited exactly until it freed");
    pool.report(lease, &Outcome::NotSent).await.unwrap();
}

async fn a_per_minute_429_cools_for_retry_delay_and_a_per_day_one_until_midnight(b: Backend) {
    let (pool, clock) =
        pool_with_file(b, &keys_json(&[("a", None)], 100, 1_000_000, 1_000), &[]).await;
    let t0 = clock.now_ms();
    let lease = pool.select(&SelectRequest::new(FLASH, 1)).await.unwrap();
    pool.report(
        lease,
        &Outcome::RateLimited {
            retry_after: Some(Duration::from_millis(27_360)),
            detail: "429".into(),
            learned: keypool::Limits::UNKNOWN,
        },
    )
    .await
    .unwrap();
    let err = pool
        .select(&SelectRequest::new(FLASH, 1))
        .await
        .unwrap_err();
    assert_eq!(earliest(err), Some(t0 + 27_360));
    clock.advance(Duration::from_millis(27_360));
    let lease = pool.select(&SelectRequest::new(FLASH, 1)).await.unwrap();
    pool.report(
        lease,
        &Outcome::QuotaExhausted {
            detail: "429 per day".into(),
            learned: keypool::Limits::UNKNOWN,
        },
    )
    .await
    .unwrap();
    let err = pool
        .select(&SelectRequest::new(FLASH, 1))
        .await
        .unwrap_err();
    assert_eq!(earliest(err), Some(ms("2026-01-16T08:00:00Z")));
    assert_eq!(
        row(&pool, "a").cooldown_reason,
        Some(keypool::CooldownReason::QuotaExhausted)
    );
}

/// Issue 14: a limit nobody declared is not enforced until a 429 teaches it; then it holds for
/// every process sharing the store, and shows with its source.
async fn a_429_teaches_a_limit_that_every_process_then_keeps(b: Backend) {
    let json =
        format!(r#"{{"keys": [{{"key_id": "a", "model_name": "{FLASH}", "project": "p"}}]}}"#);
    let (pool, clock) = pool_with_file(b, &json, &[]).await;
    let unknown = row(&pool, "a");
    assert_eq!(
        (unknown.rpm_limit, unknown.rpm_limit_source),
        (None, LimitSource::Unknown)
    );
    for _ in 0..30 {
        let l = pool.select(&SelectRequest::new(FLASH, 1)).await.unwrap();
        pool.report(l, &Outcome::Success { input_tokens: 1 })
            .await
            .unwrap();
    }
    let l = pool.select(&SelectRequest::new(FLASH, 1)).await.unwrap();
    pool.report(
        l,
        &Outcome::RateLimited {
            retry_after: Some(Duration::from_secs(1)),
            detail: "429".into(),
            learned: Limits {
                rpm: Some(20),
                ..Limits::UNKNOWN
            },
        },
    )
    .await
    .unwrap();
    clock.advance(Duration::from_secs(2));
    // 31 calls in the window, the learned limit 20: refused until enough of them leave.
    assert!(matches!(
        pool.select(&SelectRequest::new(FLASH, 1)).await,
        Err(PoolError::Exhausted(_))
    ));
    let learned = row(&pool, "a");
    assert_eq!(
        (learned.rpm_limit, learned.rpm_limit_source),
        (Some(20), LimitSource::Learned)
    );
    clock.advance(Duration::from_secs(60));
    assert!(pool.select(&SelectRequest::new(FLASH, 1)).await.is_ok());
}

/// Two processes on one Redis: what one learned, the other's reservations obey at once (the
/// acquire script reads the learned limit), and its health shows after a refresh.
#[tokio::test]
async fn a_learned_limit_is_shared_through_redis() {
    if !crate::fixtures::redis_available().await {
        return;
    }
    let id = crate::fixtures::random_id();
    let file = crate::fixtures::KeysFile::new(&format!(
        r#"{{"keys": [{{"key_id": "a", "model_name": "{FLASH}", "project": "p"}}]}}"#
    ));
    let env = crate::fixtures::env(&[
        ("ENABLE_KEY_ROTATION", "true"),
        ("KEYS_FILE", &file.path.display().to_string()),
        ("GEMINI_KEY_a", "test-key-a-material"),
    ]);
    let config = keypool::PoolConfig::load(&env, &env).unwrap();
    let clock = ManualClock::at(crate::fixtures::T0).unwrap();
    let process = || async {
        let store = keypool::RedisStore::connect(
            &crate::fixtures::redis_url(),
            keypool::RedisOptions {
                prefix: crate::fixtures::prefix(id),
                time: keypool::RedisTime::Client,
                ..keypool::RedisOptions::default()
            },
        )
        .await
        .unwrap();
        keypool::KeyPool::new(
            &config,
            keypool::AnyStore::Redis(Box::new(store)),
            std::sync::Arc::new(clock.clone()),
            keypool::PoolOptions::default(),
        )
        .unwrap()
    };
    let (one, two) = (process().await, process().await);
    for _ in 0..3 {
        let l = one.select(&SelectRequest::new(FLASH, 1)).await.unwrap();
        one.report(l, &Outcome::Success { input_tokens: 1 })
            .await
            .unwrap();
    }
    // Process two meets the 429 that says the project allows 4 a minute.
    let l = two.select(&SelectRequest::new(FLASH, 1)).await.unwrap();
    two.report(
        l,
        &Outcome::RateLimited {
            retry_after: Some(Duration::from_millis(10)),
            detail: "429".into(),
            learned: Limits {
                rpm: Some(4),
                ..Limits::UNKNOWN
            },
        },
    )
    .await
    .unwrap();
    clock.advance(Duration::from_secs(1));
    // Process one's own view knows nothing of it, but its reservation is refused by the script:
    // four calls are in the window.
    assert!(matches!(
        one.select(&SelectRequest::new(FLASH, 1)).await,
        Err(PoolError::Exhausted(_))
    ));
    one.refresh().await.unwrap();
    let seen = row(&one, "a");
    assert_eq!(
        (seen.rpm_limit, seen.rpm_limit_source),
        (Some(4), LimitSource::Learned)
    );
    clock.advance(Duration::from_secs(60));
    assert!(one.select(&SelectRequest::new(FLASH, 1)).await.is_ok());
    crate::fixtures::cleanup(id).await;
}

crate::backends!(
    a_429_teaches_a_limit_that_every_process_then_keeps,
    rpm_admits_the_limit_in_any_60_seconds,
    tpm_reserves_estimates_and_reconciles_real_counts,
    a_request_larger_than_tpm_is_refused_outright,
    rpd_resets_at_pacific_midnight_across_spring_forward,
    rpd_resets_at_pacific_midnight_across_fall_back,
    a_caller_may_wait_for_capacity_up_to_a_deadline,
    a_per_minute_429_cools_for_retry_delay_and_a_per_day_one_until_midnight,
);
