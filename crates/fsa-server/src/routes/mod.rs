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

use fsa_store::page::{CursorKey, clamp_limit};
use uuid::Uuid;

use crate::error::ApiError;

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
