//! Backups of one tenant, and restoring one as a new tenant.
//!
//! A backup reads the tenant's rows at one snapshot of its placement and
//! writes them, with its file objects, to the backup store in the format of
//! `fsa_move::archive` (manifest last). The catalog's `backups` row says
//! `running`, `done` (with the manifest) or `failed`. Scheduled backups and
//! retention per plan are [`schedule`]; the jobs that run them are
//! `crate::jobs`'s.

mod config;
mod restore;
pub mod schedule;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use fsa_move::Progress;
use fsa_move::archive::{self, ArchiveError, Manifest, TenantInfo};
use fsa_move::endpoint::Endpoint;
use fsa_store::backups::{BackupRow, Backups};
use fsa_store::catalog::Tenant;
use fsa_store::objects::Store;
use serde::Serialize;
use uuid::Uuid;

pub use config::{BackupKey, BackupPlan, BackupPlans, BackupsConfig};
pub use restore::{Restored, RestoredInPlace};

use crate::{App, AppError};

/// A backup as `fsa backup list` and `GET /admin/backups` show it.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BackupView {
    pub id: Uuid,
    /// The tenant's slug when the backup was made.
    pub tenant: String,
    pub tenant_id: Uuid,
    pub plan: String,
    /// `running`, `done` or `failed`.
    pub state: String,
    /// `operator` or `schedule`.
    pub reason: String,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub size_bytes: Option<i64>,
    pub error: Option<String>,
    /// The manifest, once done.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub manifest: Option<serde_json::Value>,
}

impl From<BackupRow> for BackupView {
    fn from(r: BackupRow) -> Self {
        BackupView {
            id: r.id,
            tenant: r.tenant_slug,
            tenant_id: r.tenant_id,
            plan: r.plan,
            state: r.state,
            reason: r.reason,
            created_at: r.created_at.0,
            finished_at: r.finished_at.map(|t| t.0),
            size_bytes: r.size_bytes,
            error: r.error,
            manifest: r.manifest.and_then(|m| serde_json::from_str(&m).ok()),
        }
    }
}

/// What `verify` found.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VerifyReport {
    pub id: Uuid,
    pub ok: bool,
    pub parts: usize,
    pub bytes: u64,
    pub rows: u64,
}

/// The backup store and schedule, opened.
pub struct BackupSettings {
    pub store: Store,
    pub plans: BackupPlans,
    pub schedule: bool,
    pub max_started_per_minute: usize,
    /// The key parts are encrypted with, when one is set.
    pub cipher: Option<archive::Cipher>,
}

impl BackupSettings {
    /// Opens the backup store of `cfg` (default `backups/` under
    /// `data_dir`) and checks the schedules.
    pub fn open(cfg: &BackupsConfig, data_dir: &std::path::Path) -> Result<Self, String> {
        let store = match &cfg.url {
            Some(url) => fsa_store::objects::open_store(
                "backups",
                &fsa_store::objects::StoreConfig {
                    url: url.clone(),
                    endpoint: cfg.endpoint.clone(),
                    region: cfg.region.clone(),
                    access_key_id: cfg.access_key_id.clone(),
                    secret_access_key: cfg.secret_access_key.clone(),
                },
            ),
            None => fsa_store::objects::open_local("backups", &data_dir.join("backups")),
        }
        .map_err(|e| e.to_string())?;
        cfg.plans.parsed()?;
        let cipher = cfg
            .key
            .as_ref()
            .map(|k| archive::Cipher::from_hex(k.0.expose()).map_err(|e| format!("key: {e}")))
            .transpose()?;
        Ok(BackupSettings {
            cipher,
            store,
            plans: cfg.plans.clone(),
            schedule: cfg.schedule,
            max_started_per_minute: cfg.max_started_per_minute,
        })
    }
}

