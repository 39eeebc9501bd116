//! What the pool did over the last hour, minute by minute (DESIGN.md §7, the dashboard's
//! charts): per key, its upstream calls, errors by class, 429s, tokens and upstream time; for
//! the gateway, the requests it answered and the time it added.
//!
//! Each process keeps a ring of the last hour's minutes in memory. When the pool shares its
//! state in Redis, each process also adds what it counted since its last flush to one hash per
//! minute there (every few seconds, off the request path), and the dashboard reads the sums, so
//! every gateway shows the whole pool's traffic.

use std::collections::VecDeque;
use std::sync::Arc;

use parking_lot::Mutex;
use serde::Serialize;

use crate::clock::{Clock, Millis};

/// One minute.
pub const MINUTE_MS: Millis = 60_000;
/// Minutes kept: the last hour, plus the minute under way.
pub const MINUTES: usize = 61;

/// What one row (a key, or the gateway) did in one minute.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Upstream calls (a key), or requests answered (the gateway).
    pub calls: u64,
    /// 429 with a per-minute quota.
    pub rate_limited: u64,
    /// 429 with a per-day quota.
    pub quota_exhausted: u64,
    /// 503 overloaded.
    pub overloaded: u64,
    /// 500, 504, timeouts, resets.
    pub transient: u64,
    /// The key was refused (400 `API_KEY_INVALID`, 401, 403).
    pub key_broken: u64,
    /// The request's own fault (other 400s, 404) — or, for the gateway, answers of 4xx/5xx.
    pub caller_fault: u64,
    /// Input tokens the calls used (what TPM counts).
    pub tokens: u64,
    /// Time spent: upstream milliseconds (a key's row), or the microseconds the gateway added
    /// (the gateway's row).
    pub time: u64,
}

/// The fields, as named in Redis and in JSON.
pub const FIELDS: [&str; 9] = [
    "calls",
    "rate_limited",
    "quota_exhausted",
    "overloaded",
    "transient",
    "key_broken",
    "caller_fault",
    "tokens",
    "time",
];

impl Counts {
    fn field_mut(&mut self, i: usize) -> Option<&mut u64> {
        Some(match i {
            0 => &mut self.calls,
            1 => &mut self.rate_limited,
            2 => &mut self.quota_exhausted,
            3 => &mut self.overloaded,
            4 => &mut self.transient,
            5 => &mut self.key_broken,
            6 => &mut self.caller_fault,
            7 => &mut self.tokens,
            8 => &mut self.time,
            _ => return None,
        })
    }

    /// Field `i` of [`FIELDS`] (0 past them).
    pub fn field(&self, i: usize) -> u64 {
        match i {
            0 => self.calls,
            1 => self.rate_limited,
            2 => self.quota_exhausted,
            3 => self.overloaded,
            4 => self.transient,
            5 => self.key_broken,
            6 => self.caller_fault,
            7 => self.tokens,
            8 => self.time,
            _ => 0,
        }
    }

    /// Adds `other` field by field.
    pub fn add(&mut self, other: &Counts) {
        for i in 0..FIELDS.len() {
            if let Some(v) = self.field_mut(i) {
                *v += other.field(i);
            }
        }
    }

    /// Adds `n` to the field named `name`; false when no field has that name.
    pub fn add_named(&mut self, name: &str, n: u64) -> bool {
        match FIELDS.iter().position(|f| *f == name) {
            Some(i) => {
                if let Some(v) = self.field_mut(i) {
                    *v += n;
                }
                true
            }
            None => false,
        }
    }

    fn is_zero(&self) -> bool {
        (0..FIELDS.len()).all(|i| self.field(i) == 0)
    }
}

/// Counts to add to the shared sums: by minute start, each row's name and counts.
pub type Pending = Vec<(Millis, Vec<(Arc<str>, Counts)>)>;

/// The row name of the gateway's own counts (never a key id: key ids are not empty).
pub const GATEWAY: &str = "";

/// A minute's counts, one per row.
#[derive(Debug, Clone)]
struct Minute {
    start: Millis,
    rows: Vec<Counts>,
}

