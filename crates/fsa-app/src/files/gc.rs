//! The file collector: objects whose rows never committed (a crash between
//! an upload's object and its row, or a delete whose object delete failed)
//! and rows whose objects vanished.
//!
//! Every store's objects under `tenants/` are listed first, then every
//! tenant's rows are read on its placement. An object no row names is an
//! orphan and is deleted (unless a dry run) once it is older than the grace
//! period: an upload stores its object before its row commits, so a young
//! object may be an upload in flight. An object is kept when its tenant's
//! rows could not be read. A row whose object is in no store is reported,
//! never deleted (its object may come back from a backup).
//!
//! Uploads left unfinished (a process killed mid-upload: S3 parts no
//! object listing shows, a local staging file) are aborted too once older
//! than the grace period.
//!
//! A store that does not answer is reported and the others are still
//! collected; while one's objects are unlisted, no row is called missing.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use fsa_store::repo::files;
use fsa_store::{Mode, Router};
use futures::TryStreamExt;
use serde::Serialize;
use uuid::Uuid;

use super::{FileError, FileStores, Store};
use crate::AppError;

/// What a collection found and did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct GcReport {
    pub dry_run: bool,
    /// Objects listed, over every store.
    pub objects: u64,
    /// Rows read, over every tenant.
    pub rows: u64,
    /// Objects no row names, older than the grace period.
    pub orphans: Vec<Orphan>,
    /// Objects no row names, younger than the grace period: kept.
    pub young_orphans: u64,
    /// Rows whose object is in no store.
    pub missing: Vec<Missing>,
    /// Tenants whose rows could not be read: their objects were kept.
    pub skipped_tenants: Vec<SkippedTenant>,
    /// Orphans deleted (0 on a dry run).
    pub deleted: u64,
    /// Uploads never completed nor aborted, older than the grace period.
    pub incomplete_uploads: Vec<IncompleteUpload>,
    /// Unfinished uploads younger than the grace period: kept, they may
    /// be in flight.
    pub young_incomplete_uploads: u64,
    /// Unfinished uploads aborted (0 on a dry run).
    pub incomplete_uploads_aborted: u64,
    /// Stores that did not answer (or refused), by step: the others were
    /// still collected, and no row is called missing while one is here.
    pub failed_stores: Vec<FailedStore>,
}

