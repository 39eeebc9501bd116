//! Redis going away mid-run (through a loopback proxy that can stop answering) and coming back.
//!
//! The store's timeouts, heartbeats and probes run on the pool's clock: these tests step a
//! [`ManualClock`] and assert what happens at exactly which moment. Real time bounds only how
//! long a broken test may hang (`SAFETY`), never what a test accepts.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use keypool::{
    AnyStore, Clock, KeyPool, ManualClock, Outcome, PoolConfig, PoolOptions, RedisOptions,
    RedisStore, RedisTime, SelectRequest, SystemClock,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::fixtures::{
    cleanup, config_of, prefix, random_id, redis_available, redis_pool, redis_url,
};

/// How long a broken test may hang before it fails (real time; no assertion depends on it).
const SAFETY: Duration = Duration::from_secs(20);

/// The store's response timeout (the default).
const TIMEOUT: Duration = Duration::from_millis(300);

/// The background probe's period while degraded.
const PROBE: Duration = Duration::from_millis(500);

/// What the proxy lets through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flow {
    /// Both ways.
    Open,
    /// Requests are swallowed unanswered (a hung server).
    Hang,
    /// Requests reach Redis; its replies are kept (a reply lost in flight) until `release`.
    HoldReplies,
}

/// A TCP proxy to the test Redis that can stop answering (`hang`), keep replies
/// (`hold_replies`), let them go (`release`) and come back as a restarted server would
/// (`resume`: the connections it held are dropped).
struct Proxy {
    addr: SocketAddr,
    /// The flow and the generation of connections (a resume starts a new one).
    state: Arc<watch::Sender<(Flow, u64)>>,
    /// Bytes of requests that arrived, and of replies kept.
    requests: Arc<watch::Sender<usize>>,
    kept: Arc<watch::Sender<usize>>,
    /// Connections being forwarded.
    alive: Arc<watch::Sender<usize>>,
}

impl Proxy {
    async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let proxy = Self {
            addr,
            state: Arc::new(watch::Sender::new((Flow::Open, 0))),
            requests: Arc::new(watch::Sender::new(0)),
            kept: Arc::new(watch::Sender::new(0)),
            alive: Arc::new(watch::Sender::new(0)),
        };
        let links = proxy.links();
        tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                tokio::spawn(forward(inbound, upstream, links.clone()));
            }
        });
        proxy
    }

    fn links(&self) -> Links {
        Links {
            state: self.state.subscribe(),
            requests: Arc::clone(&self.requests),
            kept: Arc::clone(&self.kept),
            alive: Arc::clone(&self.alive),
        }
    }

    fn flow(&self, flow: Flow) {
        self.state.send_modify(|(f, _)| *f = flow);
    }

    fn hang(&self) {
        self.flow(Flow::Hang);
    }

    fn hold_replies(&self) {
        self.flow(Flow::HoldReplies);
    }

    /// Replies flow again, the kept ones first, on the same connections.
    fn release(&self) {
        self.flow(Flow::Open);
    }

    /// Answers again on new connections: returns once every old one is closed.
    async fn resume(&self) {
        self.state.send_modify(|(f, g)| {
            *f = Flow::Open;
            *g += 1;
        });
        let mut alive = self.alive.subscribe();
        tokio::time::timeout(SAFETY, alive.wait_for(|n| *n == 0))
            .await
            .expect("the proxy closes its connections")
            .unwrap();
    }

    /// Waits until more than `seen` bytes of requests have arrived.
    async fn requested(&self, seen: usize) {
        let mut requests = self.requests.subscribe();
        tokio::time::timeout(SAFETY, requests.wait_for(|n| *n > seen))
            .await
            .expect("a request reaches the proxy")
            .unwrap();
    }

    fn requests_seen(&self) -> usize {
        *self.requests.borrow()
    }

    /// Waits until a reply is kept.
    async fn keeps_a_reply(&self) {
        let mut kept = self.kept.subscribe();
        tokio::time::timeout(SAFETY, kept.wait_for(|n| *n > 0))
            .await
            .expect("Redis replies")
            .unwrap();
    }
}

