//! botforge's side of `bench/backtest.sh`: times one SMA-cross backtest, a 100-pair sweep, and
//! each indicator, on the CSV files given, and prints one JSON line per measurement (the script
//! runs backtesting.py, vectorbt and TA-Lib on the same files and prints the table).
//!
//! `cargo bench -p backtest --bench engines -- FILE.csv ... [--only=single|sweep|ind]` (best of
//! several runs; the data is loaded once and not timed, as the Python engines are given a loaded
//! `DataFrame`). `--only` keeps one kind of measurement, with more runs: for a profiler.
#![expect(
    clippy::print_stdout,
    clippy::print_stderr,
    clippy::disallowed_methods,
    reason = "a benchmark: prints its results and reads the clock"
)]

use std::hint::black_box;
use std::time::Instant;

use backtest::engine::{Settings, run};
use backtest::sweep::{parse_axis, sweep};
use backtest::{indicators as ind, load_csv, stats};
use strategy::Strategy;

const SMA_CROSS: &str = "name = \"SmaCross\"\n[params]\nfast = 10\nslow = 30\n[indicators]\nf = \"sma(close, fast)\"\ns = \"sma(close, slow)\"\n[rules]\nentry_long = \"crosses_above(f, s)\"\nexit_long = \"crosses_below(f, s)\"\n";

/// The orders row: a stop entry at the 10-bar high on an SMA cross, a 3-ATR trailing stop and a
/// 50-bar time exit (`bench/backtest_bench.py` runs the same strategy in backtesting.py).
const ORDERS: &str = "name = \"AtrTrail\"\n[indicators]\nf = \"sma(close, 10)\"\ns = \"sma(close, 30)\"\nhh = \"highest(high, 10)\"\natr = \"atr(14)\"\n[rules]\nentry_long = \"crosses_above(f, s)\"\nexit_long = \"crosses_below(f, s)\"\n[risk]\ntrailing_stop_long = \"close - 3 * atr\"\nmax_bars = 50\n[orders]\nentry_long_stop = \"hh\"\nvalid_bars = 3\n";

/// The OCA row (DESIGN.md §5.4): flat, a buy stop 0.2 % over the close and a sell stop 0.2 %
/// under it wait together, the first to fill cancelling the other; out after 3 bars.
const OCA: &str = "name = \"OcaBreakout\"\n[rules]\nentry_long = \"position == 0\"\nentry_short = \"position == 0\"\n[risk]\nsize = 0.5\nmax_bars = 3\n[orders]\nentry_long_stop = \"close * 1.002\"\nentry_short_stop = \"close * 0.998\"\noca = true\n";

/// The ROI row: the SMA cross with freqtrade's stepping take-profit (4 % at once, 2 % after
/// 30 bars, break-even after 60).
const ROI: &str = "name = \"RoiCross\"\n[indicators]\nf = \"sma(close, 10)\"\ns = \"sma(close, 30)\"\n[rules]\nentry_long = \"crosses_above(f, s)\"\nexit_long = \"crosses_below(f, s)\"\n[risk]\nroi = [[0, 4.0], [30, 2.0], [60, 0.0]]\n";

// As in the `botforge` binary: the engines are timed with the allocator users run them on.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// An indicator's name and a call that computes it.
type Timed<'a> = (&'static str, Box<dyn Fn() + 'a>);

/// Best wall time of `runs` calls, in seconds.
fn best<T>(runs: usize, mut f: impl FnMut() -> T) -> f64 {
    let mut best = f64::INFINITY;
    for _ in 0..runs {
        let t = Instant::now();
        black_box(f());
        best = best.min(t.elapsed().as_secs_f64());
    }
    best
}

/// Peak resident memory of this process so far, in MiB (Linux).
fn peak_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

fn emit(file: &str, bars: usize, what: &str, seconds: f64) {
    println!(
        "{{\"engine\":\"botforge\",\"file\":\"{file}\",\"bars\":{bars},\"what\":\"{what}\",\"seconds\":{seconds:.9}}}"
    );
}

