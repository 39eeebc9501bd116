//! The key pool: selection, reservation, outcome reports, failover and the health snapshot.
//!
//! Selection (DESIGN.md §3) keeps keys that serve the model, are usable (not cooling, not
//! disabled, a free half-open trial) and whose (project, model) bucket has room for the
//! request's estimated tokens, then picks one at random with probability proportional to its
//! bucket's headroom divided by the number of keys sharing that bucket (extra keys of one project
//! add no quota). It draws by rejection sampling: pick a key uniformly, accept it with
//! probability `weight / max weight`. That is exact and needs O(1) expected work while the pool
//! has room, which keeps select+report near a microsecond at 1,000 keys; after a few rejected
//! draws it scans every candidate, so a nearly full pool is still served exactly.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use parking_lot::Mutex;

use serde::Serialize;

mod failover;
mod overload;

pub use failover::{ExecuteError, Executed, FailoverPolicy, Grant, Held};

use crate::clock::{Clock, Millis, next_pacific_midnight, to_rfc3339};
use crate::config::{KeySource, KeySpec, PoolConfig, vars};
use crate::error::{Exhausted, KeyBlock, PoolError};
use crate::health::{HealthPolicy, KeyHealth, KeyState};
use crate::limits::{LimitSource, Limits};
use crate::memory_store::MemoryStore;
use crate::secret::ApiKey;
use crate::store::{
    Acquired, BucketRef, Finish, KeyEvent, KeyLayout, KeyRef, Layout, StateStore, Tokens,
};
use crate::window::{Check, CooldownReason, LimitKind};

/// Models that a key serving any model holds a bucket of its own for (besides those the
/// configuration names); every other model shares the key's project's bucket for the rest.
const KNOWN_MODELS: [&str; 9] = [
    "gemini-flash-latest",
    "gemini-flash-lite-latest",
    "gemini-pro-latest",
    "gemini-2.5-pro",
    "gemini-2.5-flash",
    "gemini-2.5-flash-lite",
    "gemini-2.0-flash",
    "gemini-2.0-flash-lite",
    "gemini-embedding-001",
];
/// The model of a key that serves any model (no `model_name`), and of the bucket a project's
/// keys share for models without a bucket of their own.
pub const ANY_MODEL: &str = "*";
/// A model's id: `models/NAME` and `NAME` are the same model.
pub fn model_id(model: &str) -> &str {
    model.strip_prefix("models/").unwrap_or(model)
}

/// The id the pool shows for `GEMINI_API_KEY`.
pub const FALLBACK_KEY_ID: &str = "GEMINI_API_KEY";

#[derive(Debug)]
struct KeyEntry {
    key_id: String,
    /// Swapped in place when the secret store rotates it ([`KeyPool::update_material`]).
    key: ArcSwap<ApiKey>,
    project: String,
    model: String,
    fallback: bool,
}

#[derive(Debug)]
struct BucketEntry {
    project: String,
    model: String,
    limits: Limits,
}

#[derive(Debug, Clone, Copy)]
struct Candidate {
    key: usize,
    bucket: usize,
    project: usize,
    /// `min keys per bucket / keys in this bucket`, so that weight = headroom × scale ≤ 1.
    scale: f64,
}

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
    /// Only keys of this project ([`KeyPool::project_index`]): the request names a resource
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

/// A granted key with its reservation. Report it exactly once with [`KeyPool::report`].
///
/// A lease dropped without a report (the caller's request was cancelled: a client hung up, a
/// future was dropped mid-call) is not lost: the pool finishes it at its next operation, as a
/// call that ended then with no verdict on the key, so its slot frees a window later (not after
/// the 15-minute hold) and a half-open trial it held is given back.
#[derive(Debug)]
#[must_use = "a lease holds a reservation: report its outcome"]
pub struct Lease {
    key: usize,
    bucket: usize,
    project: usize,
    reservation: u64,
    tokens: u64,
    trial: bool,
    fallback: bool,
    granted_at: Millis,
    /// Where a lease dropped unreported goes; `None` once reported.
    abandoned: Option<Arc<Mutex<Vec<Abandoned>>>>,
}

