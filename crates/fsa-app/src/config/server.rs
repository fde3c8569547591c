//! The HTTP server's sections, as plain settings: `[server]` (what one
//! client's connection may hold), `[login]` (login attempt limits) and
//! `[metrics]`. They are read with the rest of the configuration; the
//! accept loop, the login limiter and the proxies resolution that use them
//! live in `fsa-server`.

use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize};

/// The `[server]` section: what one client's connection may hold.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpServer {
    /// Seconds a connection has to send a request's whole header, from
    /// when it is accepted and, on HTTP/1, from the end of the previous
    /// response (so it is also how long a kept-alive connection may idle).
    pub header_timeout: f64,
    /// Connections served at once; at the cap, new ones wait in the
    /// listen backlog until one closes.
    pub max_connections: usize,
    /// Addresses and CIDRs of proxies whose `Forwarded`/`X-Forwarded-For`
    /// is believed about the client's address (nobody's by default; a list,
    /// or from the environment one comma-separated string).
    #[serde(deserialize_with = "one_or_many")]
    pub trusted_proxies: Vec<String>,
}

impl Default for HttpServer {
    fn default() -> Self {
        HttpServer {
            header_timeout: 10.0,
            max_connections: 10_000,
            trusted_proxies: Vec::new(),
        }
    }
}

impl HttpServer {
    /// The header timeout, refused when it is not a positive number of
    /// seconds: 0 would close every connection at once, not disable it.
    pub fn header_timeout(&self) -> Result<Duration, String> {
        Duration::try_from_secs_f64(self.header_timeout)
            .ok()
            .filter(|d| !d.is_zero())
            .ok_or_else(|| {
                format!(
                    "invalid configuration: server.header_timeout (FSA_SERVER__HEADER_TIMEOUT) is {}; it is a number of seconds above 0",
                    self.header_timeout
                )
            })
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// Whether requests are counted for `/metrics`. Off, `/metrics` lists
    /// the metric names without samples; the per-tenant figures of the
    /// admin API are kept either way.
    pub enabled: bool,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig { enabled: true }
    }
}

/// The limits, from the `[login]` section of the configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LoginLimits {
    /// Failed attempts in a row one tenant and email may make from one
    /// address; 0: no limit.
    pub account_attempts: u32,
    /// Attempts given back per minute to a tenant and email.
    pub account_refill_per_minute: f64,
    /// Failed attempts in a row one client address may make; 0: no limit.
    pub address_attempts: u32,
    /// Attempts given back per minute to a client address.
    pub address_refill_per_minute: f64,
    /// Password hashes and verifications run at once (0: one per core).
    pub hash_concurrency: usize,
}

impl Default for LoginLimits {
    fn default() -> Self {
        LoginLimits {
            account_attempts: 10,
            account_refill_per_minute: 5.0,
            address_attempts: 50,
            address_refill_per_minute: 30.0,
            hash_concurrency: 0,
        }
    }
}

/// `trusted_proxies` as a list or, from the environment, one string of
/// comma-separated entries (`FSA_SERVER__TRUSTED_PROXIES=10.0.0.0/8,fd00::/8`).
pub fn one_or_many<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(s) => s
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        OneOrMany::Many(v) => v,
    })
}
