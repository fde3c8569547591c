//! Placement schemas across the fleet: the migrations this binary holds, the
//! catalog's ledger of what every placement has applied, and bringing one
//! placement up to date with every step recorded.
//!
//! A schema version means the same on both engines: migration N has the
//! same number in `migrations/postgres/placement` and
//! `migrations/sqlite/placement` (a no-op where one engine needs nothing).
//! Migrations are additive (expand now, contract in a later release; see
//! `docs/SCHEMA.md`), so a placement one version behind is still served.
//!
//! The ledger (`schema_ledger`, `placement_schema` in the catalog) is kept
//! beside each database's own `_sqlx_migrations` table: the database's table
//! says what it holds, the ledger lets `fsa db status` answer for a thousand
//! placements without opening one, and keeps a failure's cause. A checksum
//! that differs from the binary's, in either, is refused: a released
//! migration was edited.

use std::collections::HashMap;
use std::time::Instant;

use serde::Serialize;
use sqlx::FromRow;
use sqlx::migrate::{Migrate, Migration};
use uuid::Uuid;

use crate::catalog::{Catalog, Placement};
use crate::error::StoreError;
use crate::migrations::{AppliedRows, hex};
pub use crate::migrations::{LedgerEntry, MigrationSet, read_applied};
use crate::on_pool;
use crate::server::Server;
use crate::ts::Ts;

const TABLE: &str = "_sqlx_migrations";

/// A placement's schema state, as the catalog records it.
#[derive(Debug, Clone, Serialize, FromRow)]
pub struct SchemaState {
    pub placement_id: Uuid,
    pub version: i64,
    /// `current`, `migrating` or `failed`; [`SchemaState::shown`] adds
    /// `behind` for a placement under the binary's latest version.
    pub state: String,
    pub error: Option<String>,
    pub updated_at: Ts,
}

impl SchemaState {
    /// The state a reader sees against `latest`: `current` only at it.
    pub fn shown(&self, latest: i64) -> &str {
        match self.state.as_str() {
            "current" if self.version < latest => "behind",
            s => s,
        }
    }
}

/// Why a placement was not brought up to date.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    #[error(
        "placement {placement}: migration {version} ({description}) has checksum {found} in {place}, this fsa has {expected}: a released migration was edited; refusing to migrate it"
    )]
    ChecksumMismatch {
        placement: String,
        version: i64,
        description: String,
        place: &'static str,
        found: String,
        expected: String,
    },
    #[error(
        "placement {placement} holds migration {version}, which this fsa does not know: a newer fsa migrated it"
    )]
    Ahead { placement: String, version: i64 },
    #[error("placement {placement}: migration {version} was left half applied; repair it by hand")]
    Dirty { placement: String, version: i64 },
    #[error("placement {placement}: migration {version} ({description}) failed: {cause}")]
    Failed {
        placement: String,
        version: i64,
        description: String,
        cause: String,
    },
    #[error("placement {placement}: {source}")]
    Store {
        placement: String,
        #[source]
        source: StoreError,
    },
}

/// One migration step of a placement run: applied, or pending in a dry run.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    pub version: i64,
    pub description: String,
    pub duration_ms: u64,
}

/// What bringing one placement up to date did (or, in a dry run, would do).
#[derive(Debug, Clone, Serialize)]
pub struct PlacementRun {
    pub placement: String,
    pub from: i64,
    pub to: i64,
    pub steps: Vec<Step>,
}

/// How one placement is migrated.
#[derive(Debug, Clone, Copy, Default)]
pub struct Mode {
    /// Say what would be applied, change nothing.
    pub dry_run: bool,
    /// Check the server's application role afterwards (see
    /// [`Server::check_app_role`]); a fleet run checks each server once
    /// instead.
    pub check_role: bool,
}

/// Brings `placement` up to `set`'s latest version (or, in a dry run, says
/// what that would apply without changing anything). Every applied
/// migration goes to the ledger as it completes; the placement's state is
/// `migrating` meanwhile, then `current`, or `failed` with the cause.
pub async fn migrate_placement(
    catalog: &Catalog,
    server: &Server,
    placement: &Placement,
    set: &MigrationSet,
    mode: Mode,
) -> Result<PlacementRun, SchemaError> {
    let dry_run = mode.dry_run;
    let name = placement.name.clone();
    let store = |source: StoreError| SchemaError::Store {
        placement: name.clone(),
        source,
    };
    let ledger = catalog.ledger(placement.id).await.map_err(store)?;
    let known = catalog
        .schema_state(placement.id)
        .await
        .map_err(store)?
        .map_or(0, |s| s.version);
    if !dry_run {
        catalog
            .set_schema_state(placement.id, known, "migrating", None)
            .await
            .map_err(store)?;
    }
    let result = migrate_database(catalog, server, placement, set, &ledger, mode).await;
    if !dry_run {
        let (version, state, error) = match &result {
            Ok(run) => (run.to, "current", None),
            Err(e) => {
                let version = catalog
                    .ledger(placement.id)
                    .await
                    .map_or(known, |l| l.iter().map(|e| e.version).max().unwrap_or(0));
                (version, "failed", Some(e.to_string()))
            }
        };
        catalog
            .set_schema_state(placement.id, version, state, error.as_deref())
            .await
            .map_err(store)?;
    }
    result
}

