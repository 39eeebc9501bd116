//! Degraded mode: while Redis is down or slow, limits run in this process at a conservative
//! share; a heartbeat counts the live processes, a probe notices Redis back, and what changed
//! meanwhile is written back.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use redis::Script;

use super::scripts::LUA_BEAT;
use super::{RedisConn, RedisStore, redis_err};
use crate::clock::Millis;
use crate::error::StoreError;
use crate::limits::Limits;
use crate::memory_store::MemoryStore;
use crate::store::{BucketRef, KeyRef, StateStore};

/// Degraded mode: while Redis is down or slow, limits run in this process at a conservative
/// share of each limit (limit / live processes, counted from heartbeats while Redis answered).
#[derive(Debug)]
pub(super) struct Degrade {
    pub(super) local: MemoryStore,
    pub(super) down: AtomicBool,
    /// Wall-clock ms of the last probe or heartbeat started (one at a time).
    pub(super) last_probe: AtomicI64,
    pub(super) last_beat: AtomicI64,
    pub(super) live: AtomicU64,
    /// Keys whose activation changed here while degraded (found broken, enabled or disabled by
    /// an operator): written back to Redis once it answers.
    pub(super) dirty: Mutex<std::collections::BTreeSet<usize>>,
    /// Whether `dirty` holds any (checked without the lock on every shared operation).
    pub(super) pending: AtomicBool,
    /// Wall-clock ms when Redis last came back after this process ran degraded (0: never).
    pub(super) recovered_at: AtomicI64,
    /// How to write back what this process spent while degraded (set when the pool is laid
    /// out).
    pub(super) replay: std::sync::OnceLock<Replay>,
    /// The pool's clock as last seen while degraded (for scripts on the client's clock).
    pub(super) last_now: AtomicI64,
    /// The processes the local shares assumed when Redis came back: while settling, shares stay
    /// that small even if the first heartbeats count fewer (the others have not beaten yet).
    pub(super) settle_live: AtomicU64,
    /// Whether the last heartbeat's count can be trusted (see [`Degrade::counted`]); until one
    /// can, at least `BOTFORGE_PROCESSES` are assumed.
    pub(super) trusted: AtomicBool,
    /// The heartbeat period (ms).
    pub(super) beat_ms: Millis,
    /// When the count in `live` was taken (see [`Degrade::counted`]).
    pub(super) peak_at: AtomicI64,
    /// Held while the local fallback is seeded, before it serves.
    pub(super) seeding: Mutex<()>,
    /// Per project (a Redis Cluster): cut off while the master holding it does not answer.
    pub(super) cut: std::sync::OnceLock<Box<[super::cut::Cut]>>,
}

/// What the write-back of degraded usage needs, without the store itself (it runs in the
/// background task that notices Redis back).
#[derive(Debug)]
pub(super) struct Replay {
    /// Each bucket's window keys: log, tok, day.
    pub(super) buckets: Vec<[String; 3]>,
    /// Each bucket's project.
    pub(super) bucket_project: Vec<usize>,
    /// Per project, a key name that routes to its master (see `Names::probes`).
    pub(super) probes: Vec<String>,
    pub(super) window_ms: Millis,
    pub(super) script: Script,
    /// Prefix of the replayed calls' ids (this process).
    pub(super) owner: String,
    /// Scripts run on the pool's clock (tests), not the server's.
    pub(super) client_time: bool,
}

impl Degrade {
    /// A heartbeat counted `live` processes in a set that has existed `age` ms. A set younger
    /// than a heartbeat period (every process started at once, or its node came back empty)
    /// may miss processes that have not beaten since: that count is not trusted. A count lower
    /// than the last one is taken only once that one is a heartbeat lifetime old: a process
    /// that stopped leaves the set within that time anyway.
    pub(super) fn counted(&self, (live, age): Count) {
        let now = RedisStore::wall_ms();
        let live = live.max(1);
        self.trusted.store(age >= self.beat_ms, Ordering::Relaxed);
        let stale = now - self.peak_at.load(Ordering::Relaxed) > BEAT_TTL_MS;
        if live >= self.live.load(Ordering::Relaxed) || stale {
            self.live.store(live, Ordering::Relaxed);
            self.peak_at.store(now, Ordering::Relaxed);
        }
    }

