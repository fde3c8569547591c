//! `/api/v1/usage`: the tenant's usage against its plan's limits.

use axum::Json;
use axum::extract::State;
use fsa_app::Usage;
use fsa_app::usage;
use fsa_core::{Permission, Resource};
use fsa_store::{Mode, TenantTx};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_usage))
}

#[utoipa::path(get, path = "/api/v1/usage", tag = "usage", security(("bearer" = [])), responses((status = 200, body = Usage)))]
async fn get_usage(State(app): State<AppState>, caller: Caller) -> Result<Json<Usage>, ApiError> {
    let mut tx = super::begin(&app, &caller, Permission::ReadData, Mode::Read).await?;
    let u = usage::usage_of(&mut tx, caller.plan, &app.config.limits).await?;
    tx.commit().await?;
    Ok(Json(u))
}

/// Refuses a create that would take the tenant past its plan's limit.
pub async fn check(
    app: &AppState,
    caller: &Caller,
    tx: &mut TenantTx,
    r: Resource,
) -> Result<(), ApiError> {
    Ok(usage::check(tx, &app.config.limits, caller.plan, r).await?)
}
