//! The phases of a move, one module each, in the order they run:
//!
//! | state | module | what it does |
//! |---|---|---|
//! | `planned`, `provisioning` | [`preflight`] | checks the request; chooses (and creates) the target; checks both ends |
//! | `copying` | [`copy`] | the bulk copy from a snapshot of the source |
//! | `catching_up` | [`catch_up`] | copy passes over what changed since |
//! | `verifying` | [`verify`] | counts and checksums of both sides, then checked deltas |
//! | `fenced` | [`fence`] | the write pause: the last delta, `moved_out`, the switch |
//! | `switched`, `cleaning` | [`cleanup`] | the source loses the tenant after the grace period |
//! | `failed` | [`rollback`] | the target loses what was copied; the source serves on |
//!
//! Each phase takes the move's [`Run`] and returns the state the move goes
//! to next; [`crate::mover`]'s loop strings them together. [`pass`] is the
//! copy pass the copy, catch-up, verify and fence phases share.

pub mod catch_up;
pub mod cleanup;
pub mod copy;
pub mod fence;
pub mod pass;
pub mod preflight;
pub mod rollback;
pub mod switch;
pub mod verify;

use fsa_core::TenantId;
use fsa_store::StoreError;
use fsa_store::catalog::Placement;
use fsa_store::db::Pool;
use fsa_store::ts::Ts;
use uuid::Uuid;

use crate::context::Context;
use crate::endpoint::Endpoint;
use crate::error::MoveError;
use crate::lease::MoveLease;
use crate::ledger::{Ledger, MoveRecord};
use crate::objects::{self, CONCURRENCY, Objects};
use crate::state::MoveState;

/// The next work order number a target's state row holds until the fence
/// writes the source's (the first work order of a tenant is WO-1000).
pub(crate) const INITIAL_WO_NUMBER: i64 = 1000;

/// What a copy carries from one phase to the next inside one run: the
/// target connection and the snapshot of the last pass. A run resumed in
/// `catching_up` or `verifying` has none, and copies again from the start.
pub(crate) struct Carry {
    pub dst: Endpoint,
    pub snap: Option<Endpoint>,
}

#[derive(Clone, Copy)]
enum End {
    Source,
    Target,
}

impl End {
    fn missing(self) -> &'static str {
        match self {
            End::Source => "source placement missing",
            End::Target => "target placement missing",
        }
    }
}

/// What a pass over the tenant's objects does besides copying the missing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ObjectPass {
    /// Copy only (the bulk copy, catch-up).
    Copy,
    /// Before the fence: drop copies whose rows are gone, then read every
    /// object back against its row's SHA-256.
    Verify,
    /// After the switch: read the new copies back, but drop nothing: the
    /// tenant's uploads now go to the target store, an object before its row.
    Settle,
}

/// One driver's run of one move: the move, its lease, its two ends.
pub(crate) struct Run<'a> {
    pub cx: &'a Context,
    pub lease: &'a MoveLease,
    pub m: &'a mut MoveRecord,
    source: Option<Placement>,
    target: Option<Placement>,
    src_pool: Option<Pool>,
    dst_pool: Option<Pool>,
    pub carry: Option<Carry>,
    /// The fence follows a verification made by this run.
    pub verified: bool,
    /// The tenant's file objects, when the move changes its store; opened
    /// once per run.
    objects: Option<Objects>,
    objects_opened: bool,
}

impl<'a> Run<'a> {
    pub fn new(cx: &'a Context, lease: &'a MoveLease, m: &'a mut MoveRecord) -> Self {
        Run {
            cx,
            lease,
            m,
            source: None,
            target: None,
            src_pool: None,
            dst_pool: None,
            carry: None,
            verified: false,
            objects: None,
            objects_opened: false,
        }
    }

    pub fn tenant(&self) -> TenantId {
        TenantId::from_verified(self.m.tenant_id)
    }

    pub fn t(&self) -> Uuid {
        self.m.tenant_id
    }

    /// The placement the tenant moves from.
    pub async fn source(&mut self) -> Result<Placement, MoveError> {
        self.placement(End::Source).await
    }

