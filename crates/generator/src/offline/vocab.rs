//! The offline compiler's vocabulary: one entry per indicator of the strategy language (its
//! [`Func`]), with the phrases traders name it by, its usual settings (DESIGN.md §5.1), its
//! oversold/overbought levels and the stem of its names in the generated file. A new indicator
//! of the language is one entry here; a test checks that every function is either here, a
//! candlestick pattern in [`CANDLES`], or in [`NOT_INDICATORS`].

use strategy::{Field, Func};

/// An indicator as the compiler knows it.
#[derive(Debug)]
pub(super) struct Indicator {
    /// The language's function.
    pub func: Func,
    /// Phrases (normalised words) that name it, each with the output it names, if any.
    pub phrases: &'static [(&'static str, Option<Field>)],
    /// Whether it takes a series first (the close unless another is named).
    pub series: bool,
    /// Settings when none are given, in argument order after any series; empty: they must be.
    pub defaults: &'static [f64],
    /// The output meant when none is named.
    pub field: Option<Field>,
    /// Words naming each output after the name (`macd histogram`, `aroon up`).
    pub fields: &'static [(&'static str, Field)],
    /// "oversold" and "overbought" levels.
    pub levels: Option<(f64, f64)>,
    /// Its names in the generated file start with this.
    pub stem: &'static str,
    /// A number right before it is a multiplier (`2 ATR`), not a period, unless a unit follows
    /// the number (`14-day ATR`).
    pub multiplier_first: bool,
}

const NONE: &[(&str, Field)] = &[];

