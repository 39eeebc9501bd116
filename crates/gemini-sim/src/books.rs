//! The simulator's books: every project's files, uploads in progress, caches, batches and
//! interactions (below the state that holds them and the routes that use them).

use std::collections::{BTreeMap, HashMap};

use serde_json::Value;

#[derive(Debug, Clone)]
pub(crate) struct File {
    pub(crate) project: String,
    pub(crate) meta: Value,
    pub(crate) expires_ms: i64,
}

#[derive(Debug, Clone)]
pub(crate) struct Upload {
    pub(crate) project: String,
    pub(crate) display_name: Option<String>,
    pub(crate) mime_type: String,
    pub(crate) size: u64,
    pub(crate) received: u64,
    pub(crate) name: Option<String>,
}

#[derive(Debug, Clone)]
pub(crate) struct Cache {
    pub(crate) project: String,
    pub(crate) meta: Value,
    pub(crate) expires_ms: i64,
}

/// Every project's files, uploads in progress and caches.
#[derive(Debug, Default)]
pub(crate) struct Books {
    pub(crate) files: BTreeMap<String, File>,
    pub(crate) uploads: HashMap<String, Upload>,
    pub(crate) caches: BTreeMap<String, Cache>,
}

impl Books {
    pub(crate) fn clear(&mut self) {
        *self = Books::default();
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Batch {
    pub(crate) project: String,
    pub(crate) model: String,
    pub(crate) op: Value,
    /// Inline requests to answer (empty for a file input).
    pub(crate) requests: Vec<Value>,
    /// The input file, for a file input.
    pub(crate) input_file: Option<String>,
}

#[derive(Debug, Clone)]
pub(crate) struct Interaction {
    pub(crate) project: String,
    pub(crate) body: Value,
}

/// Batches and interactions, each in its project.
#[derive(Debug, Default)]
pub(crate) struct Jobs {
    pub(crate) batches: BTreeMap<String, Batch>,
    pub(crate) interactions: HashMap<String, Interaction>,
}

impl Jobs {
    pub(crate) fn clear(&mut self) {
        *self = Jobs::default();
    }
}
