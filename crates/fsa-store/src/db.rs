//! The two engines behind one pool type.
//!
//! fsa keeps one SQL text per query where the dialects agree (both accept
//! `$1` placeholders, `RETURNING`, row values, `NULLS LAST`) and chooses per
//! engine where they do not. `on_pool!` (and `on_tx!` for a tenant
//! transaction) expands the same block once per engine, so each arm is
//! checked and compiled with concrete types: no generic trait bounds, no
//! `Any` driver.

use sqlx::{PgPool, SqlitePool};

use crate::error::StoreError;

/// Which engine a database runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Engine {
    Postgres,
    Sqlite,
}

impl Engine {
    pub fn as_str(self) -> &'static str {
        match self {
            Engine::Postgres => "postgres",
            Engine::Sqlite => "sqlite",
        }
    }
}

/// A pool on either engine.
#[derive(Debug, Clone)]
pub enum Pool {
    Pg(PgPool),
    Sqlite(SqlitePool),
}

impl Pool {
    pub fn engine(&self) -> Engine {
        match self {
            Pool::Pg(_) => Engine::Postgres,
            Pool::Sqlite(_) => Engine::Sqlite,
        }
    }

    pub async fn close(&self) {
        match self {
            Pool::Pg(p) => p.close().await,
            Pool::Sqlite(p) => p.close().await,
        }
    }

    /// Connections open in this pool (busy and idle).
    pub fn size(&self) -> u32 {
        match self {
            Pool::Pg(p) => p.size(),
            Pool::Sqlite(p) => p.size(),
        }
    }
}

/// A placement's pool for tenant requests: pooled sessions on PostgreSQL
/// ([`crate::session`]), sqlx's pool on SQLite.
#[derive(Debug)]
pub enum PlacementPool {
    Pg(crate::session::SessionPool),
    Sqlite(SqlitePlacement),
}

/// A SQLite placement: sqlx's pool, and the queue its writers wait in.
///
/// SQLite lets one writer in at a time. Left to themselves, writers that
/// find the database locked sleep in SQLite's busy handler, up to 100 ms a
/// try, and whoever retries at the right moment wins: under 16 writers the
/// unlucky waited over a second. Writers of this process instead wait their
/// turn in a FIFO queue and begin only when the one before has finished, so
/// a write waits for the writes ahead of it and no longer. Reads do not
/// queue (WAL lets them run beside the writer). Other processes and the
/// mover's own connections still meet the busy handler.
#[derive(Debug)]
pub struct SqlitePlacement {
    pub pool: SqlitePool,
    writer: std::sync::Arc<tokio::sync::Mutex<()>>,
}

impl SqlitePlacement {
    pub fn new(pool: SqlitePool) -> Self {
        SqlitePlacement {
            pool,
            writer: Default::default(),
        }
    }

    /// Waits for this process's turn to write.
    pub(crate) async fn writer_turn(&self) -> tokio::sync::OwnedMutexGuard<()> {
        self.writer.clone().lock_owned().await
    }
}

impl std::ops::Deref for SqlitePlacement {
    type Target = SqlitePool;
    fn deref(&self) -> &SqlitePool {
        &self.pool
    }
}

impl PlacementPool {
    pub async fn close(&self) {
        match self {
            PlacementPool::Pg(p) => p.close().await,
            PlacementPool::Sqlite(p) => p.close().await,
        }
    }

    /// Connections open in this pool (busy and idle).
    pub fn size(&self) -> u32 {
        match self {
            PlacementPool::Pg(p) => p.size(),
            PlacementPool::Sqlite(p) => p.size(),
        }
    }

    /// Sets the pool's maximum size, if the pool can change it in place.
    pub fn resize(&self, max: u32) -> bool {
        match self {
            PlacementPool::Pg(p) => {
                p.resize(max);
                true
            }
            PlacementPool::Sqlite(_) => false,
        }
    }

    /// Whether the database answers: a pooled connection's round trip.
    pub async fn ping(&self) -> Result<(), StoreError> {
        use sqlx::Connection;
        match self {
            PlacementPool::Pg(p) => p.get().await?.conn.ping().await?,
            PlacementPool::Sqlite(p) => p.acquire().await?.ping().await?,
        }
        Ok(())
    }
}

/// Runs `$body` with `$c` bound to the pool (or connection) of whichever
/// engine `$pool` holds. `$body` is compiled once per engine.
#[macro_export]
macro_rules! on_pool {
    ($pool:expr, $c:ident => $body:expr) => {
        match $pool {
            $crate::db::Pool::Pg($c) => $body,
            $crate::db::Pool::Sqlite($c) => $body,
        }
    };
}

/// Picks the SQL text for the engine of the surrounding `on_pool!`/`on_tx!`
/// arm: `sql!(c, pg: "...", sqlite: "...")`.
#[macro_export]
macro_rules! sql {
    ($c:ident, pg: $pg:expr, sqlite: $lite:expr $(,)?) => {
        if $crate::db::is_pg(&*$c) { $pg } else { $lite }
    };
}

/// The catalog's clock in milliseconds since the epoch, as SQL text for
/// `concat!`: leases are compared with it, never with a process's own clock.
#[macro_export]
macro_rules! pg_now_ms {
    () => {
        "(extract(epoch from clock_timestamp()) * 1000)::bigint"
    };
}

/// [`pg_now_ms!`] for SQLite.
#[macro_export]
macro_rules! sqlite_now_ms {
    () => {
        "CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)"
    };
}

/// Whether an executor is PostgreSQL's; used by [`sql!`].
pub fn is_pg<T: IsPg + ?Sized>(_: &T) -> bool {
    T::IS_PG
}

pub trait IsPg {
    const IS_PG: bool;
}
impl IsPg for sqlx::PgConnection {
    const IS_PG: bool = true;
}
impl IsPg for sqlx::SqliteConnection {
    const IS_PG: bool = false;
}
impl IsPg for PgPool {
    const IS_PG: bool = true;
}
impl IsPg for SqlitePool {
    const IS_PG: bool = false;
}
