//! The pool's activity summed through Redis: what two processes counted, each flushing its own
//! minutes, reads back as one hour of sums from either; a failed flush loses nothing.

use std::sync::Arc;
use std::time::Duration;

use keypool::activity::{ActivityLog, GATEWAY, MINUTE_MS, MINUTES};
use keypool::{AnyStore, Clock, ManualClock};

use crate::fixtures::{cleanup, prefix, redis_available, redis_url, shared_store};

async fn share(prefix: &str) -> AnyStore {
    AnyStore::Redis(Box::new(shared_store(prefix).await))
}

#[tokio::test]
async fn every_process_reads_the_sum_of_every_process_counts() {
    if !redis_available().await {
        return;
    }
    let id = crate::fixtures::random_id();
    let p = prefix(id);
    let clock = Arc::new(ManualClock::new(1_800_000_000_000));
    let keys = || ["k1".to_owned(), "k2".to_owned()];
    let one = ActivityLog::new(keys(), clock.clone());
    // The other process knows a key this one does not.
    let two = ActivityLog::new(["k2".to_owned(), "k3".to_owned()], clock.clone());
    let (s1, s2) = (share(&p).await, share(&p).await);
    assert!(s1.shares_activity());
    one.call(0, "success", 100, 40);
    one.call(1, "rate_limited", 0, 5);
    two.call(0, "success", 50, 10);
    two.call(1, "transient", 0, 900);
    one.answered(200, 300);
    two.answered(503, 700);
    s1.flush_activity(&one).await.unwrap();
    s2.flush_activity(&two).await.unwrap();
    clock.advance(Duration::from_secs(60));
    one.call(0, "success", 1, 1);
    s1.flush_activity(&one).await.unwrap();
    // Flushed twice with nothing new: added once.
    s1.flush_activity(&one).await.unwrap();
    let hour = s2.read_activity(&one, clock.now_ms()).await.unwrap();
    assert_eq!(hour.minutes.len(), MINUTES);
    assert_eq!(
        hour.minutes[MINUTES - 1] - hour.minutes[MINUTES - 2],
        MINUTE_MS
    );
    let names: Vec<&str> = hour.rows.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [GATEWAY, "k1", "k2", "k3"],
        "known rows first, then the others'"
    );
    let at = |name: &str, back: usize| {
        hour.rows.iter().find(|(n, _)| n == name).unwrap().1[MINUTES - 1 - back]
    };
    assert_eq!(
        (at("k1", 1).calls, at("k1", 1).tokens, at("k1", 1).time),
        (1, 100, 40)
    );
    assert_eq!((at("k1", 0).calls, at("k1", 0).tokens), (1, 1));
    let k2 = at("k2", 1);
    assert_eq!(
        (k2.calls, k2.rate_limited, k2.tokens),
        (2, 1, 50),
        "summed over both"
    );
    assert_eq!(
        (at("k3", 1).calls, at("k3", 1).transient, at("k3", 1).time),
        (1, 1, 900)
    );
    let g = at(GATEWAY, 1);
    assert_eq!((g.calls, g.caller_fault, g.time), (2, 1, 1_000));
    cleanup(id).await;
}

#[tokio::test]
async fn a_flush_redis_refuses_keeps_its_counts_for_the_next() {
    if !redis_available().await {
        return;
    }
    let id = crate::fixtures::random_id();
    let p = prefix(id);
    let clock = Arc::new(ManualClock::new(1_800_000_000_000));
    let log = ActivityLog::new(["k1".to_owned()], clock.clone());
    let good = share(&p).await;
    // A hash where the counts go makes HINCRBY fail: the counts stay for the next flush.
    let client = redis::Client::open(redis_url()).unwrap();
    let mut con = client.get_multiplexed_async_connection().await.unwrap();
    let start = clock.now_ms().div_euclid(MINUTE_MS) * MINUTE_MS;
    let key = format!("{p}:v1:{{activity}}:{start}");
    let _: () = redis::cmd("SET")
        .arg(&key)
        .arg("not a hash")
        .query_async(&mut con)
        .await
        .unwrap();
    log.call(0, "success", 7, 3);
    assert!(good.flush_activity(&log).await.is_err());
    let _: () = redis::cmd("DEL")
        .arg(&key)
        .query_async(&mut con)
        .await
        .unwrap();
    good.flush_activity(&log).await.unwrap();
    let hour = good.read_activity(&log, clock.now_ms()).await.unwrap();
    let k1 = hour.rows.iter().find(|(n, _)| n == "k1").unwrap().1[MINUTES - 1];
    assert_eq!((k1.calls, k1.tokens), (1, 7));
    cleanup(id).await;
}
