//! The catalog: servers, placements and tenants.
//!
//! The catalog lives in the database named by `FSA_DATABASE_URL` (a
//! PostgreSQL database, or `catalog.db` in the SQLite data folder). Placement
//! databases are separate databases on the servers the catalog lists.

use fsa_core::{Lifecycle, PlacementKind, PlacementState, Plan, Region, TenantId};
use serde::Serialize;
use sqlx::{Connection, FromRow};
use uuid::Uuid;

use crate::db::{Engine, Pool};
use crate::error::{StoreError, map_constraint};
use crate::server::{PG_CATALOG, SQLITE_CATALOG};
use crate::ts::Ts;
use crate::{on_pool, sql};

/// A placement database as the catalog records it.
#[derive(Debug, Clone, Serialize, FromRow)]
pub struct Placement {
    pub id: Uuid,
    pub name: String,
    #[sqlx(try_from = "String")]
    pub kind: PlacementKind,
    #[sqlx(try_from = "String")]
    pub region: Region,
    pub server: String,
    pub db_name: String,
    pub capacity: Option<i32>,
    #[sqlx(try_from = "String")]
    pub state: PlacementState,
    pub created_at: Ts,
}

/// A placement with how many tenants it holds.
#[derive(Debug, Clone, Serialize, FromRow)]
pub struct PlacementUsage {
    #[sqlx(flatten)]
    #[serde(flatten)]
    pub placement: Placement,
    pub tenant_count: i64,
}

/// A tenant as the catalog records it.
#[derive(Debug, Clone, Serialize, FromRow)]
pub struct Tenant {
    pub id: Uuid,
    pub slug: String,
    pub name: String,
    #[sqlx(try_from = "String")]
    pub plan: Plan,
    #[sqlx(try_from = "String")]
    pub region: Region,
    pub placement_id: Uuid,
    pub epoch: i64,
    #[sqlx(try_from = "String")]
    pub state: Lifecycle,
    pub isolation_requested: bool,
    /// Suspended by an operator: requests and logins get 403
    /// `tenant_suspended`. Apart from `state`, which is the lifecycle.
    pub suspended: bool,
    pub created_at: Ts,
    pub updated_at: Ts,
}

impl Tenant {
    /// The tenant's id as a [`TenantId`]: it comes from the catalog row.
    pub fn tenant_id(&self) -> TenantId {
        TenantId::from_verified(self.id)
    }
}

/// Where a tenant's rows are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, FromRow)]
pub struct RouteRow {
    pub tenant_id: Uuid,
    pub placement_id: Uuid,
    pub epoch: i64,
    #[sqlx(try_from = "String")]
    pub plan: Plan,
    pub suspended: bool,
}

/// What onboarding records for a new tenant.
#[derive(Debug, Clone)]
pub struct NewTenant {
    pub id: TenantId,
    pub slug: String,
    pub name: String,
    pub plan: Plan,
    pub region: Region,
    pub isolation_requested: bool,
}

/// Where the placement policy put a new tenant, and whether the placement is
/// new (and must be provisioned before use).
#[derive(Debug, Clone)]
pub struct Allocation {
    pub placement: Placement,
    pub is_new: bool,
}

/// The notification channel of route changes.
pub const ROUTES_CHANNEL: &str = "fsa_routes";

#[derive(Debug, Clone)]
pub struct Catalog {
    pool: Pool,
}

const PLACEMENT_COLS: &str = "id, name, kind, region, server, db_name, capacity, state, created_at";
const TENANT_COLS: &str = "id, slug, name, plan, region, placement_id, epoch, state, isolation_requested, suspended, created_at, updated_at";

impl Catalog {
    pub fn new(pool: Pool) -> Self {
        Catalog { pool }
    }

    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    pub fn engine(&self) -> Engine {
        self.pool.engine()
    }

