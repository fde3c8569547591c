//! Tenant rows as the mover sees them: every column but `row_version`, the
//! same Rust types on both engines, so a row read from SQLite can be written
//! to PostgreSQL and the other way, and both sides hash to the same value.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use sqlx::postgres::PgRow;
use sqlx::query_builder::Separated;
use sqlx::sqlite::SqliteRow;
use sqlx::types::Json;
use sqlx::{FromRow, Postgres, Sqlite};
use uuid::Uuid;

use fsa_store::ts::Ts;

/// A tenant table the mover copies.
pub trait TableRow:
    Serialize
    + Send
    + Sync
    + Unpin
    + Sized
    + for<'r> FromRow<'r, PgRow>
    + for<'r> FromRow<'r, SqliteRow>
    + PushRow<Postgres>
    + PushRow<Sqlite>
    + 'static
{
    const TABLE: &'static str;
    /// `$1` tenant, `$2` versions above, `$3` limit; in `row_version` order.
    const SELECT_PAGE: &'static str;
    /// `SELECT … FROM table WHERE `, to which a tenant and id list are added.
    const SELECT_WHERE: &'static str;
    const INSERT_HEAD: &'static str;
    const ON_CONFLICT: &'static str;
    const COLUMNS: usize;
    /// `tenant_id, id, …`: every copied column, for COPY and checksums.
    const COLUMN_LIST: &'static str;
    fn id(&self) -> Uuid;
    /// The row's version at its source (read, never copied or hashed).
    fn row_version(&self) -> i64;

    /// The size of the row's JSON form, for the report's byte count.
    fn size(&self) -> u64 {
        serde_json::to_vec(self).map_or(0, |v| v.len() as u64)
    }

    /// The row's digest: see [`digest_value`].
    fn digest(&self) -> u64 {
        digest_value(&serde_json::to_value(self).unwrap_or_default())
    }
}

/// A row's digest: the first 8 bytes, big-endian, of the SHA-256 of its
/// canonical JSON ([`canonical`]). A table's checksum is the sum of its
/// rows' digests modulo 2^64, so it does not depend on row order. SHA-256
/// keeps the figure the same across Rust and fsa releases: a backup's
/// manifest is checked with it months later.
pub fn digest_value(v: &serde_json::Value) -> u64 {
    use sha2::Digest;
    let hash = sha2::Sha256::digest(canonical(v).as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&hash[..8]);
    u64::from_be_bytes(first)
}

/// Binds a row's columns into a multi-row `INSERT … VALUES` of engine `DB`
/// (one implementation per engine, written once by `table!`).
pub trait PushRow<DB: sqlx::Database> {
    fn push(&self, b: &mut Separated<'_, DB, &'static str>);
}

/// JSON text with object keys sorted at every level.
pub fn canonical(v: &serde_json::Value) -> String {
    let mut out = String::with_capacity(256);
    write_canonical(v, &mut out);
    out
}

/// [`canonical`] into `out`, without a string per value.
fn write_canonical(v: &serde_json::Value, out: &mut String) {
    use std::fmt::Write;
    match v {
        serde_json::Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                // A key written as JSON writes it (quoted, escaped).
                let _ = write!(out, "{}", serde_json::Value::String(k.clone()));
                out.push(':');
                write_canonical(&m[k], out);
            }
            out.push('}');
        }
        serde_json::Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(x, out);
            }
            out.push(']');
        }
        other => {
            let _ = write!(out, "{other}");
        }
    }
}

macro_rules! table {
    ($Row:ident, $table:literal, [$($col:ident : $ty:ty),+ $(,)?]) => {
        #[derive(Debug, Clone, Serialize, Deserialize, FromRow)]
        pub struct $Row {
            pub tenant_id: Uuid,
            pub id: Uuid,
            $(pub $col: $ty,)+
            #[serde(skip)]
            #[sqlx(default)]
            pub row_version: i64,
        }

        impl TableRow for $Row {
            const TABLE: &'static str = $table;
            const SELECT_PAGE: &'static str = concat!(
                "SELECT tenant_id, id", $(", ", stringify!($col),)+ ", row_version",
                " FROM ", $table, " WHERE tenant_id = $1 AND row_version > $2 ORDER BY row_version LIMIT $3"
            );
            const SELECT_WHERE: &'static str = concat!(
                "SELECT tenant_id, id", $(", ", stringify!($col),)+ ", row_version",
                " FROM ", $table, " WHERE "
            );
            const INSERT_HEAD: &'static str = concat!(
                "INSERT INTO ", $table, " (tenant_id, id", $(", ", stringify!($col),)+ ") "
            );
            const ON_CONFLICT: &'static str = concat!(
                " ON CONFLICT (tenant_id, id) DO UPDATE SET tenant_id = excluded.tenant_id",
                $(", ", stringify!($col), " = excluded.", stringify!($col),)+
            );
            const COLUMNS: usize = 2 $(+ { let _ = stringify!($col); 1 })+;
            const COLUMN_LIST: &'static str = concat!("tenant_id, id" $(, ", ", stringify!($col))+);

            fn id(&self) -> Uuid {
                self.id
            }

            fn row_version(&self) -> i64 {
                self.row_version
            }
        }

        table!(@push $Row, Postgres, [$($col),+]);
        table!(@push $Row, Sqlite, [$($col),+]);
    };
    (@push $Row:ident, $DB:ty, [$($col:ident),+]) => {
        impl PushRow<$DB> for $Row {
            fn push(&self, b: &mut Separated<'_, $DB, &'static str>) {
                b.push_bind(self.tenant_id);
                b.push_bind(self.id);
                $(b.push_bind(self.$col.clone());)+
            }
        }
    };
}