    /// The placement the tenant moves to, once chosen.
    pub async fn target(&mut self) -> Result<Placement, MoveError> {
        self.placement(End::Target).await
    }

    /// An owner's pool on the source database.
    pub async fn src_pool(&mut self) -> Result<Pool, MoveError> {
        self.pool(End::Source).await
    }

    /// An owner's pool on the target database.
    pub async fn dst_pool(&mut self) -> Result<Pool, MoveError> {
        self.pool(End::Target).await
    }

    async fn placement(&mut self, end: End) -> Result<Placement, MoveError> {
        let missing = || MoveError::Inconsistent(end.missing());
        let slot = match end {
            End::Source => &mut self.source,
            End::Target => &mut self.target,
        };
        if let Some(p) = slot {
            return Ok(p.clone());
        }
        let id = match end {
            End::Source => Some(self.m.from_placement),
            End::Target => self.m.to_placement,
        }
        .ok_or(MoveError::Inconsistent("no target placement"))?;
        let p = self
            .cx
            .router()
            .catalog()
            .placement(id)
            .await?
            .ok_or_else(missing)?;
        *slot = Some(p.clone());
        Ok(p)
    }

    async fn pool(&mut self, end: End) -> Result<Pool, MoveError> {
        let open = match end {
            End::Source => &self.src_pool,
            End::Target => &self.dst_pool,
        };
        if let Some(p) = open {
            return Ok(p.clone());
        }
        let placement = self.placement(end).await?;
        let p = self.cx.admin_pool(&placement).await?;
        *match end {
            End::Source => &mut self.src_pool,
            End::Target => &mut self.dst_pool,
        } = Some(p.clone());
        Ok(p)
    }

    /// Closes what the run opened (before a rollback, which opens its own).
    pub async fn close(&mut self) {
        self.carry = None;
        for pool in [self.src_pool.take(), self.dst_pool.take()]
            .into_iter()
            .flatten()
        {
            pool.close().await;
        }
    }

    /// Closes the source pool only (its database is about to be dropped).
    pub async fn close_source(&mut self) {
        if let Some(pool) = self.src_pool.take() {
            pool.close().await;
        }
    }

    /// The tenant's objects, if the move changes their store. `decide`:
    /// the stores may be chosen now (before the switch) rather than read
    /// from the report.
    async fn open_objects(&mut self, decide: bool) -> Result<bool, MoveError> {
        if self.objects_opened {
            return Ok(self.objects.is_some());
        }
        let Some(files) = self.cx.files.clone() else {
            self.objects_opened = true;
            return Ok(false);
        };
        if self.m.report.files.is_none() && decide {
            let t = self
                .cx
                .router()
                .catalog()
                .tenant_by_id(self.tenant())
                .await?
                .ok_or_else(|| StoreError::UnknownTenant(self.t().to_string()))?;
            let after = self
                .m
                .plan_after
                .as_deref()
                .and_then(|p| p.parse().ok())
                .unwrap_or(t.plan);
            self.m.report.files = Objects::stores_for(&files, t.plan, after);
            self.save().await?;
        }
        self.objects = match &self.m.report.files {
            Some(r) => Some(Objects::open(files, self.t(), r).await?),
            None => None,
        };
        self.objects_opened = true;
        Ok(self.objects.is_some())
    }