async fn migrate_database(
    catalog: &Catalog,
    server: &Server,
    placement: &Placement,
    set: &MigrationSet,
    ledger: &[LedgerEntry],
    mode: Mode,
) -> Result<PlacementRun, SchemaError> {
    let name = &placement.name;
    let store = |source: StoreError| SchemaError::Store {
        placement: name.clone(),
        source,
    };
    let migrations = set.for_engine(server.engine());
    let by_version: HashMap<i64, &Migration> = migrations.iter().map(|m| (m.version, m)).collect();
    // The ledger must agree with the binary before anything is applied.
    for e in ledger {
        if let Some(m) = by_version.get(&e.version)
            && hex(&m.checksum) != e.checksum
        {
            return Err(SchemaError::ChecksumMismatch {
                placement: name.clone(),
                version: e.version,
                description: e.description.clone(),
                place: "the catalog's ledger",
                found: short(&e.checksum),
                expected: short(&hex(&m.checksum)),
            });
        }
    }
    let pool = server
        .open_admin_connection_pool(&placement.db_name)
        .await
        .map_err(store)?;
    let result = async {
        on_pool!(&pool, p => {
            let mut conn = p.acquire().await.map_err(|e| store(e.into()))?;
            run_on(&mut *conn, catalog, placement, migrations, ledger, mode.dry_run).await
        })
    }
    .await;
    pool.close().await;
    if result.is_ok() && !mode.dry_run && mode.check_role {
        server.check_app_role().await.map_err(store)?;
    }
    result
}

async fn run_on<C>(
    conn: &mut C,
    catalog: &Catalog,
    placement: &Placement,
    migrations: &[Migration],
    ledger: &[LedgerEntry],
    dry_run: bool,
) -> Result<PlacementRun, SchemaError>
where
    C: Migrate + AppliedRows + Send,
{
    let name = &placement.name;
    let store = |source: StoreError| SchemaError::Store {
        placement: name.clone(),
        source,
    };
    let migrate = |e: sqlx::migrate::MigrateError| store(e.into());
    conn.lock().await.map_err(migrate)?;
    conn.ensure_migrations_table(TABLE).await.map_err(migrate)?;
    if let Some(version) = conn.dirty_version(TABLE).await.map_err(migrate)? {
        return Err(SchemaError::Dirty {
            placement: name.clone(),
            version,
        });
    }
    let applied = conn.applied().await.map_err(store)?;
    let by_version: HashMap<i64, &Migration> = migrations.iter().map(|m| (m.version, m)).collect();
    let in_ledger: std::collections::HashSet<i64> = ledger.iter().map(|e| e.version).collect();
    for a in &applied {
        let Some(m) = by_version.get(&a.version) else {
            return Err(SchemaError::Ahead {
                placement: name.clone(),
                version: a.version,
            });
        };
        if m.checksum.as_ref() != a.checksum.as_slice() {
            return Err(SchemaError::ChecksumMismatch {
                placement: name.clone(),
                version: a.version,
                description: a.description.clone(),
                place: "the placement database",
                found: short(&hex(&a.checksum)),
                expected: short(&hex(&m.checksum)),
            });
        }
    }
    let from = applied.iter().map(|a| a.version).max().unwrap_or(0);
    let done: std::collections::HashSet<i64> = applied.iter().map(|a| a.version).collect();
    let pending: Vec<&Migration> = migrations
        .iter()
        .filter(|m| !m.migration_type.is_down_migration() && !done.contains(&m.version))
        .collect();
    let mut run = PlacementRun {
        placement: name.clone(),
        from,
        to: from,
        steps: Vec::new(),
    };
    if dry_run {
        run.steps = pending
            .iter()
            .map(|m| Step {
                version: m.version,
                description: m.description.to_string(),
                duration_ms: 0,
            })
            .collect();
        run.to = pending.iter().map(|m| m.version).max().unwrap_or(from);
        let _ = conn.unlock().await;
        return Ok(run);
    }
    // What the database applied before the ledger knew (an older fsa, a
    // crash between the two writes) is recorded first.
    for a in applied.iter().filter(|a| !in_ledger.contains(&a.version)) {
        catalog
            .record_migration(
                placement.id,
                &LedgerEntry {
                    version: a.version,
                    description: a.description.clone(),
                    checksum: hex(&a.checksum),
                    applied_at: a.applied_at,
                    duration_ms: a.duration_ms,
                },
            )
            .await
            .map_err(store)?;
    }
    for m in pending {
        let started = Instant::now();
        conn.apply(TABLE, m)
            .await
            .map_err(|e| SchemaError::Failed {
                placement: name.clone(),
                version: m.version,
                description: m.description.to_string(),
                cause: migrate_cause(e),
            })?;
        let ms = started.elapsed().as_millis() as u64;
        catalog
            .record_migration(
                placement.id,
                &LedgerEntry {
                    version: m.version,
                    description: m.description.to_string(),
                    checksum: hex(&m.checksum),
                    applied_at: Ts::now(),
                    duration_ms: ms as i64,
                },
            )
            .await
            .map_err(store)?;
        run.to = m.version;
        run.steps.push(Step {
            version: m.version,
            description: m.description.to_string(),
            duration_ms: ms,
        });
    }
    conn.unlock().await.map_err(migrate)?;
    Ok(run)
}

