//! From what the description said to a strategy: actions resolved against the direction,
//! conditions joined per rule, filters applied, risk placed, indicators named.

use std::collections::HashMap;

use strategy::{BinOp, Expr, ExprKind, Fill, Func, Rules, Sizing, Strategy};

use super::parser::{and_all, bin, name, num};
use super::risk::{Distance, Item, Mode, around_close};
use super::{Action, R, Said, Side, vocab};
use crate::GenerateError;

/// What an action means, given the direction the description trades (DESIGN.md §5.1: "sell"
/// exits a long unless the strategy reverses, "exit" closes whichever side is open, "buy" covers
/// in a short-only strategy).
#[expect(
    clippy::match_same_arms,
    reason = "the arms read in order as the rules; merging them would hide the guards"
)]
fn resolve(a: Action, mode: Option<Mode>, longs: bool, shorts: bool) -> &'static [Action] {
    const LONG_IN: &[Action] = &[Action::EntryLong];
    const LONG_OUT: &[Action] = &[Action::ExitLong];
    const SHORT_IN: &[Action] = &[Action::EntryShort];
    const SHORT_OUT: &[Action] = &[Action::ExitShort];
    const BOTH_OUT: &[Action] = &[Action::ExitLong, Action::ExitShort];
    match (a, mode) {
        (Action::Sell | Action::Enter, Some(Mode::ShortOnly)) | (Action::EntryShort, _) => SHORT_IN,
        (Action::Sell, Some(Mode::Both)) if !shorts => SHORT_IN,
        (Action::Sell | Action::ExitLong, _) => LONG_OUT,
        (Action::EntryLong | Action::Exit, Some(Mode::ShortOnly)) | (Action::ExitShort, _) => {
            SHORT_OUT
        }
        (Action::Enter | Action::EntryLong, _) => LONG_IN,
        (Action::Exit, m) if m == Some(Mode::Both) || shorts && longs => BOTH_OUT,
        (Action::Exit, _) if shorts => SHORT_OUT,
        (Action::Exit, _) => LONG_OUT,
    }
}

pub(super) fn build(description: &str, said: Said) -> R<Strategy> {
    let mut mode = None;
    for i in &said.items {
        if let Item::Mode(m) = i {
            mode = Some(*m);
        }
    }
    let explicit_short = said.rules.iter().any(|(a, _)| *a == Action::EntryShort);
    let explicit_long = said
        .rules
        .iter()
        .any(|(a, _)| matches!(a, Action::EntryLong | Action::Enter));
    if mode == Some(Mode::LongOnly) && explicit_short {
        return Err(GenerateError::Incomplete(
            "the description says long only but also says when to short: drop one".into(),
        ));
    }
    let mut rules: Vec<(Action, Expr)> = Vec::new();
    for (a, c) in said.rules {
        for r in resolve(a, mode, explicit_long, explicit_short) {
            rules.push((*r, c.clone()));
        }
    }
    let mut combined: HashMap<&'static str, Expr> = HashMap::new();
    for (a, c) in rules {
        let key = match a {
            Action::EntryLong => "entry_long",
            Action::ExitLong => "exit_long",
            Action::EntryShort => "entry_short",
            _ => "exit_short",
        };
        let e = match combined.remove(key) {
            Some(prev) => bin(BinOp::Or, prev, c),
            None => c,
        };
        combined.insert(key, e);
    }
    for (side, f) in said.filters {
        for key in ["entry_long", "entry_short"] {
            let applies = match side {
                Side::All => true,
                Side::Long => key == "entry_long",
                Side::Short => key == "entry_short",
            };
            if applies && let Some(e) = combined.remove(key) {
                combined.insert(key, and_all(vec![e, f.clone()]));
            }
        }
    }
    // A rotation's filter is entry_long; with none said, every symbol may be held.
    if said.items.iter().any(|i| matches!(i, Item::Rotation(_)))
        && !combined.contains_key("entry_long")
    {
        combined.insert("entry_long", bin(BinOp::Gt, name("close"), num(0.0)));
    }
    if !combined.contains_key("entry_long") && !combined.contains_key("entry_short") {
        return Err(GenerateError::Incomplete(
            "no entry rule: say when to buy or to short, e.g. \"buy when RSI(14) < 30\"".into(),
        ));
    }
    let longs = combined.contains_key("entry_long");
    let shorts = combined.contains_key("entry_short");
    let mut s = Strategy {
        name: crate::name_from_description(description),
        description: description.to_owned(),
        params: Vec::new(),
        indicators: Vec::new(),
        rules: Rules {
            entry_long: combined.remove("entry_long"),
            exit_long: combined.remove("exit_long"),
            entry_short: combined.remove("entry_short"),
            exit_short: combined.remove("exit_short"),
        },
        risk: strategy::Risk::default(),
        orders: strategy::Orders::default(),
        portfolio: None,
        timeframe: None,
    };
    let (portfolio, risk): (Vec<Item>, Vec<Item>) = said.items.into_iter().partition(|i| {
        matches!(
            i,
            Item::Rotation(_) | Item::Rank(_) | Item::Rebalance(_) | Item::MaxPositions(_)
        )
    });
    apply_portfolio(&mut s, portfolio, said.instrument.as_deref())?;
    let absent = absences(&risk);
    apply_risk(&mut s, risk, longs, shorts)?;
    check_absent(&s, &absent)?;
    hoist(&mut s);
    // Validate as any strategy file is, through the canonical printer.
    Strategy::from_toml("offline", &s.to_toml())
        .map_err(|e| GenerateError::Incomplete(format!("{}: {}", e.field, e.message)))
}

