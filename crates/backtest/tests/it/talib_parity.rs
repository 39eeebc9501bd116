//! Every indicator on all three sample files against TA-Lib itself (the pinned `ta-lib` Python
//! package in the CI venv): identical warm-up, values within 1e-9 relative.

use std::collections::HashMap;
use std::path::PathBuf;

use backtest::indicators as ind;
use backtest::{Bars, load_csv};

use crate::reference::python;

fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data")
}

fn ours(b: &Bars) -> HashMap<String, Vec<f64>> {
    let (c, h, l) = (&b.close, &b.high, &b.low);
    let mut m: HashMap<String, Vec<f64>> = HashMap::new();
    m.insert("sma_20".into(), ind::sma(c, 20));
    m.insert("sma_2".into(), ind::sma(c, 2));
    m.insert("ema_12".into(), ind::ema(c, 12));
    m.insert("ema_50".into(), ind::ema(c, 50));
    m.insert("wma_10".into(), ind::wma(c, 10));
    m.insert("rsi_14".into(), ind::rsi(c, 14));
    m.insert("rsi_2".into(), ind::rsi(c, 2));
    m.insert("highest_20".into(), ind::highest(h, 20));
    m.insert("lowest_20".into(), ind::lowest(l, 20));
    m.insert("atr_14".into(), ind::atr(h, l, c, 14));
    m.insert("atr_1".into(), ind::atr(h, l, c, 1));
    m.insert("adx_14".into(), ind::adx(h, l, c, 14));
    m.insert("adx_5".into(), ind::adx(h, l, c, 5));
    m.insert("sma_5_of_rsi_14".into(), ind::sma(&ind::rsi(c, 14), 5));
    m.insert(
        "ema_10_of_atr_14".into(),
        ind::ema(&ind::atr(h, l, c, 14), 10),
    );
    for (f, s, g) in [(12, 26, 9), (5, 35, 5)] {
        let [line, sig, hist] = ind::macd(c, f, s, g);
        m.insert(format!("macd_{f}_{s}_{g}_line"), line);
        m.insert(format!("macd_{f}_{s}_{g}_signal"), sig);
        m.insert(format!("macd_{f}_{s}_{g}_hist"), hist);
    }
    for (n, k) in [(20, 2.0), (10, 1.5)] {
        let [up, mid, lo] = ind::bbands(c, n, k);
        m.insert(format!("bb_{n}_{k:?}_upper"), up);
        m.insert(format!("bb_{n}_{k:?}_middle"), mid);
        m.insert(format!("bb_{n}_{k:?}_lower"), lo);
    }
    for (k, sk, sd) in [(5, 3, 3), (14, 3, 3)] {
        let [sk_, sd_] = ind::stoch(h, l, c, k, sk, sd);
        m.insert(format!("stoch_{k}_{sk}_{sd}_k"), sk_);
        m.insert(format!("stoch_{k}_{sk}_{sd}_d"), sd_);
    }
    let v = &b.volume;
    for n in [5, 14] {
        m.insert(format!("sum_{n}"), ind::sum(c, n));
        m.insert(format!("stddev_{n}"), ind::stddev(c, n));
        m.insert(format!("roc_{n}"), ind::roc(c, n));
        m.insert(format!("mom_{n}"), ind::mom(c, n));
        m.insert(format!("cmo_{n}"), ind::cmo(c, n));
        m.insert(format!("linearreg_{n}"), ind::linearreg(c, n));
        m.insert(format!("cci_{n}"), ind::cci(h, l, c, n));
        m.insert(format!("willr_{n}"), ind::willr(h, l, c, n));
        m.insert(format!("mfi_{n}"), ind::mfi(h, l, c, v, n));
        m.insert(format!("natr_{n}"), ind::natr(h, l, c, n));
        m.insert(format!("plus_di_{n}"), ind::plus_di(h, l, c, n));
        m.insert(format!("minus_di_{n}"), ind::minus_di(h, l, c, n));
        let [up, down] = ind::aroon(h, l, n);
        m.insert(format!("aroon_{n}_up"), up);
        m.insert(format!("aroon_{n}_down"), down);
    }
    m.insert(
        "stddev_20_of_rsi_14".into(),
        ind::stddev(&ind::rsi(c, 14), 20),
    );
    m.insert("obv".into(), ind::obv(c, v));
    m.insert("ad".into(), ind::ad(h, l, c, v));
    m.insert("trange".into(), ind::trange(h, l, c));
    for (f, s) in [(3, 10), (5, 20)] {
        m.insert(format!("adosc_{f}_{s}"), ind::adosc(h, l, c, v, f, s));
    }
    for (a, mx) in [(0.02, 0.2), (0.01, 0.1)] {
        m.insert(format!("sar_{a:?}_{mx:?}"), ind::sar(h, l, a, mx));
    }
    let ohlc = (&b.open[..], &h[..], &l[..], &c[..]);
    for (name, f) in [
        ("engulfing", ind::engulfing as fn(_) -> Vec<f64>),
        ("hammer", ind::hammer),
        ("shooting_star", ind::shooting_star),
        ("doji", ind::doji),
        ("harami", ind::harami),
        ("morning_star", ind::morning_star),
        ("evening_star", ind::evening_star),
        ("three_white_soldiers", ind::three_white_soldiers),
        ("three_black_crows", ind::three_black_crows),
    ] {
        m.insert(format!("cdl_{name}"), f(ohlc));
    }
    m
}

