//! Selection: model preference, skipping cooling/dead/full keys, spread and headroom weighting.

use std::collections::HashMap;

use keypool::{Outcome, PoolError, SelectRequest};

use crate::fixtures::{Backend, FLASH, PRO, Pool, keys_json, pool_with_file, transient, use_once};

const BIG: u64 = 1_000_000;

async fn counts(pool: &Pool, n: usize, release: bool) -> HashMap<String, usize> {
    let mut m = HashMap::new();
    for _ in 0..n {
        let lease = pool.select(&SelectRequest::new(FLASH, 1)).await.unwrap();
        *m.entry(pool.key_id(&lease).to_owned()).or_default() += 1;
        let outcome = if release {
            Outcome::NotSent
        } else {
            Outcome::Success { input_tokens: 1 }
        };
        pool.report(lease, &outcome).await.unwrap();
    }
    m
}

async fn a_model_is_served_only_by_its_keys_unless_the_caller_allows_another(b: Backend) {
    let json = r#"{"keys": [
        {"key_id": "flash_01", "model_name": "gemini-2.5-flash"},
        {"key_id": "pro_01", "model_name": "gemini-2.5-pro"}
    ]}"#;
    let (pool, _c) = pool_with_file(b, json, &[]).await;
    for _ in 0..4 {
        assert_eq!(use_once(&pool, PRO, 10).await, "pro_01");
    }
    // `models/NAME` is `NAME` (issue 14).
    assert_eq!(use_once(&pool, "models/gemini-2.5-pro", 10).await, "pro_01");
    pool.disable("pro_01", "test").await.unwrap();
    let err = pool.select(&SelectRequest::new(PRO, 10)).await.unwrap_err();
    assert!(matches!(err, PoolError::Exhausted(_)), "{err}");
    let allowed = [FLASH];
    let req = SelectRequest {
        also_models: &allowed,
        ..SelectRequest::new(PRO, 10)
    };
    let lease = pool.select(&req).await.unwrap();
    assert_eq!(pool.key_id(&lease), "flash_01");
    assert_eq!(pool.model(&lease), FLASH);
    pool.report(lease, &Outcome::NotSent).await.unwrap();

    let err = pool
        .select(&SelectRequest::new("gemini-9-ultra", 1))
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "no configured key serves model `gemini-9-ultra` (configured models: gemini-2.5-flash, gemini-2.5-pro)"
    );
}

async fn cooling_dead_and_full_keys_are_skipped(b: Backend) {
    let json = keys_json(
        &[("a", None), ("b", None), ("c", None), ("d", None)],
        3,
        BIG,
        BIG,
    );
    let (pool, _c) = pool_with_file(b, &json, &[]).await;
    // a: cooling after 3 transient errors
    for _ in 0..3 {
        let lease = loop {
            let l = pool.select(&SelectRequest::new(FLASH, 1)).await.unwrap();
            if pool.key_id(&l) == "a" {
                break l;
            }
            pool.report(l, &Outcome::NotSent).await.unwrap();
        };
        pool.report(lease, &transient()).await.unwrap();
    }
    // b: broken
    pool.disable("b", "test").await.unwrap();
    // c: its bucket full (rpm 3): fill it while d is off, then d takes the rest
    pool.disable("d", "test").await.unwrap();
    for _ in 0..3 {
        assert_eq!(use_once(&pool, FLASH, 1).await, "c");
    }
    pool.enable("d").await.unwrap();
    for _ in 0..3 {
        assert_eq!(use_once(&pool, FLASH, 1).await, "d");
    }
    let err = pool
        .select(&SelectRequest::new(FLASH, 1))
        .await
        .unwrap_err();
    let PoolError::Exhausted(e) = err else {
        panic!("expected exhausted")
    };
    let reasons: HashMap<_, _> = e
        .keys
        .iter()
        .map(|k| (k.key_id.as_str(), k.reason.as_str()))
        .collect();
    assert!(
        reasons["a"].starts_with("cooling down after errors"),
        "{reasons:?}"
    );
    assert!(reasons["b"].starts_with("disabled"), "{reasons:?}");
    assert!(reasons["c"].starts_with("RPM limit reached"), "{reasons:?}");
}

