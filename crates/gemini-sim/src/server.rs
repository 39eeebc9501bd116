//! The HTTP surface: Gemini's native routes, the OpenAI-compatible routes, and `/sim/*` for
//! tests and benchmarks.

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use parking_lot::Mutex;
use serde::Serialize;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use crate::config::{FaultKind, KeyState, LimitConfig, SimConfig};
use crate::format;
use crate::quota::{Quotas, SimClock};

/// Models served when the configuration does not list them.
pub const DEFAULT_MODELS: [&str; 11] = [
    "gemini-3.8-flash",
    "gemini-3.5-flash-lite",
    "gemini-3.1-pro-preview",
    "gemini-2.5-pro",
    "gemini-2.5-flash",
    "gemini-2.5-flash-lite",
    "gemini-flash-latest",
    "gemini-flash-lite-latest",
    "gemini-pro-latest",
    "gemini-embedding-001",
    "gemini-embedding-2",
];

/// Request counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Requests that reached a key (authenticated or not).
    pub requests: u64,
    /// Answered with HTTP 200 and a complete body.
    pub successes: u64,
    /// Answered with 429.
    pub rate_limited: u64,
    /// Answered with 503 (overloaded, high demand): the model's state, not the key's.
    pub overloaded: u64,
    /// Any other failure (auth, validation, injected faults).
    pub errors: u64,
}

/// What `/sim/stats` returns.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Stats {
    /// By key id.
    pub keys: BTreeMap<String, Counts>,
    /// By project.
    pub projects: BTreeMap<String, Counts>,
    /// Everything.
    pub total: Counts,
    /// Generate requests that asked for structured output (`responseJsonSchema` or
    /// `responseSchema` with `responseMimeType: application/json`).
    pub structured_requests: u64,
    /// Embeddings made (one per text of `embedContent`, `batchEmbedContents` or `embeddings`).
    pub embeddings: u64,
    /// Files uploaded (resumable or multipart).
    pub files_created: u64,
    /// Cached contents created.
    pub caches_created: u64,
    /// Batches created.
    pub batches_created: u64,
    /// Interactions answered.
    pub interactions_created: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tally {
    Success,
    RateLimited,
    Overloaded,
    Error,
}

impl Tally {
    /// The tally of a failed answer with this HTTP status.
    fn of_status(status: u16) -> Tally {
        match status {
            429 => Tally::RateLimited,
            503 => Tally::Overloaded,
            _ => Tally::Error,
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Caller {
    id: String,
    pub(crate) project: String,
}

/// The simulator's state.
#[derive(Debug)]
pub struct Sim {
    config: SimConfig,
    clock: SimClock,
    /// Served (listed and hidden).
    models: Vec<String>,
    /// What `ListModels` shows.
    listed: Vec<String>,
    keys: HashMap<String, usize>,
    quotas: Mutex<Quotas>,
    stats: Mutex<Stats>,
    scripts: Mutex<Vec<usize>>,
    rng: Mutex<fastrand::Rng>,
    /// Files, uploads and caches, each in its project.
    pub(crate) books: Mutex<crate::resources::Books>,
    /// Batches and interactions, each in its project.
    pub(crate) jobs: Mutex<crate::jobs::Jobs>,
    /// The latest requests' method, path and query.
    pub(crate) seen: crate::seen::Seen,
}

fn fingerprint(material: &str) -> String {
    // FNV-1a: a stable label for unconfigured keys that reveals nothing of them.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in material.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("key-{:08x}", h >> 32)
}

pub(crate) fn json_response(status: u16, body: &Value) -> Response {
    let mut r = Response::new(Body::from(format::pretty(body)));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=UTF-8"),
    );
    r
}

pub(crate) fn compat_error(status: u16, body: &Value) -> Response {
    // The OpenAI-compatible endpoint wraps the envelope in an array.
    json_response(status, &Value::Array(vec![body.clone()]))
}

pub(crate) fn text_chars(v: Option<&Value>) -> usize {
    match v {
        Some(Value::String(s)) => s.chars().count(),
        Some(Value::Array(a)) => a.iter().map(|x| text_chars(Some(x))).sum(),
        Some(Value::Object(o)) => o
            .iter()
            .map(|(k, x)| {
                if k == "text" {
                    x.as_str().map_or(0, |s| s.chars().count())
                } else if matches!(k.as_str(), "parts" | "contents") {
                    text_chars(Some(x))
                } else {
                    0
                }
            })
            .sum(),
        _ => 0,
    }
}

pub(crate) fn tokens_of(chars: usize) -> u64 {
    (chars as u64).div_ceil(4)
}

fn field<'a>(v: &'a Value, camel: &str, snake: &str) -> Option<&'a Value> {
    v.get(camel).or_else(|| v.get(snake))
}

fn camel(name: &str) -> String {
    let mut out = String::new();
    let mut up = false;
    for c in name.chars() {
        if c == '_' && !out.is_empty() {
            up = true;
        } else if up {
            out.extend(c.to_uppercase());
            up = false;
        } else {
            out.push(c);
        }
    }
    out
}

