//! Configuration, with the names of the original system (DESIGN.md §2).
//!
//! Parsed in two stages: `keys.json` goes through strict serde structs (`deny_unknown_fields`,
//! `serde_path_to_error` for the field path), then [`PoolConfig::load`] merges it with the key
//! material found in a [`KeySource`] (the environment and `.env` by default).

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::error::ConfigError;
use crate::limits::Limits;
use crate::secret::ApiKey;

/// Every variable name botforge reads.
pub mod vars {
    /// The single key; the last fallback when the pool is on.
    pub const GEMINI_API_KEY: &str = "GEMINI_API_KEY";
    /// `true` turns the pool on.
    pub const ENABLE_KEY_ROTATION: &str = "ENABLE_KEY_ROTATION";
    /// Prefix of pool key material: `GEMINI_KEY_<key_id>`.
    pub const GEMINI_KEY_PREFIX: &str = "GEMINI_KEY_";
    /// Path of the key metadata file.
    pub const KEYS_FILE: &str = "KEYS_FILE";
    /// Where key material comes from: `env`, `vault`, `aws`, `azure`.
    pub const SECRET_STORE_TYPE: &str = "SECRET_STORE_TYPE";
    /// Shared state across processes.
    pub const REDIS_URL: &str = "REDIS_URL";
    /// Prefix of botforge's Redis key names (default `botforge`), to share one Redis.
    pub const BOTFORGE_REDIS_PREFIX: &str = "BOTFORGE_REDIS_PREFIX";
    /// A PEM file of the certificate authority to trust for `rediss://` (else the system's).
    pub const REDIS_CA_FILE: &str = "REDIS_CA_FILE";
    /// How many processes share the limits while Redis has not answered yet (default 4).
    pub const BOTFORGE_PROCESSES: &str = "BOTFORGE_PROCESSES";
    /// Gemini API base URL.
    pub const GEMINI_BASE_URL: &str = "GEMINI_BASE_URL";
    /// Where generated strategies are written.
    pub const STRATEGY_DIR: &str = "STRATEGY_DIR";
    /// Tokens clients of `botforge serve` present.
    pub const BOTFORGE_CLIENT_TOKENS: &str = "BOTFORGE_CLIENT_TOKENS";
    /// Token for the server's admin routes.
    pub const BOTFORGE_ADMIN_TOKEN: &str = "BOTFORGE_ADMIN_TOKEN";
    /// Models the gateway moves to, in order, when the requested one is overloaded
    /// (comma-separated).
    pub const BOTFORGE_FALLBACK_MODELS: &str = "BOTFORGE_FALLBACK_MODELS";
    /// The model asked for when a command or request names none.
    pub const BOTFORGE_MODEL: &str = "BOTFORGE_MODEL";
    /// How long a whole (non-streaming) answer may take, in seconds (default 600).
    pub const BOTFORGE_ANSWER_TIMEOUT: &str = "BOTFORGE_ANSWER_TIMEOUT";
    /// The default model: Google's alias for its current Flash model.
    pub const DEFAULT_MODEL: &str = "gemini-flash-latest";
    /// The default metadata file.
    pub const DEFAULT_KEYS_FILE: &str = "keys.json";
}

/// Where key material comes from. The environment is one source; secret stores are others.
pub trait KeySource {
    /// The material stored under `name` (e.g. `GEMINI_KEY_flash_01`), if any and non-empty.
    fn material(&self, name: &str) -> Option<ApiKey>;
    /// Every name this source holds (no values).
    fn names(&self) -> Vec<String>;
}

/// A snapshot of the variables: `.env` first, the real environment over it. Values are kept as
/// secrets; `Debug` shows names only.
#[derive(Clone, Default)]
pub struct Environment {
    vars: BTreeMap<String, SecretString>,
    /// The dotenv file read, for [`Environment::reread`].
    dotenv: Option<PathBuf>,
}

