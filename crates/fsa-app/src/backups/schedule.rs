//! The backup schedule and retention, one pass at a time (the
//! `backups.schedule` job runs a pass every minute in one process of the
//! fleet). The time of a pass is given, so tests move it forward instead
//! of waiting.
//!
//! - A tenant is due a backup `every` (its plan's) after its newest
//!   finished one. Its first is due at an offset within one period taken
//!   from its id, so a thousand tenants onboarded together are spread over
//!   the period rather than started at once.
//! - A failed backup is tried again 10 minutes later (or `every`, if
//!   shorter); one running is left to finish.
//! - At most `[backups] max_started_per_minute` are started per pass.
//! - A backup older than its plan's `keep` is deleted (its parts, then its
//!   row), except a tenant's newest finished one.
//! - A backup still `running` 6 hours after it started was left by a
//!   process that stopped: it is `failed`, and what it wrote is deleted.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use fsa_store::backups::Backups;
use fsa_store::ts::Ts;
use serde::Serialize;
use uuid::Uuid;

use crate::{App, AppError};

/// A running backup older than this is taken for one whose process died:
/// its job retries it, and the schedule no longer waits for it.
const RUNNING_FOR_AT_MOST: Duration = Duration::from_secs(6 * 3600);
const RETRY_FAILED_AFTER: Duration = Duration::from_secs(600);

/// What one pass did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Pass {
    /// Backups started (recorded and scheduled as jobs).
    pub started: Vec<Uuid>,
    /// Backups deleted as past their plan's `keep`.
    pub pruned: Vec<Uuid>,
    /// Backups left `running` by a process that stopped, now `failed`,
    /// their parts collected.
    pub abandoned: Vec<Uuid>,
}

fn pass_abandoned(list: &mut Vec<Uuid>, id: Uuid) {
    tracing::warn!(backup.id = %id, "a backup left running by a stopped process is failed; its parts are collected");
    list.push(id);
}

/// The offset of a tenant's first backup within its plan's period.
fn first_offset(tenant: Uuid, every: Duration) -> Duration {
    let b = tenant.as_bytes();
    let h = u64::from_le_bytes([b[15], b[14], b[13], b[12], b[11], b[10], b[9], b[8]]);
    Duration::from_millis(h % every.as_millis().max(1) as u64)
}

impl App {
    /// One pass of the schedule and retention at `now`.
    pub async fn backup_schedule(&self, now: DateTime<Utc>) -> Result<Pass, AppError> {
        let mut abandoned = Vec::new();
        let plans = self
            .backups
            .plans
            .parsed()
            .map_err(|e| AppError::validation("backups", e))?;
        let catalog = self.router.catalog();
        let rows = Backups::new(catalog);
        // Backups left running by a process that stopped: failed, and the
        // parts they wrote (never listed: no manifest) collected.
        for b in rows.running().await? {
            if (now - b.created_at.0).to_std().unwrap_or_default() >= RUNNING_FOR_AT_MOST {
                rows.failed(b.id, "its process stopped while it ran")
                    .await?;
                self.delete_backup_parts(b.id).await?;
                pass_abandoned(&mut abandoned, b.id);
            }
        }
        let mut newest: HashMap<(Uuid, String), DateTime<Utc>> = HashMap::new();
        for (t, state, at) in rows.newest_by_state().await? {
            newest.insert((t, state), at.0);
        }
        let since = |d: DateTime<Utc>| (now - d).to_std().unwrap_or_default();
        let mut pass = Pass {
            abandoned,
            ..Pass::default()
        };
        for t in catalog.tenants().await? {
            if pass.started.len() >= self.backups.max_started_per_minute {
                break;
            }
            if t.state != fsa_core::Lifecycle::Active {
                continue;
            }
            let Some((_, every, _)) = plans.iter().find(|(p, _, _)| *p == t.plan) else {
                continue;
            };
            let at = |state: &str| newest.get(&(t.id, state.to_owned())).copied();
            if at("running").is_some_and(|r| since(r) < RUNNING_FOR_AT_MOST) {
                continue;
            }
            let due = match at("done") {
                Some(done) => since(done) >= *every,
                None => since(t.created_at.0) >= first_offset(t.id, *every),
            };
            let retry_wait = RETRY_FAILED_AFTER.min(*every);
            let failed_lately = at("failed")
                .is_some_and(|f| since(f) < retry_wait && at("done").is_none_or(|d| f > d));
            if due && !failed_lately {
                let b = self.start_backup(&t.slug, "schedule").await?;
                pass.started.push(b.id);
            }
        }
        for (plan, _, keep) in &plans {
            let before = now - chrono::Duration::from_std(*keep).unwrap_or_default();
            for b in rows.older_than(plan.as_str(), Ts(before)).await? {
                let newest_done = newest.get(&(b.tenant_id, "done".to_owned()));
                if b.state == "done" && newest_done == Some(&b.created_at.0) {
                    continue;
                }
                self.delete_backup_parts(b.id).await?;
                rows.delete(b.id).await?;
                pass.pruned.push(b.id);
            }
        }
        Ok(pass)
    }

    pub(super) async fn delete_backup_parts_of(&self, id: Uuid) -> Result<(), AppError> {
        self.delete_backup_parts(id).await
    }

    /// Deletes every part of backup `id` from the backup store, manifest
    /// first (so a half-deleted backup is no longer one).
    async fn delete_backup_parts(&self, id: Uuid) -> Result<(), AppError> {
        let store = &self.backups.store;
        store
            .delete(&fsa_move::archive::manifest::key(
                id,
                fsa_move::archive::manifest::MANIFEST,
            ))
            .await?;
        for (key, _) in store.list(&id.to_string()).await? {
            store.delete(&key).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_backups_spread_over_the_period() {
        let every = Duration::from_secs(86_400);
        let offsets: Vec<Duration> = (0..1000)
            .map(|_| first_offset(Uuid::now_v7(), every))
            .collect();
        assert!(offsets.iter().all(|o| *o < every));
        let first_hour = offsets
            .iter()
            .filter(|o| **o < Duration::from_secs(3600))
            .count();
        // About 1000/24 ≈ 42 in any hour; far from all of them.
        assert!(first_hour < 120, "{first_hour} of 1000 in the first hour");
    }
}
