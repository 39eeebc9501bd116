//! The Redis state backend: one key pool shared by many processes.
//!
//! Limits use the same exact sliding log as [`crate::Window`], run server-side in Lua so that a
//! reservation is all-or-nothing across a bucket's RPM, TPM and RPD in **one round trip**, on the
//! Redis server's clock, and idempotent when retried after a timeout. Reporting a call is one
//! more round trip: tokens settled or released, the bucket cooled, the key's counters bumped and
//! its state advanced by [`KeyEvent::apply`] under a version check (a conflict costs a retry).
//! A half-open trial is a lock held until a time on the scripts' clock (with an owner token,
//! released only by its owner), like cooldowns and windows.
//!
//! Key names: `<prefix>:v2:{p:<project>}:m:<model>:…` for buckets (v2: a call in flight is
//! logged at its reservation plus the hold), `<prefix>:v1:{p:<project>}:k:…` for keys.
//! Everything of one project shares one hash tag, so every script's keys sit in one slot (a Redis
//! Cluster runs each script on the master of its project), the version lets a later layout run
//! beside this one, and keys are named by their fingerprint, never their material.
//!
//! The parts: `conn.rs` (one node or a Redis Cluster), `scripts.rs` (the Lua, one file each
//! under `lua/`), `layout.rs` (key names and what a process keeps between round trips),
//! `reply.rs` (script replies decoded with length checks), `shared.rs` (each operation as a
//! round trip) and `primary.rs` (what degraded mode needs of Redis: scopes, seeds, heartbeats,
//! probes and the write-back). [`RedisStore`] is [`RedisShared`] inside
//! [`crate::Degrading`], which runs the limits locally while Redis, or a cluster master, is
//! away.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use chrono::{DateTime, Offset, TimeZone, Utc};
use chrono_tz::America::Los_Angeles;
use parking_lot::Mutex;
use redis::{Script, Value};

use crate::clock::{Clock, Millis, SystemClock};
use crate::degrading::{BEAT_EVERY_MS, DegradeOptions, Degrading};
use crate::error::StoreError;
use crate::health::{HealthPolicy, KeyHealth};
use crate::store::{Acquired, BucketRef, BucketView, Finish, KeyRef, Layout, StateStore};

mod conn;
mod layout;
mod primary;
mod reply;
mod scripts;
mod shared;

pub use conn::RedisConn;
use layout::{BucketCache, Core, KeyCache, Names, bucket_names, tag};
use reply::Reply;
use scripts::{LUA_ACQUIRE, LUA_CAS, LUA_COMMON, LUA_FINISH, LUA_PEEK, LUA_REPLAY};

/// Which clock the scripts use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RedisTime {
    /// The Redis server's `TIME`: one clock for every process (production).
    #[default]
    Server,
    /// The pool's own clock, passed in (tests that move a manual clock).
    Client,
}

/// Settings of the Redis backend.
#[derive(Debug, Clone)]
pub struct RedisOptions {
    /// Prefix of every key name (tests use their own).
    pub prefix: String,
    /// Connect timeout: a dead Redis never stalls a request longer than this (on top of the
    /// response timeout, for a command that has to connect first).
    pub connect_timeout: Duration,
    /// Command timeout, on [`Self::clock`].
    pub response_timeout: Duration,
    /// Whose clock limits run on.
    pub time: RedisTime,
    /// How many processes to assume share the limits while Redis has never answered this
    /// process, and at least as many while the process set is younger than a heartbeat period
    /// (`BOTFORGE_PROCESSES`; after that, heartbeats count them).
    pub assumed_processes: u64,
    /// How often a process announces itself (idle or not), so the others count it.
    pub beat_every: Duration,
    /// For `rediss://`: the certificate authority to trust (PEM), instead of the system's
    /// (`REDIS_CA_FILE`).
    pub ca_pem: Option<Vec<u8>>,
    /// What the timeouts, heartbeats and probes run on: real time, or the pool's manual clock
    /// in a test that steps it (a command Redis does not answer times out exactly when the
    /// test moves the clock past its timeout). Not a [`crate::ScaledClock`]: the network's
    /// latency does not speed up with a simulation.
    pub clock: Arc<dyn Clock>,
}

impl Default for RedisOptions {
    fn default() -> Self {
        Self {
            prefix: "botforge".to_owned(),
            connect_timeout: Duration::from_millis(300),
            response_timeout: Duration::from_millis(300),
            time: RedisTime::Server,
            assumed_processes: 4,
            beat_every: Duration::from_millis(u64::try_from(BEAT_EVERY_MS).unwrap_or(2_000)),
            ca_pem: None,
            clock: Arc::new(SystemClock),
        }
    }
}

