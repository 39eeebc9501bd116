//! The rotating client: select a key → call → report → fail over by outcome class, within one
//! deadline, a cap on attempts and a retry budget shared by every request of this client.

use std::sync::Arc;

use keypool::{
    ApiKey, ExecuteError, FailoverPolicy, Held, KeyPool, Lease, MemoryStore, Outcome, PoolError,
    RetryBudget, SelectRequest, StateStore,
};

use crate::client::{GeminiClient, ResponseStream};
use crate::error::GeminiError;
use crate::types::{GenerateContentRequest, GenerateContentResponse, Model};

/// Why a rotated call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RotateError {
    /// No key could be had. `last` is the last upstream error when some attempt was made.
    #[error("{pool}{}", last.as_ref().map(|e| format!(" (last upstream error: {e})")).unwrap_or_default())]
    Pool {
        /// The pool's answer (every key's state, when the pool was exhausted).
        pool: PoolError,
        /// The last upstream error.
        last: Option<GeminiError>,
        /// Attempts made.
        attempts: u32,
    },
    /// Upstream refused the request itself (400, 404): returned as is, no other key tried. A
    /// 404 says where to find the models the API knows.
    #[error("{error} (key {key_id}){}", if error.api().is_some_and(|a| a.http == 404) { "; `botforge keys models` lists the models the API reports" } else { "" })]
    Rejected {
        /// The upstream error.
        error: GeminiError,
        /// The key that got it.
        key_id: String,
    },
    /// The overall deadline passed while a call was in flight.
    #[error("no answer within the deadline of {} s ({attempts} attempt(s)){}", deadline.as_secs_f64(), last.as_ref().map(|e| format!("; the last upstream error: {e}")).unwrap_or_default())]
    Deadline {
        /// The deadline.
        deadline: std::time::Duration,
        /// Attempts made.
        attempts: u32,
        /// The last upstream error before it.
        last: Option<GeminiError>,
    },
    /// Attempts, retry budget or deadline ran out.
    #[error("gave up after {attempts} attempt(s) ({why}): {last}")]
    GaveUp {
        /// The last upstream error.
        last: GeminiError,
        /// Attempts made.
        attempts: u32,
        /// `max attempts`, `retry budget` or `deadline`.
        why: &'static str,
    },
}

impl RotateError {
    /// Whether the request itself was wrong (as opposed to the pool or upstream failing).
    pub fn is_caller_error(&self) -> bool {
        matches!(
            self,
            RotateError::Rejected { .. }
                | RotateError::Pool {
                    pool: PoolError::UnknownModel { .. } | PoolError::TooLarge { .. },
                    ..
                }
        )
    }
}

impl From<ExecuteError<GeminiError>> for RotateError {
    fn from(e: ExecuteError<GeminiError>) -> Self {
        match e {
            ExecuteError::Pool {
                pool,
                last,
                attempts,
            } => RotateError::Pool {
                pool,
                last,
                attempts,
            },
            ExecuteError::Caller { error, key_id } => RotateError::Rejected { error, key_id },
            ExecuteError::GaveUp {
                last,
                attempts,
                why,
            } => RotateError::GaveUp {
                last,
                attempts,
                why,
            },
            ExecuteError::Deadline {
                deadline,
                attempts,
                last,
            } => RotateError::Deadline {
                deadline,
                attempts,
                last,
            },
            // ExecuteError is non-exhaustive; keypool has no other variant today.
            other => RotateError::Pool {
                pool: PoolError::Store(keypool::StoreError::NotPrepared),
                last: Some(GeminiError::Request(other.to_string())),
                attempts: 0,
            },
        }
    }
}

/// The pool's view of a failed call with `key` (callers box its future: it runs only after a
/// failure, and inline it would make every call's future larger). A failure that says nothing
/// certain about the key ([`GeminiError::needs_probe`]: a 401, a 403 whose fields do not name
/// the key, a timeout waiting for a whole answer, a connection broken before the answer) is
/// confirmed by a cheap probe with that key ([`GeminiClient::probe`]) before it counts: when
/// the probe passes, the key is fine and the failure was the request's (returned to the caller,
/// no key changed); when the probe is refused with 401 or 403, the key is broken; when the
/// probe fails otherwise, the failure counts as the probe's class (transient).
async fn judge(
    client: &GeminiClient,
    memo: &ProbeMemo,
    key: &ApiKey,
    e: GeminiError,
) -> (Outcome, GeminiError) {
    if !e.needs_probe() {
        return (e.outcome(), e);
    }
    let probed = if memo.passed_lately(key) {
        Ok(())
    } else {
        client.probe(key).await
    };
    let outcome = match probed {
        Ok(()) => Outcome::CallerFault {
            detail: match e.api() {
                Some(a) => format!("{} {} (the key answers probes)", a.http, a.status),
                None => format!("{} (the key answers probes)", e.kind()),
            },
        },
        Err(probe) => match probe.api() {
            Some(a) if matches!(a.http, 401 | 403) => Outcome::KeyBroken {
                detail: format!("{} {} (confirmed by a probe)", a.http, a.status)
                    .replace("  ", " "),
            },
            _ => probe.outcome(),
        },
    };
    if matches!(outcome, Outcome::CallerFault { .. }) {
        memo.passed(key);
    }
    (outcome, e)
}

