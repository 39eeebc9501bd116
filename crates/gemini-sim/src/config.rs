//! The simulator's TOML configuration.
//!
//! ```toml
//! time_scale = 60.0                 # a simulated minute passes in one real second
//! default_reply = "Hello from the simulator."
//! seed = 7                          # fault dice
//!
//! [[keys]]
//! id = "k1"                         # label used in stats (the key itself is never shown)
//! key = "test-key-1"                # the material clients send
//! project = "proj-a"
//! state = "valid"                   # valid | invalid (400 API_KEY_INVALID) | revoked (403)
//!                                   # | denied (an unexplained 403 on every call)
//!                                   # | suspended (403 that echoes the key, as Google's does)
//!
//! [projects.proj-a."gemini-2.5-flash"]
//! rpm = 10
//! tpm = 250000
//! rpd = 250
//!
//! [[replies]]
//! model = "gemini-2.5-pro"          # optional
//! prompt_contains = "RSI"           # optional
//! text = "..."                      # or json = { ... }
//! thoughts_tokens = 12
//!
//! [[faults]]
//! key = "k2"                        # optional (key id); model = "..." optional
//! kind = "unavailable"              # internal | unavailable | high_demand | deadline | slow
//!                                   # | reset | malformed | mid_stream | max_tokens
//!                                   # | file_denied (403 about another project's file)
//!                                   # | denied (an unexplained 403 on this call)
//!                                   # | unauthenticated (a 401 on this call)
//!                                   # | truncated (a stream that ends without finishReason)
//!                                   # | stall (a stream silent for delay_ms after its first chunk)
//! probability = 0.3                 # or: script = [true, false, true]
//! delay_ms = 1500                   # for slow
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

/// A configuration problem.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file cannot be read.
    #[error("{path}: cannot read")]
    Read {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The TOML does not fit the schema.
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: String,
        /// toml's message (it names the line and key).
        message: String,
    },
    /// A value that parses but cannot work.
    #[error("{path}: {message}")]
    Invalid {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
}

/// How a key answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyState {
    /// Serves.
    #[default]
    Valid,
    /// 400 `API_KEY_INVALID`.
    Invalid,
    /// 403 "reported as leaked".
    Revoked,
    /// 403 "The caller does not have permission" on every call: a 403 that does not say whether
    /// the key or the request is at fault (a probe with the key is refused too).
    Denied,
    /// 403 "Permission denied: Consumer '`api_key:KEY`' has been suspended.": the real
    /// message echoes the key's material.
    Suspended,
}

/// One key the simulator knows.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyConfig {
    /// Label for stats.
    pub id: String,
    /// The material clients send.
    pub key: String,
    /// Project; quotas are per (project, model). Defaults to the id.
    pub project: Option<String>,
    /// How it answers.
    #[serde(default)]
    pub state: KeyState,
}

/// Limits of one (project, model).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitConfig {
    /// Requests per (simulated) minute.
    pub rpm: Option<u64>,
    /// Input tokens per (simulated) minute.
    pub tpm: Option<u64>,
    /// Requests per (simulated) Pacific day.
    pub rpd: Option<u64>,
}

/// A scripted reply.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplyConfig {
    /// Only for this model.
    pub model: Option<String>,
    /// Only when the prompt contains this.
    pub prompt_contains: Option<String>,
    /// Reply text.
    pub text: Option<String>,
    /// Reply JSON (sent as its compact text).
    pub json: Option<toml::Value>,
    /// Thinking tokens to report.
    #[serde(default)]
    pub thoughts_tokens: u64,
}

/// Kinds of injected faults.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// 500 INTERNAL.
    Internal,
    /// 503 "The model is overloaded."
    Unavailable,
    /// 503 "This model is currently experiencing high demand."
    HighDemand,
    /// 504 `DEADLINE_EXCEEDED`.
    Deadline,
    /// The first byte comes after `delay_ms`.
    Slow,
    /// The connection breaks before a complete answer.
    Reset,
    /// HTTP 200 with a body that is not JSON.
    Malformed,
    /// A stream that sends one chunk, then an error object (unary: 500).
    MidStream,
    /// HTTP 200, `MAX_TOKENS`, no parts (thinking used every token).
    MaxTokens,
    /// 403 "You do not have permission to access the File … or it may not exist": the request
    /// names a file of another project (the caller's fault, no key's).
    FileDenied,
    /// 403 "The caller does not have permission" on this call only (the key itself works).
    Denied,
    /// 401 `UNAUTHENTICATED` on this call only (the key itself works: what a client's own
    /// credential, passed upstream beside the key, once caused).
    Unauthenticated,
    /// A stream that sends its first chunk and then just ends: no `finishReason`, no error
    /// (unary answers are unaffected).
    Truncated,
    /// A stream that sends its first chunk, then nothing for `delay_ms`, then ends cut off
    /// (native and OpenAI-compatible; unary answers are unaffected).
    Stall,
}

/// A fault rule.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultConfig {
    /// Only for this key id.
    pub key: Option<String>,
    /// Only for this model.
    pub model: Option<String>,
    /// What happens.
    pub kind: FaultKind,
    /// Chance per matching request.
    pub probability: Option<f64>,
    /// Or: one entry per matching request, in order (then no more faults).
    pub script: Option<Vec<bool>>,
    /// Delay of a `slow` fault, or the silence of a `stall`.
    #[serde(default)]
    pub delay_ms: u64,
}

