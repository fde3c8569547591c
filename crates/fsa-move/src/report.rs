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
    pub requested_by: String,
    pub reason: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cleanup_remaining: Option<BTreeMap<String, i64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rolled_back_because: Option<String>,
    /// The source was the tenant's own database, dropped after cleanup.
    pub source_dropped: bool,
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
