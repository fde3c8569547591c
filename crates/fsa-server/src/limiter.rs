//! Per-tenant request rate and concurrency limits, so a busy tenant cannot
//! take the service from its neighbours. A token bucket per tenant (a
//! second's worth of burst) and a count of requests in flight.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use fsa_core::{PlanLimits, TenantId};

#[derive(Default)]
pub struct Limiter {
    buckets: Mutex<HashMap<TenantId, Bucket>>,
    in_flight: Arc<Mutex<HashMap<TenantId, u32>>>,
}

struct Bucket {
    tokens: f64,
    last: Instant,
}

/// Why a request was turned away, and when to retry (seconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    Rate { retry_after: u64 },
    Concurrency,
}

/// A request in flight; counted until dropped.
#[derive(Debug)]
pub struct InFlight {
    tenant: TenantId,
    map: Arc<Mutex<HashMap<TenantId, u32>>>,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut m = self.map.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = m.get_mut(&self.tenant) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                m.remove(&self.tenant);
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
        if let Some(rps) = limits.requests_per_second.filter(|r| *r > 0) {
            let rate = f64::from(rps);
            let now = Instant::now();
            let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
            let b = buckets.entry(tenant).or_insert(Bucket {
                tokens: rate,
                last: now,
            });
            b.tokens = (b.tokens + now.duration_since(b.last).as_secs_f64() * rate).min(rate);
            b.last = now;
            if b.tokens < 1.0 {
                let wait = ((1.0 - b.tokens) / rate).ceil().max(1.0) as u64;
                return Err(Refusal::Rate { retry_after: wait });
            }
            b.tokens -= 1.0;
        }
        let Some(max) = limits.concurrent_requests else {
            return Ok(None);
        };
        let mut m = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
        let n = m.entry(tenant).or_insert(0);
        if *n >= max {
            return Err(Refusal::Concurrency);
        }
        *n += 1;
        Ok(Some(InFlight {
            tenant,
            map: self.in_flight.clone(),
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
}
