//! `catching_up` → `verifying`: copy passes over the rows and tombstones
//! above the previous watermark, each from a barrier's snapshot, until the
//! delta is small, then the objects the new rows name. The last pass's
//! snapshot stays open for the verification.

use super::pass::{MAX_PASSES, Pass, SMALL_DELTA, barrier, copy_pass};
use super::{Carry, ObjectPass, Run};
use crate::error::MoveError;
use crate::state::MoveState;

#[tracing::instrument(name = "catch_up", skip_all)]
pub(crate) async fn run(run: &mut Run<'_>) -> Result<MoveState, MoveError> {
    let t = run.t();
    let src_pool = run.src_pool().await?;
    let Some(Carry { dst: mut d, .. }) = run.carry.take() else {
        return Err(MoveError::Inconsistent("catching up without a copy"));
    };
    let mut w = run.m.watermark.unwrap_or(0);
    let mut passes = 0;
    let (snap, wn) = loop {
        let (mut snap, wi) = barrier(&src_pool, t).await?;
        let n = copy_pass(&mut snap, &mut d, t, w, Pass::Delta, run.cx.progress()).await?;
        passes += 1;
        run.m.report.catch_up_rows += n.rows;
        run.m.report.bytes += n.bytes;
        if n.rows <= SMALL_DELTA || passes >= MAX_PASSES {
            break (snap, wi);
        }
        snap.commit().await?;
        w = wi;
    };
    run.sync_objects(&mut d, ObjectPass::Copy).await?;
    run.m.report.catch_up_passes = passes as u32;
    run.m.watermark = Some(wn);
    run.carry = Some(Carry {
        dst: d,
        snap: Some(snap),
    });
    run.advance(MoveState::Verifying).await
}
