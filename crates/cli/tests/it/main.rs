//! The `botforge` binary as a user runs it: a clean environment, a working directory of its own.
#![expect(
    clippy::unwrap_used,
    clippy::panic,
    reason = "helpers outside #[test] functions"
)]

use std::path::Path;
use std::process::{Command, Output};

use serde_json::json;

#[path = "../../../../tests/support/browser.rs"]
mod browser;
mod exit_codes;
mod house;
mod keys;
mod paper;
mod portfolio;
mod quickstart;
mod report;
mod report_page;
mod serving;
mod stores;

const CANARY: &str = "CANARY";

/// The CI venv's Python (`BOTFORGE_PYTHON`); outside CI a missing one skips the test, in CI it
/// fails it.
fn python() -> Option<std::ffi::OsString> {
    let p = std::env::var_os("BOTFORGE_PYTHON");
    assert!(
        p.is_some() || std::env::var_os("CI").is_none(),
        "BOTFORGE_PYTHON is not set: .ci/run creates the venv and sets it"
    );
    p
}

fn botforge(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_botforge"));
    cmd.args(args).current_dir(dir).env_clear();
    if let Some(path) = std::env::var_os("PATH") {
        cmd.env("PATH", path);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8(b.to_vec()).unwrap()
}

/// A `botforge` server (`sim`, `serve`) on a free port, read from its first line on stderr;
/// killed on drop.
pub(crate) struct Listening {
    child: std::process::Child,
    pub(crate) base: String,
}

impl Drop for Listening {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Spawns `cmd` with stderr piped and waits for the `http://` address it announces (after any
/// warnings of its start).
pub(crate) fn listening(cmd: &mut Command) -> Listening {
    use std::io::{BufRead, BufReader};
    let mut child = cmd.stderr(std::process::Stdio::piped()).spawn().unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut seen = Vec::new();
    let base = loop {
        let line = lines
            .next()
            .and_then(Result::ok)
            .unwrap_or_else(|| panic!("the server ended without announcing an address: {seen:?}"));
        if let Some(url) = line.split_whitespace().find(|w| w.starts_with("http://")) {
            break url.to_owned();
        }
        seen.push(line);
        assert!(seen.len() < 20, "no address in {seen:?}");
    };
    Listening { child, base }
}

/// Deletes every Redis key a test wrote under `prefix`.
async fn forget_prefix(con: &mut redis::aio::MultiplexedConnection, prefix: &str) {
    let mine: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}:*"))
        .query_async(con)
        .await
        .unwrap();
    if !mine.is_empty() {
        let _: i64 = redis::cmd("DEL").arg(&mine).query_async(con).await.unwrap();
    }
}

fn start_sim(dir: &Path, config: &str) -> Listening {
    let path = dir.join("sim.toml");
    std::fs::write(&path, config).unwrap();
    listening(
        Command::new(env!("CARGO_BIN_EXE_botforge"))
            .args(["sim", "--bind", "127.0.0.1:0", "--config"])
            .arg(&path)
            .env_clear(),
    )
}

#[test]
fn generate_offline_writes_a_strategy_once() {
    let dir = tempfile::tempdir().unwrap();
    let d = "buy when RSI(14) < 30, sell when RSI > 70, 5% stop loss";
    let out = botforge(dir.path(), &["generate", d, "--json"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("using the offline compiler"));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["provider"], "offline");
    assert_eq!(v["attempts"], 1);
    assert_eq!(v["name"], "BuyWhenRsi1430Sell");
    assert_eq!(v["strategy"]["rules"]["entry_long"], "rsi_14 < 30");
    assert_eq!(v["strategy"]["risk"]["stop_loss_pct"], 5.0);
    let path = dir.path().join("codes/BuyWhenRsi1430Sell.toml");
    assert_eq!(v["path"], "codes/BuyWhenRsi1430Sell.toml");
    let file = std::fs::read_to_string(&path).unwrap();
    assert!(
        file.contains("description = \"buy when RSI(14) < 30, sell when RSI > 70, 5% stop loss\"")
    );

    let again = botforge(dir.path(), &["generate", d], &[]);
    assert_eq!(again.status.code(), Some(1));
    assert!(text(&again.stderr).contains("already exists: choose another --name, or pass --force"));
    let forced = botforge(
        dir.path(),
        &[
            "generate",
            d,
            "--force",
            "--name",
            "Rsi",
            "--out-dir",
            "bots",
        ],
        &[],
    );
    assert_eq!(forced.status.code(), Some(0), "{}", text(&forced.stderr));
    assert!(dir.path().join("bots/Rsi.toml").exists());
    let via_env = botforge(
        dir.path(),
        &["generate", d, "--name", "Env"],
        &[("STRATEGY_DIR", "from_env")],
    );
    assert_eq!(via_env.status.code(), Some(0));
    assert!(dir.path().join("from_env/Env.toml").exists());
}

#[test]
fn generate_refuses_what_it_cannot_place_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = botforge(dir.path(), &["generate", "buy when the moon is full"], &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("could not place \"the moon is full\""),
        "{err}"
    );
    assert!(!dir.path().join("codes").exists());
    let out = botforge(
        dir.path(),
        &["generate", "buy when rsi < 30", "--name", "../x"],
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("--name \"../x\""));
    let out = botforge(
        dir.path(),
        &["generate", "buy when rsi < 30", "--provider", "gemini"],
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("no keys configured"));
}

const VALID_REPLY: &str = r#"{ name = "Model", description = "x", params = { period = 14 }, indicators = { rsi = "rsi(close, period)" }, rules = { entry_long = "rsi < 30", exit_long = "rsi > 70" }, risk = { size = 1.0 } }"#;

/// Every example the README, docs/ and `generate --help` show compiles offline, and the file written
/// validates (the descriptions are read from the documents themselves).
#[test]
fn every_documented_example_compiles_offline() {
    let dir = tempfile::tempdir().unwrap();
    let help = botforge(dir.path(), &["generate", "--help"], &[]);
    assert_eq!(help.status.code(), Some(0));
    let docs = format!("{}\n{}", text(&help.stdout), house::documents().join("\n"));
    let examples: Vec<&str> = docs
        .lines()
        .filter_map(|l| l.split_once("generate \"").map(|(_, rest)| rest))
        .filter_map(|rest| rest.split_once('"').map(|(d, _)| d))
        .filter(|d| *d != "<description>")
        .collect();
    assert!(examples.len() >= 10, "{examples:?}");
    for (i, d) in examples.iter().enumerate() {
        let name = format!("Example{i}");
        let out = botforge(
            dir.path(),
            &["generate", d, "--provider", "offline", "--name", &name],
            &[],
        );
        assert_eq!(out.status.code(), Some(0), "{d}: {}", text(&out.stderr));
        let written =
            std::fs::read_to_string(dir.path().join(format!("codes/{name}.toml"))).unwrap();
        strategy::Strategy::from_toml(&name, &written).unwrap();
    }
}

#[test]
fn generate_with_gemini_repairs_an_invalid_answer_through_the_pool() {
    let dir = tempfile::tempdir().unwrap();
    let sim = start_sim(
        dir.path(),
        &format!(
            r#"
[[keys]]
id = "k1"
key = "test-key-gen-0001"
[[replies]]
prompt_contains = "That strategy is invalid"
json = {VALID_REPLY}
[[replies]]
prompt_contains = "Trading idea"
text = "this is not json"
"#
        ),
    );
    let env = [
        ("GEMINI_API_KEY", "test-key-gen-0001"),
        ("GEMINI_BASE_URL", sim.base.as_str()),
    ];
    let out = botforge(
        dir.path(),
        &[
            "generate",
            "buy RSI dips, sell RSI peaks",
            "--json",
            "--name",
            "Dips",
        ],
        &env,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["provider"], "gemini");
    assert_eq!(v["attempts"], 2);
    assert_eq!(v["key_id"], "GEMINI_API_KEY");
    // Issue 14: the default model is Google's alias for its current Flash.
    assert_eq!(v["model"], "gemini-flash-latest");
    assert_eq!(v["strategy"]["indicators"]["rsi"], "rsi(close, period)");
    assert_eq!(v["strategy"]["description"], "buy RSI dips, sell RSI peaks");
    assert!(dir.path().join("codes/Dips.toml").exists());
    assert!(!text(&out.stdout).contains("test-key-gen"));
    // The simulator saw two requests for structured output with a schema.
    let stats = reqwest_stats(&sim.base);
    assert_eq!(stats["structured_requests"], 2);
}

/// Issue 14: `--fallback-model` takes over when the model is overloaded (a 503 storm), and the
/// one key is never blamed for it.
#[test]
fn generate_moves_to_the_fallback_model_when_the_model_is_overloaded() {
    let dir = tempfile::tempdir().unwrap();
    let sim = start_sim(
        dir.path(),
        &format!(
            r#"
[[keys]]
id = "k1"
key = "test-key-gen-0003"
[[replies]]
json = {VALID_REPLY}
[[faults]]
model = "gemini-2.5-flash"
kind = "high_demand"
probability = 1.0
"#
        ),
    );
    // The model from BOTFORGE_MODEL (issue 14) rather than --model.
    let env = [
        ("GEMINI_API_KEY", "test-key-gen-0003"),
        ("GEMINI_BASE_URL", sim.base.as_str()),
        ("BOTFORGE_MODEL", "gemini-2.5-flash"),
    ];
    let args = ["generate", "buy RSI dips", "--json", "--name", "Storm"];
    let out = botforge(dir.path(), &args, &env);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("503"), "{}", text(&out.stderr));
    let mut with_fallback = args.to_vec();
    with_fallback.extend(["--fallback-model", "gemini-2.5-flash-lite"]);
    let out = botforge(dir.path(), &with_fallback, &env);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["model"], "gemini-2.5-flash-lite");
    let stats = reqwest_stats(&sim.base);
    assert_eq!(stats["keys"]["k1"]["errors"], 0, "{stats}");
    assert!(stats["keys"]["k1"]["overloaded"].as_u64().unwrap() >= 1);
}

