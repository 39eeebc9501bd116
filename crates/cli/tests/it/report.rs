//! `backtest --sweep` and `--report`: the sweep's ranking against single runs, its mistakes,
//! and the HTML report rendered by headless Chromium (Debian's `chromium`, installed by
//! `.ci/run`), checked on the page and on the screenshot's pixels.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::{botforge, goog, text};

const SMA: &str = "name = \"SmaCross\"\ndescription = \"SMA cross <long only> & more\"\n[params]\nfast = 10\nslow = 30\n[indicators]\nf = \"sma(close, fast)\"\ns = \"sma(close, slow)\"\n[rules]\nentry_long = \"crosses_above(f, s)\"\nexit_long = \"crosses_below(f, s)\"\n";

fn json(dir: &Path, args: &[&str]) -> serde_json::Value {
    let out = botforge(dir, args, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn a_sweep_ranks_every_combination_as_single_runs_would() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("sma.toml"), SMA).unwrap();
    let data = goog();
    let v = json(
        dir.path(),
        &[
            "backtest",
            "sma.toml",
            "--data",
            &data,
            "--sweep",
            "fast=5..15:5",
            "--sweep",
            "slow=20..60:20",
            "--maximize",
            "return_pct",
            "--top",
            "9",
            "--json",
        ],
    );
    let sweep = &v["sweep"];
    assert_eq!(sweep["combinations"], 9);
    assert_eq!(sweep["maximize"], "return_pct");
    // fast 5/10/15 and slow 20/40/60: six distinct SMAs, each computed once.
    assert_eq!(sweep["indicators_computed"], 6);
    let results = sweep["results"].as_array().unwrap();
    assert_eq!(results.len(), 9);
    let mut best = f64::NEG_INFINITY;
    let mut previous = f64::INFINITY;
    for r in results {
        let (fast, slow) = (
            r["params"]["fast"].as_f64().unwrap(),
            r["params"]["slow"].as_f64().unwrap(),
        );
        // The same combination as a file of its own gives the same numbers.
        let file = dir.path().join(format!("s_{fast}_{slow}.toml"));
        std::fs::write(
            &file,
            SMA.replace("fast = 10", &format!("fast = {fast}"))
                .replace("slow = 30", &format!("slow = {slow}")),
        )
        .unwrap();
        let single = json(
            dir.path(),
            &[
                "backtest",
                file.to_str().unwrap(),
                "--data",
                &data,
                "--json",
            ],
        );
        assert_eq!(
            r["return_pct"], single["return_pct"],
            "fast={fast} slow={slow}"
        );
        assert_eq!(r["trades"], single["trades"]);
        assert_eq!(r["max_drawdown_pct"], single["max_drawdown_pct"]);
        let got = r["return_pct"].as_f64().unwrap();
        assert!(got <= previous, "best first");
        previous = got;
        best = best.max(single["return_pct"].as_f64().unwrap());
    }
    // The document's own statistics are the winner's.
    assert_eq!(v["return_pct"].as_f64().unwrap().to_bits(), best.to_bits());
    assert_eq!(v["params"]["fast"], results[0]["params"]["fast"]);

    let table = text(
        &botforge(
            dir.path(),
            &[
                "backtest",
                "sma.toml",
                "--data",
                &data,
                "--sweep",
                "fast=5..15:5",
            ],
            &[],
        )
        .stdout,
    );
    assert!(
        table.starts_with("sweep: 3 combinations by sharpe_ratio"),
        "{table}"
    );
    assert!(table.contains("best: fast="), "{table}");
    assert!(table.contains("Sharpe Ratio"), "{table}");
}

#[test]
fn sweep_mistakes_are_named_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("sma.toml"), SMA).unwrap();
    let data = goog();
    for (sweep, maximize, says) in [
        (
            "fast=5-15",
            "sharpe_ratio",
            "--sweep fast=5-15: no `..` between FROM and TO",
        ),
        ("fast=5..x:5", "sharpe_ratio", "TO `x` is not a number"),
        ("fast=15..5", "sharpe_ratio", "TO is below FROM"),
        (
            "period=5..15",
            "sharpe_ratio",
            "the strategy has no param `period`",
        ),
        (
            "fast=1..3",
            "sharpe_ratio",
            "with fast=1 the strategy is invalid: sma's `n` must be a whole number from 2",
        ),
        (
            "fast=5..15:5",
            "profit",
            "--maximize profit: not a statistic",
        ),
    ] {
        let out = botforge(
            dir.path(),
            &[
                "backtest",
                "sma.toml",
                "--data",
                &data,
                "--sweep",
                sweep,
                "--maximize",
                maximize,
                "--report",
                "r.html",
            ],
            &[],
        );
        assert_eq!(out.status.code(), Some(1), "{sweep}: {}", text(&out.stderr));
        assert!(
            text(&out.stderr).contains(says),
            "{sweep}: {}",
            text(&out.stderr)
        );
        assert!(!dir.path().join("r.html").exists());
    }
}

