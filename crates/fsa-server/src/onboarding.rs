//! Onboarding and admin reads, shared by the HTTP admin API and the CLI.

use fsa_core::ids::Slug;
use std::collections::HashMap;

use fsa_core::{PlacementKind, Region, Role};
use fsa_store::Router;
use fsa_store::Ts;
use fsa_store::catalog::{NewTenant, Placement, PlacementUsage, Tenant};
use fsa_store::repo::users::{self, NewUser};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::hash_password_blocking;
use crate::dto::{CreateTenant, email, password, text};
use crate::error::ApiError;

/// A placement as admin reads show it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PlacementView {
    pub id: Uuid,
    pub name: String,
    pub kind: PlacementKind,
    #[schema(value_type = String)]
    pub region: Region,
    pub server: String,
    pub database: String,
    pub capacity: Option<i32>,
    pub state: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant_count: Option<i64>,
    /// Bytes on disk; absent when its server could not be asked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size_bytes: Option<i64>,
}

impl PlacementView {
    pub fn new(p: Placement, tenant_count: Option<i64>) -> Self {
        PlacementView {
            id: p.id,
            name: p.name,
            kind: p.kind,
            region: p.region,
            server: p.server,
            database: p.db_name,
            capacity: p.capacity,
            state: p.state,
            tenant_count,
            size_bytes: None,
        }
    }
}

impl From<PlacementUsage> for PlacementView {
    fn from(u: PlacementUsage) -> Self {
        PlacementView::new(u.placement, Some(u.tenant_count))
    }
}

/// A tenant with its placement, as admin reads show it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TenantView {
    pub id: Uuid,
    pub slug: String,
    pub name: String,
    pub plan: fsa_core::Plan,
    #[schema(value_type = String)]
    pub region: Region,
    pub state: String,
    pub epoch: i64,
    pub isolation_requested: bool,
    pub placement: PlacementView,
    pub created_at: Ts,
    pub updated_at: Ts,
}

impl TenantView {
    pub fn new(t: Tenant, p: Placement) -> Self {
        TenantView {
            id: t.id,
            slug: t.slug,
            name: t.name,
            plan: t.plan,
            region: t.region,
            // Suspension is kept apart from the lifecycle state in the
            // catalog; admin reads show it as the state.
            state: if t.suspended && t.state == "active" {
                "suspended".to_owned()
            } else {
                t.state
            },
            epoch: t.epoch,
            isolation_requested: t.isolation_requested,
            placement: PlacementView::new(p, None),
            created_at: t.created_at,
            updated_at: t.updated_at,
        }
    }
}

/// The regions a tenant may be placed in: the standard three, `default`,
/// and any region a configured server serves.
pub fn known_region(router: &Router, r: &Region) -> bool {
    matches!(r.as_str(), "EU" | "US" | "ASIA" | "default")
        || router.servers().all().any(|s| &s.region == r)
}

/// The names of every region [`known_region`] accepts.
pub fn region_names(router: &Router) -> Vec<String> {
    let mut names: Vec<String> = ["EU", "US", "ASIA", "default"]
        .into_iter()
        .map(String::from)
        .collect();
    for s in router.servers().all() {
        if !names.iter().any(|n| n == s.region.as_str()) {
            names.push(s.region.as_str().to_owned());
        }
    }
    names
}

