//! Degraded mode, as a wrapper around any shared store (the *primary*) and a local one.
//!
//! While the primary answers, every operation goes to it. When it does not (down, slow, or —
//! for a primary whose state lives in separate failure domains, such as a Redis Cluster's
//! masters — one *scope* of it), the operations of what it cannot reach run on a
//! [`MemoryStore`] at a conservative share of each limit: limit ÷ live processes, seeded from
//! what the primary last reported, and seeded before anyone is served from it. A background
//! life beats (counting the live processes, idle or not), probes while anything is cut off,
//! writes back what was granted locally (each call by its id, so a retried write counts nothing
//! twice) and what changed in key activation, and shares again. For one window after coming
//! back a process keeps within its local share too: the others may not have noticed yet.
//!
//! The primary supplies the shared operations (it is a [`StateStore`] whose failures are
//! [`StoreError::Unavailable`]) and the hooks of [`Primary`]; nothing here knows Redis.

use std::collections::BTreeSet;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;

use parking_lot::Mutex;

use crate::clock::{Clock, Millis};
use crate::error::StoreError;
use crate::limits::Limits;
use crate::memory_store::MemoryStore;
use crate::store::{BucketRef, BucketView, KeyRef, StateStore};
use crate::window::Check;

mod store;

/// What a heartbeat counted: live processes, and how long (ms) the set of processes has
/// existed (a set younger than a heartbeat period may miss some).
pub type Count = (u64, i64);

/// How degraded a store is, for its name in health output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Degraded {
    /// Everything shared.
    No,
    /// Some scopes run locally.
    Partly,
    /// Everything runs locally.
    Wholly,
}

/// A shared store that degraded mode can wrap: its operations (a [`StateStore`] that fails
/// with [`StoreError::Unavailable`] when it cannot be reached) and what degraded mode needs.
pub trait Primary: StateStore {
    /// The scope (failure domain) of a bucket and of a key; `None` before the layout is known.
    fn bucket_scope(&self, bucket: usize) -> Option<usize>;
    /// See [`Self::bucket_scope`].
    fn key_scope(&self, key: usize) -> Option<usize>;
    /// The scopes' names (the projects), by index.
    fn scope_names(&self) -> Vec<String>;
    /// Whether scopes fail one at a time (a cluster) rather than all together.
    fn scoped(&self) -> bool;
    /// The store's name in health output, as degraded as it is.
    fn name(&self, degraded: Degraded) -> &'static str;
    /// What operators call it in log messages (`Redis`).
    fn label(&self) -> &'static str;
    /// The length of the RPM/TPM window (once laid out).
    fn window_ms(&self) -> Option<Millis>;
    /// Limits learned for a bucket, as last known (the local share divides them too).
    fn learned(&self, bucket: usize) -> Limits;
    /// Seeds `local` with the last-known shared state (key records, bucket cooldowns, learned
    /// limits, and `1 / processes` of the usage): every scope, or `only` one.
    fn seed(&self, local: &MemoryStore, only: Option<usize>, processes: u64);
    /// One heartbeat of this process.
    fn beat(&self) -> impl Future<Output = Result<Count, StoreError>> + Send;
    /// Whether the home of `scope` answers.
    fn probe(&self, scope: usize) -> impl Future<Output = bool> + Send;
    /// Whether replayed calls are written at the pool's clock (tests) instead of the store's.
    fn client_time(&self) -> bool;
    /// Adds calls granted locally, `(id, at, tokens)`, to a bucket's shared window.
    fn replay(
        &self,
        bucket: usize,
        calls: Vec<(u64, Millis, u64)>,
        now: Millis,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// [`StateStore::refresh`] scope by scope (skipping those `skip` names): each scope's
    /// result (`None`: the whole store in one go).
    fn refresh_scopes(
        &self,
        now: Millis,
        skip: Vec<usize>,
    ) -> impl Future<Output = Vec<(Option<usize>, Result<(), StoreError>)>> + Send;
}

/// Settings of degraded mode.
#[derive(Debug, Clone)]
pub(crate) struct DegradeOptions {
    /// Processes to assume while no trusted heartbeat count is known (`BOTFORGE_PROCESSES`).
    pub(crate) assumed_processes: u64,
    /// How often a process announces itself.
    pub(crate) beat_every: Duration,
    /// The clock of the background life (its periods, the settling window, the age of a
    /// process count): real time, or a test's manual clock that it steps.
    pub(crate) clock: Arc<dyn Clock>,
}

/// What the background life has done so far: a test that steps the clock waits on it for the
/// round it caused (whether that round shared again is [`Degrading::is_degraded`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Progress {
    /// Rounds of the background life finished (one per period of the clock).
    pub rounds: u64,
    /// Heartbeats the primary answered, in the background or on an operation's behalf.
    pub beats: u64,
}

