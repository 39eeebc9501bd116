//! A thin Gemini REST client. One `reqwest::Client` (one connection pool) serves every key: the
//! key is given per call and travels only in the `x-goog-api-key` header, marked sensitive, never
//! in a URL (URLs end up in error messages and logs).

use std::time::Duration;

use keypool::ApiKey;
use reqwest::header::{CONTENT_TYPE, HeaderValue};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::time::{Instant, timeout, timeout_at};

use crate::error::{ApiError, GeminiError};
use crate::sse::{Event, SseParser};
use crate::types::{
    CountTokensResponse, GenerateContentRequest, GenerateContentResponse, ListModelsResponse, Model,
};

/// The public Gemini API.
pub const DEFAULT_BASE_URL: &str = "https://generativelanguage.googleapis.com";

/// The longest a probe of a key ([`GeminiClient::probe`]) may take.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// Connection settings.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// API base, without the `/v1beta` part (`GEMINI_BASE_URL`).
    pub base_url: String,
    /// TCP + TLS connect timeout.
    pub connect_timeout: Duration,
    /// Until the response headers arrive (a whole answer's, which thinking models can take
    /// minutes to write: 600 s).
    pub first_byte_timeout: Duration,
    /// The whole non-streaming call, body included (600 s).
    pub total_timeout: Duration,
    /// The longest pause between a stream's events (60 s): a stream has no total limit.
    pub stream_idle_timeout: Duration,
}

/// The default wait for a whole answer.
pub const DEFAULT_ANSWER_TIMEOUT: Duration = Duration::from_secs(600);

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            base_url: DEFAULT_BASE_URL.to_owned(),
            connect_timeout: Duration::from_secs(5),
            first_byte_timeout: DEFAULT_ANSWER_TIMEOUT,
            total_timeout: DEFAULT_ANSWER_TIMEOUT,
            stream_idle_timeout: Duration::from_secs(60),
        }
    }
}

impl ClientConfig {
    /// Defaults, with `GEMINI_BASE_URL` and `BOTFORGE_ANSWER_TIMEOUT` (whole seconds) from
    /// `env` when set; an answer timeout that is not a positive number is left at its default
    /// ([`Self::answer_timeout_of`] tells the caller).
    pub fn from_env(env: &keypool::Environment) -> Self {
        let mut c = Self::default();
        if let Some(Ok(t)) = Self::answer_timeout_of(env) {
            c.first_byte_timeout = t;
            c.total_timeout = t;
        }
        if let Some(base) = env
            .get(keypool::vars::GEMINI_BASE_URL)
            .map(str::trim)
            .filter(|b| !b.is_empty())
        {
            base.trim_end_matches('/').clone_into(&mut c.base_url);
        }
        c
    }
}

impl ClientConfig {
    /// `BOTFORGE_ANSWER_TIMEOUT` from `env`: `None` when unset, an error naming the variable
    /// when it is not a whole number of seconds from 1 to 86400.
    ///
    /// # Errors
    /// The message to show.
    pub fn answer_timeout_of(env: &keypool::Environment) -> Option<Result<Duration, String>> {
        let raw = env
            .get(keypool::vars::BOTFORGE_ANSWER_TIMEOUT)
            .map(str::trim)
            .filter(|v| !v.is_empty())?;
        Some(match raw.parse::<u64>() {
            Ok(n @ 1..=86_400) => Ok(Duration::from_secs(n)),
            _ => Err(format!(
                "{}={raw}: expected a whole number of seconds from 1 to 86400 (default 600)",
                keypool::vars::BOTFORGE_ANSWER_TIMEOUT
            )),
        })
    }
}

/// The client.
#[derive(Debug, Clone)]
pub struct GeminiClient {
    http: reqwest::Client,
    config: ClientConfig,
    /// `config.base_url`, parsed once: parsing a URL per request (host, IDNA) showed in profiles.
    base: reqwest::Url,
}

pub(crate) fn map_reqwest(e: &reqwest::Error, phase: &'static str) -> GeminiError {
    if e.is_timeout() {
        GeminiError::Timeout(phase)
    } else if e.is_connect() {
        GeminiError::Connect(redacted(e))
    } else {
        GeminiError::Broken(redacted(e))
    }
}

