//! Errors in each protocol's shape: Google's `{"error": {code, message, status}}` on native
//! routes, OpenAI's `{"error": {message, type, code}}` on compatible ones.

use std::net::SocketAddr;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use gemini::{GeminiError, RotateError};
use keypool::PoolError;
use serde_json::json;

/// Why the server cannot run.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// A non-loopback bind address with no client tokens.
    #[error(
        "refusing to listen on {0} without client tokens: anyone who reaches it would spend your keys; set BOTFORGE_CLIENT_TOKENS (or --token), or bind 127.0.0.1"
    )]
    OpenWithoutTokens(SocketAddr),
    /// The listener failed.
    #[error("serving failed: {0}")]
    Io(std::io::Error),
    /// A key reload was asked for but the gateway has no secret store.
    #[error("this gateway was started without a secret store, so it cannot reload keys")]
    NoSecretStore,
    /// The secret store failed during a reload (the current key material stays in use).
    #[error("reloading keys failed, the current key material stays in use: {0}")]
    Secrets(#[source] secrets::SecretsError),
    /// The pool's state store failed during a reload.
    #[error("reloading keys failed in the pool: {0}")]
    Pool(String),
}

/// Which shape errors take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// Google's envelope.
    Gemini,
    /// OpenAI's.
    OpenAi,
}

/// An error on its way to a client.
#[derive(Debug, Clone)]
pub struct ApiFailure {
    /// HTTP status.
    pub status: StatusCode,
    /// Google's canonical status (`INVALID_ARGUMENT`…).
    pub canonical: &'static str,
    /// What happened and what to do.
    pub message: String,
    /// Seconds until retrying makes sense.
    pub retry_after: Option<u64>,
    /// The shape.
    pub protocol: Protocol,
}

impl ApiFailure {
    /// A failure with no retry hint.
    pub fn new(
        protocol: Protocol,
        status: StatusCode,
        canonical: &'static str,
        message: impl Into<String>,
    ) -> Self {
        Self {
            status,
            canonical,
            message: message.into(),
            retry_after: None,
            protocol,
        }
    }

    /// From a rotated call's failure.
    pub fn from_rotate(protocol: Protocol, e: &RotateError) -> Self {
        match e {
            RotateError::Rejected { error, .. } => Self::from_upstream(protocol, error),
            RotateError::Pool { pool, .. } => match pool {
                PoolError::Exhausted(x) => {
                    let wait = x
                        .earliest_free
                        .map(|t| u64::try_from((t - x.at).max(0)).unwrap_or(0).div_ceil(1000));
                    match wait {
                        // A key frees up soon: tell the client when to come back.
                        Some(s) if s <= 300 => Self {
                            retry_after: Some(s.max(1)),
                            ..Self::new(
                                protocol,
                                StatusCode::TOO_MANY_REQUESTS,
                                "RESOURCE_EXHAUSTED",
                                format!(
                                    "every key for {} is busy or resting; retry in {} s",
                                    x.model,
                                    s.max(1)
                                ),
                            )
                        },
                        _ => Self::new(
                            protocol,
                            StatusCode::SERVICE_UNAVAILABLE,
                            "UNAVAILABLE",
                            format!("no key can serve {} and none frees up soon", x.model),
                        ),
                    }
                }
                PoolError::UnknownModel { model, .. } => Self::new(
                    protocol,
                    StatusCode::NOT_FOUND,
                    "NOT_FOUND",
                    format!("models/{model} is not served by this gateway's keys"),
                ),
                PoolError::TooLarge { .. } => Self::new(
                    protocol,
                    StatusCode::BAD_REQUEST,
                    "INVALID_ARGUMENT",
                    "the request is larger than any key's tokens-per-minute limit",
                ),
                other => Self::new(
                    protocol,
                    StatusCode::SERVICE_UNAVAILABLE,
                    "UNAVAILABLE",
                    format!("the key pool failed: {}", other.kind()),
                ),
            },
            RotateError::GaveUp { last, .. } => match last {
                GeminiError::Api(api) if api.http == 429 => Self {
                    retry_after: api.retry_delay.map(|d| d.as_secs().max(1)),
                    ..Self::new(
                        protocol,
                        StatusCode::TOO_MANY_REQUESTS,
                        "RESOURCE_EXHAUSTED",
                        "upstream quota exhausted on every key tried",
                    )
                },
                _ => Self::new(
                    protocol,
                    StatusCode::SERVICE_UNAVAILABLE,
                    "UNAVAILABLE",
                    "upstream kept failing; the gateway tried other keys and gave up",
                ),
            },
            RotateError::Deadline { deadline, .. } => Self::new(
                protocol,
                StatusCode::GATEWAY_TIMEOUT,
                "DEADLINE_EXCEEDED",
                format!(
                    "upstream did not answer within the gateway's deadline of {} s",
                    deadline.as_secs()
                ),
            ),
            _ => Self::new(
                protocol,
                StatusCode::SERVICE_UNAVAILABLE,
                "UNAVAILABLE",
                "upstream failed",
            ),
        }
    }

