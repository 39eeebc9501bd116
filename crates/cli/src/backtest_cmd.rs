//! `botforge backtest`, and the backtest step of `generate --backtest`.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use backtest::engine::{Settings, run};
use backtest::{Bars, load_csv, parse_csv, report, stats};
use strategy::Strategy;

/// A mistake in the command's input (exit code 1).
pub use crate::eval::UsageError;

/// The command's options.
#[derive(Debug)]
pub struct Options {
    pub strategy: PathBuf,
    pub data: PathBuf,
    pub settings: Settings,
    pub json: bool,
    pub trades: Option<PathBuf>,
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

/// Runs a strategy and returns its JSON document and its table.
pub fn evaluate(
    strategy: &Strategy,
    bars: &Bars,
    settings: Settings,
) -> anyhow::Result<(serde_json::Value, String, String)> {
    let r = run(bars, strategy, settings)?;
    let s = stats::compute(bars, &r);
    Ok((
        report::to_json(bars, &r, &s),
        report::table(&s),
        report::trades_csv(bars, &r),
    ))
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

/// Runs the command.
pub fn run_command(o: &Options) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(&o.strategy)
        .map_err(|e| UsageError(format!("{}: cannot read: {e}", o.strategy.display())))?;
    let strategy = Strategy::from_toml(&o.strategy.display().to_string(), &text)?;
    let (_, bars) = data(Some(&o.data))?;
    let (json, table, trades) = evaluate(&strategy, &bars, o.settings)?;
    if let Some(path) = &o.trades {
        write_file(path, &trades)?;
    }
    let mut out = std::io::stdout().lock();
    if o.json {
        writeln!(out, "{json}")?;
    } else {
        write!(out, "{table}")?;
    }
    Ok(())
}
