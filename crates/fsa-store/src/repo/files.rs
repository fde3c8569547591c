//! File metadata: one row per stored object. The object itself lives in a
//! file store (local disk or S3); the row names it by `storage_key`, which
//! the service makes from the tenant and file ids, never from a user's
//! file name.

use serde::Serialize;
use sqlx::FromRow;
use uuid::Uuid;

use super::{Table, exists};
use crate::error::StoreError;
use crate::on_tx;
use crate::page::{CursorKey, Page, finish};
use crate::ts::Ts;
use crate::tx::TenantTx;

/// A file's metadata, as the API shows it.
#[derive(Debug, Clone, Serialize, FromRow)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FileMeta {
    pub id: Uuid,
    pub work_order_id: Uuid,
    pub file_type: String,
    /// The name the file was uploaded with.
    #[serde(rename = "filename")]
    pub file_name: String,
    pub content_type: String,
    /// Bytes.
    #[serde(rename = "size")]
    pub size_bytes: i64,
    /// SHA-256 of the content, lowercase hex.
    pub sha256: String,
    /// Where the object is in the tenant's file store; not shown.
    #[serde(skip)]
    #[cfg_attr(feature = "openapi", schema(ignore))]
    pub storage_key: String,
    pub created_at: Ts,
}

/// A new file's row, written after its object is stored.
#[derive(Debug, Clone)]
pub struct NewFile {
    pub id: Uuid,
    pub work_order_id: Uuid,
    pub file_type: String,
    pub file_name: String,
    pub content_type: String,
    pub size_bytes: i64,
    pub sha256: String,
    pub storage_key: String,
}

macro_rules! cols {
    () => {
        "id, work_order_id, file_type, file_name, content_type, size_bytes, sha256, storage_key, created_at"
    };
}

/// Fails with `NotFound` unless the tenant has the work order.
pub async fn require_work_order(tx: &mut TenantTx, work_order_id: Uuid) -> Result<(), StoreError> {
    if exists(tx, Table::WorkOrders, work_order_id).await? {
        Ok(())
    } else {
        Err(StoreError::NotFound {
            entity: "work order",
        })
    }
}

pub async fn create(tx: &mut TenantTx, f: NewFile) -> Result<FileMeta, StoreError> {
    require_work_order(tx, f.work_order_id).await?;
    let tenant = tx.tenant().as_uuid();
    let now = Ts::now();
    on_tx!(tx, c => sqlx::query_as(concat!(
        "INSERT INTO file_metadata (tenant_id, id, work_order_id, file_type, file_name, size_bytes,
                                    content_type, storage_key, sha256, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10) RETURNING ", cols!()))
        .bind(tenant)
        .bind(f.id)
        .bind(f.work_order_id)
        .bind(&f.file_type)
        .bind(&f.file_name)
        .bind(f.size_bytes)
        .bind(&f.content_type)
        .bind(&f.storage_key)
        .bind(&f.sha256)
        .bind(now)
        .fetch_one(&mut *c)
        .await
        .map_err(StoreError::from))
}

pub async fn get(tx: &mut TenantTx, id: Uuid) -> Result<FileMeta, StoreError> {
    let tenant = tx.tenant().as_uuid();
    let row: Option<FileMeta> = on_tx!(tx, c => sqlx::query_as(concat!("SELECT ", cols!(),
        " FROM file_metadata WHERE tenant_id = $1 AND id = $2"))
        .bind(tenant).bind(id).fetch_optional(&mut *c).await?);
    row.ok_or(StoreError::NotFound { entity: "file" })
}

/// A work order's files, oldest first, a page at a time.
pub async fn list(
    tx: &mut TenantTx,
    work_order_id: Uuid,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Page<FileMeta>, StoreError> {
    require_work_order(tx, work_order_id).await?;
    let tenant = tx.tenant().as_uuid();
    let rows: Vec<FileMeta> = on_tx!(tx, c => sqlx::query_as(concat!("SELECT ", cols!(),
        " FROM file_metadata WHERE tenant_id = $1 AND work_order_id = $2 AND ($3 IS NULL OR id > $3)
          ORDER BY id LIMIT $4"))
        .bind(tenant).bind(work_order_id).bind(after).bind(limit + 1).fetch_all(&mut *c).await?);
    Ok(finish(rows, limit, |r| CursorKey::Id { id: r.id }))
}

/// Deletes the row and returns it (its `storage_key` names the object the
/// caller deletes once this commits).
pub async fn delete(tx: &mut TenantTx, id: Uuid) -> Result<FileMeta, StoreError> {
    let tenant = tx.tenant().as_uuid();
    let row: Option<FileMeta> = on_tx!(tx, c => sqlx::query_as(concat!(
        "DELETE FROM file_metadata WHERE tenant_id = $1 AND id = $2 RETURNING ", cols!()))
        .bind(tenant).bind(id).fetch_optional(&mut *c).await?);
    row.ok_or(StoreError::NotFound { entity: "file" })
}

/// Every file of the tenant: id and storage key (for the collector).
pub async fn keys(tx: &mut TenantTx) -> Result<Vec<(Uuid, String)>, StoreError> {
    let tenant = tx.tenant().as_uuid();
    Ok(on_tx!(tx, c => sqlx::query_as(
        "SELECT id, storage_key FROM file_metadata WHERE tenant_id = $1 ORDER BY id")
        .bind(tenant).fetch_all(&mut *c).await?))
}

/// How many files the tenant stores, and their bytes.
pub async fn totals(tx: &mut TenantTx) -> Result<(i64, i64), StoreError> {
    let tenant = tx.tenant().as_uuid();
    Ok(on_tx!(tx, c => sqlx::query_as(
        "SELECT CAST(count(*) AS BIGINT), CAST(coalesce(sum(size_bytes), 0) AS BIGINT) FROM file_metadata WHERE tenant_id = $1")
        .bind(tenant).fetch_one(&mut *c).await?))
}
