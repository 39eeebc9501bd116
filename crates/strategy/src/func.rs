//! The built-in functions: their names, arguments, outputs and TA-Lib's parameter ranges.

use std::fmt;

/// A built-in function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Func {
    /// `sma(x, n)`: simple moving average.
    Sma,
    /// `ema(x, n)`: exponential moving average, seeded with an SMA (TA-Lib).
    Ema,
    /// `wma(x, n)`: linearly weighted moving average.
    Wma,
    /// `rsi(x, n)`: Wilder's relative strength index.
    Rsi,
    /// `highest(x, n)`: rolling maximum.
    Highest,
    /// `lowest(x, n)`: rolling minimum.
    Lowest,
    /// `macd(x, fast, slow, signal).line/.signal/.hist`.
    Macd,
    /// `bbands(x, n, k).upper/.middle/.lower`: SMA ± k population standard deviations.
    Bbands,
    /// `atr(n)`: average true range of the bar's high, low and close.
    Atr,
    /// `adx(n)`: average directional index.
    Adx,
    /// `stoch(k, smooth_k, d).k/.d`: slow stochastic.
    Stoch,
    /// `crosses_above(a, b)`: `a[1] < b[1] and a > b`.
    CrossesAbove,
    /// `crosses_below(a, b)`: `a[1] > b[1] and a < b`.
    CrossesBelow,
    /// `abs(x)`.
    Abs,
    /// `min(a, b)` (missing when either is).
    Min,
    /// `max(a, b)` (missing when either is).
    Max,
    /// `if(cond, a, b)`: `a` where the condition holds, else `b`.
    If,
    /// `sum(x, n)`: TA-Lib `SUM`, the total of the last `n` values.
    Sum,
    /// `count(cond, n)`: bars of the last `n` where the condition holds.
    Count,
    /// `bars_since(cond)`: 0 on a bar where it holds, missing before the first.
    BarsSince,
    /// `valuewhen(cond, x)`: `x` on the latest bar where the condition held.
    ValueWhen,
    /// `stddev(x, n)`: TA-Lib `STDDEV` (population).
    Stddev,
    /// `roc(x, n)`: rate of change in percent.
    Roc,
    /// `mom(x, n)`: momentum, `x - x[n]`.
    Mom,
    /// `cmo(x, n)`: Chande momentum oscillator.
    Cmo,
    /// `linearreg(x, n)`: the least-squares line's value at the last bar.
    Linearreg,
    /// `cci(n)`: commodity channel index.
    Cci,
    /// `willr(n)`: Williams %R.
    Willr,
    /// `mfi(n)`: money flow index.
    Mfi,
    /// `obv()`: on-balance volume.
    Obv,
    /// `ad()`: Chaikin accumulation/distribution line.
    Ad,
    /// `adosc(fast, slow)`: Chaikin A/D oscillator.
    Adosc,
    /// `natr(n)`: ATR in percent of the close.
    Natr,
    /// `trange()`: true range.
    Trange,
    /// `plus_di(n)`: +DI.
    PlusDi,
    /// `minus_di(n)`: -DI.
    MinusDi,
    /// `sar(accel, max)`: parabolic SAR.
    Sar,
    /// `aroon(n).up/.down`.
    Aroon,
    /// `supertrend(n, mult).line/.direction`: `TradingView`'s (direction -1 in an uptrend).
    Supertrend,
    /// `vwap()`: session VWAP, restarting each calendar day.
    Vwap,
    /// `engulfing()`: TA-Lib `CDLENGULFING` (+100 / -100, ±80 when one end matches, 0).
    Engulfing,
    /// `hammer()`: TA-Lib `CDLHAMMER` (+100 / 0).
    Hammer,
    /// `shooting_star()`: TA-Lib `CDLSHOOTINGSTAR` (-100 / 0).
    ShootingStar,
    /// `doji()`: TA-Lib `CDLDOJI` (+100 / 0).
    Doji,
    /// `harami()`: TA-Lib `CDLHARAMI` (+100 / -100, ±80, 0).
    Harami,
    /// `morning_star()`: TA-Lib `CDLMORNINGSTAR` (+100 / 0, penetration 0.3).
    MorningStar,
    /// `evening_star()`: TA-Lib `CDLEVENINGSTAR` (-100 / 0, penetration 0.3).
    EveningStar,
    /// `three_white_soldiers()`: TA-Lib `CDL3WHITESOLDIERS` (+100 / 0).
    ThreeWhiteSoldiers,
    /// `three_black_crows()`: TA-Lib `CDL3BLACKCROWS` (-100 / 0).
    ThreeBlackCrows,
}

