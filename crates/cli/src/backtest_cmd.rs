//! `botforge backtest`, and the backtest step of `generate --backtest`.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use backtest::engine::{Settings, run};
use backtest::html::{Page, SweepSummary};
use backtest::sweep::{SweepResult, parse_axis, plan, sweep};
use backtest::{Bars, LoadOptions, load_csv, parse_csv, report, stats};
use strategy::Strategy;

/// A mistake in the command's input (exit code 1).
pub use crate::exit::UsageError;

/// The command's options.
#[derive(Debug)]
pub struct Options {
    pub strategy: PathBuf,
    pub settings: Settings,
    pub json: bool,
    pub trades: Option<PathBuf>,
    pub report: Option<PathBuf>,
    /// `NAME=FROM..TO:STEP` specs.
    pub sweep: Vec<String>,
    /// The statistic a sweep maximizes (`None`: `sharpe_ratio`); given without a sweep it is a
    /// mistake.
    pub maximize: Option<String>,
    pub top: usize,
    /// How to read the data file.
    pub load: LoadOptions,
}

/// The backtest settings from the command line, checked.
///
/// # Errors
/// [`UsageError`] naming the flag.
pub fn settings(
    cash: f64,
    commission: f64,
    finalize: bool,
    trade_from: Option<&str>,
) -> Result<Settings, UsageError> {
    if !(cash.is_finite() && cash > 0.0) {
        return Err(UsageError(format!(
            "--cash {cash}: must be a positive amount"
        )));
    }
    if !(commission.is_finite() && (0.0..1.0).contains(&commission)) {
        return Err(UsageError(format!(
            "--commission {commission}: must be a fraction from 0 to below 1, e.g. 0.002"
        )));
    }
    let trade_from = trade_from
        .map(|t| {
            backtest::parse_time(t).ok_or_else(|| {
                UsageError(format!(
                    "--trade-from {t}: not a time; write it as 2024-01-31, 2024-01-31 09:30 or 2024-01-31T09:30:00Z"
                ))
            })
        })
        .transpose()?;
    Ok(Settings {
        cash,
        commission,
        finalize,
        trade_from,
    })
}

/// What `--trades` and `--report` write besides the printed result.
#[derive(Debug, Clone, Copy)]
pub struct Files<'a> {
    pub trades: Option<&'a Path>,
    pub report: Option<&'a Path>,
}

/// Writes the trade list and the HTML report a run was asked for.
pub fn write_files(
    files: Files<'_>,
    strategy: &Strategy,
    (label, bars): (&str, &Bars),
    settings: Settings,
    (r, s): (&backtest::engine::Run, &stats::Stats),
    sweep: Option<&SweepSummary>,
) -> anyhow::Result<()> {
    if let Some(path) = files.trades {
        write_file(path, &report::trades_csv(bars, r, &[]))?;
    }
    if let Some(path) = files.report {
        let plots = backtest::html::plots(bars, strategy)?;
        let page = Page {
            plots: &plots,
            name: &strategy.name,
            description: &strategy.description,
            data_label: label,
            settings,
            bars,
            run: r,
            stats: s,
            sweep,
            symbols: &[],
            trade_symbols: &[],
        };
        write_file(path, &backtest::html::html(&page))?;
    }
    Ok(())
}

/// Loads data: a file (read as detected, with `opts`), or the bundled sample when `None`.
pub fn data_with(path: Option<&Path>, opts: &LoadOptions) -> anyhow::Result<(String, Bars)> {
    match path {
        Some(p) => Ok((p.display().to_string(), backtest::load(p, opts)?.0)),
        None => data(None),
    }
}

/// Loads data: a file, or the bundled sample when `None`.
pub fn data(path: Option<&Path>) -> anyhow::Result<(String, Bars)> {
    match path {
        Some(p) => Ok((p.display().to_string(), load_csv(p)?)),
        None => Ok((
            "sample GOOG.csv".to_owned(),
            parse_csv("sample GOOG.csv", report::SAMPLE_CSV)?,
        )),
    }
}

/// Writes a file through a temporary one, so it is never half-written.
pub fn write_file(path: &Path, text: &str) -> anyhow::Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("out"),
        std::process::id()
    ));
    std::fs::write(&tmp, text).with_context(|| format!("{}: cannot write", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("{}: cannot write", path.display()))
}

