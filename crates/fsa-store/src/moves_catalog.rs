//! The catalog's record of tenant moves.

use fsa_core::TenantId;
use serde::Serialize;
use sqlx::FromRow;
use uuid::Uuid;

use crate::catalog::Catalog;
use crate::error::{StoreError, map_constraint};
use crate::on_pool;
use crate::ts::Ts;

/// A move as the catalog records it.
#[derive(Debug, Clone, Serialize, FromRow)]
pub struct MoveRecord {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub from_placement: Uuid,
    pub to_placement: Option<Uuid>,
    /// What was asked for: `shared`, `pooled`, `dedicated` or a placement id.
    pub target: String,
    pub target_region: String,
    pub state: String,
    pub cancel_requested: bool,
    pub cleanup_after_ms: i64,
    pub requested_by: String,
    pub reason: String,
    /// The plan the tenant takes once switched (a plan change that needed a move).
    pub plan_after: Option<String>,
    pub watermark: Option<i64>,
    /// The report, as JSON text.
    pub report: String,
    pub error: Option<String>,
    pub created_at: Ts,
    pub updated_at: Ts,
    pub switched_at: Option<Ts>,
    pub finished_at: Option<Ts>,
}

impl MoveRecord {
    pub fn is_finished(&self) -> bool {
        matches!(self.state.as_str(), "done" | "rolled_back")
    }
}

macro_rules! cols {
    () => {
        "id, tenant_id, from_placement, to_placement, target, target_region, state, cancel_requested, cleanup_after_ms, requested_by, reason, plan_after, watermark, report, error, created_at, updated_at, switched_at, finished_at"
    };
}

