//! Restarts: a journal cut at every write boundary of a bar and at seeded random bytes
//! resumes to exactly the uninterrupted run; other strategies, other settings and changed
//! records are refused with nothing written.

use std::path::Path;

use feeds::replay::ReplayFeed;
use paper::PaperError;
use paper::manifest::FeedSpec;
use paper::runner::{self, Spec};
use paper::status::RunDir;
use serde_json::Value;

use crate::{STRATEGIES, minutes, spec};

fn replay_spec() -> FeedSpec {
    FeedSpec {
        kind: "replay".to_owned(),
        endpoint: None,
        symbol: "walk".to_owned(),
        interval: "replay".to_owned(),
        data: Some("walk.csv".to_owned()),
        warmup: 20,
    }
}

/// Runs (or resumes) `s` to the end of the data.
async fn run_to_end(s: &Spec, data: &backtest::Bars) -> Result<(), PaperError> {
    let (after, _) = runner::preflight(s)?;
    let feed = ReplayFeed::new(data.clone(), 20, None, after);
    let p = runner::prepare(s)?;
    let mut out = Vec::new();
    runner::run(p, s.clone(), feed, &mut out, None, std::future::pending()).await?;
    Ok(())
}

fn bars_and_trades(dir: &Path) -> (Vec<Value>, Value) {
    let r = RunDir::read(dir).unwrap();
    let bars = r
        .of_kind("bar")
        .map(|b| {
            let mut b = b.clone();
            b.remove("seq");
            b.remove("crc");
            Value::Object(b)
        })
        .collect();
    let status = r.status().unwrap();
    (bars, status["trade_list"].clone())
}

/// Seeded offsets: xorshift over the journal's length.
fn offsets(len: usize, n: usize, seed: u64) -> Vec<usize> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            usize::try_from(x % len as u64).unwrap()
        })
        .collect()
}

#[tokio::test]
async fn a_journal_cut_anywhere_resumes_to_the_uninterrupted_run() {
    let data = minutes(160, 5);
    let root = tempfile::tempdir().unwrap();
    for (name, text) in [STRATEGIES[1], STRATEGIES[2]] {
        let whole = root.path().join(format!("{name}-whole"));
        let s = spec(&whole, name, text, replay_spec());
        run_to_end(&s, &data).await.unwrap();
        let (bars, trades) = bars_and_trades(&whole);
        assert_eq!(bars.len(), 160);
        assert!(trades.as_array().unwrap().len() >= 3, "{name}: {trades}");
        let journal = std::fs::read(whole.join("journal.jsonl")).unwrap();
        // Every line boundary of the last bars, and seeded random bytes anywhere.
        let mut cuts: Vec<usize> = journal
            .iter()
            .enumerate()
            .filter(|(_, b)| **b == b'\n')
            .map(|(i, _)| i + 1)
            .rev()
            .take(40)
            .collect();
        cuts.extend(offsets(journal.len(), 40, 0x5eed ^ name.len() as u64));
        for cut in cuts {
            let dir = root.path().join(format!("{name}-cut-{cut}"));
            std::fs::create_dir(&dir).unwrap();
            std::fs::copy(whole.join("run.toml"), dir.join("run.toml")).unwrap();
            std::fs::write(dir.join("journal.jsonl"), &journal[..cut]).unwrap();
            let s = spec(&dir, name, text, replay_spec());
            run_to_end(&s, &data)
                .await
                .unwrap_or_else(|e| panic!("{name} cut at {cut}: {e}"));
            let (b, t) = bars_and_trades(&dir);
            assert_eq!(b, bars, "{name} cut at {cut}: bars");
            assert_eq!(t, trades, "{name} cut at {cut}: trades");
            assert_eq!(RunDir::read(&dir).unwrap().verify().unwrap(), None);
            // Nothing complete that was journaled before the cut was rewritten.
            let after = std::fs::read(dir.join("journal.jsonl")).unwrap();
            let kept = journal[..cut]
                .iter()
                .rposition(|b| *b == b'\n')
                .map_or(0, |i| i + 1);
            assert_eq!(&after[..kept], &journal[..kept], "{name} cut at {cut}");
        }
    }
}

/// The journal with the first `kind` record's `field` moved by 1, its checksum made valid.
fn forge(journal: &str, kind: &str, field: &str) -> String {
    let line = journal
        .lines()
        .find(|l| l.contains(&format!("\"kind\":\"{kind}\"")))
        .unwrap();
    let mut rec: serde_json::Map<String, Value> = serde_json::from_str(line).unwrap();
    let v = rec[field].as_f64().unwrap();
    rec.insert(field.to_owned(), Value::from(v + 1.0));
    rec.remove("crc");
    let body = Value::Object(rec).to_string();
    let crc = crc32fast::hash(body.as_bytes());
    let forged = format!("{},\"crc\":\"{crc:08x}\"}}", &body[..body.len() - 1]);
    journal.replace(line, &forged)
}

