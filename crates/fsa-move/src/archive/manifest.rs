//! The manifest of a backup: what it holds and how to check it. Written
//! last, as `<backup id>/manifest.json`: a backup without one was
//! interrupted and is never listed. The format is documented in
//! `docs/BACKUPS.md`.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The format this fsa writes and reads.
pub const FORMAT: &str = "fsa-backup/1";

/// How row checksums are made (named in every manifest).
pub const CHECKSUM: &str =
    "sum mod 2^64 of the first 8 bytes (big-endian) of SHA-256 of each row's canonical JSON";

/// The file name of the manifest under a backup's folder.
pub const MANIFEST: &str = "manifest.json";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// [`FORMAT`].
    pub format: String,
    pub id: Uuid,
    pub tenant: TenantInfo,
    pub created_at: DateTime<Utc>,
    /// The placement schema version the rows were read at.
    pub schema_version: i64,
    /// The fsa that wrote it.
    pub fsa_version: String,
    /// [`CHECKSUM`].
    pub checksum: String,
    /// How row parts are compressed: `gzip`.
    pub compression: String,
    /// The next work order number of the tenant at the snapshot.
    pub next_wo_number: i64,
    /// Per tenant table, parents first: rows and checksum at the snapshot.
    pub tables: BTreeMap<String, TableSum>,
    /// Every part, with its size and SHA-256 as stored.
    pub parts: Vec<Part>,
    /// The file objects the rows name.
    pub files: FilesSum,
    /// How the parts are encrypted, when they are.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption: Option<Encryption>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Encryption {
    /// `super::crypt::ALGORITHM`.
    pub algorithm: String,
    /// The id of the key (`[backups] key`); never the key.
    pub key_id: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TenantInfo {
    pub id: Uuid,
    pub slug: String,
    pub plan: String,
    pub region: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TableSum {
    pub rows: u64,
    /// 16 hex digits ([`CHECKSUM`]).
    pub checksum: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Part {
    /// Relative to the backup's folder: `rows/<table>.jsonl.gz` or
    /// `objects/<sha256>`.
    pub path: String,
    /// The table whose rows it holds (row parts only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table: Option<String>,
    pub bytes: u64,
    /// Of the bytes as stored, lowercase hex.
    pub sha256: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FilesSum {
    pub objects: u64,
    pub bytes: u64,
}

impl Manifest {
    /// The sum of every part's size.
    pub fn size_bytes(&self) -> u64 {
        self.parts.iter().map(|p| p.bytes).sum()
    }

    /// The part holding `table`'s rows.
    pub fn rows_part(&self, table: &str) -> Option<&Part> {
        self.parts
            .iter()
            .find(|p| p.table.as_deref() == Some(table))
    }
}

/// The key of `path` in backup `id`'s folder.
pub fn key(id: Uuid, path: &str) -> String {
    format!("{id}/{path}")
}

/// The path of a table's row part.
pub fn rows_path(table: &str) -> String {
    format!("rows/{table}.jsonl.gz")
}

/// The path of a file object, by its SHA-256.
pub fn object_path(sha256: &str) -> String {
    format!("objects/{sha256}")
}
