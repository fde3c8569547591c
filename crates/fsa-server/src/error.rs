//! `ApiError`: every failure a client sees, as RFC 9457 problem+json with a
//! stable `code`. Internal errors are logged with their cause and answered
//! with a generic 500 that carries no SQL or internals.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use fsa_app::AppError;
use fsa_app::files::FileError;
use fsa_core::{TransitionError, WorkOrderStatus};
use fsa_store::StoreError;
use fsa_store::repo::work_orders::WorkOrderError;
use serde::Serialize;

pub const PROBLEM_JSON: &str = "application/problem+json";

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{detail}")]
    BadRequest { code: &'static str, detail: String },
    #[error("{detail}")]
    Validation {
        detail: String,
        field: Option<String>,
    },
    #[error("{detail}")]
    Unauthorized { code: &'static str, detail: String },
    #[error("{detail}")]
    Forbidden { code: &'static str, detail: String },
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{detail}")]
    Conflict { code: &'static str, detail: String },
    /// A move refused before it began: 409 `preflight_failed`, the case's
    /// code as `reason`.
    #[error("{0}")]
    Refused(fsa_move::Refusal),
    #[error(transparent)]
    Transition(TransitionError),
    #[error("the request body is larger than the limit")]
    PayloadTooLarge,
    #[error("the file is larger than {limit} bytes")]
    FileTooLarge { limit: u64 },
    #[error("{detail}")]
    Status {
        status: StatusCode,
        code: &'static str,
        detail: String,
    },
    #[error("{detail}")]
    Unavailable {
        code: &'static str,
        detail: String,
        retry_after: u64,
    },
    #[error("the {plan} plan allows {limit} {resource}; the tenant has {used}")]
    PlanLimit {
        resource: fsa_core::Resource,
        limit: u64,
        used: u64,
        plan: fsa_core::Plan,
    },
    #[error("{detail}")]
    RateLimited { detail: String, retry_after: u64 },
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

#[derive(Serialize)]
struct Problem<'a> {
    #[serde(rename = "type")]
    kind: String,
    title: &'a str,
    status: u16,
    detail: String,
    code: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    from: Option<WorkOrderStatus>,
    #[serde(skip_serializing_if = "Option::is_none")]
    to: Option<WorkOrderStatus>,
    #[serde(skip_serializing_if = "Option::is_none")]
    allowed: Option<&'a [WorkOrderStatus]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    resource: Option<fsa_core::Resource>,
    #[serde(skip_serializing_if = "Option::is_none")]
    limit: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    used: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    plan: Option<fsa_core::Plan>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'static str>,
}

impl ApiError {
    pub fn bad_request(code: &'static str, detail: impl Into<String>) -> Self {
        ApiError::BadRequest {
            code,
            detail: detail.into(),
        }
    }

    pub fn validation(field: impl Into<String>, detail: impl Into<String>) -> Self {
        ApiError::Validation {
            detail: detail.into(),
            field: Some(field.into()),
        }
    }

    pub fn forbidden(detail: impl Into<String>) -> Self {
        ApiError::Forbidden {
            code: "forbidden",
            detail: detail.into(),
        }
    }

    /// The tenant is suspended by an operator.
    pub fn tenant_suspended() -> Self {
        ApiError::Forbidden {
            code: "tenant_suspended",
            detail: "the tenant is suspended".into(),
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::Validation { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden { .. } => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict { .. } | ApiError::Refused(_) | ApiError::Transition(_) => {
                StatusCode::CONFLICT
            }
            ApiError::PayloadTooLarge | ApiError::FileTooLarge { .. } => {
                StatusCode::PAYLOAD_TOO_LARGE
            }
            ApiError::Status { status, .. } => *status,
            ApiError::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::PlanLimit { .. } => StatusCode::FORBIDDEN,
            ApiError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest { code, .. }
            | ApiError::Unauthorized { code, .. }
            | ApiError::Forbidden { code, .. }
            | ApiError::Conflict { code, .. }
            | ApiError::Status { code, .. }
            | ApiError::Unavailable { code, .. } => code,
            ApiError::Validation { .. } => "validation_failed",
            ApiError::Refused(_) => "preflight_failed",
            ApiError::NotFound(_) => "not_found",
            ApiError::Transition(_) => "invalid_transition",
            ApiError::PayloadTooLarge => "payload_too_large",
            ApiError::FileTooLarge { .. } => "file_too_large",
            ApiError::PlanLimit { .. } => "plan_limit_reached",
            ApiError::RateLimited { .. } => "rate_limited",
            ApiError::Internal(_) => "internal",
        }
    }
}

/// A problem response for a status and code, for errors made outside handlers.
pub fn problem(status: StatusCode, code: &str, detail: &str) -> Response {
    let title = status.canonical_reason().unwrap_or("Error");
    let body = Problem {
        kind: format!("https://fsa.dev/problems/{code}"),
        title,
        status: status.as_u16(),
        detail: detail.to_owned(),
        code,
        field: None,
        from: None,
        to: None,
        allowed: None,
        resource: None,
        limit: None,
        used: None,
        plan: None,
        reason: None,
    };
    with_problem_type(status, serde_json::to_vec(&body).unwrap_or_default())
}

fn with_problem_type(status: StatusCode, body: Vec<u8>) -> Response {
    let mut res = (status, body).into_response();
    res.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
    res
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let code = self.code();
        if let ApiError::Internal(e) = &self {
            tracing::error!(error = ?e, "request failed");
        }
        let detail = self.to_string();
        let (field, from, to, allowed) = match &self {
            ApiError::Validation { field, .. } => (field.as_deref(), None, None, None),
            ApiError::Transition(t) => (
                Some("status"),
                Some(t.from),
                Some(t.to),
                Some(t.allowed.as_slice()),
            ),
            _ => (None, None, None, None),
        };
        let (resource, limit, used, plan) = match &self {
            ApiError::PlanLimit {
                resource,
                limit,
                used,
                plan,
            } => {
                metrics::counter!(crate::metric_names::LIMIT_REFUSALS, "plan" => plan.as_str(), "reason" => "plan_limit")
                    .increment(1);
                (Some(*resource), Some(*limit), Some(*used), Some(*plan))
            }
            ApiError::FileTooLarge { limit } => (None, Some(*limit), None, None),
            _ => (None, None, None, None),
        };
        let body = Problem {
            kind: format!("https://fsa.dev/problems/{code}"),
            title: status.canonical_reason().unwrap_or("Error"),
            status: status.as_u16(),
            detail,
            code,
            field,
            from,
            to,
            allowed,
            resource,
            limit,
            used,
            plan,
            reason: match &self {
                ApiError::Refused(r) => Some(r.code()),
                _ => None,
            },
        };
        let mut res = with_problem_type(status, serde_json::to_vec(&body).unwrap_or_default());
        match self {
            ApiError::Unavailable {
                code, retry_after, ..
            } => {
                res.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
                if code == TENANT_MOVED {
                    res.extensions_mut().insert(RetryableRead);
                }
            }
            ApiError::RateLimited { retry_after, .. } => {
                res.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
            }
            ApiError::Unauthorized { .. } => {
                res.headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            // The rest of the body is not read: the connection cannot carry
            // another request, and a client must not try to reuse it.
            ApiError::PayloadTooLarge | ApiError::FileTooLarge { .. } => {
                res.headers_mut()
                    .insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            _ => {}
        }
        res
    }
}

/// The code of a request that found its tenant moved away mid-way.
const TENANT_MOVED: &str = "tenant_moved";

/// Marks a response whose request changed nothing and found its tenant
/// moved away: a read can be run again, and is then routed anew
/// ([`crate::retry_moved_reads`]).
#[derive(Debug, Clone, Copy)]
pub struct RetryableRead;

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound { entity } => ApiError::NotFound(entity),
            StoreError::Conflict { entity, detail } => ApiError::Conflict {
                code: "conflict",
                detail: format!("{entity}: {detail}"),
            },
            e @ StoreError::InvalidReference { field, .. } => {
                ApiError::validation(field, e.to_string())
            }
            e @ StoreError::InUse { .. } => ApiError::Conflict {
                code: "in_use",
                detail: e.to_string(),
            },
            e @ StoreError::LastAdmin => ApiError::Conflict {
                code: "last_admin",
                detail: e.to_string(),
            },
            StoreError::UnknownTenant(_) => ApiError::Unauthorized {
                code: "token_invalid",
                detail: "the token names a tenant that does not exist".into(),
            },
            StoreError::Busy => ApiError::Unavailable {
                code: "database_busy",
                detail: "the database is busy; retry shortly".into(),
                retry_after: 1,
            },
            StoreError::StaleRoute => ApiError::Unavailable {
                code: TENANT_MOVED,
                detail: "the tenant moved to another database while the request ran; retry it"
                    .into(),
                retry_after: 1,
            },
            StoreError::StatementTimeout => ApiError::Unavailable {
                code: "statement_timeout",
                detail: "the query took too long and was cancelled".into(),
                retry_after: 1,
            },
            e @ (StoreError::PlacementUnavailable { .. }
            | StoreError::Moved(_)
            | StoreError::TenantNotInPlacement(_)) => {
                tracing::warn!(error = %e, "placement unavailable");
                ApiError::Unavailable {
                    code: "placement_unavailable",
                    detail: "the tenant's database is unavailable; retry shortly".into(),
                    retry_after: 2,
                }
            }
            e @ StoreError::DatabaseTaken { .. } => {
                tracing::error!(error = %e, "placement database name taken");
                ApiError::Conflict {
                    code: "database_taken",
                    detail: "the database the placement needs already exists and is not fsa's; an operator must resolve it".into(),
                }
            }
            other => ApiError::Internal(other.into()),
        }
    }
}

/// The services' refusals keep their status codes and problem codes; their
/// failures are 500s logged with their cause, as the store's are.
impl From<AppError> for ApiError {
    fn from(e: AppError) -> Self {
        match e {
            AppError::Validation { field, message } => ApiError::Validation {
                detail: message,
                field: Some(field),
            },
            AppError::Conflict { code, detail } => ApiError::Conflict { code, detail },
            AppError::Refused(r) => ApiError::Refused(r),
            AppError::NotFound(entity) => ApiError::NotFound(entity),
            AppError::Forbidden(detail) => ApiError::forbidden(detail),
            AppError::WorkOrder(w) => w.into(),
            AppError::PlanLimit {
                resource,
                limit,
                used,
                plan,
            } => ApiError::PlanLimit {
                resource,
                limit,
                used,
                plan,
            },
            AppError::Store(s) => s.into(),
            AppError::File(f) => f.into(),
            AppError::Move(m) => fsa_app::moves::move_error(m).into(),
            e @ (AppError::MissingPlacement { .. }
            | AppError::PasswordHash(_)
            | AppError::Blocking(_)) => ApiError::Internal(e.into()),
        }
    }
}

impl From<FileError> for ApiError {
    fn from(e: FileError) -> Self {
        match e {
            FileError::TooLarge { limit } => ApiError::FileTooLarge { limit },
            FileError::Missing => ApiError::NotFound("file content"),
            FileError::Body(detail) => ApiError::bad_request("invalid_multipart", detail),
            e @ FileError::Store { .. } => {
                tracing::warn!(error = %e, "file store unavailable");
                ApiError::Unavailable {
                    code: "store_unavailable",
                    detail: "the file store is unavailable; retry shortly".into(),
                    retry_after: 5,
                }
            }
            e @ FileError::Config { .. } => ApiError::Internal(e.into()),
        }
    }
}

impl From<WorkOrderError> for ApiError {
    fn from(e: WorkOrderError) -> Self {
        match e {
            WorkOrderError::Store(s) => s.into(),
            WorkOrderError::Transition(t) => ApiError::Transition(t),
            WorkOrderError::CursorMismatch => ApiError::bad_request(
                "invalid_cursor",
                "the cursor was made for another sort order",
            ),
        }
    }
}
