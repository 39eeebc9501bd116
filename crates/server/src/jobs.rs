//! Work that lives in one Google project, with project affinity (DESIGN.md §7): batches
//! (`:batchGenerateContent`, `:asyncBatchEmbedContent`, the `batches` resource) and the
//! Interactions API (`/v1beta/interactions`, whose `previous_interaction_id` names a
//! conversation kept by one project). The creating key's project is remembered, and every
//! request naming the batch or interaction goes to a key of that project. An interaction is
//! generation by another name: it is reserved, limited and settled in its model's bucket.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use gemini::{CallOptions, RawRequest};
use serde_json::Value;
use tokio::time::Instant;

use crate::errors::{ApiFailure, Protocol};
use crate::grammar;
use crate::resources::{
    Kind, answer, failure, now_ms, on_owned, passed_headers, project_of, remember_batch, union_list,
};
use crate::state::Gateway;

type Shared = State<Arc<Gateway>>;

/// How long an interaction's owner is remembered (Google keeps paid-tier interactions 55 days).
const INTERACTION_LIFETIME_MS: i64 = 55 * 24 * 3_600_000;

/// The routes of this area (the caller puts them behind the auth layer). Batches are created
/// through the model routes (`/v1beta/models/{model}:batchGenerateContent`), which call
/// [`create_batch`].
pub(crate) fn routes() -> Router<Arc<Gateway>> {
    Router::new()
        .route("/v1beta/batches", get(list_batches))
        .route(
            "/v1beta/batches/{tail}",
            get(batch).post(batch).delete(batch),
        )
        .route("/v1beta/interactions", post(create_interaction))
        .route(
            "/v1beta/interactions/{tail}",
            get(interaction).post(interaction).delete(interaction),
        )
}

fn bad_request(message: impl Into<String>) -> Response {
    ApiFailure::new(
        Protocol::Gemini,
        StatusCode::BAD_REQUEST,
        "INVALID_ARGUMENT",
        message,
    )
    .into_response()
}

fn json_object(body: &[u8]) -> Option<Value> {
    match serde_json::from_slice(body) {
        Ok(v @ Value::Object(_)) => Some(v),
        _ => None,
    }
}

/// `POST /v1beta/models/{model}:batchGenerateContent` (or `:asyncBatchEmbedContent`): sent with
/// a key of the project of the files it names (its input file, files in its requests), else of
/// any project; the batch's project is remembered.
pub(crate) async fn create_batch(
    g: &Gateway,
    (model, action): (&str, &str),
    headers: &HeaderMap,
    body: Bytes,
) -> Response {
    let Some(parsed) = json_object(&body) else {
        return bad_request("Invalid JSON payload received: the body must be a JSON object.");
    };
    let project = match project_of(g, &parsed).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    // The model was checked against Google's grammar by the route.
    let model = model.trim_start_matches("models/");
    let request = RawRequest {
        method: Method::POST,
        path: format!("v1beta/models/{model}:{action}"),
        headers: passed_headers(headers),
        body,
    };
    let started = Instant::now();
    let r = match g
        .client
        .resource(Some(model), project.as_deref(), &request)
        .await
    {
        Ok(done) => {
            remember_batch(g, &done.value.json(), &done.project).await;
            answer(&done.value, None)
        }
        Err(e) => failure(&e),
    };
    let secs = started.elapsed().as_secs_f64();
    g.metrics
        .request("batches", r.status().as_u16(), secs, secs);
    r
}

/// `GET /v1beta/batches`: the batches of every project of the pool.
async fn list_batches(State(g): Shared, uri: Uri) -> Response {
    union_list(&g, &uri, "batches", Kind::Batches).await
}

/// `GET` / `DELETE /v1beta/batches/{id}` and `POST /v1beta/batches/{id}:cancel`, with a key of
/// the batch's project.
async fn batch(State(g): Shared, method: Method, Path(tail): Path<String>) -> Response {
    let id = match grammar::resource(&tail, grammar::Ids::Lower, &["cancel"]) {
        Ok((id, _)) => id,
        Err(f) => return f.into_response(),
    };
    let name = format!("batches/{id}");
    let request = RawRequest {
        method,
        path: format!("v1beta/batches/{tail}"),
        headers: Vec::new(),
        body: Bytes::new(),
    };
    on_owned(&g, Kind::Batches, &name, &request).await
}

/// `POST /v1beta/interactions`: with a key of the project that holds the conversation it
/// continues (`previous_interaction_id`) and the files it names, reserved in its model's
/// bucket like generation; the new interaction's project is remembered.
async fn create_interaction(State(g): Shared, headers: HeaderMap, body: Bytes) -> Response {
    let Some(parsed) = json_object(&body) else {
        return bad_request("Invalid JSON payload received: the body must be a JSON object.");
    };
    let Some(model) = parsed.get("model").and_then(Value::as_str) else {
        return bad_request("`model` is required, e.g. \"gemini-2.5-flash\"");
    };
    let model = match grammar::model(Protocol::Gemini, model) {
        Ok(m) => m,
        Err(f) => return f.into_response(),
    };
    let mut project = match project_of(&g, &parsed).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    if let Some(previous) = parsed
        .get("previous_interaction_id")
        .and_then(Value::as_str)
    {
        let owner = g.owners.owner(&format!("interactions/{previous}")).await;
        match (&project, owner) {
            (Some(p), Some(o)) if *p != o => {
                return bad_request(format!(
                    "interaction {previous} and the files this request names live in different Google projects; one request can use the resources of one project only"
                ));
            }
            (_, Some(o)) => project = Some(o),
            (_, None) => {}
        }
    }
    let estimate = gemini::estimate_text_tokens(&body);
    let request = RawRequest {
        method: Method::POST,
        path: "v1beta/interactions".to_owned(),
        headers: passed_headers(&headers),
        body,
    };
    let options = CallOptions {
        also_models: &[],
        project: project.as_deref(),
        input_tokens: None,
    };
    let started = Instant::now();
    let r = match g
        .client
        .resource_counted(model, estimate, options, &request)
        .await
    {
        Ok(done) => {
            let v = done.value.json();
            if let Some(id) = v.get("id").and_then(Value::as_str) {
                g.owners
                    .remember(
                        &format!("interactions/{id}"),
                        &done.project,
                        now_ms(&g) + INTERACTION_LIFETIME_MS,
                    )
                    .await;
            }
            let input = v
                .pointer("/usage/total_input_tokens")
                .and_then(Value::as_u64)
                .unwrap_or(estimate);
            let output = v
                .pointer("/usage/total_output_tokens")
                .and_then(Value::as_u64)
                .unwrap_or(0);
            g.metrics.tokens(&done.model, input, output);
            answer(&done.value, None)
        }
        Err(e) => failure(&e),
    };
    let secs = started.elapsed().as_secs_f64();
    g.metrics
        .request("interactions", r.status().as_u16(), secs, secs);
    r
}

/// `GET` / `DELETE /v1beta/interactions/{id}` and `POST …/{id}:cancel`, with a key of the
/// interaction's project.
async fn interaction(State(g): Shared, method: Method, Path(tail): Path<String>) -> Response {
    let id = match grammar::resource(&tail, grammar::Ids::Mixed, &["cancel"]) {
        Ok((id, _)) => id,
        Err(f) => return f.into_response(),
    };
    let name = format!("interactions/{id}");
    let request = RawRequest {
        method,
        path: format!("v1beta/interactions/{tail}"),
        headers: Vec::new(),
        body: Bytes::new(),
    };
    on_owned(&g, Kind::Interactions, &name, &request).await
}
