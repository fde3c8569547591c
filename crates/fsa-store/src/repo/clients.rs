//! Clients: the customers a tenant serves.

use fsa_core::new_id;
use serde::Serialize;
use sqlx::FromRow;
use uuid::Uuid;

use super::Nullable;
use crate::error::{StoreError, map_constraint};
use crate::page::{CursorKey, Page, finish};
use crate::ts::Ts;
use crate::tx::TenantTx;
use crate::{on_tx, sql};

#[derive(Debug, Clone, Serialize, FromRow)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Client {
    pub id: Uuid,
    pub name: String,
    pub contact_name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub address: Option<String>,
    pub is_active: bool,
    pub created_at: Ts,
    pub updated_at: Ts,
}

#[derive(Debug, Default)]
pub struct ClientFields {
    pub name: Option<String>,
    pub contact_name: Nullable<String>,
    pub email: Nullable<String>,
    pub phone: Nullable<String>,
    pub address: Nullable<String>,
    pub is_active: Option<bool>,
}

#[derive(Debug, Default)]
pub struct ClientFilter {
    pub is_active: Option<bool>,
    /// Words the name must contain (prefix match per word).
    pub q: Option<String>,
    pub after: Option<Uuid>,
    pub limit: i64,
}

macro_rules! cols {
    () => {
        "id, name, contact_name, email, phone, address, is_active, created_at, updated_at"
    };
}

/// The columns qualified, for the search query that joins the FTS table.
macro_rules! qcols {
    () => {
        "c.id, c.name, c.contact_name, c.email, c.phone, c.address, c.is_active, c.created_at, c.updated_at"
    };
}

pub async fn create(tx: &mut TenantTx, f: ClientFields) -> Result<Client, StoreError> {
    let tenant = tx.tenant().as_uuid();
    let now = Ts::now();
    on_tx!(tx, c => sqlx::query_as(concat!(
        "INSERT INTO clients (tenant_id, id, name, contact_name, email, phone, address, is_active, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) RETURNING ", cols!()))
        .bind(tenant)
        .bind(new_id())
        .bind(f.name.unwrap_or_default())
        .bind(f.contact_name.flatten())
        .bind(f.email.flatten())
        .bind(f.phone.flatten())
        .bind(f.address.flatten())
        .bind(f.is_active.unwrap_or(true))
        .bind(now)
        .fetch_one(&mut *c)
        .await
        .map_err(StoreError::from))
}

pub async fn get(tx: &mut TenantTx, id: Uuid) -> Result<Client, StoreError> {
    let tenant = tx.tenant().as_uuid();
    let row: Option<Client> = on_tx!(tx, c => sqlx::query_as(concat!("SELECT ", cols!(), " FROM clients WHERE tenant_id = $1 AND id = $2"))
        .bind(tenant).bind(id).fetch_optional(&mut *c).await?);
    row.ok_or(StoreError::NotFound { entity: "client" })
}

