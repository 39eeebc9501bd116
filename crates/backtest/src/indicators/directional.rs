//! Range and direction on the bar's own data: `trange natr plus_di minus_di sar aroon` —
//! TA-Lib 0.8's definitions and warm-up, checked against it (`sar` within an ulp: TA-Lib's build
//! fuses its step into one multiply-add).

use super::{atr, first_valid, is_zero, nan, true_range};

/// TA-Lib `TRANGE`: the true range, from the second bar.
pub fn trange(high: &[f64], low: &[f64], close: &[f64]) -> Vec<f64> {
    let len = close.len();
    let mut out = nan(len);
    let b = first_valid(&[high, low, close]);
    for i in b + 1..len {
        out[i] = true_range(high[i], low[i], close[i - 1]);
    }
    out
}

/// TA-Lib `NATR`: `ATR(n) / close · 100` (0 where the close is 0).
pub fn natr(high: &[f64], low: &[f64], close: &[f64], n: usize) -> Vec<f64> {
    let mut out = atr(high, low, close, n);
    for (o, &c) in out.iter_mut().zip(close) {
        if !o.is_nan() {
            *o = if is_zero(c) { 0.0 } else { (*o / c) * 100.0 };
        }
    }
    out
}

/// TA-Lib `PLUS_DI` / `MINUS_DI`: Wilder-smoothed directional movement over the true range, in
/// percent, seeded with the sums of the first `n - 1` bars (first value at `n`).
fn di(high: &[f64], low: &[f64], close: &[f64], n: usize, plus: bool) -> Vec<f64> {
    let len = close.len();
    let mut out = nan(len);
    let b = first_valid(&[high, low, close]);
    if n == 0 || b + n >= len {
        return out;
    }
    let nf = n as f64;
    let (mut dm_sum, mut tr_sum) = (0.0, 0.0);
    let step = |t: usize| {
        let up = high[t] - high[t - 1];
        let down = low[t - 1] - low[t];
        let dm = if plus {
            if up > 0.0 && up > down { up } else { 0.0 }
        } else if down > 0.0 && down > up {
            down
        } else {
            0.0
        };
        (dm, true_range(high[t], low[t], close[t - 1]))
    };
    for t in b + 1..b + n {
        let (dm, r) = step(t);
        dm_sum += dm;
        tr_sum += r;
    }
    for (t, o) in out.iter_mut().enumerate().skip(b + n) {
        let (dm, r) = step(t);
        dm_sum = dm_sum - (dm_sum / nf) + dm;
        tr_sum = tr_sum - (tr_sum / nf) + r;
        *o = if is_zero(tr_sum) {
            0.0
        } else {
            100.0 * (dm_sum / tr_sum)
        };
    }
    out
}

/// TA-Lib `PLUS_DI`.
pub fn plus_di(high: &[f64], low: &[f64], close: &[f64], n: usize) -> Vec<f64> {
    di(high, low, close, n, true)
}

/// TA-Lib `MINUS_DI`.
pub fn minus_di(high: &[f64], low: &[f64], close: &[f64], n: usize) -> Vec<f64> {
    di(high, low, close, n, false)
}

/// TA-Lib `SAR`: Wilder's parabolic stop and reverse, starting in the direction of the first
/// bar's stronger directional move (long on a tie), from the second bar.
pub fn sar(high: &[f64], low: &[f64], accel: f64, maximum: f64) -> Vec<f64> {
    let len = high.len();
    let mut out = nan(len);
    let b = first_valid(&[high, low]);
    if b + 1 >= len {
        return out;
    }
    let mut accel = accel;
    if accel > maximum {
        accel = maximum;
    }
    let mut af = accel;
    let up = high[b + 1] - high[b];
    let down = low[b] - low[b + 1];
    let minus_dm = if down > 0.0 && down > up { down } else { 0.0 };
    let mut long = minus_dm <= 0.0;
    let (mut ep, mut s) = if long {
        (high[b + 1], low[b])
    } else {
        (low[b + 1], high[b])
    };
    let (mut new_low, mut new_high) = (low[b + 1], high[b + 1]);
    for t in b + 1..len {
        let (prev_low, prev_high) = (new_low, new_high);
        new_low = low[t];
        new_high = high[t];
        if long {
            if new_low <= s {
                long = false;
                s = ep.max(prev_high).max(new_high);
                out[t] = s;
                af = accel;
                ep = new_low;
                s += af * (ep - s);
                s = s.max(prev_high).max(new_high);
            } else {
                out[t] = s;
                if new_high > ep {
                    ep = new_high;
                    af = (af + accel).min(maximum);
                }
                s += af * (ep - s);
                s = s.min(prev_low).min(new_low);
            }
        } else if new_high >= s {
            long = true;
            s = ep.min(prev_low).min(new_low);
            out[t] = s;
            af = accel;
            ep = new_high;
            s += af * (ep - s);
            s = s.min(prev_low).min(new_low);
        } else {
            out[t] = s;
            if new_low < ep {
                ep = new_low;
                af = (af + accel).min(maximum);
            }
            s += af * (ep - s);
            s = s.max(prev_high).max(new_high);
        }
    }
    out
}

/// TA-Lib `AROON`: `(up, down)`, how recent the highest high and the lowest low of the last
/// `n + 1` bars are, in percent of `n` (the latest extreme wins a tie; first value at `n`).
pub fn aroon(high: &[f64], low: &[f64], n: usize) -> [Vec<f64>; 2] {
    let len = high.len();
    let (mut up, mut down) = (nan(len), nan(len));
    let b = first_valid(&[high, low]);
    if n < 2 || b + n >= len {
        return [up, down];
    }
    let factor = 100.0 / n as f64;
    for today in b + n..len {
        let (mut hi_i, mut lo_i) = (today - n, today - n);
        for i in today - n..=today {
            if high[i] >= high[hi_i] {
                hi_i = i;
            }
            if low[i] <= low[lo_i] {
                lo_i = i;
            }
        }
        up[today] = factor * (n - (today - hi_i)) as f64;
        down[today] = factor * (n - (today - lo_i)) as f64;
    }
    [up, down]
}
