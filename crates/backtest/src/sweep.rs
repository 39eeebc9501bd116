//! Parameter sweeps (`--sweep NAME=FROM..TO:STEP`): every combination of the swept `[params]`,
//! run in parallel on rayon's pool, with indicator series shared across combinations (each
//! distinct `sma(close, 10)` is computed once), ranked by one statistic.
//!
//! Only each combination's statistics are kept, so memory stays at the shared indicators plus
//! one run per thread; the caller re-runs the winner for its trades and equity curve.

use rayon::prelude::*;
use strategy::Strategy;

use crate::data::Bars;
use crate::engine::{Settings, run_with};
use crate::eval::{Evaluator, SharedCache};
use crate::html::Heatmap;
use crate::stats::{self, STAT_KEYS, Stats};

/// Combinations a sweep may have at most.
pub const MAX_COMBINATIONS: usize = 1_000_000;

/// One swept param and its values.
#[derive(Debug, Clone, PartialEq)]
pub struct Axis {
    /// The param's name.
    pub name: String,
    /// Its values, ascending.
    pub values: Vec<f64>,
}

/// A sweep that cannot run, with what to do about it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SweepError {
    /// `--sweep` text that is not `NAME=FROM..TO:STEP`.
    #[error("--sweep {spec}: {reason}; write NAME=FROM..TO:STEP, e.g. fast=5..30:5")]
    Syntax {
        /// What was given.
        spec: String,
        /// What is wrong.
        reason: String,
    },
    /// A swept name that the strategy does not have in `[params]`.
    #[error(
        "--sweep {name}: the strategy has no param `{name}`; add `{name} = ...` under [params] and use it in an expression{known}"
    )]
    UnknownParam {
        /// The name.
        name: String,
        /// ` (its params: a, b)` or empty.
        known: String,
    },
    /// The same param twice.
    #[error("--sweep {0}: given twice; give each param once")]
    Duplicate(String),
    /// Too many combinations.
    #[error(
        "the sweep has {0} combinations, more than {MAX_COMBINATIONS}: use larger steps or fewer params"
    )]
    TooMany(usize),
    /// `--maximize` with an unknown statistic.
    #[error("--maximize {0}: not a statistic; use one of {list}", list = STAT_KEYS.join(", "))]
    UnknownStat(String),
    /// A combination the strategy rejects (a period below its minimum, say).
    #[error("--sweep: with {combination} the strategy is invalid: {message}")]
    Invalid {
        /// `fast=1, slow=20`.
        combination: String,
        /// The validation error.
        message: String,
    },
    /// An evaluation failure.
    #[error("{0}")]
    Eval(String),
}

fn number(spec: &str, what: &str, s: &str) -> Result<f64, SweepError> {
    s.trim()
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())
        .ok_or_else(|| SweepError::Syntax {
            spec: spec.to_owned(),
            reason: format!("{what} `{}` is not a number", s.trim()),
        })
}

/// Parses `NAME=FROM..TO:STEP` (STEP defaults to 1). Values are `FROM + k·STEP` up to TO, with
/// TO included when the steps land on it; they are rounded to 12 significant digits so `0.1`
/// steps do not drift.
///
/// # Errors
/// [`SweepError::Syntax`] naming what is wrong.
pub fn parse_axis(spec: &str) -> Result<Axis, SweepError> {
    let syntax = |reason: &str| SweepError::Syntax {
        spec: spec.to_owned(),
        reason: reason.to_owned(),
    };
    let (name, range) = spec.split_once('=').ok_or_else(|| syntax("no `=`"))?;
    let name = name.trim();
    if name.is_empty() {
        return Err(syntax("no param name before `=`"));
    }
    let (range, step) = match range.split_once(':') {
        Some((r, s)) => (r, number(spec, "STEP", s)?),
        None => (range, 1.0),
    };
    let (from, to) = range
        .split_once("..")
        .ok_or_else(|| syntax("no `..` between FROM and TO"))?;
    let (from, to) = (number(spec, "FROM", from)?, number(spec, "TO", to)?);
    if step <= 0.0 {
        return Err(syntax("STEP must be above 0"));
    }
    if to < from {
        return Err(syntax("TO is below FROM"));
    }
    let count = ((to - from) / step * (1.0 + 1e-12)).floor() + 1.0;
    if count > MAX_COMBINATIONS as f64 {
        return Err(SweepError::TooMany(MAX_COMBINATIONS + 1));
    }
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "checked to be in 1..=MAX_COMBINATIONS"
    )]
    let count = count as usize;
    let round = |v: f64| -> f64 {
        if v == 0.0 {
            return 0.0;
        }
        format!("{v:.11e}").parse().unwrap_or(v)
    };
    let values = (0..count).map(|k| round(from + k as f64 * step)).collect();
    Ok(Axis {
        name: name.to_owned(),
        values,
    })
}

/// One combination's outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// Place in the grid (the last axis varies fastest).
    pub grid: usize,
    /// The param values, in axis order.
    pub values: Vec<f64>,
    /// The statistics.
    pub stats: Stats,
    /// The ranked statistic (`None` where undefined).
    pub score: Option<f64>,
}

/// A finished sweep.
#[derive(Debug, Clone, PartialEq)]
pub struct SweepResult {
    /// The axes.
    pub axes: Vec<Axis>,
    /// The statistic ranked by.
    pub maximize: String,
    /// Every combination, best first (undefined scores last; ties keep grid order).
    pub outcomes: Vec<Outcome>,
    /// Distinct indicator series computed (shared by all combinations).
    pub indicators_computed: usize,
}

