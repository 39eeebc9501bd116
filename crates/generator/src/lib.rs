//! Description → validated strategy, two ways: the [`offline`] compiler for a controlled
//! vocabulary (deterministic, no key needed), and a model through the [`Llm`] trait with a
//! response schema and a repair loop. Either result is written atomically as
//! `STRATEGY_DIR/NAME.toml`.
//!
//! ```
//! let s = generator::offline::compile("buy when RSI(14) < 30, sell when RSI > 70, 5% stop loss")?;
//! assert_eq!(s.rules.entry_long.as_ref().map(ToString::to_string).as_deref(), Some("rsi_14 < 30"));
//! assert_eq!(s.risk.stop_loss_pct, Some(5.0));
//! # Ok::<(), generator::GenerateError>(())
//! ```
#![deny(missing_docs)]

mod llm;
mod llm_path;
pub mod offline;
mod persist;
mod prompt;

use std::path::PathBuf;

pub use llm::{Llm, LlmError, LlmReply, LlmRequest, Turn};
pub use llm_path::{
    MAX_ATTEMPTS, ModelAnswer, answer_from_json, generate_with_llm, strategy_from_json,
};
pub use persist::{check_name, name_from_description, write_atomic, write_file_atomic};
pub use prompt::{SYSTEM_PROMPT, response_schema};
use strategy::Strategy;

/// A generated strategy and how it was made.
#[derive(Debug, Clone)]
pub struct Generated {
    /// The strategy.
    pub strategy: Strategy,
    /// Attempts used (1 for the offline compiler).
    pub attempts: u32,
    /// `offline` or `gemini`.
    pub provider: &'static str,
    /// The model, for the LLM path.
    pub model: Option<String>,
    /// The key that served it, for the LLM path.
    pub key_id: Option<String>,
    /// What the idea asked for that the language cannot say (the model's own account).
    pub unsupported: Vec<String>,
    /// What the model changed to make the idea fit the language.
    pub approximations: Vec<String>,
}

impl Generated {
    /// An offline compilation: one attempt, no model, and the compiler's notes on how it read
    /// the description.
    pub fn offline_noted((strategy, notes): (Strategy, Vec<String>)) -> Generated {
        Generated {
            strategy,
            attempts: 1,
            provider: "offline",
            model: None,
            key_id: None,
            unsupported: Vec::new(),
            approximations: notes,
        }
    }
}

/// Why no strategy came out.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GenerateError {
    /// The offline compiler met words it cannot place.
    #[error("the offline compiler could not place {}{}; it reads indicators (RSI, moving averages, MACD, Bollinger, stochastic, ATR, ADX, CCI, Williams %R, MFI, ROC, SAR, Supertrend, VWAP, candlestick patterns…) compared with levels or crossing each other, breakouts, time filters, stops, targets, trailing stops, time exits and sizing (see `botforge generate --help`); set a Gemini key (GEMINI_API_KEY) for free-form ideas", quoted(.words), did_you_mean(.hints))]
    NotUnderstood {
        /// The words, as written.
        words: Vec<String>,
        /// The nearest things it does understand.
        hints: Vec<String>,
    },
    /// The offline compiler understood the words but they do not make a strategy.
    #[error("{0}")]
    Incomplete(String),
    /// The model could not be reached or refused the request. (Its message is in this one's
    /// text, so it is not also the source: an error chain would print it twice.)
    #[error("the model failed: {0}")]
    Llm(LlmError),
    /// No attempt gave a valid strategy.
    #[error("no valid strategy after {attempts} attempts; the last problem: {}", errors.last().map_or("none", String::as_str))]
    Invalid {
        /// Attempts made.
        attempts: u32,
        /// Each attempt's problems, in order.
        errors: Vec<String>,
    },
    /// The name cannot name a file.
    #[error("--name {name:?}: {reason}")]
    BadName {
        /// The name.
        name: String,
        /// Why.
        reason: String,
    },
    /// The file exists and `--force` was not given.
    #[error("{} already exists: choose another --name, or pass --force to replace it", path.display())]
    Exists {
        /// The file.
        path: PathBuf,
    },
    /// A file could not be written.
    #[error("{}: cannot write", path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

fn quoted(words: &[String]) -> String {
    words
        .iter()
        .map(|w| format!("\"{w}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

fn did_you_mean(hints: &[String]) -> String {
    if hints.is_empty() {
        String::new()
    } else {
        format!(" (did you mean: {}?)", hints.join("; "))
    }
}

impl GenerateError {
    /// Whether the user can fix it (exit code 1) rather than upstream failing (exit code 2).
    pub fn is_user_error(&self) -> bool {
        match self {
            GenerateError::Llm(e) => e.caller_fault,
            // Everything else, `Invalid` included: when the model answered every attempt but
            // no answer was a valid strategy, the idea could not be expressed (DESIGN.md §4).
            _ => true,
        }
    }
}

/// Names the strategy, keeps the user's description, and writes `dir/NAME.toml` atomically.
///
/// # Errors
/// [`GenerateError::BadName`], [`GenerateError::Exists`] or [`GenerateError::Io`].
pub fn save(
    strategy: &mut Strategy,
    description: &str,
    name: &str,
    dir: &std::path::Path,
    force: bool,
) -> Result<PathBuf, GenerateError> {
    check_name(name)?;
    name.clone_into(&mut strategy.name);
    description.clone_into(&mut strategy.description);
    write_atomic(dir, name, "toml", &strategy.to_toml(), force)
}

impl From<LlmError> for GenerateError {
    fn from(e: LlmError) -> Self {
        GenerateError::Llm(e)
    }
}
