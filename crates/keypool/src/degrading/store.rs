//! [`StateStore`] for [`Degrading`]: each operation goes to the primary while its scope is
//! shared, to the local shares while it is not, and a failure of the primary degrades the scope.

use std::sync::atomic::Ordering;

use super::{Degrading, Primary};
use crate::clock::Millis;
use crate::error::StoreError;
use crate::health::{HealthPolicy, KeyHealth};
use crate::store::{Acquired, BucketRef, BucketView, Finish, KeyRef, Layout, StateStore};

impl<P: Primary> StateStore for Degrading<P> {
    fn backend(&self) -> &'static str {
        let s = self.state();
        let degraded = if s.down.load(Ordering::Relaxed) {
            super::Degraded::Wholly
        } else if s.any_cut() {
            super::Degraded::Partly
        } else {
            super::Degraded::No
        };
        self.inner.primary.name(degraded)
    }

    fn local_projects(&self) -> Vec<String> {
        self.degraded_projects()
    }

    fn prepare(&self, layout: &Layout) -> Result<(), StoreError> {
        self.inner.primary.prepare(layout)?;
        let scopes = self.inner.primary.scope_names().len();
        let _ = self
            .state()
            .cut
            .set((0..scopes).map(|_| super::Cut::default()).collect());
        self.state().local.prepare(layout)
    }

    fn name_bucket(&self, idx: usize, project: &str, model: &str) -> Result<(), StoreError> {
        self.inner.primary.name_bucket(idx, project, model)?;
        self.state().local.name_bucket(idx, project, model)
    }

    async fn acquire(
        &self,
        key: KeyRef<'_>,
        bucket: BucketRef<'_>,
        tokens: u64,
        now: Millis,
        policy: &HealthPolicy,
    ) -> Result<Acquired, StoreError> {
        self.acquire_as(key, bucket, tokens, now, policy, fastrand::u64(1..))
            .await
    }

    async fn acquire_as(
        &self,
        key: KeyRef<'_>,
        bucket: BucketRef<'_>,
        tokens: u64,
        now: Millis,
        policy: &HealthPolicy,
        id: u64,
    ) -> Result<Acquired, StoreError> {
        let s = self.state();
        let scope = self.inner.primary.bucket_scope(bucket.idx);
        if !s.local_for(scope) {
            if s.pending.load(Ordering::Relaxed) {
                self.write_back().await;
            }
            // Just back from degraded mode: the local share holds too for one window.
            let settling = self.settling(bucket.idx);
            if settling && let Some(view) = self.settling_refusal(bucket, tokens, now) {
                return Ok(Acquired::Refused(view.check));
            }
            match self
                .inner
                .primary
                .acquire_as(key, bucket, tokens, now, policy, id)
                .await
            {
                Err(e @ StoreError::Unavailable { .. }) => self.lost(&e, scope),
                other => {
                    if settling && matches!(other, Ok(Acquired::Granted { .. })) {
                        s.local.record_call(bucket.idx, now, tokens);
                    }
                    self.spawn_job(false);
                    return other;
                }
            }
        }
        self.spawn_job(true);
        s.last_now.store(now, Ordering::Relaxed);
        s.local
            .acquire_now(key, self.local_share(bucket), tokens, now, policy)
    }

    async fn finish(
        &self,
        key: KeyRef<'_>,
        bucket: BucketRef<'_>,
        reservation: u64,
        finish: &Finish<'_>,
        now: Millis,
        policy: &HealthPolicy,
    ) -> Result<(), StoreError> {
        let s = self.state();
        let scope = self.inner.primary.bucket_scope(bucket.idx);
        if !s.local_for(scope) {
            match self
                .inner
                .primary
                .finish(key, bucket, reservation, finish, now, policy)
                .await
            {
                Err(e @ StoreError::Unavailable { .. }) => self.lost(&e, scope),
                other => return other,
            }
        }
        // A reservation made in the primary is unknown here: its tokens stay as reserved there.
        let before = s.activation(key);
        let done = s
            .local
            .finish(
                key,
                self.local_share(bucket),
                reservation,
                finish,
                now,
                policy,
            )
            .await;
        s.note_change(key, before.as_ref());
        done
    }

    async fn update_key<R: Send>(
        &self,
        key: KeyRef<'_>,
        mut f: impl FnMut(&mut KeyHealth) -> R + Send,
    ) -> Result<R, StoreError> {
        let s = self.state();
        let scope = self.inner.primary.key_scope(key.idx);
        if !s.local_for(scope) {
            match self.inner.primary.update_key(key, &mut f).await {
                Err(e @ StoreError::Unavailable { .. }) => self.lost(&e, scope),
                other => return other,
            }
        }
        tracing::warn!(
            key_id = key.key_id,
            "{} is unavailable: this change is kept here and written back once it answers",
            self.inner.primary.label()
        );
        let before = s.activation(key);
        let out = s.local.update_key(key, f).await;
        s.note_change(key, before.as_ref());
        out
    }

    async fn refresh(&self, now: Millis) -> Result<(), StoreError> {
        let s = self.state();
        if s.down.load(Ordering::Relaxed) {
            return Ok(());
        }
        self.write_back().await;
        let skip: Vec<usize> = (0..self.inner.primary.scope_names().len())
            .filter(|&i| s.local_for(Some(i)))
            .collect();
        let mut first_error = None;
        for (scope, result) in self.inner.primary.refresh_scopes(now, skip).await {
            match result {
                // Each scope that does not answer degrades alone (all, where scopes fail
                // together).
                Err(e @ StoreError::Unavailable { .. }) => self.lost(&e, scope),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
                Ok(()) => {}
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    fn bucket_view(
        &self,
        bucket: BucketRef<'_>,
        tokens: u64,
        now: Millis,
    ) -> Result<BucketView, StoreError> {
        let s = self.state();
        if s.local_for(self.inner.primary.bucket_scope(bucket.idx)) {
            // Selection looks here even when every local share is spent: probe from here too.
            self.spawn_job(true);
            s.last_now.store(now, Ordering::Relaxed);
            return s.local.bucket_view(self.local_share(bucket), tokens, now);
        }
        if self.settling(bucket.idx)
            && let Some(view) = self.settling_refusal(bucket, tokens, now)
        {
            return Ok(view);
        }
        self.inner.primary.bucket_view(bucket, tokens, now)
    }

    fn key_usable(&self, key: KeyRef<'_>, now: Millis) -> Result<bool, StoreError> {
        let s = self.state();
        if s.local_for(self.inner.primary.key_scope(key.idx)) {
            return s.local.key_usable(key, now);
        }
        self.inner.primary.key_usable(key, now)
    }

    fn key_health(&self, key: KeyRef<'_>) -> Result<KeyHealth, StoreError> {
        let s = self.state();
        if s.local_for(self.inner.primary.key_scope(key.idx)) {
            return s.local.key_health(key);
        }
        self.inner.primary.key_health(key)
    }
}