#[test]
fn generate_with_gemini_that_never_answers_validly_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let sim = start_sim(
        dir.path(),
        r#"
[[keys]]
id = "k1"
key = "test-key-gen-0002"
[[replies]]
json = { name = "Bad", rules = { entry_long = "rsi(close, 14)" } }
"#,
    );
    let env = [
        ("GEMINI_API_KEY", "test-key-gen-0002"),
        ("GEMINI_BASE_URL", sim.base.as_str()),
    ];
    let out = botforge(
        dir.path(),
        &["generate", "anything", "--name", "Never"],
        &env,
    );
    // The pool worked: the idea could not be expressed, which is the user's to change (issue 16).
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(err.contains("no valid strategy after 3 attempts"), "{err}");
    assert!(err.contains("a rule must be a condition"), "{err}");
    assert!(!dir.path().join("codes").exists());
}

/// GET /sim/stats with a plain TCP request (the test crate has no HTTP client).
fn reqwest_stats(base: &str) -> serde_json::Value {
    use std::io::{Read, Write};
    let addr = base.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET /sim/stats HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut buf = String::new();
    s.read_to_string(&mut buf).unwrap();
    let body = buf.split("\r\n\r\n").nth(1).unwrap();
    serde_json::from_str(body).unwrap()
}