/// The whole configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimConfig {
    /// Simulated seconds per real second (≥ 1 speeds time up).
    #[serde(default = "one")]
    pub time_scale: f64,
    /// Reply when no scripted reply matches.
    #[serde(default = "default_reply")]
    pub default_reply: String,
    /// Seed of the fault dice (random when absent).
    pub seed: Option<u64>,
    /// Models served and listed (default: the current Gemini models).
    pub models: Option<Vec<String>>,
    /// Models served but missing from `ListModels`: a model released after a client listed
    /// them, or a preview the list leaves out.
    #[serde(default)]
    pub hidden_models: Vec<String>,
    /// Known keys. With none, any key is valid and is its own project.
    #[serde(default)]
    pub keys: Vec<KeyConfig>,
    /// project → model → limits. Absent: unlimited.
    #[serde(default)]
    pub projects: BTreeMap<String, BTreeMap<String, LimitConfig>>,
    /// Scripted replies, first match wins.
    #[serde(default)]
    pub replies: Vec<ReplyConfig>,
    /// Fault rules, first firing wins.
    #[serde(default)]
    pub faults: Vec<FaultConfig>,
}

fn one() -> f64 {
    1.0
}

fn default_reply() -> String {
    "Hello from the botforge Gemini simulator.".to_owned()
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            time_scale: 1.0,
            default_reply: default_reply(),
            seed: None,
            models: None,
            hidden_models: Vec::new(),
            keys: Vec::new(),
            projects: BTreeMap::new(),
            replies: Vec::new(),
            faults: Vec::new(),
        }
    }
}

impl SimConfig {
    /// Parses and validates TOML text; `origin` names it in errors.
    ///
    /// # Errors
    /// A parse or validation error naming `origin`.
    pub fn from_toml(origin: &str, text: &str) -> Result<Self, ConfigError> {
        let c: SimConfig = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: origin.to_owned(),
            message: e.to_string(),
        })?;
        c.validate(origin)?;
        Ok(c)
    }

    /// Reads a TOML file.
    ///
    /// # Errors
    /// As [`Self::from_toml`], or the file cannot be read.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_toml(&path.display().to_string(), &text)
    }

    fn validate(&self, origin: &str) -> Result<(), ConfigError> {
        let bad = |message: String| ConfigError::Invalid {
            path: origin.to_owned(),
            message,
        };
        if !(self.time_scale.is_finite() && self.time_scale > 0.0) {
            return Err(bad("time_scale must be a positive number".into()));
        }
        let mut ids = std::collections::HashSet::new();
        for k in &self.keys {
            if !ids.insert(k.id.as_str()) {
                return Err(bad(format!("keys: id `{}` appears twice", k.id)));
            }
        }
        for (i, r) in self.replies.iter().enumerate() {
            if r.text.is_some() == r.json.is_some() {
                return Err(bad(format!(
                    "replies[{i}]: set exactly one of text or json"
                )));
            }
        }
        for (i, f) in self.faults.iter().enumerate() {
            if f.probability.is_some() == f.script.is_some() {
                return Err(bad(format!(
                    "faults[{i}]: set exactly one of probability or script"
                )));
            }
            if f.probability.is_some_and(|p| !(0.0..=1.0).contains(&p)) {
                return Err(bad(format!("faults[{i}].probability must be within 0..=1")));
            }
            if let Some(k) = &f.key
                && !ids.contains(k.as_str())
            {
                return Err(bad(format!("faults[{i}].key: no key with id `{k}`")));
            }
        }
        for (p, models) in &self.projects {
            for (m, l) in models {
                if [l.rpm, l.tpm, l.rpd].contains(&Some(0)) {
                    return Err(bad(format!("projects.{p}.{m}: limits must be at least 1")));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_example_parses() {
        let text = r#"
time_scale = 60.0
seed = 7
[[keys]]
id = "k1"
key = "test-key-1"
project = "proj-a"
[[keys]]
id = "k2"
key = "test-key-2"
state = "revoked"
[projects.proj-a."gemini-2.5-flash"]
rpm = 10
tpm = 250000
rpd = 250
[[replies]]
prompt_contains = "RSI"
json = { name = "x" }
[[faults]]
key = "k2"
kind = "unavailable"
script = [true, false]
"#;
        let c = SimConfig::from_toml("sim.toml", text).unwrap();
        assert_eq!(c.keys[1].state, KeyState::Revoked);
        assert_eq!(c.projects["proj-a"]["gemini-2.5-flash"].rpm, Some(10));
    }

    #[test]
    fn mistakes_are_named() {
        let e = SimConfig::from_toml("s.toml", "time_scael = 2").unwrap_err();
        assert!(e.to_string().contains("time_scael"), "{e}");
        let e = SimConfig::from_toml("s.toml", "[[faults]]\nkind = \"internal\"").unwrap_err();
        assert!(e.to_string().contains("faults[0]"), "{e}");
        let e = SimConfig::from_toml("s.toml", "[projects.p.m]\nrpm = 0").unwrap_err();
        assert!(e.to_string().contains("projects.p.m"), "{e}");
    }
}
