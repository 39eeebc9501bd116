//! The Redis state backend: one key pool shared by many processes.
//!
//! Limits use the same exact sliding log as [`crate::Window`], run server-side in Lua so that a
//! reservation is all-or-nothing across a bucket's RPM, TPM and RPD in **one round trip**, on the
//! Redis server's clock, and idempotent when retried after a timeout. Reporting a call is one
//! more round trip: tokens settled or released, the bucket cooled, the key's counters bumped and
//! its state advanced by [`KeyEvent::apply`] under a version check (a conflict costs a retry).
//! A half-open trial is a lock (`SET NX PX` with an owner token, released only by its owner).
//!
//! Key names: `<prefix>:v2:{p:<project>}:m:<model>:…` for buckets (v2: a call in flight is
//! logged at its reservation plus the hold), `<prefix>:v1:{p:<project>}:k:…` for keys. Everything of one project shares one hash tag, so
//! every script's keys sit in one slot (Redis Cluster works), `v1` lets a later layout run beside
//! this one, and keys are named by their fingerprint, never their material.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use chrono::{DateTime, Offset, TimeZone, Utc};
use chrono_tz::America::Los_Angeles;
use parking_lot::Mutex;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Script, Value};
use serde::{Deserialize, Serialize};

use crate::clock::{Millis, next_pacific_midnight};
use crate::error::StoreError;
use crate::health::{HealthPolicy, KeyHealth, LastError};
use crate::limits::Limits;
use crate::store::{
    Acquired, BucketRef, BucketView, Finish, KeyRef, Layout, MemoryStore, StateStore, Tokens,
};
use crate::window::{Check, CooldownReason, LimitKind, Usage, headroom};

/// A limit as a script argument: -1 when unknown.
fn limit_arg(v: Option<u64>) -> i64 {
    v.and_then(|v| i64::try_from(v).ok()).unwrap_or(-1)
}

/// Learned limits from three script values (-1: none).
fn learned_of(values: &[Value]) -> Limits {
    let at = |i: usize| {
        values
            .get(i)
            .map(int)
            .and_then(|v| u64::try_from(v).ok())
            .filter(|&v| v >= 1)
    };
    Limits {
        rpm: at(0),
        tpm: at(1),
        rpd: at(2),
    }
}

const LUA_COMMON: &str = r"
local function now_ms(arg)
  local n = tonumber(arg)
  if n and n >= 0 then return n end
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function prune(log, tok, now, window)
  local old = redis.call('ZRANGEBYSCORE', log, '-inf', now - window)
  if #old > 0 then
    local freed = 0
    for _, id in ipairs(old) do
      freed = freed + (tonumber(redis.call('HGET', tok, id)) or 0)
      redis.call('HDEL', tok, id)
    end
    redis.call('ZREMRANGEBYSCORE', log, '-inf', now - window)
    redis.call('HINCRBY', tok, '__t', -freed)
  end
end
local function day_of(ms, off) return math.floor((ms + off) / 86400000) end
-- A call in flight is logged at its reservation + HOLD, after every finished call (logged at its
-- completion, <= now): it holds its slot until it finishes (and is re-logged at that time), or
-- leaves a window after the hold if it never does. It leaves no earlier than a window from now.
local function leaves(score, now, window) return math.min(score, now) + window end
-- A limit in force: the declared one (ARGV, -1 = unknown), lowered by a learned one (a 429's
-- quotaValue, in the bucket's `lim` hash); nil = unknown, not enforced.
local function limit(declared, learned)
  local a, l = tonumber(declared), tonumber(learned)
  if a and a < 0 then a = nil end
  if a and l then return math.min(a, l) end
  return a or l
end
";

// KEYS: log tok day cool health trial lim
// ARGV: now tokens rpm tpm rpd window off_now off_next id owner trial_ttl configured_active
//   (rpm tpm rpd: declared, -1 when unknown)
// → {1, now, trial, n, t, d, v, s} granted | {2, now, why, v, s} key unavailable
//   | {3, now, kind, retry_at, n, t, d, cool_until} refused
const LUA_ACQUIRE: &str = r"
local now = now_ms(ARGV[1])
local tokens = tonumber(ARGV[2])
local lim = redis.call('HMGET', KEYS[7], 'rpm', 'tpm', 'rpd')
local rpm, tpm, rpd = limit(ARGV[3], lim[1]), limit(ARGV[4], lim[2]), limit(ARGV[5], lim[3])
local window, off_now, off_next = tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])
local v = tonumber(redis.call('HGET', KEYS[5], 'v')) or 0
local s = redis.call('HGET', KEYS[5], 's') or ''
prune(KEYS[1], KEYS[2], now, window)
local n = redis.call('ZCARD', KEYS[1])
local t = tonumber(redis.call('HGET', KEYS[2], '__t')) or 0
local day = day_of(now, off_now)
local d = 0
if tonumber(redis.call('HGET', KEYS[3], 'day')) == day then d = tonumber(redis.call('HGET', KEYS[3], 'count')) or 0 end
if redis.call('ZSCORE', KEYS[1], ARGV[9]) then return {1, now, 0, n, t, d, v, s} end
local trial = 0
if s ~= '' then
  local st = cjson.decode(s)
  if st.active == false then return {2, now, 'disabled', v, s} end
  if (tonumber(st.cooldown_until) or 0) > now then return {2, now, 'cooling', v, s} end
  if (tonumber(st.cooldown_step) or 0) > 0 then
    if not redis.call('SET', KEYS[6], ARGV[10], 'NX', 'PX', ARGV[11]) then return {2, now, 'trial', v, s} end
    trial = 1
  end