/// How many sets of stored-content names [`RotatingClient::stored_tokens`] remembers.
const STORED_CAPACITY: u64 = 10_000;
/// How long it remembers one (a file lives 48 h, a cache 1 h by default).
const STORED_FOR: std::time::Duration = std::time::Duration::from_secs(3600);

/// How long a passing probe vouches for its key: failures that need a probe within this time
/// are the request's without asking again, so a client sending requests that upstream refuses
/// (another project's file, say) costs at most one probe per key per period.
const PROBE_MEMO: std::time::Duration = std::time::Duration::from_secs(10);

/// The keys that passed a probe in the last [`PROBE_MEMO`] (by a hash of their material: a
/// rotated key is probed anew).
#[derive(Debug)]
struct ProbeMemo(moka::sync::Cache<u64, ()>);

impl Default for ProbeMemo {
    fn default() -> Self {
        Self(
            moka::sync::Cache::builder()
                .max_capacity(10_000)
                .time_to_live(PROBE_MEMO)
                .build(),
        )
    }
}

impl ProbeMemo {
    fn id(key: &ApiKey) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        key.expose().hash(&mut h);
        h.finish()
    }

    fn passed_lately(&self, key: &ApiKey) -> bool {
        self.0.contains_key(&Self::id(key))
    }

    fn passed(&self, key: &ApiKey) {
        self.0.insert(Self::id(key), ());
    }
}

/// A successful call and who served it.
#[derive(Debug)]
pub struct Generated<T> {
    /// The value.
    pub value: T,
    /// The key that answered.
    pub key_id: String,
    /// The model that answered.
    pub model: String,
    /// The project of the key that answered (where a resource it created lives).
    pub project: String,
    /// Attempts used.
    pub attempts: u32,
}

/// Options of one call.
#[derive(Debug, Clone, Copy, Default)]
pub struct CallOptions<'a> {
    /// Other models the caller accepts when none of the model's keys can serve.
    pub also_models: &'a [&'a str],
    /// Only keys of this project (by label): the request names a resource that lives there.
    /// A project the pool does not know leaves the choice free.
    pub project: Option<&'a str>,
    /// The input tokens to reserve, when known better than the local estimate (a `countTokens`
    /// answer for a request naming stored files or a cache).
    pub input_tokens: Option<u64>,
}

/// A Gemini client that rotates over a key pool.
#[derive(Debug)]
pub struct RotatingClient<S: StateStore = MemoryStore> {
    pool: Arc<KeyPool<S>>,
    client: GeminiClient,
    policy: FailoverPolicy,
    budget: Arc<RetryBudget>,
    probes: Arc<ProbeMemo>,
    /// The input tokens of stored content (files, caches) by the names a request gives.
    stored: moka::sync::Cache<String, u64>,
}

impl<S: StateStore> Clone for RotatingClient<S> {
    fn clone(&self) -> Self {
        Self {
            pool: Arc::clone(&self.pool),
            client: self.client.clone(),
            policy: self.policy,
            budget: Arc::clone(&self.budget),
            probes: Arc::clone(&self.probes),
            stored: self.stored.clone(),
        }
    }
}

impl<S: StateStore> RotatingClient<S> {
    /// Rotation over `pool` with the default failover policy and retry budget, its deadline
    /// the client's wait for a whole answer (`BOTFORGE_ANSWER_TIMEOUT`).
    pub fn new(pool: Arc<KeyPool<S>>, client: GeminiClient) -> Self {
        let policy = FailoverPolicy {
            deadline: client.config().total_timeout,
            ..FailoverPolicy::default()
        };
        Self {
            pool,
            client,
            policy,
            budget: Arc::new(RetryBudget::default()),
            probes: Arc::default(),
            stored: moka::sync::Cache::builder()
                .max_capacity(STORED_CAPACITY)
                .time_to_live(STORED_FOR)
                .build(),
        }
    }

