//! Initialization: single key, rotation, both, and each bad configuration.

use std::sync::Arc;

use keypool::{ConfigError, Environment, KeyOrigin, KeyPool, Limits, ManualClock, PoolConfig};

use crate::fixtures::{FLASH, KeysFile, PRO, env};

fn load(pairs: &[(&str, &str)]) -> Result<PoolConfig, ConfigError> {
    let e = env(pairs);
    PoolConfig::load(&e, &e)
}

fn load_with_file(
    json: &str,
    pairs: &[(&str, &str)],
) -> (KeysFile, Result<PoolConfig, ConfigError>) {
    let file = KeysFile::new(json);
    let (k, v) = file.var();
    let mut all: Vec<(&str, &str)> = vec![("ENABLE_KEY_ROTATION", "true"), (k, v.as_str())];
    all.extend_from_slice(pairs);
    let r = load(&all);
    (file, r)
}

#[test]
fn nothing_configured_says_what_to_set() {
    let err = load(&[]).unwrap_err();
    assert!(matches!(err, ConfigError::NoKeys));
    assert_eq!(
        err.to_string(),
        "no keys configured: set GEMINI_API_KEY, or ENABLE_KEY_ROTATION=true with GEMINI_KEY_<id>"
    );
}

#[test]
fn single_key_mode_uses_gemini_api_key_for_any_model() {
    let c = load(&[("GEMINI_API_KEY", "test-key-single-0001")]).unwrap();
    assert!(!c.rotation);
    assert!(c.keys.is_empty());
    assert!(c.fallback.is_some());
    let pool = KeyPool::in_memory(&c, Arc::new(ManualClock::new(0))).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        for model in [FLASH, PRO, "gemini-3-experimental"] {
            let lease = pool
                .select(&keypool::SelectRequest::new(model, 10))
                .await
                .unwrap();
            assert_eq!(pool.key_id(&lease), "GEMINI_API_KEY");
            pool.report(lease, &keypool::Outcome::NotSent)
                .await
                .unwrap();
        }
    });
    // every model the one key served has its own bucket
    let pro = pool.health().unwrap();
    assert!(pro.keys.iter().all(|r| r.key_id == "GEMINI_API_KEY"));
}

#[test]
fn rotation_off_ignores_pool_keys() {
    // GEMINI_KEY_* without ENABLE_KEY_ROTATION: single-key mode, which has no key.
    let err = load(&[("GEMINI_KEY_flash_01", "test-key-a-0001")]).unwrap_err();
    assert!(matches!(err, ConfigError::NoKeys));
    let c = load(&[
        ("GEMINI_KEY_flash_01", "test-key-a-0001"),
        ("GEMINI_API_KEY", "test-key-single-0001"),
        ("ENABLE_KEY_ROTATION", "false"),
    ])
    .unwrap();
    assert!(c.keys.is_empty());
}

#[test]
fn rotation_env_keys_serve_any_model_whatever_their_ids() {
    let c = load(&[
        ("ENABLE_KEY_ROTATION", "true"),
        ("GEMINI_KEY_flash_01", "test-key-a-0001"),
        ("GEMINI_KEY_pro_01", "test-key-b-0002"),
        ("GEMINI_KEY_lite_x", "test-key-c-0003"),
    ])
    .unwrap();
    let by_id = |id: &str| c.keys.iter().find(|k| k.key_id == id).unwrap();
    // Issue 14: a key's model comes from `model_name` only, never from its id; no built-in
    // tier numbers either (an undeclared limit is unknown until learned).
    for id in ["flash_01", "pro_01", "lite_x"] {
        assert_eq!(by_id(id).model, keypool::ANY_MODEL, "{id}");
        assert_eq!(by_id(id).limits, Limits::UNKNOWN, "{id}");
    }
    assert_eq!(c.default_model, "gemini-flash-latest");
    assert!(
        c.keys
            .iter()
            .all(|k| k.origin == KeyOrigin::Env && k.project.is_none())
    );
    assert!(c.fallback.is_none());
}

