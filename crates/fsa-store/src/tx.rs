//! [`TenantTx`]: a tenant's unit of work on its placement.
//!
//! Opening one is the only way to reach tenant rows. On PostgreSQL it runs
//! on a pooled [`Session`](crate::session::Session):
//! - a read sets the session's tenant context and statement timeout with
//!   `fsa_session` when the session does not already hold them, and then
//!   runs its statements without a transaction of their own (each statement
//!   is its own snapshot, as it is inside a READ COMMITTED transaction);
//! - a write sends `SELECT fsa_begin(...); BEGIN` in one round trip: the
//!   function sets `fsa.tenant_id` for the transaction (row-level security
//!   keys on it) and the statement timeout, takes the tenant's write lock
//!   shared (a move's fence takes it exclusively), and checks the tenant's
//!   state row.
//!
//! Every statement's row-level security also checks the state row
//! (`fsa_tenant()`). A state that says `moved_out` is reported as
//! [`StoreError::Moved`] when the unit of work begins, so the router can
//! refresh the route and retry, and as [`StoreError::StaleRoute`] when a
//! later statement finds it. On SQLite a write begins `IMMEDIATE`, which
//! serialises writers as the lock does.

use fsa_core::TenantId;
use sqlx::{Executor, Sqlite, Transaction};

use crate::db::{Engine, PlacementPool};
use crate::error::StoreError;
use crate::pools::Lease;
use crate::session::SessionObject;

/// Whether a transaction writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Read,
    Write,
}

pub(crate) enum TxInner {
    /// A PostgreSQL read: statements on the session, no transaction.
    PgRead(SessionObject),
    /// A PostgreSQL write: an open transaction on the session.
    PgWrite(PgWrite),
    /// A SQLite transaction; a write holds its turn in the placement's
    /// writer queue until it ends (declared after the transaction, so the
    /// turn passes on after the commit or rollback).
    Sqlite(
        Transaction<'static, Sqlite>,
        Option<tokio::sync::OwnedMutexGuard<()>>,
    ),
}

/// A write transaction on a pooled session. Dropped without a commit or a
/// rollback (an error, a cancelled request), it is rolled back in the
/// background before the session goes back to the pool.
pub(crate) struct PgWrite(Option<SessionObject>);

impl PgWrite {
    pub(crate) fn conn(&mut self) -> &mut sqlx::PgConnection {
        match &mut self.0 {
            Some(s) => &mut s.conn,
            // Only `finish` takes the session, and it consumes the write.
            None => unreachable!("a finished write has no connection"),
        }
    }

    async fn finish(mut self, sql: &'static str) -> Result<(), StoreError> {
        let Some(mut s) = self.0.take() else {
            return Ok(());
        };
        s.conn.execute(sql).await?;
        s.in_transaction = false;
        s.clean = true;
        Ok(())
    }
}

impl Drop for PgWrite {
    fn drop(&mut self) {
        // Locks the transaction holds (the tenant's shared write lock, row
        // locks) are released now, not when the session is next used. A
        // session whose rollback fails, or that is dropped outside a runtime,
        // stays marked as inside a transaction, and the pool closes it
        // instead of reusing it.
        if let (Some(mut s), Ok(rt)) = (self.0.take(), tokio::runtime::Handle::try_current()) {
            rt.spawn(async move {
                if s.conn.execute("ROLLBACK").await.is_ok() {
                    s.in_transaction = false;
                }
            });
        }
    }
}

pub struct TenantTx {
    tenant: TenantId,
    pub(crate) inner: TxInner,
    /// Keeps the placement's pool open while the transaction lives.
    _lease: Lease,
    /// Records the transaction's time in the router's stats when dropped
    /// (declared after `inner`, so after the commit or rollback).
    _timer: Option<crate::stats::TxTimer>,
}

/// SQLSTATEs `fsa_begin` raises for a tenant not active in the placement.
const MOVED_OUT: &str = "FSA01";
const NOT_HERE: &str = "FSA02";

/// Maps the errors of the PostgreSQL begin: `fsa_begin`'s state errors to
/// [`StoreError::Moved`] and [`StoreError::TenantNotInPlacement`], the rest
/// as [`classify`] does.
fn classify_begin(pool: &PlacementPool, tenant: TenantId, e: sqlx::Error) -> StoreError {
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
fn classify(pool: &PlacementPool, e: sqlx::Error) -> StoreError {
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
            $crate::tx::TxInner::PgRead(s) => {
                let $c: &mut sqlx::PgConnection = &mut s.conn;
                $body
            }
            $crate::tx::TxInner::PgWrite(w) => {
                let $c: &mut sqlx::PgConnection = w.conn();
                $body
            }
            $crate::tx::TxInner::Sqlite(t, _) => {
                let $c: &mut sqlx::SqliteConnection = &mut **t;
                $body
            }
        }
    };
}

