//! `/api/v1/usage`: the tenant's usage against its plan's limits.

use axum::Json;
use axum::extract::State;
use fsa_app::Usage;
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
    Ok(Json(app.app.data(&caller).usage().await?))
}
