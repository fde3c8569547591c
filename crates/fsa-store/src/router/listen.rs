//! The LISTEN loop: invalidates cached routes when another process announces
//! a change on the catalog's notification channel (PostgreSQL catalogs
//! only), and reloads every route after a reconnect, in case notifications
//! were missed.

use std::sync::Weak;
use std::time::Duration;

use fsa_core::TenantId;
use uuid::Uuid;

use super::Router;

/// How long a failed LISTEN waits before it tries again.
const RETRY_WAIT: Duration = Duration::from_secs(1);

/// How long the loop waits for a notification before it checks the router
/// still exists.
const IDLE_CHECK: Duration = Duration::from_secs(5);

/// Starts the loop; it ends once the router is dropped.
pub(super) fn spawn_route_listener(pool: sqlx::PgPool, router: Weak<Router>) {
    tokio::spawn(async move {
        loop {
            let mut listener = match sqlx::postgres::PgListener::connect_with(&pool).await {
                Ok(l) => l,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot listen for route changes; retrying");
                    tokio::time::sleep(RETRY_WAIT).await;
                    if router.strong_count() == 0 {
                        return;
                    }
                    continue;
                }
            };
            if let Err(e) = listener.listen(crate::catalog::ROUTES_CHANNEL).await {
                tracing::warn!(error = %e, "LISTEN failed; retrying");
                tokio::time::sleep(RETRY_WAIT).await;
                continue;
            }
            loop {
                let note = tokio::time::timeout(IDLE_CHECK, listener.try_recv()).await;
                let Some(r) = router.upgrade() else { return };
                match note {
                    // Idle: only check the router still exists.
                    Err(_) => continue,
                    Ok(Ok(Some(n))) => match n.payload().parse::<Uuid>() {
                        Ok(id) => r.invalidate(TenantId::from_verified(id)),
                        Err(_) => {
                            let _ = r.reload_routes().await;
                        }
                    },
                    // The connection dropped: reload, then listen again.
                    Ok(Ok(None)) => {
                        let _ = r.reload_routes().await;
                    }
                    Ok(Err(e)) => {
                        tracing::warn!(error = %e, "route listener failed; reconnecting");
                        break;
                    }
                }
            }
        }
    });
}
