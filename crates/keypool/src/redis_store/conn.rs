//! The connection to Redis: one server, or a Redis Cluster used as one.
//!
//! `REDIS_URL` names one node (`redis://` or `rediss://`), or several seed nodes of a cluster
//! separated by commas. Whether one node is part of a cluster is asked at its first answer
//! (`INFO cluster`); from then on every command goes through the cluster client, which routes
//! each by its key's slot (every script's keys share one project's hash tag, so a script runs
//! on the master that holds that project).
//!
//! Every command is bounded on the store's clock (`RedisOptions::clock`): the response timeout,
//! plus the connect timeout until the first answer. On a manual clock a command that Redis
//! never answers fails exactly when the test moves the clock past its timeout.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, Pipeline, RedisFuture, Value};

use super::{RedisOptions, redis_err};
use crate::clock::Clock;
use crate::error::StoreError;

/// How a process reaches Redis. Cloning is cheap: clones share the connections.
#[derive(Clone)]
pub struct RedisConn {
    /// The first (or only) node, connected on first use.
    single: ConnectionManager,
    /// Known at the first answer: the cluster client's connection, or `None` for one node.
    cluster: Arc<OnceLock<Option<ClusterConnection>>>,
    setup: Arc<Setup>,
}

struct Setup {
    seeds: Vec<String>,
    connect_timeout: Duration,
    response_timeout: Duration,
    ca_pem: Option<Vec<u8>>,
    /// One detection at a time.
    gate: tokio::sync::Mutex<()>,
    /// What the timeouts run on.
    clock: Arc<dyn Clock>,
    /// Whether any command was answered (until then a command's time includes connecting).
    answered: AtomicBool,
}

impl std::fmt::Debug for RedisConn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisConn")
            .field("seeds", &self.setup.seeds.len())
            .field("cluster", &self.is_cluster())
            .finish_non_exhaustive()
    }
}

fn bad_url(message: String) -> StoreError {
    StoreError::Redis {
        op: "connect",
        message,
    }
}

