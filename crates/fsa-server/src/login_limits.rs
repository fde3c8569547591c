//! Limits on login attempts, per client address and per tenant, email and
//! address, so passwords cannot be guessed at speed and a flood of logins
//! is turned away before it costs any argon2 work.
//!
//! The account's bucket is keyed by the address too: failures sent for a
//! victim's email from one address exhaust that address's buckets only, so
//! the owner, from an address that has not failed, logs in at once. (A
//! bucket per account alone would let anyone keep any owner out for as long
//! as they like.) Guessing from many addresses is bounded per address.
//!
//! Each key has a token bucket: `attempts` deep, refilled at
//! `refill_per_minute`. An attempt takes a token from both of its buckets
//! before anything else is done; a successful login gives them back, so only
//! failures (and attempts still running) count. An empty bucket answers 429
//! `rate_limited` with the seconds until it holds a token again.
//!
//! The address is the connection's peer, or the client a trusted proxy
//! names (`[server] trusted_proxies`); IPv6 addresses count per /64, the
//! block one host usually holds.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Instant;

use crate::bucket::TokenBucket;

/// The limits, from the `[login]` section of the configuration (read
/// with the rest of it in `fsa-app`).
pub use fsa_app::config::LoginLimits;

/// Buckets are forgotten once full again; a map is swept when it has grown
/// by this many keys since its last sweep.
const SWEEP_EVERY: usize = 4096;

struct Buckets<K> {
    map: HashMap<K, TokenBucket>,
    next_sweep: usize,
}

impl<K: Eq + Hash + Clone> Buckets<K> {
    fn new() -> Self {
        Buckets {
            map: HashMap::new(),
            next_sweep: SWEEP_EVERY,
        }
    }

    /// Takes a token for `key`, or returns the seconds until one is there.
    fn take(&mut self, key: &K, depth: f64, per_sec: f64, now: Instant) -> Result<(), u64> {
        if self.map.len() >= self.next_sweep {
            self.map.retain(|_, b| {
                b.refill(depth, per_sec, now);
                !b.is_full(depth)
            });
            self.next_sweep = self.map.len() + SWEEP_EVERY;
        }
        let b = self
            .map
            .entry(key.clone())
            .or_insert(TokenBucket::full(depth, now));
        b.refill(depth, per_sec, now);
        b.take(per_sec)
    }

    fn give_back(&mut self, key: &K, depth: f64) {
        if let Some(b) = self.map.get_mut(key) {
            b.tokens = (b.tokens + 1.0).min(depth);
        }
    }
}

/// The trimmed, lower-cased start of `s`, at most `max` bytes.
fn clipped(s: &str, max: usize) -> String {
    let s = s.trim();
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_lowercase()
}

/// The key of an account as tried from one address: the tenant's slug and
/// the email, as typed (trimmed, lower case), and the address's block.
type Account = (String, String, IpAddr);

pub struct LoginLimiter {
    limits: LoginLimits,
    accounts: Mutex<Buckets<Account>>,
    addresses: Mutex<Buckets<IpAddr>>,
}

/// An admitted attempt; [`LoginLimiter::succeeded`] gives its tokens back.
#[derive(Debug)]
pub struct Attempt {
    account: Account,
    address: IpAddr,
}

impl LoginLimiter {
    pub fn new(limits: LoginLimits) -> Self {
        LoginLimiter {
            limits,
            accounts: Mutex::new(Buckets::new()),
            addresses: Mutex::new(Buckets::new()),
        }
    }

    /// Admits an attempt at `tenant`/`email` from `address`, or returns the
    /// seconds to wait.
    pub fn admit(&self, tenant: &str, email: &str, address: IpAddr) -> Result<Attempt, u64> {
        let now = Instant::now();
        let address = block_of(address);
        // A key is at most as long as a real slug or email can be: what a
        // client sends beyond that (up to the body limit) is not kept.
        let account = (clipped(tenant, 63), clipped(email, 320), address);
        let l = &self.limits;
        if let Some(depth) = on(l.address_attempts) {
            let per_sec = l.address_refill_per_minute / 60.0;
            lock(&self.addresses).take(&address, f64::from(depth), per_sec, now)?;
        }
        if let Some(depth) = on(l.account_attempts) {
            let per_sec = l.account_refill_per_minute / 60.0;
            if let Err(wait) = lock(&self.accounts).take(&account, f64::from(depth), per_sec, now) {
                // The address's token is not spent on an attempt not made.
                if let Some(d) = on(l.address_attempts) {
                    lock(&self.addresses).give_back(&address, f64::from(d));
                }
                return Err(wait);
            }
        }
        Ok(Attempt { account, address })
    }

