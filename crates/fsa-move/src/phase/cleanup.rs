//! `switched` → `cleaning` → `done`: after the grace period, the tenant's
//! file objects leave the source store (when the move changed it) and its
//! rows the source, and the report records that none remain. A
//! dedicated source, empty then, is dropped a route lifetime after the
//! switch, and its placement retired.

use std::collections::BTreeMap;

use fsa_core::{PlacementKind, PlacementState, Residency};
use fsa_store::StoreError;
use fsa_store::catalog::Placement;
use fsa_store::jobs::Jobs;

use super::{Run, clear_tenant};
use crate::endpoint::Endpoint;
use crate::error::MoveError;
use crate::ledger::Ledger;
use crate::rows::{SIDE_TABLES, TABLES};
use crate::state::MoveState;

/// Cleans the source up, or, while the grace period lasts, schedules the
/// cleanup job for its end and answers `None`: the driver stops there and
/// gives its lease up, so the grace holds nothing.
#[tracing::instrument(name = "cleanup", skip_all)]
pub(crate) async fn run(run: &mut Run<'_>) -> Result<Option<MoveState>, MoveError> {
    run.set_state(MoveState::Cleaning).await?;
    let left = until(run, chrono::Duration::milliseconds(run.m.cleanup_after_ms));
    if !left.is_zero() {
        let id = run.m.id;
        Jobs::new(run.cx.router().catalog())
            .schedule_once(
                &crate::cleanup_job(id),
                crate::CLEANUP_JOB,
                Some(&id.to_string()),
                i64::try_from(left.as_millis()).unwrap_or(i64::MAX),
            )
            .await?;
        tracing::info!(move.id = %id, due_in_s = left.as_secs(), "cleanup scheduled for the end of the grace period");
        return Ok(None);
    }
    // The source store's objects first: each leaves once the target store
    // is seen to hold it.
    run.clean_source_objects().await?;
    let source = run.source().await?;
    let router = run.cx.router();
    let server = router
        .servers()
        .get(&source.server)
        .ok_or_else(|| StoreError::Config(format!("server {} is not configured", source.server)))?;
    // A dedicated source already dropped by an interrupted cleanup holds
    // nothing of the tenant.
    let dedicated = source.kind == PlacementKind::Dedicated;
    if !dedicated || server.database_exists(&source.db_name).await? {
        run.lease.ensure().await?;
        let t = run.t();
        let mut s = Endpoint::acquire(&run.src_pool().await?).await?;
        // Only a source that knows the tenant left is emptied.
        if let Some(st) = s.state(t).await?
            && st.state != Residency::MovedOut
        {
            return Err(MoveError::Mismatch(format!(
                "the source holds the tenant as {}; it is not cleaned",
                st.state
            )));
        }
        clear_tenant(&mut s, t).await?;
        let mut remaining = BTreeMap::new();
        for table in TABLES.iter().chain(&SIDE_TABLES) {
            remaining.insert((*table).to_owned(), s.count(table, t).await?);
        }
        drop(s);
        let left: i64 = remaining.values().sum();
        run.m.report.cleanup_remaining = Some(remaining);
        if left != 0 {
            run.save().await?;
            return Err(MoveError::Mismatch(format!(
                "{left} rows of the tenant remain at the source"
            )));
        }
    }
    if dedicated {
        // The tenant's own database is empty now: drop it, after a route
        // lifetime since the switch so that no process still routes a
        // request there, and retire its placement.
        let ttl = chrono::Duration::from_std(router.settings().route_ttl).unwrap_or_default();
        wait_until(run, ttl).await;
        drop_emptied(run, &source).await?;
        run.m.report.source_dropped = true;
    }
    run.set_state(MoveState::Done).await?;
    Ok(Some(MoveState::Done))
}

/// How long until `after` has passed since the switch (zero once it has).
fn until(run: &Run<'_>, after: chrono::Duration) -> std::time::Duration {
    let due = run
        .m
        .switched_at
        .map(|s| s.0)
        .unwrap_or_else(chrono::Utc::now)
        + after;
    (due - chrono::Utc::now()).to_std().unwrap_or_default()
}

/// Sleeps until `after` has passed since the switch.
async fn wait_until(run: &Run<'_>, after: chrono::Duration) {
    let wait = until(run, after);
    if !wait.is_zero() {
        tokio::time::sleep(wait).await;
    }
}

/// Drops the database a tenant moved out of, if it holds nobody else: its
/// placement is retired first (under the catalog's allocation lock, with
/// the lease checked, and only with no tenant on it), so nothing can be
/// placed there any more; then the database itself must show no tenant's
/// state row. Either check failing keeps the database.
async fn drop_emptied(run: &mut Run<'_>, source: &Placement) -> Result<(), MoveError> {
    let router = run.cx.router().clone();
    let catalog = router.catalog();
    let server = router
        .servers()
        .get(&source.server)
        .ok_or_else(|| StoreError::Config(format!("server {} is not configured", source.server)))?;
    run.lease.ensure().await?;
    if source.state != PlacementState::Retired
        && !Ledger::new(catalog)
            .retire_placement_for_move(source.id, run.m.id, run.lease.owner())
            .await?
    {
        return Err(MoveError::Mismatch(format!(
            "placement {} still holds tenants; its database is kept",
            source.name
        )));
    }
    if server.database_exists(&source.db_name).await? {
        let mut s = Endpoint::acquire(&run.src_pool().await?).await?;
        let others = s.tenants_present().await?;
        drop(s);
        if others > 0 {
            Ledger::new(catalog).unretire_placement(source.id).await?;
            return Err(MoveError::Mismatch(format!(
                "database {} holds {others} other tenants; it is kept",
                source.db_name
            )));
        }
    }
    run.close_source().await;
    router.close_placement(source.id).await;
    run.lease.ensure().await?;
    server.drop_database(&source.db_name).await?;
    Ok(())
}