/// What the pool needs to finish a lease that was dropped unreported.
#[derive(Debug, Clone, Copy)]
struct Abandoned {
    key: usize,
    bucket: usize,
    reservation: u64,
    trial: bool,
}

/// Guards a reservation's round trip to a shared store: a request cancelled while it is in
/// flight (the reservation may have landed, its answer not) is finished by its id at the pool's
/// next operation, like a dropped lease, half-open trial included (released only if this
/// reservation holds it).
struct InFlight<'a> {
    queue: &'a Mutex<Vec<Abandoned>>,
    entry: Option<Abandoned>,
}

impl InFlight<'_> {
    fn landed(mut self) {
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
    /// One row per key (and per used bucket of the fallback key).
    pub keys: Vec<KeyReport>,
}

/// What [`KeyPool::update_material`] changed. Ids only, never material.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct MaterialUpdate {
    /// Keys whose material changed and was swapped in.
    pub rotated: Vec<String>,
    /// Keys the source holds no material for any more: they keep their last material.
    pub missing: Vec<String>,
    /// Rotated keys that had been deactivated as broken (invalid, revoked) and are active again.
    pub reenabled: Vec<String>,
}

/// The key pool. Cheap to share behind an `Arc`; every method takes `&self`.
#[derive(Debug)]
pub struct KeyPool<S: StateStore = MemoryStore> {
    keys: Vec<KeyEntry>,
    buckets: Vec<BucketEntry>,
    projects: Vec<String>,
    primary: HashMap<String, Vec<Candidate>>,
    primary_any: Option<Vec<Candidate>>,
    secondary: HashMap<String, Candidate>,
    secondary_any: Option<Candidate>,
    rotation: bool,
    /// The model asked for when none is named: the bucket health shows for keys that serve
    /// any model.
    default_model: String,
    store: S,
    clock: Arc<dyn Clock>,
    policy: HealthPolicy,
    overload: overload::Overload,
    /// Leases dropped without a report, finished at the next operation.
    abandoned: Arc<Mutex<Vec<Abandoned>>>,
}

#[derive(Default)]
struct Builder {
    keys: Vec<KeyEntry>,
    buckets: Vec<BucketEntry>,
    bucket_ids: HashMap<(String, String), usize>,
    projects: Vec<String>,
    project_ids: HashMap<String, usize>,
}

impl Builder {
    fn project(&mut self, name: &str) -> usize {
        if let Some(&i) = self.project_ids.get(name) {
            return i;
        }
        self.projects.push(name.to_owned());
        self.project_ids
            .insert(name.to_owned(), self.projects.len() - 1);
        self.projects.len() - 1
    }

    fn bucket(&mut self, project: &str, model: &str, limits: Limits) -> usize {
        let id = (project.to_owned(), model.to_owned());
        if let Some(&i) = self.bucket_ids.get(&id) {
            // Keys of one project that declare different limits share the smallest.
            self.buckets[i].limits = self.buckets[i].limits.min(limits);
            return i;
        }
        self.buckets.push(BucketEntry {
            project: project.to_owned(),
            model: model.to_owned(),
            limits,
        });
        self.bucket_ids.insert(id, self.buckets.len() - 1);
        self.buckets.len() - 1
    }

