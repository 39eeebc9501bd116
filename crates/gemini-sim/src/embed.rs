//! Embeddings as Gemini answers them: `:embedContent` (one), `:batchEmbedContents` (several,
//! what the SDKs' `embed_content` calls) and the OpenAI-compatible `embeddings`. The same keys,
//! faults and (project, model) quotas as generation hold, each text's tokens counted against
//! TPM. Vectors are deterministic per text (the same text, the same vector), unit length, of
//! `outputDimensionality` / `dimensions` values (3072, `gemini-embedding-001`'s, when unsaid).

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::{Value, json};
use std::sync::Arc;

use crate::format;
use crate::sim::{Caller, Sim, bearer, compat_error, json_response, text_chars, tokens_of};

/// `gemini-embedding-001`'s default size.
const DEFAULT_DIMENSIONS: usize = 3072;

/// The vector of `text`: values from a generator seeded by the text's FNV-1a hash, scaled to
/// unit length, six decimals.
fn vector(text: &str, dimensions: usize) -> Vec<f64> {
    let mut state = text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    }) | 1;
    let raw: Vec<f64> = (0..dimensions.max(1))
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            #[expect(clippy::cast_precision_loss, reason = "53 bits of a 64-bit draw")]
            let unit = (state >> 11) as f64 / (1u64 << 53) as f64;
            unit * 2.0 - 1.0
        })
        .collect();
    let norm = raw
        .iter()
        .map(|v| v * v)
        .sum::<f64>()
        .sqrt()
        .max(f64::MIN_POSITIVE);
    raw.iter().map(|v| (v / norm * 1e6).round() / 1e6).collect()
}

/// The text of a `content` (its parts' texts, joined).
fn content_text(content: &Value) -> String {
    content
        .get("parts")
        .and_then(Value::as_array)
        .map(|parts| {
            parts
                .iter()
                .filter_map(|p| p.get("text").and_then(Value::as_str))
                .collect::<Vec<_>>()
                .join("")
        })
        .unwrap_or_default()
}

/// The size asked for, if any.
fn dimensions(v: &Value, names: &[&str]) -> Result<usize, String> {
    match names.iter().find_map(|n| v.get(*n)) {
        None | Some(Value::Null) => Ok(DEFAULT_DIMENSIONS),
        Some(d) => d
            .as_u64()
            .and_then(|d| usize::try_from(d).ok())
            .filter(|d| (1..=DEFAULT_DIMENSIONS).contains(d))
            .ok_or_else(|| {
                format!(
                    "{}: must be a whole number from 1 to {DEFAULT_DIMENSIONS}",
                    names[0]
                )
            }),
    }
}

/// One native request's text and size, checked.
fn native_one(request: &Value, model: &str, batch: bool) -> Result<(String, usize), String> {
    let Some(content) = request.get("content").filter(|c| c.is_object()) else {
        return Err("* EmbedContentRequest.content: content is required".to_owned());
    };
    if batch {
        let named = request.get("model").and_then(Value::as_str).unwrap_or("");
        if named.strip_prefix("models/").unwrap_or(named) != model {
            return Err(format!(
                "* BatchEmbedContentsRequest.requests[].model: must be models/{model}, the model of the request; found `{named}`"
            ));
        }
    }
    let text = content_text(content);
    let size = dimensions(request, &["outputDimensionality", "output_dimensionality"])?;
    Ok((text, size))
}

/// `:embedContent` and `:batchEmbedContents` for an authenticated `caller` and a served
/// `model`.
pub(crate) async fn native(
    sim: &Sim,
    caller: &Caller,
    model: &str,
    batch: bool,
    body: &Value,
) -> Response {
    let refuse = |message: String| {
        sim.refused(caller, 400);
        json_response(400, &format::bad_request(&message))
    };
    let requests: Vec<&Value> = if batch {
        match body.get("requests").and_then(Value::as_array) {
            Some(r) if !r.is_empty() => r.iter().collect(),
            _ => {
                return refuse(
                    "* BatchEmbedContentsRequest.requests: requests is required".to_owned(),
                );
            }
        }
    } else {
        vec![body]
    };
    let mut texts = Vec::with_capacity(requests.len());
    for r in requests {
        match native_one(r, model, batch) {
            Ok(t) => texts.push(t),
            Err(m) => return refuse(m),
        }
    }
    let prompt: u64 = texts
        .iter()
        .map(|(t, _)| tokens_of(text_chars(Some(&json!(t)))))
        .sum();
    if let Err(answer) = sim.admit(caller, model, prompt, false).await {
        return answer;
    }
    sim.succeeded(caller);
    sim.embedded(texts.len() as u64);
    let embeddings: Vec<Value> = texts
        .iter()
        .map(|(t, d)| json!({"values": vector(t, *d)}))
        .collect();
    if batch {
        json_response(200, &json!({"embeddings": embeddings}))
    } else {
        let one = embeddings.into_iter().next().unwrap_or(Value::Null);
        json_response(200, &json!({"embedding": one}))
    }
}

/// `POST /v1beta/openai/embeddings`.
pub(crate) async fn compat(
    State(sim): State<Arc<Sim>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let caller = match sim.authenticate(bearer(&headers)) {
        Ok(c) => c,
        Err((status, body)) => return compat_error(status, &body),
    };
    let refuse = |status: u16, body: &Value| {
        sim.refused(&caller, status);
        compat_error(status, body)
    };
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return refuse(400, &format::bad_request("Invalid JSON payload received."));
    };
    let named = body
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let model = named.strip_prefix("models/").unwrap_or(named).to_owned();
    if !sim.serves(&model) {
        return refuse(404, &format::unknown_model(&model, "embedContent"));
    }
    let texts: Vec<String> = match body.get("input") {
        Some(Value::String(t)) => vec![t.clone()],
        Some(Value::Array(items)) if !items.is_empty() && items.iter().all(Value::is_string) => {
            items
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        }
        _ => {
            return refuse(
                400,
                &format::bad_request("input: a string or a list of strings is required"),
            );
        }
    };
    let size = match dimensions(&body, &["dimensions"]) {
        Ok(d) => d,
        Err(m) => return refuse(400, &format::bad_request(&m)),
    };
    let prompt: u64 = texts.iter().map(|t| tokens_of(t.chars().count())).sum();
    if let Err(answer) = sim.admit(&caller, &model, prompt, true).await {
        return answer;
    }
    sim.succeeded(&caller);
    sim.embedded(texts.len() as u64);
    let data: Vec<Value> = texts
        .iter()
        .enumerate()
        .map(|(i, t)| json!({"object": "embedding", "index": i, "embedding": vector(t, size)}))
        .collect();
    json_response(
        200,
        &json!({
            "object": "list",
            "data": data,
            "model": model,
            "usage": {"prompt_tokens": prompt, "total_tokens": prompt},
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vectors_are_unit_length_and_the_same_for_the_same_text() {
        let a = vector("hello", 3072);
        assert_eq!(a.len(), 3072);
        let norm: f64 = a.iter().map(|v| v * v).sum::<f64>().sqrt();
        assert!((norm - 1.0).abs() < 1e-3, "{norm}");
        assert_eq!(a, vector("hello", 3072));
        assert_ne!(a, vector("hello!", 3072));
        assert_eq!(vector("x", 8).len(), 8);
    }
}
