//! Indicators traders name that the language computes from its own functions: the documented
//! rewrites of docs/strategies.md (Donchian and Keltner channels, z-score, Bollinger %b and
//! bandwidth, the awesome oscillator, Chaikin money flow, the Ichimoku lines). Each entry is the
//! phrases that name it, its usual settings, and the expression those settings make.

use strategy::{BinOp, Expr, Field, Func};

use super::parser::{Kind, Parser, R, Term, back, bin, call, name, num};
use crate::GenerateError;

/// An indicator the language computes from its functions.
pub(super) struct Derived {
    /// Phrases (normalised words) that name it.
    pub phrases: &'static [&'static str],
    /// Settings when none are given (the first is what a number before the name sets).
    pub defaults: &'static [f64],
    /// Whether it sits above price (touched from below), below it, or neither.
    pub kind: Kind,
    /// The setting that is a multiplier (any number above 0); the others are whole periods.
    pub mult: Option<usize>,
    /// The expression of these settings (as many as `defaults`).
    pub build: fn(&[f64]) -> Expr,
}

fn half(a: Expr, b: Expr) -> Expr {
    bin(BinOp::Div, bin(BinOp::Add, a, b), num(2.0))
}

/// The midpoint of the `n`-bar high and low (Ichimoku's lines, the Donchian midline).
fn midpoint(n: f64) -> Expr {
    half(
        call(Func::Highest, vec![name("high"), num(n)], None),
        call(Func::Lowest, vec![name("low"), num(n)], None),
    )
}

fn bband(s: &[f64], field: Field) -> Expr {
    call(
        Func::Bbands,
        vec![name("close"), num(s[0]), num(s[1])],
        Some(field),
    )
}

fn keltner(s: &[f64], sign: BinOp) -> Expr {
    bin(
        sign,
        call(Func::Ema, vec![name("close"), num(s[0])], None),
        bin(
            BinOp::Mul,
            num(s[1]),
            call(Func::Atr, vec![num(s[2])], None),
        ),
    )
}

/// `(high + low) / 2` averaged over `n` bars.
fn median_average(n: f64) -> Expr {
    call(
        Func::Sma,
        vec![
            bin(
                BinOp::Div,
                bin(BinOp::Add, name("high"), name("low")),
                num(2.0),
            ),
            num(n),
        ],
        None,
    )
}

