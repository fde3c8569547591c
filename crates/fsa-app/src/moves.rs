//! Tenant moves from the operator's side: scheduling, running, reading,
//! cancelling and resuming, through the mover.

use std::sync::Arc;
use std::time::Duration;

use fsa_core::{Plan, Region};
use fsa_move::{Ledger, MoveError, MoveRecord, MoveRequest, MoveState, Progress, Target};
use fsa_store::Ts;
use fsa_store::catalog::Tenant;
use serde::Serialize;
use uuid::Uuid;

use crate::{App, AppError};

/// A move as the admin API and `fsa move show --json` show it.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MoveView {
    pub id: Uuid,
    pub tenant: String,
    pub tenant_id: Uuid,
    /// The source placement's id.
    pub from: Uuid,
    /// The target placement's id, once chosen.
    pub to: Option<Uuid>,
    /// What was asked for: `shared`, `pooled`, `dedicated` or a placement id.
    pub target: String,
    pub region: String,
    pub state: String,
    pub requested_by: String,
    pub reason: String,
    pub plan_after: Option<String>,
    pub error: Option<String>,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub report: serde_json::Value,
    pub created_at: Ts,
    pub switched_at: Option<Ts>,
    pub finished_at: Option<Ts>,
}

/// The short answer to a scheduled move.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MoveStarted {
    pub id: Uuid,
    pub state: String,
}

pub(crate) fn started(m: &MoveRecord) -> MoveStarted {
    MoveStarted {
        id: m.id,
        state: m.state.to_string(),
    }
}

/// A move as an operator asks for it.
#[derive(Debug, Clone)]
pub struct MoveOrder {
    /// `shared`, `pooled`, `dedicated` or a placement id.
    pub to: String,
    /// The tenant's region when absent.
    pub region: Option<Region>,
    /// `now` or a duration (see [`parse_cleanup`]); an hour when absent.
    pub cleanup: Option<String>,
    pub reason: Option<String>,
    /// Who asked: `admin-api`, `cli`.
    pub requested_by: String,
}

/// What a move would do, as `--dry-run` shows it.
#[derive(Debug)]
pub struct MovePreview {
    pub tenant: Tenant,
    /// The source placement's name (empty when the catalog has none).
    pub from: String,
    pub request: MoveRequest,
}

/// The longest a move's source may keep a moved tenant's rows. The mover
/// stores the delay in milliseconds and adds it to timestamps, so a bound
/// keeps every step of that in range; a year is past any real grace period.
pub const MAX_CLEANUP: Duration = Duration::from_secs(365 * 86_400);

/// Parses `now` or a duration such as `90s`, `15m`, `2h`, `7d`.
pub fn parse_cleanup(s: &str) -> Result<Duration, AppError> {
    let bad = || {
        AppError::validation(
            "cleanup",
            "cleanup is `now` or a duration such as 30s, 15m, 2h, 7d, at most 365d",
        )
    };
    let s = s.trim();
    if s == "now" {
        return Ok(Duration::ZERO);
    }
    let split = s.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let (n, unit) = s.split_at(split);
    // Too many digits for a u64 is as wrong as too long a duration.
    let n: u64 = n.parse().map_err(|_| bad())?;
    let unit_ms: u64 = match unit {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return Err(bad()),
    };
    let ms = n.checked_mul(unit_ms).ok_or_else(bad)?;
    let d = Duration::from_millis(ms);
    if d > MAX_CLEANUP {
        return Err(bad());
    }
    Ok(d)
}

/// Builds a move request from an operator's fields.
pub fn request(
    to: &str,
    region: Option<Region>,
    cleanup: Option<&str>,
    reason: Option<String>,
    requested_by: &str,
    plan_after: Option<Plan>,
) -> Result<MoveRequest, AppError> {
    let to = Target::parse(to).map_err(|e| AppError::validation("to", e))?;
    Ok(MoveRequest {
        to,
        region,
        cleanup_after: cleanup
            .map(parse_cleanup)
            .transpose()?
            .unwrap_or(Duration::from_secs(3600)),
        requested_by: requested_by.to_owned(),
        reason: reason.unwrap_or_else(|| "requested by the operator".into()),
        plan_after,
    })
}

fn order_request(order: MoveOrder) -> Result<MoveRequest, AppError> {
    request(
        &order.to,
        order.region,
        order.cleanup.as_deref(),
        order.reason,
        &order.requested_by,
        None,
    )
}