/// The DOM of a page once Chromium has loaded it.
fn dump_dom(chromium: &Path, page: &Path) -> String {
    let dom = Command::new(chromium)
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--dump-dom"])
        .arg(format!("file://{}", page.display()))
        .output()
        .unwrap();
    assert!(dom.status.success(), "{}", text(&dom.stderr));
    text(&dom.stdout)
}

fn chromium() -> Option<PathBuf> {
    let found = ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .find_map(|name| {
            std::env::var_os("PATH").and_then(|paths| {
                std::env::split_paths(&paths)
                    .map(|p| p.join(name))
                    .find(|p| p.is_file())
            })
        });
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "chromium is not installed: .ci/run installs Debian's chromium"
        );
    }
    found
}

/// Pixels within `tolerance` (per channel) of `rgb`.
fn count(img: &[u8], channels: usize, rgb: (u8, u8, u8), tolerance: u8) -> usize {
    img.chunks(channels)
        .filter(|p| {
            p[0].abs_diff(rgb.0) <= tolerance
                && p[1].abs_diff(rgb.1) <= tolerance
                && p[2].abs_diff(rgb.2) <= tolerance
        })
        .count()
}

#[test]
fn the_report_renders_in_headless_chromium() {
    let Some(chromium) = chromium() else { return };
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("sma.toml"), SMA).unwrap();
    let data = goog();
    let v = json(
        dir.path(),
        &[
            "backtest",
            "sma.toml",
            "--data",
            &data,
            "--sweep",
            "fast=5..50:5",
            "--sweep",
            "slow=20..200:20",
            "--report",
            "report.html",
            "--json",
        ],
    );
    let html = std::fs::read_to_string(dir.path().join("report.html")).unwrap();
    // Self-contained: nothing to fetch, no scripts.
    for bad in ["http://", "https://", "<script", "src="] {
        assert!(!html.contains(bad), "report contains {bad}");
    }
    let url = format!("file://{}", dir.path().join("report.html").display());
    let common = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--hide-scrollbars",
    ];
    let dom = Command::new(&chromium)
        .args(common)
        .arg("--dump-dom")
        .arg(&url)
        .output()
        .unwrap();
    assert!(dom.status.success(), "{}", text(&dom.stderr));
    let dom = text(&dom.stdout);
    // The browser's DOM holds the charts, one marker per trade, and the statistics.
    for id in ["price", "equity", "drawdown", "heatmap"] {
        assert!(dom.contains(&format!("<svg id=\"{id}\"")), "no #{id} chart");
    }
    let trades =
        v["trade_list"].as_array().unwrap().len() + v["open_trades"].as_array().unwrap().len();
    assert!(trades > 10);
    assert_eq!(dom.matches("class=\"entry long\"").count(), trades);
    assert_eq!(dom.matches("<rect class=\"cell\"").count(), 100);
    for key in ["equity_final", "return_pct", "max_drawdown_pct"] {
        let want = format!("<tr data-key=\"{key}\"><th>{}", "");
        assert!(dom.contains(&want), "no {key} row");
        let value = format!("{:.2}</td>", v[key].as_f64().unwrap());
        let row = dom
            .split(&want)
            .nth(1)
            .unwrap()
            .split("</tr>")
            .next()
            .unwrap();
        assert!(row.ends_with(&value), "{key}: {row} should show {value}");
    }
    assert!(dom.contains("SMA cross &lt;long only&gt; &amp; more"));

    // The screenshot shows what the SVG drew: the equity line, the drawdown area, the markers.
    let artifacts = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let shot = artifacts.join("report.png");
    let _ = std::fs::remove_file(&shot);
    let out = Command::new(&chromium)
        .args(common)
        .arg("--window-size=1200,3200")
        .arg(format!("--screenshot={}", shot.display()))
        .arg(&url)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&shot).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    let channels = info.color_type.samples();
    let img = &buf[..info.buffer_size()];
    let equity = count(img, channels, (31, 119, 180), 40);
    let drawdown = count(img, channels, (239, 177, 178), 12);
    let green = count(img, channels, (44, 160, 44), 40);
    let viridis_yellow = count(img, channels, (253, 231, 37), 30);
    assert!(
        equity > 1000,
        "equity line pixels: {equity} (screenshot {})",
        shot.display()
    );
    assert!(drawdown > 5000, "drawdown area pixels: {drawdown}");
    assert!(green > 200, "trade marker pixels: {green}");
    assert!(
        viridis_yellow > 100,
        "best heatmap cell pixels: {viridis_yellow}"
    );
}

