//! Security events: what an operator needs to see an attack.
//!
//! Each event is one structured line on the `security` log target, at
//! `warn` so the default level keeps it, and one increment of
//! `fsa_security_events_total{kind}`. A line names the client's address and
//! what was tried (tenant slug, email, route), each clipped and escaped;
//! never a password or a token.

use std::net::IpAddr;

/// The log target of security events (`FSA_LOG=security=warn` keeps only them).
pub const TARGET: &str = "security";

/// The counter of security events, by kind.
pub const EVENTS: &str = "fsa_security_events_total";

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A login with a wrong password, an unknown tenant or email, or an
    /// inactive user.
    LoginFailed,
    /// A login refused by the attempt limits (429).
    LoginLimited,
    /// A request to `/admin` with a token that is not the admin token.
    AdminTokenRefused,
    /// A tenant API request with a token that is missing, forged, expired
    /// or revoked.
    TokenRefused,
    /// A tenant user asked for an id its tenant does not have (another
    /// tenant's, or none at all).
    UnknownId,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::LoginFailed => "login_failed",
            Kind::LoginLimited => "login_limited",
            Kind::AdminTokenRefused => "admin_token_refused",
            Kind::TokenRefused => "token_refused",
            Kind::UnknownId => "unknown_id",
        }
    }
}

/// Text from a client, as a log field: at most 100 characters, written
/// with `Debug` so no control character can start a forged line.
pub fn clip(s: &str) -> String {
    s.chars().take(100).collect()
}

/// Records an event of `kind` from `client`; `what` says what was tried.
pub fn record(kind: Kind, client: Option<IpAddr>, what: &[(&str, &str)]) {
    metrics::counter!(EVENTS, "kind" => kind.as_str()).increment(1);
    let client = client.map(|c| c.to_string());
    let what: Vec<(&str, String)> = what.iter().map(|(k, v)| (*k, clip(v))).collect();
    tracing::warn!(
        target: TARGET,
        event = kind.as_str(),
        client = client.as_deref().unwrap_or("unknown"),
        what = ?what,
        "security event"
    );
}
