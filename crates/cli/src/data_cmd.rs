//! `botforge data check`: how a data file is read, before a backtest trusts it.

use std::io::Write as _;
use std::path::Path;

use backtest::{Bars, Detected, LoadOptions};

/// The most common interval between bars, in milliseconds (the median).
fn bar_ms(b: &Bars) -> Option<i64> {
    let mut d: Vec<i64> = b.epoch_ms.windows(2).map(|w| w[1] - w[0]).collect();
    if d.is_empty() {
        return None;
    }
    d.sort_unstable();
    Some(d[d.len() / 2])
}

/// A duration in words: `1 day`, `4 hours`, `15 minutes`, `30 seconds`.
fn words(ms: i64) -> String {
    let s = ms / 1000;
    let (n, unit) = if s % 86_400 == 0 {
        (s / 86_400, "day")
    } else if s % 3600 == 0 {
        (s / 3600, "hour")
    } else if s % 60 == 0 {
        (s / 60, "minute")
    } else {
        (s, "second")
    };
    format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
}

/// The report as one JSON document.
fn json(file: &Path, b: &Bars, d: &Detected) -> serde_json::Value {
    let bar = bar_ms(b);
    let gaps = bar.map_or(0, |m| {
        b.epoch_ms
            .windows(2)
            .filter(|w| w[1] - w[0] > 3 * m)
            .count()
    });
    serde_json::json!({
        "file": file.display().to_string(),
        "format": d.format,
        "gzip": d.gzip,
        "delimiter": d.delimiter.to_string(),
        "decimal_comma": d.decimal_comma,
        "columns": d.columns.iter().map(|(name, role)| serde_json::json!({"name": name, "read_as": role})).collect::<Vec<_>>(),
        "time_columns": d.time_columns,
        "time_format": d.time_format.describe(),
        "offsets": d.offsets,
        "adjusted": d.adjusted,
        "rows": b.len(),
        "first": b.time.first(),
        "last": b.time.last(),
        "bar_seconds": bar.map(|m| m / 1000),
        "gaps": gaps,
        "volume": b.volume.iter().any(|v| !v.is_nan()),
    })
}

/// Runs the command.
pub fn run(file: &Path, opts: &LoadOptions, as_json: bool) -> anyhow::Result<()> {
    let (bars, detected) = backtest::load(file, opts)?;
    let doc = json(file, &bars, &detected);
    let mut out = std::io::stdout().lock();
    if as_json {
        writeln!(out, "{doc}")?;
        return Ok(());
    }
    let delim = match detected.delimiter {
        '\t' => "tab".to_owned(),
        c => format!("'{c}'"),
    };
    writeln!(
        out,
        "file        {}{}",
        file.display(),
        if detected.gzip { " (gzip)" } else { "" }
    )?;
    if detected.format == "parquet" {
        writeln!(out, "format      Parquet")?;
    } else {
        writeln!(
            out,
            "format      CSV, delimiter {delim}, decimal {}",
            if detected.decimal_comma {
                "comma"
            } else {
                "point"
            }
        )?;
    }
    let cols: Vec<String> = detected
        .columns
        .iter()
        .map(|(n, r)| {
            format!(
                "{} → {}",
                if n.is_empty() { "(unnamed)" } else { n },
                r.unwrap_or("ignored")
            )
        })
        .collect();
    writeln!(out, "columns     {}", cols.join(", "))?;
    writeln!(
        out,
        "time        {}: {}{}",
        detected
            .time_columns
            .iter()
            .map(|c| if c.is_empty() {
                "(unnamed)"
            } else {
                c.as_str()
            })
            .collect::<Vec<_>>()
            .join(" + "),
        detected.time_format.describe(),
        if detected.offsets {
            ", with UTC offsets (compared as instants)"
        } else {
            ""
        }
    )?;
    writeln!(out, "rows        {}", bars.len())?;
    writeln!(
        out,
        "first/last  {} .. {}",
        bars.time.first().unwrap_or_default(),
        bars.time.last().unwrap_or_default()
    )?;
    if let Some(m) = bar_ms(&bars) {
        writeln!(
            out,
            "bars        every {} (median); {} gaps longer than 3 bars",
            words(m),
            doc["gaps"]
        )?;
    }
    if detected.adjusted {
        writeln!(
            out,
            "adjusted    open, high, low and close scaled by Adj Close / Close"
        )?;
    }
    Ok(())
}
