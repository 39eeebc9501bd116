//! Resources that live in one Google project, with project affinity (DESIGN.md §7): Files
//! (resumable and multipart upload, get, list, delete) and cached contents. The project of the
//! key that created each is remembered ([`keypool::Owners`]: Redis when the pool shares its
//! state there, with the resource's expiry) and every later request that names it — by path, or
//! a generation request's `fileData.fileUri` / `cachedContent` — goes to a key of that project.
//! A resumable upload's URL is rewritten to point at the gateway; its session id (random, 256
//! bits) is the credential of its chunks, as Google's is.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use gemini::{RawRequest, RawResponse, RotateError};
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::errors::{ApiFailure, Protocol};
use crate::grammar;
use crate::state::Gateway;

type Shared = State<Arc<Gateway>>;

/// How long a file lives upstream when its answer does not say.
const FILE_LIFETIME_MS: i64 = 48 * 3_600_000;
/// How long a batch's owner is remembered (a batch runs up to 48 hours; its record stays
/// readable after).
const BATCH_LIFETIME_MS: i64 = 30 * 24 * 3_600_000;
/// How long a cache lives when its answer does not say (Gemini's default ttl).
const CACHE_LIFETIME_MS: i64 = 3_600_000;
/// How long a resumable upload session can be resumed through the gateway: 12 hours (Google
/// keeps one a week; an upload is resumed within minutes, and a record kept a week for every
/// session a client starts and abandons is state a client could pile up).
const UPLOAD_SESSION_MS: i64 = 12 * 3_600_000;

/// Request headers passed upstream (never a token: the key goes upstream, the client's token
/// stays here).
const PASSED_UP: [&str; 7] = [
    "content-type",
    "x-goog-upload-protocol",
    "x-goog-upload-command",
    "x-goog-upload-offset",
    "x-goog-upload-header-content-length",
    "x-goog-upload-header-content-type",
    "x-goog-upload-file-name",
];

/// The routes of this area (the caller puts them behind the auth layer).
pub(crate) fn routes() -> Router<Arc<Gateway>> {
    Router::new()
        .route("/upload/v1beta/files", post(upload))
        .route("/v1beta/files", get(list_files))
        .route("/v1beta/files/{id}", get(file).delete(file))
        .route(
            "/v1beta/cachedContents",
            get(list_caches).post(create_cache),
        )
        .route(
            "/v1beta/cachedContents/{id}",
            get(cache).patch(cache).delete(cache),
        )
}

/// The auth layer of the resources area: a client token, or — for a resumable upload's chunks,
/// which SDKs send without one, as Google takes them — the id of a session this gateway started.
pub(crate) async fn client_or_upload(
    State(g): Shared,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    use crate::auth::{Denied, check, deny};
    match check(&g.client_tokens, request.headers(), request.uri()) {
        Ok(()) => next.run(request).await,
        Err(Denied::Missing) if upload_session(&g, request.uri()).await.is_some() => {
            next.run(request).await
        }
        Err(d) => deny(Protocol::Gemini, d).into_response(),
    }
}

/// The upload session named by a request's `upload_id`, if it is one this gateway started and
/// it has not ended (what authorizes an upload's chunks).
pub(crate) async fn upload_session(g: &Gateway, uri: &Uri) -> Option<Session> {
    if uri.path() != "/upload/v1beta/files" {
        return None;
    }
    let id = query_param(uri.query()?, "upload_id")?;
    let record = g.owners.owner(&session_name(&id)).await?;
    serde_json::from_str(&record).ok()
}

/// A resumable upload in progress: which project's key started it and the upstream path (with
/// upstream's own session id) its chunks go to.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub(crate) struct Session {
    project: String,
    path: String,
}

fn session_name(id: &str) -> String {
    format!("uploads/{id}")
}

/// A query parameter's value, decoded.
pub(crate) fn query_param(query: &str, name: &str) -> Option<String> {
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

pub(crate) fn passed_headers(headers: &HeaderMap) -> Vec<(HeaderName, HeaderValue)> {
    PASSED_UP
        .iter()
        .filter_map(|name| {
            let v = headers.get(*name)?;
            Some((HeaderName::from_static(name), v.clone()))
        })
        .collect()
}

/// A random id of 256 bits, as hex (the credential of an upload's chunks).
fn session_id() -> Option<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).ok()?;
    Some(hex::encode(bytes))
}