fn redacted(e: &reqwest::Error) -> String {
    // Our URLs carry no key, but keep reqwest's URL out of messages all the same.
    let mut s = String::new();
    let mut cur: Option<&dyn std::error::Error> = Some(e);
    while let Some(err) = cur {
        if !s.is_empty() {
            s.push_str(": ");
        }
        s.push_str(&err.to_string());
        cur = err.source();
    }
    crate::error::redact_keys(&s.replace(e.url().map_or("", reqwest::Url::as_str), "<url>"))
}

/// Checks a model id (`gemini-2.5-flash` or `models/gemini-2.5-flash`) and returns the bare id:
/// one path segment of Google's grammar, lowercase letters, digits, `.` and `-` (DESIGN.md §7).
///
/// # Errors
/// [`GeminiError::Request`] for anything else.
pub fn model_id(model: &str) -> Result<&str, GeminiError> {
    let id = model.strip_prefix("models/").unwrap_or(model);
    let ok = !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'-'));
    if ok {
        Ok(id)
    } else {
        Err(GeminiError::Request(format!(
            "invalid model name `{}` (lowercase letters, digits, `.`, `-`)",
            model.chars().take(80).collect::<String>()
        )))
    }
}

/// A streaming answer: `next()` yields chunks until the stream ends.
#[derive(Debug)]
pub struct ResponseStream {
    response: reqwest::Response,
    /// The key it was opened with: an error mid-stream is redacted by its value.
    key: ApiKey,
    parser: SseParser,
    /// The longest pause between events.
    idle: Duration,
    done: bool,
}

impl ResponseStream {
    /// The next chunk; `None` at the end. An error object sent mid-stream is an
    /// [`GeminiError::Api`]; the stream ends after any error.
    pub async fn next(&mut self) -> Option<Result<GenerateContentResponse, GeminiError>> {
        if self.done {
            return None;
        }
        loop {
            match self.parser.next_event(false) {
                Ok(Some(event)) => return Some(self.emit(event)),
                Ok(None) => {}
                Err(e) => return Some(self.fail(e)),
            }
            let chunk = match timeout(self.idle, self.response.chunk()).await {
                Err(_) => return Some(self.fail(GeminiError::Timeout("stream"))),
                Ok(Err(e)) => return Some(self.fail(map_reqwest(&e, "stream"))),
                Ok(Ok(c)) => c,
            };
            let Some(bytes) = chunk else {
                self.done = true;
                return match self.parser.next_event(true) {
                    Ok(Some(event)) => Some(self.emit(event)),
                    Ok(None) => None,
                    Err(e) => Some(Err(e)),
                };
            };
            self.parser.feed(&bytes);
        }
    }

    fn emit(&mut self, event: Event) -> Result<GenerateContentResponse, GeminiError> {
        match event {
            Event::Chunk(c) => Ok(*c),
            Event::Error(e) => self.fail(GeminiError::Api(e)),
        }
    }

    fn fail<T>(&mut self, e: GeminiError) -> Result<T, GeminiError> {
        self.done = true;
        Err(e.redacted(self.key.expose()))
    }
}

/// The token counts of a `generateContent` answer, and nothing else of it.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Counts {
    usage_metadata: Option<UsageCounts>,
}
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct UsageCounts {
    #[serde(default)]
    prompt_token_count: Option<u64>,
    #[serde(default)]
    candidates_token_count: Option<u64>,
}

/// A model method whose request body and answer pass through as bytes (a gateway's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RawMethod {
    /// `:generateContent`.
    GenerateContent,
    /// `:embedContent`: one embedding.
    EmbedContent,
    /// `:batchEmbedContents`: several (what the SDKs' `embed_content` calls).
    BatchEmbedContents,
}

impl RawMethod {
    /// The method as the URL names it.
    pub fn name(self) -> &'static str {
        match self {
            RawMethod::GenerateContent => "generateContent",
            RawMethod::EmbedContent => "embedContent",
            RawMethod::BatchEmbedContents => "batchEmbedContents",
        }
    }

    /// The method a URL names, if it passes through.
    pub fn parse(name: &str) -> Option<Self> {
        [
            RawMethod::GenerateContent,
            RawMethod::EmbedContent,
            RawMethod::BatchEmbedContents,
        ]
        .into_iter()
        .find(|m| m.name() == name)
    }
}

