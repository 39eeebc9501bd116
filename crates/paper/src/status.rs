//! What a run directory says, live or ended: `run status` (position, orders, equity, trades,
//! feed counters), `run verify` (a backtest of the journal's bars gives the journaled trades)
//! and `run export` (the bars as they came).

use std::fmt::Write as _;
use std::path::Path;

use backtest::engine::{Settings, run};
use serde_json::{Map, Value, json};

use crate::manifest::Manifest;
use crate::records::{self, kline_of, label};
use crate::runner::{replay, session_for};
use crate::{PaperError, journal};

/// A run directory read.
#[derive(Debug)]
pub struct RunDir {
    /// `run.toml`.
    pub manifest: Manifest,
    /// `journal.jsonl`'s complete records.
    pub records: Vec<Map<String, Value>>,
}

impl RunDir {
    /// Reads `dir` without changing it.
    ///
    /// # Errors
    /// [`PaperError`] when it is not a run directory or its journal is damaged.
    pub fn read(dir: &Path) -> Result<RunDir, PaperError> {
        let manifest = Manifest::read(dir)?.ok_or_else(|| PaperError::Manifest {
            path: dir.join("run.toml"),
            what: "not found: is this a run directory (runs/NAME-SYMBOL-INTERVAL)?".to_owned(),
        })?;
        let path = dir.join("journal.jsonl");
        let records = if path.exists() {
            journal::read(&path)?
        } else {
            Vec::new()
        };
        Ok(RunDir { manifest, records })
    }

    fn count(&self, kind: &str, pred: impl Fn(&Map<String, Value>) -> bool) -> usize {
        self.records
            .iter()
            .filter(|r| r.get("kind").and_then(Value::as_str) == Some(kind) && pred(r))
            .count()
    }

    /// The records of one kind.
    pub fn of_kind<'r>(
        &'r self,
        kind: &'r str,
    ) -> impl Iterator<Item = &'r Map<String, Value>> + 'r {
        self.records
            .iter()
            .filter(move |r| r.get("kind").and_then(Value::as_str) == Some(kind))
    }

    /// `run status --json`.
    ///
    /// # Errors
    /// [`PaperError`] when the journal's bars cannot be replayed.
    pub fn status(&self) -> Result<Value, PaperError> {
        let m = &self.manifest;
        let mut session = session_for(m)?;
        replay(&mut session, &self.records)?;
        let bars = session.bars();
        let last_bar = bars.len().checked_sub(1).map(|i| {
            let close = self
                .of_kind("bar")
                .last()
                .and_then(|r| r.get("c").and_then(Value::as_str))
                .and_then(|c| c.parse::<f64>().ok());
            json!({"open_time": label(bars.epoch_ms[i]), "close": close})
        });
        let open = session.open_trades();
        let position = if open.is_empty() {
            Value::Null
        } else {
            let size: f64 = open.iter().map(|t| t.size).sum();
            let t = &open[0];
            json!({
                "side": if size > 0.0 { "long" } else { "short" },
                "size": backtest::report::size_json(size),
                "entry_time": bars.epoch_ms.get(t.entry_bar).map(|&ms| label(ms)),
                "entry_price": t.entry_price,
                "sl": t.sl,
                "tp": t.tp,
            })
        };
        let trades: Vec<Value> = session
            .trades()
            .iter()
            .map(|t| records::trade(session.bars(), t))
            .collect();
        // Connected now: the last of connected / disconnected / shutdown.
        let connected = self
            .records
            .iter()
            .rev()
            .find_map(|r| match r.get("kind").and_then(Value::as_str) {
                Some("connected") => Some(true),
                Some("disconnected" | "shutdown") => Some(false),
                _ => None,
            })
            .unwrap_or(false);
        Ok(json!({
            "strategy": m.name,
            "exchange": if m.feed.kind == "binance" { "binance" } else { "replay" },
            "symbol": m.feed.symbol,
            "interval": m.feed.interval,
            "mode": "paper",
            "first_bar": m.first_bar,
            "live_from": m.live_from,
            "bars": bars.len(),
            "last_bar": last_bar,
            "position": position,
            "orders": records::orders(&session),
            "equity": session.equity().last().copied().unwrap_or(m.cash),
            "cash": session.cash(),
            "trade_list": trades,
            "feed": {
                "connected": connected,
                "reconnects": self.count("connected", |r| r.get("reconnect") == Some(&Value::Bool(true))),
                "duplicates": self.count("duplicate", |_| true),
                "backfilled": self.count("bar", |r| r.get("source").and_then(Value::as_str) == Some("rest") && r.get("warmup") == Some(&Value::Bool(false))),
                "gaps": self.count("gap", |_| true),
            },
        }))
    }

    /// The bars the run saw as CSV (`time,open,high,low,close,volume`, prices as they came).
    pub fn csv(&self) -> String {
        let mut out = String::from("time,open,high,low,close,volume\n");
        for r in self.of_kind("bar") {
            if let Some((k, _)) = kline_of(r) {
                let _ = writeln!(
                    out,
                    "{},{},{},{},{},{}",
                    label(k.open_ms),
                    k.open,
                    k.high,
                    k.low,
                    k.close,
                    k.volume
                );
            }
        }
        out
    }

    /// Backtests the journal's bars (`trade_from` = `live_from`) and compares its closed
    /// trades with the journaled ones: `Ok(None)` when equal, else the first difference.
    ///
    /// # Errors
    /// [`PaperError`] when the bars or the strategy cannot be read.
    pub fn verify(&self) -> Result<Option<String>, PaperError> {
        let m = &self.manifest;
        let journaled: Vec<Value> = self
            .of_kind("trade")
            .map(|r| {
                let mut r = r.clone();
                for k in ["seq", "crc", "kind", "time"] {
                    r.remove(k);
                }
                Value::Object(r)
            })
            .collect();
        if self.of_kind("bar").next().is_none() {
            return Ok(if journaled.is_empty() {
                None
            } else {
                Some("trades journaled but no bars".to_owned())
            });
        }
        let bars =
            backtest::parse_csv("journal bars", &self.csv()).map_err(|e| PaperError::Manifest {
                path: Path::new("journal.jsonl").to_owned(),
                what: e.to_string(),
            })?;
        let strategy = m.strategy()?;
        let settings = Settings {
            cash: m.cash,
            commission: m.commission,
            finalize: false,
            trade_from: Some(m.live_from_ms().unwrap_or(i64::MAX)),
        };
        let r = run(&bars, &strategy, settings).map_err(|e| PaperError::Mismatch {
            dir: Path::new(".").to_owned(),
            what: e.to_string(),
        })?;
        let backtested: Vec<Value> = r.trades.iter().map(|t| records::trade(&bars, t)).collect();
        if backtested.len() != journaled.len() {
            return Ok(Some(format!(
                "the backtest closes {} trades, the journal {}",
                backtested.len(),
                journaled.len()
            )));
        }
        Ok(backtested
            .iter()
            .zip(&journaled)
            .enumerate()
            .find(|(_, (a, b))| a != b)
            .map(|(i, (a, b))| format!("trade {}: the backtest has {a}, the journal {b}", i + 1)))
    }
}
