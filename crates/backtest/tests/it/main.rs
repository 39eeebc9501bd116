//! The backtest crate against its references.
#![expect(
    clippy::many_single_char_names,
    clippy::unwrap_used,
    clippy::panic,
    reason = "test helpers; prices read as in the references: c, h, l"
)]

mod backtesting_parity;
mod engine;
mod eval;
mod python_export;
mod talib_parity;
