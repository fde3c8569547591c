//! The router: tenant → (placement, epoch), and one pool per placement.
//!
//! Routes are an immutable snapshot of every active tenant's route, swapped
//! atomically ([`ArcSwap`]). A snapshot older than the TTL is reloaded from
//! the catalog; a tenant missing from it (a new tenant) is looked up alone
//! and added. A switch of a tenant's placement invalidates its entry, and a
//! transaction that finds its tenant `moved_out` refreshes the route and
//! retries on the new placement, for a bounded time.
//!
//! Pools are opened lazily, the first time a placement is used, with the
//! settings of its kind, under a global connection budget ([`PoolCache`]).
//! A server that fails to answer is marked down: its tenants get
//! `PlacementUnavailable` at once while a probe waits for it to return, and
//! tenants on other servers are not affected.
//!
//! # Layout
//! - this file: the [`Router`] itself, its start and its small accessors.
//! - `settings`: [`RouterSettings`] and [`Servers`], what the router is
//!   started with.
//! - `routes`: the route snapshot: lookups, misses, reloads, invalidation.
//! - `placements`: placement records and leases on their pools.
//! - `probe`: servers marked down and the probe that watches for their return.
//! - `begin`: a tenant transaction's begin, retried on a moved tenant.
//! - `onboard`: a new tenant's placement side.
//! - `listen`: the LISTEN loop that invalidates routes other processes change.

mod begin;
mod listen;
mod onboard;
mod placements;
mod probe;
mod routes;
mod settings;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use arc_swap::ArcSwap;
use uuid::Uuid;

use crate::catalog::{Catalog, Placement};
use crate::db::Pool;
use crate::error::StoreError;
use crate::pools::PoolCache;
use crate::stats::Stats;

pub use crate::tx::Mode;
pub use placements::PlacementHandle;
pub use routes::Route;
pub use settings::{RouterSettings, Servers};

use routes::RouteTable;

/// How long the start waits for a server to say what its application role
/// may do.
const APP_ROLE_CHECK_WAIT: Duration = Duration::from_secs(5);

pub struct Router {
    catalog: Catalog,
    servers: Servers,
    settings: RouterSettings,
    routes: ArcSwap<RouteTable>,
    reload: tokio::sync::Mutex<()>,
    pools: PoolCache,
    placements: RwLock<HashMap<Uuid, Placement>>,
    /// Servers found unreachable, with the probe that watches for their return.
    down: std::sync::Mutex<HashSet<String>>,
    /// Transaction times per tenant and placement, and request figures
    /// the HTTP layer adds.
    stats: Arc<Stats>,
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
            routes: ArcSwap::from_pointee(RouteTable::empty()),
            reload: tokio::sync::Mutex::new(()),
            pools: PoolCache::new(settings_budget),
            placements: RwLock::new(HashMap::new()),
            down: std::sync::Mutex::new(HashSet::new()),
            stats: Arc::new(Stats::new()),
        };
        router.reload_routes().await?;
        let router = Arc::new(router);
        if let Pool::Pg(pool) = router.catalog.pool() {
            listen::spawn_route_listener(pool.clone(), Arc::downgrade(&router));
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

    /// The figures this process measured per tenant and placement.
    pub fn stats(&self) -> &Arc<Stats> {
        &self.stats
    }

    /// Whether the server is known to be down (a probe watches for its return).
    pub fn server_down(&self, server: &str) -> bool {
        self.is_down(server)
    }

    /// Closes one placement's pool in this process (a dropped database).
    pub async fn close_placement(&self, id: Uuid) {
        self.pools.close(id).await;
    }

    /// Closes every pool.
    pub async fn close(&self) {
        self.pools.close_all().await;
    }
}
