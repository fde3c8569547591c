//! The migrations this binary holds (the placement's and the catalog's, per
//! engine) and a database's own record of those it applied. A leaf of the
//! crate: the servers that run them and the fleet's schema ledger both
//! build on it.

use std::borrow::Cow;
use std::sync::LazyLock;

use serde::Serialize;
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::{AssertSqlSafe, FromRow, SqlSafeStr};

use crate::db::{Engine, Pool};
use crate::error::StoreError;
use crate::on_pool;
use crate::ts::Ts;

/// The placement migrations on PostgreSQL as this binary runs them: the
/// files, with one amendment (see [`amend_role_creation`]).
pub static PG_PLACEMENT: LazyLock<Migrator> = LazyLock::new(|| {
    let files = &PG_PLACEMENT_FILES;
    Migrator {
        migrations: files
            .migrations
            .iter()
            .cloned()
            .map(amend_role_creation)
            .collect(),
        ignore_missing: files.ignore_missing,
        locking: files.locking,
        no_tx: files.no_tx,
        table_name: files.table_name.clone(),
        create_schemas: files.create_schemas.clone(),
    }
});
static PG_PLACEMENT_FILES: Migrator = sqlx::migrate!("migrations/postgres/placement");
pub static SQLITE_PLACEMENT: sqlx::migrate::Migrator =
    sqlx::migrate!("migrations/sqlite/placement");
pub static PG_CATALOG: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres/catalog");
pub static SQLITE_CATALOG: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite/catalog");

/// The role the service's tenant queries run under on PostgreSQL: neither
/// superuser nor BYPASSRLS, so row-level security applies to it.
pub const APP_ROLE: &str = "fsa_app";

/// How migration 0001 creates `fsa_app`: `CREATE ROLE` first, catching
/// only `duplicate_object`. PostgreSQL checks CREATEROLE before it looks
/// for the role, so under a login without CREATEROLE (the service's, made
/// by `fsa db bootstrap`) this fails even though the role exists.
const ROLE_CREATION: &str = "    CREATE ROLE fsa_app NOLOGIN NOSUPERUSER NOBYPASSRLS;\n";

/// The same step that leaves an existing role alone without asking for
/// CREATEROLE, and says what to do when the role is missing and cannot be
/// made.
const ROLE_CREATION_AMENDED: &str = "    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'fsa_app') THEN
        BEGIN
            CREATE ROLE fsa_app NOLOGIN NOSUPERUSER NOBYPASSRLS;
        EXCEPTION WHEN insufficient_privilege THEN
            RAISE EXCEPTION 'the role fsa_app does not exist and % may not create it: run `fsa db bootstrap` once with a superuser URL', current_user
                USING ERRCODE = 'insufficient_privilege';
        END;
    END IF;
";

/// Migration 0001 with its role creation made to work under a login that
/// may not create roles. The checksum stays the file's: every placement
/// already recorded it, and wherever the file's text could run the two
/// texts do the same (create the role, or leave an existing one alone), so
/// a checksum of the amended text would only make every placement look
/// edited.
fn amend_role_creation(mut m: Migration) -> Migration {
    if m.version == 1 && m.sql.as_str().contains(ROLE_CREATION) {
        let sql = m
            .sql
            .as_str()
            .replacen(ROLE_CREATION, ROLE_CREATION_AMENDED, 1);
        m.sql = sqlx::AssertSqlSafe(sql).into_sql_str();
    }
    m
}

/// The placement migrations to apply, per engine: the binary's own, or the
/// binary's and more (a test's injected migration, a benchmark's).
#[derive(Debug, Clone)]
pub struct MigrationSet {
    pg: Cow<'static, [Migration]>,
    sqlite: Cow<'static, [Migration]>,
}

impl MigrationSet {
    /// The migrations compiled into this binary.
    pub fn binary() -> Self {
        MigrationSet {
            pg: PG_PLACEMENT.migrations.clone(),
            sqlite: SQLITE_PLACEMENT.migrations.clone(),
        }
    }

    /// This set and one more migration, with its SQL for each engine.
    pub fn with(mut self, version: i64, description: &str, pg: &str, sqlite: &str) -> Self {
        let make = |sql: &str| {
            Migration::new(
                version,
                Cow::Owned(description.to_owned()),
                MigrationType::Simple,
                AssertSqlSafe(sql.to_owned()).into_sql_str(),
                false,
            )
        };
        self.pg.to_mut().push(make(pg));
        self.sqlite.to_mut().push(make(sqlite));
        self
    }

    pub fn for_engine(&self, engine: Engine) -> &[Migration] {
        match engine {
            Engine::Postgres => &self.pg,
            Engine::Sqlite => &self.sqlite,
        }
    }

    /// The newest version in the set (the same on both engines).
    pub fn latest(&self) -> i64 {
        self.pg
            .iter()
            .chain(self.sqlite.iter())
            .map(|m| m.version)
            .max()
            .unwrap_or(0)
    }

