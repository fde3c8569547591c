//! Writing a backup: every tenant table read at one snapshot (the move's
//! barrier: a repeatable-read transaction, or SQLite's read transaction)
//! and streamed as gzip'd JSON lines, one part per table, each row's digest
//! summed on the way; then the file objects the rows name, each checked
//! against its row's SHA-256; then the manifest, last.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;

use bytes::Bytes;
use chrono::Utc;
use flate2::Compression;
use flate2::write::GzEncoder;
use fsa_core::{Plan, Residency};
use fsa_store::objects::{FileStores, Store, Stored, put_stream};
use futures::SinkExt;
use futures::channel::mpsc;
use uuid::Uuid;

use super::ArchiveError;
use super::crypt::{self, Cipher, Sealer};
use super::manifest::{
    self, CHECKSUM, Encryption, FORMAT, FilesSum, MANIFEST, Manifest, Part, TableSum, TenantInfo,
};
use crate::endpoint::Endpoint;
use crate::progress::Progress;
use crate::rows::{TableRow, each_table};

/// Rows read from the database per page.
const PAGE: i64 = 5_000;
/// JSON lines gathered before they are compressed and sent.
const CHUNK: usize = 256 * 1024;

/// What a backup reads: the tenant's rows at its placement, and where its
/// file objects are.
pub struct Source<'a> {
    /// An owner's connection to the tenant's placement database.
    pub db: &'a mut Endpoint,
    pub tenant: TenantInfo,
    /// The file stores, and the plan whose store holds the objects.
    pub files: Option<(&'a FileStores, Plan)>,
}

/// Writes backup `id` of the tenant to `store` and returns its manifest.
/// Nothing is listed until the manifest is written, last.
pub async fn write(
    store: &Store,
    id: Uuid,
    src: Source<'_>,
    cipher: Option<&Cipher>,
    progress: &dyn Progress,
) -> Result<Manifest, ArchiveError> {
    let tenant = src.tenant.id;
    let db = src.db;
    db.begin_snapshot().await?;
    let read = read_tables(store, id, db, tenant, cipher, progress).await;
    // The snapshot ends here, before the objects: they never change.
    let end = db.commit().await;
    let (schema_version, next_wo_number, tables, mut parts, objects) = read?;
    end?;
    // The crash tests stop a backup here: its row parts written, no
    // manifest yet.
    crate::context::pause_point("backup_rows").await;
    let mut files = FilesSum::default();
    if let Some((stores, plan)) = src.files {
        progress.phase("objects");
        let mut done = BTreeSet::new();
        for (key, sha256, size) in objects {
            if !done.insert(sha256.clone()) {
                continue;
            }
            let from = stores.locate(plan, &key).await?;
            let body = fsa_store::objects::read::body(from.get(&key, None).await?);
            let path = manifest::object_path(&sha256);
            let (plain, stored) = pipe(
                store,
                &manifest::key(id, &path),
                body,
                cipher.map(|c| c.sealer(&path)),
            )
            .await?;
            if plain.sha256 != sha256 || plain.size != size as u64 {
                return Err(ArchiveError::Damaged(format!(
                    "the object {key} does not match its row (SHA-256 {}, {} bytes; the row says {sha256}, {size} bytes)",
                    plain.sha256, plain.size
                )));
            }
            files.objects += 1;
            files.bytes += plain.size;
            parts.push(Part {
                path,
                table: None,
                bytes: stored.size,
                sha256: stored.sha256,
            });
        }
    }
    let m = Manifest {
        format: FORMAT.to_owned(),
        id,
        tenant: src.tenant,
        created_at: Utc::now(),
        schema_version,
        fsa_version: env!("CARGO_PKG_VERSION").to_owned(),
        checksum: CHECKSUM.to_owned(),
        compression: "gzip".to_owned(),
        next_wo_number,
        tables,
        parts,
        files,
        encryption: cipher.map(|c| Encryption {
            algorithm: crypt::ALGORITHM.to_owned(),
            key_id: c.id().to_owned(),
        }),
    };
    let text = serde_json::to_vec_pretty(&m).map_err(|e| ArchiveError::Format(e.to_string()))?;
    let body = futures::stream::iter([Ok::<_, std::io::Error>(Bytes::from(text))]);
    put_stream(store, &manifest::key(id, MANIFEST), body, u64::MAX).await?;
    Ok(m)
}

type Read = (
    i64,
    i64,
    BTreeMap<String, TableSum>,
    Vec<Part>,
    Vec<(String, String, i64)>,
);

