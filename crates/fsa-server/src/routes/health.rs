//! `/health` (the process is up) and `/ready` (the catalog answers).

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::state::AppState;

pub async fn health() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

pub async fn ready(State(app): State<AppState>) -> Result<Json<Value>, ApiError> {
    fsa_store::catalog::ping(app.router.catalog().pool())
        .await
        .map_err(|e| {
            tracing::warn!(error = %e, "catalog not ready");
            ApiError::Unavailable {
                code: "not_ready",
                detail: "the catalog database does not answer".into(),
                retry_after: 2,
            }
        })?;
    Ok(Json(
        json!({ "status": "ready", "catalog": app.router.catalog().engine() }),
    ))
}
