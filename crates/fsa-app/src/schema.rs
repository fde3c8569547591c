//! Schema migrations across the fleet: the catalog first (opening the
//! [`App`] did that), then `canary` placements one wave, then the rest
//! `concurrency` at a time. A placement that fails is marked in the
//! catalog's ledger and named in the report while the others go on; a
//! failed canary stops the run before the rest. A stop request (Ctrl-C)
//! lets the placements in flight finish and starts no other, so a rerun
//! resumes where this one stopped: each placement's migrations are each
//! applied once, in its own transaction.

use std::sync::atomic::{AtomicBool, Ordering};

use fsa_store::catalog::{Placement, PlacementUsage};
use fsa_store::schema::{MigrationSet, Mode, SchemaError, Step, migrate_placement};
use futures::StreamExt;
use serde::Serialize;

use crate::{App, AppError};

/// How a fleet run goes.
#[derive(Debug, Clone, Copy)]
pub struct MigrateOptions {
    /// Placements migrated at once after the canaries (at most the
    /// connection budget).
    pub concurrency: usize,
    /// Placements migrated first, alone; a failure among them stops the run.
    pub canary: usize,
    /// Say what would be applied, change nothing.
    pub dry_run: bool,
}

/// What happened to one placement.
#[derive(Debug, Clone, Serialize)]
pub struct PlacementOutcome {
    pub name: String,
    pub server: String,
    pub canary: bool,
    /// `migrated`, `current` (nothing to do), `pending` (a dry run's
    /// placement with migrations to apply), `failed`, or `not_run` (the run
    /// stopped first).
    pub state: &'static str,
    pub from: Option<i64>,
    pub to: Option<i64>,
    pub steps: Vec<Step>,
    pub error: Option<String>,
    pub duration_ms: u64,
}

/// A fleet run's report.
#[derive(Debug, Clone, Serialize)]
pub struct FleetReport {
    pub latest: i64,
    pub dry_run: bool,
    pub catalog: &'static str,
    pub placements: Vec<PlacementOutcome>,
    pub migrated: usize,
    pub current: usize,
    pub failed: Vec<String>,
    pub not_run: Vec<String>,
    /// Why the run stopped before the end: `interrupted` or `canary_failed`.
    pub stopped: Option<&'static str>,
}

impl FleetReport {
    /// Whether every placement is at the latest version (or, in a dry run,
    /// could be read).
    pub fn complete(&self) -> bool {
        self.failed.is_empty() && self.not_run.is_empty()
    }
}

/// Told of each placement as it finishes.
pub trait MigrateProgress: Send + Sync {
    fn start(&self, _total: usize) {}
    fn done(&self, _outcome: &PlacementOutcome) {}
}

/// Reports nothing.
pub struct Quiet;
impl MigrateProgress for Quiet {}

/// A placement's schema as `fsa db status` shows it.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PlacementSchema {
    pub name: String,
    pub server: String,
    /// The newest migration applied, as the ledger records it; `null` for
    /// a placement no `fsa db migrate` has recorded yet.
    pub version: Option<i64>,
    /// `current`, `behind`, `migrating`, `failed`, or `unknown` (not
    /// recorded yet).
    pub state: String,
    pub error: Option<String>,
}

/// The fleet's schema, from the catalog alone.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SchemaStatus {
    pub latest: i64,
    pub placements: Vec<PlacementSchema>,
}

impl SchemaStatus {
    /// Placements not at the latest version, by name.
    pub fn behind(&self) -> Vec<&PlacementSchema> {
        self.placements
            .iter()
            .filter(|p| p.state != "current")
            .collect()
    }
}

/// Every live placement's schema version and state, as the ledger has them.
pub async fn status(app: &App) -> Result<SchemaStatus, AppError> {
    let catalog = app.router().catalog();
    let latest = MigrationSet::binary().latest();
    let states: std::collections::HashMap<_, _> = catalog
        .schema_states()
        .await?
        .into_iter()
        .map(|s| (s.placement_id, s))
        .collect();
    let mut placements: Vec<PlacementSchema> = live(catalog.placements().await?)
        .into_iter()
        .map(|p| {
            let s = states.get(&p.placement.id);
            PlacementSchema {
                name: p.placement.name.clone(),
                server: p.placement.server.clone(),
                version: s.map(|s| s.version),
                state: s.map_or("unknown", |s| s.shown(latest)).to_owned(),
                error: s.and_then(|s| s.error.clone()),
            }
        })
        .collect();
    placements.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(SchemaStatus { latest, placements })
}

/// The placements a migration run covers: ready ones (a retired placement
/// holds no tenant; one being provisioned is migrated by its provisioning).
fn live(all: Vec<PlacementUsage>) -> Vec<PlacementUsage> {
    all.into_iter()
        .filter(|p| p.placement.state == fsa_core::PlacementState::Ready)
        .collect()
}

