//! Strategy-file mistakes that the TOML reader finds (a wrong type, an unknown or missing field),
//! said in the user's words: which section and field, what is expected there, and what was
//! found, instead of serde's "invalid type: string "five", expected f64".

/// What each field takes, in plain words with an example. `*` stands for any name.
const EXPECTED: &[(&str, &str, &str)] = &[
    ("", "name", "text in quotes, like \"MyRSIBot\""),
    (
        "",
        "timeframe",
        "a bar timeframe in quotes, like \"5m\" or \"1d\"",
    ),
    (
        "",
        "description",
        "text in quotes, like \"buy when RSI < 30\"",
    ),
    (
        "",
        "params",
        "a section: write [params] on a line of its own",
    ),
    (
        "",
        "indicators",
        "a section: write [indicators] on a line of its own",
    ),
    ("", "rules", "a section: write [rules] on a line of its own"),
    ("", "risk", "a section: write [risk] on a line of its own"),
    (
        "",
        "orders",
        "a section: write [orders] on a line of its own",
    ),
    (
        "",
        "portfolio",
        "a section: write [portfolio] on a line of its own",
    ),
    ("params", "*", "a number, like 14"),
    (
        "indicators",
        "*",
        "an expression in quotes, like \"sma(close, 20)\"",
    ),
    ("rules", "*", "a condition in quotes, like \"rsi < 30\""),
    (
        "risk",
        "size",
        "a fraction of equity above 0 and at most 1, like 0.5",
    ),
    ("risk", "stop_loss_pct", "a number of percent, like 5.0"),
    ("risk", "take_profit_pct", "a number of percent, like 10.0"),
    ("risk", "units", "a whole number of units, like 100"),
    ("risk", "risk_pct", "a percent of equity, like 1.0"),
    ("risk", "trailing_stop_pct", "a number of percent, like 5.0"),
    ("risk", "max_bars", "a whole number of bars, like 10"),
    (
        "risk",
        "max_size",
        "a fraction of equity above 0 and at most 1, like 0.5",
    ),
    (
        "risk",
        "trailing_offset_pct",
        "a number of percent, like 2.0",
    ),
    ("risk", "trailing_from", "\"close\" or \"high\" in quotes"),
    (
        "risk",
        "fractional_unit",
        "a fraction of one unit, like 0.00000001",
    ),
    (
        "risk",
        "*",
        "a price expression in quotes, like \"close - 2 * atr(14)\"",
    ),
    (
        "portfolio",
        "rank",
        "a number expression in quotes, like \"roc(close, 63)\"",
    ),
    (
        "portfolio",
        "max_positions",
        "a whole number of positions, like 5",
    ),
    (
        "portfolio",
        "rebalance",
        "\"W\", \"W-FRI\", \"ME\", \"QE\" or \"YE\" in quotes",
    ),
    ("portfolio", "top", "a whole number of symbols, like 3"),
    (
        "portfolio",
        "trade",
        "a list of symbol names, like [\"AAPL\", \"MSFT\"]",
    ),
    ("orders", "valid_bars", "a whole number of bars, like 3"),
    ("orders", "fill", "\"next_open\" or \"close\" in quotes"),
    (
        "orders",
        "reverse",
        "\"next_open\" or \"on_fill\" in quotes",
    ),
    ("orders", "oca", "true or false"),
    (
        "orders",
        "*",
        "a price expression in quotes, like \"highest(high, 20)\"",
    ),
];

/// The fields each section takes, for "unknown field" and "missing field" messages.
const FIELDS: &[(&str, &str)] = &[
    (
        "",
        "name, description, timeframe, and the sections [params], [indicators], [rules], [risk], [orders], [portfolio]",
    ),
    ("rules", "entry_long, exit_long, entry_short, exit_short"),
    (
        "risk",
        "size, units, risk_pct, stop_loss_pct, take_profit_pct, stop_loss_long, stop_loss_short, \
         take_profit_long, take_profit_short, trailing_stop_pct, trailing_stop_long, \
         trailing_stop_short, trailing_from, trailing_offset_pct, max_bars, fractional_unit, \
         max_size, roi, roi_unit, stop_from, pyramiding",
    ),
    (
        "orders",
        "entry_long_stop, entry_long_limit, entry_short_stop, entry_short_limit, valid_bars, fill, \
         reverse, oca",
    ),
    ("portfolio", "rank, max_positions, trade, rebalance, top"),
];

fn label(section: &str, field: &str) -> String {
    if section.is_empty() {
        format!("`{field}`")
    } else {
        format!("`[{section}] {field}`")
    }
}

