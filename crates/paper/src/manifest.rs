//! `run.toml`: what a run directory holds — the strategy file as run and its SHA-256, the
//! settings, the feed, `first_bar` and `live_from`. Written whole through a temporary file.

use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::PaperError;

/// Where the bars come from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeedSpec {
    /// `binance` or `replay`.
    pub kind: String,
    /// `mainnet`, `testnet` or a URL (binance).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// The symbol (binance), or the data file's name (replay).
    pub symbol: String,
    /// The interval (binance), or `replay`.
    pub interval: String,
    /// The data file (replay; empty for the bundled sample).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
    /// Closed bars before the first live one that only feed the indicators.
    pub warmup: usize,
}

/// A run directory's `run.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// The strategy's name.
    pub name: String,
    /// Where the strategy file was.
    pub strategy_file: String,
    /// SHA-256 of the strategy file as run, hex.
    pub strategy_sha256: String,
    /// Starting cash.
    pub cash: f64,
    /// Commission per fill.
    pub commission: f64,
    /// The feed.
    pub feed: FeedSpec,
    /// The first bar's open time (`2026-12-07T14:05:00Z`), once there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_bar: Option<String>,
    /// The first live bar's open time: no entry is decided before it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub live_from: Option<String>,
    /// The strategy file as run.
    pub strategy: String,
}

/// SHA-256 of `text`, hex.
pub fn sha256(text: &str) -> String {
    use std::fmt::Write as _;
    Sha256::digest(text.as_bytes())
        .iter()
        .fold(String::with_capacity(64), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

impl Manifest {
    /// Reads `dir/run.toml`; `None` when there is none.
    ///
    /// # Errors
    /// [`PaperError::Manifest`] when it cannot be read.
    pub fn read(dir: &Path) -> Result<Option<Manifest>, PaperError> {
        let path = dir.join("run.toml");
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(PaperError::io(&path, e)),
        };
        toml::from_str(&text)
            .map(Some)
            .map_err(|e| PaperError::Manifest {
                path,
                what: e.to_string(),
            })
    }

    /// Writes `dir/run.toml` whole (a temporary file renamed over it).
    ///
    /// # Errors
    /// [`PaperError::Io`].
    pub fn write(&self, dir: &Path) -> Result<(), PaperError> {
        let path = dir.join("run.toml");
        let tmp = dir.join(".run.toml.tmp");
        let text = toml::to_string(self).map_err(|e| PaperError::Manifest {
            path: path.clone(),
            what: e.to_string(),
        })?;
        std::fs::write(&tmp, text).map_err(|e| PaperError::io(&tmp, e))?;
        let f = std::fs::File::open(&tmp).map_err(|e| PaperError::io(&tmp, e))?;
        f.sync_all().map_err(|e| PaperError::io(&tmp, e))?;
        std::fs::rename(&tmp, &path).map_err(|e| PaperError::io(&path, e))
    }

    /// The strategy, validated.
    ///
    /// # Errors
    /// [`PaperError::Strategy`].
    pub fn strategy(&self) -> Result<strategy::Strategy, PaperError> {
        Ok(strategy::Strategy::from_toml(
            &self.strategy_file,
            &self.strategy,
        )?)
    }

    /// `live_from` in ms.
    pub fn live_from_ms(&self) -> Option<i64> {
        self.live_from.as_deref().and_then(backtest::parse_time)
    }
}
