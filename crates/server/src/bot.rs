//! The botforge API: `POST /v1/strategies` (description → generated, saved strategy) and
//! `POST /v1/backtests` (a strategy inline or by name, data by name from the configured data
//! folder — never an arbitrary path — → statistics).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use backtest::engine::Settings;
use generator::GenerateError;
use serde::Deserialize;
use serde_json::json;
use strategy::Strategy;

use crate::errors::{ApiFailure, Protocol};
use crate::{Gateway, GeminiLlm};

fn fail(status: StatusCode, canonical: &'static str, message: impl Into<String>) -> Response {
    ApiFailure::new(Protocol::Gemini, status, canonical, message).into_response()
}

fn bad(message: impl Into<String>) -> Response {
    fail(StatusCode::BAD_REQUEST, "INVALID_ARGUMENT", message)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewStrategy {
    description: String,
    name: Option<String>,
    /// `auto` (default), `gemini` or `offline`.
    provider: Option<String>,
    model: Option<String>,
    #[serde(default)]
    force: bool,
    /// Save even when the model says part of the idea cannot be said in the language.
    #[serde(default)]
    allow_approximate: bool,
}

/// The answer to a generation that failed.
fn generate_failure(e: &GenerateError) -> Response {
    match e {
        // The model answered every attempt, but never with a valid strategy: the idea could not
        // be expressed in the language.
        GenerateError::Invalid { .. } => fail(
            StatusCode::UNPROCESSABLE_ENTITY,
            "FAILED_PRECONDITION",
            e.to_string(),
        ),
        e if e.is_user_error() => bad(e.to_string()),
        e => fail(StatusCode::BAD_GATEWAY, "UNAVAILABLE", e.to_string()),
    }
}

/// Saves a generated strategy under `name` in the strategy folder.
async fn save_generated(
    g: &Gateway,
    req: &NewStrategy,
    name: String,
    mut strategy: strategy::Strategy,
) -> Result<(std::path::PathBuf, strategy::Strategy), Response> {
    let dir = g.strategy_dir.clone();
    let description = req.description.clone();
    let force = req.force;
    let saved = tokio::task::spawn_blocking(move || {
        generator::save(&mut strategy, &description, &name, &dir, force).map(|p| (p, strategy))
    })
    .await;
    match saved {
        Ok(Ok(x)) => Ok(x),
        Ok(Err(GenerateError::Exists { .. })) => Err(fail(
            StatusCode::CONFLICT,
            "ALREADY_EXISTS",
            "a strategy of that name exists: choose another name, or send \"force\": true",
        )),
        Ok(Err(e @ GenerateError::BadName { .. })) => Err(bad(e.to_string())),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "could not save a strategy");
            Err(fail(
                StatusCode::INTERNAL_SERVER_ERROR,
                "INTERNAL",
                "the strategy could not be saved",
            ))
        }
        Err(_) => Err(fail(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL",
            "the save task failed",
        )),
    }
}

/// `POST /v1/strategies`.
pub async fn create_strategy(State(g): State<Arc<Gateway>>, body: Bytes) -> Response {
    let req: NewStrategy = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return bad(format!(
                "the body must be {{\"description\": \"...\", \"name\"?, \"provider\"?: \"auto|gemini|offline\", \"model\"?, \"force\"?, \"allow_approximate\"?}}: {e}"
            ));
        }
    };
    let provider = req.provider.as_deref().unwrap_or("auto");
    let model = req
        .model
        .as_deref()
        .unwrap_or_else(|| g.client.pool().default_model());
    let generated = match provider {
        "offline" => generator::offline::compile_noted(&req.description)
            .map(generator::Generated::offline_noted),
        // The gateway always has a pool, so `auto` means Gemini here.
        "auto" | "gemini" => {
            let llm = GeminiLlm::new(g.client.clone());
            generator::generate_with_llm(&llm, &req.description, model).await
        }
        other => return bad(format!("provider `{other}`: use auto, gemini or offline")),
    };
    let generated = match generated {
        Ok(x) => x,
        Err(e) => return generate_failure(&e),
    };
    // Part of the idea cannot be said: refuse rather than save something else, unless asked.
    if !generated.unsupported.is_empty() && !req.allow_approximate {
        return fail(
            StatusCode::UNPROCESSABLE_ENTITY,
            "FAILED_PRECONDITION",
            format!(
                "the language cannot say: {}; send \"allow_approximate\": true to save the rest",
                generated.unsupported.join("; ")
            ),
        );
    }
    let name = req
        .name
        .clone()
        .unwrap_or_else(|| generator::name_from_description(&req.description));
    let (path, strategy) = match save_generated(&g, &req, name, generated.strategy).await {
        Ok(x) => x,
        Err(response) => return response,
    };
    let table: toml::Value = match toml::from_str(&strategy.to_toml()) {
        Ok(v) => v,
        Err(_) => {
            return fail(
                StatusCode::INTERNAL_SERVER_ERROR,
                "INTERNAL",
                "the strategy does not print",
            );
        }
    };
    let file = path
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    (
        StatusCode::CREATED,
        Json(json!({
            "name": strategy.name,
            "file": file,
            "provider": generated.provider,
            "model": generated.model,
            "key_id": generated.key_id,
            "attempts": generated.attempts,
            "unsupported": generated.unsupported,
            "approximations": generated.approximations,
            "strategy": table,
        })),
    )
        .into_response()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewBacktest {
    /// The strategy file's text (TOML).
    strategy: Option<String>,
    /// A saved strategy's name (in the strategy folder).
    strategy_name: Option<String>,
    /// A data file's name in the data folder; `sample` (the default) is the bundled GOOG data.
    data: Option<String>,
    cash: Option<f64>,
    commission: Option<f64>,
    #[serde(default)]
    finalize: bool,
}