pub(crate) const PROBE_EVERY_MS: i64 = 500;

pub(crate) const BEAT_EVERY_MS: i64 = 2_000;

pub(crate) const BEAT_TTL_MS: i64 = 10_000;

/// One scope's link to its home.
#[derive(Debug, Default)]
struct Cut {
    /// Its home did not answer an operation: served locally meanwhile.
    down: AtomicBool,
    /// When (on the store's clock) it came back (0: never); the local share holds one more
    /// window.
    recovered_at: AtomicI64,
}

/// The state of degraded mode.
#[derive(Debug)]
struct State {
    local: MemoryStore,
    options: DegradeOptions,
    /// The whole primary is unreachable (or never answered).
    down: AtomicBool,
    /// Per scope (a primary whose scopes fail alone): cut off while its home does not answer.
    cut: OnceLock<Box<[Cut]>>,
    /// When (on the store's clock) the last probe or heartbeat started (one at a time).
    last_probe: AtomicI64,
    last_beat: AtomicI64,
    live: AtomicU64,
    /// Whether the last heartbeat's count can be trusted (see [`State::counted`]).
    trusted: AtomicBool,
    /// When the count in `live` was taken.
    peak_at: AtomicI64,
    /// Keys whose activation changed here while degraded: written back once shared again.
    dirty: Mutex<BTreeSet<usize>>,
    /// Whether `dirty` holds any (checked without the lock on every shared operation).
    pending: AtomicBool,
    /// When (on the store's clock) the whole primary last came back (0: never).
    recovered_at: AtomicI64,
    /// The pool's clock as last seen while degraded (for a primary on the client's clock).
    last_now: AtomicI64,
    /// The processes the local shares assumed when the primary came back: while settling,
    /// shares stay that small even if the first heartbeats count fewer.
    settle_live: AtomicU64,
    /// Held while the local fallback is seeded, before it serves.
    seeding: Mutex<()>,
    /// What the background life has done, published as it happens.
    progress: tokio::sync::watch::Sender<Progress>,
}

impl State {
    fn now(&self) -> Millis {
        self.options.clock.now_ms()
    }

    /// A heartbeat counted `live` processes in a set that has existed `age` ms. A set younger
    /// than a heartbeat period (every process started at once, or its node came back empty)
    /// may miss processes that have not beaten since: that count is not trusted. A count lower
    /// than the last one is taken only once that one is a heartbeat lifetime old: a process
    /// that stopped leaves the set within that time anyway.
    fn counted(&self, (live, age): Count) {
        let now = self.now();
        let live = live.max(1);
        let period = i64::try_from(self.options.beat_every.as_millis()).unwrap_or(BEAT_EVERY_MS);
        self.trusted.store(age >= period, Ordering::Relaxed);
        let stale = now - self.peak_at.load(Ordering::Relaxed) > BEAT_TTL_MS;
        if live >= self.live.load(Ordering::Relaxed) || stale {
            self.live.store(live, Ordering::Relaxed);
            self.peak_at.store(now, Ordering::Relaxed);
        }
        self.progress.send_modify(|p| p.beats += 1);
    }

    fn live_processes(&self) -> u64 {
        let live = self.live.load(Ordering::Relaxed).max(1);
        if self.trusted.load(Ordering::Relaxed) {
            live
        } else {
            live.max(self.options.assumed_processes)
        }
    }

