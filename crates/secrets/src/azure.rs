//! Azure Key Vault: one secret per variable name, `_` written as `-` (`GEMINI-KEY-flash-01`),
//! optionally behind a prefix. Authentication is Entra ID client credentials
//! (`AZURE_TENANT_ID`, `AZURE_CLIENT_ID`, `AZURE_CLIENT_SECRET`) through the official SDK, which
//! follows Key Vault's 401 challenge to learn the token's scope.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use azure_core::cloud::{CloudConfiguration, CustomConfiguration};
use azure_core::credentials::Secret;
use azure_core::error::ErrorKind;
use azure_core::http::{ClientOptions, ExponentialRetryOptions, RetryOptions, Transport};
use azure_identity::{ClientSecretCredential, ClientSecretCredentialOptions};
use azure_security_keyvault_secrets::{ResourceExt, SecretClient, SecretClientOptions};
use futures_util::TryStreamExt;
use keypool::Environment;
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::OnceCell;

use crate::{SecretsError, Snapshot};

const STORE: &str = "azure";

/// Where the vault is and how to log in.
#[derive(Clone)]
pub struct AzureConfig {
    /// `AZURE_KEYVAULT_URL`, e.g. `https://my-vault.vault.azure.net`.
    pub vault_url: String,
    /// `AZURE_TENANT_ID`.
    pub tenant_id: String,
    /// `AZURE_CLIENT_ID`.
    pub client_id: String,
    client_secret: SecretString,
    /// `AZURE_KEYVAULT_SECRET_PREFIX`: put before every secret name (default none), so one
    /// vault can serve several deployments.
    pub prefix: String,
    /// `AZURE_AUTHORITY_HOST` (sovereign clouds, private authorities); Azure public by default.
    pub authority_host: Option<String>,
    /// `AZURE_KEYVAULT_VERIFY_CHALLENGE` (default true): the challenge's resource must be the
    /// vault's domain. Turn it off only for a vault behind a custom host name.
    pub verify_challenge: bool,
    /// `SECRET_STORE_CA_FILE`: extra PEM roots to trust (a private endpoint's CA).
    pub ca_file: Option<PathBuf>,
    client: Arc<OnceCell<SecretClient>>,
}

impl std::fmt::Debug for AzureConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AzureConfig")
            .field("vault_url", &self.vault_url)
            .field("tenant_id", &self.tenant_id)
            .field("client_id", &self.client_id)
            .field("client_secret", &"[REDACTED]")
            .field("prefix", &self.prefix)
            .field("authority_host", &self.authority_host)
            .field("verify_challenge", &self.verify_challenge)
            .field("ca_file", &self.ca_file)
            .finish_non_exhaustive()
    }
}

/// The Key Vault secret name for a variable name: `_` becomes `-`.
pub fn secret_name(prefix: &str, variable: &str) -> String {
    format!("{prefix}{}", variable.replace('_', "-"))
}