elseif ARGV[12] == '0' then
  return {2, now, 'disabled', v, s}
end
local cool = tonumber(redis.call('HGET', KEYS[4], 'until')) or 0
local function refuse(kind, at)
  if trial == 1 then redis.call('DEL', KEYS[6]) end
  return {3, now, kind, at, n, t, d, cool}
end
if cool > now then return refuse('cooldown', cool) end
if tpm and tokens > tpm then return refuse('too_large', -1) end
if rpd and d >= rpd then return refuse('rpd', (day + 1) * 86400000 - off_next) end
local full, kind = nil, nil
if rpm and n >= rpm then
  local e = redis.call('ZRANGE', KEYS[1], n - rpm, n - rpm, 'WITHSCORES')
  full, kind = leaves(tonumber(e[2]), now, window), 'rpm'
end
if tpm and t + tokens > tpm then
  local excess, freed, at = t + tokens - tpm, 0, now
  local all = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
  for i = 1, #all, 2 do
    freed = freed + (tonumber(redis.call('HGET', KEYS[2], all[i])) or 0)
    if freed >= excess then at = leaves(tonumber(all[i + 1]), now, window); break end
  end
  if full == nil or at > full then full, kind = at, 'tpm' end
end
if full then return refuse(kind, full) end
redis.call('ZADD', KEYS[1], now + HOLD, ARGV[9])
redis.call('HSET', KEYS[2], ARGV[9], tokens)
redis.call('HINCRBY', KEYS[2], '__t', tokens)
if d == 0 then redis.call('HSET', KEYS[3], 'day', day, 'count', 0) end
redis.call('HINCRBY', KEYS[3], 'count', 1)
redis.call('PEXPIRE', KEYS[1], window * 2 + HOLD)
redis.call('PEXPIRE', KEYS[2], window * 2 + HOLD)
redis.call('PEXPIRE', KEYS[3], (day + 2) * 86400000 - off_now - now)
return {1, now, trial, n + 1, t + tokens, d + 1, v, s}
";

// KEYS: log tok day cool health trial lim
// ARGV: now id mode n cool_ms cool_reason d_ok d_err last_error expected_v new_state owner window off_now
//   learned_rpm learned_tpm learned_rpd learned_ttl (-1: nothing learned)
// → {1, v, s, now, n, t, d} | {0, …} (state conflict: counters and tokens applied, state not)
const LUA_FINISH: &str = r"
local now = now_ms(ARGV[1])
local id, mode, window, off_now = ARGV[2], ARGV[3], tonumber(ARGV[13]), tonumber(ARGV[14])
prune(KEYS[1], KEYS[2], now, window)
-- Only a call still in flight (logged past now) is finished; a repeated report changes nothing.
local score = tonumber(redis.call('ZSCORE', KEYS[1], id))
if score and score > now then
  if mode == 'release' then
    local old = tonumber(redis.call('HGET', KEYS[2], id)) or 0
    redis.call('ZREM', KEYS[1], id)
    redis.call('HDEL', KEYS[2], id)
    redis.call('HINCRBY', KEYS[2], '__t', -old)
    if tonumber(redis.call('HGET', KEYS[3], 'day')) == day_of(score - HOLD, off_now) then
      redis.call('HINCRBY', KEYS[3], 'count', -1)
    end
  else
    if mode == 'settle' then
      local old = tonumber(redis.call('HGET', KEYS[2], id)) or 0
      redis.call('HSET', KEYS[2], id, ARGV[4])
      redis.call('HINCRBY', KEYS[2], '__t', tonumber(ARGV[4]) - old)
    end
    -- The slot is held until a window after the call completed.
    redis.call('ZADD', KEYS[1], 'XX', now, id)
  end
