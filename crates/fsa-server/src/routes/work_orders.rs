//! `/api/v1/work-orders`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use fsa_app::data::WorkOrderChange;
use fsa_store::page::{CursorKey, Page};
use fsa_store::repo::work_orders::{Sort, WorkOrder, WorkOrderFields, WorkOrderFilter};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::auth::Caller;
use crate::dto::{
    WorkOrderBody, WorkOrderQuery, WorkOrderSort, nullable_text, opt_text, required_text, ts,
};
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath, ApiQuery, PageJson};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(get, update, delete))
}

fn fields(b: WorkOrderBody, creating: bool) -> Result<WorkOrderFields, ApiError> {
    if let Some(a) = &b.attributes {
        if !a.is_object() {
            return Err(ApiError::validation(
                "attributes",
                "attributes must be a JSON object",
            ));
        }
        if a.to_string().len() > 16 * 1024 {
            return Err(ApiError::validation(
                "attributes",
                "attributes must be at most 16 KiB of JSON",
            ));
        }
    }
    if creating && b.client_id.is_none() {
        return Err(ApiError::validation("client_id", "client_id is required"));
    }
    if let (Some(Some(s)), Some(Some(e))) = (b.scheduled_start, b.scheduled_end)
        && e < s
    {
        return Err(ApiError::validation(
            "scheduled_end",
            "scheduled_end is before scheduled_start",
        ));
    }
    Ok(WorkOrderFields {
        client_id: b.client_id,
        title: if creating {
            Some(required_text("title", b.title, 300)?)
        } else {
            opt_text("title", b.title, 300)?
        },
        description: nullable_text("description", b.description, 10_000)?,
        priority: b.priority,
        due_date: b.due_date,
        scheduled_start: ts(b.scheduled_start),
        scheduled_end: ts(b.scheduled_end),
        assigned_to: b.assigned_to,
        attributes: b.attributes,
    })
}

/// Lists work orders: filter by `status`, `client_id`, `assigned_to`, due
/// range and title text; newest first or by due date; keyset pages.
#[utoipa::path(get, path = "/api/v1/work-orders", tag = "work orders", params(WorkOrderQuery), security(("bearer" = [])),
    responses((status = 200, body = inline(Page<WorkOrder>)), (status = 400, description = "bad cursor or filter")))]
async fn list(
    State(app): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<WorkOrderQuery>,
) -> Result<PageJson<Page<WorkOrder>>, ApiError> {
    let sort = match q.sort {
        None | Some(WorkOrderSort::CreatedAt | WorkOrderSort::NewestFirst) => Sort::CreatedAt,
        Some(WorkOrderSort::DueDate) => Sort::DueDate,
    };
    let cursor = q
        .cursor
        .as_deref()
        .map(CursorKey::decode)
        .transpose()
        .map_err(|_| super::invalid_cursor())?;
    if let (Some(a), Some(b)) = (q.due_from, q.due_to)
        && a > b
    {
        return Err(ApiError::validation("due_from", "due_from is after due_to"));
    }
    let filter = WorkOrderFilter {
        status: q.status,
        client_id: q.client_id,
        assigned_to: q.assigned_to,
        due_from: q.due_from,
        due_to: q.due_to,
        q: q.q
            .filter(|s| !s.trim().is_empty())
            .map(|s| s.chars().take(200).collect()),
        sort,
        cursor,
        limit: super::limit(q.limit)?,
    };
    Ok(PageJson(app.app.data(&caller).work_orders(filter).await?))
}

/// Creates a work order in status `open` with the tenant's next number.
#[utoipa::path(post, path = "/api/v1/work-orders", tag = "work orders", request_body = WorkOrderBody, security(("bearer" = [])),
    responses((status = 201, body = WorkOrder), (status = 422, description = "invalid, or a client of another tenant")))]
async fn create(
    State(app): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<WorkOrderBody>,
) -> Result<(StatusCode, Json<WorkOrder>), ApiError> {
    if body.status.is_some() {
        return Err(ApiError::validation(
            "status",
            "a new work order is always open; change its status with PATCH",
        ));
    }
    let f = fields(body, true)?;
    let w = app.app.data(&caller).create_work_order(f).await?;
    Ok((StatusCode::CREATED, Json(w)))
}

#[utoipa::path(get, path = "/api/v1/work-orders/{id}", tag = "work orders", params(("id" = Uuid, Path)), security(("bearer" = [])),
    responses((status = 200, body = WorkOrder), (status = 404)))]
async fn get(
    State(app): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<WorkOrder>, ApiError> {
    Ok(Json(app.app.data(&caller).work_order(id).await?))
}

/// Changes fields and/or `status` (409 `invalid_transition` with the allowed
/// next statuses when the lifecycle forbids it). A technician may change only
/// the status and attributes of orders assigned to them.
#[utoipa::path(patch, path = "/api/v1/work-orders/{id}", tag = "work orders", params(("id" = Uuid, Path)), request_body = WorkOrderBody,
    security(("bearer" = [])), responses((status = 200, body = WorkOrder), (status = 404), (status = 409, description = "`invalid_transition`: the lifecycle does not allow the status change; `allowed` lists those it does")))]
async fn update(
    State(app): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<WorkOrderBody>,
) -> Result<Json<WorkOrder>, ApiError> {
    let status = body.status;
    let change = WorkOrderChange {
        fields: fields(body, false)?,
        status,
    };
    Ok(Json(
        app.app.data(&caller).update_work_order(id, change).await?,
    ))
}

/// Deletes a work order with its tasks and files.
#[utoipa::path(delete, path = "/api/v1/work-orders/{id}", tag = "work orders", params(("id" = Uuid, Path)), security(("bearer" = [])),
    responses((status = 204), (status = 404)))]
async fn delete(
    State(app): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<StatusCode, ApiError> {
    app.app.data(&caller).delete_work_order(id).await?;
    Ok(StatusCode::NO_CONTENT)
}
