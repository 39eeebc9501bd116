//! `--report`: one self-contained HTML file (inline CSS and SVG, no scripts, nothing fetched):
//! price with trade markers, the equity curve, the drawdown, the statistics table, the trades,
//! and for a two-parameter sweep a heatmap of the optimized statistic.
//!
//! Long series are thinned to the min and max of each pixel column, so a million bars make a
//! file of a few hundred kilobytes that still shows every spike.

use std::fmt::Write;

use crate::data::Bars;
use crate::engine::{ExitReason, Run, Settings};
use crate::report::rows;
use crate::stats::Stats;

/// Chart width in SVG units.
const W: f64 = 1100.0;
/// Left margin for the y-axis labels.
const LEFT: f64 = 70.0;
/// Right margin.
const RIGHT: f64 = 10.0;
/// Pixel columns of the plot area (`W - LEFT - RIGHT`): the thinning's buckets.
const COLUMNS: usize = 1020;
/// Trade markers drawn at most (a note says when more were left out).
const MAX_MARKERS: usize = 2000;
/// Trades listed in the table at most.
const MAX_ROWS: usize = 500;

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
    /// The strategy's indicators to draw (see [`plots`]).
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

/// Most indicators drawn, so a report stays readable.
const MAX_PLOTS: usize = 8;

/// The numeric series a strategy computes — its `[indicators]`, then the function calls written
/// straight into its rules — each marked for the price chart or a panel of its own by its
/// scale. At most eight.
///
/// # Errors
/// [`crate::EvalError`] if an expression cannot be evaluated.
pub fn plots(bars: &Bars, strategy: &strategy::Strategy) -> Result<Vec<Plot>, crate::EvalError> {
    use strategy::{Expr, ExprKind, Scale};
    fn calls<'e>(e: &'e Expr, out: &mut Vec<&'e Expr>) {
        match &e.kind {
            ExprKind::Call { func, args, .. } => {
                if func.is_boolean() {
                    for a in args {
                        calls(a, out);
                    }
                } else {
                    out.push(e);
                }
            }
            ExprKind::Tf(..) => out.push(e),
            ExprKind::Neg(x) | ExprKind::Not(x) | ExprKind::Back(x, _) | ExprKind::AtEntry(x) => {
                calls(x, out);
            }
            ExprKind::Binary(_, l, r) => {
                calls(l, out);
                calls(r, out);
            }
            // Another symbol's series (`on`) is not drawn over this one's prices.
            ExprKind::Num(_) | ExprKind::Name(_) | ExprKind::On(..) => {}
        }
    }
    let mut ev = crate::Evaluator::for_strategy(bars, strategy);
    let mut candidates: Vec<(String, &Expr)> = strategy
        .indicators
        .iter()
        .map(|(n, e)| (n.clone(), e))
        .collect();
    let mut inline = Vec::new();
    for (_, rule) in strategy.rules.iter() {
        calls(rule, &mut inline);
    }
    for e in inline {
        let text = e.to_string();
        if !candidates.iter().any(|(_, c)| c.to_string() == text) {
            candidates.push((text, e));
        }
    }
    let mut out = Vec::new();
    for (name, e) in candidates {
        if out.len() == MAX_PLOTS || strategy::uses_position(e).is_some() {
            continue;
        }
        if let crate::Series::Num(v) = ev.eval(e)? {
            let overlay = strategy::scale(e, &strategy.indicators) == Scale::Price;
            out.push(Plot {
                name,
                values: v.to_vec(),
                overlay,
            });
        }
    }
    Ok(out)
}

/// Line colours for indicators, in order.
const PALETTE: [&str; 8] = [
    "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f", "#1f77b4",
];

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

/// A short number for axis labels.
fn label(v: f64) -> String {
    let a = v.abs();
    if a >= 1e6 {
        format!("{:.2}M", v / 1e6)
    } else if a >= 1000.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.4}")
    }
}

/// Maps bar indices and values to chart coordinates.
struct Frame {
    n: usize,
    lo: f64,
    hi: f64,
    top: f64,
    height: f64,
}