/// What a sweep runs each combination on.
#[derive(Clone, Copy)]
pub enum SweepOn<'a> {
    /// One data file.
    Bars(&'a Bars),
    /// A portfolio's symbols.
    Symbols(&'a [backtest::portfolio::Symbol]),
}

/// Runs `--sweep` with a progress bar on stderr (drawn only on a terminal).
pub fn run_sweep(o: &Options, strategy: &Strategy, on: SweepOn<'_>) -> anyhow::Result<SweepResult> {
    let axes = o
        .sweep
        .iter()
        .map(|s| parse_axis(s))
        .collect::<Result<Vec<_>, _>>()?;
    let maximize = o.maximize.as_deref().unwrap_or(DEFAULT_MAXIMIZE);
    let total = plan(strategy, &axes, maximize)?;
    let bar = indicatif::ProgressBar::with_draw_target(
        Some(total as u64),
        indicatif::ProgressDrawTarget::stderr(),
    );
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{prefix} [{bar:40}] {pos}/{len} combinations, {per_sec}, eta {eta}",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_prefix("sweep");
    let tick = || bar.inc(1);
    let result = match on {
        SweepOn::Bars(bars) => sweep(bars, strategy, axes, o.settings, maximize, &tick),
        SweepOn::Symbols(symbols) => {
            let run = |s: &Strategy| {
                backtest::portfolio::run(symbols, s, o.settings)
                    .map(|p| p.stats())
                    .map_err(|e| e.to_string())
            };
            backtest::sweep::sweep_by(strategy, axes, maximize, &tick, &run)
        }
    };
    bar.finish_and_clear();
    Ok(result?)
}

/// A sweep's part of the report: its best `top` rows and, for two params, the heatmap.
pub fn sweep_summary(sw: &SweepResult, top: usize) -> SweepSummary {
    SweepSummary {
        params: sw.axes.iter().map(|a| a.name.clone()).collect(),
        stat: sw.maximize.clone(),
        combinations: sw.outcomes.len(),
        top: sw
            .outcomes
            .iter()
            .take(top.max(1))
            .map(|x| (x.values.clone(), x.score))
            .collect(),
        heatmap: sw.heatmap(),
    }
}

/// A sweep's result as text: the combinations' table and the winner's params.
///
/// # Errors
/// What writing to `out` returns.
pub fn print_sweep(
    out: &mut impl Write,
    strategy: &Strategy,
    sw: &SweepResult,
    top: usize,
) -> std::io::Result<()> {
    writeln!(
        out,
        "sweep: {} combinations by {} (best first)\n",
        sw.outcomes.len(),
        sw.maximize
    )?;
    write!(out, "{}", sweep_table(sw, top))?;
    let best: Vec<String> = strategy
        .params
        .iter()
        .filter(|(n, _)| sw.axes.iter().any(|a| a.name == *n))
        .map(|(n, v)| format!("{n}={v}"))
        .collect();
    writeln!(out, "\nbest: {}\n", best.join(", "))
}

/// The sweep's top rows as an aligned table.
fn sweep_table(r: &SweepResult, top: usize) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = write!(out, "{:>4}", "#");
    for a in &r.axes {
        let _ = write!(out, "  {:>10}", a.name);
    }
    let _ = writeln!(
        out,
        "  {:>14}  {:>10}  {:>8}  {:>10}",
        r.maximize, "return_pct", "trades", "max_dd_pct"
    );
    for (i, o) in r.outcomes.iter().take(top).enumerate() {
        let _ = write!(out, "{:>4}", i + 1);
        for v in &o.values {
            let _ = write!(out, "  {v:>10}");
        }
        let score = o
            .score
            .map_or_else(|| "-".to_owned(), |v| format!("{v:.4}"));
        let _ = writeln!(
            out,
            "  {score:>14}  {:>10.2}  {:>8}  {:>10.2}",
            o.stats.return_pct, o.stats.trades, o.stats.max_drawdown_pct
        );
    }
    out
}

/// A sweep's part of `--json`: the winner's `params` and the `sweep` table, best first.
pub fn sweep_json(
    strategy: &Strategy,
    sw: &SweepResult,
    top: usize,
) -> (serde_json::Value, serde_json::Value) {
    let params = serde_json::Value::Object(
        strategy
            .params
            .iter()
            .map(|(n, v)| (n.clone(), serde_json::json!(v)))
            .collect(),
    );
    let table = serde_json::json!({
        "params": sw.axes.iter().map(|a| a.name.clone()).collect::<Vec<_>>(),
        "maximize": sw.maximize,
        "combinations": sw.outcomes.len(),
        "indicators_computed": sw.indicators_computed,
        "results": sw.outcomes.iter().take(top).map(|x| {
            let mut row = serde_json::json!({
                "params": sw.axes.iter().zip(&x.values)
                    .map(|(a, v)| (a.name.clone(), serde_json::json!(v)))
                    .collect::<serde_json::Map<_, _>>(),
                "return_pct": x.stats.return_pct,
                "trades": x.stats.trades,
                "max_drawdown_pct": x.stats.max_drawdown_pct,
            });
            row[sw.maximize.as_str()] = serde_json::json!(x.score);
            row
        }).collect::<Vec<_>>(),
    });
    (params, table)
}

