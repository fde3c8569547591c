//! `/api/v1/users`: admins manage users; dispatchers may read them.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use fsa_core::Permission;
use fsa_store::page::Page;
use fsa_store::repo::users::{NewUser, User, UserPatch};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::auth::Caller;
use crate::dto::{CreateUser, PatchUser, UserQuery, email, opt_text, password, text};
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(get, update, delete))
}

#[utoipa::path(get, path = "/api/v1/users", tag = "users", params(UserQuery), security(("bearer" = [])),
    responses((status = 200, body = inline(Page<User>))))]
async fn list(
    State(app): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<UserQuery>,
) -> Result<Json<Page<User>>, ApiError> {
    let after = super::id_cursor(q.cursor.as_deref())?;
    let limit = super::limit(q.limit)?;
    Ok(Json(
        app.app.data(&caller).users(q.role, after, limit).await?,
    ))
}

#[utoipa::path(post, path = "/api/v1/users", tag = "users", request_body = CreateUser, security(("bearer" = [])),
    responses((status = 201, body = User), (status = 409, description = "email taken")))]
async fn create(
    State(app): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<CreateUser>,
) -> Result<(StatusCode, Json<User>), ApiError> {
    // Refused before the password costs a hash.
    caller.require(Permission::ManageUsers)?;
    let data = app.app.data(&caller);
    let email = email(&body.email)?;
    let name = text("name", body.name, 200)?;
    password(&body.password)?;
    let password_hash = app.passwords.hash(body.password).await?;
    let u = data
        .create_user(NewUser {
            email,
            name,
            role: body.role,
            password_hash,
        })
        .await?;
    Ok((StatusCode::CREATED, Json(u)))
}

#[utoipa::path(get, path = "/api/v1/users/{id}", tag = "users", params(("id" = Uuid, Path)), security(("bearer" = [])),
    responses((status = 200, body = User), (status = 404)))]
async fn get(
    State(app): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<User>, ApiError> {
    Ok(Json(app.app.data(&caller).tenant_user(id).await?))
}

#[utoipa::path(patch, path = "/api/v1/users/{id}", tag = "users", params(("id" = Uuid, Path)), request_body = PatchUser,
    security(("bearer" = [])), responses((status = 200, body = User), (status = 404), (status = 409, description = "`last_admin`: the tenant's last admin demoted or deactivated")))]
async fn update(
    State(app): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<PatchUser>,
) -> Result<Json<User>, ApiError> {
    // Refused before the password costs a hash.
    caller.require(Permission::ManageUsers)?;
    let data = app.app.data(&caller);
    let password_hash = match body.password {
        Some(p) => {
            password(&p)?;
            Some(app.passwords.hash(p).await?)
        }
        None => None,
    };
    let patch = UserPatch {
        name: opt_text("name", body.name, 200)?,
        role: body.role,
        is_active: body.is_active,
        password_hash,
    };
    let u = data.update_user(id, patch).await?;
    // A new role, a deactivation or a new password bumped the user's token
    // version: their tokens are refused from the next request on.
    app.standing.invalidate(caller.tenant, id);
    Ok(Json(u))
}

#[utoipa::path(delete, path = "/api/v1/users/{id}", tag = "users", params(("id" = Uuid, Path)), security(("bearer" = [])),
    responses((status = 204), (status = 404), (status = 409, description = "`self_delete`: a user cannot delete themselves")))]
async fn delete(
    State(app): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<StatusCode, ApiError> {
    app.app.data(&caller).delete_user(id).await?;
    app.standing.invalidate(caller.tenant, id);
    Ok(StatusCode::NO_CONTENT)
}
