//! What reached the simulator: the method, path and query of the latest requests (a bounded
//! log), so a test can tell exactly which URLs a gateway sent upstream — a client's query
//! parameter that should have stayed at the gateway, a path it should have refused.

use std::collections::VecDeque;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use parking_lot::Mutex;

use crate::Sim;

/// How many requests the log keeps (the oldest go first).
const KEPT: usize = 4096;

/// The log.
#[derive(Debug, Default)]
pub(crate) struct Seen(Mutex<VecDeque<String>>);

impl Seen {
    fn push(&self, line: String) {
        let mut log = self.0.lock();
        if log.len() == KEPT {
            log.pop_front();
        }
        log.push_back(line);
    }

    /// `METHOD /path?query` of each request kept, oldest first (as received: still encoded).
    pub(crate) fn lines(&self) -> Vec<String> {
        self.0.lock().iter().cloned().collect()
    }

    pub(crate) fn clear(&self) {
        self.0.lock().clear();
    }
}

/// Records every request before it is routed (unknown paths included).
pub(crate) async fn record(State(sim): State<Arc<Sim>>, request: Request, next: Next) -> Response {
    let uri = request.uri();
    let target = uri.path_and_query().map_or(uri.path(), |p| p.as_str());
    sim.seen.push(format!("{} {target}", request.method()));
    next.run(request).await
}
