//! The catalog's `jobs` table: every background job of the fleet, its
//! schedule, its lease and its failures. The runner that executes them is
//! fsa-app's (`fsa_app::jobs`); this module only reads and writes rows.
//!
//! Times are milliseconds by the catalog's clock (`pg_now_ms!`), so the
//! processes of a fleet agree on when a job is due and when a lease ran
//! out whatever their own clocks say.

use serde::Serialize;
use sqlx::FromRow;

use crate::catalog::Catalog;
use crate::error::StoreError;
use crate::{on_pool, pg_now_ms, sql, sqlite_now_ms};

/// A job's row.
#[derive(Debug, Clone, Serialize, FromRow)]
pub struct JobRow {
    /// Unique: `files.collect`, `move/<id>`, `move-cleanup/<id>`.
    pub name: String,
    /// What runs it: the runner's handler of that kind.
    pub kind: String,
    /// What the job is about (a move's id), when it is about one thing.
    pub subject: Option<String>,
    /// `scheduled`, `running`, `done` (a one-shot job that ended) or
    /// `failed` (a one-shot job out of attempts).
    pub state: String,
    /// The period of a recurring job; none for a one-shot job.
    pub every_ms: Option<i64>,
    pub next_run_ms: i64,
    pub last_run_ms: Option<i64>,
    pub last_ok_ms: Option<i64>,
    /// Failures since the last success.
    pub failures: i32,
    pub last_error: Option<String>,
    /// The process running it, while it runs.
    pub holder: Option<String>,
    pub lease_until_ms: i64,
}

/// How a claimed job ended, as the runner records it.
pub enum Finish<'a> {
    /// It succeeded: a recurring job is due again after its period, a
    /// one-shot job is `done`.
    Ok,
    /// It succeeded and asks to run again at `at_ms` (a one-shot job whose
    /// work is not over).
    Again { at_ms: i64 },
    /// It failed: due again at `retry_at_ms`, or `failed` for good when
    /// `give_up`.
    Failed {
        error: &'a str,
        retry_at_ms: i64,
        give_up: bool,
    },
    /// It stopped at a safe point without failing (its process shuts
    /// down): due again at once, for any process.
    Stopped,
}

macro_rules! cols {
    () => {
        "name, kind, subject, state, every_ms, next_run_ms, last_run_ms, last_ok_ms, \
         failures, last_error, holder, lease_until_ms"
    };
}

/// The jobs rows of a catalog.
#[derive(Clone, Copy)]
pub struct Jobs<'a>(&'a Catalog);

impl<'a> Jobs<'a> {
    pub fn new(catalog: &'a Catalog) -> Self {
        Jobs(catalog)
    }

    /// The catalog's clock, in milliseconds since the epoch.
    pub async fn now_ms(&self) -> Result<i64, StoreError> {
        Ok(on_pool!(self.0.pool(), c => sqlx::query_scalar(sql!(c,
            pg: concat!("SELECT ", pg_now_ms!()),
            sqlite: concat!("SELECT ", sqlite_now_ms!())))
            .fetch_one(c).await?))
    }