/// Puts the stops, targets, trailing stops, time exits, sizing and fill into the strategy.
fn apply_risk(s: &mut Strategy, items: Vec<Item>, longs: bool, shorts: bool) -> R<()> {
    let mut sizing: Option<Sizing> = None;
    let mut set_sizing = |v: Sizing| -> R<()> {
        match sizing {
            Some(prev) if prev != v => Err(GenerateError::Incomplete(
                "the description gives two position sizes: keep one".into(),
            )),
            _ => {
                sizing = Some(v);
                Ok(())
            }
        }
    };
    let mut has_stop = false;
    let mut target_r = None;
    let mut stop_by = None;
    let mut stop_fill = None;
    for item in items {
        match item {
            Item::StopPct(v) => {
                s.risk.stop_loss_pct = Some(v);
                has_stop = true;
            }
            Item::TargetPct(v) => s.risk.take_profit_pct = Some(v),
            Item::TrailPct(v) => s.risk.trailing_stop_pct = Some(v),
            Item::StopBy(d) => {
                let (l, sh) = around_close(&d);
                s.risk.stop_loss_long = longs.then_some(l);
                s.risk.stop_loss_short = shorts.then_some(sh);
                has_stop = true;
                stop_by = Some(d);
            }
            Item::TargetR(r) => target_r = Some(r),
            Item::FromFill
            | Item::TrailFromHigh
            | Item::TrailOffset(_)
            | Item::Pyramiding(_)
            | Item::ReverseOnFill
            | Item::Roi(..)
            | Item::EntryOrder { .. }
            | Item::Oca
            | Item::Timeframe(_) => section_item(s, &item)?,
            Item::StopFromFill(d) => {
                let (l, sh) = around_entry(&d);
                s.risk.stop_loss_long = longs.then_some(l);
                s.risk.stop_loss_short = shorts.then_some(sh);
                has_stop = true;
                stop_fill = Some(d);
            }
            Item::TargetFromFill(d) => {
                let (l, sh) = around_entry(&d);
                s.risk.take_profit_long = longs.then_some(sh);
                s.risk.take_profit_short = shorts.then_some(l);
            }
            Item::TargetBy(d) => {
                let (l, sh) = around_close(&d);
                // A target is above a long's entry and below a short's.
                s.risk.take_profit_long = longs.then_some(sh);
                s.risk.take_profit_short = shorts.then_some(l);
            }
            Item::TrailBy(d) => {
                let (l, sh) = around_close(&d);
                s.risk.trailing_stop_long = longs.then_some(l);
                s.risk.trailing_stop_short = shorts.then_some(sh);
            }
            Item::StopAt(e) => {
                if shorts {
                    return Err(GenerateError::Incomplete(
                        "a stop at one price level suits one side: with shorts, say the stop in percent or ATRs".into(),
                    ));
                }
                s.risk.stop_loss_long = Some(e);
                has_stop = true;
            }
            Item::MaxBars(n) => s.risk.max_bars = Some(n),
            Item::Size(f) => set_sizing(Sizing::Fraction(f))?,
            Item::Units(u) => set_sizing(Sizing::Units(u))?,
            Item::RiskPct(r) => set_sizing(Sizing::RiskPct(r))?,
            // The direction was read by build; the portfolio words by apply_portfolio; an
            // absence is checked at the end.
            Item::Without(_)
            | Item::Mode(_)
            | Item::Rotation(_)
            | Item::Rank(_)
            | Item::Rebalance(_)
            | Item::MaxPositions(_) => {}
            Item::FillClose => s.orders.fill = Fill::Close,
        }
    }
    if let Some(r) = target_r {
        target_from_stop(s, r, (stop_by, stop_fill), longs, shorts)?;
    }
    if let Some(z) = sizing {
        if matches!(z, Sizing::RiskPct(_)) && !has_stop {
            return Err(GenerateError::Incomplete(
                "risking a percent per trade needs a stop to measure it against: add one, e.g. \"2% stop loss\" or \"2 ATR stop\"".into(),
            ));
        }
        s.risk.sizing = z;
    }
    Ok(())
}

