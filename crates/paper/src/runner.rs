//! `botforge run`: the loop. A run directory is prepared (new, or resumed after its journal is
//! replayed through the session and checked), then each feed event is journaled and each
//! closed bar goes through the session; what a bar changed is printed after its records are on
//! disk (one fsync per bar).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use backtest::engine::Settings;
use backtest::session::Session;
use feeds::{Event, Feed, Kline, Source};
use serde_json::{Map, Value, json};

use crate::PaperError;
use crate::journal::{Journal, Opened, Record};
use crate::manifest::{FeedSpec, Manifest, sha256};
use crate::metrics::RunMetrics;
use crate::records::{self, kline_of, label, object};

/// What a run is asked to do.
#[derive(Debug, Clone)]
pub struct Spec {
    /// The strategy file.
    pub strategy_file: PathBuf,
    /// Its text.
    pub strategy_text: String,
    /// The run directory.
    pub dir: PathBuf,
    /// Starting cash.
    pub cash: f64,
    /// Commission per fill.
    pub commission: f64,
    /// The feed.
    pub feed: FeedSpec,
    /// End after this many live bars in the run directory (resumed runs count on).
    pub bars: Option<u64>,
    /// End at the first bar that opens at or after this time (ms).
    pub until: Option<i64>,
    /// Archive a run directory of another strategy and start afresh.
    pub new: bool,
    /// Print JSON Lines.
    pub json: bool,
}

/// Where a prepared run stands.
#[derive(Debug)]
pub struct Prepared {
    /// The manifest.
    pub manifest: Manifest,
    /// The session with the journal's bars replayed.
    pub session: Session,
    /// The journal, at its end.
    pub journal: Journal,
    /// The last bar's open time.
    pub last_ms: Option<i64>,
    /// Live bars so far.
    pub live_bars: u64,
    /// A torn line was cut off.
    pub warning: Option<String>,
}

fn same(a: &FeedSpec, b: &FeedSpec) -> Option<String> {
    let pairs = [
        ("the feed", a.kind.as_str(), b.kind.as_str()),
        ("--symbol", a.symbol.as_str(), b.symbol.as_str()),
        ("--interval", a.interval.as_str(), b.interval.as_str()),
        (
            "--endpoint",
            a.endpoint.as_deref().unwrap_or(""),
            b.endpoint.as_deref().unwrap_or(""),
        ),
        (
            "the data file",
            a.data.as_deref().unwrap_or(""),
            b.data.as_deref().unwrap_or(""),
        ),
    ];
    pairs
        .iter()
        .find(|(_, x, y)| x != y)
        .map(|(what, x, y)| format!("{what} was `{x}`, now `{y}`"))
}

/// The session a manifest describes, before any bar.
pub(crate) fn session_for(m: &Manifest) -> Result<Session, PaperError> {
    let strategy = m.strategy()?;
    Ok(Session::new(
        strategy,
        Settings {
            cash: m.cash,
            commission: m.commission,
            finalize: false,
            // No entry before the first live bar; set to it once it is known.
            trade_from: Some(m.live_from_ms().unwrap_or(i64::MAX)),
        },
    ))
}

/// What replaying a journal's bars gave.
pub(crate) struct Replayed {
    /// The records the bars recompute (what each did), in order.
    pub(crate) derived: Vec<Record>,
    /// Where each bar's records start in `derived`.
    pub(crate) starts: Vec<usize>,
    /// The last bar's open time.
    pub(crate) last_ms: Option<i64>,
    /// Live bars (not warm-up).
    pub(crate) live: u64,
}

/// Replays journaled bars through `session`.
pub(crate) fn replay(session: &mut Session, records: &[Record]) -> Result<Replayed, PaperError> {
    let mut bars = Vec::new();
    let mut live = 0;
    for r in records {
        if r.get("kind").and_then(Value::as_str) != Some("bar") {
            continue;
        }
        let Some((k, warmup)) = kline_of(r) else {
            continue;
        };
        let Some(bar) = k.bar() else { continue };
        bars.push(bar);
        live += u64::from(!warmup);
    }
    // One pass over every journaled bar: what pushing each in turn would do.
    let advances = session.extend(&bars)?;
    let mut derived = Vec::new();
    let mut starts = Vec::with_capacity(advances.len());
    for a in &advances {
        starts.push(derived.len());
        derived.extend(records::derived(session, a));
    }
    Ok(Replayed {
        derived,
        starts,
        last_ms: bars.last().map(|b| b.open_ms),
        live,
    })
}

