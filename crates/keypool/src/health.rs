//! Per-key health: counts, the growing cooldown after repeated transient errors, the half-open
//! trial, and deactivation. The transitions are pure functions on [`KeyHealth`], so every state
//! backend applies exactly the same rules (the Redis backend runs them inside a compare-and-set).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::clock::Millis;
use crate::window::CooldownReason;

/// The numbers of the health rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HealthPolicy {
    /// Consecutive transient errors that put a key in cooldown (3).
    pub errors_to_cool: u32,
    /// The first cooldown (30 s); each failed trial doubles it.
    pub base_cooldown: Duration,
    /// The longest cooldown (300 s).
    pub max_cooldown: Duration,
    /// How long a half-open trial may stay unreported before another caller may try (60 s).
    pub trial_timeout: Duration,
}

impl Default for HealthPolicy {
    fn default() -> Self {
        Self {
            errors_to_cool: 3,
            base_cooldown: Duration::from_secs(30),
            max_cooldown: Duration::from_secs(300),
            trial_timeout: Duration::from_secs(60),
        }
    }
}

impl HealthPolicy {
    /// The cooldown for step `step` (1-based): base, 2×base, 4×base… capped at the maximum.
    pub fn cooldown_for(&self, step: u32) -> Duration {
        let factor = 1u32.checked_shl(step.saturating_sub(1)).unwrap_or(u32::MAX);
        self.base_cooldown
            .saturating_mul(factor)
            .min(self.max_cooldown)
    }
}

/// What the pool shows of a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyState {
    /// Serving.
    Active,
    /// Resting after errors; see the cooldown fields.
    CoolingDown,
    /// Cooldown over: the next request is a single trial.
    HalfOpen,
    /// Deactivated (key broken or disabled by an operator).
    Disabled,
}

impl KeyState {
    /// A short label for tables and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyState::Active => "active",
            KeyState::CoolingDown => "cooling_down",
            KeyState::HalfOpen => "half_open",
            KeyState::Disabled => "disabled",
        }
    }
}

/// The last error a key saw. `detail` never holds key material: it is built from the error
/// class and upstream status only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastError {
    /// When it happened (ms since epoch).
    pub at: Millis,
    /// Outcome class, e.g. `transient`.
    pub class: String,
    /// Short description, e.g. `503 UNAVAILABLE`.
    pub detail: String,
}

/// The health record of one key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyHealth {
    /// False once deactivated.
    pub active: bool,
    /// Why it was deactivated.
    pub disabled_reason: Option<String>,
    /// Successful calls.
    pub success_count: u64,
    /// Failed calls of any class except the caller's fault.
    pub error_count: u64,
    /// Transient errors since the last success.
    pub consecutive_errors: u32,
    /// End of the key's own cooldown (0: none).
    pub cooldown_until: Millis,
    /// Why the key cools.
    pub cooldown_reason: Option<CooldownReason>,
    /// How many cooldowns in a row (0: healthy); sets the next cooldown's length.
    pub cooldown_step: u32,
    /// A half-open trial is in flight until then (0: none).
    pub trial_until: Millis,
    /// Last time a call on this key was reported.
    pub last_used: Option<Millis>,
    /// The last failure.
    pub last_error: Option<LastError>,
}

impl KeyHealth {
    /// A fresh record; `active` as configured.
    pub fn new(active: bool) -> Self {
        Self {
            active,
            disabled_reason: (!active).then(|| "disabled in keys.json".to_owned()),
            success_count: 0,
            error_count: 0,
            consecutive_errors: 0,
            cooldown_until: 0,
            cooldown_reason: None,
            cooldown_step: 0,
            trial_until: 0,
            last_used: None,
            last_error: None,
        }
    }

    /// The state at `now`.
    pub fn state(&self, now: Millis) -> KeyState {
        if !self.active {
            KeyState::Disabled
        } else if self.cooldown_until > now {
            KeyState::CoolingDown
        } else if self.cooldown_step > 0 {
            KeyState::HalfOpen
        } else {
            KeyState::Active
        }
    }

    /// Whether a request may use the key now without taking anything (a free half-open trial
    /// counts as usable).
    pub fn usable(&self, now: Millis) -> bool {
        match self.state(now) {
            KeyState::Active => true,
            KeyState::HalfOpen => self.trial_until <= now,
            KeyState::CoolingDown | KeyState::Disabled => false,
        }
    }