impl fmt::Debug for Environment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Environment")
            .field("names", &self.vars.keys().collect::<Vec<_>>())
            .field("dotenv", &self.dotenv)
            .finish()
    }
}

impl Environment {
    /// The process environment over `./.env` (if that file exists).
    ///
    /// # Errors
    /// When `.env` exists but cannot be read or parsed.
    pub fn from_process() -> Result<Self, ConfigError> {
        Self::from_process_with_dotenv(Path::new(".env"))
    }

    /// The process environment over the given dotenv file (if it exists).
    ///
    /// # Errors
    /// When the file exists but cannot be read or parsed; the error names the line, never a value.
    pub fn from_process_with_dotenv(dotenv: &Path) -> Result<Self, ConfigError> {
        let mut env = Self {
            dotenv: Some(dotenv.to_owned()),
            ..Self::default()
        };
        if dotenv.exists() {
            env.merge_dotenv(dotenv)?;
        }
        for (name, value) in std::env::vars_os() {
            if let (Ok(name), Ok(value)) = (name.into_string(), value.into_string()) {
                env.vars.insert(name, SecretString::from(value));
            }
        }
        Ok(env)
    }

    /// Builds an environment from pairs (tests, embedding).
    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        Self {
            vars: pairs
                .into_iter()
                .map(|(k, v)| (k.into(), SecretString::from(v.into())))
                .collect(),
            dotenv: None,
        }
    }

    /// Reads the process environment and the dotenv file again, so a key rotated in `.env` is
    /// seen without a restart; an environment built from pairs stays as it is.
    ///
    /// # Errors
    /// As [`Environment::from_process_with_dotenv`].
    pub fn reread(&self) -> Result<Self, ConfigError> {
        match &self.dotenv {
            Some(path) => Self::from_process_with_dotenv(path),
            None => Ok(self.clone()),
        }
    }

    fn merge_dotenv(&mut self, path: &Path) -> Result<(), ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        for item in dotenvy::from_read_iter(text.as_bytes()) {
            match item {
                Ok((k, v)) => {
                    self.vars.insert(k, SecretString::from(v));
                }
                Err(dotenvy::Error::LineParse(bad, _)) => {
                    // The bad line may hold a key: report its number only.
                    let first = bad.lines().next().unwrap_or_default();
                    let line = text.lines().position(|l| l == first).map_or(0, |i| i + 1);
                    return Err(ConfigError::DotEnv {
                        path: path.to_owned(),
                        line,
                    });
                }
                Err(_) => {
                    return Err(ConfigError::DotEnv {
                        path: path.to_owned(),
                        line: 0,
                    });
                }
            }
        }
        Ok(())
    }

    /// A variable's value.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(ExposeSecret::expose_secret)
    }

    /// Parses a boolean variable (`true/false/1/0/yes/no/on/off`, any case).
    ///
    /// # Errors
    /// When the value is none of those.
    pub fn flag(&self, name: &str, default: bool) -> Result<bool, ConfigError> {
        let Some(v) = self.get(name) else {
            return Ok(default);
        };
        match v.trim().to_ascii_lowercase().as_str() {
            "" => Ok(default),
            "true" | "1" | "yes" | "on" => Ok(true),
            "false" | "0" | "no" | "off" => Ok(false),
            _ => Err(ConfigError::InvalidVar {
                var: name.to_owned(),
                expected: "true or false",
            }),
        }
    }
}

impl KeySource for Environment {
    fn material(&self, name: &str) -> Option<ApiKey> {
        self.get(name)
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(ApiKey::new)
    }

    fn names(&self) -> Vec<String> {
        self.vars.keys().cloned().collect()
    }
}

/// Where a key's metadata came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyOrigin {
    /// An entry of `keys.json`.
    File,
    /// Only a `GEMINI_KEY_<id>` variable: serves any model, limits unknown.
    Env,
}

