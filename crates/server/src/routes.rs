//! The routes.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use gemini::{CallOptions, GenerateContentRequest, RawMethod};
use keypool::KeyState;
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::errors::{ApiFailure, Protocol};
use crate::state::Gateway;

type Shared = State<Arc<Gateway>>;

/// The gateway: one router per area, each behind its own auth layer, so a route added to an
/// area cannot forget authentication, and no handler checks a token itself.
pub fn router(gateway: Arc<Gateway>) -> Router {
    let limit = gateway.body_limit;
    let shared = Arc::clone(&gateway);
    let tokens = Arc::new(crate::auth::Digests::of(&gateway.client_tokens));
    let client = |protocol| {
        crate::gate::GateLayer(crate::gate::Client {
            tokens: Arc::clone(&tokens),
            protocol,
        })
    };
    // Bodies are read within one budget shared by every request, once the request passed
    // its area's authentication (the auth layers below are outside it).
    let budget = crate::inflight::Budget::new(
        limit
            .saturating_mul(crate::inflight::BODIES_IN_FLIGHT)
            .saturating_add(16 << 20),
        limit,
    );
    let bounded = || crate::inflight::BudgetLayer(budget.clone());
    // Gemini's native surface.
    let native = Router::new()
        .route("/v1beta/models", get(list_models))
        .route("/v1beta/models/{*rest}", get(get_model).post(model_action))
        .route_layer(bounded())
        .route_layer(client(Protocol::Gemini));
    // OpenAI's shape, errors included.
    let openai = Router::new()
        .route("/v1/chat/completions", post(chat_completions))
        .route("/v1/embeddings", post(embeddings))
        .route("/v1/models", get(openai_models))
        .route_layer(bounded())
        .route_layer(client(Protocol::OpenAi));
    // What operators read: key health and metrics (client token).
    let ops = Router::new()
        .route("/v1/keys/health", get(keys_health))
        .route("/v1/keys/activity", get(crate::dashboard::activity))
        .route("/metrics", get(metrics))
        .route_layer(client(Protocol::Gemini));
    // Resources that live in one project (files, caches, batches, interactions): client token,
    // or for an upload's chunks the session id this gateway gave out.
    let resources = crate::resources::routes()
        .merge(crate::jobs::routes())
        .route_layer(bounded())
        .route_layer(axum::middleware::from_fn_with_state(
            Arc::clone(&shared),
            crate::resources::client_or_upload,
        ));
    // Changes to the pool: the admin token, from a header (404 when none is configured).
    let admin = Router::new()
        .route("/v1/keys/reload", post(keys_reload))
        .route("/v1/keys/{key_id}/{action}", post(key_admin))
        .route_layer(axum::middleware::from_fn_with_state(
            Arc::clone(&shared),
            crate::auth::admin,
        ));
    // The bot API: writes strategies, spends calls.
    let bot = Router::new()
        .route("/v1/strategies", post(crate::bot::create_strategy))
        .route("/v1/backtests", post(crate::bot::create_backtest))
        .route_layer(bounded())
        .route_layer(client(Protocol::Gemini));
    // Open to all: liveness, readiness, the API description, the dashboard page (which fetches
    // its data with the token).
    let public = Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route(
            "/openapi.json",
            get(|| async { Json(crate::openapi::document()) }),
        )
        .route("/", get(crate::dashboard::page));
    Router::new()
        .merge(native)
        .merge(openai)
        .merge(resources)
        .merge(ops)
        .merge(admin)
        .merge(bot)
        .merge(public)
        .layer(DefaultBodyLimit::max(limit))
        // Outermost: a browser page is refused before anything else runs.
        .layer(crate::gate::GateLayer(crate::gate::Browser(Arc::new(
            gateway.browser.clone(),
        ))))
        .with_state(gateway)
}

/// The models this gateway's keys serve by name, the default model first (keys without a
/// `model_name` also take any other).
fn served_models(g: &Gateway) -> Vec<String> {
    g.client
        .pool()
        .models()
        .into_iter()
        .map(str::to_owned)
        .collect()
}

/// Ready when some key can serve: answered from the pool's state at most a second old (one
/// store refresh a second however many probes come; DESIGN.md §7).
async fn readyz(State(g): Shared) -> Response {
    let (ok, why) = if let Some(v) = g.ready.fresh() {
        v
    } else {
        let v = match g.client.pool().refresh().await {
            Err(_) => (false, "state backend unavailable\n"),
            Ok(()) => match g.client.pool().health() {
                Ok(s)
                    if s.keys
                        .iter()
                        .any(|k| k.active && k.state != KeyState::Disabled) =>
                {
                    (true, "ready\n")
                }
                _ => (false, "no usable key\n"),
            },
        };
        g.ready.store(v.0, v.1);
        v
    };
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, why).into_response()
}

