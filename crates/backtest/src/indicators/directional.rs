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
    // TA-Lib's scan: keep the extreme's index, rescan only when it leaves the window.
    let (mut hi_i, mut lo_i): (Option<usize>, Option<usize>) = (None, None);
    for today in b + n..len {
        let trailing = today - n;
        match hi_i {
            Some(i) if i >= trailing => {
                if high[today] >= high[i] {
                    hi_i = Some(today);
                }
            }
            _ => {
                let mut best = trailing;
                for i in trailing + 1..=today {
                    if high[i] >= high[best] {
                        best = i;
                    }
                }
                hi_i = Some(best);
            }
        }
        match lo_i {
            Some(i) if i >= trailing => {
                if low[today] <= low[i] {
                    lo_i = Some(today);
                }
            }
            _ => {
                let mut best = trailing;
                for i in trailing + 1..=today {
                    if low[i] <= low[best] {
                        best = i;
                    }
                }
                lo_i = Some(best);
            }
        }
        let (h, l) = (hi_i.unwrap_or(today), lo_i.unwrap_or(today));
        up[today] = factor * (n - (today - h)) as f64;
        down[today] = factor * (n - (today - l)) as f64;
    }
    [up, down]
}

/// `TradingView`'s `ta.supertrend(mult, n)`: `(line, direction)`, direction -1 in an uptrend (the
/// line under the price) and 1 in a downtrend. The ATR is `TradingView`'s (an RMA of the true
/// range, the first bar's being its high - low), so values start at bar `n - 1`; before that
/// both are missing, and the bands' previous values count as 0 (Pine's `nz`).
pub fn supertrend(high: &[f64], low: &[f64], close: &[f64], n: usize, mult: f64) -> [Vec<f64>; 2] {
    let len = close.len();
    let (mut line, mut direction) = (nan(len), nan(len));
    if n == 0 || n > len {
        return [line, direction];
    }
    let tr: Vec<f64> = (0..len)
        .map(|i| {
            if i == 0 {
                high[0] - low[0]
            } else {
                true_range(high[i], low[i], close[i - 1])
            }
        })
        .collect();
    let nf = n as f64;
    let alpha = 1.0 / nf;
    let mut atr = 0.0;
    for v in &tr[..n] {
        atr += v;
    }
    atr /= nf;
    let (mut prev_lower, mut prev_upper, mut prev_line) = (0.0, 0.0, f64::NAN);
    for i in n - 1..len {
        if i >= n {
            atr = alpha * tr[i] + (1.0 - alpha) * atr;
        }
        #[expect(
            clippy::manual_midpoint,
            reason = "Pine's hl2 is (high + low) / 2, as the export computes it"
        )]
        let src = (high[i] + low[i]) / 2.0;
        let (mut upper, mut lower) = (src + mult * atr, src - mult * atr);
        let prev_close = if i > 0 { close[i - 1] } else { f64::NAN };
        if !(lower > prev_lower || prev_close < prev_lower) {
            lower = prev_lower;
        }
        if !(upper < prev_upper || prev_close > prev_upper) {
            upper = prev_upper;
        }
        #[expect(
            clippy::float_cmp,
            reason = "TradingView compares the line with the band exactly"
        )]
        let d = if i == n - 1 {
            1.0
        } else if prev_line == prev_upper {
            if close[i] > upper { -1.0 } else { 1.0 }
        } else if close[i] < lower {
            1.0
        } else {
            -1.0
        };
        let st = if d < 0.0 { lower } else { upper };
        line[i] = st;
        direction[i] = d;
        prev_lower = lower;
        prev_upper = upper;
        prev_line = st;
    }
    [line, direction]
}
