//! Series statistics and oscillators: `sum stddev roc mom cmo linearreg` on any series, `cci` and
//! `willr` on the bar's own high, low and close — TA-Lib 0.8's definitions, warm-up and
//! operation order (its newer shifted, reseeded variance for `stddev`), checked against it.

use super::{first_valid, is_zero, nan, wilder_seed};

/// TA-Lib `SUM`: the running total of the last `n` values (first at `n - 1`).
pub fn sum(x: &[f64], n: usize) -> Vec<f64> {
    let b = first_valid(&[x]);
    let mut out = nan(x.len());
    if n == 0 || b + n > x.len() {
        return out;
    }
    let mut total = 0.0;
    for v in &x[b..b + n - 1] {
        total += v;
    }
    for i in b + n - 1..x.len() {
        total += x[i];
        out[i] = total;
        total -= x[i + 1 - n];
    }
    out
}

/// TA-Lib `STDDEV` (population, one deviation): the variance of values shifted by a reference
/// value, reseeded from a fresh mean when it loses precision or every `32 n` bars, as TA-Lib 0.8
/// computes it.
pub fn stddev(x: &[f64], n: usize) -> Vec<f64> {
    let len = x.len();
    let b = first_valid(&[x]);
    let mut out = nan(len);
    if n == 0 || b + n > len {
        return out;
    }
    let inv = 1.0 / n as f64;
    let mut trailing = b;
    let mut shift = x[trailing];
    let (mut t1, mut t2) = (0.0, 0.0);
    for &v in &x[b..b + n - 1] {
        let t = v - shift;
        t1 += t;
        t2 += t * t;
    }
    let mut reseed = 32 * n;
    for i in b + n - 1..len {
        let t = x[i] - shift;
        t1 += t;
        t2 += t * t;
        let m1 = t1 * inv;
        let mut var = t2 * inv - m1 * m1;
        let t = x[trailing] - shift;
        t1 -= t;
        let sq = t * t;
        t2 -= sq;
        trailing += 1;
        reseed -= 1;
        if var < 0.000_001 * (t2 * inv) || sq > 1_000_000.0 * t2 || reseed == 0 {
            reseed = 32 * n;
            let start = i + 1 - n;
            let mut s = 0.0;
            for v in &x[start..=i] {
                s += v;
            }
            shift = s * inv;
            t1 = 0.0;
            t2 = 0.0;
            for &v in &x[start..=i] {
                let t = v - shift;
                t1 += t;
                t2 += t * t;
            }
            let m1 = t1 * inv;
            var = t2 * inv - m1 * m1;
            let t = x[start] - shift;
            t1 -= t;
            t2 -= t * t;
        }
        out[i] = if var < 0.000_000_000_000_01 {
            0.0
        } else {
            var.sqrt()
        };
    }
    out
}

/// TA-Lib `ROC`: `(x / x[n] - 1) · 100`, 0 where `x[n]` is 0.
pub fn roc(x: &[f64], n: usize) -> Vec<f64> {
    let b = first_valid(&[x]);
    let mut out = nan(x.len());
    for i in (b + n).max(1)..x.len() {
        let p = x[i - n];
        out[i] = if p == 0.0 {
            0.0
        } else {
            ((x[i] / p) - 1.0) * 100.0
        };
    }
    out
}

/// TA-Lib `MOM`: `x - x[n]`.
pub fn mom(x: &[f64], n: usize) -> Vec<f64> {
    let b = first_valid(&[x]);
    let mut out = nan(x.len());
    for i in (b + n).max(1)..x.len() {
        out[i] = x[i] - x[i - n];
    }
    out
}

