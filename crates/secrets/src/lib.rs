//! Where key material comes from (`SECRET_STORE_TYPE`, DESIGN.md §2): the environment (and
//! `.env`), or one KV v2 secret in HashiCorp Vault / OpenBao whose fields are the same names
//! (`GEMINI_API_KEY`, `GEMINI_KEY_<key_id>`). Token and AppRole logins are supported.
//!
//! Fetched material is kept in a [`Snapshot`] that implements [`keypool::KeySource`], so the
//! pool reads it exactly as it reads the environment. [`Cached`] refetches after a TTL and keeps
//! the last good snapshot (with a warning) when the store is unreachable later on. Errors name
//! the store and the secret, never a value.
#![deny(missing_docs)]

mod vault;

use std::collections::BTreeMap;
use std::time::Duration;

use keypool::{ApiKey, Environment, KeySource};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Mutex;
use tokio::time::Instant;

pub use vault::{VaultAuth, VaultConfig};

/// `SECRET_STORE_TYPE`.
pub const SECRET_STORE_TYPE: &str = "SECRET_STORE_TYPE";

/// Why material could not be had. Never holds a secret value.
#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    /// A setting is missing or wrong.
    #[error("{0}")]
    Config(String),
    /// The store cannot be reached.
    #[error(
        "{store} at {address} is unreachable ({detail}): check that it runs and that {hint} is right"
    )]
    Unreachable {
        /// `vault`.
        store: &'static str,
        /// Where it was looked for.
        address: String,
        /// What failed, without secrets.
        detail: String,
        /// The variable to check.
        hint: &'static str,
    },
    /// The store refused.
    #[error("{store} denied access to {secret}: {hint}")]
    Denied {
        /// `vault`.
        store: &'static str,
        /// The secret's path.
        secret: String,
        /// What to check.
        hint: String,
    },
    /// No such secret.
    #[error("{store} has no secret at {secret}: {hint}")]
    Missing {
        /// `vault`.
        store: &'static str,
        /// The secret's path.
        secret: String,
        /// How to create it.
        hint: String,
    },
    /// The store answered something unexpected.
    #[error("{store} answered {secret} with {detail}")]
    Protocol {
        /// `vault`.
        store: &'static str,
        /// The secret's path.
        secret: String,
        /// What was wrong (never the values).
        detail: String,
    },
}

/// Material fetched from a store, by name. `Debug` shows names only.
#[derive(Clone, Default)]
pub struct Snapshot {
    values: BTreeMap<String, SecretString>,
}

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshot")
            .field("names", &self.values.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Snapshot {
    /// From name/value pairs.
    pub fn from_pairs(pairs: impl IntoIterator<Item = (String, SecretString)>) -> Self {
        Self {
            values: pairs.into_iter().collect(),
        }
    }

    /// Names whose material differs from `other`'s (added, removed or changed).
    pub fn changed(&self, other: &Snapshot) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for (k, v) in &self.values {
            match other.values.get(k) {
                Some(o) if o.expose_secret() == v.expose_secret() => {}
                _ => out.push(k.clone()),
            }
        }
        out.extend(
            other
                .values
                .keys()
                .filter(|k| !self.values.contains_key(*k))
                .cloned(),
        );
        out.sort();
        out
    }
}

impl KeySource for Snapshot {
    fn material(&self, name: &str) -> Option<ApiKey> {
        self.values
            .get(name)
            .map(|v| v.expose_secret().trim())
            .filter(|v| !v.is_empty())
            .map(ApiKey::new)
    }

    fn names(&self) -> Vec<String> {
        self.values.keys().cloned().collect()
    }
}

/// A configured store.
#[derive(Debug, Clone)]
pub enum Store {
    /// The environment and `.env`.
    Env(Environment),
    /// Vault / OpenBao KV v2.
    Vault(VaultConfig),
}

impl Store {
    /// From `SECRET_STORE_TYPE` and the store's own settings.
    ///
    /// # Errors
    /// [`SecretsError::Config`] naming the variable to fix.
    pub fn from_env(env: &Environment) -> Result<Self, SecretsError> {
        match env
            .get(SECRET_STORE_TYPE)
            .map(|s| s.trim().to_ascii_lowercase())
            .as_deref()
        {
            None | Some("" | "env") => Ok(Store::Env(env.clone())),
            Some("vault") => Ok(Store::Vault(VaultConfig::from_env(env)?)),
            Some(other @ ("aws" | "azure")) => Err(SecretsError::Config(format!(
                "SECRET_STORE_TYPE={other} is not available in this build yet; use env or vault"
            ))),
            Some(other) => Err(SecretsError::Config(format!(
                "SECRET_STORE_TYPE={other}: use env, vault, aws or azure"
            ))),
        }
    }

    /// A short name for messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Store::Env(_) => "env",
            Store::Vault(_) => "vault",
        }
    }

    /// Fetches every name the store holds.
    ///
    /// # Errors
    /// Any [`SecretsError`].
    pub async fn fetch(&self) -> Result<Snapshot, SecretsError> {
        match self {
            Store::Env(env) => Ok(Snapshot::from_pairs(env.names().into_iter().filter_map(
                |n| {
                    env.get(&n)
                        .map(|v| (n.clone(), SecretString::from(v.to_owned())))
                },
            ))),
            Store::Vault(v) => v.fetch().await,
        }
    }
}

/// A store's material with a time to live: [`Cached::get`] refetches when it is older than the
/// TTL and, when the store fails then, keeps serving the last good snapshot with a warning.
#[derive(Debug)]
pub struct Cached {
    store: Store,
    ttl: Duration,
    state: Mutex<Option<(Snapshot, Instant)>>,
}

impl Cached {
    /// Fetches once; failing here is an error (there is nothing good to fall back on).
    ///
    /// # Errors
    /// Any [`SecretsError`] from the first fetch.
    pub async fn start(store: Store, ttl: Duration) -> Result<Self, SecretsError> {
        let first = store.fetch().await?;
        Ok(Self {
            store,
            ttl,
            state: Mutex::new(Some((first, Instant::now()))),
        })
    }

    /// The current material, refetched when older than the TTL.
    pub async fn get(&self) -> Snapshot {
        let mut state = self.state.lock().await;
        if let Some((snap, at)) = state.as_ref()
            && at.elapsed() < self.ttl
        {
            return snap.clone();
        }
        self.refresh_locked(&mut state).await
    }

    /// Refetches now. Returns the snapshot in use afterwards and the names that changed.
    pub async fn reload(&self) -> (Snapshot, Vec<String>) {
        let mut state = self.state.lock().await;
        let before = state.as_ref().map(|(s, _)| s.clone()).unwrap_or_default();
        let now = self.refresh_locked(&mut state).await;
        let changed = now.changed(&before);
        (now, changed)
    }

    async fn refresh_locked(&self, state: &mut Option<(Snapshot, Instant)>) -> Snapshot {
        match self.store.fetch().await {
            Ok(s) => {
                *state = Some((s.clone(), Instant::now()));
                s
            }
            Err(e) => {
                tracing::warn!(store = self.store.kind(), error = %e, "secret store failed; keeping the last good key material");
                match state.as_mut() {
                    Some((s, at)) => {
                        // Try again after another TTL rather than on every call.
                        *at = Instant::now();
                        s.clone()
                    }
                    None => Snapshot::default(),
                }
            }
        }
    }
}
