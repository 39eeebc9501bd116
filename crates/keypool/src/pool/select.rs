//! Selection: the weighted draw among candidates, reservation, and why nothing could serve.

use std::sync::Arc;
use std::time::Duration;

use super::layout::Candidate;
use super::lease::{Abandoned, InFlight, Lease, SelectRequest};
use super::{KeyPool, model_id};
use crate::clock::Millis;
use crate::error::{Exhausted, KeyBlock, PoolError};
use crate::health::KeyState;
use crate::limits::Limits;
use crate::store::{Acquired, Finish, KeyEvent, StateStore, Tokens};
use crate::window::{Check, CooldownReason, LimitKind};

impl<S: StateStore> KeyPool<S> {
    /// The weight of a candidate now, `None` when it cannot serve.
    fn weight(&self, c: &Candidate, req: &SelectRequest<'_>, now: Millis) -> Option<f64> {
        if req.exclude.contains(&c.key)
            || req.avoid_project == Some(c.project)
            || req.project.is_some_and(|p| p != c.project)
        {
            return None;
        }
        if !self.store.key_usable(self.kref(c.key), now).ok()? {
            return None;
        }
        match self
            .store
            .bucket_view(self.bref(c.bucket), req.tokens, now)
            .ok()?
            .check
        {
            Check::Room { headroom } => Some(headroom * c.scale),
            Check::Full { .. } | Check::TooLarge => None,
        }
    }

    /// Admits the key and reserves on its bucket; `None` if either refuses (a race).
    async fn commit(
        &self,
        c: &Candidate,
        req: &SelectRequest<'_>,
        now: Millis,
    ) -> Result<Option<Lease>, PoolError> {
        let id = fastrand::u64(1..);
        let in_flight = InFlight {
            queue: &self.abandoned,
            entry: Some(Abandoned {
                key: c.key,
                bucket: c.bucket,
                reservation: id,
                trial: true,
            }),
        };
        let acquired = self
            .store
            .acquire_as(
                self.kref(c.key),
                self.bref(c.bucket),
                req.tokens,
                now,
                &self.policy,
                id,
            )
            .await;
        in_flight.landed();
        let acquired = acquired?;
        Ok(match acquired {
            Acquired::Granted {
                reservation,
                trial,
                at,
            } => Some(Lease {
                abandoned: Some(Arc::clone(&self.abandoned)),
                granted_at: at,
                key: c.key,
                bucket: c.bucket,
                project: c.project,
                reservation,
                tokens: req.tokens,
                trial,
                fallback: self.keys[c.key].fallback,
            }),
            Acquired::KeyUnavailable | Acquired::Refused(_) => None,
        })
    }

    async fn pick(
        &self,
        cands: &[Candidate],
        req: &SelectRequest<'_>,
        now: Millis,
    ) -> Result<Option<Lease>, PoolError> {
        if cands.is_empty() {
            return Ok(None);
        }
        // Rejection sampling: exact, O(1) expected while the pool has room.
        let draws = (2 * cands.len()).min(16);
        for _ in 0..draws {
            let c = &cands[fastrand::usize(..cands.len())];
            if let Some(w) = self.weight(c, req, now)
                && fastrand::f64() < w
                && let Some(lease) = self.commit(c, req, now).await?
            {
                return Ok(Some(lease));
            }
        }
        // Exact scan over every candidate.
        let mut weights: Vec<f64> = cands
            .iter()
            .map(|c| self.weight(c, req, now).unwrap_or(0.0))
            .collect();
        loop {
            let total: f64 = weights.iter().sum();
            if total <= 0.0 {
                return Ok(None);
            }
            let mut x = fastrand::f64() * total;
            let mut chosen = weights.len() - 1;
            for (i, w) in weights.iter().enumerate() {
                if *w > 0.0 {
                    chosen = i;
                    if x < *w {
                        break;
                    }
                    x -= w;
                }
            }
            if let Some(lease) = self.commit(&cands[chosen], req, now).await? {
                return Ok(Some(lease));
            }
            weights[chosen] = 0.0;
        }
    }

