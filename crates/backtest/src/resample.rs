//! Higher timeframes for `tf(RULE, expr)` (DESIGN.md §5.2), as backtesting.py's
//! `lib.resample_apply` builds them with pandas: `resample(rule, label="right")` with pandas'
//! default `closed` (left for `h`, `4h`, `D`; right, on whole days, for `W`, `W-FRI`, `ME`),
//! first / max / min / last / sum aggregation, empty bins dropped; the result is forward-filled
//! onto the data's bars by label. A bar sees a resampled bar only once every bar in it has
//! closed: that is pandas' rule wherever the label follows the bin, and for `W` and `ME` on
//! intraday data (labelled by the bin's last day, at its midnight) it keeps that day's bars
//! from seeing their own close. Times are the data's own (naive times as written; times with
//! offsets as UTC instants).

use std::sync::Arc;

use chrono::{Datelike as _, NaiveDate};
use strategy::{Strategy, Timeframe};

use crate::data::{Bars, MarketCache};

const MINUTE: i64 = 60_000;
const HOUR: i64 = 3_600_000;
const DAY: i64 = 86_400_000;

/// Bars resampled to a higher timeframe, with where each came from.
#[derive(Debug, Clone)]
pub(crate) struct Resampled {
    /// The resampled bars (time: the label, pandas' right edge).
    pub(crate) bars: Bars,
    /// Index (in the data) of each resampled bar's last member.
    last: Vec<usize>,
}

/// Days since 1970-01-01 of `days`' calendar day's month end.
fn month_end(days: i64) -> i64 {
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default();
    let Some(date) = epoch.checked_add_signed(chrono::Duration::days(days)) else {
        return days;
    };
    let (y, m) = if date.month() == 12 {
        (date.year() + 1, 1)
    } else {
        (date.year(), date.month() + 1)
    };
    NaiveDate::from_ymd_opt(y, m, 1)
        .and_then(|d| d.pred_opt())
        .map_or(days, |d| (d - epoch).num_days())
}

/// The label (right edge, ms) of the bin holding time `t`; `origin` is midnight of the first
/// bar's day.
fn label(rule: Timeframe, t: i64, origin: i64) -> i64 {
    let day = t.div_euclid(DAY);
    match rule {
        // Bins of whole minutes divide a day, so pandas' midnight origin is the epoch's.
        Timeframe::Min1 | Timeframe::Min5 | Timeframe::Min15 | Timeframe::Min30 => {
            let n = match rule {
                Timeframe::Min1 => 1,
                Timeframe::Min5 => 5,
                Timeframe::Min15 => 15,
                _ => 30,
            } * MINUTE;
            (t.div_euclid(n) + 1) * n
        }
        Timeframe::Hour => (t.div_euclid(HOUR) + 1) * HOUR,
        Timeframe::Hour4 => origin + ((t - origin).div_euclid(4 * HOUR) + 1) * 4 * HOUR,
        Timeframe::Day => (day + 1) * DAY,
        Timeframe::Week | Timeframe::WeekFri => {
            // 1970-01-01 was a Thursday; Monday = 0.
            let weekday = (day + 3).rem_euclid(7);
            let anchor = if rule == Timeframe::Week { 6 } else { 4 };
            (day + (anchor - weekday).rem_euclid(7)) * DAY
        }
        Timeframe::MonthEnd => month_end(day) * DAY,
    }
}

/// A `tf()` rule no coarser than the data's own bars (DESIGN.md §5.4).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{field}: tf(\"{rule}\", …) resamples to bars of {rule_span}, and the data's own bars are {spacing} apart, so it adds nothing: use a rule longer than {spacing}, or write the expression without tf",
    rule = rule.name(),
    rule_span = span_text(rule.min_ms()),
    spacing = span_text(*spacing_ms)
)]
pub struct TimeframeError {
    /// The first field using the rule (`indicators.daily`, `rules.entry_long`, …).
    pub field: String,
    /// The rule.
    pub rule: Timeframe,
    /// The data's bar spacing.
    pub spacing_ms: i64,
}

/// A span in words: `1 day`, `4 hours`, `5 minutes`, `90 seconds`.
pub fn span_text(ms: i64) -> String {
    let plural = |n: i64, unit: &str| format!("{n} {unit}{}", if n == 1 { "" } else { "s" });
    if ms % DAY == 0 {
        plural(ms / DAY, "day")
    } else if ms % HOUR == 0 {
        plural(ms / HOUR, "hour")
    } else if ms % MINUTE == 0 {
        plural(ms / MINUTE, "minute")
    } else if ms % 1_000 == 0 {
        plural(ms / 1_000, "second")
    } else {
        plural(ms, "millisecond")
    }
}

