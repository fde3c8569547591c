//! Tasks: the steps of a work order.

use fsa_core::{TaskStatus, new_id};
use serde::Serialize;
use sqlx::FromRow;
use uuid::Uuid;

use super::{Nullable, Table, check_ref, exists};
use crate::error::StoreError;
use crate::ts::Ts;
use crate::tx::TenantTx;
use crate::{on_tx, sql};

#[derive(Debug, Clone, Serialize, FromRow)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Task {
    pub id: Uuid,
    pub work_order_id: Uuid,
    pub title: String,
    #[sqlx(try_from = "String")]
    pub status: TaskStatus,
    pub assignee_id: Option<Uuid>,
    pub position: i32,
    pub created_at: Ts,
    pub updated_at: Ts,
}

#[derive(Debug, Default)]
pub struct TaskFields {
    pub title: Option<String>,
    pub status: Option<TaskStatus>,
    pub assignee_id: Nullable<Uuid>,
    pub position: Option<i32>,
}

macro_rules! cols {
    () => {
        "id, work_order_id, title, status, assignee_id, position, created_at, updated_at"
    };
}

/// The most tasks one work order lists at once.
pub const MAX_TASKS: i64 = 500;

async fn require_work_order(tx: &mut TenantTx, work_order_id: Uuid) -> Result<(), StoreError> {
    if exists(tx, Table::WorkOrders, work_order_id).await? {
        Ok(())
    } else {
        Err(StoreError::NotFound {
            entity: "work order",
        })
    }
}

pub async fn list(tx: &mut TenantTx, work_order_id: Uuid) -> Result<Vec<Task>, StoreError> {
    require_work_order(tx, work_order_id).await?;
    let tenant = tx.tenant().as_uuid();
    Ok(on_tx!(tx, c => sqlx::query_as(concat!("SELECT ", cols!(),
        " FROM tasks WHERE tenant_id = $1 AND work_order_id = $2 ORDER BY position, id LIMIT $3"))
        .bind(tenant).bind(work_order_id).bind(MAX_TASKS).fetch_all(&mut *c).await?))
}

pub async fn create(
    tx: &mut TenantTx,
    work_order_id: Uuid,
    f: TaskFields,
) -> Result<Task, StoreError> {
    require_work_order(tx, work_order_id).await?;
    let assignee = f.assignee_id.flatten();
    check_ref(tx, Table::Personnel, assignee, "assignee_id", "personnel").await?;
    let tenant = tx.tenant().as_uuid();
    let now = Ts::now();
    on_tx!(tx, c => {
        let position = match f.position {
            Some(p) => p,
            None => sqlx::query_scalar::<_, Option<i32>>("SELECT max(position) FROM tasks WHERE tenant_id = $1 AND work_order_id = $2")
                .bind(tenant).bind(work_order_id).fetch_one(&mut *c).await?.map_or(1, |p| p.saturating_add(1)),
        };
        sqlx::query_as(concat!(
            "INSERT INTO tasks (tenant_id, id, work_order_id, title, status, assignee_id, position, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) RETURNING ", cols!()))
            .bind(tenant)
            .bind(new_id())
            .bind(work_order_id)
            .bind(f.title.unwrap_or_default())
            .bind(f.status.unwrap_or(TaskStatus::Todo).as_str())
            .bind(assignee)
            .bind(position)
            .bind(now)
            .fetch_one(&mut *c)
            .await
            .map_err(StoreError::from)
    })
}

pub async fn get(tx: &mut TenantTx, work_order_id: Uuid, id: Uuid) -> Result<Task, StoreError> {
    let tenant = tx.tenant().as_uuid();
    let row: Option<Task> = on_tx!(tx, c => sqlx::query_as(concat!("SELECT ", cols!(),
        " FROM tasks WHERE tenant_id = $1 AND work_order_id = $2 AND id = $3"))
        .bind(tenant).bind(work_order_id).bind(id).fetch_optional(&mut *c).await?);
    row.ok_or(StoreError::NotFound { entity: "task" })
}

/// The row, locked until the transaction ends (PostgreSQL `FOR UPDATE`), so
/// that a concurrent update of other fields waits and its change is read,
/// not overwritten. SQLite's writers are serialised by `BEGIN IMMEDIATE`.
async fn get_for_update(
    tx: &mut TenantTx,
    work_order_id: Uuid,
    id: Uuid,
) -> Result<Task, StoreError> {
    let tenant = tx.tenant().as_uuid();
    let row: Option<Task> = on_tx!(tx, c => sqlx::query_as(sql!(c,
        pg: concat!("SELECT ", cols!(), " FROM tasks WHERE tenant_id = $1 AND work_order_id = $2 AND id = $3 FOR UPDATE"),
        sqlite: concat!("SELECT ", cols!(), " FROM tasks WHERE tenant_id = $1 AND work_order_id = $2 AND id = $3")))
        .bind(tenant).bind(work_order_id).bind(id).fetch_optional(&mut *c).await?);
    row.ok_or(StoreError::NotFound { entity: "task" })
}

/// Applies a patch: the fields it names change, the others keep their
/// latest committed value.
pub async fn update(
    tx: &mut TenantTx,
    work_order_id: Uuid,
    id: Uuid,
    f: TaskFields,
) -> Result<Task, StoreError> {
    let mut r = get_for_update(tx, work_order_id, id).await?;
    if let Some(v) = f.assignee_id {
        check_ref(tx, Table::Personnel, v, "assignee_id", "personnel").await?;
        r.assignee_id = v;
    }
    if let Some(v) = f.title {
        r.title = v;
    }
    if let Some(v) = f.status {
        r.status = v;
    }
    if let Some(v) = f.position {
        r.position = v;
    }
    let tenant = tx.tenant().as_uuid();
    on_tx!(tx, c => sqlx::query_as(concat!(
        "UPDATE tasks SET title = $3, status = $4, assignee_id = $5, position = $6, updated_at = $7
         WHERE tenant_id = $1 AND id = $2 RETURNING ", cols!()))
        .bind(tenant).bind(id).bind(&r.title).bind(r.status.as_str()).bind(r.assignee_id).bind(r.position).bind(Ts::now())
        .fetch_one(&mut *c).await.map_err(StoreError::from))
}

pub async fn delete(tx: &mut TenantTx, work_order_id: Uuid, id: Uuid) -> Result<(), StoreError> {
    let tenant = tx.tenant().as_uuid();
    let n = on_tx!(tx, c => sqlx::query("DELETE FROM tasks WHERE tenant_id = $1 AND work_order_id = $2 AND id = $3")
        .bind(tenant).bind(work_order_id).bind(id).execute(&mut *c).await?.rows_affected());
    if n == 0 {
        Err(StoreError::NotFound { entity: "task" })
    } else {
        Ok(())
    }
}
