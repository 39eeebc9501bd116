//! Why a feed cannot start or go on.

/// A feed's failure.
#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    /// Not one of Binance's intervals.
    #[error("unknown interval `{0}`: use one of 1m 3m 5m 15m 30m 1h 2h 4h 6h 8h 12h 1d 1w")]
    UnknownInterval(String),
    /// `--endpoint` is neither `mainnet`, `testnet` nor an http(s) URL.
    #[error("--endpoint {0}: use mainnet, testnet or an http:// or https:// URL")]
    BadEndpoint(String),
    /// The exchange does not list the symbol (Binance code -1121).
    #[error("{endpoint} does not list symbol `{symbol}`: check its spelling (e.g. BTCUSDT)")]
    UnknownSymbol {
        /// The endpoint asked.
        endpoint: String,
        /// The symbol.
        symbol: String,
    },
    /// The exchange could not be reached for the whole of the time allowed.
    #[error("cannot reach {endpoint}: {reason}")]
    Unreachable {
        /// The endpoint.
        endpoint: String,
        /// The last failure.
        reason: String,
    },
    /// The exchange answered something this feed cannot read.
    #[error("{endpoint}: {what}")]
    Protocol {
        /// The endpoint.
        endpoint: String,
        /// What was wrong.
        what: String,
    },
    /// A replayed data file could not be read.
    #[error(transparent)]
    Data(#[from] backtest::DataError),
}

impl FeedError {
    /// Whether the exchange could not be reached (exit 2), rather than refused the input (1).
    pub fn is_unreachable(&self) -> bool {
        matches!(self, FeedError::Unreachable { .. })
    }
}
