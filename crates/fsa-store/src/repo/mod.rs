//! Tenant-scoped repositories, one module per aggregate. Every function takes
//! a [`TenantTx`](crate::TenantTx) and binds its tenant as `$1`; there is no
//! other way in.

pub mod clients;
pub mod files;
pub mod personnel;
pub mod tasks;
pub mod usage;
pub mod users;
pub mod work_orders;

use uuid::Uuid;

use crate::error::StoreError;
use crate::on_tx;
use crate::tx::TenantTx;

/// A change to a nullable field: absent (keep), `null` (clear) or a value.
pub type Nullable<T> = Option<Option<T>>;

/// Whether a row of `table` with `id` exists for the transaction's tenant.
pub(crate) async fn exists(tx: &mut TenantTx, table: Table, id: Uuid) -> Result<bool, StoreError> {
    let tenant = tx.tenant().as_uuid();
    let sql = match table {
        Table::Clients => "SELECT 1 FROM clients WHERE tenant_id = $1 AND id = $2",
        Table::Personnel => "SELECT 1 FROM personnel WHERE tenant_id = $1 AND id = $2",
        Table::Users => "SELECT 1 FROM users WHERE tenant_id = $1 AND id = $2",
        Table::WorkOrders => "SELECT 1 FROM work_orders WHERE tenant_id = $1 AND id = $2",
    };
    let found: Option<i32> = on_tx!(tx, c => sqlx::query_scalar(sql).bind(tenant).bind(id).fetch_optional(&mut *c).await?);
    Ok(found.is_some())
}

/// Tables another row may point at.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Table {
    Clients,
    Personnel,
    Users,
    WorkOrders,
}

/// Fails with `InvalidReference` unless `id` (when given) names a row of the
/// tenant.
pub(crate) async fn check_ref(
    tx: &mut TenantTx,
    table: Table,
    id: Option<Uuid>,
    field: &'static str,
    entity: &'static str,
) -> Result<(), StoreError> {
    match id {
        Some(id) if !exists(tx, table, id).await? => {
            Err(StoreError::InvalidReference { field, entity })
        }
        _ => Ok(()),
    }
}

/// Escapes `%`, `_` and `\` for a `LIKE … ESCAPE '\'` pattern.
pub(crate) fn like_pattern(q: &str) -> String {
    let mut s = String::with_capacity(q.len() + 2);
    s.push('%');
    for ch in q.chars() {
        if matches!(ch, '%' | '_' | '\\') {
            s.push('\\');
        }
        s.push(ch);
    }
    s.push('%');
    s
}