/// Checks that every `tf()` rule of `strategy` is coarser than the bars' own spacing.
///
/// # Errors
/// [`TimeframeError`] naming the first rule that is not and the field using it.
pub fn check_timeframes(bars: &Bars, strategy: &Strategy) -> Result<(), TimeframeError> {
    let used = strategy.timeframes_used();
    if used.is_empty() {
        return Ok(());
    }
    let Some(spacing) = bars.spacing_ms() else {
        return Ok(());
    };
    match used.into_iter().find(|(rule, _)| rule.min_ms() <= spacing) {
        Some((rule, field)) => Err(TimeframeError {
            field,
            rule,
            spacing_ms: spacing,
        }),
        None => Ok(()),
    }
}

/// Resamples `bars` to `rule`.
pub(crate) fn resample(bars: &Bars, rule: Timeframe) -> Resampled {
    let origin = bars.epoch_ms.first().map_or(0, |t| t.div_euclid(DAY) * DAY);
    let mut out = Bars {
        time: crate::Times::default(),
        epoch_ms: Arc::default(),
        open: Arc::default(),
        high: Arc::default(),
        low: Arc::default(),
        close: Arc::default(),
        volume: Arc::default(),
        market: MarketCache::default(),
    };
    // Built here, so each column has one owner and is changed in place.
    let [epoch_ms] = [&mut out.epoch_ms].map(Arc::make_mut);
    let [open, high, low, close, volume] = [
        &mut out.open,
        &mut out.high,
        &mut out.low,
        &mut out.close,
        &mut out.volume,
    ]
    .map(Arc::make_mut);
    let mut last = Vec::new();
    for (i, &t) in bars.epoch_ms.iter().enumerate() {
        let l = label(rule, t, origin);
        let v = if bars.volume[i].is_nan() {
            0.0
        } else {
            bars.volume[i]
        };
        if epoch_ms.last() == Some(&l) {
            let k = epoch_ms.len() - 1;
            // pandas' max/min skip NaN; prices are never NaN here.
            high[k] = high[k].max(bars.high[i]);
            low[k] = low[k].min(bars.low[i]);
            close[k] = bars.close[i];
            volume[k] += v;
            last[k] = i;
        } else {
            epoch_ms.push(l);
            out.time.push(
                &chrono::DateTime::from_timestamp_millis(l)
                    .map(|d| d.naive_utc().to_string())
                    .unwrap_or_default(),
            );
            open.push(bars.open[i]);
            high.push(bars.high[i]);
            low.push(bars.low[i]);
            close.push(bars.close[i]);
            volume.push(v);
            last.push(i);
        }
    }
    Resampled { bars: out, last }
}

impl Resampled {
    /// `values` (one per resampled bar) on the data's bars: each bar gets the latest resampled
    /// bar whose label is at or before it and whose members have all closed; NaN before the
    /// first.
    pub(crate) fn map_back(&self, data: &Bars, values: &[f64]) -> Vec<f64> {
        let mut out = Vec::with_capacity(data.len());
        let labels = &self.bars.epoch_ms;
        let mut k = 0; // bins with label <= t: 0..k
        for (i, &t) in data.epoch_ms.iter().enumerate() {
            while k < labels.len() && labels[k] <= t {
                k += 1;
            }
            let mut j = k;
            while j > 0 && self.last[j - 1] > i {
                j -= 1;
            }
            out.push(if j > 0 { values[j - 1] } else { f64::NAN });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(s: &str) -> i64 {
        chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M")
            .unwrap()
            .and_utc()
            .timestamp_millis()
    }

    #[test]
    fn labels_are_pandas_right_edges() {
        let o = ms("2024-01-03 00:00");
        // Wednesday 2024-01-03.
        let t = ms("2024-01-03 09:30");
        assert_eq!(label(Timeframe::Hour, t, o), ms("2024-01-03 10:00"));
        assert_eq!(label(Timeframe::Min5, t, o), ms("2024-01-03 09:35"));
        assert_eq!(label(Timeframe::Min30, t, o), ms("2024-01-03 10:00"));
        assert_eq!(label(Timeframe::Min1, t, o), ms("2024-01-03 09:31"));
        assert_eq!(label(Timeframe::Hour4, t, o), ms("2024-01-03 12:00"));
        assert_eq!(label(Timeframe::Day, t, o), ms("2024-01-04 00:00"));
        assert_eq!(label(Timeframe::WeekFri, t, o), ms("2024-01-05 00:00"));
        assert_eq!(label(Timeframe::Week, t, o), ms("2024-01-07 00:00"));
        assert_eq!(label(Timeframe::MonthEnd, t, o), ms("2024-01-31 00:00"));
        // Closed right on whole days: Friday afternoon is still that Friday's week.
        let fri = ms("2024-01-05 15:00");
        assert_eq!(label(Timeframe::WeekFri, fri, o), ms("2024-01-05 00:00"));
        assert_eq!(
            label(Timeframe::MonthEnd, ms("2024-02-29 23:00"), o),
            ms("2024-02-29 00:00")
        );
        assert_eq!(
            label(Timeframe::MonthEnd, ms("2024-12-31 10:00"), o),
            ms("2024-12-31 00:00")
        );
    }
}
