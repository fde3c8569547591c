//! The advisor: the seed's decision framework as rules over the fleet's
//! figures, each advice with its evidence and a proposed action (a move, or
//! a note for the operator).
//!
//! | rule | fires when | action |
//! |---|---|---|
//! | `isolation_requested` | the tenant asked for isolation and is not in a dedicated database | move to `dedicated` |
//! | `plan_placement_mismatch` | the tenant's plan places it elsewhere than where it is (never for a tenant with isolation requested in a dedicated database) | move to its plan's kind |
//! | `tenant_over_share` | on a shared or pooled placement of at least `share_min_tenants` tenants, the tenant takes more than `tenant_share` of its database time or of its work orders | move up a kind (shared → pooled → dedicated) |
//! | `placement_slow` / `placement_large` | a shared or pooled placement's average query time is over `placement_avg_query_ms`, or its size over `placement_size_bytes` | move its heaviest tenant up a kind (sharding by tenant size) |
//! | `enterprise_server` | `enterprise_per_server` or more enterprise tenants share a server with other tenants | note: a server of their own for the enterprise tenants of the region |
//!
//! A tenant gets at most one move, from the first rule that fires for it.
//! The rules work on [`FleetFacts`] in one pass over tenants and
//! placements (hash maps, no sort of the fleet), so the advisor's cost is
//! linear in the fleet: see the 10,000-tenant figure in docs/BENCHMARKS.md.
//!
//! The cost estimate uses the seed's cost table (monthly cost for 100
//! tenants: shared $300, hybrid $800, per-tenant $3,000) as a per-tenant
//! monthly rate by placement kind (shared $3, pooled $8, dedicated $30;
//! configurable), for the fleet as it is and as advised.

use std::collections::{HashMap, HashSet};

use fsa_core::{PlacementKind, Plan};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::moves::MoveOrder;
use crate::{App, AppError};

/// `[advice]`: the rules' thresholds, the cap on moves per `--apply`, and
/// the cost table's rates.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdviceConfig {
    /// A tenant's share (0..1) of its placement's database time or work
    /// orders above which it is moved up a kind.
    pub tenant_share: f64,
    /// The share rule applies on placements of at least this many tenants.
    pub share_min_tenants: i64,
    /// A placement's average query time (ms) above which its heaviest
    /// tenant is moved out.
    pub placement_avg_query_ms: f64,
    /// A placement's size (bytes) above which its heaviest tenant is moved out.
    pub placement_size_bytes: i64,
    /// Enterprise tenants on one server (with other tenants) from which a
    /// server of their own is advised.
    pub enterprise_per_server: usize,
    /// Moves one `--apply` schedules at most.
    pub max_moves_per_run: usize,
    /// Monthly cost per tenant (USD) by placement kind, from the seed's table.
    pub monthly_cost_shared: f64,
    pub monthly_cost_pooled: f64,
    pub monthly_cost_dedicated: f64,
}

impl Default for AdviceConfig {
    fn default() -> Self {
        AdviceConfig {
            tenant_share: 0.5,
            share_min_tenants: 3,
            placement_avg_query_ms: 100.0,
            placement_size_bytes: 100_000_000_000,
            enterprise_per_server: 10,
            max_moves_per_run: 5,
            monthly_cost_shared: 3.0,
            monthly_cost_pooled: 8.0,
            monthly_cost_dedicated: 30.0,
        }
    }
}

/// What the advisor knows of one tenant.
#[derive(Debug, Clone)]
pub struct TenantFact {
    pub slug: String,
    pub plan: Plan,
    pub region: String,
    pub placement: Uuid,
    pub isolation_requested: bool,
    /// Database time this process measured for the tenant (ms).
    pub db_time_ms: f64,
    /// Work orders, when its placement answered.
    pub work_orders: Option<i64>,
}

/// What the advisor knows of one placement.
#[derive(Debug, Clone)]
pub struct PlacementFact {
    pub id: Uuid,
    pub name: String,
    pub kind: PlacementKind,
    pub region: String,
    pub server: String,
    pub size_bytes: Option<i64>,
    pub avg_query_ms: Option<f64>,
}

#[derive(Debug, Clone, Default)]
pub struct FleetFacts {
    pub tenants: Vec<TenantFact>,
    pub placements: Vec<PlacementFact>,
}

/// A proposed move.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProposedMove {
    pub tenant: String,
    /// `pooled` or `dedicated` (or `shared`), as `POST /admin/tenants/{slug}/move` takes it.
    pub to: String,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Action {
    Move(ProposedMove),
    Note(String),
}