/// One pool key, ready to use.
#[derive(Debug, Clone)]
pub struct KeySpec {
    /// The configured id (`flash_01`).
    pub key_id: String,
    /// The model this key serves ([`crate::ANY_MODEL`]: any, with a bucket per model).
    pub model: String,
    /// The Google Cloud project; `None` means the key is its own project.
    pub project: Option<String>,
    /// Declared limits (`None` where `keys.json` does not say: unknown until learned).
    pub limits: Limits,
    /// Whether it starts active.
    pub active: bool,
    /// The material.
    pub key: ApiKey,
    /// Where its metadata came from.
    pub origin: KeyOrigin,
}

/// The whole key configuration.
#[derive(Debug, Clone)]
pub struct PoolConfig {
    /// `ENABLE_KEY_ROTATION`.
    pub rotation: bool,
    /// Pool keys (empty in single-key mode).
    pub keys: Vec<KeySpec>,
    /// `GEMINI_API_KEY` unless one of the pool keys already holds the same material.
    pub fallback: Option<ApiKey>,
    /// The metadata file that was read, if any.
    pub keys_file: Option<PathBuf>,
    /// The model asked for when none is named (`BOTFORGE_MODEL`, else
    /// [`vars::DEFAULT_MODEL`]).
    pub default_model: String,
    /// Models that keys without a `model_name` hold a bucket of their own for, besides the
    /// well-known ones: the default model and `BOTFORGE_FALLBACK_MODELS`, and what
    /// [`Self::add_models`] adds. Other models share a project's bucket until upstream answers
    /// them ([`crate::KeyPool::adopt_model`]).
    pub models: Vec<String>,
}

/// `BOTFORGE_MODEL` (bare id) when set, and the models named by the environment: that one and
/// `BOTFORGE_FALLBACK_MODELS` (see [`PoolConfig::models`]).
fn named_models(env: &Environment) -> (Option<String>, Vec<String>) {
    let chosen = env
        .get(vars::BOTFORGE_MODEL)
        .map(str::trim)
        .filter(|m| !m.is_empty())
        .map(|m| crate::models::model_id(m).to_owned());
    let mut models: Vec<String> = chosen.iter().cloned().collect();
    models.extend(
        env.get(vars::BOTFORGE_FALLBACK_MODELS)
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|m| !m.is_empty())
            .map(|m| crate::models::model_id(m).to_owned()),
    );
    (chosen, models)
}

/// Keys that have material (`GEMINI_KEY_<id>`) but no entry in `keys.json` (`seen`): each
/// serves any model, its limits unknown until learned.
fn env_only_keys(
    source: &dyn KeySource,
    seen: &BTreeMap<String, usize>,
) -> Result<Vec<KeySpec>, ConfigError> {
    let mut env_names: Vec<String> = source
        .names()
        .into_iter()
        .filter(|n| n.starts_with(vars::GEMINI_KEY_PREFIX))
        .collect();
    env_names.sort();
    let mut keys = Vec::new();
    for variable in env_names {
        let id = &variable[vars::GEMINI_KEY_PREFIX.len()..];
        if seen.contains_key(id) {
            continue;
        }
        if !valid_id(id) {
            return Err(ConfigError::BadEnvKeyId { variable });
        }
        let Some(material) = source.material(&variable) else {
            continue;
        };
        keys.push(KeySpec {
            key_id: id.to_owned(),
            model: crate::models::ANY_MODEL.to_owned(),
            project: None,
            limits: Limits::UNKNOWN,
            active: true,
            key: material,
            origin: KeyOrigin::Env,
        });
    }
    Ok(keys)
}

