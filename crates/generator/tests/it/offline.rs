//! The offline compiler: exact strategies for the controlled vocabulary, exact refusals.

use generator::offline::compile;

/// The strategy file without its name and description lines, blank lines dropped.
fn body(description: &str) -> String {
    let s = compile(description).unwrap_or_else(|e| panic!("{description}: {e}"));
    assert_eq!(s.description, description);
    let toml = s.to_toml();
    toml.lines()
        .skip(2)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
#[expect(clippy::too_many_lines, reason = "one row per description")]
fn thirty_two_descriptions_compile_to_exact_strategies() {
    let cases: &[(&str, &str)] = &[
        (
            r"buy when RSI(14) < 30, sell when RSI > 70",
            r#"[indicators]
rsi_14 = "rsi(close, 14)"
[rules]
entry_long = "rsi_14 < 30"
exit_long = "rsi_14 > 70"
[risk]
size = 1.0"#,
        ),
        (
            r"buy when rsi below 25 and adx above 20, exit when rsi above 60, 3% stop loss, 6% take profit",
            r#"[indicators]
adx_14 = "adx(14)"
rsi_14 = "rsi(close, 14)"
[rules]
entry_long = "rsi_14 < 25 and adx_14 > 20"
exit_long = "rsi_14 > 60"
[risk]
size = 1.0
stop_loss_pct = 3.0
take_profit_pct = 6.0"#,
        ),
        (
            r"go long when the 20-day SMA crosses above the 50-day SMA, exit when it crosses below",
            r#"[indicators]
sma_20 = "sma(close, 20)"
sma_50 = "sma(close, 50)"
[rules]
entry_long = "crosses_above(sma_20, sma_50)"
exit_long = "crosses_below(sma_20, sma_50)"
[risk]
size = 1.0"#,
        ),
        (
            r"long when ema(12) crosses above ema(26), short when ema(12) crosses below ema(26)",
            r#"[indicators]
ema_12 = "ema(close, 12)"
ema_26 = "ema(close, 26)"
[rules]
entry_long = "crosses_above(ema_12, ema_26)"
entry_short = "crosses_below(ema_12, ema_26)"
[risk]
size = 1.0"#,
        ),
        (
            r"buy when wma(10) crosses above wma(30), sell when wma(10) crosses below wma(30), long only",
            r#"[indicators]
wma_10 = "wma(close, 10)"
wma_30 = "wma(close, 30)"
[rules]
entry_long = "crosses_above(wma_10, wma_30)"
exit_long = "crosses_below(wma_10, wma_30)"
[risk]
size = 1.0"#,
        ),
        (
            r"buy when close crosses above the 200-day sma, sell when close crosses below the 200-day sma",
            r#"[indicators]
sma_200 = "sma(close, 200)"
[rules]
entry_long = "crosses_above(close, sma_200)"
exit_long = "crosses_below(close, sma_200)"
[risk]
size = 1.0"#,
        ),
        (
            r"buy when price is above sma(50) and rsi(14) < 40, sell when price is below sma(50)",
            r#"[indicators]
rsi_14 = "rsi(close, 14)"
sma_50 = "sma(close, 50)"
[rules]
entry_long = "close > sma_50 and rsi_14 < 40"
exit_long = "close < sma_50"
[risk]
size = 1.0"#,
        ),
        (
            r"buy when macd crosses above the signal line, sell when macd crosses below the signal line",
            r#"[indicators]
macd_line = "macd(close, 12, 26, 9).line"
macd_signal = "macd(close, 12, 26, 9).signal"
[rules]
entry_long = "crosses_above(macd_line, macd_signal)"
exit_long = "crosses_below(macd_line, macd_signal)"
[risk]
size = 1.0"#,
        ),
        (
            r"buy when macd(8, 21, 5) crosses above signal, exit when macd histogram < 0",
            r#"[indicators]
macd_8_21_5_hist = "macd(close, 8, 21, 5).hist"
macd_8_21_5_line = "macd(close, 8, 21, 5).line"
macd_8_21_5_signal = "macd(close, 8, 21, 5).signal"
[rules]
entry_long = "crosses_above(macd_8_21_5_line, macd_8_21_5_signal)"
exit_long = "macd_8_21_5_hist < 0"
[risk]
size = 1.0"#,
        ),
        (
            r"buy when price touches the lower bollinger band, sell when price touches the upper bollinger band",
            r#"[indicators]
bb_lower = "bbands(close, 20, 2).lower"
bb_upper = "bbands(close, 20, 2).upper"
[rules]
entry_long = "low <= bb_lower"
exit_long = "high >= bb_upper"
[risk]
size = 1.0"#,
        ),
        (
            r"buy when close < lower bollinger band(20, 2.5), sell when close > middle bollinger band",
            r#"[indicators]
bb_20_2p5_lower = "bbands(close, 20, 2.5).lower"
bb_20_2p5_middle = "bbands(close, 20, 2.5).middle"
[rules]
entry_long = "close < bb_20_2p5_lower"
exit_long = "close > bb_20_2p5_middle"
[risk]
size = 1.0"#,
        ),
        (
            r"buy when close breaks above the 20-day high, sell when close breaks below the 10-day low",
            r#"[indicators]
highest_20 = "highest(high, 20)"
lowest_10 = "lowest(low, 10)"
[rules]
entry_long = "close > highest_20[1]"
exit_long = "close < lowest_10[1]"
[risk]
size = 1.0"#,
        ),
        (
            r"short when close breaks below the 55-bar low, cover when close breaks above the 20-bar high",
            r#"[indicators]
highest_20 = "highest(high, 20)"
lowest_55 = "lowest(low, 55)"
[rules]
entry_short = "close < lowest_55[1]"
exit_short = "close > highest_20[1]"
[risk]
size = 1.0"#,
        ),
        (
            r"buy when stochastic %k < 20, sell when stochastic %k > 80",
            r#"[indicators]
stoch_k = "stoch(14, 3, 3).k"
[rules]
entry_long = "stoch_k < 20"
exit_long = "stoch_k > 80"
[risk]
size = 1.0"#,
        ),
        (
            r"buy when stochastic(5, 3, 3) %k crosses above %d and %k < 30, sell when %k > 70",
            r#"[indicators]
stoch_5_3_3_d = "stoch(5, 3, 3).d"
stoch_5_3_3_k = "stoch(5, 3, 3).k"
[rules]
entry_long = "crosses_above(stoch_5_3_3_k, stoch_5_3_3_d) and stoch_5_3_3_k < 30"
exit_long = "stoch_5_3_3_k > 70"
[risk]
size = 1.0"#,
        ),
        (
            r"buy when rsi(2) < 10 and close > sma(200), sell when rsi(2) > 90, size 50%",
            r#"[indicators]
rsi_2 = "rsi(close, 2)"
sma_200 = "sma(close, 200)"
[rules]
entry_long = "rsi_2 < 10 and close > sma_200"
exit_long = "rsi_2 > 90"
[risk]
size = 0.5"#,
        ),
        (
            r"short when rsi > 70, cover when rsi < 30",
            r#"[indicators]
rsi_14 = "rsi(close, 14)"
[rules]
entry_short = "rsi_14 > 70"
exit_short = "rsi_14 < 30"
[risk]
size = 1.0"#,
        ),
        (
            r"sell short when rsi(14) > 80, buy to cover when rsi(14) < 50, 4% stop loss",
            r#"[indicators]
rsi_14 = "rsi(close, 14)"
[rules]
entry_short = "rsi_14 > 80"
exit_short = "rsi_14 < 50"
[risk]
size = 1.0
stop_loss_pct = 4.0"#,
        ),
        (
            r"buy when rsi < 30, sell when rsi > 70, long and short",
            r#"[indicators]
rsi_14 = "rsi(close, 14)"
[rules]
entry_long = "rsi_14 < 30"
entry_short = "rsi_14 > 70"
[risk]
size = 1.0"#,
        ),
        (
            r"buy when the 50-day exponential moving average crosses above the 200-day exponential moving average",
            r#"[indicators]
ema_200 = "ema(close, 200)"
ema_50 = "ema(close, 50)"
[rules]
entry_long = "crosses_above(ema_50, ema_200)"
[risk]
size = 1.0"#,
        ),
        (
            r"buy when the simple moving average 20 crosses above the simple moving average 100, sell when it crosses below",
            r#"[indicators]
sma_100 = "sma(close, 100)"
sma_20 = "sma(close, 20)"
[rules]
entry_long = "crosses_above(sma_20, sma_100)"
exit_long = "crosses_below(sma_20, sma_100)"
[risk]
size = 1.0"#,
        ),
        (
            r"enter long when adx(14) > 25 and close > ema(20); exit long when close < ema(20)",
            r#"[indicators]
adx_14 = "adx(14)"
ema_20 = "ema(close, 20)"
[rules]
entry_long = "adx_14 > 25 and close > ema_20"
exit_long = "close < ema_20"
[risk]
size = 1.0"#,
        ),
        (
            r"when rsi(14) < 30, buy. when rsi(14) > 70, sell.",
            r#"[indicators]
rsi_14 = "rsi(close, 14)"
[rules]
entry_long = "rsi_14 < 30"
exit_long = "rsi_14 > 70"
[risk]
size = 1.0"#,
        ),
        (
            r"buy when rsi < 30 or close < lower bollinger band, sell when rsi > 70",
            r#"[indicators]
bb_lower = "bbands(close, 20, 2).lower"
rsi_14 = "rsi(close, 14)"
[rules]
entry_long = "rsi_14 < 30 or close < bb_lower"
exit_long = "rsi_14 > 70"
[risk]
size = 1.0"#,
        ),
        (
            r"buy when atr(14) > 2 and close crosses above sma(20)",
            r#"[indicators]
atr_14 = "atr(14)"
sma_20 = "sma(close, 20)"
[rules]
entry_long = "atr_14 > 2 and crosses_above(close, sma_20)"
[risk]
size = 1.0"#,
        ),
        (
            r"buy when close > open and rsi < 50, 2% stop loss, 4% take profit, size 25%",
            r#"[indicators]
rsi_14 = "rsi(close, 14)"
[rules]
entry_long = "close > open and rsi_14 < 50"
[risk]
size = 0.25
stop_loss_pct = 2.0
take_profit_pct = 4.0"#,
        ),
        (
            r"buy when rsi(7) crosses above 30, sell when rsi(7) crosses below 70",
            r#"[indicators]
rsi_7 = "rsi(close, 7)"
[rules]
entry_long = "crosses_above(rsi_7, 30)"
exit_long = "crosses_below(rsi_7, 70)"
[risk]
size = 1.0"#,
        ),
        (
            r"buy when sma(10) > sma(30), sell when sma(10) < sma(30), long only",
            r#"[indicators]
sma_10 = "sma(close, 10)"
sma_30 = "sma(close, 30)"
[rules]
entry_long = "sma_10 > sma_30"
exit_long = "sma_10 < sma_30"
[risk]
size = 1.0"#,
        ),
        (
            r"go short when macd crosses below signal, cover when macd crosses above signal, short only",
            r#"[indicators]
macd_line = "macd(close, 12, 26, 9).line"
macd_signal = "macd(close, 12, 26, 9).signal"
[rules]
entry_short = "crosses_below(macd_line, macd_signal)"
exit_short = "crosses_above(macd_line, macd_signal)"
[risk]
size = 1.0"#,
        ),
        (
            r"buy when ema(9) crosses above ema(21) and adx > 20, 5% take profit, 2.5% stop loss",
            r#"[indicators]
adx_14 = "adx(14)"
ema_21 = "ema(close, 21)"
ema_9 = "ema(close, 9)"
[rules]
entry_long = "crosses_above(ema_9, ema_21) and adx_14 > 20"
[risk]
size = 1.0
stop_loss_pct = 2.5
take_profit_pct = 5.0"#,
        ),
        (
            r"buy when low touches the lower bollinger band (20, 2)",
            r#"[indicators]
bb_lower = "bbands(close, 20, 2).lower"
[rules]
entry_long = "low <= bb_lower"
[risk]
size = 1.0"#,
        ),
        (
            r"buy when rsi(14) is less than 35, sell when rsi(14) is greater than 65",
            r#"[indicators]
rsi_14 = "rsi(close, 14)"
[rules]
entry_long = "rsi_14 < 35"
exit_long = "rsi_14 > 65"
[risk]
size = 1.0"#,
        ),
    ];
    assert!(cases.len() >= 30);
    for (description, want) in cases {
        assert_eq!(body(description), *want, "{description}");
    }
}

#[test]
fn refusals_quote_the_words_and_say_what_would_work() {
    let cases: &[(&str, &[&str])] = &[
        (
            r"buy when the moon is full",
            &[r#"could not place "the moon is full""#],
        ),
        (r"buy low sell high", &[r#""low sell high""#]),
        (
            r"buy when rsi(1) < 30",
            &[r#""rsi(1)": n must be a whole number of 2 or more"#],
        ),
        (
            r"buy when sma crosses above ema(50)",
            &[r#""sma" needs a period, e.g. "sma 50""#],
        ),
        (
            r"sell when rsi > 70",
            &["no entry rule: say when to buy or to short"],
        ),
        (
            r"buy when rsi crosses 30",
            &[
                r#""crosses 30""#,
                "did you mean: RSI(14) crosses above 30; RSI(14) crosses below 30?",
            ],
        ),
        (
            r"buy when rsi < 30, 5 stop loss",
            &[r#""5 stop loss""#, "5% stop loss"],
        ),
        (
            r"buy when macd(26, 12, 9) crosses above signal",
            &["fast period (26) must be shorter than its slow period (12)"],
        ),
        (
            r"buy when price touches the bollinger band",
            &["say which line of \"bollinger band\": upper, middle, lower"],
        ),
        (
            r"buy when rsi < 30, exit when it crosses below",
            &[r#""crosses below" what?"#],
        ),
        (r"purchase when rsi < 30", &[r#""purchase when rsi < 30""#]),
        (
            r"buy when RSI(14) dips beneth 30",
            &[r#""beneath" for "beneth""#],
        ),
        (
            r"buy when the stochastc is oversold",
            &[r#""stochastic" for "stochastc""#],
        ),
        (r"buy when RSI(14) is low", &["RSI(14) crosses below 30"]),
    ];
    for (description, wants) in cases {
        let err = compile(description).expect_err(description).to_string();
        for want in *wants {
            assert!(err.contains(want), "{description}: {err}");
        }
    }
}

#[test]
fn words_it_does_not_know_point_to_gemini() {
    let err = compile("buy when the moon is full")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("set a Gemini key (GEMINI_API_KEY) for free-form ideas"),
        "{err}"
    );
}

#[test]
fn compiling_is_deterministic() {
    let d = "buy when ema(9) crosses above ema(21) and adx > 20, 5% take profit, 2.5% stop loss";
    assert_eq!(compile(d).unwrap().to_toml(), compile(d).unwrap().to_toml());
}

mod never_panics {
    use generator::offline::compile;
    use proptest::prelude::*;

    /// Words and symbols the compiler reacts to, so random texts reach deep into the grammar.
    const PIECES: &[&str] = &[
        "buy",
        "sell",
        "short",
        "cover",
        "exit",
        "when",
        "if",
        "and",
        "or",
        "then",
        "it",
        "its",
        "both",
        "rsi",
        "sma",
        "ema",
        "macd",
        "signal",
        "line",
        "bollinger",
        "upper",
        "lower",
        "band",
        "%k",
        "%d",
        "stochastic",
        "atr",
        "adx",
        "crosses",
        "above",
        "below",
        "back",
        "opposite",
        "cross",
        "golden",
        "death",
        "day",
        "bars",
        "high",
        "low",
        "close",
        "new",
        "stop",
        "loss",
        "take",
        "profit",
        "trailing",
        "size",
        "half",
        "account",
        "risk",
        "per",
        "trade",
        "only",
        "between",
        "on",
        "mondays",
        "after",
        "before",
        "oversold",
        "turns",
        "positive",
        "the",
        "a",
        "of",
        "fast",
        "slow",
        "in",
        "a",
        "row",
        "every",
        "time",
        ":",
        ",",
        ".",
        ";",
        "(",
        ")",
        "<",
        ">",
        "=",
        "%",
        "/",
        "+",
        "-",
        "*",
        "2",
        "14",
        "30",
        "0.5",
        "-80",
        "9:30",
        "1.",
        "x",
        "long",
        "both",
        "ways",
        "hammer",
        "bullish",
        "engulfing",
    ];

    fn text() -> impl Strategy<Value = String> {
        prop_oneof![
            prop::collection::vec(prop::sample::select(PIECES), 0..24).prop_map(|w| w.join(" ")),
            ".{0,80}",
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// Any text gets a strategy or an error, never a panic; a refusal is never empty.
        #[test]
        fn any_text_compiles_or_is_refused(t in text()) {
            match compile(&t) {
                Ok(s) => prop_assert!(s.rules.entry_long.is_some() || s.rules.entry_short.is_some()),
                Err(e) => prop_assert!(!e.to_string().trim().is_empty()),
            }
        }
    }
}

/// Issue 36: "N days" in a time exit counts bars. On daily bars it is days; with an intraday
/// timeframe in the text it is refused with the count in bars to write instead (how many bars a
/// day holds depends on the market's hours); without a timeframe the file says bars and a note
/// says so.
#[test]
fn a_time_exit_in_days_is_days_only_on_daily_bars() {
    use generator::offline::compile_noted;
    let (s, notes) =
        compile_noted("On daily candles, buy when RSI(14) is under 30, exit after 10 days")
            .unwrap();
    assert_eq!(s.risk.max_bars, Some(10));
    assert!(notes.is_empty(), "{notes:?}");
    let (s, notes) = compile_noted("buy when RSI(14) is under 30, exit after 10 days").unwrap();
    assert_eq!(s.risk.max_bars, Some(10));
    assert_eq!(notes.len(), 1);
    assert!(
        notes[0]
            .starts_with("\"10 days\" is `max_bars = 10`: bars, which are days on daily data only"),
        "{}",
        notes[0]
    );
    let (_, notes) = compile_noted("buy when RSI(14) is under 30, exit after 10 bars").unwrap();
    assert!(notes.is_empty(), "bars are bars: {notes:?}");
    for (text, says) in [
        (
            "On 1-hour candles, buy when RSI(14) is under 30, exit after 10 days",
            "\"10 days\" on 1h bars: the time exit counts bars, and a day holds 24 bars of 1h around the clock but 6.5 in a 6.5-hour session: say it in bars, e.g. \"exit after 240 bars\"",
        ),
        (
            "On 5-minute candles, buy when RSI(14) is under 30, close the trade after 2 trading days",
            "\"2 trading days\" on 5m bars: the time exit counts bars, and a day holds 288 bars of 5m around the clock but 78 in a 6.5-hour session: say it in bars, e.g. \"exit after 576 bars\"",
        ),
        (
            "On weekly candles, buy when RSI(14) is under 30, exit after 3 days",
            "\"3 days\" on 1w bars: the time exit counts bars, each longer than a day: say it in bars",
        ),
    ] {
        let e = compile(text).unwrap_err().to_string();
        assert!(e.contains(says), "{text}: {e}");
    }
}

/// Issue 36: a suggestion fits the role of what was named: an oscillator at its own oversold
/// level, a line on the price's scale crossed by the close, none for an oscillator without
/// levels (never RSI's 30 for an average or ADX).
#[test]
fn suggestions_fit_the_role_of_what_was_named() {
    for (text, hint) in [
        (
            "buy when the RSI, sell when RSI > 70",
            Some("RSI(14) crosses below 30"),
        ),
        (
            "buy when the 50 EMA, sell when RSI > 70",
            Some("close crosses above EMA(50)"),
        ),
        (
            "buy when the Keltner middle line, sell when RSI > 70",
            Some("close crosses above EMA(20)"),
        ),
        ("buy when ADX, sell when RSI > 70", None),
    ] {
        let e = compile(text).unwrap_err().to_string();
        match hint {
            Some(h) => assert!(e.contains(&format!("(did you mean: {h}?)")), "{text}: {e}"),
            None => assert!(!e.contains("did you mean"), "{text}: {e}"),
        }
    }
}

/// Issue 36: "else, if B" after "if A, …" holds only when A does not (the rules are read
/// together, so the second one says so).
#[test]
fn an_else_if_rule_holds_only_when_the_one_before_does_not() {
    let s = compile("if RSI < 30, buy; else, if RSI < 40, go short").unwrap();
    assert_eq!(
        s.rules.entry_short.as_ref().map(ToString::to_string),
        Some("rsi_14 < 40 and not rsi_14 < 30".to_owned()),
        "{}",
        s.to_toml()
    );
    let s = compile("if RSI < 30, buy; otherwise if RSI > 70, sell").unwrap();
    assert_eq!(
        s.rules.exit_long.as_ref().map(ToString::to_string),
        Some("rsi_14 > 70 and not rsi_14 < 30".to_owned())
    );
    // With nothing before it, "else" is not placed.
    assert!(compile("else, if RSI < 30, buy").is_err());
}

/// Issue 36: comparisons written as a chain of symbols hold link by link, and "2% or more
/// below" includes the 2%.
#[test]
fn a_chain_of_comparisons_holds_link_by_link() {
    let s = compile("buy when Close > MA(10) > MA(20) > MA(50), sell when RSI > 70").unwrap();
    assert_eq!(
        s.rules.entry_long.as_ref().map(ToString::to_string),
        Some("close > sma_10 and sma_10 > sma_20 and sma_20 > sma_50".to_owned()),
        "{}",
        s.to_toml()
    );
    let s = compile("buy when RSI < 30, sell when the close is 2% or more below the 10-day SMA")
        .unwrap();
    assert_eq!(
        s.rules.exit_long.as_ref().map(ToString::to_string),
        Some("close <= sma_10 * 0.98".to_owned()),
        "{}",
        s.to_toml()
    );
    // A chain that compares a thing with itself is still refused.
    assert!(compile("buy when RSI(14) < RSI > 70").is_err());
}
