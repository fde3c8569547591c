//! Resuming moves whose driver stopped: at a service's start, and then every
//! minute for moves whose process died elsewhere (their lease ran out, or
//! their liveness lock was let go). Moves another live process runs are
//! left to it.

use std::sync::Arc;
use std::time::Duration;

use fsa_store::objects::FileStores;
use fsa_store::router::Router;

use crate::error::MoveError;
use crate::ledger::{Ledger, MoveRecord};
use crate::mover::Mover;

/// How often the background loop looks for moves to resume.
pub const RESUME_EVERY: Duration = Duration::from_secs(60);

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

/// Resumes unfinished moves in the background, now and every
/// [`RESUME_EVERY`].
pub fn resume_in_background(router: Arc<Router>, files: Option<Arc<FileStores>>) {
    tokio::spawn(async move {
        let mover = match files {
            Some(f) => Mover::new(router).with_files(f),
            None => Mover::new(router),
        };
        loop {
            match mover.resume_all().await {
                Ok(ms) if !ms.is_empty() => {
                    tracing::info!(moves = ms.len(), "unfinished moves resumed")
                }
                Ok(_) => {}
                Err(e) => tracing::error!(error = %e, "resuming unfinished moves failed"),
            }
            tokio::time::sleep(RESUME_EVERY).await;
        }
    });
}
