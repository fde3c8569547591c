//! Database servers: a PostgreSQL server (one URL) or a folder of SQLite
//! files. A server creates, opens, migrates and drops the placement databases
//! that live on it.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use fsa_core::{PlacementKind, Region};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
use sqlx::{ConnectOptions, Connection, Executor, PgConnection};
use uuid::Uuid;

use crate::db::{Engine, PlacementPool, Pool};
use crate::error::StoreError;
use crate::migrations::LedgerEntry;
mod databases;
mod replicas;
pub use crate::migrations::{APP_ROLE, PG_CATALOG, PG_PLACEMENT, SQLITE_CATALOG, SQLITE_PLACEMENT};
use crate::session::SessionPool;
use crate::url::DbUrl;
pub use databases::{
    MAX_DB_NAME, create_pg_database, fit_name, quote_ident, sqlite_file_options, sqlite_path,
};
use databases::{OWNER_TABLE, create_marked_pg_database, quote_literal};
pub use replicas::Replica;

/// Pool sizing for one placement kind.
#[derive(Debug, Clone, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct PoolSettings {
    pub max_connections: u32,
    pub min_connections: u32,
    #[serde(with = "secs")]
    pub acquire_timeout: Duration,
    #[serde(with = "secs")]
    pub idle_timeout: Duration,
    #[serde(with = "secs")]
    pub statement_timeout: Duration,
}

impl PoolSettings {
    /// The seed's defaults: shared max 50 / min 5, smaller pools for pooled
    /// and dedicated databases (there are many of them); acquire timeout 5 s,
    /// idle close 30 s, statement timeout 45 s.
    pub fn default_for(kind: PlacementKind) -> Self {
        let (max, min) = match kind {
            PlacementKind::Shared => (50, 5),
            PlacementKind::Pooled => (20, 1),
            PlacementKind::Dedicated => (10, 0),
        };
        PoolSettings {
            max_connections: max,
            min_connections: min,
            acquire_timeout: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(30),
            statement_timeout: Duration::from_secs(45),
        }
    }
}

mod secs {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let v = f64::deserialize(d)?;
        Duration::try_from_secs_f64(v).map_err(serde::de::Error::custom)
    }
}

/// Where a server's databases are.
#[derive(Debug, Clone)]
pub enum ServerSpec {
    /// A PostgreSQL server; `url` names its catalog or maintenance database.
    Postgres {
        url: DbUrl,
        options: Box<PgConnectOptions>,
    },
    /// A folder of SQLite files, one per placement.
    Sqlite { dir: PathBuf },
}

/// A database server that holds placements.
#[derive(Debug, Clone)]
pub struct Server {
    pub name: String,
    pub region: Region,
    pub spec: ServerSpec,
    /// Prepended to the database names of placements created here, so that
    /// several catalogs can share one PostgreSQL server.
    pub db_prefix: String,
}

impl Server {
    /// A server from a URL: `postgres://…` or `sqlite://<folder>` (a
    /// `sqlite://…/<file>.db` URL means the folder of that file).
    pub fn from_url(
        name: &str,
        region: Region,
        url: &DbUrl,
        db_prefix: &str,
    ) -> Result<Self, StoreError> {
        let spec = if url.is_postgres() {
            let options = url
                .pg_options()
                .map_err(|e| StoreError::Config(format!("server {name}: {e}")))?;
            ServerSpec::Postgres {
                url: url.clone(),
                options: Box::new(options),
            }
        } else if url.is_sqlite() {
            let path = sqlite_path(url);
            let dir = if path.extension().is_some() {
                path.parent().map(PathBuf::from).unwrap_or_default()
            } else {
                path
            };
            ServerSpec::Sqlite { dir }
        } else {
            return Err(StoreError::Config(format!(
                "server {name}: URL {url} is neither postgres:// nor sqlite://"
            )));
        };
        Ok(Server {
            name: name.to_owned(),
            region,
            spec,
            db_prefix: db_prefix.to_owned(),
        })
    }

