//! The one-time set-up of a PostgreSQL server for fsa, run by a role that
//! may create roles (`fsa db bootstrap`): the application role `fsa_app`
//! and the least-privileged login the service connects with.
//!
//! The service's login must not be a superuser: every tenant session runs
//! `SET ROLE fsa_app` so that row-level security binds it, and a superuser
//! login is one `RESET ROLE` away from every row and the server itself
//! (`COPY … TO PROGRAM`). What the login needs is CREATEDB (placement
//! databases are created on demand, and owned by it, so it runs their
//! migrations and drops them after a move) and membership in `fsa_app`.
//!
//! Roles belong to the whole server, so two callers may bootstrap at once
//! (parallel test processes do): the work runs in one transaction under an
//! advisory lock, and reads what exists before changing anything, so a
//! rerun changes nothing and says so.

use serde::Serialize;
use sqlx::{Connection, Executor, PgConnection, Row};

use crate::error::StoreError;
use crate::server::{APP_ROLE, quote_ident};
use crate::url::DbUrl;

/// What to make: the login's name and, for a new login (or with
/// `reset_password`), its password.
#[derive(Debug, Clone)]
pub struct BootstrapRequest {
    pub login: String,
    /// The new login's password; `None` makes a login without one (it then
    /// authenticates some other way: peer, certificate, trust).
    pub password: Option<Secret>,
    /// Sets the password of a login that exists already.
    pub reset_password: bool,
}

/// A password that never prints.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// What the bootstrap found and did.
#[derive(Debug, Clone, Serialize)]
pub struct BootstrapReport {
    /// The server, its URL with the password hidden.
    pub server: String,
    pub app_role: String,
    pub login: String,
    /// Every change made, in words; empty when everything was in place.
    pub changes: Vec<String>,
    pub changed: bool,
    /// Whether a password was set by this run.
    pub password_set: bool,
}

/// Why a bootstrap was refused.
#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    #[error(
        "the login {caller} of {server} may not create roles: run `fsa db bootstrap` with a \
         superuser (or a role with CREATEROLE) URL"
    )]
    NotAllowed { server: String, caller: String },
    #[error(
        "{0:?} is not an acceptable login name: use 1 to 63 lowercase letters, digits and \
         underscores, starting with a letter or underscore, not starting with pg_, and not \
         fsa_app"
    )]
    BadName(String),
    #[error(
        "the role {login} exists with {attributes}; it cannot be the service's login (that \
         would undo row-level security): choose another name, or remove {attributes} yourself"
    )]
    UnsafeLogin { login: String, attributes: String },
    #[error("{0}")]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for BootstrapError {
    fn from(e: sqlx::Error) -> Self {
        BootstrapError::Store(e.into())
    }
}

/// Whether `name` may be the service's login. Only plain lowercase names
/// are accepted, so the name means the same quoted or not, cannot collide
/// with PostgreSQL's reserved `pg_` roles or role words (`public`,
/// `current_user`, …) and needs no care wherever an operator types it.
pub fn validate_login(name: &str) -> Result<(), BootstrapError> {
    let bad = || Err(BootstrapError::BadName(name.to_owned()));
    let mut chars = name.chars();
    let Some(first) = chars.next() else {
        return bad();
    };
    if name.len() > 63
        || !(first.is_ascii_lowercase() || first == '_')
        || !chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        || name.starts_with("pg_")
        || name == APP_ROLE
        || RESERVED.contains(&name)
    {
        return bad();
    }
    Ok(())
}

/// Role names PostgreSQL gives a meaning of its own in role specifications.
const RESERVED: &[&str] = &[
    "public",
    "none",
    "current_user",
    "current_role",
    "session_user",
    "user",
    "all",
];

/// One server-wide lock for every bootstrap, whatever the login.
const LOCK: (i32, i32) = (7005, 1);

/// Makes `fsa_app` and the login on the server of `url`, or checks that
/// they are as they should be.
pub async fn bootstrap(
    url: &DbUrl,
    req: &BootstrapRequest,
) -> Result<BootstrapReport, BootstrapError> {
    validate_login(&req.login)?;
    let options = url
        .pg_options()
        .map_err(|e| BootstrapError::Store(StoreError::Config(e)))?;
    let mut conn = sqlx::ConnectOptions::connect(&options).await?;
    let result = run(&mut conn, url, req).await;
    let _ = conn.close().await;
    result
}

