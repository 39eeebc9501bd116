//! The failover loop: select a key, call, report, and try again by outcome class, within one
//! deadline, a cap on attempts and a retry budget; 503s back off with jitter and move on to the
//! caller's fallback models once the model cools (DESIGN.md §3, §3.1).

use std::sync::Arc;
use std::time::Duration;

use super::{KeyPool, Lease, Outcome, SelectRequest, Verdict, overload};
use crate::budget::RetryBudget;
use crate::clock::Millis;
use crate::error::PoolError;
use crate::secret::ApiKey;
use crate::store::StateStore;

/// Limits of the failover loop of [`crate::KeyPool::execute`].
#[derive(Debug, Clone, Copy)]
pub struct FailoverPolicy {
    /// Attempts per request, first one included.
    pub max_attempts: u32,
    /// Overall deadline per request (600 s: thinking models often take minutes to answer).
    pub deadline: Duration,
    /// Wait for capacity (up to the deadline) instead of failing when the pool is full.
    pub wait_for_capacity: bool,
}

impl Default for FailoverPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 4,
            deadline: Duration::from_secs(600),
            wait_for_capacity: false,
        }
    }
}

/// What a call through [`crate::KeyPool::execute`] sees of its key.
#[derive(Debug, Clone)]
pub struct Grant<'a> {
    /// Key id.
    pub key_id: &'a str,
    /// The material, for the request header (the one current when the key was granted).
    pub api_key: Arc<ApiKey>,
    /// The model this key was granted for.
    pub model: &'a str,
    /// The key's project label.
    pub project: &'a str,
    /// 1-based attempt number.
    pub attempt: u32,
    /// The `GEMINI_API_KEY` fallback.
    pub fallback: bool,
}

/// A successful [`crate::KeyPool::execute`].
#[derive(Debug)]
pub struct Executed<T> {
    /// The call's value.
    pub value: T,
    /// The key that answered.
    pub key_id: String,
    /// The model it answered for.
    pub model: String,
    /// The key's project label (where resources it creates live).
    pub project: String,
    /// Attempts used.
    pub attempts: u32,
}

/// A successful [`crate::KeyPool::execute_held`]: the value and the still-open lease.
#[derive(Debug)]
#[must_use = "the lease must be reported"]
pub struct Held<T> {
    /// The call's value.
    pub value: T,
    /// The lease of the attempt that succeeded; report it when the work ends.
    pub lease: Lease,
    /// The key that answered.
    pub key_id: String,
    /// The model it answered for.
    pub model: String,
    /// The key's project label (where resources it creates live).
    pub project: String,
    /// Attempts used.
    pub attempts: u32,
}

/// Why [`crate::KeyPool::execute`] gave up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExecuteError<E> {
    /// No key could be had (first attempt, or every key failed and none is left).
    #[error("{pool}")]
    Pool {
        /// The pool's answer.
        pool: PoolError,
        /// The last upstream error, when some attempt was made.
        last: Option<E>,
        /// Attempts made.
        attempts: u32,
    },
    /// Upstream said the request itself is wrong; returned as is.
    #[error("rejected by upstream: {error}")]
    Caller {
        /// The upstream error.
        error: E,
        /// The key that got it.
        key_id: String,
    },
    /// The overall deadline passed while a call was in flight (it was abandoned).
    #[error("no answer within the deadline of {} s after {attempts} attempt(s)", deadline.as_secs_f64())]
    Deadline {
        /// The deadline.
        deadline: Duration,
        /// Attempts made, the abandoned one included.
        attempts: u32,
        /// The last upstream error before it, if any.
        last: Option<E>,
    },
    /// Attempts, retry budget or deadline ran out; the last upstream error is kept.
    #[error("gave up after {attempts} attempt(s) ({why}): {last}")]
    GaveUp {
        /// The last upstream error.
        last: E,
        /// Attempts made.
        attempts: u32,
        /// `max attempts`, `retry budget` or `deadline`.
        why: &'static str,
    },
}

