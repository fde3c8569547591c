//! Why a move stopped, or was refused before it began.

use fsa_core::{PlacementKind, Region};
use fsa_store::StoreError;
use uuid::Uuid;

/// A failure that stops a move; before the switch it rolls the move back.
#[derive(Debug, thiserror::Error)]
pub enum MoveError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A file store failed (or an object is not where it must be).
    #[error(transparent)]
    Files(#[from] fsa_store::objects::FileError),
    /// The move may not go on as asked: see [`Refusal`].
    #[error("pre-flight: {0}")]
    Refused(#[from] Refusal),
    /// The catalog holds no move of this id.
    #[error("no move {0}")]
    NotFound(Uuid),
    /// The move had failed before this driver took it; it only rolls back.
    #[error("the move failed earlier: {0}")]
    FailedEarlier(String),
    /// The move's record contradicts the phase it is in (a record edited
    /// by hand, or a bug): it rolls back rather than guess.
    #[error("the move's record is inconsistent: {0}")]
    Inconsistent(&'static str),
    /// Its process stopped inside the fence, before the fence committed:
    /// the source still serves the tenant, and the move rolls back.
    #[error("interrupted inside the fence before it committed")]
    FenceInterrupted,
    #[error("verification failed: {0}")]
    Mismatch(String),
    #[error("cancelled")]
    Cancelled,
    #[error("the move is being run by {0}")]
    Owned(String),
    /// Its driver was asked to stop (its process shuts down): it stopped
    /// between two phases, the move's state saved, for any process to go on.
    #[error("stopped at a safe point: its process shuts down")]
    Stopped,
}

impl MoveError {
    /// The driver lost the move's lease: whoever holds it now finishes or
    /// rolls the move back; this driver must not touch it again.
    pub fn is_lease_lost(&self) -> bool {
        matches!(self, MoveError::Store(StoreError::LeaseLost(_)))
    }
}

/// Why a move may not begin or go on: the fleet is not as it must be for
/// it. Each case has a stable [`code`](Refusal::code); an operator is told
/// the message, a client the code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("tenant {0} is not active")]
    TenantNotActive(String),
    /// The source does not hold the tenant as active (it holds it in the
    /// named state, or not at all).
    #[error("the source holds the tenant as {}", .0.as_deref().unwrap_or("nothing"))]
    SourceNotActive(Option<String>),
    #[error("no placement {0}")]
    NoPlacement(Uuid),
    #[error("the tenant is already on that placement")]
    AlreadyThere,
    #[error("the tenant is already on the {kind} placement of {region}")]
    AlreadyOnKind { kind: PlacementKind, region: Region },
    #[error("placement {name} is {state}")]
    PlacementNotReady { name: String, state: String },
    #[error("dedicated placement {0} already holds a tenant")]
    DedicatedTaken(String),
    #[error("placement {0} already holds the tenant as active")]
    TargetHoldsTenant(String),
    #[error(
        "the {end} database is at schema version {have}, newer than this fsa's {want}; run the move with the newer fsa"
    )]
    SchemaAhead {
        end: &'static str,
        have: i64,
        want: i64,
    },
    #[error(
        "the {end} database is at schema version {have}, behind this fsa's {want}, and could not be brought up to date: {error}"
    )]
    SchemaBehind {
        end: &'static str,
        have: i64,
        want: i64,
        error: String,
    },
    #[error("server {0} is not configured")]
    UnknownServer(String),
    #[error("the move's region: {0}")]
    BadRegion(String),
    #[error("file store {0:?} of this move is not configured any more")]
    UnknownFileStore(String),
}

impl Refusal {
    /// The stable, machine-readable name of the case.
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::TenantNotActive(_) => "tenant_not_active",
            Refusal::SourceNotActive(_) => "source_not_active",
            Refusal::NoPlacement(_) => "placement_not_found",
            Refusal::AlreadyThere | Refusal::AlreadyOnKind { .. } => "already_on_placement",
            Refusal::PlacementNotReady { .. } => "placement_not_ready",
            Refusal::DedicatedTaken(_) => "dedicated_placement_taken",
            Refusal::TargetHoldsTenant(_) => "target_holds_tenant",
            Refusal::SchemaAhead { .. } => "schema_ahead",
            Refusal::SchemaBehind { .. } => "schema_behind",
            Refusal::UnknownServer(_) => "server_not_configured",
            Refusal::BadRegion(_) => "invalid_region",
            Refusal::UnknownFileStore(_) => "file_store_not_configured",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_read_as_before_and_carry_their_code() {
        let e = MoveError::from(Refusal::DedicatedTaken("dedicated-eu-x".into()));
        assert_eq!(
            e.to_string(),
            "pre-flight: dedicated placement dedicated-eu-x already holds a tenant"
        );
        assert_eq!(
            Refusal::SourceNotActive(Some("moved_out".into())).to_string(),
            "the source holds the tenant as moved_out"
        );
        assert_eq!(
            Refusal::SourceNotActive(None).to_string(),
            "the source holds the tenant as nothing"
        );
        assert_eq!(Refusal::AlreadyThere.code(), "already_on_placement");
    }
}
