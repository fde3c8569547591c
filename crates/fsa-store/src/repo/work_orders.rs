//! Work orders: the jobs, with their per-tenant number and status lifecycle.

use chrono::NaiveDate;
use fsa_core::{Priority, TransitionError, WorkOrderStatus, new_id};
use serde::Serialize;
use serde_json::value::RawValue;
use sqlx::types::Json;
use sqlx::{Column, FromRow, Row};
use uuid::Uuid;

use super::{Nullable, Table, check_ref, like_pattern};
use crate::error::StoreError;
use crate::page::{CursorKey, Page, finish};
use crate::ts::Ts;
use crate::tx::TenantTx;
use crate::{on_tx, sql};

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WorkOrder {
    pub id: Uuid,
    /// The tenant's own running number, shown as `reference` (WO-1042).
    pub number: i64,
    pub reference: Reference,
    pub client_id: Uuid,
    pub title: String,
    pub description: Option<String>,
    pub status: WorkOrderStatus,
    #[serde(skip)]
    pub held_from: Option<String>,
    pub priority: Priority,
    pub due_date: Option<NaiveDate>,
    pub scheduled_start: Option<Ts>,
    pub scheduled_end: Option<Ts>,
    pub assigned_to: Option<Uuid>,
    /// Kept as the JSON text the database returned: it is only passed on.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub attributes: Json<Box<RawValue>>,
    pub created_at: Ts,
    pub updated_at: Ts,
}

/// A work order's display reference, `WO-<number>`, written when the order
/// is serialised rather than formatted into a string for every row read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(value_type = String, example = "WO-1042"))]
pub struct Reference(pub i64);

impl Serialize for Reference {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut n = itoa::Buffer::new();
        let digits = n.format(self.0);
        let mut buf = [0u8; 3 + 20];
        buf[..3].copy_from_slice(b"WO-");
        buf[3..3 + digits.len()].copy_from_slice(digits.as_bytes());
        // Only ASCII was written.
        let text =
            std::str::from_utf8(&buf[..3 + digits.len()]).map_err(serde::ser::Error::custom)?;
        serializer.serialize_str(text)
    }
}

/// The columns of [`cols!`], in order: rows are decoded by position, not
/// looked up by name (debug builds check the names).
const COLUMNS: [&str; 15] = [
    "id",
    "number",
    "client_id",
    "title",
    "description",
    "status",
    "held_from",
    "priority",
    "due_date",
    "scheduled_start",
    "scheduled_end",
    "assigned_to",
    "attributes",
    "created_at",
    "updated_at",
];

/// A named-enum column, parsed from the row's text without copying it.
fn parse_col<T: std::str::FromStr>(s: &str, i: usize) -> Result<T, sqlx::Error>
where
    T::Err: std::error::Error + Send + Sync + 'static,
{
    s.parse().map_err(|e| sqlx::Error::ColumnDecode {
        index: COLUMNS[i].to_owned(),
        source: Box::new(e),
    })
}

macro_rules! work_order_from_row {
    ($row:ty) => {
        impl<'r> FromRow<'r, $row> for WorkOrder {
            fn from_row(row: &'r $row) -> Result<Self, sqlx::Error> {
                debug_assert!(
                    row.columns().len() == COLUMNS.len()
                        && COLUMNS
                            .iter()
                            .enumerate()
                            .all(|(i, n)| row.column(i).name() == *n),
                    "work order columns out of order"
                );
                // The statement's columns are the ones above (checked in
                // debug builds), so the per-column type check is skipped.
                let number: i64 = row.try_get_unchecked(1)?;
                Ok(WorkOrder {
                    id: row.try_get_unchecked(0)?,
                    number,
                    reference: Reference(number),
                    client_id: row.try_get_unchecked(2)?,
                    title: row.try_get_unchecked(3)?,
                    description: row.try_get_unchecked(4)?,
                    status: parse_col(row.try_get_unchecked(5)?, 5)?,
                    held_from: row.try_get_unchecked(6)?,
                    priority: parse_col(row.try_get_unchecked(7)?, 7)?,
                    due_date: row.try_get_unchecked(8)?,
                    scheduled_start: row.try_get_unchecked(9)?,
                    scheduled_end: row.try_get_unchecked(10)?,
                    assigned_to: row.try_get_unchecked(11)?,
                    attributes: row.try_get_unchecked(12)?,
                    created_at: row.try_get_unchecked(13)?,
                    updated_at: row.try_get_unchecked(14)?,
                })
            }
        }
    };
}
work_order_from_row!(sqlx::postgres::PgRow);
work_order_from_row!(sqlx::sqlite::SqliteRow);

