//! A tenant as an archive: the backup format ([`manifest`]), writing a
//! backup from a placement at one snapshot ([`write`]), reading one back
//! and checking every part ([`read`]), and loading its rows into a
//! placement under a tenant id ([`load`]). The format is documented in
//! `docs/BACKUPS.md`.

pub mod crypt;
pub mod manifest;
pub mod read;
pub mod write;

use std::collections::BTreeMap;

use fsa_store::StoreError;
use fsa_store::objects::{FileError, Store};
use uuid::Uuid;

pub use crypt::Cipher;
pub use manifest::{Manifest, TableSum, TenantInfo};
pub use read::{Verified, verify};

use crate::endpoint::Endpoint;
use crate::progress::Progress;
use crate::rows::{TableRow, each_table};

/// Why a backup could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Files(#[from] FileError),
    /// A part is missing, or differs from what the manifest says.
    #[error("the backup is damaged: {0}")]
    Damaged(String),
    /// Not something this fsa writes or reads.
    #[error("{0}")]
    Format(String),
    #[error("reading or writing a part failed: {0}")]
    Io(#[from] std::io::Error),
    /// Encrypted with a key this process does not have.
    #[error("{0}")]
    Key(String),
}

/// The key to read backup `m` with: none for a plain one; for an encrypted
/// one, `cipher` if it is the key the manifest names.
pub fn key_for<'a>(
    m: &Manifest,
    cipher: Option<&'a Cipher>,
) -> Result<Option<&'a Cipher>, ArchiveError> {
    let Some(e) = &m.encryption else {
        return Ok(None);
    };
    match cipher {
        Some(c) if c.id() == e.key_id => Ok(Some(c)),
        Some(c) => Err(ArchiveError::Key(format!(
            "backup {} is encrypted with key {}; the configured [backups] key is {}",
            m.id,
            e.key_id,
            c.id()
        ))),
        None => Err(ArchiveError::Key(format!(
            "backup {} is encrypted with key {}; set [backups] key to read it",
            m.id, e.key_id
        ))),
    }
}

/// Rows written per statement when loading.
const LOAD_BATCH: usize = 2_000;

/// Moves a row's JSON from tenant `from` to tenant `to`: its tenant id,
/// and a file's storage key (`tenants/<id>/<file>`).
fn retarget(v: &mut serde_json::Value, from: Uuid, to: Uuid) {
    if from == to {
        return;
    }
    v["tenant_id"] = serde_json::Value::String(to.to_string());
    if let Some(key) = v.get("storage_key").and_then(|k| k.as_str()) {
        let prefix = format!("tenants/{from}/");
        if let Some(rest) = key.strip_prefix(&prefix) {
            v["storage_key"] = serde_json::Value::String(format!("tenants/{to}/{rest}"));
        }
    }
}

/// Writes backup `m`'s rows into `db` as tenant `to` (the backup's own
/// tenant, or a new one), in the transaction the caller began, every row
/// checked against the manifest as it passes. Returns the file objects to
/// copy: (SHA-256, key under `to`).
pub async fn load(
    store: &Store,
    m: &Manifest,
    cipher: Option<&Cipher>,
    db: &mut Endpoint,
    to: Uuid,
    progress: &dyn Progress,
) -> Result<Vec<(String, String)>, ArchiveError> {
    let from = m.tenant.id;
    let mut objects = Vec::new();
    each_table!(R => {
        let mut reader = read::RowReader::open(store, m, R::TABLE, cipher).await?;
        let mut n = 0u64;
        loop {
            let batch = reader.next(LOAD_BATCH).await?;
            if batch.is_empty() {
                break;
            }
            let mut rows: Vec<R> = Vec::with_capacity(batch.len());
            for mut v in batch {
                retarget(&mut v, from, to);
                if let (Some(sha), Some(key)) = (
                    v.get("sha256").and_then(|s| s.as_str()),
                    v.get("storage_key").and_then(|s| s.as_str()),
                ) {
                    objects.push((sha.to_owned(), key.to_owned()));
                }
                rows.push(serde_json::from_value(v).map_err(|e| {
                    ArchiveError::Damaged(format!("a row of {} is not a row of it: {e}", R::TABLE))
                })?);
            }
            n += rows.len() as u64;
            db.upsert::<R>(&rows).await?;
            progress.table(R::TABLE, n);
        }
        let (rows, checksum) = reader.figures();
        let want = m.tables.get(R::TABLE).ok_or_else(|| {
            ArchiveError::Damaged(format!("the manifest has no figures for {}", R::TABLE))
        })?;
        if rows != want.rows || checksum != want.checksum {
            return Err(ArchiveError::Damaged(format!(
                "{}: read {rows} rows with checksum {checksum}; the manifest says {} rows, {}",
                R::TABLE, want.rows, want.checksum
            )));
        }
        // The crash tests' point: a table loaded, the rest not.
        crate::context::pause_point("restore_rows").await;
    });
    Ok(objects)
}

/// The figures of tenant `at`'s rows in `db`, read as if they were tenant
/// `as_tenant`'s (a restored copy is checked against its backup's
/// manifest).
pub async fn figures(
    db: &mut Endpoint,
    at: Uuid,
    as_tenant: Uuid,
) -> Result<BTreeMap<String, TableSum>, ArchiveError> {
    let mut out = BTreeMap::new();
    each_table!(R => {
        let (mut n, mut sum) = (0u64, 0u64);
        let mut above = 0;
        loop {
            let page: Vec<R> = db.page(at, above, 5_000).await?;
            let Some(last) = page.last() else { break };
            above = last.row_version();
            for r in &page {
                let mut v = serde_json::to_value(r).map_err(|e| ArchiveError::Format(e.to_string()))?;
                retarget(&mut v, at, as_tenant);
                n += 1;
                sum = sum.wrapping_add(crate::rows::digest_value(&v));
            }
            if page.len() < 5_000 {
                break;
            }
        }
        out.insert(R::TABLE.to_owned(), TableSum { rows: n, checksum: format!("{sum:016x}") });
    });
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retargeting_moves_the_tenant_id_and_file_keys_only() {
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        let mut v = serde_json::json!({
            "tenant_id": a.to_string(),
            "storage_key": format!("tenants/{a}/f1"),
            "title": format!("tenants/{a}/f1"),
        });
        retarget(&mut v, a, b);
        assert_eq!(v["tenant_id"], b.to_string());
        assert_eq!(v["storage_key"], format!("tenants/{b}/f1"));
        assert_eq!(v["title"], format!("tenants/{a}/f1"));
        retarget(&mut v, b, a);
        assert_eq!(v["storage_key"], format!("tenants/{a}/f1"));
    }
}
