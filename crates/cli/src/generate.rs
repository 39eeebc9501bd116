//! `botforge generate`: description → validated strategy file, through Gemini (rotating over the
//! key pool) or the offline compiler.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use gemini::RotatingClient;
use generator::{GenerateError, Generated};
use keypool::{ConfigError, Environment, KeyPool, PoolConfig, PoolOptions, SystemClock, vars};
use server::GeminiLlm;

/// Where the strategy comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Provider {
    /// Gemini when a key is configured, else the offline compiler.
    Auto,
    /// Gemini, through the key pool.
    Gemini,
    /// The offline compiler (a controlled vocabulary; no key needed).
    Offline,
}

/// The command's options.
#[derive(Debug)]
#[expect(
    clippy::struct_excessive_bools,
    reason = "one field per command-line flag"
)]
pub struct Options {
    pub description: String,
    pub name: Option<String>,
    pub provider: Provider,
    /// `--model`; `None`: the configuration's default model.
    pub model: Option<String>,
    /// Models to move to when `model` is overloaded.
    pub fallback_models: Vec<String>,
    pub out_dir: Option<PathBuf>,
    pub force: bool,
    /// Also export NAME.py for backtesting.py.
    pub python: bool,
    pub json: bool,
    /// Write the strategy even when the model says part of the idea cannot be said.
    pub allow_approximate: bool,
    /// `--backtest`: run the new strategy right away.
    pub backtest: Option<BacktestRun>,
}

/// How `generate --backtest` backtests the new strategy.
#[derive(Debug)]
pub struct BacktestRun {
    /// `None`: the bundled sample.
    pub data: Option<PathBuf>,
    pub settings: backtest::engine::Settings,
    pub trades: Option<PathBuf>,
    pub report: Option<PathBuf>,
    pub load: backtest::LoadOptions,
}

async fn pool_config(env: &Environment) -> anyhow::Result<Option<PoolConfig>> {
    let source = crate::keys::key_source(env).await?;
    match PoolConfig::load(env, &source) {
        Ok(c) => Ok(Some(c)),
        Err(ConfigError::NoKeys) => Ok(None),
        Err(e) => Err(e).context("reading the key configuration"),
    }
}

/// The strategy, from Gemini or the offline compiler.
async fn produce(opts: &Options, env: &Environment) -> anyhow::Result<Generated> {
    let keys = match opts.provider {
        Provider::Offline => None,
        Provider::Auto | Provider::Gemini => pool_config(env).await?,
    };
    Ok(match (opts.provider, keys) {
        (Provider::Gemini, None) => return Err(ConfigError::NoKeys.into()),
        (Provider::Gemini | Provider::Auto, Some(mut config)) => {
            // `--model`, else BOTFORGE_MODEL, else the pool's own model (DESIGN.md §3.1).
            let model = opts
                .model
                .clone()
                .unwrap_or_else(|| config.default_model.clone());
            // The models this run asks for count in buckets of their own from the first call,
            // as a gateway's do (shared through Redis under the same names).
            config.add_models(
                std::iter::once(model.as_str())
                    .chain(opts.fallback_models.iter().map(String::as_str)),
            );
            let store = crate::keys::store(env).await;
            let pool = KeyPool::new(
                &config,
                store,
                Arc::new(SystemClock),
                PoolOptions::default(),
            )?;
            if let Some(Err(message)) = gemini::ClientConfig::answer_timeout_of(env) {
                return Err(crate::exit::UsageError(message).into());
            }
            let client = gemini::GeminiClient::new(gemini::ClientConfig::from_env(env))?;
            let llm = GeminiLlm::new(RotatingClient::new(Arc::new(pool), client))
                .with_fallback_models(opts.fallback_models.clone());
            generator::generate_with_llm(&llm, &opts.description, &model).await?
        }
        (Provider::Offline, _) | (Provider::Auto, None) => {
            if opts.provider == Provider::Auto {
                eprintln!(
                    "no Gemini key configured: using the offline compiler (set GEMINI_API_KEY for free-form ideas)"
                );
            }
            Generated::offline_noted(generator::offline::compile_noted(&opts.description)?)
        }
    })
}

/// `generate --backtest`: the new strategy run on `bars`, its files written; the JSON
/// document, the table (with the open-trade note) and the settings, for the output.
fn backtest_new(
    b: &BacktestRun,
    strategy: &strategy::Strategy,
    (label, bars): (&str, &backtest::Bars),
) -> anyhow::Result<(
    String,
    serde_json::Value,
    String,
    backtest::engine::Settings,
)> {
    let r = backtest::engine::run(bars, strategy, b.settings)?;
    let s = backtest::stats::compute(bars, &r);
    let files = crate::backtest_cmd::Files {
        trades: b.trades.as_deref(),
        report: b.report.as_deref(),
    };
    crate::backtest_cmd::write_files(files, strategy, (label, bars), b.settings, (&r, &s), None)?;
    let json = backtest::report::to_json(bars, &r, &s);
    let mut table = backtest::report::table(&s);
    if let Some(note) = backtest::report::open_note(bars, &r) {
        table.push('\n');
        table.push_str(&note);
        table.push('\n');
    }
    Ok((label.to_owned(), json, table, b.settings))
}