/// Refuses a run directory made by another strategy file or with other settings.
fn compare(old: &Manifest, spec: &Spec, hash: &str) -> Result<(), PaperError> {
    let dir = &spec.dir;
    if old.strategy_sha256 != hash {
        return Err(PaperError::OtherRun {
            dir: dir.clone(),
            what: format!(
                "made by another strategy file ({} with SHA-256 {}…): pass another --run-dir, or --new to move that run aside",
                old.strategy_file,
                &old.strategy_sha256[..12.min(old.strategy_sha256.len())]
            ),
        });
    }
    let mut differs = same(&old.feed, &spec.feed);
    if old.cash.to_bits() != spec.cash.to_bits() {
        differs = Some(format!("--cash was {}, now {}", old.cash, spec.cash));
    } else if old.commission.to_bits() != spec.commission.to_bits() {
        differs = Some(format!(
            "--commission was {}, now {}",
            old.commission, spec.commission
        ));
    }
    match differs {
        Some(d) => Err(PaperError::OtherRun {
            dir: dir.clone(),
            what: format!("{d}: resume with the same settings, or pass another --run-dir"),
        }),
        None => Ok(()),
    }
}

/// Checks a run before anything is written: the strategy validates, a run directory already
/// there is this strategy's with these settings (or `--new`). Returns the last journaled
/// bar's open time (a resumed run's feed starts after it) and whether the run went live.
///
/// # Errors
/// [`PaperError`] naming what to fix.
pub fn preflight(spec: &Spec) -> Result<(Option<i64>, bool), PaperError> {
    strategy::Strategy::from_toml(
        &spec.strategy_file.display().to_string(),
        &spec.strategy_text,
    )?;
    let Some(old) = Manifest::read(&spec.dir)? else {
        return Ok((None, false));
    };
    if spec.new {
        return Ok((None, false));
    }
    compare(&old, spec, &sha256(&spec.strategy_text))?;
    let path = spec.dir.join("journal.jsonl");
    let last = if path.exists() {
        crate::journal::read(&path)?
            .iter()
            .rev()
            .filter(|r| r.get("kind").and_then(Value::as_str) == Some("bar"))
            .find_map(|r| r.get("open_ms").and_then(Value::as_i64))
    } else {
        None
    };
    Ok((last, old.live_from.is_some()))
}

/// Creates or resumes the run directory, checking the journal against a replay.
///
/// # Errors
/// [`PaperError`]: another strategy's directory, a damaged journal, a replay that differs.
pub fn prepare(spec: &Spec) -> Result<Prepared, PaperError> {
    let strategy = strategy::Strategy::from_toml(
        &spec.strategy_file.display().to_string(),
        &spec.strategy_text,
    )?;
    let dir = &spec.dir;
    std::fs::create_dir_all(dir).map_err(|e| PaperError::io(dir, e))?;
    let hash = sha256(&spec.strategy_text);
    let fresh = Manifest {
        name: strategy.name.clone(),
        strategy_file: spec.strategy_file.display().to_string(),
        strategy_sha256: hash.clone(),
        cash: spec.cash,
        commission: spec.commission,
        feed: spec.feed.clone(),
        first_bar: None,
        live_from: None,
        strategy: spec.strategy_text.clone(),
    };
    let manifest = match Manifest::read(dir)? {
        Some(old) if spec.new => {
            archive(dir)?;
            tracing::warn!(
                "{}: the run of {} moved aside (--new)",
                dir.display(),
                old.name
            );
            fresh.write(dir)?;
            fresh
        }
        Some(old) => {
            compare(&old, spec, &hash)?;
            old
        }
        None => {
            fresh.write(dir)?;
            fresh
        }
    };
    let Opened {
        mut journal,
        records,
        warning,
    } = Journal::open(&dir.join("journal.jsonl"))?;
    let mut session = session_for(&manifest)?;
    let replayed = replay(&mut session, &records)?;
    check(dir, &records, &replayed, &mut journal)?;
    Ok(Prepared {
        manifest,
        session,
        journal,
        last_ms: replayed.last_ms,
        live_bars: replayed.live,
        warning,
    })
}

