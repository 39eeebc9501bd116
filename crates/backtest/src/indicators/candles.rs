//! Candlestick patterns as TA-Lib's `CDL` functions compute them with TA-Lib's default candle
//! settings: +100 for a bullish signal, -100 for a bearish one (±80 where TA-Lib grades a weaker
//! form, as engulfing and harami do), 0 otherwise — also over TA-Lib's lookback, as its Python
//! wrapper returns, so a pattern adds no warm-up. Each "long", "short", "near" or "far" compares
//! with the average candle range of the bars before, kept as TA-Lib's running totals.

/// What a candle setting measures.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Range {
    Body,
    HighLow,
    Shadows,
}

/// TA-Lib's default candle settings: (range, average period, factor).
const BODY_LONG: (Range, usize, f64) = (Range::Body, 10, 1.0);
const BODY_SHORT: (Range, usize, f64) = (Range::Body, 10, 1.0);
const BODY_DOJI: (Range, usize, f64) = (Range::HighLow, 10, 0.1);
const SHADOW_LONG: (Range, usize, f64) = (Range::Body, 0, 1.0);
const SHADOW_VERY_SHORT: (Range, usize, f64) = (Range::HighLow, 10, 0.1);
const NEAR: (Range, usize, f64) = (Range::HighLow, 5, 0.2);
const FAR: (Range, usize, f64) = (Range::HighLow, 5, 0.6);

struct Bars<'a> {
    o: &'a [f64],
    h: &'a [f64],
    l: &'a [f64],
    c: &'a [f64],
}

impl Bars<'_> {
    fn body(&self, i: usize) -> f64 {
        (self.c[i] - self.o[i]).abs()
    }
    fn upper(&self, i: usize) -> f64 {
        self.h[i]
            - if self.c[i] >= self.o[i] {
                self.c[i]
            } else {
                self.o[i]
            }
    }
    fn lower(&self, i: usize) -> f64 {
        (if self.c[i] >= self.o[i] {
            self.o[i]
        } else {
            self.c[i]
        }) - self.l[i]
    }
    fn color(&self, i: usize) -> f64 {
        if self.c[i] >= self.o[i] { 1.0 } else { -1.0 }
    }
    fn range(&self, kind: Range, i: usize) -> f64 {
        match kind {
            Range::Body => self.body(i),
            Range::HighLow => self.h[i] - self.l[i],
            Range::Shadows => self.upper(i) + self.lower(i),
        }
    }
    fn top(&self, i: usize) -> f64 {
        self.c[i].max(self.o[i])
    }
    fn bottom(&self, i: usize) -> f64 {
        self.c[i].min(self.o[i])
    }
}

/// Each bar's candle ranges, computed once per pattern run for the kinds it uses.
struct Ranges {
    body: Vec<f64>,
    high_low: Vec<f64>,
    shadows: Vec<f64>,
}

impl Ranges {
    fn new(b: &Bars<'_>, settings: &[((Range, usize, f64), usize)]) -> Ranges {
        let uses = |k: Range| settings.iter().any(|((kind, _, _), _)| *kind == k);
        let all = |k: Range| -> Vec<f64> {
            if uses(k) {
                (0..b.c.len()).map(|i| b.range(k, i)).collect()
            } else {
                Vec::new()
            }
        };
        Ranges {
            body: all(Range::Body),
            high_low: all(Range::HighLow),
            shadows: all(Range::Shadows),
        }
    }

    fn of(&self, kind: Range) -> &[f64] {
        match kind {
            Range::Body => &self.body,
            Range::HighLow => &self.high_low,
            Range::Shadows => &self.shadows,
        }
    }
}

/// A setting's running total over the `period` bars before bar `i - offset`.
struct Avg<'r> {
    values: &'r [f64],
    period: f64,
    factor: f64,
    halve: bool,
    offset: usize,
    total: f64,
    trailing: usize,
}

impl<'r> Avg<'r> {
    fn new(
        ranges: &'r Ranges,
        (kind, period, factor): (Range, usize, f64),
        offset: usize,
        start: usize,
    ) -> Avg<'r> {
        let values = ranges.of(kind);
        let trailing = start - offset - period;
        let mut total = 0.0;
        for v in &values[trailing..start - offset] {
            total += v;
        }
        Avg {
            values,
            period: period as f64,
            factor,
            halve: kind == Range::Shadows,
            offset,
            total,
            trailing,
        }
    }

    /// The threshold for bar `i - offset`, as `TA_CANDLEAVERAGE`.
    #[inline]
    fn at(&self, _: &Bars<'_>, i: usize) -> f64 {
        let base = if self.period == 0.0 {
            self.values[i - self.offset]
        } else {
            self.total / self.period
        };
        self.factor * base / if self.halve { 2.0 } else { 1.0 }
    }

    #[inline]
    fn advance(&mut self, i: usize) {
        self.total += self.values[i - self.offset] - self.values[self.trailing];
        self.trailing += 1;
    }
}

