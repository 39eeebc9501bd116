//! backtesting.py 0.6.6's statistics (`_stats.compute_stats`), formula for formula, on the
//! equity curve, the closed trades and the closes (reference/backtesting-semantics.md §6).
//! Undefined values are `None` (JSON `null`), never NaN.

use crate::data::Bars;
use crate::engine::Run;
use crate::trade::Trade;

const DAY_MS: f64 = 86_400_000.0;

/// Every statistic, with DESIGN.md §6's names.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Stats {
    /// First bar's time, as in the file.
    pub start: String,
    /// Last bar's time, as in the file.
    pub end: String,
    /// Days from start to end (fractional for intraday data).
    pub duration_days: f64,
    /// Share of bars inside a closed trade, in percent.
    pub exposure_time_pct: f64,
    /// Final equity.
    pub equity_final: f64,
    /// Highest equity.
    pub equity_peak: f64,
    /// Total return, percent.
    pub return_pct: f64,
    /// Buy and hold from the end of the warm-up, percent.
    pub buy_hold_return_pct: f64,
    /// Annualized return (geometric), percent.
    pub return_ann_pct: Option<f64>,
    /// Annualized volatility (compounded), percent.
    pub volatility_ann_pct: Option<f64>,
    /// Compound annual growth rate, percent.
    pub cagr_pct: Option<f64>,
    /// Sharpe ratio (risk-free rate 0).
    pub sharpe_ratio: Option<f64>,
    /// Sortino ratio.
    pub sortino_ratio: Option<f64>,
    /// Calmar ratio.
    pub calmar_ratio: Option<f64>,
    /// Alpha, percent.
    pub alpha_pct: Option<f64>,
    /// Beta against buy and hold.
    pub beta: Option<f64>,
    /// Deepest drawdown, percent (negative).
    pub max_drawdown_pct: f64,
    /// Mean of each drawdown's depth, percent (negative).
    pub avg_drawdown_pct: Option<f64>,
    /// Longest drawdown, days (rounded up).
    pub max_drawdown_duration_days: Option<f64>,
    /// Mean drawdown length, days (rounded up).
    pub avg_drawdown_duration_days: Option<f64>,
    /// Closed trades.
    pub trades: usize,
    /// Share of trades with profit above 0, percent.
    pub win_rate_pct: Option<f64>,
    /// Best trade return, percent.
    pub best_trade_pct: Option<f64>,
    /// Worst trade return, percent.
    pub worst_trade_pct: Option<f64>,
    /// Geometric mean trade return, percent.
    pub avg_trade_pct: Option<f64>,
    /// Longest trade, days (rounded up).
    pub max_trade_duration_days: Option<f64>,
    /// Mean trade length, days (rounded up).
    pub avg_trade_duration_days: Option<f64>,
    /// Sum of positive trade returns over the absolute sum of negative ones.
    pub profit_factor: Option<f64>,
    /// Arithmetic mean trade return, percent.
    pub expectancy_pct: Option<f64>,
    /// System quality number.
    pub sqn: Option<f64>,
    /// Kelly criterion.
    pub kelly_criterion: Option<f64>,
    /// Commission paid on closed trades.
    pub commissions: f64,
}

/// The statistics a sweep can rank by (`--maximize`): every numeric key of the JSON document.
pub const STAT_KEYS: [&str; 30] = [
    "duration_days",
    "exposure_time_pct",
    "equity_final",
    "equity_peak",
    "return_pct",
    "buy_hold_return_pct",
    "return_ann_pct",
    "volatility_ann_pct",
    "cagr_pct",
    "sharpe_ratio",
    "sortino_ratio",
    "calmar_ratio",
    "alpha_pct",
    "beta",
    "max_drawdown_pct",
    "avg_drawdown_pct",
    "max_drawdown_duration_days",
    "avg_drawdown_duration_days",
    "trades",
    "win_rate_pct",
    "best_trade_pct",
    "worst_trade_pct",
    "avg_trade_pct",
    "max_trade_duration_days",
    "avg_trade_duration_days",
    "profit_factor",
    "expectancy_pct",
    "sqn",
    "kelly_criterion",
    "commissions",
];

