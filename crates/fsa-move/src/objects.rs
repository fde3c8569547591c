//! A tenant's file objects in a move. When the plan the tenant has after
//! the move names another store than the plan it has now, its objects go
//! with its rows:
//!
//! | phase | what happens to the objects |
//! |---|---|
//! | copy, catch-up | after each row pass, the objects the target's rows name and the target store lacks are streamed over, a few at a time, each hashed on the way and checked against its row's SHA-256 |
//! | verify | the same, then every object the target's rows name is read back from the target store and its SHA-256 compared with its row's |
//! | switch | the switch changes the plan, and with it the store, under the new epoch; right after it, outside the write pause, the objects of the last delta are copied and read back (nothing is dropped: uploads now go to the target store, an object before its row) |
//! | cleanup | each object the tenant's rows name leaves the source store once the target store is seen to hold it (an upload that straddled the switch and left its object at the source only is copied over first) |
//! | rollback | each copy the source store also holds leaves the target store |
//!
//! The stores a move uses are decided once, before the switch, and kept in
//! its report: cleanup and rollback use the same after a restart. A resumed
//! move lists what the target store holds of the tenant and does not copy
//! again what is there at the row's size; the verification reads all of it
//! back anyway. An object whose row exists but that no store holds was lost
//! before the move: it is reported, and the move goes on (there is nothing
//! to carry). An object whose bytes differ from its row's SHA-256 stops the
//! move: it rolls back, and nothing changes.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use fsa_core::Plan;
use fsa_store::StoreError;
use fsa_store::objects::{FileError, FileStores, Store, Stored, put_stream};
use futures::{StreamExt, TryStreamExt};
use uuid::Uuid;

use crate::endpoint::Endpoint;
use crate::error::{MoveError, Refusal};
use crate::report::FilesReport;

/// Objects copied (or read back) at once.
pub const CONCURRENCY: usize = 8;

/// The most missing keys a report lists (it counts them all).
const LISTED_MISSING: usize = 100;

/// One file row: its object's key, SHA-256 and size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileRow {
    pub key: String,
    pub sha256: String,
    pub size: u64,
}

/// The objects of one run of a move: the two stores, and what the target
/// store is known to hold.
pub(crate) struct Objects {
    tenant: Uuid,
    files: Arc<FileStores>,
    src: Store,
    dst: Store,
    /// Keys the target store holds (listed once per run, then kept), with
    /// their sizes.
    at_target: HashMap<String, u64>,
    /// Keys read back from the target store and found equal to their rows.
    checked: HashSet<String>,
    /// Keys whose object no store holds (the report lists the first ones).
    missing: HashSet<String>,
}

/// The folder of a tenant's objects in a store.
fn prefix(tenant: Uuid) -> String {
    format!("tenants/{tenant}")
}

impl Objects {
    /// The stores a tenant's objects go between when its plan changes
    /// from `now` to `after`: `None` when they are one store (the same
    /// name, or two names for one place: a folder or a bucket and prefix
    /// configured twice, where copying onto itself and then cleaning "the
    /// source" would delete the only copy).
    pub fn stores_for(files: &FileStores, now: Plan, after: Plan) -> Option<FilesReport> {
        let (from, to) = (files.for_plan(now), files.for_plan(after));
        if from.name == to.name || from.location == to.location {
            return None;
        }
        Some(FilesReport {
            from_store: from.name.clone(),
            to_store: to.name.clone(),
            ..FilesReport::default()
        })
    }

    /// Opens the stores `r` names for `tenant`'s objects, and lists what
    /// the target store holds of them.
    pub async fn open(
        files: Arc<FileStores>,
        tenant: Uuid,
        r: &FilesReport,
    ) -> Result<Objects, MoveError> {
        let store = |name: &str| {
            files
                .get(name)
                .cloned()
                .ok_or_else(|| MoveError::from(Refusal::UnknownFileStore(name.to_owned())))
        };
        let (src, dst) = (store(&r.from_store)?, store(&r.to_store)?);
        let at_target = dst.list(&prefix(tenant)).await?.into_iter().collect();
        Ok(Objects {
            tenant,
            files,
            src,
            dst,
            at_target,
            checked: HashSet::new(),
            missing: r.missing.iter().cloned().collect(),
        })
    }

