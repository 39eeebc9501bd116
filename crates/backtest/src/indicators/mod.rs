//! Indicators with TA-Lib's definitions and warm-up (TA-Lib 0.8, default compatibility, unstable
//! period 0), so values match it to ~1e-12. The floating-point operation order is TA-Lib's
//! except where a regrouping shortens the loop-carried path (SMA, EMA, RSI, ATR): those agree
//! with TA-Lib within a few ulps per step, and are as fast as its FMA-compiled C or faster.
//! `highest`/`lowest` use TA-Lib 0.8's block scan and give exactly its values.
//!
//! Like TA-Lib's Python wrapper, a series is computed from its first non-NaN value: leading
//! NaNs (the warm-up of an inner indicator) shift the output instead of spoiling it. Every output
//! has the input's length, NaN where undefined. Periods are assumed checked by the strategy's
//! type checker; out-of-range periods yield all-NaN output rather than a panic.

mod candles;
mod directional;
mod momentum;
mod volume;

pub use candles::{
    doji, engulfing, evening_star, hammer, harami, morning_star, shooting_star, three_black_crows,
    three_white_soldiers,
};
pub use directional::{aroon, minus_di, natr, plus_di, sar, supertrend, trange};
pub use momentum::{cci, cmo, linearreg, mom, roc, stddev, sum, willr};
pub use volume::{ad, adosc, mfi, obv};

/// TA-Lib's zero test.
fn is_zero(v: f64) -> bool {
    -0.000_000_000_000_01 < v && v < 0.000_000_000_000_01
}

pub(crate) fn first_valid(xs: &[&[f64]]) -> usize {
    xs.iter()
        .map(|x| x.iter().position(|v| !v.is_nan()).unwrap_or(x.len()))
        .max()
        .unwrap_or(0)
}

fn nan(n: usize) -> Vec<f64> {
    vec![f64::NAN; n]
}

/// `len` values, the first `head` of them NaN and the rest zero, for a caller that writes every
/// value after the head by index. Zeroed memory comes from `calloc` (fresh pages are zero
/// already), so the output is written once rather than filled first.
fn nan_head(len: usize, head: usize) -> Vec<f64> {
    let mut out = vec![0.0; len];
    out[..head.min(len)].fill(f64::NAN);
    out
}

