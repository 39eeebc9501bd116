//! Which project owns a resource (DESIGN.md §7, project affinity): a file, a cache or a batch
//! lives in the Google project of the key that created it, and only keys of that project can
//! use it. The gateway remembers each owner until the resource expires — in Redis when the
//! pool shares its state there (so every gateway process routes alike), and always in this
//! process's memory, which also serves while Redis cannot be reached.

use std::sync::Arc;
use std::time::Duration;

use crate::clock::{Clock, Millis};

/// The most owner records this process keeps in memory: past it the least used go (a
/// resource whose owner was forgotten is found again by asking each project).
pub const LOCAL_CAPACITY: u64 = 100_000;

/// A record and when it expires (on the pool's clock).
#[derive(Debug, Clone)]
struct Record {
    project: Arc<str>,
    until: Millis,
}

/// Each record leaves memory when its resource expires (moka's own timer, from the time left
/// when it was written); reads also check the expiry on the pool's clock.
struct UntilExpiry {
    clock: Arc<dyn Clock>,
}

impl moka::Expiry<String, Record> for UntilExpiry {
    fn expire_after_create(
        &self,
        _: &String,
        record: &Record,
        _: std::time::Instant,
    ) -> Option<Duration> {
        let left = u64::try_from(record.until - self.clock.now_ms()).unwrap_or(0);
        Some(Duration::from_millis(left))
    }

    fn expire_after_update(
        &self,
        key: &String,
        record: &Record,
        at: std::time::Instant,
        _: Option<Duration>,
    ) -> Option<Duration> {
        self.expire_after_create(key, record, at)
    }
}

/// Owners of resources, each until its expiry (a record per resource; an upload session's
/// record holds more than a project label).
pub struct Owners {
    clock: Arc<dyn Clock>,
    local: moka::sync::Cache<String, Record>,
    #[cfg(feature = "redis")]
    shared: Option<Shared>,
}

#[cfg(feature = "redis")]
struct Shared {
    conn: crate::redis_store::RedisConn,
    prefix: String,
}

impl std::fmt::Debug for Owners {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Owners")
            .field("local", &self.local.entry_count())
            .field("shared", &self.is_shared())
            .finish_non_exhaustive()
    }
}

impl Owners {
    /// Owners kept in this process only.
    pub fn in_memory(clock: Arc<dyn Clock>) -> Self {
        let local = moka::sync::Cache::builder()
            .max_capacity(LOCAL_CAPACITY)
            // The newest record is always kept (an upload session is used right after it is
            // written); the least recently used goes.
            .eviction_policy(moka::policy::EvictionPolicy::lru())
            .expire_after(UntilExpiry {
                clock: Arc::clone(&clock),
            })
            .build();
        Self {
            clock,
            local,
            #[cfg(feature = "redis")]
            shared: None,
        }
    }

    /// Owners shared through Redis (`conn`), under `prefix`, and kept in memory too.
    #[cfg(feature = "redis")]
    pub fn shared(
        clock: Arc<dyn Clock>,
        conn: crate::redis_store::RedisConn,
        prefix: &str,
    ) -> Self {
        Self {
            shared: Some(Shared {
                conn,
                prefix: prefix.to_owned(),
            }),
            ..Self::in_memory(clock)
        }
    }

    /// Whether owners are shared with other processes.
    pub fn is_shared(&self) -> bool {
        #[cfg(feature = "redis")]
        return self.shared.is_some();
        #[cfg(not(feature = "redis"))]
        false
    }

    #[cfg(feature = "redis")]
    fn name(prefix: &str, resource: &str) -> String {
        format!("{prefix}:v1:owner:{resource}")
    }

