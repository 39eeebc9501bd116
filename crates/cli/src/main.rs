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

mod backtest_cmd;
mod data_cmd;
mod eval;
mod exit;
mod export;
mod generate;
mod keys;
mod portfolio_cmd;
mod run_cmd;
mod serve;
mod symbols;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

// The gateway allocates per request (bodies, headers, JSON); glibc's malloc took about 9 % of its
// CPU under load, mimalloc a fraction of that.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Turn a plain-language trading idea into a validated, backtested bot, through a pool of
/// Gemini API keys that rotates, rate-limits, heals and fails over on its own.
#[derive(Debug, Parser)]
#[command(name = "botforge", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Shown under `generate --help`; a test compiles every one offline.
const GENERATE_EXAMPLES: &str = "\
Examples (each works offline, with no key):
  botforge generate \"RSI strategy: buy RSI<30, sell RSI>70\"
  botforge generate \"buy when RSI(14) < 30, sell when RSI > 70, 5% stop loss\"
  botforge generate \"Connors RSI-2: buy when RSI(2) < 10 and close > SMA(200), sell when close > SMA(5)\"
  botforge generate \"go long on a golden cross, exit on the opposite cross\"
  botforge generate \"buy when %K crosses above %D while both are below 20, sell when %K > 80\"
  botforge generate \"buy when price touches the lower band, sell at the upper band\"
  botforge generate \"buy a new 20-day high, exit on a new 10-day low, 2 ATR stop, risk 1% per trade\"
  botforge generate \"long when the MACD histogram turns positive, short when it turns negative\"
  botforge generate \"only trade between 9:30 and 15:00; buy when price crosses above VWAP, 3 ATR trailing stop\"
  botforge generate \"buy after 3 down days in a row, exit after 5 bars, invest half the account\"";

