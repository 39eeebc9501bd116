//! The shared operations: every call a round trip to Redis, on its scripts.

use std::collections::HashMap;
use std::sync::OnceLock;

use parking_lot::Mutex;
use redis::Value;

use super::layout::{BucketCache, Core, KeyCache, Names, bucket_names, tag};
use super::reply::{Reply, kind_of, learned_of, limit_arg, reason_of, u};
use super::{RedisShared, pacific_offset_ms, redis_err};
use crate::clock::{Millis, next_pacific_midnight};
use crate::error::StoreError;
use crate::health::{HealthPolicy, KeyHealth, LastError};
use crate::store::{Acquired, BucketRef, BucketView, Finish, KeyRef, Layout, Tokens};
use crate::window::{Check, CooldownReason, LimitKind, Usage, headroom};

/// The buckets of `buckets` that are named, with their key names: one not named yet (kept for
/// a model adopted later) has nothing in Redis.
fn named<'n>(names: &'n Names, buckets: &[usize]) -> Vec<(usize, &'n [String; 5])> {
    buckets
        .iter()
        .filter_map(|&i| names.buckets.get(i)?.get().map(|n| (i, n)))
        .collect()
}

impl RedisShared {
    pub(super) fn prepare_shared(&self, layout: &Layout) -> Result<(), StoreError> {
        let p = &self.options.prefix;
        let mut projects: Vec<&str> = layout
            .buckets
            .iter()
            .map(|(project, _)| project.as_str())
            .chain(layout.keys.iter().map(|k| k.project.as_str()))
            .collect();
        projects.sort_unstable();
        projects.dedup();
        let project_index = |name: &str| projects.binary_search(&name).unwrap_or_default();
        let names = Names {
            buckets: layout
                .buckets
                .iter()
                .map(|(project, model)| {
                    let names = OnceLock::new();
                    if !model.is_empty() {
                        let _ = names.set(bucket_names(p, project, model));
                    }
                    names
                })
                .collect(),
            keys: layout
                .keys
                .iter()
                .map(|k| {
                    let base = format!("{p}:v1:{{p:{}}}:k:{}", tag(&k.project), k.fingerprint);
                    [format!("{base}:h"), format!("{base}:trial-until")]
                })
                .collect(),
            configured_active: layout.keys.iter().map(|k| k.active).collect(),
            bucket_project: layout
                .buckets
                .iter()
                .map(|(project, _)| project_index(project))
                .collect(),
            key_project: layout
                .keys
                .iter()
                .map(|k| project_index(&k.project))
                .collect(),
            projects: projects.iter().map(|p| (*p).to_owned()).collect(),
            probes: projects
                .iter()
                .map(|project| format!("{p}:v1:{{p:{}}}:probe", tag(project)))
                .collect(),
            window_ms: layout.window_ms,
            bucket_cache: layout.buckets.iter().map(|_| Mutex::default()).collect(),
            key_cache: layout
                .keys
                .iter()
                .map(|k| {
                    Mutex::new(KeyCache {
                        health: KeyHealth::new(k.active),
                        version: 0,
                    })
                })
                .collect(),
        };
        self.names
            .set(names)
            .map_err(|_| StoreError::AlreadyPrepared)
    }

