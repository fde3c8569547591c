//! Request bodies and query strings of the API. Bodies refuse unknown fields;
//! a nullable field in a PATCH is kept when absent, cleared by `null`.

use chrono::NaiveDate;
use fsa_app::TenantState;
use fsa_app::validate;
use fsa_core::{Plan, Priority, Region, Role, TaskStatus, WorkOrderStatus};
use fsa_store::Ts;
use serde::{Deserialize, Deserializer};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::error::ApiError;

// The schema's patterns: `\S` is a text that is not blank (the server trims
// text and refuses an empty one); a slug is as `fsa_core::ids::Slug` accepts.

/// Deserializes a present field (even `null`) as `Some(value)`.
fn nullable<'de, T: Deserialize<'de>, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// An integer as JSON Schema's `integer` has it: `3` or `3.0` (a number
/// without a fraction), in a body or a query string.
fn integral<'de, T: TryFrom<i64>, D: Deserializer<'de>>(d: D) -> Result<Option<T>, D::Error> {
    use serde::de::Error;
    let Some(v) = Option::<f64>::deserialize(d)? else {
        return Ok(None);
    };
    if v.fract() != 0.0 || !(-9.0e15..=9.0e15).contains(&v) {
        return Err(D::Error::custom(format!("{v} is not an integer in range")));
    }
    T::try_from(v as i64)
        .map(Some)
        .map_err(|_| D::Error::custom(format!("{v} is out of range")))
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
    #[schema(pattern = "^[a-z]([a-z0-9-]{0,61}[a-z0-9])$")]
    pub slug: String,
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    pub name: String,
    pub plan: Plan,
    #[schema(value_type = Option<String>)]
    pub region: Option<Region>,
    #[schema(format = Email, max_length = 254)]
    pub admin_email: String,
    #[schema(min_length = 8, max_length = 256)]
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
    /// The tenant asks for a database of its own: the advisor proposes
    /// the move to `dedicated` (and never proposes moving it back).
    pub isolation_requested: Option<bool>,
}

impl From<CreateTenant> for fsa_app::Onboarding {
    fn from(b: CreateTenant) -> Self {
        fsa_app::Onboarding {
            slug: b.slug,
            name: b.name,
            plan: b.plan,
            region: b.region,
            admin_email: b.admin_email,
            admin_password: b.admin_password,
            isolation_requested: b.isolation_requested,
        }
    }
}

impl From<PatchTenant> for fsa_app::TenantChange {
    fn from(b: PatchTenant) -> Self {
        fsa_app::TenantChange {
            plan: b.plan,
            region: b.region,
            state: b.state,
            isolation_requested: b.isolation_requested,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MoveBody {
    /// `shared`, `pooled`, `dedicated` or a placement id.
    #[schema(schema_with = move_target)]
    pub to: String,
    #[schema(value_type = Option<String>)]
    pub region: Option<Region>,
    /// `now` or a duration (`30s`, `15m`, `2h`, `7d`), at most 365 days;
    /// default 1h.
    #[schema(schema_with = cleanup_schema, nullable = false)]
    pub cleanup: Option<String>,
    pub reason: Option<String>,
}

impl MoveBody {
    /// The move as the services take it, asked for by `requested_by`.
    pub fn order(self, requested_by: &str) -> fsa_app::MoveOrder {
        fsa_app::MoveOrder {
            to: self.to,
            region: self.region,
            cleanup: self.cleanup,
            reason: self.reason,
            requested_by: requested_by.to_owned(),
        }
    }
}

/// `POST /admin/backups`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BackupBody {
    /// The tenant's slug.
    #[schema(pattern = "^[a-z]([a-z0-9-]{0,61}[a-z0-9])$")]
    pub tenant: String,
}

/// `POST /admin/backups/{id}/restore`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RestoreBody {
    /// The slug of a new tenant to restore the backup as; without it, the
    /// backup's own tenant is restored in place.
    #[serde(rename = "as")]
    #[schema(pattern = "^[a-z]([a-z0-9-]{0,61}[a-z0-9])$", nullable = false)]
    pub as_slug: Option<String>,
}

/// `GET /admin/backups`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct BackupsQuery {
    /// Only this tenant's backups.
    #[param(pattern = "^[a-z]([a-z0-9-]{0,61}[a-z0-9])$")]
    pub tenant: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClientBody {
    /// Required to create.
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, max_length = 200)]
    pub contact_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, max_length = 254)]
    pub email: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, max_length = 50)]
    pub phone: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, max_length = 500)]
    pub address: Option<Option<String>>,
    pub is_active: Option<bool>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PersonnelBody {
    /// Required to create.
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, max_length = 254)]
    pub email: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, max_length = 50)]
    pub phone: Option<Option<String>>,
    /// At most 50, each 1 to 100 characters.
    #[schema(schema_with = skills)]
    pub skills: Option<Vec<String>>,
    pub is_active: Option<bool>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<Uuid>)]
    pub user_id: Option<Option<Uuid>>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WorkOrderBody {
    /// Required to create.
    pub client_id: Option<Uuid>,
    /// Required to create.
    #[schema(min_length = 1, max_length = 300, pattern = r"\S")]
    pub title: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, max_length = 10000)]
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
    /// Tenant-defined fields: a JSON object of at most 16 KiB.
    #[schema(value_type = Option<Object>)]
    pub attributes: Option<serde_json::Value>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TaskBody {
    /// Required to create.
    #[schema(min_length = 1, max_length = 300, pattern = r"\S")]
    pub title: Option<String>,
    pub status: Option<TaskStatus>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<Uuid>)]
    pub assignee_id: Option<Option<Uuid>>,
    #[serde(default, deserialize_with = "integral")]
    #[schema(minimum = -2147483648, maximum = 2147483647)]
    pub position: Option<i32>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    #[schema(format = Email, max_length = 254)]
    pub email: String,
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    pub name: String,
    pub role: Role,
    #[schema(min_length = 8, max_length = 256)]
    pub password: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchUser {
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    pub name: Option<String>,
    pub role: Option<Role>,
    pub is_active: Option<bool>,
    #[schema(min_length = 8, max_length = 256)]
    pub password: Option<String>,
}

