//! botforge's Gemini key pool.
//!
//! Gemini enforces RPM, input TPM and RPD per **Google Cloud project and model**, not per key, so
//! the pool keeps limits in (project, model) buckets and health per key. It selects a usable key
//! with room for the request (weighted by headroom), reserves that capacity, and on the report
//! reconciles real token counts, cools buckets after 429s (per-minute: `retryDelay`; per-day:
//! until Pacific midnight), cools keys after repeated transient errors (30 s doubling to 300 s,
//! then one half-open trial), deactivates broken keys, and falls back to `GEMINI_API_KEY`.
//!
//! ```
//! use std::sync::Arc;
//! use keypool::{Environment, KeyPool, ManualClock, Outcome, PoolConfig, SelectRequest};
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! // Material comes from the environment (or a secret store); limits from keys.json, else
//! // unknown until a 429 teaches them; the model from keys.json's model_name, else any model.
//! let env = Environment::from_pairs([
//!     ("ENABLE_KEY_ROTATION", "true"),
//!     ("GEMINI_KEY_flash_01", "test-key-one-0001"),
//!     ("GEMINI_KEY_flash_02", "test-key-two-0002"),
//! ]);
//! let config = PoolConfig::load(&env, &env)?;
//! let pool = KeyPool::in_memory(&config, Arc::new(ManualClock::new(0)))?;
//!
//! let lease = pool.select(&SelectRequest::new("gemini-2.5-flash", 120)).await?;
//! assert!(pool.key_id(&lease).starts_with("flash_0"));
//! // ... call Gemini with pool.api_key(&lease) in the x-goog-api-key header ...
//! pool.report(lease, &Outcome::Success { input_tokens: 97 }).await?;
//! assert_eq!(pool.health()?.keys.iter().map(|k| k.success_count).sum::<u64>(), 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```
#![deny(missing_docs)]

pub mod activity;
mod any_store;
mod budget;
mod clock;
mod config;
#[cfg(feature = "redis")]
mod degrading;
mod error;
mod health;
mod limits;
mod memory_store;
mod models;
mod owners;
mod pool;
#[cfg(feature = "redis")]
mod redis_store;
mod secret;
mod store;
mod window;

pub use any_store::AnyStore;
pub use budget::RetryBudget;
pub use clock::{
    Clock, ManualClock, Millis, ScaledClock, Sleep, SystemClock, next_pacific_midnight,
    pacific_day, to_rfc3339,
};
pub use config::{Environment, KeyOrigin, KeySource, KeySpec, PoolConfig, vars};
#[cfg(feature = "redis")]
pub use degrading::{Degrading, Progress};
pub use error::{ConfigError, Exhausted, KeyBlock, PoolError, StoreError};
pub use health::{HealthPolicy, KeyHealth, KeyState, LastError};
pub use limits::{LimitSource, Limits};
pub use memory_store::MemoryStore;
pub use owners::Owners;
pub use pool::{
    ANY_MODEL, ExecuteError, Executed, FALLBACK_KEY_ID, FailoverPolicy, Grant, HealthSnapshot,
    Held, KeyPool, KeyReport, Lease, MaterialUpdate, Outcome, PoolOptions, SelectRequest, Verdict,
    config_from_process, model_id,
};
#[cfg(feature = "redis")]
pub use redis_store::{RedisConn, RedisOptions, RedisShared, RedisStore, RedisTime};
pub use secret::ApiKey;
pub use store::{
    Acquired, BucketRef, BucketView, Finish, KeyEvent, KeyLayout, KeyRef, Layout, StateStore,
    Tokens,
};
pub use window::{
    Check, CooldownReason, INFLIGHT_HOLD_MS, LEARNED_TTL_MS, LimitKind, Usage, WINDOW_MS, Window,
};
