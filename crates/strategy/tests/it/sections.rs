//! `[risk]` and `[orders]` (DESIGN.md §5.2): every field parses, prints back to the same
//! strategy, and each mistake is an error naming the line, the field and what is wrong.

use strategy::{Fill, Sizing, Strategy, StrategyError};

const BASE: &str = r#"name = "x"
[indicators]
rsi = "rsi(close, 14)"
atr = "atr(14)"
[rules]
entry_long = "rsi < 30"
exit_long = "rsi > 70"
entry_short = "rsi > 80"
"#;

fn with(extra: &str) -> Result<Strategy, StrategyError> {
    Strategy::from_toml("s.toml", &format!("{BASE}{extra}"))
}

#[test]
fn every_field_parses_and_round_trips() {
    let s = with(
        r#"[risk]
risk_pct = 1.5
stop_loss_long = "close - 2 * atr"
stop_loss_short = "close + 2 * atr"
take_profit_long = "close + 3 * atr"
take_profit_short = "close - 3 * atr"
trailing_stop_long = "close - 3 * atr(14)"
trailing_stop_short = "close + 3 * atr(14)"
max_bars = 12
fractional_unit = 0.001
[orders]
entry_long_stop = "highest(high, 20)"
entry_long_limit = "highest(high, 20) * 1.01"
entry_short_limit = "close * 1.01"
valid_bars = 3
fill = "close"
"#,
    )
    .unwrap();
    assert_eq!(s.risk.sizing, Sizing::RiskPct(1.5));
    assert_eq!(s.risk.max_bars, Some(12));
    assert_eq!(s.risk.fractional_unit, Some(0.001));
    assert_eq!(s.orders.valid_bars, 3);
    assert_eq!(s.orders.fill, Fill::Close);
    assert_eq!(
        s.orders
            .entry_long_limit
            .as_ref()
            .map(ToString::to_string)
            .as_deref(),
        Some("highest(high, 20) * 1.01")
    );
    let again = Strategy::from_toml("again.toml", &s.to_toml()).unwrap();
    assert_eq!(again, s, "{}", s.to_toml());

    // §5.4's risk fields.
    let more = with(
        "[risk]\nrisk_pct = 2\nstop_loss_pct = 3\nmax_size = 0.5\ntrailing_stop_pct = 4\ntrailing_from = \"high\"\ntrailing_offset_pct = 1.5\n",
    )
    .unwrap();
    assert_eq!(more.risk.max_size, Some(0.5));
    assert_eq!(more.risk.trailing_from, strategy::TrailFrom::High);
    assert_eq!(more.risk.trailing_offset_pct, Some(1.5));
    assert_eq!(Strategy::from_toml("m", &more.to_toml()).unwrap(), more);
    let roi = with(
        "[risk]\nroi = [[0, 4.0], [30, 2], [60, 0.0]]\nroi_unit = \"minutes\"\nstop_loss_pct = 5\nstop_from = \"fill\"\n",
    )
    .unwrap();
    assert_eq!(roi.risk.roi, vec![(0.0, 4.0), (30.0, 2.0), (60.0, 0.0)]);
    assert_eq!(roi.risk.roi_unit, strategy::RoiUnit::Minutes);
    assert_eq!(roi.risk.stop_from, strategy::StopFrom::Fill);
    assert_eq!(Strategy::from_toml("r", &roi.to_toml()).unwrap(), roi);

    // reverse and oca (§5.4).
    let tv = with(
        "[orders]\nentry_long_stop = \"highest(high, 20)\"\nentry_short_stop = \"lowest(low, 20)\"\nreverse = \"on_fill\"\noca = true\n",
    )
    .unwrap();
    assert_eq!(tv.orders.reverse, strategy::Reverse::OnFill);
    assert!(tv.orders.oca);
    assert!(tv.to_toml().contains("reverse = \"on_fill\"\noca = true"));
    assert_eq!(Strategy::from_toml("t", &tv.to_toml()).unwrap(), tv);
    refused(&[
        (
            "[orders]\nreverse = \"flip\"\n",
            "orders.reverse",
            "must be \"next_open\" (close at the next open, then enter) or \"on_fill\"",
        ),
        (
            "[orders]\nentry_long_stop = \"highest(high, 20)\"\noca = true\n",
            "orders.oca",
            "needs two: a stop or limit price for both entries",
        ),
        (
            "[orders]\noca = \"yes\"\n",
            "orders.oca",
            "must be true or false",
        ),
        (
            "[orders]\nreverse = 3\n",
            "orders.reverse",
            "must be \"next_open\" or \"on_fill\" in quotes",
        ),
    ]);
    let long_only = Strategy::from_toml(
        "l.toml",
        "name = \"l\"\n[rules]\nentry_long = \"close > 1\"\n[orders]\nreverse = \"on_fill\"\n",
    )
    .unwrap_err();
    assert_eq!(long_only.field, "orders.reverse");
    assert!(
        long_only.message.contains("enters one way only"),
        "{long_only}"
    );

    let units = with("[risk]\nunits = 100\ntrailing_stop_pct = 5\n").unwrap();
    assert_eq!(units.risk.sizing, Sizing::Units(100.0));
    assert_eq!(units.risk.trailing_stop_pct, Some(5.0));
    assert_eq!(Strategy::from_toml("a", &units.to_toml()).unwrap(), units);
    // No [orders] section is written when it says nothing.
    assert!(!units.to_toml().contains("[orders]"));
}