/// What an argument must be.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Arg {
    /// Any numeric series.
    Series,
    /// A whole-number constant (literal or param) in `min..=max`.
    Period {
        /// Smallest allowed.
        min: u32,
    },
    /// Any finite constant (literal or param).
    Constant,
    /// A condition series.
    Cond,
}

/// Largest period TA-Lib accepts.
pub const MAX_PERIOD: u32 = 100_000;

const SERIES_PERIOD: &[(&str, Arg)] = &[("x", Arg::Series), ("n", Arg::Period { min: 2 })];
const SERIES_PERIOD_1: &[(&str, Arg)] = &[("x", Arg::Series), ("n", Arg::Period { min: 1 })];
const PERIOD_2: &[(&str, Arg)] = &[("n", Arg::Period { min: 2 })];
const PERIOD_1: &[(&str, Arg)] = &[("n", Arg::Period { min: 1 })];

impl Func {
    /// Every function, for lookups and suggestions.
    pub const ALL: [Func; 49] = [
        Func::Sma,
        Func::Ema,
        Func::Wma,
        Func::Rsi,
        Func::Highest,
        Func::Lowest,
        Func::Macd,
        Func::Bbands,
        Func::Atr,
        Func::Adx,
        Func::Stoch,
        Func::CrossesAbove,
        Func::CrossesBelow,
        Func::Abs,
        Func::Min,
        Func::Max,
        Func::If,
        Func::Sum,
        Func::Count,
        Func::BarsSince,
        Func::ValueWhen,
        Func::Stddev,
        Func::Roc,
        Func::Mom,
        Func::Cmo,
        Func::Linearreg,
        Func::Cci,
        Func::Willr,
        Func::Mfi,
        Func::Obv,
        Func::Ad,
        Func::Adosc,
        Func::Natr,
        Func::Trange,
        Func::PlusDi,
        Func::MinusDi,
        Func::Sar,
        Func::Aroon,
        Func::Supertrend,
        Func::Vwap,
        Func::Engulfing,
        Func::Hammer,
        Func::ShootingStar,
        Func::Doji,
        Func::Harami,
        Func::MorningStar,
        Func::EveningStar,
        Func::ThreeWhiteSoldiers,
        Func::ThreeBlackCrows,
    ];

