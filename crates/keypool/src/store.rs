//! Where pool state lives. The selection and limit rules sit in [`crate::KeyPool`]; a backend
//! only has to apply them atomically: reserve on a bucket all-or-nothing, settle or release a
//! reservation, cool a bucket, and update a key's health record through a pure function.
//!
//! [`crate::MemoryStore`] (`memory_store.rs`) keeps everything in this process;
//! [`crate::RedisStore`] (`redis_store/`, shared by many processes) implements the same trait
//! with server-side scripts, falling back to a memory store while Redis is away; `AnyStore`
//! (`any_store.rs`) picks one at run time. This module depends on neither.

use crate::clock::Millis;
use crate::error::StoreError;
use crate::health::{HealthPolicy, KeyHealth};
use crate::limits::Limits;
use crate::window::{Check, CooldownReason, Usage};

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

/// A key as a store is told about it.
#[derive(Debug, Clone)]
pub struct KeyLayout {
    /// Configured id.
    pub key_id: String,
    /// Configured `active` flag (the state until a record exists).
    pub active: bool,
    /// [`crate::ApiKey::fingerprint`]: what shared state is keyed by.
    pub fingerprint: String,
    /// The key's project (its buckets' project).
    pub project: String,
}

/// The shape of a pool, given to a store once before use.
#[derive(Debug, Clone)]
pub struct Layout {
    /// Each key.
    pub keys: Vec<KeyLayout>,
    /// Each bucket's (project, model); an empty model for a bucket named later
    /// ([`StateStore::name_bucket`]).
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
    /// What Google's 429s taught about its limits (shared through Redis).
    pub learned: Limits,
}

/// The outcome of [`StateStore::acquire`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Acquired {
    /// The key was admitted and the bucket reserved.
    Granted {
        /// Reservation id, to settle or release later.
        reservation: u64,
        /// This request is the key's half-open trial.
        trial: bool,
        /// When it was granted, on the store's clock (Redis: the server's).
        at: Millis,
    },
    /// The key is cooling, disabled, or its half-open trial is taken.
    KeyUnavailable,
    /// The bucket has no room (or is cooling).
    Refused(Check),
}

/// What happens to a reservation's tokens when its call ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tokens {
    /// Replace the estimate by the real input token count.
    Settle(u64),
    /// Keep the estimate (upstream may have counted the request).
    Keep,
    /// Undo the reservation: upstream never counted the request.
    Release,
}

/// What a finished call does to the key's health record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyEvent<'a> {
    /// Success: counts, restores a half-open key.
    Success,
    /// A transient failure.
    Transient {
        /// The call was the half-open trial.
        trial: bool,
        /// Short description.
        detail: &'a str,
    },
    /// The key is broken: deactivated.
    Broken {
        /// Short description.
        detail: &'a str,
    },
    /// A 429 on the key's bucket.
    RateLimited {
        /// Outcome class label.
        class: &'a str,
        /// Short description.
        detail: &'a str,
    },
    /// No verdict on the key (caller's fault, not sent): frees a trial slot.
    Inconclusive,
}

impl KeyEvent<'_> {
    /// Applies the event to a record: the one transition function every backend uses.
    pub fn apply(&self, h: &mut KeyHealth, now: Millis, policy: &HealthPolicy) {
        match *self {
            KeyEvent::Success => h.on_success(now),
            KeyEvent::Transient { trial, detail } => h.on_transient(now, trial, detail, policy),
            KeyEvent::Broken { detail } => h.on_broken(now, detail),
            KeyEvent::RateLimited { class, detail } => h.on_rate_limited(now, class, detail),
            KeyEvent::Inconclusive => h.on_inconclusive(),
        }
    }
}

/// Everything a finished call changes, applied together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Finish<'a> {
    /// The call was the key's half-open trial (its slot is given back).
    pub trial: bool,
    /// The reservation's tokens.
    pub tokens: Tokens,
    /// Cool the bucket until then, for this reason (never shortens a cooldown).
    pub cool_bucket: Option<(Millis, CooldownReason)>,
    /// The key's event.
    pub key: KeyEvent<'a>,
    /// Limits a 429's `quotaValue` reported for the bucket (unknown: nothing to learn).
    pub learn: Limits,
}

/// Atomic state operations behind the pool. A shared backend answers `acquire` and `finish`
/// in one round trip each; the synchronous views answer from its latest knowledge.
pub trait StateStore: Send + Sync + 'static {
    /// A short name for health output (`memory`, `redis`).
    fn backend(&self) -> &'static str;

    /// The projects whose limits run on this process's local shares now because the shared
    /// state cannot be reached (all of them while Redis is down; in a cluster, those of an
    /// unavailable master). Empty for a store that cannot degrade.
    fn local_projects(&self) -> Vec<String> {
        Vec::new()
    }

    /// Sizes the store for a pool. Called once by the pool's constructor.
    ///
    /// # Errors
    /// When the store cannot be prepared (already prepared for another layout).
    fn prepare(&self, layout: &Layout) -> Result<(), StoreError>;

    /// Names a bucket the layout left unnamed (a model without a bucket of its own when the
    /// pool was made, adopted later: [`Layout::buckets`] gives it an empty model). Called
    /// before any operation on the bucket; a store that keys state by index needs nothing.
    ///
    /// # Errors
    /// [`StoreError::UnknownBucket`] for an index beyond the layout.
    fn name_bucket(&self, idx: usize, project: &str, model: &str) -> Result<(), StoreError> {
        let _ = (idx, project, model);
        Ok(())
    }

    /// Admits the key (taking its half-open trial when due) and reserves one request of
    /// `tokens` on the bucket if RPM, TPM and RPD all allow it; all or nothing.
    fn acquire(
        &self,
        key: KeyRef<'_>,
        bucket: BucketRef<'_>,
        tokens: u64,
        now: Millis,
        policy: &HealthPolicy,
    ) -> impl Future<Output = Result<Acquired, StoreError>> + Send;

    /// [`Self::acquire`] with a reservation id chosen by the caller, for a backend that can
    /// take one (a shared one, where a request may be cancelled while its reservation is in
    /// flight: it is then finished by this id, whether or not it landed). A grant may carry
    /// another id (the in-process store numbers its own); the default ignores `id`.
    fn acquire_as(
        &self,
        key: KeyRef<'_>,
        bucket: BucketRef<'_>,
        tokens: u64,
        now: Millis,
        policy: &HealthPolicy,
        id: u64,
    ) -> impl Future<Output = Result<Acquired, StoreError>> + Send {
        let _ = id;
        self.acquire(key, bucket, tokens, now, policy)
    }

    /// Applies the end of a call: tokens, bucket cooldown and the key's event.
    fn finish(
        &self,
        key: KeyRef<'_>,
        bucket: BucketRef<'_>,
        reservation: u64,
        finish: &Finish<'_>,
        now: Millis,
        policy: &HealthPolicy,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Applies `f` to a key's health record atomically and returns its result (operator
    /// actions: enable, disable).
    fn update_key<R: Send>(
        &self,
        key: KeyRef<'_>,
        f: impl FnMut(&mut KeyHealth) -> R + Send,
    ) -> impl Future<Output = Result<R, StoreError>> + Send;

    /// Brings the synchronous views up to date with shared state (a no-op in memory).
    fn refresh(&self, _now: Millis) -> impl Future<Output = Result<(), StoreError>> + Send {
        std::future::ready(Ok(()))
    }

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
