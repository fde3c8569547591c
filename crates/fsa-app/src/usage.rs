//! A tenant's usage of every limited resource against its plan.

use std::collections::BTreeMap;

use fsa_core::{Limits, Plan, Resource, TenantId};
use fsa_store::repo::{files, usage};
use fsa_store::{Mode, StoreError, TenantTx};
use serde::Serialize;

use crate::{App, AppError};

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UsageItem {
    pub used: i64,
    /// Absent when unlimited.
    pub limit: Option<u64>,
    /// Whether the tenant is over the limit (after a downgrade: data is
    /// kept, new records of this kind are refused).
    pub over_limit: bool,
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Usage {
    pub plan: Plan,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub usage: BTreeMap<&'static str, UsageItem>,
    pub requests_per_second: Option<u32>,
    pub concurrent_requests: Option<u32>,
    pub work_ms_per_second: Option<u32>,
    pub statement_timeout_ms: u64,
    /// The files the tenant stores (their bytes count against `file_bytes`).
    pub files: FilesUsage,
}

/// How many files a tenant stores, and their bytes.
#[derive(Debug, Clone, Copy, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FilesUsage {
    pub count: i64,
    pub bytes: i64,
}

/// The tenant's usage of every limited resource against its plan, read in
/// the caller's transaction.
pub async fn usage_of(tx: &mut TenantTx, plan: Plan, limits: &Limits) -> Result<Usage, AppError> {
    let l = limits.for_plan(plan);
    let counts = usage::all(tx).await?;
    let (count, bytes) = files::totals(tx).await?;
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
        files: FilesUsage { count, bytes },
    })
}

/// Refuses a create of one more `r` that would take the tenant past its
/// plan's limit.
pub async fn check(
    tx: &mut TenantTx,
    limits: &Limits,
    plan: Plan,
    r: Resource,
) -> Result<(), AppError> {
    check_adding(tx, limits, plan, r, 1).await
}

/// Refuses adding `adding` of `r` (a file's bytes) when it would take the
/// tenant past its plan's limit. Serialised per tenant like every limit
/// check: call it in the write transaction that adds them.
pub async fn check_adding(
    tx: &mut TenantTx,
    limits: &Limits,
    plan: Plan,
    r: Resource,
    adding: u64,
) -> Result<(), AppError> {
    let limit = limits.for_plan(plan).of(r);
    usage::check(tx, r, limit, adding)
        .await
        .map_err(|e| match e {
            StoreError::LimitReached {
                resource,
                limit,
                used,
            } => AppError::PlanLimit {
                resource,
                limit,
                used,
                plan,
            },
            other => other.into(),
        })
}

impl App {
    /// The usage of `tenant` against `plan`, in a read transaction of its own.
    #[tracing::instrument(skip_all, fields(tenant.id = %tenant))]
    pub async fn usage(&self, tenant: TenantId, plan: Plan) -> Result<Usage, AppError> {
        let mut tx = self.router.begin(tenant, Mode::Read).await?;
        let u = usage_of(&mut tx, plan, &self.limits).await?;
        tx.commit().await?;
        Ok(u)
    }
}
