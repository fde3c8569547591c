//! The online tenant move: any placement to any other, on either engine,
//! verified before the switch, with one short write pause (the fence).
//!
//! States, saved in the catalog after every step so a crash resumes or rolls
//! back: `planned → provisioning → copying → catching_up → verifying →
//! fenced → switched → cleaning → done`, and `failed → rolled_back`.
//!
//! - Copy: a barrier (the tenant's write lock taken exclusively for an
//!   instant) gives a watermark `W` (every row of the tenant at or below it
//!   is committed) and a snapshot that shows exactly those rows; the rows are
//!   copied from the snapshot.
//! - Catch up: again, for the rows and tombstones above the previous
//!   watermark, until the delta is small.
//! - Verify: per table, the row count and an order-independent checksum of
//!   canonical rows, source through the last barrier's snapshot, target
//!   directly. A mismatch fails the move before anything switched.
//! - Fence: the write lock exclusively; the last delta is copied and checked
//!   row by row; the source's state row says `moved_out`; the catalog points
//!   the tenant at the target with a new epoch. Work is proportional to the
//!   last delta only. Waiting writers find `moved_out` and retry on the target.
//! - Clean: after the grace period, the tenant's rows leave the source, and
//!   the report records that none remain.

pub mod conn;
pub mod lease;
pub mod rows;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fsa_core::{PlacementKind, Plan, Region, TenantId};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use self::conn::MConn;
use self::lease::{Acquire, MoveLease};
use self::rows::{
    ClientRow, FileRow, PersonnelRow, TABLES, TableRow, TaskRow, UserRow, WorkOrderRow,
};
use crate::catalog::{Placement, Tenant};
use crate::db::Pool;
use crate::error::StoreError;
use crate::moves_catalog::MoveRecord;
use crate::router::Router;
use crate::ts::Ts;

const PAGE: i64 = 2_000;
/// A catch-up pass that copies at most this many rows ends the catching up.
const SMALL_DELTA: u64 = 200;
const MAX_PASSES: usize = 8;
/// The next work order number a target's state row holds until the fence
/// writes the source's (the first work order of a tenant is WO-1000).
const INITIAL_WO_NUMBER: i64 = 1000;

/// Where a move goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Kind(PlacementKind),
    Placement(Uuid),
}

impl Target {
    pub fn parse(s: &str) -> Result<Self, String> {
        if let Ok(k) = s.parse::<PlacementKind>() {
            return Ok(Target::Kind(k));
        }
        s.parse::<Uuid>()
            .map(Target::Placement)
            .map_err(|_| format!("`{s}` is neither shared, pooled, dedicated nor a placement id"))
    }

    fn as_string(&self) -> String {
        match self {
            Target::Kind(k) => k.to_string(),
            Target::Placement(id) => id.to_string(),
        }
    }
}

/// A request to move a tenant.
#[derive(Debug, Clone)]
pub struct MoveRequest {
    pub to: Target,
    pub region: Option<Region>,
    /// How long the source keeps the tenant's rows after the switch.
    pub cleanup_after: Duration,
    pub requested_by: String,
    pub reason: String,
    /// A plan the tenant takes when switched.
    pub plan_after: Option<Plan>,
}

/// Per-table figures of a move.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct TableReport {
    pub rows: u64,
    pub checksum: String,
    pub source_rows: u64,
    pub source_checksum: String,
}

/// What a move did, stored with it in the catalog.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Report {
    pub tables: BTreeMap<String, TableReport>,
    pub bytes: u64,
    pub copy_ms: u64,
    /// Secondary indexes built after the bulk load rather than during it.
    #[serde(default)]
    pub indexes_built_after_load: u32,
    pub catch_up_passes: u32,
    pub catch_up_rows: u64,
    pub verify_ms: u64,
    pub fence_ms: u64,
    pub fence_delta_rows: u64,
    pub requested_by: String,
    pub reason: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cleanup_remaining: Option<BTreeMap<String, i64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rolled_back_because: Option<String>,
    /// The source was the tenant's own database, dropped after cleanup.
    #[serde(default)]
    pub source_dropped: bool,
}

/// Progress of a running move, for progress bars.
pub trait Progress: Send + Sync {
    fn phase(&self, _state: &str) {}
    fn table(&self, _table: &str, _rows: u64) {}
}

struct NoProgress;
impl Progress for NoProgress {}

/// A failure that stops a move; before the switch it rolls the move back.
#[derive(Debug, thiserror::Error)]
pub enum MoveError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("pre-flight: {0}")]
    Preflight(String),
    #[error("verification failed: {0}")]
    Mismatch(String),
    #[error("cancelled")]
    Cancelled,
    #[error("the move is being run by {0}")]
    Owned(String),
}

pub struct Mover {
    router: Arc<Router>,
    progress: Arc<dyn Progress>,
    /// `host:pid:nonce` of this mover, the holder of the leases it takes.
    owner: String,
    hook: Option<PauseHook>,
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "localhost".into())
}

/// This process's name for move leases: host, pid and a nonce. A label for
/// people reading the catalog; whether its process lives is never guessed
/// from it (see [`lease`]).
fn owner_name() -> String {
    let host = hostname();
    let nonce = Uuid::new_v4().simple().to_string();
    format!("{host}:{}:{}", std::process::id(), &nonce[..8])
}

