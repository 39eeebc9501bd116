//! Request bodies in flight are bounded as a whole, not only one by one (DESIGN.md §7,
//! "Bounded clients"): a body is read here before any handler sees it, taking its size from a
//! budget shared by every request (all of it at once when `Content-Length` announces it, else
//! as its bytes arrive), and the budget is given back once the response head is made. A body
//! over the per-request limit is refused with 413 as soon as that is known; bodies past the
//! shared budget wait for earlier ones to finish.

use std::sync::Arc;

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::errors::{ApiFailure, Protocol};

/// Bodies announced at most this large are not counted (nor read here): together they hold at
/// most the connection cap times this (64 MiB at the default 1,024 connections), and the
/// common small request pays nothing for the budget.
const SMALL: usize = 64 * 1024;

/// Bytes of request bodies held at once, as a multiple of the per-body limit (plus 16 MiB for
/// the small ones): bodies past it wait for earlier ones to finish.
pub const BODIES_IN_FLIGHT: usize = 2;

/// The budget: bytes of request bodies that may be held at once, and the largest one body.
#[derive(Debug, Clone)]
pub(crate) struct Budget {
    bytes: Arc<Semaphore>,
    /// The largest body accepted.
    body_limit: usize,
    /// The whole budget (at least one largest body).
    total: usize,
}

impl Budget {
    /// Room for `total` bytes at once (raised to `body_limit` when smaller, so the largest body
    /// always fits), bodies of at most `body_limit`.
    pub(crate) fn new(total: usize, body_limit: usize) -> Self {
        let total = total.max(body_limit).min(Semaphore::MAX_PERMITS);
        Self {
            bytes: Arc::new(Semaphore::new(total)),
            body_limit,
            total,
        }
    }

    async fn take(&self, n: usize, held: &mut Option<OwnedSemaphorePermit>) -> bool {
        let n = u32::try_from(n.min(self.total)).unwrap_or(u32::MAX);
        if n == 0 {
            return true;
        }
        match Arc::clone(&self.bytes).acquire_many_owned(n).await {
            Ok(p) => {
                match held {
                    Some(h) => h.merge(p),
                    None => *held = Some(p),
                }
                true
            }
            Err(_) => false,
        }
    }
}

fn too_large(limit: usize) -> Response {
    ApiFailure::new(
        Protocol::Gemini,
        StatusCode::PAYLOAD_TOO_LARGE,
        "INVALID_ARGUMENT",
        format!("the request body is larger than this gateway's limit of {limit} bytes"),
    )
    .into_response()
}

/// The budget as a plain tower layer (as the gates are): a request whose body is small or
/// absent goes straight to its route, with no boxed future and no clone of the route; a large
/// one is read within the budget first.
#[derive(Clone)]
pub(crate) struct BudgetLayer(pub(crate) Budget);

impl<S: Clone> tower::Layer<S> for BudgetLayer {
    type Service = Budgeted<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Budgeted {
            inner,
            budget: self.0.clone(),
        }
    }
}

/// A route behind the budget.
#[derive(Clone)]
pub(crate) struct Budgeted<S> {
    inner: S,
    budget: Budget,
}

/// The future of a [`Budgeted`] route: the route itself, or the read of a large body then it.
pub(crate) enum BudgetFuture<F> {
    /// Straight to the route.
    Route(F),
    /// The body read within the budget, then the route.
    Read(Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>),
}

impl<F> Future for BudgetFuture<F>
where
    F: Future<Output = Result<Response, Infallible>> + Unpin,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.get_mut() {
            BudgetFuture::Route(f) => Pin::new(f).poll(cx),
            BudgetFuture::Read(f) => f.as_mut().poll(cx),
        }
    }
}

impl<S> tower::Service<Request> for Budgeted<S>
where
    S: tower::Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + Unpin + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = BudgetFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let declared = request
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        let chunked = request.headers().contains_key(header::TRANSFER_ENCODING);
        if (declared.is_none() && !chunked) || declared.is_some_and(|n| n <= SMALL) {
            return BudgetFuture::Route(self.inner.call(request));
        }
        // The route that was made ready runs the request; a clone takes its place.
        let clone = self.inner.clone();
        let ready = std::mem::replace(&mut self.inner, clone);
        let budget = self.budget.clone();
        BudgetFuture::Read(Box::pin(read_then_run(budget, declared, request, ready)))
    }
}

