//! Key naming and what a process keeps of each key and bucket between round trips.

use std::sync::OnceLock;

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use crate::clock::Millis;
use crate::health::KeyHealth;
use crate::limits::Limits;
use crate::window::{CooldownReason, LimitKind, Usage};

/// The part of a key's record that changes by rules (counters live beside it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Core {
    pub(super) active: bool,
    pub(super) disabled_reason: Option<String>,
    pub(super) consecutive_errors: u32,
    pub(super) cooldown_until: Millis,
    pub(super) cooldown_reason: Option<CooldownReason>,
    pub(super) cooldown_step: u32,
}

impl Core {
    pub(super) fn of(h: &KeyHealth) -> Self {
        Self {
            active: h.active,
            disabled_reason: h.disabled_reason.clone(),
            consecutive_errors: h.consecutive_errors,
            cooldown_until: h.cooldown_until,
            cooldown_reason: h.cooldown_reason,
            cooldown_step: h.cooldown_step,
        }
    }

    pub(super) fn put(self, h: &mut KeyHealth) {
        h.active = self.active;
        h.disabled_reason = self.disabled_reason;
        h.consecutive_errors = self.consecutive_errors;
        h.cooldown_until = self.cooldown_until;
        h.cooldown_reason = self.cooldown_reason;
        h.cooldown_step = self.cooldown_step;
    }
}

#[derive(Debug, Clone, Copy, Default)]
pub(super) struct BucketCache {
    pub(super) usage: Usage,
    pub(super) at: Millis,
    /// The last refusal: until when, which limit, for how many tokens.
    pub(super) full: Option<(Millis, LimitKind, u64)>,
    pub(super) cooldown: Option<(Millis, CooldownReason)>,
    /// What Google's 429s taught (as of the last refresh or this process's own report).
    pub(super) learned: Limits,
}

#[derive(Debug, Clone)]
pub(super) struct KeyCache {
    pub(super) health: KeyHealth,
    pub(super) version: i64,
}

#[derive(Debug)]
pub(super) struct Names {
    /// Each bucket's key names; unset for a bucket the pool names later (a model adopted after
    /// the layout was made).
    pub(super) buckets: Vec<OnceLock<[String; 5]>>,
    pub(super) keys: Vec<[String; 2]>,
    pub(super) configured_active: Vec<bool>,
    /// Each bucket's project (an index into `probes`).
    pub(super) bucket_project: Vec<usize>,
    /// Each key's project.
    pub(super) key_project: Vec<usize>,
    /// The projects, sorted (what the indices above refer to).
    pub(super) projects: Vec<String>,
    /// Per project, a key name in its hash tag: `EXISTS` on it asks the master that holds the
    /// project whether it answers (a Redis Cluster).
    pub(super) probes: Vec<String>,
    pub(super) window_ms: Millis,
    pub(super) bucket_cache: Vec<Mutex<BucketCache>>,
    pub(super) key_cache: Vec<Mutex<KeyCache>>,
}

/// A bucket's key names: `log`, `tok`, `day`, `cool`, `lim`.
pub(super) fn bucket_names(prefix: &str, project: &str, model: &str) -> [String; 5] {
    // v2: a call in flight is logged at its reservation + HOLD (issue 14).
    let base = format!("{prefix}:v2:{{p:{}}}:m:{model}", tag(project));
    [
        format!("{base}:log"),
        format!("{base}:tok"),
        format!("{base}:day"),
        format!("{base}:cool"),
        format!("{base}:lim"),
    ]
}

pub(super) fn tag(s: &str) -> String {
    // `{` and `}` would end the hash tag early; they are the only characters that matter.
    s.replace(['{', '}'], "_")
}