#[derive(Debug, Subcommand)]
enum Command {
    /// Turn a trading idea into a validated strategy file (STRATEGY_DIR/NAME.toml).
    ///
    /// With a Gemini key configured the model writes the strategy in botforge's language; it is
    /// validated and, when wrong, sent back with the exact errors (3 attempts in all). Without a
    /// key, the offline compiler reads the idea as traders write it: indicators with or without
    /// periods (RSI, moving averages, MACD, Bollinger, stochastic, ATR, ADX, CCI, Williams %R,
    /// MFI, ROC, SAR, Supertrend, VWAP, candlestick patterns), comparisons and crosses in many
    /// words, "it" and "the opposite cross", golden/death crosses, breakouts, time filters,
    /// stops, targets and trailing stops in percent or ATRs, time exits and sizing. It never
    /// guesses: what it cannot place is refused with the words quoted and what it would read.
    #[command(after_help = GENERATE_EXAMPLES)]
    Generate {
        /// The idea, e.g. "buy when RSI(14) < 30, sell when RSI > 70, 5% stop loss".
        description: String,
        /// File name (letters, digits, _ and -); default: from the description.
        #[arg(long)]
        name: Option<String>,
        /// Who writes the strategy.
        #[arg(long, value_enum, default_value = "auto")]
        provider: generate::Provider,
        /// Gemini model (any name the API serves; `models/NAME` is NAME). Default:
        /// BOTFORGE_MODEL, else the pool's own model when every key names one, else
        /// gemini-flash-latest.
        #[arg(long)]
        model: Option<String>,
        /// A model to move to when --model is overloaded (503s) or no key serves it; repeat
        /// for more, in order.
        #[arg(long = "fallback-model", value_name = "MODEL")]
        fallback_models: Vec<String>,
        /// Folder to write to (default: STRATEGY_DIR, else ./codes).
        #[arg(long)]
        out_dir: Option<PathBuf>,
        /// Replace an existing file of the same name.
        #[arg(long)]
        force: bool,
        /// Write the strategy even when Gemini says part of the idea cannot be said in the
        /// language (its notes are printed either way); without it that is an error.
        #[arg(long)]
        allow_approximate: bool,
        /// Also write NAME.py: a backtesting.py Strategy (numpy/pandas only, no TA-Lib) that
        /// reproduces botforge's trades; run it with `python NAME.py DATA.csv`.
        #[arg(long)]
        python: bool,
        /// Print one JSON document: name, path, python_path, provider, model, key_id, attempts,
        /// strategy (and backtest).
        #[arg(long)]
        json: bool,
        /// Backtest the new strategy right away on DATA (default: the bundled GOOG sample).
        #[arg(long, value_name = "DATA", num_args = 0..=1)]
        #[expect(
            clippy::option_option,
            reason = "absent / flag alone / flag with a file"
        )]
        backtest: Option<Option<PathBuf>>,
        #[command(flatten)]
        run: RunArgs,
    },
    /// Inspect and probe the Gemini key pool.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Backtest a strategy file on OHLCV data, with backtesting.py 0.6.6's semantics.
    ///
    /// Rules run on each bar's close and orders fill at the next bar's open; commission is
    /// charged on both legs; units are whole; stop loss and take profit are measured from the
    /// signal bar's close. Prints backtesting.py's statistics (or, with --json, one document with
    /// the statistics, trade_list and open_trades).
    Backtest {
        /// Strategy file (TOML).
        strategy: PathBuf,
        /// OHLCV data file (CSV, .csv.gz or .parquet; a time column, then Open, High, Low,
        /// Close[, Volume]). Default: the bundled sample (GOOG, daily, 2004-2013). Repeat it,
        /// write NAME=path, or give a quoted glob ('stocks/*.csv') for a portfolio: one
        /// symbol per file sharing one cash account.
        #[arg(long, value_name = "[NAME=]FILE|GLOB")]
        data: Vec<String>,
        /// Print one JSON document.
        #[arg(long)]
        json: bool,
        /// Sweep one of the strategy's params: NAME=FROM..TO:STEP (repeat for more). Every
        /// combination runs in parallel; the best one is reported.
        #[arg(long, value_name = "NAME=FROM..TO:STEP")]
        sweep: Vec<String>,
        /// The statistic a sweep maximizes (a --json key, e.g. return_pct, sqn; default
        /// sharpe_ratio). Only with --sweep.
        #[arg(long, value_name = "STAT")]
        maximize: Option<String>,
        /// Sweep results listed (best first).
        #[arg(long, default_value_t = 10, value_name = "N")]
        top: usize,
        #[command(flatten)]
        run: RunArgs,
    },
    /// Inspect a data file: how botforge reads it.
    Data {
        #[command(subcommand)]
        command: DataCommand,
    },
    /// Write the backtesting.py module of a strategy file (hand-edited ones too).
    ///
    /// The module needs only numpy, pandas and backtesting.py, reproduces `botforge backtest`
    /// trade for trade under backtesting.py 0.6.6, and offers `run(data, cash, commission,
    /// finalize)`; `python NAME.py DATA.csv` prints backtesting.py's statistics.
    Export {
        /// Strategy file (TOML).
        strategy: PathBuf,
        /// Where to write (default: the strategy file's path with .py).
        #[arg(long, value_name = "NAME.py")]
        out: Option<PathBuf>,
        /// Replace an existing file.
        #[arg(long)]
        force: bool,
    },
    /// Print expression values per bar as CSV (for checking a rule before trusting it).
    ///
    /// Columns: date, then one per expression, named by its text. Numbers are printed in
    /// shortest round-trip form, missing values (warm-up) as empty fields, conditions as
    /// true/false. Expressions use open, high, low, close, volume and the functions of the
    /// strategy language, e.g. "rsi(close, 14)" "crosses_above(sma(close, 20), sma(close, 50))".
    Eval {
        /// OHLCV data file (CSV, .csv.gz or .parquet).
        #[arg(long)]
        data: PathBuf,
        /// Expressions to evaluate.
        #[arg(required = true)]
        exprs: Vec<String>,
        #[command(flatten)]
        load: LoadArgs,
    },
    /// Serve the key pool as a gateway: Gemini-native routes (/v1beta/models/...) and
    /// OpenAI-compatible ones (/v1/chat/completions, /v1/models), with rotation and failover.
    ///
    /// Clients send a gateway token where their SDK sends a key (x-goog-api-key, ?key= or
    /// Authorization: Bearer); provider keys never leave the server. Tokens come from --token
    /// and BOTFORGE_CLIENT_TOKENS (comma-separated, or @file); BOTFORGE_ADMIN_TOKEN turns on
    /// POST /v1/keys/{key_id}/enable|disable. Without tokens it only listens on loopback.
    Serve(ServeArgs),
    /// Run a strategy on a live market feed with a paper account, trade for trade equal to
    /// its backtest on the bars it saw; resumable (DESIGN.md §8).
    ///
    /// botforge run BOT.toml --symbol BTCUSDT --interval 1m journals every closed bar and what
    /// it did in runs/NAME-SYMBOL-INTERVAL; the same command resumes after a stop or a crash.
    /// --replay plays a data file (the bundled sample without one) as the feed.
    #[command(args_conflicts_with_subcommands = true)]
    Run {
        #[command(subcommand)]
        command: Option<run_cmd::RunCommand>,
        #[command(flatten)]
        args: run_cmd::LiveArgs,
    },
    /// Run a local fake Binance (REST klines and the kline stream) replaying a data file at a
    /// chosen speed, with faults, for `run --endpoint http://ADDR`.
    SimExchange(run_cmd::SimExchangeArgs),
    /// Run the local Gemini API simulator (point GEMINI_BASE_URL at it).
    ///
    /// It answers the native and OpenAI-compatible routes like the real service: per-project
    /// RPM/TPM/RPD quotas with real 429 bodies, scripted replies, injected faults, a time scale,
    /// and GET /sim/stats. Without --config any key is valid and unlimited.
    Sim {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8090")]
        bind: String,
        /// TOML configuration (keys, projects and limits, replies, faults, time_scale).
        #[arg(long)]
        config: Option<PathBuf>,
    },
}

