//! The in-process limiter of one (project, model) bucket: an exact sliding log.
//!
//! RPM and input-TPM are counted over a rolling 60 s window by keeping one entry per granted
//! request (time, tokens); this guarantees at most the limit in *every* trailing window, where a
//! GCRA or token bucket would let up to 2L-1 through (see `reference/secrets-redis.md` §2.1).
//! RPD is a counter for the current Pacific calendar day. The Redis backend runs the same
//! algorithm server-side, so both backends answer alike.

use std::collections::VecDeque;

use serde::Serialize;

use crate::clock::{Millis, next_pacific_midnight};
use crate::limits::Limits;

/// The smallest unused fraction of any known limit, in (0, 1]; 1 when none is known.
pub fn headroom(usage: Usage, limits: Limits) -> f64 {
    let frac = |used: u64, limit: Option<u64>| {
        limit.map_or(1.0, |l| (l.saturating_sub(used)) as f64 / l.max(1) as f64)
    };
    frac(usage.rpm_used, limits.rpm)
        .min(frac(usage.tpm_used, limits.tpm))
        .min(frac(usage.rpd_used, limits.rpd))
}

/// How long a learned limit holds before it must be learned again (a project's tier, and so its
/// limits, can rise; re-learning costs one 429 per limit a day). The Redis scripts use the same.
pub const LEARNED_TTL_MS: Millis = 24 * 3_600_000;

/// Length of the RPM/TPM window.
pub const WINDOW_MS: Millis = 60_000;

/// Which limit refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LimitKind {
    /// Requests per minute.
    Rpm,
    /// Input tokens per minute.
    Tpm,
    /// Requests per day.
    Rpd,
    /// The bucket is cooling down after a 429.
    Cooldown,
}

/// Why a bucket or key is cooling down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CooldownReason {
    /// A per-minute 429 from upstream.
    RateLimited,
    /// A per-day 429: spent until Pacific midnight.
    QuotaExhausted,
    /// Repeated transient errors on one key.
    Errors,
}

impl CooldownReason {
    /// A short label for tables and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            CooldownReason::RateLimited => "rate_limited",
            CooldownReason::QuotaExhausted => "quota_exhausted",
            CooldownReason::Errors => "errors",
        }
    }
}

/// Usage of one bucket at an instant.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Usage {
    /// Requests in the trailing 60 s.
    pub rpm_used: u64,
    /// Input tokens in the trailing 60 s (estimates until reconciled).
    pub tpm_used: u64,
    /// Requests this Pacific day.
    pub rpd_used: u64,
}

/// The answer to "may a request of `tokens` go now?".
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Check {
    /// Yes; `headroom` in (0, 1] is the smallest unused fraction of any limit.
    Room {
        /// Unused share of the tightest limit (before this request).
        headroom: f64,
    },
    /// Not before `retry_at`.
    Full {
        /// Earliest instant at which the request would fit.
        retry_at: Millis,
        /// The limit that binds.
        limit: LimitKind,
    },
    /// Never: the request alone exceeds the TPM limit.
    TooLarge,
}

/// Ids from here up are not this window's own reservations: recorded calls, then seeded ones
/// (counted down from `u64::MAX`).
const RECORDED_IDS: u64 = u64::MAX / 2;

#[derive(Debug, Clone, Copy)]
struct Entry {
    id: u64,
    at: Millis,
    tokens: u64,
}

/// How long a call may stay in flight before its slot is freed anyway (a lease that was never
/// reported, say from a crashed process): then it counts as if it had finished at the
/// reservation plus this hold. The Redis scripts use the same number.
pub const INFLIGHT_HOLD_MS: Millis = 15 * 60_000;

/// One bucket's state.
///
/// A slot is held from the reservation until `length` after the call **completed** (or failed),
/// not after it was reserved: Google counts a request when it arrives, which may be well after
/// the reservation, so a slot freed a minute after the reservation could let one request too
/// many reach Google at a window's edge (DESIGN.md §3.1).
#[derive(Debug, Clone)]
pub struct Window {
    length_ms: Millis,
    /// Finished calls, in order of completion; each leaves `length_ms` after it.
    done: VecDeque<Entry>,
    /// Calls in flight, in order of reservation (and so of id); `at` is the reservation.
    inflight: VecDeque<Entry>,
    tokens: u64,
    day_count: u64,
    day_ends_at: Millis,
    next_id: u64,
    /// Calls recorded from another store ([`Self::record`]).
    recorded: u64,
    cooldown_until: Millis,
    cooldown_reason: Option<CooldownReason>,
    /// What Google's 429s said, until `learned_until`.
    learned: Limits,
    learned_until: Millis,
    /// The latest time this window was asked at: it never runs back, so a caller whose `now`
    /// was read before another's (and reached the lock after it) is served at the later time,
    /// and the log stays in time order.
    seen: Millis,
}

