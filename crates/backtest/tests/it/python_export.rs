//! `strategy::to_python` under backtesting.py 0.6.6 itself (pinned in the CI venv): every
//! exported file, run as written (numpy and pandas, no TA-Lib), gives the engine's trade list —
//! same bars, sizes, prices, profit and commission — and the same headline statistics, on GOOG and
//! EURUSD, and with `--finalize` on GOOG. The strategies: backtesting parity's five scenarios,
//! every description of the offline compiler's vocabulary, and hand-written files that use the
//! rest of the language (params as periods, names that clash with Python or backtesting.py,
//! indicators that use each other, `not`, `!=`, lookback on conditions, nested calls, volume,
//! shorts with stops and targets, fractional size).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use backtest::engine::{Run, Settings, run};

use crate::reference::{compare_stats, compare_trades, python};
use backtest::load_csv;
use serde_json::Value;
use strategy::Strategy;

/// The offline compiler's vocabulary (its test lists the exact strategies).
const DESCRIPTIONS: &[&str] = &[
    "buy when RSI(14) < 30, sell when RSI > 70",
    "buy when rsi below 25 and adx above 20, exit when rsi above 60, 3% stop loss, 6% take profit",
    "go long when the 20-day SMA crosses above the 50-day SMA, exit when it crosses below",
    "long when ema(12) crosses above ema(26), short when ema(12) crosses below ema(26)",
    "buy when wma(10) crosses above wma(30), sell when wma(10) crosses below wma(30), long only",
    "buy when close crosses above the 200-day sma, sell when close crosses below the 200-day sma",
    "buy when price is above sma(50) and rsi(14) < 40, sell when price is below sma(50)",
    "buy when macd crosses above the signal line, sell when macd crosses below the signal line",
    "buy when macd(8, 21, 5) crosses above signal, exit when macd histogram < 0",
    "buy when price touches the lower bollinger band, sell when price touches the upper bollinger band",
    "buy when close < lower bollinger band(20, 2.5), sell when close > middle bollinger band",
    "buy when close breaks above the 20-day high, sell when close breaks below the 10-day low",
    "short when close breaks below the 55-bar low, cover when close breaks above the 20-bar high",
    "buy when stochastic %k < 20, sell when stochastic %k > 80",
    "buy when stochastic(5, 3, 3) %k crosses above %d and %k < 30, sell when %k > 70",
    "buy when rsi(2) < 10 and close > sma(200), sell when rsi(2) > 90, size 50%",
    "short when rsi > 70, cover when rsi < 30",
    "sell short when rsi(14) > 80, buy to cover when rsi(14) < 50, 4% stop loss",
    "buy when rsi < 30, sell when rsi > 70, long and short",
    "buy when the 50-day exponential moving average crosses above the 200-day exponential moving average",
    "buy when the simple moving average 20 crosses above the simple moving average 100, sell when it crosses below",
    "enter long when adx(14) > 25 and close > ema(20); exit long when close < ema(20)",
    "buy when rsi < 30 or close < lower bollinger band, sell when rsi > 70",
    "buy when atr(14) > 2 and close crosses above sma(20)",
    "buy when close > open and rsi < 50, 2% stop loss, 4% take profit, size 25%",
    "buy when rsi(7) crosses above 30, sell when rsi(7) crosses below 70",
    "buy when sma(10) > sma(30), sell when sma(10) < sma(30), long only",
    "go short when macd crosses below signal, cover when macd crosses above signal, short only",
    "buy when ema(9) crosses above ema(21) and adx > 20, 5% take profit, 2.5% stop loss",
    "buy when low touches the lower bollinger band (20, 2)",
];