/// Every journaled record must be what the replay gives; only the last bar's may be missing
/// (a crash between its bar line and the rest), and those are written now.
fn check(
    dir: &Path,
    records: &[Record],
    replayed: &Replayed,
    journal: &mut Journal,
) -> Result<(), PaperError> {
    let derived = &replayed.derived;
    let journaled: Vec<&Record> = records.iter().filter(|r| records::is_derived(r)).collect();
    let mismatch = |what: String| PaperError::Mismatch {
        dir: dir.to_owned(),
        what,
    };
    for (i, (j, d)) in journaled.iter().zip(derived).enumerate() {
        let mut j = (*j).clone();
        j.remove("seq");
        j.remove("crc");
        if j != *d {
            return Err(mismatch(format!(
                "record {} of what the bars did as {} where the journal has {}",
                i + 1,
                Value::Object(d.clone()),
                Value::Object(j)
            )));
        }
    }
    let last_start = replayed.starts.last().copied().unwrap_or(0);
    if journaled.len() > derived.len() || journaled.len() < last_start {
        return Err(mismatch(format!(
            "{} records of what the bars did where the journal has {}",
            derived.len(),
            journaled.len()
        )));
    }
    journal.append(&derived[journaled.len()..], true)
}

/// Moves a run directory's files into `previous-N/` inside it.
fn archive(dir: &Path) -> Result<(), PaperError> {
    let mut n = 1;
    let target = loop {
        let t = dir.join(format!("previous-{n}"));
        if !t.exists() {
            break t;
        }
        n += 1;
    };
    std::fs::create_dir(&target).map_err(|e| PaperError::io(&target, e))?;
    for f in ["run.toml", "journal.jsonl"] {
        let from = dir.join(f);
        if from.exists() {
            std::fs::rename(&from, target.join(f)).map_err(|e| PaperError::io(&from, e))?;
        }
    }
    Ok(())
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ended {
    /// `--bars` reached.
    Bars,
    /// `--until` reached.
    Until,
    /// The replayed file ended.
    EndOfData,
    /// SIGINT or SIGTERM.
    Signal,
}

impl Ended {
    /// Why, in words (the shutdown record's `reason`).
    pub fn reason(&self) -> &'static str {
        match self {
            Ended::Bars => "--bars reached",
            Ended::Until => "--until reached",
            Ended::EndOfData => "end of data",
            Ended::Signal => "signal",
        }
    }
}

/// The loop's state.
struct Live<'o, W: Write> {
    p: Prepared,
    spec: Spec,
    out: &'o mut W,
    dir: PathBuf,
    /// The output failed: print no more.
    quiet: bool,
    metrics: Option<Arc<RunMetrics>>,
    /// Warm-up bars not yet taken: they decide nothing, so a run of them goes through the
    /// session in one pass when the next other event comes.
    warm: Vec<(Kline, Source, bool)>,
}

