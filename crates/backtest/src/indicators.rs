//! Indicators with TA-Lib's definitions, warm-up and floating-point operation order (TA-Lib
//! 0.8, default compatibility, unstable period 0), so values match it to ~1e-12.
//!
//! Like TA-Lib's Python wrapper, a series is computed from its first non-NaN value: leading
//! NaNs (the warm-up of an inner indicator) shift the output instead of spoiling it. Every output
//! has the input's length, NaN where undefined. Periods are assumed checked by the strategy's
//! type checker; out-of-range periods yield all-NaN output rather than a panic.

/// TA-Lib's zero test.
fn is_zero(v: f64) -> bool {
    -0.000_000_000_000_01 < v && v < 0.000_000_000_000_01
}

fn first_valid(xs: &[&[f64]]) -> usize {
    xs.iter()
        .map(|x| x.iter().position(|v| !v.is_nan()).unwrap_or(x.len()))
        .max()
        .unwrap_or(0)
}

fn nan(n: usize) -> Vec<f64> {
    vec![f64::NAN; n]
}

/// Simple moving average (running sum, as TA-Lib).
pub fn sma(x: &[f64], n: usize) -> Vec<f64> {
    let mut out = nan(x.len());
    let b = first_valid(&[x]);
    if n == 0 || b + n > x.len() {
        return out;
    }
    let mut total = 0.0;
    for v in &x[b..b + n - 1] {
        total += v;
    }
    for i in b + n - 1..x.len() {
        total += x[i];
        let t = total;
        total -= x[i + 1 - n];
        out[i] = t / n as f64;
    }
    out
}

/// EMA seeded with the SMA of its first `n` values, from index `start` of `x`; `k` as TA-Lib.
fn ema_from(x: &[f64], n: usize, start: usize, k: f64, out: &mut [f64]) {
    if n == 0 || start + n > x.len() {
        return;
    }
    let mut total = 0.0;
    for v in &x[start..start + n] {
        total += v;
    }
    let mut prev = total / n as f64;
    out[start + n - 1] = prev;
    for i in start + n..x.len() {
        prev = ((x[i] - prev) * k) + prev;
        out[i] = prev;
    }
}

/// Exponential moving average, α = 2/(n+1), seeded with an SMA.
pub fn ema(x: &[f64], n: usize) -> Vec<f64> {
    let mut out = nan(x.len());
    let b = first_valid(&[x]);
    ema_from(x, n, b, 2.0 / (n as f64 + 1.0), &mut out);
    out
}

/// Linearly weighted moving average (weights 1..n).
pub fn wma(x: &[f64], n: usize) -> Vec<f64> {
    let mut out = nan(x.len());
    let b = first_valid(&[x]);
    if n == 0 || b + n > x.len() {
        return out;
    }
    let divider = (n * (n + 1)) as f64 / 2.0;
    let (mut sum, mut sub) = (0.0, 0.0);
    let mut i = 1.0;
    for v in &x[b..b + n - 1] {
        sub += v;
        sum += v * i;
        i += 1.0;
    }
    for idx in b + n - 1..x.len() {
        let v = x[idx];
        sub += v;
        sum += v * n as f64;
        let t = x[idx + 1 - n];
        out[idx] = sum / divider;
        sum -= sub;
        sub -= t;
    }
    out
}

