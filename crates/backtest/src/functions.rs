//! The language's own series functions (DESIGN.md §5.2): `abs min max if count bars_since
//! valuewhen` and the bar time fields. Numbers follow numpy's element-wise rules (NaN in, NaN
//! out), as the exported Python computes them.

use chrono::{Datelike as _, Timelike as _};

/// `abs(x)`.
pub(crate) fn abs(x: &[f64]) -> Vec<f64> {
    x.iter().map(|v| v.abs()).collect()
}

/// `min(a, b)` / `max(a, b)`: numpy's `minimum` / `maximum` (missing when either is).
pub(crate) fn extreme(a: &[f64], b: &[f64], max: bool) -> Vec<f64> {
    a.iter()
        .zip(b)
        .map(|(&x, &y)| extreme_of(x, y, max))
        .collect()
}

/// One value of [`extreme`].
pub(crate) fn extreme_of(x: f64, y: f64, max: bool) -> f64 {
    if x.is_nan() || y.is_nan() {
        f64::NAN
    } else if max {
        x.max(y)
    } else {
        x.min(y)
    }
}

/// `if(cond, a, b)`.
pub(crate) fn choose(cond: &[bool], a: &[f64], b: &[f64]) -> Vec<f64> {
    cond.iter()
        .zip(a.iter().zip(b))
        .map(|(&c, (&x, &y))| if c { x } else { y })
        .collect()
}

/// `count(cond, n)`: bars of the last `n` where `cond` holds; missing before `n` bars.
pub(crate) fn count(cond: &[bool], n: usize) -> Vec<f64> {
    let mut out = vec![f64::NAN; cond.len()];
    let mut run = 0usize;
    for i in 0..cond.len() {
        run += usize::from(cond[i]);
        if i >= n {
            run -= usize::from(cond[i - n]);
        }
        if i + 1 >= n {
            out[i] = run as f64;
        }
    }
    out
}

/// `bars_since(cond)`: 0 on a bar where `cond` holds, else the bars since it last did; missing
/// before the first.
pub(crate) fn bars_since(cond: &[bool]) -> Vec<f64> {
    let mut last = None;
    cond.iter()
        .enumerate()
        .map(|(i, &c)| {
            if c {
                last = Some(i);
            }
            last.map_or(f64::NAN, |l| (i - l) as f64)
        })
        .collect()
}

/// `valuewhen(cond, x)`: `x` on the latest bar where `cond` held (this one included).
pub(crate) fn valuewhen(cond: &[bool], x: &[f64]) -> Vec<f64> {
    let mut last = None;
    cond.iter()
        .zip(x)
        .map(|(&c, &v)| {
            if c {
                last = Some(v);
            }
            last.unwrap_or(f64::NAN)
        })
        .collect()
}

/// A bar time field (`hour minute weekday month day year`) of each bar; NaN where a time does
/// not read.
pub(crate) fn time_field(times: &crate::Times, field: &str) -> Vec<f64> {
    (0..times.len())
        .map(|i| {
            times.wall(i).map_or(f64::NAN, |t| {
                f64::from(match field {
                    "hour" => t.hour(),
                    "minute" => t.minute(),
                    "weekday" => t.weekday().num_days_from_monday(),
                    "month" => t.month(),
                    "day" => t.day(),
                    _ => return f64::from(t.year()),
                })
            })
        })
        .collect()
}

/// `vwap()`: session VWAP, the running sums of `hlc3 · volume` and of volume restarting at each
/// calendar day of the bars' own times (`TradingView`'s `ta.vwap` anchored to the day).
pub(crate) fn vwap(
    times: &crate::Times,
    high: &[f64],
    low: &[f64],
    close: &[f64],
    volume: &[f64],
) -> Vec<f64> {
    let mut out = Vec::with_capacity(close.len());
    let (mut pv, mut vol) = (0.0, 0.0);
    let mut day = None;
    for i in 0..close.len() {
        let today = times.wall(i).map(|t| t.date());
        if today != day {
            day = today;
            pv = 0.0;
            vol = 0.0;
        }
        let hlc3 = (high[i] + low[i] + close[i]) / 3.0;
        pv += hlc3 * volume[i];
        vol += volume[i];
        out.push(pv / vol);
    }
    out
}