/// The statistic a sweep maximizes when `--maximize` is not given.
pub const DEFAULT_MAXIMIZE: &str = "sharpe_ratio";

/// `--maximize` says what a sweep maximizes: without `--sweep` it is a mistake.
///
/// # Errors
/// [`UsageError`] naming both flags.
pub fn check_maximize(o: &Options) -> Result<(), UsageError> {
    match &o.maximize {
        Some(stat) if o.sweep.is_empty() => Err(UsageError(format!(
            "--maximize {stat}: chooses what a parameter sweep maximizes, and there is no sweep; add --sweep NAME=FROM..TO:STEP (a param of the strategy), or drop --maximize"
        ))),
        _ => Ok(()),
    }
}

/// The strategy file `path`, read and checked.
///
/// # Errors
/// [`UsageError`] when it cannot be read; the strategy's own errors when it does not validate.
pub fn read_strategy(path: &Path) -> anyhow::Result<Strategy> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| UsageError(format!("{}: cannot read: {e}", path.display())))?;
    Ok(Strategy::from_toml(&path.display().to_string(), &text)?)
}

/// Every `tf()` of the strategy coarser than the bars of `label` (DESIGN.md §5.4); a warning on
/// stderr when the strategy's `timeframe` is not the data's bar spacing.
///
/// # Errors
/// A [`UsageError`] naming the strategy file, the field, the rule and the data's spacing.
pub fn check_timeframes(
    o: &Options,
    strategy: &Strategy,
    label: &str,
    bars: &Bars,
) -> Result<(), UsageError> {
    if let Some(t) = strategy.timeframe
        && let Some(spacing) = bars.spacing_ms()
        && spacing != t.ms()
    {
        eprintln!(
            "warning: {}: timeframe = \"{t}\" (bars {} apart), but {label} has bars {} apart: periods count the data's bars, so the rules do not mean what they were written for",
            o.strategy.display(),
            backtest::span_text(t.ms()),
            backtest::span_text(spacing)
        );
    }
    backtest::check_timeframes(bars, strategy).map_err(|e| {
        UsageError(format!(
            "{}: {e} (the bars of {label})",
            o.strategy.display()
        ))
    })
}

/// Runs the command for `base` on one data file (`None`: the bundled sample).
pub fn run_command(o: &Options, base: Strategy, data: Option<&Path>) -> anyhow::Result<()> {
    check_maximize(o)?;
    if data.is_none() {
        eprintln!(
            "no --data: backtesting on the bundled sample GOOG.csv (Alphabet daily, 2004-08-19 to 2013-03-01)"
        );
    }
    let (label, bars) = data_with(data, &o.load)?;
    check_timeframes(o, &base, &label, &bars)?;
    let swept = if o.sweep.is_empty() {
        None
    } else {
        Some(run_sweep(o, &base, SweepOn::Bars(&bars))?)
    };
    let strategy = match &swept {
        Some(r) => r.best_strategy(&base).unwrap_or_else(|| base.clone()),
        None => base,
    };
    let r = run(&bars, &strategy, o.settings)?;
    let s = stats::compute(&bars, &r);
    let summary = swept.as_ref().map(|sw| sweep_summary(sw, o.top));
    let files = Files {
        trades: o.trades.as_deref(),
        report: o.report.as_deref(),
    };
    write_files(
        files,
        &strategy,
        (&label, &bars),
        o.settings,
        (&r, &s),
        summary.as_ref(),
    )?;
    let mut out = std::io::stdout().lock();
    if o.json {
        let mut doc = report::Document::new(&bars, &r, &s);
        doc.sweep = swept.as_ref().map(|sw| sweep_json(&strategy, sw, o.top));
        report::write_json(&mut out, &doc)?;
    } else {
        if let Some(sw) = &swept {
            print_sweep(&mut out, &strategy, sw, o.top)?;
        }
        write!(out, "{}", report::table(&s))?;
        if let Some(note) = report::open_note(&bars, &r) {
            writeln!(out, "\n{note}")?;
        }
    }
    Ok(())
}
