//! Paper trading (DESIGN.md §8): a strategy on a live feed with a paper account that is the
//! backtest advanced one closed bar at a time ([`backtest::session::Session`]). Every bar and
//! what it did is journaled ([`journal`]) before it is printed; a restart replays the journal
//! through the session, checks the fills, and goes on ([`runner`]); [`status`] reads a run
//! directory, live or ended, and `verify` backtests its bars.

pub mod journal;
pub mod manifest;
pub mod metrics;
mod records;
pub mod runner;
pub mod status;

use std::path::{Path, PathBuf};

pub use records::label;

/// Why a run cannot start or go on.
#[derive(Debug, thiserror::Error)]
pub enum PaperError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The journal is damaged before its end or out of sequence.
    #[error("{path} line {line}: {what}")]
    Journal {
        /// The journal.
        path: PathBuf,
        /// The line (from 1).
        line: usize,
        /// What is wrong.
        what: String,
    },
    /// `run.toml` cannot be read.
    #[error("{path}: {what}")]
    Manifest {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        what: String,
    },
    /// The run directory belongs to another strategy or other settings.
    #[error("{dir}: {what}")]
    OtherRun {
        /// The run directory.
        dir: PathBuf,
        /// What differs and what to do.
        what: String,
    },
    /// Replaying the journal does not give what it recorded.
    #[error(
        "{dir}: replaying the journal gives {what}: refusing to go on (the strategy or the engine changed; start a new run with --new)"
    )]
    Mismatch {
        /// The run directory.
        dir: PathBuf,
        /// The first difference.
        what: String,
    },
    /// The strategy file does not validate.
    #[error(transparent)]
    Strategy(#[from] strategy::StrategyError),
    /// The feed failed.
    #[error(transparent)]
    Feed(#[from] feeds::FeedError),
    /// The engine could not take a bar.
    #[error(transparent)]
    Session(#[from] backtest::session::SessionError),
}

impl PaperError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> PaperError {
        PaperError::Io {
            path: path.to_owned(),
            source,
        }
    }

    /// Whether the outside failed (an exchange that could not be reached: exit 2) rather than
    /// the input (exit 1).
    pub fn is_upstream(&self) -> bool {
        match self {
            PaperError::Feed(f) => {
                f.is_unreachable() || matches!(f, feeds::FeedError::Protocol { .. })
            }
            _ => false,
        }
    }
}