/// The Redis backend: limits, health and locks shared by every process through Redis, with
/// degraded mode around it (local shares while Redis, or a cluster master, is away).
pub type RedisStore = Degrading<RedisShared>;

/// The Redis backend's shared operations, each a round trip (without degraded mode: an
/// unreachable Redis is [`StoreError::Unavailable`]).
pub struct RedisShared {
    conn: RedisConn,
    options: RedisOptions,
    owner: String,
    names: OnceLock<Names>,
    acquire: Script,
    finish: Script,
    cas: Script,
    peek: Script,
    replay: Script,
    /// The Redis server's clock minus this host's, as the last script reply showed (0 when the
    /// scripts run on the pool's clock): key state is kept on the server's clock (one clock for
    /// windows, cooldowns and trials), and read back on this host's.
    skew: AtomicI64,
}

impl std::fmt::Debug for RedisShared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisShared")
            .field("prefix", &self.options.prefix)
            .field("time", &self.options.time)
            .field("cluster", &self.conn.is_cluster())
            .finish_non_exhaustive()
    }
}

fn redis_err(op: &'static str) -> impl Fn(redis::RedisError) -> StoreError {
    move |e| {
        use redis::{ErrorKind, ServerErrorKind};
        let message = e.to_string();
        // A cluster whose master of the slot is gone, failing over, not known yet, or still
        // moving (a redirection the client's retries did not settle) is as unreachable as a
        // dead single node: the project degrades and its probe brings it back.
        let cluster_gone = e.is_cluster_error()
            || matches!(
                e.kind(),
                ErrorKind::ClusterConnectionNotFound
                    | ErrorKind::Server(ServerErrorKind::MasterDown | ServerErrorKind::BusyLoading)
            );
        if e.is_io_error()
            || e.is_timeout()
            || e.is_connection_refusal()
            || e.is_connection_dropped()
            || cluster_gone
        {
            StoreError::Unavailable { op, message }
        } else {
            StoreError::Redis { op, message }
        }
    }
}

pub(super) fn pacific_offset_ms(at: Millis) -> Millis {
    let utc = DateTime::<Utc>::from_timestamp_millis(at).unwrap_or_default();
    let off = Los_Angeles
        .offset_from_utc_datetime(&utc.naive_utc())
        .fix()
        .local_minus_utc();
    Millis::from(off) * 1000
}

impl RedisStore {
    /// Connects to `url` (`redis://HOST:PORT/DB`, `rediss://…`, or several nodes of a Redis
    /// Cluster separated by commas; one node of a cluster finds the others), failing fast when
    /// Redis does not answer.
    ///
    /// # Errors
    /// [`StoreError::Redis`] when the URL is bad or nothing answers within the timeouts.
    pub async fn connect(url: &str, options: RedisOptions) -> Result<Self, StoreError> {
        let store = Self::lazy(url, options)?;
        store.beat_now().await?;
        store.start();
        Ok(store)
    }

    /// Connects to `url`, and when Redis does not answer yet, starts degraded instead of
    /// failing: every limit at a share for [`RedisOptions::assumed_processes`] processes, while a
    /// background probe keeps trying; the state is shared from the moment Redis answers.
    ///
    /// # Errors
    /// [`StoreError::Redis`] only when the URL itself is bad, or names several nodes that are
    /// not one cluster.
    pub async fn connect_or_degrade(url: &str, options: RedisOptions) -> Result<Self, StoreError> {
        let store = Self::lazy(url, options)?;
        if let Err(e) = store.beat_now().await {
            if store.primary().conn.seeds_not_a_cluster(&e) {
                return Err(e);
            }
            store.start_degraded(&e);
        }
        store.start();
        Ok(store)
    }

    /// A store whose connection is made on first use.
    fn lazy(url: &str, options: RedisOptions) -> Result<Self, StoreError> {
        let degrade = DegradeOptions {
            assumed_processes: options.assumed_processes,
            beat_every: options.beat_every,
            clock: Arc::clone(&options.clock),
        };
        Ok(Degrading::new(RedisShared::lazy(url, options)?, degrade))
    }

    /// A connection for other shared records (resource owners) and the key prefix.
    pub(crate) fn connection(&self) -> (RedisConn, &str) {
        (self.primary().conn.clone(), &self.primary().options.prefix)
    }

    /// Whether `REDIS_URL` turned out to be a Redis Cluster.
    pub fn is_cluster(&self) -> bool {
        self.primary().conn.is_cluster()
    }

    /// [`RedisShared::acquire_with_id`], straight to Redis.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] or [`StoreError::Redis`].
    pub async fn acquire_with_id(
        &self,
        key: KeyRef<'_>,
        bucket: BucketRef<'_>,
        tokens: u64,
        now: Millis,
        policy: &HealthPolicy,
        reservation: u64,
    ) -> Result<Acquired, StoreError> {
        self.primary()
            .acquire_with_id(key, bucket, tokens, now, policy, reservation)
            .await
    }