const REQUEST_FIELDS: [&str; 8] = [
    "contents",
    "systemInstruction",
    "tools",
    "toolConfig",
    "safetySettings",
    "generationConfig",
    "cachedContent",
    "labels",
];
const GENERATION_FIELDS: [&str; 22] = [
    "candidateCount",
    "stopSequences",
    "maxOutputTokens",
    "temperature",
    "topP",
    "topK",
    "seed",
    "responseMimeType",
    "responseSchema",
    "responseJsonSchema",
    "_responseJsonSchema",
    "presencePenalty",
    "frequencyPenalty",
    "responseLogprobs",
    "logprobs",
    "responseModalities",
    "speechConfig",
    "imageConfig",
    "mediaResolution",
    "enableEnhancedCivicAnswers",
    "thinkingConfig",
    "routingConfig",
];

/// Validates a `GenerateContentRequest`; the error is a 400 body.
fn validate(body: &Value) -> Result<(), Value> {
    let Some(obj) = body.as_object() else {
        return Err(format::bad_request(
            "Invalid JSON payload received. Expected an object.",
        ));
    };
    for k in obj.keys() {
        if !REQUEST_FIELDS.contains(&camel(k).as_str()) {
            return Err(format::bad_request(&format!(
                "Invalid JSON payload received. Unknown name \"{k}\": Cannot find field."
            )));
        }
    }
    let has_contents = obj
        .get("contents")
        .and_then(Value::as_array)
        .is_some_and(|a| !a.is_empty());
    if !has_contents {
        return Err(format::error_body(
            400,
            "INVALID_ARGUMENT",
            "* GenerateContentRequest.contents: contents is not specified\n",
            None,
        ));
    }
    if let Some(gc) = field(body, "generationConfig", "generation_config") {
        let Some(gc) = gc.as_object() else {
            return Err(format::bad_request(
                "Invalid JSON payload received. Unknown name \"generation_config\": Proto field is not repeating, cannot start list.",
            ));
        };
        for k in gc.keys() {
            if !GENERATION_FIELDS.contains(&camel(k).as_str()) {
                return Err(format::bad_request(&format!(
                    "Invalid JSON payload received. Unknown name \"{k}\" at 'generation_config': Cannot find field."
                )));
            }
        }
        if let Some(n) = gc
            .get("candidateCount")
            .or_else(|| gc.get("candidate_count"))
            .and_then(Value::as_i64)
            && !(1..=8).contains(&n)
        {
            return Err(format::error_body(
                400,
                "INVALID_ARGUMENT",
                &format!("Invalid value of candidate_count: should be between 1 and 8, got {n}"),
                None,
            ));
        }
    }
    Ok(())
}

fn response_id() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    (0..22)
        .map(|_| char::from(ALPHABET[fastrand::usize(..ALPHABET.len())]))
        .collect()
}

/// A reply ready to be sent.
struct Reply {
    text: String,
    prompt: u64,
    candidates: u64,
    thoughts: u64,
    finish: &'static str,
}

impl Reply {
    fn usage(&self, candidates: Option<u64>) -> Value {
        let mut u = json!({"promptTokenCount": self.prompt});
        if let Some(c) = candidates {
            u["candidatesTokenCount"] = json!(c);
        }
        let total = self.prompt + candidates.unwrap_or(0) + self.thoughts;
        u["totalTokenCount"] = json!(total);
        u["promptTokensDetails"] = json!([{"modality": "TEXT", "tokenCount": self.prompt}]);
        if self.thoughts > 0 {
            u["thoughtsTokenCount"] = json!(self.thoughts);
        }
        u
    }
}

impl Sim {
    /// A simulator for `config`.
    pub fn new(config: SimConfig) -> Arc<Self> {
        let keys = config
            .keys
            .iter()
            .enumerate()
            .map(|(i, k)| (k.key.clone(), i))
            .collect();
        let listed = config
            .models
            .clone()
            .unwrap_or_else(|| DEFAULT_MODELS.iter().map(|m| (*m).to_owned()).collect());
        let models = listed
            .iter()
            .chain(&config.hidden_models)
            .cloned()
            .collect();
        let rng = config
            .seed
            .map_or_else(fastrand::Rng::new, fastrand::Rng::with_seed);
        let start = chrono::Utc::now().timestamp_millis();
        Arc::new(Self {
            clock: SimClock::new(start, config.time_scale),
            scripts: Mutex::new(vec![0; config.faults.len()]),
            config,
            models,
            listed,
            keys,
            quotas: Mutex::new(Quotas::default()),
            stats: Mutex::new(Stats::default()),
            rng: Mutex::new(rng),
            books: Mutex::new(crate::resources::Books::default()),
            jobs: Mutex::new(crate::jobs::Jobs::default()),
            seen: crate::seen::Seen::default(),
        })
    }

    /// A copy of the counters.
    pub fn stats(&self) -> Stats {
        self.stats.lock().clone()
    }

    /// `METHOD /path?query` of the latest requests (up to 4096), oldest first, as received.
    pub fn requests_seen(&self) -> Vec<String> {
        self.seen.lines()
    }