    /// Copies the objects `rows` name that the target store lacks (at most
    /// `limit` of them); counts them in `report`. Returns how many were
    /// copied.
    pub async fn copy_missing(
        &mut self,
        rows: &[FileRow],
        limit: usize,
        report: &mut FilesReport,
    ) -> Result<u64, MoveError> {
        let started = Instant::now();
        let todo: Vec<FileRow> = rows
            .iter()
            .filter(|r| self.at_target.get(&r.key) != Some(&r.size))
            .filter(|r| !self.missing.contains(&r.key))
            .take(limit)
            .cloned()
            .collect();
        let ends = self.ends();
        // After a failure no new copy starts, but those in flight finish:
        // none is left half-done behind the move's back.
        let failed = Arc::new(AtomicBool::new(false));
        let mut done = futures::stream::iter(todo)
            .map(|r| {
                let (ends, failed) = (ends.clone(), failed.clone());
                async move {
                    if failed.load(Ordering::Relaxed) {
                        return (r, Ok(Copy::NotStarted));
                    }
                    let copied = copy_one(&ends, &r).await;
                    if copied.is_err() {
                        failed.store(true, Ordering::Relaxed);
                    }
                    (r, copied)
                }
            })
            .buffer_unordered(CONCURRENCY);
        let mut copied = 0;
        let mut first_error = None;
        while let Some((row, outcome)) = done.next().await {
            let outcome = match outcome {
                Ok(o) => o,
                Err(e) => {
                    first_error.get_or_insert(e);
                    continue;
                }
            };
            match outcome {
                Copy::NotStarted => {}
                Copy::Copied(bytes) => {
                    copied += 1;
                    report.copied += 1;
                    report.bytes += bytes;
                    self.at_target.insert(row.key.clone(), bytes);
                    // Hashed on its way in; read back at the verification.
                    self.checked.remove(&row.key);
                }
                Copy::Missing => {
                    if self.missing.insert(row.key.clone()) {
                        report.missing_count += 1;
                        if report.missing.len() < LISTED_MISSING {
                            report.missing.push(row.key.clone());
                        }
                        tracing::warn!(key = %row.key, "a file row's object is in no store; the move goes on without it");
                    }
                }
            }
        }
        report.copy_ms += started.elapsed().as_millis() as u64;
        match first_error {
            Some(e) => Err(e),
            None => Ok(copied),
        }
    }

    /// Reads back from the target store every object `rows` name (that was
    /// not read back already in this run) and compares its SHA-256 with the
    /// row's. Objects no store holds are skipped (they are reported as
    /// missing). The report's counts describe `rows` afterwards.
    pub async fn check(
        &mut self,
        rows: &[FileRow],
        report: &mut FilesReport,
    ) -> Result<(), MoveError> {
        let todo: Vec<FileRow> = rows
            .iter()
            .filter(|r| self.at_target.contains_key(&r.key) && !self.checked.contains(&r.key))
            .cloned()
            .collect();
        let dst = self.dst.clone();
        let mut done = futures::stream::iter(todo)
            .map(|r| {
                let dst = dst.clone();
                async move {
                    let checked = check_one(&dst, &r).await;
                    (r, checked)
                }
            })
            .buffer_unordered(CONCURRENCY);
        while let Some((row, outcome)) = done.next().await {
            outcome?;
            self.checked.insert(row.key.clone());
        }
        let present: Vec<&FileRow> = rows
            .iter()
            .filter(|r| self.checked.contains(&r.key))
            .collect();
        report.objects = present.len() as u64;
        report.object_bytes = present.iter().map(|r| r.size).sum();
        report.checksums_verified = report.objects;
        Ok(())
    }

    /// Deletes from the target store the copies whose rows are gone (files
    /// deleted while the move ran).
    pub async fn drop_deleted(&mut self, rows: &[FileRow]) -> Result<(), MoveError> {
        let named: HashSet<&str> = rows.iter().map(|r| r.key.as_str()).collect();
        let gone: Vec<String> = self
            .at_target
            .keys()
            .filter(|k| !named.contains(k.as_str()))
            .cloned()
            .collect();
        for key in gone {
            self.dst.delete(&key).await?;
            self.at_target.remove(&key);
            self.checked.remove(&key);
        }
        Ok(())
    }

    /// Cleanup: each object `rows` name leaves the source store once the
    /// target store holds it at its row's size; one the target lacks is
    /// copied there first (and checked). Returns the objects deleted.
    pub async fn clean_source(&mut self, rows: &[FileRow]) -> Result<u64, MoveError> {
        let todo: Vec<(FileRow, bool)> = rows
            .iter()
            .map(|r| (r.clone(), self.at_target.get(&r.key) == Some(&r.size)))
            .collect();
        let ends = self.ends();
        let results: Vec<u64> = futures::stream::iter(todo)
            .map(|(r, at_target)| {
                let ends = ends.clone();
                async move {
                    match ends.src.head(&r.key).await {
                        Err(FileError::Missing) => return Ok(0),
                        Err(e) => return Err(MoveError::from(e)),
                        Ok(_) => {}
                    }
                    if !at_target {
                        if let Copy::Missing = copy_one(&ends, &r).await? {
                            return Ok(0);
                        }
                        check_one(&ends.dst, &r).await?;
                    }
                    ends.src.delete(&r.key).await?;
                    Ok::<u64, MoveError>(1)
                }
            })
            .buffer_unordered(CONCURRENCY)
            .try_collect()
            .await?;
        Ok(results.into_iter().sum())
    }