/// The pool's own model (DESIGN.md §3.1, "Models move"), when every pool key names its
/// `model_name` (the original system's `keys.json`): the model the most active keys name (all
/// keys when none is active), a Flash model before a Pro one on a tie, then the one named
/// first. `None` when some key serves any model (then the default is
/// [`vars::DEFAULT_MODEL`]). `GEMINI_API_KEY`, the last fallback, does not count.
fn pool_model(keys: &[KeySpec]) -> Option<String> {
    if keys.is_empty() || keys.iter().any(|k| k.model == crate::models::ANY_MODEL) {
        return None;
    }
    let any_active = keys.iter().any(|k| k.active);
    let mut counts: Vec<(&str, usize, usize)> = Vec::new();
    for (i, k) in keys.iter().enumerate() {
        if any_active && !k.active {
            continue;
        }
        match counts.iter_mut().find(|(m, ..)| *m == k.model) {
            Some((_, n, _)) => *n += 1,
            None => counts.push((k.model.as_str(), 1, i)),
        }
    }
    // Flash (Flash-Lite included) ranks before anything else, Pro after it.
    let class = |m: &str| {
        if m.contains("flash") {
            0
        } else if m.contains("pro") {
            2
        } else {
            1
        }
    };
    counts
        .into_iter()
        .min_by_key(|&(m, n, first)| (std::cmp::Reverse(n), class(m), first))
        .map(|(m, ..)| m.to_owned())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    keys: Vec<RawKey>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKey {
    key_id: String,
    model_name: Option<String>,
    provider: Option<String>,
    rpm: Option<u64>,
    tpm: Option<u64>,
    rpd: Option<u64>,
    project: Option<String>,
    active: Option<bool>,
}

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// Removes quoted string values from a serde message, so a misplaced secret is never echoed.
fn redact_values(msg: &str) -> String {
    let mut out = String::with_capacity(msg.len());
    let mut rest = msg;
    while let Some(i) = rest.find("string \"") {
        out.push_str(&rest[..i + 7]);
        let after = &rest[i + 8..];
        out.push_str("(value hidden)");
        rest = after.find('"').map_or("", |j| &after[j + 1..]);
    }
    out.push_str(rest);
    out
}

/// serde's "invalid type: string (value hidden), expected u64" in the user's words: what the
/// field takes, with an example, and what was found.
fn plain_reason(field: &str, reason: &str) -> String {
    let Some((found, _)) = reason
        .strip_prefix("invalid type: ")
        .and_then(|r| r.rsplit_once(", expected "))
    else {
        return reason.to_owned();
    };
    let wants = match field {
        "rpm" | "rpd" => "a whole number of requests, like 60",
        "tpm" => "a whole number of input tokens, like 1000000",
        "active" => "true or false",
        "keys" => "a list of key entries in [ ]",
        _ => "text in quotes",
    };
    let found = match found {
        f if f.starts_with("string") => "text".to_owned(),
        f if f.starts_with("integer") || f.starts_with("floating point") => {
            format!(
                "the number {}",
                f.rsplit(' ').next().unwrap_or_default().trim_matches('`')
            )
        }
        f if f.starts_with("boolean") => "true/false".to_owned(),
        "sequence" => "a list".to_owned(),
        "map" => "an object".to_owned(),
        other => other.to_owned(),
    };
    format!("must be {wants}; found {found}")
}

fn parse_keys_file(path: &Path, text: &str) -> Result<Vec<RawKey>, ConfigError> {
    // The shape first: a bare list of keys, or a single value, is named as such (serde would
    // speak of the first field it could not read). Inside the object, serde names the field.
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(text) {
        let found = match &v {
            serde_json::Value::Object(_) => None,
            serde_json::Value::Array(_) => Some("a list (put it under \"keys\")"),
            _ => Some("a single value"),
        };
        if let Some(found) = found {
            return Err(ConfigError::KeysFileShape {
                path: path.to_owned(),
                found,
            });
        }
    }
    let de = &mut serde_json::Deserializer::from_str(text);
    match serde_path_to_error::deserialize::<_, RawFile>(de) {
        Ok(f) => Ok(f.keys),
        Err(e) => {
            let index = e.path().iter().find_map(|s| match s {
                serde_path_to_error::Segment::Seq { index } => Some(*index),
                _ => None,
            });
            let key_id = index.and_then(|i| {
                let v: serde_json::Value = serde_json::from_str(text).ok()?;
                v.get("keys")?
                    .get(i)?
                    .get("key_id")?
                    .as_str()
                    .map(str::to_owned)
            });
            let field = e.path().to_string();
            let inner = e.inner();
            // serde_json appends " at line L column C"; we print those separately.
            let reason = inner.to_string();
            let reason = reason
                .rsplit_once(" at line ")
                .map_or(reason.as_str(), |(r, _)| r)
                .to_owned();
            let last = field.rsplit('.').next().unwrap_or_default();
            Err(ConfigError::KeysFile {
                path: path.to_owned(),
                line: inner.line(),
                column: inner.column(),
                key_id,
                reason: plain_reason(last, &redact_values(&reason)),
                field,
            })
        }
    }
}

fn check_limit(
    path: &Path,
    key_id: &str,
    field: &'static str,
    v: Option<u64>,
) -> Result<Option<u64>, ConfigError> {
    match v {
        Some(0) => Err(ConfigError::InvalidField {
            path: path.to_owned(),
            key_id: key_id.to_owned(),
            field,
            reason: "must be at least 1 (leave it out when unknown: Google's 429s teach it)"
                .to_owned(),
        }),
        other => Ok(other),
    }
}

fn spec_from_raw(path: &Path, raw: RawKey, key: ApiKey) -> Result<KeySpec, ConfigError> {
    let id = raw.key_id;
    let invalid = |field: &'static str, reason: &str| ConfigError::InvalidField {
        path: path.to_owned(),
        key_id: id.clone(),
        field,
        reason: reason.to_owned(),
    };
    if let Some(p) = raw.provider.as_deref()
        && p != "gemini"
    {
        return Err(invalid("provider", "only \"gemini\" is supported"));
    }
    if raw
        .model_name
        .as_deref()
        .is_some_and(|m| m.trim().is_empty())
    {
        return Err(invalid("model_name", "must not be empty"));
    }
    if raw.project.as_deref().is_some_and(|m| m.trim().is_empty()) {
        return Err(invalid(
            "project",
            "must not be empty (leave it out for a key that is its own project)",
        ));
    }
    // A key's model is what `model_name` says; without one it serves any model.
    let model = raw.model_name.map_or_else(
        || crate::models::ANY_MODEL.to_owned(),
        |m| crate::models::model_id(m.trim()).to_owned(),
    );
    // Only what is declared is enforced; the rest is unknown until a 429 teaches it.
    let limits = Limits {
        rpm: check_limit(path, &id, "rpm", raw.rpm)?,
        tpm: check_limit(path, &id, "tpm", raw.tpm)?,
        rpd: check_limit(path, &id, "rpd", raw.rpd)?,
    };
    Ok(KeySpec {
        key_id: id,
        model,
        project: raw.project,
        limits,
        active: raw.active.unwrap_or(true),
        key,
        origin: KeyOrigin::File,
    })
}