impl Stats {
    /// A statistic by its JSON key: `None` for an unknown key, `Some(None)` where undefined.
    pub fn get(&self, key: &str) -> Option<Option<f64>> {
        let some = |v: f64| Some(v.is_finite().then_some(v));
        match key {
            "duration_days" => some(self.duration_days),
            "exposure_time_pct" => some(self.exposure_time_pct),
            "equity_final" => some(self.equity_final),
            "equity_peak" => some(self.equity_peak),
            "return_pct" => some(self.return_pct),
            "buy_hold_return_pct" => some(self.buy_hold_return_pct),
            "return_ann_pct" => Some(self.return_ann_pct),
            "volatility_ann_pct" => Some(self.volatility_ann_pct),
            "cagr_pct" => Some(self.cagr_pct),
            "sharpe_ratio" => Some(self.sharpe_ratio),
            "sortino_ratio" => Some(self.sortino_ratio),
            "calmar_ratio" => Some(self.calmar_ratio),
            "alpha_pct" => Some(self.alpha_pct),
            "beta" => Some(self.beta),
            "max_drawdown_pct" => some(self.max_drawdown_pct),
            "avg_drawdown_pct" => Some(self.avg_drawdown_pct),
            "max_drawdown_duration_days" => Some(self.max_drawdown_duration_days),
            "avg_drawdown_duration_days" => Some(self.avg_drawdown_duration_days),
            #[expect(clippy::cast_precision_loss, reason = "a trade count")]
            "trades" => some(self.trades as f64),
            "win_rate_pct" => Some(self.win_rate_pct),
            "best_trade_pct" => Some(self.best_trade_pct),
            "worst_trade_pct" => Some(self.worst_trade_pct),
            "avg_trade_pct" => Some(self.avg_trade_pct),
            "max_trade_duration_days" => Some(self.max_trade_duration_days),
            "avg_trade_duration_days" => Some(self.avg_trade_duration_days),
            "profit_factor" => Some(self.profit_factor),
            "expectancy_pct" => Some(self.expectancy_pct),
            "sqn" => Some(self.sqn),
            "kelly_criterion" => Some(self.kelly_criterion),
            "commissions" => some(self.commissions),
            _ => None,
        }
    }
}

fn finite(v: f64) -> Option<f64> {
    v.is_finite().then_some(v)
}

/// backtesting.py's `geometric_mean`: missing returns count as 0; 0 when any 1 + r ≤ 0.
fn geometric_mean(r: &[f64]) -> f64 {
    if r.is_empty() {
        return f64::NAN;
    }
    let r = r.iter().map(|x| if x.is_nan() { 0.0 } else { *x });
    if r.clone().any(|x| 1.0 + x <= 0.0) {
        return 0.0;
    }
    (r.clone().map(|x| (1.0 + x).ln()).sum::<f64>() / r.len() as f64).exp() - 1.0
}

/// The values that are not missing (pandas' `skipna`).
fn present(v: &[f64]) -> Vec<f64> {
    v.iter().copied().filter(|x| !x.is_nan()).collect()
}

/// `Σ f(aᵢ, bᵢ)` over pairs, in eight interleaved partial sums, as numpy's pairwise summation
/// unrolls its blocks: the adds overlap instead of each waiting on the last, and rounding error
/// grows more slowly than in one running sum.
fn sum_pairs(a: &[f64], b: &[f64], f: impl Fn(f64, f64) -> f64) -> f64 {
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let mut tail = 0.0;
    for (&x, &y) in ca.remainder().iter().zip(cb.remainder()) {
        tail += f(x, y);
    }
    let mut acc = [0.0_f64; 8];
    for (x, y) in ca.zip(cb) {
        for ((s, &x), &y) in acc.iter_mut().zip(x).zip(y) {
            *s += f(x, y);
        }
    }
    ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7])) + tail
}

