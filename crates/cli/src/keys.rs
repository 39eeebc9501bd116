//! `botforge keys health` and `botforge keys check`.

use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

use anyhow::Context;
use keypool::{
    AnyStore, ConfigError, Environment, KeyPool, KeyReport, MemoryStore, PoolConfig, PoolOptions,
    RedisOptions, RedisStore, SystemClock, vars,
};

/// The state backend: Redis when `REDIS_URL` is set and answers, else this process's memory.
pub async fn store(env: &Environment) -> AnyStore {
    let Some(url) = env
        .get(vars::REDIS_URL)
        .map(str::trim)
        .filter(|u| !u.is_empty())
    else {
        return AnyStore::Memory(MemoryStore::new());
    };
    let mut options = RedisOptions::default();
    if let Some(p) = env
        .get(vars::BOTFORGE_REDIS_PREFIX)
        .filter(|p| !p.is_empty())
    {
        p.clone_into(&mut options.prefix);
    }
    if let Some(ca) = env
        .get(vars::REDIS_CA_FILE)
        .filter(|f| !f.trim().is_empty())
    {
        match std::fs::read(ca.trim()) {
            Ok(pem) => options.ca_pem = Some(pem),
            Err(e) => {
                tracing::warn!(error = %e, file = ca.trim(), "REDIS_CA_FILE cannot be read; using the system's certificate authorities");
            }
        }
    }
    if let Some(n) = env
        .get(vars::BOTFORGE_PROCESSES)
        .and_then(|n| n.trim().parse::<u64>().ok())
        .filter(|n| *n > 0)
    {
        options.assumed_processes = n;
    }
    // Redis not answering yet is no reason to run with whole limits: the store starts degraded
    // (a share of every limit) and shares state as soon as Redis answers.
    match RedisStore::connect_or_degrade(url, options).await {
        Ok(s) => AnyStore::Redis(Box::new(s)),
        Err(e) => {
            // The URL may hold a password: name the variable, not its value.
            tracing::warn!(error = %e, "REDIS_URL cannot be used; showing this process's state only");
            AnyStore::Memory(MemoryStore::new())
        }
    }
}

async fn pool(env: &Environment, config: &PoolConfig) -> anyhow::Result<KeyPool<AnyStore>> {
    let pool = KeyPool::new(
        config,
        store(env).await,
        Arc::new(SystemClock),
        PoolOptions::default(),
    )?;
    pool.refresh().await?;
    Ok(pool)
}

/// Key material from `SECRET_STORE_TYPE`'s store (the environment by default).
pub async fn key_source(env: &Environment) -> anyhow::Result<secrets::Snapshot> {
    let store = secrets::Store::from_env(env)?;
    Ok(store.fetch().await?)
}

async fn config() -> anyhow::Result<Option<(Environment, PoolConfig)>> {
    let env = Environment::from_process()?;
    let source = key_source(&env).await?;
    match PoolConfig::load(&env, &source) {
        Ok(c) => Ok(Some((env, c))),
        Err(ConfigError::NoKeys) => Ok(None),
        Err(e) => Err(e).context("reading the key configuration"),
    }
}

fn no_keys(json: bool) {
    let message = ConfigError::NoKeys.to_string();
    if json {
        let doc = serde_json::json!({ "configured": false, "message": message, "keys": [] });
        println!("{doc}");
    } else {
        eprintln!("{message}");
    }
}