#[derive(Debug, Default)]
struct Inner {
    /// The last [`MINUTES`] minutes that saw anything, oldest first.
    ring: VecDeque<Minute>,
    /// What was counted since the last [`ActivityLog::take_pending`].
    pending: VecDeque<Minute>,
}

/// This process's counts of the last hour.
#[derive(Debug)]
pub struct ActivityLog {
    /// Row names: [`GATEWAY`], then each key id in the pool's order.
    names: Vec<Arc<str>>,
    clock: Arc<dyn Clock>,
    inner: Mutex<Inner>,
}

/// The counts of the last hour: the start of each minute, oldest first, and each row's
/// counts in those minutes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Hour {
    /// Each minute's start (ms since the epoch), oldest first.
    pub minutes: Vec<Millis>,
    /// Each row's name ([`GATEWAY`] or a key id) and its counts, one per minute.
    pub rows: Vec<(String, Vec<Counts>)>,
}

fn add_to(
    list: &mut VecDeque<Minute>,
    start: Millis,
    width: usize,
    row: usize,
    f: &dyn Fn(&mut Counts),
) {
    if list.back().is_none_or(|m| m.start < start) {
        list.push_back(Minute {
            start,
            rows: vec![Counts::default(); width],
        });
    }
    if let Some(m) = list.iter_mut().rev().find(|m| m.start == start)
        && let Some(c) = m.rows.get_mut(row)
    {
        f(c);
    }
}

impl ActivityLog {
    /// A log for the keys `key_ids` (in the pool's order), on `clock`.
    pub fn new(key_ids: impl IntoIterator<Item = String>, clock: Arc<dyn Clock>) -> Self {
        let names = std::iter::once(Arc::from(GATEWAY))
            .chain(key_ids.into_iter().map(Arc::from))
            .collect();
        Self {
            names,
            clock,
            inner: Mutex::default(),
        }
    }

    /// The row names: [`GATEWAY`], then the key ids.
    pub fn names(&self) -> &[Arc<str>] {
        &self.names
    }

    fn record(&self, row: usize, f: &dyn Fn(&mut Counts)) {
        let now = self.clock.now_ms();
        let start = now.div_euclid(MINUTE_MS) * MINUTE_MS;
        let width = self.names.len();
        let mut guard = self.inner.lock();
        let inner = &mut *guard;
        add_to(&mut inner.ring, start, width, row, f);
        while inner.ring.len() > MINUTES {
            inner.ring.pop_front();
        }
        add_to(&mut inner.pending, start, width, row, f);
    }

    /// An upstream call by key `key` (the pool's index) that ended as `class` (an
    /// [`crate::Outcome::class`]) after `upstream_ms`, using `tokens` input tokens.
    pub fn call(&self, key: usize, class: &str, tokens: u64, upstream_ms: u64) {
        let error = FIELDS[1..7].iter().position(|f| *f == class).map(|i| i + 1);
        self.record(key + 1, &|c| {
            c.calls += 1;
            if let Some(i) = error
                && let Some(v) = c.field_mut(i)
            {
                *v += 1;
            }
            c.tokens += tokens;
            c.time += upstream_ms;
        });
    }

    /// A request the gateway answered with `status`, having added `added_us` microseconds.
    pub fn answered(&self, status: u16, added_us: u64) {
        self.record(0, &|c| {
            c.calls += 1;
            if status >= 400 {
                c.caller_fault += 1;
            }
            c.time += added_us;
        });
    }

    /// This process's own counts of the last hour, ending with the current minute.
    pub fn local(&self) -> Hour {
        let now = self.clock.now_ms();
        let last = now.div_euclid(MINUTE_MS) * MINUTE_MS;
        let minutes: Vec<Millis> = (0..MINUTES)
            .map(|k| last - MINUTE_MS * Millis::try_from(MINUTES - 1 - k).unwrap_or(0))
            .collect();
        let inner = self.inner.lock();
        let rows = self
            .names
            .iter()
            .enumerate()
            .map(|(r, name)| {
                let counts = minutes
                    .iter()
                    .map(|start| {
                        inner
                            .ring
                            .iter()
                            .find(|m| m.start == *start)
                            .and_then(|m| m.rows.get(r).copied())
                            .unwrap_or_default()
                    })
                    .collect();
                (name.to_string(), counts)
            })
            .collect();
        Hour { minutes, rows }
    }

