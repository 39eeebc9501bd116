//! The chart's data, as the JSON the report's script reads: one time axis, each symbol's bars
//! and series on it, the equity, and every trade with its levels.
//!
//! Numbers are written compactly so a million bars stay a file a browser opens: each series is
//! a list of integer steps in units of `10^-p` (`p` decimals: those the values need, at most
//! seven significant digits), `null` where a value is missing; times are millisecond steps.

use std::fmt::Write;

use crate::data::Bars;
use crate::engine::Run;
use crate::trade::{ExitReason, Trade};

use super::page::{Page, Plot};

/// Line colours for indicators, in order.
pub const PALETTE: [&str; 8] = [
    "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f", "#1f77b4",
];

/// The decimals a series is written with: the fewest that give back every value (checked on
/// up to 2,000 of them), at most seven significant digits of its largest, at most 8.
pub fn decimals(values: &[f64]) -> u32 {
    let finite = || values.iter().copied().filter(|v| v.is_finite());
    let top = finite().fold(0.0_f64, |m, v| m.max(v.abs()));
    if top == 0.0 {
        return 0;
    }
    #[expect(
        clippy::cast_possible_truncation,
        reason = "log10 of a finite f64 is within ±400"
    )]
    let magnitude = top.log10().floor() as i32;
    let cap = u32::try_from((6 - magnitude).clamp(0, 8)).unwrap_or(0);
    let step = values.len().div_ceil(2000).max(1);
    let sample: Vec<f64> = finite().step_by(step).collect();
    (0..cap)
        .find(|&d| {
            let s = 10f64.powi(d.cast_signed());
            sample
                .iter()
                .all(|v| ((v * s).round() - v * s).abs() <= 1e-6 * (v * s).abs().max(1.0))
        })
        .unwrap_or(cap)
}

/// Writes `{"p":decimals,"d":[steps…]}` for `values` (see the module's doc).
pub fn series(out: &mut String, values: &[f64], p: u32) {
    let scale = 10f64.powi(p.cast_signed());
    let _ = write!(out, r#"{{"p":{p},"d":["#);
    let mut last = 0_i64;
    let mut digits = itoa::Buffer::new();
    for (i, v) in values.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        if v.is_finite() {
            #[expect(
                clippy::cast_possible_truncation,
                reason = "at most seven significant digits: well inside i64"
            )]
            let t = (v * scale).round() as i64;
            out.push_str(digits.format(t - last));
            last = t;
        } else {
            out.push_str("null");
        }
    }
    out.push_str("]}");
}

/// Writes `values` as `[first, step, step, …]`.
fn steps(out: &mut String, values: impl Iterator<Item = i64>) {
    out.push('[');
    let mut last = 0_i64;
    let mut digits = itoa::Buffer::new();
    for (i, v) in values.enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(digits.format(v - last));
        last = v;
    }
    out.push(']');
}

/// A JSON string that is safe inside an HTML `<script>` element: every `<` written as
/// `\u003c`, so no `</script>` or `<!--` in a name can end the element early.
fn string(out: &mut String, s: &str) {
    // Serializing a &str cannot fail.
    let json = serde_json::to_string(s).unwrap_or_default();
    out.push_str(&json.replace('<', "\\u003c"));
}

/// A number, `null` when not finite.
fn number(out: &mut String, v: f64) {
    if v.is_finite() {
        let _ = write!(out, "{v}");
    } else {
        out.push_str("null");
    }
}

/// The index on `axis` of each of `bars`' times (each is on it: the axis is their union).
fn positions(axis: &Bars, bars: &Bars) -> Vec<usize> {
    bars.epoch_ms
        .iter()
        .map(|t| axis.epoch_ms.partition_point(|a| a < t))
        .collect()
}