#[test]
fn keys_file_entries_carry_their_limits_and_env_keys_join() {
    let json = r#"{"keys": [
        {"key_id": "flash_01", "model_name": "gemini-2.5-flash", "provider": "gemini",
         "rpm": 60, "tpm": 1000000, "rpd": 1500, "project": "proj-a", "active": true},
        {"key_id": "pro_01", "project": "proj-a", "active": false}
    ]}"#;
    let (_f, c) = load_with_file(
        json,
        &[
            ("GEMINI_KEY_flash_01", "test-key-a-0001"),
            ("GEMINI_KEY_pro_01", "test-key-b-0002"),
            ("GEMINI_KEY_flash_99", "test-key-c-0003"),
        ],
    );
    let c = c.unwrap();
    assert_eq!(c.keys.len(), 3);
    let f = &c.keys[0];
    assert_eq!(
        (f.limits.rpm, f.limits.tpm, f.limits.rpd),
        (Some(60), Some(1_000_000), Some(1500))
    );
    assert_eq!(f.project.as_deref(), Some("proj-a"));
    assert_eq!(f.origin, KeyOrigin::File);
    let p = &c.keys[1];
    assert_eq!(p.model, keypool::ANY_MODEL, "no model from the id `pro_01`");
    assert!(!p.active);
    assert_eq!(p.limits, Limits::UNKNOWN, "no built-in family numbers");
    let e = &c.keys[2];
    assert_eq!((e.key_id.as_str(), e.origin), ("flash_99", KeyOrigin::Env));
}

#[test]
fn both_modes_keep_gemini_api_key_as_fallback_unless_it_is_a_pool_key() {
    let c = load(&[
        ("ENABLE_KEY_ROTATION", "true"),
        ("GEMINI_KEY_flash_01", "test-key-a-0001"),
        ("GEMINI_API_KEY", "test-key-z-9999"),
    ])
    .unwrap();
    assert_eq!(c.keys.len(), 1);
    assert!(c.fallback.is_some());
    let c = load(&[
        ("ENABLE_KEY_ROTATION", "true"),
        ("GEMINI_KEY_flash_01", "test-key-a-0001"),
        ("GEMINI_API_KEY", "test-key-a-0001"),
    ])
    .unwrap();
    assert!(
        c.fallback.is_none(),
        "the same material is not a second key"
    );
}

#[test]
fn unknown_field_names_file_key_field_and_line() {
    let json = "{\"keys\": [\n  {\"key_id\": \"flash_01\"},\n  {\"key_id\": \"flash_02\", \"rpmm\": 5}\n]}";
    let (f, r) = load_with_file(
        json,
        &[
            ("GEMINI_KEY_flash_01", "x-0001"),
            ("GEMINI_KEY_flash_02", "x-0002"),
        ],
    );
    let msg = r.unwrap_err().to_string();
    assert!(
        msg.starts_with(&format!("{}:3:", f.path.display())),
        "{msg}"
    );
    assert!(msg.contains("key `flash_02`"), "{msg}");
    assert!(msg.contains("keys[1].rpmm"), "{msg}");
    assert!(msg.contains("unknown field `rpmm`"), "{msg}");
}

#[test]
fn wrong_type_names_the_field_without_echoing_the_value() {
    let json = r#"{"keys": [{"key_id": "flash_01", "rpm": "test-key-PASTED-BY-MISTAKE"}]}"#;
    let (_f, r) = load_with_file(json, &[("GEMINI_KEY_flash_01", "x-0001")]);
    let msg = r.unwrap_err().to_string();
    assert!(msg.contains("keys[0].rpm"), "{msg}");
    assert!(
        msg.contains("must be a whole number of requests, like 60; found text"),
        "{msg}"
    );
    assert!(!msg.contains("PASTED"), "{msg}");
}

#[test]
fn duplicate_key_id_is_refused() {
    let json = r#"{"keys": [{"key_id": "a"}, {"key_id": "b"}, {"key_id": "a"}]}"#;
    let (_f, r) = load_with_file(
        json,
        &[("GEMINI_KEY_a", "x-0001"), ("GEMINI_KEY_b", "x-0002")],
    );
    let err = r.unwrap_err();
    assert!(
        matches!(&err, ConfigError::DuplicateKey { key_id, first: 0, second: 2, .. } if key_id == "a"),
        "{err}"
    );
}

