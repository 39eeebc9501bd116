//! botforge's backtest engine, first part: OHLCV data loading and indicators that match TA-Lib
//! (definitions, warm-up and floating-point operation order).
//!
//! ```
//! let bars = backtest::parse_csv("demo.csv", "Date,Open,High,Low,Close\n2024-01-01,1,2,1,1.5\n2024-01-02,1.5,2,1,1.8\n2024-01-03,1.8,2.2,1.7,2.1\n")?;
//! let sma = backtest::indicators::sma(&bars.close, 2);
//! assert!(sma[0].is_nan());
//! assert!((sma[2] - 1.95).abs() < 1e-12);
//! # Ok::<(), backtest::DataError>(())
//! ```
#![deny(missing_docs)]
#![expect(
    clippy::many_single_char_names,
    reason = "the formulas read as in TA-Lib's source and the reference notes (h, l, c, n, k)"
)]

mod broker;
mod data;
pub mod engine;
mod eval;
mod functions;
pub mod html;
pub mod indicators;
pub mod portfolio;
pub mod report;
mod resample;
pub mod session;
mod state;
pub mod stats;
pub mod sweep;
mod trade;

pub use data::{
    Bars, DataError, Detected, LoadOptions, TimeFormat, Times, load, load_csv, parse_csv,
    parse_time, parse_with,
};
pub use eval::{EvalError, Evaluator, Series, SharedCache, cell};
pub use resample::{TimeframeError, check_timeframes, span_text};