/// Creates a tenant and its first admin user.
pub async fn create_tenant(router: &Router, req: CreateTenant) -> Result<TenantView, ApiError> {
    let slug = Slug::parse(&req.slug).map_err(|e| ApiError::validation("slug", e.to_string()))?;
    let name = text("name", req.name, 200)?;
    let region = req.region.unwrap_or_else(Region::default_region);
    if !known_region(router, &region) {
        return Err(ApiError::validation(
            "region",
            format!("region {region} is not configured"),
        ));
    }
    let admin_email = email(&req.admin_email)?;
    password(&req.admin_password)?;
    if router
        .catalog()
        .tenant_by_slug(slug.as_str())
        .await?
        .is_some()
    {
        return Err(ApiError::Conflict {
            code: "slug_taken",
            detail: format!("a tenant `{slug}` exists"),
        });
    }
    let password_hash = hash_password_blocking(req.admin_password).await?;
    let new = NewTenant {
        id: fsa_core::TenantId::generate(),
        slug: slug.to_string(),
        name,
        plan: req.plan,
        region,
        isolation_requested: req.isolation_requested,
    };
    let (alloc, mut tx) = router.begin_onboarding(&new).await.map_err(|e| match e {
        fsa_store::StoreError::Conflict {
            entity: "tenant", ..
        } => ApiError::Conflict {
            code: "slug_taken",
            detail: format!("a tenant `{slug}` exists"),
        },
        other => other.into(),
    })?;
    let admin = NewUser {
        email: admin_email,
        name: "Administrator".into(),
        role: Role::Admin,
        password_hash,
    };
    let written = async {
        users::create(&mut tx, admin).await?;
        tx.commit().await
    }
    .await;
    if let Err(e) = written {
        router.abandon_onboarding(new.id).await;
        return Err(e.into());
    }
    router.activate(new.id).await?;
    tracing::info!(tenant.slug = %new.slug, tenant.plan = %new.plan, placement = %alloc.placement.name, "tenant onboarded");
    tenant_view(router, new.slug.as_str()).await
}

pub async fn tenant_view(router: &Router, slug: &str) -> Result<TenantView, ApiError> {
    let t = router
        .catalog()
        .tenant_by_slug(slug)
        .await?
        .ok_or(ApiError::NotFound("tenant"))?;
    let p = router
        .catalog()
        .placement(t.placement_id)
        .await?
        .ok_or_else(|| {
            ApiError::Internal(anyhow::anyhow!(
                "tenant {} points at a missing placement",
                t.slug
            ))
        })?;
    Ok(TenantView::new(t, p))
}

pub async fn tenant_views(router: &Router) -> Result<Vec<TenantView>, ApiError> {
    let placements: std::collections::HashMap<Uuid, Placement> = router
        .catalog()
        .placements()
        .await?
        .into_iter()
        .map(|u| (u.placement.id, u.placement))
        .collect();
    let tenants = router.catalog().tenants().await?;
    Ok(tenants
        .into_iter()
        .filter_map(|t| {
            placements
                .get(&t.placement_id)
                .cloned()
                .map(|p| TenantView::new(t, p))
        })
        .collect())
}

/// Every placement with its tenant count and size (asked of each server once).
pub async fn placement_views(router: &Router) -> Result<Vec<PlacementView>, ApiError> {
    let mut views: Vec<PlacementView> = router
        .catalog()
        .placements()
        .await?
        .into_iter()
        .map(PlacementView::from)
        .collect();
    let mut by_server: HashMap<String, Vec<String>> = HashMap::new();
    for v in &views {
        by_server
            .entry(v.server.clone())
            .or_default()
            .push(v.database.clone());
    }
    let mut sizes = HashMap::new();
    for (server, names) in by_server {
        if let Some(s) = router.servers().get(&server) {
            for (db, size) in s.database_sizes(&names).await {
                sizes.insert((server.clone(), db), size);
            }
        }
    }
    for v in &mut views {
        v.size_bytes = sizes.get(&(v.server.clone(), v.database.clone())).copied();
    }
    Ok(views)
}

/// A tenant after a plan change, with the limits it is now over (its data is
/// kept; new records of those kinds are refused).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PlanChange {
    #[serde(flatten)]
    pub tenant: TenantView,
    pub over_limit: Vec<OverLimit>,
    /// The move the change scheduled, when the new plan or region needs
    /// another placement; the plan takes effect at its switch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub r#move: Option<crate::moves::MoveStarted>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OverLimit {
    pub resource: fsa_core::Resource,
    pub used: i64,
    pub limit: u64,
}

