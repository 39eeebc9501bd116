//! The key pool: selection, reservation, outcome reports, failover and the health snapshot.
//!
//! Selection (DESIGN.md §3) keeps keys that serve the model, are usable (not cooling, not
//! disabled, a free half-open trial) and whose (project, model) bucket has room for the
//! request's estimated tokens, then picks one at random with probability proportional to its
//! bucket's headroom divided by the number of keys sharing that bucket (extra keys of one project
//! add no quota). It draws by rejection sampling: pick a key uniformly, accept it with
//! probability `weight / max weight`. That is exact and needs O(1) expected work while the pool
//! has room, which keeps select+report near a microsecond at 1,000 keys; after a few rejected
//! draws it scans every candidate, so a nearly full pool is still served exactly.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::time::Duration;

use parking_lot::Mutex;

// The parts: `lease` (requests, leases, outcomes), `layout` (keys, buckets and candidates from
// the configuration), `adopt` (buckets for a model first served after start), `select` (the
// weighted draw and reservation), `report` (what an outcome changes), `failover` (calls across
// keys and models), `overload` (model cooldowns), `admin` (material rotation, enable, disable)
// and `health` (the snapshot).
mod admin;
mod adopt;
mod failover;
mod health;
mod layout;
mod lease;
mod overload;
mod report;
mod select;

pub use admin::MaterialUpdate;
pub use failover::{ExecuteError, Executed, FailoverPolicy, Grant, Held};
pub use health::{HealthSnapshot, KeyReport};
pub use lease::{Lease, Outcome, SelectRequest, Verdict};

use layout::{BucketEntry, Builder, Candidate, KeyEntry, Spare, with_scales};
use lease::Abandoned;

use crate::clock::{Clock, Millis};
use crate::config::PoolConfig;
use crate::error::PoolError;
use crate::health::HealthPolicy;
use crate::limits::Limits;
use crate::memory_store::MemoryStore;
use crate::secret::ApiKey;
use crate::store::{BucketRef, KeyLayout, KeyRef, Layout, StateStore};

pub use crate::models::{ANY_MODEL, model_id};

/// The id the pool shows for `GEMINI_API_KEY`.
pub const FALLBACK_KEY_ID: &str = "GEMINI_API_KEY";

/// The key pool. Cheap to share behind an `Arc`; every method takes `&self`.
#[derive(Debug)]
pub struct KeyPool<S: StateStore = MemoryStore> {
    keys: Vec<KeyEntry>,
    buckets: Vec<BucketEntry>,
    projects: Vec<String>,
    primary: HashMap<String, Vec<Candidate>>,
    primary_any: Option<Vec<Candidate>>,
    secondary: HashMap<String, Candidate>,
    secondary_any: Option<Candidate>,
    /// Slots for models adopted after the pool was made; the first `adopted` are taken.
    spares: Vec<Spare>,
    adopted: AtomicUsize,
    /// One adoption at a time.
    adopting: Mutex<()>,
    rotation: bool,
    /// The model asked for when none is named: the bucket health shows for keys that serve
    /// any model.
    default_model: String,
    store: S,
    clock: Arc<dyn Clock>,
    policy: HealthPolicy,
    overload: overload::Overload,
    /// Leases dropped without a report, finished at the next operation.
    abandoned: Arc<Mutex<Vec<Abandoned>>>,
    /// Each key's calls of the last hour, minute by minute (the dashboard's charts).
    activity: Arc<crate::activity::ActivityLog>,
}

/// Tuning of a pool.
#[derive(Debug, Clone, Copy)]
pub struct PoolOptions {
    /// Cooldown and half-open rules.
    pub health: HealthPolicy,
    /// Length of the RPM/TPM window: 60 s. A little more (say 60.25 s) keeps network delay
    /// and clock skew between this process and Gemini from turning an admitted request into a
    /// 429 at a window's edge, for well under 1 % of throughput. Tests shorten it.
    pub window: Duration,
}