impl<W: Write> Live<'_, W> {
    /// Closed bars (one live bar, or a run of warm-up bars in one pass): through the session,
    /// journaled with what each did in one write and one fsync, then printed.
    fn bars(&mut self, batch: &[(Kline, Source, bool)]) -> Result<(), PaperError> {
        let mut taken = Vec::with_capacity(batch.len());
        let mut all = Vec::new();
        for (k, source, warmup) in batch {
            // A bar the engine cannot take (a price that is not a positive number) is refused
            // and journaled as such; the run goes on without it.
            let usable = k.bar().filter(|b| {
                [b.open, b.high, b.low, b.close]
                    .iter()
                    .all(|p| *p > 0.0 && p.is_finite())
            });
            if let Some(b) = usable {
                taken.push((k, *source, *warmup, b));
            } else {
                tracing::warn!(
                    open_ms = k.open_ms,
                    "a bar with a price that is not a positive number: refused"
                );
                all.push(object(json!({
                    "kind": "refused",
                    "time": label(k.open_ms),
                    "o": k.open, "h": k.high, "l": k.low, "c": k.close, "v": k.volume,
                })));
            }
        }
        let Some(&(first, ..)) = taken.first() else {
            return self.p.journal.append(&all, false);
        };
        if let Some(&(k, ..)) = taken.iter().find(|t| !t.2)
            && self.p.manifest.live_from.is_none()
        {
            let from = label(k.open_ms);
            self.p.manifest.live_from = Some(from.clone());
            self.p.manifest.write(&self.dir)?;
            self.p.session.set_trade_from(Some(k.open_ms));
            all.push(object(json!({"kind": "live", "live_from": from})));
        }
        if self.p.manifest.first_bar.is_none() {
            self.p.manifest.first_bar = Some(label(first.open_ms));
            self.p.manifest.write(&self.dir)?;
        }
        let bars: Vec<_> = taken.iter().map(|t| t.3).collect();
        let advances = self.p.session.extend(&bars)?;
        let mut derived = Vec::with_capacity(advances.len());
        for ((k, source, warmup, _), a) in taken.iter().zip(&advances) {
            let d = records::derived(&self.p.session, a);
            all.push(records::bar(k, *source, *warmup));
            all.extend(d.iter().cloned());
            derived.push(d);
        }
        self.p.journal.append(&all, true)?;
        for ((k, source, warmup, _), (a, d)) in taken.iter().zip(advances.iter().zip(&derived)) {
            self.p.last_ms = Some(k.open_ms);
            self.p.live_bars += u64::from(!*warmup);
            if let Some(m) = &self.metrics {
                observe_bar(m, k, *source, *warmup, a);
            }
            if a.changed()
                && !self.quiet
                && let Err(e) = print(self.out, self.spec.json, &label(k.open_ms), d)
            {
                // The journal holds every event; a closed output (`| head`) ends the printing
                // only.
                tracing::warn!("output closed ({e}): the run goes on, its journal has every event");
                self.quiet = true;
            }
        }
        Ok(())
    }

    /// The warm-up bars held back, in one pass.
    fn flush_warm(&mut self) -> Result<(), PaperError> {
        let warm = std::mem::take(&mut self.warm);
        self.bars(&warm)
    }

    fn note(&mut self, record: Value) -> Result<(), PaperError> {
        self.p.journal.append(&[object(record)], false)
    }
}

/// A bar's metrics: its source, close time and lag, what it placed and closed, equity.
fn observe_bar(
    m: &RunMetrics,
    k: &Kline,
    source: Source,
    warmup: bool,
    a: &backtest::session::Advance,
) {
    m.bars
        .get_or_create(&vec![("source", source.name().to_owned())])
        .inc();
    if source == Source::Rest && !warmup {
        m.backfilled.inc();
    }
    let close = (k.close_ms + 1) as f64 / 1000.0;
    m.last_close.set(close);
    if source != Source::File && !warmup {
        let now = chrono::Utc::now().timestamp_millis() as f64 / 1000.0;
        m.lag.observe((now - close).max(0.0));
    }
    for o in &a.placed {
        m.orders
            .get_or_create(&vec![
                ("side", o.side.name().to_owned()),
                ("kind", o.kind.to_owned()),
            ])
            .inc();
    }
    m.trades.inc_by(a.closed.len() as u64);
    m.equity.set(a.equity);
    m.position.set(a.position);
}

/// A feed event's metrics.
fn observe_event(m: &RunMetrics, e: &Event) {
    match e {
        Event::Gap { .. } => {
            m.gaps.inc();
        }
        Event::Duplicate { .. } => {
            m.duplicates.inc();
        }
        Event::Connected { reconnect } => {
            m.connected.set(1);
            if *reconnect {
                m.reconnects.inc();
            }
        }
        Event::Disconnected { .. } => {
            m.connected.set(0);
        }
        Event::Bar { .. } | Event::End => {}
    }
}