fn mean(v: &[f64]) -> f64 {
    if v.is_empty() {
        f64::NAN
    } else {
        sum_pairs(v, v, |x, _| x) / v.len() as f64
    }
}

/// Sample variance (ddof = 1).
fn var(v: &[f64]) -> f64 {
    if v.len() < 2 {
        return f64::NAN;
    }
    let m = mean(v);
    sum_pairs(v, v, |x, _| (x - m) * (x - m)) / (v.len() - 1) as f64
}

fn covariance(a: &[f64], b: &[f64]) -> f64 {
    if a.len() < 2 {
        return f64::NAN;
    }
    let (ma, mb) = (mean(a), mean(b));
    sum_pairs(a, b, |x, y| (x - ma) * (y - mb)) / (a.len() - 1) as f64
}

/// `ln(x[i+1] / x[i])` for each pair of neighbours; `fallback(x0, x1)` gives it where the
/// series below does not apply.
///
/// For neighbours within about 3 % of each other it sums `2·atanh(u)`, `u = (x1 − x0)/(x1 + x0)`,
/// through the `u⁹` term (truncation below 10⁻¹⁹ relative): a divide and a few multiply-adds
/// that vectorize, in place of a call to `ln` (4 ns). `x1 − x0` is exact there, so this is
/// within 3 ulp of the true value: closer than `ln` of the rounded quotient, whose rounding
/// alone is 10⁻¹³ relative for a 0.1 % move.
fn log_ratios(x: &[f64], fallback: impl Fn(f64, f64) -> f64) -> Vec<f64> {
    const LIMIT: f64 = 1.0 / 64.0;
    const BLOCK: usize = 256;
    let m = x.len().saturating_sub(1);
    let mut out = vec![0.0; m];
    for (k, block) in out.chunks_mut(BLOCK).enumerate() {
        let (from, to) = (k * BLOCK, k * BLOCK + block.len());
        let (before, after) = (&x[from..to], &x[from + 1..=to]);
        let mut wide = false;
        for ((o, &x0), &x1) in block.iter_mut().zip(before).zip(after) {
            let u = (x1 - x0) / (x1 + x0);
            let near = u.abs() <= LIMIT;
            wide |= !near;
            let w = u * u;
            *o = 2.0 * u * (1.0 + w * (1.0 / 3.0 + w * (1.0 / 5.0 + w * (1.0 / 7.0 + w / 9.0))));
        }
        if wide {
            for ((o, &x0), &x1) in block.iter_mut().zip(before).zip(after) {
                let near = ((x1 - x0) / (x1 + x0)).abs() <= LIMIT;
                if !near {
                    *o = fallback(x0, x1);
                }
            }
        }
    }
    out
}

/// Calls `f(day, bars)` for each calendar day (days since the epoch, UTC) with the range of
/// its bars. The times increase (as loaded), so a day's end is found by a galloping search:
/// the work is per day, not per bar (one probe for daily bars, ~20 for minute bars).
fn for_each_day(ms: &[i64], mut f: impl FnMut(i64, std::ops::Range<usize>)) {
    const DAY: i64 = 86_400_000;
    let mut i = 0;
    while i < ms.len() {
        let day = ms[i].div_euclid(DAY);
        let day_end = (day + 1) * DAY;
        let rest = &ms[i + 1..];
        let mut probe = 1;
        while probe < rest.len() && rest[probe - 1] < day_end {
            probe *= 2;
        }
        let end = i + 1 + rest[..probe.min(rest.len())].partition_point(|&t| t < day_end);
        f(day, i..end);
        i = end;
    }
}