/// Why the mover refused to plan a move, as the operator is told.
pub fn move_error(e: MoveError) -> AppError {
    match e {
        MoveError::Store(fsa_store::StoreError::Conflict { .. }) => AppError::Conflict {
            code: "move_in_progress",
            detail: "the tenant already has a move in progress".into(),
        },
        MoveError::Store(s) => s.into(),
        MoveError::Files(f) => f.into(),
        MoveError::Refused(r) => AppError::Refused(r),
        MoveError::NotFound(_) => AppError::NotFound("move"),
        MoveError::Owned(holder) => AppError::Conflict {
            code: "move_in_progress",
            detail: format!("the move is being run by {holder}"),
        },
        MoveError::Stopped => AppError::Conflict {
            code: "move_in_progress",
            detail: "the move stopped at a safe point; a serving process goes on with it".into(),
        },
        e @ (MoveError::Mismatch(_)
        | MoveError::Cancelled
        | MoveError::FailedEarlier(_)
        | MoveError::Inconsistent(_)
        | MoveError::FenceInterrupted) => AppError::Conflict {
            code: "move_failed",
            detail: e.to_string(),
        },
    }
}

impl App {
    /// Schedules a move of the tenant `slug` and starts it in the
    /// background. The region, when given, must be a configured one.
    #[tracing::instrument(skip_all, fields(tenant.slug = %slug))]
    pub async fn move_tenant(&self, slug: &str, order: MoveOrder) -> Result<MoveStarted, AppError> {
        let tenant = self.tenant_row(slug).await?;
        if let Some(r) = &order.region {
            crate::validate::check_region(&self.router, r)?;
        }
        let req = order_request(order)?;
        let m = self.schedule(&tenant, req).await?;
        Ok(started(&m))
    }

    /// Records a move and its job: a serving process's jobs runner drives
    /// it (this process's at once, if it runs one).
    #[tracing::instrument(skip_all, fields(tenant.slug = %tenant.slug))]
    pub async fn schedule(
        &self,
        tenant: &Tenant,
        req: MoveRequest,
    ) -> Result<MoveRecord, AppError> {
        let m = self.mover().plan(tenant, req).await.map_err(move_error)?;
        fsa_store::jobs::Jobs::new(self.router.catalog())
            .schedule_once(
                &fsa_move::move_job(m.id),
                fsa_move::MOVE_JOB,
                Some(&m.id.to_string()),
                0,
            )
            .await?;
        self.wake_jobs();
        Ok(m)
    }

