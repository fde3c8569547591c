//! The online tenant move: any placement to any other, on either engine,
//! verified before the switch, with one short write pause (the fence).
//!
//! A move is a state machine ([`MoveState`]) whose every transition is saved
//! in the catalog ([`ledger`]) under the move's lease ([`lease`]), so a
//! crash anywhere resumes it ([`resume`]) or rolls it back:
//!
//! ```text
//! planned → provisioning → copying → catching_up → verifying → fenced → switched → cleaning → done
//!                  (any state before switched) → failed → rolled_back
//! ```
//!
//! # Layout
//! - [`archive`]: a tenant as a backup: the format, writing one at a
//!   snapshot, reading and checking one, loading one into a placement.
//! - [`mover`]: [`Mover`] plans a move and drives it; its loop reads like
//!   the diagram above, one [`phase`] per state.
//! - [`phase`]: one module per phase: preflight, copy, catch-up, verify,
//!   fence (and switch), cleanup, rollback; and the copy pass they share.
//! - [`endpoint`]: a placement database as one end of a copy, on either
//!   engine; the only place that knows which engine an end runs.
//! - [`rows`]: the tenant tables as the mover reads and writes them.
//! - [`objects`]: the tenant's file objects, carried to another store when
//!   the move changes it.
//! - [`ledger`]: the catalog's `moves` rows, their leases, and the switch.
//! - [`lease`]: one driver per move, provably.
//! - [`resume`]: taking over moves whose driver stopped (a job of the
//!   service's runner calls it).
//! - [`request`], [`report`], [`state`], [`error`], [`progress`]: the
//!   move's types.

pub mod archive;
mod context;
pub use context::owner_name;
pub mod endpoint;
pub mod error;
pub mod lease;
pub mod ledger;
pub mod mover;
pub mod objects;
pub mod phase;
pub mod progress;
pub mod report;
pub mod request;
pub mod resume;
pub mod rows;
pub mod state;

pub use error::{MoveError, Refusal};
pub use ledger::{Ledger, MoveRecord};
pub use mover::Mover;
pub use progress::{NoProgress, PauseHook, Progress};
pub use report::{FilesReport, Report, TableReport};
pub use request::{MoveRequest, Target};
pub use state::MoveState;

/// The kind of the job that cleans a move's source up once its grace
/// period is over (fsa-app's runner runs it).
pub const CLEANUP_JOB: &str = "move.cleanup";

/// The kind of the job that drives a scheduled or stopped move.
pub const MOVE_JOB: &str = "move";

/// The name of the cleanup job of move `id`.
pub fn cleanup_job(id: uuid::Uuid) -> String {
    format!("move-cleanup/{id}")
}

/// The name of the job that drives move `id`.
pub fn move_job(id: uuid::Uuid) -> String {
    format!("move/{id}")
}