/// Wilder's RSI: average gain and loss seeded with the mean of the first `n` changes.
pub fn rsi(x: &[f64], n: usize) -> Vec<f64> {
    let mut out = nan(x.len());
    let b = first_valid(&[x]);
    if n < 2 || b + n >= x.len() {
        return out;
    }
    let nf = n as f64;
    let (mut gain, mut loss) = (0.0, 0.0);
    let mut prev = x[b];
    for &v in &x[b + 1..=b + n] {
        let d = v - prev;
        prev = v;
        if d < 0.0 {
            loss -= d;
        } else {
            gain += d;
        }
    }
    loss /= nf;
    gain /= nf;
    let inv = 1.0 / nf;
    let put = |g: f64, l: f64| {
        let s = g + l;
        if is_zero(s) { 0.0 } else { 100.0 * (g / s) }
    };
    out[b + n] = put(gain, loss);
    for i in b + n + 1..x.len() {
        let d = x[i] - prev;
        prev = x[i];
        loss *= nf - 1.0;
        gain *= nf - 1.0;
        // Branch-free: adding or subtracting 0.0 leaves a value unchanged.
        let down = if d < 0.0 { d } else { 0.0 };
        loss -= down;
        gain += d - down;
        // A multiply, not a divide, on the loop-carried path (within an ulp of TA-Lib).
        loss *= inv;
        gain *= inv;
        out[i] = put(gain, loss);
    }
    out
}

/// Rolling maximum over `n` bars.
pub fn highest(x: &[f64], n: usize) -> Vec<f64> {
    rolling(x, n, |a, b| a > b)
}

/// Rolling minimum over `n` bars.
pub fn lowest(x: &[f64], n: usize) -> Vec<f64> {
    rolling(x, n, |a, b| a < b)
}

/// The extreme of each `n`-bar window by `better`, ignoring missing values (NaN only where a
/// whole window is missing).
fn rolling(x: &[f64], n: usize, better: impl Fn(f64, f64) -> bool + Copy) -> Vec<f64> {
    let len = x.len();
    let b = first_valid(&[x]);
    if n == 0 || b + n > len {
        return nan(len);
    }
    let mut out = vec![f64::NAN; len];
    if x[b..].iter().any(|v| v.is_nan()) {
        rolling_with_gaps(x, n, b, better, &mut out);
        return out;
    }
    // TA-Lib's method: keep the extreme and its index; rescan the window only when that index
    // leaves it.
    let (mut best, mut best_at) = (x[b], b);
    for i in b..len {
        let v = x[i];
        let from = (i + 1).saturating_sub(n).max(b);
        if best_at < from {
            best_at = from;
            best = x[from];
            for (j, &w) in x.iter().enumerate().take(i + 1).skip(from + 1) {
                if !better(best, w) {
                    best = w;
                    best_at = j;
                }
            }
        } else if !better(best, v) {
            best = v;
            best_at = i;
        }
        if i + 1 >= b + n {
            out[i] = best;
        }
    }
    out
}

/// [`rolling`] for inputs with missing values inside: a monotonic queue of candidate indices.
fn rolling_with_gaps(
    x: &[f64],
    n: usize,
    b: usize,
    better: impl Fn(f64, f64) -> bool,
    out: &mut [f64],
) {
    // The queue lives in `idx[head..tail]`; indices only grow, so it never wraps.
    let mut idx = vec![0_usize; x.len() - b];
    let (mut head, mut tail) = (0_usize, 0_usize);
    for i in b..x.len() {
        let v = x[i];
        if !v.is_nan() {
            while tail > head && !better(x[idx[tail - 1]], v) {
                tail -= 1;
            }
            idx[tail] = i;
            tail += 1;
        }
        if i + 1 >= b + n {
            let from = i + 1 - n;
            while tail > head && idx[head] < from {
                head += 1;
            }
            if tail > head {
                out[i] = x[idx[head]];
            }
        }
    }
}