impl Default for Window {
    fn default() -> Self {
        Self::new(WINDOW_MS)
    }
}

impl Window {
    /// A bucket whose RPM/TPM window is `window_ms` long (60 s, plus any safety margin).
    pub fn new(window_ms: Millis) -> Self {
        Self {
            length_ms: window_ms.max(1),
            done: VecDeque::new(),
            inflight: VecDeque::new(),
            tokens: 0,
            day_count: 0,
            day_ends_at: 0,
            next_id: 0,
            recorded: 0,
            cooldown_until: 0,
            cooldown_reason: None,
            learned: Limits::UNKNOWN,
            learned_until: 0,
            seen: Millis::MIN,
        }
    }

    /// `now`, or the latest time this window was asked at if that is later.
    fn tick(&mut self, now: Millis) -> Millis {
        self.seen = self.seen.max(now);
        self.seen
    }

    /// The latest time this window was asked at: when its last reservation was granted.
    pub fn clock(&self) -> Millis {
        self.seen
    }

    /// What Google's 429s taught about this bucket (unknown when nothing, or when it expired).
    pub fn learned(&self, now: Millis) -> Limits {
        if now < self.learned_until {
            self.learned
        } else {
            Limits::UNKNOWN
        }
    }

    /// Takes the limits a 429 reported (`quotaValue`); they hold for [`LEARNED_TTL_MS`].
    pub fn learn(&mut self, now: Millis, limits: Limits) {
        if limits.is_unknown() {
            return;
        }
        self.learned = self.learned(now).updated_by(limits);
        self.learned_until = now.saturating_add(LEARNED_TTL_MS);
    }

    /// Drops finished calls older than the window (and in-flight ones past the hold), and
    /// resets the day counter at Pacific midnight.
    /// Returns the window's time (see [`Self::tick`]).
    fn advance(&mut self, now: Millis) -> Millis {
        let now = self.tick(now);
        let edge = now - self.length_ms;
        while let Some(front) = self.done.front() {
            if front.at > edge {
                break;
            }
            self.tokens = self.tokens.saturating_sub(front.tokens);
            self.done.pop_front();
        }
        while let Some(front) = self.inflight.front() {
            if front.at.saturating_add(INFLIGHT_HOLD_MS) > edge {
                break;
            }
            self.tokens = self.tokens.saturating_sub(front.tokens);
            self.inflight.pop_front();
        }
        if now >= self.day_ends_at {
            self.day_count = 0;
            self.day_ends_at = next_pacific_midnight(now);
        }
        now
    }

    fn count(&self) -> u64 {
        (self.done.len() + self.inflight.len()) as u64
    }