    /// A short fingerprint of every migration's checksum on `engine`: names
    /// the template database built from exactly these migrations.
    pub fn fingerprint(&self, engine: Engine) -> String {
        use sha2::Digest;
        let mut h = sha2::Sha256::new();
        for m in self.for_engine(engine) {
            h.update(m.version.to_be_bytes());
            h.update(&m.checksum);
        }
        hex(&h.finalize()[..4])
    }
}

/// One migration applied to one placement, as the ledger records it.
#[derive(Debug, Clone, Serialize, FromRow)]
pub struct LedgerEntry {
    pub version: i64,
    pub description: String,
    pub checksum: String,
    pub applied_at: Ts,
    pub duration_ms: i64,
}

/// A migration row as the database's own table holds it.
pub(crate) struct Applied {
    pub version: i64,
    pub description: String,
    pub checksum: Vec<u8>,
    pub applied_at: Ts,
    pub duration_ms: i64,
}

/// Reads a database's own record of its migrations.
pub(crate) trait AppliedRows {
    async fn applied(&mut self) -> Result<Vec<Applied>, StoreError>;
}

/// A `_sqlx_migrations` row: version, description, checksum, when it was
/// installed (each engine its own type) and how long it took (ns).
type MigrationRow<At> = (i64, String, Vec<u8>, At, i64);

const APPLIED: &str = "SELECT version, description, checksum, installed_on, execution_time
    FROM _sqlx_migrations WHERE success ORDER BY version";

fn applied_from<At>(rows: Vec<MigrationRow<At>>, at: impl Fn(At) -> Ts) -> Vec<Applied> {
    rows.into_iter()
        .map(|(version, description, checksum, installed, ns)| Applied {
            version,
            description,
            checksum,
            applied_at: at(installed),
            duration_ms: ns / 1_000_000,
        })
        .collect()
}

impl AppliedRows for sqlx::PgConnection {
    async fn applied(&mut self) -> Result<Vec<Applied>, StoreError> {
        let rows: Vec<MigrationRow<chrono::DateTime<chrono::Utc>>> =
            sqlx::query_as(APPLIED).fetch_all(self).await?;
        Ok(applied_from(rows, Ts::from_datetime))
    }
}

impl AppliedRows for sqlx::SqliteConnection {
    async fn applied(&mut self) -> Result<Vec<Applied>, StoreError> {
        let rows: Vec<MigrationRow<chrono::NaiveDateTime>> =
            sqlx::query_as(APPLIED).fetch_all(self).await?;
        Ok(applied_from(rows, |at| Ts::from_datetime(at.and_utc())))
    }
}

/// Reads what a freshly provisioned database holds, for the ledger.
pub async fn read_applied(pool: &Pool) -> Result<Vec<LedgerEntry>, StoreError> {
    let applied = on_pool!(pool, p => {
        let mut c = p.acquire().await?;
        c.applied().await?
    });
    Ok(applied
        .into_iter()
        .map(|a| LedgerEntry {
            version: a.version,
            description: a.description,
            checksum: hex(&a.checksum),
            applied_at: a.applied_at,
            duration_ms: a.duration_ms,
        })
        .collect())
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_creation_is_amended_and_checksums_kept() {
        let files = &PG_PLACEMENT_FILES.migrations;
        let amended = &PG_PLACEMENT.migrations;
        assert_eq!(files.len(), amended.len());
        let first = &amended[0];
        assert_eq!(first.version, 1);
        assert!(
            first.sql.as_str().contains(ROLE_CREATION_AMENDED),
            "0001 no longer holds the role creation this binary amends"
        );
        assert_eq!(first.checksum, files[0].checksum);
        for (f, a) in files.iter().zip(amended.iter()).skip(1) {
            assert_eq!(f.sql.as_str(), a.sql.as_str(), "only 0001 is amended");
        }
    }

    #[test]
    fn versions_mean_the_same_on_both_engines() {
        let set = MigrationSet::binary();
        let pg: Vec<i64> = set.pg.iter().map(|m| m.version).collect();
        let lite: Vec<i64> = set.sqlite.iter().map(|m| m.version).collect();
        assert_eq!(pg.last(), lite.last(), "both engines end at one version");
        // From version 6 on, every migration exists on both engines.
        for v in pg.iter().chain(lite.iter()).filter(|v| **v >= 6) {
            assert!(
                pg.contains(v) && lite.contains(v),
                "migration {v} on one engine only"
            );
        }
    }

    #[test]
    fn an_added_migration_is_the_latest_on_both_engines() {
        let set = MigrationSet::binary().with(9001, "probe", "SELECT 1", "SELECT 1");
        assert_eq!(set.latest(), 9001);
        assert_eq!(
            set.for_engine(Engine::Sqlite).last().map(|m| m.version),
            Some(9001)
        );
        assert_ne!(
            set.fingerprint(Engine::Postgres),
            MigrationSet::binary().fingerprint(Engine::Postgres)
        );
    }
}
