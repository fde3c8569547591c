//! Restores: a backup as a new tenant beside the original, or over its
//! own tenant in place. Either way the backup is verified whole first and
//! the result is checked against the manifest before anyone sees it.

use std::sync::Arc;

use fsa_core::{Lifecycle, Plan, Region, Residency};
use fsa_move::archive::{self, ArchiveError, Manifest};
use fsa_move::{NoProgress, Progress};
use fsa_store::catalog::NewTenant;
use serde::Serialize;
use uuid::Uuid;

use super::RESTORE_JOB;
use crate::{App, AppError};

/// A restore as a new tenant, done.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Restored {
    /// The backup restored.
    pub backup: Uuid,
    /// The new tenant.
    pub tenant: crate::TenantView,
    /// Rows per table, checked against the manifest.
    pub rows: u64,
    pub objects: u64,
}

/// A restore in place, done.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RestoredInPlace {
    pub backup: Uuid,
    pub tenant: String,
    /// Rows now, checked against the manifest.
    pub rows: u64,
    pub objects: u64,
    /// The backup of the tenant's state just before the restore.
    pub before: Uuid,
}

impl App {
    /// Restores backup `id` as a new tenant `slug` (new id, the same rows
    /// and files), placed where its plan places it, checked against the
    /// manifest before it is made routable. The backup is verified whole
    /// first: a damaged one changes nothing.
    pub async fn restore_as(
        &self,
        id: Uuid,
        slug: &str,
        progress: Arc<dyn Progress>,
    ) -> Result<Restored, AppError> {
        let m = self.stored_manifest(id).await?;
        let new_slug = fsa_core::ids::Slug::parse(slug)
            .map_err(|e| AppError::validation("as", e.to_string()))?;
        self.reclaim_interrupted_restore(&m, new_slug.as_str())
            .await?;
        let plan: Plan = m
            .tenant
            .plan
            .parse()
            .map_err(|_| ArchiveError::Format(format!("unknown plan {}", m.tenant.plan)))?;
        let region = Region::parse(&m.tenant.region)
            .ok()
            .filter(|r| crate::validate::known_region(&self.router, r))
            .unwrap_or_else(Region::default_region);
        self.check_whole(&m, &*progress).await?;
        let new = NewTenant {
            id: fsa_core::TenantId::generate(),
            slug: new_slug.to_string(),
            name: restored_name(&m),
            plan,
            region,
            isolation_requested: false,
        };
        let (alloc, tx) = self.router.begin_onboarding(&new).await?;
        tx.commit().await?;
        let to = new.id.as_uuid();
        let loaded = self
            .load_backup(&m, alloc.placement.id, to, plan, &*progress)
            .await;
        let (rows, objects) = match loaded {
            Ok(r) => r,
            Err(e) => {
                if let Ok(mut db) = self.owner_endpoint(alloc.placement.id).await {
                    let _ = fsa_move::phase::clear_tenant(&mut db, to).await;
                }
                self.router.abandon_onboarding(new.id).await;
                return Err(e);
            }
        };
        self.router.activate(new.id).await?;
        tracing::info!(backup.id = %id, tenant.slug = %new.slug, rows, objects, "backup restored as a new tenant");
        Ok(Restored {
            backup: id,
            tenant: self.tenant(&new.slug).await?,
            rows,
            objects,
        })
    }

    /// Makes room for a restore as `slug`: free, or held by an earlier
    /// restore of the same tenant's backup that stopped before it ended (a
    /// killed process: the tenant never became active). Such a tenant's
    /// rows are cleared and its record forgotten, so the restore runs again
    /// from the start. Any other tenant of that name is `slug_taken`.
    async fn reclaim_interrupted_restore(&self, m: &Manifest, slug: &str) -> Result<(), AppError> {
        let Some(t) = self.router.catalog().tenant_by_slug(slug).await? else {
            return Ok(());
        };
        if t.state != Lifecycle::Provisioning || t.name != restored_name(m) {
            return Err(AppError::Conflict {
                code: "slug_taken",
                detail: format!("a tenant {slug} exists"),
            });
        }
        tracing::warn!(
            tenant.slug = slug,
            "an earlier restore as this tenant stopped part way; starting it again"
        );
        let mut db = self.owner_endpoint(t.placement_id).await?;
        fsa_move::phase::clear_tenant(&mut db, t.id).await?;
        self.router
            .abandon_onboarding(fsa_core::TenantId::from_verified(t.id))
            .await;
        Ok(())
    }

