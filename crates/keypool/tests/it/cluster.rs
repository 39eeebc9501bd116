//! Issue 20: a real Redis Cluster (three masters made by `redis-cli --cluster create`, no
//! replicas) shared by four worker processes (`tests/mp_worker.rs`).

use std::collections::{BTreeMap, HashMap};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::fixtures::{KeysFile, Killed, prefix, random_id, tool};

const RPM: usize = 20;
const WINDOW_MS: i64 = 1000;

/// A cluster of masters on free ports, stopped when dropped.
struct Cluster {
    ports: Vec<u16>,
    tls: bool,
    nodes: Vec<Option<Killed>>,
    dir: tempfile::TempDir,
}

/// A port that is free, with its cluster bus port (+10000) free too.
fn free_port() -> u16 {
    loop {
        let port = fastrand_port();
        let free = |p: u16| std::net::TcpListener::bind(("127.0.0.1", p)).is_ok();
        if free(port) && free(port + 10_000) {
            return port;
        }
    }
}

fn fastrand_port() -> u16 {
    let n = crate::fixtures::random_id();
    20_000 + u16::try_from(n % 20_000).unwrap_or(0)
}

/// One cluster node on `port`, its cluster configuration in `dir` (a node started again with
/// it rejoins with its slots); with `tls`, the port speaks only TLS (certificates in `dir`, see
/// `tls::certificates`), the cluster bus too.
fn node(port: u16, dir: &std::path::Path, tls: bool) -> Killed {
    let mut cmd = Command::new("redis-server");
    if tls {
        cmd.args(["--port", "0", "--tls-port", &port.to_string()])
            .args(["--tls-cluster", "yes", "--tls-auth-clients", "no"])
            .args([
                "--tls-cert-file",
                "server.crt",
                "--tls-key-file",
                "server.key",
            ])
            .args(["--tls-ca-cert-file", "ca.crt"]);
    } else {
        cmd.args(["--port", &port.to_string()]);
    }
    Killed(
        cmd.args(["--bind", "127.0.0.1"])
            .args(["--cluster-enabled", "yes"])
            .args(["--cluster-config-file", &format!("nodes-{port}.conf")])
            .args(["--cluster-node-timeout", "1000"])
            // The masters left keep serving their slots when one is lost.
            .args(["--cluster-require-full-coverage", "no"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(dir)
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    )
}

impl Cluster {
    async fn start(masters: usize) -> Option<Self> {
        Self::start_with(masters, false).await
    }

    /// With `tls`, every node speaks TLS only, with a certificate the test's CA signed.
    async fn start_with(masters: usize, tls: bool) -> Option<Self> {
        if !tool("redis-server") || !tool("redis-cli") || (tls && !tool("openssl")) {
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        if tls {
            crate::tls::certificates(dir.path());
        }
        let ports: Vec<u16> = (0..masters).map(|_| free_port()).collect();
        let nodes = ports
            .iter()
            .map(|port| Some(node(*port, dir.path(), tls)))
            .collect();
        let cluster = Self {
            ports,
            tls,
            nodes,
            dir,
        };
        for &port in &cluster.ports {
            let mut tries = 0;
            while !cluster.cli(port, &["PING"]).contains("PONG") {
                tries += 1;
                assert!(tries < 200, "redis-server on {port} did not start");
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
        }
        let out = cluster
            .cli_command()
            .args(["--cluster", "create"])
            .args(cluster.ports.iter().map(|p| format!("127.0.0.1:{p}")))
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "redis-cli --cluster create: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        for &port in &cluster.ports {
            let mut tries = 0;
            loop {
                let info = cluster.cli(port, &["CLUSTER", "INFO"]);
                if info.contains("cluster_state:ok") {
                    break;
                }
                tries += 1;
                assert!(tries < 400, "the cluster did not form: {info}");
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
        }
        Some(cluster)
    }

    /// `redis-cli`, speaking TLS to a TLS cluster.
    fn cli_command(&self) -> Command {
        let mut cmd = Command::new("redis-cli");
        if self.tls {
            cmd.args(["--tls", "--cacert"])
                .arg(self.dir.path().join("ca.crt"));
        }
        cmd
    }

    /// What `redis-cli -p PORT ARGS…` prints (empty when it fails).
    fn cli(&self, port: u16, args: &[&str]) -> String {
        self.cli_command()
            .args(["-p", &port.to_string()])
            .args(args)
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default()
    }

    /// A client of node `i` (trusting the test's CA on a TLS cluster).
    fn client(&self, i: usize) -> redis::Client {
        if self.tls {
            let _ = rustls::crypto::ring::default_provider().install_default();
            redis::Client::build_with_tls(
                self.url(i),
                redis::TlsCertificates {
                    client_tls: None,
                    root_cert: Some(std::fs::read(self.dir.path().join("ca.crt")).unwrap()),
                },
            )
            .unwrap()
        } else {
            redis::Client::open(self.url(i)).unwrap()
        }
    }

    fn url(&self, i: usize) -> String {
        let scheme = if self.tls { "rediss" } else { "redis" };
        format!("{scheme}://127.0.0.1:{}/", self.ports[i])
    }

    fn seeds(&self) -> String {
        (0..self.ports.len())
            .map(|i| self.url(i))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Which master (its index) holds `key`'s slot.
    async fn master_of(&self, key: &str) -> usize {
        let client = self.client(0);
        let mut con = client.get_multiplexed_async_connection().await.unwrap();
        let slot: i64 = redis::cmd("CLUSTER")
            .arg("KEYSLOT")
            .arg(key)
            .query_async(&mut con)
            .await
            .unwrap();
        let slots: Vec<(i64, i64, (String, i64))> = {
            let v: Vec<redis::Value> = redis::cmd("CLUSTER")
                .arg("SLOTS")
                .query_async(&mut con)
                .await
                .unwrap();
            v.into_iter()
                .map(|range| {
                    let redis::Value::Array(items) = range else {
                        panic!("odd CLUSTER SLOTS reply")
                    };
                    let lo: i64 = redis::from_redis_value(items[0].clone()).unwrap();
                    let hi: i64 = redis::from_redis_value(items[1].clone()).unwrap();
                    let node: (String, i64) = {
                        let redis::Value::Array(n) = items[2].clone() else {
                            panic!("odd CLUSTER SLOTS node")
                        };
                        (
                            redis::from_redis_value(n[0].clone()).unwrap(),
                            redis::from_redis_value(n[1].clone()).unwrap(),
                        )
                    };
                    (lo, hi, node)
                })
                .collect()
        };
        let (_, _, (_, port)) = slots
            .iter()
            .find(|(lo, hi, _)| (*lo..=*hi).contains(&slot))
            .unwrap();
        self.ports
            .iter()
            .position(|p| i64::from(*p) == *port)
            .unwrap()
    }

    /// Keys under `prefix` that master `i` holds.
    async fn keys_on(&self, i: usize, prefix: &str) -> usize {
        let client = self.client(i);
        let mut con = client.get_multiplexed_async_connection().await.unwrap();
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{prefix}:*"))
            .query_async(&mut con)
            .await
            .unwrap();
        keys.len()
    }

    fn kill(&mut self, i: usize) {
        self.nodes[i] = None;
    }

    /// Starts a killed master again (empty, with its slots).
    fn restart(&mut self, i: usize) {
        self.nodes[i] = Some(node(self.ports[i], self.dir.path(), self.tls));
    }
}

/// Two project names per master: each project's keys share the hash tag `{p:NAME}`.
async fn projects_per_master(cluster: &Cluster, per: usize) -> BTreeMap<usize, Vec<String>> {
    let mut chosen: BTreeMap<usize, Vec<String>> = BTreeMap::new();
    for n in 0..200 {
        let name = format!("proj{n}");
        let master = cluster.master_of(&format!("{{p:{name}}}")).await;
        let list = chosen.entry(master).or_default();
        if list.len() < per {
            list.push(name);
        }
        if chosen.len() == cluster.ports.len() && chosen.values().all(|l| l.len() == per) {
            break;
        }
    }
    assert!(chosen.values().all(|l| l.len() == per), "{chosen:?}");
    chosen
}

fn keys_file(projects: &BTreeMap<usize, Vec<String>>) -> KeysFile {
    let keys: Vec<String> = projects
        .values()
        .flatten()
        .map(|p| {
            format!(
                r#"{{"key_id": "{p}-k", "project": "{p}", "rpm": {RPM}, "tpm": 100000000, "rpd": 100000000}}"#
            )
        })
        .collect();
    KeysFile::new(&format!(r#"{{"keys": [{}]}}"#, keys.join(",")))
}

/// Every grant the workers printed, per project: (server ms, how).
fn grants_of(outputs: &[String]) -> HashMap<String, Vec<(i64, String)>> {
    let mut grants: HashMap<String, Vec<(i64, String)>> = HashMap::new();
    for (w, out) in outputs.iter().enumerate() {
        for line in out.lines() {
            let f: Vec<&str> = line.split_whitespace().collect();
            assert_eq!((f.len(), f[0]), (4, "GRANT"), "{line}");
            grants
                .entry(f[1].to_owned())
                .or_default()
                .push((f[2].parse().unwrap(), format!("{} w{w}", f[3])));
        }
    }
    grants
}

/// Asserts that no window held more than the limit among `grants` (what `what` names); the
/// number of grants.
fn within_limit(project: &str, what: &str, grants: &[(i64, String)]) -> usize {
    let mut times: Vec<i64> = grants.iter().map(|(at, _)| *at).collect();
    times.sort_unstable();
    let worst = crate::multiprocess::busiest_window(&times, WINDOW_MS);
    assert!(
        worst <= RPM,
        "{project}: {worst} {what} in one {WINDOW_MS} ms window (limit {RPM}): {}",
        busiest_detail(grants)
    );
    times.len()
}

/// The busiest window's grants, for a failure message.
fn busiest_detail(list: &[(i64, String)]) -> String {
    let mut sorted = list.to_vec();
    sorted.sort_unstable();
    let (mut best, mut lo) = ((0, 0), 0);
    for hi in 0..sorted.len() {
        while sorted[hi].0 - sorted[lo].0 >= WINDOW_MS {
            lo += 1;
        }
        if hi + 1 - lo > best.1 - best.0 {
            best = (lo, hi + 1);
        }
    }
    sorted[best.0..best.1]
        .iter()
        .map(|(at, how)| format!("{} {how}", at - sorted[0].0))
        .collect::<Vec<_>>()
        .join(", ")
}

fn worker_args(urls: &[String], id: u64, keys: &KeysFile, run_ms: u64) -> Vec<Vec<String>> {
    urls.iter()
        .map(|url| {
            vec![
                "cluster".into(),
                url.clone(),
                prefix(id),
                keys.path.display().to_string(),
                WINDOW_MS.to_string(),
                run_ms.to_string(),
                "16".into(),
            ]
        })
        .collect()
}

/// Four processes, two given one node's URL (the cluster is found from it) and two the three
/// seed nodes: every project's limit holds exactly across them, and the projects' state lives
/// on every master.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_processes_share_a_three_master_cluster() {
    let Some(cluster) = Cluster::start(3).await else {
        return;
    };
    let projects = projects_per_master(&cluster, 2).await;
    let keys = keys_file(&projects);
    let id = random_id();
    let urls = [
        cluster.url(0),
        cluster.url(1),
        cluster.seeds(),
        cluster.seeds(),
    ];
    let outputs = crate::multiprocess::run_workers(worker_args(&urls, id, &keys, 3500)).await;
    let grants = grants_of(&outputs);
    assert_eq!(grants.len(), 6, "every project served");
    for (project, list) in grants {
        assert!(
            list.iter().all(|(_, how)| how.starts_with("shared")),
            "{project}: served locally although every master answered"
        );
        let n = within_limit(&project, "grants", &list);
        assert!(n >= 3 * RPM, "{project}: only {n} grants");
    }
    for i in 0..3 {
        let n = cluster.keys_on(i, &prefix(id)).await;
        assert!(n > 0, "master {i} holds none of the pool's keys");
    }
}

/// A pool of this process on the cluster, as an operator's `keys health` would read it.
async fn observer(
    cluster: &Cluster,
    keys: &KeysFile,
    id: u64,
) -> keypool::KeyPool<keypool::AnyStore> {
    let store = keypool::RedisStore::connect(
        &cluster.seeds(),
        keypool::RedisOptions {
            prefix: prefix(id),
            ..keypool::RedisOptions::default()
        },
    )
    .await
    .unwrap();
    keypool::KeyPool::new(
        &crate::fixtures::config_of(&std::fs::read_to_string(&keys.path).unwrap()),
        keypool::AnyStore::Redis(Box::new(store)),
        std::sync::Arc::new(keypool::SystemClock),
        keypool::PoolOptions {
            window: Duration::from_millis(u64::try_from(WINDOW_MS).unwrap()),
            ..keypool::PoolOptions::default()
        },
    )
    .unwrap()
}

/// Refreshes `pool` until its health names degraded projects (bounded), which must be
/// `expected`.
async fn degraded_soon(pool: &keypool::KeyPool<keypool::AnyStore>, expected: &[String]) {
    for _ in 0..30 {
        let _ = pool.refresh().await;
        let health = pool.health().unwrap();
        if !health.degraded_projects.is_empty() {
            assert_eq!(health.degraded_projects, expected, "{}", health.backend);
            assert!(health.backend.starts_with("redis cluster (partly degraded"));
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the refresh never noticed the master gone");
}

/// A master killed mid-run: the projects it held run on local shares (never over their limit
/// among the grants made locally), the others stay shared and keep being served within their
/// limits, and no process fails. Started again, the master gets its projects back: they are
/// shared again in every process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_master_degrades_only_its_projects() {
    let Some(mut cluster) = Cluster::start(3).await else {
        return;
    };
    let projects = projects_per_master(&cluster, 2).await;
    let keys = keys_file(&projects);
    let id = random_id();
    let urls = [
        cluster.url(0),
        cluster.url(0),
        cluster.seeds(),
        cluster.seeds(),
    ];
    let workers = tokio::spawn(crate::multiprocess::run_workers(worker_args(
        &urls, id, &keys, 9000,
    )));
    // A pool in this process too, reading health as an operator would.
    let observer = observer(&cluster, &keys, id).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let killed = 2;
    cluster.kill(killed);
    let killed_at = tokio::time::Instant::now();
    // Its refresh finds the master gone: those projects, and only those, are degraded.
    let mut expected = projects[&killed].clone();
    expected.sort();
    degraded_soon(&observer, &expected).await;
    // Started again once the others marked it failed (the node timeout is 1 s).
    tokio::time::sleep_until(killed_at + Duration::from_secs(2)).await;
    cluster.restart(killed);
    let back = keypool::Clock::now_ms(&keypool::SystemClock);
    let outputs = workers.await.unwrap();
    let grants = grants_of(&outputs);
    for (master, names) in &projects {
        for project in names {
            let list = grants.get(project).cloned().unwrap_or_default();
            if *master == killed {
                // What each process granted on its local share, once it knew the master gone.
                let local: Vec<(i64, String)> = list
                    .into_iter()
                    .filter(|(_, how)| how.starts_with("local"))
                    .collect();
                assert!(
                    !local.is_empty(),
                    "{project}: its master is gone, yet never local"
                );
                // Once the master was back, every process shared the project again.
                for (w, out) in outputs.iter().enumerate() {
                    let shared_again = out.lines().any(|l| {
                        let f: Vec<&str> = l.split_whitespace().collect();
                        f[1] == project.as_str()
                            && f[3] == "shared"
                            && f[2].parse::<i64>().is_ok_and(|at| at > back)
                    });
                    assert!(shared_again, "{project}: worker {w} never shared it again");
                }
                within_limit(project, "local grants", &local);
            } else {
                assert!(
                    list.iter().all(|(_, how)| how.starts_with("shared")),
                    "{project}: its master answers, yet served locally"
                );
                // Served through the whole run: at least eight of its nine windows in full.
                let n = within_limit(project, "grants", &list);
                assert!(n >= 8 * RPM, "{project}: only {n} grants");
            }
        }
    }
}

/// `rediss://` to one node of a TLS-only cluster, trusting the test's CA: the cluster is found
/// from it and used over TLS, each project's keys on the master of its slot.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_cluster_is_found_from_one_rediss_node() {
    let Some(cluster) = Cluster::start_with(3, true).await else {
        return;
    };
    let projects = projects_per_master(&cluster, 1).await;
    let keys = keys_file(&projects);
    let config = crate::fixtures::config_of(&std::fs::read_to_string(&keys.path).unwrap());
    let id = random_id();
    let store = keypool::RedisStore::connect(
        &cluster.url(1),
        keypool::RedisOptions {
            prefix: prefix(id),
            ca_pem: Some(std::fs::read(cluster.dir.path().join("ca.crt")).unwrap()),
            ..keypool::RedisOptions::default()
        },
    )
    .await
    .unwrap_or_else(|e| panic!("TLS cluster: {e}"));
    assert!(store.is_cluster(), "the node said it is part of a cluster");
    let pool = keypool::KeyPool::new(
        &config,
        keypool::AnyStore::Redis(Box::new(store)),
        std::sync::Arc::new(keypool::SystemClock),
        keypool::PoolOptions::default(),
    )
    .unwrap();
    assert_eq!(pool.health().unwrap().backend, "redis cluster");
    let mut served = std::collections::BTreeSet::new();
    for _ in 0..3 * RPM {
        let lease = pool
            .select(&keypool::SelectRequest::new("gemini-2.5-flash", 10))
            .await
            .unwrap();
        served.insert(pool.project(&lease).to_owned());
        pool.report(lease, &keypool::Outcome::Success { input_tokens: 10 })
            .await
            .unwrap();
    }
    assert_eq!(served.len(), 3, "every project served: {served:?}");
    // The limit holds: a fourth window's worth is refused within the window.
    assert!(
        pool.select(&keypool::SelectRequest::new("gemini-2.5-flash", 10))
            .await
            .is_err(),
        "3 projects x {RPM} a minute are spent"
    );
    for i in 0..3 {
        let n = cluster.keys_on(i, &prefix(id)).await;
        assert!(n > 0, "master {i} holds none of the pool's keys");
    }
}

/// Several nodes named that are not one cluster (here the same single Redis twice) are a
/// clear error at start, not an outage to wait out.
#[tokio::test]
async fn seed_nodes_that_are_not_a_cluster_are_a_clear_error() {
    if !crate::fixtures::redis_available().await {
        return;
    }
    let url = crate::fixtures::redis_url();
    let twice = format!("{url},{url}");
    for connect in [true, false] {
        let options = keypool::RedisOptions {
            prefix: prefix(random_id()),
            ..keypool::RedisOptions::default()
        };
        let made = if connect {
            keypool::RedisStore::connect(&twice, options).await
        } else {
            keypool::RedisStore::connect_or_degrade(&twice, options).await
        };
        let err = made.map(|_| ()).unwrap_err().to_string();
        assert!(
            err.contains("names 2 nodes") && err.contains("one Redis Cluster"),
            "{err}"
        );
    }
    let mixed = keypool::RedisStore::connect(
        "redis://127.0.0.1:1/,rediss://127.0.0.1:2/",
        keypool::RedisOptions::default(),
    )
    .await
    .map(|_| ())
    .unwrap_err()
    .to_string();
    assert!(mixed.contains("mixes redis:// and rediss://"), "{mixed}");
    for (url, says) in [
        (
            "redis://127.0.0.1:1/,http://127.0.0.1:2/",
            "node #2 is not a Redis URL",
        ),
        (" , ", "REDIS_URL is empty"),
    ] {
        let err = keypool::RedisStore::connect_or_degrade(url, keypool::RedisOptions::default())
            .await
            .map(|_| ())
            .unwrap_err()
            .to_string();
        assert!(err.contains(says), "{url:?}: {err}");
    }
}