#[test]
fn zero_limits_are_refused_per_field() {
    for field in ["rpm", "tpm", "rpd"] {
        let json = format!(r#"{{"keys": [{{"key_id": "k1", "{field}": 0}}]}}"#);
        let (_f, r) = load_with_file(&json, &[("GEMINI_KEY_k1", "x-0001")]);
        let msg = r.unwrap_err().to_string();
        assert!(msg.contains(&format!("key `k1`, field `{field}`")), "{msg}");
        assert!(msg.contains("at least 1"), "{msg}");
    }
}

#[test]
fn an_entry_without_material_names_the_variable() {
    let json = r#"{"keys": [{"key_id": "flash_01"}, {"key_id": "flash_02"}]}"#;
    let (f, r) = load_with_file(json, &[("GEMINI_KEY_flash_01", "x-0001")]);
    let msg = r.unwrap_err().to_string();
    assert_eq!(
        msg,
        format!(
            "{}: key `flash_02` has no key material: set GEMINI_KEY_flash_02 (key material never goes in the file)",
            f.path.display()
        )
    );
}

#[test]
fn other_bad_values_are_named() {
    let cases = [
        (
            r#"{"keys": [{"key_id": "k1", "provider": "openai"}]}"#,
            "field `provider`",
        ),
        (
            r#"{"keys": [{"key_id": "k1", "project": " "}]}"#,
            "field `project`",
        ),
        (
            r#"{"keys": [{"key_id": "k1", "model_name": ""}]}"#,
            "field `model_name`",
        ),
        (
            r#"{"keys": [{"key_id": "k1", "active": "yes"}]}"#,
            "keys[0].active",
        ),
        (
            r#"{"keys": [{"model_name": "x"}]}"#,
            "missing field `key_id`",
        ),
        (r#"{"keys": {"key_id": "k1"}}"#, "field `keys`"),
        (r#"{"kyes": []}"#, "unknown field `kyes`"),
    ];
    for (json, want) in cases {
        let (_f, r) = load_with_file(json, &[("GEMINI_KEY_k1", "x-0001")]);
        let msg = r.unwrap_err().to_string();
        assert!(msg.contains(want), "{json} → {msg}");
    }
    let (_f, r) = load_with_file(r#"{"keys": [{"key_id": "bad id"}]}"#, &[]);
    assert!(r.unwrap_err().to_string().contains("field `key_id`"));
}

#[test]
fn malformed_json_names_the_line() {
    let (f, r) = load_with_file("{\"keys\": [\n  {\"key_id\": \"k1\",}\n]}", &[]);
    let msg = r.unwrap_err().to_string();
    assert!(
        msg.starts_with(&format!("{}:2:", f.path.display())),
        "{msg}"
    );
}

#[test]
fn explicit_keys_file_that_is_missing_is_an_error() {
    let err = load(&[
        ("ENABLE_KEY_ROTATION", "true"),
        ("KEYS_FILE", "/nonexistent/botforge/keys.json"),
        ("GEMINI_KEY_flash_01", "x-0001"),
    ])
    .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("/nonexistent/botforge/keys.json: cannot read"),
        "{err}"
    );
}

#[test]
fn bad_rotation_flag_and_bad_env_key_id() {
    let err = load(&[
        ("ENABLE_KEY_ROTATION", "sure"),
        ("GEMINI_API_KEY", "x-0001"),
    ])
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "ENABLE_KEY_ROTATION: expected true or false"
    );
    let err = load(&[
        ("ENABLE_KEY_ROTATION", "1"),
        ("GEMINI_KEY_bad.id", "x-0001"),
    ])
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "GEMINI_KEY_bad.id: the key id must be letters, digits, `_` or `-`"
    );
}

#[test]
fn dotenv_is_read_and_the_real_environment_wins() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(".env");
    std::fs::write(
        &path,
        "# comment\nBOTFORGE_TEST_FROM_DOTENV=hello\nPATH=/nowhere\nexport GEMINI_API_KEY=\"test-key-dotenv-0001\"\n",
    )
    .unwrap();
    let e = Environment::from_process_with_dotenv(&path).unwrap();
    assert_eq!(e.get("BOTFORGE_TEST_FROM_DOTENV"), Some("hello"));
    assert_ne!(
        e.get("PATH"),
        Some("/nowhere"),
        "the process environment wins"
    );
    let c = PoolConfig::load(&e, &e).unwrap();
    assert!(c.fallback.is_some());
}

