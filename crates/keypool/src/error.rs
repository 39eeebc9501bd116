//! Error types. None of them can hold key material: they carry ids, file names, fields and
//! upstream statuses only.

use std::fmt;
use std::path::PathBuf;

use crate::clock::Millis;
use crate::health::KeyState;

/// A configuration problem, named precisely enough to fix it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// Nothing to call Gemini with.
    #[error(
        "no keys configured: set GEMINI_API_KEY, or ENABLE_KEY_ROTATION=true with GEMINI_KEY_<id>"
    )]
    NoKeys,
    /// A variable holds a value of the wrong form.
    #[error("{var}: expected {expected}")]
    InvalidVar {
        /// The variable's name.
        var: String,
        /// What would be accepted.
        expected: &'static str,
    },
    /// The `.env` file has a line that cannot be parsed.
    #[error("{}: line {line} cannot be parsed (expected NAME=value)", path.display())]
    DotEnv {
        /// The file.
        path: PathBuf,
        /// 1-based line number, 0 when unknown.
        line: usize,
    },
    /// A file cannot be read.
    #[error("{}: cannot read", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// `keys.json` is valid JSON of another shape than `{"keys": [...]}`.
    #[error("{}: expected one JSON object with a list of keys, {{\"keys\": [{{\"key_id\": \"flash_01\", \"model_name\": \"gemini-2.5-flash\"}}]}}; found {found}", path.display())]
    KeysFileShape {
        /// The file.
        path: PathBuf,
        /// What it holds instead (`a list`, `an object without "keys"`…).
        found: &'static str,
    },
    /// `keys.json` does not fit the schema.
    #[error("{}:{line}:{column}: {}field `{field}`: {reason}", path.display(), key_label(key_id.as_deref()))]
    KeysFile {
        /// The file.
        path: PathBuf,
        /// 1-based line of the problem.
        line: usize,
        /// 1-based column.
        column: usize,
        /// The key entry concerned, when known.
        key_id: Option<String>,
        /// JSON path of the field, e.g. `keys[1].rpm`.
        field: String,
        /// What is wrong (values of string fields are left out).
        reason: String,
    },
    /// A value has the right type but is not allowed.
    #[error("{}: key `{key_id}`, field `{field}`: {reason}", path.display())]
    InvalidField {
        /// The file.
        path: PathBuf,
        /// The key entry.
        key_id: String,
        /// The field.
        field: &'static str,
        /// What is wrong and what to write instead.
        reason: String,
    },
    /// Two entries share a `key_id`.
    #[error("{}: key `{key_id}` appears twice (entries {first} and {second}); key ids must be unique", path.display())]
    DuplicateKey {
        /// The file.
        path: PathBuf,
        /// The repeated id.
        key_id: String,
        /// 0-based index of the first entry.
        first: usize,
        /// 0-based index of the repeat.
        second: usize,
    },
    /// A `keys.json` entry whose material is nowhere to be found.
    #[error("{}: key `{key_id}` has no key material: set {variable} (key material never goes in the file)", path.display())]
    MissingMaterial {
        /// The file.
        path: PathBuf,
        /// The key entry.
        key_id: String,
        /// The variable that should hold it.
        variable: String,
    },
    /// An environment key id that cannot be used.
    #[error("{variable}: the key id must be letters, digits, `_` or `-`")]
    BadEnvKeyId {
        /// The variable.
        variable: String,
    },
}

fn key_label(key_id: Option<&str>) -> String {
    key_id.map_or_else(String::new, |k| format!("key `{k}`, "))
}

/// A state backend failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The pool did not prepare the store.
    #[error("state store used before it was prepared")]
    NotPrepared,
    /// One store can back one pool.
    #[error("state store already prepared for another pool")]
    AlreadyPrepared,
    /// A bucket index beyond the layout.
    #[error("state store has no bucket #{index}")]
    UnknownBucket {
        /// The index.
        index: usize,
    },
    /// A key index beyond the layout.
    #[error("state store has no key #{index}")]
    UnknownKey {
        /// The index.
        index: usize,
    },
    /// Redis did not answer (down, unreachable, timed out): the backend degrades to local
    /// limits. The message is the client's.
    #[error("redis {op}: unavailable: {message}")]
    Unavailable {
        /// The operation.
        op: &'static str,
        /// What the Redis client said.
        message: String,
    },
    /// Redis answered with an error. The message is the client's (it never holds key
    /// material: key names carry fingerprints).
    #[error("redis {op} failed: {message}")]
    Redis {
        /// The operation.
        op: &'static str,
        /// What the Redis client said.
        message: String,
    },
}

/// The state of one key when nothing could be selected.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct KeyBlock {
    /// The key.
    pub key_id: String,
    /// Its state.
    pub state: KeyState,
    /// Why it could not serve: `cooling_down (errors)`, `rpm full`, `disabled: …`.
    pub reason: String,
    /// When it could serve again, if time alone will do it.
    pub free_at: Option<Millis>,
}

/// Every key is cooling, dead or out of quota for the request.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Exhausted {
    /// The model asked for.
    pub model: String,
    /// When this was decided.
    pub at: Millis,
    /// Each candidate key's state.
    pub keys: Vec<KeyBlock>,
    /// The earliest time any of them frees up.
    pub earliest_free: Option<Millis>,
}

impl fmt::Display for Exhausted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "no key can serve {} now", self.model)?;
        match self.earliest_free {
            Some(t) => {
                let secs = (t - self.at).max(0) as f64 / 1000.0;
                write!(f, "; the earliest frees up in {secs:.1} s")?;
            }
            None => write!(f, "; none frees up by itself (re-enable or add keys)")?,
        }
        for k in &self.keys {
            write!(f, "\n  {}: {}", k.key_id, k.reason)?;
        }
        Ok(())
    }
}

/// Why the pool could not hand out a key.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PoolError {
    /// No key serves the model at all.
    #[error("no configured key serves model `{model}` (configured models: {available})")]
    UnknownModel {
        /// The model asked for.
        model: String,
        /// The models keys are configured for, comma-separated.
        available: String,
    },
    /// Every candidate is busy, cooling or dead.
    #[error("{0}")]
    Exhausted(Box<Exhausted>),
    /// The request alone exceeds every candidate's TPM limit.
    #[error(
        "a request of {tokens} input tokens exceeds the TPM limit ({limit}) of every key for `{model}`"
    )]
    TooLarge {
        /// The model.
        model: String,
        /// Estimated input tokens.
        tokens: u64,
        /// The largest TPM limit among candidates.
        limit: u64,
    },
    /// No key has this id.
    #[error("no key with id `{key_id}`")]
    UnknownKeyId {
        /// The id asked for.
        key_id: String,
    },
    /// The state backend failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl PoolError {
    /// A payload-free label for metrics and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            PoolError::UnknownModel { .. } => "unknown_model",
            PoolError::Exhausted(_) => "exhausted",
            PoolError::TooLarge { .. } => "too_large",
            PoolError::UnknownKeyId { .. } => "unknown_key_id",
            PoolError::Store(_) => "store",
        }
    }

    /// Whether waiting can help.
    pub fn is_retryable(&self) -> bool {
        matches!(self, PoolError::Exhausted(e) if e.earliest_free.is_some())
    }
}
