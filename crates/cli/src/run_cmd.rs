//! `botforge run` (a strategy on a live feed with a paper account), `run status|verify|export`
//! and `botforge sim-exchange` (DESIGN.md §8).

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use feeds::Interval;
use feeds::binance::{BinanceFeed, Config, Endpoint};
use feeds::replay::ReplayFeed;
use paper::manifest::FeedSpec;
use paper::runner::{self, Spec};
use paper::status::RunDir;

use crate::exit::UsageError;

/// `botforge run BOT.toml …`'s flags.
#[derive(Debug, clap::Args)]
pub struct LiveArgs {
    /// The strategy file (TOML).
    pub strategy: Option<PathBuf>,
    /// The exchange whose public market data feeds the run.
    #[arg(long, default_value = "binance")]
    pub exchange: String,
    /// The symbol, as the exchange spells it (BTCUSDT).
    #[arg(long)]
    pub symbol: Option<String>,
    /// The bar interval: 1m 3m 5m 15m 30m 1h 2h 4h 6h 8h 12h 1d 1w.
    #[arg(long)]
    pub interval: Option<String>,
    /// mainnet, testnet, or a URL serving Binance's REST and stream paths (sim-exchange).
    #[arg(long, default_value = "mainnet")]
    pub endpoint: String,
    /// The run directory (default: runs/NAME-SYMBOL-INTERVAL).
    #[arg(long)]
    pub run_dir: Option<PathBuf>,
    /// Starting cash of the paper account.
    #[arg(long, default_value_t = 10_000.0, allow_negative_numbers = true)]
    pub cash: f64,
    /// Commission per fill, as a fraction of its value.
    #[arg(long, default_value_t = 0.002, allow_negative_numbers = true)]
    pub commission: f64,
    /// Closed bars fetched before the first live one: they feed the indicators, no entry is
    /// decided on them.
    #[arg(long, default_value_t = 0)]
    pub warmup: usize,
    /// End after N live closed bars in this run directory (a resumed run counts on).
    #[arg(long)]
    pub bars: Option<u64>,
    /// End at the first bar that opens at or after this time (RFC 3339).
    #[arg(long, value_name = "RFC3339")]
    pub until: Option<String>,
    /// Serve Prometheus metrics at http://ADDR/metrics (e.g. 127.0.0.1:9464).
    #[arg(long, value_name = "ADDR")]
    pub metrics: Option<String>,
    /// Print JSON Lines: one object per fill, closed trade or order.
    #[arg(long)]
    pub json: bool,
    /// Play a data file as the live feed (the bundled sample without one).
    #[arg(long, value_name = "DATA", num_args = 0..=1)]
    #[expect(
        clippy::option_option,
        reason = "absent / flag alone / flag with a file"
    )]
    pub replay: Option<Option<PathBuf>>,
    /// Bars per second for --replay (default: as fast as they are taken).
    #[arg(long)]
    pub speed: Option<f64>,
    /// Move a run directory made by another strategy aside (into previous-N/) and start anew.
    #[arg(long)]
    pub new: bool,
}

/// `botforge run status|verify|export`.
#[derive(Debug, clap::Subcommand)]
pub enum RunCommand {
    /// Position, open orders, equity, cash, trades and feed counters of a run directory (live
    /// or ended).
    Status {
        /// The run directory.
        dir: PathBuf,
        /// Print one JSON document.
        #[arg(long)]
        json: bool,
    },
    /// Exit 0 iff a backtest of the journal's bars (from live_from) gives the journaled trades.
    Verify {
        /// The run directory.
        dir: PathBuf,
    },
    /// Write the bars the run saw as CSV (time,open,high,low,close,volume), for `backtest`.
    Export {
        /// The run directory.
        dir: PathBuf,
        /// The CSV file to write.
        #[arg(long, value_name = "FILE")]
        csv: PathBuf,
    },
}

