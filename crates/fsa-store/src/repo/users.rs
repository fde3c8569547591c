//! Users of a tenant: who logs in, with which role.

use fsa_core::{Role, new_id};
use serde::Serialize;
use sqlx::FromRow;
use uuid::Uuid;

use crate::error::{StoreError, map_constraint};
use crate::page::{CursorKey, Page, finish};
use crate::ts::Ts;
use crate::tx::TenantTx;
use crate::{on_tx, sql};

#[derive(Debug, Clone, Serialize, FromRow)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct User {
    pub id: Uuid,
    pub email: String,
    pub name: String,
    #[sqlx(try_from = "String")]
    pub role: Role,
    pub is_active: bool,
    #[serde(skip)]
    pub password_hash: String,
    pub created_at: Ts,
    pub updated_at: Ts,
    /// Carried by the user's tokens; bumped when the user is deactivated,
    /// changes role or gets a new password, which ends every older token.
    #[serde(skip)]
    pub token_version: i64,
}

/// What a token is checked against on each request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, FromRow)]
pub struct Standing {
    #[sqlx(try_from = "String")]
    pub role: Role,
    pub is_active: bool,
    pub token_version: i64,
}

pub struct NewUser {
    pub email: String,
    pub name: String,
    pub role: Role,
    pub password_hash: String,
}

#[derive(Debug, Default)]
pub struct UserPatch {
    pub name: Option<String>,
    pub role: Option<Role>,
    pub is_active: Option<bool>,
    pub password_hash: Option<String>,
}

macro_rules! cols {
    () => {
        "id, email, name, role, is_active, password_hash, created_at, updated_at, token_version"
    };
}

fn email_taken() -> StoreError {
    StoreError::Conflict {
        entity: "user",
        detail: "a user with this email exists",
    }
}

pub async fn create(tx: &mut TenantTx, new: NewUser) -> Result<User, StoreError> {
    let tenant = tx.tenant().as_uuid();
    let now = Ts::now();
    on_tx!(tx, c => {
        sqlx::query_as(concat!(
            "INSERT INTO users (tenant_id, id, email, name, role, password_hash, is_active, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, true, $7, $7) RETURNING ", cols!()))
        .bind(tenant)
        .bind(new_id())
        .bind(new.email.to_lowercase())
        .bind(&new.name)
        .bind(new.role.as_str())
        .bind(&new.password_hash)
        .bind(now)
        .fetch_one(&mut *c)
        .await
        .map_err(|e| map_constraint(e, &[("users_email_key", email_taken()), ("users.tenant_id, users.email", email_taken())], &[]))
    })
}

pub async fn get(tx: &mut TenantTx, id: Uuid) -> Result<User, StoreError> {
    let tenant = tx.tenant().as_uuid();
    let row: Option<User> = on_tx!(tx, c => sqlx::query_as(concat!("SELECT ", cols!(), " FROM users WHERE tenant_id = $1 AND id = $2"))
        .bind(tenant).bind(id).fetch_optional(&mut *c).await?);
    row.ok_or(StoreError::NotFound { entity: "user" })
}

pub async fn by_email(tx: &mut TenantTx, email: &str) -> Result<Option<User>, StoreError> {
    let tenant = tx.tenant().as_uuid();
    Ok(
        on_tx!(tx, c => sqlx::query_as(concat!("SELECT ", cols!(), " FROM users WHERE tenant_id = $1 AND email = $2"))
        .bind(tenant).bind(email.to_lowercase()).fetch_optional(&mut *c).await?),
    )
}