/// Runs `test` on every bar from `lookback`, with the averages it asks for (a fixed number, so
/// they live in an array the loop can see through).
fn run<const N: usize>(
    (o, h, l, c): (&[f64], &[f64], &[f64], &[f64]),
    lookback: usize,
    settings: &[((Range, usize, f64), usize); N],
    test: impl Fn(&Bars<'_>, &[Avg<'_>; N], usize) -> f64,
) -> Vec<f64> {
    let len = c.len();
    let mut out = vec![0.0; len];
    if lookback >= len {
        return out;
    }
    let b = Bars { o, h, l, c };
    let ranges = Ranges::new(&b, settings);
    let mut avgs: [Avg<'_>; N] = settings.map(|(s, offset)| Avg::new(&ranges, s, offset, lookback));
    for (i, o) in out.iter_mut().enumerate().skip(lookback) {
        *o = test(&b, &avgs, i);
        for a in &mut avgs {
            a.advance(i);
        }
    }
    out
}

type Ohlc<'a> = (&'a [f64], &'a [f64], &'a [f64], &'a [f64]);

/// TA-Lib `CDLENGULFING`.
pub fn engulfing(bars: Ohlc<'_>) -> Vec<f64> {
    let (o, _, _, c) = bars;
    run(bars, 2, &[], |b, _: &[Avg<'_>; 0], i| {
        let (col, prev) = (b.color(i), b.color(i - 1));
        let white = col > 0.0
            && prev < 0.0
            && ((c[i] >= o[i - 1] && o[i] < c[i - 1]) || (c[i] > o[i - 1] && o[i] <= c[i - 1]));
        let black = col < 0.0
            && prev > 0.0
            && ((o[i] >= c[i - 1] && c[i] < o[i - 1]) || (o[i] > c[i - 1] && c[i] <= o[i - 1]));
        #[expect(clippy::float_cmp, reason = "TA-Lib tests the matching ends exactly")]
        let strict = o[i] != c[i - 1] && c[i] != o[i - 1];
        if white || black {
            col * if strict { 100.0 } else { 80.0 }
        } else {
            0.0
        }
    })
}

/// TA-Lib `CDLDOJI`: a body at most a tenth of the average high-low range of the 10 bars
/// before. One tight loop (the shared machinery costs twice TA-Lib's time on this one).
pub fn doji((o, h, l, c): Ohlc<'_>) -> Vec<f64> {
    let (kind, period, factor) = BODY_DOJI;
    debug_assert!(kind == Range::HighLow);
    let len = c.len();
    let mut out = vec![0.0; len];
    if period >= len {
        return out;
    }
    let mut total = 0.0;
    for j in 0..period {
        total += h[j] - l[j];
    }
    let pf = period as f64;
    for i in period..len {
        // TA_CANDLEAVERAGE's operations: factor · (total / period) / 1.
        let threshold = factor * (total / pf) / 1.0;
        // Branch-free: a doji is a coin flip to the branch predictor.
        out[i] = 100.0 * f64::from(u8::from((c[i] - o[i]).abs() <= threshold));
        total += (h[i] - l[i]) - (h[i - period] - l[i - period]);
    }
    out
}

/// TA-Lib `CDLHAMMER`.
pub fn hammer(bars: Ohlc<'_>) -> Vec<f64> {
    let settings = [
        (BODY_SHORT, 0),
        (SHADOW_LONG, 0),
        (SHADOW_VERY_SHORT, 0),
        (NEAR, 1),
    ];
    run(bars, 11, &settings, |b, a, i| {
        let ok = b.body(i) < a[0].at(b, i)
            && b.lower(i) > a[1].at(b, i)
            && b.upper(i) < a[2].at(b, i)
            && b.bottom(i) <= b.l[i - 1] + a[3].at(b, i);
        if ok { 100.0 } else { 0.0 }
    })
}

/// TA-Lib `CDLSHOOTINGSTAR`.
pub fn shooting_star(bars: Ohlc<'_>) -> Vec<f64> {
    let settings = [(BODY_SHORT, 0), (SHADOW_LONG, 0), (SHADOW_VERY_SHORT, 0)];
    run(bars, 11, &settings, |b, a, i| {
        let ok = b.bottom(i) > b.top(i - 1)
            && b.body(i) < a[0].at(b, i)
            && b.upper(i) > a[1].at(b, i)
            && b.lower(i) < a[2].at(b, i);
        if ok { -100.0 } else { 0.0 }
    })
}

/// TA-Lib `CDLHARAMI`.
pub fn harami(bars: Ohlc<'_>) -> Vec<f64> {
    run(bars, 11, &[(BODY_LONG, 1), (BODY_SHORT, 0)], |b, a, i| {
        if b.body(i - 1) > a[0].at(b, i) && b.body(i) <= a[1].at(b, i) {
            let (hi, lo, phi, plo) = (b.top(i), b.bottom(i), b.top(i - 1), b.bottom(i - 1));
            if hi < phi && lo > plo {
                return -b.color(i - 1) * 100.0;
            }
            if hi <= phi && lo >= plo {
                return -b.color(i - 1) * 80.0;
            }
        }
        0.0
    })
}

/// TA-Lib `CDLMORNINGSTAR` / `CDLEVENINGSTAR` with the default penetration 0.3, in one tight
/// loop over the bodies: a long first body (against the 10 bodies before it), a short star
/// gapping away, and a third body, not short, closing well into the first.
fn star((o, h, l, c): Ohlc<'_>, morning: bool) -> Vec<f64> {
    const PENETRATION: f64 = 0.3;
    const LOOKBACK: usize = 12;
    let _ = (h, l);
    let len = c.len();
    let mut out = vec![0.0; len];
    if LOOKBACK >= len {
        return out;
    }
    let (long_p, long_f) = (BODY_LONG.1, BODY_LONG.2);
    let (short_p, short_f) = (BODY_SHORT.1, BODY_SHORT.2);
    let body = |i: usize| (c[i] - o[i]).abs();
    let top = |i: usize| c[i].max(o[i]);
    let bottom = |i: usize| c[i].min(o[i]);
    // Running totals of the bodies before bar i-2 (long), i-1 (short) and i (short).
    let (mut first_total, mut star_total, mut third_total) = (0.0, 0.0, 0.0);
    for j in LOOKBACK - 2 - long_p..LOOKBACK - 2 {
        first_total += body(j);
    }
    for j in LOOKBACK - 1 - short_p..LOOKBACK - 1 {
        star_total += body(j);
        third_total += body(j + 1);
    }
    let (lp, sp) = (long_p as f64, short_p as f64);
    let (first, third) = if morning {
        (false, true)
    } else {
        (true, false)
    };
    for i in LOOKBACK..len {
        let white = |k: usize| c[k] >= o[k];
        if white(i - 2) == first && white(i) == third {
            let (gap, within) = if morning {
                (
                    top(i - 1) < bottom(i - 2),
                    c[i] > c[i - 2] + body(i - 2) * PENETRATION,
                )
            } else {
                (
                    bottom(i - 1) > top(i - 2),
                    c[i] < c[i - 2] - body(i - 2) * PENETRATION,
                )
            };
            if gap
                && within
                && body(i - 2) > long_f * (first_total / lp) / 1.0
                && body(i - 1) <= short_f * (star_total / sp) / 1.0
                && body(i) > short_f * (third_total / sp) / 1.0
            {
                out[i] = if morning { 100.0 } else { -100.0 };
            }
        }
        first_total += body(i - 2) - body(i - 2 - long_p);
        star_total += body(i - 1) - body(i - 1 - short_p);
        third_total += body(i) - body(i - short_p);
    }
    out
}

/// TA-Lib `CDLMORNINGSTAR`.
pub fn morning_star(bars: Ohlc<'_>) -> Vec<f64> {
    star(bars, true)
}

/// TA-Lib `CDLEVENINGSTAR`.
pub fn evening_star(bars: Ohlc<'_>) -> Vec<f64> {
    star(bars, false)
}

/// TA-Lib `CDL3WHITESOLDIERS`.
pub fn three_white_soldiers(bars: Ohlc<'_>) -> Vec<f64> {
    let settings = [
        (SHADOW_VERY_SHORT, 2),
        (SHADOW_VERY_SHORT, 1),
        (SHADOW_VERY_SHORT, 0),
        (NEAR, 2),
        (NEAR, 1),
        (FAR, 2),
        (FAR, 1),
        (BODY_SHORT, 0),
    ];
    run(bars, 12, &settings, |b, a, i| {
        let (o, c) = (b.o, b.c);
        let white = (0..3).all(|k| b.color(i - k) > 0.0 && b.upper(i - k) < a[2 - k].at(b, i));
        let ok = white
            && c[i] > c[i - 1]
            && c[i - 1] > c[i - 2]
            && o[i - 1] > o[i - 2]
            && o[i - 1] <= c[i - 2] + a[3].at(b, i)
            && o[i] > o[i - 1]
            && o[i] <= c[i - 1] + a[4].at(b, i)
            && b.body(i - 1) > b.body(i - 2) - a[5].at(b, i)
            && b.body(i) > b.body(i - 1) - a[6].at(b, i)
            && b.body(i) > a[7].at(b, i);
        if ok { 100.0 } else { 0.0 }
    })
}

/// TA-Lib `CDL3BLACKCROWS`.
pub fn three_black_crows(bars: Ohlc<'_>) -> Vec<f64> {
    let settings = [
        (SHADOW_VERY_SHORT, 2),
        (SHADOW_VERY_SHORT, 1),
        (SHADOW_VERY_SHORT, 0),
    ];
    run(bars, 13, &settings, |b, a, i| {
        let (o, h, c) = (b.o, b.h, b.c);
        let ok = b.color(i - 3) > 0.0
            && (0..3).all(|k| b.color(i - k) < 0.0)
            && o[i - 1] < o[i - 2]
            && o[i - 1] > c[i - 2]
            && o[i] < o[i - 1]
            && o[i] > c[i - 1]
            && h[i - 3] > c[i - 2]
            && c[i - 2] > c[i - 1]
            && c[i - 1] > c[i]
            && (0..3).all(|k| b.lower(i - k) < a[2 - k].at(b, i));
        if ok { -100.0 } else { 0.0 }
    })
}