impl PoolConfig {
    /// Gives `models` (`NAME` or `models/NAME`) buckets of their own on keys without a
    /// `model_name` (see [`Self::models`]): the models a command or a gateway knows it will
    /// ask for. Returns how many were new.
    pub fn add_models<'m>(&mut self, models: impl IntoIterator<Item = &'m str>) -> usize {
        let before = self.models.len();
        for m in models {
            let id = crate::models::model_id(m.trim());
            if !id.is_empty() && !self.models.iter().any(|known| known == id) {
                self.models.push(id.to_owned());
            }
        }
        self.models.len() - before
    }

    /// Reads the configuration: variables from `env`, material from `source`, and `KEYS_FILE`
    /// (default `./keys.json`, relative to the working directory).
    ///
    /// # Errors
    /// Any [`ConfigError`]: no keys at all, a bad variable, or a bad `keys.json`.
    pub fn load(env: &Environment, source: &dyn KeySource) -> Result<Self, ConfigError> {
        let rotation = env.flag(vars::ENABLE_KEY_ROTATION, false)?;
        let api_key = source.material(vars::GEMINI_API_KEY);
        let (chosen, named) = named_models(env);
        let with_default = |default_model: String| {
            let mut models = vec![default_model.clone()];
            models.extend(named.iter().filter(|m| **m != default_model).cloned());
            (default_model, models)
        };
        if !rotation {
            let (default_model, models) =
                with_default(chosen.unwrap_or_else(|| vars::DEFAULT_MODEL.to_owned()));
            return match api_key {
                Some(k) => Ok(Self {
                    rotation,
                    keys: Vec::new(),
                    fallback: Some(k),
                    keys_file: None,
                    default_model,
                    models,
                }),
                None => Err(ConfigError::NoKeys),
            };
        }

        let explicit = env.get(vars::KEYS_FILE).filter(|p| !p.trim().is_empty());
        let path = PathBuf::from(explicit.unwrap_or(vars::DEFAULT_KEYS_FILE));
        let raw = if explicit.is_some() || path.exists() {
            let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Read {
                path: path.clone(),
                source,
            })?;
            parse_keys_file(&path, &text)?
        } else {
            Vec::new()
        };
        let keys_file = (explicit.is_some() || !raw.is_empty() || path.exists()).then_some(path);
        let path_ref = keys_file
            .as_deref()
            .unwrap_or(Path::new(vars::DEFAULT_KEYS_FILE));

        let mut keys = Vec::new();
        let mut seen: BTreeMap<String, usize> = BTreeMap::new();
        for (i, r) in raw.into_iter().enumerate() {
            if let Some(&first) = seen.get(&r.key_id) {
                return Err(ConfigError::DuplicateKey {
                    path: path_ref.to_owned(),
                    key_id: r.key_id,
                    first,
                    second: i,
                });
            }
            if !valid_id(&r.key_id) {
                return Err(ConfigError::InvalidField {
                    path: path_ref.to_owned(),
                    key_id: r.key_id,
                    field: "key_id",
                    reason: "must be letters, digits, `_` or `-`".to_owned(),
                });
            }
            seen.insert(r.key_id.clone(), i);
            let variable = format!("{}{}", vars::GEMINI_KEY_PREFIX, r.key_id);
            let Some(material) = source.material(&variable) else {
                return Err(ConfigError::MissingMaterial {
                    path: path_ref.to_owned(),
                    key_id: r.key_id,
                    variable,
                });
            };
            keys.push(spec_from_raw(path_ref, r, material)?);
        }

        keys.extend(env_only_keys(source, &seen)?);

        let fallback = api_key.filter(|k| !keys.iter().any(|s| s.key.same_material(k)));
        if keys.is_empty() && fallback.is_none() {
            return Err(ConfigError::NoKeys);
        }
        let (default_model, models) = with_default(
            chosen
                .or_else(|| pool_model(&keys))
                .unwrap_or_else(|| vars::DEFAULT_MODEL.to_owned()),
        );
        Ok(Self {
            rotation,
            keys,
            fallback,
            keys_file,
            default_model,
            models,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_values_hides_strings() {
        assert_eq!(
            redact_values("invalid type: string \"AIzaSECRET\", expected u64"),
            "invalid type: string (value hidden), expected u64"
        );
        assert_eq!(
            redact_values("missing field `keys`"),
            "missing field `keys`"
        );
    }

    #[test]
    fn environment_debug_shows_names_only() {
        let env = Environment::from_pairs([("GEMINI_API_KEY", "test-key-CANARY-zzzz")]);
        let dbg = format!("{env:?}");
        assert!(dbg.contains("GEMINI_API_KEY"));
        assert!(!dbg.contains("CANARY"));
    }

    #[test]
    fn flags_parse_strictly() {
        let env = Environment::from_pairs([("A", "TRUE"), ("B", "0"), ("C", "maybe")]);
        assert!(env.flag("A", false).unwrap());
        assert!(!env.flag("B", true).unwrap());
        assert!(env.flag("D", true).unwrap());
        let err = env.flag("C", false).unwrap_err().to_string();
        assert_eq!(err, "C: expected true or false");
    }
}