#[test]
fn eval_prints_values_per_bar_as_csv() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("d.csv"),
        ",Open,High,Low,Close\n2024-01-01,1,2,0.5,1\n2024-01-02,1,2,0.5,1.5\n2024-01-03,1.5,2.5,1,2\n",
    )
    .unwrap();
    let out = botforge(
        dir.path(),
        &[
            "eval",
            "--data",
            "d.csv",
            "sma(close, 2)",
            "close > open",
            "close[1]",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "date,\"sma(close, 2)\",close > open,close[1]\n2024-01-01,,false,\n2024-01-02,1.25,true,1\n2024-01-03,1.75,true,1.5\n"
    );
    let bad = botforge(dir.path(), &["eval", "--data", "d.csv", "close > "], &[]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(
        text(&bad.stderr)
            .contains("expression 1: expected a value, found the end\n    close > \n            ^"),
        "{}",
        text(&bad.stderr)
    );
    std::fs::write(
        dir.path().join("bad.csv"),
        ",Open,High,Low,Close\n2024-01-01,1,2,3,1\n",
    )
    .unwrap();
    let bad = botforge(dir.path(), &["eval", "--data", "bad.csv", "close"], &[]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(
        text(&bad.stderr).contains("bad.csv:2: column `High`: High 2 is below Low 3"),
        "{}",
        text(&bad.stderr)
    );
}

fn goog() -> String {
    concat!(env!("CARGO_MANIFEST_DIR"), "/../backtest/data/GOOG.csv").to_owned()
}

#[test]
fn backtest_reproduces_backtesting_py_and_writes_the_trade_list() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("sma.toml"),
        "name = \"SmaCross\"\n[indicators]\nfast = \"sma(close, 10)\"\nslow = \"sma(close, 30)\"\n[rules]\nentry_long = \"crosses_above(fast, slow)\"\nentry_short = \"crosses_below(fast, slow)\"\n",
    )
    .unwrap();
    let data = goog();
    let out = botforge(
        dir.path(),
        &[
            "backtest",
            "sma.toml",
            "--data",
            &data,
            "--commission",
            "0",
            "--finalize",
            "--json",
            "--trades",
            "trades.csv",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["trades"], 66);
    let eq = v["equity_final"].as_f64().unwrap();
    assert!((eq - 51_422.99).abs() < 0.01, "{eq}");
    assert_eq!(v["trade_list"].as_array().unwrap().len(), 66);
    let t = &v["trade_list"][0];
    for k in [
        "entry_bar",
        "exit_bar",
        "entry_time",
        "exit_time",
        "entry_price",
        "exit_price",
        "size",
        "pnl",
        "return_pct",
        "commission",
    ] {
        assert!(t.get(k).is_some(), "trade field {k}");
    }
    assert_eq!(v["open_trades"].as_array().unwrap().len(), 0);
    let csv = std::fs::read_to_string(dir.path().join("trades.csv")).unwrap();
    assert_eq!(csv.lines().count(), 67);

    // --trade-from: the bars before only feed the indicators.
    let out = botforge(
        dir.path(),
        &[
            "backtest",
            "sma.toml",
            "--data",
            &data,
            "--trade-from",
            "2010-01-01",
            "--json",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let gated: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let first = gated["trade_list"][0]["entry_time"].as_str().unwrap();
    assert!(first > "2010-01-01", "{first}");
    assert!(gated["trades"].as_u64().unwrap() < 60);

    let table = text(&botforge(dir.path(), &["backtest", "sma.toml", "--data", &data], &[]).stdout);
    assert!(table.contains("# Trades"), "{table}");
}

#[test]
fn backtest_input_mistakes_are_named() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("bad.toml"),
        "name = \"x\"\n[rules]\nentry_long = \"close >\"\n",
    )
    .unwrap();
    let data = goog();
    let out = botforge(dir.path(), &["backtest", "bad.toml", "--data", &data], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("bad.toml:3: rules.entry_long: expected a value"),
        "{}",
        text(&out.stderr)
    );
    let out = botforge(
        dir.path(),
        &["backtest", "missing.toml", "--data", &data],
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("missing.toml: cannot read"));
    std::fs::write(
        dir.path().join("ok.toml"),
        "name = \"x\"\n[rules]\nentry_long = \"close > 0\"\n",
    )
    .unwrap();
    let out = botforge(
        dir.path(),
        &["backtest", "ok.toml", "--data", &data, "--commission", "2"],
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("--commission 2"));
}

#[test]
fn generate_with_backtest_runs_the_bundled_sample() {
    let dir = tempfile::tempdir().unwrap();
    let out = botforge(
        dir.path(),
        &[
            "generate",
            "buy when RSI(14) < 30, sell when RSI > 70",
            "--backtest",
            "--json",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let b = &v["backtest"];
    assert_eq!(b["start"], "2004-08-19");
    assert!(b["trades"].as_u64().unwrap() > 0);
    assert!(b["sharpe_ratio"].is_number());
    // A rule that never fires: trade statistics are null, never NaN.
    let out = botforge(
        dir.path(),
        &[
            "generate",
            "buy when rsi(14) < 1",
            "--backtest",
            "--json",
            "--name",
            "Never",
        ],
        &[],
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["backtest"]["trades"], 0);
    assert!(v["backtest"]["win_rate_pct"].is_null());
    assert!(v["backtest"]["sqn"].is_null());
    // A bad data file is named and nothing is written.
    let out = botforge(
        dir.path(),
        &[
            "generate",
            "buy when rsi < 30",
            "--backtest",
            "nope.csv",
            "--name",
            "NoData",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("nope.csv: cannot read"));
    assert!(!dir.path().join("codes/NoData.toml").exists());
}

#[test]
fn generate_python_writes_the_export_beside_the_strategy() {
    let dir = tempfile::tempdir().unwrap();
    let d =
        "buy when macd crosses above the signal line, sell when macd crosses below the signal line";
    let out = botforge(
        dir.path(),
        &["generate", d, "--name", "Macd", "--python", "--json"],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["python_path"], "codes/Macd.py");
    let py = std::fs::read_to_string(dir.path().join("codes/Macd.py")).unwrap();
    assert!(py.contains("class Macd(Strategy):"), "{py}");
    assert!(py.contains("from backtesting import Backtest, Strategy"));
    assert!(!py.contains("talib"), "the export needs no TA-Lib");
    let toml = std::fs::read_to_string(dir.path().join("codes/Macd.toml")).unwrap();
    let s = strategy::Strategy::from_toml("Macd.toml", &toml).unwrap();
    assert_eq!(py, strategy::to_python(&s), "the export is the TOML's");

    // Without --python there is no export and python_path is null.
    let plain = botforge(
        dir.path(),
        &["generate", d, "--name", "Plain", "--json"],
        &[],
    );
    let v: serde_json::Value = serde_json::from_slice(&plain.stdout).unwrap();
    assert!(v["python_path"].is_null());
    assert!(!dir.path().join("codes/Plain.py").exists());

    // A Python file in the way is refused before anything is written.
    std::fs::write(dir.path().join("codes/Other.py"), "# mine\n").unwrap();
    let refused = botforge(
        dir.path(),
        &["generate", d, "--name", "Other", "--python"],
        &[],
    );
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        text(&refused.stderr).contains("codes/Other.py already exists"),
        "{}",
        text(&refused.stderr)
    );
    assert!(!dir.path().join("codes/Other.toml").exists());
    assert_eq!(
        std::fs::read_to_string(dir.path().join("codes/Other.py")).unwrap(),
        "# mine\n"
    );
    let forced = botforge(
        dir.path(),
        &["generate", d, "--name", "Other", "--python", "--force"],
        &[],
    );
    assert_eq!(forced.status.code(), Some(0), "{}", text(&forced.stderr));
    let out = text(&forced.stdout);
    assert!(out.contains("wrote codes/Other.py"), "{out}");
    assert!(
        std::fs::read_to_string(dir.path().join("codes/Other.py"))
            .unwrap()
            .contains("class Other(Strategy):")
    );
}

/// Issue 21: `botforge export` takes any strategy file (hand-edited ones included) to Python;
/// the module's `run()` reproduces `botforge backtest`, and the JSON trade list says why each
/// trade closed.
#[test]
fn export_writes_the_module_of_a_hand_written_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("breakout.toml"),
        r#"name = "Breakout"
[indicators]
hh = "highest(high, 20)"
atr = "atr(14)"
[rules]
entry_long = "close > sma(close, 50)"
exit_long = "bars_in_trade > 30 and open_pnl_pct < 0"
[risk]
risk_pct = 1.0
stop_loss_long = "close - 2 * atr"
trailing_stop_long = "close - 3 * atr"
max_bars = 60
[orders]
entry_long_stop = "hh"
valid_bars = 5
"#,
    )
    .unwrap();
    let out = botforge(dir.path(), &["export", "breakout.toml"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout).trim(),
        "wrote breakout.py (backtesting.py: python breakout.py DATA.csv)"
    );
    let module = std::fs::read_to_string(dir.path().join("breakout.py")).unwrap();
    assert!(module.contains("def run(data, cash=10_000, commission=0.002, finalize=False):"));
    // Never replaced without --force; --out picks another name.
    let again = botforge(dir.path(), &["export", "breakout.toml"], &[]);
    assert_eq!(again.status.code(), Some(1));
    assert!(
        text(&again.stderr)
            .contains("breakout.py already exists: choose another --out, or pass --force"),
        "{}",
        text(&again.stderr)
    );
    let other = botforge(
        dir.path(),
        &["export", "breakout.toml", "--out", "other/b2.py"],
        &[],
    );
    assert_eq!(other.status.code(), Some(0), "{}", text(&other.stderr));
    assert_eq!(
        std::fs::read_to_string(dir.path().join("other/b2.py")).unwrap(),
        module
    );
    // A bad file names its line and field, and writes nothing.
    std::fs::write(
        dir.path().join("bad.toml"),
        "name = \"bad\"\n[rules]\nentry_long = \"close > open\"\n[risk]\nrisk_pct = 2\n",
    )
    .unwrap();
    let bad = botforge(dir.path(), &["export", "bad.toml"], &[]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(
        text(&bad.stderr).contains(
            "bad.toml:5: risk.risk_pct: risk_pct sizes each entry by its distance to the stop"
        ),
        "{}",
        text(&bad.stderr)
    );
    assert!(!dir.path().join("bad.py").exists());

    // The engine's trades, with why each closed.
    let data = goog();
    let bt = botforge(
        dir.path(),
        &["backtest", "breakout.toml", "--data", &data, "--json"],
        &[],
    );
    assert_eq!(bt.status.code(), Some(0), "{}", text(&bt.stderr));
    let v: serde_json::Value = serde_json::from_slice(&bt.stdout).unwrap();
    let trades = v["trade_list"].as_array().unwrap();
    assert!(trades.len() > 5, "{}", trades.len());
    let reasons: std::collections::BTreeSet<&str> = trades
        .iter()
        .map(|t| t["exit_reason"].as_str().unwrap())
        .collect();
    assert!(reasons.contains("trailing"), "{reasons:?}");
    assert!(trades.iter().all(|t| t["sl"].as_f64().is_some()));

    // The module under backtesting.py gives the same trade count and final equity.
    let Some(python) = python() else {
        return;
    };
    let py = Command::new(python)
        .current_dir(dir.path())
        .args(["-c", &format!(
            "import breakout, json; s = breakout.run({data:?}); print(json.dumps([int(s['# Trades']), float(s['Equity Final [$]'])]))"
        )])
        .output()
        .unwrap();
    assert!(py.status.success(), "{}", text(&py.stderr));
    let got: (usize, f64) = serde_json::from_slice(&py.stdout).unwrap();
    assert_eq!(got.0, trades.len());
    let eq = v["equity_final"].as_f64().unwrap();
    assert!((got.1 - eq).abs() <= 1e-9 * eq, "{} vs {eq}", got.1);
}

/// Issue 18: when Gemini says part of the idea cannot be said, `generate` prints it and writes
/// nothing (exit 1) unless `--allow-approximate`; approximations are printed and in `--json`.
#[test]
fn generate_refuses_what_the_model_cannot_express_unless_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let noted = VALID_REPLY.replace(
        "name = \"Model\",",
        "name = \"Model\", unsupported = [\"a news sentiment filter\"], approximations = [\"RSI period 14 assumed\"],",
    );
    let sim = start_sim(
        dir.path(),
        &format!(
            "[[keys]]\nid = \"k1\"\nkey = \"test-key-gen-0003\"\n[[replies]]\nprompt_contains = \"Trading idea\"\njson = {noted}\n"
        ),
    );
    let env = [
        ("GEMINI_API_KEY", "test-key-gen-0003"),
        ("GEMINI_BASE_URL", sim.base.as_str()),
    ];
    let args = [
        "generate",
        "buy RSI dips unless the news is bad",
        "--name",
        "News",
    ];
    let out = botforge(dir.path(), &args, &env);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(
        err.contains("not expressible: a news sentiment filter"),
        "{err}"
    );
    assert!(err.contains("approximated: RSI period 14 assumed"), "{err}");
    assert!(err.contains("nothing was written"), "{err}");
    assert!(err.contains("--allow-approximate"), "{err}");
    assert!(!dir.path().join("codes/News.toml").exists());

    let mut allowed = args.to_vec();
    allowed.extend(["--allow-approximate", "--json"]);
    let out = botforge(dir.path(), &allowed, &env);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        v["unsupported"],
        serde_json::json!(["a news sentiment filter"])
    );
    assert_eq!(
        v["approximations"],
        serde_json::json!(["RSI period 14 assumed"])
    );
    assert!(dir.path().join("codes/News.toml").exists());

    // A file in the way is refused before any call is spent.
    let before = reqwest_stats(&sim.base)["total"]["requests"]
        .as_u64()
        .unwrap();
    let again = botforge(dir.path(), &allowed, &env);
    assert_eq!(again.status.code(), Some(1));
    assert!(
        text(&again.stderr).contains("already exists"),
        "{}",
        text(&again.stderr)
    );
    let bad_name = botforge(
        dir.path(),
        &["generate", "buy dips", "--name", "../escape"],
        &env,
    );
    assert_eq!(bad_name.status.code(), Some(1));
    let after = reqwest_stats(&sim.base)["total"]["requests"]
        .as_u64()
        .unwrap();
    assert_eq!(before, after, "no request for a refused name or file");
}

