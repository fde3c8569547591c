//! The router: tenant → (placement, epoch), and one pool per placement.
//!
//! Routes are an immutable snapshot of every active tenant's route, swapped
//! atomically ([`ArcSwap`]). A snapshot older than the TTL is reloaded from
//! the catalog; a tenant missing from it (a new tenant) is looked up alone
//! and added. A switch of a tenant's placement invalidates its entry, and a
//! transaction that finds its tenant `moved_out` refreshes the route and
//! retries once on the new placement.
//!
//! Pools are opened lazily, the first time a placement is used, with the
//! settings of its kind, under a global connection budget ([`PoolCache`]).
//! A server that fails to answer is marked down: its tenants get
//! `PlacementUnavailable` at once while a probe waits for it to return, and
//! tenants on other servers are not affected.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use fsa_core::{Limits, PlacementKind, Plan, Region, TenantId};
use uuid::Uuid;

use crate::catalog::{Allocation, Catalog, NewTenant, Placement, RouteRow};
use crate::db::{PlacementPool, Pool};
use crate::error::StoreError;
use crate::pools::{Lease, PoolCache, PoolStats};
use crate::server::{PoolSettings, Server};
pub use crate::tx::Mode;
use crate::tx::TenantTx;

/// A tenant's route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    pub placement_id: Uuid,
    pub epoch: i64,
    pub plan: Plan,
    /// Suspended by an operator: the API refuses the tenant's requests.
    pub suspended: bool,
}

struct RouteTable {
    routes: HashMap<TenantId, Route>,
    loaded_at: Instant,
}

/// An open placement: its catalog record and its request pool, kept open
/// while the handle lives.
#[derive(Debug)]
pub struct PlacementHandle {
    pub placement: Placement,
    lease: Lease,
}

impl PlacementHandle {
    pub fn pool(&self) -> &PlacementPool {
        &self.lease.pool
    }
}

/// Settings of the router.
#[derive(Debug, Clone)]
pub struct RouterSettings {
    pub shared: PoolSettings,
    pub pooled: PoolSettings,
    pub dedicated: PoolSettings,
    /// How long a route snapshot is trusted before it is reloaded.
    pub route_ttl: Duration,
    /// Tenants per pooled placement.
    pub pooled_capacity: i32,
    /// Connections all placement pools together may hold.
    pub connection_budget: u32,
    /// How long a request waits for room in the budget before `Busy`.
    pub budget_wait: Duration,
    /// Plan limits; the router applies each plan's statement timeout.
    pub limits: Limits,
}

impl Default for RouterSettings {
    fn default() -> Self {
        RouterSettings {
            shared: PoolSettings::default_for(PlacementKind::Shared),
            pooled: PoolSettings::default_for(PlacementKind::Pooled),
            dedicated: PoolSettings::default_for(PlacementKind::Dedicated),
            route_ttl: Duration::from_secs(5),
            pooled_capacity: 8,
            connection_budget: 200,
            budget_wait: Duration::from_secs(5),
            limits: Limits::default(),
        }
    }
}

impl RouterSettings {
    pub fn pool_settings(&self, kind: PlacementKind) -> &PoolSettings {
        match kind {
            PlacementKind::Shared => &self.shared,
            PlacementKind::Pooled => &self.pooled,
            PlacementKind::Dedicated => &self.dedicated,
        }
    }
}

/// The servers placements can live on, by name and by region.
#[derive(Debug, Clone)]
pub struct Servers {
    by_name: HashMap<String, Server>,
    by_region: HashMap<Region, String>,
    default: String,
}

impl Servers {
    /// `default` serves every region that has no server of its own.
    pub fn new(default: Server, others: Vec<Server>) -> Self {
        let mut by_name = HashMap::new();
        let mut by_region = HashMap::new();
        let default_name = default.name.clone();
        for s in std::iter::once(default).chain(others) {
            by_region
                .entry(s.region.clone())
                .or_insert_with(|| s.name.clone());
            by_name.insert(s.name.clone(), s);
        }
        Servers {
            by_name,
            by_region,
            default: default_name,
        }
    }

    pub fn get(&self, name: &str) -> Option<&Server> {
        self.by_name.get(name)
    }

    pub fn for_region(&self, region: &Region) -> &Server {
        let name = self.by_region.get(region).unwrap_or(&self.default);
        &self.by_name[name]
    }

    pub fn all(&self) -> impl Iterator<Item = &Server> {
        self.by_name.values()
    }
}

/// How long the start waits for a server to say what its application role
/// may do.
const APP_ROLE_CHECK_WAIT: Duration = Duration::from_secs(5);