/// Every derived indicator (phrases are matched longest first, against the language's own
/// indicators too).
pub(super) const DERIVED: &[Derived] = &[
    // Donchian channel: the N bars before this one, as an N-day high or low is.
    Derived {
        phrases: &[
            "donchian channel upper band",
            "donchian channel upper",
            "donchian channel high",
            "upper donchian channel",
            "upper donchian band",
            "upper donchian",
            "donchian upper band",
            "donchian upper",
            "donchian high",
        ],
        defaults: &[20.0],
        kind: Kind::Upper,
        mult: None,
        build: |s| back(call(Func::Highest, vec![name("high"), num(s[0])], None), 1),
    },
    Derived {
        phrases: &[
            "donchian channel lower band",
            "donchian channel lower",
            "donchian channel low",
            "lower donchian channel",
            "lower donchian band",
            "lower donchian",
            "donchian lower band",
            "donchian lower",
            "donchian low",
        ],
        defaults: &[20.0],
        kind: Kind::Lower,
        mult: None,
        build: |s| back(call(Func::Lowest, vec![name("low"), num(s[0])], None), 1),
    },
    Derived {
        phrases: &[
            "donchian channel middle",
            "donchian channel midline",
            "donchian middle",
            "donchian midline",
            "middle donchian",
            "middle donchian line",
            "donchian middle line",
            "donchian channel middle line",
        ],
        defaults: &[20.0],
        kind: Kind::Middle,
        mult: None,
        build: |s| back(midpoint(s[0]), 1),
    },
    // Keltner channel (TradingView's): EMA(20) ± 2 × ATR(10).
    Derived {
        phrases: &[
            "keltner channel upper band",
            "keltner channel upper",
            "upper keltner channel",
            "upper keltner band",
            "upper keltner",
            "keltner upper band",
            "keltner upper",
        ],
        defaults: &[20.0, 2.0, 10.0],
        kind: Kind::Upper,
        mult: Some(1),
        build: |s| keltner(s, BinOp::Add),
    },
    Derived {
        phrases: &[
            "keltner channel lower band",
            "keltner channel lower",
            "lower keltner channel",
            "lower keltner band",
            "lower keltner",
            "keltner lower band",
            "keltner lower",
        ],
        defaults: &[20.0, 2.0, 10.0],
        kind: Kind::Lower,
        mult: Some(1),
        build: |s| keltner(s, BinOp::Sub),
    },
    Derived {
        phrases: &[
            "keltner channel middle line",
            "keltner channel middle",
            "keltner channel midline",
            "keltner middle line",
            "keltner middle",
            "keltner midline",
            "keltner basis",
            "middle keltner line",
            "middle keltner channel",
            "middle keltner band",
        ],
        defaults: &[20.0],
        kind: Kind::Middle,
        mult: None,
        build: |s| call(Func::Ema, vec![name("close"), num(s[0])], None),
    },
    // z-score of the close against its N-bar mean and population deviation.
    Derived {
        phrases: &["z score", "zscore"],
        defaults: &[20.0],
        kind: Kind::Other,
        mult: None,
        build: |s| {
            bin(
                BinOp::Div,
                bin(
                    BinOp::Sub,
                    name("close"),
                    call(Func::Sma, vec![name("close"), num(s[0])], None),
                ),
                call(Func::Stddev, vec![name("close"), num(s[0])], None),
            )
        },
    },
    // Bollinger %b: where the close sits between the bands (0 lower, 1 upper).
    Derived {
        phrases: &[
            "bollinger percent b",
            "bollinger %b",
            "bollinger band %b",
            "bollinger bands %b",
            "bb %b",
            "percent b",
            "%b",
        ],
        defaults: &[20.0, 2.0],
        kind: Kind::Other,
        mult: Some(1),
        build: |s| {
            bin(
                BinOp::Div,
                bin(BinOp::Sub, name("close"), bband(s, Field::Lower)),
                bin(BinOp::Sub, bband(s, Field::Upper), bband(s, Field::Lower)),
            )
        },
    },
    // Bollinger bandwidth: the bands' width over the middle band.
    Derived {
        phrases: &[
            "bollinger bandwidth",
            "bollinger band width",
            "bollinger bands width",
            "bb width",
            "bandwidth",
        ],
        defaults: &[20.0, 2.0],
        kind: Kind::Other,
        mult: Some(1),
        build: |s| {
            bin(
                BinOp::Div,
                bin(BinOp::Sub, bband(s, Field::Upper), bband(s, Field::Lower)),
                bband(s, Field::Middle),
            )
        },
    },
    // Bill Williams' awesome oscillator: SMA(5) - SMA(34) of the bar's midpoint.
    Derived {
        phrases: &["awesome oscillator", "awesome osc"],
        defaults: &[5.0, 34.0],
        kind: Kind::Other,
        mult: None,
        build: |s| bin(BinOp::Sub, median_average(s[0]), median_average(s[1])),
    },
    // Chaikin money flow (TradingView's: a bar with no range adds nothing).
    Derived {
        phrases: &["chaikin money flow", "cmf"],
        defaults: &[20.0],
        kind: Kind::Other,
        mult: None,
        build: |s| {
            let location = bin(
                BinOp::Div,
                bin(
                    BinOp::Sub,
                    bin(BinOp::Sub, name("close"), name("low")),
                    bin(BinOp::Sub, name("high"), name("close")),
                ),
                bin(BinOp::Sub, name("high"), name("low")),
            );
            let flow = call(
                Func::If,
                vec![
                    bin(BinOp::Gt, name("high"), name("low")),
                    bin(BinOp::Mul, location, name("volume")),
                    num(0.0),
                ],
                None,
            );
            bin(
                BinOp::Div,
                call(Func::Sum, vec![flow, num(s[0])], None),
                call(Func::Sum, vec![name("volume"), num(s[0])], None),
            )
        },
    },
    // Ichimoku (TradingView's: the leading spans drawn 26 bars ahead are, at a bar, the values
    // of 25 bars before it).
    Derived {
        phrases: &["tenkan sen", "tenkan", "conversion line"],
        defaults: &[9.0],
        kind: Kind::Other,
        mult: None,
        build: |s| midpoint(s[0]),
    },
    Derived {
        phrases: &["kijun sen", "kijun", "base line"],
        defaults: &[26.0],
        kind: Kind::Other,
        mult: None,
        build: |s| midpoint(s[0]),
    },
    Derived {
        phrases: &["senkou span a", "leading span a", "span a"],
        defaults: &[9.0, 26.0, 26.0],
        kind: Kind::Other,
        mult: None,
        build: |s| back(half(midpoint(s[0]), midpoint(s[1])), displaced(s[2])),
    },
    Derived {
        phrases: &["senkou span b", "leading span b", "span b"],
        defaults: &[52.0, 26.0],
        kind: Kind::Other,
        mult: None,
        build: |s| back(midpoint(s[0]), displaced(s[1])),
    },
];

