//! What a client may name in a URL that goes upstream (DESIGN.md §7, "Only what each route
//! documents goes upstream"): a model is one path segment of Google's grammar, a resource id
//! another (with an optional `:verb` the route documents), and only the query parameters a
//! route documents are forwarded, decoded and encoded again (so `?%6Bey=` or `?access_token=`
//! never reach Google beside a pool key). Anything else is 400 before any upstream call.

use axum::http::StatusCode;

use crate::errors::{ApiFailure, Protocol};

/// The query parameters an upload's start may carry.
pub(crate) const UPLOAD_QUERY: &[&str] = &["uploadType", "upload_protocol"];
/// The query parameters a cache update may carry.
pub(crate) const UPDATE_QUERY: &[&str] = &["updateMask"];

fn refuse(protocol: Protocol, message: String) -> ApiFailure {
    ApiFailure::new(
        protocol,
        StatusCode::BAD_REQUEST,
        "INVALID_ARGUMENT",
        message,
    )
}

/// A model name (`NAME` or `models/NAME`) as the bare id, when it is one path segment of
/// lowercase letters, digits, `.` and `-` (every model Google serves is).
///
/// # Errors
/// A 400 in `protocol`'s shape naming the model.
pub(crate) fn model(protocol: Protocol, name: &str) -> Result<&str, ApiFailure> {
    gemini::model_id(name).map_err(|_| {
        refuse(
            protocol,
            format!(
                "invalid model name `{}`: lowercase letters, digits, `.` and `-`, e.g. gemini-2.5-flash",
                name.chars().take(80).collect::<String>()
            ),
        )
    })
}

/// Which ids a kind of resource has: files, caches and batches `[a-z0-9-]+`; interactions
/// (`v1_ChdB…`) `[A-Za-z0-9_-]+`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ids {
    /// `[a-z0-9-]+`.
    Lower,
    /// `[A-Za-z0-9_-]+`.
    Mixed,
}

/// A resource id with an optional `:verb` from `verbs`, checked: the id and the verb.
///
/// # Errors
/// A 400 naming what is wrong.
pub(crate) fn resource<'a>(
    tail: &'a str,
    ids: Ids,
    verbs: &[&str],
) -> Result<(&'a str, Option<&'a str>), ApiFailure> {
    let (id, verb) = match tail.split_once(':') {
        Some((id, verb)) => (id, Some(verb)),
        None => (tail, None),
    };
    let id_ok = !id.is_empty()
        && id.len() <= 128
        && id.bytes().all(|b| match ids {
            Ids::Lower => b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-',
            Ids::Mixed => b.is_ascii_alphanumeric() || b == b'-' || b == b'_',
        });
    if !id_ok {
        return Err(refuse(
            Protocol::Gemini,
            format!(
                "invalid resource id `{}`: {}",
                id.chars().take(80).collect::<String>(),
                match ids {
                    Ids::Lower => "lowercase letters, digits and `-`",
                    Ids::Mixed => "letters, digits, `_` and `-`",
                }
            ),
        ));
    }
    if let Some(v) = verb
        && !verbs.contains(&v)
    {
        return Err(refuse(
            Protocol::Gemini,
            if verbs.is_empty() {
                "this resource takes no `:method`".to_owned()
            } else {
                format!(
                    "unknown method `:{}`: use {}",
                    v.chars().take(40).collect::<String>(),
                    verbs
                        .iter()
                        .map(|v| format!(":{v}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            },
        ));
    }
    Ok((id, verb))
}

/// The parameters of `query` named in `allowed`, decoded and encoded again, as `?…` (empty when
/// none): everything else a client sent (its token, credentials, anything unknown) stays here.
pub(crate) fn query(query: Option<&str>, allowed: &[&str]) -> String {
    let mut out = form_urlencoded::Serializer::new(String::new());
    let mut any = false;
    for (k, v) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        if allowed.contains(&k.as_ref()) {
            out.append_pair(&k, &v);
            any = true;
        }
    }
    if any {
        format!("?{}", out.finish())
    } else {
        String::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_documented_parameters_go_upstream_decoded_and_encoded_again() {
        assert_eq!(
            query(Some("key=tok&pageSize=5"), &["pageSize"]),
            "?pageSize=5"
        );
        assert_eq!(query(Some("%6Bey=tok&access_token=x"), &["pageSize"]), "");
        assert_eq!(query(Some("key=tok"), &[]), "");
        assert_eq!(query(None, UPLOAD_QUERY), "");
        assert_eq!(
            query(
                Some("uploadType=resumable&alt=x&upload%5Fprotocol=a%26b"),
                UPLOAD_QUERY
            ),
            "?uploadType=resumable&upload_protocol=a%26b"
        );
    }

    #[test]
    fn ids_and_verbs_follow_the_grammar() {
        assert_eq!(
            resource("abc-1", Ids::Lower, &[]).ok(),
            Some(("abc-1", None))
        );
        assert_eq!(
            resource("b1:cancel", Ids::Lower, &["cancel"]).ok(),
            Some(("b1", Some("cancel")))
        );
        for bad in ["..", "%2e%2e", "a/b", "a?b", "A", "", "a:delete", "a b"] {
            assert!(resource(bad, Ids::Lower, &["cancel"]).is_err(), "{bad}");
        }
        assert!(resource("v1_ChdB-x", Ids::Mixed, &[]).is_ok());
        assert!(resource("v1_Ch.x", Ids::Mixed, &[]).is_err());
    }

    #[test]
    fn a_model_is_one_segment_of_googles_grammar() {
        assert_eq!(
            model(Protocol::Gemini, "models/gemini-2.5-flash").ok(),
            Some("gemini-2.5-flash")
        );
        for bad in [
            "gemini-2.5-flash:generateContent?",
            "gemini?x",
            "../x",
            "Gemini",
            "a_b",
            "a%3Fb",
            "",
        ] {
            assert!(model(Protocol::Gemini, bad).is_err(), "{bad}");
        }
    }
}