/// One symbol: its bars on the axis, its indicators, and where its trades are drawn.
fn symbol(out: &mut String, p: &Page<'_>, at: Option<&[usize]>) {
    let b = p.bars;
    out.push_str(r#"{"name":"#);
    string(out, p.name);
    let digits = decimals(&b.close);
    for (key, col) in [
        ("o", &b.open),
        ("h", &b.high),
        ("l", &b.low),
        ("c", &b.close),
    ] {
        let _ = write!(out, r#","{key}":"#);
        series(out, col, digits);
    }
    out.push_str(r#","v":"#);
    if b.volume.iter().any(|v| v.is_finite()) {
        series(out, &b.volume, decimals(&b.volume));
    } else {
        out.push_str("null");
    }
    out.push_str(r#","at":"#);
    match at {
        Some(at) => steps(
            out,
            at.iter().map(|&i| i64::try_from(i).unwrap_or(i64::MAX)),
        ),
        None => out.push_str("null"),
    }
    let _ = write!(out, r#","precision":{digits},"overlays":["#);
    plots(out, p.plots.iter().filter(|x| x.overlay), 0);
    out.push_str(r#"],"oscillators":["#);
    let overlays = p.plots.iter().filter(|x| x.overlay).count();
    plots(out, p.plots.iter().filter(|x| !x.overlay), overlays);
    out.push_str("]}");
}

fn plots<'p>(out: &mut String, list: impl Iterator<Item = &'p Plot>, first_colour: usize) {
    for (k, x) in list.enumerate() {
        if k > 0 {
            out.push(',');
        }
        out.push_str(r#"{"name":"#);
        string(out, &x.name);
        let _ = write!(
            out,
            r#","color":"{}","values":"#,
            PALETTE[(first_colour + k) % PALETTE.len()]
        );
        series(out, &x.values, decimals(&x.values));
        out.push('}');
    }
}

/// One trade: `s` its symbol, bars on the axis, `st`/`tg` its stop and target levels as
/// `[bar, price]` in order.
fn trade(out: &mut String, t: &Trade, sym: usize, at: &dyn Fn(usize) -> usize) {
    let _ = write!(
        out,
        r#"{{"s":{sym},"size":{},"eb":{},"ep":"#,
        t.size,
        at(t.entry_bar)
    );
    number(out, t.entry_price);
    match (t.exit_bar, t.exit_price) {
        (Some(bar), Some(price)) => {
            let _ = write!(out, r#","xb":{},"xp":"#, at(bar));
            number(out, price);
            let _ = write!(
                out,
                r#","why":"{}","pnl":"#,
                t.exit_reason.map_or("signal", ExitReason::name)
            );
            number(out, t.pnl());
            out.push_str(r#","ret":"#);
            number(out, t.return_frac() * 100.0);
        }
        _ => out.push_str(r#","xb":null,"xp":null,"why":null,"pnl":null,"ret":null"#),
    }
    for (key, stop) in [("st", true), ("tg", false)] {
        let _ = write!(out, r#","{key}":["#);
        for (k, s) in t.steps.iter().filter(|s| s.stop == stop).enumerate() {
            if k > 0 {
                out.push(',');
            }
            let _ = write!(out, "[{},", at(s.bar));
            number(out, s.price);
            out.push(']');
        }
        out.push(']');
    }
    out.push('}');
}

/// A symbol's bar `bar` on the axis (its last bar's place past its end).
fn on_axis(at: &[usize], bar: usize) -> usize {
    at.get(bar).or(at.last()).copied().unwrap_or(bar)
}

/// Every trade of every symbol, ordered by entry bar then symbol.
fn trades(out: &mut String, symbols: &[(&Page<'_>, Option<Vec<usize>>)]) {
    let mut all: Vec<(usize, &Trade, usize)> = Vec::new();
    for (k, (p, at)) in symbols.iter().enumerate() {
        let Run {
            trades,
            open_trades,
            ..
        } = p.run;
        for t in trades.iter().chain(open_trades) {
            let bar = at.as_ref().map_or(t.entry_bar, |a| on_axis(a, t.entry_bar));
            all.push((bar, t, k));
        }
    }
    all.sort_by_key(|(bar, _, k)| (*bar, *k));
    out.push('[');
    for (i, (_, t, k)) in all.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let at = symbols[*k].1.as_deref();
        trade(out, t, *k, &|bar| at.map_or(bar, |a| on_axis(a, bar)));
    }
    out.push(']');
}

/// Writes the chart data of a page (a portfolio's symbols on the union of their times) as JSON
/// that holds no `<`, so it may stand inside a `<script>` element as it is.
pub fn write(out: &mut String, p: &Page<'_>) {
    let axis = p.bars;
    out.reserve(64 + axis.len() * 56);
    out.push_str(r#"{"ms":"#);
    steps(out, axis.epoch_ms.iter().copied());
    let _ = write!(
        out,
        r#","by_index":{},"cash":"#,
        !axis
            .epoch_ms
            .windows(2)
            .all(|w| w[1].div_euclid(1000) > w[0].div_euclid(1000))
    );
    number(out, p.settings.cash);
    out.push_str(r#","equity":"#);
    series(out, &p.run.equity, 2);
    out.push_str(r#","symbols":["#);
    let symbols: Vec<(&Page<'_>, Option<Vec<usize>>)> = if p.symbols.is_empty() {
        vec![(p, None)]
    } else {
        p.symbols
            .iter()
            .map(|s| (s, Some(positions(axis, s.bars))))
            .collect()
    };
    for (k, (s, at)) in symbols.iter().enumerate() {
        if k > 0 {
            out.push(',');
        }
        symbol(out, s, at.as_deref());
    }
    out.push_str(r#"],"trades":"#);
    trades(out, &symbols);
    out.push('}');
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads back a series as the report's script does.
    fn decode(v: &serde_json::Value) -> Vec<Option<f64>> {
        let scale = 10f64.powi(i32::try_from(v["p"].as_i64().unwrap()).unwrap());
        let mut acc = 0_i64;
        v["d"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| {
                d.as_i64().map(|d| {
                    acc += d;
                    acc as f64 / scale
                })
            })
            .collect()
    }

    #[test]
    fn series_are_written_with_the_decimals_they_need_and_read_back() {
        assert_eq!(decimals(&[1.0, 20.0, 300.0]), 0);
        assert_eq!(decimals(&[1.5, 20.25, 300.125]), 3);
        assert_eq!(decimals(&[1.1234, f64::NAN, 1.1236]), 4);
        // Seventeen digits: seven significant ones of the largest.
        assert_eq!(decimals(&[123.456_789_012_345_67, 99.1]), 4);
        assert_eq!(decimals(&[0.000_123_456_789]), 8);
        let values = [101.25, f64::NAN, 99.5, 100.0, f64::INFINITY, 250.75];
        let mut out = String::new();
        series(&mut out, &values, decimals(&values));
        assert_eq!(out, r#"{"p":2,"d":[10125,null,-175,50,null,15075]}"#);
        let back = decode(&serde_json::from_str(&out).unwrap());
        assert_eq!(
            back,
            [
                Some(101.25),
                None,
                Some(99.5),
                Some(100.0),
                None,
                Some(250.75)
            ]
        );
    }

    #[test]
    fn names_cannot_close_the_script_element_that_holds_them() {
        let mut out = String::new();
        string(&mut out, "</script><!--<b>");
        assert!(!out.contains('<'));
        let back: String = serde_json::from_str(&out).unwrap();
        assert_eq!(back, "</script><!--<b>");
    }

    #[test]
    fn times_are_steps_from_the_first() {
        let mut out = String::new();
        steps(&mut out, [1_000, 61_000, 121_000, 121_500].into_iter());
        assert_eq!(out, "[1000,60000,60000,500]");
    }
}
