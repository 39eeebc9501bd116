//! [`MemoryStore`]: the pool's state in this process, one mutex per bucket and per key.

use std::sync::OnceLock;

use parking_lot::Mutex;

use crate::clock::Millis;
use crate::error::StoreError;
use crate::health::{HealthPolicy, KeyHealth};
#[cfg(feature = "redis")]
use crate::limits::Limits;
use crate::store::{Acquired, BucketRef, BucketView, Finish, KeyRef, Layout, StateStore, Tokens};
#[cfg(feature = "redis")]
use crate::window::CooldownReason;
use crate::window::Window;

#[derive(Debug)]
struct MemoryInner {
    buckets: Vec<Mutex<Window>>,
    keys: Vec<Mutex<KeySlot>>,
}

/// A key's record and who holds its half-open trial.
#[derive(Debug)]
struct KeySlot {
    health: KeyHealth,
    /// The reservation the trial was granted to (0: none known). Only its report gives the
    /// trial back, as the Redis lock's owner check does: a trial that expired unreported and
    /// reports late frees nothing of the one granted after it.
    trial: u64,
}

impl KeySlot {
    fn new(health: KeyHealth) -> Self {
        Self { health, trial: 0 }
    }
}

/// Process-local state: one mutex per bucket and per key, so unrelated keys never contend.
#[derive(Debug, Default)]
pub struct MemoryStore {
    inner: OnceLock<MemoryInner>,
}

impl MemoryStore {
    /// An empty store; the pool prepares it.
    pub fn new() -> Self {
        Self::default()
    }

    /// Bucket `idx`'s window, once laid out (seeding and write-back ignore a stray index).
    #[cfg(feature = "redis")]
    fn window_at(&self, idx: usize) -> Option<&Mutex<Window>> {
        self.inner.get()?.buckets.get(idx)
    }

    /// Overwrites a key's record (seeding a fallback from shared state).
    #[cfg(feature = "redis")]
    pub(crate) fn seed_key(&self, idx: usize, health: KeyHealth) {
        if let Some(k) = self.inner.get().and_then(|i| i.keys.get(idx)) {
            *k.lock() = KeySlot::new(health);
        }
    }

    /// Takes learned limits (seeding a fallback from shared state).
    #[cfg(feature = "redis")]
    pub(crate) fn seed_learned(&self, idx: usize, now: Millis, limits: Limits) {
        if let Some(b) = self.window_at(idx) {
            b.lock().learn(now, limits);
        }
    }

    /// Takes this process's share of usage reported elsewhere (seeding a fallback from shared
    /// state).
    #[cfg(feature = "redis")]
    pub(crate) fn seed_usage(
        &self,
        idx: usize,
        at: Millis,
        usage: crate::window::Usage,
        processes: u64,
    ) {
        if let Some(b) = self.window_at(idx) {
            b.lock().seed_usage(at, usage, processes);
        }
    }

    /// Counts a call the shared store granted (see [`Window::record`]).
    #[cfg(feature = "redis")]
    pub(crate) fn record_call(&self, idx: usize, now: Millis, tokens: u64) {
        if let Some(b) = self.window_at(idx) {
            b.lock().record(now, tokens);
        }
    }

    /// How many buckets the store was laid out with.
    #[cfg(feature = "redis")]
    pub(crate) fn bucket_count(&self) -> usize {
        self.inner.get().map_or(0, |i| i.buckets.len())
    }

    /// The calls a bucket granted itself still in its window (see [`Window::own_calls`]).
    #[cfg(feature = "redis")]
    pub(crate) fn own_calls(&self, idx: usize, now: Millis) -> Vec<(u64, Millis, u64)> {
        self.window_at(idx)
            .map(|b| b.lock().own_calls(now))
            .unwrap_or_default()
    }

    /// Cools a bucket (seeding a fallback from shared state).
    #[cfg(feature = "redis")]
    pub(crate) fn seed_cooldown(&self, idx: usize, until: Millis, reason: CooldownReason) {
        if let Some(b) = self.window_at(idx) {
            b.lock().cool(until.saturating_sub(1), until, reason);
        }
    }

