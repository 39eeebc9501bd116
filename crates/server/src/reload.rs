//! Key material read again from the secret store while the gateway runs, on demand
//! (`POST /v1/keys/reload`) and on a timer.

use std::sync::Arc;

use crate::errors::ServeError;
use crate::state::Gateway;

/// What a key reload did. Key ids and variable names only, never material.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ReloadReport {
    /// The store read (`env`, `vault`, `aws`, `azure`).
    pub store: &'static str,
    /// Swapped material, missing material and re-enabled keys.
    #[serde(flatten)]
    pub update: keypool::MaterialUpdate,
    /// `GEMINI_KEY_<id>` names in the store for keys the pool does not have (not in
    /// `keys.json` when it was read): a restart adds them.
    pub not_in_pool: Vec<String>,
}

/// Reads the secret store again and swaps rotated key material into the running pool.
///
/// # Errors
/// [`ServeError::Secrets`] when the store fails (the current material stays in use) or
/// [`ServeError::NoSecretStore`] when none is configured.
pub async fn reload_keys(gateway: &Gateway) -> Result<ReloadReport, ServeError> {
    let cached = gateway.secrets.as_ref().ok_or(ServeError::NoSecretStore)?;
    let (snapshot, _changed) = cached.reload().await.map_err(ServeError::Secrets)?;
    let pool = gateway.client.pool();
    let update = pool
        .update_material(&snapshot)
        .await
        .map_err(|e| ServeError::Pool(e.to_string()))?;
    let known: Vec<String> = pool
        .keys()
        .map(|(id, ..)| format!("{}{id}", keypool::vars::GEMINI_KEY_PREFIX))
        .collect();
    let not_in_pool = keypool::KeySource::names(&snapshot)
        .into_iter()
        .filter(|n| n.starts_with(keypool::vars::GEMINI_KEY_PREFIX) && !known.contains(n))
        .collect();
    Ok(ReloadReport {
        store: cached.kind(),
        update,
        not_in_pool,
    })
}

/// Reloads key material every `every` until the process ends; a failing store is logged and
/// the current material kept.
pub async fn reload_periodically(gateway: Arc<Gateway>, every: std::time::Duration) {
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match reload_keys(&gateway).await {
            Ok(r) if !r.update.rotated.is_empty() => {
                tracing::info!(store = r.store, rotated = ?r.update.rotated, reenabled = ?r.update.reenabled, "key material reloaded");
            }
            Ok(r) => {
                if !r.not_in_pool.is_empty() {
                    tracing::debug!(names = ?r.not_in_pool, "keys in the store that the pool lacks; restart to add them");
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "key reload failed; keeping the current key material");
            }
        }
    }
}