    /// Loads backup `m` into placement `placement` as tenant `to`, copies
    /// its objects into `plan`'s store, and checks the result against the
    /// manifest. Returns (rows, objects).
    async fn load_backup(
        &self,
        m: &Manifest,
        placement: Uuid,
        to: Uuid,
        plan: Plan,
        progress: &dyn Progress,
    ) -> Result<(u64, u64), AppError> {
        let mut db = self.owner_endpoint(placement).await?;
        progress.phase("rows");
        // Into a database that holds no other tenant, secondary indexes are
        // built once after the load (as the move does).
        db.defer_indexes(to).await?;
        db.begin_deferred().await?;
        let loaded = async {
            let objects = archive::load(
                self.backup_store(),
                m,
                self.backups.cipher.as_ref(),
                &mut db,
                to,
                progress,
            )
            .await?;
            let epoch = db.state(to).await?.map_or(1, |s| s.epoch);
            db.put_state(to, Residency::Active, epoch, m.next_wo_number)
                .await?;
            Ok::<_, AppError>(objects)
        }
        .await;
        let objects = match loaded {
            Ok(o) => {
                db.commit().await?;
                db.restore_indexes().await?;
                o
            }
            Err(e) => {
                let _ = db.rollback().await;
                let _ = db.restore_indexes().await;
                return Err(e);
            }
        };
        progress.phase("objects");
        let target = self.files.for_plan(plan);
        let mut copied = std::collections::BTreeSet::new();
        for (sha256, key) in &objects {
            if copied.insert(key.clone()) {
                archive::read::copy_object(
                    self.backup_store(),
                    m,
                    self.backups.cipher.as_ref(),
                    sha256,
                    target,
                    key,
                )
                .await?;
            }
        }
        progress.phase("checking");
        let figures = archive::figures(&mut db, to, m.tenant.id).await?;
        if figures != m.tables {
            return Err(ArchiveError::Damaged(format!(
                "the restored rows differ from the manifest: {figures:?}"
            ))
            .into());
        }
        let rows = figures.values().map(|t| t.rows).sum();
        Ok((rows, copied.len() as u64))
    }

    /// Restores backup `id` over its own tenant, online: the backup is
    /// verified whole, the tenant's current state is backed up first, the
    /// backup's objects are put in the tenant's store, then in one
    /// transaction holding the tenant's write lock (its writers wait, they
    /// do not fail) the tenant's rows are replaced by the backup's and
    /// checked against the manifest. Any failure rolls the transaction
    /// back: the tenant is as it was. Neighbours are never touched.
    pub async fn restore_in_place(
        &self,
        id: Uuid,
        progress: Arc<dyn Progress>,
    ) -> Result<RestoredInPlace, AppError> {
        let m = self.stored_manifest(id).await?;
        let catalog = self.router.catalog();
        let t = catalog
            .tenant_by_id(fsa_core::TenantId::from_verified(m.tenant.id))
            .await?
            .ok_or_else(|| AppError::Conflict {
                code: "tenant_gone",
                detail: format!(
                    "tenant {} no longer exists; restore the backup as a new tenant with `as`",
                    m.tenant.slug
                ),
            })?;
        if t.state != Lifecycle::Active {
            return Err(AppError::Conflict {
                code: "tenant_not_active",
                detail: format!("tenant {} is {}", t.slug, t.state),
            });
        }
        if fsa_move::Ledger::new(catalog)
            .open_moves()
            .await?
            .iter()
            .any(|mv| mv.tenant_id == t.id)
        {
            return Err(AppError::Conflict {
                code: "move_in_progress",
                detail: "the tenant has a move in progress".into(),
            });
        }
        self.check_whole(&m, &*progress).await?;
        progress.phase("backing up");
        let before = self
            .backup_now(&t.slug, "before restore", Arc::new(NoProgress))
            .await?;
        progress.phase("objects");
        let target = self.files.for_plan(t.plan);
        let objects = m.files.objects;
        let mut db = self.owner_endpoint(t.placement_id).await?;
        progress.phase("rows");
        db.begin_exclusive(t.id).await?;
        let replaced = async {
            db.defer_constraints().await?;
            let epoch = db
                .state(t.id)
                .await?
                .filter(|s| s.state == Residency::Active)
                .ok_or_else(|| AppError::Conflict {
                    code: "tenant_not_active",
                    detail: "the tenant is not active at its placement".into(),
                })?
                .epoch;
            db.clear_in_tx(t.id).await?;
            let keys = archive::load(
                self.backup_store(),
                &m,
                self.backups.cipher.as_ref(),
                &mut db,
                t.id,
                &*progress,
            )
            .await?;
            db.put_state(t.id, Residency::Active, epoch, m.next_wo_number)
                .await?;
            // Objects before the commit: no row is ever seen without its.
            let mut seen = std::collections::BTreeSet::new();
            for (sha256, key) in &keys {
                if seen.insert(key.clone()) && target.head(key).await.is_err() {
                    archive::read::copy_object(
                        self.backup_store(),
                        &m,
                        self.backups.cipher.as_ref(),
                        sha256,
                        target,
                        key,
                    )
                    .await?;
                }
            }
            let figures = archive::figures(&mut db, t.id, t.id).await?;
            if figures != m.tables {
                return Err(AppError::from(ArchiveError::Damaged(format!(
                    "the restored rows differ from the manifest: {figures:?}"
                ))));
            }
            Ok(figures.values().map(|f| f.rows).sum::<u64>())
        }
        .await;
        let rows = match replaced {
            Ok(rows) => {
                db.commit().await?;
                rows
            }
            Err(e) => {
                let _ = db.rollback().await;
                return Err(e);
            }
        };
        self.router.invalidate(t.tenant_id());
        tracing::info!(backup.id = %id, tenant.slug = %t.slug, rows, before = %before.id, "tenant restored in place");
        Ok(RestoredInPlace {
            backup: id,
            tenant: t.slug,
            rows,
            objects,
            before: before.id,
        })
    }