impl Default for PoolOptions {
    fn default() -> Self {
        Self {
            health: HealthPolicy::default(),
            window: Duration::from_millis(
                u64::try_from(crate::window::WINDOW_MS).unwrap_or(60_000),
            ),
        }
    }
}

impl KeyPool<MemoryStore> {
    /// A pool with in-process state and default options.
    ///
    /// # Errors
    /// Never in practice for a fresh [`MemoryStore`]; the signature matches other backends.
    pub fn in_memory(config: &PoolConfig, clock: Arc<dyn Clock>) -> Result<Self, PoolError> {
        Self::new(config, MemoryStore::new(), clock, PoolOptions::default())
    }
}

impl<S: StateStore> KeyPool<S> {
    /// Builds the pool from a configuration and prepares `store` for it.
    ///
    /// # Errors
    /// When the store cannot be prepared.
    pub fn new(
        config: &PoolConfig,
        store: S,
        clock: Arc<dyn Clock>,
        options: PoolOptions,
    ) -> Result<Self, PoolError> {
        let policy = options.health;
        let window_ms =
            i64::try_from(options.window.as_millis()).unwrap_or(crate::window::WINDOW_MS);
        let mut b = Builder::default();
        let (mut primary, any, models) = b.pool_keys(config);
        let (mut secondary, mut secondary_any) = match &config.fallback {
            Some(key) => b.fallback(key, models.iter()),
            None => (HashMap::new(), None),
        };
        let mut spares = b.spares(&any, secondary_any);
        let mut primary_any = (!any.is_empty()).then(|| with_scales(any));
        if config.keys.is_empty() {
            // Single-key mode: GEMINI_API_KEY is the pool.
            for (m, c) in secondary.drain() {
                primary.insert(m, vec![c]);
            }
            primary_any = secondary_any.take().map(|c| vec![c]);
            for s in &mut spares {
                s.primary.extend(s.secondary.take());
            }
        }
        let primary = primary
            .into_iter()
            .map(|(m, c)| (m, with_scales(c)))
            .collect();
        let layout = Layout {
            keys: b
                .keys
                .iter()
                .map(|k| KeyLayout {
                    key_id: k.key_id.clone(),
                    active: k.fallback
                        || config.keys.iter().any(|s| s.key_id == k.key_id && s.active),
                    fingerprint: k.key.load().fingerprint(),
                    project: k.project.clone(),
                })
                .collect(),
            buckets: b
                .buckets
                .iter()
                .map(|e| (e.project.clone(), e.model().to_owned()))
                .collect(),
            window_ms,
        };
        store.prepare(&layout)?;
        let activity = Arc::new(crate::activity::ActivityLog::new(
            b.keys.iter().map(|k| k.key_id.clone()),
            Arc::clone(&clock),
        ));
        Ok(Self {
            keys: b.keys,
            buckets: b.buckets,
            projects: b.projects,
            primary,
            primary_any,
            secondary,
            secondary_any,
            spares,
            adopted: AtomicUsize::new(0),
            adopting: Mutex::new(()),
            rotation: config.rotation,
            default_model: config.default_model.clone(),
            store,
            clock,
            policy,
            overload: overload::Overload::default(),
            abandoned: Arc::default(),
            activity,
        })
    }

    /// Each key's calls of the last hour in this process, minute by minute; the gateway adds
    /// its own answers (DESIGN.md §7's dashboard).
    pub fn activity(&self) -> &Arc<crate::activity::ActivityLog> {
        &self.activity
    }

    /// The model asked for when a command or request names none (`BOTFORGE_MODEL`, else
    /// `gemini-flash-latest`).
    pub fn default_model(&self) -> &str {
        &self.default_model
    }

    /// The projects of the pool's keys, by index ([`SelectRequest::project`]).
    pub fn projects(&self) -> &[String] {
        &self.projects
    }

    /// The index of the project labelled `name`.
    pub fn project_index(&self, name: &str) -> Option<usize> {
        self.projects.iter().position(|p| p == name)
    }

