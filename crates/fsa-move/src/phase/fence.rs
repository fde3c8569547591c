//! `fenced` → `switched`: the write pause (the switch itself and the file
//! objects after it are in [`super::switch`]). Under the tenant's write lock
//! taken exclusively, the last delta is copied and checked row by row, the
//! target's state row says `active` and the source's `moved_out`, with a
//! new epoch; then the catalog points the tenant at the target. Work is
//! proportional to the last delta only. Writers waiting on the lock find
//! `moved_out` and retry on the target.

use std::time::Instant;

use fsa_core::Residency;
use fsa_store::StoreError;
use fsa_store::db::Pool;
use uuid::Uuid;

use super::pass::{Pass, copy_pass};
use super::switch::{settle_objects, switch};
use super::{INITIAL_WO_NUMBER, Run};
use crate::endpoint::Endpoint;
use crate::error::{MoveError, Refusal};
use crate::lease::MoveLease;
use crate::progress::NoProgress;
use crate::report::FenceSteps;
use crate::state::MoveState;

#[tracing::instrument(name = "fence", skip_all)]
pub(crate) async fn run(run: &mut Run<'_>) -> Result<MoveState, MoveError> {
    if !run.verified {
        return recover(run).await;
    }
    let t = run.t();
    let src_pool = run.src_pool().await?;
    let dst_pool = run.dst_pool().await?;
    let w = run.m.watermark.unwrap_or(0);
    // What the switch needs from the catalog is read before the pause.
    let tenant = run
        .cx
        .router()
        .catalog()
        .tenant_by_id(run.tenant())
        .await?
        .ok_or_else(|| StoreError::UnknownTenant(t.to_string()))?;
    let (epoch, delta_rows, started, mut steps) =
        fence(run.lease, &src_pool, &dst_pool, t, w).await?;
    run.cx.pause("fence-committed").await;
    let switching = Instant::now();
    switch(run, &tenant, epoch).await?;
    steps.switch_ms = switching.elapsed().as_millis() as u64;
    let fenced = started.elapsed();
    metrics::histogram!("fsa_move_fence_seconds").record(fenced.as_secs_f64());
    run.m.report.fence_ms = fenced.as_millis() as u64;
    run.m.report.fence_delta_rows = delta_rows;
    run.m.report.fence_steps = steps;
    run.save().await?;
    run.cx.pause("switched").await;
    settle_objects(run, &dst_pool).await?;
    let (from, to) = (run.source().await?.name, run.target().await?.name);
    tracing::info!(tenant.id = %t, move.fence_ms = run.m.report.fence_ms, %from, %to, "tenant switched");
    Ok(MoveState::Switched)
}

/// Resumed after a crash inside the fence, or taken over from a driver
/// that stopped there. The source's state row, read under the tenant's
/// write lock (so a fence still running elsewhere has either committed or
/// not begun), tells whether the fence committed.
async fn recover(run: &mut Run<'_>) -> Result<MoveState, MoveError> {
    let t = run.t();
    let src_pool = run.src_pool().await?;
    let mut s = Endpoint::acquire(&src_pool).await?;
    s.begin_exclusive(t).await?;
    let state = s.state(t).await;
    s.rollback().await?;
    match state? {
        Some(st) if st.state == Residency::MovedOut => {
            let tenant = run
                .cx
                .router()
                .catalog()
                .tenant_by_id(run.tenant())
                .await?
                .ok_or_else(|| StoreError::UnknownTenant(t.to_string()))?;
            switch(run, &tenant, st.epoch).await?;
            run.cx.pause("switched").await;
            Ok(MoveState::Switched)
        }
        _ => Err(MoveError::FenceInterrupted),
    }
}

/// The fence. Returns the new epoch, the rows of the last delta, when the
/// write pause began, and its steps so far.
async fn fence(
    lease: &MoveLease,
    src_pool: &Pool,
    dst_pool: &Pool,
    tenant: Uuid,
    w: i64,
) -> Result<(i64, u64, Instant, FenceSteps), MoveError> {
    let mut lock = Endpoint::acquire(src_pool).await?;
    let mut dst = Endpoint::acquire(dst_pool).await?;
    let started = Instant::now();
    lock.begin_exclusive(tenant).await?;
    let mut steps = FenceSteps {
        lock_ms: started.elapsed().as_millis() as u64,
        ..FenceSteps::default()
    };
    let inner = async {
        let st = lock
            .state(tenant)
            .await?
            .ok_or(Refusal::SourceNotActive(None))?;
        if st.state != Residency::Active {
            return Err(Refusal::SourceNotActive(Some(st.state.to_string())).into());
        }
        let copied = copy_pass(
            &mut lock,
            &mut dst,
            tenant,
            w,
            Pass::CheckedDelta,
            &NoProgress,
        )
        .await?
        .rows;
        let new_epoch = st.epoch + 1;
        dst.put_state(tenant, Residency::Active, new_epoch, st.next_wo_number)
            .await?;
        lock.put_state(tenant, Residency::MovedOut, new_epoch, st.next_wo_number)
            .await?;
        // The last look at the lease before the source says `moved_out`; a
        // successor reads that row under this same lock, after this commit.
        lease.ensure().await?;
        Ok::<_, MoveError>((new_epoch, copied))
    }
    .await;
    match inner {
        Ok((epoch, rows)) => {
            let delta_done = Instant::now();
            steps.delta_ms = (delta_done - started).as_millis() as u64 - steps.lock_ms;
            lock.commit().await?;
            steps.commit_ms = delta_done.elapsed().as_millis() as u64;
            Ok((epoch, rows, started, steps))
        }
        Err(e) => {
            // The target must not look ready; set while the tenant's lock is
            // still held, so no later fence can have made it so. After a lost
            // lease the target is the successor's to set.
            if !e.is_lease_lost()
                && let Ok(Some(st)) = dst.state(tenant).await
            {
                let _ = dst
                    .put_state(tenant, Residency::MovingIn, st.epoch, INITIAL_WO_NUMBER)
                    .await;
            }
            let _ = lock.rollback().await;
            Err(e)
        }
    }
}
