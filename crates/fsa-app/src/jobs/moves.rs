//! The move jobs: `moves.resume` gives every unfinished move a job;
//! `move` drives one to its switch (or its rollback); `move.cleanup` runs
//! its cleanup once the grace period is over.

use std::time::Duration;

use fsa_move::{MoveError, MoveState};
use futures::FutureExt;
use futures::future::BoxFuture;
use uuid::Uuid;

use super::{Job, JobCx, MOVES_RESUME, Outcome};
use crate::App;

/// How soon a move that another process drives is looked at again.
const OWNED_RETRY: Duration = Duration::from_secs(30);

pub(super) struct Resume(pub App);

impl Job for Resume {
    fn kind(&self) -> &'static str {
        MOVES_RESUME
    }

    fn run(&self, _cx: JobCx) -> BoxFuture<'static, Result<Outcome, String>> {
        let app = self.0.clone();
        async move {
            app.mover()
                .schedule_open()
                .await
                .map_err(|e| e.to_string())?;
            Ok(Outcome::Done)
        }
        .boxed()
    }
}

pub(super) struct Drive(pub App);

impl Job for Drive {
    fn kind(&self) -> &'static str {
        fsa_move::MOVE_JOB
    }

    fn run(&self, cx: JobCx) -> BoxFuture<'static, Result<Outcome, String>> {
        let app = self.0.clone();
        async move {
            // Parked at `cleaning`, the move has its cleanup job now.
            Ok(match drive(&app, &cx).await? {
                Driven::Ran(_) => Outcome::Done,
                Driven::Elsewhere => Outcome::Again(OWNED_RETRY),
                Driven::Stopped => Outcome::Stopped,
            })
        }
        .boxed()
    }
}

pub(super) struct Cleanup(pub App);

impl Job for Cleanup {
    fn kind(&self) -> &'static str {
        fsa_move::CLEANUP_JOB
    }

    fn run(&self, cx: JobCx) -> BoxFuture<'static, Result<Outcome, String>> {
        let app = self.0.clone();
        async move {
            Ok(match drive(&app, &cx).await? {
                // Still within its grace period by this process's clock.
                Driven::Ran(m) if m.state == MoveState::Cleaning => {
                    let due = m.switched_at.map(|s| s.0).unwrap_or_else(chrono::Utc::now)
                        + chrono::Duration::milliseconds(m.cleanup_after_ms);
                    let left = (due - chrono::Utc::now()).to_std().unwrap_or_default();
                    Outcome::Again(left.max(Duration::from_secs(1)))
                }
                Driven::Ran(_) => Outcome::Done,
                Driven::Elsewhere => Outcome::Again(OWNED_RETRY),
                Driven::Stopped => Outcome::Stopped,
            })
        }
        .boxed()
    }
}

/// What became of a move a job was to drive.
enum Driven {
    /// Driven as far as it goes now: ended, or parked until its cleanup.
    Ran(Box<fsa_move::MoveRecord>),
    /// Another live process drives it.
    Elsewhere,
    /// Stopped at a safe point: this process shuts down.
    Stopped,
}

/// Drives the move the job names.
async fn drive(app: &App, cx: &JobCx) -> Result<Driven, String> {
    let id = cx
        .subject
        .as_deref()
        .and_then(|s| Uuid::parse_str(s).ok())
        .ok_or_else(|| format!("job {} names no move", cx.name))?;
    match app.mover().with_stop(cx.stop.clone()).run(id).await {
        Ok(m) => Ok(Driven::Ran(Box::new(m))),
        Err(MoveError::Owned(holder)) => {
            tracing::debug!(move.id = %id, %holder, "the move runs in another process");
            Ok(Driven::Elsewhere)
        }
        Err(MoveError::Stopped) => Ok(Driven::Stopped),
        Err(e) => Err(e.to_string()),
    }
}