/// The database's words for a failed migration, without sqlx's wrapping.
fn migrate_cause(e: sqlx::migrate::MigrateError) -> String {
    match e {
        sqlx::migrate::MigrateError::Execute(sqlx::Error::Database(db)) => db.message().to_owned(),
        sqlx::migrate::MigrateError::ExecuteMigration(sqlx::Error::Database(db), _) => {
            db.message().to_owned()
        }
        other => other.to_string(),
    }
}

impl Catalog {
    /// Every migration the ledger holds for a placement, oldest first.
    pub async fn ledger(&self, placement: Uuid) -> Result<Vec<LedgerEntry>, StoreError> {
        const SQL: &str = "SELECT version, description, checksum, applied_at, duration_ms
            FROM schema_ledger WHERE placement_id = $1 ORDER BY version";
        Ok(on_pool!(self.pool(), c => sqlx::query_as(SQL).bind(placement).fetch_all(c).await?))
    }

    /// Records one applied migration (once: a rerun leaves the first record).
    pub async fn record_migration(
        &self,
        placement: Uuid,
        e: &LedgerEntry,
    ) -> Result<(), StoreError> {
        const SQL: &str = "INSERT INTO schema_ledger
            (placement_id, version, description, checksum, applied_at, duration_ms)
            VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (placement_id, version) DO NOTHING";
        on_pool!(self.pool(), c => {
            sqlx::query(SQL)
                .bind(placement)
                .bind(e.version)
                .bind(&e.description)
                .bind(&e.checksum)
                .bind(e.applied_at)
                .bind(e.duration_ms)
                .execute(c)
                .await?;
        });
        Ok(())
    }

    /// A new placement's schema: the ledger entries and `current`.
    pub async fn record_provisioned(
        &self,
        placement: Uuid,
        entries: &[LedgerEntry],
    ) -> Result<(), StoreError> {
        for e in entries {
            self.record_migration(placement, e).await?;
        }
        let version = entries.iter().map(|e| e.version).max().unwrap_or(0);
        self.set_schema_state(placement, version, "current", None)
            .await
    }

    pub async fn set_schema_state(
        &self,
        placement: Uuid,
        version: i64,
        state: &str,
        error: Option<&str>,
    ) -> Result<(), StoreError> {
        const SQL: &str =
            "INSERT INTO placement_schema (placement_id, version, state, error, updated_at)
            VALUES ($1, $2, $3, $4, $5)
            ON CONFLICT (placement_id) DO UPDATE SET version = excluded.version,
                state = excluded.state, error = excluded.error, updated_at = excluded.updated_at";
        on_pool!(self.pool(), c => {
            sqlx::query(SQL)
                .bind(placement)
                .bind(version)
                .bind(state)
                .bind(error)
                .bind(Ts::now())
                .execute(c)
                .await?;
        });
        Ok(())
    }

    pub async fn schema_state(&self, placement: Uuid) -> Result<Option<SchemaState>, StoreError> {
        const SQL: &str = "SELECT placement_id, version, state, error, updated_at
            FROM placement_schema WHERE placement_id = $1";
        Ok(on_pool!(self.pool(), c => sqlx::query_as(SQL).bind(placement).fetch_optional(c).await?))
    }

    /// Every placement's schema state the catalog knows.
    pub async fn schema_states(&self) -> Result<Vec<SchemaState>, StoreError> {
        const SQL: &str =
            "SELECT placement_id, version, state, error, updated_at FROM placement_schema";
        Ok(on_pool!(self.pool(), c => sqlx::query_as(SQL).fetch_all(c).await?))
    }
}

/// The first 16 hex digits of a checksum: enough to tell two apart.
fn short(hex: &str) -> String {
    hex.chars().take(16).collect()
}