/// The exits the description says are absent ("no stop loss").
fn absences(items: &[Item]) -> Vec<&'static str> {
    items
        .iter()
        .filter_map(|i| match i {
            Item::Without(w) => Some(*w),
            _ => None,
        })
        .collect()
}

/// An exit said to be absent that the description also gives is a contradiction.
fn check_absent(s: &Strategy, absent: &[&'static str]) -> R<()> {
    for what in absent {
        let r = &s.risk;
        let given = match *what {
            "stop loss" => {
                r.stop_loss_pct.is_some()
                    || r.stop_loss_long.is_some()
                    || r.stop_loss_short.is_some()
            }
            "trailing stop" => {
                r.trailing_stop_pct.is_some()
                    || r.trailing_stop_long.is_some()
                    || r.trailing_stop_short.is_some()
            }
            _ => {
                r.take_profit_pct.is_some()
                    || r.take_profit_long.is_some()
                    || r.take_profit_short.is_some()
                    || !r.roi.is_empty()
            }
        };
        if given {
            return Err(GenerateError::Incomplete(format!(
                "the description says no {what} and also gives one: drop one"
            )));
        }
    }
    Ok(())
}

/// Settings said in words: from the fill, trailing from the high after an offset, pyramiding,
/// reversing on the fill (§5.4), the bar timeframe.
fn section_item(s: &mut Strategy, item: &Item) -> R<()> {
    match item {
        Item::Timeframe(t) => {
            if s.timeframe.is_some_and(|prev| prev != *t) {
                return Err(GenerateError::Incomplete(
                    "the description names two bar timeframes: keep one".into(),
                ));
            }
            s.timeframe = Some(*t);
        }
        Item::FromFill => s.risk.stop_from = strategy::StopFrom::Fill,
        Item::TrailFromHigh => s.risk.trailing_from = strategy::TrailFrom::High,
        Item::TrailOffset(q) => s.risk.trailing_offset_pct = Some(*q),
        Item::Pyramiding(n) => s.risk.pyramiding = Some(*n),
        Item::ReverseOnFill => s.orders.reverse = strategy::Reverse::OnFill,
        Item::Oca => s.orders.oca = true,
        Item::EntryOrder { long, stop, price } => {
            let o = &mut s.orders;
            let slot = match (long, stop) {
                (true, true) => &mut o.entry_long_stop,
                (true, false) => &mut o.entry_long_limit,
                (false, true) => &mut o.entry_short_stop,
                (false, false) => &mut o.entry_short_limit,
            };
            *slot = Some(price.clone());
        }
        Item::Roi(steps, unit) => {
            s.risk.roi.clone_from(steps);
            s.risk.roi_unit = *unit;
        }
        _ => {}
    }
    Ok(())
}

/// The `[portfolio]` words (DESIGN.md §5.3): a rotation needs both the number held and the
/// period; a rank and a cap stand alone.
fn apply_portfolio(s: &mut Strategy, items: Vec<Item>, instrument: Option<&str>) -> R<()> {
    // "Buy QQQ when … SPY is above …": QQQ trades, SPY is data only (DESIGN.md §5.3).
    if let Some(symbol) = instrument
        && !s.symbols_used().is_empty()
    {
        s.portfolio
            .get_or_insert_with(strategy::Portfolio::default)
            .trade = Some(vec![symbol.to_owned()]);
    }
    if items.is_empty() {
        return Ok(());
    }
    let (mut top, mut period) = (None, None);
    let mut p = strategy::Portfolio::default();
    for item in items {
        match item {
            Item::Rotation(n) => top = Some(n),
            Item::Rank(e) => p.rank = Some(e),
            Item::Rebalance(r) => period = Some(r),
            Item::MaxPositions(n) => p.max_positions = Some(n),
            _ => {}
        }
    }
    p.rotation = match (period, top) {
        (Some(r), Some(n)) => Some((r, n)),
        (None, None) => None,
        (None, Some(_)) => {
            return Err(GenerateError::Incomplete(
                "a rotation needs its period: say when to rebalance, e.g. \"rebalance monthly\""
                    .into(),
            ));
        }
        (Some(_), None) => {
            return Err(GenerateError::Incomplete(
                "rebalancing needs what to hold: say e.g. \"hold the top 3 by 3-month momentum\""
                    .into(),
            ));
        }
    };
    if let Some(trade) = s.portfolio.take().and_then(|q| q.trade) {
        p.trade = Some(trade);
    }
    s.portfolio = Some(p);
    Ok(())
}

/// A long's price `entry_price - at_entry(d)` and a short's `entry_price + at_entry(d)`: the
/// distance as it was on the signal bar, from the fill (DESIGN.md §5.4).
fn around_entry(d: &Distance) -> (Expr, Expr) {
    let at = Expr {
        kind: ExprKind::AtEntry(Box::new(d.0.clone())),
        span: strategy::Span::default(),
    };
    (
        bin(BinOp::Sub, name("entry_price"), at.clone()),
        bin(BinOp::Add, name("entry_price"), at),
    )
}

/// A target at `r` times the stop's distance (DESIGN.md §5.1's "3R"): `r` times a percent stop,
/// `r` times an ATR stop's distance from the close, or for a long's stop at a price level
/// `close + r * (close - level)`.
fn target_from_stop(
    s: &mut Strategy,
    r: f64,
    (stop_by, stop_fill): (Option<Distance>, Option<Distance>),
    longs: bool,
    shorts: bool,
) -> R<()> {
    let risk = &mut s.risk;
    if risk.take_profit_pct.is_some()
        || risk.take_profit_long.is_some()
        || risk.take_profit_short.is_some()
    {
        return Err(GenerateError::Incomplete(
            "the description gives two profit targets (one in R): keep one".into(),
        ));
    }
    if let Some(d) = stop_fill {
        // From the fill as the stop is: r times its distance there.
        let (l, sh) = around_entry(&Distance(bin(BinOp::Mul, num(r), d.0)));
        risk.take_profit_long = longs.then_some(sh);
        risk.take_profit_short = shorts.then_some(l);
    } else if let Some(p) = risk.stop_loss_pct {
        risk.take_profit_pct = Some(r * p);
    } else if let Some(d) = stop_by {
        let reward = Distance(bin(BinOp::Mul, num(r), d.0));
        let (l, sh) = around_close(&reward);
        risk.take_profit_long = longs.then_some(sh);
        risk.take_profit_short = shorts.then_some(l);
    } else if let Some(level) = risk.stop_loss_long.clone() {
        let distance = bin(BinOp::Sub, name("close"), level);
        risk.take_profit_long = Some(bin(
            BinOp::Add,
            name("close"),
            bin(BinOp::Mul, num(r), distance),
        ));
    } else {
        return Err(GenerateError::Incomplete(
            "a target in R (multiples of the risk) needs a stop to measure the risk: add one, e.g. \"2% stop\" or \"2 ATR stop\"".into(),
        ));
    }
    Ok(())
}

/// Moves each indicator call of the rules and risk expressions into `[indicators]` under a
/// readable name (`rsi_14`, `sma_volume_20`, `macd_line`, `bb_10_1p5_upper`).
fn hoist(s: &mut Strategy) {
    let mut names: Vec<(String, Expr)> = Vec::new();
    let mut visit = |e: &mut Expr| replace_calls(e, &mut names);
    for e in [
        &mut s.rules.entry_long,
        &mut s.rules.exit_long,
        &mut s.rules.entry_short,
        &mut s.rules.exit_short,
        &mut s.risk.stop_loss_long,
        &mut s.risk.stop_loss_short,
        &mut s.risk.take_profit_long,
        &mut s.risk.take_profit_short,
        &mut s.risk.trailing_stop_long,
        &mut s.risk.trailing_stop_short,
    ]
    .into_iter()
    .flatten()
    {
        visit(e);
    }
    names.sort_by(|a, b| a.0.cmp(&b.0));
    s.indicators = names;
}

fn replace_calls(e: &mut Expr, names: &mut Vec<(String, Expr)>) {
    if let ExprKind::Call { func, args, field } = &e.kind
        && let Some(ind) = vocab::indicator(*func)
    {
        let nm = indicator_name(ind, args, *field);
        let existing = names.iter().find(|(_, x)| x == e).map(|(n, _)| n.clone());
        let nm = if let Some(n) = existing {
            n
        } else {
            let mut candidate = nm.clone();
            let mut k = 2;
            while names.iter().any(|(n, _)| *n == candidate) {
                candidate = format!("{nm}_{k}");
                k += 1;
            }
            names.push((candidate.clone(), e.clone()));
            candidate
        };
        *e = name(&nm);
        return;
    }
    match &mut e.kind {
        ExprKind::Neg(x) | ExprKind::Not(x) | ExprKind::Back(x, _) | ExprKind::AtEntry(x) => {
            replace_calls(x, names);
        }
        ExprKind::Binary(_, l, r) => {
            replace_calls(l, names);
            replace_calls(r, names);
        }
        ExprKind::Call { args, .. } => {
            for a in args {
                replace_calls(a, names);
            }
        }
        ExprKind::Num(_) | ExprKind::Name(_) | ExprKind::Tf(..) | ExprKind::On(..) => {}
    }
}

fn setting_text(v: f64) -> String {
    format!("{v}").replace('.', "p").replace('-', "m")
}

fn indicator_name(ind: &vocab::Indicator, args: &[Expr], field: Option<strategy::Field>) -> String {
    let mut parts = vec![ind.stem.to_owned()];
    let mut settings = args;
    if ind.series {
        if let Some(first) = args.first() {
            match &first.kind {
                ExprKind::Name(n) if n == "close" => {}
                // The usual source: the 20-day high is `highest_20`.
                ExprKind::Name(n)
                    if (ind.func == Func::Highest && n == "high")
                        || (ind.func == Func::Lowest && n == "low") => {}
                ExprKind::Name(n) => parts.push(n.clone()),
                _ => parts.push("x".into()),
            }
        }
        settings = &args[1.min(args.len())..];
    }
    let values: Vec<f64> = settings
        .iter()
        .filter_map(|a| match a.kind {
            ExprKind::Num(v) => Some(v),
            _ => None,
        })
        .collect();
    let usual = values.len() >= 2 && values == ind.defaults;
    if !usual {
        parts.extend(values.iter().map(|v| setting_text(*v)));
    }
    if let Some(f) = field {
        parts.push(f.name().to_owned());
    }
    parts.join("_")
}