    /// Applies pending catalog migrations.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        match &self.pool {
            Pool::Pg(p) => PG_CATALOG.run(p).await?,
            Pool::Sqlite(p) => SQLITE_CATALOG.run(p).await?,
        }
        Ok(())
    }

    /// Records a server, or updates its region.
    pub async fn upsert_server(
        &self,
        name: &str,
        region: &Region,
        engine: Engine,
    ) -> Result<(), StoreError> {
        on_pool!(&self.pool, c => {
            sqlx::query(
                "INSERT INTO servers (name, region, engine) VALUES ($1, $2, $3)
                 ON CONFLICT (name) DO UPDATE SET region = excluded.region, engine = excluded.engine",
            )
            .bind(name)
            .bind(region.as_str())
            .bind(engine.as_str())
            .execute(c)
            .await?;
        });
        Ok(())
    }

    pub async fn placements(&self) -> Result<Vec<PlacementUsage>, StoreError> {
        let sql = "SELECT p.id, p.name, p.kind, p.region, p.server, p.db_name, p.capacity, p.state, p.created_at,
                   (SELECT count(*) FROM tenants t WHERE t.placement_id = p.id) AS tenant_count
                   FROM placements p ORDER BY p.created_at, p.name";
        Ok(on_pool!(&self.pool, c => sqlx::query_as(sql).fetch_all(c).await?))
    }

    /// How many tenants each placement holds, by plan: (placement, plan, count).
    pub async fn tenants_by_placement_and_plan(
        &self,
    ) -> Result<Vec<(Uuid, String, i64)>, StoreError> {
        const SQL: &str =
            "SELECT placement_id, plan, count(*) FROM tenants GROUP BY placement_id, plan";
        Ok(on_pool!(&self.pool, c => sqlx::query_as(SQL).fetch_all(c).await?))
    }

    pub async fn placement(&self, id: Uuid) -> Result<Option<Placement>, StoreError> {
        const SQL: &str = "SELECT id, name, kind, region, server, db_name, capacity, state, created_at FROM placements WHERE id = $1";
        debug_assert!(SQL.contains(PLACEMENT_COLS));
        Ok(on_pool!(&self.pool, c => sqlx::query_as(SQL).bind(id).fetch_optional(c).await?))
    }

    pub async fn tenants(&self) -> Result<Vec<Tenant>, StoreError> {
        const SQL: &str = "SELECT id, slug, name, plan, region, placement_id, epoch, state, isolation_requested, suspended, created_at, updated_at FROM tenants ORDER BY slug";
        debug_assert!(SQL.contains(TENANT_COLS));
        Ok(on_pool!(&self.pool, c => sqlx::query_as(SQL).fetch_all(c).await?))
    }

    /// How many tenants other than `except` the catalog places on a placement.
    pub async fn tenants_on_placement(
        &self,
        placement: Uuid,
        except: TenantId,
    ) -> Result<i64, StoreError> {
        Ok(on_pool!(&self.pool, c => sqlx::query_scalar(
            "SELECT count(*) FROM tenants WHERE placement_id = $1 AND id <> $2")
            .bind(placement).bind(except.as_uuid()).fetch_one(c).await?))
    }

    pub async fn tenant_by_slug(&self, slug: &str) -> Result<Option<Tenant>, StoreError> {
        const SQL: &str = "SELECT id, slug, name, plan, region, placement_id, epoch, state, isolation_requested, suspended, created_at, updated_at FROM tenants WHERE slug = $1";
        Ok(on_pool!(&self.pool, c => sqlx::query_as(SQL).bind(slug).fetch_optional(c).await?))
    }

    pub async fn tenant_by_id(&self, id: TenantId) -> Result<Option<Tenant>, StoreError> {
        const SQL: &str = "SELECT id, slug, name, plan, region, placement_id, epoch, state, isolation_requested, suspended, created_at, updated_at FROM tenants WHERE id = $1";
        Ok(
            on_pool!(&self.pool, c => sqlx::query_as(SQL).bind(id.as_uuid()).fetch_optional(c).await?),
        )
    }

    /// Every active tenant's route; the router loads these in one go.
    pub async fn routes(&self) -> Result<Vec<RouteRow>, StoreError> {
        const SQL: &str = "SELECT id AS tenant_id, placement_id, epoch, plan, suspended FROM tenants WHERE state = 'active'";
        Ok(on_pool!(&self.pool, c => sqlx::query_as(SQL).fetch_all(c).await?))
    }

    pub async fn route(&self, id: TenantId) -> Result<Option<RouteRow>, StoreError> {
        const SQL: &str = "SELECT id AS tenant_id, placement_id, epoch, plan, suspended FROM tenants WHERE id = $1 AND state = 'active'";
        Ok(
            on_pool!(&self.pool, c => sqlx::query_as(SQL).bind(id.as_uuid()).fetch_optional(c).await?),
        )
    }

    /// Chooses the new tenant's placement by the placement policy and records
    /// the tenant in state `provisioning`, in one catalog transaction that
    /// holds the allocation lock (so two onboardings cannot overfill a pooled
    /// placement). `server` is the server of the tenant's region;
    /// `pooled_capacity` the tenants a new pooled placement takes.
    pub async fn allocate(
        &self,
        tenant: &NewTenant,
        server: &crate::server::Server,
        pooled_capacity: i32,
    ) -> Result<Allocation, StoreError> {
        self.allocate_inner(
            tenant.plan.placement_kind(),
            &tenant.region,
            &tenant.slug,
            Some(tenant),
            server,
            pooled_capacity,
        )
        .await
    }

    /// The placement the policy gives a tenant moving to `kind` in `region`
    /// (a new one for `dedicated`, or when the region has none with room).
    pub async fn placement_for_move(
        &self,
        kind: PlacementKind,
        region: &Region,
        slug: &str,
        server: &crate::server::Server,
        pooled_capacity: i32,
    ) -> Result<Allocation, StoreError> {
        self.allocate_inner(kind, region, slug, None, server, pooled_capacity)
            .await
    }

    async fn allocate_inner(
        &self,
        kind: PlacementKind,
        tenant_region: &Region,
        slug: &str,
        tenant: Option<&NewTenant>,
        server: &crate::server::Server,
        pooled_capacity: i32,
    ) -> Result<Allocation, StoreError> {
        let region = tenant_region.as_str();
        let now = Ts::now();
        on_pool!(&self.pool, pool => {
            let mut tx = match sql!(pool, pg: None, sqlite: Some("BEGIN IMMEDIATE")) {
                Some(stmt) => pool.begin_with(stmt).await?,
                None => pool.begin().await?,
            };
            if crate::db::is_pg(pool) {
                sqlx::query("SELECT pg_advisory_xact_lock(7001)").execute(&mut *tx).await?;
            }
            let existing: Option<Placement> = match kind {
                PlacementKind::Shared => sqlx::query_as(
                    "SELECT id, name, kind, region, server, db_name, capacity, state, created_at
                     FROM placements WHERE kind = 'shared' AND region = $1 AND state <> 'retired'
                     ORDER BY created_at LIMIT 1",
                )
                .bind(region)
                .fetch_optional(&mut *tx)
                .await?,
                PlacementKind::Pooled => sqlx::query_as(
                    "SELECT p.id, p.name, p.kind, p.region, p.server, p.db_name, p.capacity, p.state, p.created_at
                     FROM placements p
                     WHERE p.kind = 'pooled' AND p.region = $1 AND p.state <> 'retired'
                       AND (SELECT count(*) FROM tenants t WHERE t.placement_id = p.id) < coalesce(p.capacity, $2)
                     ORDER BY (SELECT count(*) FROM tenants t WHERE t.placement_id = p.id), p.created_at
                     LIMIT 1",
                )
                .bind(region)
                .bind(pooled_capacity)
                .fetch_optional(&mut *tx)
                .await?,
                PlacementKind::Dedicated => None,
            };
            let (placement, is_new) = match existing {
                Some(p) => {
                    let is_new = p.state == PlacementState::Provisioning;
                    (p, is_new)
                }
                None => {
                    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM placements WHERE kind = $1 AND region = $2")
                        .bind(kind.as_str())
                        .bind(region)
                        .fetch_one(&mut *tx)
                        .await?;
                    // The first free name, and a database name free on the
                    // server (a retired placement keeps its names). A tenant
                    // may come back to a dedicated database more than once.
                    let base = match kind {
                        PlacementKind::Dedicated => format!("dedicated-{}-{}", region.to_ascii_lowercase(), slug),
                        _ => format!("{}-{}", kind, region.to_ascii_lowercase()),
                    };
                    let mut attempt = match kind {
                        PlacementKind::Dedicated => 1,
                        _ => n + 1,
                    };
                    let (name, db_name) = loop {
                        let name = match (kind, attempt) {
                            (PlacementKind::Dedicated, 1) => base.clone(),
                            _ => format!("{base}-{attempt}"),
                        };
                        let db_name = server.db_name_for(&name);
                        let taken: i64 = sqlx::query_scalar(
                            "SELECT count(*) FROM placements WHERE name = $1 OR (server = $2 AND db_name = $3)",
                        )
                        .bind(&name)
                        .bind(&server.name)
                        .bind(&db_name)
                        .fetch_one(&mut *tx)
                        .await?;
                        if taken == 0 {
                            break (name, db_name);
                        }
                        attempt += 1;
                    };
                    let p = Placement {
                        id: fsa_core::new_id(),
                        db_name,
                        name,
                        kind,
                        region: tenant_region.clone(),
                        server: server.name.clone(),
                        capacity: match kind {
                            PlacementKind::Pooled => Some(pooled_capacity),
                            PlacementKind::Dedicated => Some(1),
                            PlacementKind::Shared => None,
                        },
                        state: PlacementState::Provisioning,
                        created_at: now,
                    };
                    sqlx::query(
                        "INSERT INTO placements (id, name, kind, region, server, db_name, capacity, state, created_at)
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                    )
                    .bind(p.id)
                    .bind(&p.name)
                    .bind(p.kind.as_str())
                    .bind(p.region.as_str())
                    .bind(&p.server)
                    .bind(&p.db_name)
                    .bind(p.capacity)
                    .bind(p.state.as_str())
                    .bind(p.created_at)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| map_constraint(e, &[("placements_name_key", StoreError::Conflict { entity: "placement", detail: "name taken" }), ("placements.name", StoreError::Conflict { entity: "placement", detail: "name taken" })], &[]))?;
                    (p, true)
                }
            };
            if let Some(tenant) = tenant {
            sqlx::query(
                "INSERT INTO tenants (id, slug, name, plan, region, placement_id, epoch, state, isolation_requested, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, 1, 'provisioning', $7, $8, $8)",
            )
            .bind(tenant.id.as_uuid())
            .bind(&tenant.slug)
            .bind(&tenant.name)
            .bind(tenant.plan.as_str())
            .bind(region)
            .bind(placement.id)
            .bind(tenant.isolation_requested)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(|e| {
                let taken = || StoreError::Conflict { entity: "tenant", detail: "slug taken" };
                map_constraint(e, &[("tenants_slug_key", taken()), ("tenants.slug", taken())], &[])
            })?;
            }
            tx.commit().await?;
            Ok(Allocation { placement, is_new })
        })
    }

    /// Marks a placement ready once its database exists and is migrated.
    pub async fn placement_ready(&self, id: Uuid) -> Result<(), StoreError> {
        on_pool!(&self.pool, c => {
            sqlx::query("UPDATE placements SET state = 'ready' WHERE id = $1").bind(id).execute(c).await?;
        });
        Ok(())
    }

    /// Retires a placement whose database could not be made (its name is
    /// taken on the server by a database that is not fsa's), if no tenant
    /// is on it.
    pub async fn retire_unprovisioned(&self, id: Uuid) -> Result<(), StoreError> {
        on_pool!(&self.pool, c => {
            sqlx::query("UPDATE placements SET state = 'retired' WHERE id = $1 AND state = 'provisioning'
                         AND NOT EXISTS (SELECT 1 FROM tenants WHERE placement_id = $1)")
                .bind(id).execute(c).await?;
        });
        Ok(())
    }

    /// Makes a provisioned tenant routable.
    pub async fn tenant_active(&self, id: TenantId) -> Result<(), StoreError> {
        on_pool!(&self.pool, c => {
            sqlx::query("UPDATE tenants SET state = 'active', updated_at = $2 WHERE id = $1")
                .bind(id.as_uuid())
                .bind(Ts::now())
                .execute(c)
                .await?;
        });
        self.notify_route_change(id).await
    }

    /// Tells every process that watches the catalog (PostgreSQL
    /// LISTEN/NOTIFY on [`ROUTES_CHANNEL`]) that a tenant's route changed.
    pub async fn notify_route_change(&self, id: TenantId) -> Result<(), StoreError> {
        if let Pool::Pg(p) = &self.pool {
            sqlx::query("SELECT pg_notify($1, $2)")
                .bind(ROUTES_CHANNEL)
                .bind(id.to_string())
                .execute(p)
                .await?;
        }
        Ok(())
    }

    /// Changes a tenant's plan (the caller has checked that its placement
    /// kind stays right) and announces the route change.
    pub async fn set_plan(&self, id: TenantId, plan: Plan) -> Result<(), StoreError> {
        on_pool!(&self.pool, c => {
            sqlx::query("UPDATE tenants SET plan = $2, updated_at = $3 WHERE id = $1")
                .bind(id.as_uuid())
                .bind(plan.as_str())
                .bind(Ts::now())
                .execute(c)
                .await?;
        });
        self.notify_route_change(id).await
    }

    /// Suspends a tenant or lifts its suspension, and announces the route
    /// change (the route carries the flag). Returns whether the tenant exists.
    /// Records whether the tenant asked for a database of its own (the
    /// advisor proposes the move; nothing moves by this alone).
    pub async fn set_isolation_requested(
        &self,
        id: TenantId,
        requested: bool,
    ) -> Result<bool, StoreError> {
        let n = on_pool!(&self.pool, c => {
            sqlx::query("UPDATE tenants SET isolation_requested = $2, updated_at = $3 WHERE id = $1")
                .bind(id.as_uuid())
                .bind(requested)
                .bind(Ts::now())
                .execute(c)
                .await?
                .rows_affected()
        });
        Ok(n > 0)
    }

    pub async fn set_suspended(&self, id: TenantId, suspended: bool) -> Result<bool, StoreError> {
        let n = on_pool!(&self.pool, c => {
            sqlx::query("UPDATE tenants SET suspended = $2, updated_at = $3 WHERE id = $1")
                .bind(id.as_uuid())
                .bind(suspended)
                .bind(Ts::now())
                .execute(c)
                .await?
                .rows_affected()
        });
        self.notify_route_change(id).await?;
        Ok(n > 0)
    }

    /// Forgets a tenant whose onboarding failed before it became active.
    pub async fn forget_provisioning_tenant(&self, id: TenantId) -> Result<(), StoreError> {
        on_pool!(&self.pool, c => {
            sqlx::query("DELETE FROM tenants WHERE id = $1 AND state = 'provisioning'")
                .bind(id.as_uuid())
                .execute(c)
                .await?;
        });
        Ok(())
    }
}

