//! Moves whose driver stopped: every unfinished move gets a job that
//! drives it ([`Mover::schedule_open`], run by the service's jobs runner at
//! its start and then every minute), or is resumed here and now
//! ([`Mover::resume_all`], `fsa moves resume`). Moves another live process
//! runs are left to it.

use fsa_store::jobs::Jobs;

use crate::error::MoveError;
use crate::ledger::{Ledger, MoveRecord};
use crate::mover::Mover;
use crate::state::MoveState;

impl Mover {
    /// Resumes or rolls back every unfinished move it can take.
    pub async fn resume_all(&self) -> Result<Vec<MoveRecord>, MoveError> {
        let mut out = Vec::new();
        for m in Ledger::new(self.router().catalog()).open_moves().await? {
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
}

impl Mover {
    /// Makes sure every unfinished move has a job to drive it: its cleanup
    /// job while it waits at `cleaning` for the end of its grace period,
    /// else `move/<id>`. A job already scheduled or running is left alone.
    /// Returns how many were scheduled afresh.
    pub async fn schedule_open(&self) -> Result<usize, MoveError> {
        let catalog = self.router().catalog();
        let jobs = Jobs::new(catalog);
        let mut scheduled = 0;
        for m in Ledger::new(catalog).open_moves().await? {
            let id = m.id;
            let subject = id.to_string();
            let fresh = if m.state == MoveState::Cleaning {
                let due = m.switched_at.map(|s| s.0).unwrap_or_else(chrono::Utc::now)
                    + chrono::Duration::milliseconds(m.cleanup_after_ms);
                let left = (due - chrono::Utc::now()).num_milliseconds().max(0);
                jobs.schedule_once(
                    &crate::cleanup_job(id),
                    crate::CLEANUP_JOB,
                    Some(&subject),
                    left,
                )
                .await?
            } else {
                jobs.schedule_once(&crate::move_job(id), crate::MOVE_JOB, Some(&subject), 0)
                    .await?
            };
            if fresh {
                tracing::info!(move.id = %id, state = %m.state, "an unfinished move is scheduled to be driven on");
                scheduled += 1;
            }
        }
        Ok(scheduled)
    }
}