    /// A login that succeeded does not count against its buckets.
    pub fn succeeded(&self, attempt: Attempt) {
        if let Some(d) = on(self.limits.address_attempts) {
            lock(&self.addresses).give_back(&attempt.address, f64::from(d));
        }
        if let Some(d) = on(self.limits.account_attempts) {
            lock(&self.accounts).give_back(&attempt.account, f64::from(d));
        }
    }
}

/// A limit of 0 is none.
fn on(attempts: u32) -> Option<u32> {
    (attempts > 0).then_some(attempts)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The address an attempt counts against: IPv4 as is, IPv6 by its /64.
fn block_of(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let bits = u128::from(v6) & !((1u128 << 64) - 1);
                IpAddr::V6(bits.into())
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_keys_are_bounded() {
        let huge = "É".repeat(100_000);
        let k = clipped(&huge, 320);
        assert!(k.len() <= 320 && k.chars().all(|c| c == 'é'));
        assert_eq!(clipped("  Ann@Example.COM ", 320), "ann@example.com");
    }

    fn limiter(account: u32, address: u32) -> LoginLimiter {
        LoginLimiter::new(LoginLimits {
            account_attempts: account,
            account_refill_per_minute: 1.0,
            address_attempts: address,
            address_refill_per_minute: 1.0,
            hash_concurrency: 1,
        })
    }

    #[test]
    fn an_account_runs_out_and_others_do_not() {
        let l = limiter(3, 100);
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        for _ in 0..3 {
            l.admit("acme", "a@acme.test", ip).unwrap();
        }
        let wait = l.admit("Acme", " A@acme.test ", ip).unwrap_err();
        assert!((1..=60).contains(&wait), "{wait}");
        l.admit("acme", "b@acme.test", ip).unwrap();
        l.admit("other", "a@acme.test", ip).unwrap();
    }

    #[test]
    fn failures_elsewhere_do_not_lock_the_owner_out() {
        let l = limiter(3, 1000);
        let attacker: IpAddr = "203.0.113.66".parse().unwrap();
        let owner: IpAddr = "198.51.100.7".parse().unwrap();
        for _ in 0..3 {
            l.admit("acme", "owner@acme.test", attacker).unwrap();
        }
        for _ in 0..100 {
            assert!(l.admit("acme", "owner@acme.test", attacker).is_err());
        }
        let at = l.admit("acme", "owner@acme.test", owner).unwrap();
        l.succeeded(at);
    }

    #[test]
    fn an_address_runs_out_and_others_do_not() {
        let l = limiter(100, 2);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        l.admit("acme", "1@acme.test", a).unwrap();
        l.admit("acme", "2@acme.test", a).unwrap();
        assert!(l.admit("acme", "3@acme.test", a).is_err());
        l.admit("acme", "3@acme.test", b).unwrap();
    }

    #[test]
    fn success_gives_the_attempt_back() {
        let l = limiter(2, 2);
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        for _ in 0..10 {
            let at = l.admit("acme", "a@acme.test", ip).unwrap();
            l.succeeded(at);
        }
    }

    #[test]
    fn ipv6_counts_per_64() {
        let l = limiter(100, 1);
        l.admit("acme", "a@x", "2001:db8::1".parse().unwrap())
            .unwrap();
        assert!(
            l.admit("acme", "b@x", "2001:db8::ffff:2".parse().unwrap())
                .is_err()
        );
        l.admit("acme", "c@x", "2001:db8:0:1::1".parse().unwrap())
            .unwrap();
    }
}