#[test]
fn position_state_reads_in_rules_risk_and_orders() {
    let s = with(
        r#"[risk]
trailing_stop_long = "if_flat_skip + entry_price"
"#,
    );
    assert!(
        s.unwrap_err()
            .message
            .contains("unknown name `if_flat_skip`")
    );
    let s = Strategy::from_toml(
        "p.toml",
        r#"name = "p"
[rules]
entry_long = "close > open and position == 0"
exit_long = "bars_in_trade >= 5 or open_pnl_pct < -2 or close < entry_price * 0.97"
[risk]
trailing_stop_long = "entry_price + (close - entry_price) / 2"
"#,
    )
    .unwrap();
    assert!(s.to_toml().contains("bars_in_trade >= 5"));
}

/// Each case is refused, naming its field and saying what is wrong.
fn refused(cases: &[(&str, &str, &str)]) {
    for (extra, field, want) in cases {
        let got = with(extra);
        assert!(got.is_err(), "{extra} was accepted");
        let Err(e) = got else { continue };
        assert_eq!(e.field, *field, "{e}");
        assert!(e.to_string().contains(want), "wanted {want:?} in:\n{e}");
        assert!(e.line > 0, "{e}");
    }
}

#[test]
fn the_rest_of_the_risk_fields_refuse_what_cannot_mean_anything() {
    refused(&[
        (
            "[risk]\nroi = [[5, 1.0], [2, 0.5]]\n",
            "risk.roi",
            "the ages do not increase (5 then 2)",
        ),
        (
            "[risk]\nroi = [[0, -1.0]]\n",
            "risk.roi",
            "the percent -1 is not 0 or more",
        ),
        (
            "[risk]\nroi = [[0.5, 1.0]]\n",
            "risk.roi",
            "the age 0.5 is not a whole number",
        ),
        (
            "[risk]\nroi = [[0, 1.0]]\ntake_profit_pct = 3\n",
            "risk.take_profit_pct",
            "give `roi` or `take_profit_pct`, not both",
        ),
        (
            "[risk]\nroi = [[0, 1.0]]\nroi_unit = \"hours\"\n",
            "risk.roi_unit",
            "must be \"bars\" or \"minutes\"",
        ),
        (
            "[risk]\npyramiding = 0\n",
            "risk.pyramiding",
            "a whole number of open trades from 1 to 1000",
        ),
        (
            "[risk]\nstop_from = \"fill\"\n",
            "risk.stop_from",
            "there is neither",
        ),
        (
            "[risk]\nsize = 0.5\nmax_size = 0.5\n",
            "risk.max_size",
            "max_size caps `risk_pct` sizing",
        ),
        (
            "[risk]\nrisk_pct = 1\nstop_loss_pct = 2\nmax_size = 1.5\n",
            "risk.max_size",
            "must be a fraction of equity above 0 and at most 1, got 1.5",
        ),
        (
            "[risk]\ntrailing_offset_pct = 2\n",
            "risk.trailing_offset_pct",
            "delays a trailing stop, and there is none",
        ),
        (
            "[risk]\ntrailing_stop_pct = 2\ntrailing_from = \"low\"\n",
            "risk.trailing_from",
            "must be \"close\" or \"high\"",
        ),
        (
            "[risk]\ntrailing_stop_long = \"close - atr\"\ntrailing_from = \"high\"\n",
            "risk.trailing_from",
            "add trailing_stop_pct",
        ),
    ]);
}