/// TA-Lib `CMO`: Chande momentum oscillator with Wilder-smoothed gains and losses, seeded with
/// the mean of the first `n` changes (first value at `n`).
pub fn cmo(x: &[f64], n: usize) -> Vec<f64> {
    let len = x.len();
    let b = first_valid(&[x]);
    let mut out = nan(len);
    if n < 2 || b + n >= len {
        return out;
    }
    let nf = n as f64;
    let (mut gain, mut loss) = wilder_seed(x, b, n);
    let mut prev = x[b + n];
    let put = |g: f64, l: f64| {
        let s = g + l;
        if is_zero(s) {
            0.0
        } else {
            100.0 * ((g - l) / s)
        }
    };
    out[b + n] = put(gain, loss);
    for i in b + n + 1..len {
        let d = x[i] - prev;
        prev = x[i];
        loss *= nf - 1.0;
        gain *= nf - 1.0;
        if d < 0.0 {
            loss -= d;
        } else {
            gain += d;
        }
        loss /= nf;
        gain /= nf;
        out[i] = put(gain, loss);
    }
    out
}

/// TA-Lib `LINEARREG`: the least-squares line over the last `n` values, at the last bar, with
/// TA-Lib 0.8's sliding sums (one full scan, then O(1) per bar).
pub fn linearreg(x: &[f64], n: usize) -> Vec<f64> {
    let b = first_valid(&[x]);
    let mut out = nan(x.len());
    if n < 2 || b + n > x.len() {
        return out;
    }
    let nf = n as f64;
    let sx = nf * (nf - 1.0) * 0.5;
    let sxx = nf * (nf - 1.0) * (2.0 * nf - 1.0) / 6.0;
    let div = sx * sx - nf * sxx;
    let first = b + n - 1;
    let (mut sxy, mut sy) = (0.0, 0.0);
    for i in (0..n).rev() {
        let v = x[first - i];
        sy += v;
        sxy += i as f64 * v;
    }
    let line = |sxy: f64, sy: f64| {
        let m = (nf * sxy - sx * sy) / div;
        let intercept = (sy - m * sx) / nf;
        intercept + m * (nf - 1.0)
    };
    out[first] = line(sxy, sy);
    for today in first + 1..x.len() {
        let departing = x[today - n];
        sxy = sxy + sy - nf * departing;
        sy = sy - departing + x[today];
        out[today] = line(sxy, sy);
    }
    out
}

/// TA-Lib `CCI`: `(tp - mean) / (0.015 · mean deviation)` of the typical price over `n` bars
/// (0 where either is zero), summed in TA-Lib's ring-buffer order.
pub fn cci(high: &[f64], low: &[f64], close: &[f64], n: usize) -> Vec<f64> {
    let len = close.len();
    let b = first_valid(&[high, low, close]);
    let mut out = nan(len);
    if n < 2 || b + n > len {
        return out;
    }
    let tp: Vec<f64> = (0..len)
        .map(|i| (high[i] + low[i] + close[i]) / 3.0)
        .collect();
    let nf = n as f64;
    let mut ring = vec![0.0; n];
    for (k, &v) in tp[b..b + n - 1].iter().enumerate() {
        ring[k] = v;
    }
    let mut slot = n - 1;
    for i in b + n - 1..len {
        ring[slot] = tp[i];
        let mut avg = 0.0;
        for v in &ring {
            avg += v;
        }
        avg /= nf;
        let mut dev = 0.0;
        for v in &ring {
            dev += (v - avg).abs();
        }
        let t = tp[i] - avg;
        out[i] = if is_zero(t) || is_zero(dev) {
            0.0
        } else {
            t / (0.015 * (dev / nf))
        };
        slot = (slot + 1) % n;
    }
    out
}

/// TA-Lib `WILLR`: `(highest high - close) / (highest high - lowest low) · -100` over `n` bars.
pub fn willr(high: &[f64], low: &[f64], close: &[f64], n: usize) -> Vec<f64> {
    let len = close.len();
    let b = first_valid(&[high, low, close]);
    let mut out = nan(len);
    if n < 2 || b + n > len {
        return out;
    }
    let hh = super::highest(high, n);
    let ll = super::lowest(low, n);
    for i in b + n - 1..len {
        let range = hh[i] - ll[i];
        out[i] = if range == 0.0 {
            0.0
        } else {
            (hh[i] - close[i]) / range * -100.0
        };
    }
    out
}
