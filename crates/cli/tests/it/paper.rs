//! `botforge run` as a user runs it: offline on the bundled sample, against `botforge
//! sim-exchange` over real sockets, killed with SIGKILL at seeded points and restarted, ended
//! with SIGTERM; bad input exits 1 with nothing written, a dead exchange exits 2.

#![expect(
    clippy::many_single_char_names,
    clippy::cast_possible_truncation,
    clippy::disallowed_methods,
    reason = "separate processes killed after real delays; d(ir), s(tatus), b(acktest), v(erify), e(xport): the test's short names; counts far below 2^32"
)]

use std::fmt::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::{botforge, listening, text};

const CROSS: &str = "name = \"cross\"\n[indicators]\nfast = \"sma(close, 5)\"\nslow = \"sma(close, 15)\"\n[rules]\nentry_long = \"crosses_above(fast, slow)\"\nexit_long = \"crosses_below(fast, slow)\"\nentry_short = \"crosses_below(fast, slow)\"\n[risk]\nstop_loss_pct = 0.4\n";

/// `n` one-minute bars of a seeded walk, written as a CSV file.
fn walk_csv(path: &Path, n: usize, seed: u64) {
    let bars = exchange_sim::walk(n, seed, 1_767_571_200_000, 60_000);
    let mut t = String::from("time,open,high,low,close,volume\n");
    for i in 0..bars.len() {
        let _ = writeln!(
            t,
            "{},{},{},{},{},{}",
            bars.time.at(i),
            bars.open[i],
            bars.high[i],
            bars.low[i],
            bars.close[i],
            bars.volume[i]
        );
    }
    std::fs::write(path, t).unwrap();
}