/// Where the failover loop goes next: the models still accepted, the keys tried, the project to
/// avoid, and the 503s met.
struct Route<'r> {
    /// The models this request accepts, in order; an overloaded one is left for the next.
    models: Vec<&'r str>,
    first: usize,
    tried: Vec<usize>,
    avoid: Option<usize>,
    overloaded: u32,
}

impl<'r> Route<'r> {
    fn new(req: &SelectRequest<'r>) -> Self {
        Self {
            // `models/NAME` is `NAME`, as the buckets name it.
            models: std::iter::once(req.model)
                .chain(req.also_models.iter().copied())
                .map(super::model_id)
                .collect(),
            first: 0,
            tried: Vec::new(),
            avoid: None,
            overloaded: 0,
        }
    }

    fn request<'s>(&'s self, req: &SelectRequest<'s>) -> SelectRequest<'s> {
        SelectRequest {
            model: self.models[self.first],
            also_models: &self.models[self.first + 1..],
            exclude: &self.tried,
            avoid_project: self.avoid,
            ..*req
        }
    }

    /// Takes a failed attempt into account; `Some(n)`: wait the backoff of the `n`-th 503.
    fn after(&mut self, verdict: Verdict, key: usize, project: usize, model: &str) -> Option<u32> {
        self.avoid = (verdict == Verdict::TryAnotherProject).then_some(project);
        let next_model = self
            .models
            .iter()
            .position(|m| *m == model)
            .map(|i| i + 1)
            .filter(|&i| i < self.models.len());
        match (verdict, next_model) {
            // Overloaded, and the caller accepts another model: on to it at once (its keys are
            // other buckets, so this key is not excluded).
            (Verdict::Backoff, Some(i)) => {
                self.first = i;
                None
            }
            // Overloaded, no model left: the same model on another key, after a backoff.
            (Verdict::Backoff, None) => {
                self.tried.push(key);
                self.overloaded += 1;
                Some(self.overloaded)
            }
            // A 429: the bucket's cooldown keeps the key out until its project has room again,
            // when it may serve this request after all (a caller waiting for capacity).
            (Verdict::TryAnotherProject, _) => None,
            _ => {
                self.tried.push(key);
                None
            }
        }
    }
}

impl<S: StateStore> KeyPool<S> {
    /// The model a lease is for: its bucket's; or, for a key that serves any model from its
    /// project's bucket for the models without one of their own, the first model of the route
    /// that has none (the one the request named, not the bucket's `*`).
    fn model_of<'p>(&'p self, lease: &Lease, route: &Route<'p>) -> &'p str {
        let bucket = self.buckets[lease.bucket].model();
        if bucket != super::ANY_MODEL {
            return bucket;
        }
        route.models[route.first..]
            .iter()
            .copied()
            .find(|m| !self.has_buckets(super::model_id(m), lease.is_fallback()))
            .unwrap_or(bucket)
    }
}

/// The jittered backoff after the `n`-th 503 of a request, within its deadline, unless no
/// attempt is left anyway.
async fn overloaded_wait<S: StateStore>(
    pool: &KeyPool<S>,
    n: u32,
    attempts: u32,
    policy: &FailoverPolicy,
    deadline: Millis,
) {
    if attempts < policy.max_attempts {
        let left = u64::try_from(deadline - pool.clock.now_ms()).unwrap_or(0);
        let wait = overload::backoff(n).min(Duration::from_millis(left));
        pool.clock.sleep(wait).await;
    }
}