async fn run(
    conn: &mut PgConnection,
    url: &DbUrl,
    req: &BootstrapRequest,
) -> Result<BootstrapReport, BootstrapError> {
    let (caller, superuser, createrole): (String, bool, bool) = sqlx::query_as(
        "SELECT rolname::text, rolsuper, rolcreaterole FROM pg_roles WHERE rolname = current_user",
    )
    .fetch_one(&mut *conn)
    .await?;
    if !superuser && !createrole {
        return Err(BootstrapError::NotAllowed {
            server: url.redacted(),
            caller,
        });
    }
    let version: i32 = sqlx::query_scalar("SELECT current_setting('server_version_num')::int")
        .fetch_one(&mut *conn)
        .await?;
    let mut tx = conn.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock($1, $2)")
        .bind(LOCK.0)
        .bind(LOCK.1)
        .execute(&mut *tx)
        .await?;
    let mut changes = Vec::new();
    let app = quote_ident(APP_ROLE);
    let login = quote_ident(&req.login);

    let app_role: Option<(bool, bool)> =
        sqlx::query_as("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = $1")
            .bind(APP_ROLE)
            .fetch_optional(&mut *tx)
            .await?;
    match app_role {
        None => {
            tx.execute(sqlx::AssertSqlSafe(format!(
                "CREATE ROLE {app} NOLOGIN NOSUPERUSER NOBYPASSRLS"
            )))
            .await?;
            changes.push(format!("created the role {APP_ROLE}"));
        }
        Some((su, bypass)) => {
            // The service refuses to start with such an fsa_app; the
            // bootstrap is where it is set right.
            if let Some(attributes) = crate::error::unsafe_role_attributes(su, bypass) {
                tx.execute(sqlx::AssertSqlSafe(format!(
                    "ALTER ROLE {app} NOSUPERUSER NOBYPASSRLS"
                )))
                .await?;
                changes.push(format!("removed {attributes} from the role {APP_ROLE}"));
            }
        }
    }

    let existing = sqlx::query(
        "SELECT rolsuper, rolbypassrls, rolcreaterole, rolcanlogin, rolcreatedb \
         FROM pg_roles WHERE rolname = $1",
    )
    .bind(&req.login)
    .fetch_optional(&mut *tx)
    .await?;
    let mut password_set = false;
    let verifier = req
        .password
        .as_ref()
        .map(|p| scram_verifier(p.expose(), &random_salt(), SCRAM_ITERATIONS));
    let password_clause = |v: &Option<String>| match v {
        Some(v) => format!(" PASSWORD {}", quote_literal(v)),
        None => String::new(),
    };
    match existing {
        None => {
            tx.execute(sqlx::AssertSqlSafe(format!(
                "CREATE ROLE {login} LOGIN CREATEDB NOSUPERUSER NOCREATEROLE NOBYPASSRLS \
                 NOREPLICATION{}",
                password_clause(&verifier)
            )))
            .await?;
            password_set = verifier.is_some();
            changes.push(format!("created the login {}", req.login));
        }
        Some(row) => {
            let (su, bypass, createrole): (bool, bool, bool) =
                (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
            let (can_login, createdb): (bool, bool) = (row.try_get(3)?, row.try_get(4)?);
            let unsafe_ones: Vec<&str> = [
                (su, "SUPERUSER"),
                (bypass, "BYPASSRLS"),
                (createrole, "CREATEROLE"),
            ]
            .into_iter()
            .filter_map(|(has, word)| has.then_some(word))
            .collect();
            if !unsafe_ones.is_empty() {
                return Err(BootstrapError::UnsafeLogin {
                    login: req.login.clone(),
                    attributes: unsafe_ones.join(" and "),
                });
            }
            if !can_login || !createdb {
                tx.execute(sqlx::AssertSqlSafe(format!(
                    "ALTER ROLE {login} LOGIN CREATEDB"
                )))
                .await?;
                changes.push(format!("gave the login {} LOGIN and CREATEDB", req.login));
            }
            if req.reset_password && verifier.is_some() {
                tx.execute(sqlx::AssertSqlSafe(format!(
                    "ALTER ROLE {login}{}",
                    password_clause(&verifier)
                )))
                .await?;
                password_set = true;
                changes.push(format!("set the password of {}", req.login));
            }
        }
    }

    // Membership with the SET option: the service's sessions run `SET
    // ROLE fsa_app`. (PostgreSQL 16 made SET an option of a membership;
    // before it every membership has it.)
    let membership_sql = if version >= 160_000 {
        "SELECT m.set_option FROM pg_auth_members m \
         JOIN pg_roles r ON r.oid = m.roleid JOIN pg_roles u ON u.oid = m.member \
         WHERE r.rolname = $1 AND u.rolname = $2"
    } else {
        "SELECT true FROM pg_auth_members m \
         JOIN pg_roles r ON r.oid = m.roleid JOIN pg_roles u ON u.oid = m.member \
         WHERE r.rolname = $1 AND u.rolname = $2"
    };
    let can_set: Vec<bool> = sqlx::query_scalar(membership_sql)
        .bind(APP_ROLE)
        .bind(&req.login)
        .fetch_all(&mut *tx)
        .await?;
    if !can_set.iter().any(|s| *s) {
        let with_set = if version >= 160_000 {
            " WITH SET TRUE"
        } else {
            ""
        };
        tx.execute(sqlx::AssertSqlSafe(format!(
            "GRANT {app} TO {login}{with_set}"
        )))
        .await?;
        changes.push(format!("made {} a member of {APP_ROLE}", req.login));
    }
    // Read-only server statistics: a replica's lag in `fsa health`
    // (pg_stat_replication hides it from other logins).
    let monitors: bool = sqlx::query_scalar("SELECT pg_has_role($1, 'pg_monitor', 'MEMBER')")
        .bind(&req.login)
        .fetch_one(&mut *tx)
        .await?;
    if !monitors {
        tx.execute(sqlx::AssertSqlSafe(format!("GRANT pg_monitor TO {login}")))
            .await?;
        changes.push(format!(
            "made {} a member of pg_monitor (replication lag in fsa health)",
            req.login
        ));
    }
    tx.commit().await?;
    Ok(BootstrapReport {
        server: url.redacted(),
        app_role: APP_ROLE.to_owned(),
        login: req.login.clone(),
        changed: !changes.is_empty(),
        changes,
        password_set,
    })
}

fn quote_literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// PostgreSQL's default for SCRAM-SHA-256 verifiers.
const SCRAM_ITERATIONS: u32 = 4096;

fn random_salt() -> [u8; 16] {
    *uuid::Uuid::new_v4().as_bytes()
}

/// The SCRAM-SHA-256 verifier of `password`, as PostgreSQL stores it
/// (`SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`). The
/// password is sent already hashed, so it never appears in a statement a
/// server log could keep.
pub fn scram_verifier(password: &str, salt: &[u8], iterations: u32) -> String {
    use base64::Engine;
    use sha2::Digest;
    let b64 = base64::engine::general_purpose::STANDARD;
    let salted = pbkdf2_sha256(password.as_bytes(), salt, iterations);
    let client_key = hmac_sha256(&salted, b"Client Key");
    let stored_key = sha2::Sha256::digest(client_key);
    let server_key = hmac_sha256(&salted, b"Server Key");
    format!(
        "SCRAM-SHA-256${iterations}:{}${}:{}",
        b64.encode(salt),
        b64.encode(stored_key),
        b64.encode(server_key)
    )
}

fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    const BLOCK: usize = 64;
    let mut k = [0u8; BLOCK];
    if key.len() > BLOCK {
        k[..32].copy_from_slice(&sha2::Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let mut inner = sha2::Sha256::new();
    inner.update(k.map(|b| b ^ 0x36));
    inner.update(message);
    let mut outer = sha2::Sha256::new();
    outer.update(k.map(|b| b ^ 0x5c));
    outer.update(inner.finalize());
    outer.finalize().into()
}

/// PBKDF2-HMAC-SHA-256 for one 32-byte block, which is all SCRAM-SHA-256 uses.
fn pbkdf2_sha256(password: &[u8], salt: &[u8], iterations: u32) -> [u8; 32] {
    let mut first = salt.to_vec();
    first.extend_from_slice(&1u32.to_be_bytes());
    let mut u = hmac_sha256(password, &first);
    let mut out = u;
    for _ in 1..iterations {
        u = hmac_sha256(password, &u);
        for (o, x) in out.iter_mut().zip(u.iter()) {
            *o ^= x;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn login_names() {
        for ok in ["fsa", "fsa_service", "_svc1", &"a".repeat(63)] {
            assert!(validate_login(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "Fsa",
            "1fsa",
            "fsa-app",
            "fsa\"; DROP ROLE postgres; --",
            "fsa app",
            "pg_monitor",
            "fsa_app",
            "public",
            "current_user",
            "é",
            &"a".repeat(64),
        ] {
            assert!(
                matches!(validate_login(bad), Err(BootstrapError::BadName(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn hmac_matches_rfc_4231() {
        // RFC 4231, test case 2.
        let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn secrets_do_not_print() {
        let s = Secret::new("hunter2");
        assert!(!format!("{s:?}").contains("hunter2"));
    }
}