    /// Takes a named lock for `ttl` if nobody holds it; the token releases it.
    ///
    /// # Errors
    /// [`StoreError::Redis`].
    pub async fn try_lock(&self, name: &str, ttl: Duration) -> Result<Option<String>, StoreError> {
        self.primary().try_lock(name, ttl).await
    }

    /// Releases a named lock, only if `token` still holds it.
    ///
    /// # Errors
    /// [`StoreError::Redis`].
    pub async fn unlock(&self, name: &str, token: &str) -> Result<bool, StoreError> {
        self.primary().unlock(name, token).await
    }
}

impl RedisShared {
    /// The shared part of a store whose connection is made on first use.
    fn lazy(url: &str, options: RedisOptions) -> Result<Self, StoreError> {
        let conn = RedisConn::new(url, &options)?;
        let body = |s: &str| {
            format!(
                "local HOLD = {}\n{LUA_COMMON}\n{s}",
                crate::window::INFLIGHT_HOLD_MS
            )
        };
        Ok(Self {
            conn,
            owner: format!("{:016x}", fastrand::u64(..)),
            options,
            names: OnceLock::new(),
            acquire: Script::new(&body(LUA_ACQUIRE)),
            finish: Script::new(&body(LUA_FINISH)),
            cas: Script::new(LUA_CAS),
            peek: Script::new(&body(LUA_PEEK)),
            replay: Script::new(&body(LUA_REPLAY)),
            skew: AtomicI64::new(0),
        })
    }

    fn names(&self) -> Result<&Names, StoreError> {
        self.names.get().ok_or(StoreError::NotPrepared)
    }

    /// Notes the server's time a script reply carried against this host's `now`.
    fn observe(&self, host_now: Millis, server_now: Millis) {
        if self.options.time == RedisTime::Server {
            self.skew.store(server_now - host_now, Ordering::Relaxed);
        }
    }

    /// A time on this host's clock, on the server's.
    fn to_server(&self, host: Millis) -> Millis {
        host.saturating_add(self.skew.load(Ordering::Relaxed))
    }

    /// A time on the server's clock, on this host's (0 stays 0: never).
    fn to_host(&self, server: Millis) -> Millis {
        if server == 0 {
            0
        } else {
            server.saturating_sub(self.skew.load(Ordering::Relaxed))
        }
    }

    /// A key record kept on the server's clock, with its times on this host's.
    fn health_on_host(&self, mut h: KeyHealth) -> KeyHealth {
        h.cooldown_until = self.to_host(h.cooldown_until);
        h.trial_until = self.to_host(h.trial_until);
        h.last_used = h.last_used.map(|t| self.to_host(t));
        if let Some(e) = h.last_error.as_mut() {
            e.at = self.to_host(e.at);
        }
        h
    }

    fn time_arg(&self, now: Millis) -> Millis {
        match self.options.time {
            RedisTime::Server => -1,
            RedisTime::Client => now,
        }
    }

    fn bucket_keys(&self, i: usize) -> Result<&[String; 5], StoreError> {
        self.names()?
            .buckets
            .get(i)
            .and_then(OnceLock::get)
            .ok_or(StoreError::UnknownBucket { index: i })
    }

    fn key_keys(&self, i: usize) -> Result<&[String; 2], StoreError> {
        self.names()?
            .keys
            .get(i)
            .ok_or(StoreError::UnknownKey { index: i })
    }

    fn key_cache(&self, i: usize) -> Result<&Mutex<KeyCache>, StoreError> {
        self.names()?
            .key_cache
            .get(i)
            .ok_or(StoreError::UnknownKey { index: i })
    }

    fn bucket_cache(&self, i: usize) -> Result<&Mutex<BucketCache>, StoreError> {
        self.names()?
            .bucket_cache
            .get(i)
            .ok_or(StoreError::UnknownBucket { index: i })
    }

    /// Replaces the cached core state of a key from a script reply (`v`, `s`).
    fn absorb_state(&self, key: usize, v: i64, s: &str) -> Result<(), StoreError> {
        let mut c = self.key_cache(key)?.lock();
        if v >= c.version {
            if let Ok(core) = serde_json::from_str::<Core>(s) {
                core.put(&mut c.health);
            }
            c.version = v;
        }
        Ok(())
    }