    /// What was counted since the last call, by minute start and row name (rows with nothing
    /// left out): what a flush adds to the shared sums.
    pub fn take_pending(&self) -> Pending {
        let pending = std::mem::take(&mut self.inner.lock().pending);
        pending
            .into_iter()
            .map(|m| {
                let rows = self
                    .names
                    .iter()
                    .cloned()
                    .zip(m.rows)
                    .filter(|(_, c)| !c.is_zero())
                    .collect();
                (m.start, rows)
            })
            .collect()
    }

    /// Puts back counts a flush could not deliver, so the next one carries them.
    pub fn restore_pending(&self, counts: &Pending) {
        let width = self.names.len();
        let mut inner = self.inner.lock();
        let pending = &mut inner.pending;
        for (start, rows) in counts {
            for (name, c) in rows {
                if let Some(r) = self.names.iter().position(|n| n == name) {
                    // Older minutes go before what was counted since.
                    if pending.front().is_none_or(|m| m.start > *start) {
                        pending.push_front(Minute {
                            start: *start,
                            rows: vec![Counts::default(); width],
                        });
                    }
                    if let Some(m) = pending.iter_mut().find(|m| m.start == *start)
                        && let Some(slot) = m.rows.get_mut(r)
                    {
                        slot.add(c);
                    }
                }
            }
        }
    }
}

#[cfg(feature = "redis")]
pub use shared::ActivityShare;

#[cfg(feature = "redis")]
mod shared {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use super::{ActivityLog, Counts, FIELDS, Hour, MINUTE_MS, MINUTES};
    use crate::clock::Millis;
    use crate::redis_store::RedisConn;

    /// Minutes stay in Redis two hours (the dashboard reads one).
    const KEEP_MS: i64 = 2 * 3_600_000;

    /// The pool's activity summed in Redis over every process that shares its state.
    #[derive(Debug, Clone)]
    pub struct ActivityShare {
        conn: RedisConn,
        prefix: String,
    }

    impl ActivityShare {
        /// Sums under `prefix` through `conn`.
        pub fn new(conn: RedisConn, prefix: &str) -> Self {
            Self {
                conn,
                prefix: prefix.to_owned(),
            }
        }

        /// One hash per minute; the `{activity}` tag puts them all in one cluster slot, so
        /// one pipeline reads the hour.
        fn key(&self, start: Millis) -> String {
            format!("{}:v1:{{activity}}:{start}", self.prefix)
        }

        /// Adds what `log` counted since its last flush; on failure the counts go back to
        /// `log` for the next flush.
        ///
        /// # Errors
        /// Redis could not take them.
        pub async fn flush(&self, log: &ActivityLog) -> redis::RedisResult<()> {
            let pending = log.take_pending();
            if pending.is_empty() {
                return Ok(());
            }
            let mut pipe = redis::pipe();
            for (start, rows) in &pending {
                let key = self.key(*start);
                for (name, c) in rows {
                    for (i, field) in FIELDS.iter().enumerate() {
                        let n = c.field(i);
                        if n > 0 {
                            pipe.cmd("HINCRBY")
                                .arg(&key)
                                .arg(format!("{name}|{field}"))
                                .arg(n)
                                .ignore();
                        }
                    }
                }
                pipe.cmd("PEXPIRE").arg(&key).arg(KEEP_MS).ignore();
            }
            let mut conn = self.conn.clone();
            let done: redis::RedisResult<()> = pipe.query_async(&mut conn).await;
            if done.is_err() {
                log.restore_pending(&pending);
            }
            done
        }