end
local learned = false
for i, f in ipairs({'rpm', 'tpm', 'rpd'}) do
  local v = tonumber(ARGV[14 + i])
  if v and v >= 1 then
    -- A newer answer replaces what an older one taught; all of it holds for learned_ttl.
    redis.call('HSET', KEYS[7], f, v)
    learned = true
  end
end
if learned then redis.call('PEXPIRE', KEYS[7], tonumber(ARGV[18])) end
local cool_ms = tonumber(ARGV[5])
if cool_ms >= 0 then
  local till = now + cool_ms
  if till > (tonumber(redis.call('HGET', KEYS[4], 'until')) or 0) then
    redis.call('HSET', KEYS[4], 'until', till, 'reason', ARGV[6])
    redis.call('PEXPIRE', KEYS[4], cool_ms + 1000)
  end
end
if tonumber(ARGV[7]) > 0 then redis.call('HINCRBY', KEYS[5], 'ok', ARGV[7]) end
if tonumber(ARGV[8]) > 0 then redis.call('HINCRBY', KEYS[5], 'err', ARGV[8]) end
redis.call('HSET', KEYS[5], 'used', now)
if ARGV[9] ~= '' then redis.call('HSET', KEYS[5], 'le', ARGV[9]) end
if ARGV[12] ~= '' and redis.call('GET', KEYS[6]) == ARGV[12] then redis.call('DEL', KEYS[6]) end
local v = tonumber(redis.call('HGET', KEYS[5], 'v')) or 0
local s = redis.call('HGET', KEYS[5], 's') or ''
local n = redis.call('ZCARD', KEYS[1])
local t = tonumber(redis.call('HGET', KEYS[2], '__t')) or 0
local d = 0
if tonumber(redis.call('HGET', KEYS[3], 'day')) == day_of(now, off_now) then
  d = tonumber(redis.call('HGET', KEYS[3], 'count')) or 0
end
if ARGV[11] ~= '' then
  if v ~= tonumber(ARGV[10]) then return {0, v, s, now, n, t, d} end
  redis.call('HSET', KEYS[5], 's', ARGV[11], 'v', v + 1)
  return {1, v + 1, ARGV[11], now, n, t, d}
end
return {1, v, s, now, n, t, d}
";

// KEYS: health. ARGV: expected_v new_state → {1, v, s} | {0, v, s}
const LUA_CAS: &str = r"
local v = tonumber(redis.call('HGET', KEYS[1], 'v')) or 0
if v ~= tonumber(ARGV[1]) then return {0, v, redis.call('HGET', KEYS[1], 's') or ''} end
redis.call('HSET', KEYS[1], 's', ARGV[2], 'v', v + 1)
return {1, v + 1, ARGV[2]}
";

// KEYS: log tok day cool lim. ARGV: now window off_now
// → {now, n, t, d, cool_until, cool_reason, learned_rpm, learned_tpm, learned_rpd} (-1: none)
const LUA_PEEK: &str = r"
local now = now_ms(ARGV[1])
prune(KEYS[1], KEYS[2], now, tonumber(ARGV[2]))
local d = 0
if tonumber(redis.call('HGET', KEYS[3], 'day')) == day_of(now, tonumber(ARGV[3])) then
  d = tonumber(redis.call('HGET', KEYS[3], 'count')) or 0
end
local lim = redis.call('HMGET', KEYS[5], 'rpm', 'tpm', 'rpd')
return {now, redis.call('ZCARD', KEYS[1]), tonumber(redis.call('HGET', KEYS[2], '__t')) or 0, d,
  tonumber(redis.call('HGET', KEYS[4], 'until')) or 0, redis.call('HGET', KEYS[4], 'reason') or '',
  tonumber(lim[1]) or -1, tonumber(lim[2]) or -1, tonumber(lim[3]) or -1}
