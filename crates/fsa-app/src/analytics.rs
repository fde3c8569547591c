//! Analytics across databases: work orders counted over every placement,
//! grouped by status, plan or region.
//!
//! Each placement is asked once, on an admin connection of its own, in
//! parallel but at most [`AnalyticsOptions::concurrency`] at a time (capped
//! by the connection budget), each within [`AnalyticsOptions::timeout`].
//! A placement that cannot answer (its server down, a timeout, an error) is
//! named in `placements.failed`, never silently left out. Plan and region
//! are the catalog's (a tenant's current ones), joined in memory.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use fsa_store::catalog::Placement;
use futures::StreamExt;
use serde::Serialize;
use uuid::Uuid;

use crate::{App, AppError};

/// What work orders are grouped by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupBy {
    Status,
    Plan,
    Region,
}

impl std::str::FromStr for GroupBy {
    type Err = AppError;
    fn from_str(s: &str) -> Result<Self, AppError> {
        match s {
            "status" => Ok(GroupBy::Status),
            "plan" => Ok(GroupBy::Plan),
            "region" => Ok(GroupBy::Region),
            _ => Err(AppError::Validation {
                field: "group_by".into(),
                message: "group_by must be status, plan or region".into(),
            }),
        }
    }
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Group {
    pub key: String,
    pub count: i64,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Queried {
    /// Placements asked.
    pub queried: usize,
    /// Names of the placements that did not answer.
    pub failed: Vec<String>,
}

/// `GET /admin/analytics/work-orders` and `fsa analytics --json`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Analytics {
    pub groups: Vec<Group>,
    pub placements: Queried,
}

#[derive(Debug, Clone, Copy)]
pub struct AnalyticsOptions {
    /// Placements asked at once (each holds one connection while asked).
    pub concurrency: usize,
    /// How long one placement has to answer.
    pub timeout: Duration,
}

impl Default for AnalyticsOptions {
    fn default() -> Self {
        AnalyticsOptions {
            concurrency: 16,
            timeout: Duration::from_secs(10),
        }
    }
}

type Counts = Vec<(Uuid, String, i64)>;

impl App {
    /// Work orders across every placement, grouped by `group_by`.
    pub async fn work_order_analytics(&self, group_by: GroupBy) -> Result<Analytics, AppError> {
        self.work_order_analytics_with(group_by, AnalyticsOptions::default())
            .await
    }

    #[tracing::instrument(skip_all, fields(group_by = ?group_by, concurrency = opts.concurrency))]
    pub async fn work_order_analytics_with(
        &self,
        group_by: GroupBy,
        opts: AnalyticsOptions,
    ) -> Result<Analytics, AppError> {
        let router = self.router();
        let tenants: HashMap<Uuid, (String, String)> = router
            .catalog()
            .tenants()
            .await?
            .into_iter()
            .map(|t| {
                (
                    t.id,
                    (t.plan.as_str().to_owned(), t.region.as_str().to_owned()),
                )
            })
            .collect();
        let answers = self.counts_everywhere(opts).await?;
        let queried = answers.len();
        let mut groups: BTreeMap<String, i64> = BTreeMap::new();
        let mut failed = Vec::new();
        for (p, counts) in answers {
            let Some(counts) = counts else {
                failed.push(p.name);
                continue;
            };
            for (tenant, status, n) in counts {
                let key = match group_by {
                    GroupBy::Status => status,
                    GroupBy::Plan | GroupBy::Region => match (tenants.get(&tenant), group_by) {
                        (Some((plan, _)), GroupBy::Plan) => plan.clone(),
                        (Some((_, region)), _) => region.clone(),
                        (None, _) => "unknown".to_owned(),
                    },
                };
                *groups.entry(key).or_default() += n;
            }
        }
        failed.sort();
        Ok(Analytics {
            groups: groups
                .into_iter()
                .map(|(key, count)| Group { key, count })
                .collect(),
            placements: Queried { queried, failed },
        })
    }

    /// Work orders per tenant across every placement, and the placements
    /// (id, name) that did not answer.
    pub async fn work_orders_per_tenant(
        &self,
    ) -> Result<(HashMap<Uuid, i64>, Vec<(Uuid, String)>), AppError> {
        let mut per_tenant: HashMap<Uuid, i64> = HashMap::new();
        let mut failed = Vec::new();
        for (p, counts) in self.counts_everywhere(AnalyticsOptions::default()).await? {
            match counts {
                Some(counts) => {
                    for (tenant, _, n) in counts {
                        *per_tenant.entry(tenant).or_default() += n;
                    }
                }
                None => failed.push((p.id, p.name)),
            }
        }
        Ok((per_tenant, failed))
    }

    /// Every placement asked for its counts, in parallel within the budget,
    /// each within the timeout; `None` for one that did not answer.
    async fn counts_everywhere(
        &self,
        opts: AnalyticsOptions,
    ) -> Result<Vec<(Placement, Option<Counts>)>, AppError> {
        let router = self.router();
        let placements: Vec<Placement> = router
            .catalog()
            .placements()
            .await?
            .into_iter()
            .map(|u| u.placement)
            .filter(|p| p.state != fsa_core::PlacementState::Retired)
            .collect();
        let budget = router.settings().connection_budget.max(1) as usize;
        let concurrency = opts.concurrency.clamp(1, budget);
        Ok(futures::stream::iter(placements)
            .map(|p| async move {
                let counts = tokio::time::timeout(opts.timeout, self.placement_counts(&p))
                    .await
                    .ok()
                    .and_then(|r| {
                        r.map_err(|e| {
                            tracing::warn!(placement = %p.name, error = %e, "placement did not answer");
                        })
                        .ok()
                    });
                (p, counts)
            })
            .buffer_unordered(concurrency)
            .collect()
            .await)
    }

    /// One placement's work orders per tenant and status.
    async fn placement_counts(&self, p: &Placement) -> Result<Counts, AppError> {
        let router = self.router();
        if router.server_down(&p.server) {
            return Err(fsa_store::StoreError::PlacementUnavailable {
                placement: p.name.clone(),
                source: None,
            }
            .into());
        }
        let server = router.servers().get(&p.server).ok_or_else(|| {
            fsa_store::StoreError::Config(format!(
                "placement {} is on server `{}`, which is not configured",
                p.name, p.server
            ))
        })?;
        let pool = server.open_admin_connection_pool(&p.db_name).await?;
        let counts = fsa_store::fleet::work_orders_by_tenant_and_status(&pool).await;
        pool.close().await;
        Ok(counts?)
    }
}