#[test]
fn every_indicator_matches_talib_on_every_sample_file() {
    let Some(python) = python() else {
        return;
    };
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/python/talib_reference.py"
    );
    let out = std::process::Command::new(python)
        .arg(script)
        .arg(data_dir())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let reference: HashMap<String, HashMap<String, Vec<Option<f64>>>> =
        serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(reference.len(), 3, "GOOG, EURUSD and BTCUSD");
    let mut compared = 0usize;
    for (file, expected) in &reference {
        let bars = load_csv(&data_dir().join(file)).unwrap();
        let got = ours(&bars);
        assert_eq!(
            got.len(),
            expected.len(),
            "{file}: the same indicators on both sides"
        );
        for (name, want) in expected {
            let have = &got[name];
            assert_eq!(have.len(), want.len(), "{file} {name}");
            for (i, (h, w)) in have.iter().zip(want).enumerate() {
                match w {
                    None => assert!(
                        h.is_nan(),
                        "{file} {name}[{i}]: TA-Lib has no value, we have {h}"
                    ),
                    Some(w) => {
                        assert!(
                            !h.is_nan(),
                            "{file} {name}[{i}]: TA-Lib has {w}, we have none"
                        );
                        let tol = 1e-9 * w.abs().max(1e-3);
                        assert!(
                            (h - w).abs() <= tol,
                            "{file} {name}[{i}]: {h} vs TA-Lib {w}"
                        );
                        compared += 1;
                    }
                }
            }
        }
    }
    assert!(compared > 100_000, "{compared} values compared");
}

/// Issue 17: the candlestick patterns take only TA-Lib's values, and each one signals somewhere
/// in the three files, so comparing them with TA-Lib bar by bar (in
/// `every_indicator_matches_talib_on_every_sample_file`) means something.
#[test]
fn every_candlestick_pattern_signals_on_the_sample_files() {
    let mut seen: HashMap<String, usize> = HashMap::new();
    for file in ["GOOG.csv", "EURUSD.csv", "BTCUSD.csv"] {
        let b = load_csv(&data_dir().join(file)).unwrap();
        for (name, v) in ours(&b) {
            if let Some(p) = name.strip_prefix("cdl_") {
                assert!(
                    v.iter()
                        .all(|x| [0.0, 80.0, -80.0, 100.0, -100.0].contains(x)),
                    "{p}"
                );
                *seen.entry(p.to_owned()).or_default() += v.iter().filter(|x| **x != 0.0).count();
            }
        }
    }
    assert_eq!(seen.len(), 9);
    for (p, n) in &seen {
        assert!(*n > 0, "{p} never signals");
    }
}

/// Issue 17: `supertrend` and `vwap` against `TradingView`'s definitions, written independently
/// with pandas in `tests/python/tradingview_reference.py`, on EURUSD hourly (VWAP restarts each
/// day) and GOOG daily.
#[test]
fn supertrend_and_vwap_follow_tradingview() {
    let Some(python) = python() else {
        return;
    };
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/python/tradingview_reference.py"
    );
    for file in ["EURUSD.csv", "GOOG.csv"] {
        let path = data_dir().join(file);
        let out = std::process::Command::new(&python)
            .arg(script)
            .arg(&path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let want: HashMap<String, Vec<Option<f64>>> = serde_json::from_slice(&out.stdout).unwrap();
        let b = load_csv(&path).unwrap();
        let mut ours: HashMap<String, Vec<f64>> = HashMap::new();
        let mut ev = backtest::Evaluator::new(&b);
        for (name, expr) in [
            ("vwap", "vwap()".to_owned()),
            (
                "supertrend_10_3.0_line",
                "supertrend(10, 3).line".to_owned(),
            ),
            (
                "supertrend_10_3.0_direction",
                "supertrend(10, 3).direction".to_owned(),
            ),
            ("supertrend_7_2.0_line", "supertrend(7, 2).line".to_owned()),
            (
                "supertrend_7_2.0_direction",
                "supertrend(7, 2).direction".to_owned(),
            ),
        ] {
            let backtest::Series::Num(v) = ev.eval(&strategy::parse(&expr).unwrap()).unwrap()
            else {
                panic!("{expr}")
            };
            ours.insert(name.to_owned(), v.to_vec());
        }
        assert_eq!(ours.len(), want.len());
        let mut flips = 0;
        for (name, w) in &want {
            let h = &ours[name];
            for (i, (h, w)) in h.iter().zip(w).enumerate() {
                match w {
                    None => assert!(h.is_nan(), "{file} {name}[{i}]: {h}"),
                    Some(w) => assert!(
                        (h - w).abs() <= 1e-9 * w.abs().max(1e-3),
                        "{file} {name}[{i}]: {h} vs {w}"
                    ),
                }
            }
            if name.ends_with("direction") {
                flips += h
                    .windows(2)
                    .filter(|p| p[0] != p[1] && !p[0].is_nan())
                    .count();
            }
        }
        assert!(flips > 20, "{file}: the trend turned {flips} times");
    }
    // VWAP restarts each day: the first bar of a day is its own typical price.
    let b = load_csv(&data_dir().join("EURUSD.csv")).unwrap();
    let backtest::Series::Num(v) = backtest::Evaluator::new(&b)
        .eval(&strategy::parse("vwap()").unwrap())
        .unwrap()
    else {
        panic!()
    };
    let day_starts: Vec<usize> = (1..b.len())
        .filter(|&i| b.time.at(i)[..10] != b.time.at(i - 1)[..10])
        .collect();
    assert!(day_starts.len() > 100);
    for i in day_starts {
        let tp = (b.high[i] + b.low[i] + b.close[i]) / 3.0;
        assert!((v[i] - tp).abs() <= 1e-12 * tp, "bar {i}");
    }
}
