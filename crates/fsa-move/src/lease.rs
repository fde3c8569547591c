//! The lease of a move: one process drives a move at a time, provably.
//!
//! - Lease times are the catalog database's clock (`lease_until_ms` is
//!   written and compared in SQL), never a process's own.
//! - Beside the lease row, the driver holds a liveness lock that its process
//!   loses when it dies: on PostgreSQL a session advisory lock on a catalog
//!   connection of its own, on SQLite an OS lock on a file beside the
//!   catalog (a SQLite catalog is only ever shared by processes of one
//!   machine). Whoever can take that lock knows the recorded holder is gone,
//!   whatever its host name and pid say; whoever cannot is told the move is
//!   running elsewhere.
//! - The lease is renewed while the move runs; a renewal that fails, or
//!   finds another owner, marks it lost, and the driver stops before its
//!   next step ([`MoveLease::ensure`]).
//! - Every catalog write of a driver checks, in the same statement or
//!   transaction, that it still holds an unexpired lease (`owns_move_sql`).
//!   Placement writes that cannot share the catalog's transaction (the
//!   fence's commit, a rollback's purge of the target, the cleanup purge)
//!   call `ensure` right before, and what they decide on is serialised by
//!   the tenant's write lock: a successor reads the source's state row under
//!   that lock, so it sees a fence either committed or not at all.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use sqlx::{Connection, PgConnection};
use uuid::Uuid;

use fsa_store::catalog::Catalog;
use fsa_store::db::Pool;
use fsa_store::error::StoreError;

/// How long a move's lease lasts without renewal.
pub const LEASE_MS: i64 = 30_000;

/// How often the liveness lock is tried, 100 ms apart, before a move is
/// said to run elsewhere.
const LIVENESS_TRIES: u32 = 10;

/// The held lease of one move.
pub struct MoveLease {
    catalog: Catalog,
    id: Uuid,
    owner: String,
    lost: Arc<AtomicBool>,
    keeper: tokio::task::JoinHandle<()>,
    _liveness: Liveness,
}

/// What keeps the liveness lock: dropping it releases the lock.
enum Liveness {
    /// The catalog connection that holds `pg_advisory_lock(7002, key)`;
    /// closing the session releases it.
    Pg(Arc<tokio::sync::Mutex<PgConnection>>),
    /// An exclusive OS lock on the move's lock file.
    File { _lock: std::fs::File },
}

/// The advisory lock key of a move (the two-integer key space, apart from
/// the catalog's one-integer locks).
fn lock_key(id: Uuid) -> i32 {
    let b = id.as_bytes();
    i32::from_le_bytes([b[12] ^ b[0], b[13] ^ b[1], b[14] ^ b[2], b[15] ^ b[3]])
}

