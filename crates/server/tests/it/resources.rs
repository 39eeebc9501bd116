//! Project affinity (DESIGN.md §7, issue 15 item 3): a file uploaded through the gateway — by
//! the resumable protocol whose session URL the gateway rewrites to itself — is used only with
//! keys of the project that holds it, so every request naming it succeeds and no key is ever
//! blamed for another project's 403; caches follow their files; lists are the union over the
//! pool's projects; a file the gateway never saw is found by asking each project.

use serde_json::{Value, json};

use crate::operations::key_row;
use crate::{FLASH, TOKEN, Up, body, gemini_post, get_with_token, no_key_material, up};

/// A resumable upload through the gateway in two chunks, the chunks without a token (as the
/// SDKs send them); the file's JSON.
async fn upload(up: &Up, data: &[u8]) -> Value {
    let r = up
        .http
        .post(format!("{}/upload/v1beta/files", up.base))
        .header("x-goog-api-key", TOKEN)
        .header("x-goog-upload-protocol", "resumable")
        .header("x-goog-upload-command", "start")
        .header(
            "x-goog-upload-header-content-length",
            data.len().to_string(),
        )
        .header("x-goog-upload-header-content-type", "text/plain")
        .json(&json!({"file": {"displayName": "notes"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let url = r.headers()["x-goog-upload-url"]
        .to_str()
        .unwrap()
        .to_owned();
    // The session URL points at the gateway, never upstream.
    assert!(
        url.starts_with(&format!("{}/upload/v1beta/files?upload_id=", up.base)),
        "{url}"
    );
    assert!(!url.contains(&up.sim.base_url()));
    let half = data.len() / 2;
    let r = up
        .http
        .post(&url)
        .header("x-goog-upload-command", "upload")
        .header("x-goog-upload-offset", "0")
        .body(data[..half].to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-goog-upload-status"], "active");
    let r = up
        .http
        .post(&url)
        .header("x-goog-upload-command", "upload, finalize")
        .header("x-goog-upload-offset", half.to_string())
        .body(data[half..].to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-goog-upload-status"], "final");
    let (s, v, text) = body(r).await;
    assert_eq!(s, 200, "{text}");
    no_key_material(&text);
    // The session ended with the upload: its URL is no credential any more.
    let again = up
        .http
        .post(&url)
        .header("x-goog-upload-command", "upload, finalize")
        .header("x-goog-upload-offset", "0")
        .body("more")
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 401);
    v["file"].clone()
}

fn with_file(uri: &str, text: &str) -> Value {
    json!({"contents": [{"role": "user", "parts": [
        {"text": text},
        {"fileData": {"fileUri": uri, "mimeType": "text/plain"}}
    ]}]})
}

/// Which project's key can read `name` upstream (asked directly, not through the gateway).
async fn holder(up: &Up, name: &str) -> &'static str {
    for (project, material) in [("p2", "sim-material-k2"), ("p3", "sim-material-k3")] {
        let r = up
            .http
            .get(format!("{}/v1beta/{name}", up.sim.base_url()))
            .header("x-goog-api-key", material)
            .send()
            .await
            .unwrap();
        if r.status() == 200 {
            return project;
        }
    }
    panic!("no project holds {name}");
}

fn successes(up: &Up, project: &str) -> u64 {
    up.sim
        .sim
        .stats()
        .projects
        .get(project)
        .map_or(0, |c| c.successes)
}

fn failures(up: &Up, project: &str) -> u64 {
    up.sim
        .sim
        .stats()
        .projects
        .get(project)
        .map_or(0, |c| c.errors)
}

#[tokio::test]
async fn a_file_uploaded_through_the_gateway_is_used_with_keys_of_its_project() {
    let up = up(&[TOKEN]).await;
    let data = b"date,close\n2024-01-02,101.5\n2024-01-03,102.25\n";
    let file = upload(&up, data).await;
    let name = file["name"].as_str().unwrap().to_owned();
    let uri = file["uri"].as_str().unwrap().to_owned();
    assert_eq!(file["sizeBytes"], data.len().to_string());
    let owner = holder(&up, &name).await;
    let other = if owner == "p2" { "p3" } else { "p2" };
    let (owner_before, other_before) = (successes(&up, owner), successes(&up, other));
    let other_errors = failures(&up, other);

    // Twenty requests that name the file: every one answered, every one by its project.
    let url = format!("{}/v1beta/models/{FLASH}:generateContent", up.base);
    for i in 0..20 {
        let (s, _, text) =
            gemini_post(&up.http, url.clone(), &with_file(&uri, &format!("q{i}"))).await;
        assert_eq!(s, 200, "request {i}: {text}");
    }
    let count_url = format!("{}/v1beta/models/{FLASH}:countTokens", up.base);
    let (s, _, text) = gemini_post(&up.http, count_url, &with_file(&uri, "how long?")).await;
    assert_eq!(s, 200, "{text}");
    // 21 answers, and one countTokens of the file (its tokens, asked once and remembered).
    assert_eq!(successes(&up, owner) - owner_before, 22);
    assert_eq!(successes(&up, other), other_before);
    assert_eq!(
        failures(&up, other),
        other_errors,
        "no 403 was ever provoked"
    );

    // A cache made from the file lives in the same project, and serves from there.
    let (s, cache, text) = gemini_post(
        &up.http,
        format!("{}/v1beta/cachedContents", up.base),
        &json!({
            "model": format!("models/{FLASH}"),
            "contents": [{"role": "user", "parts": [{"fileData": {"fileUri": uri, "mimeType": "text/plain"}}]}],
            "ttl": "600s"
        }),
    )
    .await;
    assert_eq!(s, 200, "{text}");
    let cache_name = cache["name"].as_str().unwrap().to_owned();
    let before = successes(&up, owner);
    let ask = json!({"cachedContent": cache_name, "contents": [{"role": "user", "parts": [{"text": "Summarize."}]}]});
    for _ in 0..5 {
        let (s, _, text) = gemini_post(&up.http, url.clone(), &ask).await;
        assert_eq!(s, 200, "{text}");
    }
    // Five answers, and one countTokens of the cache (asked once, remembered).
    assert_eq!(successes(&up, owner) - before, 6);
    let (s, got, _) = get_with_token(&up, &format!("/v1beta/{cache_name}")).await;
    assert_eq!((s, got["name"].as_str()), (200, Some(cache_name.as_str())));
    let r = up
        .http
        .patch(format!("{}/v1beta/{cache_name}", up.base))
        .header("x-goog-api-key", TOKEN)
        .json(&json!({"ttl": "1200s"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (s, list, _) = get_with_token(&up, "/v1beta/cachedContents").await;
    assert_eq!(s, 200);
    assert_eq!(list["cachedContents"].as_array().map(Vec::len), Some(1));

    // Every key that was fine is still fine.
    let (_, health, text) = get_with_token(&up, "/v1/keys/health").await;
    no_key_material(&text);
    for k in ["k2", "k3"] {
        assert_eq!(key_row(&health, k)["active"], true, "{k}");
        assert_eq!(key_row(&health, k)["consecutive_errors"], 0, "{k}");
    }

    // Deleted through the gateway: gone, and a request naming it now is the caller's 403,
    // which changes no key.
    let del = |path: String| up.http.delete(path).header("x-goog-api-key", TOKEN).send();
    assert_eq!(
        del(format!("{}/v1beta/{cache_name}", up.base))
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        del(format!("{}/v1beta/{name}", up.base))
            .await
            .unwrap()
            .status(),
        200
    );
    let (s, e, _) = gemini_post(&up.http, url.clone(), &with_file(&uri, "still there?")).await;
    assert_eq!(s, 403, "{e}");
    let (_, health, _) = get_with_token(&up, "/v1/keys/health").await;
    for k in ["k2", "k3"] {
        assert_eq!(key_row(&health, k)["active"], true, "{k}");
    }
}

#[tokio::test]
async fn files_made_elsewhere_are_found_and_listed_across_projects() {
    let up = up(&[TOKEN]).await;
    let through = upload(&up, b"one file through the gateway").await;
    let through_owner = holder(&up, through["name"].as_str().unwrap()).await;
    // Two more files, uploaded straight to the other project (another tool, another gateway):
    // its list takes two pages, so upstream's page token (which holds a `+`) goes through.
    let other_material = if through_owner == "p2" {
        "sim-material-k3"
    } else {
        "sim-material-k2"
    };
    let multipart = "--b0\r\nContent-Type: application/json\r\n\r\n{\"file\": {\"displayName\": \"direct\"}}\r\n--b0\r\nContent-Type: text/plain\r\n\r\ndirect bytes\r\n--b0--\r\n";
    let mut direct_files = Vec::new();
    for _ in 0..2 {
        let r = up
            .http
            .post(format!("{}/upload/v1beta/files", up.sim.base_url()))
            .header("x-goog-api-key", other_material)
            .header("x-goog-upload-protocol", "multipart")
            .header("content-type", "multipart/related; boundary=b0")
            .body(multipart)
            .send()
            .await
            .unwrap();
        let (s, direct, _) = body(r).await;
        assert_eq!(s, 200);
        direct_files.push(direct);
    }
    let direct = direct_files[0].clone();
    let direct_name = direct["file"]["name"].as_str().unwrap().to_owned();

    // The list is the union over the pool's projects, one page at a time.
    let (s, first, text) = get_with_token(&up, "/v1beta/files?pageSize=1").await;
    assert_eq!(s, 200, "{text}");
    let mut names: Vec<String> = first["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap().to_owned())
        .collect();
    let mut token = first["nextPageToken"].as_str().map(str::to_owned);
    let mut pages = 1;
    while let Some(t) = token {
        let (s, page, text) =
            get_with_token(&up, &format!("/v1beta/files?pageSize=1&pageToken={t}")).await;
        assert_eq!(s, 200, "{text}");
        names.extend(
            page["files"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|f| f["name"].as_str().unwrap().to_owned()),
        );
        token = page["nextPageToken"].as_str().map(str::to_owned);
        pages += 1;
        assert!(pages < 10);
    }
    names.sort();
    let mut want = vec![
        through["name"].as_str().unwrap().to_owned(),
        direct_name.clone(),
        direct_files[1]["file"]["name"].as_str().unwrap().to_owned(),
    ];
    want.sort();
    assert_eq!(names, want);
    let (s, e, _) = get_with_token(&up, "/v1beta/files?pageToken=not-ours").await;
    assert_eq!(s, 400, "{e}");

    // A file the gateway never made is found by asking each project, then used from there.
    let (s, got, _) = get_with_token(&up, &format!("/v1beta/{direct_name}")).await;
    assert_eq!((s, got["name"].as_str()), (200, Some(direct_name.as_str())));
    let url = format!("{}/v1beta/models/{FLASH}:generateContent", up.base);
    let uri = direct["file"]["uri"].as_str().unwrap();
    for _ in 0..5 {
        let (s, _, text) = gemini_post(&up.http, url.clone(), &with_file(uri, "what?")).await;
        assert_eq!(s, 200, "{text}");
    }
    // Files of two projects in one request: no key can read both.
    let both = json!({"contents": [{"role": "user", "parts": [
        {"fileData": {"fileUri": through["uri"], "mimeType": "text/plain"}},
        {"fileData": {"fileUri": uri, "mimeType": "text/plain"}}
    ]}]});
    let before = up.upstream_requests();
    let (s, e, _) = gemini_post(&up.http, url, &both).await;
    assert_eq!(s, 400, "{e}");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("different Google projects")
    );
    assert_eq!(up.upstream_requests(), before);
    // A file nobody has: upstream's 403 from every project, the caller's.
    let (s, _, text) = get_with_token(&up, "/v1beta/files/nosuchfile").await;
    assert_eq!(s, 403, "{text}");
    no_key_material(&text);
}

#[tokio::test]
async fn an_upload_session_is_the_only_credential_a_chunk_may_lack() {
    let up = up(&[TOKEN]).await;
    let chunk = |url: String, token: Option<&str>| {
        let r = up
            .http
            .post(url)
            .header("x-goog-upload-command", "upload, finalize")
            .header("x-goog-upload-offset", "0")
            .body("bytes");
        match token {
            Some(t) => r.header("x-goog-api-key", t),
            None => r,
        }
        .send()
    };
    let bogus = format!(
        "{}/upload/v1beta/files?upload_id={}&upload_protocol=resumable",
        up.base,
        "ab".repeat(32)
    );
    assert_eq!(chunk(bogus.clone(), None).await.unwrap().status(), 401);
    assert_eq!(
        chunk(bogus.clone(), Some("wrong")).await.unwrap().status(),
        403
    );
    // With the token, a session the gateway never started is simply not there.
    let r = chunk(bogus, Some(TOKEN)).await.unwrap();
    assert_eq!(r.status(), 404);
    // A start without a token is refused before any upstream call.
    let r = up
        .http
        .post(format!("{}/upload/v1beta/files", up.base))
        .header("x-goog-upload-protocol", "resumable")
        .header("x-goog-upload-command", "start")
        .json(&json!({"file": {}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(up.upstream_requests(), 0);
}

#[tokio::test]
async fn batches_and_interactions_stay_with_their_project() {
    let up = up(&[TOKEN]).await;
    // An interaction, then follow-ups that name it: each served by its project.
    let (s, first, text) = gemini_post(
        &up.http,
        format!("{}/v1beta/interactions", up.base),
        &json!({"model": FLASH, "input": "Name a momentum indicator."}),
    )
    .await;
    assert_eq!(s, 200, "{text}");
    let id = first["id"].as_str().unwrap().to_owned();
    let owner = {
        let r = up
            .http
            .get(format!("{}/v1beta/interactions/{id}", up.sim.base_url()))
            .header("x-goog-api-key", "sim-material-k2")
            .send()
            .await
            .unwrap();
        if r.status() == 200 { "p2" } else { "p3" }
    };
    let other = if owner == "p2" { "p3" } else { "p2" };
    let (before, other_before) = (successes(&up, owner), successes(&up, other));
    let other_errors = failures(&up, other);
    for i in 0..10 {
        let (s, next, text) = gemini_post(
            &up.http,
            format!("{}/v1beta/interactions", up.base),
            &json!({"model": FLASH, "input": format!("And another? {i}"), "previous_interaction_id": id}),
        )
        .await;
        assert_eq!(s, 200, "follow-up {i}: {text}");
        assert_eq!(next["previous_interaction_id"], id.as_str());
    }
    let (s, got, _) = get_with_token(&up, &format!("/v1beta/interactions/{id}")).await;
    assert_eq!((s, got["id"].as_str()), (200, Some(id.as_str())));
    assert_eq!(successes(&up, owner) - before, 11);
    assert_eq!(successes(&up, other), other_before);
    assert_eq!(
        failures(&up, other),
        other_errors,
        "no 404 was ever provoked"
    );
    // Interactions are generation: reserved and counted in the model's bucket.
    let (_, health, _) = get_with_token(&up, "/v1/keys/health").await;
    let used: u64 = ["k2", "k3"]
        .iter()
        .map(|k| key_row(&health, k)["success_count"].as_u64().unwrap())
        .sum();
    assert!(used >= 11, "{health}");

    // A batch over a file uploaded through the gateway runs in the file's project.
    let file = upload(&up, b"{\"key\": \"1\", \"request\": {\"contents\": []}}\n").await;
    let file_owner = holder(&up, file["name"].as_str().unwrap()).await;
    let (s, op, text) = gemini_post(
        &up.http,
        format!("{}/v1beta/models/{FLASH}:batchGenerateContent", up.base),
        &json!({"batch": {"displayName": "nightly", "inputConfig": {"fileName": file["name"]}}}),
    )
    .await;
    assert_eq!(s, 200, "{text}");
    let batch = op["name"].as_str().unwrap().to_owned();
    assert_eq!(holder(&up, &batch).await, file_owner);
    let (s, done, text) = get_with_token(&up, &format!("/v1beta/{batch}")).await;
    assert_eq!(s, 200, "{text}");
    assert_eq!(done["metadata"]["state"], "BATCH_STATE_SUCCEEDED");
    // Its results file is read through the gateway from the same project.
    let results = done["metadata"]["output"]["responsesFile"]
        .as_str()
        .unwrap();
    let (s, _, text) = get_with_token(&up, &format!("/v1beta/{results}")).await;
    assert_eq!(s, 200, "{text}");
    let (s, list, _) = get_with_token(&up, "/v1beta/batches").await;
    assert_eq!(s, 200);
    assert_eq!(list["operations"].as_array().map(Vec::len), Some(1));
    let post = |path: String| up.http.post(path).header("x-goog-api-key", TOKEN).send();
    assert_eq!(
        post(format!("{}/v1beta/{batch}:cancel", up.base))
            .await
            .unwrap()
            .status(),
        200
    );
    let del = |path: String| up.http.delete(path).header("x-goog-api-key", TOKEN).send();
    assert_eq!(
        del(format!("{}/v1beta/{batch}", up.base))
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        del(format!("{}/v1beta/interactions/{id}", up.base))
            .await
            .unwrap()
            .status(),
        200
    );
    let (_, health, _) = get_with_token(&up, "/v1/keys/health").await;
    for k in ["k2", "k3"] {
        assert_eq!(key_row(&health, k)["active"], true, "{k}");
    }
}

#[tokio::test]
async fn a_batch_made_elsewhere_is_found_in_its_project() {
    // A batch made straight in p3 (another tool, another gateway).
    let up = up(&[TOKEN]).await;
    let r = up
        .http
        .post(format!("{}/v1beta/models/{FLASH}:batchGenerateContent", up.sim.base_url()))
        .header("x-goog-api-key", "sim-material-k3")
        .json(&json!({"batch": {"inputConfig": {"requests": {"requests": [{"request": {"contents": [{"parts": [{"text": "x"}]}]}}]}}}}))
        .send()
        .await
        .unwrap();
    let (_, op, _) = body(r).await;
    let name = op["name"].as_str().unwrap().to_owned();
    assert_eq!(holder(&up, &name).await, "p3");
    // And the gateway finds it although it never made it.
    let (s, got, text) = get_with_token(&up, &format!("/v1beta/{name}")).await;
    assert_eq!(s, 200, "{text}");
    assert_eq!(got["metadata"]["state"], "BATCH_STATE_SUCCEEDED");
}
