//! HashiCorp Vault / OpenBao, KV v2: `GET {VAULT_ADDR}/v1/{mount}/data/{path}` with a token,
//! or after an AppRole login. The secret's fields are the variable names.

use std::time::Duration;

use keypool::Environment;
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

use crate::{SecretsError, Snapshot};

const STORE: &str = "vault";

/// How to log in.
#[derive(Clone)]
pub enum VaultAuth {
    /// `VAULT_TOKEN`.
    Token(SecretString),
    /// `VAULT_ROLE_ID` + `VAULT_SECRET_ID`, at `auth/{mount}/login` (mount `VAULT_APPROLE_MOUNT`,
    /// default `approle`).
    AppRole {
        /// The role id.
        role_id: String,
        /// The secret id.
        secret_id: SecretString,
        /// The auth mount.
        mount: String,
    },
}

impl std::fmt::Debug for VaultAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            VaultAuth::Token(_) => f.write_str("Token([REDACTED])"),
            VaultAuth::AppRole { role_id, mount, .. } => write!(
                f,
                "AppRole {{ role_id: {role_id}, mount: {mount}, secret_id: [REDACTED] }}"
            ),
        }
    }
}

/// Where the secret is and how to get it.
#[derive(Debug, Clone)]
pub struct VaultConfig {
    /// `VAULT_ADDR`, e.g. `http://127.0.0.1:8200`.
    pub address: String,
    /// The login.
    pub auth: VaultAuth,
    /// `VAULT_MOUNT` (default `secret`).
    pub mount: String,
    /// `VAULT_SECRET_PATH` (default `botforge/gemini`).
    pub path: String,
    /// `VAULT_NAMESPACE` (Vault Enterprise / HCP), if any.
    pub namespace: Option<String>,
    /// Per-request timeout.
    pub timeout: Duration,
    /// `SECRET_STORE_CA_FILE`: extra PEM roots to trust.
    pub ca_file: Option<std::path::PathBuf>,
}

fn segment_ok(s: &str) -> bool {
    !s.is_empty()
        && s.split('/')
            .all(|p| !p.is_empty() && p != ".." && p != "." && !p.contains(['?', '#']))
}

impl VaultConfig {
    /// From `VAULT_ADDR`, `VAULT_TOKEN` or `VAULT_ROLE_ID` + `VAULT_SECRET_ID`, `VAULT_MOUNT`,
    /// `VAULT_SECRET_PATH`, `VAULT_NAMESPACE`.
    ///
    /// # Errors
    /// [`SecretsError::Config`] naming what to set.
    pub fn from_env(env: &Environment) -> Result<Self, SecretsError> {
        let get = |n: &str| env.get(n).map(str::trim).filter(|v| !v.is_empty());
        let address = get("VAULT_ADDR")
            .ok_or_else(|| {
                SecretsError::Config(
                    "SECRET_STORE_TYPE=vault needs VAULT_ADDR (e.g. http://127.0.0.1:8200)".into(),
                )
            })?
            .trim_end_matches('/')
            .to_owned();
        if !(address.starts_with("http://") || address.starts_with("https://")) {
            return Err(SecretsError::Config(format!(
                "VAULT_ADDR must start with http:// or https:// (got `{address}`)"
            )));
        }
        let auth = match (
            get("VAULT_TOKEN"),
            get("VAULT_ROLE_ID"),
            get("VAULT_SECRET_ID"),
        ) {
            (Some(t), _, _) => VaultAuth::Token(SecretString::from(t.to_owned())),
            (None, Some(role), Some(secret)) => VaultAuth::AppRole {
                role_id: role.to_owned(),
                secret_id: SecretString::from(secret.to_owned()),
                mount: get("VAULT_APPROLE_MOUNT").unwrap_or("approle").to_owned(),
            },
            _ => {
                return Err(SecretsError::Config(
                    "SECRET_STORE_TYPE=vault needs VAULT_TOKEN, or VAULT_ROLE_ID and VAULT_SECRET_ID for AppRole".into(),
                ));
            }
        };
        let mount = get("VAULT_MOUNT")
            .unwrap_or("secret")
            .trim_matches('/')
            .to_owned();
        let path = get("VAULT_SECRET_PATH")
            .unwrap_or("botforge/gemini")
            .trim_matches('/')
            .to_owned();
        for (name, v) in [("VAULT_MOUNT", &mount), ("VAULT_SECRET_PATH", &path)] {
            if !segment_ok(v) {
                return Err(SecretsError::Config(format!(
                    "{name} `{v}`: use a plain path such as secret or botforge/gemini"
                )));
            }
        }
        Ok(Self {
            address,
            auth,
            mount,
            path,
            namespace: get("VAULT_NAMESPACE").map(str::to_owned),
            timeout: Duration::from_secs(10),
            ca_file: get(crate::SECRET_STORE_CA_FILE).map(std::path::PathBuf::from),
        })
    }

    fn secret(&self) -> String {
        format!("{}/{}", self.mount, self.path)
    }

    fn http(&self) -> Result<reqwest::Client, SecretsError> {
        crate::http_client(self.ca_file.as_deref(), self.timeout)
    }