#[test]
fn a_bad_dotenv_line_is_named_without_its_content() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(".env");
    std::fs::write(&path, "A=1\nB=2\nGEMINI_API_KEY test-key-SECRET-0001\n").unwrap();
    let msg = Environment::from_process_with_dotenv(&path)
        .unwrap_err()
        .to_string();
    assert_eq!(
        msg,
        format!(
            "{}: line 3 cannot be parsed (expected NAME=value)",
            path.display()
        )
    );
}

#[tokio::test]
async fn keys_of_one_project_share_the_smallest_limits() {
    let json = r#"{"keys": [
        {"key_id": "a", "project": "p", "rpm": 30, "tpm": 5000, "rpd": 100},
        {"key_id": "b", "project": "p", "rpm": 10, "tpm": 9000, "rpd": 50}
    ]}"#;
    let (pool, _clock) =
        crate::fixtures::pool_with_file(crate::fixtures::Backend::Memory, json, &[]).await;
    for id in ["a", "b"] {
        let r = crate::fixtures::row(&pool, id);
        assert_eq!(
            (r.rpm_limit, r.tpm_limit, r.rpd_limit),
            (Some(10), Some(5000), Some(50)),
            "{id}"
        );
        assert_eq!(r.project, "p");
    }
}

/// Issue 14: a key without `model_name` serves any model, each with a bucket of its own (an
/// unlisted model in the project's bucket for the rest); a named key serves only its model;
/// the default model is `gemini-flash-latest` unless `BOTFORGE_MODEL` says otherwise.
#[test]
fn keys_without_a_model_serve_any_model_each_in_its_own_bucket() {
    let json = r#"{"keys": [
        {"key_id": "named", "model_name": "models/gemini-2.5-flash", "project": "p-named"}
    ]}"#;
    let (_f, c) = load_with_file(
        json,
        &[
            ("GEMINI_KEY_named", "test-key-named-0001"),
            ("GEMINI_KEY_pro_01", "test-key-any-0002"),
            ("BOTFORGE_FALLBACK_MODELS", "gemini-3-pro-preview"),
        ],
    );
    let c = c.unwrap();
    assert_eq!(c.default_model, "gemini-flash-latest");
    let pool = KeyPool::in_memory(&c, Arc::new(ManualClock::new(0))).unwrap();
    assert_eq!(pool.default_model(), "gemini-flash-latest");
    let models = pool.models();
    assert_eq!(models.first(), Some(&"gemini-flash-latest"));
    assert!(models.contains(&"gemini-3-pro-preview") && !models.contains(&"*"));
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        let serves = |model: &'static str| {
            let pool = &pool;
            async move {
                let mut ids = std::collections::BTreeSet::new();
                let mut exclude = Vec::new();
                while let Ok(lease) = pool
                    .select(&keypool::SelectRequest {
                        exclude: &exclude,
                        ..keypool::SelectRequest::new(model, 10)
                    })
                    .await
                {
                    ids.insert(pool.key_id(&lease).to_owned());
                    exclude.push(lease.key_index());
                    pool.report(lease, &keypool::Outcome::Success { input_tokens: 10 })
                        .await
                        .unwrap();
                }
                ids.into_iter().collect::<Vec<_>>()
            }
        };
        assert_eq!(
            serves(PRO).await,
            ["pro_01"],
            "the named key serves only its model"
        );
        assert_eq!(serves("gemini-flash-latest").await, ["pro_01"]);
        assert_eq!(
            serves("gemini-9-ultra").await,
            ["pro_01"],
            "an unlisted model"
        );
        assert_eq!(serves("models/gemini-2.5-flash").await, ["named", "pro_01"]);
    });
    // The any-model key's rows: one per bucket in use, each model counted on its own.
    let health = pool.health().unwrap();
    let rows: Vec<(&str, &str, u64)> = health
        .keys
        .iter()
        .filter(|r| r.key_id == "pro_01")
        .map(|r| (r.model.as_str(), r.project.as_str(), r.rpm_used))
        .collect();
    for model in [PRO, "gemini-flash-latest", "*", FLASH] {
        assert!(rows.contains(&(model, "pro_01", 1)), "{model}: {rows:?}");
    }
    assert_eq!(rows.len(), 4, "{rows:?}");

    let (_f, c) = load_with_file(
        json,
        &[
            ("GEMINI_KEY_named", "test-key-named-0001"),
            ("BOTFORGE_MODEL", "models/gemini-2.5-pro"),
        ],
    );
    let c = c.unwrap();
    assert_eq!(c.default_model, PRO);
    let pool = KeyPool::in_memory(&c, Arc::new(ManualClock::new(0))).unwrap();
    assert_eq!(pool.default_model(), PRO);
    assert_eq!(
        pool.models(),
        [FLASH],
        "only the named key's model: nobody serves pro"
    );
}

