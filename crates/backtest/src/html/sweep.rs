//! The sweep's part of the report (DESIGN.md §6.2): the best parameters first, then for two
//! parameters a heatmap with titled axes and a colour legend in statistic values, and the top
//! results as a sortable table.

use std::fmt::Write;

use super::escape;
use super::page::{Heatmap, SweepSummary};

/// Blue (low) to yellow (high) through green (viridis): readable without colour vision too.
const STOPS: [(f64, f64, f64); 5] = [
    (68.0, 1.0, 84.0),
    (59.0, 82.0, 139.0),
    (33.0, 145.0, 140.0),
    (94.0, 201.0, 98.0),
    (253.0, 231.0, 37.0),
];

fn color(t: f64) -> String {
    let t = t.clamp(0.0, 1.0) * 4.0;
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "t is in 0..=4"
    )]
    let k = (t.floor() as usize).min(3);
    let f = t - k as f64;
    let (a, b) = (STOPS[k], STOPS[k + 1]);
    format!(
        "rgb({:.0},{:.0},{:.0})",
        a.0 + (b.0 - a.0) * f,
        a.1 + (b.1 - a.1) * f,
        a.2 + (b.2 - a.2) * f
    )
}

/// The fewest decimals (at most 6) that write every one of `values` exactly enough to tell
/// them apart as given: `5` and `10`, or `0.5` and `1.0`, never `5.0000` beside `10.0`.
pub fn common_decimals(values: &[f64]) -> usize {
    (0..6)
        .find(|&d| {
            let s = 10f64.powi(i32::try_from(d).unwrap_or(0));
            values
                .iter()
                .filter(|v| v.is_finite())
                .all(|v| ((v * s).round() - v * s).abs() < 1e-6)
        })
        .unwrap_or(6)
}

/// Round tick values across `lo..=hi`, about `count` of them, at 1, 2 or 5 times a power of
/// ten, and the decimals their step needs.
pub fn nice_ticks(lo: f64, hi: f64, count: usize) -> (Vec<f64>, usize) {
    if !(lo.is_finite() && hi.is_finite()) || hi <= lo || count == 0 {
        return (if lo.is_finite() { vec![lo] } else { vec![] }, 2);
    }
    let raw = (hi - lo) / count as f64;
    let power = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * power)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * power);
    let first = (lo / step).ceil();
    let ticks: Vec<f64> = (0..=count * 2 + 2)
        .map(|k| (first + k as f64) * step)
        .take_while(|v| *v <= hi + step * 1e-9)
        .map(|v| if v.abs() < step * 1e-9 { 0.0 } else { v })
        .collect();
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "clamped to 0..=8"
    )]
    let decimals = (-step.log10().floor()).clamp(0.0, 8.0) as usize;
    (ticks, decimals)
}

fn fixed(v: f64, decimals: usize) -> String {
    format!("{v:.decimals$}")
}

/// A statistic's value as the tables show it.
fn stat_text(v: Option<f64>) -> String {
    v.filter(|v| v.is_finite())
        .map_or_else(|| "–".to_owned(), |v| format!("{v:.2}"))
}

