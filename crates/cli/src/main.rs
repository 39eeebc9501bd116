//! `botforge`: argument parsing and wiring. The work happens in the library crates.
#![expect(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "the binary is the one place that writes to the terminal"
)]
#![expect(
    clippy::doc_markdown,
    reason = "doc comments here are clap's --help text, where backticks would show"
)]

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};
use keypool::{ConfigError, KeyPool, KeyReport, PoolError, SystemClock};

/// Turn a plain-language trading idea into a validated, backtested bot, through a pool of
/// Gemini API keys that rotates, rate-limits, heals and fails over on its own.
#[derive(Debug, Parser)]
#[command(name = "botforge", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Inspect the Gemini key pool.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Show every key's state, counts, cooldown and RPM/TPM/RPD use of its (project, model).
    ///
    /// Keys come from GEMINI_API_KEY (single-key mode) or, with ENABLE_KEY_ROTATION=true, from
    /// KEYS_FILE (default ./keys.json) and GEMINI_KEY_<key_id> variables; ./.env is read first.
    Health {
        /// Print one JSON document instead of the table.
        #[arg(long)]
        json: bool,
    },
}

/// An error the user can fix (exit 1), as opposed to an upstream or pool failure (exit 2).
fn is_user_error(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<ConfigError>().is_some()
            || matches!(
                e.downcast_ref::<PoolError>(),
                Some(PoolError::UnknownModel { .. } | PoolError::UnknownKeyId { .. })
            )
    })
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let color = std::env::var_os("NO_COLOR").is_none() && std::io::stderr().is_terminal();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(color)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();

    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(if is_user_error(&err) { 1 } else { 2 })
        }
    }
}

fn run(cli: &Cli) -> anyhow::Result<()> {
    match &cli.command {
        Command::Keys {
            command: KeysCommand::Health { json },
        } => keys_health(*json),
    }
}

fn keys_health(json: bool) -> anyhow::Result<()> {
    let config = match keypool::config_from_process() {
        Ok(c) => c,
        Err(ConfigError::NoKeys) => {
            let message = ConfigError::NoKeys.to_string();
            if json {
                let doc =
                    serde_json::json!({ "configured": false, "message": message, "keys": [] });
                println!("{doc}");
            } else {
                eprintln!("{message}");
            }
            return Ok(());
        }
        Err(e) => return Err(e).context("reading the key configuration"),
    };
    let pool = KeyPool::in_memory(&config, Arc::new(SystemClock))?;
    let snapshot = pool.health()?;
    let mut out = std::io::stdout().lock();
    if json {
        let mut doc = serde_json::to_value(&snapshot)?;
        doc["configured"] = serde_json::Value::Bool(true);
        writeln!(out, "{doc}")?;
    } else {
        write!(out, "{}", render_table(&snapshot.keys))?;
    }
    Ok(())
}

fn render_table(rows: &[KeyReport]) -> String {
    let header = [
        "KEY_ID", "KEY", "MODEL", "PROJECT", "STATE", "OK", "ERR", "COOLDOWN", "RPM", "TPM", "RPD",
    ];
    let mut cells: Vec<Vec<String>> = vec![header.iter().map(|h| (*h).to_owned()).collect()];
    for r in rows {
        let cooldown = if r.in_cooldown {
            let reason = r.cooldown_reason.map_or("", |c| c.as_str());
            format!("{:.0}s {reason}", r.cooldown_remaining_s.ceil())
        } else {
            "-".to_owned()
        };
        cells.push(vec![
            r.key_id.clone(),
            r.key_hint.clone(),
            r.model.clone(),
            r.project.clone(),
            r.state.as_str().to_owned(),
            r.success_count.to_string(),
            r.error_count.to_string(),
            cooldown,
            format!("{}/{}", r.rpm_used, r.rpm_limit),
            format!("{}/{}", r.tpm_used, r.tpm_limit),
            format!("{}/{}", r.rpd_used, r.rpd_limit),
        ]);
    }
    let widths: Vec<usize> = (0..header.len())
        .map(|i| {
            cells
                .iter()
                .map(|row| row[i].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in &cells {
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