    /// Replaces the failover policy.
    #[must_use]
    pub fn with_policy(mut self, policy: FailoverPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Replaces the retry budget (shared by clones of this client).
    #[must_use]
    pub fn with_budget(mut self, budget: Arc<RetryBudget>) -> Self {
        self.budget = budget;
        self
    }

    /// The pool.
    pub fn pool(&self) -> &Arc<KeyPool<S>> {
        &self.pool
    }

    /// The plain client.
    pub fn client(&self) -> &GeminiClient {
        &self.client
    }

    /// `generateContent` with rotation. Input tokens are estimated locally for the reservation
    /// and reconciled from `usageMetadata`.
    ///
    /// # Errors
    /// [`RotateError`].
    pub async fn generate(
        &self,
        model: &str,
        request: &GenerateContentRequest,
        options: CallOptions<'_>,
    ) -> Result<Generated<GenerateContentResponse>, RotateError> {
        let estimate = options
            .input_tokens
            .unwrap_or_else(|| request.estimate_tokens());
        let client = &self.client;
        self.counted(
            model,
            estimate,
            options,
            |g| async move { client.generate(&g.api_key, g.model, request).await },
            GenerateContentResponse::prompt_tokens,
        )
        .await
    }

    /// [`Self::generate`] for a body passed through as bytes (the gateway): `estimate` input
    /// tokens are reserved and reconciled from the answer's `usageMetadata`.
    ///
    /// # Errors
    /// [`RotateError`].
    pub async fn generate_raw(
        &self,
        model: &str,
        body: bytes::Bytes,
        estimate: u64,
        options: CallOptions<'_>,
    ) -> Result<Generated<crate::RawGenerated>, RotateError> {
        self.post_raw(
            model,
            crate::RawMethod::GenerateContent,
            body,
            estimate,
            options,
        )
        .await
    }

    /// A model method whose body passes through as bytes ([`crate::RawMethod`]: generation or
    /// embeddings), rotated, limited and counted like generation: `estimate` input tokens are
    /// reserved and reconciled from the answer's `usageMetadata` when it has one.
    ///
    /// # Errors
    /// [`RotateError`].
    pub async fn post_raw(
        &self,
        model: &str,
        method: crate::RawMethod,
        body: bytes::Bytes,
        estimate: u64,
        options: CallOptions<'_>,
    ) -> Result<Generated<crate::RawGenerated>, RotateError> {
        let client = &self.client;
        let body = &body;
        self.counted(
            model,
            estimate,
            options,
            |g| async move {
                client
                    .post_raw(&g.api_key, g.model, method, body.clone())
                    .await
            },
            |r: &crate::RawGenerated| r.prompt_tokens,
        )
        .await
    }

    /// One `generateContent` call through the pool: `estimate` input tokens reserved, and
    /// reconciled from what `prompt_tokens` reads off the answer (the estimate when it has none).
    async fn counted<'p, T, F, Fut>(
        &'p self,
        model: &'p str,
        estimate: u64,
        options: CallOptions<'p>,
        mut call: F,
        prompt_tokens: impl Fn(&T) -> Option<u64>,
    ) -> Result<Generated<T>, RotateError>
    where
        F: FnMut(keypool::Grant<'p>) -> Fut,
        Fut: Future<Output = Result<T, GeminiError>>,
    {
        let req = SelectRequest {
            also_models: options.also_models,
            project: self.pin(options),
            ..SelectRequest::new(model, estimate)
        };
        let prompt_tokens = &prompt_tokens;
        let client = &self.client;
        let probes = &*self.probes;
        let done = self
            .pool
            .execute(&req, &self.policy, &self.budget, |g| {
                let key = Arc::clone(&g.api_key);
                // Boxed once here: each async layer above would otherwise hold its own copy of
                // the HTTP call's state, and the whole is moved on every request.
                let fut = Box::pin(call(g));
                async move {
                    match fut.await {
                        Ok(r) => {
                            let input_tokens = prompt_tokens(&r).unwrap_or(estimate);
                            (Outcome::Success { input_tokens }, Ok(r))
                        }
                        Err(e) => {
                            let (outcome, e) = Box::pin(judge(client, probes, &key, e)).await;
                            (outcome, Err(e))
                        }
                    }
                }
            })
            .await?;
        Ok(Generated {
            value: done.value,
            key_id: done.key_id,
            model: done.model,
            project: done.project,
            attempts: done.attempts,
        })
    }

    /// `streamGenerateContent` with rotation. A failure before the first byte fails over to
    /// another key; once the stream has started, an error reaches the caller through
    /// [`RotatingStream::next`] (and is reported to the pool).
    ///
    /// # Errors
    /// [`RotateError`] before the first byte.
    pub async fn stream(
        &self,
        model: &str,
        request: &GenerateContentRequest,
        options: CallOptions<'_>,
    ) -> Result<Generated<RotatingStream<S>>, RotateError> {
        let estimate = options
            .input_tokens
            .unwrap_or_else(|| request.estimate_tokens());
        let req = SelectRequest {
            also_models: options.also_models,
            project: self.pin(options),
            ..SelectRequest::new(model, estimate)
        };
        let client = &self.client;
        let probes = &*self.probes;
        let held: Held<ResponseStream> = self
            .pool
            .execute_held(&req, &self.policy, &self.budget, |g| {
                Box::pin(async move {
                    match client.stream(&g.api_key, g.model, request).await {
                        Ok(stream) => Ok(stream),
                        Err(e) => Err(Box::pin(judge(client, probes, &g.api_key, e)).await),
                    }
                })
            })
            .await?;
        Ok(Generated {
            value: RotatingStream {
                pool: Arc::clone(&self.pool),
                lease: Some(held.lease),
                inner: held.value,
                input_tokens: estimate,
                finished: false,
                ended: false,
            },
            key_id: held.key_id,
            model: held.model,
            project: held.project,
            attempts: held.attempts,
        })
    }

    /// `countTokens` through any key of the model. Counting is free upstream, so the
    /// reservation is given back.
    ///
    /// # Errors
    /// [`RotateError`].
    pub async fn count_tokens(
        &self,
        model: &str,
        request: &GenerateContentRequest,
        options: CallOptions<'_>,
    ) -> Result<u64, RotateError> {
        let client = &self.client;
        let req = SelectRequest {
            project: self.pin(options),
            ..SelectRequest::new(model, 0)
        };
        self.free_call(&req, |key, m| async move {
            client.count_tokens(&key, m, request).await
        })
        .await
        .map(|g| g.value)
    }

    /// The input tokens of the stored content `request` names (files that are not images, a
    /// cached content: [`GenerateContentRequest::names_stored_content`]), which only upstream
    /// knows: asked of `countTokens` (free) for those parts alone, once per model and set of
    /// names, and remembered for an hour. `None` when upstream cannot say (the local estimate
    /// then stands).
    pub async fn stored_tokens(
        &self,
        model: &str,
        request: &GenerateContentRequest,
        options: CallOptions<'_>,
    ) -> Option<u64> {
        let stored = request.stored_parts();
        let key = format!("{model} {}", stored.names().join(" "));
        if let Some(n) = self.stored.get(&key) {
            return Some(n);
        }
        let n = self.count_tokens(model, &stored, options).await.ok()?;
        self.stored.insert(key, n);
        Some(n)
    }

    /// A call about a project's resources ([`crate::RawRequest`]: Files, cached contents, batches),
    /// passed through: with a key of `project` when given (where the resource lives), else of
    /// any project (the one that answers owns what the call creates: [`Generated::project`]),
    /// serving `model` when given. It fails over like any call, counts against no quota, and a
    /// key broken by its answer is taken out as always; an answer about the request (a 403 for
    /// a resource of another project, a 404) is returned to the caller.
    ///
    /// # Errors
    /// [`RotateError`].
    pub async fn resource(
        &self,
        model: Option<&str>,
        project: Option<&str>,
        request: &crate::RawRequest,
    ) -> Result<Generated<crate::RawResponse>, RotateError> {
        let pin = project.and_then(|p| self.pool.project_index(p));
        let model = match (model, pin) {
            (Some(m), _) => Some(m),
            (None, Some(p)) => self.pool.model_of_project(p),
            (None, None) => self.pool.models().first().copied(),
        }
        .unwrap_or_else(|| self.pool.default_model())
        .to_owned();
        let req = SelectRequest {
            project: pin,
            ..SelectRequest::new(&model, 0)
        };
        let client = &self.client;
        self.free_call(&req, |key, _| async move {
            client.resource(&key, request).await
        })
        .await
    }

    /// A passed-through call that is generation by another name (an interaction): `estimate`
    /// input tokens reserved in `model`'s bucket, settled from the answer's
    /// `usage.total_input_tokens` (or `usageMetadata.promptTokenCount`), rotated and limited
    /// like generation; `options.project` pins it to the project of the resources it names.
    ///
    /// # Errors
    /// [`RotateError`].
    pub async fn resource_counted(
        &self,
        model: &str,
        estimate: u64,
        options: CallOptions<'_>,
        request: &crate::RawRequest,
    ) -> Result<Generated<crate::RawResponse>, RotateError> {
        let client = &self.client;
        self.counted(
            model,
            estimate,
            options,
            |g| async move { client.resource(&g.api_key, request).await },
            |r: &crate::RawResponse| {
                let v = r.json();
                v.pointer("/usage/total_input_tokens")
                    .or_else(|| v.pointer("/usageMetadata/promptTokenCount"))
                    .and_then(serde_json::Value::as_u64)
            },
        )
        .await
    }

    /// Probes every key deactivated for being broken (not those `keys.json` or an operator
    /// disabled) with the cheapest call ([`GeminiClient::probe`]); a key whose probe passes is
    /// enabled again, so a key wrongly deactivated heals by itself (DESIGN.md §3.1). Returns the
    /// ids of the keys enabled again.
    ///
    /// # Errors
    /// A store failure while reading health or enabling a key.
    pub async fn reprobe_broken(&self) -> Result<Vec<String>, PoolError> {
        self.pool.refresh().await?;
        let health = self.pool.health()?;
        let broken: Vec<&str> = health
            .keys
            .iter()
            .filter(|k| {
                !k.active
                    && k.last_error
                        .as_deref()
                        .is_some_and(|e| e.starts_with("key_broken"))
            })
            .map(|k| k.key_id.as_str())
            .collect();
        let mut healed = Vec::new();
        for (key_id, key, ..) in self.pool.keys() {
            if !broken.contains(&key_id) {
                continue;
            }
            match self.client.probe(&key).await {
                Ok(()) => {
                    if self.pool.probe_passed(key_id).await? {
                        tracing::warn!(key_id, "a deactivated key passed a probe: enabled again");
                        healed.push(key_id.to_owned());
                    }
                }
                Err(e) => tracing::debug!(
                    key_id,
                    class = e.outcome().class(),
                    "a deactivated key still fails its probe"
                ),
            }
        }
        Ok(healed)
    }

    /// Runs [`Self::reprobe_broken`] every `every` until the process ends.
    pub async fn reprobe_periodically(self, every: std::time::Duration) {
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(e) = self.reprobe_broken().await {
                tracing::warn!(error = %e, "could not probe the deactivated keys");
            }
        }
    }