    /// The name in expressions.
    pub fn name(self) -> &'static str {
        match self {
            Func::Sma => "sma",
            Func::Ema => "ema",
            Func::Wma => "wma",
            Func::Rsi => "rsi",
            Func::Highest => "highest",
            Func::Lowest => "lowest",
            Func::Macd => "macd",
            Func::Bbands => "bbands",
            Func::Atr => "atr",
            Func::Adx => "adx",
            Func::Stoch => "stoch",
            Func::CrossesAbove => "crosses_above",
            Func::CrossesBelow => "crosses_below",
            Func::Abs => "abs",
            Func::Min => "min",
            Func::Max => "max",
            Func::If => "if",
            Func::Sum => "sum",
            Func::Count => "count",
            Func::BarsSince => "bars_since",
            Func::ValueWhen => "valuewhen",
            Func::Stddev => "stddev",
            Func::Roc => "roc",
            Func::Mom => "mom",
            Func::Cmo => "cmo",
            Func::Linearreg => "linearreg",
            Func::Cci => "cci",
            Func::Willr => "willr",
            Func::Mfi => "mfi",
            Func::Obv => "obv",
            Func::Ad => "ad",
            Func::Adosc => "adosc",
            Func::Natr => "natr",
            Func::Trange => "trange",
            Func::PlusDi => "plus_di",
            Func::MinusDi => "minus_di",
            Func::Sar => "sar",
            Func::Aroon => "aroon",
            Func::Supertrend => "supertrend",
            Func::Vwap => "vwap",
            Func::Engulfing => "engulfing",
            Func::Hammer => "hammer",
            Func::ShootingStar => "shooting_star",
            Func::Doji => "doji",
            Func::Harami => "harami",
            Func::MorningStar => "morning_star",
            Func::EveningStar => "evening_star",
            Func::ThreeWhiteSoldiers => "three_white_soldiers",
            Func::ThreeBlackCrows => "three_black_crows",
        }
    }

    /// Looks a name up.
    pub fn from_name(name: &str) -> Option<Func> {
        Func::ALL.into_iter().find(|f| f.name() == name)
    }

    /// Whether the function is valued bar by bar from its arguments on that bar (`if min max
    /// abs`), so position state may stand in its arguments (DESIGN.md §5.4).
    pub fn is_elementwise(self) -> bool {
        matches!(self, Func::If | Func::Min | Func::Max | Func::Abs)
    }

    /// Argument names and kinds, in order.
    pub fn args(self) -> &'static [(&'static str, Arg)] {
        match self {
            Func::Sma | Func::Ema | Func::Wma | Func::Rsi | Func::Highest | Func::Lowest => {
                SERIES_PERIOD
            }
            Func::Macd => &[
                ("x", Arg::Series),
                ("fast", Arg::Period { min: 2 }),
                ("slow", Arg::Period { min: 2 }),
                ("signal", Arg::Period { min: 1 }),
            ],
            Func::Bbands => &[
                ("x", Arg::Series),
                ("n", Arg::Period { min: 2 }),
                ("k", Arg::Constant),
            ],
            Func::Atr => &[("n", Arg::Period { min: 1 })],
            Func::Adx => &[("n", Arg::Period { min: 2 })],
            Func::Stoch => &[
                ("k", Arg::Period { min: 1 }),
                ("smooth_k", Arg::Period { min: 1 }),
                ("d", Arg::Period { min: 1 }),
            ],
            Func::CrossesAbove | Func::CrossesBelow | Func::Min | Func::Max => {
                &[("a", Arg::Series), ("b", Arg::Series)]
            }
            Func::Abs => &[("x", Arg::Series)],
            Func::If => &[("cond", Arg::Cond), ("a", Arg::Series), ("b", Arg::Series)],
            Func::Sum | Func::Stddev | Func::Cmo | Func::Linearreg => SERIES_PERIOD,
            Func::Roc | Func::Mom => SERIES_PERIOD_1,
            Func::Count => &[("cond", Arg::Cond), ("n", Arg::Period { min: 1 })],
            Func::BarsSince => &[("cond", Arg::Cond)],
            Func::ValueWhen => &[("cond", Arg::Cond), ("x", Arg::Series)],
            Func::Cci | Func::Willr | Func::Mfi | Func::Aroon => PERIOD_2,
            Func::Natr | Func::PlusDi | Func::MinusDi => PERIOD_1,
            Func::Obv
            | Func::Ad
            | Func::Trange
            | Func::Vwap
            | Func::Engulfing
            | Func::Hammer
            | Func::ShootingStar
            | Func::Doji
            | Func::Harami
            | Func::MorningStar
            | Func::EveningStar
            | Func::ThreeWhiteSoldiers
            | Func::ThreeBlackCrows => &[],
            Func::Supertrend => &[("n", Arg::Period { min: 1 }), ("mult", Arg::Constant)],
            Func::Adosc => &[
                ("fast", Arg::Period { min: 2 }),
                ("slow", Arg::Period { min: 2 }),
            ],
            Func::Sar => &[("accel", Arg::Constant), ("max", Arg::Constant)],
        }
    }

    /// The outputs to choose from with `.field`, or empty for single-output functions.
    pub fn fields(self) -> &'static [Field] {
        match self {
            Func::Macd => &[Field::Line, Field::Signal, Field::Hist],
            Func::Bbands => &[Field::Upper, Field::Middle, Field::Lower],
            Func::Stoch => &[Field::K, Field::D],
            Func::Aroon => &[Field::Up, Field::Down],
            Func::Supertrend => &[Field::Line, Field::Direction],
            _ => &[],
        }
    }

    /// Whether it is a candlestick pattern (no arguments, on the bar's own open, high, low and
    /// close).
    pub fn is_candle(self) -> bool {
        matches!(
            self,
            Func::Engulfing
                | Func::Hammer
                | Func::ShootingStar
                | Func::Doji
                | Func::Harami
                | Func::MorningStar
                | Func::EveningStar
                | Func::ThreeWhiteSoldiers
                | Func::ThreeBlackCrows
        )
    }

    /// Whether the result is boolean (the crosses) rather than numeric.
    pub fn is_boolean(self) -> bool {
        matches!(self, Func::CrossesAbove | Func::CrossesBelow)
    }

    /// What it computes, in one line (the language reference's table is made from this).
    pub fn summary(self) -> &'static str {
        match self {
            Func::Sma => "simple moving average",
            Func::Ema => "exponential moving average, seeded with an SMA (TA-Lib)",
            Func::Wma => "linearly weighted moving average",
            Func::Rsi => "Wilder's relative strength index",
            Func::Highest => "rolling maximum",
            Func::Lowest => "rolling minimum",
            Func::Macd => {
                "moving average convergence/divergence (TA-Lib's alignment): line, signal, histogram"
            }
            Func::Bbands => "Bollinger bands: SMA ± k population standard deviations",
            Func::Atr => "average true range of the bar's high, low and close",
            Func::Adx => "average directional index",
            Func::Stoch => "slow stochastic %K and %D",
            Func::CrossesAbove => "true on the bar `a` crosses above `b`: `a[1] < b[1] and a > b`",
            Func::CrossesBelow => "true on the bar `a` crosses below `b`: `a[1] > b[1] and a < b`",
            Func::Abs => "absolute value",
            Func::Min => "the smaller of two values (missing when either is)",
            Func::Max => "the larger of two values (missing when either is)",
            Func::If => "`a` where the condition holds, else `b`",
            Func::Sum => "TA-Lib `SUM`, the total of the last `n` values",
            Func::Count => "bars of the last `n` where the condition holds",
            Func::BarsSince => {
                "bars since the condition last held: 0 on a bar where it holds, missing before the first"
            }
            Func::ValueWhen => "`x` on the latest bar where the condition held",
            Func::Stddev => "TA-Lib `STDDEV` (population)",
            Func::Roc => "rate of change in percent",
            Func::Mom => "momentum, `x - x[n]`",
            Func::Cmo => "Chande momentum oscillator",
            Func::Linearreg => "the least-squares line's value at the last bar",
            Func::Cci => "commodity channel index",
            Func::Willr => "Williams %R",
            Func::Mfi => "money flow index",
            Func::Obv => "on-balance volume",
            Func::Ad => "Chaikin accumulation/distribution line",
            Func::Adosc => "Chaikin A/D oscillator",
            Func::Natr => "ATR in percent of the close",
            Func::Trange => "true range",
            Func::PlusDi => "plus directional indicator (+DI)",
            Func::MinusDi => "minus directional indicator (-DI)",
            Func::Sar => "parabolic SAR",
            Func::Aroon => "Aroon up and down",
            Func::Supertrend => "TradingView's supertrend: line and direction (-1 in an uptrend)",
            Func::Vwap => "session VWAP, restarting each calendar day",
            Func::Engulfing => "TA-Lib `CDLENGULFING` (+100 / -100, ±80 when one end matches, 0)",
            Func::Hammer => "TA-Lib `CDLHAMMER` (+100 / 0)",
            Func::ShootingStar => "TA-Lib `CDLSHOOTINGSTAR` (-100 / 0)",
            Func::Doji => "TA-Lib `CDLDOJI` (+100 / 0)",
            Func::Harami => "TA-Lib `CDLHARAMI` (+100 / -100, ±80, 0)",
            Func::MorningStar => "TA-Lib `CDLMORNINGSTAR` (+100 / 0, penetration 0.3)",
            Func::EveningStar => "TA-Lib `CDLEVENINGSTAR` (-100 / 0, penetration 0.3)",
            Func::ThreeWhiteSoldiers => "TA-Lib `CDL3WHITESOLDIERS` (+100 / 0)",
            Func::ThreeBlackCrows => "TA-Lib `CDL3BLACKCROWS` (-100 / 0)",
        }
    }

    /// The call signature, for messages: `macd(x, fast, slow, signal)`.
    pub fn signature(self) -> String {
        let args: Vec<&str> = self.args().iter().map(|(n, _)| *n).collect();
        format!("{}({})", self.name(), args.join(", "))
    }
}