/// Prints what one bar changed: a line, or with `json` one object per record.
fn print<W: Write>(
    out: &mut W,
    json: bool,
    time: &str,
    recs: &[Map<String, Value>],
) -> std::io::Result<()> {
    if json {
        for r in recs {
            if r.get("kind").and_then(Value::as_str) != Some("equity") {
                let mut r = r.clone();
                if let Some(k) = r.remove("kind") {
                    r.insert("event".to_owned(), k);
                }
                writeln!(out, "{}", Value::Object(r))?;
            }
        }
        return out.flush();
    }
    let mut parts = Vec::new();
    let num = |v: &Value| {
        v.as_f64()
            .map_or_else(|| "-".to_owned(), |x| format!("{x:.2}"))
    };
    for r in recs {
        match r.get("kind").and_then(Value::as_str) {
            Some("fill") => parts.push(format!(
                "{} {} @ {}",
                r["side"].as_str().unwrap_or(""),
                r["size"].as_f64().map_or(0.0, f64::abs),
                num(&r["price"])
            )),
            Some("trade") => parts.push(format!(
                "closed {} @ {} pnl {} ({})",
                r["size"],
                num(&r["exit_price"]),
                num(&r["pnl"]),
                r["exit_reason"].as_str().unwrap_or("")
            )),
            Some("order") => parts.push(format!(
                "order {} {}{}{}",
                r["side"].as_str().unwrap_or(""),
                r["type"].as_str().unwrap_or(""),
                r["stop"]
                    .as_f64()
                    .map(|p| format!(" stop {p:.2}"))
                    .unwrap_or_default(),
                r["limit"]
                    .as_f64()
                    .map(|p| format!(" limit {p:.2}"))
                    .unwrap_or_default(),
            )),
            Some("out_of_money") => parts.push("out of money".to_owned()),
            Some("equity") => parts.push(format!("equity {}", num(&r["equity"]))),
            _ => {}
        }
    }
    writeln!(out, "{time}  {}", parts.join(" · "))?;
    out.flush()
}

/// Runs `feed` into the prepared run until `--bars`, `--until`, the end of the data or
/// `shutdown`; journals a shutdown record either way.
///
/// # Errors
/// [`PaperError`] from the feed, the journal or the engine.
pub async fn run<F: Feed, W: Write>(
    p: Prepared,
    spec: Spec,
    mut feed: F,
    out: &mut W,
    metrics: Option<Arc<RunMetrics>>,
    shutdown: impl Future<Output = ()>,
) -> Result<Ended, PaperError> {
    let dir = spec.dir.clone();
    let mut live = Live {
        p,
        spec,
        out,
        dir,
        quiet: false,
        metrics,
        warm: Vec::new(),
    };
    live.note(json!({"kind": "start", "resumed_after": live.p.last_ms.map(label)}))?;
    let reached = |l: &Live<'_, W>| l.spec.bars.is_some_and(|n| l.p.live_bars >= n);
    tokio::pin!(shutdown);
    let ended = loop {
        if reached(&live) {
            break Ended::Bars;
        }
        let event = tokio::select! {
            () = &mut shutdown => break Ended::Signal,
            e = feed.next() => e?,
        };
        if let Event::Bar {
            kline,
            source,
            warmup: true,
        } = &event
            && live.p.last_ms.is_none_or(|l| kline.open_ms > l)
            && live
                .warm
                .last()
                .is_none_or(|(w, ..)| kline.open_ms > w.open_ms)
        {
            live.warm.push((kline.clone(), *source, true));
            continue;
        }
        live.flush_warm()?;
        if let Some(m) = &live.metrics {
            observe_event(m, &event);
        }
        match event {
            Event::Bar {
                kline,
                source,
                warmup,
            } => {
                if live.spec.until.is_some_and(|u| kline.open_ms >= u) {
                    break Ended::Until;
                }
                if live.p.last_ms.is_some_and(|l| kline.open_ms <= l) {
                    if let Some(m) = &live.metrics {
                        m.duplicates.inc();
                    }
                    live.note(json!({"kind": "duplicate", "time": label(kline.open_ms), "differs": false}))?;
                    continue;
                }
                live.bars(&[(kline, source, warmup)])?;
            }
            Event::Gap { from_ms, to_ms } => {
                tracing::warn!("no bars from {} to {}: a gap", label(from_ms), label(to_ms));
                live.note(json!({"kind": "gap", "from": label(from_ms), "to": label(to_ms)}))?;
            }
            Event::Duplicate { open_ms, differs } => {
                live.note(
                    json!({"kind": "duplicate", "time": label(open_ms), "differs": differs}),
                )?;
            }
            Event::Connected { reconnect } => {
                live.note(json!({"kind": "connected", "reconnect": reconnect}))?;
            }
            Event::Disconnected { reason } => {
                tracing::warn!("stream disconnected: {reason}");
                live.note(json!({"kind": "disconnected", "reason": reason}))?;
            }
            Event::End => break Ended::EndOfData,
        }
    };
    // Warm-up bars held back when a signal came are journaled before the shutdown.
    live.flush_warm()?;
    live.p.journal.append(
        &[object(
            json!({"kind": "shutdown", "reason": ended.reason()}),
        )],
        true,
    )?;
    Ok(ended)
}
