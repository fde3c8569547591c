//! `/admin`: the operator's API, behind the admin token.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Operator;
use crate::dto::{AnalyticsQuery, CreateTenant, MoveBody, PatchTenant};
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::state::AppState;
use fsa_app::advice::{Advice, Applied};
use fsa_app::analytics::{Analytics, GroupBy};
use fsa_app::health::{Health, TenantStatsView};
use fsa_app::jobs::JobList;
use fsa_app::{MoveStarted, MoveView, PlacementView, PlanChange, TenantView};
use uuid::Uuid;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_tenants, create_tenant))
        .routes(routes!(get_tenant, patch_tenant))
        .routes(routes!(list_placements))
        .routes(routes!(move_tenant))
        .routes(routes!(list_moves))
        .routes(routes!(get_move))
        .routes(routes!(cancel_move))
        .routes(routes!(health))
        .routes(routes!(list_jobs))
        .routes(routes!(tenant_stats))
        .routes(routes!(work_order_analytics))
        .routes(routes!(advice))
        .routes(routes!(apply_advice))
}

/// Onboards a tenant: places it by its plan and region and creates its first admin user.
#[utoipa::path(post, path = "/admin/tenants", tag = "admin", request_body = CreateTenant, security(("admin" = [])),
    responses((status = 201, body = TenantView), (status = 409, description = "slug taken"), (status = 422)))]
async fn create_tenant(
    State(app): State<AppState>,
    _: Operator,
    ApiJson(req): ApiJson<CreateTenant>,
) -> Result<(StatusCode, Json<TenantView>), ApiError> {
    let view = app.app.create_tenant(req.into()).await?;
    Ok((StatusCode::CREATED, Json(view)))
}

#[utoipa::path(get, path = "/admin/tenants", tag = "admin", security(("admin" = [])), responses((status = 200, body = Vec<TenantView>)))]
async fn list_tenants(
    State(app): State<AppState>,
    _: Operator,
) -> Result<Json<Vec<TenantView>>, ApiError> {
    Ok(Json(app.app.tenants().await?))
}

#[utoipa::path(get, path = "/admin/tenants/{slug}", tag = "admin", params(("slug" = String, Path, pattern = "^[a-z]([a-z0-9-]{0,61}[a-z0-9])$")), security(("admin" = [])),
    responses((status = 200, body = TenantView), (status = 404)))]
async fn get_tenant(
    State(app): State<AppState>,
    _: Operator,
    ApiPath(slug): ApiPath<String>,
) -> Result<Json<TenantView>, ApiError> {
    Ok(Json(app.app.tenant(&slug).await?))
}

/// Changes a tenant's plan or region, or suspends it (`state`: `suspended`
/// or `active`); the answer lists the limits the tenant is now over.
#[utoipa::path(patch, path = "/admin/tenants/{slug}", tag = "admin", params(("slug" = String, Path, pattern = "^[a-z]([a-z0-9-]{0,61}[a-z0-9])$")), request_body = PatchTenant,
    security(("admin" = [])), responses((status = 200, body = PlanChange), (status = 404), (status = 409, description = "needs a move")))]
async fn patch_tenant(
    State(app): State<AppState>,
    _: Operator,
    ApiPath(slug): ApiPath<String>,
    ApiJson(req): ApiJson<PatchTenant>,
) -> Result<Json<PlanChange>, ApiError> {
    Ok(Json(app.app.change_tenant(&slug, req.into()).await?))
}

/// Every placement with its kind, region, server and tenant count.
#[utoipa::path(get, path = "/admin/placements", tag = "admin", security(("admin" = [])), responses((status = 200, body = Vec<PlacementView>)))]
async fn list_placements(
    State(app): State<AppState>,
    _: Operator,
) -> Result<Json<Vec<PlacementView>>, ApiError> {
    Ok(Json(app.app.placements().await?))
}

/// Moves a tenant online to another placement: 202 with the move's id.
#[utoipa::path(post, path = "/admin/tenants/{slug}/move", tag = "admin", params(("slug" = String, Path, pattern = "^[a-z]([a-z0-9-]{0,61}[a-z0-9])$")), request_body = MoveBody,
    security(("admin" = [])), responses((status = 202, body = MoveStarted), (status = 404), (status = 409, description = "a move is in progress or pre-flight failed")))]
async fn move_tenant(
    State(app): State<AppState>,
    _: Operator,
    ApiPath(slug): ApiPath<String>,
    ApiJson(body): ApiJson<MoveBody>,
) -> Result<(StatusCode, Json<MoveStarted>), ApiError> {
    let started = app.app.move_tenant(&slug, body.order("admin-api")).await?;
    Ok((StatusCode::ACCEPTED, Json(started)))
}

