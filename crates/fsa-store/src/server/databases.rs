//! The databases on a server, by name: fitting a name into PostgreSQL's
//! 63 bytes, quoting, creating a PostgreSQL database marked as fsa's, and
//! the options every SQLite file is opened with.

use std::path::PathBuf;
use std::time::Duration;

use sqlx::postgres::PgConnectOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sqlx::{ConnectOptions, Connection, Executor, PgConnection};

use crate::error::StoreError;
use crate::url::DbUrl;

/// Options every SQLite database of fsa is opened with: WAL, a busy timeout
/// so writers queue instead of failing, foreign keys on.
pub fn sqlite_file_options(path: PathBuf) -> SqliteConnectOptions {
    SqliteConnectOptions::new()
        .filename(path)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(Duration::from_secs(5))
        .foreign_keys(true)
}

/// The file path of a `sqlite://` URL.
pub fn sqlite_path(url: &DbUrl) -> PathBuf {
    let rest = url
        .expose()
        .trim_start_matches("sqlite:")
        .trim_start_matches("//");
    let rest = rest.split('?').next().unwrap_or_default();
    PathBuf::from(if rest.is_empty() { "." } else { rest })
}

/// Creates a new placement's PostgreSQL database and marks it as that
/// placement's (a comment on the database). An existing database is accepted
/// only with the same mark: an earlier attempt of this very placement.
/// An advisory lock of the maintenance database makes the look and the
/// creation one step for every process.
pub(super) async fn create_marked_pg_database(
    options: &PgConnectOptions,
    server: &str,
    db_name: &str,
    mark: &str,
    template: Option<&str>,
) -> Result<(), StoreError> {
    let mut conn: PgConnection = options.clone().database("postgres").connect().await?;
    sqlx::query("SELECT pg_advisory_lock(7003, hashtext($1))")
        .bind(db_name)
        .execute(&mut conn)
        .await?;
    let result = async {
        let found: Option<Option<String>> = sqlx::query_scalar(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = $1",
        )
        .bind(db_name)
        .fetch_optional(&mut conn)
        .await?;
        match found {
            Some(Some(m)) if m == mark => Ok(()),
            Some(_) => Err(StoreError::DatabaseTaken {
                server: server.to_owned(),
                database: db_name.to_owned(),
            }),
            None => {
                let name = quote_ident(db_name);
                let from = template
                    .map(|t| format!(" TEMPLATE {}", quote_ident(t)))
                    .unwrap_or_default();
                let create = format!("CREATE DATABASE {name}{from}");
                // A template whose last connection is still closing is
                // "being accessed by other users" (55006) for a moment.
                let mut tries = 0;
                loop {
                    match conn.execute(sqlx::AssertSqlSafe(create.clone())).await {
                        Err(sqlx::Error::Database(e))
                            if e.code().as_deref() == Some("55006") && tries < 50 =>
                        {
                            tries += 1;
                            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                        }
                        other => {
                            other?;
                            break;
                        }
                    }
                }
                conn.execute(sqlx::AssertSqlSafe(format!(
                    "COMMENT ON DATABASE {name} IS {}",
                    quote_literal(mark)
                )))
                .await?;
                Ok(())
            }
        }
    }
    .await;
    let _ = sqlx::query("SELECT pg_advisory_unlock(7003, hashtext($1))")
        .bind(db_name)
        .execute(&mut conn)
        .await;
    conn.close().await?;
    result
}

/// Longest database name fsa makes: PostgreSQL keeps 63 bytes of a name
/// and silently cuts the rest, so two longer names could be one database.
/// (A SQLite placement's file, the name and `.db`, stays far below the 255
/// bytes of a file name.)
pub const MAX_DB_NAME: usize = 63;

/// The table that marks a SQLite file as a placement's.
pub(super) const OWNER_TABLE: &str = "fsa_placement_owner";

/// `name` when it fits in `max` bytes; otherwise as much of its start as
/// fits beside `_` and 12 hex digits of its SHA-256, so names that differ
/// anywhere stay different.
pub fn fit_name(name: &str, max: usize) -> String {
    use sha2::Digest;
    if name.len() <= max {
        return name.to_owned();
    }
    let digest = sha2::Sha256::digest(name.as_bytes());
    let hash: String = digest[..6].iter().map(|b| format!("{b:02x}")).collect();
    let mut cut = max.saturating_sub(hash.len() + 1);
    while !name.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}_{hash}", &name[..cut])
}

pub(super) fn quote_literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// Creates a PostgreSQL database unless it exists (the catalog's own
/// database, named by the operator).
pub async fn create_pg_database(
    options: &PgConnectOptions,
    db_name: &str,
) -> Result<(), StoreError> {
    let mut conn: PgConnection = options.clone().database("postgres").connect().await?;
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(db_name)
            .fetch_one(&mut conn)
            .await?;
    if !exists {
        let sql = format!("CREATE DATABASE {}", quote_ident(db_name));
        match conn.execute(sqlx::AssertSqlSafe(sql)).await {
            Ok(_) => {}
            // Lost a race with another process creating it: fine.
            Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("42P04") => {}
            Err(e) => return Err(e.into()),
        }
    }
    conn.close().await?;
    Ok(())
}

/// Quotes a PostgreSQL identifier.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_names_are_cut_and_kept_apart() {
        let a = format!("dedicated_eu_{}a", "x".repeat(55));
        let b = format!("dedicated_eu_{}b", "x".repeat(55));
        let (fa, fb) = (fit_name(&a, MAX_DB_NAME), fit_name(&b, MAX_DB_NAME));
        assert!(fa.len() <= MAX_DB_NAME && fb.len() <= MAX_DB_NAME);
        assert_ne!(fa, fb);
        assert_eq!(fit_name("shared_eu_1", MAX_DB_NAME), "shared_eu_1");
        assert_eq!(fa, fit_name(&a, MAX_DB_NAME), "the same name every time");
        // A name of multi-byte characters is cut on a character boundary.
        let wide = "é".repeat(40);
        let fw = fit_name(&wide, MAX_DB_NAME);
        assert!(fw.len() <= MAX_DB_NAME && fw.starts_with("éé"), "{fw}");
    }
}
