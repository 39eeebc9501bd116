//! The backtest crate against its references.
#![expect(
    clippy::many_single_char_names,
    clippy::unwrap_used,
    clippy::panic,
    clippy::float_cmp,
    reason = "test helpers; prices read as in the references: c, h, l; exact values compared on purpose"
)]

mod backtesting_parity;
mod data_formats;
mod data_fuzz;
mod engine;
mod engine_parity;
mod eval;
mod portfolio;
mod python_export;
mod random_strategies;
mod reference;
mod session;
mod sweep;
mod talib_parity;
