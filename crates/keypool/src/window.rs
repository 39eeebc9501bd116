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

#[derive(Debug, Clone, Copy)]
struct Entry {
    id: u64,
    at: Millis,
    tokens: u64,
}

/// One bucket's state.
#[derive(Debug, Clone)]
pub struct Window {
    length_ms: Millis,
    entries: VecDeque<Entry>,
    tokens: u64,
    day_count: u64,
    day_ends_at: Millis,
    next_id: u64,
    cooldown_until: Millis,
    cooldown_reason: Option<CooldownReason>,
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
            entries: VecDeque::new(),
            tokens: 0,
            day_count: 0,
            day_ends_at: 0,
            next_id: 0,
            cooldown_until: 0,
            cooldown_reason: None,
        }
    }

    /// Drops entries older than the window and resets the day counter at Pacific midnight.
    fn advance(&mut self, now: Millis) {
        while let Some(front) = self.entries.front() {
            if front.at > now - self.length_ms {
                break;
            }
            self.tokens = self.tokens.saturating_sub(front.tokens);
            self.entries.pop_front();
        }
        if now >= self.day_ends_at {
            self.day_count = 0;
            self.day_ends_at = next_pacific_midnight(now);
        }
    }

    /// Current usage.
    pub fn usage(&mut self, now: Millis) -> Usage {
        self.advance(now);
        Usage {
            rpm_used: self.entries.len() as u64,
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

    /// Whether one request of `tokens` fits now, without taking it.
    pub fn check(&mut self, now: Millis, limits: Limits, tokens: u64) -> Check {
        self.advance(now);
        if let Some((until, _)) = self.cooldown(now) {
            return Check::Full {
                retry_at: until,
                limit: LimitKind::Cooldown,
            };
        }
        if tokens > limits.tpm {
            return Check::TooLarge;
        }
        if self.day_count >= limits.rpd {
            return Check::Full {
                retry_at: self.day_ends_at,
                limit: LimitKind::Rpd,
            };
        }
        let n = self.entries.len() as u64;
        let mut full: Option<(Millis, LimitKind)> = None;
        if n >= limits.rpm {
            // The (n - rpm + 1) oldest entries must leave; the last of them is at n - rpm.
            let idx = usize::try_from(n - limits.rpm).unwrap_or(usize::MAX);
            let at = self.entries.get(idx).map_or(now, |e| e.at) + self.length_ms;
            full = Some((at, LimitKind::Rpm));
        }
        if self.tokens + tokens > limits.tpm {
            let excess = self.tokens + tokens - limits.tpm;
            let mut freed = 0u64;
            let mut at = now;
            for e in &self.entries {
                freed += e.tokens;
                if freed >= excess {
                    at = e.at + self.length_ms;
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
        let frac = |used: u64, limit: u64| (limit - used) as f64 / limit as f64;
        let headroom = frac(n, limits.rpm)
            .min(frac(self.tokens, limits.tpm))
            .min(frac(self.day_count, limits.rpd));
        Check::Room { headroom }
    }

    /// Takes one request of `tokens` if it fits (all three limits at once), returning its id.
    ///
    /// # Errors
    /// The [`Check`] that refused it.
    pub fn reserve(&mut self, now: Millis, limits: Limits, tokens: u64) -> Result<u64, Check> {
        match self.check(now, limits, tokens) {
            Check::Room { .. } => {
                self.next_id += 1;
                let id = self.next_id;
                self.entries.push_back(Entry {
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

    fn find(&self, id: u64) -> Option<usize> {
        // Ids grow with insertion order, so the log is sorted by id.
        self.entries.binary_search_by_key(&id, |e| e.id).ok()
    }

    /// Replaces a reservation's estimate by the real token count (refund or charge). A
    /// reservation that already left the window no longer counts and is ignored.
    pub fn settle(&mut self, now: Millis, id: u64, actual_tokens: u64) {
        self.advance(now);
        if let Some(i) = self.find(id) {
            let e = &mut self.entries[i];
            self.tokens = self.tokens.saturating_sub(e.tokens) + actual_tokens;
            e.tokens = actual_tokens;
        }
    }

    /// Undoes a reservation whose request was never sent.
    pub fn release(&mut self, now: Millis, id: u64) {
        self.advance(now);
        if let Some(i) = self.find(id)
            && let Some(e) = self.entries.remove(i)
        {
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

    const L: Limits = Limits {
        rpm: 3,
        tpm: 100,
        rpd: 5,
    };
    // 2026-01-15T12:00:00Z
    const T0: Millis = 1_768_478_400_000;

    #[test]
    fn rpm_admits_exactly_the_limit_then_names_when_it_frees() {
        let mut w = Window::default();
        for i in 0..3 {
            assert!(w.reserve(T0 + i * 1000, L, 1).is_ok());
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
                retry_at: T0 + WINDOW_MS,
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
        let lim = Limits {
            rpm: 100,
            tpm: 1000,
            rpd: 2,
        };
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
        let lim = Limits {
            rpm: 1,
            tpm: 100,
            rpd: 100,
        };
        w.reserve(T0, lim, 1).unwrap();
        assert!(w.reserve(T0 + WINDOW_MS, lim, 1).is_err());
        assert!(w.reserve(T0 + WINDOW_MS + 250, lim, 1).is_ok());
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