    /// Clears counters, quota books and fault scripts.
    pub fn reset(&self) {
        *self.stats.lock() = Stats::default();
        self.quotas.lock().clear();
        self.scripts.lock().iter_mut().for_each(|c| *c = 0);
        self.books.lock().clear();
        self.jobs.lock().clear();
        self.seen.clear();
    }

    /// Now on the simulator's clock (time-scaled).
    pub(crate) fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// The counters, to change.
    pub(crate) fn stats_mut(&self) -> parking_lot::MutexGuard<'_, Stats> {
        self.stats.lock()
    }

    fn tally(&self, caller: &Caller, t: Tally) {
        let mut s = self.stats.lock();
        let bump = |c: &mut Counts| match t {
            Tally::Success => c.successes += 1,
            Tally::RateLimited => c.rate_limited += 1,
            Tally::Overloaded => c.overloaded += 1,
            Tally::Error => c.errors += 1,
        };
        bump(s.keys.entry(caller.id.clone()).or_default());
        bump(s.projects.entry(caller.project.clone()).or_default());
        bump(&mut s.total);
    }

    fn count_request(&self, caller: &Caller) {
        let mut s = self.stats.lock();
        s.keys.entry(caller.id.clone()).or_default().requests += 1;
        s.projects
            .entry(caller.project.clone())
            .or_default()
            .requests += 1;
        s.total.requests += 1;
    }

    /// Authenticates; the error is (status, body).
    pub(crate) fn authenticate(&self, key: Option<&str>) -> Result<Caller, (u16, Value)> {
        let Some(key) = key.filter(|k| !k.is_empty()) else {
            return Err((403, format::no_key()));
        };
        if self.config.keys.is_empty() {
            let id = fingerprint(key);
            return Ok(Caller {
                project: id.clone(),
                id,
            });
        }
        let Some(&i) = self.keys.get(key) else {
            return Err((400, format::api_key_invalid()));
        };
        let k = &self.config.keys[i];
        let caller = Caller {
            id: k.id.clone(),
            project: k.project.clone().unwrap_or_else(|| k.id.clone()),
        };
        self.count_request(&caller);
        match k.state {
            KeyState::Valid => Ok(caller),
            KeyState::Invalid => {
                self.tally(&caller, Tally::Error);
                Err((400, format::api_key_invalid()))
            }
            KeyState::Revoked => {
                self.tally(&caller, Tally::Error);
                Err((403, format::key_revoked()))
            }
            KeyState::Denied => {
                self.tally(&caller, Tally::Error);
                Err((403, format::caller_denied()))
            }
            KeyState::Suspended => {
                self.tally(&caller, Tally::Error);
                Err((403, format::consumer_suspended(&k.key)))
            }
        }
    }

    /// The caller of a native request (its key from `x-goog-api-key` or `?key=`), or the
    /// answer to send when the key is refused.
    pub(crate) fn caller(
        &self,
        headers: &HeaderMap,
        query: &HashMap<String, String>,
    ) -> Result<Caller, Box<Response>> {
        self.authenticate(native_key(headers, query))
            .map_err(|(status, body)| Box::new(json_response(status, &body)))
    }

    /// A call that passed validation meets what generation meets: the injected faults that
    /// answer with an error (or a reset, or a delay), then the (project, model) quota for
    /// `prompt` input tokens. `Err` is the answer to send, already counted.
    pub(crate) async fn admit(
        &self,
        caller: &Caller,
        model: &str,
        prompt: u64,
        compat: bool,
    ) -> Result<(), Response> {
        let answer = |status: u16, body: &Value| {
            self.tally(caller, Tally::of_status(status));
            if compat {
                compat_error(status, body)
            } else {
                json_response(status, body)
            }
        };
        if let Some((kind, delay)) = self.roll_fault(caller, model) {
            if let Some((status, body)) = fault_error(kind, compat) {
                return Err(answer(status, &body));
            }
            match kind {
                FaultKind::Reset => {
                    self.tally(caller, Tally::Error);
                    return Err(Response::new(broken_body()));
                }
                FaultKind::Slow => tokio::time::sleep(Duration::from_millis(delay)).await,
                _ => {}
            }
        }
        self.quota(caller, model, prompt, compat)
            .map_or(Ok(()), Err)
    }

    /// The (project, model) quota for one call of `prompt` input tokens: the 429 to send
    /// (already counted) when it is spent.
    pub(crate) fn quota(
        &self,
        caller: &Caller,
        model: &str,
        prompt: u64,
        compat: bool,
    ) -> Option<Response> {
        let now = self.clock.now_ms();
        let admitted = self.quotas.lock().admit(
            &caller.project,
            model,
            self.limits(&caller.project, model),
            prompt,
            now,
        );
        admitted.err().map(|e| {
            let body = format::quota_exceeded(e.limit, e.value, model, e.retry_secs);
            self.tally(caller, Tally::RateLimited);
            if compat {
                compat_error(429, &body)
            } else {
                json_response(429, &body)
            }
        })
    }

    /// Counts a call answered in full.
    pub(crate) fn succeeded(&self, caller: &Caller) {
        self.tally(caller, Tally::Success);
    }

    /// Counts a call refused before it was admitted (a bad body, an unknown model).
    pub(crate) fn refused(&self, caller: &Caller, status: u16) {
        self.tally(caller, Tally::of_status(status));
    }

    /// Whether `model` is served.
    pub(crate) fn serves(&self, model: &str) -> bool {
        self.models.iter().any(|m| m == model)
    }

    /// Counts embeddings made.
    pub(crate) fn embedded(&self, n: u64) {
        self.stats.lock().embeddings += n;
    }

    fn limits(&self, project: &str, model: &str) -> Option<LimitConfig> {
        self.config.projects.get(project)?.get(model).copied()
    }

    fn roll_fault(&self, caller: &Caller, model: &str) -> Option<(FaultKind, u64)> {
        let mut scripts = self.scripts.lock();
        for (i, f) in self.config.faults.iter().enumerate() {
            if f.key.as_deref().is_some_and(|k| k != caller.id)
                || f.model.as_deref().is_some_and(|m| m != model)
            {
                continue;
            }
            let fire = match (&f.script, f.probability) {
                (Some(script), _) => {
                    let n = scripts[i];
                    scripts[i] += 1;
                    script.get(n).copied().unwrap_or(false)
                }
                (None, Some(p)) => self.rng.lock().f64() < p,
                (None, None) => false,
            };
            if fire {
                return Some((f.kind, f.delay_ms));
            }
        }
        None
    }

    /// A `generateContent` answer to `body` (a request) with its (input, output) tokens, as
    /// generation gives it (for batches and interactions).
    pub(crate) fn answer_for(&self, model: &str, body: &Value) -> (Value, u64, u64) {
        let prompt = prompt_tokens(body);
        let reply = self.reply_for(model, body, prompt);
        (unary_body(&reply, model), prompt, reply.candidates)
    }

    fn reply_for(&self, model: &str, body: &Value, prompt: u64) -> Reply {
        let prompt_text =
            serde_json::to_string(body.get("contents").unwrap_or(&Value::Null)).unwrap_or_default();
        let chosen = self.config.replies.iter().find(|r| {
            r.model.as_deref().is_none_or(|m| m == model)
                && r.prompt_contains
                    .as_deref()
                    .is_none_or(|s| prompt_text.contains(s))
        });
        let (text, thoughts) = match chosen {
            Some(r) => (
                r.text.clone().unwrap_or_else(|| {
                    r.json
                        .as_ref()
                        .and_then(|j| serde_json::to_string(j).ok())
                        .unwrap_or_default()
                }),
                r.thoughts_tokens,
            ),
            None => (self.config.default_reply.clone(), 0),
        };
        let max_out = field(body, "generationConfig", "generation_config")
            .and_then(|g| field(g, "maxOutputTokens", "max_output_tokens"))
            .and_then(Value::as_u64);
        let full = tokens_of(text.chars().count());
        match max_out {
            Some(max) if thoughts >= max => Reply {
                text: String::new(),
                prompt,
                candidates: 0,
                thoughts: max,
                finish: "MAX_TOKENS",
            },
            Some(max) if thoughts + full > max => {
                let keep = usize::try_from((max - thoughts) * 4).unwrap_or(usize::MAX);
                let cut: String = text.chars().take(keep).collect();
                Reply {
                    candidates: tokens_of(cut.chars().count()),
                    text: cut,
                    prompt,
                    thoughts,
                    finish: "MAX_TOKENS",
                }
            }
            _ => Reply {
                text,
                prompt,
                candidates: full,
                thoughts,
                finish: "STOP",
            },
        }
    }
}