    fn any_cut(&self) -> bool {
        self.cut
            .get()
            .is_some_and(|c| c.iter().any(|c| c.down.load(Ordering::Relaxed)))
    }

    fn cut_of(&self, scope: Option<usize>) -> Option<&Cut> {
        self.cut.get()?.get(scope?)
    }

    /// Whether a scope is served locally: the whole primary is down, or its home.
    fn local_for(&self, scope: Option<usize>) -> bool {
        self.down.load(Ordering::Relaxed)
            || self
                .cut_of(scope)
                .is_some_and(|c| c.down.load(Ordering::Relaxed))
    }

    /// A key's activation in the local fallback.
    fn activation(&self, key: KeyRef<'_>) -> Option<(bool, Option<String>)> {
        self.local
            .key_health(key)
            .ok()
            .map(|h| (h.active, h.disabled_reason))
    }

    /// Remembers a key whose activation the local fallback changed.
    fn note_change(&self, key: KeyRef<'_>, before: Option<&(bool, Option<String>)>) {
        if self.activation(key).as_ref() != before {
            self.dirty.lock().insert(key.idx);
            self.pending.store(true, Ordering::Relaxed);
        }
    }
}

/// A primary store with degraded mode around it. See the module documentation.
pub struct Degrading<P> {
    inner: Arc<Inner<P>>,
}

