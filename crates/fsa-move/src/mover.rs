//! The mover: plans a move, then drives it through its states under the
//! move's lease, one phase at a time ([`crate::phase`]).

use std::sync::Arc;

use fsa_store::catalog::Tenant;
use fsa_store::objects::FileStores;
use fsa_store::router::Router;
use fsa_store::ts::Ts;
use uuid::Uuid;

use crate::context::Context;
use crate::error::MoveError;
use crate::lease::{Acquire, MoveLease};
use crate::ledger::{Ledger, MoveRecord};
use crate::phase::{self, Run};
use crate::progress::{PauseHook, Progress};
use crate::report::Report;
use crate::request::MoveRequest;
use crate::state::MoveState;

pub struct Mover {
    cx: Context,
}

impl Mover {
    pub fn new(router: Arc<Router>) -> Self {
        Mover {
            cx: Context::new(router),
        }
    }

    /// Runs `hook` at every pause point (tests).
    pub fn with_pause_hook(mut self, hook: PauseHook) -> Self {
        self.cx.hook = Some(hook);
        self
    }

    /// Carries the tenant's file objects when a move changes its store.
    pub fn with_files(mut self, files: Arc<FileStores>) -> Self {
        self.cx.files = Some(files);
        self
    }

    /// Stops the move at its next safe point (between two phases) once
    /// `stop` is cancelled: the job runner's shutdown.
    pub fn with_stop(mut self, stop: tokio_util::sync::CancellationToken) -> Self {
        self.cx.stop = stop;
        self
    }

    pub fn with_progress(mut self, p: Arc<dyn Progress>) -> Self {
        self.cx.progress = p;
        self
    }

    pub fn router(&self) -> &Arc<Router> {
        &self.cx.router
    }

    async fn reread(&self, id: Uuid) -> Result<MoveRecord, MoveError> {
        Ledger::new(self.cx.router.catalog())
            .get_move(id)
            .await?
            .ok_or(MoveError::NotFound(id))
    }

    /// Checks a request and records the move as `planned`.
    #[tracing::instrument(skip_all, fields(tenant = %tenant.slug, to = %req.to))]
    pub async fn plan(&self, tenant: &Tenant, req: MoveRequest) -> Result<MoveRecord, MoveError> {
        phase::preflight::check_request(&self.cx, tenant, &req).await?;
        let region = req.region.clone().unwrap_or_else(|| tenant.region.clone());
        let now = Ts::now();
        let m = MoveRecord {
            id: fsa_core::new_id(),
            tenant_id: tenant.id,
            from_placement: tenant.placement_id,
            to_placement: None,
            target: req.to,
            target_region: region.to_string(),
            state: MoveState::Planned,
            cancel_requested: false,
            cleanup_after_ms: req.cleanup_after.as_millis() as i64,
            report: Report {
                requested_by: req.requested_by.clone(),
                reason: req.reason.clone(),
                ..Report::default()
            },
            requested_by: req.requested_by,
            reason: req.reason,
            plan_after: req.plan_after.map(|p| p.to_string()),
            watermark: None,
            error: None,
            created_at: now,
            updated_at: now,
            switched_at: None,
            finished_at: None,
        };
        Ledger::new(self.cx.router.catalog())
            .insert_move(&m)
            .await?;
        Ok(m)
    }

    /// Runs a move to `done`, or to `rolled_back` when it fails before its
    /// switch. A failure after the switch leaves it to be resumed. A move
    /// whose cleanup is not yet due stops at `cleaning`, its lease given
    /// up and its cleanup scheduled as a job ([`crate::cleanup_job`]).
    #[tracing::instrument(skip_all, fields(move.id = %id))]
    pub async fn run(&self, id: Uuid) -> Result<MoveRecord, MoveError> {
        self.reread(id).await?;
        let lease = match MoveLease::acquire(self.cx.router.catalog(), id, &self.cx.owner).await {
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
        if m.state != MoveState::Planned {
            tracing::info!(state = %m.state, "driving a move from where it stopped");
        }
        let result = self.run_owned(&lease, &mut m).await;
        // Ended, or parked until its cleanup is due: nobody drives it now.
        if m.is_finished() || result.is_ok() {
            lease.release().await;
        } else {
            lease.close().await;
        }
        result.map(|()| m)
    }

    async fn run_owned(&self, lease: &MoveLease, m: &mut MoveRecord) -> Result<(), MoveError> {
        let mut run = Run::new(&self.cx, lease, m);
        let result = drive(&mut run).await;
        run.close().await;
        match result {
            Ok(()) => Ok(()),
            // The lease is gone (taken over, or not renewed in time): the
            // move is whoever holds it now's to finish or roll back.
            Err(e) if e.is_lease_lost() => {
                tracing::warn!(state = %run.m.state, "lost the lease of a move; stopped before its next step");
                Err(e)
            }
            Err(MoveError::Stopped) => {
                tracing::info!(state = %run.m.state, "move stopped at a safe point; any process goes on from here");
                Err(MoveError::Stopped)
            }
            Err(e) if run.m.state.before_switch() => {
                tracing::warn!(error = %e, state = %run.m.state, "move failed before its switch; rolling back");
                run.m.error = Some(e.to_string());
                run.m.report.rolled_back_because = Some(e.to_string());
                run.set_state(MoveState::Failed).await?;
                phase::rollback::run(&mut run).await?;
                run.set_state(MoveState::RolledBack).await?;
                Ok(())
            }
            Err(e) => {
                run.m.error = Some(e.to_string());
                let _ = run.save().await;
                Err(e)
            }
        }
    }
}

/// The move's state machine: each state's phase runs and names the next
/// state, until the move is done. Every transition is saved in the catalog
/// (under the lease) before the next phase starts, so a crash anywhere
/// resumes here from the last saved state.
async fn drive(run: &mut Run<'_>) -> Result<(), MoveError> {
    run.source().await?;
    let mut state = run.m.state;
    loop {
        if run.cx.stop.is_cancelled() && !state.is_finished() {
            return Err(MoveError::Stopped);
        }
        state = match state {
            MoveState::Done | MoveState::RolledBack => return Ok(()),
            MoveState::Failed => {
                return Err(MoveError::FailedEarlier(
                    run.m.error.clone().unwrap_or_default(),
                ));
            }
            MoveState::Planned | MoveState::Provisioning => phase::preflight::run(run).await?,
            MoveState::Copying => phase::copy::run(run).await?,
            // Resumed after a crash: the copy is redone from the start.
            MoveState::CatchingUp | MoveState::Verifying if run.carry.is_none() => {
                phase::copy::run(run).await?
            }
            MoveState::CatchingUp => phase::catch_up::run(run).await?,
            MoveState::Verifying => phase::verify::run(run).await?,
            MoveState::Fenced => phase::fence::run(run).await?,
            MoveState::Switched | MoveState::Cleaning => match phase::cleanup::run(run).await? {
                Some(next) => next,
                // Parked until its cleanup job is due.
                None => return Ok(()),
            },
        };
    }
}
