//! `copying` → `catching_up`: the bulk copy. A barrier (the tenant's write
//! lock taken exclusively for an instant) gives a watermark `W` (every row
//! of the tenant at or below it is committed) and a snapshot that shows
//! exactly those rows; the rows are copied from the snapshot.
//!
//! The file objects those rows name follow when the tenant's store changes
//! ([`crate::objects`]).
//!
//! A copy is redone from the start when a move is resumed in any state from
//! `copying` to `verifying`: cheap to reason about. Objects already at the
//! target store are not copied again.

use std::time::Instant;

use fsa_core::Residency;

use super::pass::{Pass, barrier, copy_pass};
use super::{Carry, INITIAL_WO_NUMBER, ObjectPass, Run, clear_tenant};
use crate::endpoint::Endpoint;
use crate::error::MoveError;
use crate::state::MoveState;

#[tracing::instrument(name = "copy", skip_all)]
pub(crate) async fn run(run: &mut Run<'_>) -> Result<MoveState, MoveError> {
    let t = run.t();
    let src_pool = run.src_pool().await?;
    let dst_pool = run.dst_pool().await?;
    // What an earlier attempt left at the target goes first.
    let mut d = Endpoint::acquire(&dst_pool).await?;
    d.restore_indexes().await?;
    clear_tenant(&mut d, t).await?;
    let mut s = Endpoint::acquire(&src_pool).await?;
    let epoch = s.state(t).await?.map_or(1, |st| st.epoch);
    d.put_state(t, Residency::MovingIn, epoch, INITIAL_WO_NUMBER)
        .await?;
    drop((s, d));
    if run.m.state != MoveState::Copying {
        run.set_state(MoveState::Copying).await?;
    }

    let started = Instant::now();
    let (mut snap, w0) = barrier(&src_pool, t).await?;
    let mut d = Endpoint::acquire(&dst_pool).await?;
    // Into a database of its own, secondary indexes are built once after
    // the bulk load instead of row by row during it.
    run.m.report.indexes_built_after_load = d.defer_indexes(t).await? as u32;
    let copied = copy_pass(&mut snap, &mut d, t, 0, Pass::Bulk, run.cx.progress()).await;
    let restored = d.restore_indexes().await;
    let copied = copied?;
    restored?;
    snap.commit().await?;
    run.m.report.bytes = copied.bytes;
    // The objects the copied rows name, when the tenant's store changes.
    run.sync_objects(&mut d, ObjectPass::Copy).await?;
    run.m.report.copy_ms = started.elapsed().as_millis() as u64;
    run.m.watermark = Some(w0);
    run.carry = Some(Carry { dst: d, snap: None });
    run.advance(MoveState::CatchingUp).await
}