impl fmt::Display for Func {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An output of a multi-output function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    /// MACD line.
    Line,
    /// MACD signal.
    Signal,
    /// MACD histogram.
    Hist,
    /// Upper band.
    Upper,
    /// Middle band.
    Middle,
    /// Lower band.
    Lower,
    /// Stochastic %K.
    K,
    /// Stochastic %D.
    D,
    /// Aroon up.
    Up,
    /// Aroon down.
    Down,
    /// Supertrend direction.
    Direction,
}

impl Field {
    /// The name after the dot.
    pub fn name(self) -> &'static str {
        match self {
            Field::Line => "line",
            Field::Signal => "signal",
            Field::Hist => "hist",
            Field::Upper => "upper",
            Field::Middle => "middle",
            Field::Lower => "lower",
            Field::K => "k",
            Field::D => "d",
            Field::Up => "up",
            Field::Down => "down",
            Field::Direction => "direction",
        }
    }
}

/// A higher timeframe for `tf(RULE, expr)`: pandas' resample rules as backtesting.py's
/// `lib.resample_apply` uses them (`label="right"`, pandas' default `closed`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Timeframe {
    /// `"1min"`: minutes, bins `[t, t+1min)`.
    Min1,
    /// `"5min"`: five minutes from midnight, bins `[t, t+5min)`.
    Min5,
    /// `"15min"`: fifteen minutes from midnight.
    Min15,
    /// `"30min"`: thirty minutes from midnight.
    Min30,
    /// `"h"`: hours, bins `[t, t+1h)`.
    Hour,
    /// `"4h"`: four hours from midnight of the data's first day, bins `[t, t+4h)`.
    Hour4,
    /// `"D"`: calendar days, bins `[day, day+1)`.
    Day,
    /// `"W"`: weeks ending on Sunday (whole days).
    Week,
    /// `"W-FRI"`: weeks ending on Friday (whole days).
    WeekFri,
    /// `"ME"`: calendar months (whole days).
    MonthEnd,
}

