//! Redis going away mid-run (through a loopback proxy that can stop answering) and coming back.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use keypool::{
    AnyStore, KeyPool, Outcome, PoolOptions, RedisOptions, RedisStore, SelectRequest, SystemClock,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;

use crate::fixtures::{
    cleanup, config_of, prefix, random_id, redis_available, redis_pool, redis_url,
};

/// A TCP proxy to the test Redis that can stop answering (`hang`) and resume (`resume`, which
/// also drops the connections it held, as a restarted server would).
struct Proxy {
    addr: SocketAddr,
    hang: Arc<AtomicBool>,
    /// Requests reach Redis, its replies wait (a reply lost in flight).
    hold: Arc<AtomicBool>,
    generation: Arc<AtomicU64>,
}

impl Proxy {
    async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let hang = Arc::new(AtomicBool::new(false));
        let hold = Arc::new(AtomicBool::new(false));
        let generation = Arc::new(AtomicU64::new(0));
        let (h, o, g) = (
            Arc::clone(&hang),
            Arc::clone(&hold),
            Arc::clone(&generation),
        );
        tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                let flags = [Arc::clone(&h), Arc::clone(&o)];
                tokio::spawn(forward(inbound, upstream, flags, Arc::clone(&g)));
            }
        });
        Self {
            addr,
            hang,
            hold,
            generation,
        }
    }

    fn hold_replies(&self) {
        self.hold.store(true, Ordering::SeqCst);
    }

    fn hang(&self) {
        self.hang.store(true, Ordering::SeqCst);
    }

    fn resume(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.hang.store(false, Ordering::SeqCst);
        self.hold.store(false, Ordering::SeqCst);
    }
}

async fn forward(
    inbound: TcpStream,
    upstream: SocketAddr,
    [hang, hold]: [Arc<AtomicBool>; 2],
    generation: Arc<AtomicU64>,
) {
    let born = generation.load(Ordering::SeqCst);
    let Ok(up) = TcpStream::connect(upstream).await else {
        return;
    };
    let (mut ri, mut wi) = inbound.into_split();
    let (mut ru, mut wu) = up.into_split();
    let (mut a, mut b) = (vec![0u8; 16384], vec![0u8; 16384]);
    // Bounded: a connection lives at most as long as the test.
    for _ in 0..100_000 {
        if generation.load(Ordering::SeqCst) != born {
            return;
        }
        if hang.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        }
        let replies = !hold.load(Ordering::SeqCst);
        tokio::select! {
            n = ri.read(&mut a) => match n {
                Ok(0) | Err(_) => return,
                Ok(n) => if wu.write_all(&a[..n]).await.is_err() { return },
            },
            n = ru.read(&mut b), if replies => match n {
                Ok(0) | Err(_) => return,
                Ok(n) => if wi.write_all(&b[..n]).await.is_err() { return },
            },
            () = tokio::time::sleep(Duration::from_millis(10)) => {}
        }
    }
}

