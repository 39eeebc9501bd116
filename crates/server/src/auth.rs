//! Client tokens: taken from where each SDK puts its key, compared in constant time (hashed
//! first, so not even a token's length shows); the admin token from headers only.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::HeaderMap;
use axum::http::Uri;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use secrecy::{ExposeSecret, SecretString};
use subtle::ConstantTimeEq;

use crate::errors::{ApiFailure, Protocol};
use crate::state::Gateway;
use axum::http::StatusCode;

/// Why a request is not let through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denied {
    /// No token at all (401).
    Missing,
    /// A token that is not one of ours (403).
    Wrong,
}

/// The token a client sent: `x-goog-api-key`, then `Authorization: Bearer`, then `?key=`.
pub fn presented(headers: &HeaderMap, uri: &Uri) -> Option<String> {
    if let Some(v) = headers.get("x-goog-api-key").and_then(|v| v.to_str().ok()) {
        return Some(v.trim().to_owned());
    }
    if let Some(v) = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    {
        return Some(v.trim().to_owned());
    }
    uri.query()?
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == "key")
        .map(|(_, v)| v.to_owned())
}

/// Checks a request against the configured tokens (none configured: everyone may pass).
pub fn check(tokens: &[SecretString], headers: &HeaderMap, uri: &Uri) -> Result<(), Denied> {
    if tokens.is_empty() {
        return Ok(());
    }
    let Some(given) = presented(headers, uri).filter(|g| !g.is_empty()) else {
        return Err(Denied::Missing);
    };
    if matches_any(tokens, &given) {
        Ok(())
    } else {
        Err(Denied::Wrong)
    }
}

/// The token a client sent in a header: `x-goog-api-key`, then `Authorization: Bearer` (never
/// the query string, which proxies and logs keep).
fn presented_in_headers(headers: &HeaderMap) -> Option<String> {
    presented(headers, &Uri::from_static("/"))
}

/// Compares `given` with every token in constant time: neither which token nearly matched nor
/// a token's length shows in the time taken (both sides are hashed to 32 bytes first).
fn matches_any(tokens: &[SecretString], given: &str) -> bool {
    Digests::of(tokens).matches(given)
}

/// The configured tokens' SHA-256 digests, made once (the hot path hashes only what a client
/// sent).
#[derive(Clone)]
pub(crate) struct Digests(Vec<[u8; 32]>);

impl Digests {
    pub(crate) fn of(tokens: &[SecretString]) -> Self {
        use sha2::{Digest, Sha256};
        Self(
            tokens
                .iter()
                .map(|t| Sha256::digest(t.expose_secret().as_bytes()).into())
                .collect(),
        )
    }

    fn matches(&self, given: &str) -> bool {
        use sha2::{Digest, Sha256};
        let given = Sha256::digest(given.as_bytes());
        let mut ok = subtle::Choice::from(0);
        for want in &self.0 {
            ok |= want.as_slice().ct_eq(given.as_slice());
        }
        bool::from(ok)
    }

    /// [`check`] against these digests.
    pub(crate) fn check(&self, headers: &HeaderMap, uri: &Uri) -> Result<(), Denied> {
        if self.0.is_empty() {
            return Ok(());
        }
        let Some(given) = presented(headers, uri).filter(|g| !g.is_empty()) else {
            return Err(Denied::Missing);
        };
        if self.matches(&given) {
            Ok(())
        } else {
            Err(Denied::Wrong)
        }
    }
}

/// Checks the admin token, which is read from headers only. `None` configured: the admin routes
/// do not exist (the caller answers 404).
pub fn check_admin(admin: &SecretString, headers: &HeaderMap) -> Result<(), Denied> {
    let Some(given) = presented_in_headers(headers).filter(|g| !g.is_empty()) else {
        return Err(Denied::Missing);
    };
    if matches_any(std::slice::from_ref(admin), &given) {
        Ok(())
    } else {
        Err(Denied::Wrong)
    }
}

pub(crate) fn deny(protocol: Protocol, d: Denied) -> ApiFailure {
    match d {
        Denied::Missing => ApiFailure::new(
            protocol,
            StatusCode::UNAUTHORIZED,
            "UNAUTHENTICATED",
            "no gateway token: send it as x-goog-api-key, ?key= or Authorization: Bearer",
        ),
        Denied::Wrong => ApiFailure::new(
            protocol,
            StatusCode::FORBIDDEN,
            "PERMISSION_DENIED",
            "this token is not accepted by the gateway",
        ),
    }
}

/// The admin routes: 404 when no admin token is configured (they do not exist then), else the
/// token from a header.
pub(crate) fn admin_check(g: &Gateway, headers: &HeaderMap) -> Result<(), ApiFailure> {
    let Some(token) = g.admin_token.as_ref() else {
        return Err(ApiFailure::new(
            Protocol::Gemini,
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            "no such route: the admin routes exist when the gateway is started with BOTFORGE_ADMIN_TOKEN",
        ));
    };
    check_admin(token, headers).map_err(|d| deny(Protocol::Gemini, d))
}

/// The auth layer of the admin area.
pub(crate) async fn admin(
    State(g): State<Arc<Gateway>>,
    request: Request<Body>,
    next: Next,
) -> Response {
    match admin_check(&g, request.headers()) {
        Ok(()) => next.run(request).await,
        Err(f) => f.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn tokens_are_found_where_each_sdk_puts_its_key() {
        let tokens = [SecretString::from("tok-1"), SecretString::from("tok-2")];
        let plain: Uri = "/v1beta/models".parse().unwrap();
        assert_eq!(
            check(&tokens, &headers(&[("x-goog-api-key", "tok-2")]), &plain),
            Ok(())
        );
        assert_eq!(
            check(
                &tokens,
                &headers(&[("authorization", "Bearer tok-1")]),
                &plain
            ),
            Ok(())
        );
        let q: Uri = "/v1beta/models?alt=sse&key=tok-1".parse().unwrap();
        assert_eq!(check(&tokens, &HeaderMap::new(), &q), Ok(()));
        assert_eq!(
            check(&tokens, &HeaderMap::new(), &plain),
            Err(Denied::Missing)
        );
        assert_eq!(
            check(&tokens, &headers(&[("x-goog-api-key", "tok-3")]), &plain),
            Err(Denied::Wrong)
        );
        assert_eq!(
            check(&tokens, &headers(&[("x-goog-api-key", "tok-")]), &plain),
            Err(Denied::Wrong)
        );
        assert_eq!(check(&[], &HeaderMap::new(), &plain), Ok(()));
    }

    #[test]
    fn the_admin_token_counts_in_headers_only() {
        let admin = SecretString::from("admin-token-1");
        assert_eq!(
            check_admin(&admin, &headers(&[("x-goog-api-key", "admin-token-1")])),
            Ok(())
        );
        assert_eq!(
            check_admin(
                &admin,
                &headers(&[("authorization", "Bearer admin-token-1")])
            ),
            Ok(())
        );
        // In the query string (where URLs get logged) it is not looked at.
        assert_eq!(check_admin(&admin, &HeaderMap::new()), Err(Denied::Missing));
        assert_eq!(
            check_admin(&admin, &headers(&[("x-goog-api-key", "admin-token-")])),
            Err(Denied::Wrong)
        );
    }
}
