//! `/admin`: the operator's API, behind the admin token.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Operator;
use crate::dto::{CreateTenant, PatchTenant};
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath};
use crate::onboarding::{self, PlacementView, PlanChange, TenantView};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_tenants, create_tenant))
        .routes(routes!(get_tenant, patch_tenant))
        .routes(routes!(list_placements))
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

#[utoipa::path(get, path = "/admin/tenants/{slug}", tag = "admin", params(("slug" = String, Path)), security(("admin" = [])),
    responses((status = 200, body = TenantView), (status = 404)))]
async fn get_tenant(
    State(app): State<AppState>,
    _: Operator,
    ApiPath(slug): ApiPath<String>,
) -> Result<Json<TenantView>, ApiError> {
    Ok(Json(onboarding::tenant_view(&app.router, &slug).await?))
}

/// Changes a tenant's plan or region; the answer lists the limits the tenant
/// is now over.
#[utoipa::path(patch, path = "/admin/tenants/{slug}", tag = "admin", params(("slug" = String, Path)), request_body = PatchTenant,
    security(("admin" = [])), responses((status = 200, body = PlanChange), (status = 404), (status = 409, description = "needs a move")))]
async fn patch_tenant(
    State(app): State<AppState>,
    _: Operator,
    ApiPath(slug): ApiPath<String>,
    ApiJson(req): ApiJson<PatchTenant>,
) -> Result<Json<PlanChange>, ApiError> {
    Ok(Json(
        onboarding::change_tenant(&app.router, &app.config.limits, &slug, req).await?,
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
