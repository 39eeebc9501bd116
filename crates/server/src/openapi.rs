//! The OpenAPI 3.1 document at `/openapi.json`.

use serde_json::{Value, json};

fn op(summary: &str, tag: &str) -> Value {
    json!({
        "summary": summary,
        "tags": [tag],
        "responses": {
            "200": {"description": "OK"},
            "401": {"description": "No gateway token"},
            "403": {"description": "A token the gateway does not accept"},
            "429": {"description": "Every key is busy; see Retry-After"},
            "503": {"description": "No key can serve the request"}
        }
    })
}

/// The document.
pub fn document() -> Value {
    let model = json!([{"name": "model", "in": "path", "required": true, "schema": {"type": "string"}, "example": "gemini-2.5-flash"}]);
    let mut generate = op("Gemini generateContent through the key pool", "gemini");
    generate["parameters"] = model.clone();
    let mut stream = op(
        "Gemini streamGenerateContent (SSE, `data: …\\r\\n\\r\\n` per chunk)",
        "gemini",
    );
    stream["parameters"] = model.clone();
    let mut count = op("Gemini countTokens", "gemini");
    count["parameters"] = model.clone();
    let mut embed = op("Gemini embedContent through the key pool", "gemini");
    embed["parameters"] = model.clone();
    let mut batch_embed = op(
        "Gemini batchEmbedContents through the key pool (what the SDKs' embed_content calls)",
        "gemini",
    );
    batch_embed["parameters"] = model.clone();
    let mut batch = op(
        "Create a batch with a key of the project of the files it names; its project is remembered",
        "resources",
    );
    batch["parameters"] = model.clone();
    let mut get_model = op("One model", "gemini");
    get_model["parameters"] = model;
    let key = json!([
        {"name": "key_id", "in": "path", "required": true, "schema": {"type": "string"}}
    ]);
    let id = json!([{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}]);
    let with_id = |summary: &str| {
        let mut o = op(summary, "resources");
        o["parameters"] = id.clone();
        o
    };
    let mut enable = op("Re-enable a key (admin token)", "admin");
    enable["parameters"] = key.clone();
    let mut disable = op("Disable a key (admin token)", "admin");
    disable["parameters"] = key;
    // Resources that live in one project (project affinity).
    let resources = json!({
            "/upload/v1beta/files": {"post": op("Upload a file (resumable: the session URL points at the gateway, and its id authorizes the chunks; or multipart), with a key of any project; the file's project is remembered", "resources")},
            "/v1beta/files": {"get": op("Files of every project of the pool (one page token resumes them all)", "resources")},
            "/v1beta/files/{id}": {"get": with_id("A file, with a key of its project"), "delete": with_id("Delete a file, with a key of its project")},
            "/v1beta/cachedContents": {"get": op("Cached contents of every project of the pool", "resources"), "post": op("Create a cached content, with a key of the project of the files it names", "resources")},
            "/v1beta/cachedContents/{id}": {"get": with_id("A cached content, with a key of its project"), "patch": with_id("Change a cached content's expiry"), "delete": with_id("Delete a cached content")},
            "/v1beta/models/{model}:batchGenerateContent": {"post": batch},
            "/v1beta/batches": {"get": op("Batches of every project of the pool", "resources")},
            "/v1beta/batches/{id}": {"get": with_id("A batch (and its results), with a key of its project"), "delete": with_id("Delete a batch")},
            "/v1beta/batches/{id}:cancel": {"post": with_id("Cancel a batch")},
            "/v1beta/interactions": {"post": op("Interactions API: generation kept by one project; a follow-up naming previous_interaction_id goes to that project's keys, reserved in the model's bucket", "resources")},
            "/v1beta/interactions/{id}": {"get": with_id("An interaction, with a key of its project"), "delete": with_id("Delete an interaction")}
    });
    let mut doc = json!({
        "openapi": "3.1.0",
        "info": {
            "title": "botforge gateway",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Gemini-native and OpenAI-compatible routes over a rotating pool of Gemini API keys. Send a gateway token where your SDK sends its key."
        },
        "components": {"securitySchemes": {
            "googApiKey": {"type": "apiKey", "in": "header", "name": "x-goog-api-key"},
            "queryKey": {"type": "apiKey", "in": "query", "name": "key"},
            "bearer": {"type": "http", "scheme": "bearer"}
        }},
        "security": [{"googApiKey": []}, {"queryKey": []}, {"bearer": []}],
        "paths": {
            "/v1beta/models/{model}:generateContent": {"post": generate},
            "/v1beta/models/{model}:streamGenerateContent": {"post": stream},
            "/v1beta/models/{model}:countTokens": {"post": count},
            "/v1beta/models/{model}:embedContent": {"post": embed},
            "/v1beta/models/{model}:batchEmbedContents": {"post": batch_embed},
            "/v1beta/models": {"get": op("Models served upstream", "gemini")},
            "/v1beta/models/{model}": {"get": get_model},
            "/v1/chat/completions": {"post": op("OpenAI chat completions (streaming with \"stream\": true)", "openai")},
            "/v1/models": {"get": op("Models, OpenAI's shape", "openai")},
            "/v1/embeddings": {"post": op("OpenAI embeddings through the key pool", "openai")},
            "/v1/keys/health": {"get": op("Every key's state and usage (no key material)", "keys")},
            "/v1/keys/activity": {"get": op("The last hour minute by minute: each key's calls, errors by class, tokens and upstream time; the gateway's answers and added time (every gateway's sums when Redis is shared)", "keys")},
            "/v1/keys/reload": {"post": op("Read the secret store again and swap rotated key material in (admin token)", "admin")},
            "/v1/keys/{key_id}/enable": {"post": enable},
            "/v1/keys/{key_id}/disable": {"post": disable},
            "/metrics": {"get": op("Prometheus metrics (OpenMetrics text)", "operations")},
            "/healthz": {"get": {"summary": "Alive", "tags": ["operations"], "security": [], "responses": {"200": {"description": "OK"}}}},
            "/readyz": {"get": {"summary": "A usable key exists and the state backend answers", "tags": ["operations"], "security": [], "responses": {"200": {"description": "Ready"}, "503": {"description": "Not ready"}}}},
            "/": {"get": {"summary": "The live dashboard (HTML, no external assets)", "tags": ["operations"], "security": [], "responses": {"200": {"description": "HTML"}}}}
        }
    });
    if let (Some(paths), Value::Object(more)) = (doc["paths"].as_object_mut(), resources) {
        paths.extend(more);
    }
    doc
}
