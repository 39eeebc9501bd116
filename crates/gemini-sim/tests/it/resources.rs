//! Files and cached contents live in the project of the key that made them: the resumable and
//! multipart uploads the SDKs use, listing, deleting, and the real 403 for any other project —
//! also when a generation request names them.

use reqwest::header::HeaderMap;
use serde_json::{Value, json};

use super::{FLASH, gen_path, sim};

const TWO_PROJECTS: &str = r#"
[[keys]]
id = "a1"
key = "test-key-a1"
project = "pa"
[[keys]]
id = "b1"
key = "test-key-b1"
project = "pb"
"#;

async fn send(req: reqwest::RequestBuilder, key: Option<&str>) -> (u16, HeaderMap, Value) {
    let req = match key {
        Some(k) => req.header("x-goog-api-key", k),
        None => req,
    };
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let bytes = r.bytes().await.unwrap();
    (
        status,
        headers,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// A resumable upload in two chunks, as the SDKs send it; the file's JSON.
async fn upload(base: &str, key: &str, data: &[u8]) -> Value {
    let http = reqwest::Client::new();
    let (s, h, _) = send(
        http.post(format!("{base}/upload/v1beta/files"))
            .header("x-goog-upload-protocol", "resumable")
            .header("x-goog-upload-command", "start")
            .header(
                "x-goog-upload-header-content-length",
                data.len().to_string(),
            )
            .header("x-goog-upload-header-content-type", "text/plain")
            .json(&json!({"file": {"displayName": "notes"}})),
        Some(key),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(h["x-goog-upload-status"], "active");
    let url = h["x-goog-upload-url"].to_str().unwrap().to_owned();
    assert!(url.starts_with(base), "{url}");
    let half = data.len() / 2;
    // The chunks carry no key: the session id is the credential.
    let (s, h, _) = send(
        http.post(&url)
            .header("x-goog-upload-command", "upload")
            .header("x-goog-upload-offset", "0")
            .body(data[..half].to_vec()),
        None,
    )
    .await;
    assert_eq!(
        (s, h["x-goog-upload-status"].to_str().unwrap()),
        (200, "active")
    );
    // A chunk at the wrong offset is refused.
    let (s, ..) = send(
        http.post(&url)
            .header("x-goog-upload-command", "upload, finalize")
            .header("x-goog-upload-offset", "0")
            .body(data[half..].to_vec()),
        None,
    )
    .await;
    assert_eq!(s, 400);
    let (s, h, v) = send(
        http.post(&url)
            .header("x-goog-upload-command", "upload, finalize")
            .header("x-goog-upload-offset", half.to_string())
            .body(data[half..].to_vec()),
        None,
    )
    .await;
    assert_eq!(
        (s, h["x-goog-upload-status"].to_str().unwrap()),
        (200, "final")
    );
    v["file"].clone()
}

fn with_file(uri: &str) -> Value {
    json!({"contents": [{"role": "user", "parts": [
        {"text": "What is in this file?"},
        {"fileData": {"fileUri": uri, "mimeType": "text/plain"}}
    ]}]})
}

#[tokio::test]
async fn a_file_belongs_to_the_project_that_uploaded_it() {
    let s = sim(TWO_PROJECTS).await;
    let base = s.base_url();
    let http = reqwest::Client::new();
    let file = upload(&base, "test-key-a1", b"close,volume\n101.5,300\n").await;
    let name = file["name"].as_str().unwrap();
    assert!(name.starts_with("files/"));
    assert_eq!(file["sizeBytes"], "23");
    assert_eq!(file["mimeType"], "text/plain");
    assert_eq!(file["displayName"], "notes");
    assert_eq!(file["state"], "ACTIVE");
    let uri = file["uri"].as_str().unwrap();
    let id = name.trim_start_matches("files/");

    // Its own project reads it, lists it and generates with it.
    let (st, _, got) = send(
        http.get(format!("{base}/v1beta/{name}")),
        Some("test-key-a1"),
    )
    .await;
    assert_eq!((st, got["name"].as_str()), (200, Some(name)));
    let (_, _, list) = send(
        http.get(format!("{base}/v1beta/files")),
        Some("test-key-a1"),
    )
    .await;
    assert_eq!(list["files"].as_array().map(Vec::len), Some(1));
    let (st, _, _) = send(
        http.post(format!("{base}{}", gen_path(FLASH)))
            .json(&with_file(uri)),
        Some("test-key-a1"),
    )
    .await;
    assert_eq!(st, 200);

    // Another project gets Google's 403 for all of it, and sees no files.
    let denied = format!("You do not have permission to access the File {id} or it may not exist.");
    let (st, _, e) = send(
        http.get(format!("{base}/v1beta/{name}")),
        Some("test-key-b1"),
    )
    .await;
    assert_eq!(
        (st, e["error"]["message"].as_str()),
        (403, Some(denied.as_str()))
    );
    assert_eq!(e["error"]["status"], "PERMISSION_DENIED");
    let (st, _, e) = send(
        http.post(format!("{base}{}", gen_path(FLASH)))
            .json(&with_file(uri)),
        Some("test-key-b1"),
    )
    .await;
    assert_eq!(
        (st, e["error"]["message"].as_str()),
        (403, Some(denied.as_str()))
    );
    let (_, _, list) = send(
        http.get(format!("{base}/v1beta/files")),
        Some("test-key-b1"),
    )
    .await;
    assert_eq!(list, json!({}));
    let (st, ..) = send(
        http.delete(format!("{base}/v1beta/{name}")),
        Some("test-key-b1"),
    )
    .await;
    assert_eq!(st, 403);

    // Deleted by its owner, it is gone for everyone.
    let (st, ..) = send(
        http.delete(format!("{base}/v1beta/{name}")),
        Some("test-key-a1"),
    )
    .await;
    assert_eq!(st, 200);
    let (st, ..) = send(
        http.get(format!("{base}/v1beta/{name}")),
        Some("test-key-a1"),
    )
    .await;
    assert_eq!(st, 403);
    assert_eq!(s.sim.stats().files_created, 1);
}

#[tokio::test]
async fn a_multipart_upload_makes_a_file_at_once() {
    let s = sim(TWO_PROJECTS).await;
    let base = s.base_url();
    let body = "--XyZ\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n{\"file\": {\"displayName\": \"prices\", \"mimeType\": \"text/csv\"}}\r\n--XyZ\r\nContent-Type: text/csv\r\n\r\nclose\n1\n2\n\r\n--XyZ--\r\n";
    let (st, _, v) = send(
        reqwest::Client::new()
            .post(format!("{base}/upload/v1beta/files"))
            .header("x-goog-upload-protocol", "multipart")
            .header("content-type", "multipart/related; boundary=XyZ")
            .body(body),
        Some("test-key-b1"),
    )
    .await;
    assert_eq!(st, 200);
    assert_eq!(v["file"]["displayName"], "prices");
    assert_eq!(v["file"]["mimeType"], "text/csv");
    assert_eq!(v["file"]["sizeBytes"], "10");
    // A body that is not multipart is refused.
    let (st, ..) = send(
        reqwest::Client::new()
            .post(format!("{base}/upload/v1beta/files"))
            .header("x-goog-upload-protocol", "multipart")
            .header("content-type", "multipart/related; boundary=XyZ")
            .body("no parts here"),
        Some("test-key-b1"),
    )
    .await;
    assert_eq!(st, 400);
}

#[tokio::test]
async fn a_cache_serves_its_project_until_it_expires_or_is_deleted() {
    let s = sim(TWO_PROJECTS).await;
    let base = s.base_url();
    let http = reqwest::Client::new();
    let file = upload(&base, "test-key-b1", b"a long document").await;
    let create = json!({
        "model": format!("models/{FLASH}"),
        "contents": [{"role": "user", "parts": [
            {"text": "You answer questions about this document."},
            {"fileData": {"fileUri": file["uri"], "mimeType": "text/plain"}}
        ]}],
        "ttl": "300s",
    });
    // Not with a key of another project than the file's.
    let (st, ..) = send(
        http.post(format!("{base}/v1beta/cachedContents"))
            .json(&create),
        Some("test-key-a1"),
    )
    .await;
    assert_eq!(st, 403);
    let (st, _, cache) = send(
        http.post(format!("{base}/v1beta/cachedContents"))
            .json(&create),
        Some("test-key-b1"),
    )
    .await;
    assert_eq!(st, 200, "{cache}");
    let name = cache["name"].as_str().unwrap().to_owned();
    assert!(name.starts_with("cachedContents/"));
    assert_eq!(cache["model"], format!("models/{FLASH}"));
    assert!(cache["usageMetadata"]["totalTokenCount"].as_u64().unwrap() > 0);
    let ask = json!({"cachedContent": name, "contents": [{"role": "user", "parts": [{"text": "Summarize."}]}]});
    let (st, ..) = send(
        http.post(format!("{base}{}", gen_path(FLASH))).json(&ask),
        Some("test-key-b1"),
    )
    .await;
    assert_eq!(st, 200);
    let (st, _, e) = send(
        http.post(format!("{base}{}", gen_path(FLASH))).json(&ask),
        Some("test-key-a1"),
    )
    .await;
    assert_eq!(st, 403);
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("You do not have permission to access the CachedContent")
    );
    // A new expiry, then a delete.
    let (st, _, patched) = send(
        http.patch(format!("{base}/v1beta/{name}"))
            .json(&json!({"ttl": "7200s"})),
        Some("test-key-b1"),
    )
    .await;
    assert_eq!(st, 200);
    assert_ne!(patched["expireTime"], cache["expireTime"]);
    let (_, _, list) = send(
        http.get(format!("{base}/v1beta/cachedContents")),
        Some("test-key-b1"),
    )
    .await;
    assert_eq!(list["cachedContents"].as_array().map(Vec::len), Some(1));
    let (st, ..) = send(
        http.delete(format!("{base}/v1beta/{name}")),
        Some("test-key-b1"),
    )
    .await;
    assert_eq!(st, 200);
    let (st, ..) = send(
        http.post(format!("{base}{}", gen_path(FLASH))).json(&ask),
        Some("test-key-b1"),
    )
    .await;
    assert_eq!(st, 403);
    assert_eq!(s.sim.stats().caches_created, 1);
}

#[tokio::test]
async fn a_batch_finishes_in_its_project_with_its_answers() {
    let s = sim(TWO_PROJECTS).await;
    let base = s.base_url();
    let http = reqwest::Client::new();
    // A batch of two inline requests, finished when read, its answers in order.
    let create = json!({"batch": {"displayName": "nightly", "inputConfig": {"requests": {"requests": [
        {"request": {"contents": [{"parts": [{"text": "one"}]}]}, "metadata": {"key": "r1"}},
        {"request": {"contents": [{"parts": [{"text": "two"}]}]}, "metadata": {"key": "r2"}}
    ]}}}});
    let (st, _, op) = send(
        http.post(format!("{base}/v1beta/models/{FLASH}:batchGenerateContent"))
            .json(&create),
        Some("test-key-a1"),
    )
    .await;
    assert_eq!(st, 200, "{op}");
    let name = op["name"].as_str().unwrap().to_owned();
    assert!(name.starts_with("batches/"));
    assert_eq!(op["metadata"]["state"], "BATCH_STATE_PENDING");
    assert_eq!(op["metadata"]["displayName"], "nightly");
    let (st, _, done) = send(
        http.get(format!("{base}/v1beta/{name}")),
        Some("test-key-a1"),
    )
    .await;
    assert_eq!(st, 200);
    assert_eq!(done["metadata"]["state"], "BATCH_STATE_SUCCEEDED");
    let answers = done["metadata"]["output"]["inlinedResponses"]["inlinedResponses"]
        .as_array()
        .unwrap();
    assert_eq!(answers.len(), 2);
    assert_eq!(answers[1]["metadata"]["key"], "r2");
    assert!(answers[0]["response"]["candidates"][0]["content"]["parts"][0]["text"].is_string());
    // Another project: Google's 403, and an empty list.
    let (st, ..) = send(
        http.get(format!("{base}/v1beta/{name}")),
        Some("test-key-b1"),
    )
    .await;
    assert_eq!(st, 403);
    let (_, _, list) = send(
        http.get(format!("{base}/v1beta/batches")),
        Some("test-key-b1"),
    )
    .await;
    assert_eq!(list, json!({}));
    let (_, _, list) = send(
        http.get(format!("{base}/v1beta/batches")),
        Some("test-key-a1"),
    )
    .await;
    assert_eq!(list["operations"].as_array().map(Vec::len), Some(1));
    // A batch over a file of another project is refused; over its own, it leaves a results file
    // in that project.
    let file = upload(&base, "test-key-b1", b"{\"key\": \"1\", \"request\": {}}\n").await;
    let by_file = json!({"batch": {"inputConfig": {"fileName": file["name"]}}});
    let (st, ..) = send(
        http.post(format!("{base}/v1beta/models/{FLASH}:batchGenerateContent"))
            .json(&by_file),
        Some("test-key-a1"),
    )
    .await;
    assert_eq!(st, 403);
    let (st, _, op) = send(
        http.post(format!("{base}/v1beta/models/{FLASH}:batchGenerateContent"))
            .json(&by_file),
        Some("test-key-b1"),
    )
    .await;
    assert_eq!(st, 200);
    let (_, _, done) = send(
        http.get(format!("{base}/v1beta/{}", op["name"].as_str().unwrap())),
        Some("test-key-b1"),
    )
    .await;
    let results = done["metadata"]["output"]["responsesFile"]
        .as_str()
        .unwrap();
    let (st, ..) = send(
        http.get(format!("{base}/v1beta/{results}")),
        Some("test-key-b1"),
    )
    .await;
    assert_eq!(st, 200);
    // Cancel and delete.
    let (st, ..) = send(
        http.post(format!("{base}/v1beta/{name}:cancel")),
        Some("test-key-a1"),
    )
    .await;
    assert_eq!(st, 200);
    let (st, ..) = send(
        http.delete(format!("{base}/v1beta/{name}")),
        Some("test-key-a1"),
    )
    .await;
    assert_eq!(st, 200);
    let (st, ..) = send(
        http.get(format!("{base}/v1beta/{name}")),
        Some("test-key-a1"),
    )
    .await;
    assert_eq!(st, 403);
    assert_eq!(s.sim.stats().batches_created, 2);
}

#[tokio::test]
async fn an_interaction_is_continued_only_in_its_project() {
    let s = sim(TWO_PROJECTS).await;
    let base = s.base_url();
    let http = reqwest::Client::new();
    // An interaction, and a follow-up that names it: only in its project.
    let (st, _, first) = send(
        http.post(format!("{base}/v1beta/interactions"))
            .json(&json!({"model": FLASH, "input": "Name a moving average."})),
        Some("test-key-a1"),
    )
    .await;
    assert_eq!(st, 200, "{first}");
    assert_eq!(first["status"], "completed");
    assert_eq!(first["steps"][0]["type"], "model_output");
    assert!(first["usage"]["total_input_tokens"].as_u64().unwrap() > 0);
    let id = first["id"].as_str().unwrap();
    let follow =
        json!({"model": FLASH, "input": "And a faster one?", "previous_interaction_id": id});
    let (st, _, second) = send(
        http.post(format!("{base}/v1beta/interactions"))
            .json(&follow),
        Some("test-key-a1"),
    )
    .await;
    assert_eq!(st, 200);
    assert_eq!(second["previous_interaction_id"], id);
    // The conversation so far counts as input.
    assert!(
        second["usage"]["total_input_tokens"].as_u64().unwrap()
            > first["usage"]["total_input_tokens"].as_u64().unwrap()
    );
    let (st, _, e) = send(
        http.post(format!("{base}/v1beta/interactions"))
            .json(&follow),
        Some("test-key-b1"),
    )
    .await;
    assert_eq!(st, 404, "{e}");
    let (st, ..) = send(
        http.get(format!("{base}/v1beta/interactions/{id}")),
        Some("test-key-b1"),
    )
    .await;
    assert_eq!(st, 404);
    let (st, ..) = send(
        http.get(format!("{base}/v1beta/interactions/{id}")),
        Some("test-key-a1"),
    )
    .await;
    assert_eq!(st, 200);
    assert_eq!(s.sim.stats().interactions_created, 2);
}