    /// Finishes the leases dropped without a report since the last call: each as a call that
    /// ended now with no verdict on its key (the request may have reached Google, so its slot is
    /// held a window from now; a half-open trial is given back). A store failure leaves the
    /// reservation to expire by the in-flight hold.
    pub(super) async fn finish_abandoned(&self) {
        let dropped: Vec<Abandoned> = {
            let mut q = self.abandoned.lock();
            if q.is_empty() {
                return;
            }
            std::mem::take(&mut *q)
        };
        let now = self.clock.now_ms();
        for a in dropped {
            let finish = Finish {
                trial: a.trial,
                tokens: Tokens::Keep,
                cool_bucket: None,
                key: KeyEvent::Inconclusive,
                learn: Limits::UNKNOWN,
            };
            if let Err(e) = self
                .store
                .finish(
                    self.kref(a.key),
                    self.bref(a.bucket),
                    a.reservation,
                    &finish,
                    now,
                    &self.policy,
                )
                .await
            {
                tracing::warn!(key_id = %self.keys[a.key].key_id, error = %e,
                    "a cancelled request's reservation could not be finished");
            }
        }
    }

    /// Picks a key for the request and reserves its capacity.
    ///
    /// Order: pool keys for `model` (another project first when `avoid_project` is set), then the
    /// `GEMINI_API_KEY` fallback, then the same for each of `also_models`.
    ///
    /// # Errors
    /// [`PoolError::Exhausted`] with every key's state and the earliest time one frees up;
    /// [`PoolError::UnknownModel`]; [`PoolError::TooLarge`]; or a store failure.
    pub async fn select(&self, req: &SelectRequest<'_>) -> Result<Lease, PoolError> {
        self.finish_abandoned().await;
        let now = self.clock.now_ms();
        let models = 1 + req.also_models.len();
        for (i, model) in std::iter::once(req.model)
            .chain(req.also_models.iter().copied())
            .enumerate()
        {
            if i + 1 < models && self.overload.cooling_until(model_id(model), now).is_some() {
                // Overloaded upstream (repeated 503s): on to the next model the caller accepts.
                // The last one is tried anyway, after the backoff.
                continue;
            }
            let cands = self.primary_for(model);
            if req.avoid_project.is_some() {
                if let Some(l) = self.pick(cands, req, now).await? {
                    return Ok(l);
                }
                let relaxed = SelectRequest {
                    avoid_project: None,
                    ..*req
                };
                if let Some(l) = self.pick(cands, &relaxed, now).await? {
                    return Ok(l);
                }
            } else if let Some(l) = self.pick(cands, req, now).await? {
                return Ok(l);
            }
            if let Some(c) = self.secondary_for(model)
                && !req.exclude.contains(&c.key)
                && req.project.is_none_or(|p| p == c.project)
                && let Some(l) = self.commit(&c, req, now).await?
            {
                return Ok(l);
            }
        }
        Err(self.exhausted(req, now))
    }

    /// Like [`Self::select`], but waits (on the pool's clock) for capacity up to `max_wait`.
    ///
    /// # Errors
    /// As [`Self::select`], when nothing frees up within `max_wait`.
    pub async fn select_wait(
        &self,
        req: &SelectRequest<'_>,
        max_wait: Duration,
    ) -> Result<Lease, PoolError> {
        let deadline = self
            .clock
            .now_ms()
            .saturating_add(i64::try_from(max_wait.as_millis()).unwrap_or(i64::MAX));
        loop {
            match self.select(req).await {
                Err(PoolError::Exhausted(e)) => match e.earliest_free {
                    Some(t) if t <= deadline => {
                        let now = self.clock.now_ms();
                        let ms = u64::try_from((t - now).max(1)).unwrap_or(1);
                        self.clock.sleep(Duration::from_millis(ms)).await;
                    }
                    _ => return Err(PoolError::Exhausted(e)),
                },
                other => return other,
            }
        }
    }