/// The best combination, at the top of the page.
fn best(out: &mut String, s: &SweepSummary) {
    let Some((values, stat)) = s.top.first() else {
        return;
    };
    let decimals: Vec<usize> = (0..s.params.len())
        .map(|k| common_decimals(&s.top.iter().map(|r| r.0[k]).collect::<Vec<_>>()))
        .collect();
    out.push_str(r#"<section id="best"><h2>Best parameters</h2><p class="best">"#);
    for (k, (name, v)) in s.params.iter().zip(values).enumerate() {
        let _ = write!(
            out,
            r#"{}<span class="param"><b>{}</b> = {}</span>"#,
            if k > 0 { " · " } else { "" },
            escape(name),
            fixed(*v, decimals[k])
        );
    }
    let _ = write!(
        out,
        r#" → <b>{}</b> {}</p><p class="note">The best of {} combinations by {}; the charts below are its run.</p></section>"#,
        escape(&s.stat),
        stat_text(*stat),
        s.combinations,
        escape(&s.stat)
    );
}

/// Layout of the heatmap, in SVG units.
const LEFT: f64 = 86.0;
const TOP: f64 = 12.0;
const PLOT_W: f64 = 560.0;
const LEGEND_X: f64 = LEFT + PLOT_W + 28.0;
const WIDTH: f64 = LEGEND_X + 130.0;

fn heatmap(out: &mut String, h: &Heatmap, winner: Option<&[f64]>) {
    let (nx, ny) = (h.xs.len(), h.ys.len());
    if nx == 0 || ny == 0 {
        return;
    }
    let cell_w = PLOT_W / nx as f64;
    let cell_h = (380.0 / ny as f64).clamp(8.0, 34.0);
    let plot_h = cell_h * ny as f64;
    let height = TOP + plot_h + 56.0;
    let finite: Vec<f64> = h
        .values
        .iter()
        .flatten()
        .copied()
        .filter(|v| v.is_finite())
        .collect();
    let lo = finite.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = finite.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let (dx, dy) = (common_decimals(&h.xs), common_decimals(&h.ys));
    let _ = write!(
        out,
        r#"<h2>{} by {} and {}</h2><svg id="heatmap" viewBox="0 0 {WIDTH:.0} {height:.0}" role="img" aria-label="heatmap of {} by {} and {}">"#,
        escape(&h.stat),
        escape(&h.x_name),
        escape(&h.y_name),
        escape(&h.stat),
        escape(&h.x_name),
        escape(&h.y_name)
    );
    let every_x = nx.div_ceil(12).max(1);
    let every_y = ny.div_ceil(16).max(1);
    for (yi, y) in h.ys.iter().enumerate() {
        let top = TOP + (ny - 1 - yi) as f64 * cell_h;
        if yi % every_y == 0 {
            let _ = write!(
                out,
                r#"<text class="ylabel" x="{:.1}" y="{:.1}">{}</text>"#,
                LEFT - 6.0,
                top + cell_h / 2.0 + 4.0,
                fixed(*y, dy)
            );
        }
        for (xi, x) in h.xs.iter().enumerate() {
            let v = h.values.get(yi * nx + xi).copied().flatten();
            let fill = match v {
                Some(v) if v.is_finite() && hi > lo => color((v - lo) / (hi - lo)),
                Some(v) if v.is_finite() => color(0.5),
                _ => "#ddd".to_owned(),
            };
            let won = winner.is_some_and(|w| {
                w.len() == 2 && w[0].to_bits() == x.to_bits() && w[1].to_bits() == y.to_bits()
            });
            let _ = write!(
                out,
                r#"<rect class="cell{}" x="{:.1}" y="{top:.1}" width="{:.1}" height="{:.1}" fill="{fill}"><title>{} = {}, {} = {}: {} {}</title></rect>"#,
                if won { " best" } else { "" },
                LEFT + xi as f64 * cell_w,
                (cell_w - 1.0).max(0.5),
                (cell_h - 1.0).max(0.5),
                escape(&h.x_name),
                fixed(*x, dx),
                escape(&h.y_name),
                fixed(*y, dy),
                escape(&h.stat),
                stat_text(v)
            );
        }
    }
    for (xi, x) in h.xs.iter().enumerate().step_by(every_x) {
        let _ = write!(
            out,
            r#"<text class="xlabel" text-anchor="middle" x="{:.1}" y="{:.1}">{}</text>"#,
            LEFT + (xi as f64 + 0.5) * cell_w,
            TOP + plot_h + 16.0,
            fixed(*x, dx)
        );
    }
    let _ = write!(
        out,
        r#"<text class="axis-title" id="heatmap-x" text-anchor="middle" x="{:.1}" y="{:.1}">{}</text><text class="axis-title" id="heatmap-y" text-anchor="middle" transform="translate(16 {:.1}) rotate(-90)">{}</text>"#,
        LEFT + PLOT_W / 2.0,
        TOP + plot_h + 40.0,
        escape(&h.x_name),
        TOP + plot_h / 2.0,
        escape(&h.y_name)
    );
    legend(out, h, (lo, hi), plot_h);
    out.push_str("</svg>");
}

/// The colour scale as a bar with the statistic's values at round ticks.
fn legend(out: &mut String, h: &Heatmap, (lo, hi): (f64, f64), plot_h: f64) {
    if !lo.is_finite() {
        return;
    }
    let _ = write!(
        out,
        r#"<defs><linearGradient id="scale" x1="0" y1="1" x2="0" y2="0">"#
    );
    for (k, _) in STOPS.iter().enumerate() {
        let t = k as f64 / 4.0;
        let _ = write!(out, r#"<stop offset="{t}" stop-color="{}"/>"#, color(t));
    }
    let _ = write!(
        out,
        r#"</linearGradient></defs><g id="heatmap-legend"><text class="axis-title" x="{:.1}" y="{:.1}">{}</text><rect x="{LEGEND_X:.1}" y="{TOP:.1}" width="14" height="{plot_h:.1}" fill="url(#scale)"/>"#,
        LEGEND_X,
        TOP + plot_h + 22.0,
        escape(&h.stat)
    );
    let (ticks, decimals) = nice_ticks(lo, hi, 5);
    for v in ticks {
        let y = if hi > lo {
            TOP + plot_h - (v - lo) / (hi - lo) * plot_h
        } else {
            TOP + plot_h / 2.0
        };
        let _ = write!(
            out,
            r#"<line x1="{:.1}" x2="{:.1}" y1="{y:.1}" y2="{y:.1}" stroke="black"/><text class="tick" x="{:.1}" y="{:.1}">{}</text>"#,
            LEGEND_X + 14.0,
            LEGEND_X + 18.0,
            LEGEND_X + 21.0,
            y + 4.0,
            fixed(v, decimals)
        );
    }
    out.push_str("</g>");
}

/// The top results, sortable by any column.
fn table(out: &mut String, s: &SweepSummary) {
    let _ = write!(
        out,
        r#"<h2>Top {} of {} combinations by {}</h2><div class="scroll"><table id="sweep" class="sortable"><thead><tr><th data-type="num">#</th>"#,
        s.top.len(),
        s.combinations,
        escape(&s.stat)
    );
    for p in &s.params {
        let _ = write!(out, r#"<th data-type="num">{}</th>"#, escape(p));
    }
    let _ = write!(
        out,
        r#"<th data-type="num">{}</th></tr></thead><tbody>"#,
        escape(&s.stat)
    );
    let decimals: Vec<usize> = (0..s.params.len())
        .map(|k| common_decimals(&s.top.iter().map(|r| r.0[k]).collect::<Vec<_>>()))
        .collect();
    for (i, (values, stat)) in s.top.iter().enumerate() {
        let _ = write!(out, r#"<tr><td data-v="{}">{}</td>"#, i + 1, i + 1);
        for (k, v) in values.iter().enumerate() {
            let _ = write!(out, r#"<td data-v="{v}">{}</td>"#, fixed(*v, decimals[k]));
        }
        let _ = write!(
            out,
            r#"<td data-v="{}">{}</td></tr>"#,
            stat.filter(|v| v.is_finite())
                .map_or_else(|| "-Infinity".to_owned(), |v| v.to_string()),
            stat_text(*stat)
        );
    }
    out.push_str("</tbody></table></div>");
}

/// The sweep's section: best first, then the heatmap (two params) and the table.
pub fn section(out: &mut String, s: &SweepSummary) {
    best(out, s);
    if let Some(h) = &s.heatmap {
        heatmap(out, h, s.top.first().map(|t| t.0.as_slice()));
    }
    table(out, s);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_share_the_decimals_their_values_need() {
        assert_eq!(common_decimals(&[5.0, 10.0, 15.0]), 0);
        assert_eq!(common_decimals(&[0.5, 1.0, 1.5]), 1);
        assert_eq!(common_decimals(&[0.25, 1.0]), 2);
        assert_eq!(
            [5.0, 10.0].map(|v| fixed(v, common_decimals(&[5.0, 10.0]))),
            ["5", "10"]
        );
    }

    #[test]
    fn ticks_are_round_and_inside_the_range() {
        let (t, d) = nice_ticks(-3.7, 41.2, 5);
        assert_eq!(t, [0.0, 10.0, 20.0, 30.0, 40.0]);
        assert_eq!(d, 0);
        let (t, d) = nice_ticks(0.013, 0.061, 5);
        assert_eq!(t.len(), 5);
        assert!(
            (t[0] - 0.02).abs() < 1e-12 && (t[4] - 0.06).abs() < 1e-12,
            "{t:?}"
        );
        assert_eq!(d, 2);
        assert_eq!(fixed(t[1], d), "0.03");
        let (t, _) = nice_ticks(1.6793, 1.6793, 5);
        assert_eq!(t, [1.6793]);
    }

    #[test]
    fn the_best_combination_leads_and_its_cell_is_marked() {
        let s = SweepSummary {
            params: vec!["fast".into(), "slow".into()],
            stat: "return_pct".into(),
            combinations: 4,
            top: vec![(vec![10.0, 30.0], Some(12.5)), (vec![5.0, 30.0], Some(3.0))],
            heatmap: Some(Heatmap {
                x_name: "fast".into(),
                xs: vec![5.0, 10.0],
                y_name: "slow".into(),
                ys: vec![20.0, 30.0],
                stat: "return_pct".into(),
                values: vec![Some(1.0), None, Some(3.0), Some(12.5)],
            }),
        };
        let mut out = String::new();
        section(&mut out, &s);
        let best = out.find(r#"id="best""#).unwrap();
        assert!(best < out.find(r#"id="heatmap""#).unwrap());
        assert!(out.contains("<b>fast</b> = 10</span> · <span class=\"param\"><b>slow</b> = 30"));
        assert!(out.contains("→ <b>return_pct</b> 12.50"));
        assert_eq!(out.matches("class=\"cell best\"").count(), 1);
        assert!(out.contains("fast = 10, slow = 30: return_pct 12.50</title>"));
        assert!(out.contains(r#"id="heatmap-x" text-anchor="middle""#));
        assert!(out.contains(">fast</text>") && out.contains(">slow</text>"));
        // The legend's ticks are statistic values, round ones inside 1 … 12.5.
        let legend = out.split(r#"id="heatmap-legend""#).nth(1).unwrap();
        let ticks: Vec<&str> = legend
            .split(r#"class="tick""#)
            .skip(1)
            .filter_map(|t| t.split('>').nth(1)?.split('<').next())
            .collect();
        assert_eq!(ticks, ["5", "10"]);
    }
}
