//! Placements as the router holds them: their catalog records, cached, and
//! leases on their pools, opened on first use within the connection budget.

use uuid::Uuid;

use super::Router;
use crate::catalog::Placement;
use crate::db::PlacementPool;
use crate::error::StoreError;
use crate::pools::{Lease, PoolStats};

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

impl Router {
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
        self.open_lease(id).await
    }

    /// The slow side of [`Router::lease`]: the pool is not open, or the
    /// budget has no room for it yet.
    #[tracing::instrument(skip_all, fields(placement.id = %id))]
    async fn open_lease(&self, id: Uuid) -> Result<Lease, StoreError> {
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

    /// Each open pool's placement (id, name) and its connections now.
    pub fn pool_connections(&self) -> Vec<(Uuid, String, u32)> {
        self.pools.connections()
    }
}
