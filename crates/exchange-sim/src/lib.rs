//! `botforge sim-exchange`: a local fake Binance (DESIGN.md §8) replaying a data file at a
//! chosen speed. REST `time`, `exchangeInfo` and `klines` answer as Binance does (the open bar
//! included, decimal strings, code -1121 for an unknown symbol); the
//! `/ws/<symbol>@kline_<interval>` stream sends each bar's update while it is open and its
//! final (`"x": true`) kline when it closes, and pings. Faults ([`Faults`]) drop final klines,
//! repeat them, disconnect, stall, hide bars everywhere (true gaps) and answer 429 or 418.

mod clock;
mod faults;
mod server;

pub use clock::{Market, walk};
pub use faults::{FaultError, Faults};
pub use server::{ExchangeHandle, spawn};