/// `http(s)://HOST` as the client reached the gateway (the Host was checked by the browser
/// guard: the bound address, a loopback name or a `--public-host`).
fn origin(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("127.0.0.1");
    let tls = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|p| p.eq_ignore_ascii_case("https"));
    format!("{}://{host}", if tls { "https" } else { "http" })
}

pub(crate) fn now_ms(g: &Gateway) -> i64 {
    g.client.pool().clock().now_ms()
}

/// When an RFC 3339 time in `v[field]` is, else `now + default`.
fn expiry(v: &Value, field: &str, now: i64, default: i64) -> i64 {
    v.get(field)
        .and_then(Value::as_str)
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map_or(now + default, |t| t.timestamp_millis())
}

/// Upstream's answer for the client: status, content type, upload headers and body.
pub(crate) fn answer(raw: &RawResponse, upload_url: Option<&str>) -> Response {
    let mut r = Response::new(axum::body::Body::from(raw.body.clone()));
    *r.status_mut() = StatusCode::from_u16(raw.status).unwrap_or(StatusCode::OK);
    for (name, value) in &raw.headers {
        let n = name.as_str();
        let passed = n == "content-type"
            || (n.starts_with("x-goog-upload-")
                && n != "x-goog-upload-url"
                && n != "x-goog-upload-control-url");
        if passed {
            r.headers_mut().insert(name.clone(), value.clone());
        }
    }
    if let Some(url) = upload_url.and_then(|u| HeaderValue::from_str(u).ok()) {
        r.headers_mut().insert("x-goog-upload-url", url.clone());
        r.headers_mut().insert("x-goog-upload-control-url", url);
    }
    r
}

pub(crate) fn failure(e: &RotateError) -> Response {
    ApiFailure::from_rotate(Protocol::Gemini, e).into_response()
}

/// Sends `request` with a key of `project` (any project when `None`).
pub(crate) async fn forward(
    g: &Gateway,
    project: Option<&str>,
    request: &RawRequest,
) -> Result<gemini::Generated<RawResponse>, RotateError> {
    g.client.resource(None, project, request).await
}

/// A resource whose owner is not known here (made before this gateway, or by another one
/// without shared state): each project is asked in turn, the first that has it is its owner.
/// Upstream's "no permission / does not exist" from every project is the answer.
async fn find_owner(
    g: &Gateway,
    request: &RawRequest,
) -> Result<gemini::Generated<RawResponse>, RotateError> {
    let projects: Vec<String> = g.client.pool().projects().to_vec();
    let mut last = None;
    for p in &projects {
        match forward(g, Some(p), request).await {
            Ok(done) => return Ok(done),
            // Not there (upstream's 403 / 404), or no key of the project usable now: on to the
            // next project.
            Err(e @ RotateError::Rejected { .. }) => last = Some(e),
            Err(e @ RotateError::Pool { .. }) => {
                if last.is_none() {
                    last = Some(e);
                }
            }
            Err(e) => return Err(e),
        }
    }
    match last {
        Some(e) => Err(e),
        // No project at all: the pool says why.
        None => forward(g, None, request).await,
    }
}

/// Sends a request about `name` to its owner (or finds it), remembering what the answer says.
pub(crate) async fn owned(
    g: &Gateway,
    name: &str,
    request: &RawRequest,
) -> Result<gemini::Generated<RawResponse>, RotateError> {
    match g.owners.owner(name).await {
        Some(project) => forward(g, Some(&project), request).await,
        None => find_owner(g, request).await,
    }
}

/// `POST /upload/v1beta/files`: a resumable upload's start (the session URL rewritten to the
/// gateway) or one of its chunks (by `upload_id`), or a multipart upload.
async fn upload(State(g): Shared, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let started = Instant::now();
    let r = match uri.query().and_then(|q| query_param(q, "upload_id")) {
        Some(id) => upload_chunk(&g, &id, &headers, body).await,
        None => upload_start(&g, &uri, &headers, body).await,
    };
    let secs = started.elapsed().as_secs_f64();
    g.metrics.request("upload", r.status().as_u16(), secs, secs);
    r
}