    /// When the entries leave, oldest first: finished calls a window after they completed; calls
    /// in flight at the earliest a window from now.
    fn departures(&self, now: Millis) -> impl Iterator<Item = (Millis, u64)> + '_ {
        let later = now + self.length_ms;
        self.done
            .iter()
            .map(|e| (e.at + self.length_ms, e.tokens))
            .chain(self.inflight.iter().map(move |e| (later, e.tokens)))
    }

    /// Starts from usage another store reported at `at` (Redis, before it went away): this
    /// process's share of it, rounded up, as calls that finished at `at`. A process that
    /// degrades mid-run then adds only its share of what is left, not a whole share on top of
    /// what every process already used.
    pub fn seed_usage(&mut self, at: Millis, usage: Usage, processes: u64) {
        let n = processes.max(1);
        let calls = usage.rpm_used.div_ceil(n);
        let tokens = usage.tpm_used.div_ceil(n);
        for k in 0..calls {
            let t = if k == 0 { tokens } else { 0 };
            // Finished calls stay in completion order.
            let pos = self.done.partition_point(|e| e.at <= at);
            self.done.insert(
                pos,
                Entry {
                    id: u64::MAX - k,
                    at,
                    tokens: t,
                },
            );
            self.tokens += t;
        }
        if at < self.day_ends_at || self.day_ends_at == 0 {
            self.day_ends_at = next_pacific_midnight(at);
            self.day_count = self.day_count.max(usage.rpd_used.div_ceil(n));
        }
    }

    /// Counts a call granted elsewhere (by the shared store) as finished now, so this window
    /// also holds it for a window: a process that just came back from degraded mode keeps
    /// within its local share until what it spent while degraded has left the window.
    pub fn record(&mut self, now: Millis, tokens: u64) {
        let now = self.advance(now);
        self.recorded += 1;
        let at = self.done.back().map_or(now, |b| now.max(b.at));
        let id = RECORDED_IDS + self.recorded;
        let pos = self.done.partition_point(|e| e.at <= at);
        self.done.insert(pos, Entry { id, at, tokens });
        self.tokens += tokens;
    }

    /// The calls this window granted itself (not seeded, not recorded) that are still in it:
    /// `(id, time, tokens)`, a finished call at its completion, one in flight as if it finished
    /// now (it holds its slot at least that long). What degraded mode spent, for the shared
    /// store to count once it answers again.
    pub fn own_calls(&mut self, now: Millis) -> Vec<(u64, Millis, u64)> {
        let now = self.advance(now);
        self.done
            .iter()
            .filter(|e| e.id < RECORDED_IDS)
            .map(|e| (e.id, e.at, e.tokens))
            .chain(
                self.inflight
                    .iter()
                    .filter(|e| e.id < RECORDED_IDS)
                    .map(|e| (e.id, now, e.tokens)),
            )
            .collect()
    }

    /// Current usage.
    pub fn usage(&mut self, now: Millis) -> Usage {
        self.advance(now);
        Usage {
            rpm_used: self.count(),
            tpm_used: self.tokens,
            rpd_used: self.day_count,
        }
    }

    /// The active cooldown, if any.
    pub fn cooldown(&self, now: Millis) -> Option<(Millis, CooldownReason)> {
        match self.cooldown_reason {
            Some(reason) if self.cooldown_until > now => Some((self.cooldown_until, reason)),
            _ => None,
        }
    }

    /// Whether one request of `tokens` fits now under `limits` (the declared ones; learned ones
    /// lower them), without taking it.
    pub fn check(&mut self, now: Millis, limits: Limits, tokens: u64) -> Check {
        let now = self.advance(now);
        let limits = limits.min(self.learned(now));
        if let Some((until, _)) = self.cooldown(now) {
            return Check::Full {
                retry_at: until,
                limit: LimitKind::Cooldown,
            };
        }
        if limits.tpm.is_some_and(|tpm| tokens > tpm) {
            return Check::TooLarge;
        }
        if let Some(rpd) = limits.rpd
            && self.day_count >= rpd
        {
            return Check::Full {
                retry_at: self.day_ends_at,
                limit: LimitKind::Rpd,
            };
        }
        let n = self.count();
        let mut full: Option<(Millis, LimitKind)> = None;
        if let Some(rpm) = limits.rpm
            && n >= rpm
        {
            // The (n - rpm + 1) oldest entries must leave; the last of them is at n - rpm.
            let idx = usize::try_from(n - rpm).unwrap_or(usize::MAX);
            let at = self
                .departures(now)
                .nth(idx)
                .map_or(now + self.length_ms, |(t, _)| t);
            full = Some((at, LimitKind::Rpm));
        }
        if let Some(tpm) = limits.tpm
            && self.tokens + tokens > tpm
        {
            let excess = self.tokens + tokens - tpm;
            let mut freed = 0u64;
            let mut at = now;
            for (t, n) in self.departures(now) {
                freed += n;
                if freed >= excess {
                    at = t;
                    break;
                }
            }
            if full.is_none_or(|(t, _)| at > t) {
                full = Some((at, LimitKind::Tpm));
            }
        }
        if let Some((retry_at, limit)) = full {
            return Check::Full { retry_at, limit };
        }
        let headroom = headroom(
            Usage {
                rpm_used: n,
                tpm_used: self.tokens,
                rpd_used: self.day_count,
            },
            limits,
        );
        Check::Room { headroom }
    }

    /// Takes one request of `tokens` if it fits (all three limits at once), returning its id.
    ///
    /// # Errors
    /// The [`Check`] that refused it.
    pub fn reserve(&mut self, now: Millis, limits: Limits, tokens: u64) -> Result<u64, Check> {
        let now = self.tick(now);
        match self.check(now, limits, tokens) {
            Check::Room { .. } => {
                self.next_id += 1;
                let id = self.next_id;
                self.inflight.push_back(Entry {
                    id,
                    at: now,
                    tokens,
                });
                self.tokens += tokens;
                self.day_count += 1;
                Ok(id)
            }
            refused => Err(refused),
        }
    }

    fn take_inflight(&mut self, id: u64) -> Option<Entry> {
        // Ids grow with reservation order, so the in-flight log is sorted by id.
        let i = self.inflight.binary_search_by_key(&id, |e| e.id).ok()?;
        self.inflight.remove(i)
    }

    /// The call of reservation `id` completed (or failed) now: its slot is held for a window
    /// from now, with `actual_tokens` in place of the estimate when given (refund or charge).
    /// A reservation no longer in flight (already finished, or past the hold) is ignored.
    pub fn complete(&mut self, now: Millis, id: u64, actual_tokens: Option<u64>) {
        let now = self.advance(now);
        if let Some(mut e) = self.take_inflight(id) {
            if let Some(actual) = actual_tokens {
                self.tokens = self.tokens.saturating_sub(e.tokens) + actual;
                e.tokens = actual;
            }
            // The clock never runs back, but keep the log sorted if it did.
            e.at = self.done.back().map_or(now, |b| now.max(b.at));
            self.done.push_back(e);
        }
    }

    /// Replaces a reservation's estimate by the real token count and completes it now.
    pub fn settle(&mut self, now: Millis, id: u64, actual_tokens: u64) {
        self.complete(now, id, Some(actual_tokens));
    }

    /// Undoes a reservation whose request was never sent (or never counted upstream).
    pub fn release(&mut self, now: Millis, id: u64) {
        self.advance(now);
        if let Some(e) = self.take_inflight(id) {
            self.tokens = self.tokens.saturating_sub(e.tokens);
            // Only a reservation from the current Pacific day is in today's count.
            if next_pacific_midnight(e.at) == self.day_ends_at {
                self.day_count = self.day_count.saturating_sub(1);
            }
        }
    }

    /// Cools the bucket until `until`; an existing longer cooldown is kept.
    pub fn cool(&mut self, now: Millis, until: Millis, reason: CooldownReason) {
        if self
            .cooldown(now)
            .is_none_or(|(current, _)| until > current)
        {
            self.cooldown_until = until;
            self.cooldown_reason = Some(reason);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_usage_is_this_process_share_and_leaves_a_window_after_it_was_reported() {
        let mut w = Window::new(60_000);
        let used = Usage {
            rpm_used: 5,
            tpm_used: 101,
            rpd_used: 9,
        };
        w.seed_usage(1_000, used, 2);
        assert_eq!(
            w.usage(2_000),
            Usage {
                rpm_used: 3,
                tpm_used: 51,
                rpd_used: 5
            }
        );
        assert_eq!(w.usage(60_999).rpm_used, 3);
        assert_eq!(
            w.usage(61_000).rpm_used,
            0,
            "gone a window after the report"
        );
    }

    #[test]
    fn only_its_own_calls_are_replayed_and_recorded_ones_still_count() {
        let mut w = Window::new(60_000);
        w.seed_usage(
            1_000,
            Usage {
                rpm_used: 2,
                tpm_used: 10,
                rpd_used: 2,
            },
            1,
        );
        let a = w.reserve(2_000, Limits::UNKNOWN, 7).unwrap();
        w.complete(3_000, a, Some(5));
        let _in_flight = w.reserve(4_000, Limits::UNKNOWN, 9).unwrap();
        w.record(5_000, 11);
        // Its own: the finished call at its completion, the one in flight as if it ended now;
        // neither the seeded usage (Redis has it) nor the recorded call (Redis granted it).
        let own = w.own_calls(6_000);
        assert_eq!(own, vec![(a, 3_000, 5), (a + 1, 6_000, 9)]);
        // The recorded call holds a slot for a window, as any finished call.
        assert_eq!(w.usage(6_000).rpm_used, 5);
        assert_eq!(w.usage(64_999).rpm_used, 2, "the seeded calls left at 61 s");
        assert_eq!(
            w.usage(65_000).rpm_used,
            1,
            "only the one in flight is left"
        );
        assert_eq!(w.own_calls(65_000), vec![(a + 1, 65_000, 9)]);
    }

    const L: Limits = Limits::new(3, 100, 5);
    // 2026-01-15T12:00:00Z
    const T0: Millis = 1_768_478_400_000;

    #[test]
    fn rpm_admits_exactly_the_limit_then_names_when_it_frees() {
        let mut w = Window::default();
        for i in 0..3 {
            let id = w.reserve(T0 + i * 1000, L, 1).unwrap();
            // Answered at once: the slot is held a window from the reservation.
            w.complete(T0 + i * 1000, id, None);
        }
        assert_eq!(
            w.reserve(T0 + 5000, L, 1),
            Err(Check::Full {
                retry_at: T0 + WINDOW_MS,
                limit: LimitKind::Rpm
            })
        );
        // The oldest leaves at exactly T0 + 60 s.
        assert!(w.reserve(T0 + WINDOW_MS - 1, L, 1).is_err());
        assert!(w.reserve(T0 + WINDOW_MS, L, 1).is_ok());
    }

    /// A caller that read the clock before another but reached the window after it is served at
    /// the later time: its grant is stamped then, and finishing it never puts an entry before
    /// one already logged.
    #[test]
    fn the_windows_clock_never_runs_back() {
        let mut w = Window::default();
        let a = w.reserve(T0 + 1000, L, 1).unwrap();
        assert_eq!(w.clock(), T0 + 1000);
        let b = w.reserve(T0 + 400, L, 1).unwrap();
        assert_eq!(
            w.clock(),
            T0 + 1000,
            "a stale now is served at the later time"
        );
        w.complete(T0 + 1000, a, None);
        w.complete(T0 + 500, b, None);
        // Both finished at T0 + 1 s: one window later, both have left, not one earlier.
        assert_eq!(
            w.own_calls(T0 + 2000),
            vec![(a, T0 + 1000, 1), (b, T0 + 1000, 1)]
        );
        assert_eq!(w.usage(T0 + 1000 + WINDOW_MS - 1).rpm_used, 2);
        assert_eq!(w.usage(T0 + 1000 + WINDOW_MS).rpm_used, 0);
    }

    #[test]
    fn tpm_reconciliation_refunds_and_charges() {
        let mut w = Window::default();
        let a = w.reserve(T0, L, 60).unwrap();
        assert!(matches!(
            w.check(T0 + 1, L, 50),
            Check::Full {
                limit: LimitKind::Tpm,
                ..
            }
        ));
        w.settle(T0 + 2, a, 10); // refund 50
        assert_eq!(w.usage(T0 + 2).tpm_used, 10);
        let b = w.reserve(T0 + 3, L, 50).unwrap();
        w.settle(T0 + 4, b, 90); // charge 40: now 100, a debt against the next request
        assert_eq!(w.usage(T0 + 4).tpm_used, 100);
        assert_eq!(
            w.check(T0 + 5, L, 1),
            Check::Full {
                // `a` completed at T0 + 2: it leaves a window after that.
                retry_at: T0 + 2 + WINDOW_MS,
                limit: LimitKind::Tpm
            }
        );
    }

    #[test]
    fn a_request_over_tpm_is_too_large() {
        let mut w = Window::default();
        assert_eq!(w.check(T0, L, 101), Check::TooLarge);
    }

    #[test]
    fn release_gives_back_request_and_tokens() {
        let mut w = Window::default();
        let a = w.reserve(T0, L, 40).unwrap();
        w.release(T0 + 1, a);
        assert_eq!(w.usage(T0 + 1), Usage::default());
    }

    #[test]
    fn rpd_resets_at_pacific_midnight() {
        let mut w = Window::default();
        let lim = Limits::new(100, 1000, 2);
        w.reserve(T0, lim, 1).unwrap();
        w.reserve(T0 + 1, lim, 1).unwrap();
        let midnight = next_pacific_midnight(T0);
        assert_eq!(
            w.check(T0 + 2, lim, 1),
            Check::Full {
                retry_at: midnight,
                limit: LimitKind::Rpd
            }
        );
        assert!(w.reserve(midnight - 1, lim, 1).is_err());
        assert!(w.reserve(midnight, lim, 1).is_ok());
    }

    #[test]
    fn cooldown_only_extends() {
        let mut w = Window::default();
        w.cool(T0, T0 + 10_000, CooldownReason::RateLimited);
        w.cool(T0, T0 + 5_000, CooldownReason::RateLimited);
        assert_eq!(
            w.cooldown(T0),
            Some((T0 + 10_000, CooldownReason::RateLimited))
        );
        assert!(w.reserve(T0 + 9_999, L, 1).is_err());
        assert!(w.reserve(T0 + 10_000, L, 1).is_ok());
    }

    #[test]
    fn a_margin_lengthens_the_window() {
        let mut w = Window::new(WINDOW_MS + 250);
        let lim = Limits::new(1, 100, 100);
        let id = w.reserve(T0, lim, 1).unwrap();
        w.complete(T0, id, None);
        assert!(w.reserve(T0 + WINDOW_MS, lim, 1).is_err());
        assert!(w.reserve(T0 + WINDOW_MS + 250, lim, 1).is_ok());
    }

    /// Issue 14: Google counts a request when it arrives, so a slot is held until a window after
    /// the call completed, and a call in flight holds its slot however long it takes.
    #[test]
    fn a_slot_is_held_until_a_window_after_the_call_completed() {
        let lim = Limits::new(1, 100, 100);
        let mut w = Window::default();
        let id = w.reserve(T0, lim, 1).unwrap();
        // Still in flight 90 s later: the slot is taken, and frees no sooner than a window on.
        assert_eq!(
            w.check(T0 + 90_000, lim, 1),
            Check::Full {
                retry_at: T0 + 90_000 + WINDOW_MS,
                limit: LimitKind::Rpm
            }
        );
        w.complete(T0 + 90_000, id, Some(7));
        assert_eq!(w.usage(T0 + 90_000).tpm_used, 7);
        assert!(w.reserve(T0 + 90_000 + WINDOW_MS - 1, lim, 1).is_err());
        assert!(w.reserve(T0 + 90_000 + WINDOW_MS, lim, 1).is_ok());
    }

    #[test]
    fn a_call_never_reported_frees_its_slot_after_the_hold() {
        let lim = Limits::new(1, 100, 100);
        let mut w = Window::default();
        let id = w.reserve(T0, lim, 5).unwrap();
        let gone = T0 + INFLIGHT_HOLD_MS + WINDOW_MS;
        assert!(w.reserve(gone - 1, lim, 1).is_err());
        assert_eq!(w.usage(gone).tpm_used, 0);
        assert!(w.reserve(gone, lim, 1).is_ok());
        // A late report of the lost call changes nothing.
        w.complete(gone, id, Some(50));
        assert_eq!(w.usage(gone).tpm_used, 1);
    }

    #[test]
    fn an_unknown_limit_is_not_enforced() {
        let mut w = Window::default();
        let rpm_only = Limits {
            rpm: Some(2),
            ..Limits::UNKNOWN
        };
        for _ in 0..2 {
            w.reserve(T0, rpm_only, 10_000_000).unwrap();
        }
        assert!(matches!(
            w.check(T0, rpm_only, 1),
            Check::Full {
                limit: LimitKind::Rpm,
                ..
            }
        ));
        for _ in 0..1_000 {
            w.reserve(T0, Limits::UNKNOWN, 1_000_000).unwrap();
        }
        assert_eq!(
            w.check(T0, Limits::UNKNOWN, 1),
            Check::Room { headroom: 1.0 }
        );
    }

    #[test]
    fn a_learned_limit_lowers_the_declared_one_and_expires() {
        let mut w = Window::default();
        let declared = Limits::new(10, 1_000, 100);
        w.learn(
            T0,
            Limits {
                rpm: Some(1),
                ..Limits::UNKNOWN
            },
        );
        let id = w.reserve(T0, declared, 1).unwrap();
        w.complete(T0, id, None);
        assert!(matches!(
            w.check(T0 + 1, declared, 1),
            Check::Full {
                limit: LimitKind::Rpm,
                ..
            }
        ));
        // Higher than declared: the declared one holds.
        w.learn(T0 + 2, Limits::new(50, 5_000, 500));
        assert_eq!(w.learned(T0 + 2), Limits::new(50, 5_000, 500));
        assert!(w.reserve(T0 + 2, declared, 1).is_ok());
        assert_eq!(w.learned(T0 + 2 + LEARNED_TTL_MS), Limits::UNKNOWN);
    }

    #[test]
    fn headroom_is_the_tightest_fraction() {
        let mut w = Window::default();
        w.reserve(T0, L, 10).unwrap();
        // Unused: rpm 2/3, tpm 90/100, rpd 4/5 → rpm binds.
        let Check::Room { headroom } = w.check(T0, L, 20) else {
            panic!("expected room")
        };
        assert!((headroom - 2.0 / 3.0).abs() < 1e-12, "{headroom}");
    }
}
