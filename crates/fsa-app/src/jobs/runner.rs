//! The runner: one per process. It claims due jobs from the catalog (a
//! claim is the job's lease), runs up to `[jobs] concurrency` of them,
//! renews their leases while they run, and records how each ended:
//!
//! ```text
//! scheduled ──claim──► running ──ok──► scheduled (recurring: after its period)
//!     ▲                   │     └────► done      (one-shot)
//!     └──── backoff ◄── error ───────► failed    (one-shot out of attempts)
//! running, lease run out (its process died) ──claim──► running, failures + 1
//! ```
//!
//! A shutdown cancels every running job's stop token and waits up to
//! `[jobs] shutdown_grace_secs` for each to reach its safe point; a job
//! still running then is dropped, and its lease runs out for another
//! process to retry it.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use fsa_store::catalog::Catalog;
use fsa_store::jobs::{Finish, JobRow, Jobs};
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::{Job, JobCx, JobsConfig, Outcome};

/// The first retry's delay; each failure doubles it, up to [`MAX_BACKOFF`].
const BASE_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(15 * 60);
/// One-shot jobs that ended are forgotten after a week.
const KEEP_ENDED_MS: i64 = 7 * 24 * 3600 * 1000;
/// How often ended jobs are pruned.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// A runner, not yet started.
pub struct Runner {
    catalog: Catalog,
    holder: String,
    cfg: JobsConfig,
    kinds: HashMap<&'static str, Arc<dyn Job>>,
    /// Recurring jobs to record at the start: (name, kind, period).
    recurring: Vec<(String, &'static str, Duration)>,
    /// Jobs made due at the start (the resume of stopped moves).
    at_start: Vec<String>,
    /// Only the job of this name is claimed (the CLI driving its own move).
    only: Option<String>,
    wake: Arc<Notify>,
}

/// A started runner.
pub struct Running {
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
    wake: Arc<Notify>,
}

impl Runner {
    /// A runner over `catalog` named `holder` in the leases it takes.
    pub fn new(catalog: Catalog, holder: impl Into<String>, cfg: JobsConfig) -> Self {
        Runner {
            catalog,
            holder: holder.into(),
            cfg,
            kinds: HashMap::new(),
            recurring: Vec::new(),
            at_start: Vec::new(),
            only: None,
            wake: Arc::new(Notify::new()),
        }
    }

    /// Runs jobs of `job`'s kind.
    pub fn with(mut self, job: Arc<dyn Job>) -> Self {
        self.kinds.insert(job.kind(), job);
        self
    }

    /// Records a recurring job at the start (its kind must be known).
    pub fn every(mut self, name: &str, kind: &'static str, period: Duration) -> Self {
        self.recurring.push((name.to_owned(), kind, period));
        self
    }

    /// Makes the recurring job `name` due at the start.
    pub fn at_start(mut self, name: &str) -> Self {
        self.at_start.push(name.to_owned());
        self
    }

    /// Claims only the job named `name`.
    pub fn only(mut self, name: &str) -> Self {
        self.only = Some(name.to_owned());
        self
    }

    /// Wakes the runner whenever `wake` is notified (a job was scheduled
    /// by this process: it starts at once, not at the next poll).
    pub fn woken_by(mut self, wake: Arc<Notify>) -> Self {
        self.wake = wake;
        self
    }

    /// Records the recurring jobs and starts claiming.
    pub async fn start(self) -> Result<Running, fsa_store::StoreError> {
        let jobs = Jobs::new(&self.catalog);
        for (name, kind, period) in &self.recurring {
            let ms = i64::try_from(period.as_millis()).unwrap_or(i64::MAX).max(1);
            jobs.ensure_recurring(name, kind, ms).await?;
        }
        for name in &self.at_start {
            jobs.run_soon(name).await?;
        }
        let stop = CancellationToken::new();
        let wake = self.wake.clone();
        let task = tokio::spawn(self.run(stop.clone()));
        Ok(Running { stop, task, wake })
    }

    async fn run(self, stop: CancellationToken) {
        let me = Arc::new(self);
        let mut running: JoinSet<()> = JoinSet::new();
        let poll = Duration::from_millis(me.cfg.poll_ms.max(10));
        let concurrency = me.cfg.concurrency.max(1);
        let mut next_prune = tokio::time::Instant::now();
        loop {
            while running.try_join_next().is_some() {}
            while running.len() < concurrency {
                match me.claim().await {
                    Some(row) => {
                        let me = me.clone();
                        let token = stop.child_token();
                        running.spawn(async move { me.run_one(row, token).await });
                    }
                    None => break,
                }
            }
            if tokio::time::Instant::now() >= next_prune {
                next_prune += PRUNE_EVERY;
                me.prune().await;
            }
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = me.wake.notified() => {}
                _ = tokio::time::sleep(poll) => {}
                Some(_) = running.join_next(), if !running.is_empty() => {}
            }
        }
        let grace = Duration::from_secs(me.cfg.shutdown_grace_secs);
        let drained = tokio::time::timeout(grace, async {
            while running.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tracing::warn!(
                jobs = running.len(),
                "jobs still running at the end of the shutdown grace; their leases run out for another process"
            );
            running.shutdown().await;
        }
    }