/// One advice: `{rule, tenant?, placement?, evidence, action}`.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AdviceItem {
    pub rule: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub placement: Option<String>,
    /// The figures the rule saw.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub evidence: Value,
    pub action: Action,
}

/// The seed's cost table applied to the fleet.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CostEstimate {
    /// Monthly USD for the fleet as it is.
    pub as_is_monthly_usd: f64,
    /// Monthly USD once the advised moves are done.
    pub advised_monthly_usd: f64,
    /// The per-tenant monthly rates used, by placement kind.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub rates: Value,
    pub basis: String,
}

/// `GET /admin/advice`, `fsa advise --json`.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Advice {
    pub items: Vec<AdviceItem>,
    pub cost: CostEstimate,
    /// Placements whose work orders could not be counted (their tenants'
    /// size rules saw no figure).
    pub unanswered: Vec<String>,
}

/// A move `--apply` scheduled.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AppliedMove {
    pub tenant: String,
    pub to: String,
    /// The move's id, or why it could not be scheduled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Applied {
    #[serde(flatten)]
    pub advice: Advice,
    pub applied: Vec<AppliedMove>,
}

fn next_kind(kind: PlacementKind) -> PlacementKind {
    match kind {
        PlacementKind::Shared => PlacementKind::Pooled,
        _ => PlacementKind::Dedicated,
    }
}

fn rate(cfg: &AdviceConfig, kind: PlacementKind) -> f64 {
    match kind {
        PlacementKind::Shared => cfg.monthly_cost_shared,
        PlacementKind::Pooled => cfg.monthly_cost_pooled,
        PlacementKind::Dedicated => cfg.monthly_cost_dedicated,
    }
}

/// Records a proposed move of `t` (at most one per tenant).
fn propose<'a>(
    items: &mut Vec<AdviceItem>,
    moved: &mut HashMap<&'a str, PlacementKind>,
    rule: &str,
    t: &'a TenantFact,
    p: &PlacementFact,
    to: PlacementKind,
    evidence: Value,
) {
    moved.insert(t.slug.as_str(), to);
    items.push(AdviceItem {
        rule: rule.to_owned(),
        tenant: Some(t.slug.clone()),
        placement: Some(p.name.clone()),
        evidence,
        action: Action::Move(ProposedMove {
            tenant: t.slug.clone(),
            to: to.as_str().to_owned(),
        }),
    });
}

