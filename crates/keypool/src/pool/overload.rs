//! A model's own state: 503 "overloaded" / "high demand" (DESIGN.md §3.1).
//!
//! Overload is the model's, for every key, so it never cools or deactivates a key. One 503 is
//! retried on another key after a jittered backoff; when 503s repeat (three in a row with no
//! success between), the *model* cools briefly (5 s, doubling up to 60 s while it keeps failing)
//! so that requests move to the caller's fallback models instead of spending attempts on it; a
//! success clears it. A model the caller has no fallback for is still tried, after the backoff. The state is this
//! process's: it is short-lived and every process learns it from its own answers.

use std::collections::HashMap;
use std::time::Duration;

use parking_lot::Mutex;

use crate::clock::Millis;

/// 503s in a row (no success between) on one model that make it cool.
const REPEATS_TO_COOL: u32 = 3;
/// The first cooldown of an overloaded model.
const BASE_COOL_MS: Millis = 5_000;
/// The longest one.
const MAX_COOL_MS: Millis = 60_000;
/// The first backoff before retrying a 503 on another key; it doubles per 503 in the request.
const BASE_BACKOFF_MS: u64 = 250;
/// The longest backoff.
const MAX_BACKOFF_MS: u64 = 4_000;

#[derive(Debug, Clone, Copy, Default)]
struct Heat {
    /// 503s in a row.
    streak: u32,
    /// Cooldowns in a row (the next one is `BASE << steps`).
    steps: u32,
    until: Millis,
}

/// Per-model overload state.
#[derive(Debug, Default)]
pub(crate) struct Overload {
    models: Mutex<HashMap<String, Heat>>,
}

impl Overload {
    /// Records a 503 for `model`; returns whether the model now cools.
    pub(crate) fn on_overloaded(&self, model: &str, now: Millis) -> bool {
        let mut models = self.models.lock();
        let heat = models.entry(model.to_owned()).or_default();
        heat.streak += 1;
        if heat.streak < REPEATS_TO_COOL {
            return false;
        }
        let cool = BASE_COOL_MS
            .saturating_mul(1 << heat.steps.min(8))
            .min(MAX_COOL_MS);
        heat.until = now.saturating_add(cool);
        heat.steps = heat.steps.saturating_add(1);
        heat.streak = 0;
        true
    }

    /// A success clears the model's state.
    pub(crate) fn on_success(&self, model: &str) {
        let mut models = self.models.lock();
        if models.contains_key(model) {
            models.remove(model);
        }
    }

    /// Until when `model` cools, if it does now.
    pub(crate) fn cooling_until(&self, model: &str, now: Millis) -> Option<Millis> {
        let models = self.models.lock();
        models
            .get(model)
            .map(|h| h.until)
            .filter(|&until| until > now)
    }
}

/// The wait before attempt `n + 1` after the `n`-th 503 of one request: exponential with
/// "equal jitter" (half fixed, half random), so that retries of many requests spread out.
pub(crate) fn backoff(n: u32) -> Duration {
    let full = BASE_BACKOFF_MS
        .saturating_mul(1 << n.saturating_sub(1).min(16))
        .min(MAX_BACKOFF_MS);
    let half = full / 2;
    Duration::from_millis(half + fastrand::u64(0..=half))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_model_cools_when_503s_repeat_and_a_success_clears_it() {
        let o = Overload::default();
        assert!(
            !o.on_overloaded("m", 0),
            "one 503 is retried, not a cooldown"
        );
        assert!(!o.on_overloaded("m", 0));
        assert_eq!(o.cooling_until("m", 0), None);
        assert!(o.on_overloaded("m", 10));
        assert_eq!(o.cooling_until("m", 10), Some(5_010));
        assert_eq!(o.cooling_until("m", 5_010), None, "brief");
        assert_eq!(o.cooling_until("other", 10), None, "per model");
        // It keeps failing: the next cooldown is longer.
        o.on_overloaded("m", 6_000);
        o.on_overloaded("m", 6_000);
        assert!(o.on_overloaded("m", 6_000));
        assert_eq!(o.cooling_until("m", 6_000), Some(16_000));
        o.on_success("m");
        assert_eq!(o.cooling_until("m", 6_001), None);
        o.on_overloaded("m", 20_000);
        o.on_overloaded("m", 20_000);
        assert!(o.on_overloaded("m", 20_000));
        assert_eq!(
            o.cooling_until("m", 20_000),
            Some(25_000),
            "a success resets the step"
        );
    }

    #[test]
    fn backoff_grows_with_jitter_and_is_capped() {
        for _ in 0..200 {
            let b1 = backoff(1).as_millis();
            assert!((125..=250).contains(&b1), "{b1}");
            let b3 = backoff(3).as_millis();
            assert!((500..=1_000).contains(&b3), "{b3}");
            let b9 = backoff(9).as_millis();
            assert!((2_000..=4_000).contains(&b9), "{b9}");
        }
    }
}
