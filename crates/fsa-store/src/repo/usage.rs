//! Usage against plan limits. Usage is kept in `tenant_usage`, counters
//! that triggers move with every insert and delete of the tenant's rows
//! (migration 0008), so it travels with the rows when the tenant moves and a
//! check costs one index probe however large the tenant is. A check takes
//! the tenant's state row lock first (SQLite's write transactions are
//! already exclusive), so concurrent creates are serialised and a limit
//! cannot be overrun by a burst.

use std::collections::BTreeMap;

use fsa_core::Resource;

use crate::error::StoreError;
use crate::tx::TenantTx;
use crate::{on_tx, sql};

/// How much of a resource the tenant uses, from its counter.
pub async fn used(tx: &mut TenantTx, r: Resource) -> Result<i64, StoreError> {
    let tenant = tx.tenant().as_uuid();
    const SQL: &str = "SELECT used FROM tenant_usage WHERE tenant_id = $1 AND resource = $2";
    let n: Option<i64> = on_tx!(tx, c => sqlx::query_scalar(SQL)
        .bind(tenant)
        .bind(r.as_str())
        .fetch_optional(&mut *c)
        .await?);
    Ok(n.unwrap_or(0))
}

/// How much of a resource the tenant's rows add up to, counted: what
/// [`used`] must always equal.
pub async fn count(tx: &mut TenantTx, r: Resource) -> Result<i64, StoreError> {
    let tenant = tx.tenant().as_uuid();
    let sql = match r {
        Resource::WorkOrders => "SELECT count(*) FROM work_orders WHERE tenant_id = $1",
        Resource::Clients => "SELECT count(*) FROM clients WHERE tenant_id = $1",
        Resource::Users => "SELECT count(*) FROM users WHERE tenant_id = $1",
        Resource::Personnel => "SELECT count(*) FROM personnel WHERE tenant_id = $1",
        Resource::FileBytes => {
            "SELECT CAST(coalesce(sum(size_bytes), 0) AS BIGINT) FROM file_metadata WHERE tenant_id = $1"
        }
    };
    Ok(on_tx!(tx, c => sqlx::query_scalar(sql).bind(tenant).fetch_one(&mut *c).await?))
}

/// Every resource's usage, from the counters.
pub async fn all(tx: &mut TenantTx) -> Result<BTreeMap<&'static str, i64>, StoreError> {
    let tenant = tx.tenant().as_uuid();
    const SQL: &str = "SELECT resource, used FROM tenant_usage WHERE tenant_id = $1";
    let rows: Vec<(String, i64)> = on_tx!(tx, c => sqlx::query_as(SQL)
        .bind(tenant)
        .fetch_all(&mut *c)
        .await?);
    let mut out: BTreeMap<&'static str, i64> =
        Resource::ALL.iter().map(|r| (r.as_str(), 0)).collect();
    for (name, n) in rows {
        if let Some(r) = Resource::ALL.iter().find(|r| r.as_str() == name) {
            out.insert(r.as_str(), n);
        }
    }
    Ok(out)
}

/// Fails with `LimitReached` unless `adding` more of `r` stay within `limit`
/// (`None`: unlimited, nothing is counted). Call inside the write
/// transaction that adds them.
pub async fn check(
    tx: &mut TenantTx,
    r: Resource,
    limit: Option<u64>,
    adding: u64,
) -> Result<(), StoreError> {
    let Some(limit) = limit else { return Ok(()) };
    let tenant = tx.tenant().as_uuid();
    on_tx!(tx, c => {
        let lock = sql!(c,
            pg: "SELECT 1 FROM tenant_state WHERE tenant_id = $1 FOR UPDATE",
            sqlite: "SELECT 1 FROM tenant_state WHERE tenant_id = $1");
        sqlx::query(lock).bind(tenant).execute(&mut *c).await?;
    });
    let used = used(tx, r).await?.max(0) as u64;
    if used + adding > limit {
        return Err(StoreError::LimitReached {
            resource: r,
            limit,
            used,
        });
    }
    Ok(())
}

/// Sets a tenant's counters on PostgreSQL from its rows, for rows written
/// with triggers off (a benchmark's bulk load under
/// `session_replication_role = replica`); the owner's connection.
pub async fn recount_pg(c: &mut sqlx::PgConnection, tenant: uuid::Uuid) -> Result<(), StoreError> {
    const SQL: &str = "
        WITH counted (resource, used) AS (
            SELECT 'users', count(*) FROM users WHERE tenant_id = $1
            UNION ALL SELECT 'clients', count(*) FROM clients WHERE tenant_id = $1
            UNION ALL SELECT 'personnel', count(*) FROM personnel WHERE tenant_id = $1
            UNION ALL SELECT 'work_orders', count(*) FROM work_orders WHERE tenant_id = $1
            UNION ALL SELECT 'file_bytes', coalesce(sum(size_bytes), 0) FROM file_metadata WHERE tenant_id = $1
        )
        INSERT INTO tenant_usage (tenant_id, resource, used)
        SELECT $1, resource, used FROM counted WHERE used <> 0";
    sqlx::query("DELETE FROM tenant_usage WHERE tenant_id = $1")
        .bind(tenant)
        .execute(&mut *c)
        .await?;
    sqlx::query(SQL).bind(tenant).execute(&mut *c).await?;
    Ok(())
}
