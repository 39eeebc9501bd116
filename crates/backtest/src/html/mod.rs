//! `--report`: one self-contained, offline HTML file (DESIGN.md §6.2). The charts are drawn by
//! `TradingView`'s Lightweight Charts, embedded from the `webassets` crate, from the run's data
//! embedded as JSON; the page requests nothing.
//!
//! - `page`: what a report shows; `plots`: the strategy's series to draw;
//! - `chart`: the chart's data, written compactly (a million bars stay openable);
//! - `sweep`: the best parameters, the heatmap and the top results;
//! - `report.js` / `report.css`: the page's script and style (candles or a close line by the
//!   bars in view, a downsampled line with full detail on zoom, one time axis for every pane,
//!   hover details, the sortable trade list).

mod chart;
mod page;
mod plots;
mod sweep;

use std::fmt::Write;

use crate::report::rows;
use crate::stats::Stats;

pub use chart::decimals;
pub use page::{Heatmap, Page, Plot, SweepSummary};
pub use plots::plots;
pub use sweep::{common_decimals, nice_ticks};

/// The page's script (ours; the charting library is `webassets`').
const SCRIPT: &str = include_str!("report.js");
/// The page's style.
const STYLE: &str = include_str!("report.css");

/// Escapes text for HTML content and attributes.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn stats_table(out: &mut String, s: &Stats) {
    out.push_str(r#"<h2>Statistics</h2><table id="stats">"#);
    for (label, key, value) in rows(s) {
        let _ = write!(
            out,
            r#"<tr data-key="{key}"><th>{}</th><td>{}</td></tr>"#,
            escape(label),
            escape(&value)
        );
    }
    out.push_str("</table>");
}

fn header(out: &mut String, p: &Page<'_>) {
    let _ = write!(
        out,
        r#"<header><h1>{}</h1><p class="meta">{}</p><p class="meta">{} · {} bars · cash {} · commission {}{}</p></header>"#,
        escape(p.name),
        escape(p.description),
        escape(p.data_label),
        p.bars.len(),
        p.settings.cash,
        p.settings.commission,
        if p.settings.finalize {
            " · open trades closed at the end"
        } else {
            ""
        }
    );
}

/// The chart's box, its controls, and the statistics beside it.
fn charts(out: &mut String, p: &Page<'_>) {
    let _ = write!(
        out,
        r#"<section class="layout"><div class="main"><div class="controls"><label>Price <select id="style"><option value="auto">candles up to 2,000 bars in view</option><option value="candles">candles</option><option value="line">close line</option></select></label>{}<span id="view" class="note"></span></div><div id="chart" role="img" aria-label="price, indicators, equity and drawdown"><noscript>The charts need JavaScript; the statistics and the trades are below.</noscript></div><div id="tip" hidden></div></div><aside>"#,
        if p.symbols.len() > 1 {
            r#"<label>Symbol pane <select id="symbol"></select></label>"#
        } else {
            ""
        }
    );
    stats_table(out, p.stats);
    out.push_str("</aside></section>");
}

fn trades_section(out: &mut String, p: &Page<'_>) {
    let portfolio = !p.symbols.is_empty();
    let _ = write!(
        out,
        r#"<section><h2>Trades <span id="trade-count"></span></h2><p class="note">Click a column to sort, a row to show the trade on the chart.</p><div class="scroll" id="trades-box"><table id="trades"><thead><tr><th data-k="n" data-type="num">#</th>{}<th data-k="side">Side</th><th data-k="eb" data-type="num">Entry</th><th data-k="xb" data-type="num">Exit</th><th data-k="bars" data-type="num">Bars</th><th data-k="size" data-type="num">Size</th><th data-k="ep" data-type="num">Entry price</th><th data-k="xp" data-type="num">Exit price</th><th data-k="why">Exit by</th><th data-k="pnl" data-type="num">P&amp;L</th><th data-k="ret" data-type="num">Return [%]</th></tr></thead><tbody></tbody></table></div><p class="note" id="trades-note"></p></section>"#,
        if portfolio {
            r#"<th data-k="sym">Symbol</th>"#
        } else {
            ""
        }
    );
}

/// The whole report as one HTML document.
pub fn html(p: &Page<'_>) -> String {
    let mut out = String::with_capacity(
        webassets::LIGHTWEIGHT_CHARTS_JS.len() + 64 * 1024 + p.bars.len() * 56,
    );
    let _ = write!(
        out,
        r#"<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><meta name="generator" content="botforge {}"><title>{} — botforge backtest</title><style>{STYLE}</style></head><body><main>"#,
        env!("CARGO_PKG_VERSION"),
        escape(p.name)
    );
    header(&mut out, p);
    if let Some(s) = p.sweep {
        sweep::section(&mut out, s);
    }
    charts(&mut out, p);
    trades_section(&mut out, p);
    let _ = write!(
        out,
        r#"<footer class="note">Charts: {}.</footer></main><script type="application/json" id="report-data">"#,
        escape(webassets::LIGHTWEIGHT_CHARTS_NOTICE),
    );
    chart::write(&mut out, p);
    let _ = write!(
        out,
        "</script><script>{}</script><script>{SCRIPT}</script></body></html>",
        webassets::LIGHTWEIGHT_CHARTS_JS
    );
    out.push('\n');
    out
}
