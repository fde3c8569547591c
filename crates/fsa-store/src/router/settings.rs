//! What the router is started with: its settings (pool sizes per placement
//! kind, route TTL, connection budget, plan limits) and the servers
//! placements can live on.

use std::collections::HashMap;
use std::time::Duration;

use fsa_core::{Limits, PlacementKind, Region};

use crate::server::{PoolSettings, Server};

/// Settings of the router.
#[derive(Debug, Clone)]
pub struct RouterSettings {
    pub shared: PoolSettings,
    pub pooled: PoolSettings,
    pub dedicated: PoolSettings,
    /// How long a route snapshot is trusted before it is reloaded.
    pub route_ttl: Duration,
    /// Tenants per pooled placement.
    pub pooled_capacity: i32,
    /// Connections all placement pools together may hold.
    pub connection_budget: u32,
    /// How long a request waits for room in the budget before `Busy`.
    pub budget_wait: Duration,
    /// Plan limits; the router applies each plan's statement timeout.
    pub limits: Limits,
}

impl Default for RouterSettings {
    fn default() -> Self {
        RouterSettings {
            shared: PoolSettings::default_for(PlacementKind::Shared),
            pooled: PoolSettings::default_for(PlacementKind::Pooled),
            dedicated: PoolSettings::default_for(PlacementKind::Dedicated),
            route_ttl: Duration::from_secs(5),
            pooled_capacity: 8,
            connection_budget: 200,
            budget_wait: Duration::from_secs(5),
            limits: Limits::default(),
        }
    }
}

impl RouterSettings {
    pub fn pool_settings(&self, kind: PlacementKind) -> &PoolSettings {
        match kind {
            PlacementKind::Shared => &self.shared,
            PlacementKind::Pooled => &self.pooled,
            PlacementKind::Dedicated => &self.dedicated,
        }
    }
}

/// The servers placements can live on, by name and by region.
#[derive(Debug, Clone)]
pub struct Servers {
    by_name: HashMap<String, Server>,
    by_region: HashMap<Region, String>,
    default: String,
}

impl Servers {
    /// `default` serves every region that has no server of its own.
    pub fn new(default: Server, others: Vec<Server>) -> Self {
        let mut by_name = HashMap::new();
        let mut by_region = HashMap::new();
        let default_name = default.name.clone();
        for s in std::iter::once(default).chain(others) {
            by_region
                .entry(s.region.clone())
                .or_insert_with(|| s.name.clone());
            by_name.insert(s.name.clone(), s);
        }
        Servers {
            by_name,
            by_region,
            default: default_name,
        }
    }

    pub fn get(&self, name: &str) -> Option<&Server> {
        self.by_name.get(name)
    }

    pub fn for_region(&self, region: &Region) -> &Server {
        let name = self.by_region.get(region).unwrap_or(&self.default);
        &self.by_name[name]
    }

    pub fn all(&self) -> impl Iterator<Item = &Server> {
        self.by_name.values()
    }
}
