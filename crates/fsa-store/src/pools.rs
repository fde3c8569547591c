//! The pool cache: one pool per open placement under a global connection
//! budget.
//!
//! Each open pool reserves its maximum size from the budget, so the
//! connections of all pools together never exceed it. Opening a pool when
//! the budget is spent closes idle pools (no transaction in flight), least
//! recently used first; their reservation is returned only once their
//! connections are closed. When every pool is busy, the request waits for one
//! to go idle, up to a deadline, and then fails with [`StoreError::Busy`]
//! (503 `database_busy` at the API) — never with a raw connection error.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
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
    reservation: u32,
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
                if let Some(p) = st.pools.get(&placement.id) {
                    return Ok(self.lease_of(p));
                }
                if st.reserved + need <= self.budget {
                    let pool = open(need)?;
                    st.reserved += need;
                    let open = Arc::new(OpenPool {
                        placement: placement.clone(),
                        pool,
                        reservation: need,
                        in_flight: AtomicUsize::new(0),
                        last_used_ms: AtomicU64::new(self.now_ms()),
                    });
                    st.pools.insert(placement.id, open.clone());
                    self.opened.fetch_add(1, Ordering::Relaxed);
                    return Ok(self.lease_of(&open));
                }
                // Close idle pools, least recently used first, until there is room.
                let mut idle: Vec<(u64, Uuid, u32)> = st
                    .pools
                    .iter()
                    .filter(|(_, p)| p.in_flight.load(Ordering::Acquire) == 0)
                    .map(|(id, p)| (p.last_used_ms.load(Ordering::Relaxed), *id, p.reservation))
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
                let freed: u32 = closing.iter().map(|p| p.reservation).sum();
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
                if st.pools.contains_key(&placement.id)
                    || st.reserved + need <= self.budget
                    || idle_exists
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
            self.lock().reserved -= p.reservation;
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