impl Frame {
    fn new(n: usize, values: impl Iterator<Item = f64>, top: f64, height: f64) -> Self {
        let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
        for v in values.filter(|v| v.is_finite()) {
            lo = lo.min(v);
            hi = hi.max(v);
        }
        if !lo.is_finite() {
            (lo, hi) = (0.0, 1.0);
        }
        if hi - lo <= f64::EPSILON * hi.abs().max(1.0) {
            (lo, hi) = (lo - 1.0, hi + 1.0);
        }
        let pad = (hi - lo) * 0.04;
        Self {
            n,
            lo: lo - pad,
            hi: hi + pad,
            top,
            height,
        }
    }

    fn x(&self, i: usize) -> f64 {
        let span = self.n.saturating_sub(1).max(1) as f64;
        LEFT + i as f64 / span * (W - LEFT - RIGHT)
    }

    fn y(&self, v: f64) -> f64 {
        self.top + (self.hi - v) / (self.hi - self.lo) * self.height
    }

    /// Grid lines and y labels.
    fn axes(&self, out: &mut String, bars: &Bars) {
        for k in 0..=4 {
            let v = self.lo + (self.hi - self.lo) * f64::from(k) / 4.0;
            let y = self.y(v);
            let _ = write!(
                out,
                r#"<line class="grid" x1="{LEFT}" x2="{:.1}" y1="{y:.1}" y2="{y:.1}"/><text class="ylabel" x="{:.1}" y="{:.1}">{}</text>"#,
                W - RIGHT,
                LEFT - 6.0,
                y + 4.0,
                label(v)
            );
        }
        if self.n > 0 {
            for k in 0..=4 {
                let i = (self.n - 1) * k / 4;
                let anchor = match k {
                    0 => "start",
                    4 => "end",
                    _ => "middle",
                };
                let _ = write!(
                    out,
                    r#"<text class="xlabel" text-anchor="{anchor}" x="{:.1}" y="{:.1}">{}</text>"#,
                    self.x(i),
                    self.top + self.height + 16.0,
                    escape(bars.time.at(i).get(..10).unwrap_or_default())
                );
            }
        }
    }

    /// A polyline through `values`, thinned to the min and max of each pixel column.
    fn line(&self, values: &[f64]) -> String {
        let columns = COLUMNS;
        let mut pts = String::new();
        let mut push = |i: usize, v: f64| {
            let _ = write!(pts, "{:.1},{:.1} ", self.x(i), self.y(v));
        };
        if values.len() <= columns * 2 {
            for (i, v) in values.iter().enumerate().filter(|(_, v)| v.is_finite()) {
                push(i, *v);
            }
        } else {
            let per = values.len().div_ceil(columns);
            for start in (0..values.len()).step_by(per) {
                let end = (start + per).min(values.len());
                let mut lo: Option<(usize, f64)> = None;
                let mut hi: Option<(usize, f64)> = None;
                for (i, v) in values[start..end].iter().enumerate() {
                    if !v.is_finite() {
                        continue;
                    }
                    if lo.is_none_or(|(_, l)| *v < l) {
                        lo = Some((start + i, *v));
                    }
                    if hi.is_none_or(|(_, h)| *v > h) {
                        hi = Some((start + i, *v));
                    }
                }
                match (lo, hi) {
                    (Some(a), Some(b)) if a.0 <= b.0 => {
                        push(a.0, a.1);
                        push(b.0, b.1);
                    }
                    (Some(a), Some(b)) => {
                        push(b.0, b.1);
                        push(a.0, a.1);
                    }
                    _ => {}
                }
            }
        }
        pts.trim_end().to_owned()
    }
}

fn panel_open(out: &mut String, id: &str, title: &str, height: f64) {
    let _ = write!(
        out,
        r#"<h2>{}</h2><svg id="{id}" viewBox="0 0 {W} {:.0}" width="100%" role="img" aria-label="{}">"#,
        escape(title),
        height + 30.0,
        escape(title)
    );
}