impl From<ArchiveError> for AppError {
    fn from(e: ArchiveError) -> Self {
        match e {
            ArchiveError::Store(s) => s.into(),
            ArchiveError::Files(f) => f.into(),
            e @ ArchiveError::Damaged(_) => AppError::Conflict {
                code: "backup_damaged",
                detail: e.to_string(),
            },
            ArchiveError::Format(d) => AppError::Conflict {
                code: "backup_unreadable",
                detail: d,
            },
            ArchiveError::Io(io) => AppError::Conflict {
                code: "backup_unreadable",
                detail: io.to_string(),
            },
            ArchiveError::Key(d) => AppError::Conflict {
                code: "backup_key",
                detail: d,
            },
        }
    }
}

/// The job kind that writes one backup.
pub const BACKUP_JOB: &str = "backup";
/// The job kind that restores a backup as a new tenant.
pub const RESTORE_JOB: &str = "restore";

impl App {
    fn backup_store(&self) -> &Store {
        &self.backups.store
    }

    /// Records a backup of tenant `slug` and schedules its job (a serving
    /// process runs it; this one at once if it runs one).
    pub async fn start_backup(&self, slug: &str, reason: &str) -> Result<BackupView, AppError> {
        let t = self.tenant_row(slug).await?;
        let id = self.record_backup(&t, reason).await?;
        fsa_store::jobs::Jobs::new(self.router.catalog())
            .schedule_once(
                &format!("backup/{id}"),
                BACKUP_JOB,
                Some(&id.to_string()),
                0,
            )
            .await?;
        self.wake_jobs();
        self.backup(id).await
    }

    /// Backs tenant `slug` up here and now, telling `progress`.
    pub async fn backup_now(
        &self,
        slug: &str,
        reason: &str,
        progress: Arc<dyn Progress>,
    ) -> Result<BackupView, AppError> {
        let t = self.tenant_row(slug).await?;
        let id = self.record_backup(&t, reason).await?;
        self.run_backup(id, &*progress).await?;
        self.backup(id).await
    }

    async fn record_backup(&self, t: &Tenant, reason: &str) -> Result<Uuid, AppError> {
        let id = fsa_core::new_id();
        Backups::new(self.router.catalog())
            .start(id, t.id, &t.slug, t.plan.as_str(), reason)
            .await?;
        Ok(id)
    }

    /// Writes backup `id` (recorded `running`); records it `done` with its
    /// manifest, or `failed` with why.
    pub async fn run_backup(&self, id: Uuid, progress: &dyn Progress) -> Result<(), AppError> {
        let rows = Backups::new(self.router.catalog());
        let row = rows.get(id).await?.ok_or(AppError::NotFound("backup"))?;
        if row.state != "running" {
            return Ok(());
        }
        let written = self.write_backup(&row, progress).await;
        match written {
            Ok(_) if rows.get(id).await?.is_some_and(|r| r.state != "running") => {
                // Given up on meanwhile (taken for abandoned): not listed.
                tracing::warn!(backup.id = %id, "a backup finished after it was given up; its parts are collected");
                self.delete_backup_parts_of(id).await?;
                Err(AppError::Conflict {
                    code: "backup_abandoned",
                    detail: format!("backup {id} was given up while it ran"),
                })
            }
            Ok(m) => {
                let text = serde_json::to_string(&m).unwrap_or_default();
                rows.done(id, m.size_bytes() as i64, &text).await?;
                tracing::info!(backup.id = %id, tenant.slug = %row.tenant_slug, bytes = m.size_bytes(), "backup written");
                Ok(())
            }
            Err(e) => {
                tracing::warn!(backup.id = %id, tenant.slug = %row.tenant_slug, error = %e, "backup failed");
                rows.failed(id, &e.to_string()).await?;
                Err(e)
            }
        }
    }