    fn block(&self, c: &Candidate, req: &SelectRequest<'_>, now: Millis) -> KeyBlock {
        let key_id = self.keys[c.key].key_id.clone();
        let health = self.store.key_health(self.kref(c.key)).ok();
        let view = self
            .store
            .bucket_view(self.bref(c.bucket), req.tokens, now)
            .ok();
        let state = health.as_ref().map_or(KeyState::Disabled, |h| h.state(now));
        let secs = |t: Millis| (t - now).max(0) as f64 / 1000.0;
        let model = self.buckets[c.bucket].model();
        if state != KeyState::Disabled
            && let Some(until) = self.overload.cooling_until(model, now)
        {
            return KeyBlock {
                key_id,
                state,
                reason: format!(
                    "model {model} is overloaded upstream (503s), {:.1} s until it is tried again",
                    secs(until)
                ),
                free_at: Some(until),
            };
        }
        let (reason, free_at) = match (&health, state) {
            (Some(h), KeyState::Disabled) => (
                format!(
                    "disabled ({})",
                    h.disabled_reason.as_deref().unwrap_or("unknown")
                ),
                None,
            ),
            (Some(h), KeyState::CoolingDown) => (
                format!(
                    "cooling down after errors, {:.1} s left",
                    secs(h.cooldown_until)
                ),
                Some(h.cooldown_until),
            ),
            (Some(h), KeyState::HalfOpen) if h.trial_until > now => (
                "half-open: a trial request is in flight".to_owned(),
                Some(h.trial_until),
            ),
            _ if req.exclude.contains(&c.key) => {
                ("already tried for this request".to_owned(), None)
            }
            _ => match view.map(|v| v.check) {
                Some(Check::Full { retry_at, limit }) => {
                    let what = match limit {
                        LimitKind::Rpm => "RPM limit reached",
                        LimitKind::Tpm => "TPM limit reached",
                        LimitKind::Rpd => "RPD limit reached (resets at Pacific midnight)",
                        LimitKind::Cooldown => match view.and_then(|v| v.cooldown) {
                            Some((_, CooldownReason::QuotaExhausted)) => "daily quota spent (429)",
                            _ => "rate limited by upstream (429)",
                        },
                    };
                    (
                        format!("{what}, frees in {:.1} s", secs(retry_at)),
                        Some(retry_at),
                    )
                }
                Some(Check::TooLarge) => (
                    format!(
                        "request of {} tokens exceeds TPM limit {}",
                        req.tokens,
                        self.effective(c.bucket, now).tpm.unwrap_or(0)
                    ),
                    None,
                ),
                Some(Check::Room { .. }) => ("busy (taken concurrently)".to_owned(), Some(now)),
                None => ("state unavailable".to_owned(), None),
            },
        };
        KeyBlock {
            key_id,
            state,
            reason,
            free_at,
        }
    }

    fn exhausted(&self, req: &SelectRequest<'_>, now: Millis) -> PoolError {
        let mut cands: Vec<Candidate> = Vec::new();
        for model in std::iter::once(req.model).chain(req.also_models.iter().copied()) {
            cands.extend_from_slice(self.primary_for(model));
            cands.extend(self.secondary_for(model));
        }
        if cands.is_empty() {
            let mut available: Vec<&str> = self.primary.keys().map(String::as_str).collect();
            available.sort_unstable();
            return PoolError::UnknownModel {
                model: req.model.to_owned(),
                available: available.join(", "),
            };
        }
        let too_large = cands.iter().all(|c| {
            matches!(
                self.store
                    .bucket_view(self.bref(c.bucket), req.tokens, now)
                    .map(|v| v.check),
                Ok(Check::TooLarge)
            )
        });
        if too_large {
            return PoolError::TooLarge {
                model: req.model.to_owned(),
                tokens: req.tokens,
                limit: cands
                    .iter()
                    .filter_map(|c| self.effective(c.bucket, now).tpm)
                    .max()
                    .unwrap_or(0),
            };
        }
        let keys: Vec<KeyBlock> = cands.iter().map(|c| self.block(c, req, now)).collect();
        let earliest_free = keys.iter().filter_map(|k| k.free_at).min();
        PoolError::Exhausted(Box::new(Exhausted {
            model: req.model.to_owned(),
            at: now,
            keys,
            earliest_free,
        }))
    }
}
