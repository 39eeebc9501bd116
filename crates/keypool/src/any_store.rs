//! [`AnyStore`]: the backend picked at run time. It depends on both backends; neither on it.

use crate::clock::Millis;
use crate::error::StoreError;
use crate::health::{HealthPolicy, KeyHealth};
use crate::memory_store::MemoryStore;
use crate::store::{Acquired, BucketRef, BucketView, Finish, KeyRef, Layout, StateStore};

/// The backend picked at run time: in-process, or Redis when `REDIS_URL` is set.
#[derive(Debug)]
#[non_exhaustive]
pub enum AnyStore {
    /// In-process state.
    Memory(MemoryStore),
    /// Shared state in Redis.
    #[cfg(feature = "redis")]
    Redis(Box<crate::redis_store::RedisStore>),
}

impl AnyStore {
    /// A record of resource owners beside this state: shared through the same Redis, or in
    /// memory.
    pub fn owners(&self, clock: std::sync::Arc<dyn crate::clock::Clock>) -> crate::owners::Owners {
        match self {
            AnyStore::Memory(_) => crate::owners::Owners::in_memory(clock),
            #[cfg(feature = "redis")]
            AnyStore::Redis(r) => {
                let (conn, prefix) = r.connection();
                crate::owners::Owners::shared(clock, conn, prefix)
            }
        }
    }
}

impl AnyStore {
    /// Whether every process's activity is summed in Redis (the pool shares its state there).
    pub fn shares_activity(&self) -> bool {
        !matches!(self, AnyStore::Memory(_))
    }

    /// Adds what `log` counted since its last flush to the shared sums (nothing to do when
    /// not shared); on failure the counts stay in `log` for the next flush.
    ///
    /// # Errors
    /// [`StoreError::Redis`] when Redis could not take them.
    #[cfg_attr(
        not(feature = "redis"),
        expect(
            clippy::unused_async,
            reason = "it awaits Redis when the feature is on"
        )
    )]
    pub async fn flush_activity(
        &self,
        log: &crate::activity::ActivityLog,
    ) -> Result<(), crate::error::StoreError> {
        match self {
            AnyStore::Memory(_) => {
                let _ = log;
                Ok(())
            }
            #[cfg(feature = "redis")]
            AnyStore::Redis(r) => {
                let (conn, prefix) = r.connection();
                crate::activity::ActivityShare::new(conn, prefix)
                    .flush(log)
                    .await
                    .map_err(|e| crate::error::StoreError::Redis {
                        op: "activity flush",
                        message: e.to_string(),
                    })
            }
        }
    }

    /// The last hour's activity: every process's sums when shared, else `log`'s own.
    ///
    /// # Errors
    /// [`StoreError::Redis`] when Redis could not be read.
    #[cfg_attr(
        not(feature = "redis"),
        expect(
            clippy::unused_async,
            reason = "it awaits Redis when the feature is on"
        )
    )]
    pub async fn read_activity(
        &self,
        log: &crate::activity::ActivityLog,
        now: crate::clock::Millis,
    ) -> Result<crate::activity::Hour, crate::error::StoreError> {
        match self {
            AnyStore::Memory(_) => {
                let _ = now;
                Ok(log.local())
            }
            #[cfg(feature = "redis")]
            AnyStore::Redis(r) => {
                let (conn, prefix) = r.connection();
                crate::activity::ActivityShare::new(conn, prefix)
                    .read(log.names(), now)
                    .await
                    .map_err(|e| crate::error::StoreError::Redis {
                        op: "activity read",
                        message: e.to_string(),
                    })
            }
        }
    }
}

macro_rules! dispatch {
    ($self:ident, $s:ident => $e:expr) => {
        match $self {
            AnyStore::Memory($s) => $e,
            #[cfg(feature = "redis")]
            AnyStore::Redis($s) => $e,
        }
    };
}

/// [`dispatch!`] for an async operation: the Redis backend's future is boxed, so the futures of
/// every caller (select, report, the failover loop and the gateway's handlers above them) stay
/// the in-process store's size, which a memory pool moves around on every request.
macro_rules! dispatch_async {
    ($self:ident, $s:ident => $e:expr) => {
        match $self {
            AnyStore::Memory($s) => $e.await,
            #[cfg(feature = "redis")]
            AnyStore::Redis($s) => Box::pin($e).await,
        }
    };
}

impl StateStore for AnyStore {
    fn backend(&self) -> &'static str {
        dispatch!(self, s => s.backend())
    }

    fn local_projects(&self) -> Vec<String> {
        dispatch!(self, s => s.local_projects())
    }

    fn prepare(&self, layout: &Layout) -> Result<(), StoreError> {
        dispatch!(self, s => s.prepare(layout))
    }

    fn name_bucket(&self, idx: usize, project: &str, model: &str) -> Result<(), StoreError> {
        dispatch!(self, s => s.name_bucket(idx, project, model))
    }

    async fn acquire(
        &self,
        key: KeyRef<'_>,
        bucket: BucketRef<'_>,
        tokens: u64,
        now: Millis,
        policy: &HealthPolicy,
    ) -> Result<Acquired, StoreError> {
        dispatch_async!(self, s => s.acquire(key, bucket, tokens, now, policy))
    }

    async fn acquire_as(
        &self,
        key: KeyRef<'_>,
        bucket: BucketRef<'_>,
        tokens: u64,
        now: Millis,
        policy: &HealthPolicy,
        id: u64,
    ) -> Result<Acquired, StoreError> {
        dispatch_async!(self, s => s.acquire_as(key, bucket, tokens, now, policy, id))
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
        dispatch_async!(self, s => s.finish(key, bucket, reservation, finish, now, policy))
    }

    async fn update_key<R: Send>(
        &self,
        key: KeyRef<'_>,
        f: impl FnMut(&mut KeyHealth) -> R + Send,
    ) -> Result<R, StoreError> {
        dispatch_async!(self, s => s.update_key(key, f))
    }

    async fn refresh(&self, now: Millis) -> Result<(), StoreError> {
        dispatch_async!(self, s => s.refresh(now))
    }

    fn bucket_view(
        &self,
        bucket: BucketRef<'_>,
        tokens: u64,
        now: Millis,
    ) -> Result<BucketView, StoreError> {
        dispatch!(self, s => s.bucket_view(bucket, tokens, now))
    }

    fn key_usable(&self, key: KeyRef<'_>, now: Millis) -> Result<bool, StoreError> {
        dispatch!(self, s => s.key_usable(key, now))
    }

    fn key_health(&self, key: KeyRef<'_>) -> Result<KeyHealth, StoreError> {
        dispatch!(self, s => s.key_health(key))
    }
}