    /// [`StateStore::acquire`], synchronously.
    ///
    /// # Errors
    /// When the store was not prepared for the key or bucket.
    pub fn acquire_now(
        &self,
        key: KeyRef<'_>,
        bucket: BucketRef<'_>,
        tokens: u64,
        now: Millis,
        policy: &HealthPolicy,
    ) -> Result<Acquired, StoreError> {
        let window = self.bucket(bucket)?;
        let mut slot = self.key(key)?.lock();
        let Some(trial) = slot.health.admit(now, policy) else {
            return Ok(Acquired::KeyUnavailable);
        };
        let mut w = window.lock();
        let reserved = w.reserve(now, bucket.limits, tokens);
        // The window's time: later than `now` when a caller that read the clock after this one
        // reached the window first.
        let at = w.clock();
        drop(w);
        match reserved {
            Ok(reservation) => {
                if trial {
                    slot.trial = reservation;
                }
                Ok(Acquired::Granted {
                    reservation,
                    trial,
                    at,
                })
            }
            Err(check) => {
                if trial {
                    slot.health.on_inconclusive();
                }
                Ok(Acquired::Refused(check))
            }
        }
    }

    fn inner(&self) -> Result<&MemoryInner, StoreError> {
        self.inner.get().ok_or(StoreError::NotPrepared)
    }

    fn bucket(&self, b: BucketRef<'_>) -> Result<&Mutex<Window>, StoreError> {
        self.inner()?
            .buckets
            .get(b.idx)
            .ok_or(StoreError::UnknownBucket { index: b.idx })
    }

    fn key(&self, k: KeyRef<'_>) -> Result<&Mutex<KeySlot>, StoreError> {
        self.inner()?
            .keys
            .get(k.idx)
            .ok_or(StoreError::UnknownKey { index: k.idx })
    }
}

impl StateStore for MemoryStore {
    fn backend(&self) -> &'static str {
        "memory"
    }

    fn prepare(&self, layout: &Layout) -> Result<(), StoreError> {
        let inner = MemoryInner {
            buckets: layout
                .buckets
                .iter()
                .map(|_| Mutex::new(Window::new(layout.window_ms)))
                .collect(),
            keys: layout
                .keys
                .iter()
                .map(|k| Mutex::new(KeySlot::new(KeyHealth::new(k.active))))
                .collect(),
        };
        self.inner
            .set(inner)
            .map_err(|_| StoreError::AlreadyPrepared)
    }

    fn acquire(
        &self,
        key: KeyRef<'_>,
        bucket: BucketRef<'_>,
        tokens: u64,
        now: Millis,
        policy: &HealthPolicy,
    ) -> impl Future<Output = Result<Acquired, StoreError>> + Send {
        std::future::ready(self.acquire_now(key, bucket, tokens, now, policy))
    }

    fn finish(
        &self,
        key: KeyRef<'_>,
        bucket: BucketRef<'_>,
        reservation: u64,
        finish: &Finish<'_>,
        now: Millis,
        policy: &HealthPolicy,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        let r = self.bucket(bucket).and_then(|w| {
            let mut w = w.lock();
            match finish.tokens {
                Tokens::Settle(n) => w.settle(now, reservation, n),
                Tokens::Keep => w.complete(now, reservation, None),
                Tokens::Release => w.release(now, reservation),
            }
            if let Some((until, reason)) = finish.cool_bucket {
                w.cool(now, until, reason);
            }
            w.learn(now, finish.learn);
            drop(w);
            let mut slot = self.key(key)?.lock();
            let trial_until = slot.health.trial_until;
            finish.key.apply(&mut slot.health, now, policy);
            // Only the trial's own report gives its slot back (as the Redis lock's owner check
            // does): a request admitted before the cooldown, or a trial that expired before
            // this one was granted, ending now, says nothing of it.
            if finish.trial && slot.trial == reservation {
                slot.trial = 0;
            } else {
                slot.health.trial_until = trial_until;
            }
            Ok(())
        });
        std::future::ready(r)
    }

    fn update_key<R: Send>(
        &self,
        key: KeyRef<'_>,
        mut f: impl FnMut(&mut KeyHealth) -> R + Send,
    ) -> impl Future<Output = Result<R, StoreError>> + Send {
        let r = self.key(key).map(|slot| f(&mut slot.lock().health));
        std::future::ready(r)
    }

    fn bucket_view(
        &self,
        bucket: BucketRef<'_>,
        tokens: u64,
        now: Millis,
    ) -> Result<BucketView, StoreError> {
        let mut w = self.bucket(bucket)?.lock();
        Ok(BucketView {
            check: w.check(now, bucket.limits, tokens),
            usage: w.usage(now),
            cooldown: w.cooldown(now),
            learned: w.learned(now),
        })
    }

    fn key_usable(&self, key: KeyRef<'_>, now: Millis) -> Result<bool, StoreError> {
        Ok(self.key(key)?.lock().health.usable(now))
    }

    fn key_health(&self, key: KeyRef<'_>) -> Result<KeyHealth, StoreError> {
        Ok(self.key(key)?.lock().health.clone())
    }
}