/// The API key of a native request: header first, then `?key=`.
pub(crate) fn native_key<'a>(
    headers: &'a HeaderMap,
    query: &'a HashMap<String, String>,
) -> Option<&'a str> {
    headers
        .get("x-goog-api-key")
        .and_then(|v| v.to_str().ok())
        .or_else(|| query.get("key").map(String::as_str))
}

pub(crate) fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .or_else(|| headers.get("x-goog-api-key").and_then(|v| v.to_str().ok()))
}

fn broken_body() -> Body {
    let s = futures_util::stream::once(async {
        Err::<Bytes, std::io::Error>(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "injected connection reset",
        ))
    });
    Body::from_stream(s)
}

/// The first of `events`, then silence for `stall`, then the end (a stalled, cut-off stream).
fn stalled_sse_response(mut events: Vec<Vec<u8>>, stall: Duration) -> Response {
    events.truncate(1);
    let first = futures_util::stream::iter(
        events
            .into_iter()
            .map(|e| Ok::<_, Infallible>(Bytes::from(e))),
    );
    let silence = futures_util::stream::once(async move {
        tokio::time::sleep(stall).await;
        Ok::<_, Infallible>(Bytes::new())
    });
    let mut r = Response::new(Body::from_stream(futures_util::StreamExt::chain(
        first, silence,
    )));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    r
}

fn sse_response(events: Vec<Vec<u8>>) -> Response {
    let stream = futures_util::stream::iter(
        events
            .into_iter()
            .map(|e| Ok::<_, Infallible>(Bytes::from(e))),
    );
    let mut r = Response::new(Body::from_stream(stream));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    r
}