    /// Redis answers again (or for the first time, for a process started before it): the local
    /// shares hold for one more window.
    pub(super) fn came_back(&self) {
        self.settle_live
            .store(self.live.load(Ordering::Relaxed), Ordering::Relaxed);
        self.recovered_at
            .store(RedisStore::wall_ms(), Ordering::Relaxed);
    }

    /// Adds to Redis what this process granted itself while degraded, bucket by bucket, each
    /// call by its own id (a replay that is retried counts nothing twice), before the process
    /// shares again: then every process counts those calls until they leave the window.
    /// `only`: the buckets of one project (a cluster master back), else all.
    pub(super) async fn replay(
        &self,
        conn: &mut RedisConn,
        only: Option<usize>,
    ) -> redis::RedisResult<()> {
        let Some(plan) = self.replay.get() else {
            return Ok(());
        };
        let now = if plan.client_time {
            self.last_now.load(Ordering::Relaxed)
        } else {
            RedisStore::wall_ms()
        };
        for (i, [log, tok, day]) in plan.buckets.iter().enumerate() {
            if only.is_some_and(|p| plan.bucket_project.get(i) != Some(&p)) {
                continue;
            }
            let calls = self.local.own_calls(i, now);
            if calls.is_empty() {
                continue;
            }
            let mut invocation = plan.script.key(log);
            invocation
                .key(tok)
                .key(day)
                .arg(if plan.client_time { now } else { -1 })
                .arg(plan.window_ms)
                .arg(super::pacific_offset_ms(now));
            for (id, at, tokens) in &calls {
                invocation
                    .arg(format!("{}:d{id}", plan.owner))
                    .arg(*at)
                    .arg(*tokens);
            }
            invocation.invoke_async::<i64>(conn).await?;
        }
        Ok(())
    }

    /// Redis answered a heartbeat or probe: back to shared state if this process was degraded
    /// and what it spent meanwhile is written; `false` while that write fails (it stays
    /// degraded and the next probe tries again).
    pub(super) async fn answered(&self, live: Count, conn: &mut RedisConn) -> bool {
        if self.down.load(Ordering::Acquire) {
            if let Err(e) = self.replay(conn, None).await {
                tracing::warn!(error = %e, "Redis answers, but what was spent meanwhile is not written yet; staying on local shares");
                return false;
            }
            self.came_back();
            self.counted(live);
            self.down.store(false, Ordering::Release);
            tracing::warn!("Redis answers: limits and health are shared from now on");
            return true;
        }
        self.counted(live);
        true
    }
}

/// What a heartbeat counted: live processes, and how long (ms) the process set has existed.
pub(super) type Count = (u64, i64);

/// One heartbeat: finds out first (once) whether Redis is a cluster; what it counted.
async fn beat(conn: &mut RedisConn, key: &str, owner: &str) -> Result<Count, StoreError> {
    conn.detect().await?;
    // The set's age lives beside it, in its slot (the set's name is its hash tag).
    Script::new(LUA_BEAT)
        .key(key)
        .key(format!("{{{key}}}:since"))
        .arg(owner)
        .arg(BEAT_TTL_MS)
        .invoke_async::<Count>(conn)
        .await
        .map_err(redis_err("heartbeat"))
}

/// A heartbeat got no answer: the process count stays as last seen. Nothing degrades here: the
/// next operation that meets the outage does, after seeding the local shares from the shared
/// state (which the heartbeat task does not hold); in a cluster the process set lives on one
/// master, whose loss says nothing of the others.
fn beat_failed(conn: &RedisConn, e: &StoreError) {
    tracing::debug!(error = %e, cluster = conn.is_cluster(),
        "heartbeat failed; the process count stays as last seen");
}

pub(super) const PROBE_EVERY_MS: i64 = 500;

pub(super) const BEAT_EVERY_MS: i64 = 2_000;

pub(super) const BEAT_TTL_MS: i64 = 10_000;