impl SweepResult {
    /// The strategy with the best combination's params.
    pub fn best_strategy(&self, base: &Strategy) -> Option<Strategy> {
        self.outcomes
            .first()
            .map(|o| with_params(base, &self.axes, &o.values))
    }

    /// The grid of scores for a two-param sweep (x: the first axis, y: the second).
    pub fn heatmap(&self) -> Option<Heatmap> {
        let [x, y] = self.axes.as_slice() else {
            return None;
        };
        let mut values = vec![None; x.values.len() * y.values.len()];
        let ny = y.values.len();
        for o in &self.outcomes {
            let (xi, yi) = (o.grid / ny, o.grid % ny);
            if let Some(slot) = values.get_mut(yi * x.values.len() + xi) {
                *slot = o.score;
            }
        }
        Some(Heatmap {
            x_name: x.name.clone(),
            xs: x.values.clone(),
            y_name: y.name.clone(),
            ys: y.values.clone(),
            stat: self.maximize.clone(),
            values,
        })
    }
}

/// `base` with the given param values.
pub fn with_params(base: &Strategy, axes: &[Axis], values: &[f64]) -> Strategy {
    let mut s = base.clone();
    for (axis, v) in axes.iter().zip(values) {
        if let Some(p) = s.params.iter_mut().find(|(n, _)| *n == axis.name) {
            p.1 = *v;
        }
    }
    s
}

fn describe(axes: &[Axis], values: &[f64]) -> String {
    axes.iter()
        .zip(values)
        .map(|(a, v)| format!("{}={v}", a.name))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The `k`-th combination in grid order (the last axis varies fastest).
fn combination(axes: &[Axis], mut k: usize) -> Vec<f64> {
    let mut out = vec![0.0; axes.len()];
    for (slot, axis) in out.iter_mut().zip(axes).rev() {
        let n = axis.values.len();
        *slot = axis.values[k % n];
        k /= n;
    }
    out
}

/// Checks the axes against the strategy and counts the combinations.
///
/// # Errors
/// [`SweepError`] for an unknown or repeated param, too many combinations, or an unknown
/// statistic.
pub fn plan(base: &Strategy, axes: &[Axis], maximize: &str) -> Result<usize, SweepError> {
    if !STAT_KEYS.contains(&maximize) {
        return Err(SweepError::UnknownStat(maximize.to_owned()));
    }
    for (i, a) in axes.iter().enumerate() {
        if axes[..i].iter().any(|b| b.name == a.name) {
            return Err(SweepError::Duplicate(a.name.clone()));
        }
        if !base.params.iter().any(|(n, _)| *n == a.name) {
            let names: Vec<&str> = base.params.iter().map(|(n, _)| n.as_str()).collect();
            return Err(SweepError::UnknownParam {
                name: a.name.clone(),
                known: if names.is_empty() {
                    String::new()
                } else {
                    format!(" (its params: {})", names.join(", "))
                },
            });
        }
    }
    let mut total: usize = 1;
    for a in axes {
        total = total
            .checked_mul(a.values.len())
            .filter(|t| *t <= MAX_COMBINATIONS)
            .ok_or(SweepError::TooMany(MAX_COMBINATIONS + 1))?;
    }
    Ok(total)
}

/// Runs every combination in parallel and ranks them by `maximize` (highest first). `progress`
/// is called once per finished combination, from any thread.
///
/// # Errors
/// [`SweepError`] from [`plan`], for a combination the strategy rejects, or from evaluation.
pub fn sweep(
    bars: &Bars,
    base: &Strategy,
    axes: Vec<Axis>,
    settings: Settings,
    maximize: &str,
    progress: &(dyn Fn() + Sync),
) -> Result<SweepResult, SweepError> {
    let shared = SharedCache::new();
    let run = |s: &Strategy| {
        let ev = Evaluator::for_strategy(bars, s).with_shared(&shared);
        let run = run_with(bars, s, settings, ev).map_err(|e| e.0)?;
        Ok(stats::compute(bars, &run))
    };
    let mut result = sweep_by(base, axes, maximize, progress, &run)?;
    result.indicators_computed = shared.len();
    Ok(result)
}

/// [`sweep`] with any way of running one combination to its statistics (a portfolio's, say):
/// `run` gets each combination's strategy, checked as a file is.
///
/// # Errors
/// [`SweepError`] from [`plan`], for a combination the strategy rejects, or from `run`.
pub fn sweep_by(
    base: &Strategy,
    axes: Vec<Axis>,
    maximize: &str,
    progress: &(dyn Fn() + Sync),
    run: &(dyn Fn(&Strategy) -> Result<Stats, String> + Sync),
) -> Result<SweepResult, SweepError> {
    let total = plan(base, &axes, maximize)?;
    let mut outcomes = (0..total)
        .into_par_iter()
        .map(|k| {
            let values = combination(&axes, k);
            let s = with_params(base, &axes, &values);
            // A combination gets the file's full validation (periods, ranges, types).
            Strategy::from_toml("sweep", &s.to_toml()).map_err(|e| SweepError::Invalid {
                combination: describe(&axes, &values),
                message: e.message,
            })?;
            let stats = run(&s).map_err(SweepError::Eval)?;
            let score = stats.get(maximize).flatten();
            progress();
            Ok(Outcome {
                grid: k,
                values,
                stats,
                score,
            })
        })
        .collect::<Result<Vec<_>, SweepError>>()?;
    // Stable: equal scores keep grid order.
    outcomes.sort_by(|a, b| match (a.score, b.score) {
        (Some(x), Some(y)) => y.total_cmp(&x),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => std::cmp::Ordering::Equal,
    });
    Ok(SweepResult {
        axes,
        maximize: maximize.to_owned(),
        outcomes,
        indicators_computed: 0,
    })
}
