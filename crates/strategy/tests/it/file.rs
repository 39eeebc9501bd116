//! Parsing and validating whole strategy files.

use strategy::{Strategy, StrategyError};

const GOOD: &str = r#"name = "MyRSIBot"
description = "RSI strategy: buy RSI<30, sell RSI>70"
[params]
period = 14
[indicators]
rsi = "rsi(close, period)"
[rules]
entry_long  = "rsi < 30"
exit_long   = "rsi > 70"
[risk]
size = 1.0
stop_loss_pct = 5.0
take_profit_pct = 10.0
"#;

fn err(text: &str) -> StrategyError {
    Strategy::from_toml("s.toml", text).unwrap_err()
}

#[test]
fn the_design_example_parses_and_round_trips() {
    let s = Strategy::from_toml("s.toml", GOOD).unwrap();
    assert_eq!(s.name, "MyRSIBot");
    assert_eq!(s.params, vec![("period".to_owned(), 14.0)]);
    assert_eq!(s.indicators[0].1.to_string(), "rsi(close, period)");
    assert_eq!(s.risk.stop_loss_pct, Some(5.0));
    let again = Strategy::from_toml("again.toml", &s.to_toml()).unwrap();
    assert_eq!(again, s);
    assert_eq!(again.to_toml(), s.to_toml(), "printing is deterministic");
}

#[test]
fn indicators_may_use_each_other_in_any_order() {
    let text = r#"name = "x"
[indicators]
spread = "fast - slow"
slow = "sma(close, 50)"
fast = "sma(close, 20)"
up = "crosses_above(fast, slow)"
[rules]
entry_long = "up and spread > 0"
"#;
    let s = Strategy::from_toml("s.toml", text).unwrap();
    let names: Vec<&str> = s.indicators.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        ["spread", "slow", "fast", "up"],
        "file order is kept"
    );
}

#[test]
fn errors_name_the_line_the_field_and_the_position() {
    let e = err(&GOOD.replace("rsi < 30", "rsi < 30 and close"));
    assert_eq!(
        (e.line, e.field.as_str(), e.pos),
        (8, "rules.entry_long", Some(13))
    );
    assert_eq!(
        e.to_string(),
        "s.toml:8: rules.entry_long: each side of `and` must be a condition (true/false), but `close` is a number\n    rsi < 30 and close\n                 ^"
    );
    let e = err(&GOOD.replace("rsi(close, period)", "rsi(clsoe, period)"));
    assert_eq!(
        (e.line, e.field.as_str(), e.pos),
        (6, "indicators.rsi", Some(4))
    );
    assert!(e.message.contains("did you mean `close`?"), "{e}");
    let e = err(&GOOD.replace("rsi > 70", "rsi > "));
    assert_eq!((e.line, e.pos), (9, Some(6)));
    assert!(e.message.contains("expected a value"), "{e}");
}