async fn keys_health(State(g): Shared) -> Response {
    let _ = g.client.pool().refresh().await;
    match g.client.pool().health() {
        Ok(s) => Json(s).into_response(),
        Err(e) => ApiFailure::new(
            Protocol::Gemini,
            StatusCode::SERVICE_UNAVAILABLE,
            "UNAVAILABLE",
            format!("key health is unavailable: {}", e.kind()),
        )
        .into_response(),
    }
}

/// `POST /v1/keys/reload` (admin): read the secret store again and swap rotated material in.
async fn keys_reload(State(g): Shared) -> Response {
    match crate::reload::reload_keys(&g).await {
        Ok(report) => Json(report).into_response(),
        Err(e @ crate::errors::ServeError::NoSecretStore) => ApiFailure::new(
            Protocol::Gemini,
            StatusCode::NOT_IMPLEMENTED,
            "UNIMPLEMENTED",
            e.to_string(),
        )
        .into_response(),
        Err(e) => ApiFailure::new(
            Protocol::Gemini,
            StatusCode::BAD_GATEWAY,
            "UNAVAILABLE",
            e.to_string(),
        )
        .into_response(),
    }
}

async fn key_admin(State(g): Shared, Path((key_id, action)): Path<(String, String)>) -> Response {
    let pool = g.client.pool();
    let done = match action.as_str() {
        "enable" => pool.enable(&key_id).await,
        "disable" => pool.disable(&key_id, "disabled through the gateway").await,
        _ => {
            return ApiFailure::new(
                Protocol::Gemini,
                StatusCode::NOT_FOUND,
                "NOT_FOUND",
                "use /v1/keys/{key_id}/enable or /disable",
            )
            .into_response();
        }
    };
    match done {
        Ok(()) => Json(json!({"key_id": key_id, "action": action, "ok": true})).into_response(),
        Err(keypool::PoolError::UnknownKeyId { .. }) => ApiFailure::new(
            Protocol::Gemini,
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            format!("no key `{key_id}`"),
        )
        .into_response(),
        Err(e) => ApiFailure::new(
            Protocol::Gemini,
            StatusCode::SERVICE_UNAVAILABLE,
            "UNAVAILABLE",
            format!("could not {action} `{key_id}`: {}", e.kind()),
        )
        .into_response(),
    }
}

async fn list_models(State(g): Shared) -> Response {
    match upstream_models(&g).await {
        Ok(models) => Json(json!({ "models": models })).into_response(),
        Err(r) => r,
    }
}

/// Upstream's model list, through a key of the first model the pool serves.
async fn upstream_models(g: &Gateway) -> Result<Vec<gemini::Model>, Response> {
    let Some(model) = served_models(g).into_iter().next() else {
        return Err(ApiFailure::new(
            Protocol::Gemini,
            StatusCode::SERVICE_UNAVAILABLE,
            "UNAVAILABLE",
            "no keys configured",
        )
        .into_response());
    };
    g.client
        .list_models(&model)
        .await
        .map_err(|e| ApiFailure::from_rotate(Protocol::Gemini, &e).into_response())
}

async fn get_model(State(g): Shared, Path(rest): Path<String>) -> Response {
    let want = format!("models/{}", rest.trim_start_matches("models/"));
    match upstream_models(&g).await {
        Ok(models) => match models.into_iter().find(|m| m.name == want) {
            Some(m) => Json(m).into_response(),
            None => ApiFailure::new(
                Protocol::Gemini,
                StatusCode::NOT_FOUND,
                "NOT_FOUND",
                format!("{want} is not found"),
            )
            .into_response(),
        },
        Err(r) => r,
    }
}

fn bad_request(protocol: Protocol, message: impl Into<String>) -> Response {
    ApiFailure::new(
        protocol,
        StatusCode::BAD_REQUEST,
        "INVALID_ARGUMENT",
        message,
    )
    .into_response()
}

/// The header a client names its fallback models in (comma-separated, in order).
pub const FALLBACK_HEADER: &str = "x-botforge-fallback-models";

