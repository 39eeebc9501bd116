//! Market feeds for paper trading (DESIGN.md §8): closed bars, gaps, reconnects and duplicates,
//! from Binance (REST klines and the kline stream, [`binance`]) or from a data file played at a
//! chosen speed ([`replay`]). A bar is closed when the exchange says so, never by the local
//! clock.

pub mod binance;
mod error;
mod interval;
mod kline;
pub mod replay;

pub use error::FeedError;
pub use interval::{INTERVALS, Interval};
pub use kline::Kline;

/// Where a bar came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The kline stream.
    Ws,
    /// A REST backfill or poll.
    Rest,
    /// A data file (`--replay`).
    File,
}

impl Source {
    /// `ws`, `rest` or `file`, as the journal and the metrics label it.
    pub fn name(self) -> &'static str {
        match self {
            Source::Ws => "ws",
            Source::Rest => "rest",
            Source::File => "file",
        }
    }
}

/// What a feed reports, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A closed bar, after every bar before it (warm-up bars feed the indicators only).
    Bar {
        /// The bar.
        kline: Kline,
        /// Where it came from.
        source: Source,
        /// One of the `--warmup` bars fetched before the first live bar.
        warmup: bool,
    },
    /// Intervals with no bar anywhere (no trades): open times `from_ms` to `to_ms`, inclusive.
    Gap {
        /// The first missing open time.
        from_ms: i64,
        /// The last missing open time.
        to_ms: i64,
    },
    /// A closed bar at or before the last one: ignored.
    Duplicate {
        /// Its open time.
        open_ms: i64,
        /// Whether its prices differ from the bar taken (logged).
        differs: bool,
    },
    /// The stream is connected (`reconnect`: not for the first time).
    Connected {
        /// Whether a connection was up before.
        reconnect: bool,
    },
    /// The stream dropped; the feed reconnects on its own.
    Disconnected {
        /// Why.
        reason: String,
    },
    /// A replayed file has no more bars.
    End,
}

/// A source of [`Event`]s.
pub trait Feed {
    /// The next event; waits for it.
    ///
    /// # Errors
    /// [`FeedError`] when the feed cannot go on (an unknown symbol, an exchange that stayed
    /// unreachable).
    fn next(&mut self) -> impl Future<Output = Result<Event, FeedError>> + Send;
}