/// Annualization: 52 for weekly, 12 for monthly, 1 for yearly bars; else 365 when weekends
/// trade, 252 otherwise (from the median spacing of the last 100 bars).
fn annual_periods(ms: &[i64]) -> f64 {
    let days = data_period(ms).div_euclid(86_400_000);
    match days {
        7 => 52.0,
        31 => 12.0,
        365 => 1.0,
        _ => {
            let mut weekend = 0_usize;
            for_each_day(ms, |day, bars| {
                let dow = (day + 4).rem_euclid(7); // 0 = Sunday
                if dow == 0 || dow == 6 {
                    weekend += bars.len();
                }
            });
            if weekend as f64 / ms.len() as f64 > 2.0 / 7.0 * 0.6 {
                365.0
            } else {
                252.0
            }
        }
    }
}

/// Daily returns of equity: the last value of each calendar day, then percent changes.
fn daily_returns(ms: &[i64], equity: &[f64]) -> Vec<f64> {
    let mut last: Vec<f64> = Vec::new();
    for_each_day(ms, |_, bars| last.push(equity[bars.end - 1]));
    last.windows(2).map(|w| w[1] / w[0] - 1.0).collect()
}

/// The median spacing of the last 100 bars, in ms (backtesting.py's `_data_period`).
fn data_period(ms: &[i64]) -> i64 {
    let tail = &ms[ms.len().saturating_sub(100)..];
    let mut diffs: Vec<i64> = tail.windows(2).map(|w| w[1] - w[0]).collect();
    diffs.sort_unstable();
    match diffs.len() {
        0 => 0,
        n if n % 2 == 1 => diffs[n / 2],
        n => i64::midpoint(diffs[n / 2 - 1], diffs[n / 2]),
    }
}

/// Durations are rounded up to the data's resolution, as pandas' `Timedelta.ceil` with the
/// period's `resolution_string`: the smallest non-zero unit of the bar spacing (days for daily
/// bars, hours for hourly ones). Returns days.
fn ceil_days(ms: f64, period: i64) -> f64 {
    let unit = [86_400_000_i64, 3_600_000, 60_000, 1_000, 1]
        .into_iter()
        .find(|u| period > 0 && period % u == 0)
        .unwrap_or(1) as f64;
    (ms / unit).ceil() * unit / DAY_MS
}

/// Drawdown `1 − equity / running peak` (backtesting.py's), as the deepest value and the
/// episodes between bars at the running peak (duration in ms, depth). The last bar closes an
/// episode when it is not at a peak.
///
/// Between two bars at the peak the peak is constant, so an episode's deepest point is at its
/// lowest equity: one divide per episode gives what one per bar would, as division and
/// `1 − x` are monotonic under rounding.
fn drawdowns(e: &[f64], ms: &[i64]) -> (f64, Vec<(f64, f64)>) {
    let mut episodes = Vec::new();
    let mut deepest = 0.0_f64;
    let (mut peak, mut at, mut low) = (f64::NEG_INFINITY, 0_usize, f64::INFINITY);
    let last = e.len().saturating_sub(1);
    for (i, &v) in e.iter().enumerate() {
        let at_peak = v >= peak;
        if !at_peak {
            low = low.min(v);
        }
        if (at_peak || i == last) && i > at {
            let depth = 1.0 - low / peak;
            deepest = deepest.max(depth);
            if i > at + 1 {
                episodes.push(((ms[i] - ms[at]) as f64, depth.max(0.0)));
            }
        }
        if at_peak {
            (peak, at, low) = (v, i, f64::INFINITY);
        }
    }
    (deepest, episodes)
}

