//! Secret stores from the command line: `keys reload` and the refresh timer of a running
//! gateway, and `keys health` reading AWS Secrets Manager (moto) and Azure Key Vault (the TLS
//! mock) as README describes.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::{Listening, botforge, listening, text};

const ADMIN: &str = "cli-admin-token";
const TOKEN: &str = "cli-client-token";

/// `botforge serve` in `dir` (whose `.env` holds the keys), on a free port, with `extra` flags.
fn serve(dir: &Path, refresh: &str, extra: &[&str]) -> Listening {
    listening(
        Command::new(env!("CARGO_BIN_EXE_botforge"))
            .args(["serve", "--bind", "127.0.0.1:0", "--token", TOKEN])
            .args(["--refresh-keys", refresh])
            .args(extra)
            .current_dir(dir)
            .env_clear()
            .env("BOTFORGE_ADMIN_TOKEN", ADMIN),
    )
}

fn write_keys(dir: &Path, k1: &str) {
    std::fs::write(
        dir.join("keys.json"),
        r#"{"keys": [{"key_id": "k1"}, {"key_id": "k2"}]}"#,
    )
    .unwrap();
    std::fs::write(
        dir.join(".env"),
        format!("ENABLE_KEY_ROTATION=true\nGEMINI_KEY_k1={k1}\nGEMINI_KEY_k2=cli-material-k2\n"),
    )
    .unwrap();
}