    fn unreachable(&self, e: &reqwest::Error) -> SecretsError {
        SecretsError::Unreachable {
            store: STORE,
            address: self.address.clone(),
            detail: if e.is_timeout() {
                "timed out".into()
            } else if e.is_connect() {
                "cannot connect".into()
            } else {
                "the request failed".into()
            },
            hint: "VAULT_ADDR",
        }
    }

    async fn token(&self, http: &reqwest::Client) -> Result<SecretString, SecretsError> {
        let (role_id, secret_id, mount) = match &self.auth {
            VaultAuth::Token(t) => return Ok(t.clone()),
            VaultAuth::AppRole {
                role_id,
                secret_id,
                mount,
            } => (role_id, secret_id, mount),
        };
        let url = format!("{}/v1/auth/{mount}/login", self.address);
        let mut req = http.post(&url).json(&serde_json::json!({
            "role_id": role_id,
            "secret_id": secret_id.expose_secret(),
        }));
        if let Some(ns) = &self.namespace {
            req = req.header("X-Vault-Namespace", ns);
        }
        let r = req.send().await.map_err(|e| self.unreachable(&e))?;
        let status = r.status().as_u16();
        if status != 200 {
            return Err(SecretsError::Denied {
                store: STORE,
                secret: format!("auth/{mount}/login"),
                hint: format!(
                    "the AppRole login failed (HTTP {status}): check VAULT_ROLE_ID and VAULT_SECRET_ID"
                ),
            });
        }
        let v: Value = r.json().await.map_err(|_| SecretsError::Protocol {
            store: STORE,
            secret: format!("auth/{mount}/login"),
            detail: "a login answer that is not JSON".into(),
        })?;
        v.pointer("/auth/client_token")
            .and_then(Value::as_str)
            .map(|t| SecretString::from(t.to_owned()))
            .ok_or_else(|| SecretsError::Protocol {
                store: STORE,
                secret: format!("auth/{mount}/login"),
                detail: "a login answer without auth.client_token".into(),
            })
    }

    /// Reads the secret's fields.
    ///
    /// # Errors
    /// [`SecretsError`] naming the store and the secret: unreachable, denied (403), missing
    /// (404), or not KV v2 string fields.
    pub async fn fetch(&self) -> Result<Snapshot, SecretsError> {
        let http = self.http()?;
        let token = self.token(&http).await?;
        let read = self.read(&http, &token).await;
        // A token this read logged in for is revoked once used: every refresh logs in anew,
        // and unrevoked tokens would pile up in Vault until their TTL ends.
        if matches!(self.auth, VaultAuth::AppRole { .. }) {
            self.revoke(&http, &token).await;
        }
        read
    }

    /// `POST /v1/auth/token/revoke-self`; a failure is logged (the token expires by its TTL).
    async fn revoke(&self, http: &reqwest::Client, token: &SecretString) {
        let mut req = http
            .post(format!("{}/v1/auth/token/revoke-self", self.address))
            .header("X-Vault-Token", token.expose_secret());
        if let Some(ns) = &self.namespace {
            req = req.header("X-Vault-Namespace", ns);
        }
        let failed = match req.send().await {
            Ok(r) if r.status().is_success() => return,
            Ok(r) => format!("HTTP {}", r.status().as_u16()),
            Err(e) => self.unreachable(&e).to_string(),
        };
        tracing::warn!(
            detail = %failed,
            "could not revoke the AppRole token; it expires by its TTL"
        );
    }

    async fn read(
        &self,
        http: &reqwest::Client,
        token: &SecretString,
    ) -> Result<Snapshot, SecretsError> {
        let url = format!("{}/v1/{}/data/{}", self.address, self.mount, self.path);
        let mut req = http
            .get(&url)
            .header("X-Vault-Token", token.expose_secret());
        if let Some(ns) = &self.namespace {
            req = req.header("X-Vault-Namespace", ns);
        }
        let r = req.send().await.map_err(|e| self.unreachable(&e))?;
        match r.status().as_u16() {
            200 => {}
            403 => {
                return Err(SecretsError::Denied {
                    store: STORE,
                    secret: self.secret(),
                    hint: format!(
                        "the token's policy must allow read on {}/data/{}",
                        self.mount, self.path
                    ),
                });
            }
            404 => {
                return Err(SecretsError::Missing {
                    store: STORE,
                    secret: self.secret(),
                    hint: format!(
                        "write it with `bao kv put {} GEMINI_KEY_<id>=...` (or vault kv put), or set VAULT_MOUNT / VAULT_SECRET_PATH",
                        self.secret()
                    ),
                });
            }
            other => {
                return Err(SecretsError::Protocol {
                    store: STORE,
                    secret: self.secret(),
                    detail: format!("HTTP {other}"),
                });
            }
        }
        let v: Value = r.json().await.map_err(|_| SecretsError::Protocol {
            store: STORE,
            secret: self.secret(),
            detail: "an answer that is not JSON".into(),
        })?;
        let Some(fields) = v.pointer("/data/data").and_then(Value::as_object) else {
            return Err(SecretsError::Protocol {
                store: STORE,
                secret: self.secret(),
                detail: "no data.data object (is the mount KV version 2?)".into(),
            });
        };
        crate::snapshot_from_object(STORE, &self.secret(), fields)
    }
}
