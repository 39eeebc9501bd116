//! What a report shows: the run, its data and statistics, the strategy's series, a sweep.

use crate::data::Bars;
use crate::engine::{Run, Settings};
use crate::stats::Stats;

/// A heatmap of one statistic over two swept params.
#[derive(Debug, Clone, PartialEq)]
pub struct Heatmap {
    /// The param along x.
    pub x_name: String,
    /// Its values.
    pub xs: Vec<f64>,
    /// The param along y.
    pub y_name: String,
    /// Its values.
    pub ys: Vec<f64>,
    /// The statistic shown.
    pub stat: String,
    /// `values[y * xs.len() + x]`; `None` where undefined.
    pub values: Vec<Option<f64>>,
}

/// A sweep's top results for the report: param names, then rows of (param values, statistic).
#[derive(Debug, Clone, PartialEq)]
pub struct SweepSummary {
    /// Swept params.
    pub params: Vec<String>,
    /// The statistic maximized.
    pub stat: String,
    /// Combinations tried.
    pub combinations: usize,
    /// Best first: param values and the statistic.
    pub top: Vec<(Vec<f64>, Option<f64>)>,
    /// Two-parameter sweeps: the whole grid.
    pub heatmap: Option<Heatmap>,
}

/// What the report shows.
#[derive(Debug)]
pub struct Page<'a> {
    /// Strategy name.
    pub name: &'a str,
    /// Its description.
    pub description: &'a str,
    /// Where the data came from.
    pub data_label: &'a str,
    /// Cash, commission, finalize.
    pub settings: Settings,
    /// The data.
    pub bars: &'a Bars,
    /// The run shown.
    pub run: &'a Run,
    /// Its statistics.
    pub stats: &'a Stats,
    /// The sweep that chose the run's params, if any.
    pub sweep: Option<&'a SweepSummary>,
    /// The strategy's indicators to draw (see [`super::plots`]).
    pub plots: &'a [Plot],
    /// A portfolio (DESIGN.md §5.3): a page per symbol (its bars, its trades at its own bar
    /// indices, its indicators; named by the symbol) drawn as its own price pane instead of
    /// this page's price, and each trade's symbol for the trade list. Empty otherwise.
    pub symbols: &'a [Page<'a>],
    /// The symbol of each of `run`'s closed trades (empty: no column).
    pub trade_symbols: &'a [&'a str],
}

/// An indicator series for the report.
#[derive(Debug, Clone, PartialEq)]
pub struct Plot {
    /// Its name (the `[indicators]` name, or the call's text).
    pub name: String,
    /// One value per bar (NaN where missing).
    pub values: Vec<f64>,
    /// Drawn over the price chart (price scale) rather than in a panel of its own.
    pub overlay: bool,
}
