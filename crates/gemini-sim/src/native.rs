//! The model routes as Google answers them: the native `generateContent`,
//! `streamGenerateContent`, `countTokens` and model listing, and the OpenAI-compatible chat and
//! model list, each through the simulator's keys, faults and quotas (`sim.rs`).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::Response;
use serde_json::{Value, json};

use crate::config::FaultKind;
use crate::format;
use crate::sim::{
    Reply, Sim, Tally, bearer, broken_body, chunk_text, compat_error, fault_error, field,
    json_response, native_key, prompt_tokens, response_id, sse_response, stalled_sse_response,
    tokens_of, unary_body, validate,
};

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

#[expect(
    clippy::too_many_lines,
    reason = "one linear pipeline: route, auth, validation, faults, quota, reply"
)]
pub(crate) async fn native_post(
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

pub(crate) async fn list_models(
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

pub(crate) async fn get_model(
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
pub(crate) async fn compat_chat(
    State(sim): State<Arc<Sim>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
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

pub(crate) async fn compat_models(State(sim): State<Arc<Sim>>, headers: HeaderMap) -> Response {
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