impl<P: std::fmt::Debug> std::fmt::Debug for Degrading<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = &self.inner.state;
        f.debug_struct("Degrading")
            .field("primary", &self.inner.primary)
            .field("down", &s.down.load(Ordering::Relaxed))
            .field("scopes_cut", &s.any_cut())
            .field("live", &s.live.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

#[derive(Debug)]
struct Inner<P> {
    primary: P,
    state: State,
}

impl<P: Primary> Degrading<P> {
    /// Wraps `primary`; nothing runs until [`Self::start`].
    pub(crate) fn new(primary: P, options: DegradeOptions) -> Self {
        Self {
            inner: Arc::new(Inner {
                primary,
                state: State {
                    local: MemoryStore::new(),
                    options,
                    down: AtomicBool::new(false),
                    cut: OnceLock::new(),
                    last_probe: AtomicI64::new(0),
                    last_beat: AtomicI64::new(0),
                    live: AtomicU64::new(1),
                    trusted: AtomicBool::new(false),
                    peak_at: AtomicI64::new(0),
                    dirty: Mutex::default(),
                    pending: AtomicBool::new(false),
                    recovered_at: AtomicI64::new(0),
                    last_now: AtomicI64::new(0),
                    settle_live: AtomicU64::new(1),
                    seeding: Mutex::new(()),
                    progress: tokio::sync::watch::Sender::new(Progress::default()),
                },
            }),
        }
    }

    /// The wrapped store.
    pub(crate) fn primary(&self) -> &P {
        &self.inner.primary
    }

    fn state(&self) -> &State {
        &self.inner.state
    }

    /// One heartbeat now: the primary answers (and how many processes share it), or not.
    ///
    /// # Errors
    /// What the primary's heartbeat failed with.
    pub(crate) async fn beat_now(&self) -> Result<(), StoreError> {
        let count = self.inner.primary.beat().await?;
        self.state().counted(count);
        Ok(())
    }

    /// Starts degraded (the primary never answered): every limit at a share for the assumed
    /// processes until it does.
    pub(crate) fn start_degraded(&self, err: &StoreError) {
        let s = self.state();
        s.live
            .store(s.options.assumed_processes.max(1), Ordering::Relaxed);
        self.degrade_now(err);
    }

    /// Whether requests are being served from the local fallback (all, or some scopes').
    pub fn is_degraded(&self) -> bool {
        self.state().down.load(Ordering::Relaxed) || self.state().any_cut()
    }

    /// Processes that shared the primary at the last heartbeat (at least 1). While the process
    /// set is younger than a heartbeat period (all started at once, or its home came back
    /// empty), at least the assumed number (`BOTFORGE_PROCESSES`): others may not have
    /// announced themselves yet.
    pub fn live_processes(&self) -> u64 {
        self.state().live_processes()
    }

    /// What the background life has done so far, as it happens: a test that moves the clock
    /// waits here for the round it caused.
    pub fn progress(&self) -> tokio::sync::watch::Receiver<Progress> {
        self.state().progress.subscribe()
    }

    /// The scopes (projects) whose limits run locally now.
    pub fn degraded_projects(&self) -> Vec<String> {
        self.inner
            .primary
            .scope_names()
            .into_iter()
            .enumerate()
            .filter(|(i, _)| self.state().local_for(Some(*i)))
            .map(|(_, name)| name)
            .collect()
    }

    /// The background life, until the store is dropped: a heartbeat every period while the
    /// primary answers (an idle process is still counted by the others), and a probe every
    /// 500 ms while anything is cut off (a process started before the primary, or cut off from
    /// it, shares again as soon as it answers, idle or not). Its periods run on the store's
    /// clock: on a manual clock a round runs when the test moves the clock past it.
    pub(crate) fn start(&self) {
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let inner: Weak<Inner<P>> = Arc::downgrade(&self.inner);
        let clock = Arc::clone(&self.state().options.clock);
        let beat_every = self.state().options.beat_every;
        let beat_ms = i64::try_from(beat_every.as_millis()).unwrap_or(BEAT_EVERY_MS);
        let probe_every = Duration::from_millis(u64::try_from(PROBE_EVERY_MS).unwrap_or(500));
        // Periods count from now, not from when the task first runs.
        let mut last_beat = clock.now_ms();
        let mut last_round = last_beat;
        handle.spawn(async move {
            loop {
                let probing = inner
                    .upgrade()
                    .is_some_and(|i| i.state.down.load(Ordering::Relaxed) || i.state.any_cut());
                let period = if probing {
                    probe_every
                } else {
                    beat_every.min(probe_every)
                };
                let due = last_round.saturating_add(i64::try_from(period.as_millis()).unwrap_or(0));
                let wait = u64::try_from(due.saturating_sub(clock.now_ms())).unwrap_or(0);
                clock.deadline(Duration::from_millis(wait)).await;
                last_round = clock.now_ms();
                // The store is gone: nothing left to keep alive.
                let Some(i) = inner.upgrade() else {
                    return;
                };
                i.round(&mut last_beat, beat_ms).await;
                i.state.progress.send_modify(|p| p.rounds += 1);
            }
        });
    }

    /// Starts a background job (a heartbeat, or a probe while degraded) unless one started
    /// within `every_ms`. The job is one call of the primary, bounded by its timeouts.
    fn spawn_job(&self, probe: bool) {
        let s = self.state();
        let (last, every_ms) = if probe {
            (&s.last_probe, PROBE_EVERY_MS)
        } else {
            (&s.last_beat, BEAT_EVERY_MS)
        };
        let now = s.now();
        let prev = last.load(Ordering::Relaxed);
        if now - prev < every_ms
            || last
                .compare_exchange(prev, now, Ordering::AcqRel, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let inner = Arc::clone(&self.inner);
        handle.spawn(async move {
            match inner.primary.beat().await {
                Ok(count) if probe => {
                    inner.answered(count).await;
                }
                Ok(count) => inner.state.counted(count),
                Err(e) => {
                    if !probe {
                        beat_failed(&e);
                    }
                }
            }
        });
    }

    /// Switches everything to local limits, seeded with what this process last knew of the
    /// shared state.
    fn degrade_now(&self, err: &StoreError) {
        let s = self.state();
        // Seeded before anyone serves from it: a caller that found the primary gone too waits
        // here, then serves from the seeded shares (a share served unseeded would add a whole
        // share on top of what the window already holds).
        let _seeding = s.seeding.lock();
        if s.down.load(Ordering::Acquire) {
            return;
        }
        tracing::warn!(error = %err, live_processes = s.live_processes(),
            "{} is unavailable: limits run locally at a share of each limit until it answers",
            self.inner.primary.label());
        s.last_probe.store(s.now(), Ordering::Relaxed);
        self.inner.primary.seed(&s.local, None, s.live_processes());
        s.down.store(true, Ordering::Release);
    }

    /// An operation of `scope` found the primary unavailable: that scope degrades when scopes
    /// fail alone (a cluster master may be the only one gone), else everything.
    fn lost(&self, err: &StoreError, scope: Option<usize>) {
        let s = self.state();
        match s.cut_of(scope) {
            Some(cut) if self.inner.primary.scoped() => {
                let _seeding = s.seeding.lock();
                if cut.down.load(Ordering::Acquire) {
                    return;
                }
                tracing::warn!(error = %err, scope = scope.unwrap_or_default(),
                    live_processes = s.live_processes(),
                    "{} is unavailable for a project (the node that holds it): its limits run locally at a share until it answers",
                    self.inner.primary.label());
                self.inner.primary.seed(&s.local, scope, s.live_processes());
                cut.down.store(true, Ordering::Release);
            }
            _ => self.degrade_now(err),
        }
    }

    /// Whether this process came back less than a window ago (the whole primary, or the
    /// bucket's scope): until what it (and the others, maybe still degraded) spent locally has
    /// left the window, it keeps within its local share as well as the shared limits.
    fn settling(&self, bucket: usize) -> bool {
        let Some(window_ms) = self.inner.primary.window_ms() else {
            return false;
        };
        let s = self.state();
        let now = s.now();
        let within = |at: i64| at > 0 && now < at.saturating_add(window_ms);
        within(s.recovered_at.load(Ordering::Relaxed))
            || s.cut_of(self.inner.primary.bucket_scope(bucket))
                .is_some_and(|c| within(c.recovered_at.load(Ordering::Relaxed)))
    }

    /// The local share's verdict on one more call of `tokens` while settling; `None` when it
    /// has room.
    fn settling_refusal(
        &self,
        bucket: BucketRef<'_>,
        tokens: u64,
        now: Millis,
    ) -> Option<BucketView> {
        let view = self
            .state()
            .local
            .bucket_view(self.local_share(bucket), tokens, now)
            .ok()?;
        (!matches!(view.check, Check::Room { .. })).then_some(view)
    }

    /// The bucket as the local fallback sees it: each limit (learned ones too) divided among
    /// the live processes.
    fn local_share<'a>(&self, bucket: BucketRef<'a>) -> BucketRef<'a> {
        let s = self.state();
        let mut n = s.live_processes();
        if self.settling(bucket.idx) {
            n = n.max(s.settle_live.load(Ordering::Relaxed));
        }
        let share = |v: Option<u64>| v.map(|v| (v / n).max(1));
        let limits = bucket.limits.min(self.inner.primary.learned(bucket.idx));
        BucketRef {
            limits: Limits {
                rpm: share(limits.rpm),
                tpm: share(limits.tpm),
                rpd: share(limits.rpd),
            },
            ..bucket
        }
    }

    /// Writes to the primary the activation of every key that changed here while degraded (a
    /// key found broken stays off for every process; an operator's enable or disable holds).
    /// What cannot be written now is kept for the next time.
    async fn write_back(&self) {
        let s = self.state();
        let keys: Vec<usize> = std::mem::take(&mut *s.dirty.lock()).into_iter().collect();
        s.pending.store(false, Ordering::Relaxed);
        for idx in keys {
            let key = KeyRef { idx, key_id: "" };
            // A scope still cut off is written when it is back.
            if s.local_for(self.inner.primary.key_scope(idx)) {
                s.dirty.lock().insert(idx);
                s.pending.store(true, Ordering::Relaxed);
                continue;
            }
            let Some((active, reason)) = s.activation(key) else {
                continue;
            };
            let written = self
                .inner
                .primary
                .update_key(key, |h| {
                    h.active = active;
                    h.disabled_reason.clone_from(&reason);
                })
                .await;
            if let Err(e) = written {
                tracing::warn!(error = %e, "a change made while {} was away is not written yet",
                    self.inner.primary.label());
                s.dirty.lock().insert(idx);
                s.pending.store(true, Ordering::Relaxed);
            }
        }
    }
}

