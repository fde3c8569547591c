//! Tenants from the operator's side: onboarding, reads, and changes of plan,
//! region and suspension.

use std::collections::HashMap;

use fsa_core::ids::Slug;
use fsa_core::{Lifecycle, PlacementKind, PlacementState, Plan, Region, Role};
use fsa_store::Ts;
use fsa_store::catalog::{NewTenant, Placement, PlacementUsage, Tenant};
use fsa_store::repo::users::{self, NewUser};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::moves::{self, MoveStarted};
use crate::{App, AppError, password, validate};

/// A placement as admin reads show it.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PlacementView {
    pub id: Uuid,
    pub name: String,
    pub kind: PlacementKind,
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub region: Region,
    pub server: String,
    pub database: String,
    pub capacity: Option<i32>,
    pub state: PlacementState,
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
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TenantView {
    pub id: Uuid,
    pub slug: String,
    pub name: String,
    pub plan: fsa_core::Plan,
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
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
            state: if t.suspended && t.state == Lifecycle::Active {
                "suspended".to_owned()
            } else {
                t.state.to_string()
            },
            epoch: t.epoch,
            isolation_requested: t.isolation_requested,
            placement: PlacementView::new(p, None),
            created_at: t.created_at,
            updated_at: t.updated_at,
        }
    }
}

/// Where the move a tenant change needs runs.
pub enum RunMove {
    /// Started in the background; the change returns at once.
    Background,
    /// Run to its end before the change returns, telling its progress.
    Here(std::sync::Arc<dyn fsa_move::Progress>),
}

/// A tenant after a plan change, with the limits it is now over (its data is
/// kept; new records of those kinds are refused).
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PlanChange {
    #[serde(flatten)]
    pub tenant: TenantView,
    pub over_limit: Vec<OverLimit>,
    /// The move the change scheduled, when the new plan or region needs
    /// another placement; the plan takes effect at its switch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub r#move: Option<MoveStarted>,
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OverLimit {
    pub resource: fsa_core::Resource,
    pub used: i64,
    pub limit: u64,
}

/// A tenant to onboard, with its first admin user.
#[derive(Debug, Clone)]
pub struct Onboarding {
    pub slug: String,
    pub name: String,
    pub plan: Plan,
    /// The default region when absent.
    pub region: Option<Region>,
    pub admin_email: String,
    pub admin_password: String,
    pub isolation_requested: bool,
}

/// The states an operator may put a tenant in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum TenantState {
    Active,
    Suspended,
}

/// What to change of a tenant; what is absent is kept.
#[derive(Debug, Clone, Default)]
pub struct TenantChange {
    pub plan: Option<Plan>,
    pub region: Option<Region>,
    pub state: Option<TenantState>,
    /// The tenant asks for (or no longer asks for) a database of its own.
    pub isolation_requested: Option<bool>,
}

use crate::validate::check_region;
pub use crate::validate::{known_region, region_names};

fn slug_taken(slug: &Slug) -> AppError {
    AppError::Conflict {
        code: "slug_taken",
        detail: format!("a tenant `{slug}` exists"),
    }
}