    /// An upstream answer about the request itself (400, 404), passed on.
    pub fn from_upstream(protocol: Protocol, e: &GeminiError) -> Self {
        match e {
            GeminiError::Api(api) => Self::new(
                protocol,
                StatusCode::from_u16(api.http).unwrap_or(StatusCode::BAD_GATEWAY),
                canonical(&api.status),
                api.message.clone(),
            ),
            GeminiError::Timeout(_) => Self::new(
                protocol,
                StatusCode::GATEWAY_TIMEOUT,
                "DEADLINE_EXCEEDED",
                "upstream did not answer in time (the key answers other calls); retry, or ask for a stream",
            ),
            GeminiError::Sending(_) => Self::new(
                protocol,
                StatusCode::BAD_GATEWAY,
                "UNAVAILABLE",
                "upstream closed the connection before answering this request (the key answers other calls): a body larger than upstream takes is refused this way",
            ),
            _ => Self::new(
                protocol,
                StatusCode::BAD_GATEWAY,
                "UNAVAILABLE",
                "upstream failed",
            ),
        }
    }

    /// The JSON body.
    pub fn body(&self) -> serde_json::Value {
        match self.protocol {
            Protocol::Gemini => json!({"error": {
                "code": self.status.as_u16(),
                "message": self.message,
                "status": self.canonical,
            }}),
            Protocol::OpenAi => json!({"error": {
                "message": self.message,
                "type": match self.status.as_u16() {
                    401 | 403 => "authentication_error",
                    429 => "rate_limit_error",
                    400..=499 => "invalid_request_error",
                    _ => "api_error",
                },
                "param": null,
                "code": self.canonical.to_ascii_lowercase(),
            }}),
        }
    }
}

/// Google's canonical status names, kept static.
fn canonical(s: &str) -> &'static str {
    match s {
        "INVALID_ARGUMENT" => "INVALID_ARGUMENT",
        "FAILED_PRECONDITION" => "FAILED_PRECONDITION",
        "NOT_FOUND" => "NOT_FOUND",
        "PERMISSION_DENIED" => "PERMISSION_DENIED",
        "UNAUTHENTICATED" => "UNAUTHENTICATED",
        "RESOURCE_EXHAUSTED" => "RESOURCE_EXHAUSTED",
        "DEADLINE_EXCEEDED" => "DEADLINE_EXCEEDED",
        "INTERNAL" => "INTERNAL",
        _ => "UNKNOWN",
    }
}

impl IntoResponse for ApiFailure {
    fn into_response(self) -> Response {
        let mut r = (self.status, axum::Json(self.body())).into_response();
        if let Some(s) = self.retry_after
            && let Ok(v) = HeaderValue::from_str(&s.to_string())
        {
            r.headers_mut().insert(header::RETRY_AFTER, v);
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_call_abandoned_at_the_deadline_is_a_gateway_timeout() {
        let e = RotateError::Deadline {
            deadline: std::time::Duration::from_secs(60),
            attempts: 1,
            last: None,
        };
        for protocol in [Protocol::Gemini, Protocol::OpenAi] {
            let f = ApiFailure::from_rotate(protocol, &e);
            assert_eq!(f.status, StatusCode::GATEWAY_TIMEOUT);
            assert!(f.message.contains("60 s"), "{}", f.message);
        }
    }
}
