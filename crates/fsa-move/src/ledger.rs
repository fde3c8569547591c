//! The catalog's record of tenant moves: the `moves` table, its leases,
//! and the switch (one catalog transaction that checks the lease).

use fsa_core::TenantId;
use serde::Serialize;
use sqlx::FromRow;
use uuid::Uuid;

use fsa_store::catalog::Catalog;
use fsa_store::error::{StoreError, map_constraint};
use fsa_store::ts::Ts;

use crate::report::Report;
use crate::request::Target;
use crate::state::MoveState;
use fsa_store::{on_pool, pg_now_ms, sql, sqlite_now_ms};

/// The move rows of a catalog.
#[derive(Clone, Copy)]
pub struct Ledger<'a>(&'a Catalog);

impl<'a> Ledger<'a> {
    pub fn new(catalog: &'a Catalog) -> Self {
        Ledger(catalog)
    }
}

/// A move as the catalog records it.
#[derive(Debug, Clone, Serialize, FromRow)]
pub struct MoveRecord {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub from_placement: Uuid,
    pub to_placement: Option<Uuid>,
    /// What was asked for: a placement kind or a placement.
    #[sqlx(try_from = "String")]
    pub target: Target,
    pub target_region: String,
    #[sqlx(try_from = "String")]
    pub state: MoveState,
    pub cancel_requested: bool,
    pub cleanup_after_ms: i64,
    pub requested_by: String,
    pub reason: String,
    /// The plan the tenant takes once switched (a plan change that needed a move).
    pub plan_after: Option<String>,
    pub watermark: Option<i64>,
    #[sqlx(try_from = "String")]
    pub report: Report,
    pub error: Option<String>,
    pub created_at: Ts,
    pub updated_at: Ts,
    pub switched_at: Option<Ts>,
    pub finished_at: Option<Ts>,
}

impl MoveRecord {
    pub fn is_finished(&self) -> bool {
        self.state.is_finished()
    }
}

/// What a switch writes to the tenant.
#[derive(Debug, Clone)]
pub struct Switch<'a> {
    pub placement: Uuid,
    pub epoch: i64,
    pub plan: fsa_core::Plan,
    pub region: &'a fsa_core::Region,
}

macro_rules! cols {
    () => {
        "id, tenant_id, from_placement, to_placement, target, target_region, state, cancel_requested, cleanup_after_ms, requested_by, reason, plan_after, watermark, report, error, created_at, updated_at, switched_at, finished_at"
    };
}