impl WorkOrder {
    fn held_from(&self) -> Option<WorkOrderStatus> {
        self.held_from.as_deref().and_then(|s| s.parse().ok())
    }
}

#[derive(Debug, Default)]
pub struct WorkOrderFields {
    pub client_id: Option<Uuid>,
    pub title: Option<String>,
    pub description: Nullable<String>,
    pub priority: Option<Priority>,
    pub due_date: Nullable<NaiveDate>,
    pub scheduled_start: Nullable<Ts>,
    pub scheduled_end: Nullable<Ts>,
    pub assigned_to: Nullable<Uuid>,
    pub attributes: Option<serde_json::Value>,
}

/// A status change, with whether the actor may reopen completed orders.
#[derive(Debug, Clone, Copy)]
pub struct StatusChange {
    pub to: WorkOrderStatus,
    pub may_reopen: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Sort {
    /// Newest first.
    #[default]
    CreatedAt,
    /// Soonest due first; orders without a due date last.
    DueDate,
}

#[derive(Debug, Default)]
pub struct WorkOrderFilter {
    pub status: Option<WorkOrderStatus>,
    pub client_id: Option<Uuid>,
    pub assigned_to: Option<Uuid>,
    pub due_from: Option<NaiveDate>,
    pub due_to: Option<NaiveDate>,
    /// Text the title must contain.
    pub q: Option<String>,
    pub sort: Sort,
    pub cursor: Option<CursorKey>,
    pub limit: i64,
}

/// Why a work order write was refused.
#[derive(Debug, thiserror::Error)]
pub enum WorkOrderError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Transition(#[from] TransitionError),
    #[error("the cursor belongs to another sort order")]
    CursorMismatch,
}

macro_rules! cols {
    () => {
        "id, number, client_id, title, description, status, held_from, priority, due_date, scheduled_start, scheduled_end, assigned_to, attributes, created_at, updated_at"
    };
}

pub async fn create(tx: &mut TenantTx, f: WorkOrderFields) -> Result<WorkOrder, StoreError> {
    let client_id = f.client_id.ok_or(StoreError::InvalidReference {
        field: "client_id",
        entity: "client",
    })?;
    check_ref(tx, Table::Clients, Some(client_id), "client_id", "client").await?;
    let assigned = f.assigned_to.flatten();
    check_ref(tx, Table::Personnel, assigned, "assigned_to", "personnel").await?;
    let tenant = tx.tenant().as_uuid();
    let now = Ts::now();
    let row: WorkOrder = on_tx!(tx, c => {
        let number: i64 = sqlx::query_scalar(
            "UPDATE tenant_state SET next_wo_number = next_wo_number + 1 WHERE tenant_id = $1 RETURNING next_wo_number - 1")
            .bind(tenant).fetch_one(&mut *c).await?;
        sqlx::query_as(concat!(
            "INSERT INTO work_orders (tenant_id, id, number, client_id, title, description, status, priority, due_date,
                 scheduled_start, scheduled_end, assigned_to, attributes, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, 'open', $7, $8, $9, $10, $11, $12, $13, $13) RETURNING ", cols!()))
            .bind(tenant)
            .bind(new_id())
            .bind(number)
            .bind(client_id)
            .bind(f.title.unwrap_or_default())
            .bind(f.description.flatten())
            .bind(f.priority.unwrap_or(Priority::Normal).as_str())
            .bind(f.due_date.flatten())
            .bind(f.scheduled_start.flatten())
            .bind(f.scheduled_end.flatten())
            .bind(assigned)
            .bind(Json(f.attributes.unwrap_or_else(|| serde_json::json!({}))))
            .bind(now)
            .fetch_one(&mut *c)
            .await?
    });
    Ok(row)
}

/// A work order; with `only_assigned_to`, only if it is assigned to that
/// person (a technician's view).
pub async fn get(
    tx: &mut TenantTx,
    id: Uuid,
    only_assigned_to: Option<Uuid>,
) -> Result<WorkOrder, StoreError> {
    let tenant = tx.tenant().as_uuid();
    let row: Option<WorkOrder> = on_tx!(tx, c => sqlx::query_as(concat!("SELECT ", cols!(),
        " FROM work_orders WHERE tenant_id = $1 AND id = $2", " AND ($3 IS NULL OR assigned_to = $3)"))
        .bind(tenant).bind(id).bind(only_assigned_to).fetch_optional(&mut *c).await?);
    row.ok_or(StoreError::NotFound {
        entity: "work order",
    })
}

pub async fn list(
    tx: &mut TenantTx,
    f: WorkOrderFilter,
) -> Result<Page<WorkOrder>, WorkOrderError> {
    let tenant = tx.tenant().as_uuid();
    let limit = f.limit;
    let rows: Vec<WorkOrder> = on_tx!(tx, c => {
        let mut qb = sqlx::QueryBuilder::new(concat!("SELECT ", cols!(), " FROM work_orders WHERE tenant_id = "));
        qb.push_bind(tenant);
        if let Some(s) = f.status {
            qb.push(" AND status = ").push_bind(s.as_str());
        }
        if let Some(id) = f.client_id {
            qb.push(" AND client_id = ").push_bind(id);
        }
        if let Some(id) = f.assigned_to {
            qb.push(" AND assigned_to = ").push_bind(id);
        }
        if let Some(d) = f.due_from {
            qb.push(" AND due_date >= ").push_bind(d);
        }
        if let Some(d) = f.due_to {
            qb.push(" AND due_date <= ").push_bind(d);
        }
        if let Some(q) = &f.q {
            qb.push(sql!(c, pg: " AND title ILIKE ", sqlite: " AND title LIKE "))
                .push_bind(like_pattern(q))
                .push(" ESCAPE '\\'");
        }
        match (f.sort, &f.cursor) {
            (_, None) => {}
            (Sort::CreatedAt, Some(CursorKey::Created { t, id })) => {
                qb.push(" AND (created_at, id) < (").push_bind(*t).push(", ").push_bind(*id).push(")");
            }
            (Sort::DueDate, Some(CursorKey::Due { d: Some(d), id })) => {
                qb.push(" AND (due_date > ").push_bind(*d)
                    .push(" OR (due_date = ").push_bind(*d).push(" AND id > ").push_bind(*id)
                    .push(") OR due_date IS NULL)");
            }
            (Sort::DueDate, Some(CursorKey::Due { d: None, id })) => {
                qb.push(" AND due_date IS NULL AND id > ").push_bind(*id);
            }
            _ => return Err(WorkOrderError::CursorMismatch),
        }
        qb.push(match f.sort {
            Sort::CreatedAt => " ORDER BY created_at DESC, id DESC LIMIT ",
            Sort::DueDate => " ORDER BY due_date ASC NULLS LAST, id ASC LIMIT ",
        });
        qb.push_bind(limit + 1);
        qb.build_query_as().fetch_all(&mut *c).await.map_err(StoreError::from)?
    });
    let sort = f.sort;
    let page = finish(rows, limit, |w: &WorkOrder| match sort {
        Sort::CreatedAt => CursorKey::Created {
            t: w.created_at,
            id: w.id,
        },
        Sort::DueDate => CursorKey::Due {
            d: w.due_date,
            id: w.id,
        },
    });
    Ok(Page {
        items: page.items,
        next_cursor: page.next_cursor,
    })
}

/// Changes fields and, optionally, the status of a work order.
pub async fn update(
    tx: &mut TenantTx,
    id: Uuid,
    f: WorkOrderFields,
    status: Option<StatusChange>,
    only_assigned_to: Option<Uuid>,
) -> Result<WorkOrder, WorkOrderError> {
    let tenant = tx.tenant().as_uuid();
    let mut w: WorkOrder = {
        let row: Option<WorkOrder> = on_tx!(tx, c => sqlx::query_as(sql!(c,
            pg: concat!("SELECT ", cols!(), " FROM work_orders WHERE tenant_id = $1 AND id = $2 AND ($3 IS NULL OR assigned_to = $3) FOR UPDATE"),
            sqlite: concat!("SELECT ", cols!(), " FROM work_orders WHERE tenant_id = $1 AND id = $2 AND ($3 IS NULL OR assigned_to = $3)")))
            .bind(tenant).bind(id).bind(only_assigned_to).fetch_optional(&mut *c).await.map_err(StoreError::from)?);
        row.ok_or(StoreError::NotFound {
            entity: "work order",
        })?
    };
    if let Some(change) = status.filter(|c| c.to != w.status) {
        {
            let held = w
                .status
                .transition(change.to, w.held_from(), change.may_reopen)?;
            w.held_from = held.map(|s| s.as_str().to_owned());
            w.status = change.to;
        }
    }
    if let Some(v) = f.client_id {
        check_ref(tx, Table::Clients, Some(v), "client_id", "client").await?;
        w.client_id = v;
    }
    if let Some(v) = f.assigned_to {
        check_ref(tx, Table::Personnel, v, "assigned_to", "personnel").await?;
        w.assigned_to = v;
    }
    if let Some(v) = f.title {
        w.title = v;
    }
    if let Some(v) = f.description {
        w.description = v;
    }
    if let Some(v) = f.priority {
        w.priority = v;
    }
    if let Some(v) = f.due_date {
        w.due_date = v;
    }
    if let Some(v) = f.scheduled_start {
        w.scheduled_start = v;
    }
    if let Some(v) = f.scheduled_end {
        w.scheduled_end = v;
    }
    if let Some(v) = f.attributes {
        w.attributes = Json(
            serde_json::value::to_raw_value(&v)
                .map_err(|e| StoreError::Database(sqlx::Error::Encode(e.into())))?,
        );
    }
    let row: WorkOrder = on_tx!(tx, c => sqlx::query_as(concat!(
        "UPDATE work_orders SET client_id = $3, title = $4, description = $5, status = $6, held_from = $7, priority = $8,
             due_date = $9, scheduled_start = $10, scheduled_end = $11, assigned_to = $12, attributes = $13, updated_at = $14
         WHERE tenant_id = $1 AND id = $2 RETURNING ", cols!()))
        .bind(tenant).bind(id).bind(w.client_id).bind(&w.title).bind(&w.description).bind(w.status.as_str())
        .bind(&w.held_from).bind(w.priority.as_str()).bind(w.due_date).bind(w.scheduled_start).bind(w.scheduled_end)
        .bind(w.assigned_to).bind(&w.attributes).bind(Ts::now())
        .fetch_one(&mut *c).await.map_err(StoreError::from)?);
    Ok(row)
}

/// Deletes a work order with its tasks and file records, and returns the
/// storage keys of its files: the caller deletes their objects once this
/// commits, so that the bytes leave the store as they leave the plan's
/// `file_bytes` (an upload, delete, upload loop cannot outgrow the plan).
pub async fn delete(tx: &mut TenantTx, id: Uuid) -> Result<Vec<String>, StoreError> {
    let tenant = tx.tenant().as_uuid();
    let keys: Vec<String> = on_tx!(tx, c => sqlx::query_scalar(
        "DELETE FROM file_metadata WHERE tenant_id = $1 AND work_order_id = $2 RETURNING storage_key")
        .bind(tenant).bind(id).fetch_all(&mut *c).await?);
    let n = on_tx!(tx, c => sqlx::query("DELETE FROM work_orders WHERE tenant_id = $1 AND id = $2")
        .bind(tenant).bind(id).execute(&mut *c).await?.rows_affected());
    if n == 0 {
        Err(StoreError::NotFound {
            entity: "work order",
        })
    } else {
        Ok(keys)
    }
}

/// Whether the work order is assigned to `personnel_id`.
pub async fn is_assigned_to(
    tx: &mut TenantTx,
    id: Uuid,
    personnel_id: Uuid,
) -> Result<bool, StoreError> {
    let tenant = tx.tenant().as_uuid();
    let hit: Option<i32> = on_tx!(tx, c => sqlx::query_scalar("SELECT 1 FROM work_orders WHERE tenant_id = $1 AND id = $2 AND assigned_to = $3")
        .bind(tenant).bind(id).bind(personnel_id).fetch_optional(&mut *c).await?);
    Ok(hit.is_some())
}
