//! Issue 14: no answer is lost for want of a report. A store that cannot take the report of a
//! successful call still lets the caller have the answer.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use keypool::{
    Acquired, BucketRef, BucketView, Environment, FailoverPolicy, Finish, HealthPolicy, KeyEvent,
    KeyHealth, KeyPool, KeyRef, Layout, ManualClock, MemoryStore, Millis, Outcome, PoolConfig,
    PoolOptions, RetryBudget, SelectRequest, StateStore, StoreError,
};

use crate::fixtures::{Backend, FLASH, KeysFile, keys_json, pool_with_file, row};

/// A memory store whose `finish` fails for successful calls.
#[derive(Debug, Default)]
struct LosesSuccessReports {
    inner: MemoryStore,
    refused: AtomicU32,
}

impl StateStore for LosesSuccessReports {
    fn backend(&self) -> &'static str {
        "lossy"
    }

    fn prepare(&self, layout: &Layout) -> Result<(), StoreError> {
        self.inner.prepare(layout)
    }

    fn acquire(
        &self,
        key: KeyRef<'_>,
        bucket: BucketRef<'_>,
        tokens: u64,
        now: Millis,
        policy: &HealthPolicy,
    ) -> impl Future<Output = Result<Acquired, StoreError>> + Send {
        std::future::ready(self.inner.acquire_now(key, bucket, tokens, now, policy))
    }

    async fn finish(
        &self,
        key: KeyRef<'_>,
        bucket: BucketRef<'_>,
        reservation: u64,
        finish: &Finish<'_>,
        now: Millis,
        policy: &HealthPolicy,
    ) -> Result<(), StoreError> {
        if finish.key == KeyEvent::Success {
            self.refused.fetch_add(1, Ordering::SeqCst);
            return Err(StoreError::Unavailable {
                op: "finish",
                message: "connection reset".into(),
            });
        }
        self.inner
            .finish(key, bucket, reservation, finish, now, policy)
            .await
    }

    async fn update_key<R: Send>(
        &self,
        key: KeyRef<'_>,
        f: impl FnMut(&mut KeyHealth) -> R + Send,
    ) -> Result<R, StoreError> {
        self.inner.update_key(key, f).await
    }

    fn bucket_view(
        &self,
        bucket: BucketRef<'_>,
        tokens: u64,
        now: Millis,
    ) -> Result<BucketView, StoreError> {
        self.inner.bucket_view(bucket, tokens, now)
    }

    fn key_usable(&self, key: KeyRef<'_>, now: Millis) -> Result<bool, StoreError> {
        self.inner.key_usable(key, now)
    }

    fn key_health(&self, key: KeyRef<'_>) -> Result<KeyHealth, StoreError> {
        self.inner.key_health(key)
    }
}

#[tokio::test]
async fn a_store_that_fails_the_report_after_a_success_still_returns_the_answer() {
    let file = KeysFile::new(&keys_json(&[("a", None)], 100, 100_000, 1_000));
    let env = Environment::from_pairs([
        ("ENABLE_KEY_ROTATION", "true".to_owned()),
        ("KEYS_FILE", file.path.display().to_string()),
        ("GEMINI_KEY_a", "test-key-a-material".to_owned()),
    ]);
    let config = PoolConfig::load(&env, &env).unwrap();
    let pool = KeyPool::new(
        &config,
        LosesSuccessReports::default(),
        Arc::new(ManualClock::new(1_768_478_400_000)),
        PoolOptions::default(),
    )
    .unwrap();
    let done = pool
        .execute(
            &SelectRequest::new(FLASH, 10),
            &FailoverPolicy::default(),
            &RetryBudget::default(),
            |_grant| async {
                (
                    Outcome::Success { input_tokens: 9 },
                    Ok::<_, String>("the answer"),
                )
            },
        )
        .await
        .unwrap();
    assert_eq!(done.value, "the answer");
    // The report was tried again before giving up on it.
    assert_eq!(pool.store().refused.load(Ordering::SeqCst), 2);
}

/// Runs `req` through the pool to a call upstream never answers, then drops it once the key
/// is granted (a client hanging up mid-call).
async fn hang_up_mid_call<S: StateStore>(pool: &KeyPool<S>, req: &SelectRequest<'_>) {
    let (policy, budget) = (FailoverPolicy::default(), RetryBudget::default());
    let entered = tokio::sync::Notify::new();
    tokio::select! {
        biased;
        _ = pool.execute(req, &policy, &budget, |_grant| async {
            entered.notify_one();
            std::future::pending::<(Outcome, Result<(), String>)>().await
        }) => panic!("the call never ends"),
        () = entered.notified() => {}
    }
}

/// A request cancelled mid-call (its future dropped: a client hung up) leaves no reservation
/// behind for the 15-minute in-flight hold: the pool finishes it at its next operation, so the
/// slot frees a window later.
async fn a_cancelled_request_gives_its_slot_back_a_window_later(b: Backend) {
    let json = keys_json(&[("a", None)], 1, 100_000, 1_000);
    let (pool, clock) = pool_with_file(b, &json, &[]).await;
    let req = SelectRequest::new(FLASH, 10);
    hang_up_mid_call(&pool, &req).await;
    // The one RPM slot is taken by the cancelled call...
    assert!(pool.select(&SelectRequest::new(FLASH, 10)).await.is_err());
    assert_eq!(row(&pool, "a").rpm_used, 1);
    // ...until a window after it was given up, not after the in-flight hold.
    clock.advance(std::time::Duration::from_secs(61));
    let lease = pool.select(&SelectRequest::new(FLASH, 10)).await.unwrap();
    pool.report(lease, &Outcome::Success { input_tokens: 10 })
        .await
        .unwrap();
    assert_eq!(row(&pool, "a").success_count, 1);
}

crate::backends!(a_cancelled_request_gives_its_slot_back_a_window_later);

/// A half-open trial whose request is cancelled gives the trial back at the pool's next
/// operation: the next request is the trial (not refused with "a trial request is in flight"
/// until the trial's lock expires), and its success restores the key.
async fn a_cancelled_trial_gives_the_trial_back(b: Backend) {
    const BIG: u64 = 1_000_000;
    let (pool, clock) = pool_with_file(b, &keys_json(&[("a", None)], BIG, BIG, BIG), &[]).await;
    let req = SelectRequest::new(FLASH, 1);
    for _ in 0..3 {
        let lease = pool.select(&req).await.unwrap();
        pool.report(lease, &crate::fixtures::transient())
            .await
            .unwrap();
    }
    clock.advance(std::time::Duration::from_secs(30));
    assert_eq!(row(&pool, "a").state, keypool::KeyState::HalfOpen);
    // A half-open key grants nothing but its trial: the cancelled call held it.
    hang_up_mid_call(&pool, &req).await;
    let trial = pool.select(&req).await.unwrap();
    assert!(trial.is_trial());
    pool.report(trial, &Outcome::Success { input_tokens: 1 })
        .await
        .unwrap();
    assert_eq!(row(&pool, "a").state, keypool::KeyState::Active);
}

crate::backends!(a_cancelled_trial_gives_the_trial_back);
