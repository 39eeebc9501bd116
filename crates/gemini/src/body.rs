//! A request body handed to the connection a frame at a time, remembering whether its last byte
//! was taken: a connection that breaks before that broke while the request was being sent
//! (upstream refusing a body it will not take closes the connection early), which says nothing
//! about the key (DESIGN.md §3.1); one that breaks after it broke while the answer was awaited.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Frame, SizeHint};

/// Frames of at most this many bytes: a large body is taken as the socket accepts it.
const FRAME: usize = 64 * 1024;

/// Whether a request's body was taken whole.
#[derive(Debug, Clone, Default)]
pub(crate) struct Sent(Arc<AtomicBool>);

impl Sent {
    /// The last byte of the body was handed to the connection.
    pub(crate) fn all(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

/// The body: `bytes` in frames, marking [`Sent`] when the last one is taken.
#[derive(Debug)]
struct Framed {
    bytes: Bytes,
    sent: Sent,
}

impl http_body::Body for Framed {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.bytes.is_empty() {
            self.sent.0.store(true, Ordering::Release);
            return Poll::Ready(None);
        }
        let n = self.bytes.len().min(FRAME);
        let chunk = self.bytes.split_to(n);
        if self.bytes.is_empty() {
            self.sent.0.store(true, Ordering::Release);
        }
        Poll::Ready(Some(Ok(Frame::data(chunk))))
    }

    fn is_end_stream(&self) -> bool {
        self.bytes.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.bytes.len() as u64)
    }
}

/// `bytes` as a request body, with the flag that says when it was taken whole. A body of one
/// frame or less goes as it is, counted as sent: it is handed to the connection whole at once,
/// and a connection that breaks around it broke while the answer was awaited.
pub(crate) fn watched(bytes: Bytes) -> (reqwest::Body, Sent) {
    let sent = Sent::default();
    if bytes.len() <= FRAME {
        sent.0.store(true, Ordering::Release);
        return (reqwest::Body::from(bytes), sent);
    }
    let body = reqwest::Body::wrap(Framed {
        bytes,
        sent: sent.clone(),
    });
    (body, sent)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body::Body as _;

    #[test]
    fn a_body_is_sent_once_its_last_frame_is_taken() {
        let mut body = Framed {
            bytes: Bytes::from(vec![7u8; FRAME + 10]),
            sent: Sent::default(),
        };
        assert_eq!(body.size_hint().exact(), Some(FRAME as u64 + 10));
        let waker = std::task::Waker::noop();
        let mut cx = Context::from_waker(waker);
        let Poll::Ready(Some(Ok(first))) = Pin::new(&mut body).poll_frame(&mut cx) else {
            panic!("a first frame")
        };
        assert_eq!(first.into_data().map(|b| b.len()).ok(), Some(FRAME));
        assert!(!body.sent.all());
        let Poll::Ready(Some(Ok(last))) = Pin::new(&mut body).poll_frame(&mut cx) else {
            panic!("a last frame")
        };
        assert_eq!(last.into_data().map(|b| b.len()).ok(), Some(10));
        assert!(body.sent.all());
        assert!(body.is_end_stream());
    }
}