    /// The project index `options` pins the call to.
    fn pin(&self, options: CallOptions<'_>) -> Option<usize> {
        options.project.and_then(|p| self.pool.project_index(p))
    }

    /// `GET /v1beta/models` through any key that serves `model`.
    ///
    /// # Errors
    /// [`RotateError`].
    pub async fn list_models(&self, model: &str) -> Result<Vec<Model>, RotateError> {
        let client = &self.client;
        self.free_call(&SelectRequest::new(model, 0), |key, _| async move {
            client.list_models(&key).await
        })
        .await
        .map(|g| g.value)
    }

    /// A call to Gemini's OpenAI-compatible surface (`chat/completions`, streaming or not) with
    /// rotation: failover until upstream accepts the request, then its response as is. Tokens
    /// are estimated from the messages' text and media ([`crate::estimate_chat_tokens`]); the
    /// outcome is reported when the answer ends ([`crate::Passthrough`]): an error inside a
    /// stream, or a stream cut off before its `finish_reason`, counts against the key, and the
    /// answer's `usage.prompt_tokens` settle the reservation.
    ///
    /// # Errors
    /// [`RotateError`].
    pub async fn openai(
        &self,
        model: &str,
        path: &str,
        body: bytes::Bytes,
    ) -> Result<Generated<crate::Passthrough<S>>, RotateError> {
        let estimate = crate::openai::estimate_chat_tokens(&body);
        let client = &self.client;
        let probes = &*self.probes;
        let body = &body;
        let held = self
            .pool
            .execute_held(
                &SelectRequest::new(model, estimate),
                &self.policy,
                &self.budget,
                |g| {
                    Box::pin(async move {
                        match client.openai_post(&g.api_key, path, body.clone()).await {
                            Ok(r) => Ok(r),
                            Err(e) => Err(Box::pin(judge(client, probes, &g.api_key, e)).await),
                        }
                    })
                },
            )
            .await?;
        Ok(Generated {
            value: crate::Passthrough::new(
                Arc::clone(&self.pool),
                held.lease,
                held.value,
                estimate,
                self.client.config().stream_idle_timeout,
            ),
            key_id: held.key_id,
            model: held.model,
            project: held.project,
            attempts: held.attempts,
        })
    }