    async fn cas_loop(
        &self,
        key: KeyRef<'_>,
        mut version: i64,
        mut state: String,
        mut step: impl FnMut(&mut KeyHealth),
    ) -> Result<(), StoreError> {
        let health_key = &self.key_keys(key.idx)?[0];
        for _ in 0..16 {
            let mut h = self.key_cache(key.idx)?.lock().health.clone();
            if let Ok(core) = serde_json::from_str::<Core>(&state) {
                core.put(&mut h);
            }
            let before = Core::of(&h);
            step(&mut h);
            let after = Core::of(&h);
            if after == before {
                return self.absorb_state(key.idx, version, &state);
            }
            let json = serde_json::to_string(&after).map_err(|e| StoreError::Redis {
                op: "cas",
                message: e.to_string(),
            })?;
            let reply = self
                .cas
                .key(health_key)
                .arg(version)
                .arg(&json)
                .invoke_async::<Value>(&mut self.conn.clone())
                .await
                .map_err(redis_err("cas"))?;
            let r = Reply::of(reply, "cas")?;
            let (ok, v, s) = (r.int(0)?, r.int(1)?, r.text(2)?);
            self.absorb_state(key.idx, v, &s)?;
            if ok == 1 {
                return Ok(());
            }
            (version, state) = (v, s);
        }
        Err(StoreError::Redis {
            op: "cas",
            message: "too many concurrent updates of one key".to_owned(),
        })
    }

    /// Takes a named lock for `ttl` if nobody holds it; the token releases it.
    async fn try_lock(&self, name: &str, ttl: Duration) -> Result<Option<String>, StoreError> {
        let key = format!("{}:v1:lock:{}", self.options.prefix, tag(name));
        let token = format!("{}:{:016x}", self.owner, fastrand::u64(..));
        let ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        let set: Option<String> = redis::cmd("SET")
            .arg(&key)
            .arg(&token)
            .arg("NX")
            .arg("PX")
            .arg(ms)
            .query_async(&mut self.conn.clone())
            .await
            .map_err(redis_err("lock"))?;
        Ok(set.map(|_| token))
    }

    /// Releases a named lock, only if `token` still holds it.
    async fn unlock(&self, name: &str, token: &str) -> Result<bool, StoreError> {
        let key = format!("{}:v1:lock:{}", self.options.prefix, tag(name));
        let released: i64 = Script::new(
            "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0",
        )
        .key(key)
        .arg(token)
        .invoke_async(&mut self.conn.clone())
        .await
        .map_err(redis_err("unlock"))?;
        Ok(released == 1)
    }
}

impl StateStore for RedisShared {
    fn backend(&self) -> &'static str {
        if self.conn.is_cluster() {
            "redis cluster"
        } else {
            "redis"
        }
    }

    fn prepare(&self, layout: &Layout) -> Result<(), StoreError> {
        self.prepare_shared(layout)
    }

    fn name_bucket(&self, idx: usize, project: &str, model: &str) -> Result<(), StoreError> {
        let names = self.names()?;
        let slot = names
            .buckets
            .get(idx)
            .ok_or(StoreError::UnknownBucket { index: idx })?;
        let _ = slot.set(bucket_names(&self.options.prefix, project, model));
        Ok(())
    }

    async fn acquire(
        &self,
        key: KeyRef<'_>,
        bucket: BucketRef<'_>,
        tokens: u64,
        now: Millis,
        policy: &HealthPolicy,
    ) -> Result<Acquired, StoreError> {
        self.acquire_with_id(key, bucket, tokens, now, policy, fastrand::u64(1..))
            .await
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
        self.acquire_with_id(key, bucket, tokens, now, policy, id)
            .await
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
        self.shared_finish(key, bucket, reservation, finish, now, policy)
            .await
    }

    async fn update_key<R: Send>(
        &self,
        key: KeyRef<'_>,
        f: impl FnMut(&mut KeyHealth) -> R + Send,
    ) -> Result<R, StoreError> {
        self.shared_update_key(key, f).await
    }

    async fn refresh(&self, now: Millis) -> Result<(), StoreError> {
        for (_, result) in self.refresh_parts(now, &[]).await {
            result?;
        }
        Ok(())
    }

    fn bucket_view(
        &self,
        bucket: BucketRef<'_>,
        tokens: u64,
        now: Millis,
    ) -> Result<BucketView, StoreError> {
        self.shared_bucket_view(bucket, tokens, now)
    }

    fn key_usable(&self, key: KeyRef<'_>, now: Millis) -> Result<bool, StoreError> {
        self.shared_key_usable(key, now)
    }

    fn key_health(&self, key: KeyRef<'_>) -> Result<KeyHealth, StoreError> {
        self.shared_key_health(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_or_odd_script_reply_is_an_error_not_a_panic() {
        let r = Reply::of(Value::Array(vec![Value::Int(1), Value::Int(2)]), "acquire")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r.int(1).ok(), Some(2));
        let err = r.int(7).map(|_| ()).unwrap_err().to_string();
        assert!(err.contains("2 items where item 8 was expected"), "{err}");
        assert!(Reply::of(Value::Okay, "finish").is_err());
    }
}
