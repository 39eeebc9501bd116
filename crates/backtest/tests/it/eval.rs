//! Expression evaluation over bars.

use backtest::indicators as ind;
use backtest::{Bars, Evaluator, Series, cell, parse_csv};
use strategy::{Strategy, parse};

fn bars() -> Bars {
    use std::fmt::Write;
    let rows = [
        ("2024-01-01", 10.0, 11.0, 9.0, 10.0),
        ("2024-01-02", 10.0, 12.0, 9.5, 11.0),
        ("2024-01-03", 11.0, 12.5, 10.5, 12.0),
        ("2024-01-04", 12.0, 12.2, 10.0, 10.5),
        ("2024-01-05", 10.5, 11.0, 9.0, 9.5),
        ("2024-01-06", 9.5, 12.0, 9.4, 11.5),
    ];
    let mut text = String::from("Date,Open,High,Low,Close\n");
    for (d, o, h, l, c) in rows {
        let _ = writeln!(text, "{d},{o},{h},{l},{c}");
    }
    parse_csv("t.csv", &text).unwrap()
}

fn eval(b: &Bars, text: &str) -> Series {
    Evaluator::new(b).eval(&parse(text).unwrap()).unwrap()
}

#[test]
fn calls_equal_the_indicator_functions() {
    let b = bars();
    assert_eq!(
        eval(&b, "sma(close, 3)"),
        Series::num(ind::sma(&b.close, 3))
    );
    let Series::Num(v) = eval(&b, "rsi(sma(close, 2), 2)") else {
        panic!()
    };
    let want = ind::rsi(&ind::sma(&b.close, 2), 2);
    assert_eq!(
        v.iter().filter(|x| x.is_nan()).count(),
        want.iter().filter(|x| x.is_nan()).count()
    );
}

#[test]
fn comparisons_with_missing_values_are_false_and_lookback_shifts() {
    let b = bars();
    assert_eq!(
        eval(&b, "close[1] < close"),
        Series::bools(vec![false, true, true, false, false, true])
    );
    assert_eq!(
        eval(&b, "sma(close, 3) > 0"),
        Series::bools(vec![false, false, true, true, true, true])
    );
    assert_eq!(
        eval(&b, "not sma(close, 3) > 0"),
        Series::bools(vec![true, true, false, false, false, false])
    );
    let Series::Num(v) = eval(&b, "close[2] - close") else {
        panic!()
    };
    assert!(v[0].is_nan() && v[1].is_nan());
    assert!((v[2] - -2.0).abs() < 1e-12);
}

#[test]
fn crosses_are_strict() {
    let b = bars();
    // close vs 10.5: 10, 11, 12, 10.5 (equal: no cross), 9.5, 11.5
    assert_eq!(
        eval(&b, "crosses_above(close, 10.5)"),
        Series::bools(vec![false, true, false, false, false, true])
    );
    assert_eq!(
        eval(&b, "crosses_below(close, 10.5)"),
        Series::bools(vec![false, false, false, false, false, false])
    );
    assert_eq!(
        eval(&b, "crosses_below(close, 11)"),
        Series::bools(vec![false, false, false, true, false, false])
    );
}

#[test]
fn a_strategy_evaluates_with_its_params_and_indicators() {
    let s = Strategy::from_toml(
        "s.toml",
        "name = \"s\"\n[params]\nn = 2\n[indicators]\nfast = \"sma(close, n)\"\nup = \"close > fast\"\n[rules]\nentry_long = \"up and not up[1]\"\n",
    )
    .unwrap();
    let b = bars();
    let mut ev = Evaluator::for_strategy(&b, &s);
    let entry = ev.eval(s.rules.entry_long.as_ref().unwrap()).unwrap();
    // fast = [_, 10.5, 11.5, 11.25, 10, 10.5]; up = [f, t, t, f, f, t]
    assert_eq!(
        entry,
        Series::bools(vec![false, true, false, false, false, true])
    );
}

#[test]
fn cells_are_shortest_round_trip_numbers_or_empty() {
    let b = bars();
    let s = eval(&b, "close / 3");
    let text = cell(&s, 0);
    assert_eq!(text, "3.3333333333333335");
    assert_eq!(
        text.parse::<f64>().unwrap().to_bits(),
        (10.0_f64 / 3.0).to_bits(),
        "round trip"
    );
    assert_eq!(cell(&eval(&b, "close[1]"), 0), "");
    assert_eq!(cell(&eval(&b, "close > 10"), 1), "true");
}