    /// A model that keys of project `project` serve: the default model when they do, else the
    /// first one with a bucket (for calls that are about a project's resources, not a model).
    pub fn model_of_project(&self, project: usize) -> Option<&str> {
        let name = self.projects.get(project)?;
        let mut models = self
            .buckets
            .iter()
            .map(|b| (&b.project, b.model()))
            .filter(|(project, model)| *project == name && !model.is_empty() && *model != ANY_MODEL)
            .map(|(_, model)| model);
        let first = models.clone().next();
        models.find(|m| *m == self.default_model).or(first)
    }

    /// The models the pool's keys serve by name (those with a bucket of their own), the
    /// default model first when served; keys without a `model_name` also take any other.
    pub fn models(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        let named = self.buckets.iter().map(BucketEntry::model);
        for m in std::iter::once(self.default_model.as_str())
            .filter(|d| self.buckets.iter().any(|b| b.model() == *d))
            .chain(named)
        {
            if !m.is_empty() && m != ANY_MODEL && !out.contains(&m) {
                out.push(m);
            }
        }
        out
    }

    /// The state backend.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// Number of keys, the fallback included.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether the pool has no key (never true for a pool built from a valid config).
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Every key: id, material (for probes only), model served (`*` for `GEMINI_API_KEY`) and
    /// whether it is the fallback.
    pub fn keys(&self) -> impl Iterator<Item = (&str, Arc<ApiKey>, &str, bool)> {
        self.keys.iter().map(|k| {
            (
                k.key_id.as_str(),
                k.key.load_full(),
                k.model.as_str(),
                k.fallback,
            )
        })
    }

    /// A lease's key id.
    pub fn key_id(&self, lease: &Lease) -> &str {
        &self.keys[lease.key].key_id
    }

    /// A lease's key material (for the request header only).
    pub fn api_key(&self, lease: &Lease) -> Arc<ApiKey> {
        self.keys[lease.key].key.load_full()
    }

    /// A lease's model.
    pub fn model(&self, lease: &Lease) -> &str {
        self.buckets[lease.bucket].model()
    }

    /// A lease's project label.
    pub fn project(&self, lease: &Lease) -> &str {
        &self.projects[lease.project]
    }

    /// A bucket's limits in force: declared, lowered by what Google's 429s taught.
    fn effective(&self, i: usize, now: Millis) -> Limits {
        let declared = self.buckets[i].limits;
        self.store
            .bucket_view(self.bref(i), 0, now)
            .map_or(declared, |v| declared.min(v.learned))
    }

    fn bref(&self, i: usize) -> BucketRef<'_> {
        let b = &self.buckets[i];
        BucketRef {
            idx: i,
            project: &b.project,
            model: b.model(),
            limits: b.limits,
        }
    }

    fn kref(&self, i: usize) -> KeyRef<'_> {
        KeyRef {
            idx: i,
            key_id: &self.keys[i].key_id,
        }
    }

    fn primary_for(&self, model: &str) -> &[Candidate] {
        let model = model_id(model);
        self.primary
            .get(model)
            .map(Vec::as_slice)
            .or_else(|| {
                self.spare(model)
                    .map(|s| s.primary.as_slice())
                    .filter(|c| !c.is_empty())
            })
            .or(self.primary_any.as_deref())
            .unwrap_or_default()
    }

    fn secondary_for(&self, model: &str) -> Option<Candidate> {
        let model = model_id(model);
        self.secondary
            .get(model)
            .copied()
            .or_else(|| self.spare(model).and_then(|s| s.secondary))
            .or(self.secondary_any)
    }
}

/// Reads the pool configuration from the process environment (and `./.env`).
///
/// # Errors
/// Any [`crate::ConfigError`].
pub fn config_from_process() -> Result<PoolConfig, crate::ConfigError> {
    let env = crate::config::Environment::from_process()?;
    PoolConfig::load(&env, &env)
}