/// The rules over the facts: linear in tenants and placements.
pub fn advise(facts: &FleetFacts, cfg: &AdviceConfig) -> (Vec<AdviceItem>, CostEstimate) {
    let placements: HashMap<Uuid, &PlacementFact> =
        facts.placements.iter().map(|p| (p.id, p)).collect();
    // Per placement: tenants, database time and work orders in all, and
    // the heaviest tenant (by work orders, then database time).
    #[derive(Default)]
    struct Sum<'a> {
        tenants: i64,
        db_time_ms: f64,
        work_orders: i64,
        heaviest: Option<&'a TenantFact>,
    }
    let weight = |t: &TenantFact| (t.work_orders.unwrap_or(0), t.db_time_ms);
    let mut sums: HashMap<Uuid, Sum> = HashMap::new();
    for t in &facts.tenants {
        let s = sums.entry(t.placement).or_default();
        s.tenants += 1;
        s.db_time_ms += t.db_time_ms;
        s.work_orders += t.work_orders.unwrap_or(0);
        let heavier = s.heaviest.is_none_or(|h| {
            let (a, b) = (weight(t), weight(h));
            a.0 > b.0 || (a.0 == b.0 && a.1 > b.1)
        });
        if heavier {
            s.heaviest = Some(t);
        }
    }

    let mut items = Vec::new();
    let mut moved: HashMap<&str, PlacementKind> = HashMap::new();
    for t in &facts.tenants {
        let Some(p) = placements.get(&t.placement) else {
            continue;
        };
        if t.isolation_requested {
            if p.kind != PlacementKind::Dedicated {
                propose(
                    &mut items,
                    &mut moved,
                    "isolation_requested",
                    t,
                    p,
                    PlacementKind::Dedicated,
                    json!({"isolation_requested": true, "placement_kind": p.kind.as_str()}),
                );
            }
            // In a dedicated database whatever its plan: no rule moves it back.
            continue;
        }
        let want = t.plan.placement_kind();
        if want != p.kind {
            propose(
                &mut items,
                &mut moved,
                "plan_placement_mismatch",
                t,
                p,
                want,
                json!({"plan": t.plan.as_str(), "placement_kind": p.kind.as_str(), "plan_kind": want.as_str()}),
            );
            continue;
        }
        if p.kind == PlacementKind::Dedicated {
            continue;
        }
        let Some(s) = sums.get(&t.placement) else {
            continue;
        };
        if s.tenants < cfg.share_min_tenants {
            continue;
        }
        let db_share = if s.db_time_ms > 0.0 {
            t.db_time_ms / s.db_time_ms
        } else {
            0.0
        };
        let wo_share = match t.work_orders {
            Some(n) if s.work_orders > 0 => n as f64 / s.work_orders as f64,
            _ => 0.0,
        };
        if db_share > cfg.tenant_share || wo_share > cfg.tenant_share {
            propose(
                &mut items,
                &mut moved,
                "tenant_over_share",
                t,
                p,
                next_kind(p.kind),
                json!({
                    "db_time_ms": t.db_time_ms, "db_time_share": db_share,
                    "work_orders": t.work_orders, "work_order_share": wo_share,
                    "placement_tenants": s.tenants, "threshold": cfg.tenant_share,
                }),
            );
        }
    }

    for p in &facts.placements {
        if p.kind == PlacementKind::Dedicated {
            continue;
        }
        let slow = p.avg_query_ms.filter(|ms| *ms > cfg.placement_avg_query_ms);
        let large = p.size_bytes.filter(|b| *b > cfg.placement_size_bytes);
        let rule = match (slow, large) {
            (Some(_), _) => "placement_slow",
            (None, Some(_)) => "placement_large",
            (None, None) => continue,
        };
        let Some(s) = sums.get(&p.id) else { continue };
        let Some(h) = s.heaviest else { continue };
        if moved.contains_key(h.slug.as_str()) {
            continue;
        }
        propose(
            &mut items,
            &mut moved,
            rule,
            h,
            p,
            next_kind(p.kind),
            json!({
                "avg_query_ms": p.avg_query_ms, "avg_query_ms_threshold": cfg.placement_avg_query_ms,
                "size_bytes": p.size_bytes, "size_bytes_threshold": cfg.placement_size_bytes,
                "heaviest_tenant_work_orders": h.work_orders, "heaviest_tenant_db_time_ms": h.db_time_ms,
                "placement_tenants": s.tenants,
            }),
        );
    }

    // Enterprise tenants per server, and whether the server holds others.
    let mut by_server: HashMap<&str, (usize, usize, &str)> = HashMap::new();
    for t in &facts.tenants {
        let Some(p) = placements.get(&t.placement) else {
            continue;
        };
        let e = by_server
            .entry(p.server.as_str())
            .or_insert((0, 0, p.region.as_str()));
        if t.plan == Plan::Enterprise {
            e.0 += 1;
        } else {
            e.1 += 1;
        }
    }
    let mut servers: Vec<_> = by_server.into_iter().collect();
    servers.sort_unstable_by_key(|(name, _)| *name);
    for (server, (enterprise, others, region)) in servers {
        if enterprise >= cfg.enterprise_per_server && others > 0 {
            items.push(AdviceItem {
                rule: "enterprise_server".to_owned(),
                tenant: None,
                placement: None,
                evidence: json!({"server": server, "region": region, "enterprise_tenants": enterprise, "other_tenants": others, "threshold": cfg.enterprise_per_server}),
                action: Action::Note(format!(
                    "a server of their own for the enterprise tenants of {region} (server {server} holds {enterprise} of them and {others} other tenants)"
                )),
            });
        }
    }

    let mut as_is = 0.0;
    let mut advised = 0.0;
    for t in &facts.tenants {
        let Some(p) = placements.get(&t.placement) else {
            continue;
        };
        as_is += rate(cfg, p.kind);
        advised += rate(cfg, moved.get(t.slug.as_str()).copied().unwrap_or(p.kind));
    }
    let cost = CostEstimate {
        as_is_monthly_usd: as_is,
        advised_monthly_usd: advised,
        rates: json!({
            "shared": cfg.monthly_cost_shared,
            "pooled": cfg.monthly_cost_pooled,
            "dedicated": cfg.monthly_cost_dedicated,
        }),
        basis: "the seed's cost table (monthly, 100 tenants: shared $300, hybrid $800, per-tenant $3,000) as a per-tenant rate by placement kind; an estimate, not a bill".to_owned(),
    };
    (items, cost)
}