    /// Rollback: each copy whose original the source store still holds
    /// leaves the target store. Returns the copies deleted.
    pub async fn clean_target(&mut self, rows: &[FileRow]) -> Result<u64, MoveError> {
        // What the target holds now, not what this run saw: a copy cut off
        // by the failure may have landed all the same.
        self.at_target = self
            .dst
            .list(&prefix(self.tenant))
            .await?
            .into_iter()
            .collect();
        let todo: Vec<FileRow> = rows
            .iter()
            .filter(|r| self.at_target.contains_key(&r.key))
            .cloned()
            .collect();
        let ends = self.ends();
        let results: Vec<u64> = futures::stream::iter(todo)
            .map(|r| {
                let ends = ends.clone();
                async move {
                    match ends.src.head(&r.key).await {
                        Ok(_) => {
                            ends.dst.delete(&r.key).await?;
                            Ok::<u64, MoveError>(1)
                        }
                        // The only copy: kept.
                        Err(FileError::Missing) => Ok(0),
                        Err(e) => Err(e.into()),
                    }
                }
            })
            .buffer_unordered(CONCURRENCY)
            .try_collect()
            .await?;
        Ok(results.into_iter().sum())
    }
}

/// The stores of a copy, shared by the copies in flight.
#[derive(Clone)]
struct Ends {
    files: Arc<FileStores>,
    src: Store,
    dst: Store,
}

impl Objects {
    fn ends(&self) -> Arc<Ends> {
        Arc::new(Ends {
            files: self.files.clone(),
            src: self.src.clone(),
            dst: self.dst.clone(),
        })
    }
}

/// What became of one object's copy.
enum Copy {
    /// Copied, this many bytes.
    Copied(u64),
    /// No store holds it.
    Missing,
    /// Not begun: another copy had failed.
    NotStarted,
}

/// Copies one object to the target store, from the source store or, when
/// the source lacks it, from whichever other store holds it; hashes it on
/// the way and checks it against its row.
async fn copy_one(ends: &Ends, row: &FileRow) -> Result<Copy, MoveError> {
    let Ends { files, src, dst } = ends;
    let mut got = None;
    for store in std::iter::once(src).chain(
        files
            .all()
            .filter(|s| s.name != src.name && s.name != dst.name),
    ) {
        match store.get(&row.key, None).await {
            Ok(g) => {
                got = Some(g);
                break;
            }
            Err(FileError::Missing) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    let Some(got) = got else {
        return Ok(Copy::Missing);
    };
    let stored = put_stream(dst, &row.key, fsa_store::objects::body(got), u64::MAX).await?;
    if stored.sha256 != row.sha256 || stored.size != row.size {
        let _ = dst.delete(&row.key).await;
        return Err(MoveError::Mismatch(format!(
            "file object {}: its row says {} bytes with SHA-256 {}, the stored object has {} bytes with SHA-256 {}",
            row.key, row.size, row.sha256, stored.size, stored.sha256
        )));
    }
    Ok(Copy::Copied(stored.size))
}

/// Reads one object back from the target store and checks its SHA-256 and
/// size against its row.
async fn check_one(dst: &Store, row: &FileRow) -> Result<(), MoveError> {
    let Stored { size, sha256: sha } = dst.digest(&row.key).await?;
    if sha != row.sha256 || size != row.size {
        return Err(MoveError::Mismatch(format!(
            "file object {} in store {}: {size} bytes with SHA-256 {sha}, its row says {} bytes with SHA-256 {}",
            row.key, dst.name, row.size, row.sha256
        )));
    }
    Ok(())
}

/// The tenant's file rows in a placement database.
pub(crate) async fn rows(d: &mut Endpoint, tenant: Uuid) -> Result<Vec<FileRow>, StoreError> {
    Ok(d.file_objects(tenant)
        .await?
        .into_iter()
        .map(|(key, sha256, size)| FileRow {
            key,
            sha256,
            size: u64::try_from(size).unwrap_or(0),
        })
        .collect())
}
