//! Keyset pagination: a page of rows and an opaque cursor to the next one.
//!
//! A cursor is the sort key of the last row returned, as URL-safe base64 of
//! a small JSON object that also names the sort. It carries no tenant: the
//! query that uses it is scoped to the caller's tenant like any other, so a
//! cursor made for another tenant reveals and changes nothing.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::ts::Ts;

/// The largest page a list returns.
pub const MAX_LIMIT: i64 = 200;
pub const DEFAULT_LIMIT: i64 = 50;

/// A page of a list.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

/// The sort key of a row, as a cursor holds it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "s", deny_unknown_fields)]
pub enum CursorKey {
    /// Newest first: `(created_at, id)` descending.
    #[serde(rename = "c")]
    Created { t: Ts, id: Uuid },
    /// Soonest due first, undated last: `(due_date, id)` ascending.
    #[serde(rename = "d")]
    Due { d: Option<NaiveDate>, id: Uuid },
    /// Oldest first by id (ids are time-ordered).
    #[serde(rename = "i")]
    Id { id: Uuid },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the cursor is not one this list gave out")]
pub struct BadCursor;

impl CursorKey {
    pub fn encode(&self) -> String {
        let json = serde_json::to_vec(self).unwrap_or_default();
        URL_SAFE_NO_PAD.encode(json)
    }

    pub fn decode(s: &str) -> Result<Self, BadCursor> {
        if s.len() > 512 {
            return Err(BadCursor);
        }
        let bytes = URL_SAFE_NO_PAD.decode(s).map_err(|_| BadCursor)?;
        serde_json::from_slice(&bytes).map_err(|_| BadCursor)
    }
}

/// Clamps a requested page size into `1..=MAX_LIMIT`.
pub fn clamp_limit(limit: Option<i64>) -> i64 {
    limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT)
}

/// Cuts `rows` (fetched with `limit + 1`) to `limit` and makes the cursor of
/// the last row kept when there are more.
pub fn finish<T>(mut rows: Vec<T>, limit: i64, key: impl Fn(&T) -> CursorKey) -> Page<T> {
    let more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    let next_cursor = if more {
        rows.last().map(|r| key(r).encode())
    } else {
        None
    };
    Page {
        items: rows,
        next_cursor,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let k = CursorKey::Due {
            d: NaiveDate::from_ymd_opt(2026, 3, 1),
            id: Uuid::now_v7(),
        };
        assert_eq!(CursorKey::decode(&k.encode()).unwrap(), k);
    }

    #[test]
    fn garbage_is_refused() {
        for bad in ["", "!!!", "bm90IGpzb24", &"A".repeat(600), "eyJzIjoieCJ9"] {
            assert_eq!(CursorKey::decode(bad), Err(BadCursor), "{bad}");
        }
    }
}
