//! The HTTP routes, one module per resource.

pub mod admin;
pub mod auth;
pub mod backups;
pub mod clients;
pub mod files;
pub mod health;
pub mod personnel;
pub mod tasks;
pub mod usage;
pub mod users;
pub mod work_orders;

use fsa_core::Permission;
use fsa_store::page::{CursorKey, clamp_limit};
use fsa_store::repo::personnel as personnel_repo;
use fsa_store::{Mode, TenantTx};
use uuid::Uuid;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::state::AppState;

/// Opens a transaction for the caller's tenant after checking the permission,
/// on the route the caller's authentication looked up.
pub(crate) async fn begin(
    app: &AppState,
    caller: &Caller,
    p: Permission,
    mode: Mode,
) -> Result<TenantTx, ApiError> {
    caller.require(p)?;
    Ok(app
        .router
        .begin_with_route(caller.tenant, caller.route, mode)
        .await?)
}

/// For a technician, the personnel record their work is assigned to (a
/// technician without one sees nothing); `None` for every other role.
pub(crate) async fn assigned_scope(
    caller: &Caller,
    tx: &mut TenantTx,
) -> Result<Option<Uuid>, ApiError> {
    if !caller.role.sees_only_assigned() {
        return Ok(None);
    }
    Ok(Some(
        personnel_repo::id_for_user(tx, caller.user_id)
            .await?
            .unwrap_or(Uuid::nil()),
    ))
}

/// The id a list's cursor holds.
pub(crate) fn id_cursor(cursor: Option<&str>) -> Result<Option<Uuid>, ApiError> {
    match cursor.map(CursorKey::decode) {
        None => Ok(None),
        Some(Ok(CursorKey::Id { id })) => Ok(Some(id)),
        Some(_) => Err(invalid_cursor()),
    }
}

pub(crate) fn invalid_cursor() -> ApiError {
    ApiError::bad_request("invalid_cursor", "the cursor is not one this list gave out")
}

pub(crate) fn limit(l: Option<i64>) -> Result<i64, ApiError> {
    match l {
        Some(n) if !(1..=fsa_store::page::MAX_LIMIT).contains(&n) => Err(ApiError::validation(
            "limit",
            format!("limit must be 1 to {}", fsa_store::page::MAX_LIMIT),
        )),
        other => Ok(clamp_limit(other)),
    }
}
