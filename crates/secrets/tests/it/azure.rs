//! `SECRET_STORE_TYPE=azure` through the official SDK against `tests/python/azure_keyvault_mock.py`:
//! TLS with its own CA (`SECRET_STORE_CA_FILE`), the Entra ID token endpoint
//! (`AZURE_AUTHORITY_HOST`), Key Vault's 401 challenge, paged listing, disabled secrets.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::Duration;

use keypool::{Environment, KeySource};
use secrets::{Cached, SecretsError, Store};
use serde_json::Value;

const TENANT: &str = "7f0c1e2d-0000-4000-8000-000000000001";
const CLIENT: &str = "botforge-reader";
const DENIED_CLIENT: &str = "botforge-no-access";
const CLIENT_SECRET: &str = "azure-material-client-secret";

struct KeyVault {
    child: Child,
    _stdin: ChildStdin,
    url: String,
    ca: PathBuf,
    secrets: PathBuf,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for KeyVault {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn python() -> Option<PathBuf> {
    crate::venv_tool("python")
}

impl KeyVault {
    fn start(secrets: &Value) -> Option<KeyVault> {
        let python = python()?;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("secrets.json");
        std::fs::write(&file, secrets.to_string()).unwrap();
        let log = dir.path().join("requests.jsonl");
        let script =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/python/azure_keyvault_mock.py");
        let mut child = Command::new(python)
            .arg(script)
            .arg("--dir")
            .arg(dir.path())
            .arg("--secrets")
            .arg(&file)
            .arg("--log")
            .arg(&log)
            .args(["--tenant", TENANT, "--client-id", CLIENT])
            .args([
                "--client-secret",
                CLIENT_SECRET,
                "--denied-client",
                DENIED_CLIENT,
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let mut words = line.split_whitespace();
        assert_eq!(
            words.next(),
            Some("READY"),
            "the mock did not start: {line}"
        );
        let port = words.next().unwrap().to_owned();
        let ca = PathBuf::from(words.next().unwrap());
        Some(KeyVault {
            child,
            _stdin: stdin,
            url: format!("https://127.0.0.1:{port}"),
            ca,
            secrets: file,
            log,
            _dir: dir,
        })
    }

    fn env(&self, extra: &[(&str, &str)]) -> Environment {
        let mut pairs: Vec<(String, String)> = vec![
            ("SECRET_STORE_TYPE".into(), "azure".into()),
            ("AZURE_KEYVAULT_URL".into(), self.url.clone()),
            ("AZURE_AUTHORITY_HOST".into(), self.url.clone()),
            ("AZURE_TENANT_ID".into(), TENANT.into()),
            ("AZURE_CLIENT_ID".into(), CLIENT.into()),
            ("AZURE_CLIENT_SECRET".into(), CLIENT_SECRET.into()),
            ("AZURE_KEYVAULT_VERIFY_CHALLENGE".into(), "false".into()),
            ("SECRET_STORE_CA_FILE".into(), self.ca.display().to_string()),
        ];
        for (k, v) in extra {
            pairs.retain(|(n, _)| n != k);
            pairs.push(((*k).to_owned(), (*v).to_owned()));
        }
        Environment::from_pairs(pairs)
    }

    fn requests(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

fn no_values(text: &str) {
    assert!(!text.contains("azure-material"), "a secret leaked: {text}");
}

fn vault_contents() -> Value {
    serde_json::json!({
        "GEMINI-KEY-flash-01": "azure-material-one",
        "GEMINI-KEY-pro": "azure-material-two",
        "GEMINI-API-KEY": "azure-material-fallback",
        "GEMINI-KEY-old": {"value": "azure-material-old", "enabled": false},
        "database-password": "azure-material-not-ours",
        "prod-GEMINI-KEY-p1": "azure-material-prod",
    })
}

#[tokio::test]
async fn reads_every_key_through_the_challenge_and_picks_up_a_rotation() {
    let Some(kv) = KeyVault::start(&vault_contents()) else {
        return;
    };
    let store = Store::from_env(&kv.env(&[])).unwrap();
    assert_eq!(store.kind(), "azure");
    no_values(&format!("{store:?}"));
    let cached = Cached::start(store, Duration::from_secs(300))
        .await
        .unwrap();
    let snap = cached.get().await;
    // Disabled secrets and other applications' secrets are left alone; `-` maps back to `_`.
    assert_eq!(
        snap.names(),
        ["GEMINI_API_KEY", "GEMINI_KEY_flash_01", "GEMINI_KEY_pro"]
    );
    assert_eq!(
        snap.material("GEMINI_KEY_flash_01").unwrap().expose(),
        "azure-material-one"
    );
    no_values(&format!("{snap:?}"));

    // The documented flow: an unauthenticated first request, the 401 challenge, one token
    // request to Entra ID, then bearer requests; the listing takes several pages.
    let log = kv.requests();
    assert_eq!(log[0]["path"], "/secrets");
    assert_eq!(
        (log[0]["bearer"].as_bool(), log[0]["status"].as_u64()),
        (Some(false), Some(401))
    );
    assert_eq!(log[1]["path"], format!("/{TENANT}/oauth2/v2.0/token"));
    assert_eq!(log[1]["status"], 200);
    let after: Vec<&Value> = log[2..].iter().collect();
    assert!(
        after
            .iter()
            .all(|r| r["bearer"] == true && r["status"] == 200),
        "{log:?}"
    );
    let pages = after.iter().filter(|r| r["path"] == "/secrets").count();
    assert_eq!(pages, 3, "six secrets, two per page: {log:?}");
    assert_eq!(after.len() - pages, 3, "one GET per enabled key secret");

    // Rotation: the vault's value changes; reload sees it (with the cached token).
    let mut contents = vault_contents();
    contents["GEMINI-KEY-pro"] = "azure-material-two-rotated".into();
    std::fs::write(&kv.secrets, contents.to_string()).unwrap();
    let (now, changed) = cached.reload().await.unwrap();
    assert_eq!(changed, ["GEMINI_KEY_pro"]);
    assert_eq!(
        now.material("GEMINI_KEY_pro").unwrap().expose(),
        "azure-material-two-rotated"
    );
    let tokens = kv
        .requests()
        .iter()
        .filter(|r| r["path"].as_str().unwrap().ends_with("/token"))
        .count();
    assert_eq!(tokens, 1, "the token is cached");

    // A prefix selects one deployment's secrets.
    let snap = Store::from_env(&kv.env(&[("AZURE_KEYVAULT_SECRET_PREFIX", "prod-")]))
        .unwrap()
        .fetch()
        .await
        .unwrap();
    assert_eq!(snap.names(), ["GEMINI_KEY_p1"]);
}

#[tokio::test]
async fn failures_name_the_store_and_the_secret_and_never_a_value() {
    let Some(kv) = KeyVault::start(&vault_contents()) else {
        return;
    };
    let fetch = |extra: &[(&str, &str)]| {
        let store = Store::from_env(&kv.env(extra)).unwrap();
        async move { store.fetch().await.unwrap_err() }
    };

    let e = fetch(&[("AZURE_CLIENT_SECRET", "azure-material-wrong")]).await;
    assert!(matches!(e, SecretsError::Denied { .. }), "{e}");
    let m = e.to_string();
    assert!(
        m.contains("azure denied access") && m.contains("AZURE_CLIENT_SECRET"),
        "{m}"
    );
    no_values(&m);

    let e = fetch(&[("AZURE_CLIENT_ID", DENIED_CLIENT)]).await;
    assert!(matches!(e, SecretsError::Denied { .. }), "{e}");
    let m = e.to_string();
    assert!(
        m.contains("Key Vault Secrets User") && m.contains(DENIED_CLIENT),
        "{m}"
    );

    let e = fetch(&[("AZURE_KEYVAULT_SECRET_PREFIX", "staging-")]).await;
    assert!(matches!(e, SecretsError::Missing { .. }), "{e}");
    assert!(e.to_string().contains("staging-GEMINI-"), "{e}");

    // The challenge names vault.azure.net, not 127.0.0.1: with verification on, no token is sent.
    let e = fetch(&[("AZURE_KEYVAULT_VERIFY_CHALLENGE", "true")]).await;
    assert!(
        e.to_string().contains("AZURE_KEYVAULT_VERIFY_CHALLENGE"),
        "{e}"
    );

    // Our CA is not trusted without SECRET_STORE_CA_FILE.
    let mut env: Vec<(String, String)> = Vec::new();
    for n in kv.env(&[]).names() {
        if n != "SECRET_STORE_CA_FILE" {
            env.push((n.clone(), kv.env(&[]).get(&n).unwrap().to_owned()));
        }
    }
    let e = Store::from_env(&Environment::from_pairs(env))
        .unwrap()
        .fetch()
        .await
        .unwrap_err();
    assert!(matches!(e, SecretsError::Unreachable { .. }), "{e}");

    let port = crate::free_port();
    let gone = format!("https://127.0.0.1:{port}");
    let started = tokio::time::Instant::now();
    let e = fetch(&[("AZURE_KEYVAULT_URL", gone.as_str())]).await;
    assert!(matches!(e, SecretsError::Unreachable { .. }), "{e}");
    assert!(e.to_string().contains("AZURE_KEYVAULT_URL"), "{e}");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "fails in bounded time"
    );

    for (var, value, says) in [
        (
            "AZURE_KEYVAULT_URL",
            "http://127.0.0.1:1",
            "must start with https://",
        ),
        (
            "AZURE_KEYVAULT_SECRET_PREFIX",
            "a_b",
            "only letters, digits and -",
        ),
        ("AZURE_TENANT_ID", "", "needs AZURE_TENANT_ID"),
    ] {
        let e = Store::from_env(&kv.env(&[(var, value)])).unwrap_err();
        assert!(e.to_string().contains(says), "{e}");
    }
}