/// A heartbeat got no answer: the process count stays as last seen. Nothing degrades here: the
/// next operation that meets the outage does, after seeding the local shares; where scopes fail
/// alone, the heartbeat's home says nothing of the others.
fn beat_failed(e: &StoreError) {
    tracing::debug!(error = %e, "heartbeat failed; the process count stays as last seen");
}

impl<P: Primary> Inner<P> {
    /// One round of the background life: probes what is cut off, and beats when the primary
    /// is down (a probe) or a heartbeat period has passed since `last_beat`.
    async fn round(&self, last_beat: &mut Millis, beat_ms: Millis) {
        if self.state.any_cut() {
            self.probe_cut().await;
        }
        let now = self.state.now();
        if !self.state.down.load(Ordering::Relaxed) && now - *last_beat < beat_ms {
            return;
        }
        *last_beat = now;
        match self.primary.beat().await {
            Ok(count) => {
                self.answered(count).await;
            }
            Err(e) => beat_failed(&e),
        }
    }

    /// Adds to the primary what this process granted itself while degraded, bucket by bucket
    /// (`only`: one scope's), before it shares again.
    async fn replay(&self, only: Option<usize>) -> Result<(), StoreError> {
        let now = if self.primary.client_time() {
            self.state.last_now.load(Ordering::Relaxed)
        } else {
            self.state.now()
        };
        let buckets = self.state.local.bucket_count();
        for i in 0..buckets {
            if only.is_some_and(|p| self.primary.bucket_scope(i) != Some(p)) {
                continue;
            }
            let calls = self.state.local.own_calls(i, now);
            if calls.is_empty() {
                continue;
            }
            self.primary.replay(i, calls, now).await?;
        }
        Ok(())
    }