/// Paging of every list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    /// Rows per page, 1 to 200 (default 50).
    #[serde(default, deserialize_with = "integral")]
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    #[param(max_length = 512)]
    pub cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct WorkOrderQuery {
    /// Rows per page, 1 to 200 (default 50).
    #[serde(default, deserialize_with = "integral")]
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    #[param(max_length = 512)]
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
    #[param(inline)]
    pub sort: Option<WorkOrderSort>,
}

/// The order of a work order list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
pub enum WorkOrderSort {
    /// Newest first (the default).
    #[serde(rename = "created_at")]
    CreatedAt,
    /// The same as `created_at`.
    #[serde(rename = "-created_at")]
    NewestFirst,
    /// Soonest due first, undated last.
    #[serde(rename = "due_date")]
    DueDate,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ClientQuery {
    /// Rows per page, 1 to 200 (default 50).
    #[serde(default, deserialize_with = "integral")]
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    #[param(max_length = 512)]
    pub cursor: Option<String>,
    pub is_active: Option<bool>,
    /// Words of the name (prefix match).
    pub q: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PersonnelQuery {
    /// Rows per page, 1 to 200 (default 50).
    #[serde(default, deserialize_with = "integral")]
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    #[param(max_length = 512)]
    pub cursor: Option<String>,
    pub is_active: Option<bool>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct UserQuery {
    /// Rows per page, 1 to 200 (default 50).
    #[serde(default, deserialize_with = "integral")]
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    #[param(max_length = 512)]
    pub cursor: Option<String>,
    pub role: Option<Role>,
}

/// `MoveBody.to`: a placement kind or a placement id.
/// The schema's pattern of a move's `cleanup`: `now`, or a whole number of
/// `ms`, `s`, `m`, `h` or `d` up to 365 days (leading zeros allowed), so a
/// value the document allows is one the service takes
/// ([`fsa_app::moves::parse_cleanup`]); a test holds the two together.
const CLEANUP_PATTERN: &str = concat!(
    "^(now",
    "|0*([0-9]|[1-9][0-9]|[1-9][0-9]{2}|[1-9][0-9]{3}|[1-9][0-9]{4}|[1-9][0-9]{5}|[1-9][0-9]{6}|[1-9][0-9]{7}|[1-9][0-9]{8}|[1-9][0-9]{9}|[1-2][0-9]{10}|30[0-9]{9}|31[0-4][0-9]{8}|315[0-2][0-9]{7}|3153[0-5][0-9]{6}|31536000000)ms",
    "|0*([0-9]|[1-9][0-9]|[1-9][0-9]{2}|[1-9][0-9]{3}|[1-9][0-9]{4}|[1-9][0-9]{5}|[1-9][0-9]{6}|[1-2][0-9]{7}|30[0-9]{6}|31[0-4][0-9]{5}|315[0-2][0-9]{4}|3153[0-5][0-9]{3}|31536000)s",
    "|0*([0-9]|[1-9][0-9]|[1-9][0-9]{2}|[1-9][0-9]{3}|[1-9][0-9]{4}|[1-4][0-9]{5}|5[0-1][0-9]{4}|52[0-4][0-9]{3}|525[0-5][0-9]{2}|525600)m",
    "|0*([0-9]|[1-9][0-9]|[1-9][0-9]{2}|[1-7][0-9]{3}|8[0-6][0-9]{2}|87[0-5][0-9]|8760)h",
    "|0*([0-9]|[1-9][0-9]|[1-2][0-9]{2}|3[0-5][0-9]|36[0-5])d",
    ")$"
);

fn cleanup_schema() -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(CLEANUP_PATTERN))
        .description(Some(
            "`now` or a duration (`30s`, `15m`, `2h`, `7d`), at most 365 days; default 1h.",
        ))
        .into()
}

fn move_target() -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, OneOfBuilder, SchemaFormat, Type};
    OneOfBuilder::new()
        .item(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some(["shared", "pooled", "dedicated"])),
        )
        .item(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .format(Some(SchemaFormat::KnownFormat(KnownFormat::Uuid))),
        )
        .into()
}

