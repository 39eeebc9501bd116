//! The backtest crate against its references.
#![expect(
    clippy::many_single_char_names,
    reason = "prices read as in the references: c, h, l"
)]

mod talib_parity;
