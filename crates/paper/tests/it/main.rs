//! Paper runs: against the simulated exchange over real sockets, with faults, they trade as a
//! backtest of the bars they journaled; a journal cut at any byte resumes to the uninterrupted
//! run; another strategy's directory, other settings or a changed record are refused.
#![expect(
    clippy::unwrap_used,
    clippy::many_single_char_names,
    clippy::large_futures,
    clippy::float_cmp,
    reason = "test code: a failure is the test's answer; metrics compared exactly on purpose"
)]

mod parity;
mod restart;
mod simulated;

use std::path::{Path, PathBuf};

use backtest::Bars;
use paper::manifest::FeedSpec;
use paper::runner::Spec;

/// `n` one-minute bars of a seeded walk from 2026-01-05 00:00 UTC.
pub fn minutes(n: usize, seed: u64) -> Bars {
    exchange_sim::walk(n, seed, 1_767_571_200_000, 60_000)
}

/// Strategies that trade often on a one-minute walk: a cross, stops and targets, a stop-entry
/// breakout, shorts.
pub const STRATEGIES: [(&str, &str); 4] = [
    (
        "cross",
        "name = \"cross\"\n[indicators]\nfast = \"sma(close, 5)\"\nslow = \"sma(close, 15)\"\n[rules]\nentry_long = \"crosses_above(fast, slow)\"\nexit_long = \"crosses_below(fast, slow)\"\n",
    ),
    (
        "brackets",
        "name = \"brackets\"\n[indicators]\nrsi = \"rsi(close, 7)\"\n[rules]\nentry_long = \"rsi < 40\"\nexit_long = \"rsi > 65\"\n[risk]\nstop_loss_pct = 0.3\ntake_profit_pct = 0.4\nsize = 0.5\n",
    ),
    (
        "breakout",
        "name = \"breakout\"\n[indicators]\nhi = \"highest(high, 10)\"\nlo = \"lowest(low, 10)\"\n[rules]\nentry_long = \"close > sma(close, 20)\"\nentry_short = \"close < sma(close, 20)\"\n[orders]\nentry_long_stop = \"hi\"\nentry_short_stop = \"lo\"\nvalid_bars = 3\n[risk]\ntrailing_stop_pct = 0.5\n",
    ),
    (
        "shorts",
        "name = \"shorts\"\n[indicators]\nfast = \"ema(close, 4)\"\nslow = \"ema(close, 12)\"\n[rules]\nentry_short = \"crosses_below(fast, slow)\"\nexit_short = \"crosses_above(fast, slow)\"\n[risk]\nstop_loss_pct = 0.5\nmax_bars = 20\n",
    ),
];

/// A run of `text` into `dir` fed by `feed`.
pub fn spec(dir: &Path, name: &str, text: &str, feed: FeedSpec) -> Spec {
    Spec {
        strategy_file: PathBuf::from(format!("{name}.toml")),
        strategy_text: text.to_owned(),
        dir: dir.to_owned(),
        cash: 10_000.0,
        commission: 0.002,
        feed,
        bars: None,
        until: None,
        new: false,
        json: true,
    }
}
