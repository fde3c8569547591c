//! Request bodies and query strings of the API. Bodies refuse unknown fields;
//! a nullable field in a PATCH is kept when absent, cleared by `null`.

use chrono::NaiveDate;
use fsa_core::{Plan, Priority, Region, Role, TaskStatus, WorkOrderStatus};
use fsa_store::Ts;
use serde::{Deserialize, Deserializer};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::error::ApiError;

/// Deserializes a present field (even `null`) as `Some(value)`.
fn nullable<'de, T: Deserialize<'de>, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// The tenant's slug.
    pub tenant: String,
    pub email: String,
    pub password: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTenant {
    pub slug: String,
    pub name: String,
    pub plan: Plan,
    #[schema(value_type = Option<String>)]
    pub region: Option<Region>,
    pub admin_email: String,
    pub admin_password: String,
    #[serde(default)]
    pub isolation_requested: bool,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchTenant {
    pub plan: Option<Plan>,
    #[schema(value_type = Option<String>)]
    pub region: Option<Region>,
    /// `suspended` refuses the tenant's requests and logins (403
    /// `tenant_suspended`); `active` lifts the suspension.
    pub state: Option<TenantState>,
}

/// The states an operator may put a tenant in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum TenantState {
    Active,
    Suspended,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MoveBody {
    /// `shared`, `pooled`, `dedicated` or a placement id.
    pub to: String,
    #[schema(value_type = Option<String>)]
    pub region: Option<Region>,
    /// `now` or a duration (`30s`, `15m`, `2h`, `7d`); default 1h.
    pub cleanup: Option<String>,
    pub reason: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClientBody {
    pub name: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub contact_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub email: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub phone: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub address: Option<Option<String>>,
    pub is_active: Option<bool>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PersonnelBody {
    pub name: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub email: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub phone: Option<Option<String>>,
    pub skills: Option<Vec<String>>,
    pub is_active: Option<bool>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<Uuid>)]
    pub user_id: Option<Option<Uuid>>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WorkOrderBody {
    pub client_id: Option<Uuid>,
    pub title: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub description: Option<Option<String>>,
    /// Only in a PATCH: moves the order through its lifecycle.
    pub status: Option<WorkOrderStatus>,
    pub priority: Option<Priority>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<NaiveDate>)]
    pub due_date: Option<Option<NaiveDate>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub scheduled_start: Option<Option<chrono::DateTime<chrono::Utc>>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub scheduled_end: Option<Option<chrono::DateTime<chrono::Utc>>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<Uuid>)]
    pub assigned_to: Option<Option<Uuid>>,
    /// Tenant-defined fields: a JSON object.
    #[schema(value_type = Option<Object>)]
    pub attributes: Option<serde_json::Value>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TaskBody {
    pub title: Option<String>,
    pub status: Option<TaskStatus>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<Uuid>)]
    pub assignee_id: Option<Option<Uuid>>,
    pub position: Option<i32>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    pub email: String,
    pub name: String,
    pub role: Role,
    pub password: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchUser {
    pub name: Option<String>,
    pub role: Option<Role>,
    pub is_active: Option<bool>,
    pub password: Option<String>,
}

/// Paging of every list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    /// Rows per page, 1 to 200 (default 50).
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct WorkOrderQuery {
    pub limit: Option<i64>,
    pub cursor: Option<String>,
    pub status: Option<WorkOrderStatus>,
    pub client_id: Option<Uuid>,
    pub assigned_to: Option<Uuid>,
    /// Due on or after this date.
    pub due_from: Option<NaiveDate>,
    /// Due on or before this date.
    pub due_to: Option<NaiveDate>,
    /// Text the title contains.
    pub q: Option<String>,
    /// `created_at` (newest first, default) or `due_date` (soonest first).
    pub sort: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ClientQuery {
    pub limit: Option<i64>,
    pub cursor: Option<String>,
    pub is_active: Option<bool>,
    /// Words of the name (prefix match).
    pub q: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct PersonnelQuery {
    pub limit: Option<i64>,
    pub cursor: Option<String>,
    pub is_active: Option<bool>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct UserQuery {
    pub limit: Option<i64>,
    pub cursor: Option<String>,
    pub role: Option<Role>,
}

/// A required, trimmed, non-empty text of at most `max` characters.
pub fn required_text(field: &str, v: Option<String>, max: usize) -> Result<String, ApiError> {
    match v {
        Some(s) => text(field, s, max),
        None => Err(ApiError::validation(field, format!("{field} is required"))),
    }
}

pub fn text(field: &str, s: String, max: usize) -> Result<String, ApiError> {
    let t = s.trim();
    if t.is_empty() {
        return Err(ApiError::validation(
            field,
            format!("{field} must not be empty"),
        ));
    }
    if t.chars().count() > max {
        return Err(ApiError::validation(
            field,
            format!("{field} must be at most {max} characters"),
        ));
    }
    Ok(t.to_owned())
}

pub fn opt_text(field: &str, v: Option<String>, max: usize) -> Result<Option<String>, ApiError> {
    v.map(|s| text(field, s, max)).transpose()
}

pub fn nullable_text(
    field: &str,
    v: Option<Option<String>>,
    max: usize,
) -> Result<Option<Option<String>>, ApiError> {
    match v {
        Some(Some(s)) if s.trim().is_empty() => Ok(Some(None)),
        Some(Some(s)) => Ok(Some(Some(text(field, s, max)?))),
        other => Ok(other),
    }
}

pub fn email(v: &str) -> Result<String, ApiError> {
    let e = v.trim().to_lowercase();
    let ok = e.len() <= 254
        && e.split_once('@').is_some_and(|(l, d)| {
            !l.is_empty() && d.contains('.') && !d.starts_with('.') && !d.ends_with('.')
        })
        && !e.contains(char::is_whitespace);
    if ok {
        Ok(e)
    } else {
        Err(ApiError::validation(
            "email",
            "email is not a valid address",
        ))
    }
}

pub fn password(v: &str) -> Result<(), ApiError> {
    let n = v.chars().count();
    if (8..=256).contains(&n) {
        Ok(())
    } else {
        Err(ApiError::validation(
            "password",
            "password must be 8 to 256 characters",
        ))
    }
}

pub fn ts(v: Option<Option<chrono::DateTime<chrono::Utc>>>) -> Option<Option<Ts>> {
    v.map(|o| o.map(Ts::from_datetime))
}
