//! What reached the simulator: the method, path and query of the latest requests (a bounded
//! log), so a test can tell exactly which URLs a gateway sent upstream — a client's query
//! parameter that should have stayed at the gateway, a path it should have refused.

use std::collections::VecDeque;

use parking_lot::Mutex;

/// How many requests the log keeps (the oldest go first).
const KEPT: usize = 4096;

/// The log.
#[derive(Debug, Default)]
pub(crate) struct Seen(Mutex<VecDeque<String>>);

impl Seen {
    pub(crate) fn push(&self, line: String) {
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