impl Ledger<'_> {
    /// Records a planned move; refused when the tenant has one open.
    pub async fn insert_move(&self, m: &MoveRecord) -> Result<(), StoreError> {
        let busy = || StoreError::Conflict {
            entity: "move",
            detail: "the tenant already has a move in progress",
        };
        on_pool!(self.0.pool(), c => {
            sqlx::query(concat!("INSERT INTO moves (", cols!(), ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)"))
                .bind(m.id).bind(m.tenant_id).bind(m.from_placement).bind(m.to_placement).bind(m.target.to_string()).bind(&m.target_region)
                .bind(m.state.as_str()).bind(m.cancel_requested).bind(m.cleanup_after_ms).bind(&m.requested_by).bind(&m.reason)
                .bind(&m.plan_after).bind(m.watermark).bind(m.report.to_json()).bind(&m.error).bind(m.created_at).bind(m.updated_at).bind(m.switched_at).bind(m.finished_at)
                .execute(c).await
                .map_err(|e| map_constraint(e, &[("moves_one_open_per_tenant", busy()), ("moves.tenant_id", busy())], &[]))?;
        });
        Ok(())
    }

    pub async fn get_move(&self, id: Uuid) -> Result<Option<MoveRecord>, StoreError> {
        Ok(
            on_pool!(self.0.pool(), c => sqlx::query_as(concat!("SELECT ", cols!(), " FROM moves WHERE id = $1")).bind(id).fetch_optional(c).await?),
        )
    }

    /// The newest moves first.
    pub async fn moves(&self, limit: i64) -> Result<Vec<MoveRecord>, StoreError> {
        Ok(
            on_pool!(self.0.pool(), c => sqlx::query_as(concat!("SELECT ", cols!(), " FROM moves ORDER BY created_at DESC LIMIT $1")).bind(limit).fetch_all(c).await?),
        )
    }

    /// Moves not yet `done` or `rolled_back`.
    pub async fn open_moves(&self) -> Result<Vec<MoveRecord>, StoreError> {
        Ok(
            on_pool!(self.0.pool(), c => sqlx::query_as(concat!("SELECT ", cols!(), " FROM moves WHERE state NOT IN ('done', 'rolled_back') ORDER BY created_at")).fetch_all(c).await?),
        )
    }

    /// Saves a move's state, report, error and watermark, if `owner` still
    /// holds its lease: a mover that lost it stops at its next step.
    pub async fn save_move(&self, m: &MoveRecord, owner: &str) -> Result<(), StoreError> {
        let n = on_pool!(self.0.pool(), c => {
            sqlx::query(sql!(c,
                pg: concat!("UPDATE moves SET to_placement = $2, state = $3, watermark = $4, report = $5, error = $6, updated_at = $7,
                         switched_at = $8, finished_at = $9 WHERE id = $1 AND owner = $10 AND lease_until_ms > ", pg_now_ms!()),
                sqlite: concat!("UPDATE moves SET to_placement = $2, state = $3, watermark = $4, report = $5, error = $6, updated_at = $7,
                         switched_at = $8, finished_at = $9 WHERE id = $1 AND owner = $10 AND lease_until_ms > ", sqlite_now_ms!())))
                .bind(m.id).bind(m.to_placement).bind(m.state.as_str()).bind(m.watermark).bind(m.report.to_json()).bind(&m.error)
                .bind(Ts::now()).bind(m.switched_at).bind(m.finished_at).bind(owner)
                .execute(c).await?.rows_affected()
        });
        if n == 0 {
            return Err(StoreError::LeaseLost(m.id));
        }
        Ok(())
    }

    /// Takes a move's lease for `ttl_ms` (by the catalog's clock) if nobody
    /// holds it, it ran out, or `holder_gone` (the caller holds the move's
    /// liveness lock, so the recorded holder is not running). True if taken.
    pub async fn claim_move(
        &self,
        id: Uuid,
        owner: &str,
        ttl_ms: i64,
        holder_gone: bool,
    ) -> Result<bool, StoreError> {
        let n = on_pool!(self.0.pool(), c => sqlx::query(sql!(c,
            pg: concat!("UPDATE moves SET owner = $2, lease_until_ms = ", pg_now_ms!(), " + $3
             WHERE id = $1 AND state NOT IN ('done', 'rolled_back')
             AND (owner IS NULL OR owner = $2 OR lease_until_ms < ", pg_now_ms!(), " OR $4)"),
            sqlite: concat!("UPDATE moves SET owner = $2, lease_until_ms = ", sqlite_now_ms!(), " + $3
             WHERE id = $1 AND state NOT IN ('done', 'rolled_back')
             AND (owner IS NULL OR owner = $2 OR lease_until_ms < ", sqlite_now_ms!(), " OR $4)")))
            .bind(id).bind(owner).bind(ttl_ms).bind(holder_gone)
            .execute(c).await?.rows_affected());
        Ok(n == 1)
    }

    /// Extends the lease `owner` holds; false if it no longer holds it or it
    /// ran out (a lease that ran out is lost even if nobody took it yet).
    pub async fn renew_move(&self, id: Uuid, owner: &str, ttl_ms: i64) -> Result<bool, StoreError> {
        let n = on_pool!(self.0.pool(), c => sqlx::query(sql!(c,
            pg: concat!("UPDATE moves SET lease_until_ms = ", pg_now_ms!(), " + $3
                 WHERE id = $1 AND owner = $2 AND lease_until_ms > ", pg_now_ms!()),
            sqlite: concat!("UPDATE moves SET lease_until_ms = ", sqlite_now_ms!(), " + $3
                 WHERE id = $1 AND owner = $2 AND lease_until_ms > ", sqlite_now_ms!())))
            .bind(id).bind(owner).bind(ttl_ms)
            .execute(c).await?.rows_affected());
        Ok(n == 1)
    }

    /// Whether `owner` holds an unexpired lease on the move, by the
    /// catalog's clock.
    pub async fn owns_move(&self, id: Uuid, owner: &str) -> Result<bool, StoreError> {
        Ok(on_pool!(self.0.pool(), c => sqlx::query_scalar(sql!(c,
            pg: concat!("SELECT EXISTS (SELECT 1 FROM moves WHERE id = $1 AND owner = $2 AND lease_until_ms > ", pg_now_ms!(), ")"),
            sqlite: concat!("SELECT EXISTS (SELECT 1 FROM moves WHERE id = $1 AND owner = $2 AND lease_until_ms > ", sqlite_now_ms!(), ")")))
            .bind(id).bind(owner).fetch_one(c).await?))
    }

    /// Gives the lease up (the move ended, or this process stops).
    pub async fn release_move(&self, id: Uuid, owner: &str) -> Result<(), StoreError> {
        on_pool!(self.0.pool(), c => sqlx::query(
            "UPDATE moves SET owner = NULL, lease_until_ms = 0 WHERE id = $1 AND owner = $2")
            .bind(id).bind(owner).execute(c).await?.rows_affected());
        Ok(())
    }

    /// How many moves the catalog holds in each state (states with none
    /// left out).
    pub async fn count_by_state(&self) -> Result<Vec<(String, i64)>, StoreError> {
        Ok(on_pool!(self.0.pool(), c => sqlx::query_as(
            "SELECT state, count(*) FROM moves GROUP BY state").fetch_all(c).await?))
    }

    /// Who holds a move's lease, if anyone.
    pub async fn move_owner(&self, id: Uuid) -> Result<Option<String>, StoreError> {
        Ok(
            on_pool!(self.0.pool(), c => sqlx::query_scalar::<_, Option<String>>(
            "SELECT owner FROM moves WHERE id = $1").bind(id).fetch_optional(c).await?)
            .flatten(),
        )
    }

    /// Asks a running move to stop and roll back; true if it was still
    /// before its switch.
    pub async fn request_cancel(&self, id: Uuid) -> Result<bool, StoreError> {
        let n = on_pool!(self.0.pool(), c => sqlx::query(
            "UPDATE moves SET cancel_requested = true WHERE id = $1 AND state IN ('planned', 'provisioning', 'copying', 'catching_up', 'verifying')")
            .bind(id).execute(c).await?.rows_affected());
        Ok(n == 1)
    }

    pub async fn cancel_requested(&self, id: Uuid) -> Result<bool, StoreError> {
        Ok(
            on_pool!(self.0.pool(), c => sqlx::query_scalar("SELECT cancel_requested FROM moves WHERE id = $1").bind(id).fetch_one(c).await?),
        )
    }

    /// The switch, in one catalog transaction that first checks (and locks)
    /// `owner`'s lease: the tenant points at its new placement with the new
    /// epoch, plan and region, and the move says `switched` (returned: when).
    /// A driver that lost its lease switches nothing; a switch is never made
    /// twice.
    pub async fn switch_move(
        &self,
        m: &MoveRecord,
        owner: &str,
        switch: &Switch<'_>,
    ) -> Result<Ts, StoreError> {
        let now = Ts::now();
        on_pool!(self.0.pool(), pool => {
            let mut tx = match sql!(pool, pg: None, sqlite: Some("BEGIN IMMEDIATE")) {
                Some(stmt) => pool.begin_with(stmt).await?,
                None => pool.begin().await?,
            };
            let held: Option<String> = sqlx::query_scalar(sql!(pool,
                pg: concat!("SELECT state FROM moves WHERE id = $1 AND owner = $2 AND lease_until_ms > ", pg_now_ms!(), " FOR UPDATE"),
                sqlite: concat!("SELECT state FROM moves WHERE id = $1 AND owner = $2 AND lease_until_ms > ", sqlite_now_ms!())))
                .bind(m.id).bind(owner).fetch_optional(&mut *tx).await?;
            if held.is_none() {
                return Err(StoreError::LeaseLost(m.id));
            }
            sqlx::query("UPDATE tenants SET placement_id = $2, epoch = $3, plan = $4, region = $5, updated_at = $6 WHERE id = $1")
                .bind(m.tenant_id).bind(switch.placement).bind(switch.epoch).bind(switch.plan.as_str())
                .bind(switch.region.as_str()).bind(now)
                .execute(&mut *tx).await?;
            sqlx::query("UPDATE moves SET state = 'switched', switched_at = $2, updated_at = $2 WHERE id = $1")
                .bind(m.id).bind(now)
                .execute(&mut *tx).await?;
            tx.commit().await?;
        });
        self.0
            .notify_route_change(TenantId::from_verified(m.tenant_id))
            .await?;
        Ok(now)
    }

    /// Retires a placement a move leaves empty (a dedicated source after
    /// cleanup, or a target made for a move that rolled back), if `owner`
    /// still holds the move's lease and no tenant is on it, in one catalog
    /// transaction under the allocation lock: nothing is placed there after.
    pub async fn retire_placement_for_move(
        &self,
        placement: Uuid,
        move_id: Uuid,
        owner: &str,
    ) -> Result<bool, StoreError> {
        on_pool!(self.0.pool(), pool => {
            let mut tx = match sql!(pool, pg: None, sqlite: Some("BEGIN IMMEDIATE")) {
                Some(stmt) => pool.begin_with(stmt).await?,
                None => pool.begin().await?,
            };
            if fsa_store::db::is_pg(pool) {
                sqlx::query("SELECT pg_advisory_xact_lock(7001)").execute(&mut *tx).await?;
            }
            let held: Option<String> = sqlx::query_scalar(sql!(pool,
                pg: concat!("SELECT state FROM moves WHERE id = $1 AND owner = $2 AND lease_until_ms > ", pg_now_ms!(), " FOR UPDATE"),
                sqlite: concat!("SELECT state FROM moves WHERE id = $1 AND owner = $2 AND lease_until_ms > ", sqlite_now_ms!())))
                .bind(move_id).bind(owner).fetch_optional(&mut *tx).await?;
            if held.is_none() {
                return Err(StoreError::LeaseLost(move_id));
            }
            let n = sqlx::query(
                "UPDATE placements SET state = 'retired' WHERE id = $1 AND NOT EXISTS (SELECT 1 FROM tenants WHERE placement_id = $1)")
                .bind(placement).execute(&mut *tx).await?.rows_affected();
            tx.commit().await?;
            Ok(n == 1)
        })
    }

    /// Puts back a placement whose retirement was refused by what its
    /// database still holds.
    pub async fn unretire_placement(&self, placement: Uuid) -> Result<(), StoreError> {
        on_pool!(self.0.pool(), c => sqlx::query("UPDATE placements SET state = 'ready' WHERE id = $1")
            .bind(placement).execute(c).await?.rows_affected());
        Ok(())
    }
}