    /// Waits until the scheduled move `id` has switched, or ended. A
    /// serving process's jobs runner drives it; when none has taken its job
    /// within `claim_wait` (no `fsa serve` runs), this process drives it
    /// itself, then lets its cleanup job wait for a serving process.
    /// Answers the move and whether this process drove it.
    pub async fn wait_for_move(
        &self,
        id: Uuid,
        jobs: &crate::jobs::JobsConfig,
        claim_wait: std::time::Duration,
    ) -> Result<(MoveView, bool), AppError> {
        let name = fsa_move::move_job(id);
        let table = fsa_store::jobs::Jobs::new(self.router.catalog());
        let started = tokio::time::Instant::now();
        let mut here: Option<crate::jobs::Running> = None;
        let result = loop {
            let m = match self.move_view(id).await {
                Ok(m) => m,
                Err(e) => break Err(e),
            };
            if matches!(
                m.state.as_str(),
                "switched" | "cleaning" | "done" | "rolled_back" | "failed"
            ) {
                break Ok(m);
            }
            if here.is_none() && started.elapsed() >= claim_wait {
                let unclaimed = table
                    .get(&name)
                    .await?
                    .is_some_and(|j| j.state == "scheduled");
                if unclaimed {
                    tracing::info!(move.id = %id, "no serving process took the move; driving it here");
                    let mut r = crate::jobs::Runner::new(
                        self.router.catalog().clone(),
                        fsa_move::owner_name(),
                        jobs.clone(),
                    )
                    .only(&name);
                    for job in crate::jobs::service_jobs(self) {
                        r = r.with(job);
                    }
                    here = Some(r.start().await?);
                }
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        };
        let driven_here = here.is_some();
        if let Some(r) = here {
            r.shutdown().await;
        }
        result.map(|m| (m, driven_here))
    }

    /// The fleet's moves by state, every state named (0 where none), read
    /// from the catalog: the same figures from every process.
    pub async fn move_counts(&self) -> Result<Vec<(MoveState, i64)>, AppError> {
        let counted = Ledger::new(self.router.catalog()).count_by_state().await?;
        Ok(MoveState::ALL
            .iter()
            .map(|s| {
                let n = counted
                    .iter()
                    .find(|(name, _)| name == s.as_str())
                    .map_or(0, |(_, n)| *n);
                (*s, n)
            })
            .collect())
    }

    /// What a move of the tenant `slug` would do; checks the order, changes
    /// nothing.
    #[tracing::instrument(skip_all, fields(tenant.slug = %slug))]
    pub async fn preview_move(
        &self,
        slug: &str,
        order: MoveOrder,
    ) -> Result<MovePreview, AppError> {
        let tenant = self.tenant_row(slug).await?;
        let request = order_request(order)?;
        let from = self
            .router
            .catalog()
            .placement(tenant.placement_id)
            .await?
            .map(|p| p.name)
            .unwrap_or_default();
        Ok(MovePreview {
            tenant,
            from,
            request,
        })
    }

    /// Plans a move of the tenant `slug` and runs it to its end in this
    /// task, telling `progress` of each phase and table.
    #[tracing::instrument(skip_all, fields(tenant.slug = %slug, move.id = tracing::field::Empty))]
    pub async fn run_move(
        &self,
        slug: &str,
        order: MoveOrder,
        progress: Arc<dyn Progress>,
    ) -> Result<MoveView, AppError> {
        let tenant = self.tenant_row(slug).await?;
        let req = order_request(order)?;
        let mover = self.mover().with_progress(progress);
        let planned = mover.plan(&tenant, req).await.map_err(move_error)?;
        tracing::Span::current().record("move.id", tracing::field::display(planned.id));
        let done = mover.run(planned.id).await.map_err(AppError::Move)?;
        self.view(done).await
    }

    /// Resumes or rolls back every unfinished move, as a start does.
    #[tracing::instrument(skip_all)]
    pub async fn resume_moves(&self) -> Result<Vec<MoveView>, AppError> {
        let done = self.mover().resume_all().await.map_err(AppError::Move)?;
        let mut views = Vec::with_capacity(done.len());
        for m in done {
            views.push(self.view(m).await?);
        }
        Ok(views)
    }

    /// The most recent `limit` moves, newest first.
    #[tracing::instrument(skip_all)]
    pub async fn moves(&self, limit: i64) -> Result<Vec<MoveView>, AppError> {
        let mut out = Vec::new();
        for m in Ledger::new(self.router.catalog()).moves(limit).await? {
            out.push(self.view(m).await?);
        }
        Ok(out)
    }

    /// One move with its report.
    #[tracing::instrument(skip_all, fields(move.id = %id))]
    pub async fn move_view(&self, id: Uuid) -> Result<MoveView, AppError> {
        let m = Ledger::new(self.router.catalog())
            .get_move(id)
            .await?
            .ok_or(AppError::NotFound("move"))?;
        self.view(m).await
    }

    /// Asks a move before its switch to stop; it rolls back at its next
    /// step. Answers with the state the move was in.
    #[tracing::instrument(skip_all, fields(move.id = %id))]
    pub async fn cancel_move(&self, id: Uuid) -> Result<MoveStarted, AppError> {
        let ledger = Ledger::new(self.router.catalog());
        let m = ledger
            .get_move(id)
            .await?
            .ok_or(AppError::NotFound("move"))?;
        if !ledger.request_cancel(id).await? {
            return Err(AppError::Conflict {
                code: "not_cancellable",
                detail: format!(
                    "the move is {}; only a move before its switch can be cancelled",
                    m.state
                ),
            });
        }
        Ok(MoveStarted {
            id,
            state: m.state.to_string(),
        })
    }

    /// A move record as operators read it, with its tenant's slug.
    pub async fn view(&self, m: MoveRecord) -> Result<MoveView, AppError> {
        let slug = self
            .router
            .catalog()
            .tenant_by_id(fsa_core::TenantId::from_verified(m.tenant_id))
            .await?
            .map(|t| t.slug)
            .unwrap_or_default();
        Ok(MoveView {
            id: m.id,
            tenant: slug,
            tenant_id: m.tenant_id,
            from: m.from_placement,
            to: m.to_placement,
            target: m.target.to_string(),
            region: m.target_region,
            state: m.state.to_string(),
            requested_by: m.requested_by,
            reason: m.reason,
            plan_after: m.plan_after,
            error: m.error,
            report: serde_json::to_value(&m.report).unwrap_or(serde_json::Value::Null),
            created_at: m.created_at,
            switched_at: m.switched_at,
            finished_at: m.finished_at,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cleanup_durations() {
        assert_eq!(parse_cleanup("now").unwrap(), Duration::ZERO);
        assert_eq!(parse_cleanup("90s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_cleanup("2h").unwrap(), Duration::from_secs(7200));
        assert_eq!(parse_cleanup("365d").unwrap(), MAX_CLEANUP);
        assert_eq!(parse_cleanup("250ms").unwrap(), Duration::from_millis(250));
        for bad in ["", "soon", "5", "5x", "s", "-1d", "1.5h"] {
            assert!(parse_cleanup(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn cleanup_too_long_is_refused_not_a_panic() {
        for bad in [
            "366d",
            "8761h",
            "99999999999999999999d",
            "18446744073709551615d",
            "18446744073709551615ms",
            "213503982334601d",
            "307445734561825860m",
        ] {
            let e = parse_cleanup(bad).expect_err(bad);
            assert!(matches!(e, AppError::Validation { .. }), "{bad}: {e:?}");
        }
    }
}
