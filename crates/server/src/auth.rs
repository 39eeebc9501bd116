//! Client tokens: taken from where each SDK puts its key, compared in constant time.

use axum::http::HeaderMap;
use axum::http::Uri;
use secrecy::{ExposeSecret, SecretString};
use subtle::ConstantTimeEq;

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
    // Every token is compared, so the time taken does not tell which one nearly matched.
    let mut ok = subtle::Choice::from(0);
    for t in tokens {
        ok |= t.expose_secret().as_bytes().ct_eq(given.as_bytes());
    }
    if bool::from(ok) {
        Ok(())
    } else {
        Err(Denied::Wrong)
    }
}

/// Checks the admin token (`None` configured: the admin routes are off).
pub fn check_admin(
    admin: Option<&SecretString>,
    headers: &HeaderMap,
    uri: &Uri,
) -> Result<(), Denied> {
    let Some(admin) = admin else {
        return Err(Denied::Wrong);
    };
    check(std::slice::from_ref(admin), headers, uri)
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
        assert_eq!(
            check_admin(None, &headers(&[("x-goog-api-key", "tok-1")]), &plain),
            Err(Denied::Wrong)
        );
    }
}