/// Changes a tenant's state (suspended or active), plan or region. A
/// suspension takes effect for this process's next request at once, and for
/// other processes when they hear of the route change. A change that keeps the tenant's
/// placement kind and region is applied at once; one that needs another
/// placement schedules the move the policy calls for (to a dedicated
/// database on an upgrade to enterprise, back to shared or pooled on a
/// downgrade, to the new region's servers), and the plan takes effect at
/// its switch.
pub async fn change_tenant(
    router: &std::sync::Arc<Router>,
    config: &crate::config::Config,
    slug: &str,
    req: crate::dto::PatchTenant,
) -> Result<PlanChange, ApiError> {
    let limits = &config.limits;
    let t = router
        .catalog()
        .tenant_by_slug(slug)
        .await?
        .ok_or(ApiError::NotFound("tenant"))?;
    let placement = router
        .catalog()
        .placement(t.placement_id)
        .await?
        .ok_or_else(|| {
            ApiError::Internal(anyhow::anyhow!(
                "tenant {} points at a missing placement",
                t.slug
            ))
        })?;
    // Everything is checked before anything is written: a refused PATCH
    // changes nothing.
    let plan = req.plan.unwrap_or(t.plan);
    let region = req.region.clone().unwrap_or_else(|| t.region.clone());
    if !known_region(router, &region) {
        return Err(ApiError::validation(
            "region",
            format!("region {region} is not configured"),
        ));
    }
    if let Some(state) = req.state {
        let suspend = state == crate::dto::TenantState::Suspended;
        if suspend != t.suspended {
            router
                .catalog()
                .set_suspended(t.tenant_id(), suspend)
                .await?;
            router.invalidate(t.tenant_id());
            tracing::info!(tenant.slug = %t.slug, suspended = suspend, "tenant suspension changed");
        }
    }
    if req.plan.is_none() && req.region.is_none() {
        return Ok(PlanChange {
            tenant: tenant_view(router, slug).await?,
            over_limit: over_limits(router, &t, limits, t.plan).await?,
            r#move: None,
        });
    }
    if region != t.region || plan.placement_kind() != placement.kind {
        let reason = format!("{} → {} in {}", t.plan, plan, region);
        let req = crate::moves::request(
            plan.placement_kind().as_str(),
            Some(region),
            Some(&config.move_cleanup),
            Some(reason),
            "plan-change",
            Some(plan),
        )?;
        let m = crate::moves::schedule(router, &t, req).await?;
        return Ok(PlanChange {
            tenant: tenant_view(router, slug).await?,
            over_limit: over_limits(router, &t, limits, plan).await?,
            r#move: Some(crate::moves::MoveStarted {
                id: m.id,
                state: m.state.to_string(),
            }),
        });
    }
    if plan != t.plan {
        router.catalog().set_plan(t.tenant_id(), plan).await?;
        router.invalidate(t.tenant_id());
    }
    Ok(PlanChange {
        tenant: tenant_view(router, slug).await?,
        over_limit: over_limits(router, &t, limits, plan).await?,
        r#move: None,
    })
}

/// The limits of `plan` the tenant's current usage exceeds.
async fn over_limits(
    router: &std::sync::Arc<Router>,
    t: &Tenant,
    limits: &fsa_core::Limits,
    plan: fsa_core::Plan,
) -> Result<Vec<OverLimit>, ApiError> {
    let mut tx = router.begin(t.tenant_id(), fsa_store::Mode::Read).await?;
    let counts = fsa_store::repo::usage::all(&mut tx).await?;
    tx.commit().await?;
    let l = limits.for_plan(plan);
    Ok(fsa_core::Resource::ALL
        .iter()
        .filter_map(|r| {
            let used = counts.get(r.as_str()).copied().unwrap_or(0);
            l.of(*r)
                .filter(|m| used as u64 > *m)
                .map(|limit| OverLimit {
                    resource: *r,
                    used,
                    limit,
                })
        })
        .collect())
}