fn json(out: &std::process::Output) -> Value {
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn status(dir: &Path, run: &str) -> Value {
    json(&botforge(dir, &["run", "status", run, "--json"], &[]))
}

#[test]
fn a_replay_of_the_bundled_sample_runs_offline_and_equals_its_backtest() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("cross.toml"), CROSS).unwrap();
    let out = botforge(d, &["run", "cross.toml", "--replay", "--json"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let events: Vec<Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(events.iter().any(|e| e["event"] == "fill"));
    assert!(events.iter().any(|e| e["event"] == "trade"));
    let run = "runs/cross-sample-replay";
    let s = status(d, run);
    let b = json(&botforge(d, &["backtest", "cross.toml", "--json"], &[]));
    assert_eq!(
        s["trade_list"].as_array().unwrap().len(),
        b["trades"].as_u64().unwrap() as usize
    );
    let (se, be) = (
        s["equity"].as_f64().unwrap(),
        b["equity_final"].as_f64().unwrap(),
    );
    assert!((se - be).abs() < 1e-6, "{se} vs {be}");
    assert_eq!(s["bars"], 2148);
    let v = botforge(d, &["run", "verify", run], &[]);
    assert_eq!(v.status.code(), Some(0), "{}", text(&v.stderr));
    // Nothing more to play: the same command ends at once and changes no trade.
    let again = botforge(d, &["run", "cross.toml", "--replay"], &[]);
    assert_eq!(again.status.code(), Some(0), "{}", text(&again.stderr));
    assert_eq!(status(d, run)["trade_list"], s["trade_list"]);
}

/// Bad input exits 1 and a dead exchange 2; nothing is written for any of them.
fn bad_input_exits_1_and_a_dead_exchange_2(d: &Path, url: &str, env: &[(&str, &str)]) {
    for (what, args, says) in [
        (
            "unknown interval",
            vec!["--symbol", "BTCUSDT", "--interval", "2m"],
            "unknown interval `2m`",
        ),
        (
            "unknown symbol",
            vec!["--symbol", "NOPEUSDT", "--interval", "1m"],
            "NOPEUSDT",
        ),
    ] {
        let mut a = vec!["run", "cross.toml", "--endpoint", url];
        a.extend(args);
        let out = botforge(d, &a, env);
        assert_eq!(out.status.code(), Some(1), "{what}: {}", text(&out.stderr));
        assert!(
            text(&out.stderr).contains(says),
            "{what}: {}",
            text(&out.stderr)
        );
        assert!(!d.join("runs").exists(), "{what}: nothing is written");
    }
    let out = botforge(
        d,
        &[
            "run",
            "bad.toml",
            "--endpoint",
            url,
            "--symbol",
            "BTCUSDT",
            "--interval",
            "1m",
        ],
        env,
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("bad.toml"),
        "{}",
        text(&out.stderr)
    );
    assert!(!d.join("runs").exists());
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_url = format!("http://{}", dead.local_addr().unwrap());
    drop(dead);
    let out = botforge(
        d,
        &[
            "run",
            "cross.toml",
            "--endpoint",
            &dead_url,
            "--symbol",
            "BTCUSDT",
            "--interval",
            "1m",
        ],
        &[("BOTFORGE_RUN_START_RETRY_SECS", "1")],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains(&dead_url),
        "{}",
        text(&out.stderr)
    );
    assert!(!d.join("runs").exists());
}

/// `botforge sim-exchange` on `walk.csv` in `d`, with faults.
fn sim_exchange(d: &Path) -> crate::Listening {
    listening(
        Command::new(env!("CARGO_BIN_EXE_botforge"))
            .args([
                "sim-exchange",
                "--data",
                "walk.csv",
                "--symbol",
                "BTCUSDT",
                "--interval",
                "1m",
                "--speed",
                "25",
                "--start",
                "100",
                "--bind",
                "127.0.0.1:0",
                "--ping-secs",
                "0.2",
                "--faults",
                "drop_final=7,duplicate=5,disconnect=29",
            ])
            .current_dir(d)
            .env_clear(),
    )
}

#[test]
fn a_run_on_sim_exchange_equals_the_backtest_of_its_exported_bars_and_bad_input_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("cross.toml"), CROSS).unwrap();
    std::fs::write(
        d.join("bad.toml"),
        "name = \"bad\"\n[rules]\nentry_long = \"rsi(close) <\"\n",
    )
    .unwrap();
    walk_csv(&d.join("walk.csv"), 600, 3);
    let ex = sim_exchange(d);
    let url = ex.base.clone();
    let env = [("BOTFORGE_RUN_TICK_MS", "100")];
    bad_input_exits_1_and_a_dead_exchange_2(d, &url, &env);
    let out = botforge(
        d,
        &[
            "run",
            "cross.toml",
            "--endpoint",
            &url,
            "--symbol",
            "BTCUSDT",
            "--interval",
            "1m",
            "--warmup",
            "30",
            "--bars",
            "60",
            "--json",
            "--run-dir",
            "live",
        ],
        &env,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    for line in text(&out.stdout).lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        assert!(
            v["event"].is_string() && v["time"].as_str().unwrap().ends_with('Z'),
            "{line}"
        );
    }
    let s = status(d, "live");
    assert_eq!(s["bars"], 90);
    assert_eq!(s["mode"], "paper");
    assert!(
        s["feed"]["duplicates"].as_u64().unwrap() > 0,
        "{}",
        s["feed"]
    );
    let v = botforge(d, &["run", "verify", "live"], &[]);
    assert_eq!(v.status.code(), Some(0), "{}", text(&v.stderr));
    let e = botforge(d, &["run", "export", "live", "--csv", "bars.csv"], &[]);
    assert_eq!(e.status.code(), Some(0), "{}", text(&e.stderr));
    let live_from = s["live_from"].as_str().unwrap();
    let b = json(&botforge(
        d,
        &[
            "backtest",
            "cross.toml",
            "--data",
            "bars.csv",
            "--trade-from",
            live_from,
            "--json",
        ],
        &[],
    ));
    let (ours, theirs) = (
        s["trade_list"].as_array().unwrap(),
        b["trade_list"].as_array().unwrap(),
    );
    assert_eq!(ours.len(), theirs.len());
    assert!(!ours.is_empty(), "the run traded");
    for (o, t) in ours.iter().zip(theirs) {
        for k in [
            "entry_bar",
            "exit_bar",
            "entry_price",
            "exit_price",
            "size",
            "pnl",
            "exit_reason",
        ] {
            assert_eq!(o[k], t[k], "{k}: {o} vs {t}");
        }
    }
}

/// Journal bars and closed trades of a run directory.
fn outcome(d: &Path, run: &str) -> (Value, usize) {
    let s = status(d, run);
    (
        s["trade_list"].clone(),
        s["bars"].as_u64().unwrap() as usize,
    )
}