async fn three_equal_keys_share_load_evenly(b: Backend) {
    let json = keys_json(&[("a", None), ("b", None), ("c", None)], BIG, BIG, BIG);
    let (pool, _c) = pool_with_file(b, &json, &[]).await;
    let m = counts(&pool, 3000, true).await;
    // Binomial(3000, 1/3): sd ≈ 25.8; ±5 sd.
    for id in ["a", "b", "c"] {
        let n = m.get(id).copied().unwrap_or(0);
        assert!((870..=1130).contains(&n), "{id}: {n} of 3000 ({m:?})");
    }
}

async fn selection_is_weighted_by_headroom(b: Backend) {
    let json = keys_json(&[("a", None), ("b", None)], 10_000, BIG, BIG);
    let (pool, _c) = pool_with_file(b, &json, &[]).await;
    pool.disable("b", "fill a").await.unwrap();
    counts(&pool, 7_500, false).await; // a's bucket: 25 % headroom left
    pool.enable("b").await.unwrap();
    let m = counts(&pool, 1_000, true).await; // released: usage stays put
    // P(a) = 0.25 / (0.25 + 1.0) = 0.2 → 200 ± 5 sd (12.6); an unweighted pick gives 500.
    let a = m.get("a").copied().unwrap_or(0);
    assert!((137..=263).contains(&a), "a got {a} of 1000");
}

async fn extra_keys_of_one_project_add_no_share(b: Backend) {
    // p has two keys on one bucket, q one key: each project gets half of the traffic.
    let json = keys_json(
        &[("p1", Some("p")), ("p2", Some("p")), ("q1", Some("q"))],
        BIG,
        BIG,
        BIG,
    );
    let (pool, _c) = pool_with_file(b, &json, &[]).await;
    let m = counts(&pool, 2000, true).await;
    let q = m.get("q1").copied().unwrap_or(0);
    // Binomial(2000, 1/2): sd ≈ 22.4; a per-key spread would give q 667.
    assert!((888..=1112).contains(&q), "q1 got {q} of 2000 ({m:?})");
    let p1 = m.get("p1").copied().unwrap_or(0);
    assert!((400..=600).contains(&p1), "p1 got {p1} ({m:?})");
}

async fn a_request_pinned_to_a_project_gets_only_its_keys(b: Backend) {
    // Project affinity: a request that names a resource of project q (an uploaded file) may
    // only be served by q's keys, whatever the others' headroom.
    let json = keys_json(
        &[
            ("p1", Some("p")),
            ("p2", Some("p")),
            ("q1", Some("q")),
            ("q2", Some("q")),
        ],
        BIG,
        BIG,
        BIG,
    );
    let (pool, _c) = pool_with_file(b, &json, &[]).await;
    assert_eq!(pool.projects(), ["p", "q"]);
    let q = pool.project_index("q");
    assert_eq!(q, Some(1));
    assert_eq!(pool.project_index("nope"), None);
    // The model its keys serve (the default model when they serve it).
    assert_eq!(pool.model_of_project(1), Some(FLASH));
    let req = SelectRequest {
        project: q,
        ..SelectRequest::new(FLASH, 1)
    };
    let mut seen = HashMap::new();
    for _ in 0..200 {
        let lease = pool.select(&req).await.unwrap();
        assert_eq!(pool.project(&lease), "q");
        *seen.entry(pool.key_id(&lease).to_owned()).or_insert(0) += 1;
        pool.report(lease, &Outcome::NotSent).await.unwrap();
    }
    // Both of q's keys serve (the spread holds inside the project).
    assert_eq!(seen.len(), 2, "{seen:?}");
    // Even a per-minute 429 in q does not send it to p: a pinned request waits for its project.
    pool.disable("q1", "test").await.unwrap();
    pool.disable("q2", "test").await.unwrap();
    let err = pool.select(&req).await.unwrap_err();
    assert!(matches!(err, PoolError::Exhausted(_)), "{err}");
    let avoiding = SelectRequest {
        avoid_project: Some(0),
        ..req
    };
    assert!(pool.select(&avoiding).await.is_err());
    // Unpinned, p serves as always.
    assert_eq!(use_once(&pool, FLASH, 1).await.chars().next(), Some('p'));
}

crate::backends!(
    a_request_pinned_to_a_project_gets_only_its_keys,
    a_model_is_served_only_by_its_keys_unless_the_caller_allows_another,
    cooling_dead_and_full_keys_are_skipped,
    three_equal_keys_share_load_evenly,
    selection_is_weighted_by_headroom,
    extra_keys_of_one_project_add_no_share,
);