/// Streams `body` to `key`, sealed when `sealer` is given; returns the
/// size and SHA-256 of the plaintext and of what was stored.
async fn pipe(
    store: &Store,
    key: &str,
    mut body: futures::stream::BoxStream<'static, Result<Bytes, std::io::Error>>,
    mut sealer: Option<Sealer>,
) -> Result<(Stored, Stored), ArchiveError> {
    use futures::StreamExt;
    use sha2::Digest;
    let (mut tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    let produce = async move {
        let mut hash = sha2::Sha256::new();
        let mut size = 0u64;
        while let Some(chunk) = body.next().await {
            let chunk = chunk?;
            size += chunk.len() as u64;
            hash.update(&chunk);
            let out = match &mut sealer {
                Some(s) => Bytes::from(s.push(&chunk)?),
                None => chunk,
            };
            if !out.is_empty() && tx.send(Ok(out)).await.is_err() {
                break;
            }
        }
        if let Some(s) = sealer {
            let _ = tx.send(Ok(Bytes::from(s.finish()?))).await;
        }
        drop(tx);
        Ok::<_, ArchiveError>(Stored {
            size,
            sha256: fsa_store::objects::put::hex(&hash.finalize()),
        })
    };
    let consume = put_stream(store, key, rx, u64::MAX);
    let (plain, stored) = futures::join!(produce, consume);
    Ok((plain?, stored?))
}

/// Every table's part, in the snapshot the caller began.
async fn read_tables(
    store: &Store,
    id: Uuid,
    db: &mut Endpoint,
    tenant: Uuid,
    cipher: Option<&Cipher>,
    progress: &dyn Progress,
) -> Result<Read, ArchiveError> {
    let schema_version = db.schema_version().await?;
    let state = db.state(tenant).await?.ok_or_else(|| {
        ArchiveError::Format("the tenant has no state row at its placement".into())
    })?;
    if state.state != Residency::Active {
        return Err(ArchiveError::Format(format!(
            "the tenant is {} at this placement; it is backed up where it is active",
            state.state
        )));
    }
    let mut tables = BTreeMap::new();
    let mut parts = Vec::new();
    progress.phase("rows");
    each_table!(R => {
        let (sum, part) = write_table::<R>(store, id, db, tenant, cipher, progress).await?;
        tables.insert(R::TABLE.to_owned(), sum);
        parts.push(part);
    });
    let objects = db.file_objects(tenant).await?;
    Ok((schema_version, state.next_wo_number, tables, parts, objects))
}

/// One table's rows as a gzip'd JSON-lines part, streamed to the store
/// while they are read.
async fn write_table<R: TableRow>(
    store: &Store,
    id: Uuid,
    db: &mut Endpoint,
    tenant: Uuid,
    cipher: Option<&Cipher>,
    progress: &dyn Progress,
) -> Result<(TableSum, Part), ArchiveError> {
    let path = manifest::rows_path(R::TABLE);
    let mut sealer = cipher.map(|c| c.sealer(&path));
    let (mut tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    let produce = async move {
        let mut gz = GzEncoder::new(Vec::with_capacity(CHUNK), Compression::fast());
        let mut lines = Vec::with_capacity(CHUNK + 4096);
        let (mut rows, mut sum) = (0u64, 0u64);
        let mut above = 0;
        loop {
            let page: Vec<R> = db.page(tenant, above, PAGE).await?;
            let Some(last) = page.last() else { break };
            above = last.row_version();
            for r in &page {
                let v = serde_json::to_value(r).map_err(|e| ArchiveError::Format(e.to_string()))?;
                sum = sum.wrapping_add(crate::rows::digest_value(&v));
                serde_json::to_writer(&mut lines, &v)
                    .map_err(|e| ArchiveError::Format(e.to_string()))?;
                lines.push(b'\n');
                rows += 1;
            }
            progress.table(R::TABLE, rows);
            if lines.len() >= CHUNK {
                gz.write_all(&lines)?;
                lines.clear();
                let mut out = std::mem::take(gz.get_mut());
                if let Some(s) = &mut sealer {
                    out = s.push(&out)?;
                }
                if !out.is_empty() && tx.send(Ok(Bytes::from(out))).await.is_err() {
                    break;
                }
            }
            if (page.len() as i64) < PAGE {
                break;
            }
        }
        gz.write_all(&lines)?;
        let mut out = gz.finish()?;
        if let Some(mut s) = sealer {
            out = s.push(&out)?;
            out.extend(s.finish()?);
        }
        let _ = tx.send(Ok(Bytes::from(out))).await;
        drop(tx);
        Ok::<_, ArchiveError>(TableSum {
            rows,
            checksum: format!("{sum:016x}"),
        })
    };
    let key = manifest::key(id, &path);
    let consume = put_stream(store, &key, rx, u64::MAX);
    let (sum, stored) = futures::join!(produce, consume);
    let sum = sum?;
    let stored = stored?;
    Ok((
        sum,
        Part {
            path,
            table: Some(R::TABLE.to_owned()),
            bytes: stored.size,
            sha256: stored.sha256,
        },
    ))
}