#[test]
fn sigkill_at_seeded_points_then_the_same_command_ends_as_the_uninterrupted_run() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("cross.toml"), CROSS).unwrap();
    walk_csv(&d.join("walk.csv"), 400, 8);
    let args = |run: &str| {
        vec![
            "run".to_owned(),
            "cross.toml".into(),
            "--replay".into(),
            "walk.csv".into(),
            "--warmup".into(),
            "20".into(),
            "--speed".into(),
            "400".into(),
            "--run-dir".into(),
            run.to_owned(),
        ]
    };
    let whole = botforge(
        d,
        &args("whole").iter().map(String::as_str).collect::<Vec<_>>(),
        &[],
    );
    assert_eq!(whole.status.code(), Some(0), "{}", text(&whole.stderr));
    let want = outcome(d, "whole");
    assert_eq!(want.1, 400);
    // Four SIGKILLs at seeded points (each after the journal grew), then the same command
    // runs to the end.
    let journal = d.join("killed").join("journal.jsonl");
    let mut x: u64 = 0x9e37_79b9;
    let mut kills = 0;
    let mut bars_before = 0;
    while kills < 4 {
        let mut child = Command::new(env!("CARGO_BIN_EXE_botforge"))
            .args(args("killed"))
            .current_dir(d)
            .env_clear()
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        // Wait for the journal to grow by a seeded number of bars, then kill at once.
        let more = 5 + usize::try_from(x % 60).unwrap();
        let t = Instant::now();
        loop {
            assert!(
                t.elapsed() < Duration::from_secs(30),
                "the run makes progress"
            );
            let bars = std::fs::read_to_string(&journal)
                .unwrap_or_default()
                .matches("\"kind\":\"bar\"")
                .count();
            if bars >= bars_before + more || child.try_wait().unwrap().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        if child.try_wait().unwrap().is_some() {
            break;
        }
        child.kill().unwrap();
        child.wait().unwrap();
        kills += 1;
        bars_before = std::fs::read_to_string(&journal)
            .unwrap_or_default()
            .matches("\"kind\":\"bar\"")
            .count();
    }
    assert_eq!(kills, 4, "the run ended before it was killed 4 times");
    assert!(bars_before < 400, "{bars_before}");
    let last = botforge(
        d,
        &args("killed")
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
        &[],
    );
    assert_eq!(last.status.code(), Some(0), "{}", text(&last.stderr));
    assert_eq!(outcome(d, "killed"), want, "after {kills} SIGKILLs");
    let v = botforge(d, &["run", "verify", "killed"], &[]);
    assert_eq!(v.status.code(), Some(0), "{}", text(&v.stderr));
}

#[test]
fn sigterm_finishes_the_bar_journals_a_shutdown_and_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("cross.toml"), CROSS).unwrap();
    walk_csv(&d.join("walk.csv"), 400, 8);
    let mut child = Command::new(env!("CARGO_BIN_EXE_botforge"))
        .args([
            "run",
            "cross.toml",
            "--replay",
            "walk.csv",
            "--speed",
            "50",
            "--run-dir",
            "r",
        ])
        .current_dir(d)
        .env_clear()
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(600));
    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let t = Instant::now();
    let st = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        assert!(t.elapsed() < Duration::from_secs(10), "ends within 10 s");
        std::thread::sleep(Duration::from_millis(10));
    };
    assert_eq!(st.code(), Some(0));
    let journal = std::fs::read_to_string(d.join("r/journal.jsonl")).unwrap();
    let last: Value = serde_json::from_str(journal.lines().last().unwrap()).unwrap();
    assert_eq!(last["kind"], "shutdown");
    assert_eq!(last["reason"], "signal");
    let bars = journal
        .lines()
        .filter(|l| l.contains("\"kind\":\"bar\""))
        .count();
    assert!(bars > 5 && bars < 400, "{bars}");
}

#[test]
fn a_metrics_address_that_cannot_be_bound_exits_1_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("cross.toml"), CROSS).unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let busy = taken.local_addr().unwrap().to_string();
    for addr in ["nope", busy.as_str()] {
        let out = botforge(
            d,
            &["run", "cross.toml", "--replay", "--metrics", addr],
            &[],
        );
        assert_eq!(out.status.code(), Some(1), "{addr}: {}", text(&out.stderr));
        assert!(
            text(&out.stderr).contains("--metrics"),
            "{}",
            text(&out.stderr)
        );
        assert!(!d.join("runs").exists(), "{addr}: nothing is written");
    }
}
