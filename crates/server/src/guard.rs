//! Browser safety (DESIGN.md §7): a web page open in the user's browser can never drive the
//! gateway, even one without tokens on a laptop.
//!
//! Three attack shapes are refused with 403 before any route runs:
//! - **DNS rebinding**: a page on `evil.example` whose name now resolves to 127.0.0.1 sends
//!   requests with `Host: evil.example`. Only the bound address, loopback names and the
//!   configured public hosts are accepted.
//! - **Cross-site requests**: a page elsewhere posting to `http://127.0.0.1:8080`. Browsers name
//!   the page in `Origin` (and in `Sec-Fetch-Site`); only the gateway's own origin and the
//!   configured `--cors-origin`s may call it.
//! - **"Simple" requests without a preflight**: a form or `fetch` with `text/plain`,
//!   `multipart/form-data` or `application/x-www-form-urlencoded`. A request with a body must be
//!   JSON, or a file upload's chunk with Google's `x-goog-upload-*` headers (which a page can
//!   only send after a preflight, and preflights are refused unless CORS is on).
//!
//! Clients that are not browsers (the SDKs, curl) send no `Origin` and a JSON body, and are
//! unaffected. CORS stays off unless origins are configured; then preflights from them are
//! answered and their responses carry `Access-Control-Allow-Origin`.

use std::net::SocketAddr;

use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::errors::{ApiFailure, Protocol};

/// Who may reach the gateway from a browser's point of view.
#[derive(Debug, Clone, Default)]
pub struct BrowserPolicy {
    /// The address the gateway listens on (its own `host:port` is always acceptable unless it
    /// is unspecified, like `0.0.0.0`).
    pub bound: Option<SocketAddr>,
    /// Host names the gateway is reached by besides loopback (`--public-host`): `name` matches
    /// any port, `name:port` that port only.
    pub public_hosts: Vec<String>,
    /// Origins allowed to call it from a browser (`--cors-origin`), e.g.
    /// `https://app.example.com`. Empty: CORS is off.
    pub cors_origins: Vec<String>,
}

const LOOPBACK_NAMES: [&str; 4] = ["localhost", "127.0.0.1", "::1", "[::1]"];

/// `host` and `port` of a `Host` header value or an origin's authority.
fn split_authority(authority: &str) -> (String, Option<&str>) {
    let a = authority.trim();
    if let Some(rest) = a.strip_prefix('[') {
        // [v6]:port
        let (host, tail) = rest.split_once(']').unwrap_or((rest, ""));
        return (
            format!("[{}]", host.to_ascii_lowercase()),
            tail.strip_prefix(':'),
        );
    }
    match a.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => (h.to_ascii_lowercase(), Some(p)),
        _ => (a.to_ascii_lowercase(), None),
    }
}

impl BrowserPolicy {
    /// Whether a `Host` header names this gateway.
    pub fn host_allowed(&self, host: &str) -> bool {
        let (name, port) = split_authority(host);
        let name = name.trim_end_matches('.');
        if LOOPBACK_NAMES.contains(&name) {
            return true;
        }
        if let Some(b) = self.bound
            && !b.ip().is_unspecified()
        {
            let ip = match b.ip() {
                std::net::IpAddr::V6(v6) => format!("[{v6}]"),
                std::net::IpAddr::V4(v4) => v4.to_string(),
            };
            if name == ip && port.is_none_or(|p| p == b.port().to_string()) {
                return true;
            }
        }
        self.public_hosts.iter().any(|allowed| {
            let (a_name, a_port) = split_authority(allowed);
            a_name == name && a_port.is_none_or(|ap| Some(ap) == port)
        })
    }

    fn cors_allowed(&self, origin: &str) -> bool {
        let origin = origin.trim_end_matches('/');
        self.cors_origins
            .iter()
            .any(|o| o.trim_end_matches('/').eq_ignore_ascii_case(origin))
    }
}

pub(crate) fn refuse(message: String) -> Response {
    ApiFailure::new(
        Protocol::Gemini,
        StatusCode::FORBIDDEN,
        "PERMISSION_DENIED",
        message,
    )
    .into_response()
}