    pub fn engine(&self) -> Engine {
        match self.spec {
            ServerSpec::Postgres { .. } => Engine::Postgres,
            ServerSpec::Sqlite { .. } => Engine::Sqlite,
        }
    }

    /// The database name a placement called `placement_name` gets here: at
    /// most [`MAX_DB_NAME`] bytes, a long name shortened and given a hash of
    /// the whole so that two long names never meet.
    pub fn db_name_for(&self, placement_name: &str) -> String {
        let base = placement_name.replace('-', "_").to_ascii_lowercase();
        let full = if self.db_prefix.is_empty() {
            base
        } else {
            format!("{}_{base}", self.db_prefix)
        };
        fit_name(&full, MAX_DB_NAME)
    }

    /// Creates the database of a new placement and brings its schema up to
    /// date. Runs as the configured user, not under the application role.
    ///
    /// The database is marked as placement `placement` when created; a
    /// database of that name that exists without this mark belongs to
    /// someone else (another catalog, another placement, an operator) and is
    /// refused, never adopted: adopting it would let a later cleanup drop
    /// data that is not the moved tenant's.
    #[tracing::instrument(skip_all, err, fields(server = %self.name, db = db_name))]
    ///
    /// On PostgreSQL the database is a copy of a template database built
    /// once per server and schema (`<prefix>_template_v<N>_<fingerprint>`),
    /// which is faster than running every migration; where the template
    /// cannot be made, the migrations run. Returns the migrations the new
    /// database holds, for the catalog's ledger.
    pub async fn provision(
        &self,
        db_name: &str,
        placement: Uuid,
    ) -> Result<Vec<LedgerEntry>, StoreError> {
        if db_name.len() > MAX_DB_NAME {
            return Err(StoreError::Config(format!(
                "database name {db_name} is longer than {MAX_DB_NAME} bytes"
            )));
        }
        let mark = format!("fsa placement {placement}");
        match &self.spec {
            ServerSpec::Postgres { options, .. } => {
                let template = match self.template(options).await {
                    Ok(t) => Some(t),
                    Err(e) => {
                        tracing::warn!(server = %self.name, error = %e, "no template database: running the migrations");
                        None
                    }
                };
                create_marked_pg_database(options, &self.name, db_name, &mark, template.as_deref())
                    .await?;
            }
            ServerSpec::Sqlite { dir } => {
                std::fs::create_dir_all(dir).map_err(|e| {
                    StoreError::Config(format!("cannot create {}: {e}", dir.display()))
                })?;
                self.mark_sqlite_database(db_name, &mark).await?;
            }
        }
        self.migrate(db_name).await
    }

