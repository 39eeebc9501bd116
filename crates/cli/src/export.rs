//! `botforge export`: the backtesting.py module of any strategy file, hand-edited ones included.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use strategy::Strategy;

use crate::exit::UsageError;

/// Reads, validates and exports `strategy` to `out` (default: beside it, as `.py`), and says
/// where it went.
pub fn run(strategy: &Path, out: Option<PathBuf>, force: bool) -> anyhow::Result<()> {
    let path = write(strategy, out, force)?;
    println!(
        "wrote {} (backtesting.py: python {} DATA.csv)",
        path.display(),
        path.display()
    );
    Ok(())
}

fn write(strategy: &Path, out: Option<PathBuf>, force: bool) -> anyhow::Result<PathBuf> {
    let text = std::fs::read_to_string(strategy)
        .map_err(|e| UsageError(format!("{}: cannot read: {e}", strategy.display())))?;
    let s = Strategy::from_toml(&strategy.display().to_string(), &text)?;
    if s.is_portfolio() {
        return Err(UsageError(format!(
            "{}: a portfolio strategy ([portfolio] or on()) has no backtesting.py form: backtesting.py runs one symbol with its own cash; export a copy without them",
            strategy.display()
        ))
        .into());
    }
    let out = out.unwrap_or_else(|| strategy.with_extension("py"));
    if out == strategy {
        return Err(UsageError(format!(
            "--out {}: that is the strategy file itself; name a .py file",
            out.display()
        ))
        .into());
    }
    match generator::write_file_atomic(&out, &strategy::to_python(&s), force) {
        Err(generator::GenerateError::Exists { path }) => Err(UsageError(format!(
            "{} already exists: choose another --out, or pass --force to replace it",
            path.display()
        ))
        .into()),
        other => other.with_context(|| format!("exporting {}", strategy.display())),
    }
}