table!(UserRow, "users", [
    email: String, name: String, role: String, password_hash: String, is_active: bool,
    created_at: Ts, updated_at: Ts, token_version: i64,
]);
table!(ClientRow, "clients", [
    name: String, contact_name: Option<String>, email: Option<String>, phone: Option<String>,
    address: Option<String>, is_active: bool, created_at: Ts, updated_at: Ts,
]);
table!(PersonnelRow, "personnel", [
    name: String, email: Option<String>, phone: Option<String>, skills: Json<serde_json::Value>,
    is_active: bool, user_id: Option<Uuid>, created_at: Ts, updated_at: Ts,
]);
table!(WorkOrderRow, "work_orders", [
    number: i64, client_id: Uuid, title: String, description: Option<String>, status: String,
    held_from: Option<String>, priority: String, due_date: Option<NaiveDate>, scheduled_start: Option<Ts>,
    scheduled_end: Option<Ts>, assigned_to: Option<Uuid>, attributes: Json<serde_json::Value>,
    created_at: Ts, updated_at: Ts,
]);
table!(TaskRow, "tasks", [
    work_order_id: Uuid, title: String, status: String, assignee_id: Option<Uuid>, position: i32,
    created_at: Ts, updated_at: Ts,
]);
table!(FileRow, "file_metadata", [
    work_order_id: Uuid, file_type: String, file_name: String, size_bytes: i64, content_type: String,
    storage_key: String, sha256: String, created_at: Ts, updated_at: Ts,
]);

/// The tenant tables, parents before children.
pub const TABLES: [&str; 6] = [
    "users",
    "clients",
    "personnel",
    "work_orders",
    "tasks",
    "file_metadata",
];

/// The tables beside the tenant tables that hold rows of a tenant: its
/// deletions (copied as deletes) and its state row.
pub const SIDE_TABLES: [&str; 2] = ["tombstones", "tenant_state"];

/// The name of a table that holds a tenant's rows, as this crate spells it:
/// table names read from a database are checked against it before any SQL
/// is built with them.
pub fn tenant_table(name: &str) -> Option<&'static str> {
    TABLES
        .iter()
        .chain(&SIDE_TABLES)
        .find(|t| **t == name)
        .copied()
}

/// Runs `$body` once per tenant table, parents first, with `$R` naming the
/// table's row type.
macro_rules! each_table {
    ($R:ident => $body:expr) => {{
        {
            type $R = $crate::rows::UserRow;
            $body
        }
        {
            type $R = $crate::rows::ClientRow;
            $body
        }
        {
            type $R = $crate::rows::PersonnelRow;
            $body
        }
        {
            type $R = $crate::rows::WorkOrderRow;
            $body
        }
        {
            type $R = $crate::rows::TaskRow;
            $body
        }
        {
            type $R = $crate::rows::FileRow;
            $body
        }
    }};
}
pub(crate) use each_table;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_table_visits_the_tables_in_order() {
        let mut seen = Vec::new();
        each_table!(R => seen.push(R::TABLE));
        assert_eq!(seen, TABLES);
    }

    #[test]
    fn the_row_digest_is_sha256_of_canonical_json() {
        // Fixed: a backup made today is checked with this figure later.
        let v = serde_json::json!({"b": [1, {"y": null, "x": "é"}], "a": true});
        assert_eq!(canonical(&v), r#"{"a":true,"b":[1,{"x":"é","y":null}]}"#);
        assert_eq!(digest_value(&v), 0x6b4f_4c52_89ae_7601);
    }

    #[test]
    fn only_known_tables_are_named() {
        assert_eq!(tenant_table("tasks"), Some("tasks"));
        assert_eq!(tenant_table("tombstones"), Some("tombstones"));
        assert_eq!(tenant_table("tasks; DROP TABLE users"), None);
        assert_eq!(tenant_table("pg_class"), None);
    }
}
