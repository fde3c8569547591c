//! fsa's application services: what an operator or a tenant asks of the
//! service, whichever face it comes through. The HTTP server and the CLI
//! both call these and map [`AppError`] their own way (problem+json, or a
//! message and a non-zero exit); neither HTTP nor its secrets are known here.
//!
//! # Layout
//! - [`App`]: what the services need: the router and the plans' limits.
//! - [`config`]: the composition root's input: defaults, TOML file, `FSA_*`
//!   variables, generated secrets, and the HTTP server's sections as plain
//!   settings.
//! - [`open()`]: the composition root: catalog, file stores, router and
//!   [`App`] from a [`config::Config`].
//! - [`advice`]: the advisor: rules over the fleet's figures, evidence,
//!   proposed moves (applied within a cap), the seed's cost table.
//! - [`analytics`]: work orders counted across every placement, in parallel
//!   within the connection budget; a placement that cannot answer is named.
//! - [`data`]: a tenant's own data as its users reach it: every use case
//!   of the tenant API, as the acting [`data::User`].
//! - [`demo`]: the demo seed's tenants and their data.
//! - [`error`]: [`AppError`], with the data each face needs to report it.
//! - [`tenants`]: onboarding, tenant and placement reads, plan, region and
//!   suspension changes (and the move a plan change schedules).
//! - [`moves`]: scheduling, running, reading, cancelling and resuming
//!   tenant moves through the mover.
//! - [`schema`]: schema migrations across the fleet (canaries, waves,
//!   resume) and the fleet's schema status from the catalog's ledger.
//! - [`usage`]: a tenant's usage against its plan's limits.
//! - [`health`]: fleet health (servers asked in parallel, bounded) and a
//!   tenant's measured figures.
//! - [`files`]: the file stores by plan, streamed uploads, the collector.
//! - [`backups`]: backups of one tenant, their schedule and retention, and
//!   restoring one as a new tenant.
//! - [`jobs`]: background work as jobs in the catalog, one runner per
//!   process (leases, retries, shutdown at a safe point).
//! - [`validate`]: the checks of operator input (names, emails, passwords).
//! - [`password`]: argon2 password hashes.
//!
//! With the `openapi` feature, the views and inputs derive their OpenAPI
//! schemas (the HTTP server enables it; the CLI does not need it).

pub mod advice;
pub mod analytics;
pub mod backups;
pub mod config;
pub mod data;
pub mod demo;
pub mod error;
pub mod files;
pub mod health;
pub mod jobs;
pub mod moves;
mod open;
pub mod password;
pub mod schema;
pub mod tenants;
pub mod usage;
pub mod validate;

use std::sync::Arc;
use std::time::Duration;

use fsa_core::Limits;
use fsa_store::Router;

pub use error::AppError;
pub use moves::{MoveOrder, MovePreview, MoveStarted, MoveView};
pub use open::{OpenError, open};
pub use tenants::{
    Onboarding, OverLimit, PlacementView, PlanChange, RunMove, TenantChange, TenantState,
    TenantView,
};
pub use usage::{FilesUsage, Usage, UsageItem};

/// What the services share: cheap to clone.
#[derive(Clone)]
pub struct App {
    /// Tenant → placement routing and the placement pools.
    router: Arc<Router>,
    /// Every plan's limits, for usage reports and plan changes.
    limits: Arc<Limits>,
    /// How long a move a plan change schedules keeps the source's rows.
    move_cleanup: Duration,
    /// The file stores, by plan.
    files: Arc<files::FileStores>,
    /// Wakes this process's jobs runner when a job is scheduled here.
    jobs_wake: Arc<tokio::sync::Notify>,
    /// The backup store and the schedules per plan.
    backups: Arc<backups::BackupSettings>,
}

impl App {
    pub fn new(
        router: Arc<Router>,
        limits: Limits,
        move_cleanup: Duration,
        files: files::FileStores,
        backups: backups::BackupSettings,
    ) -> Self {
        App {
            router,
            limits: Arc::new(limits),
            move_cleanup,
            files: Arc::new(files),
            jobs_wake: Arc::new(tokio::sync::Notify::new()),
            backups: Arc::new(backups),
        }
    }

    /// This process's jobs runner over the fleet's jobs: the service's job
    /// kinds, the recurring ones, and the resume of stopped moves due at
    /// once. Started by `fsa serve`.
    pub fn runner(&self, cfg: &jobs::JobsConfig) -> jobs::Runner {
        let mut r = jobs::Runner::new(
            self.router.catalog().clone(),
            fsa_move::owner_name(),
            cfg.clone(),
        )
        .woken_by(self.jobs_wake.clone());
        for job in jobs::service_jobs(self) {
            r = r.with(job);
        }
        r = r
            .every(jobs::MOVES_RESUME, jobs::MOVES_RESUME, jobs::RESUME_EVERY)
            .at_start(jobs::MOVES_RESUME);
        if self.backups.schedule {
            r = r.every(
                jobs::BACKUPS_SCHEDULE,
                jobs::BACKUPS_SCHEDULE,
                jobs::BACKUPS_SCHEDULE_EVERY,
            );
        }
        let gc_every = self.files.gc_every;
        if !gc_every.is_zero() {
            r = r.every(jobs::FILES_COLLECT, jobs::FILES_COLLECT, gc_every);
        }
        r
    }

    /// Tells this process's runner a job was scheduled.
    pub(crate) fn wake_jobs(&self) {
        self.jobs_wake.notify_one();
    }

    pub fn files(&self) -> &files::FileStores {
        &self.files
    }

    /// The file stores, shared (the background mover holds them too).
    pub fn file_stores(&self) -> Arc<files::FileStores> {
        self.files.clone()
    }

    /// A mover that carries the tenant's file objects when a move changes
    /// its store.
    pub fn mover(&self) -> fsa_move::Mover {
        fsa_move::Mover::new(self.router.clone()).with_files(self.files.clone())
    }

    /// Collects orphan file objects (deleting them unless `dry_run`) and
    /// reports rows whose objects are missing ([`files::gc`]).
    pub async fn files_gc(&self, dry_run: bool) -> Result<files::gc::GcReport, AppError> {
        files::gc::collect(&self.router, &self.files, dry_run).await
    }

    pub fn router(&self) -> &Arc<Router> {
        &self.router
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }
}
