//! The backup jobs: `backup` writes one (recorded `running` by whoever
//! asked), `restore` restores one as a new tenant, and `backups.schedule`
//! runs a pass of the schedule and retention.

use fsa_move::NoProgress;
use futures::FutureExt;
use futures::future::BoxFuture;
use uuid::Uuid;

use super::{BACKUPS_SCHEDULE, Job, JobCx, Outcome};
use crate::App;
use crate::backups::{BACKUP_JOB, RESTORE_JOB};

pub(super) struct Backup(pub App);

impl Job for Backup {
    fn kind(&self) -> &'static str {
        BACKUP_JOB
    }

    fn run(&self, cx: JobCx) -> BoxFuture<'static, Result<Outcome, String>> {
        let app = self.0.clone();
        async move {
            let id = cx
                .subject
                .as_deref()
                .and_then(|s| Uuid::parse_str(s).ok())
                .ok_or_else(|| format!("job {} names no backup", cx.name))?;
            // A failed backup is recorded `failed`; the schedule tries
            // again later with a new one, so the job itself is done.
            let _ = app.run_backup(id, &NoProgress).await;
            Ok(Outcome::Done)
        }
        .boxed()
    }
}

pub(super) struct Restore(pub App);

impl Job for Restore {
    fn kind(&self) -> &'static str {
        RESTORE_JOB
    }

    fn run(&self, cx: JobCx) -> BoxFuture<'static, Result<Outcome, String>> {
        let app = self.0.clone();
        async move {
            let subject = cx.subject.clone().unwrap_or_default();
            app.run_restore_job(&subject)
                .await
                .map(|()| Outcome::Done)
                .map_err(|e| e.to_string())
        }
        .boxed()
    }
}

pub(super) struct Schedule(pub App);

impl Job for Schedule {
    fn kind(&self) -> &'static str {
        BACKUPS_SCHEDULE
    }

    fn run(&self, _cx: JobCx) -> BoxFuture<'static, Result<Outcome, String>> {
        let app = self.0.clone();
        async move {
            let pass = app
                .backup_schedule(chrono::Utc::now())
                .await
                .map_err(|e| e.to_string())?;
            if !pass.started.is_empty() || !pass.pruned.is_empty() {
                tracing::info!(
                    started = pass.started.len(),
                    pruned = pass.pruned.len(),
                    "backup schedule"
                );
            }
            Ok(Outcome::Done)
        }
        .boxed()
    }
}