impl App {
    /// The fleet's facts: the catalog, the measured figures, the sizes and
    /// query times health reports, and work orders per tenant.
    pub async fn fleet_facts(&self) -> Result<(FleetFacts, Vec<String>), AppError> {
        let router = self.router();
        let health = self.health().await?;
        let (work_orders, unanswered) = self.work_orders_per_tenant().await?;
        let stats = router.stats();
        let silent = unanswered_ids(&unanswered);
        let tenants = router
            .catalog()
            .tenants()
            .await?
            .into_iter()
            .map(|t| TenantFact {
                db_time_ms: stats.tenant(t.tenant_id()).db_time_ms,
                work_orders: work_orders.get(&t.id).copied().or(
                    // A placement that answered but holds no work order of the tenant.
                    (!silent.contains(&t.placement_id)).then_some(0),
                ),
                slug: t.slug,
                plan: t.plan,
                region: t.region.as_str().to_owned(),
                placement: t.placement_id,
                isolation_requested: t.isolation_requested,
            })
            .collect();
        let placements = health
            .placements
            .into_iter()
            .map(|p| PlacementFact {
                id: p.id,
                name: p.name,
                kind: p.kind,
                region: p.region,
                server: p.server,
                size_bytes: p.size_bytes,
                avg_query_ms: p.avg_query_ms,
            })
            .collect();
        let names = unanswered.into_iter().map(|(_, n)| n).collect();
        Ok((
            FleetFacts {
                tenants,
                placements,
            },
            names,
        ))
    }

    /// The advice for the fleet as it is now.
    pub async fn advice(&self, cfg: &AdviceConfig) -> Result<Advice, AppError> {
        let (facts, unanswered) = self.fleet_facts().await?;
        let (items, cost) = advise(&facts, cfg);
        Ok(Advice {
            items,
            cost,
            unanswered,
        })
    }

    /// The advice, then its moves scheduled through the move service, at
    /// most `cfg.max_moves_per_run` of them, in the advice's order.
    pub async fn apply_advice(&self, cfg: &AdviceConfig) -> Result<Applied, AppError> {
        let advice = self.advice(cfg).await?;
        let mut applied = Vec::new();
        let mut seen = HashSet::new();
        for item in &advice.items {
            if applied.len() >= cfg.max_moves_per_run {
                break;
            }
            let Action::Move(m) = &item.action else {
                continue;
            };
            if !seen.insert(m.tenant.clone()) {
                continue;
            }
            let order = MoveOrder {
                to: m.to.clone(),
                region: None,
                cleanup: None,
                reason: Some(format!("advice: {}", item.rule)),
                requested_by: "advisor".to_owned(),
            };
            let (id, error) = match self.move_tenant(&m.tenant, order).await {
                Ok(started) => (Some(started.id), None),
                Err(e) => (None, Some(e.to_string())),
            };
            applied.push(AppliedMove {
                tenant: m.tenant.clone(),
                to: m.to.clone(),
                id,
                error,
            });
        }
        Ok(Applied { advice, applied })
    }
}

