//! Servers marked down: a server that fails to answer has its tenants
//! refused at once (`PlacementUnavailable`) while a probe waits for it to
//! accept connections again; tenants on other servers are not affected.

use std::sync::Arc;
use std::time::Duration;

use super::Router;

/// How often the probe asks a down server whether it is back.
const PROBE_EVERY: Duration = Duration::from_millis(250);

/// How long one probe waits for the server to answer.
const PROBE_WAIT: Duration = Duration::from_secs(1);

impl Router {
    /// Whether the server is marked down.
    pub(super) fn is_down(&self, server: &str) -> bool {
        self.down
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(server)
    }

    /// Marks a server down and starts a probe that clears the mark once the
    /// server accepts connections again.
    pub(super) fn mark_down(self: &Arc<Self>, server: &str) {
        let newly = self
            .down
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(server.to_owned());
        if !newly {
            return;
        }
        tracing::warn!(
            server,
            "database server unreachable; its tenants get 503 until it returns"
        );
        let Some(srv) = self.servers.get(server).cloned() else {
            return;
        };
        let router = Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(PROBE_EVERY).await;
                let Some(router) = router.upgrade() else {
                    return;
                };
                if srv.reachable(PROBE_WAIT).await {
                    router
                        .down
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .remove(&srv.name);
                    tracing::info!(server = %srv.name, "database server reachable again");
                    return;
                }
            }
        });
    }
}