/// Issue 18: an answer cut off at the token limit is not used; the next attempt is.
#[test]
fn generate_retries_an_answer_without_content() {
    let dir = tempfile::tempdir().unwrap();
    let sim = start_sim(
        dir.path(),
        &format!(
            "[[keys]]\nid = \"k1\"\nkey = \"test-key-gen-0004\"\n[[replies]]\nprompt_contains = \"Trading idea\"\njson = {VALID_REPLY}\n[[faults]]\nkind = \"max_tokens\"\nscript = [true]\n"
        ),
    );
    let env = [
        ("GEMINI_API_KEY", "test-key-gen-0004"),
        ("GEMINI_BASE_URL", sim.base.as_str()),
    ];
    let out = botforge(
        dir.path(),
        &["generate", "buy RSI dips", "--name", "Retry", "--json"],
        &env,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["attempts"], 2);
    assert_eq!(reqwest_stats(&sim.base)["total"]["requests"], 2);
}

/// Issue 19: `data check` says how a file is read; each malformed shape is exit 1 naming the
/// line and the column; `--date-format` settles an ambiguous date.
#[test]
fn data_check_reports_the_layout_and_names_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| std::fs::write(dir.path().join(name), text).unwrap();
    write(
        "mt5.csv",
        "<DATE>\t<TIME>\t<OPEN>\t<HIGH>\t<LOW>\t<CLOSE>\t<TICKVOL>\n2024.01.02\t09:00:00\t1.1\t1.2\t1.0\t1.15\t10\n2024.01.02\t10:00:00\t1.15\t1.3\t1.1\t1.2\t12\n2024.01.02\t11:00:00\t1.2\t1.25\t1.1\t1.12\t9\n",
    );
    let out = botforge(dir.path(), &["data", "check", "mt5.csv", "--json"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["delimiter"], "\t");
    assert_eq!(v["time_columns"], serde_json::json!(["<DATE>", "<TIME>"]));
    assert!(
        v["time_format"].as_str().unwrap().contains("YYYY.MM.DD"),
        "{}",
        v["time_format"]
    );
    assert_eq!(v["rows"], 3);
    assert_eq!(v["bar_seconds"], 3600);
    assert_eq!(v["first"], "2024-01-02 09:00:00");
    assert_eq!(v["columns"][6]["read_as"], "volume");
    let table = text(&botforge(dir.path(), &["data", "check", "mt5.csv"], &[]).stdout);
    assert!(table.contains("every 1 hour"), "{table}");

    let head = "Date;Open;High;Low;Close\n";
    let cases: &[(&str, String, &str)] = &[
        (
            "ambiguous.csv",
            format!("{head}01/02/2024;1;2;1;1\n03/04/2024;1;2;1;1\n"),
            "ambiguous.csv:2: column `Date`: dates like `01/02/2024` could be day-first or month-first",
        ),
        (
            "mixed.csv",
            format!("{head}2024-01-02;1;2;1;1\n03.01.2024;1;2;1;1\n"),
            "mixed.csv:3: column `Date`: `03.01.2024` is not in the file's time format",
        ),
        (
            "order.csv",
            format!("{head}2024-01-03;1;2;1;1\n2024-01-02;1;2;1;1\n"),
            "order.csv:3: column `Date`: time `2024-01-02` is earlier than the previous row's",
        ),
        (
            "repeat.csv",
            format!("{head}2024-01-03;1;2;1;1\n2024-01-03;1;2;1;1\n"),
            "repeat.csv:3: column `Date`: time `2024-01-03` repeats",
        ),
        (
            "missing.csv",
            "Date;Open;High;Close\n2024-01-03;1;2;1\n".to_owned(),
            "missing.csv:1: column `Low`: not found",
        ),
        (
            "number.csv",
            format!("{head}2024-01-03;1;2;abc;1\n"),
            "number.csv:2: column `Low`: `abc` is not a number",
        ),
        (
            "highlow.csv",
            format!("{head}2024-01-03;1;1;2;1\n"),
            "highlow.csv:2: column `High`: High 1 is below Low 2",
        ),
    ];
    for (name, body, want) in cases {
        write(name, body);
        for cmd in [
            vec!["data", "check", name],
            vec!["eval", "--data", name, "close"],
        ] {
            let out = botforge(dir.path(), &cmd, &[]);
            assert_eq!(out.status.code(), Some(1), "{name}: {}", text(&out.stderr));
            assert!(
                text(&out.stderr).contains(want),
                "{name}: {}",
                text(&out.stderr)
            );
            assert!(!text(&out.stderr).contains("panicked"));
        }
    }
    // --date-format settles the ambiguous file.
    write(
        "s.toml",
        "name = \"s\"\n[rules]\nentry_long = \"close > 0\"\n",
    );
    let out = botforge(
        dir.path(),
        &[
            "backtest",
            "s.toml",
            "--data",
            "ambiguous.csv",
            "--date-format",
            "%d/%m/%Y",
            "--json",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["start"], "2024-02-01");
}