    /// Claims a SQLite file for a placement: a new (empty) file gets the
    /// mark; a file with the same mark is ours from an earlier attempt; any
    /// other file with tables in it is refused. `BEGIN IMMEDIATE` makes the
    /// look and the claim one step for every process on this folder.
    async fn mark_sqlite_database(&self, db_name: &str, mark: &str) -> Result<(), StoreError> {
        let opts = self.sqlite_options(db_name).create_if_missing(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(opts)
            .await?;
        let result = async {
            let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
            let tables: Vec<String> = sqlx::query_scalar(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
            )
            .fetch_all(&mut *tx)
            .await?;
            if tables.iter().any(|t| t == OWNER_TABLE) {
                let found: Option<String> =
                    sqlx::query_scalar("SELECT mark FROM fsa_placement_owner")
                        .fetch_optional(&mut *tx)
                        .await?;
                if found.as_deref() != Some(mark) {
                    return Err(self.taken(db_name));
                }
            } else if !tables.is_empty() {
                return Err(self.taken(db_name));
            } else {
                sqlx::query("CREATE TABLE fsa_placement_owner (mark TEXT NOT NULL)")
                    .execute(&mut *tx)
                    .await?;
                sqlx::query("INSERT INTO fsa_placement_owner (mark) VALUES ($1)")
                    .bind(mark)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            Ok(())
        }
        .await;
        pool.close().await;
        result
    }

    fn taken(&self, db_name: &str) -> StoreError {
        StoreError::DatabaseTaken {
            server: self.name.clone(),
            database: db_name.to_owned(),
        }
    }

    /// Applies pending placement migrations (creating a SQLite file if
    /// missing). Migrations run through a one-connection pool: sqlx's
    /// migrator over a bare connection makes futures that are not `Send`.
    /// Returns the migrations the database holds afterwards.
    pub async fn migrate(&self, db_name: &str) -> Result<Vec<LedgerEntry>, StoreError> {
        let pool = match &self.spec {
            ServerSpec::Postgres { options, .. } => Pool::Pg(
                PgPoolOptions::new()
                    .max_connections(1)
                    .connect_with(options.clone().database(db_name))
                    .await?,
            ),
            ServerSpec::Sqlite { .. } => Pool::Sqlite(
                SqlitePoolOptions::new()
                    .max_connections(1)
                    .connect_with(self.sqlite_options(db_name).create_if_missing(true))
                    .await?,
            ),
        };
        let result = async {
            match &pool {
                Pool::Pg(p) => PG_PLACEMENT.run(p).await?,
                Pool::Sqlite(p) => SQLITE_PLACEMENT.run(p).await?,
            }
            crate::migrations::read_applied(&pool).await
        }
        .await;
        pool.close().await;
        let entries = result?;
        self.check_app_role().await?;
        Ok(entries)
    }

    /// The template database new placements on this PostgreSQL server are
    /// copied from: built once under an advisory lock, marked complete
    /// only after every migration ran, and closed to connections (a copy
    /// needs its template unused). One left half built by a crash is
    /// dropped and built again; a database of that name that is not
    /// fsa's is refused.
    async fn template(&self, options: &PgConnectOptions) -> Result<String, StoreError> {
        let set = crate::migrations::MigrationSet::binary();
        let fingerprint = set.fingerprint(Engine::Postgres);
        let name = self.db_name_for(&format!("template_v{}_{fingerprint}", set.latest()));
        let done = format!("fsa template {fingerprint}");
        let building = format!("fsa template {fingerprint} building");
        let mut conn: PgConnection = options.clone().database("postgres").connect().await?;
        sqlx::query("SELECT pg_advisory_lock(7004, hashtext($1))")
            .bind(&name)
            .execute(&mut conn)
            .await?;
        let result = async {
            let found: Option<Option<String>> = sqlx::query_scalar(
                "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = $1",
            )
            .bind(&name)
            .fetch_optional(&mut conn)
            .await?;
            let quoted = quote_ident(&name);
            match found {
                Some(Some(m)) if m == done => return Ok(()),
                Some(Some(m)) if m == building => {
                    conn.execute(sqlx::AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS {quoted} WITH (FORCE)"
                    )))
                    .await?;
                }
                Some(_) => return Err(self.taken(&name)),
                None => {}
            }
            conn.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {quoted}")))
                .await?;
            conn.execute(sqlx::AssertSqlSafe(format!(
                "COMMENT ON DATABASE {quoted} IS {}",
                quote_literal(&building)
            )))
            .await?;
            let pool = PgPoolOptions::new()
                .max_connections(1)
                .connect_with(options.clone().database(&name))
                .await?;
            let migrated = PG_PLACEMENT.run(&pool).await;
            pool.close().await;
            migrated?;
            conn.execute(sqlx::AssertSqlSafe(format!(
                "ALTER DATABASE {quoted} WITH ALLOW_CONNECTIONS false"
            )))
            .await?;
            conn.execute(sqlx::AssertSqlSafe(format!(
                "COMMENT ON DATABASE {quoted} IS {}",
                quote_literal(&done)
            )))
            .await?;
            Ok(())
        }
        .await;
        let _ = sqlx::query("SELECT pg_advisory_unlock(7004, hashtext($1))")
            .bind(&name)
            .execute(&mut conn)
            .await;
        let _ = conn.close().await;
        result.map(|()| name)
    }