";

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
    /// Connect timeout: a dead Redis never stalls a request longer than this.
    pub connect_timeout: Duration,
    /// Command timeout.
    pub response_timeout: Duration,
    /// Whose clock limits run on.
    pub time: RedisTime,
    /// How many processes to assume share the limits while Redis has never answered this
    /// process (`BOTFORGE_PROCESSES`; once it answers, heartbeats count them).
    pub assumed_processes: u64,
    /// How often a process announces itself (idle or not), so the others count it.
    pub beat_every: Duration,
    /// For `rediss://`: the certificate authority to trust (PEM), instead of the system's
    /// (`REDIS_CA_FILE`).
    pub ca_pem: Option<Vec<u8>>,
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
        }
    }
}

/// The part of a key's record that changes by rules (counters live beside it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Core {
    active: bool,
    disabled_reason: Option<String>,
    consecutive_errors: u32,
    cooldown_until: Millis,
    cooldown_reason: Option<CooldownReason>,
    cooldown_step: u32,
}

impl Core {
    fn of(h: &KeyHealth) -> Self {
        Self {
            active: h.active,
            disabled_reason: h.disabled_reason.clone(),
            consecutive_errors: h.consecutive_errors,
            cooldown_until: h.cooldown_until,
            cooldown_reason: h.cooldown_reason,
            cooldown_step: h.cooldown_step,
        }
    }

    fn put(self, h: &mut KeyHealth) {
        h.active = self.active;
        h.disabled_reason = self.disabled_reason;
        h.consecutive_errors = self.consecutive_errors;
        h.cooldown_until = self.cooldown_until;
        h.cooldown_reason = self.cooldown_reason;
        h.cooldown_step = self.cooldown_step;
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct BucketCache {
    usage: Usage,
    at: Millis,
    /// The last refusal: until when, which limit, for how many tokens.
    full: Option<(Millis, LimitKind, u64)>,
    cooldown: Option<(Millis, CooldownReason)>,
    /// What Google's 429s taught (as of the last refresh or this process's own report).
    learned: Limits,
}

#[derive(Debug, Clone)]
struct KeyCache {
    health: KeyHealth,
    version: i64,
}

#[derive(Debug)]
struct Names {
    buckets: Vec<[String; 5]>,
    keys: Vec<[String; 2]>,
    configured_active: Vec<bool>,
    window_ms: Millis,
    bucket_cache: Vec<Mutex<BucketCache>>,
    key_cache: Vec<Mutex<KeyCache>>,
}

/// Degraded mode: while Redis is down or slow, limits run in this process at a conservative
/// share of each limit (limit / live processes, counted from heartbeats while Redis answered).
#[derive(Debug)]
struct Degrade {
    local: MemoryStore,
    down: AtomicBool,
    /// Wall-clock ms of the last probe or heartbeat started (one at a time).
    last_probe: AtomicI64,
    last_beat: AtomicI64,
    live: AtomicU64,
    /// Keys whose activation changed here while degraded (found broken, enabled or disabled by
    /// an operator): written back to Redis once it answers.
    dirty: Mutex<std::collections::BTreeSet<usize>>,
    /// Whether `dirty` holds any (checked without the lock on every shared operation).
    pending: AtomicBool,
}

const PROBE_EVERY_MS: i64 = 500;
const BEAT_EVERY_MS: i64 = 2_000;
const BEAT_TTL_MS: i64 = 10_000;

// KEYS: procs. ARGV: owner ttl → live processes (heartbeats younger than ttl)
const LUA_BEAT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[2]))
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]) * 6)
return redis.call('ZCARD', KEYS[1])
";

/// The Redis backend.
pub struct RedisStore {
    conn: ConnectionManager,
    degrade: Arc<Degrade>,
    options: RedisOptions,
    owner: String,
    names: OnceLock<Names>,
    acquire: Script,
    finish: Script,
    cas: Script,
    peek: Script,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("prefix", &self.options.prefix)
            .field("time", &self.options.time)
            .field("degraded", &self.is_degraded())
            .finish_non_exhaustive()
    }
}

fn tag(s: &str) -> String {
    // `{` and `}` would end the hash tag early; they are the only characters that matter.
    s.replace(['{', '}'], "_")
}

