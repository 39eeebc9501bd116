//! How a pool is laid out from its configuration: keys, (project, model) buckets, and the
//! candidates each model draws from.

use std::collections::HashMap;

use arc_swap::ArcSwap;

use super::{ANY_MODEL, FALLBACK_KEY_ID, model_id};
use crate::config::{KeySpec, PoolConfig};
use crate::limits::Limits;
use crate::secret::ApiKey;

/// Models that a key serving any model holds a bucket of its own for (besides those the
/// configuration names); every other model shares the key's project's bucket for the rest.
pub(super) const KNOWN_MODELS: [&str; 9] = [
    "gemini-flash-latest",
    "gemini-flash-lite-latest",
    "gemini-pro-latest",
    "gemini-2.5-pro",
    "gemini-2.5-flash",
    "gemini-2.5-flash-lite",
    "gemini-2.0-flash",
    "gemini-2.0-flash-lite",
    "gemini-embedding-001",
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
    pub(super) model: String,
    pub(super) limits: Limits,
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
        let id = (project.to_owned(), model.to_owned());
        if let Some(&i) = self.bucket_ids.get(&id) {
            // Keys of one project that declare different limits share the smallest.
            self.buckets[i].limits = self.buckets[i].limits.min(limits);
            return i;
        }
        self.buckets.push(BucketEntry {
            project: project.to_owned(),
            model: model.to_owned(),
            limits,
        });
        self.bucket_ids.insert(id, self.buckets.len() - 1);
        self.buckets.len() - 1
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
