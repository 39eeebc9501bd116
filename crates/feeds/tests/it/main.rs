//! The feeds against the simulated exchange over real sockets on 127.0.0.1.
#![expect(
    clippy::unwrap_used,
    clippy::float_cmp,
    reason = "test code: a failure is the test's answer; prices compared exactly on purpose"
)]

mod binance;
mod replay;

use backtest::Bars;

/// `n` one-minute bars of a seeded walk from 2026-01-05 00:00 UTC.
pub fn minutes(n: usize, seed: u64) -> Bars {
    exchange_sim::walk(n, seed, 1_767_571_200_000, 60_000)
}
