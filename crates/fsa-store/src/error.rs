//! Errors of the data layer.

use fsa_core::TenantId;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The row does not exist for this tenant (whether it exists for another
    /// is never told).
    #[error("{entity} not found")]
    NotFound { entity: &'static str },

    /// A unique constraint refused the write.
    #[error("{entity} already exists: {detail}")]
    Conflict {
        entity: &'static str,
        detail: &'static str,
    },

    /// A referenced row (client, personnel, user) does not exist for this tenant.
    #[error("{field} does not name an existing {entity} of this tenant")]
    InvalidReference {
        field: &'static str,
        entity: &'static str,
    },

    /// The row still has dependants (a client with work orders, say).
    #[error("{entity} is still referenced by {by}")]
    InUse {
        entity: &'static str,
        by: &'static str,
    },

    /// The tenant's plan allows no more of this resource.
    #[error("the plan allows {limit} {resource}; the tenant has {used}")]
    LimitReached {
        resource: fsa_core::Resource,
        limit: u64,
        used: u64,
    },

    /// The write would leave the tenant without an active admin.
    #[error("the tenant's last admin cannot be removed, demoted or deactivated")]
    LastAdmin,

    /// The catalog has no such tenant.
    #[error("no tenant `{0}`")]
    UnknownTenant(String),

    /// The tenant's placement holds no state row for it: the route is stale.
    #[error("tenant {0} is not in its placement")]
    TenantNotInPlacement(TenantId),

    /// The tenant moved away and stayed away after a route refresh.
    #[error("tenant {0} moved and its new placement could not be reached")]
    Moved(TenantId),

    /// A statement found the tenant no longer active in the placement the
    /// request was routed to (it moved after the request began). Nothing
    /// was read or written; the request can be retried and is then routed
    /// anew.
    #[error("the tenant moved while the request ran; retry it")]
    StaleRoute,

    /// The placement's server did not answer.
    #[error("placement {placement} is unavailable")]
    PlacementUnavailable {
        placement: String,
        #[source]
        source: Option<sqlx::Error>,
    },

    /// No connection could be had in time.
    #[error("the database is busy")]
    Busy,

    /// A statement ran past its timeout.
    #[error("a statement ran past its timeout")]
    StatementTimeout,

    /// A new placement's database name is taken on its server by a database
    /// that is not this placement's: it is never adopted.
    #[error(
        "database {database} on server {server} already exists and is not this catalog's placement; \
         it is left alone (drop or rename it if it is not needed)"
    )]
    DatabaseTaken { server: String, database: String },

    /// A move's lease is no longer this process's: another one took it
    /// over, or it ran out before it could be renewed. The move stops before
    /// its next step; whoever holds the lease finishes it.
    #[error("move {0} is no longer driven by this process")]
    LeaseLost(uuid::Uuid),

    /// The server's application role would not be held to row-level
    /// security: it exists with SUPERUSER or BYPASSRLS (made by hand, not by
    /// fsa's migration, which creates it with neither).
    #[error(
        "server {server}: the role fsa_app is {attributes}, so row-level security would not \
         apply to tenant queries; run `ALTER ROLE fsa_app NOSUPERUSER NOBYPASSRLS` on it \
         and start again"
    )]
    UnsafeAppRole {
        server: String,
        attributes: &'static str,
    },

    /// Configuration of a server or placement is wrong.
    #[error("{0}")]
    Config(String),

    #[error(transparent)]
    Migrate(#[from] sqlx::migrate::MigrateError),

    #[error(transparent)]
    Database(sqlx::Error),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        if is_unreachable(&e) {
            return StoreError::PlacementUnavailable {
                placement: String::new(),
                source: Some(e),
            };
        }
        match &e {
            sqlx::Error::PoolTimedOut => StoreError::Busy,
            sqlx::Error::Database(db) if db.code().as_deref() == Some("57014") => {
                StoreError::StatementTimeout
            }
            // Raised by row-level security's state check (`fsa_tenant()`).
            sqlx::Error::Database(db)
                if matches!(db.code().as_deref(), Some("FSA01" | "FSA02")) =>
            {
                note_stale_route();
                StoreError::StaleRoute
            }
            _ => StoreError::Database(e),
        }
    }
}

/// Whether an error means the database server cannot be reached (as
/// opposed to refusing a statement): I/O and TLS failures, a closed pool,
/// and PostgreSQL's connection-exception (08) and shutdown (57P) classes.
pub fn is_unreachable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_) | sqlx::Error::Tls(_) | sqlx::Error::PoolClosed => true,
        sqlx::Error::Database(db) => db
            .code()
            .is_some_and(|c| c.starts_with("08") || c.starts_with("57P")),
        _ => false,
    }
}

/// Maps a constraint violation of a write to a domain error. `uniques` and
/// `references` pair constraint names (or, on SQLite, column lists as they
/// appear in its messages) with the error to give.
pub fn map_constraint(
    e: sqlx::Error,
    uniques: &[(&str, StoreError)],
    references: &[(&str, StoreError)],
) -> StoreError {
    let Some(db) = e.as_database_error() else {
        return e.into();
    };
    let name = db.constraint().map(str::to_owned);
    let message = db.message().to_owned();
    let hit = |key: &str| name.as_deref() == Some(key) || (name.is_none() && message.contains(key));
    if db.is_unique_violation() {
        for (key, err) in uniques {
            if hit(key) {
                return clone_err(err);
            }
        }
    }
    if db.is_foreign_key_violation() {
        for (key, err) in references {
            if hit(key) {
                return clone_err(err);
            }
        }
        // SQLite names no constraint in foreign key errors: with a single
        // reference the answer is unambiguous.
        if name.is_none() && references.len() == 1 {
            return clone_err(&references[0].1);
        }
    }
    e.into()
}

fn clone_err(e: &StoreError) -> StoreError {
    match e {
        StoreError::Conflict { entity, detail } => StoreError::Conflict { entity, detail },
        StoreError::InvalidReference { field, entity } => {
            StoreError::InvalidReference { field, entity }
        }
        StoreError::InUse { entity, by } => StoreError::InUse { entity, by },
        StoreError::NotFound { entity } => StoreError::NotFound { entity },
        StoreError::LimitReached {
            resource,
            limit,
            used,
        } => StoreError::LimitReached {
            resource: *resource,
            limit: *limit,
            used: *used,
        },
        other => StoreError::Config(other.to_string()),
    }
}

/// Bumped whenever a statement finds its tenant no longer active in the
/// placement it was routed to (SQLSTATE FSA01/FSA02 outside `fsa_begin`).
/// A session whose context was checked before the last bump checks it again
/// (`fsa_session`) before its next read, so a retried request goes through
/// the router's wait for the new route. Moves are rare: a bump costs each
/// session one extra round trip, once.
static STALE_GENERATION: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

pub(crate) fn note_stale_route() {
    STALE_GENERATION.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
}

pub(crate) fn stale_generation() -> u64 {
    STALE_GENERATION.load(std::sync::atomic::Ordering::Relaxed)
}

/// What an existing application role has that it must not: the words of
/// [`StoreError::UnsafeAppRole`], or `None` when it is safe.
pub(crate) fn unsafe_role_attributes(superuser: bool, bypassrls: bool) -> Option<&'static str> {
    match (superuser, bypassrls) {
        (false, false) => None,
        (true, false) => Some("SUPERUSER"),
        (false, true) => Some("BYPASSRLS"),
        (true, true) => Some("SUPERUSER and BYPASSRLS"),
    }
}