impl AzureConfig {
    /// From `AZURE_KEYVAULT_URL`, `AZURE_TENANT_ID`, `AZURE_CLIENT_ID`, `AZURE_CLIENT_SECRET` and
    /// the optional settings.
    ///
    /// # Errors
    /// [`SecretsError::Config`] naming the variable to fix.
    pub fn from_env(env: &Environment) -> Result<Self, SecretsError> {
        let get = |n: &str| env.get(n).map(str::trim).filter(|v| !v.is_empty());
        let need = |n: &str| {
            get(n).ok_or_else(|| {
                SecretsError::Config(format!(
                    "SECRET_STORE_TYPE=azure needs {n} (client-credentials login: AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET, and AZURE_KEYVAULT_URL)"
                ))
            })
        };
        let vault_url = need("AZURE_KEYVAULT_URL")?.trim_end_matches('/').to_owned();
        if !vault_url.starts_with("https://") {
            return Err(SecretsError::Config(format!(
                "AZURE_KEYVAULT_URL must start with https:// (Key Vault accepts tokens only over TLS; got `{vault_url}`)"
            )));
        }
        let prefix = get("AZURE_KEYVAULT_SECRET_PREFIX").unwrap_or("").to_owned();
        if !prefix
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-')
        {
            return Err(SecretsError::Config(format!(
                "AZURE_KEYVAULT_SECRET_PREFIX `{prefix}`: Key Vault names allow only letters, digits and -"
            )));
        }
        let verify_challenge = match get("AZURE_KEYVAULT_VERIFY_CHALLENGE")
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            None | Some("1" | "true" | "yes" | "on") => true,
            Some("0" | "false" | "no" | "off") => false,
            Some(other) => {
                return Err(SecretsError::Config(format!(
                    "AZURE_KEYVAULT_VERIFY_CHALLENGE `{other}`: use true or false"
                )));
            }
        };
        Ok(Self {
            vault_url,
            tenant_id: need("AZURE_TENANT_ID")?.to_owned(),
            client_id: need("AZURE_CLIENT_ID")?.to_owned(),
            client_secret: SecretString::from(need("AZURE_CLIENT_SECRET")?.to_owned()),
            prefix,
            authority_host: get("AZURE_AUTHORITY_HOST").map(|h| h.trim_end_matches('/').to_owned()),
            verify_challenge,
            ca_file: get(crate::SECRET_STORE_CA_FILE).map(PathBuf::from),
            client: Arc::new(OnceCell::new()),
        })
    }

    fn client_options(&self, http: &reqwest::Client) -> ClientOptions {
        let mut options = ClientOptions {
            transport: Some(Transport::new(Arc::new(http.clone()))),
            // An unreachable vault should fail in seconds, not after the SDK's minute of retries.
            retry: RetryOptions::exponential(ExponentialRetryOptions {
                initial_delay: azure_core::time::Duration::milliseconds(200),
                max_retries: 2,
                max_total_elapsed: azure_core::time::Duration::seconds(10),
                max_delay: azure_core::time::Duration::seconds(2),
            }),
            ..ClientOptions::default()
        };
        if let Some(host) = &self.authority_host {
            let mut cloud = CustomConfiguration::default();
            cloud.authority_host.clone_from(host);
            options.cloud = Some(Arc::new(CloudConfiguration::from(cloud)));
        }
        options
    }

    fn client(&self) -> Result<&SecretClient, SecretsError> {
        if let Some(c) = self.client.get() {
            return Ok(c);
        }
        let http = crate::http_client(self.ca_file.as_deref(), Duration::from_secs(10))?;
        let credential = ClientSecretCredential::new(
            &self.tenant_id,
            self.client_id.clone(),
            Secret::new(self.client_secret.expose_secret().to_owned()),
            Some(ClientSecretCredentialOptions {
                client_options: self.client_options(&http),
            }),
        )
        .map_err(|e| {
            SecretsError::Config(format!(
                "cannot set up the Entra ID login ({}): check AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET and AZURE_AUTHORITY_HOST",
                e.kind()
            ))
        })?;
        let client = SecretClient::new(
            &self.vault_url,
            credential,
            Some(SecretClientOptions {
                client_options: self.client_options(&http),
                verify_challenge_resource: Some(self.verify_challenge),
                ..SecretClientOptions::default()
            }),
        )
        .map_err(|_| {
            SecretsError::Config(format!(
                "AZURE_KEYVAULT_URL `{}` is not a usable URL",
                self.vault_url
            ))
        })?;
        // Another task may have won the race; either client is as good.
        let _ = self.client.set(client);
        self.client
            .get()
            .ok_or_else(|| SecretsError::Config("the Key Vault client was lost".into()))
    }

    fn error(&self, e: &azure_core::Error, secret: &str) -> SecretsError {
        match e.kind() {
            ErrorKind::Connection | ErrorKind::Io => SecretsError::Unreachable {
                store: STORE,
                address: self.vault_url.clone(),
                detail: "cannot connect or the TLS handshake failed".into(),
                hint: "AZURE_KEYVAULT_URL (and SECRET_STORE_CA_FILE for a private CA)",
            },
            ErrorKind::Credential => SecretsError::Denied {
                store: STORE,
                secret: secret.to_owned(),
                hint: format!(
                    "the Entra ID login of client {} in tenant {} failed: check AZURE_CLIENT_ID, AZURE_CLIENT_SECRET and AZURE_TENANT_ID",
                    self.client_id, self.tenant_id
                ),
            },
            ErrorKind::HttpResponse {
                status, error_code, ..
            } => {
                let code = error_code.as_deref().unwrap_or("no error code");
                match u16::from(*status) {
                    404 => SecretsError::Missing {
                        store: STORE,
                        secret: secret.to_owned(),
                        hint: format!(
                            "{code}: create it with `az keyvault secret set --vault-name <vault> --name {secret} --value ...`"
                        ),
                    },
                    401 | 403 => SecretsError::Denied {
                        store: STORE,
                        secret: secret.to_owned(),
                        hint: format!(
                            "{code}: client {} needs the Key Vault Secrets User role (or get and list secret permissions)",
                            self.client_id
                        ),
                    },
                    s => SecretsError::Protocol {
                        store: STORE,
                        secret: secret.to_owned(),
                        detail: format!("HTTP {s} ({code})"),
                    },
                }
            }
            _ if chain(e).contains("challenge resource") => SecretsError::Denied {
                store: STORE,
                secret: secret.to_owned(),
                hint: format!(
                    "{} answered with a challenge for another domain, so no token was sent; for a vault behind a custom host name set AZURE_KEYVAULT_VERIFY_CHALLENGE=false",
                    self.vault_url
                ),
            },
            other => SecretsError::Protocol {
                store: STORE,
                secret: secret.to_owned(),
                detail: format!("{other}: {}", chain(e)),
            },
        }
    }

    /// Lists the vault's enabled `GEMINI-...` secrets (after the prefix) and reads each.
    ///
    /// # Errors
    /// [`SecretsError`] naming the store and the secret: unreachable, login failed, denied,
    /// missing.
    pub async fn fetch(&self) -> Result<Snapshot, SecretsError> {
        let client = self.client()?;
        let listing = format!("{}/secrets", self.vault_url);
        let mut pager = client
            .list_secret_properties(None)
            .map_err(|e| self.error(&e, &listing))?;
        let wanted = format!("{}GEMINI-", self.prefix).to_ascii_lowercase();
        let mut names = Vec::new();
        while let Some(props) = pager
            .try_next()
            .await
            .map_err(|e| self.error(&e, &listing))?
        {
            let Ok(id) = props.resource_id() else {
                continue;
            };
            let enabled = props
                .attributes
                .as_ref()
                .and_then(|a| a.enabled)
                .unwrap_or(true);
            if enabled && id.name.to_ascii_lowercase().starts_with(&wanted) {
                names.push(id.name);
            }
        }
        if names.is_empty() {
            return Err(SecretsError::Missing {
                store: STORE,
                secret: format!("{}/secrets/{}GEMINI-*", self.vault_url, self.prefix),
                hint: format!(
                    "add one with `az keyvault secret set --vault-name <vault> --name {} --value ...` (`_` written as `-`), or check AZURE_KEYVAULT_SECRET_PREFIX",
                    secret_name(&self.prefix, "GEMINI_KEY_<id>")
                ),
            });
        }
        let mut pairs = Vec::new();
        for name in names {
            let secret = client
                .get_secret(&name, None)
                .await
                .map_err(|e| self.error(&e, &name))?
                .into_model()
                .map_err(|_| SecretsError::Protocol {
                    store: STORE,
                    secret: name.clone(),
                    detail: "an answer that is not a secret bundle".into(),
                })?;
            let variable = variable_name(&name[self.prefix.len()..]);
            if let Some(value) = secret.value {
                pairs.push((variable, SecretString::from(value)));
            }
        }
        Ok(Snapshot::from_pairs(pairs))
    }
}

