//! The feeds against the simulated exchange over real sockets on 127.0.0.1.
#![expect(
    clippy::unwrap_used,
    clippy::float_cmp,
    clippy::missing_panics_doc,
    clippy::many_single_char_names,
    clippy::cast_possible_wrap,
    reason = "test code: a failure is the test's answer; prices compared exactly on purpose; o h l c"
)]

mod binance;
mod replay;

use std::fmt::Write as _;

use backtest::Bars;

/// `n` one-minute bars of a seeded walk from 2026-01-05 00:00 UTC.
pub fn minutes(n: usize, seed: u64) -> Bars {
    let mut x = seed | 1;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x % 10_000) as f64 / 10_000.0
    };
    let mut text = String::from("time,Open,High,Low,Close,Volume\n");
    let start = 1_767_571_200_000_i64; // 2026-01-05T00:00:00Z
    let mut p = 100.0_f64;
    for i in 0..n {
        let t = chrono_free_iso(start + i as i64 * 60_000);
        let o = p;
        let c = (o * (1.0 + (next() - 0.5) * 0.01)).max(1.0);
        let h = o.max(c) * (1.0 + next() * 0.002);
        let l = o.min(c) * (1.0 - next() * 0.002);
        let _ = writeln!(text, "{t},{o:.2},{h:.2},{l:.2},{c:.2},{:.3}", 10.0 + next());
        p = c;
    }
    backtest::parse_csv("minutes.csv", &text).unwrap()
}

/// `YYYY-MM-DD HH:MM:SS` of an epoch-ms time in January 2026 (enough for the tests).
fn chrono_free_iso(ms: i64) -> String {
    let secs = (ms - 1_767_225_600_000) / 1000; // from 2026-01-01
    let (d, r) = (secs / 86_400, secs % 86_400);
    format!(
        "2026-01-{:02} {:02}:{:02}:{:02}",
        d + 1,
        r / 3600,
        r % 3600 / 60,
        r % 60
    )
}
