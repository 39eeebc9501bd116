//! Issue 31: the original system's quick start works word for word: its `.env` and
//! `keys.json` (every key naming its model, the pro key `gemini-2.5-pro`, `GEMINI_API_KEY` as
//! the last fallback) generate through the `flash_*` keys with `gemini-2.5-flash`, and the
//! fallback key is used only after the pool failed.

use crate::{VALID_REPLY, botforge, reqwest_stats, start_sim, text};

/// The original template's `keys.json`.
const KEYS_JSON: &str = r#"{
  "keys": [
    { "key_id": "flash_01", "model_name": "gemini-2.5-flash", "provider": "gemini",
      "rpm": 10, "tpm": 250000, "rpd": 250, "project": "proj-a", "active": true },
    { "key_id": "flash_02", "model_name": "gemini-2.5-flash", "provider": "gemini",
      "rpm": 10, "tpm": 250000, "rpd": 250, "project": "proj-b", "active": true },
    { "key_id": "pro_01", "model_name": "gemini-2.5-pro", "provider": "gemini",
      "rpm": 5, "tpm": 250000, "rpd": 100, "project": "proj-c", "active": true }
  ]
}
"#;

/// The simulator: the three pool keys and the single key, each its own project.
fn sim_toml(flash_state: &str) -> String {
    format!(
        r#"
[[keys]]
id = "flash_01"
key = "qs-material-flash-01"
project = "proj-a"
state = "{flash_state}"
[[keys]]
id = "flash_02"
key = "qs-material-flash-02"
project = "proj-b"
state = "{flash_state}"
[[keys]]
id = "pro_01"
key = "qs-material-pro-01"
project = "proj-c"
[[keys]]
id = "single"
key = "qs-material-single"
project = "proj-d"
[[replies]]
json = {VALID_REPLY}
"#
    )
}

/// The original template's `.env`, pointed at the simulator.
fn dotenv(base: &str) -> String {
    format!(
        "GEMINI_API_KEY=qs-material-single\nENABLE_KEY_ROTATION=true\nGEMINI_KEY_flash_01=qs-material-flash-01\nGEMINI_KEY_flash_02=qs-material-flash-02\nGEMINI_KEY_pro_01=qs-material-pro-01\nGEMINI_BASE_URL={base}\n"
    )
}

