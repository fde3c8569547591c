//! Usage against plan limits. Usage is counted from the tenant's own rows,
//! so it travels with them when the tenant moves. A check takes the
//! tenant's state row lock first (SQLite's write transactions are already
//! exclusive), so concurrent creates are serialised and a limit cannot be
//! overrun by a burst.

use std::collections::BTreeMap;

use fsa_core::Resource;

use crate::error::StoreError;
use crate::tx::TenantTx;
use crate::{on_tx, sql};

/// How much of a resource the tenant uses.
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

/// Every resource's usage.
pub async fn all(tx: &mut TenantTx) -> Result<BTreeMap<&'static str, i64>, StoreError> {
    let mut out = BTreeMap::new();
    for r in Resource::ALL {
        out.insert(r.as_str(), count(tx, *r).await?);
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
    let used = count(tx, r).await?.max(0) as u64;
    if used + adding > limit {
        return Err(StoreError::LimitReached {
            resource: r,
            limit,
            used,
        });
    }
    Ok(())
}