    /// The primary answered a heartbeat or probe: back to shared state if this process was
    /// degraded and what it spent meanwhile is written; `false` while that write fails (it
    /// stays degraded and the next probe tries again).
    async fn answered(&self, count: Count) -> bool {
        let s = &self.state;
        if s.down.load(Ordering::Acquire) {
            if let Err(e) = self.replay(None).await {
                tracing::warn!(error = %e, "{} answers, but what was spent meanwhile is not written yet; staying on local shares",
                    self.primary.label());
                return false;
            }
            // The count the local shares assumed (the assumed processes included), not what the
            // first heartbeats after the outage count.
            s.settle_live.store(s.live_processes(), Ordering::Relaxed);
            s.recovered_at.store(s.now(), Ordering::Relaxed);
            s.counted(count);
            s.down.store(false, Ordering::Release);
            tracing::warn!(
                "{} answers: limits and health are shared from now on",
                self.primary.label()
            );
            return true;
        }
        s.counted(count);
        true
    }

    /// Asks each cut scope's home whether it answers; one that does gets what this process
    /// granted meanwhile written back, then shares again.
    async fn probe_cut(&self) {
        let Some(cuts) = self.state.cut.get() else {
            return;
        };
        for (scope, cut) in cuts.iter().enumerate() {
            if !cut.down.load(Ordering::Acquire) || !self.primary.probe(scope).await {
                continue;
            }
            if let Err(e) = self.replay(Some(scope)).await {
                tracing::warn!(error = %e, "{} answers for a project again, but what was spent meanwhile is not written yet",
                    self.primary.label());
                continue;
            }
            self.state
                .settle_live
                .fetch_max(self.state.live_processes(), Ordering::Relaxed);
            cut.recovered_at.store(self.state.now(), Ordering::Relaxed);
            cut.down.store(false, Ordering::Release);
            tracing::warn!(
                scope,
                "{} answers for a project again: its limits are shared again",
                self.primary.label()
            );
        }
    }
}

#[cfg(test)]
mod tests;