/// MACD line, signal and histogram, with TA-Lib's alignment: both EMAs are seeded on the bar
/// where the slow one can first be, so the line differs from EMA(fast) − EMA(slow) early on.
pub fn macd(x: &[f64], fast: usize, slow: usize, signal: usize) -> [Vec<f64>; 3] {
    let len = x.len();
    let mut out = [nan(len), nan(len), nan(len)];
    let (fast, slow) = if slow < fast {
        (slow, fast)
    } else {
        (fast, slow)
    };
    let b = first_valid(&[x]);
    if fast < 2 || signal == 0 || b + slow + signal - 1 > len {
        return out;
    }
    let seed = b + slow - 1;
    // One pass: both EMAs, the line, and the signal EMA over the line, with the same
    // operations as separate `ema_from` runs (the EMAs' independent chains overlap in time).
    let (kf, ks, kg) = (
        2.0 / (fast as f64 + 1.0),
        2.0 / (slow as f64 + 1.0),
        2.0 / (signal as f64 + 1.0),
    );
    let seed_of = |n: usize| {
        let mut total = 0.0;
        for v in &x[seed + 1 - n..=seed] {
            total += v;
        }
        total / n as f64
    };
    let (mut f, mut s) = (seed_of(fast), seed_of(slow));
    let first = seed + signal - 1;
    let (mut total, mut sig) = (0.0, 0.0);
    for i in seed..len {
        if i > seed {
            f = ((x[i] - f) * kf) + f;
            s = ((x[i] - s) * ks) + s;
        }
        let line = f - s;
        if i < first {
            total += line;
            continue;
        }
        if i == first {
            total += line;
            sig = total / signal as f64;
        } else {
            sig = ((line - sig) * kg) + sig;
        }
        out[0][i] = line;
        out[1][i] = sig;
        out[2][i] = line - sig;
    }
    out
}

/// Bollinger bands: SMA(n) ± k population standard deviations; `[upper, middle, lower]`.
pub fn bbands(x: &[f64], n: usize, k: f64) -> [Vec<f64>; 3] {
    let len = x.len();
    let mut middle = nan(len);
    let mut upper = nan(len);
    let mut lower = nan(len);
    let b = first_valid(&[x]);
    if n < 2 || b + n > len {
        if n == 1 {
            middle = x.to_vec();
        }
        return [upper, middle, lower];
    }
    let nf = n as f64;
    let (mut t1, mut t2) = (0.0, 0.0);
    for &v in &x[b..b + n - 1] {
        t1 += v;
        t2 += v * v;
    }
    for i in b + n - 1..len {
        let v = x[i];
        t1 += v;
        t2 += v * v;
        let m1 = t1 / nf;
        let m2 = t2 / nf;
        let t = x[i + 1 - n];
        t1 -= t;
        t2 -= t * t;
        let var = m2 - m1 * m1;
        let sd = if var > 0.0 && !is_zero(var) {
            var.sqrt()
        } else {
            0.0
        };
        let d = sd * k;
        // m1 is the SMA: the same running sum, added and subtracted in the same order.
        middle[i] = m1;
        upper[i] = m1 + d;
        lower[i] = m1 - d;
    }
    [upper, middle, lower]
}

fn true_range(h: f64, l: f64, yc: f64) -> f64 {
    let mut out = h - l;
    let a = (h - yc).abs();
    if a > out {
        out = a;
    }
    let a = (l - yc).abs();
    if a > out {
        out = a;
    }
    out
}

/// Average true range (Wilder), seeded with the mean of the first `n` true ranges.
pub fn atr(high: &[f64], low: &[f64], close: &[f64], n: usize) -> Vec<f64> {
    let len = close.len();
    let mut out = nan(len);
    let b = first_valid(&[high, low, close]);
    if n == 0 || b + n >= len {
        return out;
    }
    if n == 1 {
        let mut tr = nan(len);
        for i in b + 1..len {
            tr[i] = true_range(high[i], low[i], close[i - 1]);
        }
        return tr;
    }
    let nf = n as f64;
    let mut total = 0.0;
    for i in b + 1..=b + n {
        total += true_range(high[i], low[i], close[i - 1]);
    }
    let mut prev = total / nf;
    out[b + n] = prev;
    let inv = 1.0 / nf;
    for i in b + n + 1..len {
        prev *= nf - 1.0;
        prev += true_range(high[i], low[i], close[i - 1]);
        prev *= inv;
        out[i] = prev;
    }
    out
}