/// What one forwarded connection shares with the proxy.
#[derive(Clone)]
struct Links {
    state: watch::Receiver<(Flow, u64)>,
    requests: Arc<watch::Sender<usize>>,
    kept: Arc<watch::Sender<usize>>,
    alive: Arc<watch::Sender<usize>>,
}

/// Counts a connection as alive while it is forwarded.
struct Alive(Arc<watch::Sender<usize>>);

impl Drop for Alive {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n -= 1);
    }
}

async fn forward(inbound: TcpStream, upstream: SocketAddr, mut links: Links) {
    links.alive.send_modify(|n| *n += 1);
    let _alive = Alive(Arc::clone(&links.alive));
    let born = links.state.borrow().1;
    let Ok(up) = TcpStream::connect(upstream).await else {
        return;
    };
    let (mut ri, mut wi) = inbound.into_split();
    let (mut ru, mut wu) = up.into_split();
    let (mut a, mut b) = (vec![0u8; 16384], vec![0u8; 16384]);
    let mut kept = Vec::new();
    // Bounded: each turn moves bytes or follows a change of flow.
    for _ in 0..1_000_000 {
        let (flow, generation) = *links.state.borrow_and_update();
        if generation != born {
            return;
        }
        if flow == Flow::Open && !kept.is_empty() {
            if wi.write_all(&kept).await.is_err() {
                return;
            }
            kept.clear();
        }
        tokio::select! {
            n = ri.read(&mut a) => match n {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    links.requests.send_modify(|seen| *seen += n);
                    // A hung server reads requests and never answers them.
                    if flow != Flow::Hang && wu.write_all(&a[..n]).await.is_err() {
                        return;
                    }
                }
            },
            n = ru.read(&mut b), if flow != Flow::Hang => match n {
                Ok(0) | Err(_) => return,
                Ok(n) if flow == Flow::Open => {
                    if wi.write_all(&b[..n]).await.is_err() {
                        return;
                    }
                }
                Ok(n) => {
                    kept.extend_from_slice(&b[..n]);
                    links.kept.send_modify(|k| *k += n);
                }
            },
            changed = links.state.changed() => if changed.is_err() { return },
        }
    }
}

/// Lets every other task of this (current-thread) runtime run what it can without real time
/// passing: a task that a moved clock woke has run after this.
async fn settle() {
    for _ in 0..64 {
        tokio::task::yield_now().await;
    }
}

/// A store through `proxy` on `clock` (the scripts too), and a pool on the same clock.
async fn stepped_pool(
    proxy: &Proxy,
    pfx: &str,
    clock: &ManualClock,
    config: &PoolConfig,
    assumed_processes: u64,
) -> Arc<KeyPool<AnyStore>> {
    let store = RedisStore::connect(
        &format!("redis://{}/", proxy.addr),
        RedisOptions {
            prefix: pfx.to_owned(),
            assumed_processes,
            time: RedisTime::Client,
            clock: Arc::new(clock.clone()),
            ..RedisOptions::default()
        },
    )
    .await
    .unwrap();
    Arc::new(
        KeyPool::new(
            config,
            AnyStore::Redis(Box::new(store)),
            Arc::new(clock.clone()),
            PoolOptions::default(),
        )
        .unwrap(),
    )
}