/// `botforge data` subcommands.
#[derive(Debug, Subcommand)]
enum DataCommand {
    /// What was detected in a data file (delimiter, columns, time format and zone, bar size and
    /// gaps, first and last bar, rows), so you see how it is read before trusting a backtest.
    Check {
        /// The data file (CSV, `;` or tab separated, optionally .gz).
        file: PathBuf,
        /// Print one JSON document.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        load: LoadArgs,
    },
}

/// `generate --backtest [DATA]` with its flags; `--trades` or `--report` without it is a
/// mistake.
#[expect(
    clippy::option_option,
    reason = "absent / flag alone / flag with a file"
)]
fn backtest_run(
    backtest: Option<Option<PathBuf>>,
    run: RunArgs,
) -> Result<Option<generate::BacktestRun>, exit::UsageError> {
    let Some(data) = backtest else {
        if run.trades.is_some() || run.report.is_some() {
            return Err(exit::UsageError(
                "--trades and --report write a backtest's results: add --backtest [DATA]"
                    .to_owned(),
            ));
        }
        return Ok(None);
    };
    Ok(Some(generate::BacktestRun {
        data,
        settings: run.settings()?,
        trades: run.trades,
        report: run.report,
        load: run.load.into(),
    }))
}

/// How a backtest runs and what it writes (`backtest`, and `generate --backtest`).
#[derive(Debug, clap::Args)]
struct RunArgs {
    /// Starting cash of the backtest.
    #[arg(long, default_value_t = 10_000.0, allow_negative_numbers = true)]
    cash: f64,
    /// Commission per fill, as a fraction of its value (0.002 = 0.2 %).
    #[arg(long, default_value_t = 0.002, allow_negative_numbers = true)]
    commission: f64,
    /// Close trades still open at the end at the last bar's open, and count them.
    #[arg(long)]
    finalize: bool,
    /// Decide no entry on a bar that opens before TIME (the bars before only feed the
    /// indicators): a paper run's `live_from`, so its trades can be checked.
    #[arg(long, value_name = "TIME")]
    trade_from: Option<String>,
    /// Also write the backtest's trade list to this CSV file.
    #[arg(long)]
    trades: Option<PathBuf>,
    /// Write a self-contained HTML report (price with trades, equity, drawdown, statistics,
    /// and for a two-param sweep a heatmap); it fetches nothing.
    #[arg(long, value_name = "FILE.html")]
    report: Option<PathBuf>,
    #[command(flatten)]
    load: LoadArgs,
}

