//! AWS Secrets Manager: one secret (`AWS_SECRET_ID`, default `botforge/gemini`) whose
//! `SecretString` is a JSON object of variable names to key material. Region, credentials and
//! endpoint come from the standard AWS chain (environment, profile, web identity, IMDS...);
//! those set in `.env` are honoured too.

use std::sync::Arc;
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region};
use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::config::Credentials;
use aws_sdk_secretsmanager::config::http::HttpResponse;
use aws_sdk_secretsmanager::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use keypool::Environment;
use tokio::sync::OnceCell;

use crate::{SecretsError, Snapshot};

const STORE: &str = "aws";

/// Where the secret is. Credentials are not held here: the AWS chain resolves them.
#[derive(Clone)]
pub struct AwsConfig {
    /// `AWS_SECRET_ID`: name or ARN (default `botforge/gemini`).
    pub secret_id: String,
    /// `AWS_REGION` (or `AWS_DEFAULT_REGION`) when set; else the profile's.
    pub region: Option<String>,
    /// `AWS_ENDPOINT_URL_SECRETS_MANAGER` or `AWS_ENDPOINT_URL` (`LocalStack`, moto, VPC endpoints).
    pub endpoint: Option<String>,
    /// `AWS_PROFILE`.
    pub profile: Option<String>,
    /// `AWS_ACCESS_KEY_ID` + `AWS_SECRET_ACCESS_KEY` (+ `AWS_SESSION_TOKEN`) found in the
    /// environment or `.env`; `None` leaves credentials to the rest of the chain.
    static_credentials: Option<Credentials>,
    client: Arc<OnceCell<Client>>,
}

impl std::fmt::Debug for AwsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsConfig")
            .field("secret_id", &self.secret_id)
            .field("region", &self.region)
            .field("endpoint", &self.endpoint)
            .field("profile", &self.profile)
            .field("static_credentials", &self.static_credentials.is_some())
            .finish_non_exhaustive()
    }
}

