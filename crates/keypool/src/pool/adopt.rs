//! Buckets for a model first served after the pool was made: a key without `model_name` turns
//! out to serve a model the pool had no bucket for (released later, or missing from the API's
//! list at start), and one of the spare slots laid out for that is named after it.

use std::sync::atomic::Ordering;

use super::layout::Spare;
use super::{ANY_MODEL, KeyPool, model_id};
use crate::store::StateStore;

impl<S: StateStore> KeyPool<S> {
    /// The spare slot `model` was adopted into.
    pub(super) fn spare(&self, model: &str) -> Option<&Spare> {
        let taken = self.adopted.load(Ordering::Acquire);
        self.spares[..taken.min(self.spares.len())]
            .iter()
            .find(|s| s.name.get().is_some_and(|n| n == model))
    }

    /// Whether `model` has buckets of its own (named at start, or adopted since), for the
    /// pool's keys or (`fallback`) for `GEMINI_API_KEY`.
    pub(super) fn has_buckets(&self, model: &str, fallback: bool) -> bool {
        let named = if fallback {
            self.secondary.contains_key(model)
        } else {
            self.primary.contains_key(model)
        };
        named || self.spare(model).is_some()
    }

    /// Gives `model` buckets of its own on the keys that serve any model, from now on: a model
    /// they turned out to serve (upstream answered it) that had none, so it stops sharing its
    /// project's `*` bucket, and the limits it teaches stop applying to other models. Takes one
    /// of the 16 spare slots per process; `false` when the model has buckets already, no key
    /// serves any model, or every slot is taken (it keeps sharing `*`, and a warning says so).
    pub fn adopt_model(&self, model: &str) -> bool {
        let model = model_id(model);
        if model.is_empty()
            || model == ANY_MODEL
            || self.spares.is_empty()
            || self.primary.contains_key(model)
            || self.secondary.contains_key(model)
        {
            return false;
        }
        let _one = self.adopting.lock();
        if self.spare(model).is_some() {
            return false;
        }
        let taken = self.adopted.load(Ordering::Acquire);
        let Some(slot) = self.spares.get(taken) else {
            if taken == self.spares.len() {
                tracing::warn!(
                    model,
                    slots = self.spares.len(),
                    "every spare model slot is taken: this model shares its project's bucket with the other models outside the pool's list; restart the gateway to give each its own"
                );
                self.adopted.store(taken + 1, Ordering::Release);
            }
            return false;
        };
        // The store learns the buckets' names before any request can reach them.
        for c in slot.primary.iter().chain(&slot.secondary) {
            let b = &self.buckets[c.bucket];
            if let Err(e) = self.store.name_bucket(c.bucket, &b.project, model) {
                // Never expected once prepared; the slot is left unused rather than half-named.
                tracing::warn!(error = %e, model, "a spare model slot could not be named");
                self.adopted.store(taken + 1, Ordering::Release);
                return false;
            }
        }
        for c in slot.primary.iter().chain(&slot.secondary) {
            self.buckets[c.bucket].adopt(model);
        }
        let _ = slot.name.set(model.to_owned());
        self.adopted.store(taken + 1, Ordering::Release);
        tracing::info!(
            model,
            "a model outside the pool's list was served: it has buckets of its own from now on"
        );
        true
    }
}
