//! What a running move tells its caller: its phase and the rows copied,
//! for progress bars; and the pause points tests stop it at.

use std::sync::Arc;

/// Progress of a running move, for progress bars.
pub trait Progress: Send + Sync {
    fn phase(&self, _state: &str) {}
    fn table(&self, _table: &str, _rows: u64) {}
}

/// Reports nothing.
pub struct NoProgress;
impl Progress for NoProgress {}

/// A test's hook at the move's pause points (after each saved state, and
/// after the fence committed).
pub type PauseHook =
    Arc<dyn Fn(&'static str) -> futures::future::BoxFuture<'static, ()> + Send + Sync>;