async fn upload_start(g: &Gateway, uri: &Uri, headers: &HeaderMap, body: Bytes) -> Response {
    let request = RawRequest {
        method: Method::POST,
        path: format!(
            "upload/v1beta/files{}",
            grammar::query(uri.query(), grammar::UPLOAD_QUERY)
        ),
        headers: passed_headers(headers),
        body,
    };
    let done = match forward(g, None, &request).await {
        Ok(d) => d,
        Err(e) => return failure(&e),
    };
    let upstream_url = done
        .value
        .headers
        .get("x-goog-upload-url")
        .and_then(|v| v.to_str().ok())
        .and_then(|u| reqwest::Url::parse(u).ok());
    let Some(upstream_url) = upstream_url else {
        // Multipart (or any upload answered at once): the file exists now.
        remember_file(g, &done.value.json(), &done.project).await;
        return answer(&done.value, None);
    };
    let path = format!(
        "{}{}",
        upstream_url.path().trim_start_matches('/'),
        upstream_url
            .query()
            .map(|q| format!("?{q}"))
            .unwrap_or_default()
    );
    let Some(id) = session_id().filter(|_| gemini::resource_path_ok(&path)) else {
        return ApiFailure::new(
            Protocol::Gemini,
            StatusCode::BAD_GATEWAY,
            "UNAVAILABLE",
            "upstream started an upload this gateway cannot relay",
        )
        .into_response();
    };
    let session = Session {
        project: done.project.clone(),
        path,
    };
    let record = serde_json::to_string(&session).unwrap_or_default();
    g.owners
        .remember(&session_name(&id), &record, now_ms(g) + UPLOAD_SESSION_MS)
        .await;
    let url = format!(
        "{}/upload/v1beta/files?upload_id={id}&upload_protocol=resumable",
        origin(headers)
    );
    answer(&done.value, Some(&url))
}

async fn upload_chunk(g: &Gateway, id: &str, headers: &HeaderMap, body: Bytes) -> Response {
    let record = g.owners.owner(&session_name(id)).await;
    let Some(session) = record.and_then(|r| serde_json::from_str::<Session>(&r).ok()) else {
        return ApiFailure::new(
            Protocol::Gemini,
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            "no such upload session: it ended or expired; start the upload again",
        )
        .into_response();
    };
    let request = RawRequest {
        method: Method::POST,
        path: session.path.clone(),
        headers: passed_headers(headers),
        body,
    };
    let done = match forward(g, Some(&session.project), &request).await {
        Ok(d) => d,
        Err(e) => return failure(&e),
    };
    let finished = done
        .value
        .headers
        .get("x-goog-upload-status")
        .is_some_and(|v| v.as_bytes() == b"final");
    if finished {
        g.owners.forget(&session_name(id)).await;
        remember_file(g, &done.value.json(), &done.project).await;
    }
    answer(&done.value, None)
}

/// Remembers the owner of the file in an upload's answer (`{"file": {...}}`) or a file itself.
pub(crate) async fn remember_file(g: &Gateway, v: &Value, project: &str) {
    let file = v.get("file").unwrap_or(v);
    if let Some(name) = file.get("name").and_then(Value::as_str) {
        let until = expiry(file, "expirationTime", now_ms(g), FILE_LIFETIME_MS);
        g.owners.remember(name, project, until).await;
    }
}

/// Remembers the project of a batch (an operation `{name: "batches/…"}`) and of its results
/// file when it has one.
pub(crate) async fn remember_batch(g: &Gateway, op: &Value, project: &str) {
    if let Some(name) = op.get("name").and_then(Value::as_str)
        && name.starts_with("batches/")
    {
        g.owners
            .remember(name, project, now_ms(g) + BATCH_LIFETIME_MS)
            .await;
    }
    let file = op
        .pointer("/metadata/output/responsesFile")
        .or_else(|| op.pointer("/response/responsesFile"))
        .and_then(Value::as_str);
    if let Some(file) = file {
        remember_file(g, &serde_json::json!({"name": file}), project).await;
    }
}