/// A test's hook at the move's pause points (after each saved state, and
/// after the fence committed).
pub type PauseHook =
    Arc<dyn Fn(&'static str) -> futures::future::BoxFuture<'static, ()> + Send + Sync>;

const BEFORE_SWITCH: [&str; 7] = [
    "planned",
    "provisioning",
    "copying",
    "catching_up",
    "verifying",
    "fenced",
    "failed",
];

impl Mover {
    pub fn new(router: Arc<Router>) -> Self {
        Mover {
            router,
            progress: Arc::new(NoProgress),
            owner: owner_name(),
            hook: None,
        }
    }

    async fn reread(&self, id: Uuid) -> Result<MoveRecord, MoveError> {
        self.router
            .catalog()
            .get_move(id)
            .await?
            .ok_or_else(|| MoveError::Preflight(format!("no move {id}")))
    }

    /// Runs `hook` at every pause point (tests).
    pub fn with_pause_hook(mut self, hook: PauseHook) -> Self {
        self.hook = Some(hook);
        self
    }

    async fn pause(&self, point: &'static str) {
        if let Some(h) = &self.hook {
            h(point).await;
        }
        pause_point(point).await;
    }

    pub fn with_progress(mut self, p: Arc<dyn Progress>) -> Self {
        self.progress = p;
        self
    }

    /// Checks a request and records the move as `planned`.
    pub async fn plan(&self, tenant: &Tenant, req: MoveRequest) -> Result<MoveRecord, MoveError> {
        if tenant.state != "active" {
            return Err(MoveError::Preflight(format!(
                "tenant {} is not active",
                tenant.slug
            )));
        }
        let region = req.region.clone().unwrap_or_else(|| tenant.region.clone());
        if let Target::Placement(id) = &req.to {
            let p = self
                .router
                .catalog()
                .placement(*id)
                .await?
                .ok_or_else(|| MoveError::Preflight(format!("no placement {id}")))?;
            if p.id == tenant.placement_id {
                return Err(MoveError::Preflight(
                    "the tenant is already on that placement".into(),
                ));
            }
            if p.state != "ready" {
                return Err(MoveError::Preflight(format!(
                    "placement {} is {}",
                    p.name, p.state
                )));
            }
            if p.kind == PlacementKind::Dedicated
                && self
                    .router
                    .catalog()
                    .tenants_on_placement(p.id, tenant.tenant_id())
                    .await?
                    > 0
            {
                return Err(MoveError::Preflight(format!(
                    "dedicated placement {} already holds a tenant",
                    p.name
                )));
            }
        }
        let now = Ts::now();
        let report = Report {
            requested_by: req.requested_by.clone(),
            reason: req.reason.clone(),
            ..Report::default()
        };
        let m = MoveRecord {
            id: fsa_core::new_id(),
            tenant_id: tenant.id,
            from_placement: tenant.placement_id,
            to_placement: None,
            target: req.to.as_string(),
            target_region: region.to_string(),
            state: "planned".into(),
            cancel_requested: false,
            cleanup_after_ms: req.cleanup_after.as_millis() as i64,
            requested_by: req.requested_by,
            reason: req.reason,
            plan_after: req.plan_after.map(|p| p.to_string()),
            watermark: None,
            report: serde_json::to_string(&report).unwrap_or_default(),
            error: None,
            created_at: now,
            updated_at: now,
            switched_at: None,
            finished_at: None,
        };
        self.router.catalog().insert_move(&m).await?;
        Ok(m)
    }

    /// Runs a move to `done`, or to `rolled_back` when it fails before its
    /// switch. A failure after the switch leaves it to be resumed.
    pub async fn run(&self, id: Uuid) -> Result<MoveRecord, MoveError> {
        self.reread(id).await?;
        let lease = match MoveLease::acquire(self.router.catalog(), id, &self.owner).await {
            Ok(l) => l,
            Err(Acquire::Held(holder)) => return Err(MoveError::Owned(holder)),
            Err(Acquire::Finished) => return self.reread(id).await,
            Err(Acquire::Store(e)) => return Err(e.into()),
        };
        // Another driver may have moved it on while the lease was sought.
        let mut m = match self.reread(id).await {
            Ok(m) => m,
            Err(e) => {
                lease.close().await;
                return Err(e);
            }
        };
        if m.state != "planned" {
            tracing::info!(move.id = %id, state = %m.state, "driving a move from where it stopped");
        }
        let result = self.run_owned(&lease, &mut m).await;
        if m.is_finished() {
            lease.release().await;
        } else {
            lease.close().await;
        }
        result.map(|()| m)
    }

    async fn run_owned(&self, lease: &MoveLease, m: &mut MoveRecord) -> Result<(), MoveError> {
        let m = &mut *m;
        let mut report: Report = serde_json::from_str(&m.report).unwrap_or_default();
        let result = self.drive(lease, m, &mut report).await;
        match result {
            Ok(()) => Ok(()),
            // The lease is gone (taken over, or not renewed in time): the
            // move is whoever holds it now's to finish or roll back.
            Err(e @ MoveError::Store(StoreError::LeaseLost(_))) => {
                tracing::warn!(move.id = %m.id, state = %m.state, "lost the lease of a move; stopped before its next step");
                Err(e)
            }
            Err(e) if BEFORE_SWITCH.contains(&m.state.as_str()) => {
                tracing::warn!(move.id = %m.id, error = %e, state = %m.state, "move failed before its switch; rolling back");
                m.error = Some(e.to_string());
                report.rolled_back_because = Some(e.to_string());
                self.set_state(lease, m, &report, "failed").await?;
                self.rollback(lease, m).await?;
                self.set_state(lease, m, &report, "rolled_back").await?;
                Ok(())
            }
            Err(e) => {
                m.error = Some(e.to_string());
                let _ = self.save(m, &report).await;
                Err(e)
            }
        }
    }

    /// Resumes or rolls back every unfinished move (at start).
    pub async fn resume_all(&self) -> Result<Vec<MoveRecord>, MoveError> {
        let mut out = Vec::new();
        for m in self.router.catalog().open_moves().await? {
            tracing::info!(move.id = %m.id, state = %m.state, "resuming an unfinished move");
            match self.run(m.id).await {
                Ok(m) => out.push(m),
                Err(MoveError::Owned(holder)) => {
                    tracing::info!(move.id = %m.id, %holder, "the move runs in another process; left to it");
                }
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    async fn save(&self, m: &mut MoveRecord, report: &Report) -> Result<(), StoreError> {
        m.report = serde_json::to_string(report).unwrap_or_default();
        self.router.catalog().save_move(m, &self.owner).await
    }

    /// Saves the move's next state; the save checks the lease in its own
    /// statement, so a driver that lost it stops here.
    async fn set_state(
        &self,
        lease: &MoveLease,
        m: &mut MoveRecord,
        report: &Report,
        state: &'static str,
    ) -> Result<(), StoreError> {
        lease.check_flag()?;
        m.state = state.into();
        if matches!(state, "done" | "rolled_back") {
            m.finished_at = Some(Ts::now());
        }
        self.progress.phase(state);
        self.save(m, report).await?;
        self.pause(state).await;
        Ok(())
    }

    async fn check_cancel(&self, m: &MoveRecord) -> Result<(), MoveError> {
        if self.router.catalog().cancel_requested(m.id).await? {
            return Err(MoveError::Cancelled);
        }
        Ok(())
    }

    async fn admin_pool(&self, p: &Placement) -> Result<Pool, StoreError> {
        let server =
            self.router.servers().get(&p.server).ok_or_else(|| {
                StoreError::Config(format!("server {} is not configured", p.server))
            })?;
        server.open_admin_connection_pool(&p.db_name).await
    }

    async fn drive(
        &self,
        lease: &MoveLease,
        m: &mut MoveRecord,
        report: &mut Report,
    ) -> Result<(), MoveError> {
        let catalog = self.router.catalog().clone();
        let tenant = TenantId::from_verified(m.tenant_id);
        let t = tenant.as_uuid();
        let source = catalog
            .placement(m.from_placement)
            .await?
            .ok_or_else(|| MoveError::Preflight("source placement missing".into()))?;

        if m.state == "rolled_back" || m.state == "done" {
            return Ok(());
        }
        if m.state == "failed" {
            return Err(MoveError::Preflight(
                m.error.clone().unwrap_or_else(|| "failed earlier".into()),
            ));
        }
        if m.state == "planned" || m.state == "provisioning" {
            self.set_state(lease, m, report, "provisioning").await?;
            let target = self.resolve_target(m).await?;
            m.to_placement = Some(target.id);
            self.save(m, report).await?;
            if target.id == source.id {
                return Err(MoveError::Preflight(
                    "the tenant is already on that placement".into(),
                ));
            }
            let src_pool = self.admin_pool(&source).await?;
            let dst_pool = self.admin_pool(&target).await?;
            let mut s = MConn::acquire(&src_pool).await?;
            let mut d = MConn::acquire(&dst_pool).await?;
            // Each end must hold the latest schema its engine has: the rows
            // copied are the same then, whatever the engines' version numbers.
            for (end, c) in [("source", &mut s), ("target", &mut d)] {
                let (have, want) = (c.schema_version().await?, c.latest_schema());
                if have != want {
                    return Err(MoveError::Preflight(format!(
                        "the {end} database is at schema version {have}, this fsa expects {want}; run `fsa db migrate`"
                    )));
                }
            }
            // The target must be a ready placement that does not already
            // serve this tenant and, when dedicated, serves nobody else: the
            // catalog and the database itself must both say so, as a
            // database reached under a colliding name would not.
            let fresh = catalog.placement(target.id).await?;
            if fresh.as_ref().is_none_or(|p| p.state != "ready") {
                return Err(MoveError::Preflight(format!(
                    "placement {} is not ready",
                    target.name
                )));
            }
            if target.kind == PlacementKind::Dedicated {
                let others = catalog
                    .tenants_on_placement(target.id, tenant)
                    .await?
                    .max(d.other_tenants(t).await?);
                if others > 0 {
                    return Err(MoveError::Preflight(format!(
                        "dedicated placement {} already holds a tenant",
                        target.name
                    )));
                }
            }
            if let Some((st, _, _)) = d.state(t).await?
                && st == "active"
            {
                return Err(MoveError::Preflight(format!(
                    "placement {} already holds the tenant as active",
                    target.name
                )));
            }
            // Only a tenant active at the source moves.
            let epoch = match s.state(t).await? {
                Some((st, epoch, _)) if st == "active" => epoch,
                other => {
                    return Err(MoveError::Preflight(format!(
                        "the source holds the tenant in state {other:?}"
                    )));
                }
            };
            // Leftovers of an earlier attempt go first.
            clear_tenant(&mut d, t).await?;
            d.put_state(t, "moving_in", epoch, INITIAL_WO_NUMBER)
                .await?;
            drop((s, d));
            src_pool.close().await;
            dst_pool.close().await;
            self.check_cancel(m).await?;
            self.set_state(lease, m, report, "copying").await?;
        }
        let target = catalog
            .placement(
                m.to_placement
                    .ok_or_else(|| MoveError::Preflight("no target placement".into()))?,
            )
            .await?
            .ok_or_else(|| MoveError::Preflight("target placement missing".into()))?;
        let src_pool = self.admin_pool(&source).await?;
        let dst_pool = self.admin_pool(&target).await?;
        let result = self
            .drive_copy(
                lease, m, report, tenant, &source, &target, &src_pool, &dst_pool,
            )
            .await;
        src_pool.close().await;
        dst_pool.close().await;
        result
    }

    #[allow(clippy::too_many_arguments)]
    async fn drive_copy(
        &self,
        lease: &MoveLease,
        m: &mut MoveRecord,
        report: &mut Report,
        tenant: TenantId,
        source: &Placement,
        target: &Placement,
        src_pool: &Pool,
        dst_pool: &Pool,
    ) -> Result<(), MoveError> {
        let t = tenant.as_uuid();
        if matches!(m.state.as_str(), "copying" | "catching_up" | "verifying") {
            // A copy is redone from the start when resumed: cheap to reason about.
            let mut d = MConn::acquire(dst_pool).await?;
            d.restore_indexes().await?;
            clear_tenant(&mut d, t).await?;
            let mut s = MConn::acquire(src_pool).await?;
            let epoch = s.state(t).await?.map_or(1, |x| x.1);
            d.put_state(t, "moving_in", epoch, INITIAL_WO_NUMBER)
                .await?;
            drop((s, d));
            if m.state != "copying" {
                self.set_state(lease, m, report, "copying").await?;
            }

            let started = Instant::now();
            let (mut snap, w0) = barrier(src_pool, t).await?;
            let mut d = MConn::acquire(dst_pool).await?;
            // Into a database of its own, secondary indexes are built once
            // after the bulk load instead of row by row during it.
            report.indexes_built_after_load = d.defer_indexes(t).await? as u32;
            let copied = copy_pass(&mut snap, &mut d, t, 0, Pass::Bulk, &*self.progress).await;
            let restored = d.restore_indexes().await;
            let copied = copied?;
            restored?;
            snap.commit().await?;
            report.bytes = copied.bytes;
            report.copy_ms = started.elapsed().as_millis() as u64;
            m.watermark = Some(w0);
            self.check_cancel(m).await?;
            self.set_state(lease, m, report, "catching_up").await?;

            let mut w = w0;
            let mut passes = 0;
            let (mut snap, wn) = loop {
                let (mut snap, wi) = barrier(src_pool, t).await?;
                let n = copy_pass(&mut snap, &mut d, t, w, Pass::Delta, &*self.progress).await?;
                passes += 1;
                report.catch_up_rows += n.rows;
                report.bytes += n.bytes;
                if n.rows <= SMALL_DELTA || passes >= MAX_PASSES {
                    break (snap, wi);
                }
                snap.commit().await?;
                w = wi;
            };
            report.catch_up_passes = passes as u32;
            m.watermark = Some(wn);
            self.check_cancel(m).await?;
            self.set_state(lease, m, report, "verifying").await?;

            let started = Instant::now();
            let verified = verify(&mut snap, &mut d, t).await;
            snap.commit().await?;
            report.tables = verified?;
            report.verify_ms = started.elapsed().as_millis() as u64;
            if let Some((table, r)) = report
                .tables
                .iter()
                .find(|(_, r)| r.rows != r.source_rows || r.checksum != r.source_checksum)
            {
                return Err(MoveError::Mismatch(format!(
                    "{table}: source {} rows ({}), target {} rows ({})",
                    r.source_rows, r.source_checksum, r.rows, r.checksum
                )));
            }
            // What changed while the verification ran is copied and checked
            // row by row in snapshots of its own, so the fence has little left.
            let mut w = m.watermark.unwrap_or(0);
            for _ in 0..MAX_PASSES {
                let (mut snap, wi) = barrier(src_pool, t).await?;
                let n = copy_pass(&mut snap, &mut d, t, w, Pass::CheckedDelta, &NoProgress).await;
                snap.commit().await?;
                let n = n?.rows;
                report.catch_up_passes += 1;
                report.catch_up_rows += n;
                w = wi;
                m.watermark = Some(w);
                if n <= SMALL_DELTA {
                    break;
                }
            }
            self.check_cancel(m).await?;
            self.set_state(lease, m, report, "fenced").await?;
            let w = m.watermark.unwrap_or(0);
            let fence = fence(lease, src_pool, dst_pool, t, w).await;
            let (epoch, delta_rows, started) = fence?;
            self.pause("fence-committed").await;
            self.switch(lease, m, tenant, target, epoch).await?;
            report.fence_ms = started.elapsed().as_millis() as u64;
            report.fence_delta_rows = delta_rows;
            self.save(m, report).await?;
            self.pause("switched").await;
            tracing::info!(move.id = %m.id, tenant.id = %tenant, move.fence_ms = report.fence_ms, from = %source.name, to = %target.name, "tenant switched");
        }
        if m.state == "fenced" {
            // Resumed after a crash inside the fence, or taken over from a
            // driver that stopped there. The source's state row, read under
            // the tenant's write lock (so a fence still running elsewhere has
            // either committed or not begun), tells whether the fence
            // committed.
            let mut s = MConn::acquire(src_pool).await?;
            s.begin_exclusive(t).await?;
            let state = s.state(t).await;
            s.rollback().await?;
            match state? {
                Some((st, epoch, _)) if st == "moved_out" => {
                    self.switch(lease, m, tenant, target, epoch).await?;
                    self.pause("switched").await;
                }
                _ => {
                    return Err(MoveError::Preflight(
                        "interrupted inside the fence before it committed".into(),
                    ));
                }
            }
        }
        if m.state == "switched" || m.state == "cleaning" {
            self.set_state(lease, m, report, "cleaning").await?;
            let due = m.switched_at.map(|s| s.0).unwrap_or_else(chrono::Utc::now)
                + chrono::Duration::milliseconds(m.cleanup_after_ms);
            let wait = (due - chrono::Utc::now()).to_std().unwrap_or_default();
            if !wait.is_zero() {
                tokio::time::sleep(wait).await;
            }
            let server = self.router.servers().get(&source.server).ok_or_else(|| {
                StoreError::Config(format!("server {} is not configured", source.server))
            })?;
            // A dedicated source already dropped by an interrupted cleanup
            // holds nothing of the tenant.
            let dedicated = source.kind == PlacementKind::Dedicated;
            if !dedicated || server.database_exists(&source.db_name).await? {
                lease.ensure().await?;
                let mut s = MConn::acquire(src_pool).await?;
                // Only a source that knows the tenant left is emptied.
                if let Some((st, _, _)) = s.state(t).await?
                    && st != "moved_out"
                {
                    return Err(MoveError::Mismatch(format!(
                        "the source holds the tenant as {st}; it is not cleaned"
                    )));
                }
                clear_tenant(&mut s, t).await?;
                let mut remaining = BTreeMap::new();
                for table in TABLES.iter().chain(&["tombstones", "tenant_state"]) {
                    remaining.insert((*table).to_owned(), s.count(table, t).await?);
                }
                drop(s);
                let left: i64 = remaining.values().sum();
                report.cleanup_remaining = Some(remaining);
                if left != 0 {
                    self.save(m, report).await?;
                    return Err(MoveError::Mismatch(format!(
                        "{left} rows of the tenant remain at the source"
                    )));
                }
            }
            if dedicated {
                // The tenant's own database is empty now: drop it, after a
                // route lifetime since the switch so that no process still
                // routes a request there, and retire its placement.
                let ttl = chrono::Duration::from_std(self.router.settings().route_ttl)
                    .unwrap_or_default();
                let due = m.switched_at.map(|s| s.0).unwrap_or_else(chrono::Utc::now) + ttl;
                if let Ok(wait) = (due - chrono::Utc::now()).to_std() {
                    tokio::time::sleep(wait).await;
                }
                self.drop_emptied(lease, m, source, src_pool).await?;
                report.source_dropped = true;
            }
            self.set_state(lease, m, report, "done").await?;
        }
        Ok(())
    }

    /// The switch: the catalog points the tenant at the target with the
    /// fence's epoch, a plan change that needed this move takes effect, the
    /// region follows the target, and the move says `switched`; one catalog
    /// transaction that checks the lease.
    async fn switch(
        &self,
        lease: &MoveLease,
        m: &mut MoveRecord,
        tenant: TenantId,
        target: &Placement,
        epoch: i64,
    ) -> Result<(), StoreError> {
        lease.check_flag()?;
        let catalog = self.router.catalog();
        let t = catalog
            .tenant_by_id(tenant)
            .await?
            .ok_or_else(|| StoreError::UnknownTenant(tenant.to_string()))?;
        let plan = m
            .plan_after
            .as_deref()
            .and_then(|p| p.parse().ok())
            .unwrap_or(t.plan);
        let region = Region::parse(&m.target_region).unwrap_or(t.region);
        let switch = crate::moves_catalog::Switch {
            placement: target.id,
            epoch,
            plan,
            region: &region,
        };
        let at = catalog.switch_move(m, lease.owner(), &switch).await?;
        self.router.invalidate(tenant);
        m.state = "switched".into();
        m.switched_at = Some(at);
        self.progress.phase("switched");
        Ok(())
    }

    /// Drops the database a tenant moved out of, if it holds nobody else:
    /// its placement is retired first (under the catalog's allocation lock,
    /// with the lease checked, and only with no tenant on it), so nothing can
    /// be placed there any more; then the database itself must show no
    /// tenant's state row. Either check failing keeps the database.
    async fn drop_emptied(
        &self,
        lease: &MoveLease,
        m: &MoveRecord,
        source: &Placement,
        src_pool: &Pool,
    ) -> Result<(), MoveError> {
        let catalog = self.router.catalog();
        let server = self.router.servers().get(&source.server).ok_or_else(|| {
            StoreError::Config(format!("server {} is not configured", source.server))
        })?;
        lease.ensure().await?;
        if source.state != "retired"
            && !catalog
                .retire_placement_for_move(source.id, m.id, lease.owner())
                .await?
        {
            return Err(MoveError::Mismatch(format!(
                "placement {} still holds tenants; its database is kept",
                source.name
            )));
        }
        if server.database_exists(&source.db_name).await? {
            let mut s = MConn::acquire(src_pool).await?;
            let others = s.tenants_present().await?;
            drop(s);
            if others > 0 {
                catalog.unretire_placement(source.id).await?;
                return Err(MoveError::Mismatch(format!(
                    "database {} holds {others} other tenants; it is kept",
                    source.db_name
                )));
            }
        }
        src_pool.close().await;
        self.router.close_placement(source.id).await;
        lease.ensure().await?;
        server.drop_database(&source.db_name).await?;
        Ok(())
    }

    /// The target placement of a planned move: named, or chosen by policy
    /// (and provisioned when new).
    async fn resolve_target(&self, m: &MoveRecord) -> Result<Placement, MoveError> {
        let catalog = self.router.catalog();
        if let Some(id) = m.to_placement {
            return catalog
                .placement(id)
                .await?
                .ok_or_else(|| MoveError::Preflight("target placement missing".into()));
        }
        match Target::parse(&m.target).map_err(MoveError::Preflight)? {
            Target::Placement(id) => catalog
                .placement(id)
                .await?
                .ok_or_else(|| MoveError::Preflight(format!("no placement {id}"))),
            Target::Kind(kind) => {
                let region = Region::parse(&m.target_region)
                    .map_err(|e| MoveError::Preflight(e.to_string()))?;
                let server = self.router.servers().for_region(&region).clone();
                let slug = catalog
                    .tenant_by_id(TenantId::from_verified(m.tenant_id))
                    .await?
                    .map(|t| t.slug)
                    .unwrap_or_default();
                let alloc = catalog
                    .placement_for_move(
                        kind,
                        &region,
                        &slug,
                        &server,
                        self.router.settings().pooled_capacity,
                    )
                    .await?;
                if alloc.is_new {
                    let made = server
                        .provision(&alloc.placement.db_name, alloc.placement.id)
                        .await;
                    if let Err(e @ StoreError::DatabaseTaken { .. }) = made {
                        catalog.retire_unprovisioned(alloc.placement.id).await?;
                        return Err(e.into());
                    }
                    made?;
                    catalog.placement_ready(alloc.placement.id).await?;
                }
                if alloc.placement.id == m.from_placement {
                    return Err(MoveError::Preflight(format!(
                        "the tenant is already on the {kind} placement of {region}"
                    )));
                }
                Ok(alloc.placement)
            }
        }
    }

    /// Undoes a move that did not switch: the source is left as it was, the
    /// target loses every row of the tenant, and a dedicated placement made
    /// for the move is dropped.
    async fn rollback(&self, lease: &MoveLease, m: &mut MoveRecord) -> Result<(), StoreError> {
        let catalog = self.router.catalog();
        let t = m.tenant_id;
        lease.ensure().await?;
        let routed_to = catalog
            .tenant_by_id(TenantId::from_verified(t))
            .await?
            .map(|x| x.placement_id);
        if let Some(src) = catalog.placement(m.from_placement).await? {
            // A fence that committed its source side but not the switch.
            // Under the tenant's write lock, so a fence of another driver is
            // seen whole or not at all.
            let pool = self.admin_pool(&src).await?;
            let mut s = MConn::acquire(&pool).await?;
            s.begin_exclusive(t).await?;
            let reset = async {
                if let Some((st, epoch, next)) = s.state(t).await?
                    && st != "active"
                    && routed_to == Some(src.id)
                {
                    s.put_state(t, "active", epoch, next).await?;
                }
                Ok::<_, StoreError>(())
            }
            .await;
            match reset {
                Ok(()) => s.commit().await?,
                Err(e) => {
                    let _ = s.rollback().await;
                    return Err(e);
                }
            }
            drop(s);
            pool.close().await;
        }
        let Some(to) = m.to_placement else {
            return Ok(());
        };
        let Some(target) = catalog.placement(to).await? else {
            return Ok(());
        };
        if routed_to == Some(target.id) {
            // The tenant lives there: a rollback never empties it.
            return Err(StoreError::Config(format!(
                "move {} cannot roll back: the tenant is served from its target",
                m.id
            )));
        }
        if let Ok(pool) = self.admin_pool(&target).await {
            lease.ensure().await?;
            let mut d = MConn::acquire(&pool).await?;
            d.restore_indexes().await?;
            clear_tenant(&mut d, t).await?;
            drop(d);
            pool.close().await;
        }
        if target.kind == PlacementKind::Dedicated
            && catalog
                .retire_placement_for_move(target.id, m.id, lease.owner())
                .await?
            && let Some(server) = self.router.servers().get(&target.server)
        {
            server.drop_database(&target.db_name).await.ok();
        }
        Ok(())
    }
}

/// A fault-injection point for the crash tests: when `FSA_MOVE_PAUSE_AT`
/// names this point, the mover writes `<FSA_MOVE_PAUSE_FILE>` and stops here
/// until its process is killed. Unset in production, it costs one lookup.
async fn pause_point(point: &str) {
    if std::env::var("FSA_MOVE_PAUSE_AT").is_ok_and(|p| p == point) {
        if let Ok(file) = std::env::var("FSA_MOVE_PAUSE_FILE") {
            let _ = std::fs::write(file, point);
        }
        tracing::warn!(point, "move paused by FSA_MOVE_PAUSE_AT");
        std::future::pending::<()>().await;
    }
}

/// Takes the tenant's write lock for an instant: returns a snapshot that
/// shows exactly the tenant's rows at or below the returned watermark.
async fn barrier(src: &Pool, tenant: Uuid) -> Result<(MConn, i64), StoreError> {
    let mut lock = MConn::acquire(src).await?;
    lock.begin_exclusive(tenant).await?;
    let mut snap = MConn::acquire(src).await?;
    let taken = snap.begin_snapshot().await;
    let w = lock.counter().await;
    lock.commit().await?;
    taken?;
    Ok((snap, w?))
}

#[derive(Default)]
struct Copied {
    rows: u64,
    bytes: u64,
}

/// Copies the tenant's rows above `above` from the snapshot to the target;
/// with `delta`, also applies tombstones, all in one target transaction whose
/// What a copy pass does.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Pass {
    /// Every row of the snapshot (binary COPY between PostgreSQL databases).
    Bulk,
    /// The rows above a watermark and the tombstones, in one target
    /// transaction whose foreign keys are checked at commit.
    Delta,
    /// A delta that, before it commits, also checks each row it wrote and
    /// each row it deleted against the target: nothing is read twice.
    CheckedDelta,
}

/// Copies the tenant's rows above `above` from the snapshot to the target.
async fn copy_pass(
    src: &mut MConn,
    dst: &mut MConn,
    tenant: Uuid,
    above: i64,
    pass: Pass,
    progress: &dyn Progress,
) -> Result<Copied, MoveError> {
    let mut out = Copied::default();
    let delta = pass != Pass::Bulk;
    let check = pass == Pass::CheckedDelta;
    if delta {
        begin_deferred(dst).await?;
    }
    let result = async {
        if delta {
            let mut stones = src.tombstones(tenant, above).await?;
            stones.sort_by_key(|(table, _)| {
                std::cmp::Reverse(TABLES.iter().position(|t| t == table))
            });
            for (table, id) in &stones {
                dst.delete_row(table, tenant, *id).await?;
            }
            out.rows += stones.len() as u64;
            if check {
                check_deleted::<UserRow>(dst, tenant, &stones).await?;
                check_deleted::<ClientRow>(dst, tenant, &stones).await?;
                check_deleted::<PersonnelRow>(dst, tenant, &stones).await?;
                check_deleted::<WorkOrderRow>(dst, tenant, &stones).await?;
                check_deleted::<TaskRow>(dst, tenant, &stones).await?;
                check_deleted::<FileRow>(dst, tenant, &stones).await?;
            }
        }
        out.add(copy_table::<UserRow>(src, dst, tenant, above, check, progress).await?);
        out.add(copy_table::<ClientRow>(src, dst, tenant, above, check, progress).await?);
        out.add(copy_table::<PersonnelRow>(src, dst, tenant, above, check, progress).await?);
        out.add(copy_table::<WorkOrderRow>(src, dst, tenant, above, check, progress).await?);
        out.add(copy_table::<TaskRow>(src, dst, tenant, above, check, progress).await?);
        out.add(copy_table::<FileRow>(src, dst, tenant, above, check, progress).await?);
        Ok::<_, MoveError>(())
    }
    .await;
    if delta {
        match result {
            Ok(()) => dst.commit().await?,
            Err(e) => {
                let _ = dst.rollback().await;
                return Err(e);
            }
        }
    } else {
        result?;
    }
    Ok(out)
}

impl Copied {
    fn add(&mut self, c: Copied) {
        self.rows += c.rows;
        self.bytes += c.bytes;
    }
}

async fn begin_deferred(c: &mut MConn) -> Result<(), StoreError> {
    match c {
        MConn::Pg(_) => {
            c.exec("BEGIN").await?;
            c.exec("SET CONSTRAINTS ALL DEFERRED").await
        }
        MConn::Sqlite(_) => {
            c.exec("BEGIN IMMEDIATE").await?;
            c.exec("PRAGMA defer_foreign_keys = ON").await
        }
    }
}

async fn copy_table<R: TableRow>(
    src: &mut MConn,
    dst: &mut MConn,
    tenant: Uuid,
    above: i64,
    check: bool,
    progress: &dyn Progress,
) -> Result<Copied, MoveError> {
    if above == 0 && MConn::both_pg(src, dst) {
        // The bulk copy between PostgreSQL databases streams binary COPY.
        let (rows, bytes) = src.copy_binary::<R>(dst, tenant).await?;
        progress.table(R::TABLE, rows);
        return Ok(Copied { rows, bytes });
    }
    let mut out = Copied::default();
    let mut above = above;
    loop {
        let rows: Vec<R> = src.page(tenant, above, PAGE).await?;
        let Some(last) = rows.last() else { break };
        above = last.row_version();
        dst.upsert(&rows).await?;
        if check {
            check_written(dst, tenant, &rows).await?;
        }
        out.rows += rows.len() as u64;
        out.bytes += rows.iter().map(TableRow::size).sum::<u64>();
        progress.table(R::TABLE, out.rows);
        if (rows.len() as i64) < PAGE {
            break;
        }
    }
    Ok(out)
}

/// Count and order-independent checksum of the tenant's rows of one table.
async fn digest_table<R: TableRow>(c: &mut MConn, tenant: Uuid) -> Result<(u64, u64), StoreError> {
    let (mut n, mut sum) = (0u64, 0u64);
    let mut above = 0;
    loop {
        let rows: Vec<R> = c.page(tenant, above, PAGE).await?;
        let Some(last) = rows.last() else { break };
        above = last.row_version();
        for r in &rows {
            n += 1;
            sum = sum.wrapping_add(r.digest());
        }
        if (rows.len() as i64) < PAGE {
            break;
        }
    }
    Ok((n, sum))
}

/// Row count and checksum of one table at both ends: computed by PostgreSQL
/// itself when both ends are PostgreSQL, else over the canonical rows in Rust.
async fn verify_table<R: TableRow>(
    src: &mut MConn,
    dst: &mut MConn,
    tenant: Uuid,
) -> Result<TableReport, StoreError> {
    if MConn::both_pg(src, dst) {
        let (sn, ss) = src.sql_digest::<R>(tenant).await?;
        let (dn, ds) = dst.sql_digest::<R>(tenant).await?;
        return Ok(TableReport {
            rows: dn,
            checksum: ds,
            source_rows: sn,
            source_checksum: ss,
        });
    }
    let (sn, ss) = digest_table::<R>(src, tenant).await?;
    let (dn, ds) = digest_table::<R>(dst, tenant).await?;
    Ok(TableReport {
        rows: dn,
        checksum: format!("{ds:016x}"),
        source_rows: sn,
        source_checksum: format!("{ss:016x}"),
    })
}

async fn verify(
    src: &mut MConn,
    dst: &mut MConn,
    tenant: Uuid,
) -> Result<BTreeMap<String, TableReport>, StoreError> {
    let mut out = BTreeMap::new();
    out.insert(
        "users".into(),
        verify_table::<UserRow>(src, dst, tenant).await?,
    );
    out.insert(
        "clients".into(),
        verify_table::<ClientRow>(src, dst, tenant).await?,
    );
    out.insert(
        "personnel".into(),
        verify_table::<PersonnelRow>(src, dst, tenant).await?,
    );
    out.insert(
        "work_orders".into(),
        verify_table::<WorkOrderRow>(src, dst, tenant).await?,
    );
    out.insert(
        "tasks".into(),
        verify_table::<TaskRow>(src, dst, tenant).await?,
    );
    out.insert(
        "file_metadata".into(),
        verify_table::<FileRow>(src, dst, tenant).await?,
    );
    Ok(out)
}

/// Checks that the target now holds exactly these source rows: the
/// target's rows of the same ids, fetched in one query, hash the same.
async fn check_written<R: TableRow>(
    dst: &mut MConn,
    tenant: Uuid,
    rows: &[R],
) -> Result<(), MoveError> {
    let ids: Vec<Uuid> = rows.iter().map(TableRow::id).collect();
    let theirs: HashMap<Uuid, u64> = dst
        .many::<R>(tenant, &ids)
        .await?
        .iter()
        .map(|r| (r.id(), r.digest()))
        .collect();
    match rows
        .iter()
        .find(|r| theirs.get(&r.id()) != Some(&r.digest()))
    {
        Some(r) => Err(MoveError::Mismatch(format!(
            "{} row {} differs after the last delta",
            R::TABLE,
            r.id()
        ))),
        None => Ok(()),
    }
}

/// Checks that no row of `R`'s table deleted at the source is at the target.
async fn check_deleted<R: TableRow>(
    dst: &mut MConn,
    tenant: Uuid,
    stones: &[(String, Uuid)],
) -> Result<(), MoveError> {
    let ids: Vec<Uuid> = stones
        .iter()
        .filter(|(t, _)| t == R::TABLE)
        .map(|(_, id)| *id)
        .collect();
    if ids.is_empty() {
        return Ok(());
    }
    if let Some(r) = dst.many::<R>(tenant, &ids).await?.first() {
        return Err(MoveError::Mismatch(format!(
            "{} row {} was deleted at the source but is at the target",
            R::TABLE,
            r.id()
        )));
    }
    Ok(())
}

/// The fence. Returns the new epoch, the rows of the last delta, and when
/// the write pause began.
async fn fence(
    lease: &MoveLease,
    src_pool: &Pool,
    dst_pool: &Pool,
    tenant: Uuid,
    w: i64,
) -> Result<(i64, u64, Instant), MoveError> {
    let mut lock = MConn::acquire(src_pool).await?;
    let mut dst = MConn::acquire(dst_pool).await?;
    let started = Instant::now();
    lock.begin_exclusive(tenant).await?;
    let inner = async {
        let (state, epoch, next_no) = lock
            .state(tenant)
            .await?
            .ok_or_else(|| MoveError::Preflight("the source lost the tenant's state row".into()))?;
        if state != "active" {
            return Err(MoveError::Preflight(format!(
                "the source holds the tenant as {state}"
            )));
        }
        let copied = copy_pass(
            &mut lock,
            &mut dst,
            tenant,
            w,
            Pass::CheckedDelta,
            &NoProgress,
        )
        .await?
        .rows;
        let new_epoch = epoch + 1;
        dst.put_state(tenant, "active", new_epoch, next_no).await?;
        lock.put_state(tenant, "moved_out", new_epoch, next_no)
            .await?;
        // The last look at the lease before the source says `moved_out`; a
        // successor reads that row under this same lock, after this commit.
        lease.ensure().await?;
        Ok((new_epoch, copied))
    }
    .await;
    match inner {
        Ok((epoch, rows)) => {
            lock.commit().await?;
            Ok((epoch, rows, started))
        }
        Err(e) => {
            // The target must not look ready; set while the tenant's lock is
            // still held, so no later fence can have made it so. After a lost
            // lease the target is the successor's to set.
            if !matches!(e, MoveError::Store(StoreError::LeaseLost(_)))
                && let Ok(Some((_, epoch, _))) = dst.state(tenant).await
            {
                let _ = dst
                    .put_state(tenant, "moving_in", epoch, INITIAL_WO_NUMBER)
                    .await;
            }
            let _ = lock.rollback().await;
            Err(e)
        }
    }
}

/// Deletes every row of the tenant from a placement, children first, then
/// the tombstones that made, then its state row.
async fn clear_tenant(c: &mut MConn, tenant: Uuid) -> Result<(), StoreError> {
    for table in TABLES.iter().rev().chain(&["tombstones"]) {
        while c.delete_batch(table, tenant, 20_000).await? > 0 {}
    }
    c.delete_state(tenant).await
}
