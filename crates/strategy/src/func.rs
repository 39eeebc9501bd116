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
}

/// Largest period TA-Lib accepts.
pub const MAX_PERIOD: u32 = 100_000;

const SERIES_PERIOD: &[(&str, Arg)] = &[("x", Arg::Series), ("n", Arg::Period { min: 2 })];

impl Func {
    /// Every function, for lookups and suggestions.
    pub const ALL: [Func; 13] = [
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
        }
    }

    /// Looks a name up.
    pub fn from_name(name: &str) -> Option<Func> {
        Func::ALL.into_iter().find(|f| f.name() == name)
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
            Func::CrossesAbove | Func::CrossesBelow => &[("a", Arg::Series), ("b", Arg::Series)],
        }
    }

    /// The outputs to choose from with `.field`, or empty for single-output functions.
    pub fn fields(self) -> &'static [Field] {
        match self {
            Func::Macd => &[Field::Line, Field::Signal, Field::Hist],
            Func::Bbands => &[Field::Upper, Field::Middle, Field::Lower],
            Func::Stoch => &[Field::K, Field::D],
            _ => &[],
        }
    }

    /// Whether the result is boolean (the crosses) rather than numeric.
    pub fn is_boolean(self) -> bool {
        matches!(self, Func::CrossesAbove | Func::CrossesBelow)
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
        }
    }
}

/// A higher timeframe for `tf(RULE, expr)`: pandas' resample rules as backtesting.py's
/// `lib.resample_apply` uses them (`label="right"`, pandas' default `closed`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Timeframe {
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
    pub const ALL: [Timeframe; 6] = [
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
}
