//! [`TenantTx`]: a transaction scoped to one tenant.
//!
//! Opening one is the only way to reach tenant rows. On PostgreSQL it calls
//! `fsa_begin` in the same round trip as the BEGIN; the function sets
//! `fsa.tenant_id` for the transaction (row-level security keys on it) and
//! the statement timeout, takes the tenant's write lock shared for writes (a
//! move's fence takes it exclusively), and checks the tenant's state row. On
//! SQLite a write begins `IMMEDIATE`, which serialises writers as the lock
//! does. A state row that says `moved_out` is reported as
//! [`StoreError::Moved`] so the router can refresh the route and retry.

use fsa_core::TenantId;
use sqlx::{Postgres, Sqlite, Transaction};

use crate::db::{Engine, Pool};
use crate::error::StoreError;
use crate::pools::Lease;

/// Whether a transaction writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Read,
    Write,
}

pub(crate) enum TxInner {
    Pg(Transaction<'static, Postgres>),
    Sqlite(Transaction<'static, Sqlite>),
}

pub struct TenantTx {
    tenant: TenantId,
    mode: Mode,
    pub(crate) inner: TxInner,
    /// Keeps the placement's pool open while the transaction lives.
    _lease: Lease,
}

/// SQLSTATEs `fsa_begin` raises for a tenant not active in the placement.
const MOVED_OUT: &str = "FSA01";
const NOT_HERE: &str = "FSA02";

/// Maps the errors of the PostgreSQL begin: `fsa_begin`'s state errors to
/// [`StoreError::Moved`] and [`StoreError::TenantNotInPlacement`], the rest
/// as [`classify`] does.
fn classify_begin(pool: &Pool, tenant: TenantId, e: sqlx::Error) -> StoreError {
    if let sqlx::Error::Database(db) = &e {
        match db.code().as_deref() {
            Some(MOVED_OUT) => return StoreError::Moved(tenant),
            Some(NOT_HERE) => return StoreError::TenantNotInPlacement(tenant),
            _ => {}
        }
    }
    classify(pool, e)
}

/// A pool that timed out with no connection at all could not connect: the
/// server is unreachable, not busy.
fn classify(pool: &Pool, e: sqlx::Error) -> StoreError {
    if matches!(e, sqlx::Error::PoolTimedOut) && pool.size() == 0 {
        return StoreError::PlacementUnavailable {
            placement: String::new(),
            source: Some(e),
        };
    }
    e.into()
}

/// Runs `$body` with `$c` bound to the `&mut` connection of the transaction,
/// whichever engine it is on. `$body` is compiled once per engine.
#[macro_export]
macro_rules! on_tx {
    ($tx:expr, $c:ident => $body:expr) => {
        match &mut $tx.inner {
            $crate::tx::TxInner::Pg(t) => {
                let $c: &mut sqlx::PgConnection = &mut **t;
                $body
            }
            $crate::tx::TxInner::Sqlite(t) => {
                let $c: &mut sqlx::SqliteConnection = &mut **t;
                $body
            }
        }
    };
}

impl TenantTx {
    /// Begins a transaction for `tenant` on the leased pool, checks the
    /// tenant's state row, and (on PostgreSQL) sets the statement timeout.
    pub(crate) async fn begin(
        lease: Lease,
        tenant: TenantId,
        mode: Mode,
        statement_timeout_ms: u64,
    ) -> Result<Self, StoreError> {
        match &lease.pool {
            Pool::Pg(p) => {
                // One round trip: `fsa_begin` (tenant context, statement
                // timeout, write lock, state check) in the implicit block of
                // a simple query that BEGIN then turns into the transaction.
                // Only a parsed id and integers are inlined, never input
                // text. See migration 0002_fsa_begin.
                let timeout = statement_timeout_ms.min(i32::MAX as u64);
                // A read begins READ ONLY: PostgreSQL refuses any write in
                // it, which is what lets `commit` end it with a lazy rollback.
                let sql = match mode {
                    Mode::Write => format!(
                        "SELECT fsa_begin('{}'::uuid, true, {timeout}); BEGIN",
                        tenant.as_uuid().as_hyphenated()
                    ),
                    Mode::Read => format!(
                        "SELECT fsa_begin('{}'::uuid, false, {timeout}); BEGIN READ ONLY",
                        tenant.as_uuid().as_hyphenated()
                    ),
                };
                let tx = p
                    .begin_with(sqlx::AssertSqlSafe(sql))
                    .await
                    .map_err(|e| classify_begin(&lease.pool, tenant, e))?;
                Ok(TenantTx {
                    tenant,
                    mode,
                    inner: TxInner::Pg(tx),
                    _lease: lease,
                })
            }
            Pool::Sqlite(p) => {
                let mut tx = match mode {
                    Mode::Write => p.begin_with("BEGIN IMMEDIATE").await,
                    Mode::Read => p.begin().await,
                }
                .map_err(|e| classify(&lease.pool, e))?;
                let state: Option<String> =
                    sqlx::query_scalar("SELECT state FROM tenant_state WHERE tenant_id = $1")
                        .bind(tenant.as_uuid())
                        .fetch_optional(&mut *tx)
                        .await?;
                match state.as_deref() {
                    Some("active") => Ok(TenantTx {
                        tenant,
                        mode,
                        inner: TxInner::Sqlite(tx),
                        _lease: lease,
                    }),
                    Some("moving_in") | None => Err(StoreError::TenantNotInPlacement(tenant)),
                    Some(_) => Err(StoreError::Moved(tenant)),
                }
            }
        }
    }

    /// Begins the transaction that writes a new tenant's first rows: it sets
    /// the tenant context but expects no state row yet, and creates it.
    pub(crate) async fn begin_new(lease: Lease, tenant: TenantId) -> Result<Self, StoreError> {
        let inner = match &lease.pool {
            Pool::Pg(p) => {
                let mut tx = p.begin().await.map_err(|e| classify(&lease.pool, e))?;
                sqlx::query("SELECT set_config('fsa.tenant_id', $1, true)")
                    .bind(tenant.to_string())
                    .execute(&mut *tx)
                    .await?;
                TxInner::Pg(tx)
            }
            Pool::Sqlite(p) => TxInner::Sqlite(p.begin_with("BEGIN IMMEDIATE").await?),
        };
        let mut tx = TenantTx {
            tenant,
            mode: Mode::Write,
            inner,
            _lease: lease,
        };
        on_tx!(tx, c => {
            sqlx::query("INSERT INTO tenant_state (tenant_id, state, epoch) VALUES ($1, 'active', 1)")
                .bind(tenant.as_uuid())
                .execute(&mut *c)
                .await?;
        });
        Ok(tx)
    }

    pub fn tenant(&self) -> TenantId {
        self.tenant
    }

    pub fn engine(&self) -> Engine {
        match self.inner {
            TxInner::Pg(_) => Engine::Postgres,
            TxInner::Sqlite(_) => Engine::Sqlite,
        }
    }

    pub async fn commit(self) -> Result<(), StoreError> {
        match self.inner {
            // A PostgreSQL read is READ ONLY: committing it and rolling it
            // back are the same. Dropping it queues the ROLLBACK, which goes
            // out together with the pool's test of the connection on
            // release, off the request's path, instead of taking a round
            // trip of its own.
            TxInner::Pg(t) if self.mode == Mode::Read => drop(t),
            TxInner::Pg(t) => t.commit().await?,
            TxInner::Sqlite(t) => t.commit().await?,
        }
        Ok(())
    }

    pub async fn rollback(self) -> Result<(), StoreError> {
        match self.inner {
            TxInner::Pg(t) => t.rollback().await?,
            TxInner::Sqlite(t) => t.rollback().await?,
        }
        Ok(())
    }
}
