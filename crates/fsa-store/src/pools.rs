//! The pool cache: one pool per open placement under a global connection
//! budget.
//!
//! Each open pool reserves its size from the budget, so the connections of
//! all pools together never exceed it. A pool opens at its configured size
//! when the budget has room, and smaller (down to one connection) when it
//! has less. Opening a pool when the budget is spent closes idle pools (no
//! transaction in flight), least recently used first; their reservation is returned only once their
//! connections are closed. When every pool is busy, the request waits for one
//! to go idle, up to a deadline, and then fails with [`StoreError::Busy`]
//! (503 `database_busy` at the API) — never with a raw connection error.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::Notify;
use uuid::Uuid;

use crate::catalog::Placement;
use crate::db::PlacementPool;
use crate::error::StoreError;

/// An open placement: its record, its pool, and how busy it is.
#[derive(Debug)]
pub struct OpenPool {
    pub placement: Placement,
    pub pool: PlacementPool,
    /// Connections reserved from the budget: the pool's size now.
    reservation: AtomicU32,
    /// The size it was asked to have; a pool opened smaller under pressure
    /// grows toward it when the budget has room again.
    wanted: u32,
    in_flight: AtomicUsize,
    last_used_ms: AtomicU64,
}

/// A use of an open pool. While a lease lives, its pool is not closed.
#[derive(Debug)]
pub struct Lease {
    open: Arc<OpenPool>,
    changed: Arc<Notify>,
}

impl std::ops::Deref for Lease {
    type Target = OpenPool;
    fn deref(&self) -> &OpenPool {
        &self.open
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if self.open.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.changed.notify_waiters();
        }
    }
}

struct State {
    pools: HashMap<Uuid, Arc<OpenPool>>,
    /// Connections reserved by open pools and by pools still closing.
    reserved: u32,
}

/// Counters of the cache, for metrics and benchmarks.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct PoolStats {
    pub open_pools: usize,
    pub reserved_connections: u32,
    pub budget: u32,
    pub opened_total: u64,
    pub evicted_total: u64,
    pub open_connections: u32,
}

pub struct PoolCache {
    budget: u32,
    state: Mutex<State>,
    changed: Arc<Notify>,
    started: Instant,
    opened: AtomicU64,
    evicted: AtomicU64,
}

impl PoolCache {
    pub fn new(budget: u32) -> Self {
        PoolCache {
            budget: budget.max(1),
            state: Mutex::new(State {
                pools: HashMap::new(),
                reserved: 0,
            }),
            changed: Arc::new(Notify::new()),
            started: Instant::now(),
            opened: AtomicU64::new(0),
            evicted: AtomicU64::new(0),
        }
    }

