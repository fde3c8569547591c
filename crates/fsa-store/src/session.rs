//! Pooled PostgreSQL sessions for tenant requests.
//!
//! A placement's request pool hands out [`Session`]s: a connection under the
//! application role plus what the service has set on it. A read sets the
//! tenant context and statement timeout at session level (`fsa_session`,
//! migration 0004) and keeps them, so the next read of the same tenant on
//! that session sends its statement alone: one round trip, no BEGIN, no
//! ROLLBACK. Row-level security checks the tenant's state row in every
//! statement (`fsa_tenant()`), so a session kept for a tenant that has since
//! moved away raises instead of reading. A write runs `fsa_begin` and an
//! explicit transaction on the session, as before.
//!
//! sqlx's own pool tests every connection when it comes back (a round trip
//! per request) and cannot carry per-connection state; deadpool does neither
//! and hands the most recently used session out first.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use deadpool::managed::{self, Metrics, Object, PoolError, RecycleError, RecycleResult};
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection, PgConnection, Row};
use uuid::Uuid;

use crate::error::StoreError;

/// A pooled session idle this long is tested before it is handed out.
const RETEST_AFTER_IDLE: Duration = Duration::from_secs(1);

/// What a read needs the session to have set: the tenant context and the
/// statement timeout of the tenant's plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Context {
    tenant: Uuid,
    timeout_ms: i32,
    generation: u64,
}

/// A connection of a placement's request pool and what is set on it.
pub struct Session {
    pub(crate) conn: PgConnection,
    /// The session-level context, when known to be set; `None` while it is
    /// being changed or after an error left it unknown.
    context: Option<Context>,
    /// A transaction is open (between `fsa_begin` and its COMMIT or
    /// ROLLBACK). A session handed back in this state was abandoned halfway
    /// and is closed rather than reused.
    pub(crate) in_transaction: bool,
    /// The last unit of work on the session ended in a commit. One that
    /// ended otherwise may have ended in a broken connection (a server
    /// gone away), so the session is tested before it is handed out again.
    pub(crate) clean: bool,
}

impl Session {
    /// Makes the session's context `tenant` with `timeout_ms`, unless it
    /// already is: `fsa_session` sets both and checks the tenant's state row
    /// (FSA01/FSA02 when it is not active here).
    pub(crate) async fn enter(&mut self, tenant: Uuid, timeout_ms: u64) -> Result<(), sqlx::Error> {
        let want = Context {
            tenant,
            timeout_ms: timeout_ms.min(i32::MAX as u64) as i32,
            generation: crate::error::stale_generation(),
        };
        if self.context == Some(want) {
            return Ok(());
        }
        self.context = None;
        sqlx::query("SELECT fsa_session($1, $2)")
            .bind(want.tenant)
            .bind(want.timeout_ms)
            .execute(&mut self.conn)
            .await?;
        self.context = Some(want);
        Ok(())
    }
}

pub struct SessionManager {
    options: PgConnectOptions,
}

impl managed::Manager for SessionManager {
    type Type = Session;
    type Error = sqlx::Error;

    async fn create(&self) -> Result<Session, sqlx::Error> {
        let mut conn = self.options.connect().await?;
        // The role's attributes come back in the same round trip: a role
        // made SUPERUSER or BYPASSRLS after the start-up check
        // (`Server::check_app_role`) still never serves a tenant.
        let (superuser, bypassrls): (bool, bool) = sqlx::raw_sql(
            "SET ROLE fsa_app; SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user",
        )
        .fetch_one(&mut conn)
        .await
        .and_then(|row| Ok((row.try_get(0)?, row.try_get(1)?)))?;
        if let Some(attributes) = crate::error::unsafe_role_attributes(superuser, bypassrls) {
            return Err(sqlx::Error::Configuration(
                format!("the role fsa_app is {attributes}; row-level security would not apply")
                    .into(),
            ));
        }
        Ok(Session {
            conn,
            context: None,
            in_transaction: false,
            clean: true,
        })
    }