    /// Records a recurring job, due at once when it is new; a known one
    /// keeps its schedule and takes the period given.
    pub async fn ensure_recurring(
        &self,
        name: &str,
        kind: &str,
        every_ms: i64,
    ) -> Result<(), StoreError> {
        on_pool!(self.0.pool(), c => sqlx::query(sql!(c,
            pg: concat!("INSERT INTO jobs (name, kind, state, every_ms, next_run_ms, created_ms, updated_ms)
                 VALUES ($1, $2, 'scheduled', $3, ", pg_now_ms!(), ", ", pg_now_ms!(), ", ", pg_now_ms!(), ")
                 ON CONFLICT (name) DO UPDATE SET every_ms = excluded.every_ms, kind = excluded.kind"),
            sqlite: concat!("INSERT INTO jobs (name, kind, state, every_ms, next_run_ms, created_ms, updated_ms)
                 VALUES ($1, $2, 'scheduled', $3, ", sqlite_now_ms!(), ", ", sqlite_now_ms!(), ", ", sqlite_now_ms!(), ")
                 ON CONFLICT (name) DO UPDATE SET every_ms = excluded.every_ms, kind = excluded.kind")))
            .bind(name).bind(kind).bind(every_ms)
            .execute(c).await?.rows_affected());
        Ok(())
    }

    /// Schedules a one-shot job `delay_ms` from now. A job of that name
    /// already scheduled or running is left as it is; one that ended
    /// (`done`, `failed`) is scheduled afresh. Returns whether it was
    /// (re)scheduled.
    pub async fn schedule_once(
        &self,
        name: &str,
        kind: &str,
        subject: Option<&str>,
        delay_ms: i64,
    ) -> Result<bool, StoreError> {
        let n = on_pool!(self.0.pool(), c => sqlx::query(sql!(c,
            pg: concat!("INSERT INTO jobs (name, kind, subject, state, next_run_ms, created_ms, updated_ms)
                 VALUES ($1, $2, $3, 'scheduled', ", pg_now_ms!(), " + $4, ", pg_now_ms!(), ", ", pg_now_ms!(), ")
                 ON CONFLICT (name) DO UPDATE SET state = 'scheduled', next_run_ms = excluded.next_run_ms,
                     failures = 0, last_error = NULL, holder = NULL, lease_until_ms = 0,
                     updated_ms = excluded.updated_ms
                 WHERE jobs.state IN ('done', 'failed')"),
            sqlite: concat!("INSERT INTO jobs (name, kind, subject, state, next_run_ms, created_ms, updated_ms)
                 VALUES ($1, $2, $3, 'scheduled', ", sqlite_now_ms!(), " + $4, ", sqlite_now_ms!(), ", ", sqlite_now_ms!(), ")
                 ON CONFLICT (name) DO UPDATE SET state = 'scheduled', next_run_ms = excluded.next_run_ms,
                     failures = 0, last_error = NULL, holder = NULL, lease_until_ms = 0,
                     updated_ms = excluded.updated_ms
                 WHERE jobs.state IN ('done', 'failed')")))
            .bind(name).bind(kind).bind(subject).bind(delay_ms)
            .execute(c).await?.rows_affected());
        Ok(n == 1)
    }

    /// Takes the lease of one due job for `holder`, `lease_ms` long: a
    /// scheduled job whose time came, or a running one whose lease ran out
    /// (its process stopped mid-run: that counts as a failure). Only jobs
    /// of the `kinds` given (a process claims only what it knows how to
    /// run: during an upgrade an older one leaves a newer kind alone); with
    /// `only`, just the job of that name. None when nothing is due.
    pub async fn claim(
        &self,
        holder: &str,
        lease_ms: i64,
        kinds: &[&str],
        only: Option<&str>,
    ) -> Result<Option<JobRow>, StoreError> {
        // Kinds are dotted names, never with a comma.
        let kinds = format!(",{},", kinds.join(","));
        Ok(on_pool!(self.0.pool(), c => sqlx::query_as(sql!(c,
            pg: concat!("UPDATE jobs SET
                     failures = failures + CASE WHEN state = 'running' THEN 1 ELSE 0 END,
                     last_error = CASE WHEN state = 'running'
                         THEN 'its process stopped while it ran' ELSE last_error END,
                     state = 'running', holder = $1,
                     lease_until_ms = ", pg_now_ms!(), " + $2,
                     last_run_ms = ", pg_now_ms!(), ", updated_ms = ", pg_now_ms!(), "
                 WHERE name = (SELECT name FROM jobs
                     WHERE ((state = 'scheduled' AND next_run_ms <= ", pg_now_ms!(), ")
                         OR (state = 'running' AND lease_until_ms < ", pg_now_ms!(), "))
                     AND ($3::text IS NULL OR name = $3)
                     AND position(',' || kind || ',' in $4) > 0
                     ORDER BY next_run_ms LIMIT 1 FOR UPDATE SKIP LOCKED)
                 AND ((state = 'scheduled' AND next_run_ms <= ", pg_now_ms!(), ")
                     OR (state = 'running' AND lease_until_ms < ", pg_now_ms!(), "))
                 RETURNING ", cols!()),
            sqlite: concat!("UPDATE jobs SET
                     failures = failures + CASE WHEN state = 'running' THEN 1 ELSE 0 END,
                     last_error = CASE WHEN state = 'running'
                         THEN 'its process stopped while it ran' ELSE last_error END,
                     state = 'running', holder = $1,
                     lease_until_ms = ", sqlite_now_ms!(), " + $2,
                     last_run_ms = ", sqlite_now_ms!(), ", updated_ms = ", sqlite_now_ms!(), "
                 WHERE name = (SELECT name FROM jobs
                     WHERE ((state = 'scheduled' AND next_run_ms <= ", sqlite_now_ms!(), ")
                         OR (state = 'running' AND lease_until_ms < ", sqlite_now_ms!(), "))
                     AND ($3 IS NULL OR name = $3)
                     AND instr($4, ',' || kind || ',') > 0
                     ORDER BY next_run_ms LIMIT 1)
                 RETURNING ", cols!())))
            .bind(holder).bind(lease_ms).bind(only).bind(&kinds)
            .fetch_optional(c).await?))
    }

    /// Extends the lease `holder` has on a running job; false when it no
    /// longer has it (it ran out, or another process took the job).
    pub async fn renew(&self, name: &str, holder: &str, lease_ms: i64) -> Result<bool, StoreError> {
        let n = on_pool!(self.0.pool(), c => sqlx::query(sql!(c,
            pg: concat!("UPDATE jobs SET lease_until_ms = ", pg_now_ms!(), " + $3
                 WHERE name = $1 AND holder = $2 AND state = 'running' AND lease_until_ms > ", pg_now_ms!()),
            sqlite: concat!("UPDATE jobs SET lease_until_ms = ", sqlite_now_ms!(), " + $3
                 WHERE name = $1 AND holder = $2 AND state = 'running' AND lease_until_ms > ", sqlite_now_ms!())))
            .bind(name).bind(holder).bind(lease_ms)
            .execute(c).await?.rows_affected());
        Ok(n == 1)
    }

    /// Records how a job `holder` ran ended and gives its lease up; false
    /// when `holder` no longer held it (what the job did stands, the row is
    /// its new holder's).
    pub async fn finish(
        &self,
        name: &str,
        holder: &str,
        how: Finish<'_>,
    ) -> Result<bool, StoreError> {
        let now = self.now_ms().await?;
        let row = self.get(name).await?;
        let Some(row) = row else { return Ok(false) };
        let (state, next, failures, error, ok) = match how {
            Finish::Ok => match row.every_ms {
                Some(every) => ("scheduled", now + every, 0, None, Some(now)),
                None => ("done", now, 0, None, Some(now)),
            },
            Finish::Again { at_ms } => ("scheduled", at_ms, 0, None, Some(now)),
            Finish::Failed {
                error,
                retry_at_ms,
                give_up,
            } => (
                if give_up && row.every_ms.is_none() {
                    "failed"
                } else {
                    "scheduled"
                },
                retry_at_ms,
                row.failures + 1,
                Some(error.to_owned()),
                row.last_ok_ms,
            ),
            Finish::Stopped => (
                "scheduled",
                now,
                row.failures,
                row.last_error,
                row.last_ok_ms,
            ),
        };
        let n = on_pool!(self.0.pool(), c => sqlx::query(
            "UPDATE jobs SET state = $3, next_run_ms = $4, failures = $5, last_error = $6,
                 last_ok_ms = $7, holder = NULL, lease_until_ms = 0, updated_ms = $8
             WHERE name = $1 AND holder = $2 AND state = 'running'")
            .bind(name).bind(holder).bind(state).bind(next).bind(failures).bind(error)
            .bind(ok).bind(now)
            .execute(c).await?.rows_affected());
        Ok(n == 1)
    }

    /// Makes a scheduled job due now.
    pub async fn run_soon(&self, name: &str) -> Result<(), StoreError> {
        on_pool!(self.0.pool(), c => sqlx::query(sql!(c,
            pg: concat!("UPDATE jobs SET next_run_ms = ", pg_now_ms!(), " WHERE name = $1 AND state = 'scheduled'"),
            sqlite: concat!("UPDATE jobs SET next_run_ms = ", sqlite_now_ms!(), " WHERE name = $1 AND state = 'scheduled'")))
            .bind(name).execute(c).await?.rows_affected());
        Ok(())
    }

    /// One job's row.
    pub async fn get(&self, name: &str) -> Result<Option<JobRow>, StoreError> {
        Ok(
            on_pool!(self.0.pool(), c => sqlx::query_as(concat!("SELECT ", cols!(), " FROM jobs WHERE name = $1"))
            .bind(name).fetch_optional(c).await?),
        )
    }

    /// Every job but one-shot jobs that ended before `ended_after_ms`:
    /// recurring jobs first, then by when they are due.
    pub async fn list(&self, ended_after_ms: i64) -> Result<Vec<JobRow>, StoreError> {
        Ok(
            on_pool!(self.0.pool(), c => sqlx::query_as(concat!("SELECT ", cols!(), " FROM jobs
             WHERE state NOT IN ('done', 'failed') OR updated_ms >= $1
             ORDER BY every_ms IS NULL, next_run_ms, name"))
            .bind(ended_after_ms).fetch_all(c).await?),
        )
    }

    /// Forgets one-shot jobs that ended before `before_ms`.
    pub async fn prune(&self, before_ms: i64) -> Result<u64, StoreError> {
        Ok(on_pool!(self.0.pool(), c => sqlx::query(
            "DELETE FROM jobs WHERE state IN ('done', 'failed') AND updated_ms < $1")
            .bind(before_ms).execute(c).await?.rows_affected()))
    }

    /// The earliest time a job is due, if any job waits.
    pub async fn next_due_ms(&self) -> Result<Option<i64>, StoreError> {
        Ok(on_pool!(self.0.pool(), c => sqlx::query_scalar(
            "SELECT min(CASE WHEN state = 'running' THEN lease_until_ms ELSE next_run_ms END)
             FROM jobs WHERE state IN ('scheduled', 'running')")
            .fetch_one(c).await?))
    }
}