/// Every indicator, in no particular order (phrases are matched longest first).
pub(super) const INDICATORS: &[Indicator] = &[
    Indicator {
        func: Func::Rsi,
        phrases: &[
            ("relative strength index", None),
            ("relative strength", None),
            ("rsi", None),
        ],
        series: true,
        defaults: &[14.0],
        field: None,
        fields: NONE,
        levels: Some((30.0, 70.0)),
        stem: "rsi",
        multiplier_first: false,
    },
    Indicator {
        func: Func::Sma,
        phrases: &[
            ("simple moving average", None),
            ("moving average", None),
            ("simple average", None),
            ("average", None),
            ("mean", None),
            ("sma", None),
            ("ma", None),
            ("dma", None),
            ("mav", None),
        ],
        series: true,
        defaults: &[],
        field: None,
        fields: NONE,
        levels: None,
        stem: "sma",
        multiplier_first: false,
    },
    Indicator {
        func: Func::Ema,
        phrases: &[
            ("exponential moving average", None),
            ("exponential average", None),
            ("ema", None),
        ],
        series: true,
        defaults: &[],
        field: None,
        fields: NONE,
        levels: None,
        stem: "ema",
        multiplier_first: false,
    },
    Indicator {
        func: Func::Wma,
        phrases: &[
            ("weighted moving average", None),
            ("linear weighted moving average", None),
            ("wma", None),
            ("lwma", None),
        ],
        series: true,
        defaults: &[],
        field: None,
        fields: NONE,
        levels: None,
        stem: "wma",
        multiplier_first: false,
    },
    Indicator {
        func: Func::Macd,
        phrases: &[
            ("macd signal line", Some(Field::Signal)),
            ("macd signal", Some(Field::Signal)),
            ("signal line", Some(Field::Signal)),
            ("macd histogram", Some(Field::Hist)),
            ("macd hist", Some(Field::Hist)),
            ("histogram", Some(Field::Hist)),
            ("macd line", Some(Field::Line)),
            ("signal", Some(Field::Signal)),
            ("macd", None),
        ],
        series: true,
        defaults: &[12.0, 26.0, 9.0],
        field: Some(Field::Line),
        fields: &[
            ("signal line", Field::Signal),
            ("signal", Field::Signal),
            ("histogram", Field::Hist),
            ("hist", Field::Hist),
            ("line", Field::Line),
        ],
        levels: None,
        stem: "macd",
        multiplier_first: false,
    },
    Indicator {
        func: Func::Bbands,
        phrases: &[
            ("upper bollinger band", Some(Field::Upper)),
            ("lower bollinger band", Some(Field::Lower)),
            ("middle bollinger band", Some(Field::Middle)),
            ("bollinger upper band", Some(Field::Upper)),
            ("bollinger lower band", Some(Field::Lower)),
            ("bollinger middle band", Some(Field::Middle)),
            ("upper bollinger", Some(Field::Upper)),
            ("lower bollinger", Some(Field::Lower)),
            ("upper band", Some(Field::Upper)),
            ("lower band", Some(Field::Lower)),
            ("middle band", Some(Field::Middle)),
            ("mid band", Some(Field::Middle)),
            ("bollinger bands", None),
            ("bollinger band", None),
            ("bollinger", None),
            ("bbands", None),
            ("bb", None),
            ("upper bb", Some(Field::Upper)),
            ("lower bb", Some(Field::Lower)),
            ("middle bb", Some(Field::Middle)),
            ("mid bb", Some(Field::Middle)),
            ("top bollinger band", Some(Field::Upper)),
            ("bottom bollinger band", Some(Field::Lower)),
            ("top band", Some(Field::Upper)),
            ("bottom band", Some(Field::Lower)),
            ("highbb line", Some(Field::Upper)),
            ("lowbb line", Some(Field::Lower)),
            ("highbb", Some(Field::Upper)),
            ("lowbb", Some(Field::Lower)),
            ("basis line", Some(Field::Middle)),
        ],
        series: true,
        defaults: &[20.0, 2.0],
        field: None,
        fields: &[
            ("upper band", Field::Upper),
            ("lower band", Field::Lower),
            ("middle band", Field::Middle),
            ("mid band", Field::Middle),
            ("upper", Field::Upper),
            ("lower", Field::Lower),
            ("middle", Field::Middle),
            ("basis", Field::Middle),
        ],
        levels: None,
        stem: "bb",
        multiplier_first: false,
    },
    Indicator {
        func: Func::Stoch,
        phrases: &[
            ("stochastic oscillator", None),
            ("slow stochastic", None),
            ("stochastics", None),
            ("stochastic", None),
            ("stoch", None),
            ("%k", Some(Field::K)),
            ("%d", Some(Field::D)),
        ],
        series: false,
        defaults: &[14.0, 3.0, 3.0],
        field: Some(Field::K),
        fields: &[
            ("%k", Field::K),
            ("%d", Field::D),
            ("k", Field::K),
            ("d", Field::D),
        ],
        levels: Some((20.0, 80.0)),
        stem: "stoch",
        multiplier_first: false,
    },
    Indicator {
        func: Func::Atr,
        phrases: &[("average true range", None), ("atrs", None), ("atr", None)],
        series: false,
        defaults: &[14.0],
        field: None,
        fields: NONE,
        levels: None,
        stem: "atr",
        multiplier_first: true,
    },
    Indicator {
        func: Func::Adx,
        phrases: &[("average directional index", None), ("adx", None)],
        series: false,
        defaults: &[14.0],
        field: None,
        fields: NONE,
        levels: None,
        stem: "adx",
        multiplier_first: false,
    },
    Indicator {
        func: Func::Cci,
        phrases: &[("commodity channel index", None), ("cci", None)],
        series: false,
        defaults: &[20.0],
        field: None,
        fields: NONE,
        levels: Some((-100.0, 100.0)),
        stem: "cci",
        multiplier_first: false,
    },
    Indicator {
        func: Func::Willr,
        phrases: &[
            ("williams %r", None),
            ("williams r", None),
            ("williams percent r", None),
            ("%r", None),
            ("willr", None),
        ],
        series: false,
        defaults: &[14.0],
        field: None,
        fields: NONE,
        levels: Some((-80.0, -20.0)),
        stem: "willr",
        multiplier_first: false,
    },
    Indicator {
        func: Func::Mfi,
        phrases: &[("money flow index", None), ("mfi", None)],
        series: false,
        defaults: &[14.0],
        field: None,
        fields: NONE,
        levels: Some((20.0, 80.0)),
        stem: "mfi",
        multiplier_first: false,
    },
    Indicator {
        func: Func::Roc,
        phrases: &[("rate of change", None), ("roc", None)],
        series: true,
        defaults: &[10.0],
        field: None,
        fields: NONE,
        levels: None,
        stem: "roc",
        multiplier_first: false,
    },
    Indicator {
        func: Func::Mom,
        phrases: &[("momentum", None), ("mom", None)],
        series: true,
        defaults: &[10.0],
        field: None,
        fields: NONE,
        levels: None,
        stem: "mom",
        multiplier_first: false,
    },
    Indicator {
        func: Func::Cmo,
        phrases: &[("chande momentum oscillator", None), ("cmo", None)],
        series: true,
        defaults: &[14.0],
        field: None,
        fields: NONE,
        levels: None,
        stem: "cmo",
        multiplier_first: false,
    },
    Indicator {
        func: Func::Linearreg,
        phrases: &[
            ("linear regression line", None),
            ("linear regression", None),
            ("linreg", None),
        ],
        series: true,
        defaults: &[],
        field: None,
        fields: NONE,
        levels: None,
        stem: "linreg",
        multiplier_first: false,
    },
    Indicator {
        func: Func::Stddev,
        phrases: &[
            ("standard deviation", None),
            ("stddev", None),
            ("stdev", None),
        ],
        series: true,
        defaults: &[],
        field: None,
        fields: NONE,
        levels: None,
        stem: "stddev",
        multiplier_first: false,
    },
    Indicator {
        func: Func::Obv,
        phrases: &[("on balance volume", None), ("obv", None)],
        series: false,
        defaults: &[],
        field: None,
        fields: NONE,
        levels: None,
        stem: "obv",
        multiplier_first: false,
    },
    Indicator {
        func: Func::Ad,
        phrases: &[
            ("accumulation distribution line", None),
            ("accumulation distribution", None),
        ],
        series: false,
        defaults: &[],
        field: None,
        fields: NONE,
        levels: None,
        stem: "ad",
        multiplier_first: false,
    },
    Indicator {
        func: Func::Adosc,
        phrases: &[("chaikin oscillator", None), ("adosc", None)],
        series: false,
        defaults: &[3.0, 10.0],
        field: None,
        fields: NONE,
        levels: None,
        stem: "adosc",
        multiplier_first: false,
    },
    Indicator {
        func: Func::Natr,
        phrases: &[("normalized average true range", None), ("natr", None)],
        series: false,
        defaults: &[14.0],
        field: None,
        fields: NONE,
        levels: None,
        stem: "natr",
        multiplier_first: false,
    },
    Indicator {
        func: Func::Trange,
        phrases: &[("true range", None)],
        series: false,
        defaults: &[],
        field: None,
        fields: NONE,
        levels: None,
        stem: "trange",
        multiplier_first: false,
    },
    Indicator {
        func: Func::PlusDi,
        phrases: &[
            ("+di", None),
            ("plus di", None),
            ("plus_di", None),
            ("positive directional indicator", None),
        ],
        series: false,
        defaults: &[14.0],
        field: None,
        fields: NONE,
        levels: None,
        stem: "plus_di",
        multiplier_first: false,
    },
    Indicator {
        func: Func::MinusDi,
        phrases: &[
            ("-di", None),
            ("minus di", None),
            ("minus_di", None),
            ("negative directional indicator", None),
        ],
        series: false,
        defaults: &[14.0],
        field: None,
        fields: NONE,
        levels: None,
        stem: "minus_di",
        multiplier_first: false,
    },
    Indicator {
        func: Func::Sar,
        phrases: &[
            ("parabolic sar", None),
            ("parabolic stop and reverse", None),
            ("psar", None),
            ("sar", None),
        ],
        series: false,
        defaults: &[0.02, 0.2],
        field: None,
        fields: NONE,
        levels: None,
        stem: "sar",
        multiplier_first: false,
    },
    Indicator {
        func: Func::Aroon,
        phrases: &[
            ("aroon up", Some(Field::Up)),
            ("aroon down", Some(Field::Down)),
            ("aroon", None),
        ],
        series: false,
        defaults: &[25.0],
        field: None,
        fields: &[("up", Field::Up), ("down", Field::Down)],
        levels: None,
        stem: "aroon",
        multiplier_first: false,
    },
    Indicator {
        func: Func::Supertrend,
        phrases: &[("supertrend", None), ("super trend", None)],
        series: false,
        defaults: &[10.0, 3.0],
        field: Some(Field::Line),
        fields: &[("line", Field::Line), ("direction", Field::Direction)],
        levels: None,
        stem: "supertrend",
        multiplier_first: false,
    },
    Indicator {
        func: Func::Vwap,
        phrases: &[("volume weighted average price", None), ("vwap", None)],
        series: false,
        defaults: &[],
        field: None,
        fields: NONE,
        levels: None,
        stem: "vwap",
        multiplier_first: false,
    },
    Indicator {
        func: Func::Highest,
        phrases: &[("highest", None)],
        series: true,
        defaults: &[],
        field: None,
        fields: NONE,
        levels: None,
        stem: "highest",
        multiplier_first: false,
    },
    Indicator {
        func: Func::Lowest,
        phrases: &[("lowest", None)],
        series: true,
        defaults: &[],
        field: None,
        fields: NONE,
        levels: None,
        stem: "lowest",
        multiplier_first: false,
    },
];

