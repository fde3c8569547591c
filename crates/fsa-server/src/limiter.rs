//! Per-tenant request rate, work-time and concurrency limits, so a busy
//! tenant cannot take the service from its neighbours. Two token buckets per
//! tenant (requests, and milliseconds of work; a second's worth of burst
//! each) and a count of requests in flight.
//!
//! The work-time bucket is what keeps a shared placement fair: a request is
//! admitted while the bucket is positive and pays its wall time when it ends,
//! so a tenant sending expensive requests gets fewer of them, and one whose
//! requests slow down under load (because it is loading the machine) is
//! throttled harder.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use fsa_core::{PlanLimits, TenantId};

use crate::bucket::TokenBucket;

type Buckets = Arc<Mutex<HashMap<TenantId, TokenBucket>>>;
type Counts = Arc<Mutex<HashMap<TenantId, u32>>>;

#[derive(Default)]
pub struct Limiter {
    buckets: Mutex<HashMap<TenantId, TokenBucket>>,
    work: Buckets,
    in_flight: Counts,
}

/// Why a request was turned away, and when to retry (seconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    Rate { retry_after: u64 },
    Work { retry_after: u64 },
    Concurrency,
}

/// A request in flight: counted against the concurrency limit and charged
/// its wall time to the work budget when dropped.
pub struct InFlight {
    tenant: TenantId,
    started: Instant,
    counted: Option<Counts>,
    /// The work budget's buckets and rate (ms per second).
    charged: Option<(Buckets, f64)>,
}

impl std::fmt::Debug for InFlight {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InFlight")
            .field("tenant", &self.tenant)
            .field("started", &self.started)
            .finish()
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if let Some(map) = &self.counted {
            let mut m = map.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(n) = m.get_mut(&self.tenant) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    m.remove(&self.tenant);
                }
            }
        }
        if let Some((map, rate)) = &self.charged {
            let now = Instant::now();
            let spent = now.duration_since(self.started).as_secs_f64() * 1000.0;
            let mut m = map.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(b) = m.get_mut(&self.tenant) {
                b.refill(*rate, *rate, now);
                // A debt of at most one second's worth: a single slow request
                // does not lock the tenant out for long.
                b.tokens = (b.tokens - spent).max(-rate);
            }
        }
    }
}

impl Limiter {
    /// Admits a request of `tenant` under `limits`, or says why not.
    pub fn admit(
        &self,
        tenant: TenantId,
        limits: &PlanLimits,
    ) -> Result<Option<InFlight>, Refusal> {
        let now = Instant::now();
        if let Some(rps) = limits.requests_per_second.filter(|r| *r > 0) {
            let rate = f64::from(rps);
            let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
            // A second's worth of burst: the depth is the rate.
            let b = buckets
                .entry(tenant)
                .or_insert(TokenBucket::full(rate, now));
            b.refill(rate, rate, now);
            b.take(rate)
                .map_err(|retry_after| Refusal::Rate { retry_after })?;
        }
        let charged = match limits.work_ms_per_second.filter(|r| *r > 0) {
            Some(ms) => {
                let rate = f64::from(ms);
                let mut work = self.work.lock().unwrap_or_else(|e| e.into_inner());
                let b = work.entry(tenant).or_insert(TokenBucket::full(rate, now));
                b.refill(rate, rate, now);
                if b.tokens <= 0.0 {
                    return Err(Refusal::Work {
                        retry_after: b.wait_for(0.0, rate),
                    });
                }
                Some((self.work.clone(), rate))
            }
            None => None,
        };
        let counted = match limits.concurrent_requests {
            Some(max) => {
                let mut m = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
                let n = m.entry(tenant).or_insert(0);
                if *n >= max {
                    return Err(Refusal::Concurrency);
                }
                *n += 1;
                Some(self.in_flight.clone())
            }
            None => None,
        };
        if counted.is_none() && charged.is_none() {
            return Ok(None);
        }
        Ok(Some(InFlight {
            tenant,
            started: now,
            counted,
            charged,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(rps: Option<u32>, conc: Option<u32>) -> PlanLimits {
        PlanLimits {
            requests_per_second: rps,
            concurrent_requests: conc,
            work_ms_per_second: None,
            ..fsa_core::Limits::default().free
        }
    }

    #[test]
    fn rate_allows_a_burst_then_refuses() {
        let l = Limiter::default();
        let t = TenantId::generate();
        let lim = limits(Some(5), None);
        for _ in 0..5 {
            assert!(l.admit(t, &lim).is_ok());
        }
        assert_eq!(
            l.admit(t, &lim).unwrap_err(),
            Refusal::Rate { retry_after: 1 }
        );
        // Another tenant is not affected.
        assert!(l.admit(TenantId::generate(), &lim).is_ok());
    }

    #[test]
    fn concurrency_counts_requests_in_flight() {
        let l = Limiter::default();
        let t = TenantId::generate();
        let lim = limits(None, Some(2));
        let a = l.admit(t, &lim).unwrap();
        let _b = l.admit(t, &lim).unwrap();
        assert_eq!(l.admit(t, &lim).unwrap_err(), Refusal::Concurrency);
        drop(a);
        assert!(l.admit(t, &lim).is_ok());
    }

    #[test]
    fn work_time_is_charged_when_a_request_ends() {
        let l = Limiter::default();
        let t = TenantId::generate();
        let lim = PlanLimits {
            work_ms_per_second: Some(20),
            ..limits(None, None)
        };
        // A request that takes 60 ms spends the second's 20 ms and more.
        let a = l.admit(t, &lim).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(60));
        drop(a);
        assert!(matches!(
            l.admit(t, &lim).unwrap_err(),
            Refusal::Work { retry_after: 1 }
        ));
        // Another tenant is not affected.
        assert!(l.admit(TenantId::generate(), &lim).is_ok());
        // The debt is at most a second's worth: after a second it is paid.
        std::thread::sleep(std::time::Duration::from_millis(1100));
        assert!(l.admit(t, &lim).is_ok());
    }
}
