//! `/api/v1/usage`: the tenant's usage against its plan's limits.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use fsa_core::{Permission, Plan, Resource};
use fsa_store::repo::usage;
use fsa_store::{Mode, TenantTx};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_usage))
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UsageItem {
    pub used: i64,
    /// Absent when unlimited.
    pub limit: Option<u64>,
    /// Whether the tenant is over the limit (after a downgrade: data is
    /// kept, new records of this kind are refused).
    pub over_limit: bool,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Usage {
    pub plan: Plan,
    #[schema(value_type = Object)]
    pub usage: BTreeMap<&'static str, UsageItem>,
    pub requests_per_second: Option<u32>,
    pub concurrent_requests: Option<u32>,
    pub work_ms_per_second: Option<u32>,
    pub statement_timeout_ms: u64,
}

/// The tenant's usage of every limited resource against its plan.
pub async fn usage_of(
    tx: &mut TenantTx,
    plan: Plan,
    limits: &fsa_core::Limits,
) -> Result<Usage, ApiError> {
    let l = limits.for_plan(plan);
    let counts = usage::all(tx).await?;
    let usage = Resource::ALL
        .iter()
        .map(|r| {
            let used = counts.get(r.as_str()).copied().unwrap_or(0);
            let limit = l.of(*r);
            (
                r.as_str(),
                UsageItem {
                    used,
                    limit,
                    over_limit: limit.is_some_and(|m| used as u64 > m),
                },
            )
        })
        .collect();
    Ok(Usage {
        plan,
        usage,
        requests_per_second: l.requests_per_second,
        concurrent_requests: l.concurrent_requests,
        work_ms_per_second: l.work_ms_per_second,
        statement_timeout_ms: l.statement_timeout_ms,
    })
}

#[utoipa::path(get, path = "/api/v1/usage", tag = "usage", security(("bearer" = [])), responses((status = 200, body = Usage)))]
async fn get_usage(State(app): State<AppState>, caller: Caller) -> Result<Json<Usage>, ApiError> {
    let mut tx = super::begin(&app, &caller, Permission::ReadData, Mode::Read).await?;
    let u = usage_of(&mut tx, caller.plan, &app.config.limits).await?;
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
    let limit = app.config.limits.for_plan(caller.plan).of(r);
    usage::check(tx, r, limit, 1).await.map_err(|e| match e {
        fsa_store::StoreError::LimitReached {
            resource,
            limit,
            used,
        } => ApiError::PlanLimit {
            resource,
            limit,
            used,
            plan: caller.plan,
        },
        other => other.into(),
    })
}