    /// Adds the pool's keys: the candidates per model, those for any other model, and the
    /// models that keys without a model hold buckets of their own for.
    fn pool_keys(
        &mut self,
        config: &PoolConfig,
    ) -> (HashMap<String, Vec<Candidate>>, Vec<Candidate>, Vec<String>) {
        let mut primary: HashMap<String, Vec<Candidate>> = HashMap::new();
        // The models with buckets of their own for keys that serve any model.
        let mut models: Vec<String> = KNOWN_MODELS.iter().map(|m| (*m).to_owned()).collect();
        models.extend(config.models.iter().map(|m| model_id(m).to_owned()));
        models.extend(
            config
                .keys
                .iter()
                .map(|k| k.model.clone())
                .filter(|m| m != ANY_MODEL),
        );
        models.sort();
        models.dedup();
        let mut any: Vec<Candidate> = Vec::new();
        for spec in &config.keys {
            let KeySpec {
                key_id,
                model,
                project,
                limits,
                key,
                ..
            } = spec;
            let project_name = project.clone().unwrap_or_else(|| key_id.clone());
            let project = self.project(&project_name);
            self.keys.push(KeyEntry {
                key_id: key_id.clone(),
                key: ArcSwap::from_pointee(key.clone()),
                project: project_name.clone(),
                model: model.clone(),
                fallback: false,
            });
            let key = self.keys.len() - 1;
            // A key without a model serves any: a bucket per model (declared limits hold for
            // each), and the project's bucket for the rest.
            let served: Vec<&str> = if model == ANY_MODEL {
                models.iter().map(String::as_str).collect()
            } else {
                vec![model.as_str()]
            };
            for m in served {
                let bucket = self.bucket(&project_name, m, *limits);
                primary.entry(m.to_owned()).or_default().push(Candidate {
                    key,
                    bucket,
                    project,
                    scale: 1.0,
                });
            }
            if model == ANY_MODEL {
                let bucket = self.bucket(&project_name, ANY_MODEL, *limits);
                any.push(Candidate {
                    key,
                    bucket,
                    project,
                    scale: 1.0,
                });
            }
        }
        (primary, any, models)
    }

    /// Adds `GEMINI_API_KEY`: its own project, a bucket per known model and one for the rest.
    fn fallback<'m>(
        &mut self,
        key: &ApiKey,
        pool_models: impl Iterator<Item = &'m String>,
    ) -> (HashMap<String, Candidate>, Option<Candidate>) {
        let project = self.project(FALLBACK_KEY_ID);
        self.keys.push(KeyEntry {
            key_id: FALLBACK_KEY_ID.to_owned(),
            key: ArcSwap::from_pointee(key.clone()),
            project: FALLBACK_KEY_ID.to_owned(),
            model: ANY_MODEL.to_owned(),
            fallback: true,
        });
        let key_idx = self.keys.len() - 1;
        let mut models: Vec<String> = KNOWN_MODELS.iter().map(|m| (*m).to_owned()).collect();
        models.extend(pool_models.cloned());
        models.sort();
        models.dedup();
        let mut by_model = HashMap::new();
        for m in models.iter().map(String::as_str).chain([ANY_MODEL]) {
            let bucket = self.bucket(FALLBACK_KEY_ID, m, Limits::UNKNOWN);
            by_model.insert(
                m.to_owned(),
                Candidate {
                    key: key_idx,
                    bucket,
                    project,
                    scale: 1.0,
                },
            );
        }
        let any = by_model.remove(ANY_MODEL);
        (by_model, any)
    }
}

fn with_scales(mut cands: Vec<Candidate>) -> Vec<Candidate> {
    let mut per_bucket: HashMap<usize, usize> = HashMap::new();
    for c in &cands {
        *per_bucket.entry(c.bucket).or_default() += 1;
    }
    let min = per_bucket.values().copied().min().unwrap_or(1) as f64;
    for c in &mut cands {
        c.scale = min / per_bucket.get(&c.bucket).copied().unwrap_or(1) as f64;
    }
    cands
}