/// How long a request waits for a moved tenant's new route.
const MOVED_WAIT: Duration = Duration::from_secs(5);

pub struct Router {
    catalog: Catalog,
    servers: Servers,
    settings: RouterSettings,
    routes: ArcSwap<RouteTable>,
    reload: tokio::sync::Mutex<()>,
    pools: PoolCache,
    placements: RwLock<HashMap<Uuid, Placement>>,
    /// Servers found unreachable, with the probe that watches for their return.
    down: std::sync::Mutex<HashMap<String, Instant>>,
}

impl Router {
    pub async fn new(
        catalog: Catalog,
        servers: Servers,
        settings: RouterSettings,
    ) -> Result<Arc<Self>, StoreError> {
        for s in servers.all() {
            catalog
                .upsert_server(&s.name, &s.region, s.engine())
                .await?;
            // A server that does not answer now does not stop the start (its
            // tenants get 503s until it does); its sessions check the role
            // again when they connect.
            match tokio::time::timeout(APP_ROLE_CHECK_WAIT, s.check_app_role()).await {
                Ok(Err(e @ StoreError::UnsafeAppRole { .. })) => return Err(e),
                Ok(Err(e)) => {
                    tracing::warn!(server = %s.name, error = %e, "could not check the application role")
                }
                Err(_) => {
                    tracing::warn!(server = %s.name, "could not check the application role in time")
                }
                Ok(Ok(())) => {}
            }
        }
        let settings_budget = settings.connection_budget;
        let router = Router {
            catalog,
            servers,
            settings,
            routes: ArcSwap::from_pointee(RouteTable {
                routes: HashMap::new(),
                loaded_at: Instant::now(),
            }),
            reload: tokio::sync::Mutex::new(()),
            pools: PoolCache::new(settings_budget),
            placements: RwLock::new(HashMap::new()),
            down: std::sync::Mutex::new(HashMap::new()),
        };
        router.reload_routes().await?;
        let router = Arc::new(router);
        if let Pool::Pg(pool) = router.catalog.pool() {
            spawn_route_listener(pool.clone(), Arc::downgrade(&router));
        }
        Ok(router)
    }

    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    pub fn servers(&self) -> &Servers {
        &self.servers
    }

    pub fn settings(&self) -> &RouterSettings {
        &self.settings
    }

    async fn reload_routes(&self) -> Result<(), StoreError> {
        let rows = self.catalog.routes().await?;
        let routes = rows
            .into_iter()
            .map(|r| {
                (
                    TenantId::from_verified(r.tenant_id),
                    Route {
                        placement_id: r.placement_id,
                        epoch: r.epoch,
                        plan: r.plan,
                        suspended: r.suspended,
                    },
                )
            })
            .collect();
        self.routes.store(Arc::new(RouteTable {
            routes,
            loaded_at: Instant::now(),
        }));
        Ok(())
    }

    /// The tenant's route from the cache. A snapshot past its TTL is
    /// reloaded by one request while the others keep using it.
    pub async fn route(&self, tenant: TenantId) -> Result<Route, StoreError> {
        let table = self.routes.load();
        let cached = table.routes.get(&tenant).copied();
        if table.loaded_at.elapsed() < self.settings.route_ttl {
            return match cached {
                Some(r) => Ok(r),
                None => self.route_miss(tenant).await,
            };
        }
        drop(table);
        match (cached, self.reload.try_lock()) {
            (Some(r), Err(_)) => return Ok(r),
            (_, Ok(_guard)) => {
                if self.routes.load().loaded_at.elapsed() >= self.settings.route_ttl {
                    self.reload_routes().await?;
                }
            }
            (None, Err(_)) => {}
        }
        match self.routes.load().routes.get(&tenant) {
            Some(r) => Ok(*r),
            None => self.route_miss(tenant).await,
        }
    }

    /// The cached route without any I/O, if there is one; for benchmarks of
    /// the warm path.
    pub fn cached_route(&self, tenant: TenantId) -> Option<Route> {
        self.routes.load().routes.get(&tenant).copied()
    }

    async fn route_miss(&self, tenant: TenantId) -> Result<Route, StoreError> {
        let row: RouteRow = self
            .catalog
            .route(tenant)
            .await?
            .ok_or_else(|| StoreError::UnknownTenant(tenant.to_string()))?;
        let route = Route {
            placement_id: row.placement_id,
            epoch: row.epoch,
            plan: row.plan,
            suspended: row.suspended,
        };
        self.routes.rcu(|t| {
            let mut routes = t.routes.clone();
            routes.insert(tenant, route);
            RouteTable {
                routes,
                loaded_at: t.loaded_at,
            }
        });
        Ok(route)
    }

