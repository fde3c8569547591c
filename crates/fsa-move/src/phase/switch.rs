//! The switch, the end of the write pause: the catalog points the tenant at
//! the target with the fence's epoch (and the plan, and so the file store,
//! that needed the move); then, outside the pause, the file objects of the
//! last delta follow.

use fsa_core::Region;
use fsa_store::catalog::Tenant;
use fsa_store::db::Pool;

use super::{ObjectPass, Run};
use crate::endpoint::Endpoint;
use crate::error::MoveError;
use crate::ledger::{Ledger, Switch};
use crate::state::MoveState;

/// The switch: the catalog points the tenant at the target with the
/// fence's epoch, a plan change that needed this move takes effect, the
/// region follows the target, and the move says `switched`; one catalog
/// transaction that checks the lease.
pub(super) async fn switch(run: &mut Run<'_>, t: &Tenant, epoch: i64) -> Result<(), MoveError> {
    run.lease.check_flag()?;
    let target = run.target().await?;
    let tenant = run.tenant();
    let router = run.cx.router();
    let catalog = router.catalog();
    let plan = run
        .m
        .plan_after
        .as_deref()
        .and_then(|p| p.parse().ok())
        .unwrap_or(t.plan);
    let region = Region::parse(&run.m.target_region).unwrap_or_else(|_| t.region.clone());
    let switch = Switch {
        placement: target.id,
        epoch,
        plan,
        region: &region,
    };
    let at = Ledger::new(catalog)
        .switch_move(run.m, run.lease.owner(), &switch)
        .await?;
    router.invalidate(tenant);
    run.m.state = MoveState::Switched;
    run.m.switched_at = Some(at);
    run.cx.progress().phase(MoveState::Switched.as_str());
    Ok(())
}

/// The objects of the last delta, after the write pause: the pause is the
/// last row delta only. Until they are copied, reads find them in the store
/// they were uploaded to; cleanup copies any still missing before it
/// deletes anything, so a failure here only waits for it (a lost lease
/// still stops the driver).
pub(super) async fn settle_objects(run: &mut Run<'_>, dst_pool: &Pool) -> Result<(), MoveError> {
    let settled = async {
        let mut d = Endpoint::acquire(dst_pool).await?;
        run.sync_objects(&mut d, ObjectPass::Settle).await?;
        run.save().await?;
        Ok::<(), MoveError>(())
    }
    .await;
    match settled {
        Err(e) if e.is_lease_lost() => Err(e),
        Err(e) => {
            tracing::warn!(tenant.id = %run.t(), error = %e, "the last objects were not copied after the switch; cleanup copies them");
            Ok(())
        }
        Ok(()) => Ok(()),
    }
}
