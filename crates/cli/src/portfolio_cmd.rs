//! `botforge backtest` over several `--data` files: one strategy, one cash account
//! (DESIGN.md §5.3).

use std::io::Write;

use backtest::portfolio::{self, Symbol};
use backtest::report;
use strategy::Strategy;

use crate::backtest_cmd::{
    Options, SweepOn, UsageError, check_maximize, print_sweep, run_sweep, sweep_json,
    sweep_summary, write_file,
};
use crate::symbols::Spec;

/// Runs the command for `strategy` on the symbols `specs` names.
pub fn run_command(o: &Options, strategy: &Strategy, specs: &[Spec]) -> anyhow::Result<()> {
    check_maximize(o)?;
    if specs.is_empty() {
        return Err(UsageError(format!(
            "{}: a portfolio strategy ([portfolio]) runs on symbols: name them with --data (repeat it, NAME=path, or a quoted glob)",
            o.strategy.display()
        ))
        .into());
    }
    let mut symbols = Vec::with_capacity(specs.len());
    for spec in specs {
        let (bars, _) = backtest::load(&spec.path, &o.load)?;
        crate::backtest_cmd::check_timeframes(
            o,
            strategy,
            &spec.path.display().to_string(),
            &bars,
        )?;
        symbols.push(Symbol {
            name: spec.name.clone(),
            bars,
        });
    }
    let swept = if o.sweep.is_empty() {
        None
    } else {
        Some(run_sweep(o, strategy, SweepOn::Symbols(&symbols))?)
    };
    let best = swept.as_ref().and_then(|sw| sw.best_strategy(strategy));
    let strategy = best.as_ref().unwrap_or(strategy);
    let p = portfolio::run(&symbols, strategy, o.settings)?;
    let s = p.stats();
    let names: Vec<&str> = p
        .trade_symbols
        .iter()
        .map(|&k| p.names[k].as_str())
        .collect();
    if let Some(path) = &o.trades {
        write_file(path, &report::trades_csv(&p.bars, &p.run, &names))?;
    }
    if let Some(path) = &o.report {
        let summary = swept.as_ref().map(|sw| sweep_summary(sw, o.top));
        let page = report_page(
            strategy,
            (&symbols, &names),
            &p,
            (&s, o.settings),
            summary.as_ref(),
        );
        write_file(path, &page)?;
    }
    let mut out = std::io::stdout().lock();
    if o.json {
        let mut doc = report::Document::of_portfolio(&p, &s, o.settings.cash);
        doc.sweep = swept.as_ref().map(|sw| sweep_json(strategy, sw, o.top));
        report::write_json(&mut out, &doc)?;
        return Ok(());
    }
    if let Some(sw) = &swept {
        print_sweep(&mut out, strategy, sw, o.top)?;
    }
    writeln!(
        out,
        "portfolio: {} symbols, one account ({} bar times)\n",
        p.names.len(),
        p.bars.len()
    )?;
    write!(out, "{}", report::table(&s))?;
    let w = p.names.iter().map(String::len).max().unwrap_or(6).max(6);
    writeln!(
        out,
        "\n{:<w$}  {:>8}  {:>10}  {:>12}",
        "symbol", "trades", "return %", "exposure %"
    )?;
    for (name, x) in p.names.iter().zip(p.summaries(o.settings.cash)) {
        writeln!(
            out,
            "{name:<w$}  {:>8}  {:>10.2}  {:>12.2}",
            x.trades, x.return_pct, x.exposure_time_pct
        )?;
    }
    if !p.run.open_trades.is_empty() {
        let open: Vec<String> = p
            .run
            .open_trades
            .iter()
            .zip(&p.open_symbols)
            .map(|(t, &k)| format!("{} since {}", p.names[k], p.bars.time.at(t.entry_bar)))
            .collect();
        writeln!(
            out,
            "\n{} trade{} still open ({}): `--finalize` closes them at each symbol's last bar and counts them",
            open.len(),
            if open.len() == 1 { "" } else { "s" },
            open.join(", ")
        )?;
    }
    Ok(())
}

/// The HTML report of a portfolio: a price pane per symbol with its trades and indicators,
/// then the portfolio's equity, drawdown, statistics and trades (`names`: each one's symbol).
fn report_page(
    strategy: &Strategy,
    (symbols, names): (&[Symbol], &[&str]),
    p: &portfolio::PortfolioRun,
    (stats, settings): (&backtest::stats::Stats, backtest::engine::Settings),
    sweep: Option<&backtest::html::SweepSummary>,
) -> String {
    use backtest::html::{Page, html, plots};
    // An indicator that reads another symbol (`on`) cannot be drawn on one symbol's bars.
    let drawn: Vec<Vec<backtest::html::Plot>> = symbols
        .iter()
        .map(|s| plots(&s.bars, strategy).unwrap_or_default())
        .collect();
    let runs: Vec<backtest::engine::Run> = symbols
        .iter()
        .enumerate()
        .map(|(k, s)| p.symbol_run(k, &s.bars))
        .collect();
    let panes: Vec<Page<'_>> = symbols
        .iter()
        .zip(&runs)
        .zip(&drawn)
        .map(|((sym, run), plots)| Page {
            name: &sym.name,
            description: "",
            data_label: &sym.name,
            settings,
            bars: &sym.bars,
            run,
            stats,
            sweep: None,
            plots,
            symbols: &[],
            trade_symbols: &[],
        })
        .collect();
    let label = format!("{} symbols: {}", p.names.len(), p.names.join(", "));
    html(&Page {
        name: &strategy.name,
        description: &strategy.description,
        data_label: &label,
        settings,
        bars: &p.bars,
        run: &p.run,
        stats,
        sweep,
        plots: &[],
        symbols: &panes,
        trade_symbols: names,
    })
}