impl RedisStore {
    /// The store's background life, until the store is dropped: a heartbeat every
    /// [`RedisOptions::beat_every`] while Redis answers (an idle process is still counted by the
    /// others), and a probe every 500 ms while it does not (a process started before Redis, or
    /// cut off from it, shares again as soon as it answers, idle or not).
    pub(super) fn keep_alive(&self) {
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let degrade = Arc::downgrade(&self.degrade);
        let mut conn = self.conn.clone();
        let key = self.procs_key();
        let owner = self.owner.clone();
        let beat_every = self.options.beat_every;
        let probe_every = Duration::from_millis(u64::try_from(PROBE_EVERY_MS).unwrap_or(500));
        handle.spawn(async move {
            let mut last_beat = tokio::time::Instant::now();
            loop {
                let probing = degrade
                    .upgrade()
                    .is_some_and(|d| d.down.load(Ordering::Relaxed) || d.any_cut());
                tokio::time::sleep(if probing {
                    probe_every
                } else {
                    beat_every.min(probe_every)
                })
                .await;
                // The store is gone: nothing left to keep alive.
                let Some(d) = degrade.upgrade() else {
                    return;
                };
                // A cluster's master back: its projects share again.
                if d.any_cut() {
                    d.probe_cut(&mut conn).await;
                }
                let down = d.down.load(Ordering::Relaxed);
                if !down && last_beat.elapsed() < beat_every {
                    continue;
                }
                last_beat = tokio::time::Instant::now();
                match beat(&mut conn, &key, &owner).await {
                    Ok(live) => {
                        d.answered(live, &mut conn).await;
                    }
                    Err(e) => beat_failed(&conn, &e),
                }
            }
        });
    }

    pub(super) fn procs_key(&self) -> String {
        format!("{}:v1:procs", self.options.prefix)
    }

    pub(super) async fn beat_now(&self) -> Result<(), StoreError> {
        let live = beat(&mut self.conn.clone(), &self.procs_key(), &self.owner).await?;
        self.degrade.counted(live);
        Ok(())
    }

    pub(super) fn wall_ms() -> Millis {
        crate::clock::Clock::now_ms(&crate::clock::SystemClock)
    }