    /// Admits one request: `Some(false)` normally, `Some(true)` when it is the half-open trial
    /// (which it then holds), `None` when the key cannot be used now.
    pub fn admit(&mut self, now: Millis, policy: &HealthPolicy) -> Option<bool> {
        match self.state(now) {
            KeyState::Active => Some(false),
            KeyState::HalfOpen if self.trial_until <= now => {
                let hold = i64::try_from(policy.trial_timeout.as_millis()).unwrap_or(i64::MAX);
                self.trial_until = now.saturating_add(hold);
                Some(true)
            }
            KeyState::HalfOpen | KeyState::CoolingDown | KeyState::Disabled => None,
        }
    }

    /// When the key may next be admitted, if it is waiting on time at all.
    pub fn usable_at(&self, now: Millis) -> Option<Millis> {
        match self.state(now) {
            KeyState::Active => Some(now),
            KeyState::HalfOpen => Some(self.trial_until.max(now)),
            KeyState::CoolingDown => Some(self.cooldown_until),
            KeyState::Disabled => None,
        }
    }

    fn error(&mut self, now: Millis, class: &str, detail: &str) {
        self.error_count += 1;
        self.last_used = Some(now);
        self.last_error = Some(LastError {
            at: now,
            class: class.to_owned(),
            detail: detail.to_owned(),
        });
    }

    /// A success: counts, and a half-open key is restored with its cooldown step reset.
    pub fn on_success(&mut self, now: Millis) {
        self.success_count += 1;
        self.consecutive_errors = 0;
        self.cooldown_step = 0;
        self.cooldown_until = 0;
        self.cooldown_reason = None;
        self.trial_until = 0;
        self.last_used = Some(now);
    }

    /// A transient error (5xx, timeout, reset): after `errors_to_cool` in a row the key cools;
    /// a failed half-open trial gives the next, longer cooldown at once.
    pub fn on_transient(&mut self, now: Millis, was_trial: bool, detail: &str, p: &HealthPolicy) {
        self.error(now, "transient", detail);
        self.consecutive_errors = self.consecutive_errors.saturating_add(1);
        // Errors of requests that were in flight when the cooldown began do not extend it.
        let cooling = self.cooldown_until > now;
        if was_trial || (!cooling && self.consecutive_errors >= p.errors_to_cool) {
            self.cooldown_step = self.cooldown_step.saturating_add(1);
            let ms =
                i64::try_from(p.cooldown_for(self.cooldown_step).as_millis()).unwrap_or(i64::MAX);
            self.cooldown_until = now.saturating_add(ms);
            self.cooldown_reason = Some(CooldownReason::Errors);
        }
        self.trial_until = 0;
    }

    /// The key is broken (invalid, revoked, permission denied): deactivated.
    pub fn on_broken(&mut self, now: Millis, detail: &str) {
        self.error(now, "key_broken", detail);
        self.active = false;
        self.disabled_reason = Some(detail.to_owned());
        self.trial_until = 0;
    }

    /// A 429 on the key's bucket: counted on the key, but the cooldown belongs to the bucket.
    /// A trial that met a 429 proved nothing, so the trial slot is freed.
    pub fn on_rate_limited(&mut self, now: Millis, class: &str, detail: &str) {
        self.error(now, class, detail);
        self.trial_until = 0;
    }

    /// The call ended without a verdict on the key (caller's fault, not sent): frees the trial.
    pub fn on_inconclusive(&mut self) {
        self.trial_until = 0;
    }

    /// Re-enabled by an operator or a passing probe: active, with a clean slate of cooldowns.
    pub fn enable(&mut self) {
        self.active = true;
        self.disabled_reason = None;
        self.consecutive_errors = 0;
        self.cooldown_step = 0;
        self.cooldown_until = 0;
        self.cooldown_reason = None;
        self.trial_until = 0;
    }

    /// The key's material was rotated: a deactivation for being broken (which the old material
    /// earned) is lifted; an operator's is not. Returns whether the key was enabled again.
    pub fn on_material_rotated(&mut self) -> bool {
        let broken = !self.active
            && self.last_error.as_ref().is_some_and(|e| {
                e.class == "key_broken"
                    && self.disabled_reason.as_deref() == Some(e.detail.as_str())
            });
        if broken {
            self.enable();
        }
        broken
    }