    /// Refuses a PostgreSQL server whose application role exists with
    /// SUPERUSER or BYPASSRLS: tenant queries would then see every tenant's
    /// rows. Roles belong to the whole server, and the migration that
    /// creates `fsa_app` leaves an existing one as it is, so this is checked
    /// at start and after every migration. A missing role is fine: `fsa db
    /// bootstrap` or the first placement's migration (under a login that
    /// may create roles) creates it with neither attribute.
    pub async fn check_app_role(&self) -> Result<(), StoreError> {
        let ServerSpec::Postgres { options, .. } = &self.spec else {
            return Ok(());
        };
        let mut conn = options.clone().database("postgres").connect().await?;
        let role: Option<(bool, bool)> =
            sqlx::query_as("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = $1")
                .bind(APP_ROLE)
                .fetch_optional(&mut conn)
                .await?;
        conn.close().await?;
        match role.and_then(|(su, bypass)| crate::error::unsafe_role_attributes(su, bypass)) {
            Some(attributes) => Err(StoreError::UnsafeAppRole {
                server: self.name.clone(),
                attributes,
            }),
            None => Ok(()),
        }
    }

    /// Whether the login of this server's URL is a superuser: a login the
    /// service should not use, since one `RESET ROLE` in a tenant session
    /// would leave row-level security behind. `None` for SQLite.
    pub async fn login_is_superuser(&self) -> Result<Option<bool>, StoreError> {
        let ServerSpec::Postgres { options, .. } = &self.spec else {
            return Ok(None);
        };
        let mut conn = options.clone().database("postgres").connect().await?;
        let su: bool =
            sqlx::query_scalar("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
                .fetch_one(&mut conn)
                .await?;
        conn.close().await?;
        Ok(Some(su))
    }

    /// Whether a placement database exists on this server.
    pub async fn database_exists(&self, db_name: &str) -> Result<bool, StoreError> {
        match &self.spec {
            ServerSpec::Postgres { options, .. } => {
                let mut conn = options.clone().database("postgres").connect().await?;
                let found: bool = sqlx::query_scalar(
                    "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)",
                )
                .bind(db_name)
                .fetch_one(&mut conn)
                .await?;
                conn.close().await?;
                Ok(found)
            }
            ServerSpec::Sqlite { dir } => Ok(dir.join(format!("{db_name}.db")).exists()),
        }
    }

    /// Drops a placement database: a dedicated one its tenant moved out of,
    /// one made for a move that was rolled back, or a failed provisioning.
    pub async fn drop_database(&self, db_name: &str) -> Result<(), StoreError> {
        match &self.spec {
            ServerSpec::Postgres { options, .. } => {
                let mut conn = options.clone().database("postgres").connect().await?;
                let sql = format!(
                    "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                    quote_ident(db_name)
                );
                conn.execute(sqlx::AssertSqlSafe(sql)).await?;
                conn.close().await?;
            }
            ServerSpec::Sqlite { dir } => {
                for suffix in ["db", "db-wal", "db-shm"] {
                    let _ = std::fs::remove_file(dir.join(format!("{db_name}.{suffix}")));
                }
            }
        }
        Ok(())
    }

    /// A pool for the tenant queries of one placement database. Opened
    /// lazily: no connection is made until the first query, so a server that
    /// is down does not stop the service from starting.
    /// The request pool of a placement database on this server: pooled
    /// sessions under the application role on PostgreSQL (connections open
    /// on demand), sqlx's pool on SQLite.
    pub fn open_pool(
        &self,
        db_name: &str,
        settings: &PoolSettings,
    ) -> Result<PlacementPool, StoreError> {
        match &self.spec {
            ServerSpec::Postgres { options, .. } => {
                let timeout_ms = settings.statement_timeout.as_millis().to_string();
                let opts = options
                    .clone()
                    .database(db_name)
                    .application_name("fsa")
                    .options([("statement_timeout", timeout_ms.as_str())]);
                let pool = SessionPool::new(
                    opts,
                    settings.max_connections,
                    settings.acquire_timeout,
                    settings.idle_timeout,
                )?;
                pool.warm(settings.min_connections);
                Ok(PlacementPool::Pg(pool))
            }
            ServerSpec::Sqlite { .. } => {
                let pool = SqlitePoolOptions::new()
                    .max_connections(settings.max_connections.clamp(1, 16))
                    .min_connections(0)
                    .acquire_timeout(settings.acquire_timeout)
                    .idle_timeout(settings.idle_timeout)
                    .connect_lazy_with(self.sqlite_options(db_name));
                Ok(PlacementPool::Sqlite(crate::db::SqlitePlacement::new(pool)))
            }
        }
    }

    /// Whether the server accepts a connection within `timeout`.
    pub async fn reachable(&self, timeout: Duration) -> bool {
        match &self.spec {
            ServerSpec::Postgres { options, .. } => {
                let attempt = async {
                    let conn = options.clone().database("postgres").connect().await?;
                    conn.close().await
                };
                matches!(tokio::time::timeout(timeout, attempt).await, Ok(Ok(())))
            }
            ServerSpec::Sqlite { dir } => dir.is_dir(),
        }
    }

    /// Sizes in bytes of the named databases on this server; a database
    /// that cannot be measured is left out.
    pub async fn database_sizes(&self, names: &[String]) -> HashMap<String, i64> {
        let mut out = HashMap::new();
        match &self.spec {
            ServerSpec::Postgres { options, .. } => {
                let query = async {
                    let mut conn = options.clone().database("postgres").connect().await?;
                    let rows: Vec<(String, i64)> = sqlx::query_as(
                        "SELECT datname::text, pg_database_size(datname) FROM pg_database WHERE datname = ANY($1)",
                    )
                    .bind(names)
                    .fetch_all(&mut conn)
                    .await?;
                    conn.close().await?;
                    Ok::<_, sqlx::Error>(rows)
                };
                if let Ok(Ok(rows)) = tokio::time::timeout(Duration::from_secs(3), query).await {
                    out.extend(rows);
                }
            }
            ServerSpec::Sqlite { dir } => {
                for n in names {
                    let size: u64 = ["db", "db-wal"]
                        .iter()
                        .filter_map(|ext| std::fs::metadata(dir.join(format!("{n}.{ext}"))).ok())
                        .map(|m| m.len())
                        .sum();
                    if size > 0 {
                        out.insert(n.clone(), size as i64);
                    }
                }
            }
        }
        out
    }

    /// A pool for maintenance work that must see every tenant's rows (sizes,
    /// migrations); it does not switch to the application role.
    pub async fn open_admin_connection_pool(&self, db_name: &str) -> Result<Pool, StoreError> {
        Ok(match &self.spec {
            ServerSpec::Postgres { options, .. } => Pool::Pg(
                PgPoolOptions::new()
                    .max_connections(4)
                    .acquire_timeout(Duration::from_secs(5))
                    .connect_with(options.clone().database(db_name))
                    .await?,
            ),
            ServerSpec::Sqlite { .. } => Pool::Sqlite(
                SqlitePoolOptions::new()
                    .max_connections(4)
                    .connect_with(self.sqlite_options(db_name))
                    .await?,
            ),
        })
    }

    fn sqlite_options(&self, db_name: &str) -> SqliteConnectOptions {
        let dir = match &self.spec {
            ServerSpec::Sqlite { dir } => dir.clone(),
            ServerSpec::Postgres { .. } => PathBuf::new(),
        };
        sqlite_file_options(dir.join(format!("{db_name}.db")))
    }
}
