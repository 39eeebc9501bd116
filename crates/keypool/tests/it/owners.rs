//! Resource owners (project affinity) shared through Redis: what one process remembers, every
//! process sharing the prefix knows, until the resource expires or is deleted; while Redis is
//! away, a process still knows what it remembered itself.

use std::sync::Arc;
use std::time::Duration;

use keypool::{AnyStore, Clock, ManualClock, Owners, RedisOptions, RedisStore};

use crate::fixtures::{cleanup, prefix, redis_available, redis_url, shared_store};

async fn shared_owners(prefix: &str, clock: Arc<ManualClock>) -> Owners {
    let store = shared_store(prefix).await;
    let clock: Arc<dyn Clock> = clock;
    let owners = AnyStore::Redis(Box::new(store)).owners(clock);
    assert!(owners.is_shared());
    owners
}

#[tokio::test]
async fn every_process_knows_who_owns_a_resource_until_it_goes() {
    if !redis_available().await {
        return;
    }
    let id = crate::fixtures::random_id();
    let p = prefix(id);
    let clock = Arc::new(ManualClock::new(chrono::Utc::now().timestamp_millis()));
    let one = shared_owners(&p, Arc::clone(&clock)).await;
    let two = shared_owners(&p, Arc::clone(&clock)).await;
    let now = clock.now_ms();
    one.remember("files/abc", "proj-a", now + 60_000).await;
    one.remember("cachedContents/c1", "proj-b", now + 1_500)
        .await;
    assert_eq!(two.owner("files/abc").await.as_deref(), Some("proj-a"));
    assert_eq!(
        two.owner("cachedContents/c1").await.as_deref(),
        Some("proj-b")
    );
    assert_eq!(two.owner("files/unknown").await, None);
    // Deleted through the other process: gone for both.
    two.forget("files/abc").await;
    assert_eq!(one.owner("files/abc").await, None);
    // Redis forgets with the resource's expiry (a real TTL, on Redis's own clock).
    let client = redis::Client::open(redis_url()).unwrap();
    let mut con = client.get_multiplexed_async_connection().await.unwrap();
    let ttl: i64 = redis::cmd("PTTL")
        .arg(format!("{p}:v1:owner:cachedContents/c1"))
        .query_async(&mut con)
        .await
        .unwrap();
    assert!((1..=1_500).contains(&ttl), "ttl {ttl}");
    // Something already expired is not written at all.
    one.remember("files/old", "proj-a", now - 1).await;
    assert_eq!(two.owner("files/old").await, None);
    cleanup(id).await;
}

#[tokio::test]
async fn without_redis_a_process_still_knows_what_it_remembered() {
    // A Redis that never answers (nothing listens on port 1): degraded from the start.
    let store = RedisStore::connect_or_degrade(
        "redis://127.0.0.1:1/",
        RedisOptions {
            connect_timeout: Duration::from_millis(50),
            response_timeout: Duration::from_millis(50),
            ..RedisOptions::default()
        },
    )
    .await
    .unwrap();
    let clock: Arc<dyn Clock> = Arc::new(ManualClock::new(1_000_000));
    let owners = AnyStore::Redis(Box::new(store)).owners(Arc::clone(&clock));
    owners.remember("files/abc", "proj-a", 2_000_000).await;
    assert_eq!(owners.owner("files/abc").await.as_deref(), Some("proj-a"));
    owners.forget("files/abc").await;
    assert_eq!(owners.owner("files/abc").await, None);
}