    /// [`crate::StateStore::acquire`] with a reservation id of the caller's choosing. Sending the same
    /// id again (a retry after a timeout, when the first attempt may have landed) never counts
    /// twice: it answers the grant that is already there.
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
        let names = self.names()?;
        let [log, tok, day, cool, lim] = self.bucket_keys(bucket.idx)?;
        let [health, trial] = self.key_keys(key.idx)?;
        let owner = format!("{}:{reservation}", self.owner);
        let active = names
            .configured_active
            .get(key.idx)
            .copied()
            .unwrap_or(true);
        let reply = self
            .acquire
            .key(log)
            .key(tok)
            .key(day)
            .key(cool)
            .key(health)
            .key(trial)
            .key(lim)
            .arg(self.time_arg(now))
            .arg(tokens)
            .arg(limit_arg(bucket.limits.rpm))
            .arg(limit_arg(bucket.limits.tpm))
            .arg(limit_arg(bucket.limits.rpd))
            .arg(names.window_ms)
            .arg(pacific_offset_ms(now))
            .arg(pacific_offset_ms(next_pacific_midnight(now)))
            .arg(reservation.to_string())
            .arg(&owner)
            .arg(u64::try_from(policy.trial_timeout.as_millis()).unwrap_or(60_000))
            .arg(if active { "1" } else { "0" })
            .invoke_async::<Value>(&mut self.conn.clone())
            .await
            .map_err(redis_err("acquire"))?;
        let r = Reply::of(reply, "acquire")?;
        let at = r.int(1)?;
        self.observe(now, at);
        match r.int(0)? {
            1 => {
                self.absorb_state(key.idx, r.int(6)?, &r.text(7)?)?;
                let mut c = self.bucket_cache(bucket.idx)?.lock();
                *c = BucketCache {
                    usage: Usage {
                        rpm_used: u(r.int(3)?),
                        tpm_used: u(r.int(4)?),
                        rpd_used: u(r.int(5)?),
                    },
                    at,
                    full: None,
                    cooldown: None,
                    learned: c.learned,
                };
                drop(c);
                let trial = r.int(2)? == 1;
                let hold = i64::try_from(policy.trial_timeout.as_millis()).unwrap_or(0);
                if trial {
                    self.key_cache(key.idx)?.lock().health.trial_until = at + hold;
                }
                Ok(Acquired::Granted {
                    reservation,
                    trial,
                    at,
                })
            }
            2 => {
                self.absorb_state(key.idx, r.int(3)?, &r.text(4)?)?;
                if r.text(2)? == "trial" {
                    // Another caller holds the trial; the lock expires by then at the latest.
                    let hold = policy.trial_timeout.as_millis();
                    let until = at.saturating_add(i64::try_from(hold).unwrap_or(0));
                    self.key_cache(key.idx)?.lock().health.trial_until = until;
                }
                Ok(Acquired::KeyUnavailable)
            }
            _ => self.refused(&r, bucket.idx, tokens, at),
        }
    }

    /// An acquire script's refusal, `{3, now, kind, retry_at, n, t, d, cool_until}`: the bucket's
    /// view updated (on the server's clock), the refusal on this host's.
    fn refused(
        &self,
        r: &Reply,
        bucket: usize,
        tokens: u64,
        at: Millis,
    ) -> Result<Acquired, StoreError> {
        let kind = r.text(2)?;
        let retry_at = r.int(3)?;
        let cool_until = r.int(7)?;
        let mut c = self.bucket_cache(bucket)?.lock();
        c.usage = Usage {
            rpm_used: u(r.int(4)?),
            tpm_used: u(r.int(5)?),
            rpd_used: u(r.int(6)?),
        };
        c.at = at;
        if kind == "too_large" {
            return Ok(Acquired::Refused(Check::TooLarge));
        }
        let limit = kind_of(&kind);
        c.full = Some((retry_at, limit, tokens));
        if cool_until > at {
            c.cooldown = Some((
                cool_until,
                c.cooldown.map_or(CooldownReason::RateLimited, |x| x.1),
            ));
        }
        Ok(Acquired::Refused(Check::Full {
            retry_at: self.to_host(retry_at),
            limit,
        }))
    }

    pub(super) async fn shared_finish(
        &self,
        key: KeyRef<'_>,
        bucket: BucketRef<'_>,
        reservation: u64,
        finish: &Finish<'_>,
        now: Millis,
        policy: &HealthPolicy,
    ) -> Result<(), StoreError> {
        let names = self.names()?;
        let [log, tok, day, cool, lim] = self.bucket_keys(bucket.idx)?;
        let [health, trial] = self.key_keys(key.idx)?;
        let (before, version) = {
            let c = self.key_cache(key.idx)?.lock();
            (c.health.clone(), c.version)
        };
        // Key state is kept on the server's clock (the scripts compare it with theirs).
        let server_now = self.to_server(now);
        let mut after = before.clone();
        finish.key.apply(&mut after, server_now, policy);
        let core_before = Core::of(&before);
        let core_after = Core::of(&after);
        let new_state = if core_after == core_before {
            String::new()
        } else {
            serde_json::to_string(&core_after).unwrap_or_default()
        };
        let last_error = match (&after.last_error, &before.last_error) {
            (Some(e), b) if Some(e) != b.as_ref() => serde_json::to_string(e).unwrap_or_default(),
            _ => String::new(),
        };
        let (mode, n) = match finish.tokens {
            Tokens::Settle(n) => ("settle", n),
            Tokens::Keep => ("keep", 0),
            Tokens::Release => ("release", 0),
        };
        let (cool_ms, cool_reason) = finish.cool_bucket.map_or((-1, ""), |(until, reason)| {
            ((until - now).max(0), reason.as_str())
        });
        let owner = if finish.trial {
            format!("{}:{reservation}", self.owner)
        } else {
            String::new()
        };
        let reply = self
            .finish
            .key(log)
            .key(tok)
            .key(day)
            .key(cool)
            .key(health)
            .key(trial)
            .key(lim)
            .arg(self.time_arg(now))
            .arg(reservation.to_string())
            .arg(mode)
            .arg(n)
            .arg(cool_ms)
            .arg(cool_reason)
            .arg(after.success_count - before.success_count)
            .arg(after.error_count - before.error_count)
            .arg(&last_error)
            .arg(version)
            .arg(&new_state)
            .arg(&owner)
            .arg(names.window_ms)
            .arg(pacific_offset_ms(now))
            .arg(limit_arg(finish.learn.rpm))
            .arg(limit_arg(finish.learn.tpm))
            .arg(limit_arg(finish.learn.rpd))
            .arg(crate::window::LEARNED_TTL_MS)
            .invoke_async::<Value>(&mut self.conn.clone())
            .await
            .map_err(redis_err("finish"))?;
        let r = Reply::of(reply, "finish")?;
        self.observe(now, r.int(3)?);
        {
            let mut c = self.key_cache(key.idx)?.lock();
            c.health.success_count = after.success_count;
            c.health.error_count = after.error_count;
            c.health.last_used = after.last_used;
            c.health.last_error.clone_from(&after.last_error);
            if finish.trial {
                c.health.trial_until = 0;
            }
        }
        {
            let mut c = self.bucket_cache(bucket.idx)?.lock();
            c.learned = c.learned.updated_by(finish.learn);
            if let Some((until, reason)) = finish.cool_bucket {
                c.cooldown = Some((self.to_server(until), reason));
            }
            c.usage = Usage {
                rpm_used: u(r.int(4)?),
                tpm_used: u(r.int(5)?),
                rpd_used: u(r.int(6)?),
            };
            c.at = r.int(3)?;
            c.full = None;
        }
        let (ok, v, s) = (r.int(0)?, r.int(1)?, r.text(2)?);
        if ok == 1 {
            return self.absorb_state(key.idx, v, &s);
        }
        // Another process changed the key's state meanwhile: apply the event to its version.
        let event = finish.key;
        self.cas_loop(key, v, s, |h| event.apply(h, server_now, policy))
            .await
    }

    pub(super) async fn shared_update_key<R: Send>(
        &self,
        key: KeyRef<'_>,
        mut f: impl FnMut(&mut KeyHealth) -> R + Send,
    ) -> Result<R, StoreError> {
        let [health, _] = self.key_keys(key.idx)?;
        let (v, s): (Option<i64>, Option<String>) = redis::cmd("HMGET")
            .arg(health)
            .arg("v")
            .arg("s")
            .query_async(&mut self.conn.clone())
            .await
            .map_err(redis_err("update_key"))?;
        let mut result = None;
        self.cas_loop(key, v.unwrap_or(0), s.unwrap_or_default(), |h| {
            result = Some(f(h));
        })
        .await?;
        result.ok_or(StoreError::Redis {
            op: "update_key",
            message: "no update was applied".to_owned(),
        })
    }

    /// Every bucket's usage and every key's record in one pipelined round trip (health,
    /// metrics and readiness read through it), as `(scope, result)`: one part for one Redis
    /// (`None`), one per project for a cluster (which routes a pipeline to one node), all sent
    /// at once, skipping the projects in `skip`.
    pub(super) async fn refresh_parts(
        &self,
        now: Millis,
        skip: &[usize],
    ) -> Vec<(Option<usize>, Result<(), StoreError>)> {
        let names = match self.names() {
            Ok(n) => n,
            Err(e) => return vec![(None, Err(e))],
        };
        if !self.conn.is_cluster() {
            let buckets: Vec<usize> = (0..names.buckets.len()).collect();
            let keys: Vec<usize> = (0..names.keys.len()).collect();
            return vec![(None, self.refresh_part(now, &buckets, &keys).await)];
        }
        let parts: Vec<(usize, Vec<usize>, Vec<usize>)> = (0..names.probes.len())
            .filter(|p| !skip.contains(p))
            .map(|p| {
                let of = |projects: &[usize]| -> Vec<usize> {
                    (0..projects.len()).filter(|&i| projects[i] == p).collect()
                };
                (p, of(&names.bucket_project), of(&names.key_project))
            })
            .collect();
        let results = futures_util::future::join_all(
            parts
                .iter()
                .map(|(_, buckets, keys)| self.refresh_part(now, buckets, keys)),
        )
        .await;
        parts.iter().map(|(p, ..)| Some(*p)).zip(results).collect()
    }

    /// Some buckets' usage and some keys' records, in one pipeline.
    async fn refresh_part(
        &self,
        now: Millis,
        buckets: &[usize],
        keys: &[usize],
    ) -> Result<(), StoreError> {
        let names = self.names()?;
        let with_names = named(names, buckets);
        let buckets: Vec<usize> = with_names.iter().map(|(i, _)| *i).collect();
        let mut conn = self.conn.clone();
        let build = || {
            let mut pipe = redis::pipe();
            for (_, [log, tok, day, cool, lim]) in &with_names {
                pipe.cmd("EVALSHA")
                    .arg(self.peek.get_hash())
                    .arg(5)
                    .arg(log)
                    .arg(tok)
                    .arg(day)
                    .arg(cool)
                    .arg(lim)
                    .arg(self.time_arg(now))
                    .arg(names.window_ms)
                    .arg(pacific_offset_ms(now));
            }
            for &i in keys {
                pipe.cmd("HGETALL").arg(&names.keys[i][0]);
            }
            pipe
        };
        if buckets.is_empty() && keys.is_empty() {
            return Ok(());
        }
        let replies: Vec<Value> = match build().query_async(&mut conn).await {
            Ok(v) => v,
            // A Redis that has not seen the script yet (restarted, or flushed): load it once.
            Err(e) if e.code() == Some("NOSCRIPT") => {
                self.peek
                    .load_async(&mut conn)
                    .await
                    .map_err(redis_err("refresh"))?;
                build()
                    .query_async(&mut conn)
                    .await
                    .map_err(redis_err("refresh"))?
            }
            Err(e) => return Err(redis_err("refresh")(e)),
        };
        if replies.len() != buckets.len() + keys.len() {
            return Err(StoreError::Redis {
                op: "refresh",
                message: format!(
                    "unexpected pipeline reply: {} items for {} buckets and {} keys",
                    replies.len(),
                    buckets.len(),
                    keys.len()
                ),
            });
        }
        let mut replies = replies.into_iter();
        for &i in &buckets {
            let r = Reply::of(replies.next().unwrap_or(Value::Nil), "refresh")?;
            let (at, until) = (r.int(0)?, r.int(4)?);
            self.observe(now, at);
            let mut c = self.bucket_cache(i)?.lock();
            c.usage = Usage {
                rpm_used: u(r.int(1)?),
                tpm_used: u(r.int(2)?),
                rpd_used: u(r.int(3)?),
            };
            c.at = at;
            c.full = None;
            c.cooldown = reason_of(&r.text(5)?)
                .filter(|_| until > at)
                .map(|reason| (until, reason));
            c.learned = learned_of(r.items.get(6..).unwrap_or_default());
        }
        let records: Vec<HashMap<String, String>> = replies
            .map(|v| {
                redis::from_redis_value(v).map_err(|e| StoreError::Redis {
                    op: "refresh",
                    message: format!("unexpected key record: {e}"),
                })
            })
            .collect::<Result<_, _>>()?;
        for (fields, &i) in records.iter().zip(keys) {
            let mut c = self.key_cache(i)?.lock();
            if let Some(core) = fields
                .get("s")
                .and_then(|s| serde_json::from_str::<Core>(s).ok())
            {
                core.put(&mut c.health);
            }
            c.version = fields
                .get("v")
                .and_then(|v| v.parse().ok())
                .unwrap_or(c.version);
            c.health.success_count = fields.get("ok").and_then(|v| v.parse().ok()).unwrap_or(0);
            c.health.error_count = fields.get("err").and_then(|v| v.parse().ok()).unwrap_or(0);
            c.health.last_used = fields.get("used").and_then(|v| v.parse().ok());
            c.health.last_error = fields
                .get("le")
                .and_then(|v| serde_json::from_str::<LastError>(v).ok());
        }
        Ok(())
    }

    pub(super) fn shared_bucket_view(
        &self,
        bucket: BucketRef<'_>,
        tokens: u64,
        now: Millis,
    ) -> Result<BucketView, StoreError> {
        let names = self.names()?;
        let c = *self.bucket_cache(bucket.idx)?.lock();
        // The cache holds the server's times.
        let now = self.to_server(now);
        let cooldown = c.cooldown.filter(|(until, _)| *until > now);
        // What another process took is only seen at the next reply; an old view decays to empty.
        let usage = if now - c.at >= names.window_ms {
            Usage {
                rpd_used: c.usage.rpd_used,
                ..Usage::default()
            }
        } else {
            c.usage
        };
        let l = bucket.limits.min(c.learned);
        let over = |used: u64, limit: Option<u64>| limit.is_some_and(|l| used > l);
        let check = if let Some((until, _)) = cooldown {
            Check::Full {
                retry_at: until,
                limit: LimitKind::Cooldown,
            }
        } else if over(tokens, l.tpm) {
            Check::TooLarge
        } else if let Some((retry_at, limit, _)) = c.full.filter(|(t, limit, asked)| {
            // A TPM refusal says nothing about a smaller request.
            *t > now && (*limit != LimitKind::Tpm || tokens >= *asked)
        }) {
            Check::Full { retry_at, limit }
        } else if over(usage.rpm_used + 1, l.rpm)
            || over(usage.tpm_used + tokens, l.tpm)
            || over(usage.rpd_used + 1, l.rpd)
        {
            // Believed full from an older reply: worth a low-weight try, since entries may have
            // left the window; the acquire script answers exactly.
            Check::Room {
                headroom: 1.0 / (l.rpm.unwrap_or(1).max(1) as f64),
            }
        } else {
            Check::Room {
                headroom: headroom(usage, l),
            }
        };
        let check = match check {
            Check::Full { retry_at, limit } => Check::Full {
                retry_at: self.to_host(retry_at),
                limit,
            },
            other => other,
        };
        Ok(BucketView {
            check,
            usage,
            cooldown: cooldown.map(|(until, reason)| (self.to_host(until), reason)),
            learned: c.learned,
        })
    }

    pub(super) fn shared_key_usable(
        &self,
        key: KeyRef<'_>,
        now: Millis,
    ) -> Result<bool, StoreError> {
        Ok(self
            .key_cache(key.idx)?
            .lock()
            .health
            .usable(self.to_server(now)))
    }

    pub(super) fn shared_key_health(&self, key: KeyRef<'_>) -> Result<KeyHealth, StoreError> {
        let h = self.key_cache(key.idx)?.lock().health.clone();
        Ok(self.health_on_host(h))
    }
}