impl RunArgs {
    /// The backtest settings these flags give, checked.
    fn settings(&self) -> Result<backtest::engine::Settings, exit::UsageError> {
        backtest_cmd::settings(
            self.cash,
            self.commission,
            self.finalize,
            self.trade_from.as_deref(),
        )
    }
}

/// How to read a data file beyond what is detected.
#[derive(Debug, Clone, clap::Args)]
struct LoadArgs {
    /// The time column's strftime format (e.g. %d.%m.%Y %H:%M), instead of detecting it.
    #[arg(long, value_name = "STRFTIME")]
    date_format: Option<String>,
    /// Scale open, high, low and close by Adj Close / Close.
    #[arg(long)]
    adjusted: bool,
}

impl From<LoadArgs> for backtest::LoadOptions {
    fn from(a: LoadArgs) -> Self {
        backtest::LoadOptions {
            date_format: a.date_format,
            adjusted: a.adjusted,
        }
    }
}

/// `botforge serve`'s flags.
#[derive(Debug, clap::Args)]
struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    bind: String,
    /// A client token (repeatable); added to BOTFORGE_CLIENT_TOKENS. Prefer --token-file:
    /// the command line is visible to every local user.
    #[arg(long = "token", value_name = "TOKEN")]
    tokens: Vec<String>,
    /// A file of client tokens, one per line (repeatable).
    #[arg(long = "token-file", value_name = "FILE")]
    token_files: Vec<PathBuf>,
    /// A host name clients reach the gateway by, besides its bound address and loopback
    /// (repeatable; NAME matches any port, NAME:PORT that port). Requests naming any other
    /// Host are refused (DNS rebinding).
    #[arg(long = "public-host", value_name = "HOST")]
    public_hosts: Vec<String>,
    /// An origin a browser page may call the gateway from, e.g. `https://app.example.com`
    /// (repeatable). Without it CORS is off and every cross-site request is refused.
    #[arg(long = "cors-origin", value_name = "ORIGIN")]
    cors_origins: Vec<String>,
    /// Largest request body accepted, in bytes.
    #[arg(long, default_value_t = server::DEFAULT_BODY_LIMIT)]
    body_limit: usize,
    /// The folder POST /v1/backtests may read data files from (by name only).
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Read the secret store (SECRET_STORE_TYPE) again every this many seconds and swap
    /// rotated key material in; 0 turns it off (`botforge keys reload` still works).
    #[arg(
        long,
        value_name = "SECS",
        default_value_t = 300,
        env = "BOTFORGE_KEYS_REFRESH_SECS"
    )]
    refresh_keys: u64,
    /// Probe the keys deactivated as broken every this many seconds with the cheapest call,
    /// enabling again those that pass (a key wrongly deactivated heals); 0 turns it off.
    #[arg(
        long,
        value_name = "SECS",
        default_value_t = 300,
        env = "BOTFORGE_REPROBE_SECS"
    )]
    reprobe_keys: u64,
    /// Client connections open at once; more wait until one closes.
    #[arg(
        long,
        value_name = "N",
        default_value_t = 1024,
        env = "BOTFORGE_MAX_CONNECTIONS",
        value_parser = clap::value_parser!(u32).range(1..=1_000_000)
    )]
    max_connections: u32,
    /// Threads that serve requests. 1 runs a single event loop, the least CPU per request
    /// (for a gateway given one core of its own); default: one per available CPU, and a
    /// single event loop when only one CPU is available (e.g. under `taskset -c 3`).
    #[arg(
        long,
        value_name = "N",
        env = "BOTFORGE_WORKERS",
        value_parser = clap::value_parser!(u16).range(1..=1024)
    )]
    workers: Option<u16>,
}