fn expected(section: &str, field: &str) -> Option<&'static str> {
    EXPECTED
        .iter()
        .find(|(s, f, _)| *s == section && (*f == field || *f == "*"))
        .map(|(_, _, e)| *e)
}

/// serde's `Unexpected` (`string "five"`, `integer `5``, `boolean `true``…) in plain words.
fn found(unexpected: &str) -> String {
    let tick = |s: &str| s.trim_matches('`').to_owned();
    if let Some(s) = unexpected.strip_prefix("string ") {
        return format!("the text {s}");
    }
    if let Some(n) = unexpected.strip_prefix("integer ") {
        return format!("the whole number {}", tick(n));
    }
    if let Some(n) = unexpected.strip_prefix("floating point ") {
        return format!("the number {}", tick(n));
    }
    if let Some(b) = unexpected.strip_prefix("boolean ") {
        return format!("{} (a yes/no value)", tick(b));
    }
    match unexpected {
        "sequence" => "a list in [ ]".to_owned(),
        "map" => "a table".to_owned(),
        other => other.to_owned(),
    }
}

/// The section (`risk`, or "" for the top level) and the field (`stop_loss_pct`) that the line
/// holding byte `at` of `text` sets.
pub(crate) fn locate(text: &str, at: usize) -> (String, String) {
    let at = at.min(text.len());
    let start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    let end = text[at..].find('\n').map_or(text.len(), |i| at + i);
    let line = text[start..end].trim();
    let mut section = String::new();
    for l in text[..start].lines() {
        let l = l.trim();
        if let Some(name) = l.strip_prefix('[').and_then(|r| r.split(']').next()) {
            name.trim().clone_into(&mut section);
        }
    }
    let field = line
        .split_once('=')
        .map(|(k, _)| k.trim().trim_matches('"').to_owned())
        .unwrap_or_default();
    if let Some(name) = line.strip_prefix('[').and_then(|r| r.split(']').next()) {
        // The error is about a section header itself.
        return (String::new(), name.trim().to_owned());
    }
    (section, field)
}

/// `message` (the TOML reader's, about the field set at byte `at`) in plain words, with the
/// dotted field name for the error's `field`.
pub(crate) fn explain(text: &str, at: usize, message: &str) -> (String, String) {
    let message = message.trim();
    if let Some(name) = message
        .strip_prefix("missing field `")
        .and_then(|r| r.split('`').next())
    {
        // The span of a missing field is the table that lacks it.
        let (section, _) = locate(text, at);
        let section = if at == 0 { String::new() } else { section };
        let what = expected(&section, name).unwrap_or("a value");
        let path = dotted(&section, name);
        return (
            path,
            format!("{} is missing: it must be {what}", label(&section, name)),
        );
    }
    let (section, field) = locate(text, at);
    let path = dotted(&section, &field);
    if let Some(rest) = message.strip_prefix("unknown field `") {
        let name = rest.split('`').next().unwrap_or_default();
        let takes = FIELDS
            .iter()
            .find(|(s, _)| *s == section)
            .map_or(String::new(), |(_, f)| format!("; it takes {f}"));
        let place = if section.is_empty() {
            "the top of the file".to_owned()
        } else {
            format!("[{section}]")
        };
        return (
            dotted(&section, name),
            format!(
                "{} is not a field of {place}{takes} (check the spelling)",
                label(&section, name)
            ),
        );
    }
    if let Some(rest) = message.strip_prefix("invalid type: ")
        && let Some((unexpected, serde_expected)) = rest.rsplit_once(", expected ")
    {
        let what = expected(&section, &field).unwrap_or(serde_expected);
        return (
            path,
            format!(
                "{} must be {what}; found {}",
                label(&section, &field),
                found(unexpected)
            ),
        );
    }
    (path, message.to_owned())
}

fn dotted(section: &str, field: &str) -> String {
    match (section.is_empty(), field.is_empty()) {
        (_, true) => section.to_owned(),
        (true, false) => field.to_owned(),
        (false, false) => format!("{section}.{field}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_is_placed_in_its_section() {
        let text = "name = \"x\"\n[risk]\nsize = 1\nstop_loss_pct = \"five\"\n";
        let at = text.find("\"five\"").unwrap();
        assert_eq!(locate(text, at), ("risk".into(), "stop_loss_pct".into()));
        assert_eq!(locate(text, 2), (String::new(), "name".into()));
    }

    #[test]
    fn serde_words_become_the_users() {
        assert_eq!(found("string \"five\""), "the text \"five\"");
        assert_eq!(found("integer `5`"), "the whole number 5");
        assert_eq!(found("boolean `true`"), "true (a yes/no value)");
        assert_eq!(found("sequence"), "a list in [ ]");
    }
}