    /// A call that spends no quota: the reservation is given back when it succeeds.
    async fn free_call<'p, T, F, Fut>(
        &'p self,
        req: &SelectRequest<'p>,
        call: F,
    ) -> Result<Generated<T>, RotateError>
    where
        F: Fn(std::sync::Arc<keypool::ApiKey>, &'p str) -> Fut,
        Fut: Future<Output = Result<T, GeminiError>>,
    {
        let held = self
            .pool
            .execute_held(req, &self.policy, &self.budget, |g| {
                let key = Arc::clone(&g.api_key);
                let fut = Box::pin(call(g.api_key, g.model));
                let client = &self.client;
                let probes = &*self.probes;
                async move {
                    match fut.await {
                        Ok(v) => Ok(v),
                        Err(e) => Err(Box::pin(judge(client, probes, &key, e)).await),
                    }
                }
            })
            .await?;
        self.pool
            .report_answered(held.lease, &Outcome::NotSent)
            .await;
        Ok(Generated {
            value: held.value,
            key_id: held.key_id,
            model: held.model,
            project: held.project,
            attempts: held.attempts,
        })
    }
}

/// A stream whose outcome is reported to the pool when it ends (or is dropped).
#[derive(Debug)]
pub struct RotatingStream<S: StateStore = MemoryStore> {
    pool: Arc<KeyPool<S>>,
    lease: Option<Lease>,
    inner: ResponseStream,
    input_tokens: u64,
    /// A chunk said the answer is complete (`finishReason`, or the prompt was blocked).
    finished: bool,
    /// The stream has ended (after its last chunk or its error).
    ended: bool,
}

