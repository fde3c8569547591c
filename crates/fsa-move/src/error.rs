//! Why a move stopped.

use fsa_store::StoreError;

/// A failure that stops a move; before the switch it rolls the move back.
#[derive(Debug, thiserror::Error)]
pub enum MoveError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A file store failed (or an object is not where it must be).
    #[error(transparent)]
    Files(#[from] fsa_store::objects::FileError),
    #[error("pre-flight: {0}")]
    Preflight(String),
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