    /// `resource` (`files/abc`, `cachedContents/xyz`) lives in `project` until `expires_at`
    /// (ms since the epoch). Shared: written to Redis, with the resource's expiry as its TTL;
    /// kept in this process's memory only when Redis cannot take it (so a delete made by
    /// another process is never contradicted by a stale copy here).
    #[cfg_attr(
        not(feature = "redis"),
        expect(
            clippy::unused_async,
            reason = "it awaits Redis when the feature is on"
        )
    )]
    pub async fn remember(&self, resource: &str, project: &str, expires_at: Millis) {
        let now = self.clock.now_ms();
        if expires_at <= now {
            return;
        }
        #[cfg(feature = "redis")]
        if let Some(s) = &self.shared {
            let ttl = u64::try_from(expires_at - now).unwrap_or(1).max(1);
            let mut conn = s.conn.clone();
            let done: redis::RedisResult<()> = redis::cmd("SET")
                .arg(Self::name(&s.prefix, resource))
                .arg(project)
                .arg("PX")
                .arg(ttl)
                .query_async(&mut conn)
                .await;
            match done {
                Ok(()) => {
                    self.local.invalidate(resource);
                    return;
                }
                Err(e) => {
                    tracing::warn!(resource, error = %e,
                        "could not share a resource's owner through Redis; this process remembers it");
                }
            }
        }
        self.local.insert(
            resource.to_owned(),
            Record {
                project: Arc::from(project),
                until: expires_at,
            },
        );
    }

    /// The project that owns `resource`, if known and not expired. When shared, Redis is the
    /// truth (another process may have made or deleted it); this process's memory answers for
    /// what it remembered while Redis could not be reached.
    #[cfg_attr(
        not(feature = "redis"),
        expect(
            clippy::unused_async,
            reason = "it awaits Redis when the feature is on"
        )
    )]
    pub async fn owner(&self, resource: &str) -> Option<String> {
        #[cfg(feature = "redis")]
        if let Some(s) = &self.shared {
            let mut conn = s.conn.clone();
            let got: redis::RedisResult<Option<String>> = redis::cmd("GET")
                .arg(Self::name(&s.prefix, resource))
                .query_async(&mut conn)
                .await;
            match got {
                Ok(Some(project)) => return Some(project),
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(resource, error = %e, "could not read a resource's owner from Redis");
                }
            }
        }
        let now = self.clock.now_ms();
        self.local
            .get(resource)
            .filter(|r| r.until > now)
            .map(|r| r.project.to_string())
    }

    /// `resource` is gone (deleted).
    #[cfg_attr(
        not(feature = "redis"),
        expect(
            clippy::unused_async,
            reason = "it awaits Redis when the feature is on"
        )
    )]
    pub async fn forget(&self, resource: &str) {
        self.local.invalidate(resource);
        #[cfg(feature = "redis")]
        if let Some(s) = &self.shared {
            let mut conn = s.conn.clone();
            let done: redis::RedisResult<()> = redis::cmd("DEL")
                .arg(Self::name(&s.prefix, resource))
                .query_async(&mut conn)
                .await;
            if let Err(e) = done {
                tracing::warn!(resource, error = %e, "could not forget a resource's owner in Redis");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    #[tokio::test]
    async fn an_owner_is_known_until_its_resource_expires_or_is_deleted() {
        let clock = Arc::new(ManualClock::new(1_000));
        let owners = Owners::in_memory(clock.clone());
        owners.remember("files/a", "proj-a", 5_000).await;
        owners.remember("files/b", "proj-b", 5_000).await;
        owners.remember("files/old", "proj-b", 500).await;
        assert_eq!(owners.owner("files/a").await.as_deref(), Some("proj-a"));
        assert_eq!(owners.owner("files/old").await, None);
        owners.forget("files/b").await;
        assert_eq!(owners.owner("files/b").await, None);
        clock.advance(std::time::Duration::from_secs(4));
        assert_eq!(owners.owner("files/a").await, None);
    }

    /// Issue 30: the records are bounded however many a client makes (a map scanned whole
    /// under one lock grew without bound between sweeps).
    #[tokio::test]
    async fn the_records_in_memory_are_bounded() {
        let clock = Arc::new(ManualClock::new(1_000));
        let owners = Owners::in_memory(clock.clone());
        let far = 1_000 + 3_600_000;
        for i in 0..(LOCAL_CAPACITY + 5_000) {
            owners.remember(&format!("files/f{i}"), "p", far).await;
        }
        owners.local.run_pending_tasks();
        assert!(
            owners.local.entry_count() <= LOCAL_CAPACITY,
            "{}",
            owners.local.entry_count()
        );
        // The latest ones are still known.
        let last = format!("files/f{}", LOCAL_CAPACITY + 4_999);
        assert_eq!(owners.owner(&last).await.as_deref(), Some("p"));
    }
}
