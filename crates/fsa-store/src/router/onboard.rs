//! A new tenant's placement side: a placement allocated by policy (and
//! provisioned when new), the tenant's first transaction, then activation,
//! or the undoing of a failed onboarding.

use fsa_core::TenantId;

use super::Router;
use crate::catalog::{Allocation, NewTenant};
use crate::error::StoreError;
use crate::tx::TenantTx;

impl Router {
    /// Onboards a tenant's placement side: allocates a placement by policy,
    /// provisions it when new, and opens the tenant's first transaction,
    /// which creates its state row. The caller writes the first rows, commits,
    /// then calls [`Router::activate`].
    #[tracing::instrument(skip_all, fields(tenant.id = %tenant.id, tenant.region = %tenant.region))]
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
                let schema = srv
                    .provision(&alloc.placement.db_name, alloc.placement.id)
                    .await?;
                self.catalog
                    .record_provisioned(alloc.placement.id, &schema)
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
}