impl App {
    /// Creates a tenant and its first admin user.
    #[tracing::instrument(skip_all, fields(tenant.slug = %req.slug))]
    pub async fn create_tenant(&self, req: Onboarding) -> Result<TenantView, AppError> {
        let router = &self.router;
        let slug =
            Slug::parse(&req.slug).map_err(|e| AppError::validation("slug", e.to_string()))?;
        let name = validate::text("name", req.name, 200)?;
        let region = req.region.unwrap_or_else(Region::default_region);
        check_region(router, &region)?;
        let admin_email = validate::email(&req.admin_email)?;
        validate::password(&req.admin_password)?;
        if router
            .catalog()
            .tenant_by_slug(slug.as_str())
            .await?
            .is_some()
        {
            return Err(slug_taken(&slug));
        }
        let password_hash = password::hash_blocking(req.admin_password).await?;
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
            } => slug_taken(&slug),
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
        self.tenant(new.slug.as_str()).await
    }

    /// The tenant `slug` as the catalog holds it.
    pub async fn tenant_row(&self, slug: &str) -> Result<Tenant, AppError> {
        self.router
            .catalog()
            .tenant_by_slug(slug)
            .await?
            .ok_or(AppError::NotFound("tenant"))
    }

    async fn placement_of(&self, t: &Tenant) -> Result<Placement, AppError> {
        self.router
            .catalog()
            .placement(t.placement_id)
            .await?
            .ok_or_else(|| AppError::MissingPlacement {
                tenant: t.slug.clone(),
            })
    }

    /// One tenant with its placement.
    #[tracing::instrument(skip_all, fields(tenant.slug = %slug))]
    pub async fn tenant(&self, slug: &str) -> Result<TenantView, AppError> {
        let t = self.tenant_row(slug).await?;
        let p = self.placement_of(&t).await?;
        Ok(TenantView::new(t, p))
    }

    /// Every tenant with its placement.
    #[tracing::instrument(skip_all)]
    pub async fn tenants(&self) -> Result<Vec<TenantView>, AppError> {
        let catalog = self.router.catalog();
        let placements: HashMap<Uuid, Placement> = catalog
            .placements()
            .await?
            .into_iter()
            .map(|u| (u.placement.id, u.placement))
            .collect();
        let tenants = catalog.tenants().await?;
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
    #[tracing::instrument(skip_all)]
    pub async fn placements(&self) -> Result<Vec<PlacementView>, AppError> {
        let router = &self.router;
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

    /// Whether a tenant may be placed in `region`.
    pub fn known_region(&self, region: &Region) -> bool {
        known_region(&self.router, region)
    }

    /// The names of every region a tenant may be placed in.
    pub fn region_names(&self) -> Vec<String> {
        region_names(&self.router)
    }

    /// Changes a tenant's state (suspended or active), plan or region. A
    /// suspension takes effect for this process's next request at once, and
    /// for other processes when they hear of the route change. A change that
    /// keeps the tenant's placement kind and region is applied at once; one
    /// that needs another placement schedules the move the policy calls for
    /// (to a dedicated database on an upgrade to enterprise, back to shared
    /// or pooled on a downgrade, to the new region's servers), and the plan
    /// takes effect at its switch.
    #[tracing::instrument(skip_all, fields(tenant.slug = %slug))]
    pub async fn change_tenant(
        &self,
        slug: &str,
        req: TenantChange,
    ) -> Result<PlanChange, AppError> {
        self.change_tenant_with(slug, req, RunMove::Background)
            .await
    }

    /// [`App::change_tenant`], running the move it needs as `run` says: in
    /// the background (the service), or here to its end (the CLI, which
    /// would otherwise leave it to the next service to resume).
    pub async fn change_tenant_with(
        &self,
        slug: &str,
        req: TenantChange,
        run: RunMove,
    ) -> Result<PlanChange, AppError> {
        let router = &self.router;
        let t = self.tenant_row(slug).await?;
        let placement = self.placement_of(&t).await?;
        // Everything is checked before anything is written: a refused change
        // writes nothing.
        let plan = req.plan.unwrap_or(t.plan);
        let region = req.region.clone().unwrap_or_else(|| t.region.clone());
        check_region(router, &region)?;
        if let Some(state) = req.state {
            let suspend = state == TenantState::Suspended;
            if suspend != t.suspended {
                router
                    .catalog()
                    .set_suspended(t.tenant_id(), suspend)
                    .await?;
                router.invalidate(t.tenant_id());
                tracing::info!(tenant.slug = %t.slug, suspended = suspend, "tenant suspension changed");
            }
        }
        if let Some(wanted) = req.isolation_requested
            && wanted != t.isolation_requested
        {
            router
                .catalog()
                .set_isolation_requested(t.tenant_id(), wanted)
                .await?;
            tracing::info!(tenant.slug = %t.slug, isolation_requested = wanted, "tenant isolation request changed");
        }
        if req.plan.is_none() && req.region.is_none() {
            return Ok(PlanChange {
                tenant: self.tenant(slug).await?,
                over_limit: self.over_limits(&t, t.plan).await?,
                r#move: None,
            });
        }
        if region != t.region || plan.placement_kind() != placement.kind {
            let reason = format!("{} → {} in {}", t.plan, plan, region);
            let req = fsa_move::MoveRequest {
                to: fsa_move::Target::Kind(plan.placement_kind()),
                region: Some(region),
                cleanup_after: self.move_cleanup,
                requested_by: "plan-change".to_owned(),
                reason,
                plan_after: Some(plan),
            };
            let m = match run {
                RunMove::Background => self.schedule(&t, req).await?,
                RunMove::Here(progress) => {
                    let mover = self.mover().with_progress(progress);
                    let planned = mover.plan(&t, req).await.map_err(moves::move_error)?;
                    mover.run(planned.id).await.map_err(AppError::Move)?
                }
            };
            return Ok(PlanChange {
                tenant: self.tenant(slug).await?,
                over_limit: self.over_limits(&t, plan).await?,
                r#move: Some(moves::started(&m)),
            });
        }
        if plan != t.plan {
            router.catalog().set_plan(t.tenant_id(), plan).await?;
            router.invalidate(t.tenant_id());
        }
        Ok(PlanChange {
            tenant: self.tenant(slug).await?,
            over_limit: self.over_limits(&t, plan).await?,
            r#move: None,
        })
    }

    /// The limits of `plan` the tenant's current usage exceeds.
    async fn over_limits(&self, t: &Tenant, plan: Plan) -> Result<Vec<OverLimit>, AppError> {
        let mut tx = self
            .router
            .begin(t.tenant_id(), fsa_store::Mode::Read)
            .await?;
        let counts = fsa_store::repo::usage::all(&mut tx).await?;
        tx.commit().await?;
        let l = self.limits.for_plan(plan);
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
}