/// `PersonnelBody.skills`.
fn skills() -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Type};
    ArrayBuilder::new()
        .schema_type(utoipa::openapi::schema::SchemaType::from_iter([
            Type::Array,
            Type::Null,
        ]))
        .max_items(Some(50))
        .items(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .min_length(Some(1))
                .max_length(Some(100))
                .pattern(Some(r"\S")),
        )
        .into()
}

/// A required, trimmed, non-empty text of at most `max` characters.
pub fn required_text(field: &str, v: Option<String>, max: usize) -> Result<String, ApiError> {
    match v {
        Some(s) => text(field, s, max),
        None => Err(ApiError::validation(field, format!("{field} is required"))),
    }
}

/// A trimmed, non-empty text of at most `max` characters as sent (the
/// schema's `maxLength` counts what is sent, spaces included).
pub fn text(field: &str, s: String, max: usize) -> Result<String, ApiError> {
    Ok(validate::text(field, s, max)?)
}

fn at_most(field: &str, s: &str, max: usize) -> Result<(), ApiError> {
    Ok(validate::at_most(field, s, max)?)
}

pub fn opt_text(field: &str, v: Option<String>, max: usize) -> Result<Option<String>, ApiError> {
    v.map(|s| text(field, s, max)).transpose()
}

pub fn nullable_text(
    field: &str,
    v: Option<Option<String>>,
    max: usize,
) -> Result<Option<Option<String>>, ApiError> {
    if let Some(Some(s)) = &v {
        at_most(field, s, max)?;
    }
    match v {
        Some(Some(s)) if s.trim().is_empty() => Ok(Some(None)),
        Some(Some(s)) => Ok(Some(Some(text(field, s, max)?))),
        other => Ok(other),
    }
}

/// An address as the schema's `format: email` has it, kept in lower case.
pub fn email(v: &str) -> Result<String, ApiError> {
    Ok(validate::email(v)?)
}

pub fn password(v: &str) -> Result<(), ApiError> {
    Ok(validate::password(v)?)
}

pub fn ts(v: Option<Option<chrono::DateTime<chrono::Utc>>>) -> Option<Option<Ts>> {
    v.map(|o| o.map(Ts::from_datetime))
}

/// `GET /admin/analytics/work-orders`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AnalyticsQuery {
    /// `status` (default), `plan` or `region`.
    #[param(inline)]
    pub group_by: Option<GroupBy>,
}

/// What analytics group work orders by.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum GroupBy {
    Status,
    Plan,
    Region,
}

impl From<GroupBy> for fsa_app::analytics::GroupBy {
    fn from(g: GroupBy) -> Self {
        match g {
            GroupBy::Status => fsa_app::analytics::GroupBy::Status,
            GroupBy::Plan => fsa_app::analytics::GroupBy::Plan,
            GroupBy::Region => fsa_app::analytics::GroupBy::Region,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cleanup_pattern_allows_exactly_what_the_service_takes() {
        let pattern = regex::Regex::new(CLEANUP_PATTERN).unwrap();
        let limits: [(&str, u64); 5] = [
            ("ms", 31_536_000_000),
            ("s", 31_536_000),
            ("m", 525_600),
            ("h", 8_760),
            ("d", 365),
        ];
        let mut values = vec!["now".to_owned(), "".into(), "1y".into(), "h".into()];
        for (unit, max) in limits {
            let mut ns: Vec<u64> = (0..1200).collect();
            ns.extend([max - 1, max, max + 1, max * 10, u64::MAX / 2]);
            let mut x = 7u64;
            while x < max * 3 {
                ns.push(x);
                x = x * 13 / 7 + 3;
            }
            for n in ns {
                values.push(format!("{n}{unit}"));
                values.push(format!("00{n}{unit}"));
            }
        }
        for v in values {
            assert_eq!(
                pattern.is_match(&v),
                fsa_app::moves::parse_cleanup(&v).is_ok(),
                "{v:?}"
            );
        }
    }
}