/// Price-scale indicators over the price, each with its colour and name.
fn overlays(out: &mut String, p: &Page<'_>, f: &Frame) {
    for (k, x) in p.plots.iter().filter(|x| x.overlay).enumerate() {
        let colour = PALETTE[k % PALETTE.len()];
        let _ = write!(
            out,
            r#"<polyline class="overlay" data-name="{}" style="stroke:{colour}" points="{}"><title>{}</title></polyline><text class="legend" x="{:.1}" y="{:.1}" style="fill:{colour}">{}</text>"#,
            escape(&x.name),
            f.line(&x.values),
            escape(&x.name),
            LEFT + 8.0,
            24.0 + 14.0 * k as f64,
            escape(&x.name)
        );
    }
}

fn price_chart(out: &mut String, p: &Page<'_>, (id, title): (&str, &str)) {
    let bars = p.bars;
    let f = Frame::new(
        bars.len(),
        bars.close.iter().copied().chain(
            p.run
                .trades
                .iter()
                .chain(&p.run.open_trades)
                .flat_map(|t| [Some(t.entry_price), t.exit_price, t.sl, t.tp])
                .flatten()
                .chain(
                    p.plots
                        .iter()
                        .filter(|x| x.overlay)
                        .flat_map(|x| x.values.iter().copied()),
                ),
        ),
        10.0,
        320.0,
    );
    panel_open(out, id, title, 330.0);
    f.axes(out, bars);
    let _ = write!(
        out,
        r#"<polyline class="close" points="{}"/>"#,
        f.line(&bars.close)
    );
    overlays(out, p, &f);
    let all: Vec<_> = p.run.trades.iter().chain(&p.run.open_trades).collect();
    // Each trade's stop and target over its life, stepping where a trailing stop moved or a
    // stepping target (roi) or a level reading position state changed.
    let last = bars.len().saturating_sub(1);
    for t in all.iter().take(MAX_MARKERS) {
        let end = t.exit_bar.unwrap_or(last);
        for (cls, stop, what) in [
            ("level stop", true, "stop"),
            ("level target", false, "target"),
        ] {
            let steps: Vec<_> = t.steps.iter().filter(|s| s.stop == stop).collect();
            let Some(first) = steps.first() else {
                continue;
            };
            let x0 = f.x(first.bar.max(t.entry_bar));
            let mut d = format!("M{x0:.1},{:.1}", f.y(first.price));
            for s in &steps[1..] {
                let _ = write!(d, " H{:.1} V{:.1}", f.x(s.bar.min(end)), f.y(s.price));
            }
            let _ = write!(d, " H{:.1}", f.x(end).max(x0 + 2.0));
            let lastp = steps.last().map_or(first.price, |s| s.price);
            let _ = write!(
                out,
                r#"<path class="{cls}" data-steps="{}" d="{d}"><title>{what}: {} level{}, from {:.4} to {lastp:.4}</title></path>"#,
                steps.len(),
                steps.len(),
                if steps.len() == 1 { "" } else { "s" },
                first.price,
            );
        }
    }
    for t in all.iter().take(MAX_MARKERS) {
        let (x, y) = (f.x(t.entry_bar), f.y(t.entry_price));
        let (cls, path) = if t.size > 0.0 {
            ("entry long", format!("M{x:.1},{:.1} l-5,9 h10 z", y - 1.0))
        } else {
            (
                "entry short",
                format!("M{x:.1},{:.1} l-5,-9 h10 z", y + 1.0),
            )
        };
        let _ = write!(
            out,
            r#"<path class="{cls}" d="{path}"><title>{} {} @ {:.4}</title></path>"#,
            if t.size > 0.0 { "buy" } else { "sell short" },
            escape(&bars.time.at(t.entry_bar)),
            t.entry_price
        );
        if let (Some(bar), Some(price)) = (t.exit_bar, t.exit_price) {
            let cls = if t.pnl() >= 0.0 {
                "exit win"
            } else {
                "exit loss"
            };
            let reason = t.exit_reason.map_or("signal", ExitReason::name);
            let _ = write!(
                out,
                r#"<circle class="{cls} by-{reason}" cx="{:.1}" cy="{:.1}" r="3.5"><title>exit ({reason}) {} @ {price:.4}, P&amp;L {:.2}</title></circle>"#,
                f.x(bar),
                f.y(price),
                escape(&bars.time.at(bar)),
                t.pnl()
            );
        }
    }
    out.push_str("</svg>");
    if all.len() > MAX_MARKERS {
        let _ = write!(
            out,
            r#"<p class="note">Markers for the first {MAX_MARKERS} of {} trades.</p>"#,
            all.len()
        );
    }
}