/// Issue 21: the report draws each trade's stop and target and says why each trade closed.
#[test]
fn the_report_draws_stops_targets_and_exit_causes() {
    let Some(chromium) = chromium() else { return };
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("atr.toml"),
        r#"name = "AtrBracket"
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
"#,
    )
    .unwrap();
    let data = goog();
    let v = json(
        dir.path(),
        &[
            "backtest", "atr.toml", "--data", &data, "--report", "r.html", "--json",
        ],
    );
    let trades = v["trade_list"].as_array().unwrap();
    let by = |reason: &str| trades.iter().filter(|t| t["exit_reason"] == reason).count();
    for reason in ["stop", "target", "time"] {
        assert!(by(reason) > 0, "no {reason} exit to show");
    }
    let dom = dump_dom(&chromium, &dir.path().join("r.html"));
    let all = trades.len() + v["open_trades"].as_array().unwrap().len();
    assert_eq!(dom.matches("<path class=\"level stop\"").count(), all);
    assert_eq!(dom.matches("<path class=\"level target\"").count(), all);
    for reason in ["stop", "target", "time", "signal"] {
        assert_eq!(
            dom.matches(&format!(" by-{reason}\"")).count(),
            by(reason),
            "exit markers by {reason}"
        );
        assert_eq!(
            dom.matches(&format!("<td class=\"reason\">{reason}</td>"))
                .count(),
            by(reason),
            "trade rows by {reason}"
        );
    }
}

/// Issue 33: a trailing stop is drawn stepping up as it moved, and a stepping take-profit
/// (`roi`) stepping down at each of its ages, each as its levels were set.
#[test]
fn the_report_draws_trailing_stops_and_stepping_targets_as_they_moved() {
    let Some(chromium) = chromium() else { return };
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("trail.toml"),
        r#"name = "TrailRoi"
[indicators]
rsi = "rsi(close, 14)"
[rules]
entry_long = "rsi < 40"
exit_long = "rsi > 75"
[risk]
trailing_stop_pct = 6
roi = [[0, 12.0], [5, 6.0], [15, 1.0]]
"#,
    )
    .unwrap();
    let data = goog();
    let _ = json(
        dir.path(),
        &[
            "backtest",
            "trail.toml",
            "--data",
            &data,
            "--report",
            "r.html",
            "--json",
        ],
    );
    let dom = dump_dom(&chromium, &dir.path().join("r.html"));
    // Each level path: its class, its step count and the y of each level in order.
    let paths: Vec<(bool, usize, Vec<f64>)> = dom
        .split("<path class=\"level ")
        .skip(1)
        .map(|p| {
            let stop = p.starts_with("stop");
            let steps = p
                .split("data-steps=\"")
                .nth(1)
                .and_then(|s| s.split('"').next())
                .and_then(|s| s.parse().ok())
                .unwrap();
            let d = p.split(" d=\"").nth(1).unwrap().split('"').next().unwrap();
            let first: f64 = d
                .trim_start_matches('M')
                .split([',', ' '])
                .nth(1)
                .unwrap()
                .parse()
                .unwrap();
            let ys = std::iter::once(first)
                .chain(
                    d.split(" V")
                        .skip(1)
                        .map(|v| v.split(' ').next().unwrap().parse().unwrap()),
                )
                .collect();
            (stop, steps, ys)
        })
        .collect();
    let moved_stops: Vec<_> = paths.iter().filter(|p| p.0 && p.1 > 2).collect();
    assert!(!moved_stops.is_empty(), "no trailing stop moved");
    for (_, steps, ys) in &moved_stops {
        assert_eq!(ys.len(), *steps);
        // A long's trailing stop only rises: its y only falls.
        assert!(ys.windows(2).all(|w| w[1] <= w[0]), "{ys:?}");
    }
    let stepped_targets: Vec<_> = paths.iter().filter(|p| !p.0 && p.1 >= 2).collect();
    assert!(!stepped_targets.is_empty(), "no stepping target stepped");
    for (_, _, ys) in &stepped_targets {
        // 12 %, 6 %, 1 % above the fill: the target only falls, its y only rises.
        assert!(ys.windows(2).all(|w| w[1] > w[0]), "{ys:?}");
    }
}