/// Each indicator of the table, timed on `bars`.
fn timed_indicators(bars: &backtest::Bars) -> Vec<Timed<'_>> {
    let (c, h, l, v) = (&bars.close, &bars.high, &bars.low, &bars.volume);
    let ohlc = (&bars.open[..], &h[..], &l[..], &c[..]);
    vec![
        ("SMA", Box::new(|| drop(black_box(ind::sma(c, 30))))),
        ("EMA", Box::new(|| drop(black_box(ind::ema(c, 30))))),
        ("WMA", Box::new(|| drop(black_box(ind::wma(c, 30))))),
        ("RSI", Box::new(|| drop(black_box(ind::rsi(c, 14))))),
        (
            "MACD",
            Box::new(|| drop(black_box(ind::macd(c, 12, 26, 9)))),
        ),
        (
            "BBANDS",
            Box::new(|| drop(black_box(ind::bbands(c, 20, 2.0)))),
        ),
        ("ATR", Box::new(|| drop(black_box(ind::atr(h, l, c, 14))))),
        (
            "STOCH",
            Box::new(|| drop(black_box(ind::stoch(h, l, c, 14, 3, 3)))),
        ),
        ("ADX", Box::new(|| drop(black_box(ind::adx(h, l, c, 14))))),
        ("MAX", Box::new(|| drop(black_box(ind::highest(c, 20))))),
        ("SUM", Box::new(|| drop(black_box(ind::sum(c, 30))))),
        ("STDDEV", Box::new(|| drop(black_box(ind::stddev(c, 20))))),
        ("ROC", Box::new(|| drop(black_box(ind::roc(c, 10))))),
        ("MOM", Box::new(|| drop(black_box(ind::mom(c, 10))))),
        ("CMO", Box::new(|| drop(black_box(ind::cmo(c, 14))))),
        (
            "LINEARREG",
            Box::new(|| drop(black_box(ind::linearreg(c, 14)))),
        ),
        ("CCI", Box::new(|| drop(black_box(ind::cci(h, l, c, 20))))),
        (
            "WILLR",
            Box::new(|| drop(black_box(ind::willr(h, l, c, 14)))),
        ),
        (
            "MFI",
            Box::new(|| drop(black_box(ind::mfi(h, l, c, v, 14)))),
        ),
        ("OBV", Box::new(|| drop(black_box(ind::obv(c, v))))),
        ("AD", Box::new(|| drop(black_box(ind::ad(h, l, c, v))))),
        (
            "ADOSC",
            Box::new(|| drop(black_box(ind::adosc(h, l, c, v, 3, 10)))),
        ),
        ("NATR", Box::new(|| drop(black_box(ind::natr(h, l, c, 14))))),
        ("TRANGE", Box::new(|| drop(black_box(ind::trange(h, l, c))))),
        (
            "PLUS_DI",
            Box::new(|| drop(black_box(ind::plus_di(h, l, c, 14)))),
        ),
        (
            "MINUS_DI",
            Box::new(|| drop(black_box(ind::minus_di(h, l, c, 14)))),
        ),
        (
            "SAR",
            Box::new(|| drop(black_box(ind::sar(h, l, 0.02, 0.2)))),
        ),
        ("AROON", Box::new(|| drop(black_box(ind::aroon(h, l, 25))))),
        (
            "CDLENGULFING",
            Box::new(move || drop(black_box(ind::engulfing(ohlc)))),
        ),
        (
            "CDLHAMMER",
            Box::new(move || drop(black_box(ind::hammer(ohlc)))),
        ),
        (
            "CDLDOJI",
            Box::new(move || drop(black_box(ind::doji(ohlc)))),
        ),
        (
            "CDLMORNINGSTAR",
            Box::new(move || drop(black_box(ind::morning_star(ohlc)))),
        ),
        (
            "CDL3WHITESOLDIERS",
            Box::new(move || drop(black_box(ind::three_white_soldiers(ohlc)))),
        ),
    ]
}

fn main() {
    let files: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let only = std::env::args().find_map(|a| a.strip_prefix("--only=").map(str::to_owned));
    let wanted = |what: &str| only.as_deref().is_none_or(|o| o == what);
    let repeat = if only.is_some() { 10 } else { 1 };
    if files.is_empty() {
        eprintln!("usage: cargo bench -p backtest --bench engines -- FILE.csv ...");
        return;
    }
    let (Ok(strategy), Ok(orders), Ok(oca), Ok(roi)) = (
        Strategy::from_toml("SmaCross.toml", SMA_CROSS),
        Strategy::from_toml("AtrTrail.toml", ORDERS),
        Strategy::from_toml("OcaBreakout.toml", OCA),
        Strategy::from_toml("RoiCross.toml", ROI),
    ) else {
        eprintln!("the benchmark strategies do not parse");
        return;
    };
    let settings = Settings::default();
    for path in &files {
        let bars = match load_csv(std::path::Path::new(path)) {
            Ok(b) => b,
            Err(e) => {
                eprintln!("{e}");
                return;
            }
        };
        let name = std::path::Path::new(path)
            .file_name()
            .map_or_else(|| path.clone(), |n| n.to_string_lossy().into_owned());
        let n = bars.len();
        let runs = repeat * if n > 100_000 { 5 } else { 50 };

        if wanted("single") {
            // A fresh copy each time: nothing computed by an earlier run is reused.
            let mut single = f64::INFINITY;
            for _ in 0..runs {
                let fresh = bars.clone();
                single = single.min(best(1, || {
                    run(&fresh, &strategy, settings).map(|r| stats::compute(&fresh, &r))
                }));
            }
            emit(&name, n, "single", single);
            for (what, s) in [("orders", &orders), ("oca", &oca), ("roi", &roi)] {
                let mut t = f64::INFINITY;
                for _ in 0..runs {
                    let fresh = bars.clone();
                    t = t.min(best(1, || {
                        run(&fresh, s, settings).map(|r| stats::compute(&fresh, &r))
                    }));
                }
                emit(&name, n, what, t);
            }
        }

        let sweep_runs = repeat * if n > 100_000 { 2 } else { 10 };
        let (Ok(fast), Ok(slow)) = (parse_axis("fast=5..50:5"), parse_axis("slow=20..200:20"))
        else {
            return;
        };
        if wanted("sweep") {
            let sweep_s = best(sweep_runs, || {
                sweep(
                    &bars,
                    &strategy,
                    vec![fast.clone(), slow.clone()],
                    settings,
                    "sharpe_ratio",
                    &|| {},
                )
            });
            emit(&name, n, "sweep100", sweep_s);
        }
        if !wanted("ind") {
            continue;
        }

        let indicators = timed_indicators(&bars);
        for (what, f) in &indicators {
            emit(&name, n, &format!("ind:{what}"), best(runs, f));
        }
    }
    if let Some(mib) = peak_mib() {
        println!("{{\"engine\":\"botforge\",\"what\":\"peak_mib\",\"value\":{mib:.1}}}");
    }
}
