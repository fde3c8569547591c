//! Tenant moves from the operator's side: scheduling, reading, cancelling,
//! and the background runner. Shared by the admin API and the CLI.

use std::sync::Arc;
use std::time::Duration;

use fsa_core::{Plan, Region};
use fsa_move::ledger::MoveRecord;
use fsa_move::{MoveRequest, Mover, Target};
use fsa_store::Router;
use fsa_store::Ts;
use fsa_store::catalog::Tenant;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::error::ApiError;

/// A move as the admin API and `fsa move show --json` show it.
#[derive(Debug, Clone, Serialize, ToSchema)]
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
    #[schema(value_type = Object)]
    pub report: serde_json::Value,
    pub created_at: Ts,
    pub switched_at: Option<Ts>,
    pub finished_at: Option<Ts>,
}

/// The short answer to a scheduled move.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MoveStarted {
    pub id: Uuid,
    pub state: String,
}

pub async fn view(router: &Router, m: MoveRecord) -> Result<MoveView, ApiError> {
    let slug = router
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

/// Parses `now` or a duration such as `90s`, `15m`, `2h`, `7d`.
/// The longest a move's source may keep a moved tenant's rows. The mover
/// stores the delay in milliseconds and adds it to timestamps, so a bound
/// keeps every step of that in range; a year is past any real grace period.
pub const MAX_CLEANUP: Duration = Duration::from_secs(365 * 86_400);

pub fn parse_cleanup(s: &str) -> Result<Duration, ApiError> {
    let bad = || {
        ApiError::validation(
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

/// Records a move and starts it in the background.
pub async fn schedule(
    router: &Arc<Router>,
    tenant: &Tenant,
    req: MoveRequest,
) -> Result<MoveRecord, ApiError> {
    let mover = Mover::new(router.clone());
    let m = mover.plan(tenant, req).await.map_err(move_error)?;
    let id = m.id;
    tokio::spawn(async move {
        if let Err(e) = mover.run(id).await {
            tracing::error!(move.id = %id, error = %e, "move stopped after its switch; it resumes at the next start");
        }
    });
    Ok(m)
}

/// Builds a move request from the API's fields.
pub fn request(
    to: &str,
    region: Option<Region>,
    cleanup: Option<&str>,
    reason: Option<String>,
    requested_by: &str,
    plan_after: Option<Plan>,
) -> Result<MoveRequest, ApiError> {
    let to = Target::parse(to).map_err(|e| ApiError::validation("to", e))?;
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

pub fn move_error(e: fsa_move::MoveError) -> ApiError {
    use fsa_move::MoveError;
    match e {
        MoveError::Store(fsa_store::StoreError::Conflict { .. }) => ApiError::Conflict {
            code: "move_in_progress",
            detail: "the tenant already has a move in progress".into(),
        },
        MoveError::Store(s) => s.into(),
        MoveError::Preflight(d) => ApiError::Conflict {
            code: "preflight_failed",
            detail: d,
        },
        MoveError::Owned(holder) => ApiError::Conflict {
            code: "move_in_progress",
            detail: format!("the move is being run by {holder}"),
        },
        e @ (MoveError::Mismatch(_) | MoveError::Cancelled) => ApiError::Conflict {
            code: "move_failed",
            detail: e.to_string(),
        },
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
            assert!(matches!(e, ApiError::Validation { .. }), "{bad}: {e:?}");
        }
    }
}