fn chunk_text(text: &str) -> Vec<String> {
    // About eight words a chunk, as the service streams.
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut words = 0;
    for piece in text.split_inclusive(' ') {
        cur.push_str(piece);
        words += 1;
        if words == 8 {
            out.push(std::mem::take(&mut cur));
            words = 0;
        }
    }
    if !cur.is_empty() || out.is_empty() {
        out.push(cur);
    }
    out
}

enum Method {
    Generate,
    Stream,
    Count,
    Embed,
    BatchEmbed,
    Batch,
}

impl Method {
    fn parse(verb: &str) -> Option<Self> {
        match verb {
            "generateContent" => Some(Method::Generate),
            "streamGenerateContent" => Some(Method::Stream),
            "countTokens" => Some(Method::Count),
            "embedContent" => Some(Method::Embed),
            "batchEmbedContents" => Some(Method::BatchEmbed),
            "batchGenerateContent" => Some(Method::Batch),
            _ => None,
        }
    }
}

/// Input tokens of a request: its contents and system instruction. `countTokens` and
/// `generateContent` both use this, so they always agree.
fn prompt_tokens(request: &Value) -> u64 {
    tokens_of(
        text_chars(request.get("contents"))
            + text_chars(field(request, "systemInstruction", "system_instruction")),
    )
}

#[expect(
    clippy::too_many_lines,
    reason = "one linear pipeline: route, auth, validation, faults, quota, reply"
)]
async fn native_post(
    State(sim): State<Arc<Sim>>,
    Path(tail): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some((model, method)) = tail
        .split_once(':')
        .and_then(|(m, verb)| Some((m, Method::parse(verb)?)))
    else {
        return json_response(
            404,
            &format::error_body(404, "NOT_FOUND", "Method not found.", None),
        );
    };
    let caller = match sim.authenticate(native_key(&headers, &query)) {
        Ok(c) => c,
        Err((status, body)) => return json_response(status, &body),
    };
    let fail = |status: u16, body: &Value| {
        sim.tally(&caller, Tally::of_status(status));
        json_response(status, body)
    };
    let method_name = match method {
        Method::Count => "countTokens",
        Method::Embed => "embedContent",
        Method::BatchEmbed => "batchEmbedContents",
        Method::Batch => "batchGenerateContent",
        Method::Generate | Method::Stream => "generateContent",
    };
    if !sim.models.iter().any(|m| m == model) {
        return fail(404, &format::unknown_model(model, method_name));
    }
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return fail(
            400,
            &format::bad_request("Invalid JSON payload received. Unexpected token."),
        );
    };
    if let Method::Batch = method {
        let (status, answer) = crate::jobs::create_batch(&sim, &caller.project, model, &body);
        sim.tally(
            &caller,
            if status == 200 {
                Tally::Success
            } else {
                Tally::of_status(status)
            },
        );
        return json_response(status, &answer);
    }
    // A file or cache of another project (or none at all): Google's 403, the caller's fault.
    if let Err(e) = sim.check_resources(&caller.project, &body) {
        return fail(403, &e);
    }
    if let Method::Embed | Method::BatchEmbed = method {
        let batch = matches!(method, Method::BatchEmbed);
        return crate::embed::native(&sim, &caller, model, batch, &body).await;
    }
    if let Method::Count = method {
        let n = prompt_tokens(body.get("generateContentRequest").unwrap_or(&body));
        sim.tally(&caller, Tally::Success);
        return json_response(
            200,
            &json!({"totalTokens": n, "promptTokensDetails": [{"modality": "TEXT", "tokenCount": n}]}),
        );
    }
    if let Err(e) = validate(&body) {
        return fail(400, &e);
    }
    let prompt = prompt_tokens(&body);
    if let Some(gc) = field(&body, "generationConfig", "generation_config") {
        let schema = [
            "responseJsonSchema",
            "response_json_schema",
            "responseSchema",
            "response_schema",
        ]
        .iter()
        .any(|k| gc.get(*k).is_some());
        let json = field(gc, "responseMimeType", "response_mime_type").and_then(Value::as_str)
            == Some("application/json");
        if schema && json {
            sim.stats.lock().structured_requests += 1;
        }
    }
    let fault = sim.roll_fault(&caller, model);
    if let Some((kind, delay)) = fault {
        if let Some((status, body)) = fault_error(kind, false) {
            return fail(status, &body);
        }
        match kind {
            FaultKind::Slow => tokio::time::sleep(Duration::from_millis(delay)).await,
            FaultKind::Reset => {
                sim.tally(&caller, Tally::Error);
                return Response::new(broken_body());
            }
            FaultKind::Malformed => {
                sim.tally(&caller, Tally::Error);
                let mut r = Response::new(Body::from(
                    "{\"candidates\": [{\"content\": {\"parts\": [{\"te",
                ));
                r.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json; charset=UTF-8"),
                );
                return r;
            }
            _ => {}
        }
    }
    if let Some(answer) = sim.quota(&caller, model, prompt, false) {
        return answer;
    }
    let mut reply = sim.reply_for(model, &body, prompt);
    if fault.is_some_and(|(k, _)| k == FaultKind::MaxTokens) {
        reply.thoughts = reply.thoughts.max(reply.candidates).max(1);
        reply.candidates = 0;
        reply.text.clear();
        reply.finish = "MAX_TOKENS";
    }
    let mid_stream = fault.is_some_and(|(k, _)| k == FaultKind::MidStream);
    match method {
        Method::Generate if mid_stream => fail(
            500,
            &format::error_body(500, "INTERNAL", "Internal error encountered.", None),
        ),
        Method::Stream => {
            if let Some((FaultKind::Stall, delay)) = fault {
                sim.tally(&caller, Tally::Error);
                let events = stream_events(&reply, model, StreamEnd::Cut);
                return stalled_sse_response(events, Duration::from_millis(delay));
            }
            let broken = mid_stream || fault.is_some_and(|(k, _)| k == FaultKind::Truncated);
            sim.tally(&caller, if broken { Tally::Error } else { Tally::Success });
            let end = match fault.map(|(k, _)| k) {
                Some(FaultKind::MidStream) => StreamEnd::Error,
                Some(FaultKind::Truncated) => StreamEnd::Cut,
                _ => StreamEnd::Complete,
            };
            sse_response(stream_events(&reply, model, end))
        }
        Method::Generate | Method::Count | Method::Embed | Method::BatchEmbed | Method::Batch => {
            sim.tally(&caller, Tally::Success);
            json_response(200, &unary_body(&reply, model))
        }
    }
}

