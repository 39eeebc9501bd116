//! `botforge serve`: the key pool as a Gemini- and OpenAI-compatible gateway.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use gemini::{GeminiClient, RotatingClient};
use keypool::{Environment, KeyPool, PoolConfig, PoolOptions, SystemClock, vars};
use secrecy::SecretString;

use crate::exit::UsageError;

/// How long the gateway waits at start for the list of models the API serves.
const LIST_MODELS_TIMEOUT: Duration = Duration::from_secs(5);

/// Adds every model the API serves (for generation or embeddings) to the models with buckets
/// of their own: a key without `model_name` then keeps each model's limits apart, as Google
/// does, whatever model a client names. Asked once at start through the pool's keys (a pool
/// of this process, counting no quota); when the list cannot be had, a model outside the known
/// ones shares its project's bucket for the others, and the gateway says so.
async fn with_served_models(mut config: PoolConfig, gemini: &gemini::ClientConfig) -> PoolConfig {
    // Keys that each serve one model have its bucket already: nothing to ask.
    let serves_any =
        config.fallback.is_some() || config.keys.iter().any(|k| k.model == keypool::ANY_MODEL);
    if !serves_any {
        return config;
    }
    let listed = async {
        let pool = KeyPool::in_memory(&config, Arc::new(SystemClock)).ok()?;
        let client = RotatingClient::new(Arc::new(pool), GeminiClient::new(gemini.clone()).ok()?);
        match client.list_models(&config.default_model).await {
            Ok(models) => Some(models),
            Err(e) => {
                tracing::warn!(error = %e, "the models the API serves could not be listed; models outside the known ones share their project's bucket");
                None
            }
        }
    };
    let Ok(Some(models)) = tokio::time::timeout(LIST_MODELS_TIMEOUT, listed).await else {
        return config;
    };
    let counted = ["generateContent", "embedContent", "batchGenerateContent"];
    let added = config.add_models(
        models
            .iter()
            .filter(|m| {
                m.supported_generation_methods
                    .iter()
                    .any(|g| counted.contains(&g.as_str()))
            })
            .map(|m| m.name.as_str()),
    );
    tracing::info!(
        models = added,
        "models the API serves have buckets of their own"
    );
    config
}

/// What `botforge serve` was asked for.
#[derive(Debug)]
pub struct Options {
    pub bind: String,
    pub tokens: Vec<String>,
    /// Files of client tokens, one per line (argv is visible to every local user; a file need
    /// not be).
    pub token_files: Vec<std::path::PathBuf>,
    /// Host names the gateway is reached by besides its bound address and loopback.
    pub public_hosts: Vec<String>,
    /// Origins a browser page may call the gateway from (CORS); none: off.
    pub cors_origins: Vec<String>,
    pub body_limit: usize,
    pub data_dir: Option<std::path::PathBuf>,
    pub refresh_keys: u64,
    /// Seconds between probes of the keys deactivated as broken (0: off).
    pub reprobe_keys: u64,
    /// Client connections open at once.
    pub max_connections: u32,
}

/// Tokens from `--token` flags, `--token-file`s and `BOTFORGE_CLIENT_TOKENS` (comma-separated,
/// or `@file` with one per line).
fn client_tokens(
    env: &Environment,
    flags: &[String],
    files: &[std::path::PathBuf],
) -> anyhow::Result<Vec<SecretString>> {
    let mut raw: Vec<String> = flags.to_vec();
    for f in files {
        let text = std::fs::read_to_string(f).map_err(|e| {
            UsageError(format!(
                "--token-file {}: cannot read the token file: {e}",
                f.display()
            ))
        })?;
        raw.extend(text.lines().map(str::to_owned));
    }
    if let Some(v) = env
        .get(vars::BOTFORGE_CLIENT_TOKENS)
        .map(str::trim)
        .filter(|v| !v.is_empty())
    {
        if let Some(path) = v.strip_prefix('@') {
            let text = std::fs::read_to_string(path).map_err(|e| {
                UsageError(format!(
                    "BOTFORGE_CLIENT_TOKENS=@{path}: cannot read the token file: {e}"
                ))
            })?;
            raw.extend(text.lines().map(str::to_owned));
        } else {
            raw.extend(v.split(',').map(str::to_owned));
        }
    }
    Ok(raw
        .into_iter()
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty())
        .map(SecretString::from)
        .collect())
}

/// `--cors-origin` values are origins: `http(s)://host[:port]`, no path, no wildcard.
fn check_origins(origins: &[String]) -> Result<(), UsageError> {
    for origin in origins {
        let ok = origin.split_once("://").is_some_and(|(scheme, rest)| {
            matches!(scheme, "http" | "https")
                && !rest.is_empty()
                && !rest
                    .trim_end_matches('/')
                    .contains(['/', '?', '#', '*', ' '])
        });
        if !ok {
            return Err(UsageError(format!(
                "--cors-origin {origin}: expected an origin such as https://app.example.com (scheme and host, no path, no wildcard)"
            )));
        }
    }
    Ok(())
}