    /// Drops the tenant's cached route so the next lookup asks the catalog.
    pub fn invalidate(&self, tenant: TenantId) {
        self.routes.rcu(|t| {
            let mut routes = t.routes.clone();
            routes.remove(&tenant);
            RouteTable {
                routes,
                loaded_at: t.loaded_at,
            }
        });
    }

    /// The placement's catalog record, cached.
    pub async fn placement_record(&self, id: Uuid) -> Result<Placement, StoreError> {
        if let Some(p) = self
            .placements
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&id)
        {
            return Ok(p.clone());
        }
        let placement =
            self.catalog.placement(id).await?.ok_or_else(|| {
                StoreError::Config(format!("placement {id} is not in the catalog"))
            })?;
        self.placements
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id, placement.clone());
        Ok(placement)
    }

    /// A lease on the placement's pool, opening it on first use within the
    /// connection budget.
    pub async fn lease(&self, id: Uuid) -> Result<Lease, StoreError> {
        if let Some(l) = self.pools.try_lease(id) {
            return Ok(l);
        }
        let placement = self.placement_record(id).await?;
        let server = self.servers.get(&placement.server).ok_or_else(|| {
            StoreError::Config(format!(
                "placement {} is on server `{}`, which is not configured",
                placement.name, placement.server
            ))
        })?;
        let settings = self.settings.pool_settings(placement.kind).clone();
        self.pools
            .lease(
                &placement,
                settings.max_connections,
                self.settings.budget_wait,
                |max| {
                    let mut s = settings.clone();
                    s.max_connections = max;
                    s.min_connections = s.min_connections.min(max);
                    server.open_pool(&placement.db_name, &s)
                },
            )
            .await
    }

    /// The open placement, opening its pool on first use.
    pub async fn placement(&self, id: Uuid) -> Result<PlacementHandle, StoreError> {
        let lease = self.lease(id).await?;
        Ok(PlacementHandle {
            placement: lease.placement.clone(),
            lease,
        })
    }

    pub fn pool_stats(&self) -> PoolStats {
        self.pools.stats()
    }

    /// Whether the server is marked down.
    fn is_down(&self, server: &str) -> bool {
        self.down
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains_key(server)
    }

    /// Marks a server down and starts a probe that clears the mark once the
    /// server accepts connections again.
    fn mark_down(self: &Arc<Self>, server: &str) {
        let mut down = self.down.lock().unwrap_or_else(|e| e.into_inner());
        if down.contains_key(server) {
            return;
        }
        down.insert(server.to_owned(), Instant::now());
        drop(down);
        tracing::warn!(
            server,
            "database server unreachable; its tenants get 503 until it returns"
        );
        let Some(srv) = self.servers.get(server).cloned() else {
            return;
        };
        let router = Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(250)).await;
                let Some(router) = router.upgrade() else {
                    return;
                };
                if srv.reachable(Duration::from_secs(1)).await {
                    router
                        .down
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .remove(&srv.name);
                    tracing::info!(server = %srv.name, "database server reachable again");
                    return;
                }
            }
        });
    }

    /// Begins a transaction for `tenant` in its placement. A tenant found
    /// `moved_out` (or missing) there has its route refreshed and the begin
    /// retried once. A placement whose server is down answers
    /// `PlacementUnavailable` at once.
    pub async fn begin(
        self: &Arc<Self>,
        tenant: TenantId,
        mode: Mode,
    ) -> Result<TenantTx, StoreError> {
        // A tenant found moved out waits here (bounded) for the catalog to
        // name its new placement: the switch follows the fence within
        // milliseconds, and a writer should see a pause, not an error.
        let deadline = Instant::now() + MOVED_WAIT;
        let mut last: Option<Route> = None;
        loop {
            let route = self.route(tenant).await?;
            let placement = self.placement_record(route.placement_id).await?;
            if self.is_down(&placement.server) {
                return Err(StoreError::PlacementUnavailable {
                    placement: placement.name,
                    source: None,
                });
            }
            let lease = self.lease(route.placement_id).await?;
            let timeout_ms = self
                .settings
                .limits
                .for_plan(route.plan)
                .statement_timeout_ms;
            match TenantTx::begin(lease, tenant, mode, timeout_ms).await {
                Ok(tx) => return Ok(tx),
                Err(e @ (StoreError::Moved(_) | StoreError::TenantNotInPlacement(_))) => {
                    self.invalidate(tenant);
                    if Instant::now() >= deadline {
                        return Err(e);
                    }
                    if last == Some(route) {
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                    last = Some(route);
                }
                Err(e) => {
                    let e = unavailable(&placement, e);
                    if matches!(e, StoreError::PlacementUnavailable { .. }) {
                        self.mark_down(&placement.server);
                    }
                    return Err(e);
                }
            }
        }
    }

    /// Onboards a tenant's placement side: allocates a placement by policy,
    /// provisions it when new, and opens the tenant's first transaction,
    /// which creates its state row. The caller writes the first rows, commits,
    /// then calls [`Router::activate`].
    pub async fn begin_onboarding(
        &self,
        tenant: &NewTenant,
    ) -> Result<(Allocation, TenantTx), StoreError> {
        let server = self.servers.for_region(&tenant.region).clone();
        let alloc = self
            .catalog
            .allocate(tenant, &server, self.settings.pooled_capacity)
            .await?;
        let result = async {
            if alloc.is_new {
                let srv = self.servers.get(&alloc.placement.server).unwrap_or(&server);
                srv.provision(&alloc.placement.db_name, alloc.placement.id)
                    .await?;
                self.catalog.placement_ready(alloc.placement.id).await?;
            }
            let lease = self.lease(alloc.placement.id).await?;
            TenantTx::begin_new(lease, tenant.id).await
        }
        .await;
        match result {
            Ok(tx) => Ok((alloc, tx)),
            Err(e) => {
                self.catalog
                    .forget_provisioning_tenant(tenant.id)
                    .await
                    .ok();
                if matches!(e, StoreError::DatabaseTaken { .. }) {
                    // Its name is someone else's database: the placement
                    // never had one of its own, and is not used again.
                    self.catalog
                        .retire_unprovisioned(alloc.placement.id)
                        .await
                        .ok();
                }
                Err(e)
            }
        }
    }

    /// Makes an onboarded tenant routable.
    pub async fn activate(&self, tenant: TenantId) -> Result<(), StoreError> {
        self.catalog.tenant_active(tenant).await?;
        self.invalidate(tenant);
        Ok(())
    }

    /// Undoes an onboarding that failed after its placement transaction.
    pub async fn abandon_onboarding(&self, tenant: TenantId) {
        if let Err(e) = self.catalog.forget_provisioning_tenant(tenant).await {
            tracing::warn!(tenant.id = %tenant, error = %e, "could not forget a failed onboarding");
        }
    }

    /// Closes every pool.
    /// Closes one placement's pool in this process (a dropped database).
    pub async fn close_placement(&self, id: Uuid) {
        self.pools.close(id).await;
    }

    pub async fn close(&self) {
        self.pools.close_all().await;
    }
}