impl Timeframe {
    /// Every rule.
    pub const ALL: [Timeframe; 10] = [
        Timeframe::Min1,
        Timeframe::Min5,
        Timeframe::Min15,
        Timeframe::Min30,
        Timeframe::Hour,
        Timeframe::Hour4,
        Timeframe::Day,
        Timeframe::Week,
        Timeframe::WeekFri,
        Timeframe::MonthEnd,
    ];

    /// The rule as written (pandas' alias).
    pub fn name(self) -> &'static str {
        match self {
            Timeframe::Min1 => "1min",
            Timeframe::Min5 => "5min",
            Timeframe::Min15 => "15min",
            Timeframe::Min30 => "30min",
            Timeframe::Hour => "h",
            Timeframe::Hour4 => "4h",
            Timeframe::Day => "D",
            Timeframe::Week => "W",
            Timeframe::WeekFri => "W-FRI",
            Timeframe::MonthEnd => "ME",
        }
    }

    /// Looks a rule up.
    pub fn from_name(name: &str) -> Option<Timeframe> {
        Timeframe::ALL.into_iter().find(|t| t.name() == name)
    }

    /// The shortest span one of its bins covers, in milliseconds (a month: 28 days).
    pub fn min_ms(self) -> i64 {
        const MINUTE: i64 = 60_000;
        match self {
            Timeframe::Min1 => MINUTE,
            Timeframe::Min5 => 5 * MINUTE,
            Timeframe::Min15 => 15 * MINUTE,
            Timeframe::Min30 => 30 * MINUTE,
            Timeframe::Hour => 60 * MINUTE,
            Timeframe::Hour4 => 240 * MINUTE,
            Timeframe::Day => 1_440 * MINUTE,
            Timeframe::Week | Timeframe::WeekFri => 7 * 1_440 * MINUTE,
            Timeframe::MonthEnd => 28 * 1_440 * MINUTE,
        }
    }
}
