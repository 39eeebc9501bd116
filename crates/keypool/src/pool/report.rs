//! Reports: what an outcome changes (applied by the store in one step) and what the caller
//! does next.

use std::time::Duration;

use super::KeyPool;
use super::lease::{Lease, Outcome, Verdict};
use crate::clock::{Millis, next_pacific_midnight};
use crate::error::PoolError;
use crate::limits::Limits;
use crate::store::{Finish, KeyEvent, StateStore, Tokens};
use crate::window::CooldownReason;

impl<S: StateStore> KeyPool<S> {
    /// Reports how a leased call ended: reconciles tokens, updates health and cooldowns, and
    /// says what the caller should do next.
    ///
    /// # Errors
    /// A store failure.
    pub async fn report(&self, mut lease: Lease, outcome: &Outcome) -> Result<Verdict, PoolError> {
        lease.abandoned = None;
        self.report_ref(&lease, outcome).await
    }

    /// Reports the outcome of a call whose answer the caller gets whatever happens: a store
    /// that fails to take the report is tried once more, and then the failure is logged (the
    /// reservation then frees itself after [`crate::INFLIGHT_HOLD_MS`]); the answer is never
    /// lost for want of a report (issue 14).
    pub async fn report_answered(&self, mut lease: Lease, outcome: &Outcome) {
        lease.abandoned = None;
        let mut last = None;
        for _ in 0..2 {
            match self.report_ref(&lease, outcome).await {
                Ok(_) => return,
                Err(e) => last = Some(e),
            }
        }
        if let Some(e) = last {
            tracing::warn!(key_id = %self.keys[lease.key].key_id, class = outcome.class(), error = %e,
                "the answer went to the caller, but its outcome could not be recorded");
        }
    }

    async fn report_ref(&self, lease: &Lease, outcome: &Outcome) -> Result<Verdict, PoolError> {
        let now = self.clock.now_ms();
        let (finish, verdict) = self.plan(lease, outcome, now);
        self.store
            .finish(
                self.kref(lease.key),
                self.bref(lease.bucket),
                lease.reservation,
                &finish,
                now,
                &self.policy,
            )
            .await?;
        if !matches!(outcome, Outcome::NotSent) {
            let tokens = match outcome {
                Outcome::Success { input_tokens } => *input_tokens,
                _ => 0,
            };
            let upstream_ms = u64::try_from(now - lease.granted_at).unwrap_or(0);
            self.activity
                .call(lease.key, outcome.class(), tokens, upstream_ms);
        }
        Ok(verdict)
    }

    /// What an outcome changes (applied by the store in one step) and what the caller does next.
    fn plan<'o>(&self, lease: &Lease, outcome: &'o Outcome, now: Millis) -> (Finish<'o>, Verdict) {
        let class = outcome.class();
        let ms = |d: Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        let finish = |tokens, key| Finish {
            trial: lease.trial,
            tokens,
            cool_bucket: None,
            key,
            learn: Limits::UNKNOWN,
        };
        let model = self.buckets[lease.bucket].model();
        match outcome {
            Outcome::Success { input_tokens } => {
                self.overload.on_success(model);
                let f = finish(Tokens::Settle(*input_tokens), KeyEvent::Success);
                (f, Verdict::Done)
            }
            Outcome::RateLimited {
                retry_after,
                detail,
                learned,
            } => {
                let delay = retry_after.unwrap_or(Duration::from_secs(60));
                let until = now.saturating_add(ms(delay));
                let f = Finish {
                    cool_bucket: Some((until, CooldownReason::RateLimited)),
                    learn: *learned,
                    ..finish(Tokens::Keep, KeyEvent::RateLimited { class, detail })
                };
                (f, Verdict::TryAnotherProject)
            }
            Outcome::QuotaExhausted { detail, learned } => {
                let until = next_pacific_midnight(now);
                let f = Finish {
                    cool_bucket: Some((until, CooldownReason::QuotaExhausted)),
                    learn: *learned,
                    ..finish(Tokens::Keep, KeyEvent::RateLimited { class, detail })
                };
                (f, Verdict::TryAnotherProject)
            }
            Outcome::Transient { detail } => {
                let trial = lease.trial;
                let f = finish(Tokens::Keep, KeyEvent::Transient { trial, detail });
                (f, Verdict::TryAnotherKey)
            }
            Outcome::Overloaded { .. } => {
                self.overload.on_overloaded(model, now);
                // No verdict on the key: a trial slot is freed, nothing counts against it.
                (
                    finish(Tokens::Keep, KeyEvent::Inconclusive),
                    Verdict::Backoff,
                )
            }
            Outcome::KeyBroken { detail } => {
                tracing::warn!(key_id = %self.keys[lease.key].key_id, detail = %detail, "key deactivated");
                // Refused at the door: Google did not count it against the project.
                let f = finish(Tokens::Release, KeyEvent::Broken { detail });
                (f, Verdict::TryAnotherKey)
            }
            Outcome::CallerFault { .. } => (
                finish(Tokens::Keep, KeyEvent::Inconclusive),
                Verdict::ReturnToCaller,
            ),
            Outcome::NotSent => (
                finish(Tokens::Release, KeyEvent::Inconclusive),
                Verdict::TryAnotherKey,
            ),
        }
    }
}
