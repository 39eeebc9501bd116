//! Issue 16: every subcommand through every class of failure. Exit 0 on success, 1 when the user
//! can fix it (and the message names what to fix), 2 when upstream, the pool or the network
//! failed (DESIGN.md §4).

use super::{botforge, goog, text};

/// A port on 127.0.0.1 that nothing listens on.
fn dead_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Case {
    what: &'static str,
    args: Vec<String>,
    env: Vec<(&'static str, String)>,
    code: i32,
    /// Each must appear in stderr (or, for --help/--version and `keys check`, stdout).
    says: Vec<&'static str>,
}

fn case(what: &'static str, args: &[&str], code: i32, says: &[&'static str]) -> Case {
    Case {
        what,
        args: args.iter().map(|s| (*s).to_owned()).collect(),
        env: Vec::new(),
        code,
        says: says.to_vec(),
    }
}

impl Case {
    fn env(mut self, k: &'static str, v: &str) -> Self {
        self.env.push((k, v.to_owned()));
        self
    }
}

#[test]
#[expect(
    clippy::too_many_lines,
    reason = "one row per subcommand and failure class"
)]
fn every_subcommand_exits_by_the_class_of_its_failure() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let data = goog();
    std::fs::write(
        d.join("ok.toml"),
        "name = \"ok\"\n[rules]\nentry_long = \"close > 0\"\n",
    )
    .unwrap();
    std::fs::write(
        d.join("five.toml"),
        "name = \"five\"\n[rules]\nentry_long = \"close > 0\"\n[risk]\nstop_loss_pct = \"five\"\n",
    )
    .unwrap();
    std::fs::write(
        d.join("bad.csv"),
        "Date,Open,High,Low,Close\n2024-01-01,1,2,0.5,1\n2024-01-02,1,0.4,0.5,1\n",
    )
    .unwrap();
    std::fs::write(
        d.join("bad-keys.json"),
        r#"{"keys": [{"key_id": "a", "rpm": "lots"}]}"#,
    )
    .unwrap();
    std::fs::write(d.join("sim.toml"), "time_scale = \"fast\"\n").unwrap();
    std::fs::write(
        d.join("five-minutes.toml"),
        "name = \"f\"\ntimeframe = \"5m\"\n[rules]\nentry_long = \"close > 0\"\n",
    )
    .unwrap();
    std::fs::write(
        d.join("daily-tf.toml"),
        "name = \"d\"\n[indicators]\ndaily = \"tf('D', sma(close, 5))\"\n[rules]\nentry_long = \"close > daily\"\n",
    )
    .unwrap();
    let dead = format!("http://127.0.0.1:{}", dead_port());
    let cases = vec![
        // Usage: clap keeps its message and hint, but exits 1.
        case("help", &["--help"], 0, &[]),
        case("version", &["--version"], 0, &[]),
        case(
            "unknown subcommand",
            &["bactest"],
            1,
            &["unrecognized subcommand", "--help"],
        ),
        case(
            "unknown flag",
            &["backtest", "ok.toml", "--data", &data, "--nope"],
            1,
            &["--nope"],
        ),
        // Issue 31: without --data, backtest runs on the bundled sample (and says so).
        case(
            "no --data",
            &["backtest", "ok.toml"],
            0,
            &["bundled sample"],
        ),
        case(
            "--maximize without a sweep",
            &["backtest", "ok.toml", "--maximize", "sqn"],
            1,
            &["--sweep"],
        ),
        case("eval without --data", &["eval", "close"], 1, &["--data"]),
        // DESIGN.md §5.4: a tf() rule no coarser than the data's bars.
        case(
            "tf('D') on daily data",
            &["backtest", "daily-tf.toml", "--data", &data],
            1,
            &[
                "daily-tf.toml",
                "indicators.daily",
                "tf(\"D\", …)",
                "1 day apart",
                "use a rule longer than 1 day",
            ],
        ),
        // Issue 36: a strategy written for other bars runs, with a warning naming both.
        case(
            "timeframe = 5m on daily data",
            &["backtest", "five-minutes.toml", "--data", &data],
            0,
            &[
                "warning: five-minutes.toml: timeframe = \"5m\" (bars 5 minutes apart)",
                "has bars 1 day apart",
            ],
        ),
        case(
            "tf('D') on a daily feed",
            &[
                "run",
                "daily-tf.toml",
                "--symbol",
                "BTCUSDT",
                "--interval",
                "1d",
                "--endpoint",
                &dead,
            ],
            1,
            &["daily-tf.toml", "indicators.daily", "the feed's 1d bars"],
        ),
        case(
            "negative cash",
            &["backtest", "ok.toml", "--data", &data, "--cash", "-5"],
            1,
            &["--cash -5: must be a positive amount"],
        ),
        case(
            "--trade-from not a time",
            &[
                "backtest",
                "ok.toml",
                "--data",
                &data,
                "--trade-from",
                "soon",
            ],
            1,
            &["--trade-from soon: not a time"],
        ),
        case(
            "zero cash",
            &["backtest", "ok.toml", "--data", &data, "--cash", "0"],
            1,
            &["--cash 0"],
        ),
        case(
            "commission 1",
            &["backtest", "ok.toml", "--data", &data, "--commission", "1"],
            1,
            &["--commission 1", "from 0 to below 1"],
        ),
        case(
            "negative commission",
            &[
                "backtest",
                "ok.toml",
                "--data",
                &data,
                "--commission",
                "-0.1",
            ],
            1,
            &["--commission -0.1"],
        ),
        case(
            "cash not a number",
            &["backtest", "ok.toml", "--data", &data, "--cash", "lots"],
            1,
            &["--cash"],
        ),
        case(
            "bad sweep",
            &["backtest", "ok.toml", "--data", &data, "--sweep", "x"],
            1,
            &["x"],
        ),
        case(
            "serve --workers 0",
            &["serve", "--workers", "0"],
            1,
            &["--workers"],
        ),
        case(
            "serve --cors-origin *",
            &["serve", "--cors-origin", "*"],
            1,
            &["--cors-origin *: expected an origin"],
        ),
        case(
            "serve --cors-origin with a path",
            &["serve", "--cors-origin", "https://app.example.com/x"],
            1,
            &["--cors-origin"],
        ),
        case(
            "serve --token-file missing",
            &[
                "serve",
                "--bind",
                "127.0.0.1:0",
                "--token-file",
                "no-such-tokens",
            ],
            1,
            &["--token-file no-such-tokens: cannot read"],
        ),
        // Bad files: the file, the line, the field, what is expected.
        case(
            "strategy field of the wrong type",
            &["backtest", "five.toml", "--data", &data],
            1,
            &[
                "five.toml:5",
                "`[risk] stop_loss_pct` must be a number of percent, like 5.0; found the text \"five\"",
            ],
        ),
        case(
            "strategy file missing",
            &["backtest", "none.toml", "--data", &data],
            1,
            &["none.toml: cannot read"],
        ),
        case(
            "data file missing",
            &["backtest", "ok.toml", "--data", "none.csv"],
            1,
            &["none.csv"],
        ),
        case(
            "data row high below low",
            &["backtest", "ok.toml", "--data", "bad.csv"],
            1,
            &["bad.csv:3", "High 0.4 is below Low 0.5"],
        ),
        case(
            "eval expression",
            &["eval", "--data", &data, "rsi(close)"],
            1,
            &["expression 1", "rsi takes 2 arguments"],
        ),
        case(
            "sim config",
            &["sim", "--config", "sim.toml"],
            1,
            &["sim.toml"],
        ),
        case(
            "serve bind",
            &["serve", "--bind", "nowhere"],
            1,
            &["--bind nowhere"],
        ),
        case(
            "keys.json field",
            &["keys", "health"],
            1,
            &["bad-keys.json", "keys[0].rpm"],
        )
        .env("ENABLE_KEY_ROTATION", "true")
        .env("KEYS_FILE", "bad-keys.json")
        .env("GEMINI_KEY_a", "test-key-exit-0001"),
        case(
            "a variable of the wrong form",
            &["keys", "health"],
            1,
            &["ENABLE_KEY_ROTATION"],
        )
        .env("ENABLE_KEY_ROTATION", "perhaps"),
        // Nothing configured for a command that needs keys.
        case(
            "keys check without keys",
            &["keys", "check"],
            1,
            &["no keys configured: set GEMINI_API_KEY"],
        ),
        case(
            "generate --provider gemini without keys",
            &["generate", "buy when rsi < 30", "--provider", "gemini"],
            1,
            &["no keys configured"],
        ),
        case(
            "keys reload without an admin token",
            &["keys", "reload"],
            1,
            &["BOTFORGE_ADMIN_TOKEN"],
        ),
        // An idea that cannot be expressed.
        case(
            "offline vague idea",
            &["generate", "buy low, sell high", "--provider", "offline"],
            1,
            &["\"low\""],
        ),
        // Upstream, the pool, the network: 2.
        case(
            "keys check, upstream unreachable",
            &["keys", "check"],
            2,
            &["GEMINI_API_KEY", "cannot connect"],
        )
        .env("GEMINI_API_KEY", "test-key-exit-0002")
        .env("GEMINI_BASE_URL", &dead),
        // Issue 30: the wait for a whole answer is a whole number of seconds, named when not.
        case(
            "serve, a bad BOTFORGE_ANSWER_TIMEOUT",
            &["serve", "--bind", "127.0.0.1:0"],
            1,
            &["BOTFORGE_ANSWER_TIMEOUT=ten", "whole number of seconds"],
        )
        .env("GEMINI_API_KEY", "test-key-exit-0004")
        .env("BOTFORGE_ANSWER_TIMEOUT", "ten"),
        case(
            "generate, a bad BOTFORGE_ANSWER_TIMEOUT",
            &[
                "generate",
                "buy when rsi < 30",
                "--provider",
                "gemini",
                "--name",
                "Slow",
            ],
            1,
            &["BOTFORGE_ANSWER_TIMEOUT=0", "whole number of seconds"],
        )
        .env("GEMINI_API_KEY", "test-key-exit-0005")
        .env("BOTFORGE_ANSWER_TIMEOUT", "0"),
        case(
            "generate, upstream unreachable",
            &[
                "generate",
                "buy when rsi < 30",
                "--provider",
                "gemini",
                "--name",
                "Down",
            ],
            2,
            &["connect"],
        )
        .env("GEMINI_API_KEY", "test-key-exit-0003")
        .env("GEMINI_BASE_URL", &dead),
        case(
            "keys reload, gateway unreachable",
            &["keys", "reload", "--server", &dead],
            2,
            &["cannot reach the gateway"],
        )
        .env("BOTFORGE_ADMIN_TOKEN", "admin-exit"),
        case(
            "vault unreachable",
            &["keys", "health"],
            2,
            &["vault at", "unreachable", "VAULT_ADDR"],
        )
        .env("SECRET_STORE_TYPE", "vault")
        .env("VAULT_ADDR", &dead)
        .env("VAULT_TOKEN", "t"),
    ];
    for c in cases {
        let args: Vec<&str> = c.args.iter().map(String::as_str).collect();
        let env: Vec<(&str, &str)> = c.env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let out = botforge(d, &args, &env);
        let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
        assert_eq!(
            out.status.code(),
            Some(c.code),
            "{}: {args:?}\nstdout: {stdout}\nstderr: {stderr}",
            c.what
        );
        // Errors speak on stderr; `keys check` reports each key's probe in its table.
        let said = if c.code == 0 || c.args[0] == "keys" && c.args[1] == "check" {
            format!("{stdout}{stderr}")
        } else {
            stderr.clone()
        };
        for s in &c.says {
            assert!(said.contains(s), "{}: wanted {s:?} in:\n{said}", c.what);
        }
        if c.code != 0 {
            assert!(!stderr.contains("panicked"), "{}: {stderr}", c.what);
        }
    }
    assert!(
        !d.join("codes").exists(),
        "no failing generate wrote a file"
    );
}
