//! `/admin`: the operator's API, behind the admin token.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Operator;
use crate::dto::{CreateTenant, MoveBody, PatchTenant};
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath};
use crate::moves::{self, MoveStarted, MoveView};
use crate::onboarding::{self, PlacementView, PlanChange, TenantView};
use crate::state::AppState;
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
}

/// Onboards a tenant: places it by its plan and region and creates its first admin user.
#[utoipa::path(post, path = "/admin/tenants", tag = "admin", request_body = CreateTenant, security(("admin" = [])),
    responses((status = 201, body = TenantView), (status = 409, description = "slug taken"), (status = 422)))]
async fn create_tenant(
    State(app): State<AppState>,
    _: Operator,
    ApiJson(req): ApiJson<CreateTenant>,
) -> Result<(StatusCode, Json<TenantView>), ApiError> {
    let view = onboarding::create_tenant(&app.router, req).await?;
    Ok((StatusCode::CREATED, Json(view)))
}

#[utoipa::path(get, path = "/admin/tenants", tag = "admin", security(("admin" = [])), responses((status = 200, body = Vec<TenantView>)))]
async fn list_tenants(
    State(app): State<AppState>,
    _: Operator,
) -> Result<Json<Vec<TenantView>>, ApiError> {
    Ok(Json(onboarding::tenant_views(&app.router).await?))
}

#[utoipa::path(get, path = "/admin/tenants/{slug}", tag = "admin", params(("slug" = String, Path, pattern = "^[a-z]([a-z0-9-]{0,61}[a-z0-9])$")), security(("admin" = [])),
    responses((status = 200, body = TenantView), (status = 404)))]
async fn get_tenant(
    State(app): State<AppState>,
    _: Operator,
    ApiPath(slug): ApiPath<String>,
) -> Result<Json<TenantView>, ApiError> {
    Ok(Json(onboarding::tenant_view(&app.router, &slug).await?))
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
    Ok(Json(
        onboarding::change_tenant(&app.router, &app.config, &slug, req).await?,
    ))
}

/// Every placement with its kind, region, server and tenant count.
#[utoipa::path(get, path = "/admin/placements", tag = "admin", security(("admin" = [])), responses((status = 200, body = Vec<PlacementView>)))]
async fn list_placements(
    State(app): State<AppState>,
    _: Operator,
) -> Result<Json<Vec<PlacementView>>, ApiError> {
    Ok(Json(onboarding::placement_views(&app.router).await?))
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
    let tenant = app
        .router
        .catalog()
        .tenant_by_slug(&slug)
        .await?
        .ok_or(ApiError::NotFound("tenant"))?;
    if let Some(r) = &body.region
        && !onboarding::known_region(&app.router, r)
    {
        return Err(ApiError::validation(
            "region",
            format!("region {r} is not configured"),
        ));
    }
    let req = moves::request(
        &body.to,
        body.region,
        body.cleanup.as_deref(),
        body.reason,
        "admin-api",
        None,
    )?;
    let m = moves::schedule(&app.router, &tenant, req).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(MoveStarted {
            id: m.id,
            state: m.state.to_string(),
        }),
    ))
}

#[utoipa::path(get, path = "/admin/moves", tag = "admin", security(("admin" = [])), responses((status = 200, body = Vec<MoveView>)))]
async fn list_moves(
    State(app): State<AppState>,
    _: Operator,
) -> Result<Json<Vec<MoveView>>, ApiError> {
    let mut out = Vec::new();
    for m in fsa_move::Ledger::new(app.router.catalog())
        .moves(200)
        .await?
    {
        out.push(moves::view(&app.router, m).await?);
    }
    Ok(Json(out))
}

#[utoipa::path(get, path = "/admin/moves/{id}", tag = "admin", params(("id" = Uuid, Path)), security(("admin" = [])),
    responses((status = 200, body = MoveView), (status = 404)))]
async fn get_move(
    State(app): State<AppState>,
    _: Operator,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<MoveView>, ApiError> {
    let m = fsa_move::Ledger::new(app.router.catalog())
        .get_move(id)
        .await?
        .ok_or(ApiError::NotFound("move"))?;
    Ok(Json(moves::view(&app.router, m).await?))
}

/// Cancels a move before its switch: it rolls back, leaving the source as it was.
#[utoipa::path(post, path = "/admin/moves/{id}/cancel", tag = "admin", params(("id" = Uuid, Path)), security(("admin" = [])),
    responses((status = 202, body = MoveStarted), (status = 404), (status = 409, description = "already switched or finished")))]
async fn cancel_move(
    State(app): State<AppState>,
    _: Operator,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<(StatusCode, Json<MoveStarted>), ApiError> {
    let m = fsa_move::Ledger::new(app.router.catalog())
        .get_move(id)
        .await?
        .ok_or(ApiError::NotFound("move"))?;
    if !fsa_move::Ledger::new(app.router.catalog())
        .request_cancel(id)
        .await?
    {
        return Err(ApiError::Conflict {
            code: "not_cancellable",
            detail: format!(
                "the move is {}; only a move before its switch can be cancelled",
                m.state
            ),
        });
    }
    Ok((
        StatusCode::ACCEPTED,
        Json(MoveStarted {
            id,
            state: m.state.to_string(),
        }),
    ))
}