#[test]
fn each_mistake_names_its_field() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "[risk]\nrisk_pct = 1\n",
            "risk.risk_pct",
            "long entries have no stop: add `stop_loss_pct` or `stop_loss_long`",
        ),
        (
            "[risk]\nsize = 0.5\nunits = 10\n",
            "risk.units",
            "give one sizing, not both `size` and `units`",
        ),
        (
            "[risk]\nunits = 2.5\n",
            "risk.units",
            "must be a whole number of units, at least 1, got 2.5",
        ),
        (
            "[risk]\nstop_loss_long = \"close * 1.02\"\n",
            "risk.stop_loss_long",
            "is not below the entry's close",
        ),
        (
            "[risk]\nstop_loss_long = \"close + atr\"\n",
            "risk.stop_loss_long",
            "is not below the entry's close",
        ),
        (
            "[risk]\ntake_profit_short = \"high\"\n",
            "risk.take_profit_short",
            "is not below the entry's close",
        ),
        (
            "[risk]\nstop_loss_pct = 5\nstop_loss_long = \"close - atr\"\n",
            "risk.stop_loss_long",
            "two stops for longs: give `stop_loss_pct` or `stop_loss_long`, not both",
        ),
        (
            "[risk]\ntake_profit_pct = 150\n",
            "risk.take_profit_pct",
            "a short's target 150% below the entry",
        ),
        (
            "[risk]\nstop_loss_long = \"rsi < 30\"\n",
            "risk.stop_loss_long",
            "must be a price (a number), but `rsi < 30` is a condition",
        ),
        (
            "[risk]\nmax_bars = 0\n",
            "risk.max_bars",
            "must be a whole number of bars, at least 1",
        ),
        (
            "[risk]\nunits = 5\nfractional_unit = 0.01\n",
            "risk.units",
            "with fractional_unit size entries by `size` or `risk_pct`",
        ),
        (
            "[orders]\nfill = \"open\"\n",
            "orders.fill",
            "must be \"next_open\" (the next bar's open) or \"close\"",
        ),
        (
            "[orders]\nvalid_bars = 1.5\n",
            "orders.valid_bars",
            "must be a whole number of bars, at least 1",
        ),
        (
            "[orders]\nentry_long_stap = \"high\"\n",
            "orders.entry_long_stap",
            "is not a field of [orders]; it takes entry_long_stop",
        ),
    ];
    refused(cases);
    // An order price for a rule that does not exist.
    let e = Strategy::from_toml(
        "o.toml",
        "name = \"o\"\n[rules]\nentry_long = \"close > open\"\n[orders]\nentry_short_limit = \"high\"\n",
    )
    .unwrap_err();
    assert_eq!((e.line, e.field.as_str()), (5, "orders.entry_short_limit"));
    assert!(e.message.contains("there is no entry_short rule"), "{e}");
}