    /// Starts a background job (a heartbeat, or a probe while degraded) unless one started
    /// within `every_ms`. The job is one Redis command bounded by the response timeout, so it
    /// ends by itself; no task outlives it.
    pub(super) fn spawn_job(&self, last: &AtomicI64, every_ms: i64, probe: bool) {
        let now = Self::wall_ms();
        let prev = last.load(Ordering::Relaxed);
        if now - prev < every_ms
            || last
                .compare_exchange(prev, now, Ordering::AcqRel, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let mut conn = self.conn.clone();
        let degrade = Arc::clone(&self.degrade);
        let key = self.procs_key();
        let owner = self.owner.clone();
        handle.spawn(async move {
            match beat(&mut conn, &key, &owner).await {
                Ok(live) if probe => {
                    degrade.answered(live, &mut conn).await;
                }
                Ok(live) => degrade.counted(live),
                Err(e) => {
                    if !probe {
                        beat_failed(&conn, &e);
                    }
                }
            }
        });
    }

    /// A key's activation in the local fallback.
    pub(super) fn activation(&self, key: KeyRef<'_>) -> Option<(bool, Option<String>)> {
        self.degrade
            .local
            .key_health(key)
            .ok()
            .map(|h| (h.active, h.disabled_reason))
    }

    /// Remembers a key whose activation the local fallback changed, for [`Self::write_back`].
    pub(super) fn note_change(&self, key: KeyRef<'_>, before: Option<&(bool, Option<String>)>) {
        if self.activation(key).as_ref() != before {
            self.degrade.dirty.lock().insert(key.idx);
            self.degrade.pending.store(true, Ordering::Relaxed);
        }
    }

    /// Writes to Redis the activation of every key that changed here while degraded (a key
    /// found broken stays off for every process; an operator's enable or disable holds). What
    /// cannot be written now is kept for the next time.
    pub(super) async fn write_back(&self) {
        let keys: Vec<usize> = std::mem::take(&mut *self.degrade.dirty.lock())
            .into_iter()
            .collect();
        self.degrade.pending.store(false, Ordering::Relaxed);
        for idx in keys {
            let key = KeyRef { idx, key_id: "" };
            // A project still cut off (a cluster master down) is written when it is back.
            if self.local_for(self.key_project(idx)) {
                self.degrade.dirty.lock().insert(idx);
                self.degrade.pending.store(true, Ordering::Relaxed);
                continue;
            }
            let Some((active, reason)) = self.activation(key) else {
                continue;
            };
            let written = self
                .shared_update_key(key, |h| {
                    h.active = active;
                    h.disabled_reason.clone_from(&reason);
                })
                .await;
            if let Err(e) = written {
                tracing::warn!(error = %e, "a change made while Redis was away is not written yet");
                self.degrade.dirty.lock().insert(idx);
                self.degrade.pending.store(true, Ordering::Relaxed);
            }
        }
    }

    /// Switches to local limits, seeded with what this process last knew of the shared state.
    pub(super) fn degrade_now(&self, err: &StoreError) {
        // Seeded before anyone serves from it: a caller that found Redis gone too waits here,
        // then serves from the seeded shares (a share served unseeded would add a whole share
        // on top of what the window already holds).
        let _seeding = self.degrade.seeding.lock();
        if self.degrade.down.load(Ordering::Acquire) {
            return;
        }
        tracing::warn!(error = %err, live_processes = self.live_processes(),
            "Redis is unavailable: limits run locally at a share of each limit until it answers");
        self.degrade
            .last_probe
            .store(Self::wall_ms(), Ordering::Relaxed);
        self.seed_local(None);
        self.degrade.down.store(true, Ordering::Release);
    }

    /// Seeds the local fallback with what this process last knew of the shared state: every
    /// key and bucket, or `only` one project's.
    pub(super) fn seed_local(&self, only: Option<usize>) {
        let Ok(names) = self.names() else {
            return;
        };
        let ours = |project: Option<&usize>| only.is_none() || project == only.as_ref();
        // The shared state is on the server's clock; the local store runs on this host's.
        for (i, c) in names.key_cache.iter().enumerate() {
            if ours(names.key_project.get(i)) {
                let health = self.health_on_host(c.lock().health.clone());
                self.degrade.local.seed_key(i, health);
            }
        }
        let now = Self::wall_ms();
        for (i, c) in names.bucket_cache.iter().enumerate() {
            if !ours(names.bucket_project.get(i)) {
                continue;
            }
            let c = *c.lock();
            if let Some((until, reason)) = c.cooldown {
                self.degrade
                    .local
                    .seed_cooldown(i, self.to_host(until), reason);
            }
            self.degrade.local.seed_learned(i, now, c.learned);
            // Start from what Redis last reported, this process's share of it.
            if c.at > 0 {
                self.degrade.local.seed_usage(
                    i,
                    self.to_host(c.at),
                    c.usage,
                    self.live_processes(),
                );
            }
        }
    }

    /// Whether this process came back from degraded mode less than a window ago: until what it
    /// (and the others, maybe still degraded) spent locally has left the window, it keeps
    /// within its local share as well as the shared limits.
    /// `bucket`: in a cluster, a project whose master came back settles alone.
    pub(super) fn settling(&self, bucket: usize) -> bool {
        let Ok(names) = self.names() else {
            return false;
        };
        let within = |at: i64| at > 0 && Self::wall_ms() < at.saturating_add(names.window_ms);
        within(self.degrade.recovered_at.load(Ordering::Relaxed))
            || self
                .cut_of(self.bucket_project(bucket))
                .is_some_and(|c| within(c.recovered_at.load(Ordering::Relaxed)))
    }

    /// The local share's verdict on one more call of `tokens` while settling; `None` when it
    /// has room.
    pub(super) fn settling_refusal(
        &self,
        bucket: BucketRef<'_>,
        tokens: u64,
        now: Millis,
    ) -> Option<crate::store::BucketView> {
        let view = self
            .degrade
            .local
            .bucket_view(self.local_share(bucket), tokens, now)
            .ok()?;
        (!matches!(view.check, crate::window::Check::Room { .. })).then_some(view)
    }

    /// The bucket as the local fallback sees it: each limit divided among live processes.
    pub(super) fn local_share<'a>(&self, bucket: BucketRef<'a>) -> BucketRef<'a> {
        let mut n = self.live_processes();
        if self.settling(bucket.idx) {
            n = n.max(self.degrade.settle_live.load(Ordering::Relaxed));
        }
        let share = |v: Option<u64>| v.map(|v| (v / n).max(1));
        // Learned limits count too: the local store knows them from the seed.
        let limits = self
            .names()
            .ok()
            .and_then(|names| names.bucket_cache.get(bucket.idx))
            .map_or(bucket.limits, |c| bucket.limits.min(c.lock().learned));
        BucketRef {
            limits: Limits {
                rpm: share(limits.rpm),
                tpm: share(limits.tpm),
                rpd: share(limits.rpd),
            },
            ..bucket
        }
    }
}