fn header_str<'h>(headers: &'h HeaderMap, name: &header::HeaderName) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Whether a `Content-Type` is JSON (`application/json`, `application/*+json`).
fn is_json(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

fn has_body(headers: &HeaderMap) -> bool {
    headers.contains_key(header::TRANSFER_ENCODING)
        || header_str(headers, &header::CONTENT_LENGTH)
            .and_then(|l| l.trim().parse::<u64>().ok())
            .is_some_and(|n| n > 0)
}

/// What the guard decided about a request.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Let it through; `Some(origin)`: a CORS origin whose response gets the CORS headers.
    Pass(Option<String>),
    /// Answer a CORS preflight from this origin.
    Preflight(String),
    /// 403 with this message.
    Refuse(String),
}

pub(crate) fn judge(policy: &BrowserPolicy, method: &Method, headers: &HeaderMap) -> Verdict {
    let host = header_str(headers, &header::HOST);
    if let Some(h) = host
        && !policy.host_allowed(h)
    {
        return Verdict::Refuse(format!(
            "Host `{h}` does not name this gateway (a DNS-rebinding page?): use 127.0.0.1 or localhost, or start `botforge serve` with --public-host {h}"
        ));
    }
    let origin = header_str(headers, &header::ORIGIN);
    let cors = origin.filter(|o| policy.cors_allowed(o)).map(str::to_owned);
    if let Some(o) = origin
        && cors.is_none()
    {
        let own = o
            .split_once("://")
            .map(|(_, authority)| authority.trim_end_matches('/'))
            .is_some_and(|authority| host.is_some_and(|h| h.eq_ignore_ascii_case(authority)));
        if !own {
            return Verdict::Refuse(format!(
                "requests from the web page at {o} are refused: a browser page may not drive the gateway (allow an origin with --cors-origin)"
            ));
        }
    }
    let fetch_site = headers
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("none");
    if cors.is_none() && matches!(fetch_site, "cross-site" | "same-site") {
        return Verdict::Refuse(
            "a request from another site is refused: a browser page may not drive the gateway"
                .to_owned(),
        );
    }
    if method == Method::OPTIONS {
        return match cors {
            Some(o) => Verdict::Preflight(o),
            None => Verdict::Refuse("CORS is off: start `botforge serve` with --cors-origin ORIGIN to let a web page call the gateway".to_owned()),
        };
    }
    // A file upload carries any bytes, but also Google's upload headers, which no page can send
    // without a preflight (they are not CORS-safelisted), and preflights are refused above.
    let upload = headers.contains_key("x-goog-upload-command")
        || headers.contains_key("x-goog-upload-protocol");
    if matches!(*method, Method::POST | Method::PUT | Method::PATCH) && !upload {
        match header_str(headers, &header::CONTENT_TYPE) {
            Some(ct) if !is_json(ct) => {
                return Verdict::Refuse(format!(
                    "Content-Type `{ct}` is refused: send the body as application/json"
                ));
            }
            None if has_body(headers) => {
                return Verdict::Refuse(
                    "a body without a Content-Type is refused: send it as application/json"
                        .to_owned(),
                );
            }
            _ => {}
        }
    }
    Verdict::Pass(cors)
}