fn usage(msg: impl Into<String>) -> anyhow::Error {
    UsageError(msg.into()).into()
}

/// Where the bars come from, checked.
fn feed_spec(args: &LiveArgs) -> anyhow::Result<FeedSpec> {
    Ok(if let Some(data) = &args.replay {
        let stem = data
            .as_deref()
            .and_then(Path::file_stem)
            .map_or_else(|| "sample".to_owned(), |s| s.to_string_lossy().into_owned());
        FeedSpec {
            kind: "replay".to_owned(),
            endpoint: None,
            symbol: stem,
            interval: "replay".to_owned(),
            data: data.as_ref().map(|d| d.display().to_string()),
            warmup: args.warmup,
        }
    } else {
        if args.exchange != "binance" {
            return Err(usage(format!(
                "--exchange {}: only binance is supported",
                args.exchange
            )));
        }
        let symbol = args
            .symbol
            .clone()
            .ok_or_else(|| usage("--symbol is needed (e.g. BTCUSDT), or --replay [DATA]"))?;
        if symbol.is_empty() || !symbol.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(usage(format!(
                "--symbol {symbol}: letters and digits as the exchange spells it, e.g. BTCUSDT"
            )));
        }
        let interval = args.interval.clone().ok_or_else(|| {
            usage("--interval is needed: 1m 3m 5m 15m 30m 1h 2h 4h 6h 8h 12h 1d 1w")
        })?;
        Interval::parse(&interval).map_err(|e| usage(e.to_string()))?;
        Endpoint::parse(&args.endpoint).map_err(|e| usage(e.to_string()))?;
        FeedSpec {
            kind: "binance".to_owned(),
            endpoint: Some(args.endpoint.clone()),
            symbol: symbol.to_uppercase(),
            interval,
            data: None,
            warmup: args.warmup,
        }
    })
}

/// The strategy against a live feed's interval: a warning when its `timeframe` differs, an
/// error for a `tf()` rule no coarser than the feed's bars (DESIGN.md §5.4).
fn check_feed(path: &Path, strategy: &strategy::Strategy, feed: &FeedSpec) -> anyhow::Result<()> {
    if let (Ok(interval), Some(t)) = (Interval::parse(&feed.interval), strategy.timeframe)
        && interval.ms() != t.ms()
    {
        eprintln!(
            "warning: {}: timeframe = \"{t}\", but the feed's bars are {}: periods count the feed's bars, so the rules do not mean what they were written for",
            path.display(),
            feed.interval
        );
    }
    // tf() rules must be coarser than the feed's bars (DESIGN.md §5.4).
    if let Ok(interval) = Interval::parse(&feed.interval)
        && let Some((rule, field)) = strategy
            .timeframes_used()
            .into_iter()
            .find(|(rule, _)| rule.min_ms() <= interval.ms())
    {
        return Err(usage(format!(
            "{}: {field}: tf(\"{}\", …) resamples to bars no longer than the feed's {} bars, so it adds nothing: use a rule longer than {}, or write the expression without tf",
            path.display(),
            rule.name(),
            feed.interval,
            backtest::span_text(interval.ms())
        )));
    }
    Ok(())
}

