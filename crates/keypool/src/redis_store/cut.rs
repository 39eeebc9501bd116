//! A Redis Cluster losing one master: only the projects whose hash tags it holds degrade (their
//! limits run locally at a share, as when a whole Redis is down), the others stay shared; a
//! probe per cut project notices its master back, writes what was spent meanwhile and shares
//! that project again. One Redis (not a cluster) is down or up as a whole.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

use super::degrade::Degrade;
use super::{RedisConn, RedisStore};
use crate::error::StoreError;

/// One project's link to the master that holds it.
#[derive(Debug, Default)]
pub(crate) struct Cut {
    /// The master did not answer an operation of this project: served locally meanwhile.
    pub(super) down: AtomicBool,
    /// Wall-clock ms when it came back (0: never); the local share holds one more window.
    pub(super) recovered_at: AtomicI64,
}

impl Degrade {
    /// Whether some project is cut off.
    pub(super) fn any_cut(&self) -> bool {
        self.cut
            .get()
            .is_some_and(|c| c.iter().any(|c| c.down.load(Ordering::Relaxed)))
    }

    /// Asks each cut project's master whether it answers; one that does gets what this
    /// process granted meanwhile written back, then shares again.
    pub(super) async fn probe_cut(&self, conn: &mut RedisConn) {
        let (Some(cuts), Some(plan)) = (self.cut.get(), self.replay.get()) else {
            return;
        };
        for (p, cut) in cuts.iter().enumerate() {
            if !cut.down.load(Ordering::Acquire) {
                continue;
            }
            let Some(probe) = plan.probes.get(p) else {
                continue;
            };
            let answer: redis::RedisResult<i64> =
                redis::cmd("EXISTS").arg(probe).query_async(conn).await;
            if answer.is_err() {
                continue;
            }
            if let Err(e) = self.replay(conn, Some(p)).await {
                tracing::warn!(error = %e, "a cluster master answers again, but what was spent meanwhile is not written yet");
                continue;
            }
            self.settle_live
                .fetch_max(self.live.load(Ordering::Relaxed), Ordering::Relaxed);
            cut.recovered_at
                .store(RedisStore::wall_ms(), Ordering::Relaxed);
            cut.down.store(false, Ordering::Release);
            tracing::warn!(
                project = p,
                "the cluster master of a project answers: its limits are shared again"
            );
        }
    }
}

impl RedisStore {
    /// A bucket's project (an index into the layout's projects).
    pub(super) fn bucket_project(&self, bucket: usize) -> Option<usize> {
        self.names()
            .ok()
            .and_then(|n| n.bucket_project.get(bucket).copied())
    }

    /// A key's project.
    pub(super) fn key_project(&self, key: usize) -> Option<usize> {
        self.names()
            .ok()
            .and_then(|n| n.key_project.get(key).copied())
    }

    pub(super) fn cut_of(&self, project: Option<usize>) -> Option<&Cut> {
        self.degrade.cut.get()?.get(project?)
    }

    /// Whether a project's state is served from the local fallback: Redis as a whole is down,
    /// or (a cluster) the master holding the project.
    pub(super) fn local_for(&self, project: Option<usize>) -> bool {
        self.degrade.down.load(Ordering::Relaxed)
            || self
                .cut_of(project)
                .is_some_and(|c| c.down.load(Ordering::Relaxed))
    }

    /// The projects whose limits run locally now: all of them while Redis is down, else (a
    /// cluster) those whose master does not answer.
    pub fn degraded_projects(&self) -> Vec<String> {
        self.names().map_or_else(
            |_| Vec::new(),
            |n| {
                n.projects
                    .iter()
                    .enumerate()
                    .filter(|(p, _)| self.local_for(Some(*p)))
                    .map(|(_, name)| name.clone())
                    .collect()
            },
        )
    }

    /// How many projects are cut off from their cluster master.
    pub(super) fn projects_cut(&self) -> usize {
        self.degrade.cut.get().map_or(0, |c| {
            c.iter().filter(|c| c.down.load(Ordering::Relaxed)).count()
        })
    }

    /// An operation of `project` found Redis unavailable: in a cluster that project degrades
    /// (its master may be the only one gone); one Redis degrades as a whole.
    pub(super) fn lost(&self, err: &StoreError, project: Option<usize>) {
        match self.cut_of(project) {
            Some(cut) if self.conn.is_cluster() => {
                // Seeded before anyone serves from it: a caller that found the master gone
                // too waits here, then serves from the seeded share.
                let _seeding = self.degrade.seeding.lock();
                if cut.down.load(Ordering::Acquire) {
                    return;
                }
                tracing::warn!(error = %err, project = project.unwrap_or_default(),
                    live_processes = self.live_processes(),
                    "the cluster master of a project is unavailable: its limits run locally at a share until it answers");
                self.seed_local(project);
                cut.down.store(true, Ordering::Release);
            }
            _ => self.degrade_now(err),
        }
    }
}