        /// Every process's counts of the hour ending with the minute of `now`: the rows of
        /// `names` first (in that order), then any other row a process added.
        ///
        /// # Errors
        /// Redis could not be read.
        pub async fn read(&self, names: &[Arc<str>], now: Millis) -> redis::RedisResult<Hour> {
            let last = now.div_euclid(MINUTE_MS) * MINUTE_MS;
            let minutes: Vec<Millis> = (0..MINUTES)
                .map(|k| last - MINUTE_MS * Millis::try_from(MINUTES - 1 - k).unwrap_or(0))
                .collect();
            let mut pipe = redis::pipe();
            for start in &minutes {
                pipe.cmd("HGETALL").arg(self.key(*start));
            }
            let mut conn = self.conn.clone();
            let hashes: Vec<BTreeMap<String, u64>> = pipe.query_async(&mut conn).await?;
            let mut rows: Vec<(String, Vec<Counts>)> = names
                .iter()
                .map(|n| (n.to_string(), vec![Counts::default(); MINUTES]))
                .collect();
            for (m, hash) in hashes.iter().enumerate() {
                for (field, n) in hash {
                    let Some((name, what)) = field.rsplit_once('|') else {
                        continue;
                    };
                    let r = rows
                        .iter()
                        .position(|(row, _)| row == name)
                        .unwrap_or_else(|| {
                            rows.push((name.to_owned(), vec![Counts::default(); MINUTES]));
                            rows.len() - 1
                        });
                    rows[r].1[m].add_named(what, *n);
                }
            }
            Ok(Hour { minutes, rows })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    #[test]
    fn each_minute_counts_calls_errors_tokens_and_time_per_key() {
        let clock = Arc::new(ManualClock::new(10 * MINUTE_MS + 5_000));
        let log = ActivityLog::new(["a".to_owned(), "b".to_owned()], clock.clone());
        log.call(0, "success", 100, 250);
        log.call(0, "rate_limited", 0, 40);
        log.call(1, "transient", 0, 1_000);
        log.answered(200, 120);
        log.answered(429, 80);
        clock.advance(std::time::Duration::from_secs(60));
        log.call(1, "success", 7, 10);
        let w = log.local();
        assert_eq!(w.minutes.len(), MINUTES);
        assert_eq!(*w.minutes.last().unwrap(), 11 * MINUTE_MS);
        let row = |name: &str| &w.rows.iter().find(|(n, _)| n == name).unwrap().1;
        let a = row("a")[MINUTES - 2];
        assert_eq!(
            (a.calls, a.rate_limited, a.tokens, a.time),
            (2, 1, 100, 290)
        );
        let b = row("b");
        assert_eq!((b[MINUTES - 2].transient, b[MINUTES - 1].calls), (1, 1));
        let g = row(GATEWAY)[MINUTES - 2];
        assert_eq!((g.calls, g.caller_fault, g.time), (2, 1, 200));
        // An hour later the old minutes are gone.
        clock.advance(std::time::Duration::from_secs(3_660));
        assert!(
            log.local()
                .rows
                .iter()
                .all(|(_, c)| c.iter().all(Counts::is_zero))
        );
    }

    #[test]
    fn pending_counts_are_taken_once_and_restored_after_a_failed_flush() {
        let clock = Arc::new(ManualClock::new(0));
        let log = ActivityLog::new(["a".to_owned()], clock.clone());
        log.call(0, "success", 5, 1);
        let first = log.take_pending();
        assert_eq!(first.len(), 1);
        assert_eq!(&*first[0].1[0].0, "a");
        assert!(log.take_pending().is_empty(), "taken once");
        clock.advance(std::time::Duration::from_secs(60));
        log.call(0, "success", 1, 1);
        log.restore_pending(&first);
        let again = log.take_pending();
        assert_eq!(
            again.iter().map(|m| m.0).collect::<Vec<_>>(),
            [0, MINUTE_MS]
        );
        assert_eq!(again[0].1[0].1.tokens, 5);
        assert_eq!(again[1].1[0].1.tokens, 1);
    }
}
