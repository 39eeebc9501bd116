//! Calls about a project's resources (Files, cached contents and the like) passed through as
//! they came: any method, path, query, upload headers and body, and the answer's status, headers
//! and body as upstream sent them. The gateway uses these for project affinity (DESIGN.md §7).

use bytes::Bytes;
use keypool::ApiKey;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use tokio::time::timeout_at;

use crate::client::{GeminiClient, map_reqwest};
use crate::error::GeminiError;

/// A request about a resource, passed through.
#[derive(Debug, Clone)]
pub struct RawRequest {
    /// The HTTP method.
    pub method: reqwest::Method,
    /// The path under the API base, query included: `v1beta/files/abc`,
    /// `upload/v1beta/files?upload_id=…`.
    pub path: String,
    /// Headers to send (content type, `x-goog-upload-*`); never a key.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// The body.
    pub body: Bytes,
}

impl RawRequest {
    /// A `GET` of `path`.
    pub fn get(path: impl Into<String>) -> Self {
        Self {
            method: reqwest::Method::GET,
            path: path.into(),
            headers: Vec::new(),
            body: Bytes::new(),
        }
    }
}

/// Upstream's answer to a [`RawRequest`] with a success status.
#[derive(Debug, Clone)]
pub struct RawResponse {
    /// The HTTP status (2xx).
    pub status: u16,
    /// The headers.
    pub headers: HeaderMap,
    /// The body.
    pub body: Bytes,
}

impl RawResponse {
    /// The body as JSON, `Null` when it is not.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

/// Whether `path` is one a resource call may take: under `v1beta/` or `upload/v1beta/`, with no
/// step up and no scheme.
pub fn resource_path_ok(path: &str) -> bool {
    let bare = path.split_once('?').map_or(path, |(p, _)| p);
    (bare.starts_with("v1beta/") || bare.starts_with("upload/v1beta/"))
        && !bare.split('/').any(|s| s == ".." || s == ".")
        && !bare.contains("//")
        && !bare.contains('\\')
}

impl GeminiClient {
    /// Sends `request` with `key`; an error status becomes a [`GeminiError`] (so a 403 about a
    /// resource of another project reads as the caller's, a key-level one as the key's).
    ///
    /// # Errors
    /// Any [`GeminiError`]; a path outside the API is [`GeminiError::Request`].
    pub async fn resource(
        &self,
        key: &ApiKey,
        request: &RawRequest,
    ) -> Result<RawResponse, GeminiError> {
        if !resource_path_ok(&request.path) {
            return Err(GeminiError::Request(format!(
                "bad resource path `{}`",
                request.path
            )));
        }
        let url = self.api_url(&request.path);
        let mut builder = self.http().request(request.method.clone(), url);
        for (name, value) in &request.headers {
            builder = builder.header(name, value);
        }
        let body = (!request.body.is_empty()).then(|| request.body.clone());
        let (response, deadline) = self.send_body(key, builder, body).await?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = match timeout_at(deadline, response.bytes()).await {
            Err(_) => return Err(GeminiError::Timeout("total")),
            Ok(Err(e)) => return Err(map_reqwest(&e, "body")),
            Ok(Ok(b)) => b,
        };
        Ok(RawResponse {
            status,
            headers,
            body,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_paths_stay_inside_the_api() {
        assert!(resource_path_ok("v1beta/files/abc"));
        assert!(resource_path_ok(
            "upload/v1beta/files?upload_id=x&upload_protocol=resumable"
        ));
        assert!(resource_path_ok("v1beta/cachedContents?pageSize=5"));
        assert!(!resource_path_ok("v1beta/../admin"));
        assert!(!resource_path_ok("v1/files"));
        assert!(!resource_path_ok("v1beta//evil.example/x"));
        assert!(!resource_path_ok("https://evil.example/v1beta/files"));
        // A step up in the query is only text.
        assert!(resource_path_ok("v1beta/files?pageToken=../x"));
    }
}
