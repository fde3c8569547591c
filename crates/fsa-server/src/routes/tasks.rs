//! `/api/v1/work-orders/{id}/tasks`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use fsa_core::Permission;
use fsa_store::page::Page;
use fsa_store::repo::tasks::{self, Task, TaskFields};
use fsa_store::repo::work_orders;
use fsa_store::{Mode, TenantTx};
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

/// A technician reaches the tasks of work orders assigned to them only.
async fn check_scope(
    caller: &Caller,
    tx: &mut TenantTx,
    work_order_id: Uuid,
) -> Result<(), ApiError> {
    if let Some(me) = super::assigned_scope(caller, tx).await?
        && !work_orders::is_assigned_to(tx, work_order_id, me).await?
    {
        return Err(ApiError::NotFound("work order"));
    }
    Ok(())
}

#[utoipa::path(get, path = "/api/v1/work-orders/{id}/tasks", tag = "tasks", params(("id" = Uuid, Path)), security(("bearer" = [])),
    responses((status = 200, body = inline(Page<Task>)), (status = 404)))]
async fn list(
    State(app): State<AppState>,
    caller: Caller,
    ApiPath(wo): ApiPath<Uuid>,
) -> Result<Json<Page<Task>>, ApiError> {
    let mut tx = super::begin(&app, &caller, Permission::ReadData, Mode::Read).await?;
    check_scope(&caller, &mut tx, wo).await?;
    let items = tasks::list(&mut tx, wo).await?;
    tx.commit().await?;
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
    let mut tx = super::begin(&app, &caller, Permission::ManageData, Mode::Write).await?;
    let t = tasks::create(&mut tx, wo, f).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(t)))
}

#[utoipa::path(get, path = "/api/v1/work-orders/{id}/tasks/{task_id}", tag = "tasks", params(("id" = Uuid, Path), ("task_id" = Uuid, Path)),
    security(("bearer" = [])), responses((status = 200, body = Task), (status = 404)))]
async fn get(
    State(app): State<AppState>,
    caller: Caller,
    ApiPath((wo, id)): ApiPath<(Uuid, Uuid)>,
) -> Result<Json<Task>, ApiError> {
    let mut tx = super::begin(&app, &caller, Permission::ReadData, Mode::Read).await?;
    check_scope(&caller, &mut tx, wo).await?;
    let t = tasks::get(&mut tx, wo, id).await?;
    tx.commit().await?;
    Ok(Json(t))
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
    let manages = caller.role.can(Permission::ManageData);
    if !manages && (b.title.is_some() || b.assignee_id.is_some() || b.position.is_some()) {
        caller.require(Permission::UpdateAssigned)?;
        return Err(ApiError::forbidden(
            "a technician may change only a task's status",
        ));
    }
    let f = TaskFields {
        title: opt_text("title", b.title, 300)?,
        status: b.status,
        assignee_id: b.assignee_id,
        position: b.position,
    };
    let mut tx = super::begin(&app, &caller, Permission::UpdateAssigned, Mode::Write).await?;
    if !manages {
        check_scope(&caller, &mut tx, wo).await?;
    }
    let t = tasks::update(&mut tx, wo, id, f).await?;
    tx.commit().await?;
    Ok(Json(t))
}

#[utoipa::path(delete, path = "/api/v1/work-orders/{id}/tasks/{task_id}", tag = "tasks", params(("id" = Uuid, Path), ("task_id" = Uuid, Path)),
    security(("bearer" = [])), responses((status = 204), (status = 404)))]
async fn delete(
    State(app): State<AppState>,
    caller: Caller,
    ApiPath((wo, id)): ApiPath<(Uuid, Uuid)>,
) -> Result<StatusCode, ApiError> {
    let mut tx = super::begin(&app, &caller, Permission::ManageData, Mode::Write).await?;
    tasks::delete(&mut tx, wo, id).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
