//! `AppError`: why a service refused or failed, with what each face needs to
//! report it (the HTTP server keeps its status codes and problem codes; the
//! CLI prints the message).

use fsa_move::MoveError;
use fsa_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// An input is not acceptable; `field` names it.
    #[error("{message}")]
    Validation { field: String, message: String },
    /// The request contradicts the current state; `code` is stable.
    #[error("{detail}")]
    Conflict { code: &'static str, detail: String },
    /// A move may not begin as asked (`preflight_failed`, with the case's
    /// own code as its reason).
    #[error("{0}")]
    Refused(fsa_move::Refusal),
    /// The acting user's role does not allow it.
    #[error("{0}")]
    Forbidden(String),
    /// A work order change the lifecycle or the list's cursor refuses.
    #[error(transparent)]
    WorkOrder(#[from] fsa_store::repo::work_orders::WorkOrderError),
    /// No such entity (`tenant`, `move`).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// A create would take the tenant past its plan's limit.
    #[error("the {plan} plan allows {limit} {resource}; the tenant has {used}")]
    PlanLimit {
        resource: fsa_core::Resource,
        limit: u64,
        used: u64,
        plan: fsa_core::Plan,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A file store refused or failed.
    #[error(transparent)]
    File(#[from] crate::files::FileError),
    /// A move run in this task stopped (a scheduled move's refusals are
    /// [`AppError::Conflict`]s, see [`crate::moves::move_error`]).
    #[error(transparent)]
    Move(MoveError),
    /// The catalog names a placement it does not hold.
    #[error("tenant {tenant} points at a missing placement")]
    MissingPlacement { tenant: String },
    #[error("password hashing failed: {0}")]
    PasswordHash(String),
    /// Work handed to a blocking thread did not finish.
    #[error("blocking work failed")]
    Blocking(#[from] tokio::task::JoinError),
}

impl AppError {
    pub fn validation(field: impl Into<String>, message: impl Into<String>) -> Self {
        AppError::Validation {
            field: field.into(),
            message: message.into(),
        }
    }
}
