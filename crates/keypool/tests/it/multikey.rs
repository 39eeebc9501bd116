//! Twelve keys in three projects: quota belongs to the project, not the key.

use std::collections::HashMap;
use std::time::Duration;

use keypool::{Outcome, PoolError, SelectRequest};

use crate::fixtures::{Backend, FLASH, Pool, keys_json, pool_with_file, row, use_once};

async fn twelve(b: Backend) -> (Pool, keypool::ManualClock) {
    let ids: Vec<(String, &str)> = (0..12)
        .map(|i| (format!("k{i:02}"), ["pa", "pb", "pc"][i % 3]))
        .collect();
    let refs: Vec<(&str, Option<&str>)> = ids.iter().map(|(k, p)| (k.as_str(), Some(*p))).collect();
    pool_with_file(b, &keys_json(&refs, 10, 1_000_000, 1_000), &[]).await
}

fn project_of(key: &str) -> &'static str {
    let i: usize = key[1..].parse().unwrap();
    ["pa", "pb", "pc"][i % 3]
}

async fn three_projects_admit_three_limits_not_twelve(b: Backend) {
    let (pool, clock) = twelve(b).await;
    let mut per_project: HashMap<&str, u32> = HashMap::new();
    for _ in 0..30 {
        let id = use_once(&pool, FLASH, 10).await;
        *per_project.entry(project_of(&id)).or_default() += 1;
    }
    assert_eq!(
        per_project,
        HashMap::from([("pa", 10), ("pb", 10), ("pc", 10)])
    );
    let err = pool
        .select(&SelectRequest::new(FLASH, 10))
        .await
        .unwrap_err();
    let PoolError::Exhausted(e) = err else {
        panic!("the 31st request must be refused")
    };
    assert_eq!(e.keys.len(), 12);
    assert_eq!(e.earliest_free, Some(e.at + 60_000));
    // every key of a project shows the project's shared usage
    for i in 0..12 {
        let r = row(&pool, &format!("k{i:02}"));
        assert_eq!((r.rpm_used, r.rpm_limit), (10, Some(10)));
    }
    clock.advance(Duration::from_secs(60));
    use_once(&pool, FLASH, 10).await;
}

async fn avoid_project_prefers_other_projects_but_is_not_a_ban(b: Backend) {
    let (pool, _clock) = twelve(b).await;
    let first = pool.select(&SelectRequest::new(FLASH, 1)).await.unwrap();
    let avoided = first.project_index();
    let avoided_name = project_of(pool.key_id(&first));
    pool.report(first, &Outcome::NotSent).await.unwrap();
    let req = SelectRequest {
        avoid_project: Some(avoided),
        ..SelectRequest::new(FLASH, 1)
    };
    for _ in 0..50 {
        let l = pool.select(&req).await.unwrap();
        assert_ne!(project_of(pool.key_id(&l)), avoided_name);
        pool.report(l, &Outcome::NotSent).await.unwrap();
    }
    // With only the avoided project left, it still serves.
    for i in 0..12 {
        let id = format!("k{i:02}");
        if project_of(&id) != avoided_name {
            pool.disable(&id, "test").await.unwrap();
        }
    }
    let l = pool.select(&req).await.unwrap();
    assert_eq!(project_of(pool.key_id(&l)), avoided_name);
    pool.report(l, &Outcome::NotSent).await.unwrap();
}

async fn a_rate_limited_project_cools_all_its_keys_and_only_them(b: Backend) {
    let (pool, _clock) = twelve(b).await;
    let lease = loop {
        let l = pool.select(&SelectRequest::new(FLASH, 1)).await.unwrap();
        if project_of(pool.key_id(&l)) == "pa" {
            break l;
        }
        pool.report(l, &Outcome::NotSent).await.unwrap();
    };
    pool.report(
        lease,
        &Outcome::RateLimited {
            retry_after: Some(Duration::from_secs(20)),
            detail: "429".into(),
            learned: keypool::Limits::UNKNOWN,
        },
    )
    .await
    .unwrap();
    for _ in 0..40 {
        let l = pool.select(&SelectRequest::new(FLASH, 1)).await.unwrap();
        assert_ne!(project_of(pool.key_id(&l)), "pa");
        pool.report(l, &Outcome::NotSent).await.unwrap();
    }
    for i in (0..12).step_by(3) {
        let r = row(&pool, &format!("k{i:02}"));
        assert!(r.in_cooldown, "k{i:02} shares pa's cooldown");
        assert!((r.cooldown_remaining_s - 20.0).abs() < 1e-9);
    }
    assert!(!row(&pool, "k01").in_cooldown);
}

crate::backends!(
    three_projects_admit_three_limits_not_twelve,
    avoid_project_prefers_other_projects_but_is_not_a_ban,
    a_rate_limited_project_cools_all_its_keys_and_only_them,
);