/// `botforge run …`.
///
/// # Errors
/// Exit 1 for what the user can fix, 2 for an exchange that cannot be reached.
pub async fn run(args: LiveArgs) -> anyhow::Result<ExitCode> {
    let Some(path) = args.strategy.clone() else {
        return Err(usage(
            "run needs a strategy file: botforge run BOT.toml --symbol BTCUSDT --interval 1m (or --replay)",
        ));
    };
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("{}: cannot read the strategy file", path.display()))?;
    let strategy = strategy::Strategy::from_toml(&path.display().to_string(), &text)?;
    let settings = crate::backtest_cmd::settings(args.cash, args.commission, false, None)?;
    if args.speed.is_some_and(|s| !(s > 0.0 && s.is_finite())) {
        return Err(usage("--speed: bars per second, a number above 0"));
    }
    let until = args
        .until
        .as_deref()
        .map(|u| {
            backtest::parse_time(u).ok_or_else(|| {
                usage(format!(
                    "--until {u}: not a time; e.g. 2026-12-31T00:00:00Z"
                ))
            })
        })
        .transpose()?;
    let feed = feed_spec(&args)?;
    check_feed(&path, &strategy, &feed)?;
    let dir = args.run_dir.clone().unwrap_or_else(|| {
        PathBuf::from("runs").join(format!(
            "{}-{}-{}",
            strategy.name, feed.symbol, feed.interval
        ))
    });
    let spec = Spec {
        strategy_file: path,
        strategy_text: text,
        dir: dir.clone(),
        cash: settings.cash,
        commission: settings.commission,
        feed: feed.clone(),
        bars: args.bars,
        until,
        new: args.new,
        json: args.json,
    };
    let (after, went_live) = runner::preflight(&spec).map_err(paper_error)?;
    let metrics = match &args.metrics {
        Some(addr) => {
            let listener = paper::metrics::bind(addr).await.map_err(paper_error)?;
            let m = Arc::new(paper::metrics::RunMetrics::new());
            eprintln!("metrics on http://{}/metrics", listener.local_addr()?);
            paper::metrics::serve(listener, Arc::clone(&m));
            Some(m)
        }
        None => None,
    };
    if feed.kind == "replay" {
        let bars = match &feed.data {
            Some(d) => backtest::load(Path::new(d), &backtest::LoadOptions::default())?.0,
            None => backtest::parse_csv("sample GOOG.csv", backtest::report::SAMPLE_CSV)?,
        };
        backtest::check_timeframes(&bars, &strategy)
            .map_err(|e| usage(format!("{}: {e}", spec.strategy_file.display())))?;
        // The file's first --warmup bars are the warm-up; a resumed run skips what it saw.
        let live = ReplayFeed::new(bars, args.warmup, args.speed, after);
        Box::pin(go(spec, live, metrics)).await
    } else {
        let endpoint = Endpoint::parse(&args.endpoint).map_err(|e| usage(e.to_string()))?;
        let interval = Interval::parse(&feed.interval).map_err(|e| usage(e.to_string()))?;
        let mut cfg = Config::new(endpoint, &feed.symbol, interval);
        // A resumed run backfills from its last bar instead.
        cfg.warmup = if after.is_some() || went_live {
            0
        } else {
            args.warmup
        };
        cfg.after = after;
        // How often a quiet stream's exchange clock is read, and how long an exchange that
        // cannot be reached at start is retried (tests and demos shorten both).
        if let Some(ms) = env_u64("BOTFORGE_RUN_TICK_MS")? {
            cfg.tick = Duration::from_millis(ms.max(10));
        }
        if let Some(secs) = env_u64("BOTFORGE_RUN_START_RETRY_SECS")? {
            cfg.start_retry = Duration::from_secs(secs.min(60));
        }
        let live = BinanceFeed::start(cfg)
            .await
            .map_err(|e| paper_error(e.into()))?;
        Box::pin(go(spec, live, metrics)).await
    }
}

/// A whole-number variable, when set.
fn env_u64(name: &str) -> anyhow::Result<Option<u64>> {
    match std::env::var(name) {
        Ok(v) => v
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| usage(format!("{name}={v}: a whole number"))),
        Err(_) => Ok(None),
    }
}

/// A paper error as the exit code classes it.
fn paper_error(e: paper::PaperError) -> anyhow::Error {
    if e.is_upstream() {
        anyhow::Error::new(e)
    } else {
        usage(e.to_string())
    }
}