#[utoipa::path(get, path = "/admin/moves", tag = "admin", security(("admin" = [])), responses((status = 200, body = Vec<MoveView>)))]
async fn list_moves(
    State(app): State<AppState>,
    _: Operator,
) -> Result<Json<Vec<MoveView>>, ApiError> {
    Ok(Json(app.app.moves(200).await?))
}

#[utoipa::path(get, path = "/admin/moves/{id}", tag = "admin", params(("id" = Uuid, Path)), security(("admin" = [])),
    responses((status = 200, body = MoveView), (status = 404)))]
async fn get_move(
    State(app): State<AppState>,
    _: Operator,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<MoveView>, ApiError> {
    Ok(Json(app.app.move_view(id).await?))
}

/// Cancels a move before its switch: it rolls back, leaving the source as it was.
#[utoipa::path(post, path = "/admin/moves/{id}/cancel", tag = "admin", params(("id" = Uuid, Path)), security(("admin" = [])),
    responses((status = 202, body = MoveStarted), (status = 404), (status = 409, description = "already switched or finished")))]
async fn cancel_move(
    State(app): State<AppState>,
    _: Operator,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<(StatusCode, Json<MoveStarted>), ApiError> {
    let started = app.app.cancel_move(id).await?;
    Ok((StatusCode::ACCEPTED, Json(started)))
}

/// The fleet's health: tenants by plan and, per placement, reachability,
/// size, tenants, connections and the query times this process measured.
/// Each server is asked once, in parallel and within a few seconds.
#[utoipa::path(get, path = "/admin/health", tag = "admin", security(("admin" = [])), responses((status = 200, body = Health)))]
async fn health(State(app): State<AppState>, _: Operator) -> Result<Json<Health>, ApiError> {
    Ok(Json(app.app.health().await?))
}

/// Every background job of the fleet (file collection, moves, their
/// cleanups, the resume of stopped moves): its state, last and next run,
/// failures since its last success, and the process running it.
#[utoipa::path(get, path = "/admin/jobs", tag = "admin", security(("admin" = [])), responses((status = 200, body = JobList)))]
async fn list_jobs(State(app): State<AppState>, _: Operator) -> Result<Json<JobList>, ApiError> {
    Ok(Json(app.app.jobs().await?))
}

/// One tenant's requests, latency and database time, as this process measured them.
#[utoipa::path(get, path = "/admin/tenants/{slug}/stats", tag = "admin", params(("slug" = String, Path, pattern = "^[a-z]([a-z0-9-]{0,61}[a-z0-9])$")), security(("admin" = [])),
    responses((status = 200, body = TenantStatsView), (status = 404)))]
async fn tenant_stats(
    State(app): State<AppState>,
    _: Operator,
    ApiPath(slug): ApiPath<String>,
) -> Result<Json<TenantStatsView>, ApiError> {
    Ok(Json(app.app.tenant_stats(&slug).await?))
}

/// Work orders across every placement, grouped by status, plan or region
/// (another `group_by` is 400 `invalid_query`).
/// Placements are asked in parallel within the connection budget, each
/// within a timeout; one that cannot answer is named in `placements.failed`.
#[utoipa::path(get, path = "/admin/analytics/work-orders", tag = "admin", params(AnalyticsQuery), security(("admin" = [])),
    responses((status = 200, body = Analytics)))]
async fn work_order_analytics(
    State(app): State<AppState>,
    _: Operator,
    ApiQuery(q): ApiQuery<AnalyticsQuery>,
) -> Result<Json<Analytics>, ApiError> {
    let group_by = q.group_by.map_or(GroupBy::Status, Into::into);
    Ok(Json(app.app.work_order_analytics(group_by).await?))
}

/// The advisor's rules over the fleet's figures: each advice with its
/// evidence and a proposed move or note, and the seed's cost table applied
/// to the fleet as it is and as advised.
#[utoipa::path(get, path = "/admin/advice", tag = "admin", security(("admin" = [])), responses((status = 200, body = Advice)))]
async fn advice(State(app): State<AppState>, _: Operator) -> Result<Json<Advice>, ApiError> {
    Ok(Json(app.app.advice(&app.config.advice).await?))
}

/// Schedules the advised moves (at most `[advice] max_moves_per_run`).
#[utoipa::path(post, path = "/admin/advice/apply", tag = "admin", security(("admin" = [])), responses((status = 202, body = Applied)))]
async fn apply_advice(
    State(app): State<AppState>,
    _: Operator,
) -> Result<(StatusCode, Json<Applied>), ApiError> {
    let applied = app.app.apply_advice(&app.config.advice).await?;
    Ok((StatusCode::ACCEPTED, Json(applied)))
}
