//! Degraded mode: while Redis is down or slow, limits run in this process at a conservative
//! share; a heartbeat counts the live processes, a probe notices Redis back, and what changed
//! meanwhile is written back.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use redis::Script;

use super::scripts::LUA_BEAT;
use super::{RedisStore, redis_err};
use crate::clock::Millis;
use crate::error::StoreError;
use crate::limits::Limits;
use crate::store::{BucketRef, KeyRef, MemoryStore, StateStore};

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
                let down = degrade
                    .upgrade()
                    .is_some_and(|d| d.down.load(Ordering::Relaxed));
                tokio::time::sleep(if down { probe_every } else { beat_every.min(probe_every) })
                    .await;
                // The store is gone: nothing left to keep alive.
                let Some(d) = degrade.upgrade() else {
                    return;
                };
                let down = d.down.load(Ordering::Relaxed);
                if !down && last_beat.elapsed() < beat_every {
                    continue;
                }
                last_beat = tokio::time::Instant::now();
                let beat = Script::new(LUA_BEAT)
                    .key(&key)
                    .arg(&owner)
                    .arg(BEAT_TTL_MS)
                    .invoke_async::<u64>(&mut conn)
                    .await;
                match beat {
                    Ok(live) => {
                        d.live.store(live.max(1), Ordering::Relaxed);
                        if d.down.swap(false, Ordering::AcqRel) {
                            tracing::warn!("Redis answers: limits and health are shared from now on");
                        }
                    }
                    Err(e) => {
                        if !d.down.swap(true, Ordering::AcqRel) {
                            tracing::warn!(error = %e, "Redis is unavailable: limits run locally at a share of each limit");
                        }
                    }
                }
            }
        });
    }

    pub(super) fn procs_key(&self) -> String {
        format!("{}:v1:procs", self.options.prefix)
    }

    pub(super) async fn beat_now(&self) -> Result<(), StoreError> {
        let live: u64 = Script::new(LUA_BEAT)
            .key(self.procs_key())
            .arg(&self.owner)
            .arg(BEAT_TTL_MS)
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(redis_err("heartbeat"))?;
        self.degrade.live.store(live.max(1), Ordering::Relaxed);
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
            let beat = Script::new(LUA_BEAT)
                .key(key)
                .arg(owner)
                .arg(BEAT_TTL_MS)
                .invoke_async::<u64>(&mut conn)
                .await;
            match beat {
                Ok(live) => {
                    degrade.live.store(live.max(1), Ordering::Relaxed);
                    if probe && degrade.down.swap(false, Ordering::AcqRel) {
                        tracing::warn!("Redis answers again: limits and health are shared once more");
                    }
                }
                Err(e) => {
                    if !probe && !degrade.down.swap(true, Ordering::AcqRel) {
                        tracing::warn!(error = %e, "Redis is unavailable: limits run locally at a share of each limit");
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
        if self.degrade.down.swap(true, Ordering::AcqRel) {
            return;
        }
        tracing::warn!(error = %err, live_processes = self.live_processes(),
            "Redis is unavailable: limits run locally at a share of each limit until it answers");
        self.degrade
            .last_probe
            .store(Self::wall_ms(), Ordering::Relaxed);
        if let Ok(names) = self.names() {
            for (i, c) in names.key_cache.iter().enumerate() {
                self.degrade.local.seed_key(i, c.lock().health.clone());
            }
            let now = Self::wall_ms();
            for (i, c) in names.bucket_cache.iter().enumerate() {
                let c = *c.lock();
                if let Some((until, reason)) = c.cooldown {
                    self.degrade.local.seed_cooldown(i, until, reason);
                }
                self.degrade.local.seed_learned(i, now, c.learned);
                // Start from what Redis last reported, this process's share of it.
                if c.at > 0 {
                    self.degrade
                        .local
                        .seed_usage(i, c.at, c.usage, self.live_processes());
                }
            }
        }
    }

    /// The bucket as the local fallback sees it: each limit divided among live processes.
    pub(super) fn local_share<'a>(&self, bucket: BucketRef<'a>) -> BucketRef<'a> {
        let n = self.live_processes();
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