#[test]
fn position_state_stays_out_of_series() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "[indicators]\ngain = \"open_pnl_pct * 2\"\n[rules]\nentry_long = \"gain > 1\"\n",
            "indicators.gain",
            "`open_pnl_pct` is position state, known per trade while the backtest runs, not a series",
        ),
        (
            "[rules]\nentry_long = \"sma(entry_price, 5) > close\"\n",
            "rules.entry_long",
            "sma looks back over a whole series computed before the run, so its `x` cannot read position state",
        ),
        (
            "[rules]\nentry_long = \"crosses_above(close, if(position == 0, close, entry_price))\"\n",
            "rules.entry_long",
            "crosses_above looks back over a whole series",
        ),
        (
            "[indicators]\nr = \"at_entry(atr(14))\"\n[rules]\nentry_long = \"r > 1\"\n",
            "indicators.r",
            "`at_entry(…)` is position state",
        ),
        (
            "[rules]\nentry_long = \"close > 1\"\n[risk]\nstop_loss_long = \"at_entry(entry_price)\"\n",
            "risk.stop_loss_long",
            "at_entry values its expression on the bar that placed the entry",
        ),
        (
            "[rules]\nentry_long = \"close > 1\"\nexit_long = \"sum(at_entry(close), 3) > 1\"\n",
            "rules.exit_long",
            "sum looks back over a whole series",
        ),
        (
            "[rules]\nentry_long = \"close > 1\"\nexit_long = \"tf('D', at_entry(close)) > 1\"\n",
            "rules.exit_long",
            "cannot read position state `at_entry`",
        ),
        (
            "[rules]\nentry_long = \"bars_in_trade[1] > 3\"\n",
            "rules.entry_long",
            "`[n]` looks back over a series, and position state is not one",
        ),
        (
            "[params]\nposition = 3\n[rules]\nentry_long = \"close > 1\"\n",
            "params.position",
            "`position` is a built-in name",
        ),
    ];
    for (body, field, want) in cases {
        let e = Strategy::from_toml("s.toml", &format!("name = \"s\"\n{body}")).unwrap_err();
        assert_eq!(e.field, *field, "{e}");
        assert!(e.to_string().contains(want), "wanted {want:?} in:\n{e}");
        assert!(e.line > 0);
    }
}

#[test]
fn the_bar_timeframe_is_a_known_interval() {
    let s = Strategy::from_toml(
        "t.toml",
        "name = \"t\"\ntimeframe = \"5m\"\n[rules]\nentry_long = \"close > 1\"\n",
    )
    .unwrap();
    assert_eq!(s.timeframe.map(strategy::BarInterval::ms), Some(300_000));
    assert!(s.to_toml().contains("timeframe = \"5m\""));
    assert_eq!(Strategy::from_toml("t", &s.to_toml()).unwrap(), s);
    let e = Strategy::from_toml(
        "t.toml",
        "name = \"t\"\ntimeframe = \"7m\"\n[rules]\nentry_long = \"close > 1\"\n",
    )
    .unwrap_err();
    assert_eq!(e.field, "timeframe");
    assert_eq!(e.line, 2);
    assert!(e.message.contains("use one of 1m, 3m, 5m"), "{e}");
    let e = Strategy::from_toml(
        "t.toml",
        "name = \"t\"\ntimeframe = 5\n[rules]\nentry_long = \"close > 1\"\n",
    )
    .unwrap_err();
    assert_eq!(e.field, "timeframe");
    assert!(e.message.contains("a bar timeframe in quotes"), "{e}");
}

#[test]
fn position_state_stands_in_element_wise_functions_and_at_entry() {
    let s = Strategy::from_toml(
        "s.toml",
        r#"name = "s"
[rules]
entry_long = "close > sma(close, 20)"
exit_long = "abs(open_pnl_pct) > 8 or close < at_entry(sma(close, 20))"
[risk]
risk_pct = 1
stop_loss_long = "max(entry_price - 2 * at_entry(atr(14)), min(low, entry_price * 0.9))"
trailing_stop_long = "if(open_pnl_pct > 10, close * 0.97, close * 0.9)"
"#,
    )
    .unwrap();
    // Printed back, it reads the same.
    let sl = s.risk.stop_loss_long.as_ref().unwrap();
    assert_eq!(
        sl.to_string(),
        "max(entry_price - 2 * at_entry(atr(14)), min(low, entry_price * 0.9))"
    );
    assert_eq!(strategy::parse(&sl.to_string()).unwrap(), *sl);
    assert!(strategy::uses_position(sl).is_some());
}

