//! `/admin/backups`: backups of one tenant, their checks, and restoring
//! one as a new tenant, behind the admin token.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::auth::Operator;
use crate::dto::{BackupBody, BackupsQuery, RestoreBody};
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::state::AppState;
use fsa_app::backups::{BackupView, VerifyReport};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_backups, start_backup))
        .routes(routes!(get_backup))
        .routes(routes!(verify_backup))
        .routes(routes!(restore_backup))
}

/// Backs a tenant up: 202 with the backup, `running` until a serving
/// process's jobs runner has written it.
#[utoipa::path(post, path = "/admin/backups", tag = "admin", request_body = BackupBody, security(("admin" = [])),
    responses((status = 202, body = BackupView), (status = 404)))]
async fn start_backup(
    State(app): State<AppState>,
    _: Operator,
    ApiJson(body): ApiJson<BackupBody>,
) -> Result<(StatusCode, Json<BackupView>), ApiError> {
    let b = app.app.start_backup(&body.tenant, "operator").await?;
    Ok((StatusCode::ACCEPTED, Json(b)))
}

/// The newest backups (of one tenant with `tenant`), newest first.
#[utoipa::path(get, path = "/admin/backups", tag = "admin", params(BackupsQuery), security(("admin" = [])),
    responses((status = 200, body = Vec<BackupView>), (status = 404)))]
async fn list_backups(
    State(app): State<AppState>,
    _: Operator,
    ApiQuery(q): ApiQuery<BackupsQuery>,
) -> Result<Json<Vec<BackupView>>, ApiError> {
    Ok(Json(app.app.backups(q.tenant.as_deref()).await?))
}

#[utoipa::path(get, path = "/admin/backups/{id}", tag = "admin", params(("id" = Uuid, Path)), security(("admin" = [])),
    responses((status = 200, body = BackupView), (status = 404)))]
async fn get_backup(
    State(app): State<AppState>,
    _: Operator,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<BackupView>, ApiError> {
    Ok(Json(app.app.backup(id).await?))
}

/// Re-reads every part of a backup and checks it against its manifest
/// (sizes, SHA-256s, rows and checksums per table); a damaged backup is
/// 409 `backup_damaged`.
#[utoipa::path(post, path = "/admin/backups/{id}/verify", tag = "admin", params(("id" = Uuid, Path)), security(("admin" = [])),
    responses((status = 200, body = VerifyReport), (status = 404), (status = 409, description = "damaged or not done")))]
async fn verify_backup(
    State(app): State<AppState>,
    _: Operator,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<VerifyReport>, ApiError> {
    Ok(Json(app.app.verify_backup(id).await?))
}

/// A restore under way.
#[derive(Debug, Serialize, ToSchema)]
pub struct RestoreStarted {
    /// The job that runs it (`GET /admin/jobs`).
    pub id: String,
    pub state: String,
    /// The tenant restored: the new one, or the backup's own.
    pub tenant: String,
}

/// Restores a backup as a new tenant `as` (new id, the same rows and
/// files), where its plan places it, checked against the manifest before
/// it is routable; or, without `as`, over its own tenant in place: its
/// current state backed up first, its rows replaced in one transaction
/// while its writers wait, checked against the manifest. A damaged backup
/// is refused and nothing changes.
#[utoipa::path(post, path = "/admin/backups/{id}/restore", tag = "admin", params(("id" = Uuid, Path)), request_body = RestoreBody,
    security(("admin" = [])), responses((status = 202, body = RestoreStarted), (status = 404), (status = 409, description = "damaged, not done, or the slug is taken")))]
async fn restore_backup(
    State(app): State<AppState>,
    _: Operator,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<RestoreBody>,
) -> Result<(StatusCode, Json<RestoreStarted>), ApiError> {
    let job = app.app.start_restore(id, body.as_slug.as_deref()).await?;
    let tenant = match body.as_slug {
        Some(s) => s,
        None => app.app.backup(id).await?.tenant,
    };
    Ok((
        StatusCode::ACCEPTED,
        Json(RestoreStarted {
            id: job,
            state: "scheduled".into(),
            tenant,
        }),
    ))
}