/// Issue 14 item 4: models a command or gateway will ask for are added once each, by their id.
#[test]
fn added_models_are_named_once_by_their_id() {
    let mut c = load(&[("GEMINI_API_KEY", "test-key-single-0001")]).unwrap();
    let before = c.models.clone();
    assert_eq!(
        c.add_models([
            "models/gemini-9-pro-preview",
            "gemini-9-pro-preview",
            " ",
            &before[0]
        ]),
        1
    );
    assert_eq!(c.models.last().unwrap(), "gemini-9-pro-preview");
    assert_eq!(c.models.len(), before.len() + 1);
}

/// Issue 31 (DESIGN.md §3.1, "Models move"): when every key names its model, the default model
/// is the pool's own: the one most active keys name, Flash before Pro on a tie, then the one
/// named first; `BOTFORGE_MODEL` overrides it; a key serving any model keeps
/// `gemini-flash-latest`; `GEMINI_API_KEY` does not count.
#[test]
fn the_default_model_is_the_pools_own_when_every_key_names_one() {
    let key = |id: &str, model: &str, active: bool| {
        format!(r#"{{"key_id": "{id}", "model_name": "{model}", "active": {active}}}"#)
    };
    let material = [
        ("GEMINI_KEY_a", "test-key-a-000001"),
        ("GEMINI_KEY_b", "test-key-b-000002"),
        ("GEMINI_KEY_c", "test-key-c-000003"),
        ("GEMINI_API_KEY", "test-key-single-04"),
    ];
    let default_of = |keys: &[String], extra: &[(&str, &str)]| {
        let json = format!(r#"{{"keys": [{}]}}"#, keys.join(","));
        // Material for the listed keys only (another GEMINI_KEY_ would be a key of any model),
        // and GEMINI_API_KEY.
        let mut pairs: Vec<(&str, &str)> = material
            .iter()
            .copied()
            .filter(|(name, _)| {
                name.strip_prefix("GEMINI_KEY_")
                    .is_none_or(|id| json.contains(&format!(r#""key_id": "{id}""#)))
            })
            .collect();
        pairs.extend_from_slice(extra);
        let (_f, c) = load_with_file(&json, &pairs);
        let c = c.unwrap();
        assert_eq!(
            c.models[0], c.default_model,
            "the default model has a bucket"
        );
        c.default_model
    };
    // The original template: two flash keys and a pro key.
    let original = [
        key("a", "gemini-2.5-flash", true),
        key("b", "gemini-2.5-flash", true),
        key("c", "gemini-2.5-pro", true),
    ];
    assert_eq!(default_of(&original, &[]), "gemini-2.5-flash");
    // More pro keys: pro.
    let pro = [
        key("a", "gemini-2.5-pro", true),
        key("b", "gemini-2.5-pro", true),
        key("c", "gemini-2.5-flash", true),
    ];
    assert_eq!(default_of(&pro, &[]), "gemini-2.5-pro");
    // A tie: Flash before Pro, whatever the order.
    let tie = [
        key("a", "gemini-2.5-pro", true),
        key("b", "gemini-3.8-flash", true),
    ];
    assert_eq!(default_of(&tie, &[]), "gemini-3.8-flash");
    // Only active keys count.
    let off = [
        key("a", "gemini-2.5-pro", false),
        key("b", "gemini-2.5-pro", false),
        key("c", "gemini-2.5-flash", true),
    ];
    assert_eq!(default_of(&off, &[]), "gemini-2.5-flash");
    // BOTFORGE_MODEL overrides it.
    assert_eq!(
        default_of(&original, &[("BOTFORGE_MODEL", "models/gemini-2.5-pro")]),
        "gemini-2.5-pro"
    );
    // A key that serves any model (no model_name) keeps Google's alias.
    let any = [
        key("a", "gemini-2.5-flash", true),
        r#"{"key_id": "b"}"#.to_owned(),
    ];
    assert_eq!(default_of(&any, &[]), "gemini-flash-latest");
}