/// The models a request moves to when its own is overloaded: the request's header first, then
/// the gateway's configuration, each once.
fn fallback_models(configured: &[String], headers: &HeaderMap) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let from_header = headers
        .get(FALLBACK_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .split(',');
    for m in from_header.chain(configured.iter().map(String::as_str)) {
        let m = m.trim().trim_start_matches("models/");
        if !m.is_empty() && !out.iter().any(|o| o == m) {
            out.push(m.to_owned());
        }
    }
    out
}

async fn model_action(
    State(g): Shared,
    Path(rest): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    // The work's future lives on the heap: the layers above move the handler's future several
    // times per request, which is cheap only while it is small.
    Box::pin(model_call(g, rest, headers, body)).await
}

/// Where a generation request naming stored resources goes and what it reserves: the project
/// that owns them (400 when they live in two), and for generation the input tokens of its
/// stored content, which only upstream knows (countTokens, free, once per set of names) added
/// to the local estimate of the rest.
async fn placement(
    g: &Gateway,
    model: &str,
    action: &str,
    request: &GenerateContentRequest,
) -> Result<(Option<String>, Option<u64>), Response> {
    let project = match crate::resources::resources_of_request(request) {
        None => None,
        Some(named) => crate::resources::project_of(g, &named).await?,
    };
    let generates = matches!(action, "generateContent" | "streamGenerateContent");
    let input_tokens = if generates && request.names_stored_content() {
        let options = CallOptions {
            also_models: &[],
            project: project.as_deref(),
            input_tokens: None,
        };
        g.client
            .stored_tokens(model, request, options)
            .await
            .map(|n| n + request.estimate_tokens())
    } else {
        None
    };
    Ok((project, input_tokens))
}

async fn model_call(g: Arc<Gateway>, rest: String, headers: HeaderMap, body: Bytes) -> Response {
    let Some((model, action)) = rest.rsplit_once(':') else {
        return bad_request(Protocol::Gemini, "expected /v1beta/models/{model}:{action}");
    };
    // One path segment of Google's grammar, before anything else: a `?` or `:` smuggled into
    // the name would otherwise reach another method upstream, outside the quota accounting.
    let model = match crate::grammar::model(Protocol::Gemini, model) {
        Ok(m) => m,
        Err(f) => return f.into_response(),
    };
    // The other methods' futures are boxed: moved into the generate path's state machine they
    // would make every request's future (and the copies of it) larger.
    if matches!(action, "batchGenerateContent" | "asyncBatchEmbedContent") {
        return Box::pin(crate::jobs::create_batch(
            &g,
            (model, action),
            &headers,
            body,
        ))
        .await;
    }
    if let Some(method @ (RawMethod::EmbedContent | RawMethod::BatchEmbedContents)) =
        RawMethod::parse(action)
    {
        return Box::pin(embed(&g, (model, method), &headers, body)).await;
    }
    let request: GenerateContentRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return bad_request(
                Protocol::Gemini,
                format!("Invalid JSON payload received. {e}"),
            );
        }
    };
    // A request that names an uploaded file or a cache goes to a key of their project, and
    // reserves their tokens (looked up only then, in a boxed future: a plain prompt pays
    // nothing).
    let (project, input_tokens) = if crate::resources::resources_of_request(&request).is_some() {
        match Box::pin(placement(&g, model, action, &request)).await {
            Ok(p) => p,
            Err(r) => return r,
        }
    } else {
        (None, None)
    };
    let started = Instant::now();
    let fallbacks = fallback_models(&g.fallback_models, &headers);
    let also: Vec<&str> = fallbacks.iter().map(String::as_str).collect();
    let options = CallOptions {
        also_models: &also,
        project: project.as_deref(),
        input_tokens,
    };
    let (route, upstream, response) = match action {
        "generateContent" => {
            let t = Instant::now();
            // The client's body goes upstream as it came and the answer comes back as it was
            // sent (parsed above only to validate it and estimate its tokens).
            let estimate = options
                .input_tokens
                .unwrap_or_else(|| request.estimate_tokens());
            let done = Box::pin(g.client.generate_raw(model, body.clone(), estimate, options))
            .await;
            let upstream = t.elapsed().as_secs_f64();
            ("generateContent", upstream, raw_answer(&g, done, 0))
        }
        "countTokens" => {
            // Accept both the plain form ({contents}) and the full one ({generateContentRequest}).
            let request = serde_json::from_slice::<Value>(&body)
                .ok()
                .and_then(|v| v.get("generateContentRequest").cloned())
                .and_then(|v| serde_json::from_value(v).ok())
                .unwrap_or(request);
            let t = Instant::now();
            let r = match Box::pin(g.client.count_tokens(model, &request, options)).await {
                Ok(n) => Json(json!({ "totalTokens": n })).into_response(),
                Err(e) => ApiFailure::from_rotate(Protocol::Gemini, &e).into_response(),
            };
            ("countTokens", t.elapsed().as_secs_f64(), r)
        }
        "streamGenerateContent" => {
            let t = Instant::now();
            let r = Box::pin(stream(&g, model, &request, options)).await;
            ("streamGenerateContent", t.elapsed().as_secs_f64(), r)
        }
        other => (
            "unknown",
            0.0,
            ApiFailure::new(
                Protocol::Gemini,
                StatusCode::NOT_FOUND,
                "NOT_FOUND",
                format!("unknown method `{other}`: use generateContent, streamGenerateContent, countTokens, embedContent, batchEmbedContents or batchGenerateContent"),
            )
            .into_response(),
        ),
    };
    g.metrics.request(
        route,
        response.status().as_u16(),
        upstream,
        started.elapsed().as_secs_f64(),
    );
    response
}

