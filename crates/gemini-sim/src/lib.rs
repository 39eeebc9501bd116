//! A local Gemini API that behaves like the real one, for tests, benchmarks and trying
//! botforge without keys: the same routes (native and OpenAI-compatible), both auth forms,
//! the same validation errors and byte-faithful streaming; keys grouped into projects with
//! RPM/TPM/RPD per (project, model) answered by real 429 bodies; scripted replies with
//! deterministic token counts (about 4 characters a token); injectable faults; a time scale;
//! and a stats route.
//!
//! ```no_run
//! # async fn run() -> std::io::Result<()> {
//! let sim = gemini_sim::spawn(gemini_sim::SimConfig::default(), "127.0.0.1:0").await?;
//! println!("GEMINI_BASE_URL={}", sim.base_url());
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

mod books;
mod config;
mod embed;
mod format;
mod jobs;
mod native;
mod quota;
mod resources;
mod seen;
mod server;
mod sim;

pub use config::{
    ConfigError, FaultConfig, FaultKind, KeyConfig, KeyState, LimitConfig, ReplyConfig, SimConfig,
};
pub use server::{SimHandle, router, serve, spawn};
pub use sim::{Counts, DEFAULT_MODELS, Sim, Stats};