/// Tuning of a pool.
#[derive(Debug, Clone, Copy)]
pub struct PoolOptions {
    /// Cooldown and half-open rules.
    pub health: HealthPolicy,
    /// Length of the RPM/TPM window: 60 s. A little more (say 60.25 s) keeps network delay
    /// and clock skew between this process and Gemini from turning an admitted request into a
    /// 429 at a window's edge, for well under 1 % of throughput. Tests shorten it.
    pub window: Duration,
}

impl Default for PoolOptions {
    fn default() -> Self {
        Self {
            health: HealthPolicy::default(),
            window: Duration::from_millis(
                u64::try_from(crate::window::WINDOW_MS).unwrap_or(60_000),
            ),
        }
    }
}

impl KeyPool<MemoryStore> {
    /// A pool with in-process state and default options.
    ///
    /// # Errors
    /// Never in practice for a fresh [`MemoryStore`]; the signature matches other backends.
    pub fn in_memory(config: &PoolConfig, clock: Arc<dyn Clock>) -> Result<Self, PoolError> {
        Self::new(config, MemoryStore::new(), clock, PoolOptions::default())
    }
}

impl<S: StateStore> KeyPool<S> {
    /// Builds the pool from a configuration and prepares `store` for it.
    ///
    /// # Errors
    /// When the store cannot be prepared.
    pub fn new(
        config: &PoolConfig,
        store: S,
        clock: Arc<dyn Clock>,
        options: PoolOptions,
    ) -> Result<Self, PoolError> {
        let policy = options.health;
        let window_ms =
            i64::try_from(options.window.as_millis()).unwrap_or(crate::window::WINDOW_MS);
        let mut b = Builder::default();
        let (mut primary, any, models) = b.pool_keys(config);
        let (mut secondary, mut secondary_any) = match &config.fallback {
            Some(key) => b.fallback(key, models.iter()),
            None => (HashMap::new(), None),
        };
        let mut primary_any = (!any.is_empty()).then(|| with_scales(any));
        if config.keys.is_empty() {
            // Single-key mode: GEMINI_API_KEY is the pool.
            for (m, c) in secondary.drain() {
                primary.insert(m, vec![c]);
            }
            primary_any = secondary_any.take().map(|c| vec![c]);
        }
        let primary = primary
            .into_iter()
            .map(|(m, c)| (m, with_scales(c)))
            .collect();
        let layout = Layout {
            keys: b
                .keys
                .iter()
                .map(|k| KeyLayout {
                    key_id: k.key_id.clone(),
                    active: k.fallback
                        || config.keys.iter().any(|s| s.key_id == k.key_id && s.active),
                    fingerprint: k.key.load().fingerprint(),
                    project: k.project.clone(),
                })
                .collect(),
            buckets: b
                .buckets
                .iter()
                .map(|e| (e.project.clone(), e.model.clone()))
                .collect(),
            window_ms,
        };
        store.prepare(&layout)?;
        Ok(Self {
            keys: b.keys,
            buckets: b.buckets,
            projects: b.projects,
            primary,
            primary_any,
            secondary,
            secondary_any,
            rotation: config.rotation,
            default_model: config.default_model.clone(),
            store,
            clock,
            policy,
            overload: overload::Overload::default(),
            abandoned: Arc::default(),
        })
    }

    /// The model asked for when a command or request names none (`BOTFORGE_MODEL`, else
    /// `gemini-flash-latest`).
    pub fn default_model(&self) -> &str {
        &self.default_model
    }

    /// The projects of the pool's keys, by index ([`SelectRequest::project`]).
    pub fn projects(&self) -> &[String] {
        &self.projects
    }

    /// The index of the project labelled `name`.
    pub fn project_index(&self, name: &str) -> Option<usize> {
        self.projects.iter().position(|p| p == name)
    }

    /// A model that keys of project `project` serve: the default model when they do, else the
    /// first one with a bucket (for calls that are about a project's resources, not a model).
    pub fn model_of_project(&self, project: usize) -> Option<&str> {
        let name = self.projects.get(project)?;
        let mut models = self
            .buckets
            .iter()
            .filter(|b| &b.project == name && b.model != ANY_MODEL)
            .map(|b| b.model.as_str());
        let first = models.clone().next();
        models.find(|m| *m == self.default_model).or(first)
    }

