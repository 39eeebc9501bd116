//! The simulator's state and what every route shares: keys, projects and their quotas, stats,
//! fault dice, scripted replies, and answers in Google's shapes (below every route module).

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use parking_lot::Mutex;
use serde::Serialize;
use serde_json::{Value, json};

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
pub(crate) enum Tally {
    Success,
    RateLimited,
    Overloaded,
    Error,
}

impl Tally {
    /// The tally of a failed answer with this HTTP status.
    pub(crate) fn of_status(status: u16) -> Tally {
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
    pub(crate) config: SimConfig,
    pub(crate) clock: SimClock,
    /// Served (listed and hidden).
    pub(crate) models: Vec<String>,
    /// What `ListModels` shows.
    pub(crate) listed: Vec<String>,
    pub(crate) keys: HashMap<String, usize>,
    pub(crate) quotas: Mutex<Quotas>,
    pub(crate) stats: Mutex<Stats>,
    pub(crate) scripts: Mutex<Vec<usize>>,
    pub(crate) rng: Mutex<fastrand::Rng>,
    /// Files, uploads and caches, each in its project.
    pub(crate) books: Mutex<crate::books::Books>,
    /// Batches and interactions, each in its project.
    pub(crate) jobs: Mutex<crate::books::Jobs>,
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

pub(crate) fn field<'a>(v: &'a Value, camel: &str, snake: &str) -> Option<&'a Value> {
    v.get(camel).or_else(|| v.get(snake))
}

pub(crate) fn camel(name: &str) -> String {
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
pub(crate) fn validate(body: &Value) -> Result<(), Value> {
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

pub(crate) fn response_id() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    (0..22)
        .map(|_| char::from(ALPHABET[fastrand::usize(..ALPHABET.len())]))
        .collect()
}

/// A reply ready to be sent.
pub(crate) struct Reply {
    pub(crate) text: String,
    pub(crate) prompt: u64,
    pub(crate) candidates: u64,
    pub(crate) thoughts: u64,
    pub(crate) finish: &'static str,
}

impl Reply {
    pub(crate) fn usage(&self, candidates: Option<u64>) -> Value {
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
            books: Mutex::new(crate::books::Books::default()),
            jobs: Mutex::new(crate::books::Jobs::default()),
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

    pub(crate) fn tally(&self, caller: &Caller, t: Tally) {
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

    pub(crate) fn count_request(&self, caller: &Caller) {
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

    pub(crate) fn limits(&self, project: &str, model: &str) -> Option<LimitConfig> {
        self.config.projects.get(project)?.get(model).copied()
    }

    pub(crate) fn roll_fault(&self, caller: &Caller, model: &str) -> Option<(FaultKind, u64)> {
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

    pub(crate) fn reply_for(&self, model: &str, body: &Value, prompt: u64) -> Reply {
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

pub(crate) fn broken_body() -> Body {
    let s = futures_util::stream::once(async {
        Err::<Bytes, std::io::Error>(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "injected connection reset",
        ))
    });
    Body::from_stream(s)
}

/// The first of `events`, then silence for `stall`, then the end (a stalled, cut-off stream).
pub(crate) fn stalled_sse_response(mut events: Vec<Vec<u8>>, stall: Duration) -> Response {
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

pub(crate) fn sse_response(events: Vec<Vec<u8>>) -> Response {
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

pub(crate) fn chunk_text(text: &str) -> Vec<String> {
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

/// Input tokens of a request: its contents and system instruction. `countTokens` and
/// `generateContent` both use this, so they always agree.
pub(crate) fn prompt_tokens(request: &Value) -> u64 {
    tokens_of(
        text_chars(request.get("contents"))
            + text_chars(field(request, "systemInstruction", "system_instruction")),
    )
}

/// Injected faults that are plain error answers: (status, body).
pub(crate) fn fault_error(kind: FaultKind, compat: bool) -> Option<(u16, Value)> {
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
        FaultKind::Unauthenticated => e(
            401,
            "UNAUTHENTICATED",
            "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.",
        ),
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

pub(crate) fn unary_body(reply: &Reply, model: &str) -> Value {
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