fn redis_err(op: &'static str) -> impl Fn(redis::RedisError) -> StoreError {
    move |e| {
        let message = e.to_string();
        if e.is_io_error()
            || e.is_timeout()
            || e.is_connection_refusal()
            || e.is_connection_dropped()
        {
            StoreError::Unavailable { op, message }
        } else {
            StoreError::Redis { op, message }
        }
    }
}

fn pacific_offset_ms(at: Millis) -> Millis {
    let utc = DateTime::<Utc>::from_timestamp_millis(at).unwrap_or_default();
    let off = Los_Angeles
        .offset_from_utc_datetime(&utc.naive_utc())
        .fix()
        .local_minus_utc();
    Millis::from(off) * 1000
}

fn int(v: &Value) -> i64 {
    match v {
        Value::Int(i) => *i,
        Value::BulkString(b) => std::str::from_utf8(b)
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0),
        Value::SimpleString(s) => s.parse().unwrap_or(0),
        _ => 0,
    }
}

fn text(v: &Value) -> String {
    match v {
        Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
        Value::SimpleString(s) => s.clone(),
        Value::Int(i) => i.to_string(),
        _ => String::new(),
    }
}

/// A script's reply, read item by item with a length check: a short or odd reply (a
/// Redis-compatible proxy, a script of another version) is an error, never a panic.
struct Reply {
    items: Vec<Value>,
    op: &'static str,
}

impl Reply {
    fn of(v: Value, op: &'static str) -> Result<Self, StoreError> {
        Ok(Reply {
            items: items(v, op)?,
            op,
        })
    }

    fn get(&self, i: usize) -> Result<&Value, StoreError> {
        self.items.get(i).ok_or_else(|| StoreError::Redis {
            op: self.op,
            message: format!(
                "unexpected script reply: {} items where item {} was expected",
                self.items.len(),
                i + 1
            ),
        })
    }

    fn int(&self, i: usize) -> Result<i64, StoreError> {
        self.get(i).map(int)
    }

    fn text(&self, i: usize) -> Result<String, StoreError> {
        self.get(i).map(text)
    }
}

fn items(v: Value, op: &'static str) -> Result<Vec<Value>, StoreError> {
    match v {
        Value::Array(a) => Ok(a),
        other => Err(StoreError::Redis {
            op,
            message: format!("unexpected script reply {other:?}"),
        }),
    }
}

fn kind_of(s: &str) -> LimitKind {
    match s {
        "rpm" => LimitKind::Rpm,
        "tpm" => LimitKind::Tpm,
        "rpd" => LimitKind::Rpd,
        _ => LimitKind::Cooldown,
    }
}

fn reason_of(s: &str) -> Option<CooldownReason> {
    match s {
        "rate_limited" => Some(CooldownReason::RateLimited),
        "quota_exhausted" => Some(CooldownReason::QuotaExhausted),
        "errors" => Some(CooldownReason::Errors),
        _ => None,
    }
}