    /// Carries to the target store the objects the target's rows (read
    /// through `d`) name and it lacks, then does what `pass` adds. A no-op
    /// when the move does not change the tenant's store.
    pub async fn sync_objects(
        &mut self,
        d: &mut Endpoint,
        pass: ObjectPass,
    ) -> Result<(), MoveError> {
        // The stores are chosen only before the switch, from the plan the
        // tenant still has.
        if !self.open_objects(self.m.state.before_switch()).await? {
            return Ok(());
        }
        let rows = objects::rows(d, self.t()).await?;
        let (Some(o), Some(r)) = (self.objects.as_mut(), self.m.report.files.as_mut()) else {
            return Ok(());
        };
        // A first few, then a pause point (the crash tests stop here, in the
        // middle of the objects), then the rest.
        let first = o.copy_missing(&rows, CONCURRENCY, r).await?;
        if first > 0 {
            self.cx.progress().table("file objects", r.copied);
            self.cx.pause("copying-objects").await;
        }
        let (Some(o), Some(r)) = (self.objects.as_mut(), self.m.report.files.as_mut()) else {
            return Ok(());
        };
        o.copy_missing(&rows, usize::MAX, r).await?;
        if pass != ObjectPass::Copy {
            if pass == ObjectPass::Verify {
                o.drop_deleted(&rows).await?;
            }
            o.check(&rows, r).await?;
            let (n, bytes, verified) = (r.objects, r.object_bytes, r.checksums_verified);
            self.m.report.objects = n;
            self.m.report.object_bytes = bytes;
            self.m.report.checksums_verified = verified;
        }
        self.cx.progress().table("file objects", r.copied);
        Ok(())
    }

    /// Cleanup: the source store loses the objects the target's rows name,
    /// each once the target store holds it.
    pub async fn clean_source_objects(&mut self) -> Result<(), MoveError> {
        if !self.open_objects(false).await? {
            return Ok(());
        }
        let mut d = Endpoint::acquire(&self.dst_pool().await?).await?;
        let rows = objects::rows(&mut d, self.t()).await?;
        drop(d);
        let (Some(o), Some(r)) = (self.objects.as_mut(), self.m.report.files.as_mut()) else {
            return Ok(());
        };
        r.deleted_at_source += o.clean_source(&rows).await?;
        self.save().await?;
        Ok(())
    }

    /// Rollback: the target store loses the copies whose originals the
    /// source store holds. Best effort: a copy left behind is harmless (a
    /// later move finds it, and checks it, before copying again).
    pub async fn clean_target_objects(&mut self, src: &mut Endpoint) {
        let cleaned = async {
            if !self.open_objects(false).await? {
                return Ok(());
            }
            let rows = objects::rows(src, self.t()).await?;
            let (Some(o), Some(r)) = (self.objects.as_mut(), self.m.report.files.as_mut()) else {
                return Ok(());
            };
            r.deleted_at_target += o.clean_target(&rows).await?;
            Ok::<(), MoveError>(())
        }
        .await;
        if let Err(e) = cleaned {
            tracing::warn!(error = %e, "a rolled-back move could not delete its copies of the tenant's file objects");
        }
    }

    /// Saves the move as it is; the save checks the lease in its own
    /// statement.
    pub async fn save(&mut self) -> Result<(), StoreError> {
        Ledger::new(self.cx.router().catalog())
            .save_move(self.m, self.cx.owner())
            .await
    }

    /// Saves the move's next state, then stops at that state's pause point
    /// (tests). A driver that lost its lease stops here.
    pub async fn set_state(&mut self, state: MoveState) -> Result<(), StoreError> {
        self.lease.check_flag()?;
        self.m.state = state;
        if state.is_finished() {
            self.m.finished_at = Some(Ts::now());
        }
        self.cx.progress().phase(state.as_str());
        self.save().await?;
        self.cx.pause(state.as_str()).await;
        Ok(())
    }

    /// Fails with `Cancelled` if an operator asked the move to stop.
    pub async fn check_cancel(&self) -> Result<(), MoveError> {
        if Ledger::new(self.cx.router().catalog())
            .cancel_requested(self.m.id)
            .await?
        {
            return Err(MoveError::Cancelled);
        }
        Ok(())
    }

    /// Checks for a cancel, then saves the next state.
    pub async fn advance(&mut self, next: MoveState) -> Result<MoveState, MoveError> {
        self.check_cancel().await?;
        self.set_state(next).await?;
        Ok(next)
    }
}

/// Deletes every row of the tenant from a placement, children first, then
/// the tombstones that made, then its state row.
pub async fn clear_tenant(c: &mut Endpoint, tenant: Uuid) -> Result<(), StoreError> {
    for table in crate::rows::TABLES.iter().rev().chain(&["tombstones"]) {
        while c.delete_batch(table, tenant, 20_000).await? > 0 {}
    }
    c.delete_state(tenant).await
}
