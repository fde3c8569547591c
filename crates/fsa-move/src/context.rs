//! What every phase of a move reaches: the router, the progress sink, this
//! driver's lease name, the pause points, and owner's pools on placements.

use std::sync::Arc;

use fsa_store::StoreError;
use fsa_store::catalog::Placement;
use fsa_store::db::Pool;
use fsa_store::objects::FileStores;
use fsa_store::router::Router;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::progress::{NoProgress, PauseHook, Progress};

pub(crate) struct Context {
    pub router: Arc<Router>,
    pub progress: Arc<dyn Progress>,
    /// `host:pid:nonce` of this mover, the holder of the leases it takes.
    pub owner: String,
    pub hook: Option<PauseHook>,
    /// The file stores, when the tenant's objects move with it.
    pub files: Option<Arc<FileStores>>,
    /// Cancelled when the driver must stop at its next safe point.
    pub stop: CancellationToken,
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "localhost".into())
}

/// This process's name for move leases: host, pid and a nonce. A label for
/// people reading the catalog; whether its process lives is never guessed
/// from it (see [`crate::lease`]).
pub fn owner_name() -> String {
    let host = hostname();
    let nonce = Uuid::new_v4().simple().to_string();
    format!("{host}:{}:{}", std::process::id(), &nonce[..8])
}

impl Context {
    pub fn new(router: Arc<Router>) -> Self {
        Context {
            router,
            progress: Arc::new(NoProgress),
            owner: owner_name(),
            hook: None,
            files: None,
            stop: CancellationToken::new(),
        }
    }

    pub fn router(&self) -> &Arc<Router> {
        &self.router
    }

    pub fn owner(&self) -> &str {
        &self.owner
    }

    pub fn progress(&self) -> &dyn Progress {
        &*self.progress
    }

    /// Stops at a pause point: the test hook's, then `FSA_MOVE_PAUSE_AT`'s.
    pub async fn pause(&self, point: &'static str) {
        if let Some(h) = &self.hook {
            h(point).await;
        }
        pause_point(point).await;
    }

    /// An owner's pool on a placement's database.
    pub async fn admin_pool(&self, p: &Placement) -> Result<Pool, StoreError> {
        let server =
            self.router.servers().get(&p.server).ok_or_else(|| {
                StoreError::Config(format!("server {} is not configured", p.server))
            })?;
        server.open_admin_connection_pool(&p.db_name).await
    }
}

/// A fault-injection point for the crash tests: when `FSA_MOVE_PAUSE_AT`
/// names this point, the mover writes `<FSA_MOVE_PAUSE_FILE>` and stops here
/// until its process is killed. Unset in production, it costs one lookup.
pub(crate) async fn pause_point(point: &str) {
    if std::env::var("FSA_MOVE_PAUSE_AT").is_ok_and(|p| p == point) {
        if let Ok(file) = std::env::var("FSA_MOVE_PAUSE_FILE") {
            let _ = std::fs::write(file, point);
        }
        tracing::warn!(point, "move paused by FSA_MOVE_PAUSE_AT");
        std::future::pending::<()>().await;
    }
}