impl MoveLease {
    /// Takes the lease of move `id` for `owner`, or says who holds it.
    pub async fn acquire(catalog: &Catalog, id: Uuid, owner: &str) -> Result<Self, Acquire> {
        let liveness = match take_liveness(catalog, id).await? {
            Some(l) => l,
            None => {
                let holder = crate::ledger::Ledger::new(catalog)
                    .move_owner(id)
                    .await?
                    .unwrap_or_default();
                return Err(Acquire::Held(holder));
            }
        };
        // Nobody alive drives the move: whoever the row names is gone.
        if !crate::ledger::Ledger::new(catalog)
            .claim_move(id, owner, LEASE_MS, true)
            .await?
        {
            return Err(Acquire::Finished);
        }
        let lost = Arc::new(AtomicBool::new(false));
        let keeper = {
            let (catalog, owner, lost) = (catalog.clone(), owner.to_owned(), lost.clone());
            let probe = match &liveness {
                Liveness::Pg(c) => Some(c.clone()),
                Liveness::File { .. } => None,
            };
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(Duration::from_millis((LEASE_MS / 3) as u64)).await;
                    // The liveness session must still hold its lock: a
                    // session the server lost released it.
                    if let Some(c) = &probe
                        && c.lock().await.ping().await.is_err()
                    {
                        tracing::warn!(move.id = %id, "lost the catalog session of a move's lease");
                        lost.store(true, Ordering::SeqCst);
                        return;
                    }
                    match crate::ledger::Ledger::new(&catalog)
                        .renew_move(id, &owner, LEASE_MS)
                        .await
                    {
                        Ok(true) => {}
                        Ok(false) => {
                            tracing::warn!(move.id = %id, "lost the lease of a move");
                            lost.store(true, Ordering::SeqCst);
                            return;
                        }
                        Err(e) => {
                            tracing::warn!(move.id = %id, error = %e, "renewing a move's lease failed; stopping the move");
                            lost.store(true, Ordering::SeqCst);
                            return;
                        }
                    }
                }
            })
        };
        Ok(MoveLease {
            catalog: catalog.clone(),
            id,
            owner: owner.to_owned(),
            lost,
            keeper,
            _liveness: liveness,
        })
    }

    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// Succeeds only while this process holds an unexpired lease, by the
    /// catalog's clock. Called before every step of the move.
    pub async fn ensure(&self) -> Result<(), StoreError> {
        if self.lost.load(Ordering::SeqCst)
            || !crate::ledger::Ledger::new(&self.catalog)
                .owns_move(self.id, &self.owner)
                .await?
        {
            self.lost.store(true, Ordering::SeqCst);
            return Err(StoreError::LeaseLost(self.id));
        }
        Ok(())
    }

    /// Fails if the lease was found lost by its renewal (no round trip).
    pub fn check_flag(&self) -> Result<(), StoreError> {
        if self.lost.load(Ordering::SeqCst) {
            return Err(StoreError::LeaseLost(self.id));
        }
        Ok(())
    }

    /// Gives the lease up (the move ended): the row names no owner, and
    /// the liveness lock is let go.
    pub async fn release(self) {
        let _ = crate::ledger::Ledger::new(&self.catalog)
            .release_move(self.id, &self.owner)
            .await;
        self.close().await;
    }

    /// Lets the liveness lock go without clearing the row (this process
    /// stops driving the move: it failed, or its lease was taken): another
    /// process may take the move over at once. Dropping the lease would let
    /// it go too, but only once the server notices the closed session.
    pub async fn close(mut self) {
        self.keeper.abort();
        if let Liveness::Pg(c) = &mut self._liveness {
            let mut conn = c.lock().await;
            let _ = sqlx::query("SELECT pg_advisory_unlock(7002, $1)")
                .bind(lock_key(self.id))
                .execute(&mut *conn)
                .await;
        }
    }
}

impl Drop for MoveLease {
    fn drop(&mut self) {
        self.keeper.abort();
    }
}

/// Why a lease could not be had.
#[derive(Debug, thiserror::Error)]
pub enum Acquire {
    #[error("the move is being run by {0}")]
    Held(String),
    #[error("the move has finished")]
    Finished,
    #[error(transparent)]
    Store(#[from] StoreError),
}

async fn take_liveness(catalog: &Catalog, id: Uuid) -> Result<Option<Liveness>, StoreError> {
    match catalog.pool() {
        Pool::Pg(p) => {
            // A session of its own, not one taken out of the catalog's pool:
            // a detached connection shrinks the pool, and the next acquire
            // that found no idle one opened a new connection — once inside
            // a fence, where that cost ~90 ms of the write pause.
            let mut conn = PgConnection::connect_with(&p.connect_options()).await?;
            // A holder that just died keeps its lock until the server has
            // seen its session close: a moment, waited for briefly.
            for attempt in 0..LIVENESS_TRIES {
                let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock(7002, $1)")
                    .bind(lock_key(id))
                    .fetch_one(&mut conn)
                    .await?;
                if got {
                    return Ok(Some(Liveness::Pg(Arc::new(tokio::sync::Mutex::new(conn)))));
                }
                if attempt + 1 < LIVENESS_TRIES {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
            let _ = conn.close().await;
            Ok(None)
        }
        Pool::Sqlite(p) => {
            let catalog_file = p.connect_options().get_filename().to_path_buf();
            let dir = catalog_file
                .parent()
                .map(|d| d.join("move-locks"))
                .unwrap_or_else(|| "move-locks".into());
            std::fs::create_dir_all(&dir)
                .map_err(|e| StoreError::Config(format!("cannot create {}: {e}", dir.display())))?;
            let path = dir.join(format!("{id}.lock"));
            let file = std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&path)
                .map_err(|e| StoreError::Config(format!("cannot open {}: {e}", path.display())))?;
            match file.try_lock() {
                Ok(()) => Ok(Some(Liveness::File { _lock: file })),
                Err(std::fs::TryLockError::WouldBlock) => Ok(None),
                Err(std::fs::TryLockError::Error(e)) => Err(StoreError::Config(format!(
                    "cannot lock {}: {e}",
                    path.display()
                ))),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_keys_differ_for_consecutive_ids() {
        let a = Uuid::now_v7();
        let b = Uuid::now_v7();
        assert_ne!(lock_key(a), lock_key(b));
    }
}
