//! The service's own measurements, kept in memory: per tenant its requests,
//! their latency and its database time; per placement the time of its
//! transactions. Everything is fixed-size per key (a histogram of a few
//! atomic buckets), so memory grows with the number of tenants and
//! placements the process has served, never with the traffic; past
//! [`MAX_KEYS`] keys new ones are not recorded.
//!
//! A "query" here is one tenant transaction, from its begin to its commit,
//! rollback or drop ([`crate::tx::TenantTx`]): the database time a request
//! spent, as the service saw it (network included).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use fsa_core::TenantId;
use serde::Serialize;
use uuid::Uuid;

/// At most this many tenants, and as many placements, are kept.
pub const MAX_KEYS: usize = 100_000;

/// Upper bounds of the histogram buckets, in milliseconds; the last bucket
/// takes everything above.
const BOUNDS_MS: [f64; 16] = [
    0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0, 2000.0, 5000.0,
    10000.0, 30000.0,
];

/// A latency histogram of fixed buckets, updated without locks.
#[derive(Debug, Default)]
pub struct Histogram {
    buckets: [AtomicU64; BOUNDS_MS.len() + 1],
    count: AtomicU64,
    sum_us: AtomicU64,
}

impl Histogram {
    pub fn record(&self, d: Duration) {
        let ms = d.as_secs_f64() * 1000.0;
        let i = BOUNDS_MS
            .iter()
            .position(|b| ms <= *b)
            .unwrap_or(BOUNDS_MS.len());
        self.buckets[i].fetch_add(1, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_us.fetch_add(
            d.as_micros().min(u64::MAX as u128) as u64,
            Ordering::Relaxed,
        );
    }

    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    pub fn sum_ms(&self) -> f64 {
        self.sum_us.load(Ordering::Relaxed) as f64 / 1000.0
    }

    /// The mean, in milliseconds; `None` before the first value.
    pub fn avg_ms(&self) -> Option<f64> {
        let n = self.count();
        (n > 0).then(|| self.sum_ms() / n as f64)
    }

    /// An estimate of the `q` quantile (0..1), in milliseconds: the upper
    /// bound of the bucket it falls in, interpolated linearly inside it.
    /// `None` before the first value.
    pub fn quantile_ms(&self, q: f64) -> Option<f64> {
        let counts: Vec<u64> = self
            .buckets
            .iter()
            .map(|b| b.load(Ordering::Relaxed))
            .collect();
        let total: u64 = counts.iter().sum();
        if total == 0 {
            return None;
        }
        let rank = (q.clamp(0.0, 1.0) * total as f64).ceil().max(1.0);
        let mut seen = 0u64;
        for (i, c) in counts.iter().enumerate() {
            if *c == 0 {
                continue;
            }
            if (seen + c) as f64 >= rank {
                let lo = if i == 0 { 0.0 } else { BOUNDS_MS[i - 1] };
                let hi = BOUNDS_MS.get(i).copied().unwrap_or(lo * 2.0);
                let within = (rank - seen as f64) / *c as f64;
                return Some(lo + (hi - lo) * within);
            }
            seen += c;
        }
        BOUNDS_MS.last().copied()
    }
}

/// One tenant's figures.
#[derive(Debug, Default)]
pub struct TenantStats {
    /// Requests answered for the tenant (any status).
    pub requests: Histogram,
    /// The tenant's transactions.
    pub db: Histogram,
}

/// A tenant's figures as the admin API shows them.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TenantFigures {
    /// Requests answered since the process started.
    pub requests: u64,
    /// Their latency: total, mean and an estimated p95, in milliseconds.
    pub latency_ms_sum: f64,
    pub latency_avg_ms: Option<f64>,
    pub latency_p95_ms: Option<f64>,
    /// Transactions run for the tenant and the database time they took.
    pub transactions: u64,
    pub db_time_ms: f64,
    pub db_avg_ms: Option<f64>,
    pub db_p95_ms: Option<f64>,
}

/// A placement's transaction times as health shows them.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct QueryFigures {
    pub queries: u64,
    pub avg_query_ms: Option<f64>,
    pub p95_query_ms: Option<f64>,
}

/// Every tenant's and placement's figures in this process.
#[derive(Debug, Default)]
pub struct Stats {
    tenants: RwLock<HashMap<TenantId, Arc<TenantStats>>>,
    placements: RwLock<HashMap<Uuid, Arc<Histogram>>>,
}

