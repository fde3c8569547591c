//! Fleet health: tenants by plan, and per placement whether its database
//! answers, its size, its tenants, the connections this process holds to
//! it and the query times this process measured; per server, its streaming
//! replicas and how far behind they are.
//!
//! Servers are asked in parallel, each within [`SERVER_WAIT`] (a down
//! server costs that long once, never a hang), with one connection per
//! server: no placement pool is opened for health. A placement is
//! reachable when its server answers and its database exists there.
//!
//! Query times come from [`fsa_store::stats::Stats`], the transactions this
//! process ran: in the service they are live figures; from the CLI (a fresh
//! process that serves no requests) they are `null`.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use fsa_core::PlacementKind;
use serde::Serialize;
use uuid::Uuid;

use crate::{App, AppError};

/// How long a server has to answer for health.
pub const SERVER_WAIT: Duration = Duration::from_secs(3);

/// The fleet's health, as `GET /admin/health` and `fsa health --json` show it.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Health {
    /// Tenants per plan across the fleet.
    pub tenants_by_plan: BTreeMap<String, i64>,
    pub placements: Vec<PlacementHealth>,
    /// Each database server, with its streaming replicas.
    pub servers: Vec<ServerHealth>,
}

/// A database server and its streaming replicas.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ServerHealth {
    pub name: String,
    pub engine: fsa_store::db::Engine,
    pub region: String,
    /// The server answered within the wait (SQLite: its folder exists).
    pub reachable: bool,
    /// The replicas the server streams to (PostgreSQL); null for SQLite or
    /// when the server did not answer.
    pub replicas: Option<Vec<fsa_store::server::Replica>>,
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PlacementHealth {
    pub id: Uuid,
    pub name: String,
    pub kind: PlacementKind,
    pub region: String,
    pub server: String,
    /// The server answered within the wait and the database exists on it.
    pub reachable: bool,
    /// Bytes on disk (`pg_database_size`, or the SQLite files); null when
    /// the server could not be asked.
    pub size_bytes: Option<i64>,
    pub tenants: i64,
    pub tenants_by_plan: BTreeMap<String, i64>,
    /// Connections this process holds open to the placement.
    pub connections: u32,
    /// Mean and p95 of the transactions this process ran on the placement,
    /// in milliseconds; null when it ran none.
    pub avg_query_ms: Option<f64>,
    pub p95_query_ms: Option<f64>,
}

impl App {
    /// The fleet's health: the catalog's counts, each server asked once.
    #[tracing::instrument(skip_all)]
    pub async fn health(&self) -> Result<Health, AppError> {
        let router = self.router();
        let placements = router.catalog().placements().await?;
        let counts = router.catalog().tenants_by_placement_and_plan().await?;
        let mut tenants_by_plan: BTreeMap<String, i64> = fsa_core::Plan::ALL
            .iter()
            .map(|p| (p.as_str().to_owned(), 0))
            .collect();
        let mut per_placement: HashMap<Uuid, BTreeMap<String, i64>> = HashMap::new();
        for (placement, plan, n) in counts {
            *tenants_by_plan.entry(plan.clone()).or_default() += n;
            *per_placement
                .entry(placement)
                .or_default()
                .entry(plan)
                .or_default() += n;
        }

        let mut by_server: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for p in &placements {
            by_server
                .entry(p.placement.server.clone())
                .or_default()
                .push(p.placement.db_name.clone());
        }
        let asks = by_server.into_iter().map(|(server, names)| async move {
            let answer = match router.servers().get(&server) {
                Some(s) => {
                    let asked = async {
                        if s.reachable(SERVER_WAIT).await {
                            Some(s.database_sizes(&names).await)
                        } else {
                            None
                        }
                    };
                    tokio::time::timeout(SERVER_WAIT * 2, asked)
                        .await
                        .ok()
                        .flatten()
                }
                None => None,
            };
            (server, answer)
        });
        let answers: HashMap<String, Option<HashMap<String, i64>>> =
            futures::future::join_all(asks).await.into_iter().collect();
        let servers = futures::future::join_all(router.servers().all().map(|s| async move {
            let reachable = s.reachable(SERVER_WAIT).await;
            let replicas = if reachable {
                s.replicas(SERVER_WAIT).await
            } else {
                None
            };
            ServerHealth {
                name: s.name.clone(),
                engine: s.engine(),
                region: s.region.as_str().to_owned(),
                reachable,
                replicas,
            }
        }))
        .await;

        let connections: HashMap<Uuid, u32> = router
            .pool_connections()
            .into_iter()
            .map(|(id, _, n)| (id, n))
            .collect();
        let stats = router.stats();
        let placements = placements
            .into_iter()
            .map(|u| {
                let p = u.placement;
                let sizes = answers.get(&p.server).and_then(Option::as_ref);
                let size_bytes = sizes.and_then(|s| s.get(&p.db_name).copied());
                let q = stats.placement(p.id);
                PlacementHealth {
                    reachable: size_bytes.is_some(),
                    size_bytes,
                    tenants: u.tenant_count,
                    tenants_by_plan: per_placement.remove(&p.id).unwrap_or_default(),
                    connections: connections.get(&p.id).copied().unwrap_or(0),
                    avg_query_ms: q.and_then(|q| q.avg_query_ms),
                    p95_query_ms: q.and_then(|q| q.p95_query_ms),
                    id: p.id,
                    name: p.name,
                    kind: p.kind,
                    region: p.region.as_str().to_owned(),
                    server: p.server,
                }
            })
            .collect();
        Ok(Health {
            tenants_by_plan,
            placements,
            servers,
        })
    }
}

/// One tenant's figures as this process measured them, and its rows and
/// file bytes (`GET /admin/tenants/{slug}/stats`).
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TenantStatsView {
    pub tenant: String,
    pub plan: String,
    pub placement: Uuid,
    #[serde(flatten)]
    pub figures: fsa_store::stats::TenantFigures,
    /// Rows per resource and file bytes, read from the tenant's database;
    /// null when it could not be read (its server down).
    pub usage: Option<crate::Usage>,
}

impl App {
    /// The tenant's requests, latency and database time in this process.
    pub async fn tenant_stats(&self, slug: &str) -> Result<TenantStatsView, AppError> {
        let t = self.tenant_row(slug).await?;
        // The figures first: reading the usage is a transaction of its own.
        let figures = self.router().stats().tenant(t.tenant_id());
        let usage = match tokio::time::timeout(SERVER_WAIT, self.usage(t.tenant_id(), t.plan)).await
        {
            Ok(Ok(u)) => Some(u),
            Ok(Err(e)) => {
                tracing::warn!(tenant.slug = %t.slug, error = %e, "tenant usage not read");
                None
            }
            Err(_) => None,
        };
        Ok(TenantStatsView {
            tenant: t.slug,
            plan: t.plan.as_str().to_owned(),
            placement: t.placement_id,
            figures,
            usage,
        })
    }
}
