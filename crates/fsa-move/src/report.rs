//! What a move did: stored with it in the catalog, shown by the admin API
//! and `fsa move show`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Per-table figures of a move.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct TableReport {
    pub rows: u64,
    pub checksum: String,
    pub source_rows: u64,
    pub source_checksum: String,
}

impl TableReport {
    /// Both sides hold the same rows.
    pub fn matches(&self) -> bool {
        self.rows == self.source_rows && self.checksum == self.source_checksum
    }
}

/// The steps of a move's write pause, in milliseconds.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct FenceSteps {
    pub lock_ms: u64,
    pub delta_ms: u64,
    pub commit_ms: u64,
    pub switch_ms: u64,
}

/// What a move did.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Report {
    pub tables: BTreeMap<String, TableReport>,
    pub bytes: u64,
    pub copy_ms: u64,
    /// Secondary indexes built after the bulk load rather than during it.
    pub indexes_built_after_load: u32,
    pub catch_up_passes: u32,
    pub catch_up_rows: u64,
    pub verify_ms: u64,
    pub fence_ms: u64,
    pub fence_delta_rows: u64,
    /// The write pause in its steps (ms): waiting for the writers in flight
    /// to finish, copying and checking the last delta, committing the
    /// source's `moved_out`, and the catalog's switch.
    pub fence_steps: FenceSteps,
    pub requested_by: String,
    pub reason: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cleanup_remaining: Option<BTreeMap<String, i64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rolled_back_because: Option<String>,
    /// The source was the tenant's own database, dropped after cleanup.
    pub source_dropped: bool,
    /// File objects at the target store for the tenant's rows, their bytes,
    /// and how many of them were read back there with their rows' SHA-256:
    /// `files`' figures, here too for a quick look (0 when the move kept
    /// the tenant's store).
    pub objects: u64,
    pub object_bytes: u64,
    pub checksums_verified: u64,
    /// The tenant's file objects, when the move changed its store.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub files: Option<FilesReport>,
}

/// What a move did with the tenant's file objects (when its store changed).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct FilesReport {
    /// The store the objects left, and the one they went to.
    pub from_store: String,
    pub to_store: String,
    /// Objects at the target store for the tenant's rows when it was last
    /// verified, their bytes, and how many of them were read back from the
    /// target store with the SHA-256 their rows hold.
    pub objects: u64,
    pub object_bytes: u64,
    pub checksums_verified: u64,
    /// Objects this move copied, and their bytes (a resumed move does not
    /// copy again what the target already held).
    pub copied: u64,
    pub bytes: u64,
    /// Time spent copying objects.
    pub copy_ms: u64,
    /// Rows whose object no store held (lost before the move): counted, and
    /// the first hundred keys listed.
    pub missing_count: u64,
    pub missing: Vec<String>,
    /// Objects deleted from the source store at cleanup.
    pub deleted_at_source: u64,
    /// Copies deleted from the target store by a rollback.
    pub deleted_at_target: u64,
}

impl Report {
    /// The report as the catalog stores it.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

impl TryFrom<String> for Report {
    type Error = serde_json::Error;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        serde_json::from_str(&s)
    }
}
