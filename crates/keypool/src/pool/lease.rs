//! What a request asks of the pool, what it is granted, and how the call ended.

use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;

use crate::clock::Millis;
use crate::limits::Limits;

/// What one request asks of the pool.
#[derive(Debug, Clone, Copy)]
pub struct SelectRequest<'a> {
    /// The model wanted.
    pub model: &'a str,
    /// Estimated input tokens, reserved against TPM until the outcome is reported.
    pub tokens: u64,
    /// Other models the caller accepts, in order, when no key serves `model`.
    pub also_models: &'a [&'a str],
    /// Keys not to use (already tried for this request), as returned by [`Lease::key_index`].
    pub exclude: &'a [usize],
    /// Prefer keys outside this project (after a per-minute 429 on it).
    pub avoid_project: Option<usize>,
    /// Only keys of this project ([`crate::KeyPool::project_index`]): the request names a resource
    /// that lives there (an uploaded file, a cache), which no other project can read.
    pub project: Option<usize>,
}

impl<'a> SelectRequest<'a> {
    /// A request for `model` of `tokens` estimated input tokens.
    pub fn new(model: &'a str, tokens: u64) -> Self {
        Self {
            model,
            tokens,
            also_models: &[],
            exclude: &[],
            avoid_project: None,
            project: None,
        }
    }
}

/// A granted key with its reservation. Report it exactly once with [`crate::KeyPool::report`].
///
/// A lease dropped without a report (the caller's request was cancelled: a client hung up, a
/// future was dropped mid-call) is not lost: the pool finishes it at its next operation, as a
/// call that ended then with no verdict on the key, so its slot frees a window later (not after
/// the 15-minute hold) and a half-open trial it held is given back.
#[derive(Debug)]
#[must_use = "a lease holds a reservation: report its outcome"]
pub struct Lease {
    pub(super) key: usize,
    pub(super) bucket: usize,
    pub(super) project: usize,
    pub(super) reservation: u64,
    pub(super) tokens: u64,
    pub(super) trial: bool,
    pub(super) fallback: bool,
    pub(super) granted_at: Millis,
    /// Where a lease dropped unreported goes; `None` once reported.
    pub(super) abandoned: Option<Arc<Mutex<Vec<Abandoned>>>>,
}

/// What the pool needs to finish a lease that was dropped unreported.
#[derive(Debug, Clone, Copy)]
pub(super) struct Abandoned {
    pub(super) key: usize,
    pub(super) bucket: usize,
    pub(super) reservation: u64,
    pub(super) trial: bool,
}

/// Guards a reservation's round trip to a shared store: a request cancelled while it is in
/// flight (the reservation may have landed, its answer not) is finished by its id at the pool's
/// next operation, like a dropped lease, half-open trial included (released only if this
/// reservation holds it).
pub(super) struct InFlight<'a> {
    pub(super) queue: &'a Mutex<Vec<Abandoned>>,
    pub(super) entry: Option<Abandoned>,
}

impl InFlight<'_> {
    pub(super) fn landed(mut self) {
        self.entry = None;
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if let Some(entry) = self.entry.take() {
            self.queue.lock().push(entry);
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(queue) = self.abandoned.take() {
            queue.lock().push(Abandoned {
                key: self.key,
                bucket: self.bucket,
                reservation: self.reservation,
                trial: self.trial,
            });
        }
    }
}

impl Lease {
    /// When the reservation was granted, on the store's clock (Redis: the server's).
    pub fn granted_at(&self) -> Millis {
        self.granted_at
    }
    /// The key's index (for [`SelectRequest::exclude`]).
    pub fn key_index(&self) -> usize {
        self.key
    }
    /// The project's index (for [`SelectRequest::avoid_project`]).
    pub fn project_index(&self) -> usize {
        self.project
    }
    /// Whether this is a half-open trial.
    pub fn is_trial(&self) -> bool {
        self.trial
    }
    /// Whether this is the `GEMINI_API_KEY` fallback.
    pub fn is_fallback(&self) -> bool {
        self.fallback
    }
    /// Estimated tokens reserved.
    pub fn reserved_tokens(&self) -> u64 {
        self.tokens
    }
}

/// How a call ended, in the classes of DESIGN.md §3. `detail` is a short text such as
/// `503 UNAVAILABLE`; it must not contain key material.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Answered; `input_tokens` is `usageMetadata.promptTokenCount`.
    Success {
        /// Real input tokens, replacing the estimate.
        input_tokens: u64,
    },
    /// 429 with a per-minute quota: the bucket cools for `retry_after` (60 s when unknown).
    RateLimited {
        /// `RetryInfo.retryDelay`.
        retry_after: Option<Duration>,
        /// Short description.
        detail: String,
        /// The limits the 429's `quotaValue`s report (learned for the bucket).
        learned: Limits,
    },
    /// 429 with a per-day quota: the bucket cools until the next Pacific midnight.
    QuotaExhausted {
        /// Short description.
        detail: String,
        /// The limits the 429's `quotaValue`s report (learned for the bucket).
        learned: Limits,
    },
    /// 503 `UNAVAILABLE` ("overloaded", "high demand"): the model's state, not the key's. No key
    /// penalty; the request moves to a fallback model or, with none, to another key after a
    /// backoff; the model cools when it repeats.
    Overloaded {
        /// Short description.
        detail: String,
    },
    /// 500, 504, timeout, reset, unreadable body.
    Transient {
        /// Short description.
        detail: String,
    },
    /// 400 `API_KEY_INVALID`, 401, 403: the key is deactivated.
    KeyBroken {
        /// Short description.
        detail: String,
    },
    /// Any other 400, or 404: the request is wrong; no penalty, no retry.
    CallerFault {
        /// Short description.
        detail: String,
    },
    /// The request never reached upstream: the reservation is given back.
    NotSent,
}

impl Outcome {
    /// The class label (`success`, `rate_limited`, …) for logs and metrics.
    pub fn class(&self) -> &'static str {
        match self {
            Outcome::Success { .. } => "success",
            Outcome::RateLimited { .. } => "rate_limited",
            Outcome::QuotaExhausted { .. } => "quota_exhausted",
            Outcome::Transient { .. } => "transient",
            Outcome::Overloaded { .. } => "overloaded",
            Outcome::KeyBroken { .. } => "key_broken",
            Outcome::CallerFault { .. } => "caller_fault",
            Outcome::NotSent => "not_sent",
        }
    }
}

/// What the caller should do after a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Finished (success).
    Done,
    /// Try another key.
    TryAnotherKey,
    /// Try a key of another project (the bucket is out of quota).
    TryAnotherProject,
    /// Give the answer to the caller as it is.
    ReturnToCaller,
    /// The model is overloaded: move to the caller's next fallback model at once, or, with
    /// none left, try another key after a jittered backoff.
    Backoff,
}