/// A candlestick pattern: its phrases, its function, and which sign it has when bullish (`+`)
/// or bearish (`-`); `two_sided` patterns need "bullish" or "bearish" said.
#[derive(Debug)]
pub(super) struct Candle {
    pub func: Func,
    pub phrases: &'static [&'static str],
    pub two_sided: bool,
    /// The sign of the pattern when only one sign exists.
    pub bullish: bool,
}

/// The candlestick patterns.
pub(super) const CANDLES: &[Candle] = &[
    Candle {
        func: Func::Engulfing,
        phrases: &["engulfing"],
        two_sided: true,
        bullish: true,
    },
    Candle {
        func: Func::Harami,
        phrases: &["harami"],
        two_sided: true,
        bullish: true,
    },
    Candle {
        func: Func::Hammer,
        phrases: &["hammer"],
        two_sided: false,
        bullish: true,
    },
    Candle {
        func: Func::ShootingStar,
        phrases: &["shooting star"],
        two_sided: false,
        bullish: false,
    },
    Candle {
        func: Func::Doji,
        phrases: &["doji"],
        two_sided: false,
        bullish: true,
    },
    Candle {
        func: Func::MorningStar,
        phrases: &["morning star"],
        two_sided: false,
        bullish: true,
    },
    Candle {
        func: Func::EveningStar,
        phrases: &["evening star"],
        two_sided: false,
        bullish: false,
    },
    Candle {
        func: Func::ThreeWhiteSoldiers,
        phrases: &["three white soldiers"],
        two_sided: false,
        bullish: true,
    },
    Candle {
        func: Func::ThreeBlackCrows,
        phrases: &["three black crows"],
        two_sided: false,
        bullish: false,
    },
];