    /// A probe with the key passed (`keys check`): an active key gets a clean slate of cooldowns;
    /// a key deactivated for being broken is enabled again; one that `keys.json` or an operator
    /// disabled stays disabled. Returns whether the key is active now.
    pub fn on_probe_passed(&mut self) -> bool {
        if self.active {
            self.enable();
            return true;
        }
        self.on_material_rotated()
    }

    /// Deactivated by an operator.
    pub fn disable(&mut self, reason: &str) {
        self.active = false;
        self.disabled_reason = Some(reason.to_owned());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_passing_probe_never_enables_what_an_operator_or_keys_json_disabled() {
        let mut configured_off = KeyHealth::new(false);
        assert!(!configured_off.on_probe_passed());
        assert!(!configured_off.active);
        let mut operator = KeyHealth::new(true);
        operator.disable("maintenance");
        assert!(!operator.on_probe_passed());
        assert_eq!(operator.disabled_reason.as_deref(), Some("maintenance"));
        let mut broken = KeyHealth::new(true);
        broken.on_broken(5, "403 PERMISSION_DENIED");
        assert!(broken.on_probe_passed());
        assert!(broken.active);
    }

    const S: Millis = 1_000;

    #[test]
    fn cooldown_doubles_to_the_cap() {
        let p = HealthPolicy::default();
        let secs: Vec<u64> = (1..=6).map(|s| p.cooldown_for(s).as_secs()).collect();
        assert_eq!(secs, [30, 60, 120, 240, 300, 300]);
        assert_eq!(p.cooldown_for(200).as_secs(), 300);
    }

    #[test]
    fn three_transient_errors_in_a_row_cool_the_key() {
        let p = HealthPolicy::default();
        let mut h = KeyHealth::new(true);
        h.on_transient(0, false, "503", &p);
        h.on_transient(S, false, "503", &p);
        assert_eq!(h.state(2 * S), KeyState::Active);
        h.on_transient(2 * S, false, "503", &p);
        assert_eq!(h.state(2 * S), KeyState::CoolingDown);
        assert_eq!(h.cooldown_until, 32 * S);
        assert_eq!(h.state(32 * S), KeyState::HalfOpen);
    }

    #[test]
    fn a_success_between_errors_resets_the_streak() {
        let p = HealthPolicy::default();
        let mut h = KeyHealth::new(true);
        h.on_transient(0, false, "503", &p);
        h.on_transient(0, false, "503", &p);
        h.on_success(0);
        h.on_transient(0, false, "503", &p);
        h.on_transient(0, false, "503", &p);
        assert_eq!(h.state(0), KeyState::Active);
    }

    #[test]
    fn half_open_admits_one_trial_and_failure_doubles() {
        let p = HealthPolicy::default();
        let mut h = KeyHealth::new(true);
        for _ in 0..3 {
            h.on_transient(0, false, "500", &p);
        }
        assert_eq!(h.admit(29 * S, &p), None);
        assert_eq!(h.admit(30 * S, &p), Some(true));
        assert_eq!(h.admit(30 * S, &p), None, "only one trial at a time");
        h.on_transient(31 * S, true, "500", &p);
        assert_eq!(h.cooldown_until, 31 * S + 60 * S);
        assert_eq!(h.admit(91 * S, &p), Some(true));
        h.on_success(92 * S);
        assert_eq!(h.state(92 * S), KeyState::Active);
        assert_eq!(h.cooldown_step, 0);
        // A fresh streak starts again at 30 s.
        for _ in 0..3 {
            h.on_transient(100 * S, false, "500", &p);
        }
        assert_eq!(h.cooldown_until, 130 * S);
    }

    #[test]
    fn an_unreported_trial_expires() {
        let p = HealthPolicy::default();
        let mut h = KeyHealth::new(true);
        for _ in 0..3 {
            h.on_transient(0, false, "500", &p);
        }
        assert_eq!(h.admit(30 * S, &p), Some(true));
        assert_eq!(h.admit(89 * S, &p), None);
        assert_eq!(h.admit(90 * S, &p), Some(true));
    }

    #[test]
    fn broken_keys_stay_off_until_enabled() {
        let p = HealthPolicy::default();
        let mut h = KeyHealth::new(true);
        h.on_broken(0, "400 API_KEY_INVALID");
        assert_eq!(h.state(1_000_000), KeyState::Disabled);
        assert_eq!(h.admit(1_000_000, &p), None);
        h.enable();
        assert_eq!(h.admit(1_000_000, &p), Some(false));
    }
}
