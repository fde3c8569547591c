//! A tenant transaction's begin: the route, the placement (refused at once
//! when its server is down), a lease on its pool, and the begin itself. A
//! tenant found `moved_out` (or missing) in the placement has its route
//! looked up again and the begin retried, for a bounded time.

use std::sync::Arc;
use std::time::{Duration, Instant};

use fsa_core::TenantId;

use super::{Route, Router};
use crate::catalog::Placement;
use crate::error::StoreError;
use crate::tx::{Mode, TenantTx};

/// How long a request waits for a moved tenant's new route.
const MOVED_WAIT: Duration = Duration::from_secs(5);

/// How long a retry waits when the catalog still names the placement the
/// tenant just moved out of.
const MOVED_PAUSE: Duration = Duration::from_millis(10);

impl Router {
    /// Begins a transaction for `tenant` in its placement. A tenant found
    /// `moved_out` (or missing) there has its route refreshed and the begin
    /// retried. A placement whose server is down answers
    /// `PlacementUnavailable` at once.
    pub async fn begin(
        self: &Arc<Self>,
        tenant: TenantId,
        mode: Mode,
    ) -> Result<TenantTx, StoreError> {
        self.begin_from(tenant, None, mode).await
    }

    /// [`Router::begin`] on a route this request has already looked up with
    /// [`Router::route`], so a request resolves its route once. The route is
    /// only the first try: a tenant found moved has its route looked up
    /// again, as in [`Router::begin`].
    pub async fn begin_with_route(
        self: &Arc<Self>,
        tenant: TenantId,
        route: Route,
        mode: Mode,
    ) -> Result<TenantTx, StoreError> {
        self.begin_from(tenant, Some(route), mode).await
    }

    // At debug level, as the request's own span: a service logging at
    // info pays nothing for it on its hottest path.
    #[tracing::instrument(
        name = "router.begin",
        level = "debug",
        skip_all,
        fields(
            tenant.id = %tenant,
            tx.mode = ?mode,
            placement.id = tracing::field::Empty,
            begin.attempts = tracing::field::Empty,
        )
    )]
    async fn begin_from(
        self: &Arc<Self>,
        tenant: TenantId,
        route: Option<Route>,
        mode: Mode,
    ) -> Result<TenantTx, StoreError> {
        let span = tracing::Span::current();
        // A tenant found moved out waits here (bounded) for the catalog to
        // name its new placement: the switch follows the fence within
        // milliseconds, and a writer should see a pause, not an error.
        let deadline = Instant::now() + MOVED_WAIT;
        let mut route = match route {
            Some(r) => r,
            None => self.route(tenant).await?,
        };
        let mut last: Option<Route> = None;
        let mut attempts: u32 = 0;
        loop {
            attempts += 1;
            span.record("begin.attempts", attempts);
            span.record("placement.id", tracing::field::display(route.placement_id));
            let placement = self.placement_record(route.placement_id).await?;
            if self.is_down(&placement.server) {
                return Err(StoreError::PlacementUnavailable {
                    placement: placement.name,
                    source: None,
                });
            }
            let lease = self.lease(route.placement_id).await?;
            let timeout_ms = self
                .settings
                .limits
                .for_plan(route.plan)
                .statement_timeout_ms;
            let started = Instant::now();
            match TenantTx::begin(lease, tenant, mode, timeout_ms).await {
                Ok(tx) => return Ok(tx.timed(self.stats.clone(), route.placement_id, started)),
                Err(e @ (StoreError::Moved(_) | StoreError::TenantNotInPlacement(_))) => {
                    self.invalidate(tenant);
                    if Instant::now() >= deadline {
                        return Err(e);
                    }
                    if last == Some(route) {
                        tokio::time::sleep(MOVED_PAUSE).await;
                    }
                    last = Some(route);
                    route = self.route(tenant).await?;
                }
                Err(e) => {
                    let e = unavailable(&placement, e);
                    if matches!(e, StoreError::PlacementUnavailable { .. }) {
                        self.mark_down(&placement.server);
                    }
                    return Err(e);
                }
            }
        }
    }
}

/// Names the placement in an unavailability error.
fn unavailable(placement: &Placement, e: StoreError) -> StoreError {
    match e {
        StoreError::PlacementUnavailable { source, .. } => StoreError::PlacementUnavailable {
            placement: placement.name.clone(),
            source,
        },
        other => other,
    }
}