pub async fn list(
    tx: &mut TenantTx,
    role: Option<Role>,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Page<User>, StoreError> {
    let tenant = tx.tenant().as_uuid();
    let rows: Vec<User> = on_tx!(tx, c => sqlx::query_as(concat!("SELECT ", cols!(),
        " FROM users WHERE tenant_id = $1 AND ($2 IS NULL OR role = $2) AND ($3 IS NULL OR id > $3) ORDER BY id LIMIT $4"))
        .bind(tenant).bind(role.map(Role::as_str)).bind(after).bind(limit + 1).fetch_all(&mut *c).await?);
    Ok(finish(rows, limit, |u| CursorKey::Id { id: u.id }))
}

/// The row, locked until the transaction ends (PostgreSQL `FOR UPDATE`), so
/// that a concurrent update of other fields waits and its change is read,
/// not overwritten. SQLite's writers are serialised by `BEGIN IMMEDIATE`.
async fn get_for_update(tx: &mut TenantTx, id: Uuid) -> Result<User, StoreError> {
    let tenant = tx.tenant().as_uuid();
    let row: Option<User> = on_tx!(tx, c => sqlx::query_as(sql!(c,
        pg: concat!("SELECT ", cols!(), " FROM users WHERE tenant_id = $1 AND id = $2 FOR NO KEY UPDATE"),
        sqlite: concat!("SELECT ", cols!(), " FROM users WHERE tenant_id = $1 AND id = $2")))
        .bind(tenant).bind(id).fetch_optional(&mut *c).await?);
    row.ok_or(StoreError::NotFound { entity: "user" })
}

/// Applies a patch: the fields it names change, the others keep their
/// latest committed value.
pub async fn update(tx: &mut TenantTx, id: Uuid, patch: UserPatch) -> Result<User, StoreError> {
    let removes_admin =
        patch.role.is_some_and(|r| r != Role::Admin) || patch.is_active == Some(false);
    let mut u = if removes_admin {
        lock_admins_then(tx, id).await?
    } else {
        get_for_update(tx, id).await?
    };
    if removes_admin && u.role == Role::Admin && u.is_active {
        ensure_other_admin(tx, id).await?;
    }
    if let Some(v) = patch.name {
        u.name = v;
    }
    if let Some(v) = patch.role {
        u.role = v;
    }
    if let Some(v) = patch.is_active {
        u.is_active = v;
    }
    if let Some(v) = patch.password_hash {
        u.password_hash = v;
    }
    let tenant = tx.tenant().as_uuid();
    // The old values are the row's own, so the bump is decided by what this
    // statement changes, whatever was read before it.
    on_tx!(tx, c => sqlx::query_as(concat!(
        "UPDATE users SET name = $3, role = $4, is_active = $5, password_hash = $6, updated_at = $7,
            token_version = token_version
                + CASE WHEN role <> $4 OR (is_active AND NOT $5) OR password_hash <> $6 THEN 1 ELSE 0 END
         WHERE tenant_id = $1 AND id = $2 RETURNING ", cols!()))
        .bind(tenant).bind(id).bind(&u.name).bind(u.role.as_str()).bind(u.is_active).bind(&u.password_hash).bind(Ts::now())
        .fetch_one(&mut *c).await.map_err(StoreError::from))
}

/// The user's role, whether active, and token version; `None` for a user
/// that does not exist (deleted).
pub async fn standing(tx: &mut TenantTx, id: Uuid) -> Result<Option<Standing>, StoreError> {
    let tenant = tx.tenant().as_uuid();
    Ok(on_tx!(tx, c => sqlx::query_as(
        "SELECT role, is_active, token_version FROM users WHERE tenant_id = $1 AND id = $2")
        .bind(tenant).bind(id).fetch_optional(&mut *c).await?))
}

/// Serialises the writes that may take a tenant's last admin away, then
/// reads the target user. On PostgreSQL the active admins' rows are locked
/// (in id order, so two such writes cannot deadlock) and then the target's
/// row: a second write waits here, and reads the admins as the first one
/// left them. On SQLite a write transaction begins IMMEDIATE, which
/// serialises writers already.
async fn lock_admins_then(tx: &mut TenantTx, id: Uuid) -> Result<User, StoreError> {
    let tenant = tx.tenant().as_uuid();
    on_tx!(tx, c => {
        if crate::db::is_pg(&*c) {
            sqlx::query(
                "SELECT id FROM users WHERE tenant_id = $1 AND role = 'admin' AND is_active
                 ORDER BY id FOR NO KEY UPDATE")
                .bind(tenant).fetch_all(&mut *c).await?;
        }
    });
    get_for_update(tx, id).await
}

/// Fails with [`StoreError::LastAdmin`] unless an active admin other than
/// `id` remains. Called after [`lock_admins_then`], inside the same write.
async fn ensure_other_admin(tx: &mut TenantTx, id: Uuid) -> Result<(), StoreError> {
    let tenant = tx.tenant().as_uuid();
    let others: i64 = on_tx!(tx, c => sqlx::query_scalar(
        "SELECT count(*) FROM users WHERE tenant_id = $1 AND role = 'admin' AND is_active AND id <> $2")
        .bind(tenant).bind(id).fetch_one(&mut *c).await?);
    if others == 0 {
        Err(StoreError::LastAdmin)
    } else {
        Ok(())
    }
}

/// Deletes a user; personnel linked to it keep their record, unlinked.
pub async fn delete(tx: &mut TenantTx, id: Uuid) -> Result<(), StoreError> {
    let u = lock_admins_then(tx, id).await?;
    if u.role == Role::Admin && u.is_active {
        ensure_other_admin(tx, id).await?;
    }
    let tenant = tx.tenant().as_uuid();
    let n = on_tx!(tx, c => {
        sqlx::query("UPDATE personnel SET user_id = NULL, updated_at = $3 WHERE tenant_id = $1 AND user_id = $2")
            .bind(tenant).bind(id).bind(Ts::now()).execute(&mut *c).await?;
        sqlx::query("DELETE FROM users WHERE tenant_id = $1 AND id = $2").bind(tenant).bind(id).execute(&mut *c).await?.rows_affected()
    });
    if n == 0 {
        Err(StoreError::NotFound { entity: "user" })
    } else {
        Ok(())
    }
}