impl From<ServeArgs> for serve::Options {
    fn from(a: ServeArgs) -> Self {
        serve::Options {
            bind: a.bind,
            tokens: a.tokens,
            token_files: a.token_files,
            public_hosts: a.public_hosts,
            cors_origins: a.cors_origins,
            body_limit: a.body_limit,
            data_dir: a.data_dir,
            refresh_keys: a.refresh_keys,
            reprobe_keys: a.reprobe_keys,
            max_connections: a.max_connections,
        }
    }
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Show every key's state, counts, cooldown and RPM/TPM/RPD use of its (project, model).
    ///
    /// Keys come from GEMINI_API_KEY (single-key mode) or, with ENABLE_KEY_ROTATION=true, from
    /// KEYS_FILE (default ./keys.json) and GEMINI_KEY_<key_id> variables; ./.env is read first.
    /// With REDIS_URL set, the state shown is the one every process shares.
    Health {
        /// Print one JSON document instead of the table.
        #[arg(long)]
        json: bool,
    },
    /// Probe every key with a cheap call (GET the key's model) and report what upstream says.
    ///
    /// Uses GEMINI_BASE_URL (default: the public Gemini API). Exit code 0 when at least one key
    /// works, 1 when no key is configured, 2 when none works.
    Check {
        /// Print one JSON document instead of the table.
        #[arg(long)]
        json: bool,
    },
    /// List the models the Gemini API reports (through any key of the pool), with their token
    /// limits, whether they generate, and any lifecycle fields (deprecation, shutdown) upstream
    /// sends. Use a name from it with --model.
    Models {
        /// Print one JSON document instead of the table.
        #[arg(long)]
        json: bool,
    },
    /// Make a running `botforge serve` read its secret store again and swap rotated key
    /// material in, without a restart (it also does so on its own every --refresh-keys).
    ///
    /// Sends POST /v1/keys/reload with BOTFORGE_ADMIN_TOKEN. Keys re-enabled because their old
    /// material had been revoked are listed; keys new in the store need a restart.
    Reload {
        /// The gateway's address.
        #[arg(long, default_value = "http://127.0.0.1:8080", env = "BOTFORGE_SERVER")]
        server: String,
        /// Print the gateway's JSON answer instead of the summary.
        #[arg(long)]
        json: bool,
    },
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // clap's message and help hint, but a usage mistake exits 1 (DESIGN.md §4).
            let _ = e.print();
            return ExitCode::from(exit::clap_code(&e));
        }
    };
    let color = std::env::var_os("NO_COLOR").is_none() && std::io::stderr().is_terminal();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(color)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    // The gateway on one CPU (one core of its own, or a container limited to one) runs a
    // single event loop unless told otherwise.
    let one_cpu = std::thread::available_parallelism().is_ok_and(|n| n.get() == 1);
    let workers = match &cli.command {
        Command::Serve(args) => args.workers.or(one_cpu.then_some(1)),
        _ => None,
    };
    let mut builder = match workers {
        // One thread: no work stealing and no wake-ups across threads (15 % more requests per
        // second through the gateway on a core of its own).
        Some(1) => tokio::runtime::Builder::new_current_thread(),
        Some(n) => {
            let mut b = tokio::runtime::Builder::new_multi_thread();
            b.worker_threads(usize::from(n));
            b
        }
        None => tokio::runtime::Builder::new_multi_thread(),
    };
    let runtime = match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return exit::Class::Upstream.into();
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        // A closed pipe (`botforge eval … | head`) is the reader's choice, not a failure.
        Err(err)
            if err.chain().any(|e| {
                e.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) =>
        {
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("error: {err:#}");
            exit::classify(&err).into()
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Keys {
            command: KeysCommand::Health { json },
        } => keys::health(json).await.map(|()| ExitCode::SUCCESS),
        Command::Keys {
            command: KeysCommand::Check { json },
        } => keys::check(json).await,
        Command::Keys {
            command: KeysCommand::Reload { server, json },
        } => keys::reload(&server, json).await,
        Command::Keys {
            command: KeysCommand::Models { json },
        } => keys::models(json).await,
        Command::Sim { bind, config } => sim(&bind, config.as_deref()).await,
        Command::Serve(args) => serve::run(args.into()).await,
        Command::Run {
            command: Some(c), ..
        } => run_cmd::command(c),
        Command::Run {
            command: None,
            args,
        } => Box::pin(run_cmd::run(args)).await,
        Command::SimExchange(args) => run_cmd::sim_exchange(args).await,
        Command::Eval { data, exprs, load } => {
            eval::run(&data, &exprs, &load.into()).map(|()| ExitCode::SUCCESS)
        }
        Command::Data {
            command: DataCommand::Check { file, json, load },
        } => data_cmd::run(&file, &load.into(), json).map(|()| ExitCode::SUCCESS),
        Command::Export {
            strategy,
            out,
            force,
        } => export::run(&strategy, out, force).map(|()| ExitCode::SUCCESS),
        Command::Backtest {
            strategy,
            data,
            json,
            sweep,
            maximize,
            top,
            run,
        } => {
            let specs = symbols::resolve(&data)?;
            let o = backtest_cmd::Options {
                strategy,
                settings: run.settings()?,
                json,
                trades: run.trades,
                report: run.report,
                sweep,
                maximize,
                top,
                load: run.load.into(),
            };
            let strategy = backtest_cmd::read_strategy(&o.strategy)?;
            match specs.as_slice() {
                [] | [_] if !strategy.is_portfolio() => {
                    backtest_cmd::run_command(&o, strategy, specs.first().map(|s| s.path.as_path()))
                }
                _ => portfolio_cmd::run_command(&o, &strategy, &specs),
            }
            .map(|()| ExitCode::SUCCESS)
        }
        Command::Generate {
            description,
            name,
            provider,
            model,
            fallback_models,
            out_dir,
            force,
            python,
            json,
            allow_approximate,
            backtest,
            run,
        } => generate::run(generate::Options {
            description,
            name,
            provider,
            model,
            fallback_models,
            out_dir,
            force,
            python,
            json,
            allow_approximate,
            backtest: backtest_run(backtest, run)?,
        })
        .await
        .map(|()| ExitCode::SUCCESS),
    }
}

async fn sim(bind: &str, config: Option<&std::path::Path>) -> anyhow::Result<ExitCode> {
    let config = match config {
        Some(path) => gemini_sim::SimConfig::load(path)?,
        None => gemini_sim::SimConfig::default(),
    };
    let addr: std::net::SocketAddr = bind
        .parse()
        .with_context(|| format!("--bind {bind}: expected HOST:PORT, e.g. 127.0.0.1:8090"))?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    let local = listener.local_addr()?;
    eprintln!(
        "Gemini simulator on http://{local} (time scale {}); try: GEMINI_BASE_URL=http://{local} botforge keys check",
        config.time_scale
    );
    let sim = gemini_sim::Sim::new(config);
    gemini_sim::serve(listener, sim, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await?;
    eprintln!("simulator stopped");
    Ok(ExitCode::SUCCESS)
}