#[test]
fn timeframes_parse_print_and_refuse_what_cannot_run_on_them() {
    let s = Strategy::from_toml(
        "t.toml",
        r#"name = "t"
[params]
n = 10
[indicators]
weekly = "tf('W-FRI', sma(close, n))"
[rules]
entry_long = "close > weekly and tf(\"D\", highest(high, 3)[1]) > tf('4h', close)"
"#,
    )
    .unwrap();
    assert_eq!(
        s.indicators[0].1.to_string(),
        "tf(\"W-FRI\", sma(close, n))"
    );
    assert_eq!(Strategy::from_toml("again", &s.to_toml()).unwrap(), s);
    for rule in [
        "1min", "5min", "15min", "30min", "h", "4h", "D", "W", "W-FRI", "ME",
    ] {
        let text = format!("name = \"r\"\n[rules]\nentry_long = \"tf('{rule}', close) > 0\"\n");
        assert!(Strategy::from_toml("r", &text).is_ok(), "{rule}");
    }
    let cases: &[(&str, &str, &str)] = &[
        (
            "entry_long = \"tf('2D', close) > 0\"",
            "rules.entry_long",
            "\"2D\" is not a timeframe tf knows: use one of \"1min\", \"5min\", \"15min\", \"30min\", \"h\", \"4h\", \"D\", \"W\", \"W-FRI\", \"ME\"",
        ),
        (
            "entry_long = \"tf(D, close) > 0\"",
            "rules.entry_long",
            "tf's first argument is a timeframe in quotes",
        ),
        (
            "entry_long = \"tf('D', close > open)\"",
            "rules.entry_long",
            "tf's expression must be a number",
        ),
        (
            "entry_long = \"tf('D', entry_price) > 0\"",
            "rules.entry_long",
            "tf computes a series before the run, so it cannot read position state `entry_price`",
        ),
        (
            "entry_long = \"tf('W', tf('D', close)) > 0\"",
            "rules.entry_long",
            "tf inside tf",
        ),
        (
            "entry_long = \"close > 'D'\"",
            "rules.entry_long",
            "quoted text only names a timeframe",
        ),
        (
            "entry_long = \"tf('D, close) > 0\"",
            "rules.entry_long",
            "this text has no closing '",
        ),
    ];
    for (rule, field, want) in cases {
        let e =
            Strategy::from_toml("s.toml", &format!("name = \"s\"\n[rules]\n{rule}\n")).unwrap_err();
        assert_eq!(e.field, *field, "{e}");
        assert!(e.to_string().contains(want), "wanted {want:?} in:\n{e}");
        assert_eq!(e.line, 3, "{e}");
    }
    let e = Strategy::from_toml(
        "s.toml",
        "name = \"s\"\n[indicators]\nm = \"sma(close, 5)\"\n[rules]\nentry_long = \"tf('D', m) > 0\"\n",
    )
    .unwrap_err();
    assert!(
        e.message.contains(
            "`m` is a series of the data's own bars; inside tf(\"D\", …) write its expression out"
        ),
        "{e}"
    );
}

/// Issue 17: the new functions keep numbers and conditions apart and name the argument.
#[test]
fn new_functions_type_check_their_arguments() {
    let ok = [
        "abs(close - open) > 1",
        "if(close > open, high, low) > 0",
        "count(close > open, 5) >= 3",
        "bars_since(crosses_above(close, sma(close, 10))) < 3",
        "valuewhen(close > open, low) < close",
        "sum(volume, 10) > 0 and stddev(close, 20) > 0 and roc(close, 1) > mom(close, 1)",
        "cmo(close, 14) > linearreg(close, 14) and cci(20) > willr(14)",
        "mfi(14) > 50 and obv() > ad() and adosc(3, 10) > 0 and natr(14) > trange()",
        "plus_di(14) > minus_di(14) and close > sar(0.02, 0.2) and aroon(25).up > aroon(25).down",
        "hour >= 9 and weekday < 5 and month > 0 and day > 0 and year > 2000 and minute == 0",
        "min(close, open) < max(close, open)",
    ];
    for rule in ok {
        let text = format!("name = \"f\"\n[rules]\nentry_long = \"{rule}\"\n");
        if let Err(e) = Strategy::from_toml("f.toml", &text) {
            panic!("{rule}: {e}");
        }
    }
    let bad: &[(&str, &str, usize)] = &[
        (
            "if(close, high, low) > 0",
            "if's `cond` must be a condition (true/false), but `close` is a number",
            3,
        ),
        (
            "if(close > open, high > low, low) > 0",
            "if's `a` must be a number",
            17,
        ),
        (
            "count(close, 5) > 1",
            "count's `cond` must be a condition",
            6,
        ),
        (
            "bars_since(volume) > 1",
            "bars_since's `cond` must be a condition",
            11,
        ),
        (
            "abs(close, open) > 1",
            "abs takes 1 argument — abs(x) — but got 2",
            0,
        ),
        (
            "sar(-0.02, 0.2) > close",
            "sar's `accel` must be a number of at least 0",
            4,
        ),
        (
            "aroon(25) > 50",
            "aroon has several outputs: add one of .up, .down",
            0,
        ),
        (
            "stddev(close, 1) > 0",
            "stddev's `n` must be a whole number from 2",
            14,
        ),
        (
            "valuewhen(close > open, high > low)",
            "valuewhen's `x` must be a number",
            24,
        ),
        ("obv(5) > 0", "obv takes 0 arguments", 0),
    ];
    for (rule, want, pos) in bad {
        let text = format!("name = \"f\"\n[rules]\nentry_long = \"{rule}\"\n");
        let e = Strategy::from_toml("f.toml", &text).unwrap_err();
        assert!(
            e.to_string().contains(want),
            "{rule}: wanted {want:?} in:\n{e}"
        );
        assert_eq!(e.pos, Some(*pos), "{rule}: {e}");
        assert_eq!((e.line, e.field.as_str()), (3, "rules.entry_long"));
    }
    // Time fields are reserved names.
    let e = Strategy::from_toml(
        "f.toml",
        "name = \"f\"\n[params]\nhour = 3\n[rules]\nentry_long = \"close > 1\"\n",
    )
    .unwrap_err();
    assert!(e.message.contains("`hour` is a built-in name"), "{e}");
}