/// A `generateContent` answer passed through as bytes, with the token counts it reports.
#[derive(Debug, Clone)]
pub struct RawGenerated {
    /// The JSON body, as upstream sent it.
    pub body: bytes::Bytes,
    /// `usageMetadata.promptTokenCount`.
    pub prompt_tokens: Option<u64>,
    /// `usageMetadata.candidatesTokenCount`.
    pub output_tokens: Option<u64>,
}

impl GeminiClient {
    /// A client with its own connection pool.
    ///
    /// # Errors
    /// When the base URL is not http(s) or the TLS stack cannot start.
    pub fn new(config: ClientConfig) -> Result<Self, GeminiError> {
        if !(config.base_url.starts_with("http://") || config.base_url.starts_with("https://")) {
            return Err(GeminiError::Request(format!(
                "GEMINI_BASE_URL must start with http:// or https:// (got `{}`)",
                config.base_url
            )));
        }
        let base = reqwest::Url::parse(&config.base_url).map_err(|e| {
            GeminiError::Request(format!(
                "GEMINI_BASE_URL `{}` is not a URL: {e}",
                config.base_url
            ))
        })?;
        let http = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .user_agent(concat!("botforge/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| GeminiError::Request(redacted(&e)))?;
        Ok(Self { http, config, base })
    }

    /// The settings.
    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// `{base}/v1beta/{path}`; `path` may end in `?query`. A base with a path (a proxy's
    /// prefix) keeps it.
    fn url(&self, path: &str) -> reqwest::Url {
        self.api_url(&format!("v1beta/{path}"))
    }

    /// `{base}/{path}` (`path` names its API version, and may end in `?query`), built, not
    /// spliced: each `/`-separated segment of `path` is pushed on its own (so `%`, `?` or `#`
    /// in one stays inside it, and `%2e%2e` is text, never a step up), and the query is decoded
    /// into pairs and encoded again.
    pub(crate) fn api_url(&self, path: &str) -> reqwest::Url {
        let (path, query) = path
            .split_once('?')
            .map_or((path, None), |(p, q)| (p, Some(q)));
        let mut url = self.base.clone();
        url.set_query(None);
        if let Ok(mut segments) = url.path_segments_mut() {
            segments.pop_if_empty();
            segments.extend(path.split('/'));
        }
        if let Some(q) = query.filter(|q| !q.is_empty()) {
            let pairs: Vec<(String, String)> =
                form_urlencoded::parse(q.as_bytes()).into_owned().collect();
            url.query_pairs_mut().extend_pairs(pairs);
        }
        url
    }

    /// The HTTP client (one connection pool for every key).
    pub(crate) fn http(&self) -> &reqwest::Client {
        &self.http
    }

    fn key_header(key: &ApiKey) -> Result<HeaderValue, GeminiError> {
        let mut v = HeaderValue::from_str(key.expose()).map_err(|_| {
            GeminiError::Request(format!(
                "key {key} holds characters that cannot go in a header"
            ))
        })?;
        v.set_sensitive(true);
        Ok(v)
    }

    /// Sends a request with no body (or one already set) with `key`.
    pub(crate) async fn send(
        &self,
        key: &ApiKey,
        builder: reqwest::RequestBuilder,
    ) -> Result<(reqwest::Response, Instant), GeminiError> {
        self.send_body(key, builder, None).await
    }

    /// Sends a request with `key` and `body` (watched, so a connection broken while the body was
    /// being sent is told from one broken while the answer was awaited).
    pub(crate) async fn send_body(
        &self,
        key: &ApiKey,
        builder: reqwest::RequestBuilder,
        body: Option<bytes::Bytes>,
    ) -> Result<(reqwest::Response, Instant), GeminiError> {
        let (builder, sent) = match body {
            Some(bytes) => {
                let (body, sent) = crate::body::watched(bytes);
                (builder.body(body), Some(sent))
            }
            None => (builder, None),
        };
        let request = builder
            .header("x-goog-api-key", Self::key_header(key)?)
            .build()
            .map_err(|e| GeminiError::Request(redacted(&e)))?;
        // Upstream may echo the key it was given ("Consumer 'api_key:…' has been suspended"),
        // in any shape: its exact value is removed from whatever comes back.
        self.execute(request, sent.as_ref())
            .await
            .map_err(|e| e.redacted(key.expose()))
    }

    /// Sends a built request: first-byte timeout, then an error status read into a
    /// [`GeminiError`] within the total deadline, which is returned for the body.
    async fn execute(
        &self,
        request: reqwest::Request,
        sent: Option<&crate::body::Sent>,
    ) -> Result<(reqwest::Response, Instant), GeminiError> {
        let deadline = Instant::now() + self.config.total_timeout;
        let first_byte = self
            .config
            .first_byte_timeout
            .min(self.config.total_timeout);
        let response = match timeout(first_byte, self.http.execute(request)).await {
            Err(_) => return Err(GeminiError::Timeout("first byte")),
            Ok(Err(e)) if e.is_connect() || e.is_timeout() => {
                return Err(map_reqwest(&e, "connect"));
            }
            // Connected, then broken while the body was being sent: an early refusal of a body
            // upstream will not take looks exactly like this.
            Ok(Err(e)) if sent.is_some_and(|s| !s.all()) => {
                return Err(GeminiError::Sending(redacted(&e)));
            }
            // Broken while the answer was awaited.
            Ok(Err(e)) => return Err(map_reqwest(&e, "connect")),
            Ok(Ok(r)) => r,
        };
        let status = response.status();
        if status.is_success() {
            return Ok((response, deadline));
        }
        let body = match timeout_at(deadline, response.bytes()).await {
            Err(_) => return Err(GeminiError::Timeout("total")),
            Ok(Err(e)) => return Err(map_reqwest(&e, "body")),
            Ok(Ok(b)) => b,
        };
        Err(GeminiError::Api(ApiError::parse(status.as_u16(), &body)))
    }

    async fn json<T: DeserializeOwned>(
        &self,
        key: &ApiKey,
        builder: reqwest::RequestBuilder,
    ) -> Result<T, GeminiError> {
        let sent = self.send(key, builder).await?;
        Self::read_json(sent).await
    }

    /// The JSON answer of a sent request, read within its deadline.
    async fn read_json<T: DeserializeOwned>(
        (response, deadline): (reqwest::Response, Instant),
    ) -> Result<T, GeminiError> {
        let body = match timeout_at(deadline, response.bytes()).await {
            Err(_) => return Err(GeminiError::Timeout("total")),
            Ok(Err(e)) => return Err(map_reqwest(&e, "body")),
            Ok(Ok(b)) => b,
        };
        serde_json::from_slice(&body).map_err(|e| GeminiError::Decode(e.to_string()))
    }

    /// Sends `body` as JSON to `url` with `key`.
    async fn post<B: Serialize + ?Sized>(
        &self,
        key: &ApiKey,
        url: reqwest::Url,
        body: &B,
    ) -> Result<(reqwest::Response, Instant), GeminiError> {
        let bytes = serde_json::to_vec(body).map_err(|e| GeminiError::Request(e.to_string()))?;
        let builder = self.http.post(url).header(CONTENT_TYPE, "application/json");
        self.send_body(key, builder, Some(bytes.into())).await
    }

    /// `POST /v1beta/models/{model}:generateContent`.
    ///
    /// # Errors
    /// Any [`GeminiError`].
    pub async fn generate(
        &self,
        key: &ApiKey,
        model: &str,
        request: &GenerateContentRequest,
    ) -> Result<GenerateContentResponse, GeminiError> {
        let url = self.url(&format!("models/{}:generateContent", model_id(model)?));
        Self::read_json(self.post(key, url, request).await?).await
    }

    /// `POST /v1beta/models/{model}:generateContent` with a body sent as it is and the answer
    /// returned as it is (a gateway's pass-through): only its token counts are read.
    ///
    /// # Errors
    /// Any [`GeminiError`]; an answer that is not a JSON object is [`GeminiError::Decode`].
    pub async fn generate_raw(
        &self,
        key: &ApiKey,
        model: &str,
        body: bytes::Bytes,
    ) -> Result<RawGenerated, GeminiError> {
        self.post_raw(key, model, RawMethod::GenerateContent, body)
            .await
    }

    /// `POST /v1beta/models/{model}:{method}` with a body sent as it is and the answer returned
    /// as it is: only the token counts it reports are read (embeddings report none).
    ///
    /// # Errors
    /// Any [`GeminiError`]; an answer that is not a JSON object is [`GeminiError::Decode`].
    pub async fn post_raw(
        &self,
        key: &ApiKey,
        model: &str,
        method: RawMethod,
        body: bytes::Bytes,
    ) -> Result<RawGenerated, GeminiError> {
        let url = self.url(&format!("models/{}:{}", model_id(model)?, method.name()));
        let builder = self.http.post(url).header(CONTENT_TYPE, "application/json");
        let (response, deadline) = self.send_body(key, builder, Some(body)).await?;
        let body = match timeout_at(deadline, response.bytes()).await {
            Err(_) => return Err(GeminiError::Timeout("total")),
            Ok(Err(e)) => return Err(map_reqwest(&e, "body")),
            Ok(Ok(b)) => b,
        };
        // Reading only the counts skips building the whole typed response.
        let counts: Counts =
            serde_json::from_slice(&body).map_err(|e| GeminiError::Decode(e.to_string()))?;
        let usage = counts.usage_metadata;
        Ok(RawGenerated {
            prompt_tokens: usage.as_ref().and_then(|u| u.prompt_token_count),
            output_tokens: usage.and_then(|u| u.candidates_token_count),
            body,
        })
    }

    /// `POST /v1beta/models/{model}:streamGenerateContent?alt=sse`. Returns once the response
    /// headers arrived: an error before that is an `Err` here, an error after it comes from
    /// [`ResponseStream::next`].
    ///
    /// # Errors
    /// Any [`GeminiError`] before the first byte.
    pub async fn stream(
        &self,
        key: &ApiKey,
        model: &str,
        request: &GenerateContentRequest,
    ) -> Result<ResponseStream, GeminiError> {
        let url = self.url(&format!(
            "models/{}:streamGenerateContent?alt=sse",
            model_id(model)?
        ));
        let (response, _) = self.post(key, url, request).await?;
        Ok(ResponseStream {
            response,
            key: key.clone(),
            parser: SseParser::default(),
            idle: self.config.stream_idle_timeout,
            done: false,
        })
    }

    /// `POST /v1beta/models/{model}:countTokens`.
    ///
    /// # Errors
    /// Any [`GeminiError`].
    pub async fn count_tokens(
        &self,
        key: &ApiKey,
        model: &str,
        request: &GenerateContentRequest,
    ) -> Result<u64, GeminiError> {
        let id = model_id(model)?;
        let url = self.url(&format!("models/{id}:countTokens"));
        // The full-request form counts the system instruction too, as generateContent will.
        let mut inner =
            serde_json::json!({ "model": format!("models/{id}"), "contents": request.contents });
        if let Some(si) = &request.system_instruction {
            inner["systemInstruction"] =
                serde_json::to_value(si).map_err(|e| GeminiError::Request(e.to_string()))?;
        }
        // A cache's tokens count as the request's input too.
        if let Some(cache) = ["cachedContent", "cached_content"]
            .iter()
            .find_map(|k| request.extra.get(*k))
        {
            inner["cachedContent"] = cache.clone();
        }
        let body = serde_json::json!({ "generateContentRequest": inner });
        let r: CountTokensResponse = Self::read_json(self.post(key, url, &body).await?).await?;
        Ok(r.total_tokens)
    }

    /// `GET /v1beta/models`, every page.
    ///
    /// # Errors
    /// Any [`GeminiError`].
    pub async fn list_models(&self, key: &ApiKey) -> Result<Vec<Model>, GeminiError> {
        let mut models = Vec::new();
        let mut token: Option<String> = None;
        for _ in 0..100 {
            let mut b = self
                .http
                .get(self.url("models"))
                .query(&[("pageSize", "1000")]);
            if let Some(t) = &token {
                b = b.query(&[("pageToken", t.as_str())]);
            }
            let page: ListModelsResponse = self.json(key, b).await?;
            models.extend(page.models);
            token = page.next_page_token.filter(|t| !t.is_empty());
            if token.is_none() {
                break;
            }
        }
        Ok(models)
    }

    /// `POST /v1beta/openai/{path}` (Gemini's OpenAI-compatible surface) with `body` as is, the
    /// key as `Authorization: Bearer`. Returns the upstream response once its headers arrived
    /// with a success status; an error status becomes a [`GeminiError`] (the compat endpoint
    /// wraps Google's envelope in an array, which [`ApiError::parse`] reads).
    ///
    /// # Errors
    /// Any [`GeminiError`] before the first byte.
    pub async fn openai_post(
        &self,
        key: &ApiKey,
        path: &str,
        body: bytes::Bytes,
    ) -> Result<reqwest::Response, GeminiError> {
        if path.contains("..") || path.contains('?') || path.starts_with('/') {
            return Err(GeminiError::Request(format!(
                "bad OpenAI-compatible path `{path}`"
            )));
        }
        let url = self.url(&format!("openai/{path}"));
        let mut bearer =
            HeaderValue::from_str(&format!("Bearer {}", key.expose())).map_err(|_| {
                GeminiError::Request(format!(
                    "key {key} holds characters that cannot go in a header"
                ))
            })?;
        bearer.set_sensitive(true);
        let (body, sent) = crate::body::watched(body);
        let request = self
            .http
            .post(url)
            .header(CONTENT_TYPE, "application/json")
            .header(reqwest::header::AUTHORIZATION, bearer)
            .body(body)
            .build()
            .map_err(|e| GeminiError::Request(redacted(&e)))?;
        match self.execute(request, Some(&sent)).await {
            Ok((response, _)) => Ok(response),
            Err(e) => Err(e.redacted(key.expose())),
        }
    }

    /// The cheapest call that proves a key works: `GET /v1beta/models?pageSize=1`. It names
    /// nothing a client chose, so only the key can make it fail with 401 or 403; it spends no
    /// quota. Bounded by [`PROBE_TIMEOUT`].
    ///
    /// # Errors
    /// Any [`GeminiError`].
    pub async fn probe(&self, key: &ApiKey) -> Result<(), GeminiError> {
        let call = async {
            let b = self
                .http
                .get(self.url("models"))
                .query(&[("pageSize", "1")]);
            let (response, _) = self.send(key, b).await?;
            drop(response);
            Ok(())
        };
        match timeout(PROBE_TIMEOUT, call).await {
            Ok(r) => r,
            Err(_) => Err(GeminiError::Timeout("probe")),
        }
    }

    /// `GET /v1beta/models/{model}`.
    ///
    /// # Errors
    /// Any [`GeminiError`].
    pub async fn get_model(&self, key: &ApiKey, model: &str) -> Result<Model, GeminiError> {
        let url = self.url(&format!("models/{}", model_id(model)?));
        self.json(key, self.http.get(url)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_keep_the_base_and_its_prefix() {
        let client = |base: &str| {
            GeminiClient::new(ClientConfig {
                base_url: base.to_owned(),
                ..ClientConfig::default()
            })
            .unwrap()
        };
        assert_eq!(
            client("http://127.0.0.1:8090")
                .url("models/gemini-2.5-flash:generateContent")
                .as_str(),
            "http://127.0.0.1:8090/v1beta/models/gemini-2.5-flash:generateContent"
        );
        assert_eq!(
            client("https://proxy.example/gemini/")
                .url("models/m:streamGenerateContent?alt=sse")
                .as_str(),
            "https://proxy.example/gemini/v1beta/models/m:streamGenerateContent?alt=sse"
        );
        // Each segment stays one segment: an encoded step up is text, a `?` no query.
        assert_eq!(
            client("http://127.0.0.1:8090")
                .api_url("v1beta/files/%2e%2e/x?y/tunedModels")
                .as_str(),
            "http://127.0.0.1:8090/v1beta/files/%252e%252e/x?y%2FtunedModels="
        );
        assert!(
            GeminiClient::new(ClientConfig {
                base_url: "http://".to_owned(),
                ..ClientConfig::default()
            })
            .is_err()
        );
    }

    #[test]
    fn model_names_cannot_change_the_path() {
        assert_eq!(
            model_id("models/gemini-2.5-flash").unwrap(),
            "gemini-2.5-flash"
        );
        assert!(model_id("../admin").is_err());
        assert!(model_id("Gemini").is_err());
        assert!(model_id("gemini-2.5-flash:generateContent?").is_err());
        assert!(model_id("x?key=1").is_err());
        assert!(model_id("").is_err());
    }

    #[test]
    fn base_url_must_be_http() {
        let c = ClientConfig {
            base_url: "ftp://x".into(),
            ..ClientConfig::default()
        };
        assert!(GeminiClient::new(c).is_err());
    }
}