#[test]
#[expect(clippy::too_many_lines, reason = "one row per bad file")]
fn each_bad_file_gets_its_own_message() {
    let cases: Vec<(String, &str, &str)> = vec![
        (
            GOOD.replace("[risk]", "[risk]\nleverage = 2"),
            "risk.leverage",
            "`[risk] leverage` is not a field of [risk]; it takes size, units, risk_pct, stop_loss_pct, take_profit_pct, stop_loss_long",
        ),
        (
            GOOD.replace("exit_long ", "exit_lng "),
            "rules.exit_lng",
            "`[rules] exit_lng` is not a field of [rules]; it takes entry_long, exit_long,",
        ),
        (
            GOOD.replace("period = 14", "period = \"14\""),
            "params.period",
            "`[params] period` must be a number, like 14; found the text \"14\"",
        ),
        // Issue 16: the section, the field and what is expected, in the user's words.
        (
            GOOD.replace("stop_loss_pct = 5.0", "stop_loss_pct = \"five\""),
            "risk.stop_loss_pct",
            "`[risk] stop_loss_pct` must be a number of percent, like 5.0; found the text \"five\"",
        ),
        (
            GOOD.replace("entry_long  = \"rsi < 30\"", "entry_long = 30"),
            "rules.entry_long",
            "`[rules] entry_long` must be a condition in quotes, like \"rsi < 30\"; found the whole number 30",
        ),
        (
            GOOD.replace("name = \"MyRSIBot\"\n", ""),
            "name",
            "`name` is missing: it must be text in quotes",
        ),
        (
            GOOD.replace(
                "[rules]\nentry_long  = \"rsi < 30\"\nexit_long   = \"rsi > 70\"\n",
                "",
            ),
            "rules",
            "`rules` is missing: it must be a section",
        ),
        (
            GOOD.replace("name = \"MyRSIBot\"", "name = \"../evil\""),
            "name",
            "may only hold",
        ),
        (
            GOOD.replace("entry_long  = \"rsi < 30\"\n", ""),
            "rules",
            "needs entry_long or entry_short",
        ),
        (
            GOOD.replace("rsi < 30", "rsi - 30"),
            "rules.entry_long",
            "a rule must be a condition",
        ),
        (
            GOOD.replace("rsi(close, period)", "rsi(close)"),
            "indicators.rsi",
            "rsi takes 2 arguments — rsi(x, n) — but got 1",
        ),
        (
            GOOD.replace("period = 14", "period = 14.5"),
            "indicators.rsi",
            "must be a whole number from 2 to 100000, got 14.5",
        ),
        (
            GOOD.replace("period = 14", "period = 1"),
            "indicators.rsi",
            "from 2 to 100000, got 1",
        ),
        (
            GOOD.replace("rsi(close, period)", "rsi(close, close)"),
            "indicators.rsi",
            "must be a whole number or a [params] name",
        ),
        (
            GOOD.replace("rsi(close, period)", "macd(close, 26, 12, 9).line"),
            "indicators.rsi",
            "fast period (26) must be shorter",
        ),
        (
            GOOD.replace("rsi(close, period)", "bbands(close, 20, 2)"),
            "indicators.rsi",
            "add one of .upper, .middle, .lower",
        ),
        (
            GOOD.replace("rsi(close, period)", "rsi(close, period) > 3"),
            "rules.entry_long",
            "each side of `<` must be a number",
        ),
        (
            GOOD.replace("rsi(close, period)", "rsi2 + 1")
                .replace("[rules]", "rsi2 = \"rsi * 2\"\n[rules]"),
            "indicators.rsi",
            "in a circle: rsi → rsi2 → rsi",
        ),
        (
            GOOD.replace("period = 14", "period = 14\nclose = 3"),
            "params.close",
            "built-in name",
        ),
        (
            GOOD.replace("period = 14", "period = 14\nrsi = 3"),
            "indicators.rsi",
            "also a [params] name",
        ),
        (
            GOOD.replace("size = 1.0", "size = 1.5"),
            "risk.size",
            "at most 1, got 1.5",
        ),
        (
            GOOD.replace("stop_loss_pct = 5.0", "stop_loss_pct = 0"),
            "risk.stop_loss_pct",
            "above 0 and below 100",
        ),
        (
            GOOD.replace("take_profit_pct = 10.0", "take_profit_pct = -1"),
            "risk.take_profit_pct",
            "above 0",
        ),
        (
            GOOD.replace("rsi < 30", "sma < 30"),
            "rules.entry_long",
            "`sma` is a function: call it as sma(x, n)",
        ),
        (
            GOOD.replace("rsi < 30", "stoch(5, 3, 3).k[1] < 20 and atr(0) > 1"),
            "rules.entry_long",
            "atr's `n` must be a whole number from 1",
        ),
        (
            "name = \"x\"\n[rules]\nentry_long = \"close > \"\"\n".to_owned(),
            "rules.entry_long",
            "",
        ),
    ];
    for (text, field, want) in cases {
        let e = err(&text);
        assert_eq!(e.field, field, "{e}");
        assert!(e.to_string().contains(want), "wanted {want:?} in:\n{e}");
        assert!(e.line > 0, "{e}");
    }
}

#[test]
fn every_function_and_output_type_checks() {
    let text = r#"name = "all"
[params]
fast = 12
k = 2
[indicators]
m = "macd(close, fast, 26, 9).hist"
b = "bbands(close, 20, k).lower"
s = "stoch(14, 3, 3).d"
x = "sma(close, 5) + ema(close, 5) + wma(close, 5) + highest(high, 10) - lowest(low, 10)"
t = "atr(14) / adx(14)"
[rules]
entry_long = "crosses_above(close, b) and m > 0 or crosses_below(s, 20) and not (x[1] == 0) and t != 1"
entry_short = "macd(close, 12, 26, 9).signal[2] < macd(close, 12, 26, 9).line"
"#;
    let s = Strategy::from_toml("s.toml", text).unwrap();
    assert_eq!(Strategy::from_toml("again", &s.to_toml()).unwrap(), s);
}