/// Simple moving average (running sum, as TA-Lib).
pub fn sma(x: &[f64], n: usize) -> Vec<f64> {
    let b = first_valid(&[x]);
    if n == 0 || b + n > x.len() {
        return nan(x.len());
    }
    let nf = n as f64;
    let mut total = 0.0;
    for v in &x[b..b + n] {
        total += v;
    }
    let mut out = nan_head(x.len(), b + n - 1);
    out[b + n - 1] = total / nf;
    // TA-Lib's operations exactly: add the new value, divide that total, then drop the oldest.
    // Bit-for-bit equal values matter where two averages tie: a cross on a tie decides a trade.
    total -= x[b];
    for ((o, &v), &old) in out[b + n..].iter_mut().zip(&x[b + n..]).zip(&x[b + 1..]) {
        total += v;
        *o = total / nf;
        total -= old;
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
    // `prev·(1−k) + x·k` rather than TA-Lib's `(x − prev)·k + prev`: the same value within a
    // few ulps, with one multiply and one add on the loop-carried path instead of three steps.
    // Two bars per step, `prev·keep² + (x₁·k·keep + x₂·k)` for the second: one multiply and
    // one add on the loop-carried path per two bars.
    let keep = 1.0 - k;
    let keep2 = keep * keep;
    let mut pairs = out[start + n..x.len()].chunks_exact_mut(2);
    let mut values = x[start + n..].chunks_exact(2);
    for (o, v) in (&mut pairs).zip(&mut values) {
        let t1 = v[0] * k;
        o[0] = prev * keep + t1;
        prev = prev * keep2 + (t1 * keep + v[1] * k);
        o[1] = prev;
    }
    if let ([o], [v]) = (pairs.into_remainder(), values.remainder()) {
        *o = prev * keep + v * k;
    }
}

/// Exponential moving average, α = 2/(n+1), seeded with an SMA.
pub fn ema(x: &[f64], n: usize) -> Vec<f64> {
    let b = first_valid(&[x]);
    if n == 0 || b + n > x.len() {
        return nan(x.len());
    }
    let mut out = nan_head(x.len(), b + n - 1);
    ema_from(x, n, b, 2.0 / (n as f64 + 1.0), &mut out);
    out
}

/// Linearly weighted moving average (weights 1..n).
pub fn wma(x: &[f64], n: usize) -> Vec<f64> {
    let b = first_valid(&[x]);
    if n == 0 || b + n > x.len() {
        return nan(x.len());
    }
    let divider = (n * (n + 1)) as f64 / 2.0;
    let (mut sum, mut sub) = (0.0, 0.0);
    let mut i = 1.0;
    for v in &x[b..b + n - 1] {
        sub += v;
        sum += v * i;
        i += 1.0;
    }
    let nf = n as f64;
    let k = nf - 1.0;
    let inv = 1.0 / divider;
    let mut out = nan_head(x.len(), b + n - 1);
    // TA-Lib adds `v` to both sums, divides, then takes the plain sum off the weighted one and
    // the oldest value off the plain sum: two dependent adds per sum per bar. Folding each
    // bar's change into one term leaves a single add on each loop-carried path; the plain sum
    // subtracts so that the compiler does not pack both sums into one vector, whose shuffle
    // would join the two paths. Indexed writes keep both sums in registers (an `extend` here
    // was not inlined and carried them through memory: 3× slower).
    for ((o, &v), &old) in out[b + n - 1..]
        .iter_mut()
        .zip(&x[b + n - 1..])
        .zip(&x[b..])
    {
        *o = (sum + v * nf) * inv;
        sum += v * k - sub;
        sub -= old - v;
    }
    out
}

/// Mean gain and mean loss over the first `n` changes after index `b`: the seed of Wilder's
/// smoothing in RSI and CMO.
pub(crate) fn wilder_seed(x: &[f64], b: usize, n: usize) -> (f64, f64) {
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
    let nf = n as f64;
    (gain / nf, loss / nf)
}

/// Wilder's RSI: average gain and loss seeded with the mean of the first `n` changes.
pub fn rsi(x: &[f64], n: usize) -> Vec<f64> {
    let b = first_valid(&[x]);
    if n < 2 || b + n >= x.len() {
        return nan(x.len());
    }
    let mut out = nan_head(x.len(), b + n);
    let nf = n as f64;
    let (mut gain, mut loss) = wilder_seed(x, b, n);
    let inv = 1.0 / nf;
    let keep = (nf - 1.0) * inv;
    let put = |g: f64, l: f64| {
        let s = g + l;
        if is_zero(s) { 0.0 } else { 100.0 * (g / s) }
    };
    out[b + n] = put(gain, loss);
    // Branch-free, and `avg·(n−1)/n + change/n` (Wilder's `(avg·(n−1) + change)/n` within a
    // few ulps) two bars per step: one multiply and one add per two bars on each loop-carried
    // path.
    let keep2 = keep * keep;
    let moves = |d: f64| {
        let down = if d < 0.0 { d } else { 0.0 };
        ((d - down) * inv, -down * inv)
    };
    let mut pairs = out[b + n + 1..].chunks_exact_mut(2);
    let mut steps = x[b + n..].windows(3).step_by(2);
    for (o, w) in (&mut pairs).zip(&mut steps) {
        let ((g1, l1), (g2, l2)) = (moves(w[1] - w[0]), moves(w[2] - w[1]));
        let first = put(gain * keep + g1, loss * keep + l1);
        gain = gain * keep2 + (g1 * keep + g2);
        loss = loss * keep2 + (l1 * keep + l2);
        o.copy_from_slice(&[first, put(gain, loss)]);
    }
    if let [o] = pairs.into_remainder() {
        let (g, l) = moves(x[x.len() - 1] - x[x.len() - 2]);
        *o = put(gain * keep + g, loss * keep + l);
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
    let mut out = nan_head(len, b + n - 1);
    // Van Herk / Gil-Werman block scan, as TA-Lib 0.8's batch MAX/MIN: for each block of `n`
    // bars, the suffix extremes of the block and the running prefix extreme of the next one
    // give every window that straddles them with one comparison each. No data-dependent
    // branches, a fixed amount of work per bar whatever the data, scratch space of `n` values.
    let pick = |h: f64, v: f64| if better(v, h) { v } else { h };
    let mut suffix = vec![0.0; n];
    let mut start = b;
    // A missing value is skipped by `pick` (no comparison with NaN is true) unless a scan
    // starts from it: then it would stick. So only the values the scans start from are
    // checked, once per block; every window contains two of them, so none is wholly missing
    // when they are present. Otherwise the queue version handles the gaps.
    let mut gap = false;
    while start + n <= len {
        let next = start + n;
        gap |= x[next - 1].is_nan() | x[next.min(len - 1)].is_nan();
        let mut h = x[start + n - 1];
        for (s, &v) in suffix.iter_mut().zip(&x[start..start + n]).rev() {
            h = pick(h, v);
            *s = h;
        }
        out[start + n - 1] = suffix[0];
        // The next block's running prefix extreme, combined as it goes.
        let avail = (len - next).min(n - 1);
        let mut h = x[next.min(len - 1)];
        for ((o, &v), &s) in out[next..next + avail]
            .iter_mut()
            .zip(&x[next..next + avail])
            .zip(&suffix[1..])
        {
            h = pick(h, v);
            *o = pick(s, h);
        }
        start = next;
    }
    if gap {
        out[b + n - 1..].fill(f64::NAN);
        rolling_with_gaps(x, n, b, better, &mut out);
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
    let b = first_valid(&[x]);
    if n < 2 || b + n > len {
        let middle = if n == 1 { x.to_vec() } else { nan(len) };
        return [nan(len), middle, nan(len)];
    }
    let (mut upper, mut middle, mut lower) = (
        nan_head(len, b + n - 1),
        nan_head(len, b + n - 1),
        nan_head(len, b + n - 1),
    );
    let nf = n as f64;
    let inv = 1.0 / nf;
    let (mut t1, mut t2) = (0.0, 0.0);
    for &v in &x[b..b + n - 1] {
        t1 += v;
        t2 += v * v;
    }
    for i in b + n - 1..len {
        let v = x[i];
        t1 += v;
        t2 += v * v;
        let m1 = t1 * inv;
        let m2 = t2 * inv;
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
        // The running sums add and subtract in TA-Lib's order: the variance is a difference of
        // near-equal terms, which magnifies any change in their rounding.
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
    let b = first_valid(&[high, low, close]);
    if n == 0 || b + n >= len {
        return nan(len);
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
    // Indexed writes after a zeroed (not filled) buffer: pushing two values per step was slower.
    let mut out = nan_head(len, b + n);
    out[b + n] = prev;
    let inv = 1.0 / nf;
    let keep = (nf - 1.0) * inv;
    let keep2 = keep * keep;
    // Two bars per step: `avg·k² + (tr₁/n·k + tr₂/n)` for the second leaves one multiply and one
    // add on the loop-carried path per two bars (Wilder's recurrence, within a few ulps).
    let mut i = b + n + 1;
    while i + 1 < len {
        let t1 = true_range(high[i], low[i], close[i - 1]) * inv;
        let t2 = true_range(high[i + 1], low[i + 1], close[i]) * inv;
        out[i] = prev * keep + t1;
        prev = prev * keep2 + (t1 * keep + t2);
        out[i + 1] = prev;
        i += 2;
    }
    if i < len {
        out[i] = prev * keep + true_range(high[i], low[i], close[i - 1]) * inv;
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
    let b = first_valid(&[high, low, close]);
    if k == 0 || smooth_k == 0 || d == 0 || b + k + smooth_k + d - 2 > len {
        return [nan(len), nan(len)];
    }
    // From the first bar where all three have values, as TA-Lib sees the inputs. %K is written
    // over the rolling highs (fewer full-length buffers: each costs page faults on big inputs).
    let mut fast = highest(&high[b..], k);
    let ll = lowest(&low[b..], k);
    for ((f, &ll), &c) in fast.iter_mut().zip(&ll).zip(&close[b..]).skip(k - 1) {
        let diff = (*f - ll) / 100.0;
        *f = if diff == 0.0 { 0.0 } else { (c - ll) / diff };
    }
    let mut slow_k = sma(&fast, smooth_k);
    let slow_d = sma(&slow_k, d);
    let first = k + smooth_k + d - 3;
    slow_k[..first].fill(f64::NAN);
    if b == 0 {
        return [slow_k, slow_d];
    }
    let mut out = [nan(len), nan(len)];
    out[0][b..].copy_from_slice(&slow_k);
    out[1][b..].copy_from_slice(&slow_d);
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
    // Wilder's smoothing `x − x/n` as `x·(1 − 1/n)` and the DI ratios through one reciprocal of
    // TR: TA-Lib divides seven times per bar, and the divider's throughput, not the adds, set
    // its pace. Two divides remain (within a few ulps of TA-Lib's values).
    let inv = 1.0 / nf;
    let keep = 1.0 - inv;
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
        let r = true_range(ph, pl, pc);
        if smooth {
            *mdm *= keep;
            *pdm *= keep;
            *tr = *tr * keep + r;
        } else {
            *tr += r;
        }
        // The two moves exclude each other (`dp < dm` against `dp > dm`): added as selects
        // rather than through branches, which the data makes unpredictable.
        *mdm += if dm > 0.0 && dp < dm { dm } else { 0.0 };
        *pdm += if dp > 0.0 && dp > dm { dp } else { 0.0 };
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
        let per_tr = 100.0 / tr;
        let minus = mdm * per_tr;
        let plus = pdm * per_tr;
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
            prev = prev * keep + v * inv;
        }
        out[today] = prev;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RSI two bars per step against Wilder's bar-by-bar recurrence, for every output length
    /// parity (the odd bar at the end takes its own path).
    #[test]
    fn rsi_matches_wilder_bar_by_bar() {
        let x: Vec<f64> = (0..40_u32)
            .map(|i| 100.0 + f64::from((i * 37 + 11) % 23) - 11.0)
            .collect();
        for n in [2_usize, 5, 14] {
            for len in n + 1..x.len() {
                let x = &x[..len];
                let got = rsi(x, n);
                let nf = n as f64;
                let (mut gain, mut loss) = (0.0, 0.0);
                for w in x[..=n].windows(2) {
                    let d = w[1] - w[0];
                    if d < 0.0 { loss -= d } else { gain += d }
                }
                (gain, loss) = (gain / nf, loss / nf);
                for i in n..len {
                    if i > n {
                        let d = x[i] - x[i - 1];
                        gain = (gain * (nf - 1.0) + d.max(0.0)) / nf;
                        loss = (loss * (nf - 1.0) + (-d).max(0.0)) / nf;
                    }
                    let want = 100.0 * gain / (gain + loss);
                    assert!((got[i] - want).abs() < 1e-9, "n={n} len={len} i={i}");
                }
                assert!(got[..n].iter().all(|v| v.is_nan()));
            }
        }
    }

    /// Missing values inside the series (where a block scan starts, inside a block, or in the
    /// last partial block) are ignored: each window's extreme of the values it has, NaN where it
    /// has none.
    #[test]
    #[expect(
        clippy::float_cmp,
        reason = "a max or min is one of its inputs, exactly"
    )]
    fn rolling_extremes_skip_missing_values_inside() {
        let base: Vec<f64> = (0..60_u32).map(|i| f64::from((i * 29 + 7) % 17)).collect();
        for holes in [&[20_usize, 21, 22, 23][..], &[50], &[56], &[5, 40]] {
            let mut x = base.clone();
            for &h in holes {
                x[h] = f64::NAN;
            }
            for n in [1, 3, 4, 7, 25] {
                let (hi, lo) = (highest(&x, n), lowest(&x, n));
                for i in 0..x.len() {
                    let present: Vec<f64> = (i + 1 >= n)
                        .then(|| &x[i + 1 - n..=i])
                        .into_iter()
                        .flatten()
                        .copied()
                        .filter(|v| !v.is_nan())
                        .collect();
                    let want_hi = present.iter().copied().reduce(f64::max);
                    let want_lo = present.iter().copied().reduce(f64::min);
                    match (want_hi, want_lo) {
                        (Some(h), Some(l)) => {
                            assert_eq!(hi[i], h, "highest holes={holes:?} n={n} i={i}");
                            assert_eq!(lo[i], l, "lowest holes={holes:?} n={n} i={i}");
                        }
                        _ => assert!(
                            hi[i].is_nan() && lo[i].is_nan(),
                            "holes={holes:?} n={n} i={i}: a window with no values is NaN"
                        ),
                    }
                }
            }
        }
    }

    /// The block scan against the definition, for every window length up to past the input's
    /// length, on data with ties and a leading warm-up.
    #[test]
    #[expect(
        clippy::float_cmp,
        reason = "a max or min is one of its inputs, exactly"
    )]
    fn rolling_extremes_match_the_definition() {
        let mut x: Vec<f64> = vec![f64::NAN; 3];
        let mut v: f64 = 50.0;
        for i in 0..97_u32 {
            v += f64::from((i * 37 + 11) % 13) - 6.0;
            x.push(v.round());
        }
        for n in 1..=102 {
            let (hi, lo) = (highest(&x, n), lowest(&x, n));
            for i in 0..x.len() {
                let window = (i + 1 >= 3 + n).then(|| &x[i + 1 - n..=i]);
                let want_hi =
                    window.map_or(f64::NAN, |w| w.iter().copied().fold(f64::MIN, f64::max));
                let want_lo =
                    window.map_or(f64::NAN, |w| w.iter().copied().fold(f64::MAX, f64::min));
                assert!(
                    hi[i] == want_hi || (hi[i].is_nan() && want_hi.is_nan()),
                    "highest n={n} i={i}: {} vs {want_hi}",
                    hi[i]
                );
                assert!(
                    lo[i] == want_lo || (lo[i].is_nan() && want_lo.is_nan()),
                    "lowest n={n} i={i}: {} vs {want_lo}",
                    lo[i]
                );
            }
        }
    }
}