fn equity_charts(out: &mut String, p: &Page<'_>) {
    let e = &p.run.equity;
    let f = Frame::new(e.len(), e.iter().copied(), 10.0, 200.0);
    panel_open(out, "equity", "Equity", 210.0);
    f.axes(out, p.bars);
    let y0 = f.y(p.settings.cash);
    let _ = write!(
        out,
        r#"<line class="base" x1="{LEFT}" x2="{:.1}" y1="{y0:.1}" y2="{y0:.1}"/><polyline class="equity" points="{}"/></svg>"#,
        W - RIGHT,
        f.line(e)
    );

    let mut peak = f64::NEG_INFINITY;
    let dd: Vec<f64> = e
        .iter()
        .map(|v| {
            peak = peak.max(*v);
            if peak > 0.0 {
                (v / peak - 1.0) * 100.0
            } else {
                0.0
            }
        })
        .collect();
    let f = Frame::new(dd.len(), dd.iter().copied().chain([0.0]), 10.0, 140.0);
    panel_open(out, "drawdown", "Drawdown [%]", 150.0);
    f.axes(out, p.bars);
    let line = f.line(&dd);
    let zero = f.y(0.0);
    let _ = write!(
        out,
        r#"<polygon class="drawdown" points="{LEFT:.1},{zero:.1} {line} {:.1},{zero:.1}"/></svg>"#,
        f.x(dd.len().saturating_sub(1))
    );
}

/// A panel for each indicator with a scale of its own (oscillators, volumes, ratios).
fn indicator_panels(out: &mut String, p: &Page<'_>, prefix: &str) {
    for (k, x) in p.plots.iter().filter(|x| !x.overlay).enumerate() {
        let f = Frame::new(p.bars.len(), x.values.iter().copied(), 10.0, 110.0);
        panel_open(out, &format!("{prefix}ind-{k}"), &x.name, 120.0);
        f.axes(out, p.bars);
        let _ = write!(
            out,
            r#"<polyline class="indicator" data-name="{}" style="stroke:{}" points="{}"/>"#,
            escape(&x.name),
            PALETTE[k % PALETTE.len()],
            f.line(&x.values)
        );
        out.push_str("</svg>");
    }
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

fn trades_table(out: &mut String, p: &Page<'_>) {
    let trades = &p.run.trades;
    let _ = write!(
        out,
        r#"<h2>Trades ({})</h2><table id="trades"><tr><th>#</th>{}<th>Entry</th><th>Exit</th><th>Size</th><th>Entry price</th><th>Exit price</th><th>Exit by</th><th>P&amp;L</th><th>Return [%]</th></tr>"#,
        trades.len(),
        if p.trade_symbols.is_empty() {
            ""
        } else {
            "<th>Symbol</th>"
        }
    );
    for (i, t) in trades.iter().enumerate().take(MAX_ROWS) {
        let symbol = p
            .trade_symbols
            .get(i)
            .map(|s| format!("<td>{}</td>", escape(s)))
            .unwrap_or_default();
        let (bar, price) = (
            t.exit_bar.unwrap_or(t.entry_bar),
            t.exit_price.unwrap_or(t.entry_price),
        );
        let pnl = t.pnl();
        let _ = write!(
            out,
            r#"<tr class="{}"><td>{}</td>{symbol}<td>{}</td><td>{}</td><td>{}</td><td>{:.4}</td><td>{price:.4}</td><td class="reason">{}</td><td>{pnl:.2}</td><td>{:.2}</td></tr>"#,
            if pnl >= 0.0 { "win" } else { "loss" },
            i + 1,
            escape(&p.bars.time.at(t.entry_bar)),
            escape(&p.bars.time.at(bar)),
            t.size,
            t.entry_price,
            t.exit_reason.map_or("signal", ExitReason::name),
            t.return_frac() * 100.0
        );
    }
    out.push_str("</table>");
    if trades.len() > MAX_ROWS {
        let _ = write!(
            out,
            r#"<p class="note">The first {MAX_ROWS} trades; `--trades FILE.csv` writes them all.</p>"#
        );
    }
}

/// Blue (low) to yellow (high) through green: readable without colour vision too.
fn color(t: f64) -> String {
    let stops = [
        (68.0, 1.0, 84.0),
        (59.0, 82.0, 139.0),
        (33.0, 145.0, 140.0),
        (94.0, 201.0, 98.0),
        (253.0, 231.0, 37.0),
    ];
    let t = t.clamp(0.0, 1.0) * 4.0;
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "t is in 0..=4"
    )]
    let k = (t.floor() as usize).min(3);
    let f = t - k as f64;
    let (a, b) = (stops[k], stops[k + 1]);
    format!(
        "rgb({:.0},{:.0},{:.0})",
        a.0 + (b.0 - a.0) * f,
        a.1 + (b.1 - a.1) * f,
        a.2 + (b.2 - a.2) * f
    )
}