impl AwsConfig {
    /// From `AWS_SECRET_ID` and the standard AWS variables.
    ///
    /// # Errors
    /// [`SecretsError::Config`] naming the variable to fix.
    pub fn from_env(env: &Environment) -> Result<Self, SecretsError> {
        let get = |n: &str| {
            env.get(n)
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        let secret_id = get("AWS_SECRET_ID").unwrap_or_else(|| "botforge/gemini".to_owned());
        let endpoint = get("AWS_ENDPOINT_URL_SECRETS_MANAGER").or_else(|| get("AWS_ENDPOINT_URL"));
        if let Some(e) = &endpoint
            && !(e.starts_with("http://") || e.starts_with("https://"))
        {
            return Err(SecretsError::Config(format!(
                "AWS_ENDPOINT_URL must start with http:// or https:// (got `{e}`)"
            )));
        }
        let static_credentials = match (get("AWS_ACCESS_KEY_ID"), get("AWS_SECRET_ACCESS_KEY")) {
            (Some(id), Some(secret)) => Some(Credentials::new(
                id,
                secret,
                get("AWS_SESSION_TOKEN"),
                None,
                "botforge-environment",
            )),
            (Some(_), None) | (None, Some(_)) => {
                return Err(SecretsError::Config(
                    "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY go together: set both, or neither to use the profile or instance role".into(),
                ));
            }
            (None, None) => None,
        };
        Ok(Self {
            secret_id,
            region: get("AWS_REGION").or_else(|| get("AWS_DEFAULT_REGION")),
            endpoint,
            profile: get("AWS_PROFILE"),
            static_credentials,
            client: Arc::new(OnceCell::new()),
        })
    }

    fn address(&self) -> String {
        self.endpoint.clone().unwrap_or_else(|| {
            format!(
                "Secrets Manager in {}",
                self.region.as_deref().unwrap_or("the profile's region")
            )
        })
    }

    async fn client(&self) -> Result<&Client, SecretsError> {
        self.client
            .get_or_try_init(|| async {
                let mut loader = aws_config::defaults(BehaviorVersion::latest())
                    .timeout_config(
                        TimeoutConfig::builder()
                            .connect_timeout(Duration::from_secs(3))
                            .operation_attempt_timeout(Duration::from_secs(5))
                            .operation_timeout(Duration::from_secs(12))
                            .build(),
                    )
                    .retry_config(RetryConfig::standard().with_max_attempts(3));
                if let Some(r) = &self.region {
                    loader = loader.region(Region::new(r.clone()));
                }
                if let Some(e) = &self.endpoint {
                    loader = loader.endpoint_url(e);
                }
                if let Some(p) = &self.profile {
                    loader = loader.profile_name(p);
                }
                if let Some(c) = &self.static_credentials {
                    loader = loader.credentials_provider(c.clone());
                }
                let conf = loader.load().await;
                if conf.region().is_none() {
                    return Err(SecretsError::Config(
                        "SECRET_STORE_TYPE=aws needs a region: set AWS_REGION (or a region in the AWS profile)".into(),
                    ));
                }
                Ok(Client::new(&conf))
            })
            .await
    }

    /// Reads the secret's JSON object.
    ///
    /// # Errors
    /// [`SecretsError`] naming the store and the secret: unreachable, denied, missing, or not a
    /// JSON object of strings.
    pub async fn fetch(&self) -> Result<Snapshot, SecretsError> {
        let client = self.client().await?;
        let out = client
            .get_secret_value()
            .secret_id(&self.secret_id)
            .send()
            .await
            .map_err(|e| self.error(&e))?;
        let Some(text) = out.secret_string() else {
            return Err(SecretsError::Protocol {
                store: STORE,
                secret: self.secret_id.clone(),
                detail: "a binary secret: store a JSON object in SecretString".into(),
            });
        };
        crate::snapshot_from_json(STORE, &self.secret_id, text)
    }

    fn error<E>(&self, e: &SdkError<E, HttpResponse>) -> SecretsError
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        // Some endpoints (moto, proxies) answer auth failures in XML the SDK cannot parse:
        // the status still says what happened.
        let status = match e {
            SdkError::ServiceError(s) => Some(s.raw().status().as_u16()),
            _ => None,
        };
        match e {
            SdkError::DispatchFailure(d) => SecretsError::Unreachable {
                store: STORE,
                address: self.address(),
                detail: if d.is_timeout() {
                    "timed out".into()
                } else if d.is_io() {
                    "cannot connect".into()
                } else {
                    // Credential resolution fails here too; its message names the provider.
                    format!("{}", DisplayErrorContext(e))
                },
                hint: "AWS_REGION / AWS_ENDPOINT_URL",
            },
            SdkError::TimeoutError(_) => SecretsError::Unreachable {
                store: STORE,
                address: self.address(),
                detail: "timed out".into(),
                hint: "AWS_REGION / AWS_ENDPOINT_URL",
            },
            _ => match e.code() {
                Some("ResourceNotFoundException") => SecretsError::Missing {
                    store: STORE,
                    secret: self.secret_id.clone(),
                    hint: format!(
                        "create it with `aws secretsmanager create-secret --name {} --secret-string '{{\"GEMINI_KEY_<id>\":\"...\"}}'`, or set AWS_SECRET_ID",
                        self.secret_id
                    ),
                },
                Some(
                    code @ ("AccessDeniedException"
                    | "UnrecognizedClientException"
                    | "InvalidSignatureException"
                    | "ExpiredTokenException"
                    | "InvalidClientTokenId"
                    | "DecryptionFailure"),
                ) => SecretsError::Denied {
                    store: STORE,
                    secret: self.secret_id.clone(),
                    hint: format!(
                        "{code}: the credentials need secretsmanager:GetSecretValue on it (and kms:Decrypt on its key); check AWS_PROFILE or AWS_ACCESS_KEY_ID"
                    ),
                },
                Some(code) => SecretsError::Protocol {
                    store: STORE,
                    secret: self.secret_id.clone(),
                    detail: format!("error {code}"),
                },
                None if matches!(status, Some(401 | 403)) => SecretsError::Denied {
                    store: STORE,
                    secret: self.secret_id.clone(),
                    hint: format!(
                        "HTTP {}: the credentials need secretsmanager:GetSecretValue on it (and kms:Decrypt on its key); check AWS_PROFILE or AWS_ACCESS_KEY_ID",
                        status.unwrap_or_default()
                    ),
                },
                None => SecretsError::Protocol {
                    store: STORE,
                    secret: self.secret_id.clone(),
                    detail: status.map_or_else(
                        || format!("{}", DisplayErrorContext(e)),
                        |s| format!("HTTP {s} without an error code"),
                    ),
                },
            },
        }
    }
}
