//! How a pool is laid out from its configuration: keys, (project, model) buckets, and the
//! candidates each model draws from.

use std::collections::HashMap;
use std::sync::OnceLock;

use arc_swap::ArcSwap;

use super::{ANY_MODEL, FALLBACK_KEY_ID, model_id};
use crate::config::{KeySpec, PoolConfig};
use crate::limits::Limits;
use crate::secret::ApiKey;

/// Models that a key serving any model holds a bucket of its own for (besides those the
/// configuration names); every other model shares the key's project's bucket for the rest.
/// What Google serves late in 2026: the `-latest` aliases, the 3.x Flash, Flash-Lite and Pro,
/// and 2.5 (2.0 was retired in March 2026).
pub(crate) const KNOWN_MODELS: [&str; 11] = [
    "gemini-flash-latest",
    "gemini-flash-lite-latest",
    "gemini-pro-latest",
    "gemini-3.8-flash",
    "gemini-3.5-flash-lite",
    "gemini-3.1-pro-preview",
    "gemini-2.5-pro",
    "gemini-2.5-flash",
    "gemini-2.5-flash-lite",
    "gemini-embedding-001",
    "gemini-embedding-2",
];

#[derive(Debug)]
pub(super) struct KeyEntry {
    pub(super) key_id: String,
    /// Swapped in place when the secret store rotates it ([`crate::KeyPool::update_material`]).
    pub(super) key: ArcSwap<ApiKey>,
    pub(super) project: String,
    pub(super) model: String,
    pub(super) fallback: bool,
}

#[derive(Debug)]
pub(super) struct BucketEntry {
    pub(super) project: String,
    /// The model named at start; empty for a spare bucket, whose model is `adopted` later.
    model: String,
    adopted: OnceLock<String>,
    pub(super) limits: Limits,
}

impl BucketEntry {
    /// The bucket's model (`*` for a project's shared bucket, empty for an unused spare).
    pub(super) fn model(&self) -> &str {
        if self.model.is_empty() {
            self.adopted.get().map_or("", String::as_str)
        } else {
            &self.model
        }
    }

    /// Names a spare bucket (once).
    pub(super) fn adopt(&self, model: &str) {
        if self.model.is_empty() {
            let _ = self.adopted.set(model.to_owned());
        }
    }
}

/// Model slots kept for models a key without `model_name` turns out to serve after the pool
/// was made (a model released later, or one the API's list did not name at start): each slot
/// holds a bucket per project of those keys (and the fallback key's), named when a model is
/// adopted into it ([`crate::KeyPool::adopt_model`]).
pub(super) const SPARE_MODELS: usize = 16;

/// One spare model slot.
#[derive(Debug)]
pub(super) struct Spare {
    /// The model adopted into it.
    pub(super) name: OnceLock<String>,
    pub(super) primary: Vec<Candidate>,
    pub(super) secondary: Option<Candidate>,
}

#[derive(Debug, Clone, Copy)]
pub(super) struct Candidate {
    pub(super) key: usize,
    pub(super) bucket: usize,
    pub(super) project: usize,
    /// `min keys per bucket / keys in this bucket`, so that weight = headroom × scale ≤ 1.
    pub(super) scale: f64,
}

#[derive(Default)]
pub(super) struct Builder {
    pub(super) keys: Vec<KeyEntry>,
    pub(super) buckets: Vec<BucketEntry>,
    pub(super) bucket_ids: HashMap<(String, String), usize>,
    pub(super) projects: Vec<String>,
    pub(super) project_ids: HashMap<String, usize>,
}

impl Builder {
    pub(super) fn project(&mut self, name: &str) -> usize {
        if let Some(&i) = self.project_ids.get(name) {
            return i;
        }
        self.projects.push(name.to_owned());
        self.project_ids
            .insert(name.to_owned(), self.projects.len() - 1);
        self.projects.len() - 1
    }

    pub(super) fn bucket(&mut self, project: &str, model: &str, limits: Limits) -> usize {
        self.entry(project, model, Some(model), limits)
    }

    /// The bucket known as `id` in `project`, named `model` (`None`: a spare, named later).
    fn entry(&mut self, project: &str, id: &str, model: Option<&str>, limits: Limits) -> usize {
        let id = (project.to_owned(), id.to_owned());
        if let Some(&i) = self.bucket_ids.get(&id) {
            // Keys of one project that declare different limits share the smallest.
            self.buckets[i].limits = self.buckets[i].limits.min(limits);
            return i;
        }
        self.buckets.push(BucketEntry {
            project: project.to_owned(),
            model: model.unwrap_or_default().to_owned(),
            adopted: OnceLock::new(),
            limits,
        });
        self.bucket_ids.insert(id, self.buckets.len() - 1);
        self.buckets.len() - 1
    }

