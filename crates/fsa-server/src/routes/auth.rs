//! Login and the caller's own profile.

use axum::Json;
use axum::extract::State;
use fsa_store::repo::users::User;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Caller;
use crate::dto::LoginRequest;
use crate::error::ApiError;
use crate::extract::{ApiJson, ClientAddr};
use crate::security::{self, Kind};
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
///
/// Attempts are limited per client address and per tenant, email and
/// address (429 with Retry-After), so failures from elsewhere never lock
/// the owner out. An unknown tenant or email, an inactive user or a
/// suspended tenant cost the same argon2 work as a wrong password and get
/// the same answer; a suspended tenant's 403 comes only after its user's
/// password is verified.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = LoginResponse), (status = 401, description = "wrong credentials"),
        (status = 403, description = "the tenant is suspended (only with a right password)"), (status = 429, description = "too many attempts")))]
async fn login(
    State(app): State<AppState>,
    ClientAddr(addr): ClientAddr,
    ApiJson(req): ApiJson<LoginRequest>,
) -> Result<Json<LoginResponse>, ApiError> {
    let tried = [
        ("tenant", req.tenant.as_str()),
        ("email", req.email.as_str()),
    ];
    let attempt = app
        .logins
        .admit(&req.tenant, &req.email, addr)
        .map_err(|retry_after| {
            metrics::counter!(crate::prometheus::LIMIT_REFUSALS, "plan" => "none", "reason" => "login")
                .increment(1);
            security::record(Kind::LoginLimited, Some(addr), &tried);
            ApiError::RateLimited {
                detail: "too many login attempts; wait before trying again".into(),
                retry_after,
            }
        })?;
    let failed = || {
        security::record(Kind::LoginFailed, Some(addr), &tried);
        bad_credentials()
    };
    let Some((tenant, user)) = app.app.login_account(&req.tenant, &req.email).await? else {
        app.passwords.verify_nobody(req.password).await;
        return Err(failed());
    };
    if !app
        .passwords
        .verify(req.password, user.password_hash.clone())
        .await
    {
        return Err(failed());
    }
    app.logins.succeeded(attempt);
    if tenant.suspended {
        return Err(ApiError::tenant_suspended());
    }
    let (token, expires_at) = app.tokens.issue(
        tenant.tenant_id(),
        &tenant.slug,
        user.id,
        user.role,
        user.token_version,
    )?;
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
    let (user, personnel_id) =
        app.app
            .data(&caller)
            .me()
            .await?
            .ok_or_else(|| ApiError::Unauthorized {
                code: "token_invalid",
                detail: "the token's user no longer exists".into(),
            })?;
    Ok(Json(Me {
        user,
        tenant: caller.slug,
        personnel_id,
    }))
}
