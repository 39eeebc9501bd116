//! Work that outlives one call and lives in one project: batches (`:batchGenerateContent`, the
//! `batches` resource: get, list, cancel, delete) and interactions (`/v1beta/interactions`, with
//! `previous_interaction_id` naming the conversation so far). A batch finishes on its first read
//! (its answers made as generation makes them); an interaction is answered at once. Another
//! project gets Google's 403 for a batch, and "not found" for an interaction.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method};
use axum::response::Response;
use serde_json::{Value, json};

use crate::books::{Batch, Interaction};
use crate::format;
use crate::resources::{denied, random_id, rfc3339};
use crate::sim::{Sim, json_response, text_chars, tokens_of};

const BATCH_TYPE: &str =
    "type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatch";

/// `POST /v1beta/models/{model}:batchGenerateContent` (the caller authenticated, the model
/// served, the body JSON).
pub(crate) fn create_batch(sim: &Sim, project: &str, model: &str, body: &Value) -> (u16, Value) {
    let batch = body.get("batch").unwrap_or(body);
    let input = batch
        .get("inputConfig")
        .or_else(|| batch.get("input_config"));
    let inline: Vec<Value> = input
        .and_then(|i| i.pointer("/requests/requests"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let file = input
        .and_then(|i| i.get("fileName").or_else(|| i.get("file_name")))
        .and_then(Value::as_str)
        .map(str::to_owned);
    if inline.is_empty() && file.is_none() {
        return (
            400,
            format::bad_request(
                "* GenerateContentBatch.input_config: requests or file_name is required",
            ),
        );
    }
    // The input file and every file a request names must be the project's own.
    let mut named = json!({"requests": inline});
    if let Some(f) = &file {
        named["file"] = json!({"fileUri": f});
    }
    if let Err(e) = sim.check_resources(project, &named) {
        return (403, e);
    }
    let now = sim.now_ms();
    let id = random_id(16);
    let mut meta = json!({
        "@type": BATCH_TYPE,
        "model": format!("models/{model}"),
        "name": format!("batches/{id}"),
        "createTime": rfc3339(now),
        "updateTime": rfc3339(now),
        "state": "BATCH_STATE_PENDING",
        "batchStats": {"requestCount": inline.len().max(1).to_string(), "pendingRequestCount": inline.len().max(1).to_string()},
    });
    if let Some(d) = batch
        .get("displayName")
        .or_else(|| batch.get("display_name"))
    {
        meta["displayName"] = d.clone();
    }
    let op = json!({"name": format!("batches/{id}"), "metadata": meta});
    sim.jobs.lock().batches.insert(
        id,
        Batch {
            project: project.to_owned(),
            model: model.to_owned(),
            op: op.clone(),
            requests: inline,
            input_file: file,
        },
    );
    sim.stats_mut().batches_created += 1;
    (200, op)
}

/// A pending batch finishes: each inline request answered, or a results file made.
fn finish(sim: &Sim, b: &mut Batch) {
    if b.op["metadata"]["state"] != "BATCH_STATE_PENDING" {
        return;
    }
    let now = sim.now_ms();
    let output = if let Some(input) = &b.input_file {
        let results = format!("batch-{}", random_id(12));
        sim.add_file(&b.project, &results, "application/jsonl", input);
        json!({"responsesFile": format!("files/{results}")})
    } else {
        let answers: Vec<Value> = b
            .requests
            .iter()
            .map(|r| {
                let request = r.get("request").unwrap_or(r);
                let (answer, ..) = sim.answer_for(&b.model, request);
                let mut out = json!({"response": answer});
                if let Some(m) = r.get("metadata") {
                    out["metadata"] = m.clone();
                }
                out
            })
            .collect();
        json!({"inlinedResponses": {"inlinedResponses": answers}})
    };
    let n = b.requests.len().max(1).to_string();
    let meta = &mut b.op["metadata"];
    meta["state"] = json!("BATCH_STATE_SUCCEEDED");
    meta["updateTime"] = json!(rfc3339(now));
    meta["endTime"] = json!(rfc3339(now));
    meta["output"] = output;
    meta["batchStats"] = json!({"requestCount": n, "successfulRequestCount": n});
    b.op["done"] = json!(true);
}

/// `GET /v1beta/batches`: the caller's project's batches.
pub(crate) async fn list_batches(
    State(sim): State<Arc<Sim>>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let caller = match sim.caller(&headers, &query) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    let items = sim
        .jobs
        .lock()
        .batches
        .iter()
        .filter(|(_, b)| b.project == caller.project)
        .map(|(id, b)| (id.clone(), b.op.clone()))
        .collect();
    crate::resources::listed(
        &sim,
        &caller,
        crate::resources::page(items, &query, "operations"),
    )
}

/// `GET`, `DELETE /v1beta/batches/{id}` and `POST /v1beta/batches/{id}:cancel`.
pub(crate) async fn batch(
    State(sim): State<Arc<Sim>>,
    method: Method,
    Path(tail): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let caller = match sim.caller(&headers, &query) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    let (id, verb) = tail
        .split_once(':')
        .map_or((tail.as_str(), None), |(i, v)| (i, Some(v)));
    let mut jobs = sim.jobs.lock();
    let Some(b) = jobs
        .batches
        .get_mut(id)
        .filter(|b| b.project == caller.project)
    else {
        drop(jobs);
        sim.refused(&caller, 403);
        return json_response(403, &denied("GenerateContentBatch", id));
    };
    let answer = match (&method, verb) {
        (&Method::POST, Some("cancel")) => {
            if b.op["metadata"]["state"] == "BATCH_STATE_PENDING" {
                b.op["metadata"]["state"] = json!("BATCH_STATE_CANCELLED");
            }
            json!({})
        }
        (&Method::DELETE, None) => {
            jobs.batches.remove(id);
            json!({})
        }
        (&Method::GET, None) => {
            let mut b = b.clone();
            finish(&sim, &mut b);
            let op = b.op.clone();
            jobs.batches.insert(id.to_owned(), b);
            op
        }
        _ => {
            drop(jobs);
            sim.refused(&caller, 404);
            return json_response(
                404,
                &format::error_body(404, "NOT_FOUND", "Method not found.", None),
            );
        }
    };
    drop(jobs);
    sim.succeeded(&caller);
    json_response(200, &answer)
}

/// The text of an interaction's `input`: a string, content blocks, or turns of them.
fn input_chars(input: Option<&Value>) -> usize {
    match input {
        Some(Value::String(s)) => s.chars().count(),
        Some(v) => text_chars(Some(v)),
        None => 0,
    }
}

/// `POST /v1beta/interactions`: answered at once, in the project of the conversation it
/// continues (`previous_interaction_id`).
pub(crate) async fn create_interaction(
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
        return fail(400, &format::bad_request("* model is required"));
    };
    let model = model.trim_start_matches("models/").to_owned();
    if !sim.serves(&model) {
        return fail(404, &format::unknown_model(&model, "createInteraction"));
    }
    let previous = body.get("previous_interaction_id").and_then(Value::as_str);
    let mut history = 0;
    if let Some(prev) = previous {
        let held = sim
            .jobs
            .lock()
            .interactions
            .get(prev)
            .filter(|i| i.project == caller.project)
            .map(|i| input_chars(i.body.get("input")));
        let Some(chars) = held else {
            return fail(
                404,
                &format::error_body(
                    404,
                    "NOT_FOUND",
                    &format!("Interaction {prev} was not found."),
                    None,
                ),
            );
        };
        history = chars;
    }
    if let Err(e) = sim.check_resources(&caller.project, &body) {
        return fail(403, &e);
    }
    let prompt = tokens_of(input_chars(body.get("input")) + history);
    if let Err(r) = sim.admit(&caller, &model, prompt, false).await {
        return r;
    }
    let request = json!({"contents": [{"role": "user", "parts": [{"text": body.get("input").map(Value::to_string).unwrap_or_default()}]}]});
    let (answer, _, output) = sim.answer_for(&model, &request);
    let text = answer
        .pointer("/candidates/0/content/parts/0/text")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let now = sim.now_ms();
    let id = format!("v1_{}", random_id(24));
    let mut out = json!({
        "id": id,
        "status": "completed",
        "model": model,
        "created": rfc3339(now),
        "updated": rfc3339(now),
        "role": "model",
        "steps": [{"type": "model_output", "content": [{"type": "text", "text": text}]}],
        "usage": {"total_input_tokens": prompt, "total_output_tokens": output, "total_tokens": prompt + output},
    });
    if let Some(p) = previous {
        out["previous_interaction_id"] = json!(p);
    }
    sim.jobs.lock().interactions.insert(
        id,
        Interaction {
            project: caller.project.clone(),
            body: body.clone(),
        },
    );
    {
        let mut stats = sim.stats_mut();
        stats.interactions_created += 1;
    }
    sim.succeeded(&caller);
    json_response(200, &out)
}

/// `GET` and `DELETE /v1beta/interactions/{id}`.
pub(crate) async fn interaction(
    State(sim): State<Arc<Sim>>,
    method: Method,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let caller = match sim.caller(&headers, &query) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    let mut jobs = sim.jobs.lock();
    let Some(found) = jobs
        .interactions
        .get(&id)
        .filter(|i| i.project == caller.project)
        .cloned()
    else {
        drop(jobs);
        sim.refused(&caller, 404);
        return json_response(
            404,
            &format::error_body(
                404,
                "NOT_FOUND",
                &format!("Interaction {id} was not found."),
                None,
            ),
        );
    };
    let answer = if method == Method::DELETE {
        jobs.interactions.remove(&id);
        json!({})
    } else {
        json!({"id": id, "status": "completed", "model": found.body.get("model").cloned().unwrap_or(Value::Null)})
    };
    drop(jobs);
    sim.succeeded(&caller);
    json_response(200, &answer)
}