/// `[portfolio]` (DESIGN.md §5.3): its fields parse and print back; a strategy with the
/// section is a portfolio one; each mistake names its field.
#[test]
fn the_portfolio_section_parses_prints_back_and_names_its_mistakes() {
    let s = with("[portfolio]\nrank = \"roc(close, 63) - rsi\"\nmax_positions = 3\ntrade = [\"AAPL\", \"BRK.B\"]\n")
        .unwrap();
    let p = s.portfolio.as_ref().unwrap();
    assert_eq!(p.rank.as_ref().unwrap().to_string(), "roc(close, 63) - rsi");
    assert_eq!(p.max_positions, Some(3));
    assert_eq!(
        p.trade.as_deref(),
        Some(&["AAPL".to_owned(), "BRK.B".to_owned()][..])
    );
    assert!(s.is_portfolio());
    assert_eq!(Strategy::from_toml("again", &s.to_toml()).unwrap(), s);
    let empty = with("[portfolio]\n").unwrap();
    assert!(empty.is_portfolio() && empty.to_toml().contains("[portfolio]"));
    assert!(!with("").unwrap().is_portfolio());
    refused(&[
        (
            "[portfolio]\nrank = \"rsi < 30\"\n",
            "portfolio.rank",
            "must be a number to order entries by",
        ),
        (
            "[portfolio]\nrank = \"open_pnl_pct\"\n",
            "portfolio.rank",
            "cannot read position state",
        ),
        (
            "[portfolio]\nrank = \"momentum(close)\"\n",
            "portfolio.rank",
            "momentum",
        ),
        (
            "[portfolio]\nmax_positions = 0\n",
            "portfolio.max_positions",
            "at least 1, got 0",
        ),
        (
            "[portfolio]\nmax_positions = 2.5\n",
            "portfolio.max_positions",
            "a whole number",
        ),
        (
            "[portfolio]\ntrade = []\n",
            "portfolio.trade",
            "names no symbol",
        ),
        (
            "[portfolio]\ntrade = [\"SPY\", \"SPY\"]\n",
            "portfolio.trade",
            "`SPY`: each symbol once",
        ),
    ]);
    let e = with("[portfolio]\ntop_n = 3\n").unwrap_err().to_string();
    assert!(
        e.contains("rank, max_positions, trade, rebalance, top"),
        "{e}"
    );
}

