//! Operator actions: rotated material, enabling and disabling keys.

use std::sync::Arc;

use serde::Serialize;

use super::KeyPool;
use crate::config::{KeySource, vars};
use crate::error::PoolError;
use crate::health::KeyHealth;
use crate::store::StateStore;

/// What [`crate::KeyPool::update_material`] changed. Ids only, never material.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct MaterialUpdate {
    /// Keys whose material changed and was swapped in.
    pub rotated: Vec<String>,
    /// Keys the source holds no material for any more: they keep their last material.
    pub missing: Vec<String>,
    /// Rotated keys that had been deactivated as broken (invalid, revoked) and are active again.
    pub reenabled: Vec<String>,
}

impl<S: StateStore> KeyPool<S> {
    /// Swaps in rotated key material from `source` (`GEMINI_KEY_<key_id>`, `GEMINI_API_KEY` for
    /// the fallback) without a restart. Requests already running finish with the material they
    /// were granted; later ones get the new one. A key that was deactivated as broken under its
    /// old material is enabled again; an operator's deactivation stays. Keys and limits
    /// themselves come from `keys.json` and change only with a restart.
    ///
    /// # Errors
    /// A store failure while re-enabling a key (the material is swapped already).
    pub async fn update_material(
        &self,
        source: &(dyn KeySource + Sync),
    ) -> Result<MaterialUpdate, PoolError> {
        let mut update = MaterialUpdate::default();
        let mut rotated = Vec::new();
        for (i, k) in self.keys.iter().enumerate() {
            let variable = if k.fallback {
                vars::GEMINI_API_KEY.to_owned()
            } else {
                format!("{}{}", vars::GEMINI_KEY_PREFIX, k.key_id)
            };
            match source.material(&variable) {
                None => update.missing.push(k.key_id.clone()),
                Some(new) if !new.same_material(&k.key.load()) => {
                    k.key.store(Arc::new(new));
                    update.rotated.push(k.key_id.clone());
                    rotated.push(i);
                }
                Some(_) => {}
            }
        }
        for i in rotated {
            if self
                .store
                .update_key(self.kref(i), KeyHealth::on_material_rotated)
                .await?
            {
                update.reenabled.push(self.keys[i].key_id.clone());
            }
            tracing::info!(key_id = %self.keys[i].key_id, "key material rotated");
        }
        Ok(update)
    }

    /// Re-enables a key (operator action or a passing probe).
    ///
    /// # Errors
    /// [`PoolError::UnknownKeyId`] or a store failure.
    pub async fn enable(&self, key_id: &str) -> Result<(), PoolError> {
        let i = self.index_of(key_id)?;
        self.store
            .update_key(self.kref(i), KeyHealth::enable)
            .await?;
        Ok(())
    }

    /// Records that a probe with the key passed (`keys check`): see
    /// [`KeyHealth::on_probe_passed`]; a key `keys.json` or an operator disabled stays disabled.
    /// Returns whether the key is active.
    ///
    /// # Errors
    /// [`PoolError::UnknownKeyId`] or a store failure.
    pub async fn probe_passed(&self, key_id: &str) -> Result<bool, PoolError> {
        let i = self.index_of(key_id)?;
        Ok(self
            .store
            .update_key(self.kref(i), KeyHealth::on_probe_passed)
            .await?)
    }

    /// Deactivates a key.
    ///
    /// # Errors
    /// [`PoolError::UnknownKeyId`] or a store failure.
    pub async fn disable(&self, key_id: &str, reason: &str) -> Result<(), PoolError> {
        let i = self.index_of(key_id)?;
        self.store
            .update_key(self.kref(i), |h| h.disable(reason))
            .await?;
        Ok(())
    }

    fn index_of(&self, key_id: &str) -> Result<usize, PoolError> {
        self.keys
            .iter()
            .position(|k| k.key_id == key_id)
            .ok_or_else(|| PoolError::UnknownKeyId {
                key_id: key_id.to_owned(),
            })
    }
}