    /// The models the pool's keys serve by name (those with a bucket of their own), the
    /// default model first when served; keys without a `model_name` also take any other.
    pub fn models(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        let named = self.buckets.iter().map(|b| b.model.as_str());
        for m in std::iter::once(self.default_model.as_str())
            .filter(|d| self.buckets.iter().any(|b| b.model == *d))
            .chain(named)
        {
            if m != ANY_MODEL && !out.contains(&m) {
                out.push(m);
            }
        }
        out
    }

    /// The state backend.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// Number of keys, the fallback included.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether the pool has no key (never true for a pool built from a valid config).
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Every key: id, material (for probes only), model served (`*` for `GEMINI_API_KEY`) and
    /// whether it is the fallback.
    pub fn keys(&self) -> impl Iterator<Item = (&str, Arc<ApiKey>, &str, bool)> {
        self.keys.iter().map(|k| {
            (
                k.key_id.as_str(),
                k.key.load_full(),
                k.model.as_str(),
                k.fallback,
            )
        })
    }

    /// A lease's key id.
    pub fn key_id(&self, lease: &Lease) -> &str {
        &self.keys[lease.key].key_id
    }

    /// A lease's key material (for the request header only).
    pub fn api_key(&self, lease: &Lease) -> Arc<ApiKey> {
        self.keys[lease.key].key.load_full()
    }

    /// A lease's model.
    pub fn model(&self, lease: &Lease) -> &str {
        &self.buckets[lease.bucket].model
    }

    /// A lease's project label.
    pub fn project(&self, lease: &Lease) -> &str {
        &self.projects[lease.project]
    }

    /// A bucket's limits in force: declared, lowered by what Google's 429s taught.
    fn effective(&self, i: usize, now: Millis) -> Limits {
        let declared = self.buckets[i].limits;
        self.store
            .bucket_view(self.bref(i), 0, now)
            .map_or(declared, |v| declared.min(v.learned))
    }

