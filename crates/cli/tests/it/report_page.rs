//! `--report` in a real browser (DESIGN.md §6.2): offline, the best parameters first, one time
//! axis for every pane (a wheel over the price zooms the equity too), candles by the bars in
//! view, markers with the trade's P&L on hover, stops and targets as they stepped, overlays and
//! oscillator panes, a pane per symbol, a sortable trade list, a million-bar axis downsampled
//! with every bar on zoom, and no sideways overflow at 390 px.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::path::Path;

use serde_json::{Value, json};

use super::browser::{artifact, assert_clean, browser};
use super::{botforge, goog, text};

/// A description a page must show as text, never run.
const SMA: &str = "name = \"SmaCross\"\ndescription = \"SMA cross <long only> & more </script><script>alert(1)</script><img src=x onerror=alert(2)>\"\n[params]\nfast = 10\nslow = 30\n[indicators]\nf = \"sma(close, fast)\"\ns = \"sma(close, slow)\"\n[rules]\nentry_long = \"crosses_above(f, s)\"\nexit_long = \"crosses_below(f, s)\"\n";

fn json_of(dir: &Path, args: &[&str]) -> Value {
    let out = botforge(dir, args, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Writes `toml` and backtests it on `data` with `--report r.html`; the `--json` document.
fn report(dir: &Path, toml: &str, data: &[&str], extra: &[&str]) -> Value {
    std::fs::write(dir.join("s.toml"), toml).unwrap();
    let mut args = vec!["backtest", "s.toml"];
    for d in data {
        args.extend(["--data", d]);
    }
    args.extend(extra);
    args.extend(["--report", "r.html", "--json"]);
    json_of(dir, &args)
}

fn url(dir: &Path) -> String {
    format!("file://{}", dir.join("r.html").display())
}

/// The chart data embedded in the page.
fn embedded(dir: &Path) -> Value {
    let html = std::fs::read_to_string(dir.join("r.html")).unwrap();
    let data = html
        .split(r#"<script type="application/json" id="report-data">"#)
        .nth(1)
        .and_then(|s| s.split("</script>").next())
        .unwrap();
    serde_json::from_str(data).unwrap()
}

fn all_trades(v: &Value) -> Vec<&Value> {
    v["trade_list"]
        .as_array()
        .unwrap()
        .iter()
        .chain(v["open_trades"].as_array().unwrap())
        .collect()
}

const READY: &str = "window.botforgeReport";
const STATE: &str = "window.botforgeReport.state()";

fn pane(k: usize) -> String {
    format!("window.botforgeReport.paneRect({k})")
}

fn centre(k: usize) -> String {
    format!("(r => [r[0] + r[2] * 0.6, r[1] + r[3] * 0.5])(window.botforgeReport.paneRect({k}))")
}

/// Pixels within `tolerance` (per channel) of `rgb` in a PNG file.
fn pixels(path: &Path, rgb: (u8, u8, u8), tolerance: u8) -> usize {
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(path).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    let channels = info.color_type.samples();
    buf[..info.buffer_size()]
        .chunks(channels)
        .filter(|p| {
            p[0].abs_diff(rgb.0) <= tolerance
                && p[1].abs_diff(rgb.1) <= tolerance
                && p[2].abs_diff(rgb.2) <= tolerance
        })
        .count()
}

#[test]
fn a_sweep_report_leads_with_the_best_parameters_and_draws_offline() {
    let Some(chrome) = browser() else { return };
    let dir = tempfile::tempdir().unwrap();
    let data = goog();
    let v = report(
        dir.path(),
        SMA,
        &[&data],
        &["--sweep", "fast=5..50:5", "--sweep", "slow=20..200:20"],
    );
    let html = std::fs::read_to_string(dir.path().join("r.html")).unwrap();
    for bad in ["<script src", "<link", "<iframe", "@import"] {
        assert!(!html.contains(bad), "the report loads {bad}");
    }
    let shot = artifact("report-sweep.png");
    let seen = chrome.run(
        &url(dir.path()),
        (1400, 1000),
        &json!([
            {"wait_for": READY},
            {"eval": STATE},
            // The best parameters come before any chart; the heatmap's axes carry the names.
            {"eval": "[document.getElementById('best').compareDocumentPosition(document.getElementById('heatmap')) & 4, document.getElementById('heatmap').compareDocumentPosition(document.getElementById('chart')) & 4, document.getElementById('best').textContent, document.getElementById('heatmap-x').textContent, document.getElementById('heatmap-y').textContent, document.querySelectorAll('#heatmap rect.cell').length, document.querySelectorAll('#heatmap rect.cell.best').length, document.querySelector('#heatmap-legend').textContent]"},
            {"eval": "[...document.querySelectorAll('#stats tr')].map(r => [r.dataset.key, r.cells[1].textContent])"},
            {"eval": "[document.querySelector('h1').textContent, document.querySelector('.meta').textContent]"},
            {"frames": 2},
            {"screenshot": shot, "full": true},
        ]),
    );
    assert_clean(&seen, &url(dir.path()));
    let r = &seen["results"];
    let state = &r[0];
    let trades = all_trades(&v);
    let closed = v["trade_list"].as_array().unwrap().len();
    assert!(closed > 10);
    // An entry marker per trade and an exit marker per closed one.
    assert_eq!(state["markers"], closed + trades.len());
    assert_eq!(state["bars"], 2148);
    assert_eq!(state["panes"], 3, "price, equity, drawdown");
    let layout = &r[1];
    assert_eq!(layout[0], 4, "the best parameters precede the heatmap");
    assert_eq!(layout[1], 4, "the heatmap precedes the chart");
    let best = layout[2].as_str().unwrap();
    let (fast, slow) = (
        v["params"]["fast"].as_f64().unwrap(),
        v["params"]["slow"].as_f64().unwrap(),
    );
    assert!(
        best.contains(&format!("fast = {fast}")) && best.contains(&format!("slow = {slow}")),
        "{best}"
    );
    assert!(
        best.contains(&format!("{:.2}", v["sharpe_ratio"].as_f64().unwrap())),
        "{best}"
    );
    assert_eq!(layout[3], "fast");
    assert_eq!(layout[4], "slow");
    assert_eq!(layout[5], 100);
    assert_eq!(layout[6], 1, "the winning cell is marked");
    // The colour scale is labelled in statistic values.
    assert!(
        layout[7].as_str().unwrap().starts_with("sharpe_ratio"),
        "{}",
        layout[7]
    );
    let table: Vec<(String, String)> = serde_json::from_value(r[2].clone()).unwrap();
    for key in ["equity_final", "return_pct", "max_drawdown_pct"] {
        let row = table.iter().find(|(k, _)| k == key).unwrap();
        assert_eq!(row.1, format!("{:.2}", v[key].as_f64().unwrap()), "{key}");
    }
    // Hostile text is shown as text: no script ran (no dialog above), the words are there.
    assert_eq!(r[3][0], "SmaCross");
    assert_eq!(
        r[3][1],
        "SMA cross <long only> & more </script><script>alert(1)</script><img src=x onerror=alert(2)>"
    );
    // The screenshot shows what was drawn: the equity line, the drawdown, the best cell.
    assert!(
        pixels(&shot, (31, 119, 180), 30) > 1000,
        "equity line ({})",
        shot.display()
    );
    assert!(pixels(&shot, (242, 177, 177), 14) > 5000, "drawdown area");
    assert!(
        pixels(&shot, (253, 231, 37), 30) > 100,
        "best heatmap cells"
    );
}

#[test]
fn a_wheel_over_the_price_zooms_every_pane_and_candles_appear() {
    let Some(chrome) = browser() else { return };
    let dir = tempfile::tempdir().unwrap();
    let data = goog();
    report(dir.path(), SMA, &[&data], &[]);
    let seen = chrome.run(
        &url(dir.path()),
        (1400, 1000),
        &json!([
            {"wait_for": READY},
            {"frames": 2},
            {"eval": STATE},
            {"clip_hash": pane(0)},
            {"clip_hash": pane(1)},
            {"wheel": centre(0), "dy": -300, "times": 6},
            {"frames": 3},
            {"eval": STATE},
            {"clip_hash": pane(0)},
            {"clip_hash": pane(1)},
            {"eval": "document.querySelector('#view').textContent"},
        ]),
    );
    assert_clean(&seen, &url(dir.path()));
    let r = &seen["results"];
    let (before, after) = (&r[0], &r[3]);
    assert_eq!(
        before["view"],
        json!([0, 2147]),
        "every bar in view at first"
    );
    assert_eq!(before["candles"], false, "2,148 bars: the close line");
    let width = |s: &Value| s["view"][1].as_i64().unwrap() - s["view"][0].as_i64().unwrap() + 1;
    assert!(width(after) < 2000, "zoomed in: {}", after["view"]);
    assert_eq!(after["candles"], true, "at most 2,000 bars: candles");
    assert_ne!(r[1], r[4], "the price pane changed");
    assert_ne!(r[2], r[5], "the equity pane changed with it");
    assert!(
        r[6].as_str()
            .unwrap()
            .replace(',', "")
            .starts_with(&format!("{} of 2148 bars in view", width(after))),
        "{}",
        r[6]
    );
}

#[test]
fn trades_sort_by_a_header_click_and_a_row_shows_its_trade() {
    let Some(chrome) = browser() else { return };
    let dir = tempfile::tempdir().unwrap();
    let data = goog();
    let v = report(dir.path(), SMA, &[&data], &[]);
    let pnl_column =
        "[...document.querySelectorAll('#trades tbody tr')].map(r => r.cells[9].textContent)";
    let seen = chrome.run(
        &url(dir.path()),
        (1400, 1000),
        &json!([
            {"wait_for": READY},
            {"click": "#trades th[data-k=pnl]"},
            {"eval": pnl_column},
            {"click": "#trades th[data-k=pnl]"},
            {"eval": pnl_column},
            {"eval": "document.querySelector('#trades th[data-k=pnl]').getAttribute('aria-sort')"},
            {"click": "#trades tbody tr:nth-child(3)"},
            {"frames": 3},
            {"eval": "[+document.querySelector('#trades tbody tr:nth-child(3)').dataset.n, window.botforgeReport.state().view]"},
        ]),
    );
    assert_clean(&seen, &url(dir.path()));
    let r = &seen["results"];
    let numbers = |v: &Value| -> Vec<f64> {
        v.as_array()
            .unwrap()
            .iter()
            .filter_map(|c| c.as_str().unwrap().replace(',', "").parse().ok())
            .collect()
    };
    let (up, down) = (numbers(&r[0]), numbers(&r[1]));
    let closed = v["trade_list"].as_array().unwrap();
    assert_eq!(up.len(), closed.len());
    assert!(up.windows(2).all(|w| w[0] <= w[1]), "ascending: {up:?}");
    assert!(
        down.windows(2).all(|w| w[0] >= w[1]),
        "descending: {down:?}"
    );
    let mut want: Vec<f64> = closed.iter().map(|t| t["pnl"].as_f64().unwrap()).collect();
    want.sort_by(f64::total_cmp);
    assert_eq!(up.first().copied(), Some((want[0] * 100.0).round() / 100.0));
    assert_eq!(r[2], "descending");
    // The row clicked (third by P&L, descending) is in view, with bars around it.
    let n = usize::try_from(r[3][0].as_u64().unwrap()).unwrap();
    let t = all_trades(&v)[n - 1];
    let view = &r[3][1];
    assert!(view[0].as_u64() <= t["entry_bar"].as_u64(), "{view} {t}");
    assert!(view[1].as_u64() >= t["exit_bar"].as_u64(), "{view} {t}");
    assert!(
        view[1].as_u64().unwrap() - view[0].as_u64().unwrap() < 1000,
        "{view}"
    );
}

const ATR: &str = r#"name = "AtrBracket"
[indicators]
rsi = "rsi(close, 14)"
atr = "atr(14)"
[rules]
entry_long = "rsi < 35"
exit_long = "rsi > 70"
[risk]
stop_loss_long = "close - 1.5 * atr"
take_profit_long = "close + 2 * atr"
max_bars = 15
"#;

#[test]
fn hovering_an_exit_marker_shows_the_trades_pnl_and_levels_are_drawn() {
    let Some(chrome) = browser() else { return };
    let dir = tempfile::tempdir().unwrap();
    let data = goog();
    let v = report(dir.path(), ATR, &[&data], &[]);
    let trades = all_trades(&v);
    let by = |reason: &str| trades.iter().filter(|t| t["exit_reason"] == reason).count();
    for reason in ["stop", "target", "time"] {
        assert!(by(reason) > 0, "no {reason} exit to show");
    }
    // The page's data: each trade's exit cause, and its stop and target from its fill.
    let page = embedded(dir.path());
    let drawn = page["trades"].as_array().unwrap();
    assert_eq!(drawn.len(), trades.len());
    let mut bars = (HashSet::new(), HashSet::new());
    for (d, t) in drawn.iter().zip(&trades) {
        assert_eq!(d["eb"], t["entry_bar"]);
        assert_eq!(
            d["why"],
            t.get("exit_reason").cloned().unwrap_or(Value::Null)
        );
        let end = t["exit_bar"].as_u64().unwrap_or(2147);
        for (key, set) in [("st", &mut bars.0), ("tg", &mut bars.1)] {
            let first = d[key][0][0].as_u64().unwrap();
            assert_eq!(
                first,
                t["entry_bar"].as_u64().unwrap(),
                "{key} set at the fill"
            );
            set.extend(first..=end);
        }
    }
    // A target exit to hover: the one after the 5th trade.
    let n = 1 + trades
        .iter()
        .position(|t| {
            t["exit_reason"] == "target"
                && t["entry_bar"].as_u64() > trades[5]["entry_bar"].as_u64()
        })
        .unwrap();
    let t = trades[n - 1];
    let (eb, xb) = (
        t["entry_bar"].as_u64().unwrap(),
        t["exit_bar"].as_u64().unwrap(),
    );
    let seen = chrome.run(
        &url(dir.path()),
        (1400, 1000),
        &json!([
            {"wait_for": READY},
            {"eval": STATE},
            {"eval": format!("window.botforgeReport.focus({}, {})", eb - 15, xb + 15)},
            {"frames": 3},
            {"hover": format!("window.botforgeReport.markerPoint({n}, true)")},
            {"frames": 2},
            {"eval": STATE},
        ]),
    );
    assert_clean(&seen, &url(dir.path()));
    let r = &seen["results"];
    assert_eq!(
        r[0]["levels"][0]["stop"],
        bars.0.len(),
        "a stop level on every bar of a trade"
    );
    assert_eq!(r[0]["levels"][0]["target"], bars.1.len());
    // The key names each exit cause the run has, beside the entry glyphs.
    let key = r[0]["key"].as_str().unwrap();
    assert!(key.starts_with("Markers: ▲ long entry"), "{key}");
    for reason in ["stop", "target", "time"] {
        assert!(key.contains(&format!("exit by {reason}")), "{key}");
    }
    assert!(
        !key.contains("exit by trailing"),
        "no trailing exits here: {key}"
    );
    let tip = r[2]["tip"].as_str().unwrap_or_default();
    let pnl = t["pnl"].as_f64().unwrap();
    let money = format!("{pnl:.2}");
    assert!(tip.starts_with(&format!("#{n} long")), "{tip}");
    assert!(tip.contains("by target"), "{tip}");
    assert!(
        tip.contains(&format!("P&L {money}")),
        "{tip} should show {money}"
    );
}

#[test]
fn trailing_stops_and_stepping_targets_are_drawn_as_they_moved() {
    let dir = tempfile::tempdir().unwrap();
    let data = goog();
    let toml = r#"name = "TrailRoi"
[indicators]
rsi = "rsi(close, 14)"
[rules]
entry_long = "rsi < 40"
exit_long = "rsi > 75"
[risk]
trailing_stop_pct = 6
roi = [[0, 12.0], [5, 6.0], [15, 1.0]]
"#;
    report(dir.path(), toml, &[&data], &[]);
    let page = embedded(dir.path());
    let levels = |t: &Value, key: &str| -> Vec<f64> {
        t[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s[1].as_f64().unwrap())
            .collect()
    };
    let trades = page["trades"].as_array().unwrap();
    let moved: Vec<Vec<f64>> = trades
        .iter()
        .map(|t| levels(t, "st"))
        .filter(|s| s.len() > 2)
        .collect();
    assert!(!moved.is_empty(), "no trailing stop moved");
    for s in &moved {
        assert!(
            s.windows(2).all(|w| w[1] >= w[0]),
            "a long's trailing stop only rises: {s:?}"
        );
    }
    let stepped: Vec<Vec<f64>> = trades
        .iter()
        .map(|t| levels(t, "tg"))
        .filter(|s| s.len() >= 2)
        .collect();
    assert!(!stepped.is_empty(), "no stepping target stepped");
    for s in &stepped {
        assert!(s.windows(2).all(|w| w[1] < w[0]), "12 %, 6 %, 1 %: {s:?}");
    }
}

#[test]
fn price_scale_series_overlay_the_price_and_oscillators_get_panes() {
    let Some(chrome) = browser() else { return };
    let dir = tempfile::tempdir().unwrap();
    let data = goog();
    let toml = r#"name = "Mix"
[indicators]
trend = "sma(close, 50)"
band = "bbands(close, 20, 2).lower"
osc = "rsi(close, 14)"
[rules]
entry_long = "close > trend and osc < 40 and cci(20) < -100"
exit_long = "close < band - 2 * atr(14) or osc > 70"
"#;
    report(dir.path(), toml, &[&data], &[]);
    let seen = chrome.run(
        &url(dir.path()),
        (1400, 1000),
        &json!([{"wait_for": READY}, {"eval": STATE}]),
    );
    assert_clean(&seen, &url(dir.path()));
    let s = &seen["results"][0];
    assert_eq!(s["overlays"], json!([["trend", "band"]]));
    assert_eq!(
        s["titles"],
        json!(["Mix", "osc", "cci(20)", "atr(14)", "Equity", "Drawdown [%]"])
    );
    assert_eq!(s["panes"], 6);
}

#[test]
fn a_portfolio_report_has_a_pane_per_symbol() {
    let Some(chrome) = browser() else { return };
    let dir = tempfile::tempdir().unwrap();
    let data = goog();
    let mut half = String::new();
    for (i, l) in std::fs::read_to_string(&data).unwrap().lines().enumerate() {
        if i % 2 == 0 {
            half.push_str(l);
            half.push('\n');
        }
    }
    std::fs::write(dir.path().join("half.csv"), half).unwrap();
    // Half the equity per entry, so both symbols trade from the one account.
    let toml = SMA.replace("[rules]", "r = \"rsi(close, 14)\"\n[rules]") + "[risk]\nsize = 0.45\n";
    let v = report(dir.path(), &toml, &[&data, "HALF=half.csv"], &[]);
    let per = |s: &str| all_trades(&v).iter().filter(|t| t["symbol"] == s).count();
    let per_closed = |s: &str| {
        v["trade_list"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| t["symbol"] == s)
            .count()
    };
    let seen = chrome.run(
        &url(dir.path()),
        (1400, 1200),
        &json!([
            {"wait_for": READY},
            {"eval": STATE},
            {"eval": "[...document.querySelectorAll('#trades tbody tr')].map(r => r.cells[1].textContent)"},
        ]),
    );
    assert_clean(&seen, &url(dir.path()));
    let s = &seen["results"][0];
    assert_eq!(s["symbols"], json!(["GOOG", "HALF"]));
    assert_eq!(
        s["titles"],
        json!([
            "GOOG: price and trades",
            "r",
            "HALF: price and trades",
            "r",
            "Equity",
            "Drawdown [%]"
        ])
    );
    let markers = ["GOOG", "HALF"]
        .iter()
        .map(|n| per(n) + per_closed(n))
        .sum::<usize>();
    assert_eq!(s["markers"], markers);
    let column: Vec<String> = serde_json::from_value(seen["results"][1].clone()).unwrap();
    for name in ["GOOG", "HALF"] {
        assert!(per(name) > 0);
        assert_eq!(
            column.iter().filter(|c| *c == name).count(),
            per(name),
            "{name}"
        );
    }
}

#[test]
fn at_390_px_the_page_does_not_overflow_sideways() {
    let Some(chrome) = browser() else { return };
    let dir = tempfile::tempdir().unwrap();
    let data = goog();
    report(
        dir.path(),
        SMA,
        &[&data],
        &["--sweep", "fast=5..50:5", "--sweep", "slow=20..200:20"],
    );
    let shot = artifact("report-390.png");
    let seen = chrome.run(
        &url(dir.path()),
        (390, 900),
        &json!([
            {"wait_for": READY},
            {"frames": 2},
            {"eval": "[document.scrollingElement.scrollWidth, window.innerWidth, document.getElementById('chart').getBoundingClientRect().width, document.getElementById('heatmap').getBoundingClientRect().right, document.getElementById('trades-box').getBoundingClientRect().right]"},
            {"screenshot": shot, "full": true},
        ]),
    );
    assert_clean(&seen, &url(dir.path()));
    let r: Vec<f64> = serde_json::from_value(seen["results"][0].clone()).unwrap();
    assert!(
        r[0] <= r[1],
        "page {} px wide in a {} px window",
        r[0],
        r[1]
    );
    assert!(r[2] > 300.0, "the chart fills the width: {}", r[2]);
    assert!(r[3] <= r[1] && r[4] <= r[1], "{r:?}");
}

/// A 1-minute random walk of `n` bars.
fn walk(path: &Path, n: usize) {
    let mut csv = String::from("Date,Open,High,Low,Close,Volume\n");
    let (mut price, mut seed) = (100.0_f64, 7_u64);
    let start = chrono::NaiveDate::from_ymd_opt(2021, 1, 1)
        .unwrap()
        .and_hms_opt(0, 0, 0)
        .unwrap();
    for i in 0..n {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let step = ((seed >> 33) as f64 / f64::from(1u32 << 31) - 0.5) * 0.4;
        let (open, close) = (price, price + step);
        let t = start + chrono::Duration::minutes(i64::try_from(i).unwrap());
        writeln!(
            csv,
            "{},{open:.2},{:.2},{:.2},{close:.2},{}",
            t.format("%Y-%m-%d %H:%M:%S"),
            open.max(close) + 0.05,
            open.min(close) - 0.05,
            100 + i % 50
        )
        .unwrap();
        price = close;
    }
    std::fs::write(path, csv).unwrap();
}

#[test]
fn a_long_run_is_downsampled_and_every_bar_is_drawn_on_zoom() {
    let Some(chrome) = browser() else { return };
    let dir = tempfile::tempdir().unwrap();
    walk(&dir.path().join("m1.csv"), 200_000);
    report(dir.path(), SMA, &["m1.csv"], &[]);
    let ready =
        |f: &str| format!("window.botforgeReport && (s => {f})(window.botforgeReport.state())");
    let seen = chrome.run(
        &url(dir.path()),
        (1400, 1000),
        &json!([
            {"wait_for": READY},
            {"eval": STATE},
            {"eval": "window.botforgeReport.focus(100000, 101000)"},
            {"wait_for": ready("s.candles")},
            {"eval": STATE},
            {"wheel": centre(0), "dy": 600, "times": 30},
            {"wait_for": ready("s.detail === null")},
            {"eval": STATE},
        ]),
    );
    assert_clean(&seen, &url(dir.path()));
    let r = &seen["results"];
    let (whole, zoomed, out) = (&r[0], &r[2], &r[3]);
    assert_eq!(whole["view"], json!([0, 199_999]));
    assert!(
        whole["points"].as_u64().unwrap() < 12_000,
        "downsampled: {}",
        whole["points"]
    );
    assert_eq!(whole["candles"], false);
    // Zoomed to 1,001 bars: all of them, as candles, within a window of full detail.
    let view = &zoomed["view"];
    assert!(
        view[0].as_u64().unwrap() >= 99_990 && view[1].as_u64().unwrap() <= 101_010,
        "{view}"
    );
    let detail = &zoomed["detail"];
    assert!(
        detail[0].as_u64() <= Some(100_000) && detail[1].as_u64() > Some(101_000),
        "{detail}"
    );
    assert!(zoomed["points"].as_u64() > whole["points"].as_u64());
    assert!(
        out["points"].as_u64().unwrap() < 12_000,
        "back to buckets when zoomed out"
    );
}

#[test]
fn the_report_embeds_its_library_and_is_a_few_bytes_per_bar() {
    let dir = tempfile::tempdir().unwrap();
    walk(&dir.path().join("m1.csv"), 100_000);
    report(dir.path(), SMA, &["m1.csv"], &[]);
    let size = std::fs::metadata(dir.path().join("r.html")).unwrap().len();
    // The library (~200 kB) plus about 30 bytes per bar of six columns and two averages.
    assert!(size < 250_000 + 100_000 * 40, "{size} bytes");
    let html = std::fs::read_to_string(dir.path().join("r.html")).unwrap();
    assert!(html.contains("TradingView Lightweight Charts™ v5.2.1"));
}

#[test]
fn a_portfolio_of_many_symbols_shows_one_chosen_symbol_at_a_time() {
    let Some(chrome) = browser() else { return };
    let dir = tempfile::tempdir().unwrap();
    let goog = std::fs::read_to_string(goog()).unwrap();
    for k in 1..=8 {
        let thinned: Vec<&str> = goog
            .lines()
            .enumerate()
            .filter(|(i, _)| *i == 0 || i % k == 0)
            .map(|(_, l)| l)
            .collect();
        std::fs::write(dir.path().join(format!("S{k}.csv")), thinned.join("\n")).unwrap();
    }
    let toml = SMA.to_owned() + "[risk]\nsize = 0.2\n";
    let v = report(dir.path(), &toml, &["S*.csv"], &[]);
    // An entry marker per trade, an exit marker per closed one.
    let marks = |s: &str| {
        let entries = all_trades(&v).iter().filter(|t| t["symbol"] == s).count();
        let exits = v["trade_list"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| t["symbol"] == s)
            .count();
        entries + exits
    };
    let seen = chrome.run(
        &url(dir.path()),
        (1300, 900),
        &json!([
            {"wait_for": READY},
            {"eval": STATE},
            {"eval": "(s => { s.value = '3'; s.dispatchEvent(new Event('change')); return s.options.length; })(document.getElementById('symbol'))"},
            {"frames": 2},
            {"eval": STATE},
        ]),
    );
    assert_clean(&seen, &url(dir.path()));
    let r = &seen["results"];
    assert_eq!(r[0]["symbols"], json!(["S1"]), "one symbol pane at a time");
    assert_eq!(r[0]["markers"], marks("S1"));
    assert_eq!(r[1], 8, "each symbol to choose from");
    assert_eq!(r[2]["symbols"], json!(["S4"]));
    assert_eq!(r[2]["markers"], marks("S4"));
    assert!(marks("S4") > 0 && marks("S4") != marks("S1"));
}
