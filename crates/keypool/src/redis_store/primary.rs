//! What degraded mode ([`crate::Degrading`]) needs of Redis: its scopes (one Redis fails as a
//! whole; a cluster, one master's projects at a time), the seed of the local shares from what
//! the last replies said, heartbeats, probes, and the write-back of calls granted locally.

use redis::Script;

use super::scripts::LUA_BEAT;
use super::{RedisShared, pacific_offset_ms, redis_err};
use crate::clock::Millis;
use crate::degrading::{BEAT_TTL_MS, Count, Degraded, Primary};
use crate::error::StoreError;
use crate::limits::Limits;
use crate::memory_store::MemoryStore;

impl RedisShared {
    /// The set of live processes (a sorted set of heartbeats); its age lives beside it, in its
    /// slot (the set's name is its hash tag).
    fn procs_key(&self) -> String {
        format!("{}:v1:procs", self.options.prefix)
    }
}

/// `ask` (a heartbeat or probe: idempotent), asked once more when it met a connection the
/// server closed. That is what a Redis that restarted looks like to the first command after:
/// the connection manager reconnects on that error, so the second try sees whether Redis
/// answers now, instead of the next period.
async fn again_on_a_new_connection<T, F, Fut>(mut ask: F) -> redis::RedisResult<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = redis::RedisResult<T>>,
{
    match ask().await {
        Err(e) if e.is_connection_dropped() || e.is_unrecoverable_error() => ask().await,
        answer => answer,
    }
}

impl Primary for RedisShared {
    fn bucket_scope(&self, bucket: usize) -> Option<usize> {
        self.names()
            .ok()
            .and_then(|n| n.bucket_project.get(bucket).copied())
    }

    fn key_scope(&self, key: usize) -> Option<usize> {
        self.names()
            .ok()
            .and_then(|n| n.key_project.get(key).copied())
    }

    fn scope_names(&self) -> Vec<String> {
        self.names().map(|n| n.projects.clone()).unwrap_or_default()
    }

    fn scoped(&self) -> bool {
        self.conn.is_cluster()
    }

    fn name(&self, degraded: Degraded) -> &'static str {
        match (self.conn.is_cluster(), degraded) {
            (false, Degraded::No) => "redis",
            (false, _) => "redis (degraded: local shares)",
            (true, Degraded::No) => "redis cluster",
            (true, Degraded::Partly) => {
                "redis cluster (partly degraded: local shares for the projects of an unavailable master)"
            }
            (true, Degraded::Wholly) => "redis cluster (degraded: local shares)",
        }
    }

    fn label(&self) -> &'static str {
        "Redis"
    }

    fn window_ms(&self) -> Option<Millis> {
        self.names().ok().map(|n| n.window_ms)
    }

    fn learned(&self, bucket: usize) -> Limits {
        self.names()
            .ok()
            .and_then(|n| n.bucket_cache.get(bucket))
            .map_or(Limits::UNKNOWN, |c| c.lock().learned)
    }

    fn seed(&self, local: &MemoryStore, only: Option<usize>, processes: u64) {
        let Ok(names) = self.names() else {
            return;
        };
        let ours = |project: Option<&usize>| only.is_none() || project == only.as_ref();
        // The shared state is on the server's clock; the local store runs on this host's.
        for (i, c) in names.key_cache.iter().enumerate() {
            if ours(names.key_project.get(i)) {
                local.seed_key(i, self.health_on_host(c.lock().health.clone()));
            }
        }
        let now = self.options.clock.now_ms();
        for (i, c) in names.bucket_cache.iter().enumerate() {
            if !ours(names.bucket_project.get(i)) {
                continue;
            }
            let c = *c.lock();
            if let Some((until, reason)) = c.cooldown {
                local.seed_cooldown(i, self.to_host(until), reason);
            }
            local.seed_learned(i, now, c.learned);
            // Start from what Redis last reported, this process's share of it.
            if c.at > 0 {
                local.seed_usage(i, self.to_host(c.at), c.usage, processes);
            }
        }
    }

    async fn beat(&self) -> Result<Count, StoreError> {
        // Finds out first (once) whether Redis is a cluster.
        self.conn.detect().await?;
        let key = self.procs_key();
        let script = Script::new(LUA_BEAT);
        let mut invocation = script.key(&key);
        invocation
            .key(format!("{{{key}}}:since"))
            .arg(&self.owner)
            .arg(BEAT_TTL_MS);
        again_on_a_new_connection(|| async {
            invocation
                .invoke_async::<Count>(&mut self.conn.clone())
                .await
        })
        .await
        .map_err(redis_err("heartbeat"))
    }

    async fn probe(&self, scope: usize) -> bool {
        let Some(probe) = self.names().ok().and_then(|n| n.probes.get(scope)) else {
            return false;
        };
        let exists = redis::cmd("EXISTS").arg(probe).to_owned();
        again_on_a_new_connection(|| async {
            exists.query_async::<i64>(&mut self.conn.clone()).await
        })
        .await
        .is_ok()
    }

    fn client_time(&self) -> bool {
        self.options.time == super::RedisTime::Client
    }

    async fn replay(
        &self,
        bucket: usize,
        calls: Vec<(u64, Millis, u64)>,
        now: Millis,
    ) -> Result<(), StoreError> {
        let names = self.names()?;
        let [log, tok, day, ..] = self.bucket_keys(bucket)?;
        let mut invocation = self.replay.key(log);
        invocation
            .key(tok)
            .key(day)
            .arg(self.time_arg(now))
            .arg(names.window_ms)
            .arg(pacific_offset_ms(now));
        for (id, at, tokens) in &calls {
            invocation
                .arg(format!("{}:d{id}", self.owner))
                .arg(*at)
                .arg(*tokens);
        }
        invocation
            .invoke_async::<i64>(&mut self.conn.clone())
            .await
            .map_err(redis_err("replay"))?;
        Ok(())
    }

    async fn refresh_scopes(
        &self,
        now: Millis,
        skip: Vec<usize>,
    ) -> Vec<(Option<usize>, Result<(), StoreError>)> {
        self.refresh_parts(now, &skip).await
    }
}