fn trade_stats(s: &mut Stats, trades: &[Trade], ms: &[i64]) {
    let period = data_period(ms);
    let n = trades.len();
    s.trades = n;
    // Summed from +0.0: Rust's empty f64 sum is -0.0, which printed as `-0.00`.
    s.commissions = trades.iter().fold(0.0, |acc, t| acc + t.commission);
    if n == 0 {
        return;
    }
    let pl: Vec<f64> = trades.iter().map(Trade::pnl).collect();
    let r: Vec<f64> = trades.iter().map(Trade::return_frac).collect();
    let wins = pl.iter().filter(|p| **p > 0.0).count() as f64 / n as f64;
    s.win_rate_pct = Some(wins * 100.0);
    s.best_trade_pct = finite(r.iter().copied().fold(f64::NEG_INFINITY, f64::max) * 100.0);
    s.worst_trade_pct = finite(r.iter().copied().fold(f64::INFINITY, f64::min) * 100.0);
    s.avg_trade_pct = finite(geometric_mean(&r) * 100.0);
    let durations: Vec<f64> = trades
        .iter()
        .map(|t| (ms[t.exit_bar.unwrap_or(t.entry_bar)] - ms[t.entry_bar]) as f64)
        .collect();
    s.max_trade_duration_days = finite(ceil_days(
        durations.iter().copied().fold(0.0, f64::max),
        period,
    ));
    s.avg_trade_duration_days = finite(ceil_days(mean(&durations), period));
    let pos: f64 = r.iter().filter(|x| **x > 0.0).sum();
    let neg: f64 = r.iter().filter(|x| **x < 0.0).sum();
    s.profit_factor = finite(pos / neg.abs());
    s.expectancy_pct = finite(mean(&r) * 100.0);
    s.sqn = finite((n as f64).sqrt() * mean(&pl) / var(&pl).sqrt());
    let win_pl: Vec<f64> = pl.iter().copied().filter(|p| *p > 0.0).collect();
    let loss_pl: Vec<f64> = pl.iter().copied().filter(|p| *p < 0.0).collect();
    s.kelly_criterion = finite(wins - (1.0 - wins) / (mean(&win_pl) / -mean(&loss_pl)));
}