    pub fn budget(&self) -> u32 {
        self.budget
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    fn lease_of(&self, open: &Arc<OpenPool>) -> Lease {
        open.in_flight.fetch_add(1, Ordering::AcqRel);
        open.last_used_ms.store(self.now_ms(), Ordering::Relaxed);
        Lease {
            open: open.clone(),
            changed: self.changed.clone(),
        }
    }

    /// A lease on the placement's pool if it is open, without I/O.
    pub fn try_lease(&self, id: Uuid) -> Option<Lease> {
        let st = self.lock();
        st.pools.get(&id).map(|p| self.lease_of(p))
    }

    /// A lease on the placement's pool, opening it with `open` (given the
    /// connections it may use) when it is not open. Waits up to `wait` for
    /// room in the budget.
    pub async fn lease(
        &self,
        placement: &Placement,
        max_connections: u32,
        wait: Duration,
        open: impl Fn(u32) -> Result<PlacementPool, StoreError>,
    ) -> Result<Lease, StoreError> {
        let need = max_connections.clamp(1, self.budget);
        let deadline = Instant::now() + wait;
        loop {
            let mut closing: Vec<Arc<OpenPool>> = Vec::new();
            let waiter = {
                let mut st = self.lock();
                if let Some(p) = st.pools.get(&placement.id).cloned() {
                    self.grow(&mut st, &p);
                    return Ok(self.lease_of(&p));
                }
                // What the budget has left, up to the pool's size: under
                // pressure a pool opens smaller rather than closing another
                // (many databases each used now and then are served by more
                // small pools, and fewer requests open a connection).
                let room = self.budget.saturating_sub(st.reserved).min(need);
                if room >= 1 {
                    let pool = open(room)?;
                    st.reserved += room;
                    let open = Arc::new(OpenPool {
                        placement: placement.clone(),
                        pool,
                        reservation: AtomicU32::new(room),
                        wanted: need,
                        in_flight: AtomicUsize::new(0),
                        last_used_ms: AtomicU64::new(self.now_ms()),
                    });
                    st.pools.insert(placement.id, open.clone());
                    self.opened.fetch_add(1, Ordering::Relaxed);
                    return Ok(self.lease_of(&open));
                }
                // Close idle pools, least recently used first, until there is
                // room for one connection.
                let need = 1;
                let mut idle: Vec<(u64, Uuid, u32)> = st
                    .pools
                    .iter()
                    .filter(|(_, p)| p.in_flight.load(Ordering::Acquire) == 0)
                    .map(|(id, p)| {
                        (
                            p.last_used_ms.load(Ordering::Relaxed),
                            *id,
                            p.reservation.load(Ordering::Relaxed),
                        )
                    })
                    .collect();
                idle.sort_unstable();
                let mut freed = 0;
                for (_, id, r) in idle {
                    if st.reserved - freed + need <= self.budget {
                        break;
                    }
                    if let Some(p) = st.pools.remove(&id) {
                        freed += r;
                        closing.push(p);
                    }
                }
                if closing.is_empty() {
                    Some(self.changed.clone())
                } else {
                    None
                }
            };
            if !closing.is_empty() {
                let freed: u32 = closing
                    .iter()
                    .map(|p| p.reservation.load(Ordering::Relaxed))
                    .sum();
                for p in &closing {
                    p.pool.close().await;
                    self.evicted.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(placement = %p.placement.name, "closed idle pool to stay within the connection budget");
                }
                self.lock().reserved -= freed;
                self.changed.notify_waiters();
                continue;
            }
            let Some(changed) = waiter else { continue };
            let notified = changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            // Re-check after registering, so a release in between is not missed.
            {
                let st = self.lock();
                let idle_exists = st
                    .pools
                    .values()
                    .any(|p| p.in_flight.load(Ordering::Acquire) == 0);
                if st.pools.contains_key(&placement.id) || st.reserved < self.budget || idle_exists
                {
                    continue;
                }
            }
            let now = Instant::now();
            if now >= deadline
                || tokio::time::timeout(deadline - now, notified)
                    .await
                    .is_err()
            {
                return Err(StoreError::Busy);
            }
        }
    }

    /// Gives a pool opened smaller than it was asked what the budget has
    /// room for now, toward its size (PostgreSQL's request pools resize in
    /// place; SQLite's keep their size).
    fn grow(&self, st: &mut State, p: &OpenPool) {
        let have = p.reservation.load(Ordering::Relaxed);
        let more = p
            .wanted
            .saturating_sub(have)
            .min(self.budget.saturating_sub(st.reserved));
        if more > 0 && p.pool.resize(have + more) {
            p.reservation.store(have + more, Ordering::Relaxed);
            st.reserved += more;
        }
    }

    /// Closes every pool.
    pub async fn close_all(&self) {
        let pools: Vec<_> = {
            let mut st = self.lock();
            st.reserved = 0;
            st.pools.drain().map(|(_, p)| p).collect()
        };
        for p in pools {
            p.pool.close().await;
        }
    }

    /// Closes one placement's pool (after its server failed, say).
    pub async fn close(&self, id: Uuid) {
        let p = self.lock().pools.remove(&id);
        if let Some(p) = p {
            p.pool.close().await;
            self.lock().reserved -= p.reservation.load(Ordering::Relaxed);
            self.changed.notify_waiters();
        }
    }

    /// Each open pool's placement and the connections it holds now.
    pub fn connections(&self) -> Vec<(Uuid, String, u32)> {
        let st = self.lock();
        st.pools
            .values()
            .map(|p| (p.placement.id, p.placement.name.clone(), p.pool.size()))
            .collect()
    }

    pub fn stats(&self) -> PoolStats {
        let st = self.lock();
        PoolStats {
            open_pools: st.pools.len(),
            reserved_connections: st.reserved,
            budget: self.budget,
            opened_total: self.opened.load(Ordering::Relaxed),
            evicted_total: self.evicted.load(Ordering::Relaxed),
            open_connections: st.pools.values().map(|p| p.pool.size()).sum(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::SessionPool;

    fn placement(name: &str) -> Placement {
        Placement {
            id: Uuid::new_v4(),
            name: name.into(),
            kind: fsa_core::PlacementKind::Dedicated,
            region: fsa_core::Region::default_region(),
            server: "default".into(),
            db_name: name.into(),
            capacity: None,
            state: fsa_core::PlacementState::Ready,
            created_at: crate::ts::Ts::now(),
        }
    }

    /// A request pool that connects only when asked for a session.
    fn lazy(max: u32) -> Result<PlacementPool, StoreError> {
        let options = sqlx::postgres::PgConnectOptions::new()
            .host("127.0.0.1")
            .port(1);
        Ok(PlacementPool::Pg(SessionPool::new(
            options,
            max,
            Duration::from_millis(50),
            Duration::from_secs(60),
        )?))
    }

    async fn lease(cache: &PoolCache, p: &Placement) -> Lease {
        cache
            .lease(p, 2, Duration::from_millis(50), lazy)
            .await
            .expect("a lease")
    }

    #[tokio::test]
    async fn pools_open_smaller_under_pressure_and_grow_back() {
        let cache = PoolCache::new(3);
        let (a, b, c) = (placement("a"), placement("b"), placement("c"));
        let la = lease(&cache, &a).await;
        assert_eq!(la.reservation.load(Ordering::Relaxed), 2);
        // One connection left: b opens with it instead of closing a.
        let lb = lease(&cache, &b).await;
        assert_eq!(lb.reservation.load(Ordering::Relaxed), 1);
        assert_eq!(cache.stats().open_pools, 2);
        assert_eq!(cache.stats().reserved_connections, 3);
        // Nothing left and nothing idle: c waits, then is refused.
        let refused = cache.lease(&c, 2, Duration::from_millis(50), lazy).await;
        assert!(matches!(refused, Err(StoreError::Busy)), "{refused:?}");
        // a goes idle and c takes its place, at the size that fits.
        drop(la);
        let lc = lease(&cache, &c).await;
        assert_eq!(cache.stats().open_pools, 2);
        assert_eq!(lc.reservation.load(Ordering::Relaxed), 2);
        assert_eq!(cache.stats().reserved_connections, 3);
        // c closes; the next use of b grows it to its size.
        drop(lc);
        cache.close(c.id).await;
        let lb2 = lease(&cache, &b).await;
        assert_eq!(lb2.reservation.load(Ordering::Relaxed), 2);
        assert_eq!(cache.stats().reserved_connections, 2);
        assert!(cache.stats().reserved_connections <= cache.budget());
        drop((lb, lb2));
    }
}
