//! `failed` → `rolled_back`: undoes a move that did not switch. The source
//! is left as it was (a fence that committed its source side but not the
//! switch is undone), the target store loses the copies of the tenant's
//! file objects, the target loses every row of the tenant, and a
//! dedicated placement made for the move is dropped. A rollback never
//! empties the placement the catalog routes the tenant to.

use fsa_core::{PlacementKind, Residency, TenantId};
use fsa_store::StoreError;

use super::{Run, clear_tenant};
use crate::endpoint::Endpoint;
use crate::ledger::Ledger;

#[tracing::instrument(name = "rollback", skip_all)]
pub(crate) async fn run(run: &mut Run<'_>) -> Result<(), StoreError> {
    let cx = run.cx;
    let catalog = cx.router().catalog();
    let t = run.t();
    run.lease.ensure().await?;
    let routed_to = catalog
        .tenant_by_id(TenantId::from_verified(t))
        .await?
        .map(|x| x.placement_id);
    if let Some(src) = catalog.placement(run.m.from_placement).await? {
        // Under the tenant's write lock, so a fence of another driver is
        // seen whole or not at all.
        let pool = cx.admin_pool(&src).await?;
        let mut s = Endpoint::acquire(&pool).await?;
        s.begin_exclusive(t).await?;
        let reset = async {
            if let Some(st) = s.state(t).await?
                && st.state != Residency::Active
                && routed_to == Some(src.id)
            {
                s.put_state(t, Residency::Active, st.epoch, st.next_wo_number)
                    .await?;
            }
            Ok::<_, StoreError>(())
        }
        .await;
        match reset {
            Ok(()) => s.commit().await?,
            Err(e) => {
                let _ = s.rollback().await;
                return Err(e);
            }
        }
        run.clean_target_objects(&mut s).await;
        drop(s);
        pool.close().await;
    }
    let Some(to) = run.m.to_placement else {
        return Ok(());
    };
    let Some(target) = catalog.placement(to).await? else {
        return Ok(());
    };
    if routed_to == Some(target.id) {
        // The tenant lives there: a rollback never empties it.
        return Err(StoreError::Config(format!(
            "move {} cannot roll back: the tenant is served from its target",
            run.m.id
        )));
    }
    if let Ok(pool) = cx.admin_pool(&target).await {
        run.lease.ensure().await?;
        let mut d = Endpoint::acquire(&pool).await?;
        d.restore_indexes().await?;
        clear_tenant(&mut d, t).await?;
        drop(d);
        pool.close().await;
    }
    if target.kind == PlacementKind::Dedicated
        && Ledger::new(catalog)
            .retire_placement_for_move(target.id, run.m.id, run.lease.owner())
            .await?
        && let Some(server) = cx.router().servers().get(&target.server)
    {
        server.drop_database(&target.db_name).await.ok();
    }
    Ok(())
}