fn heatmap(out: &mut String, h: &Heatmap) {
    let (nx, ny) = (h.xs.len(), h.ys.len());
    if nx == 0 || ny == 0 {
        return;
    }
    let cell_w = ((W - LEFT - RIGHT) / nx as f64).min(60.0);
    let cell_h = (420.0 / ny as f64).clamp(6.0, 30.0);
    let height = cell_h * ny as f64 + 40.0;
    let finite: Vec<f64> = h
        .values
        .iter()
        .flatten()
        .copied()
        .filter(|v| v.is_finite())
        .collect();
    let lo = finite.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = finite.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let _ = write!(
        out,
        r#"<h2>Sweep: {} by {} and {}</h2><svg id="heatmap" viewBox="0 0 {W} {height:.0}" width="100%" role="img" aria-label="heatmap">"#,
        escape(&h.stat),
        escape(&h.x_name),
        escape(&h.y_name)
    );
    let label_every_x = nx.div_ceil(20).max(1);
    let label_every_y = ny.div_ceil(20).max(1);
    for (yi, y) in h.ys.iter().enumerate() {
        let top = 10.0 + (ny - 1 - yi) as f64 * cell_h;
        if yi % label_every_y == 0 {
            let _ = write!(
                out,
                r#"<text class="ylabel" x="{:.1}" y="{:.1}">{}</text>"#,
                LEFT - 6.0,
                top + cell_h / 2.0 + 4.0,
                label(*y)
            );
        }
        for (xi, x) in h.xs.iter().enumerate() {
            let v = h.values.get(yi * nx + xi).copied().flatten();
            let fill = match v {
                Some(v) if v.is_finite() && hi > lo => color((v - lo) / (hi - lo)),
                Some(v) if v.is_finite() => color(0.5),
                _ => "#ddd".to_owned(),
            };
            let shown = v.map_or_else(|| "undefined".to_owned(), |v| format!("{v:.4}"));
            let _ = write!(
                out,
                r#"<rect class="cell" x="{:.1}" y="{top:.1}" width="{:.1}" height="{:.1}" fill="{fill}"><title>{}={}, {}={}: {}</title></rect>"#,
                LEFT + xi as f64 * cell_w,
                cell_w - 1.0,
                cell_h - 1.0,
                escape(&h.x_name),
                label(*x),
                escape(&h.y_name),
                label(*y),
                shown
            );
        }
    }
    for (xi, x) in h.xs.iter().enumerate().step_by(label_every_x) {
        let _ = write!(
            out,
            r#"<text class="xlabel" text-anchor="middle" x="{:.1}" y="{:.1}">{}</text>"#,
            LEFT + (xi as f64 + 0.5) * cell_w,
            10.0 + ny as f64 * cell_h + 16.0,
            label(*x)
        );
    }
    out.push_str("</svg>");
    if lo.is_finite() {
        let _ = write!(
            out,
            r#"<p class="note">{}: dark blue {} … yellow {}; grey where undefined. Rows: {}; columns: {}.</p>"#,
            escape(&h.stat),
            label(lo),
            label(hi),
            escape(&h.y_name),
            escape(&h.x_name)
        );
    }
}