impl<S: StateStore> RotatingStream<S> {
    /// The next chunk; `None` at the end. An error ends the stream. A stream that ends before
    /// any chunk said the answer is complete (no `finishReason`) was cut off: that is an error
    /// too, reported to the pool as a transient failure of the key (never a silently truncated
    /// answer).
    pub async fn next(&mut self) -> Option<Result<GenerateContentResponse, GeminiError>> {
        if self.ended {
            return None;
        }
        let item = self.inner.next().await;
        match &item {
            Some(Ok(chunk)) => {
                if let Some(p) = chunk.prompt_tokens() {
                    self.input_tokens = p;
                }
                self.finished |= chunk.candidates.iter().any(|c| c.finish_reason.is_some())
                    || chunk
                        .prompt_feedback
                        .as_ref()
                        .is_some_and(|f| f.block_reason.is_some());
            }
            Some(Err(e)) => {
                self.ended = true;
                self.finish(e.outcome()).await;
            }
            None if !self.finished => {
                self.ended = true;
                let cut = GeminiError::Broken(
                    "the stream ended before the answer was complete (no finishReason)".to_owned(),
                );
                self.finish(cut.outcome()).await;
                return Some(Err(cut));
            }
            None => {
                self.ended = true;
                let input_tokens = self.input_tokens;
                self.finish(Outcome::Success { input_tokens }).await;
            }
        }
        item
    }

    async fn finish(&mut self, outcome: Outcome) {
        if let Some(lease) = self.lease.take()
            && let Err(e) = self.pool.report(lease, &outcome).await
        {
            tracing::warn!(error = %e, "could not report a stream's outcome");
        }
    }
}

impl<S: StateStore> Drop for RotatingStream<S> {
    fn drop(&mut self) {
        // Dropped before its end (the client went away): only what was seen is reported. A
        // stream that had said its answer was complete succeeded; otherwise nothing is known of
        // the key, and the dropped lease ends without a verdict (its trial slot freed, its
        // tokens kept as spent), never as a success it did not see.
        if !self.finished {
            return;
        }
        if let Some(lease) = self.lease.take()
            && let Ok(handle) = tokio::runtime::Handle::try_current()
        {
            let pool = Arc::clone(&self.pool);
            let input_tokens = self.input_tokens;
            handle.spawn(async move {
                let _ = pool.report(lease, &Outcome::Success { input_tokens }).await;
            });
        }
    }
}