    async fn write_backup(
        &self,
        row: &BackupRow,
        progress: &dyn Progress,
    ) -> Result<Manifest, AppError> {
        let catalog = self.router.catalog();
        let t = catalog
            .tenant_by_id(fsa_core::TenantId::from_verified(row.tenant_id))
            .await?
            .ok_or(AppError::NotFound("tenant"))?;
        let mut db = self.owner_endpoint(t.placement_id).await?;
        let src = archive::write::Source {
            db: &mut db,
            tenant: TenantInfo {
                id: t.id,
                slug: t.slug.clone(),
                plan: t.plan.as_str().to_owned(),
                region: t.region.as_str().to_owned(),
            },
            files: Some((&self.files, t.plan)),
        };
        Ok(archive::write::write(
            self.backup_store(),
            row.id,
            src,
            self.backups.cipher.as_ref(),
            progress,
        )
        .await?)
    }

    /// An owner's connection to a placement's database (it sees every
    /// tenant's rows there; used by backups and restores only).
    async fn owner_endpoint(&self, placement: Uuid) -> Result<Endpoint, AppError> {
        let p = self
            .router
            .catalog()
            .placement(placement)
            .await?
            .ok_or_else(|| AppError::MissingPlacement {
                tenant: placement.to_string(),
            })?;
        let server = self.router.servers().get(&p.server).ok_or_else(|| {
            AppError::Store(fsa_store::StoreError::Config(format!(
                "server {} is not configured",
                p.server
            )))
        })?;
        let pool = server.open_admin_connection_pool(&p.db_name).await?;
        Ok(Endpoint::acquire(&pool).await?)
    }

    /// Per plan, the age in seconds of the oldest among its tenants'
    /// newest finished backups (how far behind the plan's worst-served
    /// tenant is), read from the catalog.
    pub async fn backup_ages(&self) -> Result<Vec<(String, f64)>, AppError> {
        let now = Utc::now();
        Ok(Backups::new(self.router.catalog())
            .oldest_newest_by_plan()
            .await?
            .into_iter()
            .map(|(plan, at)| (plan, (now - at.0).num_milliseconds().max(0) as f64 / 1000.0))
            .collect())
    }

    /// One backup.
    pub async fn backup(&self, id: Uuid) -> Result<BackupView, AppError> {
        Backups::new(self.router.catalog())
            .get(id)
            .await?
            .map(BackupView::from)
            .ok_or(AppError::NotFound("backup"))
    }

    /// The newest backups, of tenant `slug` or of all, newest first.
    pub async fn backups(&self, slug: Option<&str>) -> Result<Vec<BackupView>, AppError> {
        let tenant = match slug {
            Some(s) => Some(self.tenant_row(s).await?.id),
            None => None,
        };
        Ok(Backups::new(self.router.catalog())
            .list(tenant, 500)
            .await?
            .into_iter()
            .map(BackupView::from)
            .collect())
    }

    /// The manifest of a finished backup, read from the backup store (not
    /// the catalog's copy: that is what is checked).
    async fn stored_manifest(&self, id: Uuid) -> Result<Manifest, AppError> {
        let b = self.backup(id).await?;
        if b.state != "done" {
            return Err(AppError::Conflict {
                code: "backup_not_done",
                detail: format!("backup {id} is {}", b.state),
            });
        }
        let m = archive::read::manifest(self.backup_store(), id)
            .await?
            .ok_or_else(|| {
                AppError::from(ArchiveError::Damaged("its manifest is missing".into()))
            })?;
        let recorded: Option<Manifest> = b.manifest.and_then(|v| serde_json::from_value(v).ok());
        if recorded.as_ref() != Some(&m) {
            return Err(ArchiveError::Damaged(
                "the stored manifest differs from the one the catalog recorded".into(),
            )
            .into());
        }
        Ok(m)
    }

    /// Re-reads every part of backup `id` and checks it against its
    /// manifest.
    pub async fn verify_backup(&self, id: Uuid) -> Result<VerifyReport, AppError> {
        let m = self.stored_manifest(id).await?;
        let v = archive::verify(self.backup_store(), &m, self.backups.cipher.as_ref()).await?;
        Ok(VerifyReport {
            id,
            ok: true,
            parts: v.parts,
            bytes: v.bytes,
            rows: v.rows,
        })
    }
}
