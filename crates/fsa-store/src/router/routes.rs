//! The route snapshot: every active tenant's route, swapped atomically. A
//! lookup reads the snapshot; a snapshot past its TTL is reloaded by one
//! request while the others keep using it; a tenant missing from it is
//! looked up alone and added; a changed tenant's entry is dropped.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use fsa_core::{Plan, TenantId};
use uuid::Uuid;

use super::Router;
use crate::catalog::RouteRow;
use crate::error::StoreError;

/// A tenant's route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    pub placement_id: Uuid,
    pub epoch: i64,
    pub plan: Plan,
    /// Suspended by an operator: the API refuses the tenant's requests.
    pub suspended: bool,
}

impl Route {
    fn from_row(r: RouteRow) -> Self {
        Route {
            placement_id: r.placement_id,
            epoch: r.epoch,
            plan: r.plan,
            suspended: r.suspended,
        }
    }
}

pub(super) struct RouteTable {
    routes: HashMap<TenantId, Route>,
    loaded_at: Instant,
}

impl RouteTable {
    pub(super) fn empty() -> Self {
        RouteTable {
            routes: HashMap::new(),
            loaded_at: Instant::now(),
        }
    }
}

impl Router {
    /// Replaces the snapshot with every active tenant's route.
    #[tracing::instrument(skip_all, fields(routes.count = tracing::field::Empty))]
    pub(super) async fn reload_routes(&self) -> Result<(), StoreError> {
        let rows = self.catalog.routes().await?;
        let routes: HashMap<TenantId, Route> = rows
            .into_iter()
            .map(|r| (TenantId::from_verified(r.tenant_id), Route::from_row(r)))
            .collect();
        tracing::Span::current().record("routes.count", routes.len());
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

    /// Asks the catalog for one tenant's route and adds it to the snapshot.
    #[tracing::instrument(skip_all, fields(tenant.id = %tenant))]
    async fn route_miss(&self, tenant: TenantId) -> Result<Route, StoreError> {
        let row: RouteRow = self
            .catalog
            .route(tenant)
            .await?
            .ok_or_else(|| StoreError::UnknownTenant(tenant.to_string()))?;
        let route = Route::from_row(row);
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
}