/// `generate IDEA --json --name NAME [extra…]` in `dir`: it succeeds; its JSON document.
fn generate_json(
    dir: &std::path::Path,
    idea: &str,
    name: &str,
    extra: &[&str],
    env: &[(&str, &str)],
) -> serde_json::Value {
    let mut args = vec!["generate", idea, "--json", "--name", name];
    args.extend_from_slice(extra);
    let out = botforge(dir, &args, env);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn the_original_quick_start_generates_through_the_flash_keys() {
    let dir = tempfile::tempdir().unwrap();
    let sim = start_sim(dir.path(), &sim_toml("valid"));
    std::fs::write(dir.path().join(".env"), dotenv(&sim.base)).unwrap();
    std::fs::write(dir.path().join("keys.json"), KEYS_JSON).unwrap();
    for i in 0..3 {
        let name = format!("Quick{i}");
        let v = generate_json(
            dir.path(),
            "buy when RSI(14) < 30, sell when RSI > 70",
            &name,
            &[],
            &[],
        );
        assert_eq!(v["model"], "gemini-2.5-flash", "{v}");
        let key = v["key_id"].as_str().unwrap();
        assert!(key.starts_with("flash_"), "served by {key}");
    }
    let stats = reqwest_stats(&sim.base);
    assert!(
        stats["keys"]["single"].is_null(),
        "the fallback key was used: {stats}"
    );
    assert!(
        stats["keys"]["pro_01"].is_null(),
        "a pro key served flash: {stats}"
    );

    // BOTFORGE_MODEL (here from the environment) and --model override the pool's own model.
    let v = generate_json(
        dir.path(),
        "buy when RSI(14) < 30",
        "ProRun",
        &[],
        &[("BOTFORGE_MODEL", "gemini-2.5-pro")],
    );
    assert_eq!(
        (v["model"].as_str(), v["key_id"].as_str()),
        (Some("gemini-2.5-pro"), Some("pro_01"))
    );
    let v = generate_json(
        dir.path(),
        "buy when RSI(14) < 30",
        "ProFlag",
        &["--model", "models/gemini-2.5-pro"],
        &[],
    );
    assert_eq!(v["key_id"], "pro_01");
}

#[test]
fn the_fallback_key_serves_only_after_the_pool_failed() {
    let dir = tempfile::tempdir().unwrap();
    // Both flash keys are revoked upstream: the pool fails, then GEMINI_API_KEY serves.
    let sim = start_sim(dir.path(), &sim_toml("revoked"));
    std::fs::write(dir.path().join(".env"), dotenv(&sim.base)).unwrap();
    std::fs::write(dir.path().join("keys.json"), KEYS_JSON).unwrap();
    let v = generate_json(
        dir.path(),
        "buy when RSI(14) < 30, sell when RSI > 70",
        "Fallback",
        &[],
        &[],
    );
    assert_eq!(v["model"], "gemini-2.5-flash");
    assert_eq!(v["key_id"], "GEMINI_API_KEY");
    let stats = reqwest_stats(&sim.base);
    for k in ["flash_01", "flash_02"] {
        assert!(
            stats["keys"][k]["requests"].as_u64().unwrap() >= 1,
            "{k} was tried first: {stats}"
        );
    }
    assert_eq!(stats["keys"]["single"]["successes"], 1, "{stats}");
}

/// The rough edges a new user hit (issue 31), each with its exit code and message.
mod edges {
    use crate::{botforge, text};

    const RSI_ONLY_ENTRY: &str = "name = \"Dips\"\n[indicators]\nrsi = \"rsi(close, 14)\"\n[rules]\nentry_long = \"rsi < 30\"\n";

    fn dir_with(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (name, body) in files {
            std::fs::write(dir.path().join(name), body).unwrap();
        }
        dir
    }

    /// No message is printed twice in one line (`{e}: {e}` chains).
    fn once(stderr: &str) {
        for line in stderr.lines() {
            let parts: Vec<&str> = line.split(": ").filter(|p| p.len() > 20).collect();
            for (i, p) in parts.iter().enumerate() {
                assert!(!parts[i + 1..].contains(p), "repeated in: {line}");
            }
        }
    }

    #[test]
    fn backtest_without_data_uses_the_bundled_sample_and_says_so() {
        let dir = dir_with(&[("dips.toml", RSI_ONLY_ENTRY)]);
        let out = botforge(dir.path(), &["backtest", "dips.toml"], &[]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        assert!(
            text(&out.stderr).contains("no --data: backtesting on the bundled sample GOOG.csv")
        );
        let stdout = text(&out.stdout);
        assert!(stdout.starts_with("Start "), "{stdout}");
        // An entry with no exit ends with a trade open: said after the statistics.
        let note = stdout.lines().last().unwrap();
        assert!(
            note.starts_with("1 trade still open since ")
                && note.contains("`--finalize` closes it"),
            "{note}"
        );
        let out = botforge(dir.path(), &["backtest", "dips.toml", "--json"], &[]);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["open_trades"].as_array().unwrap().len(), 1);
        let out = botforge(dir.path(), &["backtest", "dips.toml", "--finalize"], &[]);
        assert!(!text(&out.stdout).contains("still open"));
    }

    #[test]
    fn maximize_without_a_sweep_is_refused() {
        let dir = dir_with(&[("dips.toml", RSI_ONLY_ENTRY)]);
        let out = botforge(
            dir.path(),
            &["backtest", "dips.toml", "--maximize", "sqn"],
            &[],
        );
        assert_eq!(out.status.code(), Some(1));
        let err = text(&out.stderr);
        assert!(
            err.contains("--maximize sqn") && err.contains("--sweep NAME=FROM..TO:STEP"),
            "{err}"
        );
    }

    #[test]
    fn a_keys_file_of_another_shape_names_the_shape_expected() {
        let dir = dir_with(&[("keys.json", r#"[{"key_id": "flash_01"}]"#)]);
        let out = botforge(
            dir.path(),
            &["keys", "health"],
            &[
                ("ENABLE_KEY_ROTATION", "true"),
                ("GEMINI_KEY_flash_01", "qs-material-xyz"),
            ],
        );
        assert_eq!(out.status.code(), Some(1));
        let err = text(&out.stderr);
        assert!(
            err.contains(r#"expected one JSON object with a list of keys, {"keys": ["#),
            "{err}"
        );
        assert!(err.contains("found a list"), "{err}");
        once(&err);
    }

    #[test]
    fn data_files_empty_or_from_binance() {
        let binance = "1735689600000,93576.00000000,94509.42000000,93489.03000000,94401.14000000,1060.06845000,1735693199999,99709095.62880940,152893,546.14913000,51381211.05396970,0\n\
                       1735693200000,94401.13000000,94408.39000000,93976.00000000,94114.34000000,551.64004000,1735696799999,52003216.66700180,111693,279.48264000,26346931.01855500,0\n";
        let with_header = format!(
            "open_time,open,high,low,close,volume,close_time,quote_volume,count,taker_buy_volume,taker_buy_quote_volume,ignore\n{binance}"
        );
        let dir = dir_with(&[
            ("empty.csv", ""),
            ("klines.csv", binance),
            ("klines_h.csv", &with_header),
        ]);
        let out = botforge(dir.path(), &["data", "check", "empty.csv"], &[]);
        assert_eq!(out.status.code(), Some(1));
        assert!(
            text(&out.stderr).contains("empty.csv:1: the file is empty"),
            "{}",
            text(&out.stderr)
        );
        for file in ["klines.csv", "klines_h.csv"] {
            let out = botforge(dir.path(), &["data", "check", file, "--json"], &[]);
            assert_eq!(out.status.code(), Some(0), "{file}: {}", text(&out.stderr));
            let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            assert_eq!(v["rows"], 2, "{file}: {v}");
            assert_eq!(v["first"], "2025-01-01 00:00:00", "{file}: {v}");
        }
        let out = botforge(dir.path(), &["eval", "--data", "klines.csv", "close"], &[]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        assert!(text(&out.stdout).contains("94401.14"));
    }

    #[test]
    fn unknown_functions_get_a_did_you_mean_from_the_language() {
        for (written, hint) in [
            ("sam(close, 10)", "`sma`"),
            (
                "RSI(close, 14)",
                "did you mean `rsi`? function names are lowercase",
            ),
        ] {
            let toml = format!("name = \"X\"\n[rules]\nentry_long = \"{written} > 0\"\n");
            let dir = dir_with(&[("x.toml", &toml)]);
            let out = botforge(dir.path(), &["backtest", "x.toml"], &[]);
            assert_eq!(out.status.code(), Some(1));
            let err = text(&out.stderr);
            assert!(err.contains(hint), "{written}: {err}");
        }
    }

    #[test]
    fn generate_backtest_takes_the_backtest_flags_and_data_commands_take_date_format() {
        let dir = dir_with(&[(
            "d.csv",
            "Date,Open,High,Low,Close\n05.01.2024,1,2,0.5,1.5\n06.01.2024,1.5,2,1,1.8\n07.01.2024,1.8,2.2,1.6,2\n",
        )]);
        let out = botforge(
            dir.path(),
            &[
                "generate",
                "buy when RSI(14) < 30, sell when RSI > 70",
                "--backtest",
                "--cash",
                "5000",
                "--commission",
                "0",
                "--report",
                "r.html",
                "--trades",
                "t.csv",
            ],
            &[],
        );
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        assert!(text(&out.stdout).contains("(cash 5000, commission 0)"));
        assert!(dir.path().join("r.html").exists() && dir.path().join("t.csv").exists());
        let out = botforge(
            dir.path(),
            &[
                "generate",
                "buy when RSI < 30",
                "--name",
                "T2",
                "--trades",
                "t2.csv",
            ],
            &[],
        );
        assert_eq!(out.status.code(), Some(1));
        assert!(text(&out.stderr).contains("add --backtest"));
        let out = botforge(
            dir.path(),
            &[
                "eval",
                "--data",
                "d.csv",
                "close",
                "--date-format",
                "%d.%m.%Y",
            ],
            &[],
        );
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        assert!(
            text(&out.stdout).contains("2024-01-05"),
            "{}",
            text(&out.stdout)
        );
    }

    #[test]
    fn a_model_no_key_serves_is_said_once() {
        let dir = dir_with(&[(
            "keys.json",
            r#"{"keys": [{"key_id": "flash_01", "model_name": "gemini-2.5-flash"}]}"#,
        )]);
        let out = botforge(
            dir.path(),
            &[
                "generate",
                "buy when RSI < 30",
                "--provider",
                "gemini",
                "--model",
                "gemini-2.5-pro",
            ],
            &[
                ("ENABLE_KEY_ROTATION", "true"),
                ("GEMINI_KEY_flash_01", "qs-material-xyz"),
                ("GEMINI_BASE_URL", "http://127.0.0.1:9"),
            ],
        );
        assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
        let err = text(&out.stderr);
        assert_eq!(
            err.matches("no configured key serves model").count(),
            1,
            "{err}"
        );
        once(&err);
    }
}

/// With no closed trade the commissions are 0.00, not `-0.00` (an empty f64 sum is -0.0).
#[test]
fn no_closed_trade_means_zero_commissions_not_negative_zero() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("hold.toml"),
        "name = \"Hold\"\n[rules]\nentry_long = \"close > 0\"\n",
    )
    .unwrap();
    let out = crate::botforge(dir.path(), &["backtest", "hold.toml"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", crate::text(&out.stderr));
    let stdout = crate::text(&out.stdout);
    let line = stdout
        .lines()
        .find(|l| l.starts_with("Commissions [$]"))
        .unwrap();
    assert!(line.ends_with(" 0.00"), "{line}");
}