async fn remember_cache(g: &Gateway, cache: &Value, project: &str) {
    if let Some(name) = cache.get("name").and_then(Value::as_str) {
        let until = expiry(cache, "expireTime", now_ms(g), CACHE_LIFETIME_MS);
        g.owners.remember(name, project, until).await;
    }
}

/// `GET` / `DELETE /v1beta/files/{id}`, with a key of the file's project.
async fn file(State(g): Shared, method: Method, Path(id): Path<String>) -> Response {
    let id = match grammar::resource(&id, grammar::Ids::Lower, &[]) {
        Ok((id, _)) => id,
        Err(f) => return f.into_response(),
    };
    let name = format!("files/{id}");
    let request = RawRequest {
        method,
        path: format!("v1beta/{name}"),
        headers: Vec::new(),
        body: Bytes::new(),
    };
    on_owned(&g, Kind::Files, &name, &request).await
}

/// The kinds of project resources the gateway routes by owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Files,
    Caches,
    Batches,
    Interactions,
}

impl Kind {
    /// A list answer's field holding the items.
    fn field(self) -> &'static str {
        match self {
            Kind::Files => "files",
            Kind::Caches => "cachedContents",
            Kind::Batches => "operations",
            Kind::Interactions => "interactions",
        }
    }

    /// The metrics route label.
    pub(crate) fn label(self) -> &'static str {
        match self {
            Kind::Files => "files",
            Kind::Caches => "cachedContents",
            Kind::Batches => "batches",
            Kind::Interactions => "interactions",
        }
    }

    /// Remembers the owner of the resource an answer describes (and what it names).
    async fn remember(self, g: &Gateway, item: &Value, project: &str) {
        match self {
            Kind::Files => remember_file(g, item, project).await,
            Kind::Caches => remember_cache(g, item, project).await,
            Kind::Batches => remember_batch(g, item, project).await,
            // Interactions are remembered when made; reading one teaches nothing new.
            Kind::Interactions => {}
        }
    }
}

/// A request about the resource `name` (get, update, cancel, delete), sent with a key of its
/// project (found by asking each project when unknown); what the answer says is remembered, a
/// deleted resource forgotten.
pub(crate) async fn on_owned(
    g: &Gateway,
    kind: Kind,
    name: &str,
    request: &RawRequest,
) -> Response {
    let started = Instant::now();
    let r = match owned(g, name, request).await {
        Ok(done) => {
            if request.method == Method::DELETE {
                g.owners.forget(name).await;
            } else {
                kind.remember(g, &done.value.json(), &done.project).await;
            }
            answer(&done.value, None)
        }
        Err(e) => failure(&e),
    };
    let secs = started.elapsed().as_secs_f64();
    g.metrics
        .request(kind.label(), r.status().as_u16(), secs, secs);
    r
}

/// A page token over every project: each project's own token, hex-encoded JSON.
fn decode_token(token: &str) -> Option<serde_json::Map<String, Value>> {
    serde_json::from_slice(&hex::decode(token).ok()?).ok()
}

fn encode_token(tokens: &serde_json::Map<String, Value>) -> String {
    hex::encode(serde_json::to_vec(tokens).unwrap_or_default())
}