/// Strategies written by hand for what the vocabulary does not reach.
const HANDWRITTEN: &[(&str, &str)] = &[
    (
        "clashing-names",
        r#"name = "clashing-names"
description = "params named like Python keywords and backtesting.py attributes; \"quoted\" \\ text"
[params]
class = 10
data = 30
size = 2
lambda = 14
[indicators]
a_spread = "fast_ma - slow_ma"
fast_ma = "ema(close, class)"
slow_ma = "sma(close, data)"
band = "bbands(close, data, size).lower"
[rules]
entry_long = "crosses_above(a_spread, 0) and close > band"
exit_long = "rsi(close, lambda) > 75"
entry_short = "crosses_below(a_spread, 0)"
exit_short = "rsi(close, lambda) < 25"
[risk]
size = 0.5
stop_loss_pct = 4.0
take_profit_pct = 9.0
"#,
    ),
    (
        "conditions",
        r#"name = "conditions"
[indicators]
up = "close > open"
range_pct = "(high - low) / close * 100"
[rules]
entry_long = "up and up[1] and not up[2] and rsi(sma(close, 5), 14) < 60"
exit_long = "not up and range_pct != range_pct[1] and close < lowest(low, 5)[1]"
entry_short = "close < highest(high, 20)[1] * 0.97 and macd(close, 12, 26, 9).hist < 0"
exit_short = "stoch(14, 3, 3).d < 25 or close == open"
[risk]
stop_loss_pct = 3.0
"#,
    ),
    (
        "volume_breakout",
        r#"name = "volume_breakout"
[params]
n = 20
[indicators]
vol_ma = "sma(volume, n)"
wide = "atr(n) / atr(n)[5] - 1"
[rules]
entry_long = "volume > vol_ma * 1.5 and close > highest(close, n)[1] and wide > -0.5"
exit_long = "close < ema(close, n) - 2 * atr(14)"
[risk]
take_profit_pct = 15.0
"#,
    ),
    (
        "wilder",
        r#"name = "wilder"
[indicators]
trend = "adx(10) > 20 and -wma(close, 8) < -wma(close, 21)"
[rules]
entry_long = "trend and crosses_above(rsi(close, 9), 50)"
exit_long = "crosses_below(rsi(close, 9), 45)"
entry_short = "not trend and bbands(close, 15, 1.5).upper < close"
"#,
    ),
];

/// Issue 17's families: the language functions and time fields, the oscillators, and the
/// trend and volume indicators.
const FAMILIES: &[(&str, &str)] = &[
    (
        "functions",
        r#"name = "functions"
[indicators]
up = "close > open"
body = "abs(close - open)"
streak = "count(up, 5)"
since = "bars_since(crosses_above(close, sma(close, 10)))"
pivot = "valuewhen(crosses_below(close, sma(close, 10)), low)"
[rules]
entry_long = "streak >= 3 and since < 4 and close > pivot and weekday < 4 and (hour >= 8 or hour == 0)"
exit_long = "if(up, body, -body) < -max(sum(body, 5) / 5, min(high - low, 2 * body)) or day == 28"
entry_short = "count(not up, 6) == 6 and month != 12"
exit_short = "bars_since(up) == 0 and year > 2000"
"#,
    ),
    (
        "oscillators",
        r#"name = "oscillators"
[indicators]
cci = "cci(20)"
wr = "willr(14)"
[rules]
entry_long = "cci < -100 and wr < -80 and cmo(close, 14) < -20 and roc(close, 10) < 0"
exit_long = "cci > 100 or mfi(14) > 80 or mom(close, 5) > 2 * stddev(close, 20)"
entry_short = "crosses_below(close, linearreg(close, 20)) and wr > -20"
exit_short = "cci < 0"
"#,
    ),
    (
        "trend_volume",
        r#"name = "trend_volume"
[indicators]
psar = "sar(0.02, 0.2)"
[rules]
entry_long = "crosses_above(close, psar) and plus_di(14) > minus_di(14) and aroon(25).up > 70"
exit_long = "close < psar or natr(14) > 5 or trange() > 3 * atr(14) or supertrend(10, 3).direction > 0 and close < vwap()"
exit_short = "aroon(25).down < 30 or close > supertrend(7, 2).line"
entry_short = "crosses_below(obv(), sma(obv(), 20)) and adosc(3, 10) < 0 and ad() < ad()[5]"
"#,
    ),
    (
        "candles",
        r#"name = "candles"
[rules]
entry_long = "engulfing() > 0 or hammer() > 0 or morning_star() > 0 or three_white_soldiers() > 0 or harami() > 0 and doji() > 0"
exit_long = "engulfing() < 0 or shooting_star() < 0 or evening_star() < 0 or three_black_crows() < 0"
entry_short = "harami() < 0 and close < sma(close, 20)"
exit_short = "engulfing() > 0 or hammer() > 0"
"#,
    ),
];

/// backtesting parity's five scenarios.
const SCENARIOS: &[(&str, &str)] = &[
    (
        "sma_long",
        "fast = \"sma(close, 10)\"\nslow = \"sma(close, 20)\"\n[rules]\nentry_long = \"crosses_above(fast, slow)\"\nexit_long = \"crosses_below(fast, slow)\"",
    ),
    (
        "sma_reversal",
        "fast = \"sma(close, 10)\"\nslow = \"sma(close, 30)\"\n[rules]\nentry_long = \"crosses_above(fast, slow)\"\nentry_short = \"crosses_below(fast, slow)\"",
    ),
    (
        "rsi",
        "rsi = \"rsi(close, 14)\"\n[rules]\nentry_long = \"rsi < 30\"\nexit_long = \"rsi > 70\"",
    ),
    (
        "rsi_sl",
        "rsi = \"rsi(close, 14)\"\n[rules]\nentry_long = \"rsi < 30\"\nexit_long = \"rsi > 70\"\n[risk]\nstop_loss_pct = 5.0",
    ),
    (
        "rsi_tp",
        "rsi = \"rsi(close, 14)\"\n[rules]\nentry_long = \"rsi < 30\"\nexit_long = \"rsi > 70\"\n[risk]\nstop_loss_pct = 5.0\ntake_profit_pct = 8.0",
    ),
];