    /// Schedules the restore of backup `id` (as the new tenant `slug`, or
    /// in place) as a job; answers the job's name.
    pub async fn start_restore(&self, id: Uuid, slug: Option<&str>) -> Result<String, AppError> {
        let m = self.stored_manifest(id).await?;
        archive::key_for(&m, self.backups.cipher.as_ref())?;
        let (name, subject) = match slug {
            Some(slug) => {
                fsa_core::ids::Slug::parse(slug)
                    .map_err(|e| AppError::validation("as", e.to_string()))?;
                if self.router.catalog().tenant_by_slug(slug).await?.is_some() {
                    return Err(AppError::Conflict {
                        code: "slug_taken",
                        detail: format!("a tenant {slug} exists"),
                    });
                }
                (format!("restore/{id}/{slug}"), format!("{id} {slug}"))
            }
            None => {
                let gone = self
                    .router
                    .catalog()
                    .tenant_by_id(fsa_core::TenantId::from_verified(m.tenant.id))
                    .await?
                    .is_none();
                if gone {
                    return Err(AppError::Conflict {
                        code: "tenant_gone",
                        detail: format!(
                            "tenant {} no longer exists; restore the backup as a new tenant with `as`",
                            m.tenant.slug
                        ),
                    });
                }
                (format!("restore/{id}"), id.to_string())
            }
        };
        fsa_store::jobs::Jobs::new(self.router.catalog())
            .schedule_once(&name, RESTORE_JOB, Some(&subject), 0)
            .await?;
        self.wake_jobs();
        Ok(name)
    }

    /// Runs a restore job's work: `<id> <slug>` as a new tenant, `<id>` in
    /// place.
    pub(crate) async fn run_restore_job(&self, subject: &str) -> Result<(), AppError> {
        let bad = || AppError::validation("subject", "not a restore");
        match subject.split_once(' ') {
            Some((id, slug)) => {
                let id = Uuid::parse_str(id).map_err(|_| bad())?;
                if self
                    .router
                    .catalog()
                    .tenant_by_slug(slug)
                    .await?
                    .is_some_and(|t| t.state == Lifecycle::Active)
                {
                    // Done by an earlier run whose end was not recorded.
                    return Ok(());
                }
                self.restore_as(id, slug, Arc::new(NoProgress))
                    .await
                    .map(|_| ())
            }
            None => {
                let id = Uuid::parse_str(subject).map_err(|_| bad())?;
                self.restore_in_place(id, Arc::new(NoProgress))
                    .await
                    .map(|_| ())
            }
        }
    }

    /// Refuses a backup this fsa cannot load (a newer schema) or whose
    /// parts are not all as its manifest says: before anything changes.
    async fn check_whole(&self, m: &Manifest, progress: &dyn Progress) -> Result<(), AppError> {
        if m.schema_version > fsa_store::schema::MigrationSet::binary().latest() {
            return Err(ArchiveError::Format(format!(
                "the backup was made at schema version {}, newer than this fsa's",
                m.schema_version
            ))
            .into());
        }
        progress.phase("verifying");
        archive::verify(self.backup_store(), m, self.backups.cipher.as_ref()).await?;
        Ok(())
    }
}

/// The name a tenant restored from `m` gets.
fn restored_name(m: &Manifest) -> String {
    format!("{} (restored)", m.tenant.slug)
}
