//! `SECRET_STORE_TYPE=aws` against moto's Secrets Manager (`moto[server]` from the CI venv),
//! reached through the endpoint override like `LocalStack` or a VPC endpoint would be.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::config::{BehaviorVersion, Credentials, Region};
use keypool::{Environment, KeySource};
use secrets::{Cached, SecretsError, Store};

use crate::{free_port, venv_tool};

struct Moto {
    child: Child,
    endpoint: String,
    admin: Client,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Moto {
    /// `enforce_auth`: moto checks credentials against its IAM (no user exists, so every call
    /// is refused), as a real account refuses unknown or unauthorised credentials.
    async fn start(enforce_auth: bool) -> Option<Moto> {
        let bin = venv_tool("moto_server")?;
        let port = free_port();
        let endpoint = format!("http://127.0.0.1:{port}");
        let mut cmd = Command::new(bin);
        if enforce_auth {
            cmd.env("INITIAL_NO_AUTH_ACTION_COUNT", "0");
        }
        let child = cmd
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let conf = aws_sdk_secretsmanager::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .endpoint_url(&endpoint)
            .credentials_provider(Credentials::new("testing", "testing", None, None, "test"))
            .build();
        let mut moto = Moto {
            child,
            endpoint,
            admin: Client::from_conf(conf),
        };
        for _ in 0..300 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return Some(moto);
            }
            if let Ok(Some(status)) = moto.child.try_wait() {
                panic!("moto_server exited: {status}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("moto_server did not start on {}", moto.endpoint);
    }

    async fn create(&self, name: &str, value: &str) {
        self.admin
            .create_secret()
            .name(name)
            .secret_string(value)
            .send()
            .await
            .unwrap();
    }

    fn env(&self, extra: &[(&str, &str)]) -> Environment {
        let mut pairs: Vec<(String, String)> = [
            ("SECRET_STORE_TYPE", "aws"),
            ("AWS_REGION", "us-east-1"),
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        pairs.push(("AWS_ENDPOINT_URL".to_owned(), self.endpoint.clone()));
        pairs.extend(
            extra
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        Environment::from_pairs(pairs)
    }
}

fn no_values(text: &str) {
    assert!(!text.contains("aws-material"), "a secret leaked: {text}");
}

#[tokio::test]
async fn reads_the_json_object_and_picks_up_a_rotation() {
    let Some(moto) = Moto::start(false).await else {
        return;
    };
    moto.create(
        "botforge/gemini",
        r#"{"GEMINI_KEY_a1": "aws-material-one", "GEMINI_API_KEY": "aws-material-fallback"}"#,
    )
    .await;
    let store = Store::from_env(&moto.env(&[])).unwrap();
    assert_eq!(store.kind(), "aws");
    let cached = Cached::start(store, Duration::from_secs(300))
        .await
        .unwrap();
    let snap = cached.get().await;
    assert_eq!(snap.names(), ["GEMINI_API_KEY", "GEMINI_KEY_a1"]);
    assert_eq!(
        snap.material("GEMINI_KEY_a1").unwrap().expose(),
        "aws-material-one"
    );
    no_values(&format!("{snap:?} {cached:?}"));

    // Rotation: a new version of the secret, seen on the next reload.
    moto.admin
        .put_secret_value()
        .secret_id("botforge/gemini")
        .secret_string(
            r#"{"GEMINI_KEY_a1": "aws-material-rotated", "GEMINI_API_KEY": "aws-material-fallback"}"#,
        )
        .send()
        .await
        .unwrap();
    let (now, changed) = cached.reload().await.unwrap();
    assert_eq!(changed, ["GEMINI_KEY_a1"]);
    assert_eq!(
        now.material("GEMINI_KEY_a1").unwrap().expose(),
        "aws-material-rotated"
    );

    // A custom secret id, by name.
    moto.create("team/other", r#"{"GEMINI_KEY_b": "aws-material-b"}"#)
        .await;
    let snap = Store::from_env(&moto.env(&[("AWS_SECRET_ID", "team/other")]))
        .unwrap()
        .fetch()
        .await
        .unwrap();
    assert_eq!(snap.names(), ["GEMINI_KEY_b"]);
}

#[tokio::test]
async fn failures_name_the_store_and_the_secret_and_never_a_value() {
    let Some(moto) = Moto::start(false).await else {
        return;
    };
    let missing = Store::from_env(&moto.env(&[("AWS_SECRET_ID", "botforge/none")]))
        .unwrap()
        .fetch()
        .await
        .unwrap_err();
    assert!(matches!(missing, SecretsError::Missing { .. }), "{missing}");
    let m = missing.to_string();
    assert!(m.contains("aws has no secret at botforge/none"), "{m}");
    assert!(m.contains("AWS_SECRET_ID"), "{m}");

    moto.create("botforge/plain", "aws-material-not-json").await;
    moto.create(
        "botforge/nested",
        r#"{"GEMINI_KEY_x": {"v": "aws-material-x"}}"#,
    )
    .await;
    for (id, says) in [
        ("botforge/plain", "not a JSON object"),
        (
            "botforge/nested",
            "field `GEMINI_KEY_x` that is not a string",
        ),
    ] {
        let e = Store::from_env(&moto.env(&[("AWS_SECRET_ID", id)]))
            .unwrap()
            .fetch()
            .await
            .unwrap_err();
        let m = e.to_string();
        assert!(m.contains(says) && m.contains(id), "{m}");
        no_values(&m);
    }

    let port = free_port();
    let started = tokio::time::Instant::now();
    let gone = Store::from_env(&Environment::from_pairs([
        ("SECRET_STORE_TYPE", "aws"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        (
            "AWS_ENDPOINT_URL",
            format!("http://127.0.0.1:{port}").as_str(),
        ),
    ]))
    .unwrap()
    .fetch()
    .await
    .unwrap_err();
    assert!(matches!(gone, SecretsError::Unreachable { .. }), "{gone}");
    assert!(gone.to_string().contains("AWS_ENDPOINT_URL"), "{gone}");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "fails in bounded time"
    );

    for (vars, says) in [
        (
            vec![("SECRET_STORE_TYPE", "aws"), ("AWS_ACCESS_KEY_ID", "x")],
            "go together",
        ),
        (
            vec![
                ("SECRET_STORE_TYPE", "aws"),
                ("AWS_ENDPOINT_URL", "localhost:1"),
            ],
            "must start with http",
        ),
    ] {
        let e = Store::from_env(&Environment::from_pairs(vars)).unwrap_err();
        assert!(e.to_string().contains(says), "{e}");
    }
    let locked = Moto::start(true).await.unwrap();
    let denied = Store::from_env(&locked.env(&[]))
        .unwrap()
        .fetch()
        .await
        .unwrap_err();
    assert!(matches!(denied, SecretsError::Denied { .. }), "{denied}");
    let m = denied.to_string();
    assert!(m.contains("aws denied access to botforge/gemini"), "{m}");
    assert!(m.contains("secretsmanager:GetSecretValue"), "{m}");

    let debug = format!(
        "{:?}",
        Store::from_env(&moto.env(&[("AWS_SECRET_ACCESS_KEY", "aws-material-credential")]))
            .unwrap()
    );
    no_values(&debug);
}