async fn hint(base: &str, key_id: &str) -> String {
    let v: serde_json::Value = reqwest::Client::new()
        .get(format!("{base}/v1/keys/health"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["key_id"] == key_id)
        .unwrap()["key_hint"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn keys_reload_swaps_rotated_material_into_a_running_gateway() {
    let dir = tempfile::tempdir().unwrap();
    write_keys(dir.path(), "cli-material-k1-old1");
    let gw = serve(dir.path(), "0", &[]);
    assert_eq!(hint(&gw.base, "k1").await, "…old1");

    write_keys(dir.path(), "cli-material-k1-new2");
    let base = gw.base.clone();
    let reload = |json: bool, token: Option<&str>| {
        let mut args = vec!["keys", "reload", "--server", base.as_str()];
        if json {
            args.push("--json");
        }
        let env: Vec<(&str, &str)> = token
            .map(|t| ("BOTFORGE_ADMIN_TOKEN", t))
            .into_iter()
            .collect();
        botforge(dir.path(), &args, &env)
    };
    let no_token = reload(false, None);
    assert_eq!(no_token.status.code(), Some(1));
    assert!(
        text(&no_token.stderr).contains("needs BOTFORGE_ADMIN_TOKEN"),
        "{}",
        text(&no_token.stderr)
    );
    let wrong = reload(false, Some(TOKEN));
    assert_eq!(wrong.status.code(), Some(1));
    assert!(text(&wrong.stderr).contains("refused BOTFORGE_ADMIN_TOKEN"));

    let out = reload(false, Some(ADMIN));
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        stdout.contains("store") && stdout.contains("env"),
        "{stdout}"
    );
    let rotated = stdout.lines().find(|l| l.starts_with("rotated")).unwrap();
    assert!(rotated.ends_with("k1"), "{stdout}");
    assert!(!stdout.contains("cli-material"), "{stdout}");
    assert_eq!(hint(&gw.base, "k1").await, "…new2");

    let again = reload(true, Some(ADMIN));
    let v: serde_json::Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(v["rotated"], serde_json::json!([]));

    drop(gw);
    let gone = reload(false, Some(ADMIN));
    assert_eq!(gone.status.code(), Some(2));
    assert!(text(&gone.stderr).contains("is `botforge serve` running"));
}

#[tokio::test]
async fn a_serving_gateway_reloads_keys_on_its_timer() {
    let dir = tempfile::tempdir().unwrap();
    write_keys(dir.path(), "cli-material-k1-old1");
    // On the single-threaded runtime: the timer is a task beside the requests.
    let gw = serve(dir.path(), "1", &["--workers", "1"]);
    assert_eq!(hint(&gw.base, "k1").await, "…old1");
    write_keys(dir.path(), "cli-material-k1-new2");
    let mut seen = String::new();
    for _ in 0..50 {
        seen = hint(&gw.base, "k1").await;
        if seen == "…new2" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(seen, "…new2", "picked up within a few ticks");
}

/// A program from the CI venv; `None` outside CI without it.
fn venv_tool(name: &str) -> Option<PathBuf> {
    super::python().map(|python| PathBuf::from(python).with_file_name(name))
}

/// The key ids in `keys health --json` output.
fn key_ids(stdout: &str) -> Vec<String> {
    let v: serde_json::Value = serde_json::from_str(stdout).unwrap();
    v["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["key_id"].as_str().unwrap().to_owned())
        .collect()
}

/// `botforge keys health --json` in `dir` with `env` lists exactly `ids`, and no output holds
/// any of `secrets`; `store` (the process serving the secret store) is stopped either way.
pub(crate) fn health_lists(
    dir: &Path,
    env: &[(&str, &str)],
    store: &mut std::process::Child,
    ids: &[&str],
    secrets: &[&str],
) {
    let out = botforge(dir, &["keys", "health", "--json"], env);
    let _ = store.kill();
    let _ = store.wait();
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(key_ids(&stdout), ids);
    for secret in secrets {
        assert!(
            !stdout.contains(secret) && !stderr.contains(secret),
            "{secret} leaked"
        );
    }
}

/// `SECRET_STORE_TYPE=aws botforge keys health` against moto's Secrets Manager.
#[cfg(feature = "aws")]
#[tokio::test]
async fn keys_health_reads_the_keys_from_aws() {
    let (Some(moto), Some(python)) = (venv_tool("moto_server"), venv_tool("python")) else {
        return;
    };
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let endpoint = format!("http://127.0.0.1:{port}");
    let mut child = Command::new(moto)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut created = false;
    for _ in 0..100 {
        let out = Command::new(&python)
            .arg("-c")
            .arg(format!(
                "import boto3; boto3.client('secretsmanager', endpoint_url='{endpoint}', region_name='us-east-1', aws_access_key_id='t', aws_secret_access_key='t').create_secret(Name='botforge/gemini', SecretString='{{\"GEMINI_KEY_ak1\": \"aws-cli-material-1\", \"GEMINI_KEY_ak2\": \"aws-cli-material-2\"}}')"
            ))
            .output()
            .unwrap();
        if out.status.success() {
            created = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(created, "moto did not take the secret");
    let dir = tempfile::tempdir().unwrap();
    let env = [
        ("SECRET_STORE_TYPE", "aws"),
        ("AWS_ENDPOINT_URL", endpoint.as_str()),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "t"),
        ("AWS_SECRET_ACCESS_KEY", "t"),
        ("ENABLE_KEY_ROTATION", "true"),
    ];
    health_lists(
        dir.path(),
        &env,
        &mut child,
        &["ak1", "ak2"],
        &["aws-cli-material"],
    );
}

/// `SECRET_STORE_TYPE=azure botforge keys health` against the Key Vault TLS mock.
#[cfg(feature = "azure")]
#[tokio::test]
async fn keys_health_reads_the_keys_from_azure() {
    let Some(python) = venv_tool("python") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let secrets = dir.path().join("vault.json");
    std::fs::write(
        &secrets,
        r#"{"GEMINI-KEY-az-1": "azure-cli-material-1", "GEMINI-KEY-az-2": "azure-cli-material-2"}"#,
    )
    .unwrap();
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/python/azure_keyvault_mock.py");
    let mut child = Command::new(python)
        .arg(script)
        .arg("--dir")
        .arg(dir.path())
        .arg("--secrets")
        .arg(&secrets)
        .arg("--log")
        .arg(dir.path().join("log.jsonl"))
        .args([
            "--tenant",
            "t-1",
            "--client-id",
            "c-1",
            "--client-secret",
            "azure-cli-secret",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let words: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(words.first(), Some(&"READY"), "{line}");
    let url = format!("https://127.0.0.1:{}", words[1]);
    let env = [
        ("SECRET_STORE_TYPE", "azure"),
        ("AZURE_KEYVAULT_URL", url.as_str()),
        ("AZURE_AUTHORITY_HOST", url.as_str()),
        ("AZURE_TENANT_ID", "t-1"),
        ("AZURE_CLIENT_ID", "c-1"),
        ("AZURE_CLIENT_SECRET", "azure-cli-secret"),
        ("AZURE_KEYVAULT_VERIFY_CHALLENGE", "false"),
        ("SECRET_STORE_CA_FILE", words[2]),
        ("ENABLE_KEY_ROTATION", "true"),
    ];
    health_lists(
        dir.path(),
        &env,
        &mut child,
        &["az_1", "az_2"],
        &["azure-cli-material", "azure-cli-secret"],
    );
}