/// Runs the gateway until Ctrl-C or SIGTERM, then lets in-flight requests finish.
pub async fn run(o: Options) -> anyhow::Result<ExitCode> {
    let Options {
        bind,
        tokens,
        token_files,
        public_hosts,
        cors_origins,
        body_limit,
        data_dir,
        refresh_keys,
        reprobe_keys,
        max_connections,
    } = o;
    check_origins(&cors_origins)?;
    let addr: SocketAddr = bind.parse().map_err(|_| {
        UsageError(format!(
            "--bind {bind}: expected HOST:PORT, e.g. 127.0.0.1:8080"
        ))
    })?;
    let env = Environment::from_process()?;
    let client_tokens = client_tokens(&env, &tokens, &token_files)?;
    server::check_bind(addr, &client_tokens).map_err(|e| UsageError(e.to_string()))?;
    let store = secrets::Store::from_env(&env).map_err(|e| UsageError(e.to_string()))?;
    let secrets = secrets::Cached::start(store, Duration::from_secs(refresh_keys.max(1))).await?;
    let source = secrets.get().await;
    let config = PoolConfig::load(&env, &source).context("reading the key configuration")?;
    let answer_timeout = answer_timeout(&env)?;
    let gemini_config = gemini::ClientConfig::from_env(&env);
    let config = with_served_models(config, &gemini_config).await;
    let pool = KeyPool::new(
        &config,
        crate::keys::store(&env).await,
        Arc::new(SystemClock),
        PoolOptions::default(),
    )?;
    pool.refresh().await?;
    let client = RotatingClient::new(Arc::new(pool), GeminiClient::new(gemini_config)?);
    let strategy_dir = std::path::PathBuf::from(
        env.get(vars::STRATEGY_DIR)
            .filter(|d| !d.trim().is_empty())
            .unwrap_or("codes"),
    );
    if let Some(d) = &data_dir
        && !d.is_dir()
    {
        return Err(UsageError(format!("--data-dir {}: not a folder", d.display())).into());
    }
    let admin_token = admin_token(&env);
    let owners = client
        .pool()
        .store()
        .owners(Arc::clone(client.pool().clock()));
    let activity = Arc::clone(client.pool().activity());
    let gateway = Arc::new(server::Gateway {
        client,
        client_tokens,
        admin_token,
        body_limit,
        metrics: server::Metrics::new().with_activity(activity),
        strategy_dir,
        data_dir,
        secrets: Some(Arc::new(secrets)),
        fallback_models: crate::generate::model_list(env.get(vars::BOTFORGE_FALLBACK_MODELS)),
        browser: server::BrowserPolicy {
            bound: Some(addr),
            public_hosts,
            cors_origins,
        },
        owners,
        ready: server::ReadyCache::default(),
    });
    background(&gateway, reprobe_keys, refresh_keys);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    let local = listener.local_addr()?;
    eprintln!(
        "botforge gateway on http://{local} ({} client token(s){}); Gemini SDKs: base URL http://{local}, OpenAI SDKs: http://{local}/v1",
        gateway.client_tokens.len(),
        if gateway.admin_token.is_some() {
            ", admin routes on"
        } else {
            ""
        }
    );
    let limits = server::Limits {
        request_timeout: answer_timeout + Duration::from_secs(120),
        max_connections: usize::try_from(max_connections).unwrap_or(usize::MAX),
        ..server::Limits::default()
    };
    server::serve_with(listener, server::router(gateway), limits, shutdown()).await?;
    eprintln!("gateway stopped");
    Ok(ExitCode::SUCCESS)
}

/// `BOTFORGE_ADMIN_TOKEN` when set and not blank.
fn admin_token(env: &Environment) -> Option<SecretString> {
    env.get(vars::BOTFORGE_ADMIN_TOKEN)
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(|t| SecretString::from(t.to_owned()))
}

/// `BOTFORGE_ANSWER_TIMEOUT`, or the default wait for a whole answer.
fn answer_timeout(env: &Environment) -> Result<Duration, UsageError> {
    match gemini::ClientConfig::answer_timeout_of(env) {
        Some(Err(message)) => Err(UsageError(message)),
        Some(Ok(t)) => Ok(t),
        None => Ok(gemini::DEFAULT_ANSWER_TIMEOUT),
    }
}

/// The gateway's background work: probing deactivated keys every `reprobe` seconds and reading
/// the secret store every `refresh` seconds (0: off), until the process ends.
fn background(gateway: &Arc<server::Gateway>, reprobe: u64, refresh: u64) {
    // Every few seconds, this gateway's activity joins the other gateways' in Redis.
    tokio::spawn(server::flush_activity_periodically(
        Arc::clone(gateway),
        Duration::from_secs(2),
    ));
    if reprobe > 0 {
        tokio::spawn(
            gateway
                .client
                .clone()
                .reprobe_periodically(Duration::from_secs(reprobe)),
        );
    }
    if refresh > 0 {
        tokio::spawn(server::reload_periodically(
            Arc::clone(gateway),
            Duration::from_secs(refresh),
        ));
    }
}

async fn shutdown() {
    #[cfg(unix)]
    {
        let term = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut s) => {
                    s.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            () = term => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