impl TenantTx {
    /// Begins `tenant`'s unit of work on the leased pool: checks the tenant's
    /// state row and (on PostgreSQL) sets the tenant context and statement
    /// timeout — for the session, when a read's session does not hold them
    /// yet; for the transaction, for a write.
    pub(crate) async fn begin(
        lease: Lease,
        tenant: TenantId,
        mode: Mode,
        statement_timeout_ms: u64,
    ) -> Result<Self, StoreError> {
        match &lease.pool {
            PlacementPool::Pg(p) => {
                let mut session = p.get().await?;
                session.clean = false;
                let inner = match mode {
                    Mode::Read => {
                        session
                            .enter(tenant.as_uuid(), statement_timeout_ms)
                            .await
                            .map_err(|e| classify_begin(&lease.pool, tenant, e))?;
                        TxInner::PgRead(session)
                    }
                    Mode::Write => {
                        // One round trip: `fsa_begin` (tenant context,
                        // statement timeout, write lock, state check) in the
                        // implicit block of a simple query that BEGIN then
                        // turns into the transaction. Only a parsed id and
                        // an integer are inlined, never input text. See
                        // migration 0003_fsa_begin.
                        let timeout = statement_timeout_ms.min(i32::MAX as u64);
                        let sql = format!(
                            "SELECT fsa_begin('{}'::uuid, true, {timeout}); BEGIN",
                            tenant.as_uuid().as_hyphenated()
                        );
                        session.in_transaction = true;
                        match session.conn.execute(sqlx::AssertSqlSafe(sql)).await {
                            Ok(_) => TxInner::PgWrite(PgWrite(Some(session))),
                            Err(e) => {
                                // The failed statement ended its implicit
                                // block: no transaction is open.
                                session.in_transaction = false;
                                return Err(classify_begin(&lease.pool, tenant, e));
                            }
                        }
                    }
                };
                Ok(TenantTx {
                    tenant,
                    inner,
                    _lease: lease,
                    _timer: None,
                })
            }
            PlacementPool::Sqlite(p) => {
                let turn = match mode {
                    Mode::Write => Some(p.writer_turn().await),
                    Mode::Read => None,
                };
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
                        inner: TxInner::Sqlite(tx, turn),
                        _lease: lease,
                        _timer: None,
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
            PlacementPool::Pg(p) => {
                let mut session = p.get().await?;
                session.clean = false;
                session.in_transaction = true;
                let begun = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                    "BEGIN; SELECT set_config('fsa.tenant_id', '{}', true)",
                    tenant.as_uuid().as_hyphenated()
                )))
                .execute(&mut session.conn)
                .await;
                if let Err(e) = begun {
                    session.in_transaction = false;
                    let _ = session.conn.execute("ROLLBACK").await;
                    return Err(classify(&lease.pool, e));
                }
                TxInner::PgWrite(PgWrite(Some(session)))
            }
            PlacementPool::Sqlite(p) => {
                let turn = p.writer_turn().await;
                TxInner::Sqlite(p.begin_with("BEGIN IMMEDIATE").await?, Some(turn))
            }
        };
        let mut tx = TenantTx {
            tenant,
            inner,
            _lease: lease,
            _timer: None,
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

    /// Times the transaction from `started` into `stats`, under its placement.
    pub(crate) fn timed(
        mut self,
        stats: std::sync::Arc<crate::stats::Stats>,
        placement: uuid::Uuid,
        started: std::time::Instant,
    ) -> Self {
        self._timer = Some(crate::stats::TxTimer {
            stats,
            tenant: self.tenant,
            placement,
            started,
        });
        self
    }

    pub fn engine(&self) -> Engine {
        match self.inner {
            TxInner::PgRead(_) | TxInner::PgWrite(_) => Engine::Postgres,
            TxInner::Sqlite(..) => Engine::Sqlite,
        }
    }

    pub async fn commit(self) -> Result<(), StoreError> {
        match self.inner {
            // A read holds no transaction: its statements are done.
            TxInner::PgRead(mut s) => s.clean = true,
            TxInner::PgWrite(w) => w.finish("COMMIT").await?,
            TxInner::Sqlite(t, _turn) => t.commit().await?,
        }
        Ok(())
    }

    pub async fn rollback(self) -> Result<(), StoreError> {
        match self.inner {
            TxInner::PgRead(_) => {}
            TxInner::PgWrite(w) => w.finish("ROLLBACK").await?,
            TxInner::Sqlite(t, _turn) => t.rollback().await?,
        }
        Ok(())
    }
}