/// Injected faults that are plain error answers: (status, body).
fn fault_error(kind: FaultKind, compat: bool) -> Option<(u16, Value)> {
    let e = |code, status, message| Some((code, format::error_body(code, status, message, None)));
    match kind {
        FaultKind::Internal => e(
            500,
            "INTERNAL",
            "An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting",
        ),
        FaultKind::Unavailable => e(
            503,
            "UNAVAILABLE",
            "The model is overloaded. Please try again later.",
        ),
        FaultKind::HighDemand => e(
            503,
            "UNAVAILABLE",
            "This model is currently experiencing high demand. Spikes in demand are usually temporary. Please try again later.",
        ),
        FaultKind::Deadline => e(
            504,
            "DEADLINE_EXCEEDED",
            "Deadline expired before operation could complete.",
        ),
        FaultKind::FileDenied => e(
            403,
            "PERMISSION_DENIED",
            "You do not have permission to access the File 4s1ejtm7qfxo or it may not exist.",
        ),
        FaultKind::Denied => Some((403, format::caller_denied())),
        // The compatible endpoint has no stream-level faults of its own: a plain 500.
        FaultKind::MidStream | FaultKind::MaxTokens | FaultKind::Malformed if compat => {
            e(500, "INTERNAL", "Internal error encountered.")
        }
        FaultKind::Slow
        | FaultKind::Stall
        | FaultKind::Truncated
        | FaultKind::Reset
        | FaultKind::Malformed
        | FaultKind::MidStream
        | FaultKind::MaxTokens => None,
    }
}

fn unary_body(reply: &Reply, model: &str) -> Value {
    let mut content = json!({"role": "model"});
    if !reply.text.is_empty() {
        content["parts"] = json!([{"text": reply.text}]);
    }
    let candidates = (!reply.text.is_empty()).then_some(reply.candidates);
    json!({
        "candidates": [{"content": content, "finishReason": reply.finish, "index": 0}],
        "usageMetadata": reply.usage(candidates),
        "modelVersion": model,
        "responseId": response_id(),
    })
}

/// How a stream ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StreamEnd {
    /// The last chunk carries `finishReason`.
    Complete,
    /// After the first chunk, an error object (Google's mid-stream failure).
    Error,
    /// After the first chunk, the stream just ends: no `finishReason`, no error.
    Cut,
}

fn stream_events(reply: &Reply, model: &str, end: StreamEnd) -> Vec<Vec<u8>> {
    let id = response_id();
    let pieces = chunk_text(&reply.text);
    let mut events = Vec::new();
    let mut sent_chars = 0;
    let n = pieces.len();
    for (i, piece) in pieces.iter().enumerate() {
        sent_chars += piece.chars().count();
        let last = i + 1 == n;
        let mut cand = json!({"content": {"role": "model"}, "index": 0});
        if !piece.is_empty() {
            cand["content"]["parts"] = json!([{"text": piece}]);
        }
        let candidates = if last && end == StreamEnd::Complete {
            cand["finishReason"] = json!(reply.finish);
            reply.candidates
        } else {
            tokens_of(sent_chars).min(reply.candidates)
        };
        let shown = (!reply.text.is_empty()).then_some(candidates);
        events.push(format::sse_event(&json!({
            "candidates": [cand],
            "usageMetadata": reply.usage(shown),
            "modelVersion": model,
            "responseId": id,
        })));
        if end == StreamEnd::Cut {
            break;
        }
        if end == StreamEnd::Error {
            // After the first chunk: a bare, pretty-printed error object with no `data:`.
            let mut err = format::pretty(&format::error_body(
                499,
                "CANCELLED",
                "The operation was cancelled.",
                None,
            ));
            err.insert(0, b'\n');
            events.push(err);
            break;
        }
    }
    events
}