#[derive(Debug, Clone, Serialize)]
pub struct IncompleteUpload {
    pub store: String,
    pub key: String,
    /// S3's upload id; none for a local staging file.
    pub upload_id: Option<String>,
    pub initiated: DateTime<Utc>,
    pub aborted: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct FailedStore {
    pub store: String,
    /// `uploads` (listing unfinished uploads) or `objects` (listing objects).
    pub step: &'static str,
    pub error: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Orphan {
    pub store: String,
    pub key: String,
    pub size: u64,
    pub last_modified: DateTime<Utc>,
    pub deleted: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Missing {
    pub tenant: String,
    pub file_id: Uuid,
    pub store: String,
    pub key: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct SkippedTenant {
    pub tenant: String,
    pub error: String,
}

/// The tenant id in a key `tenants/<tenant id>/<file id>`.
fn tenant_of(key: &str) -> Option<&str> {
    key.strip_prefix("tenants/")?.split('/').next()
}

/// Collects orphan objects (deleting them unless `dry_run`) and reports
/// rows whose objects are missing, over every store and tenant.
#[tracing::instrument(skip_all, err, fields(gc.dry_run = dry_run))]
pub async fn collect(
    router: &Arc<Router>,
    stores: &FileStores,
    dry_run: bool,
) -> Result<GcReport, AppError> {
    let mut report = GcReport {
        dry_run,
        ..Default::default()
    };
    let grace = chrono::Duration::from_std(stores.gc_grace).unwrap_or(chrono::Duration::MAX);
    // Apart from the objects: no row ever names an upload.
    sweep_uploads(stores, grace, dry_run, &mut report).await;
    // Objects first: an upload whose row commits after this is young.
    let mut listed: BTreeMap<String, Vec<object_store::ObjectMeta>> = BTreeMap::new();
    for store in stores.all() {
        let prefix = Store::path("tenants");
        let objects: Result<Vec<object_store::ObjectMeta>, _> =
            store.objects.list(Some(&prefix)).try_collect().await;
        match objects {
            Ok(objects) => {
                report.objects += objects.len() as u64;
                listed.insert(store.name.clone(), objects);
            }
            Err(e) => {
                let e = store.error(e);
                tracing::warn!(store = %store.name, error = %e, "files gc: the store's objects could not be listed; it is skipped");
                report.failed_stores.push(FailedStore {
                    store: store.name.clone(),
                    step: "objects",
                    error: e.to_string(),
                });
            }
        }
    }
    // A row whose object is in no store that answered may be in one that
    // did not: it cannot be called missing.
    let unlisted = stores.all().count() > listed.len();
    let mut rows: HashSet<String> = HashSet::new();
    let mut expected: Vec<(String, Uuid, fsa_core::Plan, String)> = Vec::new();
    let mut skipped: HashSet<String> = HashSet::new();
    for t in router.catalog().tenants().await? {
        let id = t.tenant_id();
        let keys = async {
            let mut tx = router.begin(id, Mode::Read).await?;
            let keys = files::keys(&mut tx).await?;
            tx.commit().await?;
            Ok::<_, fsa_store::StoreError>(keys)
        }
        .await;
        match keys {
            Ok(keys) => {
                report.rows += keys.len() as u64;
                for (file, key) in keys {
                    rows.insert(key.clone());
                    expected.push((id.to_string(), file, t.plan, key));
                }
            }
            Err(e) => {
                tracing::warn!(tenant.id = %id, error = %e, "files gc: the tenant's rows could not be read; its objects are kept");
                skipped.insert(id.to_string());
                report.skipped_tenants.push(SkippedTenant {
                    tenant: id.to_string(),
                    error: e.to_string(),
                });
            }
        }
    }
    let now = Utc::now();
    let mut present: HashMap<&str, HashSet<&str>> = HashMap::new();
    for (name, objects) in &listed {
        let store = stores.get(name).expect("listed from the stores");
        let here = present.entry(name.as_str()).or_default();
        for o in objects {
            let key = o.location.as_ref();
            here.insert(key);
            if rows.contains(key) || tenant_of(key).is_some_and(|t| skipped.contains(t)) {
                continue;
            }
            if now.signed_duration_since(o.last_modified) < grace {
                report.young_orphans += 1;
                continue;
            }
            let mut deleted = false;
            if !dry_run {
                match store.delete(key).await {
                    Ok(()) => {
                        deleted = true;
                        report.deleted += 1;
                    }
                    Err(e) => {
                        tracing::warn!(store = %name, key, error = %e, "files gc: deleting an orphan failed");
                    }
                }
            }
            report.orphans.push(Orphan {
                store: name.clone(),
                key: key.to_owned(),
                size: o.size,
                last_modified: o.last_modified,
                deleted,
            });
        }
    }
    for (tenant, file_id, plan, key) in expected {
        // In any store: a tenant whose plan changed stores keeps its earlier
        // objects where they were uploaded until they are copied over.
        if unlisted || present.values().any(|s| s.contains(key.as_str())) {
            continue;
        }
        // Uploaded after the listing? Asked once more.
        match stores.locate(plan, &key).await {
            Ok(_) => continue,
            Err(FileError::Missing) => {}
            Err(e) => return Err(AppError::File(e)),
        }
        report.missing.push(Missing {
            tenant,
            file_id,
            store: stores.store_name(plan).to_owned(),
            key,
        });
    }
    tracing::info!(
        gc.objects = report.objects,
        gc.rows = report.rows,
        gc.orphans = report.orphans.len(),
        gc.deleted = report.deleted,
        gc.missing = report.missing.len(),
        gc.incomplete_uploads = report.incomplete_uploads.len(),
        gc.incomplete_uploads_aborted = report.incomplete_uploads_aborted,
        "files gc done"
    );
    Ok(report)
}

/// Aborts every store's unfinished uploads older than `grace` (none on a
/// dry run).
async fn sweep_uploads(
    stores: &FileStores,
    grace: chrono::Duration,
    dry_run: bool,
    report: &mut GcReport,
) {
    for store in stores.all() {
        let leftovers = match store.leftover_uploads().await {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(store = %store.name, error = %e, "files gc: the store's unfinished uploads could not be listed");
                report.failed_stores.push(FailedStore {
                    store: store.name.clone(),
                    step: "uploads",
                    error: e.to_string(),
                });
                continue;
            }
        };
        let now = Utc::now();
        for u in leftovers {
            if now.signed_duration_since(u.initiated) < grace {
                report.young_incomplete_uploads += 1;
                continue;
            }
            let mut aborted = false;
            if !dry_run {
                match store.abort_upload(&u).await {
                    Ok(()) => {
                        aborted = true;
                        report.incomplete_uploads_aborted += 1;
                    }
                    Err(e) => {
                        tracing::warn!(store = %store.name, key = u.key, error = %e, "files gc: aborting an unfinished upload failed");
                    }
                }
            }
            report.incomplete_uploads.push(IncompleteUpload {
                store: store.name.clone(),
                key: u.key,
                upload_id: u.upload_id,
                initiated: u.initiated,
                aborted,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_from_key() {
        assert_eq!(tenant_of("tenants/abc/def"), Some("abc"));
        assert_eq!(tenant_of("other/abc"), None);
    }
}