/// `embedContent` and `batchEmbedContents`: the body goes upstream as it came and the answer
/// comes back as it was sent, through the pool like generation (its text reserved as input
/// tokens against the (project, model) bucket, the fallback models honoured).
async fn embed(
    g: &Gateway,
    (model, method): (&str, RawMethod),
    headers: &HeaderMap,
    body: Bytes,
) -> Response {
    let route = method.name();
    if !serde_json::from_slice::<Value>(&body).is_ok_and(|v| v.is_object()) {
        let r = bad_request(
            Protocol::Gemini,
            "Invalid JSON payload received: the body must be a JSON object.",
        );
        g.metrics.request(route, 400, 0.0, 0.0);
        return r;
    }
    let started = Instant::now();
    let fallbacks = fallback_models(&g.fallback_models, headers);
    let also: Vec<&str> = fallbacks.iter().map(String::as_str).collect();
    let estimate = gemini::estimate_text_tokens(&body);
    let done = g
        .client
        .post_raw(
            model,
            method,
            body,
            estimate,
            CallOptions {
                also_models: &also,
                project: None,
                input_tokens: None,
            },
        )
        .await;
    let upstream = started.elapsed().as_secs_f64();
    let response = raw_answer(g, done, estimate);
    g.metrics.request(
        route,
        response.status().as_u16(),
        upstream,
        started.elapsed().as_secs_f64(),
    );
    response
}

/// A passed-through native answer for the client, its tokens counted (`prompt` when it reports
/// none), or the failure in Gemini's shape.
fn raw_answer(
    g: &Gateway,
    done: Result<gemini::Generated<gemini::RawGenerated>, gemini::RotateError>,
    prompt: u64,
) -> Response {
    match done {
        Ok(done) => {
            g.metrics.tokens(
                &done.model,
                done.value.prompt_tokens.unwrap_or(prompt),
                done.value.output_tokens.unwrap_or(0),
            );
            (
                [(header::CONTENT_TYPE, "application/json; charset=UTF-8")],
                done.value.body,
            )
                .into_response()
        }
        Err(e) => ApiFailure::from_rotate(Protocol::Gemini, &e).into_response(),
    }
}

/// Server-sent events in Gemini's framing: `data: <one-line JSON>\r\n\r\n` per chunk; an error
/// after the start is one last event holding Google's error envelope.
async fn stream(
    g: &Gateway,
    model: &str,
    request: &GenerateContentRequest,
    options: CallOptions<'_>,
) -> Response {
    let started = match g.client.stream(model, request, options).await {
        Ok(s) => s.value,
        Err(e) => return ApiFailure::from_rotate(Protocol::Gemini, &e).into_response(),
    };
    let events = futures_util::stream::unfold(Some(started), |state| async move {
        let mut s = state?;
        match s.next().await {
            Some(Ok(chunk)) => {
                let line = serde_json::to_string(&chunk).unwrap_or_else(|_| "{}".to_owned());
                Some((
                    Ok::<_, std::io::Error>(Bytes::from(format!("data: {line}\r\n\r\n"))),
                    Some(s),
                ))
            }
            Some(Err(e)) => {
                let f = ApiFailure::from_upstream(Protocol::Gemini, &e);
                Some((Ok(Bytes::from(format!("data: {}\r\n\r\n", f.body()))), None))
            }
            None => None,
        }
    });
    let mut r = Response::new(Body::from_stream(events));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}