#[tokio::test]
async fn other_strategies_settings_and_changed_records_are_refused() {
    let data = minutes(80, 9);
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("run");
    let (name, text) = STRATEGIES[0];
    let s = spec(&dir, name, text, replay_spec());
    run_to_end(&s, &data).await.unwrap();
    let before = std::fs::read(dir.join("journal.jsonl")).unwrap();

    let other = spec(&dir, "brackets", STRATEGIES[1].1, replay_spec());
    let e = runner::preflight(&other).err().unwrap().to_string();
    assert!(
        e.contains("another strategy file") && e.contains("--new"),
        "{e}"
    );
    let mut cash = s.clone();
    cash.cash = 5_000.0;
    let e = runner::preflight(&cash).err().unwrap().to_string();
    assert!(e.contains("--cash was 10000"), "{e}");
    assert_eq!(std::fs::read(dir.join("journal.jsonl")).unwrap(), before);

    // A closed trade changed (with a valid checksum): verify names it, and a restart refuses.
    let text_j = String::from_utf8(before.clone()).unwrap();
    std::fs::write(dir.join("journal.jsonl"), forge(&text_j, "trade", "pnl")).unwrap();
    let differs = RunDir::read(&dir).unwrap().verify().unwrap();
    assert!(
        differs
            .as_deref()
            .is_some_and(|d| d.starts_with("trade 1:")),
        "{differs:?}"
    );
    // A fill changed: no longer what its replay gives.
    std::fs::write(dir.join("journal.jsonl"), forge(&text_j, "fill", "price")).unwrap();
    let e = runner::prepare(&s).err().unwrap();
    assert!(matches!(e, PaperError::Mismatch { .. }), "{e}");

    // --new moves the old run aside, nothing lost.
    let mut fresh = other.clone();
    fresh.new = true;
    run_to_end(&fresh, &data).await.unwrap();
    assert!(dir.join("previous-1").join("journal.jsonl").exists());
    assert_eq!(RunDir::read(&dir).unwrap().manifest.name, "brackets");
}

#[tokio::test]
async fn until_ends_the_run_before_the_first_bar_at_or_after_it() {
    let data = minutes(120, 4);
    let root = tempfile::tempdir().unwrap();
    let (name, text) = STRATEGIES[0];
    let mut s = spec(&root.path().join("run"), name, text, replay_spec());
    s.until = Some(data.epoch_ms[70]);
    let feed = ReplayFeed::new(data.clone(), 20, None, None);
    let p = runner::prepare(&s).unwrap();
    let ended = runner::run(
        p,
        s.clone(),
        feed,
        &mut Vec::new(),
        None,
        std::future::pending(),
    )
    .await
    .unwrap();
    assert_eq!(ended, runner::Ended::Until);
    let run = RunDir::read(&s.dir).unwrap();
    assert_eq!(run.of_kind("bar").count(), 70);
    let last = run.records.last().unwrap();
    assert_eq!(last["kind"], "shutdown");
    assert_eq!(last["reason"], "--until reached");
}

#[tokio::test]
async fn warm_up_bars_held_back_are_journaled_when_a_signal_ends_the_run() {
    let data = minutes(60, 6);
    let root = tempfile::tempdir().unwrap();
    let (name, text) = STRATEGIES[0];
    let s = spec(&root.path().join("run"), name, text, replay_spec());
    // Every bar is warm-up, so all are held back; the signal comes after the 30th.
    let mut feed = ReplayFeed::new(data.clone(), 60, None, None);
    let mut first = Vec::new();
    for _ in 0..30 {
        first.push(feeds::Feed::next(&mut feed).await.unwrap());
    }
    let p = runner::prepare(&s).unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let held = Held {
        events: first.into(),
    };
    let stop = async move {
        let _ = rx.await;
    };
    let mut out = Vec::new();
    let run = runner::run(p, s.clone(), held, &mut out, None, stop);
    tokio::pin!(run);
    // The feed runs dry after 30 warm-up bars (held events are ready at once, so one poll
    // takes them all); then the signal.
    for _ in 0..10 {
        tokio::select! {
            _ = &mut run => panic!("ended before the signal"),
            () = tokio::task::yield_now() => {}
        }
    }
    tx.send(()).unwrap();
    assert_eq!(run.await.unwrap(), runner::Ended::Signal);
    let dir = RunDir::read(&s.dir).unwrap();
    assert_eq!(dir.of_kind("bar").count(), 30);
    assert_eq!(dir.records.last().unwrap()["reason"], "signal");
}

#[tokio::test]
async fn a_bar_with_an_unusable_price_is_refused_and_the_run_goes_on() {
    let data = minutes(40, 2);
    let root = tempfile::tempdir().unwrap();
    let (name, text) = STRATEGIES[0];
    let s = spec(&root.path().join("run"), name, text, replay_spec());
    let mut feed = ReplayFeed::new(data.clone(), 0, None, None);
    let mut events = std::collections::VecDeque::new();
    for i in 0..40 {
        let mut e = feeds::Feed::next(&mut feed).await.unwrap();
        if let feeds::Event::Bar { kline, .. } = &mut e {
            if i == 17 {
                kline.close = "0".to_owned();
            }
            if i == 23 {
                kline.low = "not a number".to_owned();
            }
        }
        events.push_back(e);
    }
    events.push_back(feeds::Event::End);
    let p = runner::prepare(&s).unwrap();
    let ended = runner::run(
        p,
        s.clone(),
        Held { events },
        &mut Vec::new(),
        None,
        std::future::pending(),
    )
    .await
    .unwrap();
    assert_eq!(ended, runner::Ended::EndOfData);
    let dir = RunDir::read(&s.dir).unwrap();
    assert_eq!(dir.of_kind("bar").count(), 38);
    assert_eq!(dir.of_kind("refused").count(), 2);
    assert_eq!(dir.verify().unwrap(), None);
    // A restart replays the journal without the refused bars.
    assert!(runner::prepare(&s).is_ok());
}

/// A feed that hands over its events, then waits for ever.
struct Held {
    events: std::collections::VecDeque<feeds::Event>,
}

impl feeds::Feed for Held {
    async fn next(&mut self) -> Result<feeds::Event, feeds::FeedError> {
        match self.events.pop_front() {
            Some(e) => Ok(e),
            None => std::future::pending().await,
        }
    }
}