/// An error and its sources, for messages (the SDK wraps the cause in context).
fn chain(e: &azure_core::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// `GEMINI-KEY-flash-01` → `GEMINI_KEY_flash_01`: the fixed part upper-case (Key Vault names are
/// case-insensitive), the key id as written in the vault.
fn variable_name(secret: &str) -> String {
    const KEY: &str = "GEMINI-KEY-";
    match secret.get(..KEY.len()) {
        Some(head) if head.eq_ignore_ascii_case(KEY) => {
            format!("GEMINI_KEY_{}", secret[KEY.len()..].replace('-', "_"))
        }
        _ => secret.replace('-', "_").to_ascii_uppercase(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_map_both_ways() {
        assert_eq!(
            secret_name("", "GEMINI_KEY_flash_01"),
            "GEMINI-KEY-flash-01"
        );
        assert_eq!(
            secret_name("prod-", "GEMINI_API_KEY"),
            "prod-GEMINI-API-KEY"
        );
        assert_eq!(variable_name("gemini-key-flash-01"), "GEMINI_KEY_flash_01");
        assert_eq!(variable_name("GEMINI-KEY-Pro"), "GEMINI_KEY_Pro");
        assert_eq!(variable_name("gemini-api-key"), "GEMINI_API_KEY");
    }
}
