//! `botforge eval`: expression values per bar, as CSV.

use std::path::Path;

use backtest::{Evaluator, LoadOptions, cell};

use crate::exit::UsageError;

/// Runs the command.
pub fn run(data: &Path, exprs: &[String], load: &LoadOptions) -> anyhow::Result<()> {
    let bars = backtest::load(data, load)?.0;
    let mut ev = Evaluator::new(&bars);
    let mut columns = Vec::new();
    for (i, text) in exprs.iter().enumerate() {
        let caret = |pos: usize, message: &str| {
            UsageError(format!(
                "expression {}: {message}\n    {text}\n    {}^",
                i + 1,
                " ".repeat(pos)
            ))
        };
        let e = strategy::parse(text).map_err(|s| caret(s.pos, &s.message))?;
        strategy::check(&e, &ev.scope()).map_err(|t| caret(t.span.start, &t.message))?;
        columns.push(ev.eval(&e)?);
    }
    let write = || -> Result<(), csv::Error> {
        let mut w = csv::Writer::from_writer(std::io::stdout().lock());
        let mut header = vec!["date".to_owned()];
        header.extend(exprs.iter().cloned());
        w.write_record(&header)?;
        for i in 0..bars.len() {
            let mut row = vec![bars.time.at(i).into_owned()];
            row.extend(columns.iter().map(|s| cell(s, i)));
            w.write_record(&row)?;
        }
        w.flush()?;
        Ok(())
    };
    match write() {
        // `botforge eval … | head`: the reader stopped reading, which is its right.
        Err(e) if matches!(e.kind(), csv::ErrorKind::Io(io) if io.kind() == std::io::ErrorKind::BrokenPipe) => {
            Ok(())
        }
        other => Ok(other?),
    }
}
