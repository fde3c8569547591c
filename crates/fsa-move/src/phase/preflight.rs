//! `planned` → `provisioning` → `copying`: the request is checked when it is
//! made; then the target is chosen (and created when new), and both ends are
//! checked before anything is copied.

use fsa_core::{Lifecycle, PlacementKind, PlacementState, Region, Residency};
use fsa_store::StoreError;
use fsa_store::catalog::{Placement, Tenant};

use super::{INITIAL_WO_NUMBER, Run, clear_tenant};
use crate::context::Context;
use crate::endpoint::Endpoint;
use crate::error::{MoveError, Refusal};
use crate::request::{MoveRequest, Target};
use crate::state::MoveState;

/// The checks a request passes before it is recorded.
pub(crate) async fn check_request(
    cx: &Context,
    tenant: &Tenant,
    req: &MoveRequest,
) -> Result<(), MoveError> {
    if tenant.state != Lifecycle::Active {
        return Err(Refusal::TenantNotActive(tenant.slug.clone()).into());
    }
    if let Target::Placement(id) = &req.to {
        let catalog = cx.router().catalog();
        let p = catalog
            .placement(*id)
            .await?
            .ok_or(Refusal::NoPlacement(*id))?;
        if p.id == tenant.placement_id {
            return Err(Refusal::AlreadyThere.into());
        }
        if p.state != PlacementState::Ready {
            return Err(Refusal::PlacementNotReady {
                name: p.name,
                state: p.state.to_string(),
            }
            .into());
        }
        if p.kind == PlacementKind::Dedicated
            && catalog
                .tenants_on_placement(p.id, tenant.tenant_id())
                .await?
                > 0
        {
            return Err(Refusal::DedicatedTaken(p.name).into());
        }
    }
    Ok(())
}

/// Chooses the target and checks both ends; the target holds an empty
/// `moving_in` state row for the tenant after it.
#[tracing::instrument(name = "preflight", skip_all)]
pub(crate) async fn run(run: &mut Run<'_>) -> Result<MoveState, MoveError> {
    run.set_state(MoveState::Provisioning).await?;
    let source = run.source().await?;
    let target = resolve_target(run).await?;
    run.m.to_placement = Some(target.id);
    run.save().await?;
    if target.id == source.id {
        return Err(Refusal::AlreadyThere.into());
    }
    let t = run.t();
    let src_pool = run.src_pool().await?;
    let dst_pool = run.dst_pool().await?;
    let mut s = Endpoint::acquire(&src_pool).await?;
    let mut d = Endpoint::acquire(&dst_pool).await?;
    // Both ends hold this binary's latest schema before a row is copied, so
    // the rows are the same on both. An end behind it (a source one version
    // behind during a fleet rollout, say) is brought up to date here, as
    // `fsa db migrate` would: migrations are additive, the placement's
    // other tenants keep being served, and the ledger records the steps.
    // An end ahead of this binary is refused: its rows may hold columns
    // this binary would not copy.
    for (end, c, placement) in [("source", &mut s, &source), ("target", &mut d, &target)] {
        let (have, want) = (c.schema_version().await?, c.latest_schema());
        if have > want {
            return Err(Refusal::SchemaAhead { end, have, want }.into());
        }
        if have < want {
            let router = run.cx.router();
            let server = router
                .servers()
                .get(&placement.server)
                .ok_or_else(|| Refusal::UnknownServer(placement.server.clone()))?;
            let set = fsa_store::schema::MigrationSet::binary();
            let mode = fsa_store::schema::Mode {
                dry_run: false,
                check_role: true,
            };
            fsa_store::schema::migrate_placement(router.catalog(), server, placement, &set, mode)
                .await
                .map_err(|e| Refusal::SchemaBehind {
                    end,
                    have,
                    want,
                    error: e.to_string(),
                })?;
            tracing::info!(end, from = have, to = want, placement = %placement.name, "brought a move's end up to date");
        }
    }
    // The target must be a ready placement that does not already serve
    // this tenant and, when dedicated, serves nobody else: the catalog and
    // the database itself must both say so, as a database reached under a
    // colliding name would not.
    let catalog = run.cx.router().catalog();
    let fresh = catalog.placement(target.id).await?;
    if let Some(state) = fresh.map_or(Some("gone".to_owned()), |p| {
        (p.state != PlacementState::Ready).then(|| p.state.to_string())
    }) {
        return Err(Refusal::PlacementNotReady {
            name: target.name,
            state,
        }
        .into());
    }
    if target.kind == PlacementKind::Dedicated {
        let others = catalog
            .tenants_on_placement(target.id, run.tenant())
            .await?
            .max(d.other_tenants(t).await?);
        if others > 0 {
            return Err(Refusal::DedicatedTaken(target.name).into());
        }
    }
    if d.state(t)
        .await?
        .is_some_and(|st| st.state == Residency::Active)
    {
        return Err(Refusal::TargetHoldsTenant(target.name).into());
    }
    // Only a tenant active at the source moves.
    let epoch = match s.state(t).await? {
        Some(st) if st.state == Residency::Active => st.epoch,
        other => return Err(Refusal::SourceNotActive(other.map(|st| st.state.to_string())).into()),
    };
    // Leftovers of an earlier attempt go first.
    clear_tenant(&mut d, t).await?;
    d.put_state(t, Residency::MovingIn, epoch, INITIAL_WO_NUMBER)
        .await?;
    drop((s, d));
    run.advance(MoveState::Copying).await
}

/// The target placement of a planned move: named, or chosen by policy
/// (and provisioned when new).
async fn resolve_target(run: &mut Run<'_>) -> Result<Placement, MoveError> {
    if run.m.to_placement.is_some() {
        return run.target().await;
    }
    let router = run.cx.router();
    let catalog = router.catalog();
    match &run.m.target {
        Target::Placement(id) => catalog
            .placement(*id)
            .await?
            .ok_or_else(|| Refusal::NoPlacement(*id).into()),
        Target::Kind(kind) => {
            let region = Region::parse(&run.m.target_region)
                .map_err(|e| Refusal::BadRegion(e.to_string()))?;
            let server = router.servers().for_region(&region).clone();
            let slug = catalog
                .tenant_by_id(run.tenant())
                .await?
                .map(|t| t.slug)
                .unwrap_or_default();
            let alloc = catalog
                .placement_for_move(
                    *kind,
                    &region,
                    &slug,
                    &server,
                    router.settings().pooled_capacity,
                )
                .await?;
            if alloc.is_new {
                let made = server
                    .provision(&alloc.placement.db_name, alloc.placement.id)
                    .await;
                if let Err(e @ StoreError::DatabaseTaken { .. }) = made {
                    catalog.retire_unprovisioned(alloc.placement.id).await?;
                    return Err(e.into());
                }
                catalog
                    .record_provisioned(alloc.placement.id, &made?)
                    .await?;
                catalog.placement_ready(alloc.placement.id).await?;
            }
            if alloc.placement.id == run.m.from_placement {
                return Err(Refusal::AlreadyOnKind {
                    kind: *kind,
                    region,
                }
                .into());
            }
            Ok(alloc.placement)
        }
    }
}
