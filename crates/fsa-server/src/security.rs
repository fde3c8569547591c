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

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use super::*;

    /// Log output written to a shared buffer.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn one_escaped_line_per_event_on_the_security_target() {
        let out = Captured::default();
        let writer = out.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter("warn")
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            record(
                Kind::LoginFailed,
                Some("203.0.113.7".parse().unwrap()),
                &[
                    ("tenant", "acme"),
                    ("email", "x@acme.test\nsecurity: event=forged"),
                ],
            );
        });
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(text.contains(" WARN security: "), "{text}");
        assert!(text.contains("event=\"login_failed\""), "{text}");
        assert!(text.contains("client=\"203.0.113.7\""), "{text}");
        assert!(text.contains("x@acme.test\\nsecurity"), "{text}");
    }

    #[test]
    fn what_is_tried_is_clipped() {
        assert_eq!(clip(&"a".repeat(1000)).len(), 100);
        assert_eq!(clip("é".repeat(200).as_str()).chars().count(), 100);
    }
}
