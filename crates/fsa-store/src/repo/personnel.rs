//! Personnel: the technicians who do the work, optionally linked to a user.

use fsa_core::new_id;
use serde::Serialize;
use sqlx::FromRow;
use sqlx::types::Json;
use uuid::Uuid;

use super::{Nullable, Table, check_ref};
use crate::error::{StoreError, map_constraint};
use crate::page::{CursorKey, Page, finish};
use crate::ts::Ts;
use crate::tx::TenantTx;
use crate::{on_tx, sql};

#[derive(Debug, Clone, Serialize, FromRow)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Personnel {
    pub id: Uuid,
    pub name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<String>))]
    pub skills: Json<Vec<String>>,
    pub is_active: bool,
    pub user_id: Option<Uuid>,
    pub created_at: Ts,
    pub updated_at: Ts,
}

#[derive(Debug, Default)]
pub struct PersonnelFields {
    pub name: Option<String>,
    pub email: Nullable<String>,
    pub phone: Nullable<String>,
    pub skills: Option<Vec<String>>,
    pub is_active: Option<bool>,
    pub user_id: Nullable<Uuid>,
}

macro_rules! cols {
    () => {
        "id, name, email, phone, skills, is_active, user_id, created_at, updated_at"
    };
}

pub async fn create(tx: &mut TenantTx, f: PersonnelFields) -> Result<Personnel, StoreError> {
    let user_id = f.user_id.flatten();
    check_ref(tx, Table::Users, user_id, "user_id", "user").await?;
    let tenant = tx.tenant().as_uuid();
    let now = Ts::now();
    on_tx!(tx, c => sqlx::query_as(concat!(
        "INSERT INTO personnel (tenant_id, id, name, email, phone, skills, is_active, user_id, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) RETURNING ", cols!()))
        .bind(tenant)
        .bind(new_id())
        .bind(f.name.unwrap_or_default())
        .bind(f.email.flatten())
        .bind(f.phone.flatten())
        .bind(Json(f.skills.unwrap_or_default()))
        .bind(f.is_active.unwrap_or(true))
        .bind(user_id)
        .bind(now)
        .fetch_one(&mut *c)
        .await
        .map_err(StoreError::from))
}

pub async fn get(tx: &mut TenantTx, id: Uuid) -> Result<Personnel, StoreError> {
    let tenant = tx.tenant().as_uuid();
    let row: Option<Personnel> = on_tx!(tx, c => sqlx::query_as(concat!("SELECT ", cols!(), " FROM personnel WHERE tenant_id = $1 AND id = $2"))
        .bind(tenant).bind(id).fetch_optional(&mut *c).await?);
    row.ok_or(StoreError::NotFound {
        entity: "personnel",
    })
}

/// The personnel record linked to a user, if any.
pub async fn id_for_user(tx: &mut TenantTx, user_id: Uuid) -> Result<Option<Uuid>, StoreError> {
    let tenant = tx.tenant().as_uuid();
    Ok(
        on_tx!(tx, c => sqlx::query_scalar("SELECT id FROM personnel WHERE tenant_id = $1 AND user_id = $2 ORDER BY id LIMIT 1")
        .bind(tenant).bind(user_id).fetch_optional(&mut *c).await?),
    )
}

pub async fn list(
    tx: &mut TenantTx,
    is_active: Option<bool>,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Page<Personnel>, StoreError> {
    let tenant = tx.tenant().as_uuid();
    let rows: Vec<Personnel> = on_tx!(tx, c => sqlx::query_as(concat!("SELECT ", cols!(),
        " FROM personnel WHERE tenant_id = $1 AND ($2 IS NULL OR is_active = $2) AND ($3 IS NULL OR id > $3) ORDER BY id LIMIT $4"))
        .bind(tenant).bind(is_active).bind(after).bind(limit + 1).fetch_all(&mut *c).await?);
    Ok(finish(rows, limit, |r| CursorKey::Id { id: r.id }))
}

/// The row, locked until the transaction ends (PostgreSQL `FOR UPDATE`), so
/// that a concurrent update of other fields waits and its change is read,
/// not overwritten. SQLite's writers are serialised by `BEGIN IMMEDIATE`.
async fn get_for_update(tx: &mut TenantTx, id: Uuid) -> Result<Personnel, StoreError> {
    let tenant = tx.tenant().as_uuid();
    let row: Option<Personnel> = on_tx!(tx, c => sqlx::query_as(sql!(c,
        pg: concat!("SELECT ", cols!(), " FROM personnel WHERE tenant_id = $1 AND id = $2 FOR UPDATE"),
        sqlite: concat!("SELECT ", cols!(), " FROM personnel WHERE tenant_id = $1 AND id = $2")))
        .bind(tenant).bind(id).fetch_optional(&mut *c).await?);
    row.ok_or(StoreError::NotFound {
        entity: "personnel",
    })
}

/// Applies a patch: the fields it names change, the others keep their
/// latest committed value.
pub async fn update(
    tx: &mut TenantTx,
    id: Uuid,
    f: PersonnelFields,
) -> Result<Personnel, StoreError> {
    let mut r = get_for_update(tx, id).await?;
    if let Some(v) = f.user_id {
        check_ref(tx, Table::Users, v, "user_id", "user").await?;
        r.user_id = v;
    }
    if let Some(v) = f.name {
        r.name = v;
    }
    if let Some(v) = f.email {
        r.email = v;
    }
    if let Some(v) = f.phone {
        r.phone = v;
    }
    if let Some(v) = f.skills {
        r.skills = Json(v);
    }
    if let Some(v) = f.is_active {
        r.is_active = v;
    }
    let tenant = tx.tenant().as_uuid();
    on_tx!(tx, c => sqlx::query_as(concat!(
        "UPDATE personnel SET name = $3, email = $4, phone = $5, skills = $6, is_active = $7, user_id = $8, updated_at = $9
         WHERE tenant_id = $1 AND id = $2 RETURNING ", cols!()))
        .bind(tenant).bind(id).bind(&r.name).bind(&r.email).bind(&r.phone).bind(&r.skills).bind(r.is_active)
        .bind(r.user_id).bind(Ts::now())
        .fetch_one(&mut *c).await.map_err(StoreError::from))
}

/// Deletes a person no work order or task is assigned to.
pub async fn delete(tx: &mut TenantTx, id: Uuid) -> Result<(), StoreError> {
    let tenant = tx.tenant().as_uuid();
    let in_use = || StoreError::InUse {
        entity: "personnel",
        by: "work orders or tasks",
    };
    let n = on_tx!(tx, c => sqlx::query("DELETE FROM personnel WHERE tenant_id = $1 AND id = $2")
        .bind(tenant).bind(id).execute(&mut *c).await
        .map_err(|e| map_constraint(e, &[], &[("work_orders_assigned_fkey", in_use()), ("tasks_assignee_fkey", in_use()), ("FOREIGN KEY", in_use())]))?
        .rows_affected());
    if n == 0 {
        Err(StoreError::NotFound {
            entity: "personnel",
        })
    } else {
        Ok(())
    }
}
