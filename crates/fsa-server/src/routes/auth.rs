//! Login and the caller's own profile.

use axum::Json;
use axum::extract::State;
use fsa_core::Permission;
use fsa_store::Mode;
use fsa_store::repo::users::{self, User};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::{Caller, verify_password_blocking};
use crate::dto::LoginRequest;
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(login))
        .routes(routes!(me))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LoginResponse {
    pub token: String,
    pub expires_at: chrono::DateTime<chrono::Utc>,
}

fn bad_credentials() -> ApiError {
    ApiError::Unauthorized {
        code: "invalid_credentials",
        detail: "tenant, email or password is wrong".into(),
    }
}

/// Exchanges a tenant slug, email and password for a token.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = LoginResponse), (status = 401, description = "wrong credentials")))]
async fn login(
    State(app): State<AppState>,
    ApiJson(req): ApiJson<LoginRequest>,
) -> Result<Json<LoginResponse>, ApiError> {
    let tenant = app
        .router
        .catalog()
        .tenant_by_slug(req.tenant.trim())
        .await?;
    let Some(tenant) = tenant.filter(|t| t.state == "active") else {
        return Err(bad_credentials());
    };
    let mut tx = app.router.begin(tenant.tenant_id(), Mode::Read).await?;
    let user = users::by_email(&mut tx, req.email.trim()).await?;
    tx.commit().await?;
    let Some(user) = user.filter(|u| u.is_active) else {
        return Err(bad_credentials());
    };
    if !verify_password_blocking(req.password, user.password_hash.clone()).await {
        return Err(bad_credentials());
    }
    let (token, expires_at) =
        app.tokens
            .issue(tenant.tenant_id(), &tenant.slug, user.id, user.role)?;
    Ok(Json(LoginResponse { token, expires_at }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    #[serde(flatten)]
    pub user: User,
    pub tenant: String,
    pub personnel_id: Option<uuid::Uuid>,
}

/// The calling user.
#[utoipa::path(get, path = "/api/v1/me", tag = "auth", security(("bearer" = [])), responses((status = 200, body = Me)))]
async fn me(State(app): State<AppState>, caller: Caller) -> Result<Json<Me>, ApiError> {
    let mut tx = super::begin(&app, &caller, Permission::ReadData, Mode::Read).await?;
    let user = users::get(&mut tx, caller.user_id)
        .await
        .map_err(|_| ApiError::Unauthorized {
            code: "token_invalid",
            detail: "the token's user no longer exists".into(),
        })?;
    let personnel_id = fsa_store::repo::personnel::id_for_user(&mut tx, caller.user_id).await?;
    tx.commit().await?;
    Ok(Json(Me {
        user,
        tenant: caller.slug,
        personnel_id,
    }))
}