async fn openai_models(State(g): Shared) -> Response {
    let data: Vec<Value> = served_models(&g)
        .into_iter()
        .map(|m| json!({"id": m, "object": "model", "created": 0, "owned_by": "google"}))
        .collect();
    Json(json!({"object": "list", "data": data})).into_response()
}

/// Passed to Gemini's OpenAI-compatible surface with rotation; the answer (JSON or an SSE
/// stream) goes back to the client byte for byte.
/// What the gateway reads of an OpenAI request: only `model`; the body goes upstream as it came.
#[derive(serde::Deserialize)]
struct ModelOnly {
    model: Option<String>,
}

async fn chat_completions(State(g): Shared, body: Bytes) -> Response {
    openai_post(&g, ("chat/completions", "chat.completions"), body).await
}

/// `/v1/embeddings`, rotated, limited and counted like chat (its `input` text reserved as
/// input tokens, settled at the answer's `usage.prompt_tokens`).
async fn embeddings(State(g): Shared, body: Bytes) -> Response {
    openai_post(&g, ("embeddings", "embeddings"), body).await
}

/// A request to Gemini's OpenAI-compatible `path`, passed through with rotation; `route` is
/// its metrics label.
async fn openai_post(g: &Gateway, (path, route): (&str, &'static str), body: Bytes) -> Response {
    // serde would also read a struct from an array: insist on an object.
    let object = body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
    let (true, Ok(request)) = (object, serde_json::from_slice::<ModelOnly>(&body)) else {
        return bad_request(
            Protocol::OpenAi,
            "the body must be a JSON object whose `model` is a string, e.g. \"gemini-2.5-flash\"",
        );
    };
    let Some(model) = request.model else {
        return bad_request(
            Protocol::OpenAi,
            "`model` is required, e.g. \"gemini-2.5-flash\"",
        );
    };
    let model = match crate::grammar::model(Protocol::OpenAi, &model) {
        Ok(m) => m,
        Err(f) => return f.into_response(),
    };
    let started = Instant::now();
    let done = g.client.openai(model, path, body).await;
    let waited = started.elapsed().as_secs_f64();
    let upstream = match done {
        Ok(done) => done.value,
        Err(e) => {
            let r = ApiFailure::from_rotate(Protocol::OpenAi, &e).into_response();
            g.metrics.request(
                route,
                r.status().as_u16(),
                waited,
                started.elapsed().as_secs_f64(),
            );
            return r;
        }
    };
    let status = StatusCode::from_u16(upstream.status()).unwrap_or(StatusCode::OK);
    let content_type = upstream
        .content_type()
        .and_then(|v| HeaderValue::from_str(v).ok())
        .unwrap_or_else(|| HeaderValue::from_static("application/json"));
    // Passed through as it comes; the pool hears how it ended (an error inside a stream, or a
    // stream cut off, counts against the key and reaches the client as an error event).
    let chunks = futures_util::stream::unfold(upstream, |mut p| async move {
        let b = p.chunk().await?;
        Some((Ok::<_, std::io::Error>(b), p))
    });
    let mut r = Response::new(Body::from_stream(chunks));
    *r.status_mut() = status;
    r.headers_mut().insert(header::CONTENT_TYPE, content_type);
    g.metrics.request(
        route,
        status.as_u16(),
        waited,
        started.elapsed().as_secs_f64(),
    );
    r
}

async fn metrics(State(g): Shared, headers: HeaderMap) -> Response {
    let _ = g.client.pool().refresh().await;
    let health = g.client.pool().health().ok();
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
    let (text, content_type) = g.metrics.exposition(health.as_ref(), accept);
    let mut r = text.into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_requests_fallback_models_come_before_the_gateways_each_once() {
        let configured = vec![
            "gemini-2.5-flash-lite".to_owned(),
            "gemini-2.5-flash".to_owned(),
        ];
        let mut headers = HeaderMap::new();
        assert_eq!(fallback_models(&configured, &headers), configured);
        headers.insert(
            FALLBACK_HEADER,
            " models/gemini-2.5-flash , gemini-2.5-pro,"
                .parse()
                .unwrap(),
        );
        assert_eq!(
            fallback_models(&configured, &headers),
            [
                "gemini-2.5-flash",
                "gemini-2.5-pro",
                "gemini-2.5-flash-lite"
            ]
        );
        assert!(fallback_models(&[], &HeaderMap::new()).is_empty());
    }
}