/// Runs `set` over the fleet. `stop` is checked before each placement.
pub async fn migrate_fleet(
    app: &App,
    set: &MigrationSet,
    opts: MigrateOptions,
    progress: &dyn MigrateProgress,
    stop: &AtomicBool,
) -> Result<FleetReport, AppError> {
    let router = app.router();
    let mut all = live(router.catalog().placements().await?);
    // Canaries are the placements that hold the fewest tenants: a bad
    // migration meets as few customers as it can.
    all.sort_by(|a, b| {
        (a.tenant_count, &a.placement.name).cmp(&(b.tenant_count, &b.placement.name))
    });
    let canaries = opts.canary.min(all.len());
    let concurrency = opts
        .concurrency
        .clamp(1, router.settings().connection_budget.max(1) as usize);
    progress.start(all.len());
    let mut report = FleetReport {
        latest: set.latest(),
        dry_run: opts.dry_run,
        catalog: "migrated",
        placements: Vec::with_capacity(all.len()),
        migrated: 0,
        current: 0,
        failed: Vec::new(),
        not_run: Vec::new(),
        stopped: None,
    };
    let rest = all.split_off(canaries);
    let wave = |placements: Vec<PlacementUsage>, canary: bool, n: usize| {
        futures::stream::iter(placements)
            .map(move |p| async move {
                let outcome = if stop.load(Ordering::SeqCst) {
                    not_run(&p.placement, canary)
                } else {
                    one(app, set, &p.placement, canary, opts.dry_run).await
                };
                progress.done(&outcome);
                outcome
            })
            .buffer_unordered(n)
            .collect::<Vec<_>>()
    };
    let first = wave(all, true, concurrency.min(canaries.max(1))).await;
    let canary_failed = first.iter().any(|o| o.state == "failed");
    report.placements.extend(first);
    if canary_failed {
        report.stopped = Some("canary_failed");
        report
            .placements
            .extend(rest.iter().map(|p| not_run(&p.placement, false)));
    } else {
        report
            .placements
            .extend(wave(rest, false, concurrency).await);
    }
    // A migration may create the application role; a role that exists with
    // SUPERUSER or BYPASSRLS is refused, once per server the run touched.
    if !opts.dry_run {
        let mut servers: Vec<&str> = report
            .placements
            .iter()
            .filter(|o| o.state == "migrated")
            .map(|o| o.server.as_str())
            .collect();
        servers.sort_unstable();
        servers.dedup();
        for name in servers {
            if let Some(server) = router.servers().get(name) {
                server.check_app_role().await?;
            }
        }
    }
    if report.stopped.is_none() && stop.load(Ordering::SeqCst) {
        report.stopped = Some("interrupted");
    }
    for o in &report.placements {
        match o.state {
            "migrated" => report.migrated += 1,
            "current" => report.current += 1,
            "failed" => report.failed.push(o.name.clone()),
            "not_run" => report.not_run.push(o.name.clone()),
            _ => {}
        }
    }
    if report.stopped == Some("interrupted") && report.not_run.is_empty() {
        report.stopped = None;
    }
    report.failed.sort();
    report.not_run.sort();
    Ok(report)
}

fn not_run(p: &Placement, canary: bool) -> PlacementOutcome {
    PlacementOutcome {
        name: p.name.clone(),
        server: p.server.clone(),
        canary,
        state: "not_run",
        from: None,
        to: None,
        steps: Vec::new(),
        error: None,
        duration_ms: 0,
    }
}

async fn one(
    app: &App,
    set: &MigrationSet,
    p: &Placement,
    canary: bool,
    dry_run: bool,
) -> PlacementOutcome {
    let started = std::time::Instant::now();
    let mut out = not_run(p, canary);
    let result = match app.router().servers().get(&p.server) {
        Some(server) => {
            let mode = Mode {
                dry_run,
                check_role: false,
            };
            migrate_placement(app.router().catalog(), server, p, set, mode).await
        }
        None => Err(SchemaError::Store {
            placement: p.name.clone(),
            source: fsa_store::StoreError::Config(format!("server {} is not configured", p.server)),
        }),
    };
    out.duration_ms = started.elapsed().as_millis() as u64;
    match result {
        Ok(run) => {
            out.state = match (run.steps.is_empty(), dry_run) {
                (true, _) => "current",
                (false, true) => "pending",
                (false, false) => "migrated",
            };
            out.from = Some(run.from);
            out.to = Some(run.to);
            out.steps = run.steps;
        }
        Err(e) => {
            tracing::warn!(placement = %p.name, error = %e, "placement migration failed");
            out.state = "failed";
            out.error = Some(e.to_string());
        }
    }
    out
}