pub(crate) fn preflight(origin: &str, headers: &HeaderMap) -> Response {
    let mut r = StatusCode::NO_CONTENT.into_response();
    let h = r.headers_mut();
    if let Ok(v) = HeaderValue::from_str(origin) {
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, v);
    }
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, POST, DELETE, OPTIONS"),
    );
    let asked = headers
        .get(header::ACCESS_CONTROL_REQUEST_HEADERS)
        .cloned()
        .unwrap_or_else(|| HeaderValue::from_static("authorization, content-type, x-goog-api-key"));
    h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, asked);
    h.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("600"),
    );
    h.insert(header::VARY, HeaderValue::from_static("Origin"));
    r
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

    fn policy() -> BrowserPolicy {
        BrowserPolicy {
            bound: Some("10.1.2.3:8080".parse().unwrap()),
            public_hosts: vec!["gw.example.com".into(), "other.example.com:8443".into()],
            cors_origins: vec!["https://app.example.com".into()],
        }
    }

    #[test]
    fn hosts_are_the_bound_address_loopback_names_and_public_hosts() {
        let p = policy();
        for ok in [
            "127.0.0.1:8080",
            "localhost:9",
            "LOCALHOST",
            "[::1]:8080",
            "10.1.2.3:8080",
            "10.1.2.3",
            "gw.example.com",
            "gw.example.com:443",
            "other.example.com:8443",
        ] {
            assert!(p.host_allowed(ok), "{ok}");
        }
        for bad in [
            "evil.example:8080",
            "10.1.2.3:9090",
            "other.example.com:80",
            "127.0.0.1.evil.example",
            "localhost.evil.example:8080",
        ] {
            assert!(!p.host_allowed(bad), "{bad}");
        }
        let unspecified = BrowserPolicy {
            bound: Some("0.0.0.0:8080".parse().unwrap()),
            ..BrowserPolicy::default()
        };
        assert!(!unspecified.host_allowed("0.0.0.0:8080"));
        assert!(unspecified.host_allowed("127.0.0.1:8080"));
    }

    #[test]
    fn each_attack_shape_is_refused_and_sdks_pass() {
        let p = BrowserPolicy::default();
        let post = Method::POST;
        let refused = |h: &HeaderMap, m: &Method| matches!(judge(&p, m, h), Verdict::Refuse(_));
        // DNS rebinding.
        assert!(refused(
            &headers(&[("host", "evil.example:8080")]),
            &Method::GET
        ));
        // A cross-site page, with or without a JSON body.
        assert!(refused(
            &headers(&[
                ("host", "127.0.0.1:8080"),
                ("origin", "https://evil.example"),
                ("content-type", "application/json")
            ]),
            &post
        ));
        assert!(refused(
            &headers(&[("host", "127.0.0.1:8080"), ("origin", "null")]),
            &post
        ));
        assert!(refused(
            &headers(&[("host", "127.0.0.1:8080"), ("sec-fetch-site", "cross-site")]),
            &Method::GET
        ));
        // A "simple" request that needs no preflight.
        for ct in [
            "text/plain",
            "text/plain;charset=UTF-8",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
        ] {
            assert!(
                refused(
                    &headers(&[("host", "127.0.0.1:8080"), ("content-type", ct)]),
                    &post
                ),
                "{ct}"
            );
        }
        assert!(refused(
            &headers(&[("host", "127.0.0.1:8080"), ("content-length", "12")]),
            &post
        ));
        // A preflight with CORS off.
        assert!(refused(
            &headers(&[
                ("host", "127.0.0.1:8080"),
                ("origin", "https://app.example.com")
            ]),
            &Method::OPTIONS
        ));
        // A cross-site page cannot dress a form post up as an upload either.
        assert!(refused(
            &headers(&[
                ("host", "127.0.0.1:8080"),
                ("origin", "https://evil.example"),
                ("x-goog-upload-command", "upload, finalize"),
                ("content-type", "text/plain")
            ]),
            &post
        ));
        // What SDKs, curl and the gateway's own dashboard send.
        let pass = |h: &HeaderMap, m: &Method| judge(&p, m, h) == Verdict::Pass(None);
        // An upload's chunk: any bytes, with Google's upload headers.
        assert!(pass(
            &headers(&[
                ("host", "127.0.0.1:8080"),
                ("x-goog-upload-command", "upload, finalize"),
                ("content-type", "application/octet-stream")
            ]),
            &post
        ));
        assert!(pass(
            &headers(&[
                ("host", "127.0.0.1:8080"),
                ("x-goog-upload-protocol", "multipart"),
                ("content-type", "multipart/related; boundary=b0")
            ]),
            &post
        ));
        assert!(pass(
            &headers(&[
                ("host", "127.0.0.1:8080"),
                ("content-type", "application/json; charset=utf-8")
            ]),
            &post
        ));
        assert!(pass(&headers(&[("host", "localhost:8080")]), &post));
        assert!(pass(
            &headers(&[
                ("host", "127.0.0.1:8080"),
                ("origin", "http://127.0.0.1:8080"),
                ("sec-fetch-site", "same-origin")
            ]),
            &Method::GET
        ));
        assert!(pass(&HeaderMap::new(), &Method::GET));
    }

    #[test]
    fn configured_origins_get_cors() {
        let p = policy();
        let h = headers(&[
            ("host", "gw.example.com"),
            ("origin", "https://app.example.com"),
            ("sec-fetch-site", "cross-site"),
        ]);
        assert_eq!(
            judge(&p, &Method::OPTIONS, &h),
            Verdict::Preflight("https://app.example.com".into())
        );
        assert_eq!(
            judge(&p, &Method::GET, &h),
            Verdict::Pass(Some("https://app.example.com".into()))
        );
        let r = preflight("https://app.example.com", &h);
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
        assert_eq!(
            r.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN],
            "https://app.example.com"
        );
    }
}