/// Reads the body within the budget, then runs the request with it on `route`.
async fn read_then_run<S>(
    budget: Budget,
    declared: Option<usize>,
    request: Request,
    mut route: S,
) -> Result<Response, Infallible>
where
    S: tower::Service<Request, Response = Response, Error = Infallible>,
{
    if declared.is_some_and(|n| n > budget.body_limit) {
        return Ok(too_large(budget.body_limit));
    }
    let mut held = None;
    // Announced: all of it at once (no two bodies each holding half of what both need).
    if let Some(n) = declared
        && !budget.take(n, &mut held).await
    {
        return Ok(too_large(budget.body_limit));
    }
    let (parts, body) = request.into_parts();
    let mut stream = body.into_data_stream();
    let mut chunks: Vec<Bytes> = Vec::new();
    let mut len = 0usize;
    while let Some(chunk) = stream.next().await {
        let Ok(chunk) = chunk else {
            return Ok(ApiFailure::new(
                Protocol::Gemini,
                StatusCode::BAD_REQUEST,
                "INVALID_ARGUMENT",
                "the request body could not be read",
            )
            .into_response());
        };
        if len + chunk.len() > budget.body_limit {
            return Ok(too_large(budget.body_limit));
        }
        let beyond = (len + chunk.len()).saturating_sub(declared.unwrap_or(0));
        if beyond > 0 && !budget.take(beyond.min(chunk.len()), &mut held).await {
            return Ok(too_large(budget.body_limit));
        }
        len += chunk.len();
        chunks.push(chunk);
    }
    // One chunk is passed on as it is; several are joined once.
    let whole = match chunks.len() {
        1 => chunks.pop().unwrap_or_default(),
        _ => Bytes::from(chunks.concat()),
    };
    let response = route
        .call(Request::from_parts(parts, Body::from(whole)))
        .await;
    drop(held);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A large body is read within the budget and reaches its route whole; one announced
    /// larger than the limit is refused with 413 unread; the budget is whole again after.
    #[tokio::test]
    async fn a_large_body_is_read_within_the_budget_and_reaches_its_route() {
        use tower::{Layer, ServiceExt};
        let budget = Budget::new(300_000, 200_000);
        let route = tower::service_fn(|r: Request| {
            Box::pin(async move {
                let n = axum::body::to_bytes(r.into_body(), usize::MAX)
                    .await
                    .map_or(0, |b| b.len());
                Ok::<_, Infallible>(n.to_string().into_response())
            })
        });
        let svc = BudgetLayer(budget.clone()).layer(route);
        let body = vec![b'x'; 150_000];
        let request = Request::builder()
            .header(header::CONTENT_LENGTH, body.len())
            .body(Body::from(body))
            .unwrap();
        let r = svc.clone().oneshot(request).await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let got = axum::body::to_bytes(r.into_body(), 100).await.unwrap();
        assert_eq!(&got[..], b"150000");
        assert_eq!(budget.bytes.available_permits(), 300_000);
        let request = Request::builder()
            .header(header::CONTENT_LENGTH, 250_000)
            .body(Body::from(vec![b'x'; 250_000]))
            .unwrap();
        let r = svc.oneshot(request).await.unwrap();
        assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    }

    #[tokio::test]
    async fn the_budget_holds_at_least_one_largest_body_and_gives_back() {
        let b = Budget::new(10, 100);
        assert_eq!(b.total, 100);
        let mut held = None;
        assert!(b.take(60, &mut held).await);
        assert!(b.take(40, &mut held).await);
        assert_eq!(b.bytes.available_permits(), 0);
        let waiting = {
            let b = b.clone();
            tokio::spawn(async move {
                let mut h = None;
                b.take(30, &mut h).await
            })
        };
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished(), "waits while the budget is spent");
        drop(held);
        assert!(waiting.await.unwrap());
        assert_eq!(b.bytes.available_permits(), 100);
    }
}
