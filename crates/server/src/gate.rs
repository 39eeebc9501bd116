//! Checks made from a request's head before its route runs (the browser guard, a client token),
//! as a plain tower layer: no boxed future and no clone of the inner service per request, which
//! axum's `from_fn` middleware costs on every call of the hot path.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::http::{HeaderValue, Request, header};
use axum::response::{IntoResponse, Response};
use tower::{Layer, Service};

use crate::auth::Digests;
use crate::errors::Protocol;
use crate::guard::BrowserPolicy;

/// What a [`Gate`] decided.
pub(crate) enum Passage {
    /// Run the route; `Some(origin)`: add the CORS headers for `origin` to its response.
    Pass(Option<HeaderValue>),
    /// Answer this instead of running the route.
    Answer(Response),
}

/// A check of a request's head.
pub(crate) trait Gate: Clone + Send + Sync + 'static {
    /// Whether the request goes on to its route.
    fn check(&self, request: &Request<Body>) -> Passage;
}

/// The layer of a [`Gate`].
#[derive(Clone)]
pub(crate) struct GateLayer<G>(pub(crate) G);

impl<S, G: Gate> Layer<S> for GateLayer<G> {
    type Service = Gated<S, G>;

    fn layer(&self, inner: S) -> Self::Service {
        Gated {
            inner,
            gate: self.0.clone(),
        }
    }
}

/// A service behind a [`Gate`].
#[derive(Clone)]
pub(crate) struct Gated<S, G> {
    inner: S,
    gate: G,
}

impl<S, G> Service<Request<Body>> for Gated<S, G>
where
    S: Service<Request<Body>, Response = Response, Error = Infallible>,
    G: Gate,
{
    type Response = Response;
    type Error = Infallible;
    type Future = GateFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        match self.gate.check(&request) {
            Passage::Answer(answer) => GateFuture::Answered {
                answer: Some(answer),
            },
            Passage::Pass(cors) => GateFuture::Route {
                route: self.inner.call(request),
                cors,
            },
        }
    }
}

pin_project_lite::pin_project! {
    /// The answer of a [`Gated`] service: the gate's, or the route's (with CORS headers).
    #[project = Projected]
    pub(crate) enum GateFuture<F> {
        Answered { answer: Option<Response> },
        Route { #[pin] route: F, cors: Option<HeaderValue> },
    }
}

impl<F> Future for GateFuture<F>
where
    F: Future<Output = Result<Response, Infallible>>,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            Projected::Answered { answer } => Poll::Ready(Ok(answer
                .take()
                .unwrap_or_else(|| axum::http::StatusCode::INTERNAL_SERVER_ERROR.into_response()))),
            Projected::Route { route, cors } => {
                let Poll::Ready(Ok(mut response)) = route.poll(cx) else {
                    return Poll::Pending;
                };
                if let Some(origin) = cors.take() {
                    let h = response.headers_mut();
                    h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
                    h.append(header::VARY, HeaderValue::from_static("Origin"));
                }
                Poll::Ready(Ok(response))
            }
        }
    }
}

/// The browser guard (DESIGN.md §7): what a web page could send is refused before anything runs.
#[derive(Clone)]
pub(crate) struct Browser(pub(crate) Arc<BrowserPolicy>);

impl Gate for Browser {
    fn check(&self, request: &Request<Body>) -> Passage {
        use crate::guard::{Verdict, judge, preflight, refuse};
        match judge(&self.0, request.method(), request.headers()) {
            Verdict::Refuse(message) => Passage::Answer(refuse(message)),
            Verdict::Preflight(origin) => Passage::Answer(preflight(&origin, request.headers())),
            Verdict::Pass(cors) => Passage::Pass(cors.and_then(|o| HeaderValue::from_str(&o).ok())),
        }
    }
}

/// A client token (against the digests made when the routes were), answered in the area's
/// protocol shape.
#[derive(Clone)]
pub(crate) struct Client {
    pub(crate) tokens: Arc<Digests>,
    pub(crate) protocol: Protocol,
}

impl Gate for Client {
    fn check(&self, request: &Request<Body>) -> Passage {
        match self.tokens.check(request.headers(), request.uri()) {
            Ok(()) => Passage::Pass(None),
            Err(d) => Passage::Answer(crate::auth::deny(self.protocol, d).into_response()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::{Method, StatusCode};

    /// A route that answers 200.
    #[derive(Clone)]
    struct Ok200;

    impl Service<Request<Body>> for Ok200 {
        type Response = Response;
        type Error = Infallible;
        type Future = std::future::Ready<Result<Response, Infallible>>;

        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
            Poll::Ready(Ok(()))
        }

        fn call(&mut self, _: Request<Body>) -> Self::Future {
            std::future::ready(Ok(StatusCode::OK.into_response()))
        }
    }

    async fn send(gate: &Browser, method: Method, origin: Option<&str>) -> Response {
        let mut svc = GateLayer(gate.clone()).layer(Ok200);
        let mut request = Request::builder()
            .method(method)
            .uri("/v1beta/models")
            .header(header::HOST, "127.0.0.1:8080");
        if let Some(o) = origin {
            request = request
                .header(header::ORIGIN, o)
                .header("access-control-request-method", "GET");
        }
        let Ok(response) = svc.call(request.body(Body::empty()).unwrap()).await;
        response
    }

    #[tokio::test]
    async fn an_allowed_origin_gets_cors_headers_and_others_are_refused_before_the_route() {
        let gate = Browser(Arc::new(BrowserPolicy {
            cors_origins: vec!["https://app.example.com".into()],
            ..BrowserPolicy::default()
        }));
        let r = send(&gate, Method::GET, Some("https://app.example.com")).await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(
            r.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN],
            "https://app.example.com"
        );
        assert_eq!(r.headers()[header::VARY], "Origin");
        let r = send(&gate, Method::OPTIONS, Some("https://app.example.com")).await;
        assert_eq!(
            r.status(),
            StatusCode::NO_CONTENT,
            "a preflight is answered"
        );
        let r = send(&gate, Method::GET, Some("https://evil.example")).await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        assert!(
            r.headers()
                .get(header::ACCESS_CONTROL_ALLOW_ORIGIN)
                .is_none()
        );
        // An SDK (no Origin) passes, without CORS headers.
        let r = send(&gate, Method::GET, None).await;
        assert_eq!(r.status(), StatusCode::OK);
        assert!(
            r.headers()
                .get(header::ACCESS_CONTROL_ALLOW_ORIGIN)
                .is_none()
        );
    }
}