fn entry<K: std::hash::Hash + Eq + Copy, V: Default>(
    map: &RwLock<HashMap<K, Arc<V>>>,
    key: K,
) -> Option<Arc<V>> {
    if let Some(v) = map.read().unwrap_or_else(|e| e.into_inner()).get(&key) {
        return Some(v.clone());
    }
    let mut m = map.write().unwrap_or_else(|e| e.into_inner());
    if m.len() >= MAX_KEYS && !m.contains_key(&key) {
        return None;
    }
    Some(m.entry(key).or_default().clone())
}

impl Stats {
    pub fn new() -> Self {
        Self::default()
    }

    /// A request of `tenant` answered after `d`.
    pub fn record_request(&self, tenant: TenantId, d: Duration) {
        if let Some(t) = entry(&self.tenants, tenant) {
            t.requests.record(d);
        }
    }

    /// A transaction of `tenant` on `placement` that took `d`.
    pub fn record_transaction(&self, tenant: TenantId, placement: Uuid, d: Duration) {
        if let Some(t) = entry(&self.tenants, tenant) {
            t.db.record(d);
        }
        if let Some(p) = entry(&self.placements, placement) {
            p.record(d);
        }
    }

    /// The tenant's figures (zeros when it has not been seen).
    pub fn tenant(&self, tenant: TenantId) -> TenantFigures {
        let t = self
            .tenants
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&tenant)
            .cloned()
            .unwrap_or_default();
        TenantFigures {
            requests: t.requests.count(),
            latency_ms_sum: t.requests.sum_ms(),
            latency_avg_ms: t.requests.avg_ms(),
            latency_p95_ms: t.requests.quantile_ms(0.95),
            transactions: t.db.count(),
            db_time_ms: t.db.sum_ms(),
            db_avg_ms: t.db.avg_ms(),
            db_p95_ms: t.db.quantile_ms(0.95),
        }
    }

    /// The placement's figures; `None` when none of its transactions ran in
    /// this process.
    pub fn placement(&self, placement: Uuid) -> Option<QueryFigures> {
        let p = self
            .placements
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&placement)
            .cloned()?;
        Some(QueryFigures {
            queries: p.count(),
            avg_query_ms: p.avg_ms(),
            p95_query_ms: p.quantile_ms(0.95),
        })
    }

    /// Every tenant's figures, for the advisor.
    pub fn tenants(&self) -> Vec<(TenantId, TenantFigures)> {
        let ids: Vec<TenantId> = self
            .tenants
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .keys()
            .copied()
            .collect();
        ids.into_iter().map(|t| (t, self.tenant(t))).collect()
    }
}

/// Records a transaction's time when dropped (after its commit or rollback).
pub(crate) struct TxTimer {
    pub(crate) stats: Arc<Stats>,
    pub(crate) tenant: TenantId,
    pub(crate) placement: Uuid,
    pub(crate) started: Instant,
}

impl Drop for TxTimer {
    fn drop(&mut self) {
        self.stats
            .record_transaction(self.tenant, self.placement, self.started.elapsed());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_fall_in_the_right_bucket() {
        let h = Histogram::default();
        assert_eq!(h.quantile_ms(0.95), None);
        for _ in 0..95 {
            h.record(Duration::from_micros(800));
        }
        for _ in 0..5 {
            h.record(Duration::from_millis(150));
        }
        let p95 = h.quantile_ms(0.95).unwrap();
        assert!((0.5..=1.0).contains(&p95), "{p95}");
        let p99 = h.quantile_ms(0.99).unwrap();
        assert!((100.0..=200.0).contains(&p99), "{p99}");
        let avg = h.avg_ms().unwrap();
        assert!(
            (avg - (95.0 * 0.8 + 5.0 * 150.0) / 100.0).abs() < 0.01,
            "{avg}"
        );
    }

    #[test]
    fn figures_are_kept_per_tenant_and_placement() {
        let s = Stats::new();
        let (a, b) = (TenantId::generate(), TenantId::generate());
        let p = Uuid::now_v7();
        s.record_request(a, Duration::from_millis(3));
        s.record_request(a, Duration::from_millis(5));
        s.record_transaction(a, p, Duration::from_millis(2));
        s.record_transaction(b, p, Duration::from_millis(4));
        let fa = s.tenant(a);
        assert_eq!(fa.requests, 2);
        assert!((fa.latency_ms_sum - 8.0).abs() < 0.01);
        assert_eq!(fa.transactions, 1);
        assert_eq!(s.tenant(b).requests, 0);
        let fp = s.placement(p).unwrap();
        assert_eq!(fp.queries, 2);
        assert!((fp.avg_query_ms.unwrap() - 3.0).abs() < 0.01);
        assert!(s.placement(Uuid::now_v7()).is_none());
    }
}