/// A plain file name (letters, digits, `_ - .`), never a path.
fn plain_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// `dir/name` when it is a file inside `dir` (symlinks out of it are refused too).
fn inside(dir: &Path, name: &str) -> Option<PathBuf> {
    if !plain_name(name) {
        return None;
    }
    let root = dir.canonicalize().ok()?;
    let path = root.join(name).canonicalize().ok()?;
    (path.starts_with(&root) && path.is_file()).then_some(path)
}

/// `POST /v1/backtests`.
pub async fn create_backtest(State(g): State<Arc<Gateway>>, body: Bytes) -> Response {
    let req: NewBacktest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return bad(format!(
                "the body must be {{\"strategy\": \"<TOML>\" or \"strategy_name\": \"NAME\", \"data\"?: \"FILE.csv\", \"cash\"?, \"commission\"?, \"finalize\"?}}: {e}"
            ));
        }
    };
    let settings = Settings {
        cash: req.cash.unwrap_or(10_000.0),
        commission: req.commission.unwrap_or(0.002),
        finalize: req.finalize,
        trade_from: None,
    };
    if !(settings.cash.is_finite() && settings.cash > 0.0) {
        return bad("cash must be a positive amount");
    }
    if !(settings.commission.is_finite() && (0.0..1.0).contains(&settings.commission)) {
        return bad("commission must be a fraction from 0 to below 1, e.g. 0.002");
    }
    let (label, text) = match (&req.strategy, &req.strategy_name) {
        (Some(t), None) => ("strategy".to_owned(), t.clone()),
        (None, Some(name)) => {
            let file = format!("{name}.toml");
            let Some(path) = inside(&g.strategy_dir, &file) else {
                return fail(
                    StatusCode::NOT_FOUND,
                    "NOT_FOUND",
                    format!("no saved strategy `{name}` (names are letters, digits, _ and -)"),
                );
            };
            match std::fs::read_to_string(&path) {
                Ok(t) => (file, t),
                Err(_) => {
                    return fail(
                        StatusCode::NOT_FOUND,
                        "NOT_FOUND",
                        format!("`{name}` cannot be read"),
                    );
                }
            }
        }
        _ => return bad("give exactly one of \"strategy\" (TOML text) and \"strategy_name\""),
    };
    let strategy = match Strategy::from_toml(&label, &text) {
        Ok(s) => s,
        Err(e) => return bad(e.to_string()),
    };
    let data_name = req.data.clone().unwrap_or_else(|| "sample".to_owned());
    let data_path = if data_name == "sample" {
        None
    } else {
        let Some(dir) = &g.data_dir else {
            return bad(
                "this gateway has no data folder (start it with --data-dir); use \"data\": \"sample\"",
            );
        };
        match inside(dir, &data_name) {
            Some(p) => Some(p),
            None => {
                return fail(
                    StatusCode::NOT_FOUND,
                    "NOT_FOUND",
                    format!("no data file `{data_name}` in the data folder"),
                );
            }
        }
    };
    let data_label = data_name.clone();
    let done = tokio::task::spawn_blocking(move || -> Result<serde_json::Value, String> {
        // Errors name the file as the client did, not the server's path.
        let bars = match &data_path {
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .map_err(|_| format!("{data_label}: cannot be read"))?;
                backtest::parse_csv(&data_label, &text).map_err(|e| e.to_string())?
            }
            None => backtest::parse_csv("sample GOOG.csv", backtest::report::SAMPLE_CSV)
                .map_err(|e| e.to_string())?,
        };
        let run = backtest::engine::run(&bars, &strategy, settings).map_err(|e| e.to_string())?;
        let stats = backtest::stats::compute(&bars, &run);
        Ok(backtest::report::to_json(&bars, &run, &stats))
    })
    .await;
    match done {
        Ok(Ok(mut doc)) => {
            doc["data"] = json!(data_name);
            Json(doc).into_response()
        }
        Ok(Err(message)) => bad(message),
        Err(_) => fail(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL",
            "the backtest task failed",
        ),
    }
}
