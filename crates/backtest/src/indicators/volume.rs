//! Volume indicators on the bar's own data: `obv ad adosc mfi` — TA-Lib 0.8's definitions,
//! warm-up and operation order (its current `MFI`: a scaled dead-zone for "no move", an exact
//! empty-window test and a clamped ratio), checked against it.

use super::{first_valid, nan};

/// TA-Lib `OBV`: volume added on an up close, subtracted on a down close, from the first bar.
pub fn obv(close: &[f64], volume: &[f64]) -> Vec<f64> {
    let len = close.len();
    let mut out = nan(len);
    let b = first_valid(&[close, volume]);
    if b >= len {
        return out;
    }
    let mut total = volume[b];
    let mut prev = close[b];
    out[b] = total;
    for i in b + 1..len {
        if close[i] > prev {
            total += volume[i];
        } else if close[i] < prev {
            total -= volume[i];
        }
        out[i] = total;
        prev = close[i];
    }
    out
}

/// One bar's accumulation/distribution step.
fn ad_step(high: f64, low: f64, close: f64, volume: f64, acc: &mut f64) {
    let range = high - low;
    if range > 0.0 {
        *acc += (((close - low) - (high - close)) / range) * volume;
    }
}

/// TA-Lib `AD`: the Chaikin accumulation/distribution line, from the first bar.
pub fn ad(high: &[f64], low: &[f64], close: &[f64], volume: &[f64]) -> Vec<f64> {
    let len = close.len();
    let mut out = nan(len);
    let b = first_valid(&[high, low, close, volume]);
    let mut acc = 0.0;
    for i in b..len {
        ad_step(high[i], low[i], close[i], volume[i], &mut acc);
        out[i] = acc;
    }
    out
}

/// TA-Lib `ADOSC`: fast EMA minus slow EMA of the A/D line, both seeded with its first value
/// (first output at `max(fast, slow) - 1`).
pub fn adosc(
    high: &[f64],
    low: &[f64],
    close: &[f64],
    volume: &[f64],
    fast: usize,
    slow: usize,
) -> Vec<f64> {
    let len = close.len();
    let mut out = nan(len);
    let b = first_valid(&[high, low, close, volume]);
    let slowest = fast.max(slow);
    if fast < 2 || slow < 2 || b + slowest > len {
        return out;
    }
    let (fk, sk) = (2.0 / (fast as f64 + 1.0), 2.0 / (slow as f64 + 1.0));
    let mut acc = 0.0;
    ad_step(high[b], low[b], close[b], volume[b], &mut acc);
    let (mut fe, mut se) = (acc, acc);
    for i in b + 1..len {
        ad_step(high[i], low[i], close[i], volume[i], &mut acc);
        fe = (fk * acc) + ((1.0 - fk) * fe);
        se = (sk * acc) + ((1.0 - sk) * se);
        if i >= b + slowest - 1 {
            out[i] = fe - se;
        }
    }
    out
}

/// TA-Lib `MFI`: money-flow index over `n` bars (first value at `n`).
pub fn mfi(high: &[f64], low: &[f64], close: &[f64], volume: &[f64], n: usize) -> Vec<f64> {
    let len = close.len();
    let mut out = nan(len);
    let b = first_valid(&[high, low, close, volume]);
    if n < 2 || b + n >= len {
        return out;
    }
    let mut pos = vec![0.0; n];
    let mut neg = vec![0.0; n];
    let mut slot = 0;
    let mut prev = (high[b] + low[b] + close[b]) / 3.0;
    let (mut ps, mut ns) = (0.0, 0.0);
    let mut null_run = 0;
    let emit = |ps: f64, ns: f64| {
        let total = ps + ns;
        let clamped = if ps < 0.0 {
            0.0
        } else if ps > total {
            total
        } else {
            ps
        };
        if total <= 0.0 {
            0.0
        } else {
            100.0 * (clamped / total)
        }
    };
    for today in b + 1..len {
        if today > b + n {
            ps -= pos[slot];
            ns -= neg[slot];
        }
        let tp = (high[today] + low[today] + close[today]) / 3.0;
        let d = tp - prev;
        let scale = tp.abs() + prev.abs();
        prev = tp;
        let flow = tp * volume[today];
        let flow = if d.abs() <= 0.000_000_000_000_01 * scale {
            0.0
        } else {
            flow
        };
        let (p, q) = if d < 0.0 { (0.0, flow) } else { (flow, 0.0) };
        pos[slot] = p;
        neg[slot] = q;
        ps += p;
        ns += q;
        null_run = if flow == 0.0 { null_run + 1 } else { 0 };
        if null_run >= n {
            null_run = n;
            ps = 0.0;
            ns = 0.0;
        }
        if today >= b + n {
            out[today] = emit(ps, ns);
        }
        slot = (slot + 1) % n;
    }
    out
}
