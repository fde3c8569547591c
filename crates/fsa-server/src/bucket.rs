//! The token bucket both limiters use: per-tenant request and work budgets
//! ([`crate::limiter`]) and login attempts ([`crate::login_limits`]).

use std::time::Instant;

/// Tokens up to a depth, refilled continuously at a rate per second.
#[derive(Debug, Clone, Copy)]
pub struct TokenBucket {
    pub tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket of `depth` tokens.
    pub fn full(depth: f64, now: Instant) -> Self {
        TokenBucket {
            tokens: depth,
            last: now,
        }
    }

    /// Adds what `per_sec` has refilled since the last refill, up to `depth`.
    pub fn refill(&mut self, depth: f64, per_sec: f64, now: Instant) {
        self.tokens =
            (self.tokens + now.duration_since(self.last).as_secs_f64() * per_sec).min(depth);
        self.last = now;
    }

    /// Whole seconds (at least 1) until the bucket holds `need` again; an
    /// hour when it is never refilled.
    pub fn wait_for(&self, need: f64, per_sec: f64) -> u64 {
        if per_sec > 0.0 {
            ((need - self.tokens) / per_sec).ceil().max(1.0) as u64
        } else {
            3600
        }
    }

    /// Takes one token, or says how many seconds until there is one.
    pub fn take(&mut self, per_sec: f64) -> Result<(), u64> {
        if self.tokens < 1.0 {
            return Err(self.wait_for(1.0, per_sec));
        }
        self.tokens -= 1.0;
        Ok(())
    }

    /// Whether the bucket is full (nothing to remember).
    pub fn is_full(&self, depth: f64) -> bool {
        self.tokens >= depth
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn empties_waits_and_refills() {
        let t0 = Instant::now();
        let mut b = TokenBucket::full(2.0, t0);
        assert!(b.take(1.0).is_ok());
        assert!(b.take(1.0).is_ok());
        assert_eq!(b.take(1.0), Err(1));
        assert_eq!(b.take(0.1), Err(10));
        assert_eq!(b.take(0.0), Err(3600));
        b.refill(2.0, 1.0, t0 + Duration::from_millis(1500));
        assert!(b.take(1.0).is_ok());
        b.refill(2.0, 1.0, t0 + Duration::from_secs(100));
        assert!(b.is_full(2.0));
    }
}
