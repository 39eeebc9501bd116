//! Where pool state lives. The selection and limit rules sit in [`crate::KeyPool`]; a backend
//! only has to apply them atomically: reserve on a bucket all-or-nothing, settle or release a
//! reservation, cool a bucket, and update a key's health record through a pure function.
//!
//! [`MemoryStore`] keeps everything in this process. A Redis backend (shared by many processes)
//! implements the same trait with server-side scripts.

use parking_lot::Mutex;
use std::sync::OnceLock;

use crate::clock::Millis;
use crate::error::StoreError;
use crate::health::KeyHealth;
use crate::limits::Limits;
use crate::window::{Check, CooldownReason, Usage, Window};

/// A bucket as the store sees it: a dense index plus names (for backends that key by name).
#[derive(Debug, Clone, Copy)]
pub struct BucketRef<'a> {
    /// Dense index, `0..layout.buckets.len()`.
    pub idx: usize,
    /// Project label (a key without one is its own project).
    pub project: &'a str,
    /// Model name.
    pub model: &'a str,
    /// The bucket's limits.
    pub limits: Limits,
}

/// A key as the store sees it: a dense index and a non-secret fingerprint.
#[derive(Debug, Clone, Copy)]
pub struct KeyRef<'a> {
    /// Dense index, `0..layout.keys.len()`.
    pub idx: usize,
    /// Configured id.
    pub key_id: &'a str,
}

/// The shape of a pool, given to a store once before use.
#[derive(Debug, Clone)]
pub struct Layout {
    /// Each key's id and configured `active` flag.
    pub keys: Vec<(String, bool)>,
    /// Each bucket's (project, model).
    pub buckets: Vec<(String, String)>,
    /// Length of the RPM/TPM window in milliseconds (60,000 plus any safety margin).
    pub window_ms: Millis,
}

/// What a store can see of a bucket without changing it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BucketView {
    /// Whether a request of the asked size fits now.
    pub check: Check,
    /// Usage now.
    pub usage: Usage,
    /// The bucket's cooldown, if any.
    pub cooldown: Option<(Millis, CooldownReason)>,
}

/// Atomic state operations behind the pool.
pub trait StateStore: Send + Sync + 'static {
    /// A short name for health output (`memory`, `redis`).
    fn backend(&self) -> &'static str;

    /// Sizes the store for a pool. Called once by the pool's constructor.
    ///
    /// # Errors
    /// When the store cannot be prepared (already prepared for another layout).
    fn prepare(&self, layout: &Layout) -> Result<(), StoreError>;

    /// Reserves one request of `tokens` on a bucket if RPM, TPM and RPD all allow it.
    fn reserve(
        &self,
        bucket: BucketRef<'_>,
        tokens: u64,
        now: Millis,
    ) -> impl Future<Output = Result<Result<u64, Check>, StoreError>> + Send;

    /// Replaces a reservation's estimate by the actual token count.
    fn settle(
        &self,
        bucket: BucketRef<'_>,
        reservation: u64,
        actual_tokens: u64,
        now: Millis,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Undoes a reservation whose request was never answered by upstream.
    fn release(
        &self,
        bucket: BucketRef<'_>,
        reservation: u64,
        now: Millis,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Cools a bucket until `until` (never shortens an existing cooldown).
    fn cool_bucket(
        &self,
        bucket: BucketRef<'_>,
        until: Millis,
        reason: CooldownReason,
        now: Millis,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Applies `f` to a key's health record atomically and returns its result.
    fn update_key<R: Send>(
        &self,
        key: KeyRef<'_>,
        f: impl FnMut(&mut KeyHealth) -> R + Send,
    ) -> impl Future<Output = Result<R, StoreError>> + Send;

    /// A bucket's state for a request of `tokens` (for selection and health output).
    /// Cheap and synchronous: a shared backend answers from its latest knowledge.
    ///
    /// # Errors
    /// When the store was not prepared for this bucket.
    fn bucket_view(
        &self,
        bucket: BucketRef<'_>,
        tokens: u64,
        now: Millis,
    ) -> Result<BucketView, StoreError>;

    /// Whether a key can be admitted now (cheap and synchronous, like [`Self::bucket_view`]).
    ///
    /// # Errors
    /// When the store was not prepared for this key.
    fn key_usable(&self, key: KeyRef<'_>, now: Millis) -> Result<bool, StoreError>;

    /// A copy of a key's health record (cheap and synchronous, like [`Self::bucket_view`]).
    ///
    /// # Errors
    /// When the store was not prepared for this key.
    fn key_health(&self, key: KeyRef<'_>) -> Result<KeyHealth, StoreError>;
}

#[derive(Debug)]
struct MemoryInner {
    buckets: Vec<Mutex<Window>>,
    keys: Vec<Mutex<KeyHealth>>,
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

    fn inner(&self) -> Result<&MemoryInner, StoreError> {
        self.inner.get().ok_or(StoreError::NotPrepared)
    }

    fn bucket(&self, b: BucketRef<'_>) -> Result<&Mutex<Window>, StoreError> {
        self.inner()?
            .buckets
            .get(b.idx)
            .ok_or(StoreError::UnknownBucket { index: b.idx })
    }

    fn key(&self, k: KeyRef<'_>) -> Result<&Mutex<KeyHealth>, StoreError> {
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
                .map(|(_, active)| Mutex::new(KeyHealth::new(*active)))
                .collect(),
        };
        self.inner
            .set(inner)
            .map_err(|_| StoreError::AlreadyPrepared)
    }

    fn reserve(
        &self,
        bucket: BucketRef<'_>,
        tokens: u64,
        now: Millis,
    ) -> impl Future<Output = Result<Result<u64, Check>, StoreError>> + Send {
        let r = self
            .bucket(bucket)
            .map(|w| w.lock().reserve(now, bucket.limits, tokens));
        std::future::ready(r)
    }

    fn settle(
        &self,
        bucket: BucketRef<'_>,
        reservation: u64,
        actual_tokens: u64,
        now: Millis,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        let r = self
            .bucket(bucket)
            .map(|w| w.lock().settle(now, reservation, actual_tokens));
        std::future::ready(r)
    }

    fn release(
        &self,
        bucket: BucketRef<'_>,
        reservation: u64,
        now: Millis,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        let r = self
            .bucket(bucket)
            .map(|w| w.lock().release(now, reservation));
        std::future::ready(r)
    }

    fn cool_bucket(
        &self,
        bucket: BucketRef<'_>,
        until: Millis,
        reason: CooldownReason,
        now: Millis,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        let r = self
            .bucket(bucket)
            .map(|w| w.lock().cool(now, until, reason));
        std::future::ready(r)
    }

    fn update_key<R: Send>(
        &self,
        key: KeyRef<'_>,
        mut f: impl FnMut(&mut KeyHealth) -> R + Send,
    ) -> impl Future<Output = Result<R, StoreError>> + Send {
        let r = self.key(key).map(|h| f(&mut h.lock()));
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
        })
    }

    fn key_usable(&self, key: KeyRef<'_>, now: Millis) -> Result<bool, StoreError> {
        Ok(self.key(key)?.lock().usable(now))
    }

    fn key_health(&self, key: KeyRef<'_>) -> Result<KeyHealth, StoreError> {
        Ok(self.key(key)?.lock().clone())
    }
}