/// Issue 21: `tf(RULE, x)` on hourly data (EURUSD, with its weekend gaps) shows each bar the
/// latest *finished* higher-timeframe bar, with periods found here independently from calendar
/// fields: for `h`, `4h` and `D` (bins closed on the left) the bar after a period's last bar is
/// the first to see it; for `W`, `W-FRI` and `ME` (whole days, closed on the right, labelled by
/// their last day) a bar sees a period once that period's bars are all done and the label day has
/// come — never an earlier bar of the period's last day, as pandas would allow.
#[test]
fn no_bar_sees_an_unfinished_period() {
    use chrono::{Datelike as _, Days, NaiveDate, NaiveDateTime, Timelike as _};
    // (rule, the period of a time, the day from which a finished period shows (closed right)).
    type Period<'a> = Box<dyn Fn(&NaiveDateTime) -> (i64, i64) + 'a>;
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/data/EURUSD.csv");
    let b = backtest::load_csv(std::path::Path::new(path)).unwrap();
    let times: Vec<NaiveDateTime> = b
        .time
        .iter()
        .map(|t| NaiveDateTime::parse_from_str(&t, "%Y-%m-%d %H:%M:%S").unwrap())
        .collect();
    let day = |d: NaiveDate| i64::from(d.num_days_from_ce());
    let week_to = |t: &NaiveDateTime, last: u32| {
        let d = t.date();
        let ahead = (7 + last - d.weekday().num_days_from_monday()) % 7;
        day(d + Days::new(u64::from(ahead)))
    };
    let month_end = |t: &NaiveDateTime| {
        let (y, m) = (t.year(), t.month());
        let next = if m == 12 {
            NaiveDate::from_ymd_opt(y + 1, 1, 1)
        } else {
            NaiveDate::from_ymd_opt(y, m + 1, 1)
        };
        day(next.unwrap()) - 1
    };
    let rules: Vec<(&str, bool, Period<'_>)> = vec![
        ("h", true, Box::new(|t| (day(t.date()), t.hour().into()))),
        (
            "4h",
            true,
            Box::new(|t| (day(t.date()), (t.hour() / 4).into())),
        ),
        ("D", true, Box::new(|t| (day(t.date()), 0))),
        ("W", false, Box::new(move |t| (week_to(t, 6), 0))),
        ("W-FRI", false, Box::new(move |t| (week_to(t, 4), 0))),
        ("ME", false, Box::new(move |t| (month_end(t), 0))),
    ];
    for (rule, closed_left, period) in rules {
        let Series::Num(v) = eval(&b, &format!("tf('{rule}', close)")) else {
            panic!()
        };
        // The last bar of each period.
        let last: Vec<usize> = (0..b.len())
            .filter(|&i| i + 1 == b.len() || period(&times[i]) != period(&times[i + 1]))
            .collect();
        let mut checked = 0;
        for i in 0..b.len() {
            let today = day(times[i].date());
            let seen = last.iter().rev().find(|&&m| {
                if closed_left {
                    m < i
                } else {
                    m <= i && period(&times[m]).0 <= today
                }
            });
            match seen {
                Some(&m) => {
                    assert_eq!(
                        v[i].to_bits(),
                        b.close[m].to_bits(),
                        "tf('{rule}') at bar {i}"
                    );
                    checked += 1;
                }
                None => assert!(v[i].is_nan(), "tf('{rule}') at bar {i}: {}", v[i]),
            }
        }
        assert!(checked > 4000, "{rule}: {checked}");
    }
}

/// Issue 17: `count`, `bars_since`, `valuewhen` and `sum` against their bar-by-bar definitions,
/// with missing values in the inputs (a warm-up, a lookback) and conditions that start false.
#[test]
fn counting_functions_follow_their_bar_by_bar_definitions() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/data/GOOG.csv");
    let b = backtest::load_csv(std::path::Path::new(path)).unwrap();
    let cond = |text: &str| match eval(&b, text) {
        Series::Bool(v) => v,
        Series::Num(_) => panic!("{text} is a number"),
    };
    let num = |text: &str| match eval(&b, text) {
        Series::Num(v) => v,
        Series::Bool(_) => panic!("{text} is a condition"),
    };
    let c = cond("crosses_above(close, sma(close, 20))");
    let x = num("rsi(close, 14)[3]");
    let same = |a: f64, e: f64| a.to_bits() == e.to_bits() || (a.is_nan() && e.is_nan());
    for n in [1usize, 7, 30] {
        let got = num(&format!("count(crosses_above(close, sma(close, 20)), {n})"));
        for i in 0..b.len() {
            let want = if i + 1 < n {
                f64::NAN
            } else {
                (i + 1 - n..=i).filter(|&j| c[j]).count() as f64
            };
            assert!(
                same(got[i], want),
                "count n={n} bar {i}: {} vs {want}",
                got[i]
            );
        }
        let got = num(&format!("sum(rsi(close, 14)[3], {})", n.max(2)));
        let n = n.max(2);
        let first = x.iter().position(|v| !v.is_nan()).unwrap();
        for i in 0..b.len() {
            let want = if i + 1 < first + n {
                f64::NAN
            } else {
                (i + 1 - n..=i).map(|j| x[j]).sum::<f64>()
            };
            assert!(
                (got[i] - want).abs() <= 1e-9 * want.abs() || same(got[i], want),
                "sum n={n} bar {i}: {} vs {want}",
                got[i]
            );
        }
    }
    let since = num("bars_since(crosses_above(close, sma(close, 20)))");
    let when = num("valuewhen(crosses_above(close, sma(close, 20)), rsi(close, 14)[3])");
    for i in 0..b.len() {
        let last = (0..=i).rev().find(|&j| c[j]);
        let want = last.map_or(f64::NAN, |j| (i - j) as f64);
        assert!(same(since[i], want), "bars_since bar {i}");
        let want = last.map_or(f64::NAN, |j| x[j]);
        assert!(same(when[i], want), "valuewhen bar {i}");
    }
    assert!(since.iter().any(|v| v.is_nan()) && since.contains(&0.0));
    // `valuewhen` of a missing value is missing (the lookback's warm-up).
    let early = num("valuewhen(close > 0, close[5])");
    assert!(early[..5].iter().all(|v| v.is_nan()) && !early[5].is_nan());
    let pick = num("if(close > open, high, low)");
    for i in 0..b.len() {
        let want = if b.close[i] > b.open[i] {
            b.high[i]
        } else {
            b.low[i]
        };
        assert!(same(pick[i], want));
    }
    let lo = num("min(close, sma(close, 3))");
    assert!(
        lo[0].is_nan() && lo[1].is_nan() && !lo[2].is_nan(),
        "min of a missing value"
    );
}

