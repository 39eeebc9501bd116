//! The journal's records: a bar as it came, and what the bar did (fills, closed trades, orders
//! placed, equity), each a JSON object with a `kind`.

use backtest::engine::Trade;
use backtest::session::{Advance, OrderView, Session};
use backtest::{Bars, report};
use feeds::{Kline, Source};
use serde_json::{Map, Value, json};

/// A bar's label: its open time in UTC, ISO 8601 with `Z` (`2026-12-07T14:05:00Z`).
pub fn label(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).map_or_else(
        || ms.to_string(),
        |t| {
            if ms % 1000 == 0 {
                t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
            } else {
                t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
            }
        },
    )
}

pub(crate) fn object(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// The bar record.
pub(crate) fn bar(k: &Kline, source: Source, warmup: bool) -> Map<String, Value> {
    object(json!({
        "kind": "bar",
        "time": label(k.open_ms),
        "open_ms": k.open_ms,
        "close_ms": k.close_ms,
        "o": k.open, "h": k.high, "l": k.low, "c": k.close, "v": k.volume,
        "source": source.name(),
        "warmup": warmup,
    }))
}

/// The kline a bar record holds.
pub(crate) fn kline_of(r: &Map<String, Value>) -> Option<(Kline, bool)> {
    let s = |k: &str| r.get(k)?.as_str().map(str::to_owned);
    Some((
        Kline {
            open_ms: r.get("open_ms")?.as_i64()?,
            close_ms: r.get("close_ms")?.as_i64()?,
            open: s("o")?,
            high: s("h")?,
            low: s("l")?,
            close: s("c")?,
            volume: s("v")?,
        },
        r.get("warmup")?.as_bool()?,
    ))
}

/// A trade as `backtest --json` shows it, times as labels.
pub(crate) fn trade(bars: &Bars, t: &Trade) -> Value {
    let mut v = report::trade_json(bars, t);
    let time = |i: usize| bars.epoch_ms.get(i).map(|&ms| label(ms));
    v["entry_time"] = json!(time(t.entry_bar));
    if let Some(e) = t.exit_bar {
        v["exit_time"] = json!(time(e));
    }
    v
}

fn order(o: &OrderView) -> Value {
    json!({
        "id": o.id,
        "side": o.side.name(),
        "type": o.kind,
        "size": o.size,
        "stop": o.stop,
        "limit": o.limit,
    })
}

/// The orders waiting now, as a status lists them.
pub(crate) fn orders(session: &Session) -> Vec<Value> {
    session.orders().iter().map(order).collect()
}

/// What a bar did, in the journal's order: fills, closed trades, orders placed, then equity.
pub(crate) fn derived(session: &Session, a: &Advance) -> Vec<Map<String, Value>> {
    let time = session
        .bars()
        .epoch_ms
        .get(a.index)
        .map(|&ms| label(ms))
        .unwrap_or_default();
    let mut out = Vec::new();
    for t in &a.opened {
        out.push(object(json!({
            "kind": "fill",
            "time": time,
            "side": if t.size > 0.0 { "buy" } else { "sell" },
            "size": report::size_json(t.size),
            "price": t.entry_price,
            "sl": t.sl,
            "tp": t.tp,
            "commission": t.commission,
        })));
    }
    for t in &a.closed {
        let mut r = object(trade(session.bars(), t));
        r.insert("kind".to_owned(), json!("trade"));
        r.insert("time".to_owned(), json!(time));
        out.push(r);
    }
    for o in &a.placed {
        let mut r = object(order(o));
        r.insert("kind".to_owned(), json!("order"));
        r.insert("time".to_owned(), json!(time));
        out.push(r);
    }
    if a.out_of_money {
        out.push(object(json!({"kind": "out_of_money", "time": time})));
    }
    out.push(object(json!({
        "kind": "equity",
        "time": time,
        "equity": a.equity,
        "cash": a.cash,
        "position": report::size_json(a.position),
    })));
    out
}

/// Whether a record is one a bar's replay recomputes.
pub(crate) fn is_derived(r: &Map<String, Value>) -> bool {
    matches!(
        r.get("kind").and_then(Value::as_str),
        Some("fill" | "trade" | "order" | "out_of_money" | "equity")
    )
}
