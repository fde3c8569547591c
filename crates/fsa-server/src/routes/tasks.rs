//! `/api/v1/work-orders/{id}/tasks`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use fsa_store::page::Page;
use fsa_store::repo::tasks::{Task, TaskFields};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::auth::Caller;
use crate::dto::{TaskBody, opt_text, required_text};
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(get, update, delete))
}

#[utoipa::path(get, path = "/api/v1/work-orders/{id}/tasks", tag = "tasks", params(("id" = Uuid, Path)), security(("bearer" = [])),
    responses((status = 200, body = inline(Page<Task>)), (status = 404)))]
async fn list(
    State(app): State<AppState>,
    caller: Caller,
    ApiPath(wo): ApiPath<Uuid>,
) -> Result<Json<Page<Task>>, ApiError> {
    let items = app.app.data(&caller).tasks(wo).await?;
    Ok(Json(Page {
        items,
        next_cursor: None,
    }))
}

#[utoipa::path(post, path = "/api/v1/work-orders/{id}/tasks", tag = "tasks", params(("id" = Uuid, Path)), request_body = TaskBody,
    security(("bearer" = [])), responses((status = 201, body = Task), (status = 404)))]
async fn create(
    State(app): State<AppState>,
    caller: Caller,
    ApiPath(wo): ApiPath<Uuid>,
    ApiJson(b): ApiJson<TaskBody>,
) -> Result<(StatusCode, Json<Task>), ApiError> {
    let f = TaskFields {
        title: Some(required_text("title", b.title, 300)?),
        status: b.status,
        assignee_id: b.assignee_id,
        position: b.position,
    };
    let t = app.app.data(&caller).create_task(wo, f).await?;
    Ok((StatusCode::CREATED, Json(t)))
}

#[utoipa::path(get, path = "/api/v1/work-orders/{id}/tasks/{task_id}", tag = "tasks", params(("id" = Uuid, Path), ("task_id" = Uuid, Path)),
    security(("bearer" = [])), responses((status = 200, body = Task), (status = 404)))]
async fn get(
    State(app): State<AppState>,
    caller: Caller,
    ApiPath((wo, id)): ApiPath<(Uuid, Uuid)>,
) -> Result<Json<Task>, ApiError> {
    Ok(Json(app.app.data(&caller).task(wo, id).await?))
}

/// Changes a task; a technician may change only the status of tasks of
/// work orders assigned to them.
#[utoipa::path(patch, path = "/api/v1/work-orders/{id}/tasks/{task_id}", tag = "tasks", params(("id" = Uuid, Path), ("task_id" = Uuid, Path)),
    request_body = TaskBody, security(("bearer" = [])), responses((status = 200, body = Task), (status = 404)))]
async fn update(
    State(app): State<AppState>,
    caller: Caller,
    ApiPath((wo, id)): ApiPath<(Uuid, Uuid)>,
    ApiJson(b): ApiJson<TaskBody>,
) -> Result<Json<Task>, ApiError> {
    let f = TaskFields {
        title: opt_text("title", b.title, 300)?,
        status: b.status,
        assignee_id: b.assignee_id,
        position: b.position,
    };
    Ok(Json(app.app.data(&caller).update_task(wo, id, f).await?))
}

#[utoipa::path(delete, path = "/api/v1/work-orders/{id}/tasks/{task_id}", tag = "tasks", params(("id" = Uuid, Path), ("task_id" = Uuid, Path)),
    security(("bearer" = [])), responses((status = 204), (status = 404)))]
async fn delete(
    State(app): State<AppState>,
    caller: Caller,
    ApiPath((wo, id)): ApiPath<(Uuid, Uuid)>,
) -> Result<StatusCode, ApiError> {
    app.app.data(&caller).delete_task(wo, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