fn redis_store(pool: &KeyPool<AnyStore>) -> &RedisStore {
    match pool.store() {
        AnyStore::Redis(r) => r,
        _ => panic!("a Redis pool"),
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

/// One request that must not wait on Redis: the clock stands still, so one that did would
/// never end.
async fn once_locally(pool: &KeyPool<AnyStore>) -> bool {
    tokio::time::timeout(SAFETY, once(pool))
        .await
        .expect("a degraded request waited on Redis")
}

/// Waits (bounded) until the store's background life has finished `rounds` rounds.
async fn rounds(pool: &KeyPool<AnyStore>, rounds: u64) -> keypool::Progress {
    let mut progress = redis_store(pool).progress();
    tokio::time::timeout(SAFETY, progress.wait_for(|p| p.rounds >= rounds))
        .await
        .expect("the background life runs when the clock passes its period")
        .unwrap()
        .to_owned()
}

async fn zcard(key: &str) -> u64 {
    let client = redis::Client::open(redis_url()).unwrap();
    let mut con = client.get_multiplexed_async_connection().await.unwrap();
    redis::cmd("ZCARD")
        .arg(key)
        .query_async(&mut con)
        .await
        .unwrap()
}

#[tokio::test]
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

    let proxy = Proxy::start("127.0.0.1:6379".parse().unwrap()).await;
    let config = config_of(
        r#"{"keys": [{"key_id": "a", "project": "p", "rpm": 10, "tpm": 100000, "rpd": 100000}]}"#,
    );
    let clock = ManualClock::new(SystemClock.now_ms());
    // What the heartbeats count decides, not what a young process assumes.
    let pool = stepped_pool(&proxy, &pfx, &clock, &config, 1).await;
    assert_eq!(redis_store(&pool).live_processes(), 2);
    let log_key = format!("{pfx}:v2:{{p:p}}:m:gemini-2.5-flash:log");
    for _ in 0..3 {
        assert!(once(&pool).await);
    }
    assert_eq!(zcard(&log_key).await, 3, "shared while Redis answers");

    // Redis stops answering. The request waits exactly the response timeout of the clock:
    // 1 ms short of it, it is still waiting; at it, it is served locally.
    proxy.hang();
    let seen = proxy.requests_seen();
    let hung_at = clock.now_ms();
    let request = tokio::spawn({
        let pool = Arc::clone(&pool);
        async move { once(&pool).await }
    });
    proxy.requested(seen).await;
    clock.advance(Duration::from_millis(299));
    settle().await;
    assert!(!request.is_finished(), "it waits out the whole timeout");
    assert!(!redis_store(&pool).is_degraded());
    clock.advance(Duration::from_millis(1));
    // Served at that moment: what follows the timeout runs locally, with nothing to wait for.
    settle().await;
    assert!(
        request.is_finished(),
        "served when the clock passed the timeout"
    );
    assert!(request.await.unwrap(), "requests keep flowing");
    assert_eq!(
        clock.now_ms(),
        hung_at + 300,
        "nothing else moved the clock"
    );
    assert!(redis_store(&pool).is_degraded());
    let health = pool.health().unwrap();
    assert_eq!(health.backend, "redis (degraded: local shares)");
    assert_eq!(health.degraded_projects, ["p"], "one Redis: every project");
    // Local share: 10 RPM / 2 live processes = 5 a minute in this process, of which
    // ceil(3 / 2) = 2 are its share of the 3 calls Redis last reported (issue 20: degraded mode
    // starts from the shared usage); 1 more already used just now. Each is decided without
    // Redis: the clock stands still and none waits.
    let mut local = 1;
    for _ in 0..10 {
        if once_locally(&pool).await {
            local += 1;
        }
    }
    assert_eq!(
        local, 3,
        "a conservative share of what is left of the limit"
    );

    // Redis answers again. The background life's first period (500 ms from its start) has
    // not passed yet: nothing probes. When it passes, one round writes back what was spent
    // and shares again.
    proxy.resume().await;
    let before = *redis_store(&pool).progress().borrow();
    assert_eq!(before.rounds, 0, "no period passed yet");
    clock.advance(PROBE);
    let after = rounds(&pool, 1).await;
    assert_eq!(after.rounds, 1, "exactly one round");
    assert!(
        !redis_store(&pool).is_degraded(),
        "back to shared state in that round"
    );
    assert!(pool.health().unwrap().degraded_projects.is_empty());
    // What it spent while degraded is in Redis now, for every process to count (3 shared
    // before + its 3 local ones; the request the outage swallowed never reached Redis), and
    // for one more window it keeps within its share, spent already: the others may still be
    // degraded, spending shares Redis cannot see yet.
    assert!(!once(&pool).await, "its share holds for one more window");
    assert_eq!(
        zcard(&log_key).await,
        6,
        "the degraded calls are written to Redis"
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
#[tokio::test]
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
    let clock = ManualClock::new(SystemClock.now_ms());
    let options = || RedisOptions {
        prefix: pfx.clone(),
        time: RedisTime::Client,
        clock: Arc::new(clock.clone()),
        ..RedisOptions::default()
    };
    // Nothing answers: a first command may take the connect and the response timeouts.
    let first_answer = TIMEOUT + RedisOptions::default().connect_timeout;
    // A plain connect refuses once the clock has passed them; connect_or_degrade starts
    // degraded.
    let seen = proxy.requests_seen();
    let plain = tokio::spawn({
        let (url, options) = (url.clone(), options());
        async move { RedisStore::connect(&url, options).await }
    });
    proxy.requested(seen).await;
    clock.advance(first_answer);
    let refused = tokio::time::timeout(SAFETY, plain).await.unwrap().unwrap();
    assert!(refused.is_err(), "a plain connect needs Redis");
    let seen = proxy.requests_seen();
    let degrading = tokio::spawn({
        let (url, options) = (url.clone(), options());
        async move { RedisStore::connect_or_degrade(&url, options).await }
    });
    proxy.requested(seen).await;
    clock.advance(first_answer);
    let store = tokio::time::timeout(SAFETY, degrading)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(store.is_degraded());
    assert_eq!(store.live_processes(), 4, "BOTFORGE_PROCESSES' default");
    let pool = KeyPool::new(
        &config,
        AnyStore::Redis(Box::new(store)),
        Arc::new(clock.clone()),
        PoolOptions::default(),
    )
    .unwrap();
    assert_eq!(
        pool.health().unwrap().backend,
        "redis (degraded: local shares)"
    );
    // 8 RPM shared by 4 assumed processes: 2 a minute here, not 8.
    assert!(once_locally(&pool).await);
    assert!(once_locally(&pool).await);
    assert!(
        !once_locally(&pool).await,
        "the third request exceeds this process's share"
    );

    // Redis answers: the background probe, one period (500 ms) of the clock later, brings the
    // pool back without any request to trigger it.
    proxy.resume().await;
    clock.advance(Duration::from_millis(499));
    settle().await;
    assert!(
        redis_store(&pool).is_degraded(),
        "no probe before its period"
    );
    clock.advance(Duration::from_millis(1));
    let after = rounds(&pool, 1).await;
    assert_eq!(after.rounds, 1);
    assert!(
        !redis_store(&pool).is_degraded(),
        "shared again at the first probe"
    );
    assert_eq!(pool.health().unwrap().backend, "redis");
    // Now the window lives in Redis, where every process sees it: the two calls made before
    // Redis answered are written there, and this process keeps within its spent share for one
    // more window (the others may not have noticed Redis yet).
    assert!(!once(&pool).await, "its share holds for one more window");
    assert_eq!(
        zcard(&format!("{pfx}:v2:{{p:p}}:m:gemini-2.5-flash:log")).await,
        2,
        "the calls made before Redis answered are counted in Redis"
    );
    cleanup(id).await;
}

/// Issue 20: an idle process keeps announcing itself, so the others keep counting it: one
/// heartbeat per period of the clock, without any request.
#[tokio::test]
async fn an_idle_process_keeps_its_heartbeat() {
    if !redis_available().await {
        return;
    }
    let id = random_id();
    let pfx = prefix(id);
    let clock = ManualClock::new(SystemClock.now_ms());
    let store = RedisStore::connect(
        &redis_url(),
        RedisOptions {
            prefix: pfx.clone(),
            beat_every: Duration::from_millis(100),
            clock: Arc::new(clock.clone()),
            ..RedisOptions::default()
        },
    )
    .await
    .unwrap();
    let client = redis::Client::open(redis_url()).unwrap();
    let mut direct = client.get_multiplexed_async_connection().await.unwrap();
    let key = format!("{pfx}:v1:procs");
    let members = |mut con: redis::aio::MultiplexedConnection, k: String| async move {
        redis::cmd("ZCARD")
            .arg(k)
            .query_async::<u64>(&mut con)
            .await
            .unwrap()
    };
    assert_eq!(members(direct.clone(), key.clone()).await, 1, "connected");
    // The others stop seeing it (its entry expired, say): the next heartbeat, one period on,
    // brings it back; 1 ms short of that nothing has been sent.
    let _: i64 = redis::cmd("DEL")
        .arg(&key)
        .query_async(&mut direct)
        .await
        .unwrap();
    let mut progress = store.progress();
    let beats = progress.borrow_and_update().beats;
    clock.advance(Duration::from_millis(99));
    settle().await;
    assert_eq!(store.progress().borrow().rounds, 0);
    assert_eq!(members(direct.clone(), key.clone()).await, 0);
    clock.advance(Duration::from_millis(1));
    let after = tokio::time::timeout(SAFETY, progress.wait_for(|p| p.rounds >= 1))
        .await
        .unwrap()
        .unwrap()
        .to_owned();
    assert_eq!(after.beats, beats + 1, "one heartbeat in one period");
    assert_eq!(
        members(direct.clone(), key.clone()).await,
        1,
        "announced again"
    );
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
#[tokio::test]
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
    let clock = ManualClock::new(SystemClock.now_ms());
    let pool = stepped_pool(&proxy, &pfx, &clock, &config, 4).await;
    proxy.hang();
    let seen = proxy.requests_seen();
    let selecting = tokio::spawn({
        let pool = Arc::clone(&pool);
        async move {
            pool.select(&SelectRequest::new("gemini-2.5-flash", 1))
                .await
                .map(|lease| (pool.key_id(&lease).to_owned(), lease))
        }
    });
    proxy.requested(seen).await;
    clock.advance(TIMEOUT);
    let (broken, lease) = tokio::time::timeout(SAFETY, selecting)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(redis_store(&pool).is_degraded());
    tokio::time::timeout(
        SAFETY,
        pool.report(
            lease,
            &Outcome::KeyBroken {
                detail: "400 API_KEY_INVALID".into(),
            },
        ),
    )
    .await
    .expect("reported locally, without waiting on Redis")
    .unwrap();
    proxy.resume().await;
    clock.advance(PROBE);
    rounds(&pool, 1).await;
    assert!(!redis_store(&pool).is_degraded(), "shared again");
    pool.refresh().await.unwrap();
    // Another process, straight to Redis, sees the key off.
    let other = redis_pool(&redis_url(), &pfx, &config).await;
    other.refresh().await.unwrap();
    let rows = other.health().unwrap().keys;
    let row = rows.iter().find(|k| k.key_id == broken).unwrap();
    assert!(!row.active, "{broken} stays off for every process: {row:?}");
    let healthy = rows.iter().find(|k| k.key_id != broken).unwrap();
    assert!(healthy.active, "the other key is untouched");
    cleanup(id).await;
}

/// Issue 14 item 5: a request cancelled while its reservation is on its way to Redis (the
/// script ran, the reply never came back) does not keep the slot for the 15-minute in-flight
/// hold: the pool finishes that reservation by its id at its next operation.
#[tokio::test]
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
    let pool = Arc::new(redis_pool(&format!("redis://{}/", proxy.addr), &pfx, &config).await);
    assert!(once(&pool).await, "shared before the cut");

    // The reservation reaches Redis and its script runs; the reply is kept; the caller gives
    // up (a client hung up) before the store's own timeout.
    proxy.hold_replies();
    let selecting = tokio::spawn({
        let pool = Arc::clone(&pool);
        async move {
            let _ = pool
                .select(&SelectRequest::new("gemini-2.5-flash", 10))
                .await;
        }
    });
    proxy.keeps_a_reply().await;
    selecting.abort();
    assert!(
        selecting.await.unwrap_err().is_cancelled(),
        "the select was still waiting for Redis"
    );
    let log = format!("{pfx}:v2:{{p:p}}:m:gemini-2.5-flash:log");
    let client = redis::Client::open(redis_url()).unwrap();
    let direct = client.get_multiplexed_async_connection().await.unwrap();
    let now_ms = || SystemClock.now_ms();
    let entries = |mut con: redis::aio::MultiplexedConnection| {
        let log = log.clone();
        async move {
            redis::cmd("ZRANGE")
                .arg(&log)
                .arg(0)
                .arg(-1)
                .arg("WITHSCORES")
                .query_async::<Vec<(String, i64)>>(&mut con)
                .await
                .unwrap()
        }
    };
    let in_flight = |entries: &[(String, i64)]| {
        entries
            .iter()
            .filter(|(_, at)| *at > now_ms() + 60_000)
            .count()
    };
    let held = entries(direct.clone()).await;
    assert_eq!(held.len(), 2, "the cancelled reservation landed: {held:?}");
    assert_eq!(
        in_flight(&held),
        1,
        "logged as in flight (held for 15 minutes)"
    );

    // The replies flow again: the next operation finishes it, held a window from now, not
    // 15 minutes.
    proxy.release();
    assert!(once(&pool).await);
    let after = entries(direct.clone()).await;
    assert_eq!(after.len(), 3, "{after:?}");
    assert_eq!(
        in_flight(&after),
        0,
        "the cancelled reservation is still in flight: {after:?}"
    );
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
/// a lower count than the last is believed only once the last is a heartbeat lifetime (10 s
/// of the clock) old.
#[tokio::test]
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
    let clock = ManualClock::new(SystemClock.now_ms());
    let options = RedisOptions {
        prefix: pfx.clone(),
        assumed_processes: 4,
        beat_every: Duration::from_millis(100),
        clock: Arc::new(clock.clone()),
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
    let counted_at = clock.now_ms();

    // One other process stops: the heartbeats count 2 from now on, but the count of 3 stands
    // until it is a heartbeat lifetime (10 s) old.
    let _: i64 = redis::cmd("ZREM")
        .arg(&procs)
        .arg("other-2")
        .query_async(&mut direct)
        .await
        .unwrap();
    beat_at(&store, &clock, counted_at + 100).await;
    assert_eq!(store.live_processes(), 3, "a drop waits out the lifetime");
    beat_at(&store, &clock, counted_at + 10_000).await;
    assert_eq!(store.live_processes(), 3, "10 s is not older than 10 s");
    beat_at(&store, &clock, counted_at + 10_100).await;
    assert_eq!(
        store.live_processes(),
        2,
        "believed once the count of 3 is older than a lifetime"
    );
    cleanup(id).await;
}

/// Sets the clock to `to` and waits for the heartbeat that passing a period makes.
async fn beat_at(store: &RedisStore, clock: &ManualClock, to: keypool::Millis) {
    let mut progress = store.progress();
    let want = progress.borrow_and_update().beats + 1;
    clock.set(to);
    tokio::time::timeout(SAFETY, progress.wait_for(|p| p.beats >= want))
        .await
        .expect("a heartbeat when the clock passes its period")
        .unwrap();
}
