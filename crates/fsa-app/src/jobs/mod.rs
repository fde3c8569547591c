//! Background work as jobs: each job is a row of the catalog's `jobs` table
//! (its schedule, lease and failures; `fsa_store::jobs`) run by one
//! [`runner::Runner`] per process. A job runs in one process of the fleet
//! at a time (it holds the row's lease), is retried with backoff when it
//! fails or its process dies mid-run, and is told to stop at a safe point
//! when its process shuts down.
//!
//! The job kinds, one file each:
//! - `files.collect` ([`files`]): the file collector, every
//!   `[files] gc_every_seconds`.
//! - `moves.resume` ([`moves`]): every unfinished move gets a job to drive
//!   it; at the runner's start and then every minute.
//! - `move` ([`moves`]): drives a scheduled (or stopped) move to its switch.
//! - `move.cleanup` ([`moves`]): a move's cleanup, due at its switch plus
//!   its grace period.
//! - `backup`, `restore` ([`backups`]): one backup; one restore as a new
//!   tenant.
//! - `backups.schedule` ([`backups`]): the schedule and retention per plan,
//!   every minute.

mod backups;
mod files;
mod moves;
pub mod runner;

use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::{App, AppError};
use fsa_store::jobs::{JobRow, Jobs};

pub use runner::{Runner, Running};

/// `files.collect`: a recurring job.
pub const FILES_COLLECT: &str = "files.collect";
/// `moves.resume`: a recurring job.
pub const MOVES_RESUME: &str = "moves.resume";
/// How often unfinished moves are looked for.
pub const RESUME_EVERY: Duration = Duration::from_secs(60);
/// `backups.schedule`: a recurring job.
pub const BACKUPS_SCHEDULE: &str = "backups.schedule";
/// How often the backup schedule runs a pass.
pub const BACKUPS_SCHEDULE_EVERY: Duration = Duration::from_secs(60);

/// The `[jobs]` section.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct JobsConfig {
    /// How often the runner looks for due jobs, in milliseconds (a job
    /// scheduled by the same process starts at once).
    pub poll_ms: u64,
    /// How long a job's lease lasts without renewal, in seconds: a job
    /// whose process died is retried this long after.
    pub lease_secs: u64,
    /// Jobs one process runs at once.
    pub concurrency: usize,
    /// Attempts of a one-shot job before it is `failed` for good.
    pub max_attempts: u32,
    /// How long a shutdown waits for running jobs to reach a safe point,
    /// in seconds.
    pub shutdown_grace_secs: u64,
}

impl Default for JobsConfig {
    fn default() -> Self {
        JobsConfig {
            poll_ms: 500,
            lease_secs: 15,
            concurrency: 4,
            max_attempts: 8,
            shutdown_grace_secs: 30,
        }
    }
}

/// What a running job is given.
pub struct JobCx {
    /// The job's name (`move/<id>`).
    pub name: String,
    /// What it is about, when it is about one thing (a move's id).
    pub subject: Option<String>,
    /// 1 on a first run; one more for each failure since the last success
    /// (a process that died mid-run counts as one).
    pub attempt: u32,
    /// Cancelled when the job must stop at its next safe point: its process
    /// shuts down, or its lease was lost.
    pub stop: CancellationToken,
}

/// How a job run ended well.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Its work is done (a recurring job is due again after its period).
    Done,
    /// A one-shot job's work is not over: run it again after this long.
    Again(Duration),
    /// It stopped at a safe point when asked: due again at once.
    Stopped,
}

/// One kind of job.
pub trait Job: Send + Sync + 'static {
    /// The kind it runs (`files.collect`).
    fn kind(&self) -> &'static str;
    /// Runs it once. An error is retried with backoff.
    fn run(&self, cx: JobCx) -> BoxFuture<'static, Result<Outcome, String>>;
}

/// The job kinds of the service, over `app`.
pub fn service_jobs(app: &App) -> Vec<std::sync::Arc<dyn Job>> {
    vec![
        std::sync::Arc::new(files::Collect(app.clone())),
        std::sync::Arc::new(moves::Resume(app.clone())),
        std::sync::Arc::new(moves::Drive(app.clone())),
        std::sync::Arc::new(moves::Cleanup(app.clone())),
        std::sync::Arc::new(backups::Backup(app.clone())),
        std::sync::Arc::new(backups::Restore(app.clone())),
        std::sync::Arc::new(backups::Schedule(app.clone())),
    ]
}

/// A job as `fsa jobs` and `GET /admin/jobs` show it.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct JobView {
    /// `files.collect`, `moves.resume`, `move/<id>`, `move-cleanup/<id>`.
    pub name: String,
    /// `scheduled`, `running`, `done` or `failed`.
    pub state: String,
    pub kind: String,
    /// When it last started.
    pub last_run: Option<DateTime<Utc>>,
    /// When it is due next (none once a one-shot job ended).
    pub next_run: Option<DateTime<Utc>>,
    /// When it last succeeded.
    pub last_ok: Option<DateTime<Utc>>,
    /// Failures since its last success.
    pub failures: i32,
    pub last_error: Option<String>,
    /// The process running it, while it runs.
    pub holder: Option<String>,
    /// The period of a recurring job, in seconds.
    pub every_secs: Option<u64>,
}

/// Every job of the fleet.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct JobList {
    pub jobs: Vec<JobView>,
}

fn at(ms: i64) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp_millis(ms)
}

impl From<JobRow> for JobView {
    fn from(r: JobRow) -> Self {
        let ended = matches!(r.state.as_str(), "done" | "failed");
        JobView {
            next_run: if ended { None } else { at(r.next_run_ms) },
            last_run: r.last_run_ms.and_then(at),
            last_ok: r.last_ok_ms.and_then(at),
            holder: if r.state == "running" { r.holder } else { None },
            every_secs: r.every_ms.map(|ms| (ms.max(0) / 1000) as u64),
            name: r.name,
            state: r.state,
            kind: r.kind,
            failures: r.failures,
            last_error: r.last_error,
        }
    }
}

/// One-shot jobs that ended are listed for a day.
const ENDED_LISTED_MS: i64 = 24 * 3600 * 1000;

impl App {
    /// Every job of the fleet: recurring ones, then one-shot ones by when
    /// they are due (those that ended in the last day included).
    pub async fn jobs(&self) -> Result<JobList, AppError> {
        let jobs = Jobs::new(self.router.catalog());
        let now = jobs.now_ms().await?;
        let rows = jobs.list(now - ENDED_LISTED_MS).await?;
        Ok(JobList {
            jobs: rows.into_iter().map(JobView::from).collect(),
        })
    }

    /// One job, by name.
    pub async fn job(&self, name: &str) -> Result<JobView, AppError> {
        Jobs::new(self.router.catalog())
            .get(name)
            .await?
            .map(JobView::from)
            .ok_or(AppError::NotFound("job"))
    }
}