fn sweep_section(out: &mut String, s: &SweepSummary) {
    let _ = write!(
        out,
        r#"<h2>Sweep: top results by {} ({} combinations)</h2><table id="sweep"><tr><th>#</th>"#,
        escape(&s.stat),
        s.combinations
    );
    for p in &s.params {
        let _ = write!(out, "<th>{}</th>", escape(p));
    }
    let _ = write!(out, "<th>{}</th></tr>", escape(&s.stat));
    for (i, (values, stat)) in s.top.iter().enumerate() {
        let _ = write!(out, "<tr><td>{}</td>", i + 1);
        for v in values {
            let _ = write!(out, "<td>{v}</td>");
        }
        let _ = write!(
            out,
            "<td>{}</td></tr>",
            stat.map_or_else(|| "-".to_owned(), |v| format!("{v:.4}"))
        );
    }
    out.push_str("</table>");
    if let Some(h) = &s.heatmap {
        heatmap(out, h);
    }
}

const STYLE: &str = "body{font:14px/1.4 system-ui,sans-serif;margin:24px auto;max-width:1140px;color:#222;background:#fff}\
h1{font-size:22px;margin:0 0 4px}h2{font-size:16px;margin:22px 0 6px}p.meta{color:#555;margin:0 0 8px}\
p.note{color:#666;font-size:12px}svg{display:block;background:#fcfcfc;border:1px solid #e4e4e4}\
.grid{stroke:#e8e8e8;stroke-width:1}.base{stroke:#999;stroke-dasharray:4 3}\
.ylabel{font-size:11px;fill:#666;text-anchor:end}.xlabel{font-size:11px;fill:#666}\
.close{fill:none;stroke:#444;stroke-width:1}.equity{fill:none;stroke:#1f77b4;stroke-width:1.5}\
.drawdown{fill:#d62728;fill-opacity:.35;stroke:#d62728;stroke-width:1}\
.entry.long{fill:#2ca02c}.entry.short{fill:#d62728}.exit{stroke:#222;stroke-width:1}.exit.win{fill:#2ca02c}.exit.loss{fill:#d62728}.level{fill:none;stroke-width:1.5;stroke-dasharray:3 2}.overlay,.indicator{fill:none;stroke-width:1.2}.legend{font-size:11px}.level.stop{stroke:#d62728}.level.target{stroke:#2ca02c}\
table{border-collapse:collapse;font-variant-numeric:tabular-nums}th,td{padding:2px 10px;border-bottom:1px solid #eee;text-align:right}\
#stats th{text-align:left;font-weight:normal;color:#444}tr.loss td:nth-child(7){color:#d62728}tr.win td:nth-child(7){color:#2ca02c}";

/// The whole report as one HTML document.
pub fn html(p: &Page<'_>) -> String {
    let mut out = String::with_capacity(64 * 1024);
    let _ = write!(
        out,
        r#"<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><meta name="generator" content="botforge {}"><title>{} — botforge backtest</title><style>{STYLE}</style></head><body>"#,
        env!("CARGO_PKG_VERSION"),
        escape(p.name)
    );
    let _ = write!(
        out,
        r#"<h1>{}</h1><p class="meta">{}</p><p class="meta">{} · {} bars · cash {} · commission {}{}</p>"#,
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
    if p.symbols.is_empty() {
        price_chart(&mut out, p, ("price", "Price and trades"));
        indicator_panels(&mut out, p, "");
    } else {
        for (k, sym) in p.symbols.iter().enumerate() {
            let title = format!("{}: price and trades", sym.name);
            price_chart(&mut out, sym, (&format!("price-{k}"), &title));
            indicator_panels(&mut out, sym, &format!("s{k}-"));
        }
    }
    equity_charts(&mut out, p);
    stats_table(&mut out, p.stats);
    if let Some(s) = p.sweep {
        sweep_section(&mut out, s);
    }
    trades_table(&mut out, p);
    out.push_str("</body></html>\n");
    out
}