/// Renders rows as aligned columns (widths in characters).
fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let widths: Vec<usize> = (0..header.len())
        .map(|i| {
            rows.iter()
                .map(|r| r[i].chars().count())
                .chain([header[i].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    let head: Vec<String> = header.iter().map(|h| (*h).to_owned()).collect();
    for row in std::iter::once(&head).chain(rows) {
        let line: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out
}

/// `used/limit`: `3/60` declared, `3/~10` learned from a 429, `3/?` unknown (not enforced).
fn usage(used: u64, limit: Option<u64>, source: keypool::LimitSource) -> String {
    match (limit, source) {
        (Some(l), keypool::LimitSource::Learned) => format!("{used}/~{l}"),
        (Some(l), _) => format!("{used}/{l}"),
        (None, _) => format!("{used}/?"),
    }
}

fn health_rows(rows: &[KeyReport]) -> Vec<Vec<String>> {
    rows.iter()
        .map(|r| {
            let cooldown = if r.in_cooldown {
                let reason = r.cooldown_reason.map_or("", |c| c.as_str());
                format!("{:.0}s {reason}", r.cooldown_remaining_s.ceil())
            } else {
                "-".to_owned()
            };
            vec![
                r.key_id.clone(),
                r.key_hint.clone(),
                r.model.clone(),
                r.project.clone(),
                r.state.as_str().to_owned(),
                r.success_count.to_string(),
                r.error_count.to_string(),
                cooldown,
                usage(r.rpm_used, r.rpm_limit, r.rpm_limit_source),
                usage(r.tpm_used, r.tpm_limit, r.tpm_limit_source),
                usage(r.rpd_used, r.rpd_limit, r.rpd_limit_source),
            ]
        })
        .collect()
}

/// `keys health`.
pub async fn health(json: bool) -> anyhow::Result<()> {
    let Some((env, config)) = config().await? else {
        no_keys(json);
        return Ok(());
    };
    let pool = pool(&env, &config).await?;
    let snapshot = pool.health()?;
    let mut out = std::io::stdout().lock();
    if json {
        let mut doc = serde_json::to_value(&snapshot)?;
        doc["configured"] = serde_json::Value::Bool(true);
        writeln!(out, "{doc}")?;
    } else {
        let header = [
            "KEY_ID", "KEY", "MODEL", "PROJECT", "STATE", "OK", "ERR", "COOLDOWN", "RPM", "TPM",
            "RPD",
        ];
        write!(out, "{}", table(&header, &health_rows(&snapshot.keys)))?;
    }
    Ok(())
}

/// `keys check`.
pub async fn check(json: bool) -> anyhow::Result<ExitCode> {
    let Some((env, config)) = config().await? else {
        no_keys(json);
        return Ok(crate::exit::Class::User.into());
    };
    let pool = pool(&env, &config).await?;
    // Re-validating keys is an exclusive job across processes sharing Redis.
    let lock = match pool.store() {
        AnyStore::Redis(redis) => {
            let Some(token) = redis
                .try_lock("keys-check", Duration::from_secs(120))
                .await?
            else {
                anyhow::bail!(
                    "another process is checking the keys right now; try again in a minute"
                );
            };
            Some(token)
        }
        _ => None,
    };
    let client = gemini::GeminiClient::new(gemini::ClientConfig::from_env(&env))?;
    let mut results = Vec::new();
    for (key_id, key, model, _fallback) in pool.keys() {
        let model = if model == keypool::ANY_MODEL {
            pool.default_model()
        } else {
            model
        };
        let started = Instant::now();
        let r = client.get_model(&key, model).await;
        let ms = started.elapsed().as_millis();
        let (ok, class, detail) = match &r {
            Ok(_) => (true, "ok", String::new()),
            // The probe names no resource of a request: a refusal of it is the key's.
            Err(e) if e.api().is_some_and(|a| matches!(a.http, 401 | 403)) => {
                (false, "key_broken", e.to_string())
            }
            Err(e) => (false, e.outcome().class(), e.to_string()),
        };
        // A passing probe re-enables a key found broken (never one keys.json or an operator
        // disabled); a broken key is deactivated.
        let active = if ok {
            pool.probe_passed(key_id).await?
        } else if class == "key_broken" {
            pool.disable(key_id, &detail).await?;
            false
        } else {
            pool.health()?
                .keys
                .iter()
                .any(|k| k.key_id == key_id && k.active)
        };
        results.push(serde_json::json!({
            "key_id": key_id, "key_hint": key.to_string(), "model": model,
            "ok": ok, "active": active, "class": class, "detail": detail, "latency_ms": ms,
        }));
    }
    if let (Some(token), AnyStore::Redis(redis)) = (&lock, pool.store()) {
        redis.unlock("keys-check", token).await?;
    }
    let usable = results.iter().any(|r| r["ok"] == true);
    let mut out = std::io::stdout().lock();
    if json {
        writeln!(
            out,
            "{}",
            serde_json::json!({ "keys": results, "usable": usable })
        )?;
    } else {
        let rows: Vec<Vec<String>> = results
            .iter()
            .map(|r| {
                let text = |k: &str| r[k].as_str().unwrap_or_default().to_owned();
                vec![
                    text("key_id"),
                    text("key_hint"),
                    text("model"),
                    text("class"),
                    format!("{} ms", r["latency_ms"]),
                    text("detail"),
                ]
            })
            .collect();
        let header = ["KEY_ID", "KEY", "MODEL", "RESULT", "LATENCY", "DETAIL"];
        write!(out, "{}", table(&header, &rows))?;
    }
    Ok(if usable {
        ExitCode::SUCCESS
    } else {
        crate::exit::Class::Upstream.into()
    })
}

/// `keys models`: the models the API reports, through any key of the pool (with whatever
/// lifecycle fields upstream sends, such as a deprecation or shutdown date).
pub async fn models(json: bool) -> anyhow::Result<ExitCode> {
    let Some((env, config)) = config().await? else {
        no_keys(json);
        return Ok(crate::exit::Class::User.into());
    };
    let pool = Arc::new(pool(&env, &config).await?);
    let client = gemini::RotatingClient::new(
        pool,
        gemini::GeminiClient::new(gemini::ClientConfig::from_env(&env))?,
    );
    // Listing is free upstream and any key can do it: ask through the first model served.
    let pool = client.pool();
    let served: Vec<String> = pool
        .keys()
        .map(|(_, _, m, _)| {
            if m == keypool::ANY_MODEL {
                pool.default_model()
            } else {
                m
            }
            .to_owned()
        })
        .collect();
    let model = served.first().cloned().unwrap_or_default();
    let models = client.list_models(&model).await?;
    let mut out = std::io::stdout().lock();
    if json {
        writeln!(out, "{}", serde_json::json!({ "models": models }))?;
        return Ok(ExitCode::SUCCESS);
    }
    let rows: Vec<Vec<String>> = models
        .iter()
        .map(|m| {
            let lifecycle: Vec<String> = m
                .extra
                .iter()
                .filter(|(k, _)| {
                    let k = k.to_ascii_lowercase();
                    k.contains("deprecat")
                        || k.contains("shutdown")
                        || k.contains("retire")
                        || k.contains("lifecycle")
                        || k.contains("stage")
                })
                .map(|(k, v)| {
                    format!(
                        "{k}={}",
                        v.as_str().map_or_else(|| v.to_string(), str::to_owned)
                    )
                })
                .collect();
            vec![
                m.name.trim_start_matches("models/").to_owned(),
                m.input_token_limit
                    .map_or("-".to_owned(), |n| n.to_string()),
                m.output_token_limit
                    .map_or("-".to_owned(), |n| n.to_string()),
                if m.supported_generation_methods
                    .iter()
                    .any(|g| g == "generateContent")
                {
                    "yes".to_owned()
                } else {
                    "no".to_owned()
                },
                if lifecycle.is_empty() {
                    "-".to_owned()
                } else {
                    lifecycle.join(" ")
                },
            ]
        })
        .collect();
    let header = ["MODEL", "INPUT", "OUTPUT", "GENERATE", "LIFECYCLE"];
    write!(out, "{}", table(&header, &rows))?;
    Ok(ExitCode::SUCCESS)
}

/// `keys reload`: asks a running gateway to read its secret store again.
pub async fn reload(server: &str, json: bool) -> anyhow::Result<ExitCode> {
    use crate::exit::UsageError;
    let env = Environment::from_process()?;
    let Some(token) = env
        .get(vars::BOTFORGE_ADMIN_TOKEN)
        .map(str::trim)
        .filter(|t| !t.is_empty())
    else {
        return Err(UsageError(
            "keys reload needs BOTFORGE_ADMIN_TOKEN: the admin token the gateway was started with"
                .into(),
        )
        .into());
    };
    let base = server.trim_end_matches('/');
    if !(base.starts_with("http://") || base.starts_with("https://")) {
        return Err(UsageError(format!(
            "--server {server}: expected a URL such as http://127.0.0.1:8080"
        ))
        .into());
    }
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()?;
    let r = http
        .post(format!("{base}/v1/keys/reload"))
        .bearer_auth(token)
        .send()
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "cannot reach the gateway at {base} ({}): is `botforge serve` running there? (--server or BOTFORGE_SERVER)",
                if e.is_timeout() { "timed out" } else { "no connection" }
            )
        })?;
    let status = r.status().as_u16();
    let body: serde_json::Value = r.json().await.unwrap_or(serde_json::Value::Null);
    let message = body["error"]["message"].as_str().unwrap_or("no details");
    match status {
        200 => {}
        401 | 403 => {
            return Err(UsageError(format!(
                "the gateway at {base} refused BOTFORGE_ADMIN_TOKEN ({message})"
            ))
            .into());
        }
        404 => {
            return Err(UsageError(format!(
                "the gateway at {base} has no admin routes: start `botforge serve` with BOTFORGE_ADMIN_TOKEN set"
            ))
            .into());
        }
        501 => return Err(UsageError(message.to_owned()).into()),
        _ => anyhow::bail!("the gateway at {base} answered {status}: {message}"),
    }
    let mut out = std::io::stdout().lock();
    if json {
        writeln!(out, "{body}")?;
        return Ok(ExitCode::SUCCESS);
    }
    let list = |field: &str| {
        let ids: Vec<&str> = body[field]
            .as_array()
            .map(|a| a.iter().filter_map(serde_json::Value::as_str).collect())
            .unwrap_or_default();
        if ids.is_empty() {
            "-".to_owned()
        } else {
            ids.join(", ")
        }
    };
    let rows = vec![
        vec![
            "store".to_owned(),
            body["store"].as_str().unwrap_or("?").to_owned(),
        ],
        vec!["rotated".to_owned(), list("rotated")],
        vec!["re-enabled".to_owned(), list("reenabled")],
        vec!["no material (kept the last)".to_owned(), list("missing")],
        vec![
            "new in the store (restart to add)".to_owned(),
            list("not_in_pool"),
        ],
    ];
    write!(out, "{}", table(&["RELOAD", "KEYS"], &rows))?;
    Ok(ExitCode::SUCCESS)
}