async fn go(
    spec: Spec,
    feed: impl feeds::Feed,
    metrics: Option<Arc<paper::metrics::RunMetrics>>,
) -> anyhow::Result<ExitCode> {
    let dir = spec.dir.clone();
    let prepared = runner::prepare(&spec).map_err(paper_error)?;
    if let Some(w) = &prepared.warning {
        eprintln!("warning: {w}");
    }
    if prepared.last_ms.is_some() {
        eprintln!(
            "resuming {} after {} ({} live bars so far)",
            dir.display(),
            prepared.last_ms.map(paper::label).unwrap_or_default(),
            prepared.live_bars
        );
    }
    let mut out = std::io::stdout().lock();
    let ended = runner::run(prepared, spec, feed, &mut out, metrics, shutdown()).await;
    drop(out);
    let ended = ended.map_err(paper_error)?;
    let status = RunDir::read(&dir)
        .and_then(|r| r.status())
        .map_err(paper_error)?;
    eprintln!(
        "run ended ({}): {} bars, {} trades closed, equity {:.2}; see botforge run status {}",
        ended.reason(),
        status["bars"],
        status["trade_list"].as_array().map_or(0, Vec::len),
        status["equity"].as_f64().unwrap_or(0.0),
        dir.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// SIGINT or SIGTERM.
async fn shutdown() {
    #[cfg(unix)]
    {
        let term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate());
        match term {
            Ok(mut t) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = t.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// `botforge run status|verify|export`.
///
/// # Errors
/// Exit 1 naming the directory or file.
pub fn command(c: RunCommand) -> anyhow::Result<ExitCode> {
    match c {
        RunCommand::Status { dir, json } => {
            let s = RunDir::read(&dir)
                .and_then(|r| r.status())
                .map_err(paper_error)?;
            let mut out = std::io::stdout().lock();
            if json {
                writeln!(out, "{}", serde_json::to_string_pretty(&s)?)?;
            } else {
                print_status(&mut out, &s)?;
            }
            Ok(ExitCode::SUCCESS)
        }
        RunCommand::Verify { dir } => {
            let r = RunDir::read(&dir).map_err(paper_error)?;
            match r.verify().map_err(paper_error)? {
                None => {
                    writeln!(
                        std::io::stdout(),
                        "ok: a backtest of the {} journaled bars from {} gives the {} journaled trades",
                        r.of_kind("bar").count(),
                        r.manifest.live_from.as_deref().unwrap_or("-"),
                        r.of_kind("trade").count()
                    )?;
                    Ok(ExitCode::SUCCESS)
                }
                Some(diff) => {
                    eprintln!("{}: differs: {diff}", dir.display());
                    Ok(ExitCode::from(crate::exit::USER))
                }
            }
        }
        RunCommand::Export { dir, csv } => {
            let r = RunDir::read(&dir).map_err(paper_error)?;
            crate::backtest_cmd::write_file(&csv, &r.csv())?;
            eprintln!(
                "wrote {} bars to {}; backtest them with: botforge backtest {} --data {} --trade-from {}",
                r.of_kind("bar").count(),
                csv.display(),
                r.manifest.strategy_file,
                csv.display(),
                r.manifest.live_from.as_deref().unwrap_or("…")
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn print_status(out: &mut impl std::io::Write, s: &serde_json::Value) -> std::io::Result<()> {
    let f = |v: &serde_json::Value| {
        v.as_f64()
            .map_or_else(|| "-".to_owned(), |x| format!("{x:.2}"))
    };
    let name = s["strategy"].as_str().unwrap_or("");
    let symbol = s["symbol"].as_str().unwrap_or("");
    if s["exchange"] == "replay" {
        writeln!(out, "{name} on a replay of {symbol}, paper account")?;
    } else {
        writeln!(
            out,
            "{name} on {} {symbol} {}, paper account",
            s["exchange"].as_str().unwrap_or(""),
            s["interval"].as_str().unwrap_or("")
        )?;
    }
    writeln!(
        out,
        "bars {} from {} (live from {}), last {} close {}",
        s["bars"],
        s["first_bar"].as_str().unwrap_or("-"),
        s["live_from"].as_str().unwrap_or("-"),
        s["last_bar"]["open_time"].as_str().unwrap_or("-"),
        f(&s["last_bar"]["close"])
    )?;
    match s["position"].as_object() {
        Some(p) => writeln!(
            out,
            "position {} {} @ {} since {}",
            p["side"].as_str().unwrap_or(""),
            p["size"],
            f(&p["entry_price"]),
            p["entry_time"].as_str().unwrap_or("")
        ),
        None => writeln!(out, "position flat"),
    }?;
    writeln!(
        out,
        "equity {} cash {}; trades closed {}, orders waiting {}",
        f(&s["equity"]),
        f(&s["cash"]),
        s["trade_list"].as_array().map_or(0, Vec::len),
        s["orders"].as_array().map_or(0, Vec::len)
    )?;
    let feed = &s["feed"];
    writeln!(
        out,
        "feed: {}; {} reconnects, {} duplicates, {} backfilled, {} gaps",
        if feed["connected"].as_bool() == Some(true) {
            "connected"
        } else {
            "not connected"
        },
        feed["reconnects"],
        feed["duplicates"],
        feed["backfilled"],
        feed["gaps"]
    )?;
    Ok(())
}

/// `botforge sim-exchange`'s flags.
#[derive(Debug, clap::Args)]
pub struct SimExchangeArgs {
    /// The data file to replay (the bundled sample without one).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// The symbol it serves.
    #[arg(long, default_value = "BTCUSDT")]
    pub symbol: String,
    /// The interval it serves.
    #[arg(long, default_value = "1m")]
    pub interval: String,
    /// Bars per second.
    #[arg(long, default_value_t = 1.0)]
    pub speed: f64,
    /// Bars already closed when it starts (history over REST).
    #[arg(long, default_value_t = 0)]
    pub start: usize,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:9443")]
    pub bind: String,
    /// Seconds between pings on the stream (Binance: 20).
    #[arg(long, default_value_t = 20.0)]
    pub ping_secs: f64,
    /// Faults: drop_final=N,duplicate=N,disconnect=N,stall=BAR:SECSs,gap=A-B,rate_limit=N,ban=N.
    #[arg(long, default_value = "")]
    pub faults: String,
}

/// `botforge sim-exchange`.
///
/// # Errors
/// Exit 1 for a bad flag or file.
pub async fn sim_exchange(a: SimExchangeArgs) -> anyhow::Result<ExitCode> {
    let interval = Interval::parse(&a.interval).map_err(|e| usage(e.to_string()))?;
    let faults = exchange_sim::Faults::parse(&a.faults).map_err(|e| usage(e.to_string()))?;
    if !(a.speed > 0.0 && a.speed.is_finite()) {
        return Err(usage("--speed: bars per second, a number above 0"));
    }
    if !(a.ping_secs > 0.0 && a.ping_secs <= 3600.0) {
        return Err(usage("--ping-secs: from above 0 to 3600"));
    }
    let (_, bars) = crate::backtest_cmd::data(a.data.as_deref())?;
    let market = exchange_sim::Market::new(
        bars,
        &a.symbol,
        interval.name(),
        interval.ms(),
        a.start,
        a.speed,
        faults,
    );
    let handle = exchange_sim::spawn(market, &a.bind, Duration::from_secs_f64(a.ping_secs))
        .await
        .with_context(|| format!("cannot listen on {}", a.bind))?;
    eprintln!(
        "simulated Binance on {} ({} {}, {} bars/s); try: botforge run BOT.toml --endpoint {} --symbol {} --interval {}",
        handle.url(),
        a.symbol,
        a.interval,
        a.speed,
        handle.url(),
        a.symbol,
        a.interval
    );
    shutdown().await;
    handle.stop();
    Ok(ExitCode::SUCCESS)
}
