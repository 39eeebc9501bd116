//! Resources that live in one project, as Gemini keeps them: uploaded files (the resumable
//! protocol the SDKs use, and multipart) and cached contents. Each belongs to the project of
//! the key that created it; any other project — and a generation request that names it — gets
//! the real 403 "You do not have permission to access the File … or it may not exist" (the same
//! answer as for a resource that does not exist). Files expire after 48 hours, caches at their
//! `expireTime`, both on the simulator's clock.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::Response;
use serde_json::{Value, json};

use crate::books::{Cache, File, Upload};
use crate::format;
use crate::sim::{Caller, Sim, json_response, text_chars, tokens_of};

/// How long an uploaded file lives.
const FILE_LIFETIME_MS: i64 = 48 * 3_600_000;
/// A cache's lifetime when its request names none.
const CACHE_DEFAULT_TTL_MS: i64 = 3_600_000;

pub(crate) fn random_id(n: usize) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    (0..n)
        .map(|_| char::from(ALPHABET[fastrand::usize(..ALPHABET.len())]))
        .collect()
}

pub(crate) fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

/// `http://HOST` as the client reached the simulator.
fn origin(headers: &HeaderMap) -> String {
    let host = headers
        .get(axum::http::header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("127.0.0.1");
    format!("http://{host}")
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The real answer for a resource of another project, or none at all.
pub(crate) fn denied(kind: &str, id: &str) -> Value {
    format::error_body(
        403,
        "PERMISSION_DENIED",
        &format!("You do not have permission to access the {kind} {id} or it may not exist."),
        None,
    )
}

fn with_headers(mut r: Response, pairs: &[(&'static str, String)]) -> Response {
    for (name, value) in pairs {
        if let Ok(v) = HeaderValue::from_str(value) {
            r.headers_mut().insert(*name, v);
        }
    }
    r
}

/// The id in a file's name or URI (`files/abc`, `https://…/v1beta/files/abc`).
pub(crate) fn file_id(reference: &str) -> Option<&str> {
    let (_, id) = reference.rsplit_once("files/")?;
    let id = id.split(['?', '#', '/']).next()?;
    (!id.is_empty()).then_some(id)
}

/// Every `fileData.fileUri` in `v` (either spelling), wherever it sits.
fn file_uris(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, inner) in m {
                if matches!(k.as_str(), "fileUri" | "file_uri")
                    && let Some(s) = inner.as_str()
                {
                    out.push(s.to_owned());
                } else {
                    file_uris(inner, out);
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| file_uris(x, out)),
        _ => {}
    }
}

impl Sim {
    /// Whether `project` may use every file and the cache a generation body names; the error
    /// is the 403 to send.
    pub(crate) fn check_resources(&self, project: &str, body: &Value) -> Result<(), Value> {
        let now = self.now_ms();
        let books = self.books.lock();
        let mut uris = Vec::new();
        file_uris(body, &mut uris);
        for uri in &uris {
            let Some(id) = file_id(uri) else {
                continue;
            };
            let ok = books
                .files
                .get(id)
                .is_some_and(|f| f.project == project && f.expires_ms > now);
            if !ok {
                return Err(denied("File", id));
            }
        }
        let cache = body
            .get("cachedContent")
            .or_else(|| body.get("cached_content"))
            .and_then(Value::as_str);
        if let Some(name) = cache {
            let id = name.trim_start_matches("cachedContents/");
            let ok = books
                .caches
                .get(id)
                .is_some_and(|c| c.project == project && c.expires_ms > now);
            if !ok {
                return Err(denied("CachedContent", id));
            }
        }
        Ok(())
    }

    /// A file made by the service itself (a batch's results), named `files/{id}`.
    pub(crate) fn add_file(&self, project: &str, id: &str, mime: &str, from: &str) {
        let now = self.now_ms();
        let meta = json!({
            "name": format!("files/{id}"),
            "displayName": format!("results of {from}"),
            "mimeType": mime,
            "sizeBytes": "0",
            "createTime": rfc3339(now),
            "updateTime": rfc3339(now),
            "expirationTime": rfc3339(now + FILE_LIFETIME_MS),
            "state": "ACTIVE",
            "source": "GENERATED",
        });
        self.books.lock().files.insert(
            id.to_owned(),
            File {
                project: project.to_owned(),
                meta,
                expires_ms: now + FILE_LIFETIME_MS,
            },
        );
    }

    fn new_file(&self, project: &str, origin: &str, upload: &Upload) -> Value {
        let now = self.now_ms();
        let id = upload
            .name
            .as_deref()
            .and_then(file_id)
            .map_or_else(|| random_id(12), str::to_owned);
        let mut meta = json!({
            "name": format!("files/{id}"),
            "mimeType": upload.mime_type,
            "sizeBytes": upload.received.to_string(),
            "createTime": rfc3339(now),
            "updateTime": rfc3339(now),
            "expirationTime": rfc3339(now + FILE_LIFETIME_MS),
            "sha256Hash": "",
            "uri": format!("{origin}/v1beta/files/{id}"),
            "state": "ACTIVE",
            "source": "UPLOADED",
        });
        if let Some(d) = &upload.display_name {
            meta["displayName"] = json!(d);
        }
        self.books.lock().files.insert(
            id,
            File {
                project: project.to_owned(),
                meta: meta.clone(),
                expires_ms: now + FILE_LIFETIME_MS,
            },
        );
        self.stats_mut().files_created += 1;
        meta
    }
}

/// `POST /upload/v1beta/files`: a resumable session's start (with a key), its chunks (the
/// session id is the credential, as Google's), or a multipart upload.
pub(crate) async fn upload(
    State(sim): State<Arc<Sim>>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(id) = query.get("upload_id") {
        return chunk(&sim, id, &headers, &body);
    }
    let caller = match sim.caller(&headers, &query) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    let protocol = header(&headers, "x-goog-upload-protocol").unwrap_or_default();
    match protocol {
        "resumable" => start(&sim, &caller, &headers, &body),
        "multipart" => multipart(&sim, &caller, &headers, &body),
        _ => {
            sim.refused(&caller, 400);
            json_response(
                400,
                &format::bad_request(
                    "Upload has been requested without a protocol: set X-Goog-Upload-Protocol to resumable or multipart.",
                ),
            )
        }
    }
}

/// The metadata of an upload: `{"file": {displayName, mimeType, name}}`.
fn upload_meta(meta: &Value, mime: Option<&str>, size: u64, project: &str) -> Upload {
    let file = meta.get("file").unwrap_or(meta);
    let text = |camel: &str, snake: &str| {
        file.get(camel)
            .or_else(|| file.get(snake))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    Upload {
        project: project.to_owned(),
        display_name: text("displayName", "display_name"),
        mime_type: text("mimeType", "mime_type")
            .or_else(|| mime.map(str::to_owned))
            .unwrap_or_else(|| "application/octet-stream".to_owned()),
        size,
        received: 0,
        name: text("name", "name"),
    }
}

fn start(sim: &Sim, caller: &Caller, headers: &HeaderMap, body: &[u8]) -> Response {
    if header(headers, "x-goog-upload-command") != Some("start") {
        sim.refused(caller, 400);
        return json_response(
            400,
            &format::bad_request("A resumable upload starts with X-Goog-Upload-Command: start."),
        );
    }
    let meta: Value = serde_json::from_slice(body).unwrap_or_else(|_| json!({}));
    let size = header(headers, "x-goog-upload-header-content-length")
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0);
    let mime = header(headers, "x-goog-upload-header-content-type");
    let upload = upload_meta(&meta, mime, size, &caller.project);
    let id = format!("ABgVH{}", random_id(40));
    sim.books.lock().uploads.insert(id.clone(), upload);
    sim.succeeded(caller);
    let url = format!(
        "{}/upload/v1beta/files?upload_id={id}&upload_protocol=resumable",
        origin(headers)
    );
    with_headers(
        json_response(200, &json!({})),
        &[
            ("x-goog-upload-url", url.clone()),
            ("x-goog-upload-control-url", url),
            ("x-goog-upload-status", "active".to_owned()),
            ("x-goog-upload-chunk-granularity", "8388608".to_owned()),
        ],
    )
}

fn chunk(sim: &Sim, id: &str, headers: &HeaderMap, body: &[u8]) -> Response {
    let command = header(headers, "x-goog-upload-command").unwrap_or_default();
    let offset = header(headers, "x-goog-upload-offset").and_then(|v| v.parse::<u64>().ok());
    let mut books = sim.books.lock();
    let Some(upload) = books.uploads.get_mut(id) else {
        drop(books);
        return json_response(
            404,
            &format::error_body(404, "NOT_FOUND", "The upload session does not exist.", None),
        );
    };
    if offset != Some(upload.received) {
        let received = upload.received;
        drop(books);
        return with_headers(
            json_response(
                400,
                &format::bad_request(&format!(
                    "X-Goog-Upload-Offset must be {received}, the bytes received so far."
                )),
            ),
            &[("x-goog-upload-status", "active".to_owned())],
        );
    }
    upload.received += body.len() as u64;
    let commands: Vec<&str> = command.split(',').map(str::trim).collect();
    if !commands.contains(&"finalize") {
        drop(books);
        return with_headers(
            json_response(200, &json!({})),
            &[("x-goog-upload-status", "active".to_owned())],
        );
    }
    let Some(upload) = books.uploads.remove(id) else {
        return json_response(404, &json!({}));
    };
    drop(books);
    if upload.size > 0 && upload.received != upload.size {
        return with_headers(
            json_response(
                400,
                &format::bad_request(&format!(
                    "The upload declared {} bytes and sent {}.",
                    upload.size, upload.received
                )),
            ),
            &[("x-goog-upload-status", "final".to_owned())],
        );
    }
    let meta = sim.new_file(&upload.project, &origin(headers), &upload);
    with_headers(
        json_response(200, &json!({ "file": meta })),
        &[("x-goog-upload-status", "final".to_owned())],
    )
}

/// `multipart/related`: a JSON part with the metadata, then the bytes.
fn multipart(sim: &Sim, caller: &Caller, headers: &HeaderMap, body: &[u8]) -> Response {
    let boundary = header(headers, "content-type")
        .and_then(|ct| {
            ct.split(';')
                .find_map(|p| p.trim().strip_prefix("boundary="))
        })
        .map(|b| b.trim_matches('"').to_owned());
    let parts = boundary.and_then(|b| split_multipart(body, &b));
    let Some([meta, data]) = parts.and_then(|p| <[Part; 2]>::try_from(p).ok()) else {
        sim.refused(caller, 400);
        return json_response(
            400,
            &format::bad_request(
                "A multipart upload is multipart/related with a boundary and two parts: the metadata, then the bytes.",
            ),
        );
    };
    let meta_json: Value = serde_json::from_slice(&meta.1).unwrap_or_else(|_| json!({}));
    let mut upload = upload_meta(&meta_json, data.0.as_deref(), 0, &caller.project);
    upload.received = data.1.len() as u64;
    let file = sim.new_file(&caller.project, &origin(headers), &upload);
    sim.succeeded(caller);
    json_response(200, &json!({ "file": file }))
}

/// A part: its content type and bytes.
type Part = (Option<String>, Vec<u8>);

fn split_multipart(body: &[u8], boundary: &str) -> Option<Vec<Part>> {
    let delimiter = format!("--{boundary}");
    let text = body;
    let mut parts = Vec::new();
    let mut rest = text;
    // Skip the preamble up to the first delimiter.
    let first = find(rest, delimiter.as_bytes())?;
    rest = &rest[first + delimiter.len()..];
    loop {
        if rest.starts_with(b"--") {
            break;
        }
        let next = find(rest, delimiter.as_bytes())?;
        let part = rest[..next].strip_prefix(b"\r\n").unwrap_or(&rest[..next]);
        let part = part.strip_suffix(b"\r\n").unwrap_or(part);
        let split = find(part, b"\r\n\r\n")?;
        let head = String::from_utf8_lossy(&part[..split]).to_ascii_lowercase();
        let content_type = head
            .lines()
            .find_map(|l| l.strip_prefix("content-type:"))
            .map(|v| v.trim().to_owned());
        parts.push((content_type, part[split + 4..].to_vec()));
        rest = &rest[next + delimiter.len()..];
    }
    Some(parts)
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// A page of `items` (name order) after `pageToken`, at most `pageSize` (default 10, most 100);
/// the error is the 400 for a page token it did not give out.
pub(crate) fn page(
    items: Vec<(String, Value)>,
    query: &HashMap<String, String>,
    field: &str,
) -> Result<Value, Value> {
    let size = query
        .get("pageSize")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(10)
        .clamp(1, 100);
    // Tokens are opaque and, like Google's, hold characters a query must encode (`+`).
    let after = match query.get("pageToken").filter(|t| !t.is_empty()) {
        Some(t) => match t.strip_prefix(TOKEN_PREFIX) {
            Some(after) => after.to_owned(),
            None => return Err(format::bad_request("Invalid page token.")),
        },
        None => String::new(),
    };
    let mut rest = items.into_iter().filter(|(id, _)| *id > after);
    let taken: Vec<(String, Value)> = rest.by_ref().take(size).collect();
    let mut out = json!({});
    if !taken.is_empty() {
        out[field] = Value::Array(taken.iter().map(|(_, v)| v.clone()).collect());
    }
    if rest.next().is_some()
        && let Some((last, _)) = taken.last()
    {
        out["nextPageToken"] = json!(format!("{TOKEN_PREFIX}{last}"));
    }
    Ok(out)
}

/// A list's answer, counted: the page, or the 400 for a page token it never gave out.
pub(crate) fn listed(sim: &Sim, caller: &Caller, page: Result<Value, Value>) -> Response {
    match page {
        Ok(v) => {
            sim.succeeded(caller);
            json_response(200, &v)
        }
        Err(e) => {
            sim.refused(caller, 400);
            json_response(400, &e)
        }
    }
}

/// What every page token starts with.
const TOKEN_PREFIX: &str = "Cg+";

/// `GET /v1beta/files`: the caller's project's files.
pub(crate) async fn list_files(
    State(sim): State<Arc<Sim>>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let caller = match sim.caller(&headers, &query) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    let now = sim.now_ms();
    let items = sim
        .books
        .lock()
        .files
        .iter()
        .filter(|(_, f)| f.project == caller.project && f.expires_ms > now)
        .map(|(id, f)| (id.clone(), f.meta.clone()))
        .collect();
    listed(&sim, &caller, page(items, &query, "files"))
}

/// `GET` and `DELETE /v1beta/files/{id}`.
pub(crate) async fn file(
    State(sim): State<Arc<Sim>>,
    method: axum::http::Method,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let caller = match sim.caller(&headers, &query) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    let now = sim.now_ms();
    let mut books = sim.books.lock();
    let found = books
        .files
        .get(&id)
        .filter(|f| f.project == caller.project && f.expires_ms > now)
        .map(|f| f.meta.clone());
    let Some(meta) = found else {
        drop(books);
        sim.refused(&caller, 403);
        return json_response(403, &denied("File", &id));
    };
    if method == axum::http::Method::DELETE {
        books.files.remove(&id);
        drop(books);
        sim.succeeded(&caller);
        return json_response(200, &json!({}));
    }
    drop(books);
    sim.succeeded(&caller);
    json_response(200, &meta)
}

/// A duration as Google writes it (`"300s"`, `"1.5s"`) in milliseconds.
fn duration_ms(v: &str) -> Option<i64> {
    let secs: f64 = v.strip_suffix('s')?.parse().ok()?;
    #[expect(clippy::cast_possible_truncation, reason = "a cache's ttl in ms")]
    Some((secs * 1000.0) as i64)
}

/// When a cache body (create or update) says it expires: `expireTime`, else now + `ttl`.
fn expiry(body: &Value, now: i64) -> Option<i64> {
    if let Some(t) = body.get("expireTime").and_then(Value::as_str) {
        return chrono::DateTime::parse_from_rfc3339(t)
            .ok()
            .map(|d| d.timestamp_millis());
    }
    body.get("ttl")
        .and_then(Value::as_str)
        .and_then(duration_ms)
        .map(|ms| now + ms)
}

/// `POST /v1beta/cachedContents`.
pub(crate) async fn create_cache(
    State(sim): State<Arc<Sim>>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let caller = match sim.caller(&headers, &query) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    let fail = |status: u16, body: &Value| {
        sim.refused(&caller, status);
        json_response(status, body)
    };
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return fail(
            400,
            &format::bad_request("Invalid JSON payload received. Unexpected token."),
        );
    };
    let Some(model) = body.get("model").and_then(Value::as_str) else {
        return fail(
            400,
            &format::bad_request("* CachedContent.model: model is required"),
        );
    };
    let model = model.trim_start_matches("models/").to_owned();
    if !sim.serves(&model) {
        return fail(404, &format::unknown_model(&model, "createCachedContent"));
    }
    if let Err(e) = sim.check_resources(&caller.project, &body) {
        return fail(403, &e);
    }
    let now = sim.now_ms();
    let expires = expiry(&body, now).unwrap_or(now + CACHE_DEFAULT_TTL_MS);
    let tokens = tokens_of(
        text_chars(body.get("contents"))
            + text_chars(
                body.get("systemInstruction")
                    .or_else(|| body.get("system_instruction")),
            ),
    );
    let id = random_id(12);
    let mut meta = json!({
        "name": format!("cachedContents/{id}"),
        "model": format!("models/{model}"),
        "createTime": rfc3339(now),
        "updateTime": rfc3339(now),
        "expireTime": rfc3339(expires),
        "usageMetadata": {"totalTokenCount": tokens},
    });
    if let Some(d) = body.get("displayName").and_then(Value::as_str) {
        meta["displayName"] = json!(d);
    }
    sim.books.lock().caches.insert(
        id,
        Cache {
            project: caller.project.clone(),
            meta: meta.clone(),
            expires_ms: expires,
        },
    );
    sim.stats_mut().caches_created += 1;
    sim.succeeded(&caller);
    json_response(200, &meta)
}

/// `GET /v1beta/cachedContents`: the caller's project's caches.
pub(crate) async fn list_caches(
    State(sim): State<Arc<Sim>>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let caller = match sim.caller(&headers, &query) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    let now = sim.now_ms();
    let items = sim
        .books
        .lock()
        .caches
        .iter()
        .filter(|(_, c)| c.project == caller.project && c.expires_ms > now)
        .map(|(id, c)| (id.clone(), c.meta.clone()))
        .collect();
    listed(&sim, &caller, page(items, &query, "cachedContents"))
}

/// `GET`, `PATCH` (a new `ttl` / `expireTime`) and `DELETE /v1beta/cachedContents/{id}`.
pub(crate) async fn cache(
    State(sim): State<Arc<Sim>>,
    method: axum::http::Method,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let caller = match sim.caller(&headers, &query) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    let now = sim.now_ms();
    let mut books = sim.books.lock();
    let Some(entry) = books
        .caches
        .get_mut(&id)
        .filter(|c| c.project == caller.project && c.expires_ms > now)
    else {
        drop(books);
        sim.refused(&caller, 403);
        return json_response(403, &denied("CachedContent", &id));
    };
    let answer = match method {
        axum::http::Method::DELETE => {
            books.caches.remove(&id);
            json!({})
        }
        axum::http::Method::PATCH => {
            let update: Value = serde_json::from_slice(&body).unwrap_or_else(|_| json!({}));
            if let Some(t) = expiry(&update, now) {
                entry.expires_ms = t;
                entry.meta["expireTime"] = json!(rfc3339(t));
                entry.meta["updateTime"] = json!(rfc3339(now));
            }
            entry.meta.clone()
        }
        _ => entry.meta.clone(),
    };
    drop(books);
    sim.succeeded(&caller);
    json_response(200, &answer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_named_by_name_or_uri() {
        assert_eq!(file_id("files/abc"), Some("abc"));
        assert_eq!(
            file_id("https://generativelanguage.googleapis.com/v1beta/files/x1y2"),
            Some("x1y2")
        );
        assert_eq!(file_id("https://example.com/cat.png"), None);
        let body = json!({"contents": [{"parts": [
            {"text": "describe"},
            {"file_data": {"file_uri": "http://h/v1beta/files/a1", "mime_type": "text/plain"}},
            {"fileData": {"fileUri": "files/b2"}}
        ]}]});
        let mut uris = Vec::new();
        file_uris(&body, &mut uris);
        assert_eq!(uris, ["http://h/v1beta/files/a1", "files/b2"]);
    }

    #[test]
    fn a_multipart_body_splits_into_metadata_and_bytes() {
        let body = b"--B\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n{\"file\":{\"displayName\":\"d\"}}\r\n--B\r\nContent-Type: text/plain\r\n\r\nhello\r\n--B--\r\n";
        let parts = split_multipart(body, "B").unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[1].0.as_deref(), Some("text/plain"));
        assert_eq!(parts[1].1, b"hello");
        assert!(split_multipart(b"no delimiter", "B").is_none());
    }

    #[test]
    fn pages_follow_their_tokens_to_the_end() {
        let items: Vec<(String, Value)> = (0..5).map(|i| (format!("f{i}"), json!(i))).collect();
        let q = |t: Option<&str>| {
            let mut m = HashMap::from([("pageSize".to_owned(), "2".to_owned())]);
            if let Some(t) = t {
                m.insert("pageToken".to_owned(), t.to_owned());
            }
            m
        };
        let p1 = page(items.clone(), &q(None), "files").unwrap();
        assert_eq!(p1["files"], json!([0, 1]));
        assert!(p1["nextPageToken"].as_str().unwrap().contains('+'));
        let p2 = page(items.clone(), &q(p1["nextPageToken"].as_str()), "files").unwrap();
        assert_eq!(p2["files"], json!([2, 3]));
        assert!(page(items.clone(), &q(Some("f1")), "files").is_err());
        let p3 = page(items, &q(p2["nextPageToken"].as_str()), "files").unwrap();
        assert_eq!(p3["files"], json!([4]));
        assert!(p3.get("nextPageToken").is_none());
    }
}