    async fn claim(&self) -> Option<JobRow> {
        let lease_ms = self.lease_ms();
        let kinds: Vec<&str> = self.kinds.keys().copied().collect();
        match Jobs::new(&self.catalog)
            .claim(&self.holder, lease_ms, &kinds, self.only.as_deref())
            .await
        {
            Ok(row) => row,
            Err(e) => {
                tracing::warn!(error = %e, "looking for due jobs failed");
                None
            }
        }
    }

    async fn prune(&self) {
        let jobs = Jobs::new(&self.catalog);
        let pruned = match jobs.now_ms().await {
            Ok(now) => jobs.prune(now - KEEP_ENDED_MS).await,
            Err(e) => Err(e),
        };
        if let Err(e) = pruned {
            tracing::warn!(error = %e, "forgetting ended jobs failed");
        }
    }

    fn lease_ms(&self) -> i64 {
        i64::try_from(self.cfg.lease_secs.max(1) * 1000).unwrap_or(i64::MAX)
    }

    /// Runs one claimed job, keeping its lease, and records how it ended.
    #[tracing::instrument(name = "job", skip_all, fields(job = %row.name))]
    async fn run_one(&self, row: JobRow, stop: CancellationToken) {
        let jobs = Jobs::new(&self.catalog);
        let Some(job) = self.kinds.get(row.kind.as_str()).cloned() else {
            tracing::warn!(kind = %row.kind, "no runner for this kind of job");
            let _ = jobs
                .finish(
                    &row.name,
                    &self.holder,
                    Finish::Failed {
                        error: "no runner knows this kind of job",
                        retry_at_ms: i64::MAX,
                        give_up: true,
                    },
                )
                .await;
            return;
        };
        let attempts = u32::try_from(row.failures).unwrap_or(0) + 1;
        tracing::debug!(attempts, "job started");
        let cx = JobCx {
            name: row.name.clone(),
            subject: row.subject.clone(),
            attempt: attempts,
            stop: stop.clone(),
        };
        let lease_ms = self.lease_ms();
        let renew_every = Duration::from_millis((lease_ms / 3).max(1) as u64);
        let keep = async {
            loop {
                tokio::time::sleep(renew_every).await;
                match jobs.renew(&row.name, &self.holder, lease_ms).await {
                    Ok(true) => {}
                    Ok(false) | Err(_) => {
                        tracing::warn!("lost the lease of a running job; asking it to stop");
                        stop.cancel();
                        std::future::pending::<()>().await;
                    }
                }
            }
        };
        let result = tokio::select! {
            r = job.run(cx) => r,
            () = keep => unreachable!("the lease keeper never ends"),
        };
        let now = jobs
            .now_ms()
            .await
            .unwrap_or_else(|_| chrono::Utc::now().timestamp_millis());
        let how = match &result {
            Ok(Outcome::Done) => Finish::Ok,
            Ok(Outcome::Again(after)) => Finish::Again {
                at_ms: now.saturating_add(i64::try_from(after.as_millis()).unwrap_or(i64::MAX)),
            },
            Ok(Outcome::Stopped) => Finish::Stopped,
            Err(e) => {
                let wait = backoff(attempts);
                let give_up = attempts >= self.cfg.max_attempts.max(1);
                if give_up && row.every_ms.is_none() {
                    tracing::error!(error = %e, attempts, "job failed for good");
                } else {
                    tracing::warn!(error = %e, attempts, retry_in_s = wait.as_secs(), "job failed; retried later");
                }
                Finish::Failed {
                    error: e.as_str(),
                    retry_at_ms: now.saturating_add(wait.as_millis() as i64),
                    give_up,
                }
            }
        };
        match jobs.finish(&row.name, &self.holder, how).await {
            Ok(true) => tracing::debug!("job ended"),
            Ok(false) => tracing::warn!("a job ended after another process took it over"),
            Err(e) => {
                tracing::warn!(error = %e, "recording a job's end failed; its lease runs out")
            }
        }
    }
}

/// The wait before attempt `attempts + 1`.
fn backoff(attempts: u32) -> Duration {
    BASE_BACKOFF
        .saturating_mul(1 << attempts.saturating_sub(1).min(20))
        .min(MAX_BACKOFF)
}

impl Running {
    /// Wakes the runner to look for due jobs now.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Asks every running job to stop at its safe point and waits for them
    /// (up to the shutdown grace).
    pub async fn shutdown(self) {
        self.stop.cancel();
        let _ = self.task.await;
    }

    /// Ends the runner and its jobs at once, as a killed process would:
    /// nothing is recorded, leases run out (tests).
    pub fn kill(self) {
        self.task.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_its_cap() {
        assert_eq!(backoff(1), Duration::from_secs(1));
        assert_eq!(backoff(2), Duration::from_secs(2));
        assert_eq!(backoff(4), Duration::from_secs(8));
        assert_eq!(backoff(40), MAX_BACKOFF);
    }
}