/// Computes every statistic of a run.
pub fn compute(bars: &Bars, run: &Run) -> Stats {
    let e = &run.equity;
    let c = &bars.close;
    let ms = &bars.epoch_ms;
    let n = e.len();
    let mut s = Stats::default();
    if n == 0 {
        return s;
    }
    s.start = bars.time.at(0).into_owned();
    s.end = bars.time.at(n - 1).into_owned();
    let span = (ms[n - 1] - ms[0]) as f64;
    s.duration_days = span / DAY_MS;

    // Bars inside any closed trade (entry to exit, both included), as backtesting.py marks
    // them: the union of the trades' spans (they overlap at a reversal's shared bar, and
    // throughout with pyramiding).
    let mut spans: Vec<(usize, usize)> = run
        .trades
        .iter()
        .map(|t| (t.entry_bar, t.exit_bar.unwrap_or(t.entry_bar)))
        .collect();
    spans.sort_unstable();
    let mut covered = 0_usize;
    let mut next_free = 0_usize;
    for (entry, exit) in spans {
        let from = entry.max(next_free);
        if exit >= from {
            covered += exit - from + 1;
            next_free = exit + 1;
        }
    }
    s.exposure_time_pct = covered as f64 / n as f64 * 100.0;
    s.equity_final = e[n - 1];
    s.equity_peak = e.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    s.return_pct = (e[n - 1] - e[0]) / e[0] * 100.0;
    let w = run.warmup.min(n - 1);
    s.buy_hold_return_pct = (c[n - 1] - c[w]) / c[w] * 100.0;

    let r = daily_returns(ms, e);
    let a = annual_periods(ms);
    let g = geometric_mean(&r);
    let ann = (1.0 + g).powf(a) - 1.0;
    s.return_ann_pct = finite(ann * 100.0);
    // pandas skips missing returns (0 / 0 after running out of money) in var and mean.
    let vol =
        ((var(&present(&r)) + (1.0 + g).powi(2)).powf(a) - (1.0 + g).powf(2.0 * a)).sqrt() * 100.0;
    s.volatility_ann_pct = finite(vol);
    let years = span / DAY_MS / 365.25;
    s.cagr_pct = finite(((e[n - 1] / e[0]).powf(1.0 / years) - 1.0) * 100.0);
    s.sharpe_ratio = finite((ann * 100.0) / vol);
    let downside = mean(
        &present(&r)
            .iter()
            .map(|x| x.min(0.0).powi(2))
            .collect::<Vec<_>>(),
    )
    .sqrt()
        * a.sqrt();
    s.sortino_ratio = finite(ann / downside);

    let (max_dd, episodes) = drawdowns(e, ms);
    s.max_drawdown_pct = -max_dd * 100.0;
    if !episodes.is_empty() {
        let peaks: Vec<f64> = episodes.iter().map(|x| x.1).collect();
        let lens: Vec<f64> = episodes.iter().map(|x| x.0).collect();
        s.avg_drawdown_pct = finite(-mean(&peaks) * 100.0);
        let period = data_period(ms);
        s.max_drawdown_duration_days =
            finite(ceil_days(lens.iter().copied().fold(0.0, f64::max), period));
        s.avg_drawdown_duration_days = finite(ceil_days(mean(&lens), period));
    }
    s.calmar_ratio = finite(ann / max_dd);

    // Unchanged equity (no position, or after running out of money) moves by exactly 0.
    #[expect(clippy::float_cmp, reason = "exactly equal neighbours give exactly 0")]
    let el = log_ratios(e, |x0, x1| if x1 == x0 { 0.0 } else { (x1 / x0).ln() });
    let (cl, cl_var) = bars.market.0.get_or_init(|| {
        let cl = log_ratios(c, |x0, x1| (x1 / x0).ln());
        let v = var(&cl);
        (cl, v)
    });
    let beta = covariance(&el, cl) / cl_var;
    s.beta = finite(beta);
    s.alpha_pct = finite(s.return_pct - beta * s.buy_hold_return_pct);
    trade_stats(&mut s, &run.trades, ms);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The series against `ln_1p` of the exact-as-possible relative move, across the switch to
    /// the fallback (±1.6 % in `u`), block edges, equal neighbours, and values `ln` cannot take.
    #[test]
    #[expect(clippy::float_cmp, reason = "0 and −∞ are exact results")]
    fn log_ratios_match_the_logarithm() {
        let mut x = vec![100.0_f64];
        let mut v = 100.0_f64;
        for i in 0..2_000_u32 {
            // Moves from 10⁻⁶ to 5 %, both ways, some of them repeated (a flat stretch).
            let step = f64::from(i % 97) * 5e-4 + 1e-6;
            let sign = if i % 3 == 0 { -1.0 } else { 1.0 };
            if i % 11 != 0 {
                v *= 1.0 + sign * step;
            }
            x.push(v);
        }
        let got = log_ratios(&x, |a, b| (b / a).ln());
        assert_eq!(got.len(), x.len() - 1);
        for (i, (g, w)) in got.iter().zip(x.windows(2)).enumerate() {
            let want = ((w[1] - w[0]) / w[0]).ln_1p();
            // The fallback, `ln` of the rounded quotient, is only within an ulp of 1 absolute.
            let series = ((w[1] - w[0]) / (w[1] + w[0])).abs() <= 1.0 / 64.0;
            let slack = if series { 0.0 } else { 2.0 * f64::EPSILON };
            assert!(
                (g - want).abs() <= 4.0 * f64::EPSILON * want.abs() + slack,
                "pair {i}: {g} vs {want}"
            );
        }
        // Outside the series' range the fallback decides: zero, a sign change, NaN.
        let odd = [1.0, 0.0, 0.0, -1.0, 2.0, f64::NAN, 3.0, 3.0];
        let got = log_ratios(&odd, |a, b| if a == b { 0.0 } else { (b / a).ln() });
        assert_eq!(got[0], f64::NEG_INFINITY);
        assert_eq!(got[1], 0.0);
        assert!(got[2].is_nan() && got[3].is_nan() && got[4].is_nan() && got[5].is_nan());
        assert_eq!(got[6], 0.0);
    }

    /// Episodes and the deepest drawdown against the bar-by-bar definition: every bar's
    /// `1 − v/peak`, episodes between bars where it is 0 (and the last bar).
    #[test]
    fn drawdowns_match_the_bar_by_bar_definition() {
        fn by_bar(e: &[f64], ms: &[i64]) -> (f64, Vec<(f64, f64)>) {
            let mut peak = f64::NEG_INFINITY;
            let dd: Vec<f64> = e
                .iter()
                .map(|v| {
                    peak = peak.max(*v);
                    1.0 - v / peak
                })
                .collect();
            let mut marks: Vec<usize> = (0..dd.len()).filter(|&i| dd[i] == 0.0).collect();
            if marks.last() != Some(&(dd.len() - 1)) {
                marks.push(dd.len() - 1);
            }
            let episodes = marks
                .windows(2)
                .filter(|w| w[1] > w[0] + 1)
                .map(|w| {
                    let depth = dd[w[0]..=w[1]]
                        .iter()
                        .copied()
                        .fold(f64::NEG_INFINITY, f64::max);
                    ((ms[w[1]] - ms[w[0]]) as f64, depth)
                })
                .collect();
            (dd.iter().copied().fold(0.0, f64::max), episodes)
        }
        let series: [&[f64]; 5] = [
            &[
                100.0, 101.0, 99.0, 98.5, 101.0, 101.0, 100.9, 102.0, 97.0, 99.0,
            ],
            &[100.0, 99.0, 100.0, 98.0],
            &[100.0, 100.0, 100.0],
            &[100.0, 90.0],
            &[100.0, 120.0, 0.0, 0.0, 0.0],
        ];
        for e in series {
            let ms: Vec<i64> = (0_i64..)
                .take(e.len())
                .map(|i| i * 60_000 + i * i)
                .collect();
            assert_eq!(drawdowns(e, &ms), by_bar(e, &ms), "{e:?}");
        }
    }

    /// Day runs against grouping bar by bar, for minute, hourly-with-gaps, daily and pre-1970
    /// times (the galloping search must find every day's last bar).
    #[test]
    fn days_are_found_as_bar_by_bar_grouping_finds_them() {
        const DAY: i64 = 86_400_000;
        let minute: Vec<i64> = (0..5_000).map(|i| 1_600_000_000_000 + i * 60_000).collect();
        let gappy: Vec<i64> = (0..900)
            .map(|i| -3 * DAY + i * 3_600_000 + (i / 10) * 7 * 3_600_000)
            .collect();
        let daily: Vec<i64> = (0..300).map(|i| i * DAY + 13 * 3_600_000).collect();
        for ms in [&minute, &gappy, &daily, &vec![5], &Vec::new()] {
            let mut want: Vec<(i64, std::ops::Range<usize>)> = Vec::new();
            for (i, t) in ms.iter().enumerate() {
                let d = t.div_euclid(DAY);
                match want.last_mut() {
                    Some((day, r)) if *day == d => r.end = i + 1,
                    _ => want.push((d, i..i + 1)),
                }
            }
            let mut got = Vec::new();
            for_each_day(ms, |d, r| got.push((d, r)));
            assert_eq!(got, want);
        }
    }

    /// Interleaved partial sums give the plain sum's value (to rounding) for every tail length.
    #[test]
    fn interleaved_sums_match_a_running_sum() {
        for n in 0..40_u32 {
            let v: Vec<f64> = (0..n).map(|i| f64::from(i) * 0.37 - 3.0).collect();
            let plain: f64 = v.iter().sum();
            let got = sum_pairs(&v, &v, |x, _| x);
            assert!((got - plain).abs() <= 1e-12, "n={n}: {got} vs {plain}");
            let dot: f64 = v.iter().map(|x| x * x).sum();
            assert!((sum_pairs(&v, &v, |x, y| x * y) - dot).abs() <= 1e-9 * dot.max(1.0));
        }
    }
}