fn unanswered_ids(u: &[(Uuid, String)]) -> HashSet<Uuid> {
    u.iter().map(|(id, _)| *id).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn placement(name: &str, kind: PlacementKind, server: &str) -> PlacementFact {
        PlacementFact {
            id: Uuid::now_v7(),
            name: name.into(),
            kind,
            region: "EU".into(),
            server: server.into(),
            size_bytes: Some(10_000_000),
            avg_query_ms: Some(2.0),
        }
    }

    fn tenant(slug: &str, plan: Plan, p: &PlacementFact, wo: i64, db: f64) -> TenantFact {
        TenantFact {
            slug: slug.into(),
            plan,
            region: "EU".into(),
            placement: p.id,
            isolation_requested: false,
            db_time_ms: db,
            work_orders: Some(wo),
        }
    }

    /// A healthy fleet: every tenant where its plan places it, evenly loaded.
    fn healthy() -> FleetFacts {
        let shared = placement("shared-eu", PlacementKind::Shared, "eu");
        let pooled = placement("pooled-eu", PlacementKind::Pooled, "eu");
        let ded = placement("ded-big", PlacementKind::Dedicated, "eu");
        let mut tenants = Vec::new();
        for i in 0..4 {
            tenants.push(tenant(&format!("free-{i}"), Plan::Free, &shared, 100, 10.0));
            tenants.push(tenant(
                &format!("prem-{i}"),
                Plan::Premium,
                &pooled,
                100,
                10.0,
            ));
        }
        tenants.push(tenant("ent", Plan::Enterprise, &ded, 1000, 50.0));
        FleetFacts {
            tenants,
            placements: vec![shared, pooled, ded],
        }
    }

    fn moves(items: &[AdviceItem]) -> Vec<(String, String, String)> {
        items
            .iter()
            .filter_map(|i| match &i.action {
                Action::Move(m) => Some((i.rule.clone(), m.tenant.clone(), m.to.clone())),
                Action::Note(_) => None,
            })
            .collect()
    }

    #[test]
    fn a_healthy_fleet_gets_no_advice() {
        let (items, cost) = advise(&healthy(), &AdviceConfig::default());
        assert!(items.is_empty(), "{items:#?}");
        assert_eq!(cost.as_is_monthly_usd, cost.advised_monthly_usd);
        assert_eq!(cost.as_is_monthly_usd, 4.0 * 3.0 + 4.0 * 8.0 + 30.0);
    }

    #[test]
    fn isolation_requested_goes_dedicated_and_never_back() {
        let mut f = healthy();
        f.tenants[0].isolation_requested = true;
        let (items, cost) = advise(&f, &AdviceConfig::default());
        assert_eq!(
            moves(&items),
            [(
                "isolation_requested".into(),
                "free-0".into(),
                "dedicated".into()
            )]
        );
        assert_eq!(items[0].evidence["placement_kind"], "shared");
        assert_eq!(cost.advised_monthly_usd - cost.as_is_monthly_usd, 27.0);
        // Once dedicated, no rule proposes moving it back to shared.
        let ded = f.placements[2].id;
        f.tenants[0].placement = ded;
        let (items, _) = advise(&f, &AdviceConfig::default());
        assert!(items.is_empty(), "{items:#?}");
    }

    #[test]
    fn a_plan_placed_elsewhere_is_moved_to_its_kind() {
        let mut f = healthy();
        let shared = f.placements[0].id;
        f.tenants[1].placement = shared; // prem-0 on the shared placement
        let (items, _) = advise(&f, &AdviceConfig::default());
        assert_eq!(
            moves(&items),
            [(
                "plan_placement_mismatch".into(),
                "prem-0".into(),
                "pooled".into()
            )]
        );
        assert_eq!(items[0].evidence["plan"], "premium");
        assert_eq!(items[0].evidence["placement_kind"], "shared");
    }

    #[test]
    fn a_tenant_over_its_share_moves_up_a_kind() {
        let mut f = healthy();
        f.tenants[2].work_orders = Some(5_000); // free-1 on shared
        f.tenants[5].db_time_ms = 500.0; // prem-2 on pooled
        let (items, _) = advise(&f, &AdviceConfig::default());
        let mut got = moves(&items);
        got.sort();
        assert_eq!(
            got,
            [
                ("tenant_over_share".into(), "free-1".into(), "pooled".into()),
                (
                    "tenant_over_share".into(),
                    "prem-2".into(),
                    "dedicated".into()
                ),
            ]
        );
        let free = items
            .iter()
            .find(|i| i.tenant.as_deref() == Some("free-1"))
            .unwrap();
        assert!(free.evidence["work_order_share"].as_f64().unwrap() > 0.5);
        assert_eq!(free.evidence["placement_tenants"], 4);
    }

    #[test]
    fn a_slow_or_large_placement_sheds_its_heaviest_tenant() {
        let cfg = AdviceConfig {
            // The share rule stays quiet: only the placement rules speak.
            tenant_share: 0.99,
            ..AdviceConfig::default()
        };
        let mut f = healthy();
        f.placements[0].avg_query_ms = Some(150.0);
        f.tenants[4].work_orders = Some(300); // free-2, the heaviest on shared
        f.placements[1].size_bytes = Some(200_000_000_000);
        f.tenants[3].db_time_ms = 40.0; // prem-1, heaviest on pooled by time
        let (items, _) = advise(&f, &cfg);
        assert_eq!(
            moves(&items),
            [
                ("placement_slow".into(), "free-2".into(), "pooled".into()),
                (
                    "placement_large".into(),
                    "prem-1".into(),
                    "dedicated".into()
                ),
            ]
        );
        assert_eq!(items[0].evidence["avg_query_ms"], 150.0);
        assert_eq!(items[1].evidence["size_bytes"], 200_000_000_000i64);
    }

    #[test]
    fn ten_enterprise_tenants_on_a_shared_server_get_a_note() {
        let mut f = healthy();
        for i in 0..10 {
            let p = placement(&format!("ded-{i}"), PlacementKind::Dedicated, "eu");
            f.tenants
                .push(tenant(&format!("ent-{i}"), Plan::Enterprise, &p, 10, 1.0));
            f.placements.push(p);
        }
        let (items, _) = advise(&f, &AdviceConfig::default());
        assert_eq!(items.len(), 1, "{items:#?}");
        assert_eq!(items[0].rule, "enterprise_server");
        assert_eq!(items[0].evidence["enterprise_tenants"], 11);
        assert!(
            matches!(&items[0].action, Action::Note(n) if n.contains("enterprise tenants of EU"))
        );
    }
}