/// Turns free text into a prefix query of its words: `acme pl` matches
/// names with a word starting `acme` and one starting `pl`. Only letters and
/// digits pass, so the query syntax of either engine cannot be injected.
fn search_terms(q: &str) -> Vec<String> {
    q.split(|ch: char| !ch.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .take(8)
        .map(str::to_lowercase)
        .collect()
}

pub async fn list(tx: &mut TenantTx, f: ClientFilter) -> Result<Page<Client>, StoreError> {
    let tenant = tx.tenant().as_uuid();
    let terms = f.q.as_deref().map(search_terms).unwrap_or_default();
    if f.q.is_some() && terms.is_empty() {
        return Ok(Page {
            items: vec![],
            next_cursor: None,
        });
    }
    let rows: Vec<Client> = on_tx!(tx, c => {
        let mut qb = sqlx::QueryBuilder::new(concat!("SELECT ", qcols!(), " FROM clients c"));
        if !terms.is_empty() {
            let query = sql!(c,
                pg: terms.iter().map(|t| format!("{t}:*")).collect::<Vec<_>>().join(" & "),
                sqlite: terms.iter().map(|t| format!("\"{t}\"*")).collect::<Vec<_>>().join(" AND "));
            if crate::db::is_pg(&*c) {
                qb.push(" WHERE c.name_search @@ to_tsquery('simple', ").push_bind(query).push(")");
            } else {
                qb.push(" JOIN clients_fts f ON f.rowid = c.rowid WHERE clients_fts MATCH ").push_bind(query);
            }
            qb.push(" AND c.tenant_id = ");
        } else {
            qb.push(" WHERE c.tenant_id = ");
        }
        qb.push_bind(tenant);
        if let Some(a) = f.is_active {
            qb.push(" AND c.is_active = ").push_bind(a);
        }
        if let Some(after) = f.after {
            qb.push(" AND c.id > ").push_bind(after);
        }
        qb.push(" ORDER BY c.id LIMIT ").push_bind(f.limit + 1);
        qb.build_query_as().fetch_all(&mut *c).await?
    });
    Ok(finish(rows, f.limit, |r| CursorKey::Id { id: r.id }))
}

/// The row, locked until the transaction ends (PostgreSQL `FOR UPDATE`), so
/// that a concurrent update of other fields waits and its change is read,
/// not overwritten. SQLite's writers are serialised by `BEGIN IMMEDIATE`.
async fn get_for_update(tx: &mut TenantTx, id: Uuid) -> Result<Client, StoreError> {
    let tenant = tx.tenant().as_uuid();
    let row: Option<Client> = on_tx!(tx, c => sqlx::query_as(sql!(c,
        pg: concat!("SELECT ", cols!(), " FROM clients WHERE tenant_id = $1 AND id = $2 FOR UPDATE"),
        sqlite: concat!("SELECT ", cols!(), " FROM clients WHERE tenant_id = $1 AND id = $2")))
        .bind(tenant).bind(id).fetch_optional(&mut *c).await?);
    row.ok_or(StoreError::NotFound { entity: "client" })
}

/// Applies a patch: the fields it names change, the others keep their
/// latest committed value.
pub async fn update(tx: &mut TenantTx, id: Uuid, f: ClientFields) -> Result<Client, StoreError> {
    let mut r = get_for_update(tx, id).await?;
    if let Some(v) = f.name {
        r.name = v;
    }
    if let Some(v) = f.contact_name {
        r.contact_name = v;
    }
    if let Some(v) = f.email {
        r.email = v;
    }
    if let Some(v) = f.phone {
        r.phone = v;
    }
    if let Some(v) = f.address {
        r.address = v;
    }
    if let Some(v) = f.is_active {
        r.is_active = v;
    }
    let tenant = tx.tenant().as_uuid();
    on_tx!(tx, c => sqlx::query_as(concat!(
        "UPDATE clients SET name = $3, contact_name = $4, email = $5, phone = $6, address = $7, is_active = $8, updated_at = $9
         WHERE tenant_id = $1 AND id = $2 RETURNING ", cols!()))
        .bind(tenant).bind(id).bind(&r.name).bind(&r.contact_name).bind(&r.email).bind(&r.phone).bind(&r.address)
        .bind(r.is_active).bind(Ts::now())
        .fetch_one(&mut *c).await.map_err(StoreError::from))
}

/// Deletes a client that no work order refers to.
pub async fn delete(tx: &mut TenantTx, id: Uuid) -> Result<(), StoreError> {
    let tenant = tx.tenant().as_uuid();
    let in_use = || StoreError::InUse {
        entity: "client",
        by: "work orders",
    };
    let n = on_tx!(tx, c => sqlx::query("DELETE FROM clients WHERE tenant_id = $1 AND id = $2")
        .bind(tenant).bind(id).execute(&mut *c).await
        .map_err(|e| map_constraint(e, &[], &[("work_orders_client_fkey", in_use())]))?
        .rows_affected());
    if n == 0 {
        Err(StoreError::NotFound { entity: "client" })
    } else {
        Ok(())
    }
}