/// Slow stochastic with SMA smoothing: `[k, d]`, both from the first bar %D exists.
pub fn stoch(
    high: &[f64],
    low: &[f64],
    close: &[f64],
    k: usize,
    smooth_k: usize,
    d: usize,
) -> [Vec<f64>; 2] {
    let len = close.len();
    let mut out = [nan(len), nan(len)];
    let b = first_valid(&[high, low, close]);
    if k == 0 || smooth_k == 0 || d == 0 || b + k + smooth_k + d - 2 > len {
        return out;
    }
    // From the first bar where all three have values, as TA-Lib sees the inputs.
    let hh = highest(&high[b..], k);
    let ll = lowest(&low[b..], k);
    let mut fast = nan(len);
    for i in b + k - 1..len {
        let (hh, ll) = (hh[i - b], ll[i - b]);
        let diff = (hh - ll) / 100.0;
        fast[i] = if diff == 0.0 {
            0.0
        } else {
            (close[i] - ll) / diff
        };
    }
    let slow_k = sma(&fast, smooth_k);
    let slow_d = sma(&slow_k, d);
    let first = b + k + smooth_k + d - 3;
    out[0][first..].copy_from_slice(&slow_k[first..]);
    out[1][first..].copy_from_slice(&slow_d[first..]);
    out
}

/// Average directional index (Wilder), as TA-Lib: DM and TR sums seeded with the sum of the
/// first `n − 1` values; ADX first at `2n − 1` as the mean of `n` DX values.
pub fn adx(high: &[f64], low: &[f64], close: &[f64], n: usize) -> Vec<f64> {
    let len = close.len();
    let mut out = nan(len);
    let b = first_valid(&[high, low, close]);
    if n < 2 || b + 2 * n > len {
        return out;
    }
    let nf = n as f64;
    let mut today = b;
    let (mut pdm, mut mdm, mut tr) = (0.0, 0.0, 0.0);
    let (mut ph, mut pl, mut pc) = (high[today], low[today], close[today]);
    let mut step = |today: usize, pdm: &mut f64, mdm: &mut f64, tr: &mut f64, smooth: bool| {
        let h = high[today];
        let dp = h - ph;
        ph = h;
        let l = low[today];
        let dm = pl - l;
        pl = l;
        if smooth {
            *mdm -= *mdm / nf;
            *pdm -= *pdm / nf;
        }
        if dm > 0.0 && dp < dm {
            *mdm += dm;
        } else if dp > 0.0 && dp > dm {
            *pdm += dp;
        }
        let r = true_range(ph, pl, pc);
        if smooth {
            *tr = *tr - (*tr / nf) + r;
        } else {
            *tr += r;
        }
        pc = close[today];
    };
    for _ in 0..n - 1 {
        today += 1;
        step(today, &mut pdm, &mut mdm, &mut tr, false);
    }
    let dx = |pdm: f64, mdm: f64, tr: f64| -> Option<f64> {
        if is_zero(tr) {
            return None;
        }
        let minus = 100.0 * (mdm / tr);
        let plus = 100.0 * (pdm / tr);
        let s = minus + plus;
        (!is_zero(s)).then(|| 100.0 * ((minus - plus).abs() / s))
    };
    let mut sum = 0.0;
    for _ in 0..n {
        today += 1;
        step(today, &mut pdm, &mut mdm, &mut tr, true);
        if let Some(v) = dx(pdm, mdm, tr) {
            sum += v;
        }
    }
    let mut prev = sum / nf;
    out[today] = prev;
    while today + 1 < len {
        today += 1;
        step(today, &mut pdm, &mut mdm, &mut tr, true);
        if let Some(v) = dx(pdm, mdm, tr) {
            prev = ((prev * (nf - 1.0)) + v) / nf;
        }
        out[today] = prev;
    }
    out
}