fn model_json(m: &str) -> Value {
    let pro = m.contains("pro");
    let methods = if m.contains("embedding") {
        json!(["embedContent", "batchEmbedContents", "countTokens"])
    } else {
        json!(["generateContent", "countTokens"])
    };
    json!({
        "name": format!("models/{m}"),
        "version": "001",
        "displayName": m.replace('-', " "),
        "description": format!("Simulated {m}"),
        "inputTokenLimit": 1_048_576,
        "outputTokenLimit": 65536,
        "supportedGenerationMethods": methods,
        "temperature": 1,
        "topP": 0.95,
        "topK": 64,
        "maxTemperature": 2,
        "thinking": m.starts_with("gemini-2.5") || m.starts_with("gemini-3") || pro,
    })
}

async fn list_models(
    State(sim): State<Arc<Sim>>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let caller = match sim.authenticate(native_key(&headers, &query)) {
        Ok(c) => c,
        Err((status, body)) => return json_response(status, &body),
    };
    sim.tally(&caller, Tally::Success);
    let models: Vec<Value> = sim.listed.iter().map(|m| model_json(m)).collect();
    json_response(200, &json!({ "models": models }))
}

async fn get_model(
    State(sim): State<Arc<Sim>>,
    Path(model): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let caller = match sim.authenticate(native_key(&headers, &query)) {
        Ok(c) => c,
        Err((status, body)) => return json_response(status, &body),
    };
    if sim.models.contains(&model) {
        sim.tally(&caller, Tally::Success);
        json_response(200, &model_json(&model))
    } else {
        sim.tally(&caller, Tally::Error);
        json_response(404, &format::unknown_model(&model, "get"))
    }
}

#[expect(
    clippy::too_many_lines,
    reason = "one linear pipeline: auth, body, faults, quota, reply in OpenAI's shape"
)]
async fn compat_chat(State(sim): State<Arc<Sim>>, headers: HeaderMap, body: Bytes) -> Response {
    let caller = match sim.authenticate(bearer(&headers)) {
        Ok(c) => c,
        Err((status, body)) => return compat_error(status, &body),
    };
    let fail = |status: u16, body: &Value| {
        sim.tally(&caller, Tally::of_status(status));
        compat_error(status, body)
    };
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return fail(400, &format::bad_request("Invalid JSON payload received."));
    };
    let model = body
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let model = model.strip_prefix("models/").unwrap_or(model).to_owned();
    if !sim.models.contains(&model) {
        return fail(404, &format::unknown_model(&model, "generateContent"));
    }
    let Some(messages) = body.get("messages").and_then(Value::as_array) else {
        return fail(400, &format::bad_request("messages: field required"));
    };
    let chars: usize = messages
        .iter()
        .map(|m| match m.get("content") {
            Some(Value::String(s)) => s.chars().count(),
            Some(Value::Array(parts)) => parts
                .iter()
                .filter_map(|p| p.get("text").and_then(Value::as_str))
                .map(|s| s.chars().count())
                .sum(),
            _ => 0,
        })
        .sum();
    let prompt = tokens_of(chars);
    let fault = sim.roll_fault(&caller, &model);
    let truncated =
        fault.is_some_and(|(k, _)| matches!(k, FaultKind::Truncated | FaultKind::Stall));
    let stall = fault
        .filter(|(k, _)| *k == FaultKind::Stall)
        .map(|(_, d)| Duration::from_millis(d));
    if let Some((kind, delay)) = fault.filter(|(k, _)| *k != FaultKind::Stall) {
        if let Some((status, body)) = fault_error(kind, true) {
            return fail(status, &body);
        }
        if kind == FaultKind::Reset {
            sim.tally(&caller, Tally::Error);
            return Response::new(broken_body());
        }
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    if let Some(answer) = sim.quota(&caller, &model, prompt, true) {
        return answer;
    }
    let native = json!({"contents": messages.iter().map(|m| json!({"parts": [{"text": m.get("content").cloned().unwrap_or(Value::Null)}]})).collect::<Vec<_>>()});
    let reply = sim.reply_for(&model, &native, prompt);
    let created = sim.clock.now_ms() / 1000;
    let id = response_id();
    let usage = json!({
        "completion_tokens": reply.candidates,
        "prompt_tokens": reply.prompt,
        "total_tokens": reply.prompt + reply.candidates + reply.thoughts,
    });
    let finish = if reply.finish == "STOP" {
        "stop"
    } else {
        "length"
    };
    let streaming = body.get("stream").and_then(Value::as_bool) == Some(true);
    sim.tally(
        &caller,
        if truncated && streaming {
            Tally::Error
        } else {
            Tally::Success
        },
    );
    if streaming {
        let pieces = chunk_text(&reply.text);
        let n = pieces.len();
        let mut events: Vec<Vec<u8>> = pieces
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let mut choice = json!({"delta": {"content": p, "role": "assistant"}, "index": 0});
                let mut chunk = json!({"choices": [], "created": created, "id": id, "model": model, "object": "chat.completion.chunk"});
                if i + 1 == n && !truncated {
                    choice["finish_reason"] = json!(finish);
                    chunk["usage"] = usage.clone();
                }
                chunk["choices"] = json!([choice]);
                format!("data: {chunk}\n\n").into_bytes()
            })
            .collect();
        if let Some(stall) = stall {
            // The first chunk, then silence, then the end.
            return stalled_sse_response(events, stall);
        }
        if truncated {
            // The first chunk, then the stream just ends: no finish_reason, no [DONE].
            events.truncate(1);
            return sse_response(events);
        }
        events.push(b"data: [DONE]\n\n".to_vec());
        return sse_response(events);
    }
    let out = json!({
        "choices": [{"finish_reason": finish, "index": 0, "message": {"content": reply.text, "role": "assistant"}}],
        "created": created,
        "id": id,
        "model": model,
        "object": "chat.completion",
        "usage": usage,
    });
    let mut r = Response::new(Body::from(out.to_string()));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