    fn bref(&self, i: usize) -> BucketRef<'_> {
        let b = &self.buckets[i];
        BucketRef {
            idx: i,
            project: &b.project,
            model: &b.model,
            limits: b.limits,
        }
    }

    fn kref(&self, i: usize) -> KeyRef<'_> {
        KeyRef {
            idx: i,
            key_id: &self.keys[i].key_id,
        }
    }

    fn primary_for(&self, model: &str) -> &[Candidate] {
        let model = model_id(model);
        self.primary
            .get(model)
            .or(self.primary_any.as_ref())
            .map_or(&[], Vec::as_slice)
    }

    fn secondary_for(&self, model: &str) -> Option<Candidate> {
        let model = model_id(model);
        self.secondary.get(model).copied().or(self.secondary_any)
    }

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
    async fn finish_abandoned(&self) {
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
        let model = &self.buckets[c.bucket].model;
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
        let model = &self.buckets[lease.bucket].model;
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

    /// Swaps in rotated key material from `source` (`GEMINI_KEY_<key_id>`, `GEMINI_API_KEY` for
    /// the fallback) without a restart. Requests already running finish with the material they
    /// were granted; later ones get the new one. A key that was deactivated as broken under its
    /// old material is enabled again; an operator's deactivation stays. Keys and limits
    /// themselves come from `keys.json` and change only with a restart.
    ///
    /// # Errors
    /// A store failure while re-enabling a key (the material is swapped already).
    pub async fn update_material(
        &self,
        source: &(dyn KeySource + Sync),
    ) -> Result<MaterialUpdate, PoolError> {
        let mut update = MaterialUpdate::default();
        let mut rotated = Vec::new();
        for (i, k) in self.keys.iter().enumerate() {
            let variable = if k.fallback {
                vars::GEMINI_API_KEY.to_owned()
            } else {
                format!("{}{}", vars::GEMINI_KEY_PREFIX, k.key_id)
            };
            match source.material(&variable) {
                None => update.missing.push(k.key_id.clone()),
                Some(new) if !new.same_material(&k.key.load()) => {
                    k.key.store(Arc::new(new));
                    update.rotated.push(k.key_id.clone());
                    rotated.push(i);
                }
                Some(_) => {}
            }
        }
        for i in rotated {
            if self
                .store
                .update_key(self.kref(i), KeyHealth::on_material_rotated)
                .await?
            {
                update.reenabled.push(self.keys[i].key_id.clone());
            }
            tracing::info!(key_id = %self.keys[i].key_id, "key material rotated");
        }
        Ok(update)
    }

    /// Re-enables a key (operator action or a passing probe).
    ///
    /// # Errors
    /// [`PoolError::UnknownKeyId`] or a store failure.
    pub async fn enable(&self, key_id: &str) -> Result<(), PoolError> {
        let i = self.index_of(key_id)?;
        self.store
            .update_key(self.kref(i), KeyHealth::enable)
            .await?;
        Ok(())
    }

    /// Records that a probe with the key passed (`keys check`): see
    /// [`KeyHealth::on_probe_passed`]; a key `keys.json` or an operator disabled stays disabled.
    /// Returns whether the key is active.
    ///
    /// # Errors
    /// [`PoolError::UnknownKeyId`] or a store failure.
    pub async fn probe_passed(&self, key_id: &str) -> Result<bool, PoolError> {
        let i = self.index_of(key_id)?;
        Ok(self
            .store
            .update_key(self.kref(i), KeyHealth::on_probe_passed)
            .await?)
    }

    /// Deactivates a key.
    ///
    /// # Errors
    /// [`PoolError::UnknownKeyId`] or a store failure.
    pub async fn disable(&self, key_id: &str, reason: &str) -> Result<(), PoolError> {
        let i = self.index_of(key_id)?;
        self.store
            .update_key(self.kref(i), |h| h.disable(reason))
            .await?;
        Ok(())
    }

    fn index_of(&self, key_id: &str) -> Result<usize, PoolError> {
        self.keys
            .iter()
            .position(|k| k.key_id == key_id)
            .ok_or_else(|| PoolError::UnknownKeyId {
                key_id: key_id.to_owned(),
            })
    }

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

    /// Every key's health and its bucket's usage.
    ///
    /// # Errors
    /// A store failure.
    pub fn health(&self) -> Result<HealthSnapshot, PoolError> {
        let now = self.clock.now_ms();
        let mut rows = Vec::new();
        for (ki, k) in self.keys.iter().enumerate() {
            let h = self.store.key_health(self.kref(ki))?;
            // A key that serves any model shows the buckets of its project in use (this window
            // or today), cooling or with a learned limit, else the default model's.
            let buckets: Vec<usize> = if k.model == ANY_MODEL {
                let mine =
                    || (0..self.buckets.len()).filter(|&bi| self.buckets[bi].project == k.project);
                let used: Vec<usize> = mine()
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
                    mine()
                        .filter(|&bi| self.buckets[bi].model == self.default_model)
                        .collect()
                } else {
                    used
                }
            } else {
                self.buckets
                    .iter()
                    .position(|b| b.project == k.project && b.model == k.model)
                    .into_iter()
                    .collect()
            };
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
                    model: b.model.clone(),
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
            keys: rows,
        })
    }
}

/// Reads the pool configuration from the process environment (and `./.env`).
///
/// # Errors
/// Any [`crate::ConfigError`].
pub fn config_from_process() -> Result<PoolConfig, crate::ConfigError> {
    let env = crate::config::Environment::from_process()?;
    PoolConfig::load(&env, &env)
}