impl RedisConn {
    /// A connection to the node or seed nodes of `url`, made on first use.
    ///
    /// # Errors
    /// [`StoreError::Redis`] when `url` is not one or more `redis://` / `rediss://` URLs of one
    /// scheme.
    pub(super) fn new(url: &str, options: &RedisOptions) -> Result<Self, StoreError> {
        let seeds: Vec<String> = url
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        let Some(first) = seeds.first() else {
            return Err(bad_url(
                "REDIS_URL is empty: give redis://HOST:PORT, rediss://HOST:PORT, or several \
                 cluster nodes separated by commas"
                    .to_owned(),
            ));
        };
        let tls = first.starts_with("rediss://");
        if seeds.iter().any(|s| s.starts_with("rediss://") != tls) {
            return Err(bad_url(
                "REDIS_URL mixes redis:// and rediss:// nodes: every node of one cluster speaks \
                 the same protocol"
                    .to_owned(),
            ));
        }
        // `rediss://` is TLS (rustls): the system's roots, or the CA the operator names. rustls
        // needs one crypto provider for the process; another part may have set one already.
        if tls {
            let _ = rustls::crypto::ring::default_provider().install_default();
        }
        for (i, seed) in seeds.iter().enumerate() {
            redis::Client::open(seed.as_str()).map_err(|e| {
                bad_url(format!(
                    "REDIS_URL node #{} is not a Redis URL ({e}): write redis://HOST:PORT[/DB] \
                     or rediss://HOST:PORT",
                    i + 1
                ))
            })?;
        }
        let client = match &options.ca_pem {
            Some(pem) if tls => redis::Client::build_with_tls(
                first.as_str(),
                redis::TlsCertificates {
                    client_tls: None,
                    root_cert: Some(pem.clone()),
                },
            ),
            _ => redis::Client::open(first.as_str()),
        }
        .map_err(redis_err("connect"))?;
        // The response timeout runs on the store's clock (see `bounded`): on the socket it would
        // only fail the command too, it does not make the manager reconnect. Connecting keeps
        // its own bound on the socket: a reconnection in the background has no caller waiting.
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(options.connect_timeout))
            .set_response_timeout(None)
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(200));
        let single = ConnectionManager::new_lazy_with_config(client, config)
            .map_err(redis_err("connect"))?;
        Ok(Self {
            single,
            cluster: Arc::new(OnceLock::new()),
            setup: Arc::new(Setup {
                seeds,
                connect_timeout: options.connect_timeout,
                response_timeout: options.response_timeout,
                ca_pem: options.ca_pem.clone(),
                gate: tokio::sync::Mutex::new(()),
                clock: Arc::clone(&options.clock),
                answered: AtomicBool::new(false),
            }),
        })
    }

    /// Whether commands go to a Redis Cluster (known from the first answer).
    pub fn is_cluster(&self) -> bool {
        matches!(self.cluster.get(), Some(Some(_)))
    }

    /// The cluster's connection, when commands go to one.
    fn cluster(&self) -> Option<&ClusterConnection> {
        self.cluster.get().and_then(Option::as_ref)
    }

    /// Whether the operator named several nodes (which must be a cluster's).
    fn seeded(&self) -> bool {
        self.setup.seeds.len() > 1
    }

    /// Whether `e`, from [`Self::detect`], says the named nodes are not a cluster (a
    /// configuration to fix, not an outage to wait out).
    pub(super) fn seeds_not_a_cluster(&self, e: &StoreError) -> bool {
        self.seeded() && matches!(e, StoreError::Redis { op: "connect", .. })
    }

    /// Finds out, once, whether the node answers as part of a cluster, and if so connects to the
    /// cluster (several seed nodes always are one). Until this succeeds nothing is sent
    /// elsewhere.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when no node answers; [`StoreError::Redis`] when several
    /// nodes were named but they are not a cluster.
    pub(super) async fn detect(&self) -> Result<(), StoreError> {
        if self.cluster.get().is_some() {
            return Ok(());
        }
        let _one = self.setup.gate.lock().await;
        if self.cluster.get().is_some() {
            return Ok(());
        }
        if !self.seeded() {
            let info: String = redis::cmd("INFO")
                .arg("cluster")
                .query_async(&mut self.clone())
                .await
                .map_err(redis_err("connect"))?;
            if !info.lines().any(|l| l.trim() == "cluster_enabled:1") {
                let _ = self.cluster.set(None);
                return Ok(());
            }
        }
        // The cluster client keeps its own timeouts on the socket as well: its redirections and
        // retries run inside one command of ours.
        let mut builder = ClusterClient::builder(self.setup.seeds.iter().map(String::as_str))
            .connection_timeout(self.setup.connect_timeout)
            .response_timeout(self.setup.response_timeout)
            .retries(1)
            .min_retry_wait(20)
            .max_retry_wait(100);
        if let Some(pem) = &self.setup.ca_pem {
            builder = builder.certs(redis::TlsCertificates {
                client_tls: None,
                root_cert: Some(pem.clone()),
            });
        }
        let client = builder.build().map_err(redis_err("connect"))?;
        let connecting = Box::pin(async move { client.get_async_connection().await });
        let conn = bounded(&self.setup, connecting, true).await.map_err(|e| {
            let err = redis_err("connect")(e);
            match err {
                StoreError::Redis { op, message } if self.seeded() => StoreError::Redis {
                    op,
                    message: format!(
                        "REDIS_URL names {} nodes, which must be nodes of one Redis Cluster, \
                         but they did not answer as one ({message}); name one node for a single \
                         Redis",
                        self.setup.seeds.len()
                    ),
                },
                other => other,
            }
        })?;
        let _ = self.cluster.set(Some(conn));
        tracing::info!(
            seeds = self.setup.seeds.len(),
            "REDIS_URL is a Redis Cluster: each project's state lives on the master of its slot"
        );
        Ok(())
    }
}

/// `call`, failed with a timeout (an I/O error, as Redis reports its own) when it has not
/// answered within the response timeout on `setup`'s clock, plus the connect timeout while
/// `connecting` (a connection is made first).
fn bounded<'a, T: Send + 'a>(
    setup: &Arc<Setup>,
    call: RedisFuture<'a, T>,
    connecting: bool,
) -> RedisFuture<'a, T> {
    let timeout = if connecting {
        setup.response_timeout + setup.connect_timeout
    } else {
        setup.response_timeout
    };
    let expiry = setup.clock.deadline(timeout);
    let setup = Arc::clone(setup);
    Box::pin(async move {
        tokio::select! {
            biased;
            answer = call => {
                if answer.is_ok() && connecting {
                    setup.answered.store(true, Ordering::Relaxed);
                }
                answer
            }
            () = expiry => Err(redis::RedisError::from(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("no answer from Redis within {} ms", timeout.as_millis()),
            ))),
        }
    })
}

impl ConnectionLike for RedisConn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        let call = match self.cluster() {
            Some(c) => {
                let mut c = c.clone();
                Box::pin(async move { c.req_packed_command(cmd).await })
            }
            None => self.single.req_packed_command(cmd),
        };
        let connecting = !self.setup.answered.load(Ordering::Relaxed);
        bounded(&self.setup, call, connecting)
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        let call = match self.cluster() {
            Some(c) => {
                let mut c = c.clone();
                Box::pin(async move { c.req_packed_commands(pipeline, offset, count).await })
            }
            None => self.single.req_packed_commands(pipeline, offset, count),
        };
        let connecting = !self.setup.answered.load(Ordering::Relaxed);
        bounded(&self.setup, call, connecting)
    }

    fn get_db(&self) -> i64 {
        match self.cluster() {
            Some(c) => c.get_db(),
            None => self.single.get_db(),
        }
    }
}
