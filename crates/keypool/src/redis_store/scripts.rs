//! The Lua scripts, one file each (`lua/`): what runs inside Redis, in one round trip per
//! call. `common.lua` is put before the bucket scripts, after `local HOLD = …`.

pub(super) const LUA_COMMON: &str = include_str!("lua/common.lua");

// KEYS: log tok day cool health trial lim
// ARGV: now tokens rpm tpm rpd window off_now off_next id owner trial_ttl configured_active
//   (rpm tpm rpd: declared, -1 when unknown)
// → {1, now, trial, n, t, d, v, s} granted | {2, now, why, v, s} key unavailable
//   | {3, now, kind, retry_at, n, t, d, cool_until} refused
pub(super) const LUA_ACQUIRE: &str = include_str!("lua/acquire.lua");

// KEYS: log tok day cool health trial lim
// ARGV: now id mode n cool_ms cool_reason d_ok d_err last_error expected_v new_state owner window off_now
//   learned_rpm learned_tpm learned_rpd learned_ttl (-1: nothing learned)
// → {1, v, s, now, n, t, d} | {0, …} (state conflict: counters and tokens applied, state not)
pub(super) const LUA_FINISH: &str = include_str!("lua/finish.lua");

// KEYS: health. ARGV: expected_v new_state → {1, v, s} | {0, v, s}
pub(super) const LUA_CAS: &str = include_str!("lua/cas.lua");

// KEYS: log tok day cool lim. ARGV: now window off_now
// → {now, n, t, d, cool_until, cool_reason, learned_rpm, learned_tpm, learned_rpd} (-1: none)
pub(super) const LUA_PEEK: &str = include_str!("lua/peek.lua");

// KEYS: procs since. ARGV: owner ttl → {live processes (heartbeats younger than ttl), ms the set
//   has existed}
pub(super) const LUA_BEAT: &str = include_str!("lua/beat.lua");

// KEYS: log tok day. ARGV: now window off_now, then (id at tokens) per call
// → calls added (ids already there add nothing)
pub(super) const LUA_REPLAY: &str = include_str!("lua/replay.lua");