async fn compat_models(State(sim): State<Arc<Sim>>, headers: HeaderMap) -> Response {
    let caller = match sim.authenticate(bearer(&headers)) {
        Ok(c) => c,
        Err((status, body)) => return compat_error(status, &body),
    };
    sim.tally(&caller, Tally::Success);
    let data: Vec<Value> = sim
        .listed
        .iter()
        .map(|m| json!({"id": format!("models/{m}"), "object": "model", "owned_by": "google"}))
        .collect();
    json_response(200, &json!({"object": "list", "data": data}))
}

async fn stats(State(sim): State<Arc<Sim>>) -> Response {
    let mut v = serde_json::to_value(sim.stats()).unwrap_or_default();
    v["sim_time_ms"] = json!(sim.clock.now_ms());
    v["time_scale"] = json!(sim.clock.scale());
    json_response(200, &v)
}

async fn reset(State(sim): State<Arc<Sim>>) -> impl IntoResponse {
    sim.reset();
    StatusCode::NO_CONTENT
}

/// The router.
pub fn router(sim: Arc<Sim>) -> Router {
    Router::new()
        .route("/v1beta/models", get(list_models))
        .route("/v1beta/models/{tail}", post(native_post).get(get_model))
        .route("/v1beta/openai/chat/completions", post(compat_chat))
        .route("/v1beta/openai/models", get(compat_models))
        .route("/v1beta/openai/embeddings", post(crate::embed::compat))
        .route("/upload/v1beta/files", post(crate::resources::upload))
        .route("/v1beta/files", get(crate::resources::list_files))
        .route(
            "/v1beta/files/{id}",
            get(crate::resources::file).delete(crate::resources::file),
        )
        .route(
            "/v1beta/cachedContents",
            get(crate::resources::list_caches).post(crate::resources::create_cache),
        )
        .route(
            "/v1beta/cachedContents/{id}",
            get(crate::resources::cache)
                .patch(crate::resources::cache)
                .delete(crate::resources::cache),
        )
        .route("/v1beta/batches", get(crate::jobs::list_batches))
        .route(
            "/v1beta/batches/{tail}",
            get(crate::jobs::batch)
                .post(crate::jobs::batch)
                .delete(crate::jobs::batch),
        )
        .route(
            "/v1beta/interactions",
            post(crate::jobs::create_interaction),
        )
        .route(
            "/v1beta/interactions/{id}",
            get(crate::jobs::interaction).delete(crate::jobs::interaction),
        )
        .route("/sim/stats", get(stats))
        .route("/sim/reset", post(reset))
        .route("/healthz", get(|| async { "ok" }))
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&sim),
            crate::seen::record,
        ))
        .with_state(sim)
}

/// A running simulator; dropping it stops the server.
#[derive(Debug)]
pub struct SimHandle {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its state (for stats in tests).
    pub sim: Arc<Sim>,
    shutdown: Option<oneshot::Sender<()>>,
}

impl SimHandle {
    /// `http://ADDR`, for `GEMINI_BASE_URL`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Serves `sim` on `listener` until `shutdown` completes.
///
/// # Errors
/// When serving fails.
pub async fn serve(
    listener: TcpListener,
    sim: Arc<Sim>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // As Google's front ends: no Nagle delay between streamed events.
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, router(sim))
        .with_graceful_shutdown(shutdown)
        .await
}

/// Starts a simulator on `addr` (use port 0 for any free port) in the background.
///
/// # Errors
/// When the address cannot be bound.
pub async fn spawn(config: SimConfig, addr: &str) -> std::io::Result<SimHandle> {
    let listener = TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let sim = Sim::new(config);
    let (tx, rx) = oneshot::channel::<()>();
    let state = Arc::clone(&sim);
    tokio::spawn(async move {
        if let Err(e) = serve(listener, state, async {
            let _ = rx.await;
        })
        .await
        {
            tracing::error!(error = %e, "simulator stopped");
        }
    });
    Ok(SimHandle {
        addr,
        sim,
        shutdown: Some(tx),
    })
}
