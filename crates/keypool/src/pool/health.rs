//! The health snapshot: every key, its bucket's usage and limits.

use std::collections::HashMap;

use serde::Serialize;

use super::{ANY_MODEL, KeyEntry, KeyPool};
use crate::clock::{Millis, to_rfc3339};
use crate::error::PoolError;
use crate::health::KeyState;
use crate::limits::LimitSource;
use crate::store::StateStore;
use crate::window::CooldownReason;

/// One row of the health output: a key and its bucket.
#[derive(Debug, Clone, Serialize)]
pub struct KeyReport {
    /// Key id.
    pub key_id: String,
    /// `…` and at most the last 4 characters of the material, to tell keys apart.
    pub key_hint: String,
    /// Model (the bucket's).
    pub model: String,
    /// Project label.
    pub project: String,
    /// Configured and not deactivated.
    pub active: bool,
    /// State, counting a cooling bucket as cooling.
    pub state: KeyState,
    /// Key or bucket cooling.
    pub in_cooldown: bool,
    /// Seconds of cooldown left.
    pub cooldown_remaining_s: f64,
    /// Why it cools.
    pub cooldown_reason: Option<CooldownReason>,
    /// Successes.
    pub success_count: u64,
    /// Errors.
    pub error_count: u64,
    /// Transient errors in a row.
    pub consecutive_errors: u32,
    /// Last report, RFC 3339.
    pub last_used: Option<String>,
    /// Last error class and detail.
    pub last_error: Option<String>,
    /// Why the key was deactivated.
    pub disabled_reason: Option<String>,
    /// Requests in the last 60 s (bucket).
    pub rpm_used: u64,
    /// RPM limit in force (`None`: unknown, not enforced).
    pub rpm_limit: Option<u64>,
    /// Where it comes from.
    pub rpm_limit_source: LimitSource,
    /// Input tokens in the last 60 s (bucket).
    pub tpm_used: u64,
    /// TPM limit in force.
    pub tpm_limit: Option<u64>,
    /// Where it comes from.
    pub tpm_limit_source: LimitSource,
    /// Requests this Pacific day (bucket).
    pub rpd_used: u64,
    /// RPD limit in force.
    pub rpd_limit: Option<u64>,
    /// Where it comes from.
    pub rpd_limit_source: LimitSource,
    /// This row is the `GEMINI_API_KEY` fallback.
    pub fallback: bool,
}

/// The pool's health at one instant.
#[derive(Debug, Clone, Serialize)]
pub struct HealthSnapshot {
    /// When, RFC 3339.
    pub at: String,
    /// `ENABLE_KEY_ROTATION`.
    pub rotation: bool,
    /// Where state lives (`memory`, `redis`).
    pub backend: &'static str,
    /// Projects served from this process's local shares because their shared state cannot be
    /// reached (Redis down, or their cluster master); absent when none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub degraded_projects: Vec<String>,
    /// One row per key (and per used bucket of the fallback key).
    pub keys: Vec<KeyReport>,
}

impl<S: StateStore> KeyPool<S> {
    /// Brings the pool's view of shared state up to date (Redis: one fetch of every bucket and
    /// key; in memory: nothing to do). Call before [`Self::health`] for the shared view.
    ///
    /// # Errors
    /// A store failure.
    pub async fn refresh(&self) -> Result<(), PoolError> {
        self.finish_abandoned().await;
        self.store.refresh(self.clock.now_ms()).await?;
        Ok(())
    }

