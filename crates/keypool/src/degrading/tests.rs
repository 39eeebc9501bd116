//! Degraded mode around a primary that is not Redis: an in-process store that can be made
//! unreachable.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use super::{Count, DegradeOptions, Degraded, Degrading, Primary, Progress};
use crate::clock::{Clock, ManualClock, Millis};
use crate::error::StoreError;
use crate::health::{HealthPolicy, KeyHealth};
use crate::limits::Limits;
use crate::memory_store::MemoryStore;
use crate::store::{
    Acquired, BucketRef, BucketView, Finish, KeyLayout, KeyRef, Layout, StateStore,
};

/// A primary that answers from memory while `up`.
#[derive(Debug, Default)]
struct Flaky {
    store: MemoryStore,
    up: AtomicBool,
    replayed: AtomicU64,
}

impl Flaky {
    fn check(&self) -> Result<(), StoreError> {
        if self.up.load(Ordering::Relaxed) {
            Ok(())
        } else {
            Err(StoreError::Unavailable {
                op: "fake",
                message: "down".to_owned(),
            })
        }
    }
}

impl StateStore for Flaky {
    fn backend(&self) -> &'static str {
        "fake"
    }
    fn prepare(&self, layout: &Layout) -> Result<(), StoreError> {
        self.store.prepare(layout)
    }
    async fn acquire(
        &self,
        key: KeyRef<'_>,
        bucket: BucketRef<'_>,
        tokens: u64,
        now: Millis,
        policy: &HealthPolicy,
    ) -> Result<Acquired, StoreError> {
        self.check()?;
        self.store.acquire(key, bucket, tokens, now, policy).await
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
        self.check()?;
        self.store
            .finish(key, bucket, reservation, finish, now, policy)
            .await
    }
    async fn update_key<R: Send>(
        &self,
        key: KeyRef<'_>,
        f: impl FnMut(&mut KeyHealth) -> R + Send,
    ) -> Result<R, StoreError> {
        self.check()?;
        self.store.update_key(key, f).await
    }
    fn bucket_view(
        &self,
        bucket: BucketRef<'_>,
        tokens: u64,
        now: Millis,
    ) -> Result<BucketView, StoreError> {
        self.store.bucket_view(bucket, tokens, now)
    }
    fn key_usable(&self, key: KeyRef<'_>, now: Millis) -> Result<bool, StoreError> {
        self.store.key_usable(key, now)
    }
    fn key_health(&self, key: KeyRef<'_>) -> Result<KeyHealth, StoreError> {
        self.store.key_health(key)
    }
}

impl Primary for Flaky {
    fn bucket_scope(&self, _: usize) -> Option<usize> {
        Some(0)
    }
    fn key_scope(&self, _: usize) -> Option<usize> {
        Some(0)
    }
    fn scope_names(&self) -> Vec<String> {
        vec!["p".to_owned()]
    }
    fn scoped(&self) -> bool {
        false
    }
    fn name(&self, degraded: Degraded) -> &'static str {
        if degraded == Degraded::No {
            "fake"
        } else {
            "fake (degraded)"
        }
    }
    fn label(&self) -> &'static str {
        "the fake"
    }
    fn window_ms(&self) -> Option<Millis> {
        Some(60_000)
    }
    fn learned(&self, _: usize) -> Limits {
        Limits::UNKNOWN
    }
    fn seed(&self, _: &MemoryStore, _: Option<usize>, _: u64) {}
    async fn beat(&self) -> Result<Count, StoreError> {
        self.check().map(|()| (1, 60_000))
    }
    async fn probe(&self, _: usize) -> bool {
        self.check().is_ok()
    }
    fn client_time(&self) -> bool {
        false
    }
    async fn replay(
        &self,
        _: usize,
        calls: Vec<(u64, Millis, u64)>,
        _: Millis,
    ) -> Result<(), StoreError> {
        self.check()?;
        self.replayed
            .fetch_add(calls.len() as u64, Ordering::Relaxed);
        Ok(())
    }
    async fn refresh_scopes(
        &self,
        _: Millis,
        _: Vec<usize>,
    ) -> Vec<(Option<usize>, Result<(), StoreError>)> {
        vec![(None, self.check())]
    }
}

/// Lets every other task of this (current-thread) runtime run what it can.
async fn settle() {
    for _ in 0..16 {
        tokio::task::yield_now().await;
    }
}

#[tokio::test]
async fn any_primary_degrades_to_local_shares_and_hands_back_what_it_granted() {
    let clock = ManualClock::new(1_800_000_000_000);
    let store = Degrading::new(
        Flaky::default(),
        DegradeOptions {
            assumed_processes: 4,
            beat_every: Duration::from_secs(2),
            clock: Arc::new(clock.clone()),
        },
    );
    store
        .prepare(&Layout {
            keys: vec![KeyLayout {
                key_id: "a".to_owned(),
                active: true,
                fingerprint: "f".to_owned(),
                project: "p".to_owned(),
            }],
            buckets: vec![("p".to_owned(), "m".to_owned())],
            window_ms: 60_000,
        })
        .unwrap();
    let key = KeyRef {
        idx: 0,
        key_id: "a",
    };
    let bucket = BucketRef {
        idx: 0,
        project: "p",
        model: "m",
        limits: Limits {
            rpm: Some(8),
            tpm: None,
            rpd: None,
        },
    };
    store.start();
    let mut progress = store.progress();
    let policy = HealthPolicy::default();
    let now = clock.now_ms();
    let granted = |a: &Result<Acquired, StoreError>| matches!(a, Ok(Acquired::Granted { .. }));

    // The primary never answered: 8 a minute ÷ 4 assumed processes = 2 here.
    let first = store.acquire(key, bucket, 1, now, &policy).await;
    assert!(granted(&first), "{first:?}");
    assert!(store.is_degraded());
    assert_eq!(store.backend(), "fake (degraded)");
    assert_eq!(store.degraded_projects(), ["p"]);
    assert!(granted(&store.acquire(key, bucket, 1, now, &policy).await));
    assert!(
        matches!(
            store.acquire(key, bucket, 1, now, &policy).await,
            Ok(Acquired::Refused(_))
        ),
        "a share of 2"
    );

    assert_eq!(
        *progress.borrow_and_update(),
        Progress {
            rounds: 0,
            beats: 0
        }
    );
    assert!(store.is_degraded());

    // It answers. The background life probes every 500 ms of the store's clock: 1 ms short of
    // that nothing has run; at 500 ms one round writes back the 2 local calls and shares again.
    store.primary().up.store(true, Ordering::Relaxed);
    clock.advance(Duration::from_millis(499));
    settle().await;
    assert!(store.is_degraded(), "no probe before its period");
    assert_eq!(progress.borrow().rounds, 0);
    clock.advance(Duration::from_millis(1));
    // Nothing here waits on real time: the round has run once the tasks had their turn.
    settle().await;
    assert_eq!(
        *progress.borrow(),
        Progress {
            rounds: 1,
            beats: 1
        },
        "one round, one heartbeat"
    );
    assert!(!store.is_degraded());
    assert_eq!(store.primary().replayed.load(Ordering::Relaxed), 2);
    assert_eq!(store.backend(), "fake");
    assert!(store.degraded_projects().is_empty());
    // Settling: its local share (spent) holds for one more window.
    assert!(matches!(
        store.acquire(key, bucket, 1, now, &policy).await,
        Ok(Acquired::Refused(_))
    ));
}