/// Opens the catalog database, creating it (PostgreSQL database or SQLite
/// file) when missing, and applies its migrations.
pub async fn open_catalog(url: &crate::url::DbUrl) -> Result<Catalog, StoreError> {
    let pool = if url.is_postgres() {
        let opts = url
            .pg_options()
            .map_err(|e| StoreError::Config(format!("FSA_DATABASE_URL: {e}")))?;
        let db = opts.get_database().unwrap_or("postgres").to_owned();
        crate::server::create_pg_database(&opts, &db).await?;
        Pool::Pg(
            sqlx::postgres::PgPoolOptions::new()
                .max_connections(8)
                .acquire_timeout(std::time::Duration::from_secs(5))
                .connect_with(opts)
                .await?,
        )
    } else if url.is_sqlite() {
        let path = crate::server::sqlite_path(url);
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| StoreError::Config(format!("cannot create {}: {e}", dir.display())))?;
        }
        let opts = crate::server::sqlite_file_options(path).create_if_missing(true);
        Pool::Sqlite(
            sqlx::sqlite::SqlitePoolOptions::new()
                .max_connections(4)
                .connect_with(opts)
                .await?,
        )
    } else {
        return Err(StoreError::Config(format!(
            "FSA_DATABASE_URL {url} must start with postgres:// or sqlite://"
        )));
    };
    let catalog = Catalog::new(pool);
    catalog.migrate().await?;
    Ok(catalog)
}

/// Ensures a connection can be made; used by readiness checks.
pub async fn ping(pool: &Pool) -> Result<(), StoreError> {
    on_pool!(pool, c => {
        let mut conn = c.acquire().await?;
        conn.ping().await?;
    });
    Ok(())
}