fn strategies() -> Vec<Strategy> {
    let mut out = Vec::new();
    for (i, d) in DESCRIPTIONS.iter().enumerate() {
        let mut s = generator::offline::compile(d).unwrap_or_else(|e| panic!("{d}: {e}"));
        s.name = format!("offline_{i:02}");
        out.push(s);
    }
    for (name, text) in HANDWRITTEN.iter().chain(FAMILIES) {
        out.push(Strategy::from_toml(name, text).unwrap_or_else(|e| panic!("{e}")));
    }
    for (name, body) in SCENARIOS {
        let text = format!("name = \"{name}\"\n[indicators]\n{body}\n");
        out.push(Strategy::from_toml(name, &text).unwrap_or_else(|e| panic!("{e}")));
    }
    out
}

fn compare(what: &str, ours: &Run, stats: &Value, want: &Value) {
    compare_trades(what, ours, want);
    compare_stats(what, stats, want);
}

#[test]
fn exported_strategies_trade_as_the_engine_under_backtesting_py() {
    let Some(python) = python() else { return };
    let data = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data");
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/python/run_exported.py"
    );
    let dir = tempfile::tempdir().unwrap();
    let all = strategies();
    assert!(all.len() >= 43, "{} strategies", all.len());
    let mut specs = Vec::new();
    for s in &all {
        let text = strategy::to_python(s);
        // Deterministic: the same strategy gives the same bytes.
        assert_eq!(text, strategy::to_python(s), "{}", s.name);
        let path = dir.path().join(format!("{}.py", s.name));
        std::fs::write(&path, text).unwrap();
        specs.push(format!(
            "{}:{}",
            path.display(),
            strategy::python_class_name(s)
        ));
    }
    // Three runs at once: they are independent and each takes a while.
    let runs: Vec<(&str, bool)> = vec![
        ("GOOG.csv", false),
        ("EURUSD.csv", false),
        ("GOOG.csv", true),
    ];
    let children: Vec<_> = runs
        .iter()
        .map(|(file, finalize)| {
            let mut cmd = std::process::Command::new(&python);
            cmd.arg(script).arg(data.join(file));
            if *finalize {
                cmd.arg("--finalize");
            }
            cmd.args(&specs)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut trades_seen = 0;
    for ((file, finalize), child) in runs.iter().zip(children) {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let got: HashMap<String, Value> = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(got.len(), all.len());
        let bars = load_csv(&data.join(file)).unwrap();
        for s in &all {
            let what = format!(
                "{}{} on {file}",
                s.name,
                if *finalize { " --finalize" } else { "" }
            );
            let r = run(
                &bars,
                s,
                Settings {
                    cash: 10_000.0,
                    commission: 0.002,
                    finalize: *finalize,
                    trade_from: None,
                },
            )
            .unwrap_or_else(|e| panic!("{what}: {e}"));
            let stats = backtest::report::to_json(&bars, &r, &backtest::stats::compute(&bars, &r));
            compare(&what, &r, &stats, &got[&format!("{}.py", s.name)]);
            trades_seen += r.trades.len();
        }
    }
    // The comparison means something only if the strategies trade.
    assert!(trades_seen > 1000, "{trades_seen} trades compared");
}

#[test]
fn an_exported_file_runs_on_its_own() {
    let Some(python) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let s = generator::offline::compile("buy when RSI(14) < 30, sell when RSI > 70, 5% stop loss")
        .unwrap();
    let path: &Path = &dir.path().join("MyRSIBot.py");
    std::fs::write(path, strategy::to_python(&s)).unwrap();
    let data = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data/GOOG.csv");
    let out = std::process::Command::new(python)
        .arg(path)
        .arg(&data)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let bars = load_csv(&data).unwrap();
    let r = run(&bars, &s, Settings::default()).unwrap();
    let trades = text
        .lines()
        .find_map(|l| l.strip_prefix("# Trades"))
        .map_or_else(|| panic!("no trade count in:\n{text}"), str::trim);
    assert_eq!(trades, r.trades.len().to_string(), "{text}");
}