    async fn recycle(&self, s: &mut Session, metrics: &Metrics) -> RecycleResult<sqlx::Error> {
        if s.in_transaction {
            return Err(RecycleError::message("abandoned inside a transaction"));
        }
        if !s.clean || metrics.last_used() >= RETEST_AFTER_IDLE {
            s.conn.ping().await?;
            s.clean = true;
        }
        Ok(())
    }
}

pub type SessionObject = Object<SessionManager>;

/// A placement's request pool: at most `max` sessions, opened on demand,
/// closed after `idle_timeout` unused.
pub struct SessionPool {
    pool: managed::Pool<SessionManager>,
    idle_timeout: Duration,
    started: Instant,
    last_sweep_ms: AtomicU64,
}

impl std::fmt::Debug for SessionPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionPool")
            .field("status", &self.pool.status())
            .finish()
    }
}

impl SessionPool {
    pub fn new(
        options: PgConnectOptions,
        max: u32,
        acquire_timeout: Duration,
        idle_timeout: Duration,
    ) -> Result<Self, StoreError> {
        let pool = managed::Pool::builder(SessionManager { options })
            .max_size(max.max(1) as usize)
            .queue_mode(managed::QueueMode::Lifo)
            .wait_timeout(Some(acquire_timeout))
            .create_timeout(Some(acquire_timeout))
            .recycle_timeout(Some(acquire_timeout))
            .runtime(deadpool::Runtime::Tokio1)
            .build()
            .map_err(|e| StoreError::Config(format!("request pool: {e}")))?;
        Ok(SessionPool {
            pool,
            idle_timeout,
            started: Instant::now(),
            last_sweep_ms: AtomicU64::new(0),
        })
    }

    /// A session: idle ones first (most recently used first), else a new
    /// connection while under the maximum, else the first one handed back
    /// within the acquire timeout.
    pub async fn get(&self) -> Result<SessionObject, StoreError> {
        self.sweep_idle();
        self.pool.get().await.map_err(|e| match e {
            PoolError::Backend(e) => e.into(),
            PoolError::Timeout(_) if self.size() == 0 => StoreError::PlacementUnavailable {
                placement: String::new(),
                source: Some(sqlx::Error::PoolTimedOut),
            },
            PoolError::Timeout(_) => StoreError::Busy,
            PoolError::Closed => StoreError::PlacementUnavailable {
                placement: String::new(),
                source: Some(sqlx::Error::PoolClosed),
            },
            // No runtime, or a hook failed: the pool is built with a
            // runtime and no hooks.
            other => StoreError::Config(format!("request pool: {other}")),
        })
    }

    /// Opens up to `n` sessions in the background, so the first requests
    /// after the pool opens find them ready.
    pub fn warm(&self, n: u32) {
        let n = (n as usize).min(self.pool.status().max_size);
        if n == 0 {
            return;
        }
        let pool = self.pool.clone();
        tokio::spawn(async move {
            let mut held = Vec::with_capacity(n);
            for _ in 0..n {
                match pool.get().await {
                    Ok(s) => held.push(s),
                    Err(_) => break,
                }
            }
        });
    }

    /// Closes sessions unused for the idle timeout, at most once a second.
    fn sweep_idle(&self) {
        let now = self.started.elapsed().as_millis() as u64;
        let last = self.last_sweep_ms.load(Ordering::Relaxed);
        if now.saturating_sub(last) < 1_000
            || self
                .last_sweep_ms
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        let idle = self.idle_timeout;
        let removed = self.pool.retain(|_, m| m.last_used() < idle).removed;
        if !removed.is_empty() {
            tokio::spawn(async move {
                for s in removed {
                    let _ = s.conn.close().await;
                }
            });
        }
    }

    /// Changes the most sessions the pool may hold.
    pub fn resize(&self, max: u32) {
        self.pool.resize(max.max(1) as usize);
    }

    /// Sessions open (busy and idle).
    pub fn size(&self) -> u32 {
        self.pool.status().size as u32
    }

    /// Closes the idle sessions and refuses new requests; busy sessions are
    /// closed as they come back.
    pub async fn close(&self) {
        let removed = self.pool.retain(|_, _| false).removed;
        self.pool.close();
        for s in removed {
            let _ = s.conn.close().await;
        }
    }
}