fn u(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

impl RedisStore {
    /// Connects to `url` (`redis://HOST:PORT/DB`), failing fast when Redis does not answer.
    ///
    /// # Errors
    /// [`StoreError::Redis`] when the URL is bad or nothing answers within the timeouts.
    pub async fn connect(url: &str, options: RedisOptions) -> Result<Self, StoreError> {
        let store = Self::lazy(url, options)?;
        store.beat_now().await?;
        store.keep_alive();
        Ok(store)
    }

    /// Connects to `url`, and when Redis does not answer yet, starts degraded instead of
    /// failing: every limit at a share for [`RedisOptions::assumed_processes`] processes, while a
    /// background probe keeps trying; the state is shared from the moment Redis answers.
    ///
    /// # Errors
    /// [`StoreError::Redis`] only when the URL itself is bad.
    pub async fn connect_or_degrade(url: &str, options: RedisOptions) -> Result<Self, StoreError> {
        let store = Self::lazy(url, options)?;
        if let Err(e) = store.beat_now().await {
            store
                .degrade
                .live
                .store(store.options.assumed_processes.max(1), Ordering::Relaxed);
            store.degrade_now(&e);
        }
        store.keep_alive();
        Ok(store)
    }

    /// The store's background life, until the store is dropped: a heartbeat every
    /// [`RedisOptions::beat_every`] while Redis answers (an idle process is still counted by the
    /// others), and a probe every 500 ms while it does not (a process started before Redis, or
    /// cut off from it, shares again as soon as it answers, idle or not).
    fn keep_alive(&self) {
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

    /// A store whose connection is made on first use.
    fn lazy(url: &str, options: RedisOptions) -> Result<Self, StoreError> {
        // `rediss://` is TLS (rustls): the system's roots, or the CA the operator names. rustls
        // needs one crypto provider for the process; another part may have set one already.
        if url.starts_with("rediss://") {
            let _ = rustls::crypto::ring::default_provider().install_default();
        }
        let client = match &options.ca_pem {
            Some(pem) if url.starts_with("rediss://") => redis::Client::build_with_tls(
                url,
                redis::TlsCertificates {
                    client_tls: None,
                    root_cert: Some(pem.clone()),
                },
            ),
            _ => redis::Client::open(url),
        }
        .map_err(redis_err("connect"))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(options.connect_timeout))
            .set_response_timeout(Some(options.response_timeout))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(200));
        let conn = ConnectionManager::new_lazy_with_config(client, config)
            .map_err(redis_err("connect"))?;
        let body = |s: &str| {
            format!(
                "local HOLD = {}\n{LUA_COMMON}\n{s}",
                crate::window::INFLIGHT_HOLD_MS
            )
        };
        let store = Self {
            conn,
            degrade: Arc::new(Degrade {
                local: MemoryStore::new(),
                down: AtomicBool::new(false),
                last_probe: AtomicI64::new(0),
                last_beat: AtomicI64::new(0),
                live: AtomicU64::new(1),
                dirty: Mutex::default(),
                pending: AtomicBool::new(false),
            }),
            owner: format!("{:016x}", fastrand::u64(..)),
            options,
            names: OnceLock::new(),
            acquire: Script::new(&body(LUA_ACQUIRE)),
            finish: Script::new(&body(LUA_FINISH)),
            cas: Script::new(LUA_CAS),
            peek: Script::new(&body(LUA_PEEK)),
        };
        Ok(store)
    }

    fn procs_key(&self) -> String {
        format!("{}:v1:procs", self.options.prefix)
    }

    async fn beat_now(&self) -> Result<(), StoreError> {
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

    /// Whether requests are being served from the local fallback.
    pub fn is_degraded(&self) -> bool {
        self.degrade.down.load(Ordering::Relaxed)
    }

    /// Processes that shared this Redis at the last heartbeat (at least 1).
    pub fn live_processes(&self) -> u64 {
        self.degrade.live.load(Ordering::Relaxed).max(1)
    }

    fn wall_ms() -> Millis {
        crate::clock::Clock::now_ms(&crate::clock::SystemClock)
    }

    /// Starts a background job (a heartbeat, or a probe while degraded) unless one started
    /// within `every_ms`. The job is one Redis command bounded by the response timeout, so it
    /// ends by itself; no task outlives it.
    fn spawn_job(&self, last: &AtomicI64, every_ms: i64, probe: bool) {
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
    fn activation(&self, key: KeyRef<'_>) -> Option<(bool, Option<String>)> {
        self.degrade
            .local
            .key_health(key)
            .ok()
            .map(|h| (h.active, h.disabled_reason))
    }

    /// Remembers a key whose activation the local fallback changed, for [`Self::write_back`].
    fn note_change(&self, key: KeyRef<'_>, before: Option<&(bool, Option<String>)>) {
        if self.activation(key).as_ref() != before {
            self.degrade.dirty.lock().insert(key.idx);
            self.degrade.pending.store(true, Ordering::Relaxed);
        }
    }

    /// Writes to Redis the activation of every key that changed here while degraded (a key
    /// found broken stays off for every process; an operator's enable or disable holds). What
    /// cannot be written now is kept for the next time.
    async fn write_back(&self) {
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
    fn degrade_now(&self, err: &StoreError) {
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
    fn local_share<'a>(&self, bucket: BucketRef<'a>) -> BucketRef<'a> {
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

    fn names(&self) -> Result<&Names, StoreError> {
        self.names.get().ok_or(StoreError::NotPrepared)
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
    ///
    /// # Errors
    /// [`StoreError::Redis`].
    pub async fn try_lock(&self, name: &str, ttl: Duration) -> Result<Option<String>, StoreError> {
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
    ///
    /// # Errors
    /// [`StoreError::Redis`].
    pub async fn unlock(&self, name: &str, token: &str) -> Result<bool, StoreError> {
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

impl RedisStore {
    fn prepare_shared(&self, layout: &Layout) -> Result<(), StoreError> {
        let p = &self.options.prefix;
        let names = Names {
            buckets: layout
                .buckets
                .iter()
                .map(|(project, model)| {
                    // v2: a call in flight is logged at its reservation + HOLD (issue 14).
                    let base = format!("{p}:v2:{{p:{}}}:m:{model}", tag(project));
                    [
                        format!("{base}:log"),
                        format!("{base}:tok"),
                        format!("{base}:day"),
                        format!("{base}:cool"),
                        format!("{base}:lim"),
                    ]
                })
                .collect(),
            keys: layout
                .keys
                .iter()
                .map(|k| {
                    let base = format!("{p}:v1:{{p:{}}}:k:{}", tag(&k.project), k.fingerprint);
                    [format!("{base}:h"), format!("{base}:trial")]
                })
                .collect(),
            configured_active: layout.keys.iter().map(|k| k.active).collect(),
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
            .map_err(|_| StoreError::AlreadyPrepared)?;
        self.degrade.local.prepare(layout)
    }

    async fn shared_acquire(
        &self,
        key: KeyRef<'_>,
        bucket: BucketRef<'_>,
        tokens: u64,
        now: Millis,
        policy: &HealthPolicy,
    ) -> Result<Acquired, StoreError> {
        let reservation = fastrand::u64(1..);
        self.acquire_with_id(key, bucket, tokens, now, policy, reservation)
            .await
    }

    /// [`StateStore::acquire`] with a reservation id of the caller's choosing. Sending the same
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
                if trial {
                    let hold = i64::try_from(policy.trial_timeout.as_millis()).unwrap_or(0);
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
                    let hold = i64::try_from(policy.trial_timeout.as_millis()).unwrap_or(0);
                    self.key_cache(key.idx)?.lock().health.trial_until = at + hold;
                }
                Ok(Acquired::KeyUnavailable)
            }
            _ => {
                let kind = r.text(2)?;
                let retry_at = r.int(3)?;
                let cool_until = r.int(7)?;
                let mut c = self.bucket_cache(bucket.idx)?.lock();
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
                Ok(Acquired::Refused(Check::Full { retry_at, limit }))
            }
        }
    }

    async fn shared_finish(
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
        let mut after = before.clone();
        finish.key.apply(&mut after, now, policy);
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
                c.cooldown = Some((until, reason));
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
        self.cas_loop(key, v, s, |h| event.apply(h, now, policy))
            .await
    }

    async fn shared_update_key<R: Send>(
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
    /// metrics and readiness read through it).
    async fn shared_refresh(&self, now: Millis) -> Result<(), StoreError> {
        let names = self.names()?;
        let mut conn = self.conn.clone();
        let build = || {
            let mut pipe = redis::pipe();
            for [log, tok, day, cool, lim] in &names.buckets {
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
            for [health, _] in &names.keys {
                pipe.cmd("HGETALL").arg(health);
            }
            pipe
        };
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
        if replies.len() != names.buckets.len() + names.keys.len() {
            return Err(StoreError::Redis {
                op: "refresh",
                message: format!(
                    "unexpected pipeline reply: {} items for {} buckets and {} keys",
                    replies.len(),
                    names.buckets.len(),
                    names.keys.len()
                ),
            });
        }
        let mut replies = replies.into_iter();
        for slot in &names.bucket_cache {
            let r = Reply::of(replies.next().unwrap_or(Value::Nil), "refresh")?;
            let (at, until) = (r.int(0)?, r.int(4)?);
            let mut c = slot.lock();
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
        let replies: Vec<HashMap<String, String>> = replies
            .map(|v| {
                redis::from_redis_value(v).map_err(|e| StoreError::Redis {
                    op: "refresh",
                    message: format!("unexpected key record: {e}"),
                })
            })
            .collect::<Result<_, _>>()?;
        for (fields, slot) in replies.iter().zip(&names.key_cache) {
            let mut c = slot.lock();
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

    fn shared_bucket_view(
        &self,
        bucket: BucketRef<'_>,
        tokens: u64,
        now: Millis,
    ) -> Result<BucketView, StoreError> {
        let names = self.names()?;
        let c = *self.bucket_cache(bucket.idx)?.lock();
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
        Ok(BucketView {
            check,
            usage,
            cooldown,
            learned: c.learned,
        })
    }

    fn shared_key_usable(&self, key: KeyRef<'_>, now: Millis) -> Result<bool, StoreError> {
        Ok(self.key_cache(key.idx)?.lock().health.usable(now))
    }

    fn shared_key_health(&self, key: KeyRef<'_>) -> Result<KeyHealth, StoreError> {
        Ok(self.key_cache(key.idx)?.lock().health.clone())
    }
}

impl StateStore for RedisStore {
    fn backend(&self) -> &'static str {
        if self.is_degraded() {
            "redis (degraded: local shares)"
        } else {
            "redis"
        }
    }

    fn prepare(&self, layout: &Layout) -> Result<(), StoreError> {
        self.prepare_shared(layout)
    }

    async fn acquire(
        &self,
        key: KeyRef<'_>,
        bucket: BucketRef<'_>,
        tokens: u64,
        now: Millis,
        policy: &HealthPolicy,
    ) -> Result<Acquired, StoreError> {
        if !self.is_degraded() {
            if self.degrade.pending.load(Ordering::Relaxed) {
                self.write_back().await;
            }
            match self.shared_acquire(key, bucket, tokens, now, policy).await {
                Err(e @ StoreError::Unavailable { .. }) => self.degrade_now(&e),
                other => {
                    self.spawn_job(&self.degrade.last_beat, BEAT_EVERY_MS, false);
                    return other;
                }
            }
        }
        self.spawn_job(&self.degrade.last_probe, PROBE_EVERY_MS, true);
        self.degrade
            .local
            .acquire_now(key, self.local_share(bucket), tokens, now, policy)
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
        if !self.is_degraded() {
            match self
                .shared_finish(key, bucket, reservation, finish, now, policy)
                .await
            {
                Err(e @ StoreError::Unavailable { .. }) => self.degrade_now(&e),
                other => return other,
            }
        }
        // A reservation made in Redis is unknown here: its tokens stay as reserved there.
        let before = self.activation(key);
        let done = self
            .degrade
            .local
            .finish(
                key,
                self.local_share(bucket),
                reservation,
                finish,
                now,
                policy,
            )
            .await;
        self.note_change(key, before.as_ref());
        done
    }

    async fn update_key<R: Send>(
        &self,
        key: KeyRef<'_>,
        mut f: impl FnMut(&mut KeyHealth) -> R + Send,
    ) -> Result<R, StoreError> {
        if !self.is_degraded() {
            match self.shared_update_key(key, &mut f).await {
                Err(e @ StoreError::Unavailable { .. }) => self.degrade_now(&e),
                other => return other,
            }
        }
        tracing::warn!(
            key_id = key.key_id,
            "Redis is unavailable: this change is kept here and written to Redis once it answers"
        );
        let before = self.activation(key);
        let out = self.degrade.local.update_key(key, f).await;
        self.note_change(key, before.as_ref());
        out
    }

    async fn refresh(&self, now: Millis) -> Result<(), StoreError> {
        if self.is_degraded() {
            return Ok(());
        }
        self.write_back().await;
        match self.shared_refresh(now).await {
            Err(e @ StoreError::Unavailable { .. }) => {
                self.degrade_now(&e);
                Ok(())
            }
            other => other,
        }
    }

    fn bucket_view(
        &self,
        bucket: BucketRef<'_>,
        tokens: u64,
        now: Millis,
    ) -> Result<BucketView, StoreError> {
        if self.is_degraded() {
            // Selection looks here even when every local share is spent: probe from here too.
            self.spawn_job(&self.degrade.last_probe, PROBE_EVERY_MS, true);
            return self
                .degrade
                .local
                .bucket_view(self.local_share(bucket), tokens, now);
        }
        self.shared_bucket_view(bucket, tokens, now)
    }

    fn key_usable(&self, key: KeyRef<'_>, now: Millis) -> Result<bool, StoreError> {
        if self.is_degraded() {
            return self.degrade.local.key_usable(key, now);
        }
        self.shared_key_usable(key, now)
    }

    fn key_health(&self, key: KeyRef<'_>) -> Result<KeyHealth, StoreError> {
        if self.is_degraded() {
            return self.degrade.local.key_health(key);
        }
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