/// A list over every project of the pool (files, caches, batches): each project's
/// page, the owners learned on the way, one page token that resumes every project. A page
/// holds up to `pageSize` items per project.
pub(crate) async fn union_list(g: &Gateway, uri: &Uri, path: &str, kind: Kind) -> Response {
    let field = kind.field();
    let query = uri.query().unwrap_or_default();
    let page_size = query_param(query, "pageSize");
    let resume = match query_param(query, "pageToken").filter(|t| !t.is_empty()) {
        Some(t) => match decode_token(&t) {
            Some(m) => Some(m),
            None => {
                return ApiFailure::new(
                    Protocol::Gemini,
                    StatusCode::BAD_REQUEST,
                    "INVALID_ARGUMENT",
                    "pageToken is not one this gateway gave out: list again from the start",
                )
                .into_response();
            }
        },
        None => None,
    };
    let projects: Vec<String> = g.client.pool().projects().to_vec();
    let mut items: Vec<Value> = Vec::new();
    let mut next = serde_json::Map::new();
    for p in &projects {
        let token = match &resume {
            Some(m) => match m.get(p).and_then(Value::as_str) {
                Some(t) => Some(t.to_owned()),
                // This project's list already ended.
                None => continue,
            },
            None => None,
        };
        // Upstream's page tokens are opaque (base64 with `+`, `/`, `=`): encoded, not pasted.
        let q = {
            let mut params = form_urlencoded::Serializer::new(String::new());
            if let Some(s) = &page_size {
                params.append_pair("pageSize", s);
            }
            if let Some(t) = &token {
                params.append_pair("pageToken", t);
            }
            match params.finish() {
                q if q.is_empty() => q,
                q => format!("?{q}"),
            }
        };
        let request = RawRequest::get(format!("v1beta/{path}{q}"));
        let done = match forward(g, Some(p), &request).await {
            Ok(d) => d,
            // No key of this project can be used now (all disabled or resting): its files are
            // out of reach for every request too, so the list is of the projects that answer.
            Err(RotateError::Pool { .. }) => {
                tracing::debug!(project = %p, "no usable key: left out of the list");
                continue;
            }
            Err(e) => return failure(&e),
        };
        let v = done.value.json();
        for item in v.get(field).and_then(Value::as_array).into_iter().flatten() {
            kind.remember(g, item, p).await;
            items.push(item.clone());
        }
        if let Some(t) = v.get("nextPageToken").and_then(Value::as_str) {
            next.insert(p.clone(), json!(t));
        }
    }
    let mut out = json!({});
    if !items.is_empty() {
        out[field] = Value::Array(items);
    }
    if !next.is_empty() {
        out["nextPageToken"] = json!(encode_token(&next));
    }
    axum::Json(out).into_response()
}

/// `GET /v1beta/files`: the files of every project of the pool.
async fn list_files(State(g): Shared, uri: Uri) -> Response {
    union_list(&g, &uri, "files", Kind::Files).await
}

/// `GET /v1beta/cachedContents`: the caches of every project of the pool.
async fn list_caches(State(g): Shared, uri: Uri) -> Response {
    union_list(&g, &uri, "cachedContents", Kind::Caches).await
}

/// `POST /v1beta/cachedContents`: made with a key of the project of the files it names (any
/// project when it names none); its owner is remembered.
async fn create_cache(State(g): Shared, headers: HeaderMap, body: Bytes) -> Response {
    let parsed: Value = match serde_json::from_slice(&body) {
        Ok(v @ Value::Object(_)) => v,
        _ => {
            return ApiFailure::new(
                Protocol::Gemini,
                StatusCode::BAD_REQUEST,
                "INVALID_ARGUMENT",
                "Invalid JSON payload received: the body must be a JSON object.",
            )
            .into_response();
        }
    };
    let project = match project_of(&g, &parsed).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let request = RawRequest {
        method: Method::POST,
        path: "v1beta/cachedContents".to_owned(),
        headers: passed_headers(&headers),
        body,
    };
    let started = Instant::now();
    let r = match forward(&g, project.as_deref(), &request).await {
        Ok(done) => {
            remember_cache(&g, &done.value.json(), &done.project).await;
            answer(&done.value, None)
        }
        Err(e) => failure(&e),
    };
    let secs = started.elapsed().as_secs_f64();
    g.metrics
        .request("cachedContents", r.status().as_u16(), secs, secs);
    r
}

/// `GET`, `PATCH` and `DELETE /v1beta/cachedContents/{id}`, with a key of the cache's project.
async fn cache(
    State(g): Shared,
    method: Method,
    Path(id): Path<String>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let id = match grammar::resource(&id, grammar::Ids::Lower, &[]) {
        Ok((id, _)) => id,
        Err(f) => return f.into_response(),
    };
    let name = format!("cachedContents/{id}");
    let request = RawRequest {
        method,
        path: format!(
            "v1beta/{name}{}",
            grammar::query(uri.query(), grammar::UPDATE_QUERY)
        ),
        headers: passed_headers(&headers),
        body,
    };
    on_owned(&g, Kind::Caches, &name, &request).await
}

