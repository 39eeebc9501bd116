//! No output ever contains key material: Debug, Display, JSON, errors and logs.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use keypool::{
    Environment, FailoverPolicy, KeyPool, ManualClock, Outcome, PoolConfig, RetryBudget,
    SelectRequest,
};

use crate::fixtures::{FLASH, KeysFile};

const CANARY: &str = "CANARY";

fn material(i: usize) -> String {
    format!("test-key-{CANARY}-{i:02}-middle-part-zz{i:02}")
}

fn assert_clean(what: &str, text: &str) {
    assert!(!text.contains(CANARY), "{what} leaks key material:\n{text}");
    assert!(
        !text.contains("middle-part"),
        "{what} leaks key material:\n{text}"
    );
}

#[derive(Clone, Default)]
struct Buf(Arc<Mutex<Vec<u8>>>);

impl Write for Buf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn no_output_contains_key_material() {
    let file = KeysFile::new(
        r#"{"keys": [{"key_id": "flash_01", "project": "p"}, {"key_id": "flash_02", "project": "p"}]}"#,
    );
    let (kf, path) = file.var();
    let m0 = material(0);
    let m1 = material(1);
    let m2 = material(2);
    let env = Environment::from_pairs([
        ("ENABLE_KEY_ROTATION", "true"),
        (kf, path.as_str()),
        ("GEMINI_KEY_flash_01", m0.as_str()),
        ("GEMINI_KEY_flash_02", m1.as_str()),
        ("GEMINI_API_KEY", m2.as_str()),
    ]);
    assert_clean("Environment debug", &format!("{env:?}"));
    let config = PoolConfig::load(&env, &env).unwrap();
    assert_clean("config debug", &format!("{config:?}"));

    let logs = Buf::default();
    let sink = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || sink.clone())
        .finish();
    tracing::subscriber::with_default(subscriber, || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            let clock = ManualClock::new(0);
            let pool = KeyPool::in_memory(&config, Arc::new(clock)).unwrap();
            assert_clean("pool debug", &format!("{pool:?}"));
            let lease = pool.select(&SelectRequest::new(FLASH, 5)).await.unwrap();
            assert_clean("lease debug", &format!("{lease:?}"));
            assert_clean("api key debug", &format!("{:?}", pool.api_key(&lease)));
            assert_clean("api key display", &pool.api_key(&lease).to_string());
            pool.report(
                lease,
                &Outcome::Transient {
                    detail: "503".into(),
                },
            )
            .await
            .unwrap();
            let budget = RetryBudget::default();
            let r: Result<_, keypool::ExecuteError<String>> = pool
                .execute(
                    &SelectRequest::new(FLASH, 5),
                    &FailoverPolicy::default(),
                    &budget,
                    |g| {
                        let key = format!("{:?} {}", g.api_key, g.api_key);
                        async move {
                            (
                                Outcome::KeyBroken {
                                    detail: "400 API_KEY_INVALID".into(),
                                },
                                Err::<(), _>(key),
                            )
                        }
                    },
                )
                .await;
            let err = r.unwrap_err();
            assert_clean("execute error", &format!("{err} {err:?}"));
            let exhausted = pool
                .select_wait(&SelectRequest::new(FLASH, 5), Duration::from_secs(1))
                .await
                .unwrap_err();
            assert_clean("pool error", &format!("{exhausted} {exhausted:?}"));
            let health = pool.health().unwrap();
            let json = serde_json::to_string(&health).unwrap();
            assert_clean("health json", &json);
            assert_clean("health debug", &format!("{health:?}"));
            assert!(
                json.contains("…zz00"),
                "the hint shows the last 4 characters: {json}"
            );
        });
    });
    let logs = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("key deactivated"),
        "logs were captured: {logs}"
    );
    assert_clean("logs", &logs);
}

#[test]
fn config_errors_never_echo_material() {
    let file = KeysFile::new(r#"{"keys": [{"key_id": "a"}, {"key_id": "b"}]}"#);
    let (kf, path) = file.var();
    let m = material(3);
    let env = Environment::from_pairs([
        ("ENABLE_KEY_ROTATION", "true"),
        (kf, path.as_str()),
        ("GEMINI_KEY_a", m.as_str()),
    ]);
    let err = PoolConfig::load(&env, &env).unwrap_err();
    assert_clean("missing material error", &format!("{err} {err:?}"));
}