impl Catalog {
    /// Records a planned move; refused when the tenant has one open.
    pub async fn insert_move(&self, m: &MoveRecord) -> Result<(), StoreError> {
        let busy = || StoreError::Conflict {
            entity: "move",
            detail: "the tenant already has a move in progress",
        };
        on_pool!(self.pool(), c => {
            sqlx::query(concat!("INSERT INTO moves (", cols!(), ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)"))
                .bind(m.id).bind(m.tenant_id).bind(m.from_placement).bind(m.to_placement).bind(&m.target).bind(&m.target_region)
                .bind(&m.state).bind(m.cancel_requested).bind(m.cleanup_after_ms).bind(&m.requested_by).bind(&m.reason)
                .bind(&m.plan_after).bind(m.watermark).bind(&m.report).bind(&m.error).bind(m.created_at).bind(m.updated_at).bind(m.switched_at).bind(m.finished_at)
                .execute(c).await
                .map_err(|e| map_constraint(e, &[("moves_one_open_per_tenant", busy()), ("moves.tenant_id", busy())], &[]))?;
        });
        Ok(())
    }

    pub async fn get_move(&self, id: Uuid) -> Result<Option<MoveRecord>, StoreError> {
        Ok(
            on_pool!(self.pool(), c => sqlx::query_as(concat!("SELECT ", cols!(), " FROM moves WHERE id = $1")).bind(id).fetch_optional(c).await?),
        )
    }

    /// The newest moves first.
    pub async fn moves(&self, limit: i64) -> Result<Vec<MoveRecord>, StoreError> {
        Ok(
            on_pool!(self.pool(), c => sqlx::query_as(concat!("SELECT ", cols!(), " FROM moves ORDER BY created_at DESC LIMIT $1")).bind(limit).fetch_all(c).await?),
        )
    }

    /// Moves not yet `done` or `rolled_back`.
    pub async fn open_moves(&self) -> Result<Vec<MoveRecord>, StoreError> {
        Ok(
            on_pool!(self.pool(), c => sqlx::query_as(concat!("SELECT ", cols!(), " FROM moves WHERE state NOT IN ('done', 'rolled_back') ORDER BY created_at")).fetch_all(c).await?),
        )
    }

    /// Saves a move's state, report, error and watermark, if `owner` still
    /// holds its lease: a mover that lost it stops at its next step.
    pub async fn save_move(&self, m: &MoveRecord, owner: &str) -> Result<(), StoreError> {
        let n = on_pool!(self.pool(), c => {
            sqlx::query("UPDATE moves SET to_placement = $2, state = $3, watermark = $4, report = $5, error = $6, updated_at = $7,
                         switched_at = $8, finished_at = $9 WHERE id = $1 AND owner = $10")
                .bind(m.id).bind(m.to_placement).bind(&m.state).bind(m.watermark).bind(&m.report).bind(&m.error)
                .bind(Ts::now()).bind(m.switched_at).bind(m.finished_at).bind(owner)
                .execute(c).await?.rows_affected()
        });
        if n == 0 {
            return Err(StoreError::Conflict {
                entity: "move",
                detail: "another process has taken over this move",
            });
        }
        Ok(())
    }

    /// Takes a move's lease for `ttl_ms` if nobody holds it, it ran out, or
    /// its holder is `dead` (a process known to be gone). True if taken.
    pub async fn claim_move(
        &self,
        id: Uuid,
        owner: &str,
        ttl_ms: i64,
        dead: Option<&str>,
    ) -> Result<bool, StoreError> {
        let now = chrono::Utc::now().timestamp_millis();
        let n = on_pool!(self.pool(), c => sqlx::query(
            "UPDATE moves SET owner = $2, lease_until_ms = $3 WHERE id = $1 AND state NOT IN ('done', 'rolled_back')
             AND (owner IS NULL OR lease_until_ms < $4 OR owner = $5)")
            .bind(id).bind(owner).bind(now + ttl_ms).bind(now).bind(dead.unwrap_or(""))
            .execute(c).await?.rows_affected());
        Ok(n == 1)
    }

    /// Extends the lease `owner` holds; false if it no longer holds it.
    pub async fn renew_move(&self, id: Uuid, owner: &str, ttl_ms: i64) -> Result<bool, StoreError> {
        let until = chrono::Utc::now().timestamp_millis() + ttl_ms;
        let n = on_pool!(self.pool(), c => sqlx::query(
            "UPDATE moves SET lease_until_ms = $3 WHERE id = $1 AND owner = $2")
            .bind(id).bind(owner).bind(until)
            .execute(c).await?.rows_affected());
        Ok(n == 1)
    }

    /// Gives the lease up (the move ended, or this process stops).
    pub async fn release_move(&self, id: Uuid, owner: &str) -> Result<(), StoreError> {
        on_pool!(self.pool(), c => sqlx::query(
            "UPDATE moves SET owner = NULL, lease_until_ms = 0 WHERE id = $1 AND owner = $2")
            .bind(id).bind(owner).execute(c).await?.rows_affected());
        Ok(())
    }

    /// Who holds a move's lease, if anyone.
    pub async fn move_owner(&self, id: Uuid) -> Result<Option<String>, StoreError> {
        Ok(
            on_pool!(self.pool(), c => sqlx::query_scalar::<_, Option<String>>(
            "SELECT owner FROM moves WHERE id = $1").bind(id).fetch_optional(c).await?)
            .flatten(),
        )
    }

    /// Asks a running move to stop and roll back; true if it was still
    /// before its switch.
    pub async fn request_cancel(&self, id: Uuid) -> Result<bool, StoreError> {
        let n = on_pool!(self.pool(), c => sqlx::query(
            "UPDATE moves SET cancel_requested = true WHERE id = $1 AND state IN ('planned', 'provisioning', 'copying', 'catching_up', 'verifying')")
            .bind(id).execute(c).await?.rows_affected());
        Ok(n == 1)
    }

    pub async fn cancel_requested(&self, id: Uuid) -> Result<bool, StoreError> {
        Ok(
            on_pool!(self.pool(), c => sqlx::query_scalar("SELECT cancel_requested FROM moves WHERE id = $1").bind(id).fetch_one(c).await?),
        )
    }

    /// Points the tenant at its new placement with a new epoch, and
    /// announces it.
    pub async fn switch_tenant(
        &self,
        tenant: TenantId,
        placement: Uuid,
        epoch: i64,
    ) -> Result<(), StoreError> {
        on_pool!(self.pool(), c => {
            sqlx::query("UPDATE tenants SET placement_id = $2, epoch = $3, updated_at = $4 WHERE id = $1")
                .bind(tenant.as_uuid()).bind(placement).bind(epoch).bind(Ts::now())
                .execute(c).await?;
        });
        self.notify_route_change(tenant).await
    }

    /// Changes a tenant's plan and region records (after a move, or when no
    /// move is needed).
    pub async fn set_plan_region(
        &self,
        tenant: TenantId,
        plan: fsa_core::Plan,
        region: &fsa_core::Region,
    ) -> Result<(), StoreError> {
        on_pool!(self.pool(), c => {
            sqlx::query("UPDATE tenants SET plan = $2, region = $3, updated_at = $4 WHERE id = $1")
                .bind(tenant.as_uuid()).bind(plan.as_str()).bind(region.as_str()).bind(Ts::now())
                .execute(c).await?;
        });
        self.notify_route_change(tenant).await
    }

    /// Forgets a placement made for a move that rolled back (its database
    /// is dropped by the caller); only if no tenant is on it.
    pub async fn forget_placement(&self, id: Uuid) -> Result<bool, StoreError> {
        let n = on_pool!(self.pool(), c => sqlx::query(
            "UPDATE placements SET state = 'retired' WHERE id = $1 AND NOT EXISTS (SELECT 1 FROM tenants WHERE placement_id = $1)")
            .bind(id).execute(c).await?.rows_affected());
        Ok(n == 1)
    }
}