impl<S: StateStore> KeyPool<S> {
    /// Runs `call` with a key, failing over by outcome class until it succeeds, the upstream
    /// says the request is wrong, or attempts / retry budget / deadline run out. Failed attempts
    /// are reported here; the successful one is **not**: its lease comes back in [`Held`] for
    /// the caller to report when the work ends (a stream, say).
    ///
    /// # Errors
    /// [`ExecuteError`]: the pool had nothing, the caller's request is wrong, or it gave up.
    pub async fn execute_held<'p, T, E, F, Fut>(
        &'p self,
        req: &SelectRequest<'p>,
        policy: &FailoverPolicy,
        budget: &RetryBudget,
        mut call: F,
    ) -> Result<Held<T>, ExecuteError<E>>
    where
        F: FnMut(Grant<'p>) -> Fut,
        Fut: Future<Output = Result<T, (Outcome, E)>>,
    {
        let start = self.clock.now_ms();
        let deadline =
            start.saturating_add(i64::try_from(policy.deadline.as_millis()).unwrap_or(i64::MAX));
        budget.deposit(start);
        // One timer for the whole request, started now: recomputing it per attempt from
        // whole-millisecond readings could end it up to a millisecond early.
        let mut expiry = self.clock.deadline(policy.deadline);
        let mut route = Route::new(req);
        let mut last: Option<E> = None;
        let mut attempts = 0u32;
        loop {
            let sreq = route.request(req);
            let remaining =
                Duration::from_millis(u64::try_from(deadline - self.clock.now_ms()).unwrap_or(0));
            // The rarer paths' futures are boxed, so the common one (select, call, report) stays
            // small: a large future is copied on every request of a gateway.
            let selected = if policy.wait_for_capacity {
                Box::pin(self.select_wait(&sreq, remaining)).await
            } else {
                self.select(&sreq).await
            };
            let lease = match selected {
                Ok(l) => l,
                Err(pool) => {
                    return Err(ExecuteError::Pool {
                        pool,
                        last,
                        attempts,
                    });
                }
            };
            attempts += 1;
            let entry = &self.keys[lease.key];
            let model = self.model_of(&lease, &route);
            let grant = Grant {
                key_id: &entry.key_id,
                api_key: entry.key.load_full(),
                model,
                project: &self.projects[lease.project],
                attempt: attempts,
                fallback: entry.fallback,
            };
            // The deadline bounds the call in flight too, not only the gaps between calls. The
            // call's future is pinned where it is made (select! would move it otherwise).
            let attempt = call(grant);
            tokio::pin!(attempt);
            let answer = tokio::select! {
                biased;
                answer = &mut attempt => answer,
                () = &mut expiry => {
                    return Err(Box::pin(self.abandon(lease, policy, attempts, last)).await);
                }
            };
            self.adopt_if_served(&lease, model, answer.as_ref().err().map(|(o, _)| o));
            let (outcome, err) = match answer {
                Ok(value) => {
                    let project = self.projects[lease.project].clone();
                    return Ok(Held {
                        value,
                        lease,
                        key_id: entry.key_id.clone(),
                        model: model.to_owned(),
                        project,
                        attempts,
                    });
                }
                Err(failure) => failure,
            };
            let key_idx = lease.key;
            let project = lease.project;
            let verdict =
                self.report(lease, &outcome)
                    .await
                    .map_err(|pool| ExecuteError::Pool {
                        pool,
                        last: None,
                        attempts,
                    })?;
            if matches!(verdict, Verdict::ReturnToCaller | Verdict::Done) {
                return Err(ExecuteError::Caller {
                    error: err,
                    key_id: entry.key_id.clone(),
                });
            }
            tracing::debug!(key_id = %entry.key_id, class = outcome.class(), attempts, "failing over");
            if let Some(wait) = route.after(verdict, key_idx, project, model) {
                Box::pin(overloaded_wait(self, wait, attempts, policy, deadline)).await;
            }
            if let Some(why) = self.give_up(policy, budget, attempts, deadline) {
                return Err(ExecuteError::GaveUp {
                    last: err,
                    attempts,
                    why,
                });
            }
            last = Some(err);
        }
    }

    /// A model served from its project's `*` bucket that upstream knew (it answered, or counted
    /// the call against a quota: `failed` is `None` or a 429) gets buckets of its own from now
    /// on.
    fn adopt_if_served(&self, lease: &Lease, model: &str, failed: Option<&Outcome>) {
        let known = failed.is_none_or(|o| {
            matches!(
                o,
                Outcome::RateLimited { .. } | Outcome::QuotaExhausted { .. }
            )
        });
        if known && self.buckets[lease.bucket].model() == super::ANY_MODEL {
            self.adopt_model(model);
        }
    }

    /// Why the failover loop stops after a failed attempt, if it does.
    fn give_up(
        &self,
        policy: &FailoverPolicy,
        budget: &RetryBudget,
        attempts: u32,
        deadline: Millis,
    ) -> Option<&'static str> {
        let now = self.clock.now_ms();
        if attempts >= policy.max_attempts {
            Some("max attempts")
        } else if now >= deadline {
            Some("deadline")
        } else if !budget.withdraw(now) {
            Some("retry budget")
        } else {
            None
        }
    }

    /// A call still in flight at the deadline: abandoned. A slow answer is not a broken key
    /// (DESIGN.md §3.1): it is reported without a verdict on the key (its trial slot freed, its
    /// tokens kept as spent).
    async fn abandon<E>(
        &self,
        lease: Lease,
        policy: &FailoverPolicy,
        attempts: u32,
        last: Option<E>,
    ) -> ExecuteError<E> {
        let detail = "no answer within the deadline".to_owned();
        if let Err(pool) = self.report(lease, &Outcome::CallerFault { detail }).await {
            return ExecuteError::Pool {
                pool,
                last: None,
                attempts,
            };
        }
        ExecuteError::Deadline {
            deadline: policy.deadline,
            attempts,
            last,
        }
    }

    /// [`Self::execute_held`] for calls that end when their future does: `call` returns the
    /// outcome to report and the result, and the successful attempt is reported too.
    ///
    /// # Errors
    /// As [`Self::execute_held`].
    pub async fn execute<'p, T, E, F, Fut>(
        &'p self,
        req: &SelectRequest<'p>,
        policy: &FailoverPolicy,
        budget: &RetryBudget,
        mut call: F,
    ) -> Result<Executed<T>, ExecuteError<E>>
    where
        F: FnMut(Grant<'p>) -> Fut,
        Fut: Future<Output = (Outcome, Result<T, E>)>,
    {
        let held = self
            .execute_held(req, policy, budget, |g| {
                let fut = call(g);
                async move {
                    match fut.await {
                        (outcome, Ok(value)) => Ok((outcome, value)),
                        (outcome, Err(e)) => Err((outcome, e)),
                    }
                }
            })
            .await?;
        let Held {
            value: (outcome, value),
            lease,
            key_id,
            model,
            project,
            attempts,
        } = held;
        self.report_answered(lease, &outcome).await;
        Ok(Executed {
            value,
            key_id,
            model,
            project,
            attempts,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_overloaded_model_hands_over_to_the_next_one_by_its_bare_name() {
        let also = ["models/gemini-2.5-flash-lite"];
        let req = SelectRequest {
            also_models: &also,
            ..SelectRequest::new("models/gemini-2.5-flash", 1)
        };
        let mut route = Route::new(&req);
        assert_eq!(route.models, ["gemini-2.5-flash", "gemini-2.5-flash-lite"]);
        // The bucket names the model bare: the request moves on at once, keeping the key.
        assert_eq!(
            route.after(Verdict::Backoff, 3, 0, "gemini-2.5-flash"),
            None
        );
        assert_eq!(route.request(&req).model, "gemini-2.5-flash-lite");
        assert!(route.tried.is_empty());
        // The last model overloaded too: another key, after the first backoff.
        assert_eq!(
            route.after(Verdict::Backoff, 3, 0, "gemini-2.5-flash-lite"),
            Some(1)
        );
        assert_eq!(route.tried, [3]);
        // A 429 leaves the key to its bucket's cooldown and avoids the project.
        assert_eq!(route.after(Verdict::TryAnotherProject, 4, 2, "x"), None);
        assert_eq!((route.tried.len(), route.avoid), (1, Some(2)));
    }
}
