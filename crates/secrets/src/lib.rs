//! Where key material comes from (`SECRET_STORE_TYPE`, DESIGN.md §2), always under the same
//! names (`GEMINI_API_KEY`, `GEMINI_KEY_<key_id>`):
//! - `env`: the environment and `.env`;
//! - `vault`: the fields of one KV v2 secret in HashiCorp Vault / OpenBao (token or AppRole);
//! - `aws` (feature `aws`): the JSON object in one AWS Secrets Manager secret;
//! - `azure` (feature `azure`): one Azure Key Vault secret per name, `_` written as `-`.
//!
//! Fetched material is kept in a [`Snapshot`] that implements [`keypool::KeySource`], so the
//! pool reads it exactly as it reads the environment. [`Cached`] refetches after a TTL and keeps
//! the last good snapshot (with a warning) when the store is unreachable later on. Errors name
//! the store and the secret, never a value.
#![deny(missing_docs)]

#[cfg(feature = "aws")]
mod aws;
#[cfg(feature = "azure")]
mod azure;
mod vault;

use std::collections::BTreeMap;
use std::time::Duration;

use keypool::{ApiKey, Environment, KeySource};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Mutex;
use tokio::time::Instant;

#[cfg(feature = "aws")]
pub use aws::AwsConfig;
#[cfg(feature = "azure")]
pub use azure::{AzureConfig, secret_name as azure_secret_name};
pub use vault::{VaultAuth, VaultConfig};

/// `SECRET_STORE_TYPE`.
pub const SECRET_STORE_TYPE: &str = "SECRET_STORE_TYPE";

/// `SECRET_STORE_CA_FILE`: extra PEM root certificates trusted when talking to Vault or Key
/// Vault (a private CA in front of the store).
pub const SECRET_STORE_CA_FILE: &str = "SECRET_STORE_CA_FILE";

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
    /// AWS Secrets Manager.
    #[cfg(feature = "aws")]
    Aws(AwsConfig),
    /// Azure Key Vault.
    #[cfg(feature = "azure")]
    Azure(AzureConfig),
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
            #[cfg(feature = "aws")]
            Some("aws") => Ok(Store::Aws(AwsConfig::from_env(env)?)),
            #[cfg(feature = "azure")]
            Some("azure") => Ok(Store::Azure(AzureConfig::from_env(env)?)),
            #[cfg(not(feature = "aws"))]
            Some("aws") => Err(not_built("aws")),
            #[cfg(not(feature = "azure"))]
            Some("azure") => Err(not_built("azure")),
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
            #[cfg(feature = "aws")]
            Store::Aws(_) => "aws",
            #[cfg(feature = "azure")]
            Store::Azure(_) => "azure",
        }
    }

    /// Fetches every name the store holds.
    ///
    /// # Errors
    /// Any [`SecretsError`].
    pub async fn fetch(&self) -> Result<Snapshot, SecretsError> {
        match self {
            Store::Env(env) => {
                // Read again: a key rotated in `.env` is picked up on reload.
                let env = env
                    .reread()
                    .map_err(|e| SecretsError::Config(e.to_string()))?;
                Ok(Snapshot::from_pairs(env.names().into_iter().filter_map(
                    |n| {
                        env.get(&n)
                            .map(|v| (n.clone(), SecretString::from(v.to_owned())))
                    },
                )))
            }
            Store::Vault(v) => v.fetch().await,
            #[cfg(feature = "aws")]
            Store::Aws(a) => a.fetch().await,
            #[cfg(feature = "azure")]
            Store::Azure(a) => a.fetch().await,
        }
    }
}

#[cfg(not(all(feature = "aws", feature = "azure")))]
fn not_built(store: &str) -> SecretsError {
    SecretsError::Config(format!(
        "SECRET_STORE_TYPE={store}: this botforge was built without it; rebuild with `cargo install --path crates/cli --features {store}` (or use env or vault)"
    ))
}

/// An HTTP client for a store: rustls with the platform's roots plus `ca_file`'s, if any.
pub(crate) fn http_client(
    ca_file: Option<&std::path::Path>,
    timeout: Duration,
) -> Result<reqwest::Client, SecretsError> {
    let mut builder = reqwest::Client::builder().timeout(timeout);
    if let Some(path) = ca_file {
        let pem = std::fs::read(path).map_err(|e| {
            SecretsError::Config(format!(
                "{SECRET_STORE_CA_FILE}={}: cannot read it ({e})",
                path.display()
            ))
        })?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|_| {
            SecretsError::Config(format!(
                "{SECRET_STORE_CA_FILE}={}: not a PEM certificate bundle",
                path.display()
            ))
        })?;
        if certs.is_empty() {
            return Err(SecretsError::Config(format!(
                "{SECRET_STORE_CA_FILE}={}: no certificate in it",
                path.display()
            )));
        }
        builder = builder.tls_certs_merge(certs);
    }
    builder
        .build()
        .map_err(|e| SecretsError::Config(format!("cannot start an HTTP client: {e}")))
}

/// A JSON object of names to strings (a Vault KV v2 secret's data, an AWS `SecretString`).
pub(crate) fn snapshot_from_object(
    store: &'static str,
    secret: &str,
    fields: &serde_json::Map<String, serde_json::Value>,
) -> Result<Snapshot, SecretsError> {
    let mut pairs = Vec::with_capacity(fields.len());
    for (name, value) in fields {
        let Some(s) = value.as_str() else {
            return Err(SecretsError::Protocol {
                store,
                secret: secret.to_owned(),
                detail: format!("field `{name}` that is not a string"),
            });
        };
        pairs.push((name.clone(), SecretString::from(s.to_owned())));
    }
    Ok(Snapshot::from_pairs(pairs))
}

/// [`snapshot_from_object`] for a JSON text. Parse errors never quote the text.
#[cfg(feature = "aws")]
pub(crate) fn snapshot_from_json(
    store: &'static str,
    secret: &str,
    text: &str,
) -> Result<Snapshot, SecretsError> {
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(serde_json::Value::Object(fields)) => snapshot_from_object(store, secret, &fields),
        _ => Err(SecretsError::Protocol {
            store,
            secret: secret.to_owned(),
            detail: "a value that is not a JSON object: store {\"GEMINI_KEY_<id>\": \"...\"}"
                .into(),
        }),
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

    /// The store's kind (`env`, `vault`, `aws`, `azure`).
    pub fn kind(&self) -> &'static str {
        self.store.kind()
    }

    /// Refetches now. Returns the new snapshot and the names whose material changed.
    ///
    /// # Errors
    /// The store's [`SecretsError`]; the last good snapshot stays in use.
    pub async fn reload(&self) -> Result<(Snapshot, Vec<String>), SecretsError> {
        let mut state = self.state.lock().await;
        match self.store.fetch().await {
            Ok(now) => {
                let changed = state
                    .as_ref()
                    .map_or_else(|| now.names(), |(before, _)| now.changed(before));
                *state = Some((now.clone(), Instant::now()));
                Ok((now, changed))
            }
            Err(e) => {
                if let Some((_, at)) = state.as_mut() {
                    *at = Instant::now();
                }
                Err(e)
            }
        }
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