/// Rotation: `rebalance` with `top` and a rank prints back; each half alone, an unknown rule,
/// a rotation without a rank or with shorts is refused naming the field.
#[test]
fn a_rotation_needs_its_period_its_count_and_a_rank() {
    let long_only = BASE.replace("entry_short = \"rsi > 80\"\n", "");
    let with = |extra: &str| Strategy::from_toml("s.toml", &format!("{long_only}{extra}"));
    let s =
        with("[portfolio]\nrank = \"roc(close, 63)\"\nrebalance = \"W-FRI\"\ntop = 3\n").unwrap();
    assert_eq!(
        s.portfolio.as_ref().unwrap().rotation,
        Some((strategy::Rebalance::WeekFri, 3))
    );
    assert_eq!(Strategy::from_toml("again", &s.to_toml()).unwrap(), s);
    let cases: [(&str, &str, &str); 5] = [
        (
            "rebalance = \"ME\"\nrank = \"rsi\"",
            "portfolio.rebalance",
            "needs top = N",
        ),
        (
            "top = 2\nrank = \"rsi\"",
            "portfolio.top",
            "needs rebalance = one of \"W\", \"W-FRI\", \"ME\", \"QE\", \"YE\"",
        ),
        (
            "rebalance = \"M\"\ntop = 2\nrank = \"rsi\"",
            "portfolio.rebalance",
            "\"M\" is not a rebalance rule",
        ),
        (
            "rebalance = \"ME\"\ntop = 0\nrank = \"rsi\"",
            "portfolio.top",
            "at least 1, got 0",
        ),
        (
            "rebalance = \"ME\"\ntop = 2",
            "portfolio.rebalance",
            "needs rank",
        ),
    ];
    for (section, field, want) in cases {
        let e = with(&format!("[portfolio]\n{section}\n")).unwrap_err();
        assert_eq!(e.field, field, "{e}");
        assert!(e.to_string().contains(want), "{section}: {e}");
    }
    let e = Strategy::from_toml(
        "s.toml",
        &format!("{BASE}[portfolio]\nrank = \"rsi\"\nrebalance = \"ME\"\ntop = 2\n"),
    )
    .unwrap_err();
    assert!(
        e.to_string()
            .contains("holds long positions only: drop entry_short"),
        "{e}"
    );
}

/// `on("SYM", x)` (DESIGN.md §5.3): parses, prints back, types as its expression, makes the
/// strategy a portfolio one naming the symbol; what cannot run on another symbol's bars is
/// refused with the reason.
#[test]
fn on_reads_another_symbol_and_refuses_what_cannot_run_there() {
    let s = with("[portfolio]\nrank = \"on('SPY', roc(close, 20))\"\n").unwrap();
    assert!(s.is_portfolio());
    let s = Strategy::from_toml(
        "s.toml",
        &BASE.replace(
            "entry_long = \"rsi < 30\"",
            "entry_long = \"rsi < 30 and on('SPY', close > sma(close, 200)) and close > on(\\\"BTC/USDT\\\", tf('W', close))\"",
        ),
    )
    .unwrap();
    let rule = s.rules.entry_long.as_ref().unwrap().to_string();
    assert_eq!(
        rule,
        "rsi < 30 and on(\"SPY\", close > sma(close, 200)) and close > on(\"BTC/USDT\", tf(\"W\", close))"
    );
    assert!(s.is_portfolio() && s.portfolio.is_none());
    let used: Vec<(String, String)> = s.symbols_used();
    assert_eq!(
        used,
        [
            ("SPY".to_owned(), "rules.entry_long".to_owned()),
            ("BTC/USDT".to_owned(), "rules.entry_long".to_owned())
        ]
    );
    assert_eq!(Strategy::from_toml("again", &s.to_toml()).unwrap(), s);
    let refused = |rule: &str, want: &str| {
        let e = Strategy::from_toml("s.toml", &BASE.replace("rsi < 30", rule))
            .unwrap_err()
            .to_string();
        assert!(e.contains(want), "{rule}: {e}");
    };
    refused(
        "on('SPY', position > 0)",
        "cannot read position state `position`",
    );
    refused(
        "on('SPY', rsi < 30)",
        "`rsi` is a series of this symbol's bars",
    );
    refused("on('SPY', on('QQQ', close > 1))", "on inside on");
    refused("tf('W', on('SPY', close)) > 1", "on inside tf");
    refused(
        "on(SPY, close > 1)",
        "on's first argument is a symbol in quotes",
    );
    refused("on('SPY', close)", "a rule must be a condition");
}