/// The bars back a span displaced `d` bars ahead is read at (`TradingView` draws it `d - 1`
/// ahead).
#[expect(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    reason = "settings are whole numbers from 1 to a few hundred, checked by the caller"
)]
fn displaced(d: f64) -> u32 {
    (d.max(1.0) as u32).saturating_sub(1)
}

impl Parser<'_> {
    /// The longest derived-indicator phrase at `at`, when it is longer than any of the
    /// language's own indicator phrases there ("bollinger %b" is not "bollinger").
    fn derived_at(&self, at: usize) -> Option<(&'static Derived, usize)> {
        let own = self.match_indicator(at).map_or(0, |(_, _, n)| n);
        let mut best: Option<(&'static Derived, usize)> = None;
        for d in DERIVED {
            for p in d.phrases {
                let n = self.phrase_len(p, at);
                if n > own && best.is_none_or(|b| n > b.1) {
                    best = Some((d, n));
                }
            }
        }
        best
    }

    /// A derived indicator named here, with its settings: a number before the name (`lead`:
    /// "the 20-day Donchian high") and / or after it ("(20, 2, 10)", "20"); the rest are its
    /// usual ones. `None` (position unchanged) when none is named here.
    pub(super) fn derived(&mut self, lead: Option<f64>) -> R<Option<Term>> {
        let Some((d, n)) = self.derived_at(self.at) else {
            return Ok(None);
        };
        let start = self.at;
        self.at += n;
        let mut settings: Vec<f64> = lead.into_iter().collect();
        let save = self.at;
        if self.sym("(") {
            while let Some(v) = self.number() {
                settings.push(v);
                let _ = self.unit();
                if !self.sym(",") {
                    break;
                }
            }
            if !self.sym(")") {
                self.at = save;
                settings.truncate(usize::from(lead.is_some()));
            }
        } else if lead.is_none()
            && let Some(v) = self.number()
        {
            // A bare number after the name is its setting, not a value ("CMF 0.1" is refused
            // below as a period, "z-score 2%" is not a setting).
            if self.is_sym("%") || self.word() == Some("percent") {
                self.at = save;
            } else {
                settings.push(v);
            }
        }
        let written = self.written(start, self.at);
        // Too many settings, or a period that is not a whole number of bars: the name with its
        // usual settings is the nearest thing it reads.
        let fits = settings.len() <= d.defaults.len()
            && settings.iter().enumerate().all(|(k, v)| {
                if d.mult == Some(k) {
                    v.is_finite() && *v > 0.0
                } else {
                    v.fract() == 0.0 && (1.0..=100_000.0).contains(v)
                }
            });
        if !fits {
            let usual: Vec<String> = d.defaults.iter().map(ToString::to_string).collect();
            return Err(GenerateError::NotUnderstood {
                words: vec![written],
                hints: vec![format!("{} ({})", d.phrases[0], usual.join(", "))],
            });
        }
        settings.extend_from_slice(&d.defaults[settings.len()..]);
        Ok(Some(Term::new((d.build)(&settings), d.kind.clone())))
    }
}