/// Functions of the language that are tools for writing rules rather than indicators a trader
/// names; the compiler builds them from phrases ("crosses above", "3 days in a row", …).
#[cfg(test)]
pub(super) const NOT_INDICATORS: &[Func] = &[
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
];

/// The indicator a function is.
pub(super) fn indicator(func: Func) -> Option<&'static Indicator> {
    INDICATORS.iter().find(|i| i.func == func)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_function_of_the_language_has_one_home_here() {
        for f in Func::ALL {
            let homes = usize::from(indicator(f).is_some())
                + usize::from(CANDLES.iter().any(|c| c.func == f))
                + usize::from(NOT_INDICATORS.contains(&f));
            assert_eq!(homes, 1, "{f} must be in exactly one table");
        }
    }

    #[test]
    fn defaults_fit_the_functions_signatures() {
        for i in INDICATORS {
            let settings = i.func.args().len() - usize::from(i.series);
            assert!(
                i.defaults.is_empty() || i.defaults.len() == settings,
                "{}: {} defaults for {} settings",
                i.func,
                i.defaults.len(),
                settings
            );
            assert_eq!(
                i.func.fields().is_empty(),
                i.fields.is_empty(),
                "{}",
                i.func
            );
            let named = i.phrases.iter().filter_map(|(_, f)| *f);
            for f in named.chain(i.fields.iter().map(|(_, f)| *f)) {
                assert!(i.func.fields().contains(&f), "{}: {f:?}", i.func);
            }
        }
    }
}