    /// The spare model slots: for each, a bucket per project of the keys in `any` (those that
    /// serve any model, at their project's limits) and of the fallback key's `fallback`. None
    /// when no key serves any model: every model such a pool serves has its bucket already.
    pub(super) fn spares(&mut self, any: &[Candidate], fallback: Option<Candidate>) -> Vec<Spare> {
        let slots = if any.is_empty() && fallback.is_none() {
            0
        } else {
            SPARE_MODELS
        };
        (0..slots)
            .map(|j| {
                // An id no model name has (they never hold a NUL): one spare per project.
                let id = format!("\u{0}spare-{j}");
                let primary = any
                    .iter()
                    .map(|c| {
                        let (project, limits) = {
                            let shared = &self.buckets[c.bucket];
                            (shared.project.clone(), shared.limits)
                        };
                        Candidate {
                            bucket: self.entry(&project, &id, None, limits),
                            ..*c
                        }
                    })
                    .collect();
                let secondary = fallback.map(|c| Candidate {
                    bucket: self.entry(FALLBACK_KEY_ID, &id, None, Limits::UNKNOWN),
                    ..c
                });
                Spare {
                    name: OnceLock::new(),
                    primary: with_scales(primary),
                    secondary,
                }
            })
            .collect()
    }

    /// Adds the pool's keys: the candidates per model, those for any other model, and the
    /// models that keys without a model hold buckets of their own for.
    pub(super) fn pool_keys(
        &mut self,
        config: &PoolConfig,
    ) -> (HashMap<String, Vec<Candidate>>, Vec<Candidate>, Vec<String>) {
        let mut primary: HashMap<String, Vec<Candidate>> = HashMap::new();
        // The models with buckets of their own for keys that serve any model.
        let mut models: Vec<String> = KNOWN_MODELS.iter().map(|m| (*m).to_owned()).collect();
        models.extend(config.models.iter().map(|m| model_id(m).to_owned()));
        models.extend(
            config
                .keys
                .iter()
                .map(|k| k.model.clone())
                .filter(|m| m != ANY_MODEL),
        );
        models.sort();
        models.dedup();
        let mut any: Vec<Candidate> = Vec::new();
        for spec in &config.keys {
            let KeySpec {
                key_id,
                model,
                project,
                limits,
                key,
                ..
            } = spec;
            let project_name = project.clone().unwrap_or_else(|| key_id.clone());
            let project = self.project(&project_name);
            self.keys.push(KeyEntry {
                key_id: key_id.clone(),
                key: ArcSwap::from_pointee(key.clone()),
                project: project_name.clone(),
                model: model.clone(),
                fallback: false,
            });
            let key = self.keys.len() - 1;
            // A key without a model serves any: a bucket per model (declared limits hold for
            // each), and the project's bucket for the rest.
            let served: Vec<&str> = if model == ANY_MODEL {
                models.iter().map(String::as_str).collect()
            } else {
                vec![model.as_str()]
            };
            for m in served {
                let bucket = self.bucket(&project_name, m, *limits);
                primary.entry(m.to_owned()).or_default().push(Candidate {
                    key,
                    bucket,
                    project,
                    scale: 1.0,
                });
            }
            if model == ANY_MODEL {
                let bucket = self.bucket(&project_name, ANY_MODEL, *limits);
                any.push(Candidate {
                    key,
                    bucket,
                    project,
                    scale: 1.0,
                });
            }
        }
        (primary, any, models)
    }

    /// Adds `GEMINI_API_KEY`: its own project, a bucket per known model and one for the rest.
    pub(super) fn fallback<'m>(
        &mut self,
        key: &ApiKey,
        pool_models: impl Iterator<Item = &'m String>,
    ) -> (HashMap<String, Candidate>, Option<Candidate>) {
        let project = self.project(FALLBACK_KEY_ID);
        self.keys.push(KeyEntry {
            key_id: FALLBACK_KEY_ID.to_owned(),
            key: ArcSwap::from_pointee(key.clone()),
            project: FALLBACK_KEY_ID.to_owned(),
            model: ANY_MODEL.to_owned(),
            fallback: true,
        });
        let key_idx = self.keys.len() - 1;
        let mut models: Vec<String> = KNOWN_MODELS.iter().map(|m| (*m).to_owned()).collect();
        models.extend(pool_models.cloned());
        models.sort();
        models.dedup();
        let mut by_model = HashMap::new();
        for m in models.iter().map(String::as_str).chain([ANY_MODEL]) {
            let bucket = self.bucket(FALLBACK_KEY_ID, m, Limits::UNKNOWN);
            by_model.insert(
                m.to_owned(),
                Candidate {
                    key: key_idx,
                    bucket,
                    project,
                    scale: 1.0,
                },
            );
        }
        let any = by_model.remove(ANY_MODEL);
        (by_model, any)
    }
}

pub(super) fn with_scales(mut cands: Vec<Candidate>) -> Vec<Candidate> {
    let mut per_bucket: HashMap<usize, usize> = HashMap::new();
    for c in &cands {
        *per_bucket.entry(c.bucket).or_default() += 1;
    }
    let min = per_bucket.values().copied().min().unwrap_or(1) as f64;
    for c in &mut cands {
        c.scale = min / per_bucket.get(&c.bucket).copied().unwrap_or(1) as f64;
    }
    cands
}