/// One request: select, then report success; whether a key was granted.
async fn once(pool: &KeyPool<AnyStore>) -> bool {
    match pool
        .select(&SelectRequest::new("gemini-2.5-flash", 10))
        .await
    {
        Ok(lease) => {
            pool.report(lease, &Outcome::Success { input_tokens: 10 })
                .await
                .unwrap();
            true
        }
        Err(_) => false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_going_away_degrades_to_local_shares_and_coming_back_shares_again() {
    if !redis_available().await {
        return;
    }
    let id = random_id();
    let pfx = prefix(id);
    // Another live process, as its heartbeat says: each process keeps half of each limit.
    let client = redis::Client::open(redis_url()).unwrap();
    let mut direct = client.get_multiplexed_async_connection().await.unwrap();
    let (secs, _): (i64, i64) = redis::cmd("TIME").query_async(&mut direct).await.unwrap();
    let _: i64 = redis::cmd("ZADD")
        .arg(format!("{pfx}:v1:procs"))
        .arg(secs * 1000)
        .arg("another-process")
        .query_async(&mut direct)
        .await
        .unwrap();

    let upstream: SocketAddr = "127.0.0.1:6379".parse().unwrap();
    let proxy = Proxy::start(upstream).await;
    let config = config_of(
        r#"{"keys": [{"key_id": "a", "project": "p", "rpm": 10, "tpm": 100000, "rpd": 100000}]}"#,
    );
    let store = RedisStore::connect(
        &format!("redis://{}/", proxy.addr),
        RedisOptions {
            prefix: pfx.clone(),
            // What the heartbeats count decides, not what a young process assumes.
            assumed_processes: 1,
            ..RedisOptions::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(store.live_processes(), 2);
    let pool = KeyPool::new(
        &config,
        AnyStore::Redis(Box::new(store)),
        Arc::new(SystemClock),
        PoolOptions::default(),
    )
    .unwrap();
    let redis_of = |p: &KeyPool<AnyStore>| match p.store() {
        AnyStore::Redis(r) => r.is_degraded(),
        _ => panic!("a Redis pool"),
    };
    let log_key = format!("{pfx}:v2:{{p:p}}:m:gemini-2.5-flash:log");
    let shared = |mut con: redis::aio::MultiplexedConnection, k: String| async move {
        redis::cmd("ZCARD")
            .arg(k)
            .query_async::<u64>(&mut con)
            .await
            .unwrap()
    };

    for _ in 0..3 {
        assert!(once(&pool).await);
    }
    assert_eq!(
        shared(direct.clone(), log_key.clone()).await,
        3,
        "shared while Redis answers"
    );

    // Redis stops answering: the first request waits at most the timeout, then runs locally.
    proxy.hang();
    let started = Instant::now();
    assert!(once(&pool).await, "requests keep flowing");
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "no stall beyond the timeouts: {:?}",
        started.elapsed()
    );
    assert!(redis_of(&pool));
    let health = pool.health().unwrap();
    assert_eq!(health.backend, "redis (degraded: local shares)");
    assert_eq!(health.degraded_projects, ["p"], "one Redis: every project");
    // Local share: 10 RPM / 2 live processes = 5 a minute in this process, of which
    // ceil(3 / 2) = 2 are its share of the 3 calls Redis last reported (issue 20: degraded mode
    // starts from the shared usage); 1 more already used just now.
    let mut local = 1;
    for _ in 0..10 {
        let t = Instant::now();
        if once(&pool).await {
            local += 1;
        }
        assert!(
            t.elapsed() < Duration::from_millis(100),
            "degraded requests do not wait on Redis"
        );
    }
    assert_eq!(
        local, 3,
        "a conservative share of what is left of the limit"
    );

    // Redis answers again: a background probe notices and the pool shares again.
    proxy.resume();
    let deadline = Instant::now() + Duration::from_secs(5);
    while redis_of(&pool) && Instant::now() < deadline {
        let _ = once(&pool).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(!redis_of(&pool), "back to shared state");
    assert!(pool.health().unwrap().degraded_projects.is_empty());
    // What it spent while degraded is in Redis now, for every process to count (3 shared
    // before + its 3 local ones), and for one more window it keeps within its share, spent
    // already: the others may still be degraded, spending shares Redis cannot see yet.
    assert!(!once(&pool).await, "its share holds for one more window");
    // (The request whose reply the outage swallowed may have landed in Redis too: counted
    // twice then, which errs on the safe side.)
    let written = shared(direct.clone(), log_key.clone()).await;
    assert!(
        (6..=7).contains(&written),
        "the degraded calls are written to Redis: {written}"
    );
    cleanup(id).await;
}

#[tokio::test]
async fn a_reservation_retried_after_a_timeout_counts_once() {
    use keypool::{
        Acquired, BucketRef, HealthPolicy, KeyLayout, KeyRef, Layout, Limits, StateStore,
    };
    if !redis_available().await {
        return;
    }
    let id = random_id();
    let store = RedisStore::connect(
        &redis_url(),
        RedisOptions {
            prefix: prefix(id),
            ..RedisOptions::default()
        },
    )
    .await
    .unwrap();
    store
        .prepare(&Layout {
            keys: vec![KeyLayout {
                key_id: "a".into(),
                active: true,
                fingerprint: "0123456789abcdef".into(),
                project: "p".into(),
            }],
            buckets: vec![("p".into(), "m".into())],
            window_ms: 60_000,
        })
        .unwrap();
    let key = KeyRef {
        idx: 0,
        key_id: "a",
    };
    let bucket = BucketRef {
        idx: 0,
        project: "p",
        model: "m",
        limits: Limits::new(2, 1000, 1000),
    };
    let policy = HealthPolicy::default();
    let now = keypool::Clock::now_ms(&SystemClock);
    for _ in 0..3 {
        let a = store
            .acquire_with_id(key, bucket, 100, now, &policy, 42)
            .await
            .unwrap();
        assert!(
            matches!(
                a,
                Acquired::Granted {
                    reservation: 42,
                    ..
                }
            ),
            "{a:?}"
        );
    }
    // One request counted, not three: one more fits under RPM 2, then none.
    assert!(matches!(
        store
            .acquire_with_id(key, bucket, 100, now, &policy, 43)
            .await
            .unwrap(),
        Acquired::Granted { .. }
    ));
    assert!(matches!(
        store
            .acquire_with_id(key, bucket, 100, now, &policy, 44)
            .await
            .unwrap(),
        Acquired::Refused(_)
    ));
    assert_eq!(
        store.bucket_view(bucket, 0, now).unwrap().usage.tpm_used,
        200
    );
    cleanup(id).await;
}

/// Issue 20: a process started while Redis does not answer runs degraded (a share of each limit
/// for `assumed_processes`), keeps probing on its own, and shares state once Redis answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_started_before_redis_shares_state_once_redis_answers() {
    if !redis_available().await {
        return;
    }
    let id = random_id();
    let pfx = prefix(id);
    let proxy = Proxy::start("127.0.0.1:6379".parse().unwrap()).await;
    proxy.hang();
    let config = config_of(
        r#"{"keys": [{"key_id": "a", "project": "p", "rpm": 8, "tpm": 100000, "rpd": 100000}]}"#,
    );
    let url = format!("redis://{}/", proxy.addr);
    let options = || RedisOptions {
        prefix: pfx.clone(),
        ..RedisOptions::default()
    };
    // A plain connect refuses; connect_or_degrade starts degraded.
    assert!(RedisStore::connect(&url, options()).await.is_err());
    let store = RedisStore::connect_or_degrade(&url, options())
        .await
        .unwrap();
    assert!(store.is_degraded());
    assert_eq!(store.live_processes(), 4, "BOTFORGE_PROCESSES' default");
    let pool = KeyPool::new(
        &config,
        AnyStore::Redis(Box::new(store)),
        Arc::new(SystemClock),
        PoolOptions::default(),
    )
    .unwrap();
    assert_eq!(
        pool.health().unwrap().backend,
        "redis (degraded: local shares)"
    );
    // 8 RPM shared by 4 assumed processes: 2 a minute here, not 8.
    assert!(once(&pool).await);
    assert!(once(&pool).await);
    assert!(
        !once(&pool).await,
        "the third request exceeds this process's share"
    );

    // Redis answers: the background probe (every 500 ms) brings the pool back without any
    // request to trigger it.
    proxy.resume();
    let degraded = |p: &KeyPool<AnyStore>| match p.store() {
        AnyStore::Redis(r) => r.is_degraded(),
        _ => panic!("a Redis pool"),
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while degraded(&pool) {
        assert!(
            Instant::now() < deadline,
            "still degraded 10 s after Redis answered"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(pool.health().unwrap().backend, "redis");
    // Now the window lives in Redis, where every process sees it: the two calls made before
    // Redis answered are written there, and this process keeps within its spent share for one
    // more window (the others may not have noticed Redis yet).
    assert!(!once(&pool).await, "its share holds for one more window");
    let client = redis::Client::open(redis_url()).unwrap();
    let mut direct = client.get_multiplexed_async_connection().await.unwrap();
    let used: u64 = redis::cmd("ZCARD")
        .arg(format!("{pfx}:v2:{{p:p}}:m:gemini-2.5-flash:log"))
        .query_async(&mut direct)
        .await
        .unwrap();
    assert_eq!(
        used, 2,
        "the calls made before Redis answered are counted in Redis"
    );
    cleanup(id).await;
}

/// Issue 20: an idle process keeps announcing itself, so the others keep counting it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_process_keeps_its_heartbeat() {
    if !redis_available().await {
        return;
    }
    let id = random_id();
    let pfx = prefix(id);
    let store = RedisStore::connect(
        &redis_url(),
        RedisOptions {
            prefix: pfx.clone(),
            beat_every: Duration::from_millis(100),
            ..RedisOptions::default()
        },
    )
    .await
    .unwrap();
    let client = redis::Client::open(redis_url()).unwrap();
    let mut direct = client.get_multiplexed_async_connection().await.unwrap();
    let beat = |mut con: redis::aio::MultiplexedConnection, k: String| async move {
        let v: Vec<(String, i64)> = redis::cmd("ZRANGE")
            .arg(k)
            .arg(0)
            .arg(-1)
            .arg("WITHSCORES")
            .query_async(&mut con)
            .await
            .unwrap();
        assert_eq!(v.len(), 1, "one process: {v:?}");
        v[0].1
    };
    let key = format!("{pfx}:v1:procs");
    let first = beat(direct.clone(), key.clone()).await;
    // No request at all: the background heartbeat alone moves the score on.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        tokio::time::sleep(Duration::from_millis(50)).await;
        if beat(direct.clone(), key.clone()).await > first {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no heartbeat from an idle process in 5 s"
        );
    }
    drop(store);
    let _: () = redis::cmd("DEL")
        .arg(&key)
        .query_async(&mut direct)
        .await
        .unwrap();
    cleanup(id).await;
}

/// Issue 20: a key found broken while Redis was away stays off for every process once Redis
/// answers: the change made in the fallback is written back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_found_broken_while_degraded_is_written_back_on_recovery() {
    if !redis_available().await {
        return;
    }
    let id = random_id();
    let pfx = prefix(id);
    let proxy = Proxy::start("127.0.0.1:6379".parse().unwrap()).await;
    let config = config_of(
        r#"{"keys": [{"key_id": "a", "project": "pa", "rpm": 100}, {"key_id": "b", "project": "pb", "rpm": 100}]}"#,
    );
    let pool = redis_pool(&format!("redis://{}/", proxy.addr), &pfx, &config).await;
    proxy.hang();
    let lease = pool
        .select(&SelectRequest::new("gemini-2.5-flash", 1))
        .await
        .unwrap();
    let broken = pool.key_id(&lease).to_owned();
    pool.report(
        lease,
        &Outcome::KeyBroken {
            detail: "400 API_KEY_INVALID".into(),
        },
    )
    .await
    .unwrap();
    let degraded = |p: &KeyPool<AnyStore>| match p.store() {
        AnyStore::Redis(r) => r.is_degraded(),
        _ => panic!("a Redis pool"),
    };
    assert!(degraded(&pool));
    proxy.resume();
    let deadline = Instant::now() + Duration::from_secs(10);
    while degraded(&pool) {
        assert!(
            Instant::now() < deadline,
            "still degraded 10 s after Redis answered"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    pool.refresh().await.unwrap();
    // Another process, straight to Redis, sees the key off.
    let other = redis_pool(&redis_url(), &pfx, &config).await;
    other.refresh().await.unwrap();
    let row = other
        .health()
        .unwrap()
        .keys
        .into_iter()
        .find(|k| k.key_id == broken)
        .unwrap();
    assert!(!row.active, "{broken} stays off for every process: {row:?}");
    let healthy = other
        .health()
        .unwrap()
        .keys
        .into_iter()
        .find(|k| k.key_id != broken)
        .unwrap();
    assert!(healthy.active, "the other key is untouched");
    cleanup(id).await;
}

/// Issue 14 item 5: a request cancelled while its reservation is on its way to Redis (the
/// script ran, the reply never came back) does not keep the slot for the 15-minute in-flight
/// hold: the pool finishes that reservation by its id at its next operation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_cancelled_mid_round_trip_gives_its_slot_back() {
    if !redis_available().await {
        return;
    }
    let proxy = Proxy::start("127.0.0.1:6379".parse().unwrap()).await;
    let id = random_id();
    let pfx = prefix(id);
    let config = config_of(
        r#"{"keys": [{"key_id": "p1", "project": "p", "rpm": 5, "tpm": 100000, "rpd": 1000}]}"#,
    );
    let pool = redis_pool(&format!("redis://{}/", proxy.addr), &pfx, &config).await;
    assert!(once(&pool).await, "shared before the cut");

    // The reservation reaches Redis; its reply is held; the caller gives up (a client hung
    // up) before the store's own timeout.
    proxy.hold_replies();
    let cancelled = tokio::time::timeout(
        Duration::from_millis(100),
        pool.select(&SelectRequest::new("gemini-2.5-flash", 10)),
    )
    .await;
    assert!(cancelled.is_err(), "the select was still waiting for Redis");
    let log = format!("{pfx}:v2:{{p:p}}:m:gemini-2.5-flash:log");
    let client = redis::Client::open(redis_url()).unwrap();
    let mut direct = client.get_multiplexed_async_connection().await.unwrap();
    let now_ms = || keypool::Clock::now_ms(&SystemClock);
    let held: Vec<(String, i64)> = redis::cmd("ZRANGE")
        .arg(&log)
        .arg(0)
        .arg(-1)
        .arg("WITHSCORES")
        .query_async(&mut direct)
        .await
        .unwrap();
    assert_eq!(held.len(), 2, "the cancelled reservation landed: {held:?}");
    let in_flight = |entries: &[(String, i64)]| {
        entries
            .iter()
            .filter(|(_, at)| *at > now_ms() + 60_000)
            .count()
    };
    assert_eq!(
        in_flight(&held),
        1,
        "logged as in flight (held for 15 minutes)"
    );

    // The next operation finishes it: held a window from now, not 15 minutes.
    proxy.resume();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let _ = once(&pool).await;
        let entries: Vec<(String, i64)> = redis::cmd("ZRANGE")
            .arg(&log)
            .arg(0)
            .arg(-1)
            .arg("WITHSCORES")
            .query_async(&mut direct)
            .await
            .unwrap();
        if in_flight(&entries) == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the cancelled reservation is still in flight: {entries:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    cleanup(id).await;
}

/// A host whose clock runs ten minutes ahead of the Redis server's.
#[derive(Debug)]
struct AheadClock;

impl keypool::Clock for AheadClock {
    fn now_ms(&self) -> keypool::Millis {
        keypool::Clock::now_ms(&SystemClock) + 600_000
    }

    fn sleep(&self, duration: Duration) -> keypool::Sleep {
        Box::pin(tokio::time::sleep(duration))
    }
}

/// Issue 20 item 4: one clock. A key's cooldown is kept on the Redis server's clock while the
/// state is shared, so a process whose own clock is ten minutes ahead cools a key for the
/// policy's 200 ms, not for ten minutes and 200 ms.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_skewed_host_clock_does_not_stretch_a_cooldown() {
    if !redis_available().await {
        return;
    }
    let id = random_id();
    let config = config_of(
        r#"{"keys": [{"key_id": "a", "project": "pa", "rpm": 1000, "tpm": 1000000, "rpd": 100000}]}"#,
    );
    let store = RedisStore::connect(
        &redis_url(),
        RedisOptions {
            prefix: prefix(id),
            ..RedisOptions::default()
        },
    )
    .await
    .unwrap();
    let pool = KeyPool::new(
        &config,
        AnyStore::Redis(Box::new(store)),
        Arc::new(AheadClock),
        PoolOptions {
            health: keypool::HealthPolicy {
                base_cooldown: Duration::from_millis(200),
                max_cooldown: Duration::from_millis(800),
                trial_timeout: Duration::from_millis(500),
                ..keypool::HealthPolicy::default()
            },
            ..PoolOptions::default()
        },
    )
    .unwrap();
    // Three transient failures in a row: the key cools for 200 ms.
    for _ in 0..3 {
        let lease = pool
            .select(&SelectRequest::new("gemini-2.5-flash", 1))
            .await
            .unwrap();
        pool.report(lease, &crate::fixtures::transient())
            .await
            .unwrap();
    }
    assert!(
        pool.select(&SelectRequest::new("gemini-2.5-flash", 1))
            .await
            .is_err(),
        "cooling"
    );
    // Bounded: it serves again (its half-open trial) well within a second of real time.
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        if let Ok(lease) = pool
            .select(&SelectRequest::new("gemini-2.5-flash", 1))
            .await
        {
            assert!(
                lease.is_trial(),
                "the first request after a cooldown is its trial"
            );
            pool.report(lease, &Outcome::Success { input_tokens: 1 })
                .await
                .unwrap();
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the cooldown was stretched by the host's clock"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    cleanup(id).await;
}

/// Issue 20: a heartbeat count is trusted only from a process set at least a heartbeat period
/// old. A set that was just made (processes started together, or its node came back empty)
/// counts only those that beat since: until then a process assumes `BOTFORGE_PROCESSES`, and
/// a lower count than the last is believed only once the last is a heartbeat lifetime old.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_young_process_set_is_not_trusted_to_count_everyone() {
    if !redis_available().await {
        return;
    }
    let id = random_id();
    let pfx = prefix(id);
    let procs = format!("{pfx}:v1:procs");
    let since = format!("{{{procs}}}:since");
    let client = redis::Client::open(redis_url()).unwrap();
    let mut direct = client.get_multiplexed_async_connection().await.unwrap();
    let options = RedisOptions {
        prefix: pfx.clone(),
        assumed_processes: 4,
        beat_every: Duration::from_millis(100),
        ..RedisOptions::default()
    };
    // A set made by this process's first heartbeat: 1 counted, 4 assumed.
    let young = RedisStore::connect(&redis_url(), options.clone())
        .await
        .unwrap();
    assert_eq!(
        young.live_processes(),
        4,
        "the set is younger than a period"
    );
    drop(young);
    let _: () = redis::cmd("DEL")
        .arg(&procs)
        .arg(&since)
        .query_async(&mut direct)
        .await
        .unwrap();

    // A set that has existed for a while, with two other live processes in it.
    let (secs, _): (i64, i64) = redis::cmd("TIME").query_async(&mut direct).await.unwrap();
    let now = secs * 1000;
    let _: () = redis::cmd("SET")
        .arg(&since)
        .arg(now - 60_000)
        .query_async(&mut direct)
        .await
        .unwrap();
    for other in ["other-1", "other-2"] {
        let _: i64 = redis::cmd("ZADD")
            .arg(&procs)
            .arg(now)
            .arg(other)
            .query_async(&mut direct)
            .await
            .unwrap();
    }
    let store = RedisStore::connect(&redis_url(), options).await.unwrap();
    assert_eq!(store.live_processes(), 3, "an old set counts everyone");

    // One other process stops: the count of 2 is believed only once the count of 3 is a
    // heartbeat lifetime (10 s) old; the background heartbeats see 2 meanwhile.
    let _: i64 = redis::cmd("ZREM")
        .arg(&procs)
        .arg("other-2")
        .query_async(&mut direct)
        .await
        .unwrap();
    // Bounded wait for a heartbeat of this process after the drop (its score moves past it).
    let (secs, micros): (i64, i64) = redis::cmd("TIME").query_async(&mut direct).await.unwrap();
    let dropped_at = secs * 1000 + micros / 1000;
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let members: Vec<(String, i64)> = redis::cmd("ZRANGE")
            .arg(&procs)
            .arg(0)
            .arg(-1)
            .arg("WITHSCORES")
            .query_async(&mut direct)
            .await
            .unwrap();
        assert_eq!(members.len(), 2, "{members:?}");
        if members
            .iter()
            .any(|(m, at)| m != "other-1" && *at > dropped_at)
        {
            break;
        }
        assert!(Instant::now() < deadline, "no heartbeat after the drop");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        store.live_processes(),
        3,
        "a drop waits out the heartbeat lifetime"
    );
    cleanup(id).await;
}