/// The names of the project resources a request body refers to: every
/// `fileData.fileUri` (`…/files/ID` → `files/ID`), a batch's input `fileName`, and its
/// `cachedContent`.
pub(crate) fn named_resources(body: &Value) -> Vec<String> {
    fn walk(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                for (k, inner) in m {
                    match (k.as_str(), inner.as_str()) {
                        ("fileUri" | "file_uri", Some(uri)) => {
                            if let Some((_, id)) = uri.rsplit_once("files/") {
                                let id = id.split(['?', '#', '/']).next().unwrap_or_default();
                                if !id.is_empty() {
                                    out.push(format!("files/{id}"));
                                }
                            }
                        }
                        ("fileName" | "file_name", Some(name)) if name.starts_with("files/") => {
                            out.push(name.to_owned());
                        }
                        ("cachedContent" | "cached_content", Some(name)) => {
                            let id = name.trim_start_matches("cachedContents/");
                            if !id.is_empty() {
                                out.push(format!("cachedContents/{id}"));
                            }
                        }
                        _ => walk(inner, out),
                    }
                }
            }
            Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(body, &mut out);
    out.sort();
    out.dedup();
    out
}

/// The parts of a generation request that name project resources (its files and cache), as a
/// body for [`project_of`]; `None` for a request that names none (only those parts are looked
/// at, so a plain prompt costs nothing).
pub(crate) fn resources_of_request(request: &gemini::GenerateContentRequest) -> Option<Value> {
    let mut parts = Vec::new();
    for c in request.contents.iter().chain(&request.system_instruction) {
        for p in &c.parts {
            for k in ["fileData", "file_data"] {
                if let Some(x) = p.extra.get(k) {
                    parts.push(json!({ k: x }));
                }
            }
        }
    }
    let cached = ["cachedContent", "cached_content"]
        .iter()
        .find_map(|k| request.extra.get(*k));
    if parts.is_empty() && cached.is_none() {
        return None;
    }
    Some(json!({"cachedContent": cached, "parts": parts}))
}

/// The project whose keys must serve a request that names `body`'s resources: the owner they
/// share, `None` when none is known. Resources of two projects cannot be used together (no key
/// can read both): that is the caller's error, 400.
pub(crate) async fn project_of(g: &Gateway, body: &Value) -> Result<Option<String>, Response> {
    let mut found: Option<(String, String)> = None;
    for name in named_resources(body) {
        let Some(owner) = g.owners.owner(&name).await else {
            continue;
        };
        match &found {
            Some((first, p)) if *p != owner => {
                return Err(ApiFailure::new(
                    Protocol::Gemini,
                    StatusCode::BAD_REQUEST,
                    "INVALID_ARGUMENT",
                    format!(
                        "{first} and {name} live in different Google projects; one request can use the resources of one project only"
                    ),
                )
                .into_response());
            }
            Some(_) => {}
            None => found = Some((name, owner)),
        }
    }
    Ok(found.map(|(_, p)| p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_names_its_files_and_cache() {
        let body = json!({
            "cachedContent": "cachedContents/c1",
            "contents": [{"parts": [
                {"text": "what is in it?"},
                {"fileData": {"fileUri": "https://generativelanguage.googleapis.com/v1beta/files/abc", "mimeType": "text/plain"}},
                {"file_data": {"file_uri": "files/def"}},
                {"fileData": {"fileUri": "https://example.com/cat.png"}}
            ]}]
        });
        assert_eq!(
            named_resources(&body),
            ["cachedContents/c1", "files/abc", "files/def"]
        );
        assert!(named_resources(&json!({"contents": []})).is_empty());
    }

    #[test]
    fn a_union_page_token_round_trips_and_rejects_others() {
        let mut m = serde_json::Map::new();
        m.insert("proj-a".into(), json!("tok/1"));
        m.insert("proj-b".into(), json!("x"));
        assert_eq!(decode_token(&encode_token(&m)), Some(m));
        assert_eq!(decode_token("zz"), None);
        assert_eq!(decode_token("abc"), None);
    }

    #[test]
    fn upload_session_ids_are_long_and_random() {
        let a = session_id().unwrap();
        let b = session_id().unwrap();
        assert_eq!(a.len(), 64);
        assert_ne!(a, b);
    }
}