/// A comma-separated list of model names (`models/NAME` is `NAME`), empty entries dropped.
pub fn model_list(text: Option<&str>) -> Vec<String> {
    text.unwrap_or_default()
        .split(',')
        .map(|m| m.trim().trim_start_matches("models/").to_owned())
        .filter(|m| !m.is_empty())
        .collect()
}

/// What would refuse the result, checked before a call is spent: the name and the files in the
/// way.
fn check_targets(opts: &Options, name: &str, dir: &std::path::Path) -> anyhow::Result<()> {
    generator::check_name(name)?;
    for (ext, wanted) in [("toml", true), ("py", opts.python)] {
        let path = dir.join(format!("{name}.{ext}"));
        if wanted && !opts.force && path.exists() {
            return Err(GenerateError::Exists { path }.into());
        }
    }
    Ok(())
}

/// Prints the model's notes; refuses when part of the idea cannot be said (unless allowed).
fn check_notes(opts: &Options, generated: &Generated) -> anyhow::Result<()> {
    // The model's account of what it changed, or the offline compiler's note on its reading.
    let label = if generated.provider == "offline" {
        "note"
    } else {
        "approximated"
    };
    for note in &generated.approximations {
        eprintln!("{label}: {note}");
    }
    for note in &generated.unsupported {
        eprintln!("not expressible: {note}");
    }
    if !generated.unsupported.is_empty() && !opts.allow_approximate {
        return Err(crate::exit::UsageError(format!(
            "the strategy language cannot say part of this idea ({}); nothing was written. \
             Rephrase it, or pass --allow-approximate to write the rest",
            generated.unsupported.join("; ")
        ))
        .into());
    }
    Ok(())
}

/// Runs the command; the error says what to do.
pub async fn run(opts: Options) -> anyhow::Result<()> {
    let env = Environment::from_process()?;
    let name = opts
        .name
        .clone()
        .unwrap_or_else(|| generator::name_from_description(&opts.description));
    let dir = opts.out_dir.clone().unwrap_or_else(|| {
        PathBuf::from(
            env.get(vars::STRATEGY_DIR)
                .filter(|d| !d.trim().is_empty())
                .unwrap_or("codes"),
        )
    });
    check_targets(&opts, &name, &dir)?;
    let data = match &opts.backtest {
        None => None,
        Some(b) => Some(crate::backtest_cmd::data_with(b.data.as_deref(), &b.load)?),
    };
    let generated = produce(&opts, &env).await?;
    check_notes(&opts, &generated)?;
    let mut strategy = generated.strategy;
    let path = generator::save(&mut strategy, &opts.description, &name, &dir, opts.force)?;
    if opts.python && strategy.is_portfolio() {
        eprintln!(
            "note: {} is a portfolio strategy ([portfolio]); backtesting.py has no form of it, so no Python export was written",
            path.display()
        );
    }
    let python_path = if opts.python && !strategy.is_portfolio() {
        let text = strategy::to_python(&strategy);
        Some(
            generator::write_atomic(&dir, &name, "py", &text, opts.force).with_context(|| {
                format!(
                    "{} was written, but its Python export was not",
                    path.display()
                )
            })?,
        )
    } else {
        None
    };
    let result = match (&data, &opts.backtest) {
        (Some((label, bars)), Some(b)) => Some(backtest_new(b, &strategy, (label, bars))?),
        _ => None,
    };
    let mut out = std::io::stdout().lock();
    if opts.json {
        let table: toml::Value = toml::from_str(&strategy.to_toml())?;
        let doc = serde_json::json!({
            "name": strategy.name,
            "path": path.display().to_string(),
            "python_path": python_path.as_ref().map(|p| p.display().to_string()),
            "provider": generated.provider,
            "model": generated.model,
            "key_id": generated.key_id,
            "attempts": generated.attempts,
            "unsupported": generated.unsupported,
            "approximations": generated.approximations,
            "strategy": serde_json::to_value(&table)?,
            "backtest": result.as_ref().map(|(_, j, ..)| j.clone()),
        });
        writeln!(out, "{doc}")?;
    } else {
        let via = match (&generated.model, &generated.key_id) {
            (Some(m), Some(k)) => format!("{m}, key {k}, {} attempt(s)", generated.attempts),
            _ => "offline compiler".to_owned(),
        };
        writeln!(out, "wrote {} ({via})", path.display())?;
        if let Some(p) = &python_path {
            writeln!(
                out,
                "wrote {} (backtesting.py: python {} DATA.csv)",
                p.display(),
                p.display()
            )?;
        }
        writeln!(out)?;
        write!(out, "{}", strategy.to_toml())?;
        if let Some((label, _, table, settings)) = &result {
            writeln!(
                out,
                "\nbacktest on {label} (cash {}, commission {}):\n",
                settings.cash, settings.commission
            )?;
            write!(out, "{table}")?;
        }
    }
    Ok(())
}