/// Issue 17: price-scale indicators are drawn over the price chart, oscillators each in a panel
/// of their own, for `[indicators]` and for calls written straight into the rules.
#[test]
fn the_report_overlays_price_series_and_panels_oscillators() {
    let Some(chromium) = chromium() else { return };
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("mix.toml"),
        r#"name = "Mix"
[indicators]
trend = "sma(close, 50)"
band = "bbands(close, 20, 2).lower"
osc = "rsi(close, 14)"
[rules]
entry_long = "close > trend and osc < 40 and cci(20) < -100"
exit_long = "close < band - 2 * atr(14) or osc > 70"
"#,
    )
    .unwrap();
    let data = goog();
    json(
        dir.path(),
        &[
            "backtest", "mix.toml", "--data", &data, "--report", "r.html", "--json",
        ],
    );
    let dom = dump_dom(&chromium, &dir.path().join("r.html"));
    for overlay in ["trend", "band"] {
        assert!(
            dom.contains(&format!(
                "<polyline class=\"overlay\" data-name=\"{overlay}\""
            )),
            "{overlay} over the price"
        );
    }
    // Each oscillator in its own panel: rsi from [indicators], cci(20) and atr(14) from the rules.
    for (k, name) in ["osc", "cci(20)", "atr(14)"].iter().enumerate() {
        assert!(
            dom.contains(&format!("<svg id=\"ind-{k}\"")),
            "panel {k} for {name}"
        );
        assert!(
            dom.contains(&format!(
                "<polyline class=\"indicator\" data-name=\"{name}\""
            )),
            "{name} in a panel"
        );
    }
    assert!(!dom.contains("<svg id=\"ind-3\""), "no other panel");
}

/// Issue 35: a portfolio's report has a price pane per symbol, each with that symbol's own
/// trade markers and oscillator panels, then the portfolio's equity and a trade list with each
/// trade's symbol; rendered by Chromium.
#[test]
fn a_portfolio_report_has_a_pane_per_symbol() {
    let Some(chromium) = chromium() else { return };
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("p.toml"),
        SMA.replace("[rules]", "r = \"rsi(close, 14)\"\n[rules]"),
    )
    .unwrap();
    let data = goog();
    let mut half = String::new();
    for (i, l) in std::fs::read_to_string(&data).unwrap().lines().enumerate() {
        if i % 2 == 0 {
            half.push_str(l);
            half.push('\n');
        }
    }
    std::fs::write(dir.path().join("half.csv"), half).unwrap();
    let v = json(
        dir.path(),
        &[
            "backtest",
            "p.toml",
            "--data",
            &data,
            "--data",
            "HALF=half.csv",
            "--report",
            "r.html",
            "--json",
        ],
    );
    let per = |s: &str| {
        v["trade_list"]
            .as_array()
            .unwrap()
            .iter()
            .chain(v["open_trades"].as_array().unwrap())
            .filter(|t| t["symbol"] == s)
            .count()
    };
    let dom = dump_dom(&chromium, &dir.path().join("r.html"));
    for (k, name) in ["GOOG", "HALF"].iter().enumerate() {
        assert!(
            dom.contains(&format!("{name}: price and trades")),
            "pane {name}"
        );
        // The pane holds this symbol's entries only.
        let pane = dom
            .split(&format!("id=\"price-{k}\""))
            .nth(1)
            .and_then(|rest| rest.split("</svg>").next())
            .unwrap();
        assert_eq!(
            pane.matches("class=\"entry long\"").count(),
            per(name),
            "{name}"
        );
        assert!(
            dom.contains(&format!("id=\"s{k}-ind-0\"")),
            "{name}'s RSI panel"
        );
    }
    assert!(dom.contains("id=\"equity\"") && dom.contains("<th>Symbol</th>"));
    let rows = v["trade_list"].as_array().unwrap().len();
    assert_eq!(
        dom.matches("<td>HALF</td>").count() + dom.matches("<td>GOOG</td>").count(),
        rows
    );
}