/// Issue 17: the bar time fields come from each bar's time as written.
#[test]
fn time_fields_read_each_bars_time() {
    let text = "Date,Open,High,Low,Close\n2024-03-01 09:30:00,1,2,1,1.5\n2024-03-02 16:05:00,1,2,1,1.5\n2024-12-30T23:59:00+05:00,1,2,1,1.5\n";
    let b = parse_csv("t.csv", text).unwrap();
    let field = |f: &str| match eval(&b, f) {
        Series::Num(v) => v.to_vec(),
        Series::Bool(_) => panic!(),
    };
    assert_eq!(field("hour"), vec![9.0, 16.0, 23.0]);
    assert_eq!(field("minute"), vec![30.0, 5.0, 59.0]);
    // 2024-03-01 was a Friday, 2024-03-02 a Saturday, 2024-12-30 a Monday (Monday = 0).
    assert_eq!(field("weekday"), vec![4.0, 5.0, 0.0]);
    assert_eq!(field("month"), vec![3.0, 3.0, 12.0]);
    assert_eq!(field("day"), vec![1.0, 2.0, 30.0]);
    assert_eq!(field("year"), vec![2024.0, 2024.0, 2024.0]);
}

#[test]
fn a_timeframe_must_be_coarser_than_the_data() {
    use std::fmt::Write;
    // Daily bars: the spacing is their common gap, one day.
    let b = bars();
    assert_eq!(b.spacing_ms(), Some(86_400_000));
    let strat = |rule: &str| {
        Strategy::from_toml(
            "s.toml",
            &format!(
                "name = \"s\"\n[rules]\nentry_long = \"close > 1\"\nexit_long = \"close < tf('{rule}', close)\"\n"
            ),
        )
        .unwrap()
    };
    let e = backtest::check_timeframes(&b, &strat("D")).unwrap_err();
    assert_eq!(e.field, "rules.exit_long");
    assert!(e.to_string().contains("1 day apart"), "{e}");
    assert!(backtest::check_timeframes(&b, &strat("W")).is_ok());
    // Five-minute bars with a one-hour hole: 5 minutes; "5min" adds nothing, "15min" does.
    let mut text = String::from("Date,Open,High,Low,Close\n");
    for m in [0, 5, 10, 15, 20, 80, 85, 90] {
        let _ = writeln!(
            text,
            "2024-01-01T{:02}:{:02}:00,1,2,0.5,1.5",
            m / 60,
            m % 60
        );
    }
    let m5 = parse_csv("m5.csv", &text).unwrap();
    assert_eq!(m5.spacing_ms(), Some(300_000));
    let e = backtest::check_timeframes(&m5, &strat("5min")).unwrap_err();
    assert!(e.to_string().contains("5 minutes apart"), "{e}");
    assert!(backtest::check_timeframes(&m5, &strat("1min")).is_err());
    assert!(backtest::check_timeframes(&m5, &strat("15min")).is_ok());
    // No tf, or too few bars to tell: nothing to check.
    let plain = Strategy::from_toml(
        "p.toml",
        "name = \"p\"\n[rules]\nentry_long = \"close > 1\"\n",
    )
    .unwrap();
    assert!(backtest::check_timeframes(&m5, &plain).is_ok());
}
