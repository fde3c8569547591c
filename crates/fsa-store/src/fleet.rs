//! Queries that read across every tenant of one placement, for the fleet's
//! analytics. They run on an admin connection (row-level security does not
//! apply to it), and count only the tenants active there: a tenant that
//! moved out and whose rows are not cleaned yet is counted where it lives
//! now, not twice.

use uuid::Uuid;

use crate::db::Pool;
use crate::error::StoreError;
use crate::on_pool;

/// Work orders per tenant and status in the placement: (tenant, status, n).
pub async fn work_orders_by_tenant_and_status(
    pool: &Pool,
) -> Result<Vec<(Uuid, String, i64)>, StoreError> {
    const SQL: &str = "SELECT w.tenant_id, w.status, count(*) FROM work_orders w
         JOIN tenant_state s ON s.tenant_id = w.tenant_id AND s.state = 'active'
         GROUP BY w.tenant_id, w.status";
    Ok(on_pool!(pool, c => sqlx::query_as(SQL).fetch_all(c).await?))
}