    /// The buckets a key's health rows show, of its project's named buckets `mine`: for a key
    /// that serves any model, those in use (this window or today), cooling or with a learned
    /// limit, else the default model's; for a key of one model, that model's.
    fn shown_buckets(&self, k: &KeyEntry, mine: &[usize], now: Millis) -> Vec<usize> {
        let of_model = |model: &str| -> Vec<usize> {
            mine.iter()
                .copied()
                .filter(|&bi| self.buckets[bi].model() == model)
                .collect()
        };
        if k.model != ANY_MODEL {
            return of_model(&k.model);
        }
        let used: Vec<usize> = mine
            .iter()
            .copied()
            .filter(|&bi| {
                self.store
                    .bucket_view(self.bref(bi), 0, now)
                    .is_ok_and(|v| {
                        v.usage.rpm_used > 0
                            || v.usage.tpm_used > 0
                            || v.usage.rpd_used > 0
                            || v.cooldown.is_some()
                            || !v.learned.is_unknown()
                    })
            })
            .collect();
        if used.is_empty() {
            of_model(&self.default_model)
        } else {
            used
        }
    }

    /// Every key's health and its bucket's usage.
    ///
    /// # Errors
    /// A store failure.
    pub fn health(&self) -> Result<HealthSnapshot, PoolError> {
        let now = self.clock.now_ms();
        let mut rows = Vec::new();
        // Each project's named buckets (a spare not yet adopted has no model to show).
        let mut of_project: HashMap<&str, Vec<usize>> = HashMap::new();
        for (bi, b) in self.buckets.iter().enumerate() {
            if !b.model().is_empty() {
                of_project.entry(b.project.as_str()).or_default().push(bi);
            }
        }
        for (ki, k) in self.keys.iter().enumerate() {
            let h = self.store.key_health(self.kref(ki))?;
            let mine = of_project
                .get(k.project.as_str())
                .map_or(&[][..], Vec::as_slice);
            let buckets = self.shown_buckets(k, mine, now);
            for bi in buckets {
                let b = &self.buckets[bi];
                let v = self.store.bucket_view(self.bref(bi), 0, now)?;
                let mut state = h.state(now);
                let mut cooldown = (state == KeyState::CoolingDown)
                    .then_some((h.cooldown_until, h.cooldown_reason));
                if let Some((until, reason)) = v.cooldown
                    && cooldown.is_none_or(|(t, _)| until > t)
                {
                    cooldown = Some((until, Some(reason)));
                    if state != KeyState::Disabled {
                        state = KeyState::CoolingDown;
                    }
                }
                rows.push(KeyReport {
                    key_id: k.key_id.clone(),
                    key_hint: k.key.load().to_string(),
                    model: b.model().to_owned(),
                    project: b.project.clone(),
                    active: h.active,
                    state,
                    in_cooldown: cooldown.is_some(),
                    cooldown_remaining_s: cooldown
                        .map_or(0.0, |(t, _)| (t - now).max(0) as f64 / 1000.0),
                    cooldown_reason: cooldown.and_then(|(_, r)| r),
                    success_count: h.success_count,
                    error_count: h.error_count,
                    consecutive_errors: h.consecutive_errors,
                    last_used: h.last_used.map(to_rfc3339),
                    last_error: h
                        .last_error
                        .as_ref()
                        .map(|e| format!("{}: {}", e.class, e.detail)),
                    disabled_reason: h.disabled_reason.clone(),
                    rpm_used: v.usage.rpm_used,
                    rpm_limit: b.limits.min(v.learned).rpm,
                    rpm_limit_source: LimitSource::of(b.limits.rpm, v.learned.rpm),
                    tpm_used: v.usage.tpm_used,
                    tpm_limit: b.limits.min(v.learned).tpm,
                    tpm_limit_source: LimitSource::of(b.limits.tpm, v.learned.tpm),
                    rpd_used: v.usage.rpd_used,
                    rpd_limit: b.limits.min(v.learned).rpd,
                    rpd_limit_source: LimitSource::of(b.limits.rpd, v.learned.rpd),
                    fallback: k.fallback,
                });
            }
        }
        Ok(HealthSnapshot {
            at: to_rfc3339(now),
            rotation: self.rotation,
            backend: self.store.backend(),
            degraded_projects: self.store.local_projects(),
            keys: rows,
        })
    }
}