/// Names the placement in an unavailability error.
fn unavailable(placement: &Placement, e: StoreError) -> StoreError {
    match e {
        StoreError::PlacementUnavailable { source, .. } => StoreError::PlacementUnavailable {
            placement: placement.name.clone(),
            source,
        },
        other => other,
    }
}

/// Invalidates cached routes when another process announces a change on the
/// catalog's notification channel; reloads everything after a reconnect, in
/// case notifications were missed.
fn spawn_route_listener(pool: sqlx::PgPool, router: std::sync::Weak<Router>) {
    tokio::spawn(async move {
        loop {
            let mut listener = match sqlx::postgres::PgListener::connect_with(&pool).await {
                Ok(l) => l,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot listen for route changes; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    if router.strong_count() == 0 {
                        return;
                    }
                    continue;
                }
            };
            if let Err(e) = listener.listen(crate::catalog::ROUTES_CHANNEL).await {
                tracing::warn!(error = %e, "LISTEN failed; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
            loop {
                let note = tokio::time::timeout(Duration::from_secs(5), listener.try_recv()).await;
                let Some(r) = router.upgrade() else { return };
                match note {
                    // Idle: only check the router still exists.
                    Err(_) => continue,
                    Ok(Ok(Some(n))) => match n.payload().parse::<Uuid>() {
                        Ok(id) => r.invalidate(TenantId::from_verified(id)),
                        Err(_) => {
                            let _ = r.reload_routes().await;
                        }
                    },
                    // The connection dropped: reload, then listen again.
                    Ok(Ok(None)) => {
                        let _ = r.reload_routes().await;
                    }
                    Ok(Err(e)) => {
                        tracing::warn!(error = %e, "route listener failed; reconnecting");
                        break;
                    }
                }
            }
        }
    });
}
