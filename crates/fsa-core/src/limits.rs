//! Plan limits: how much a tenant may store and how hard it may push.

use serde::{Deserialize, Serialize};

use crate::Plan;
use crate::named_enum;

/// What a limit counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Resource {
    WorkOrders,
    Clients,
    Users,
    Personnel,
    FileBytes,
}

named_enum!(Resource, "resource", {
    WorkOrders => "work_orders",
    Clients => "clients",
    Users => "users",
    Personnel => "personnel",
    FileBytes => "file_bytes",
});

/// The limits of one plan. `None` is unlimited.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanLimits {
    pub work_orders: Option<u64>,
    pub clients: Option<u64>,
    pub users: Option<u64>,
    pub personnel: Option<u64>,
    /// Stored file bytes (enforced by file upload).
    pub file_bytes: Option<u64>,
    /// Sustained requests per second; bursts of up to one second's worth.
    pub requests_per_second: Option<u32>,
    /// Requests in flight at once.
    pub concurrent_requests: Option<u32>,
    /// Milliseconds of request handling per second (wall time from admission
    /// to the end of the handler), with a second's worth of burst: what a
    /// tenant's requests cost, not just how many there are. A tenant over it
    /// is refused with 429 until the budget refills.
    #[serde(default)]
    pub work_ms_per_second: Option<u32>,
    /// Longest a statement of this tenant may run, in milliseconds.
    pub statement_timeout_ms: u64,
}

impl PlanLimits {
    pub fn of(&self, r: Resource) -> Option<u64> {
        match r {
            Resource::WorkOrders => self.work_orders,
            Resource::Clients => self.clients,
            Resource::Users => self.users,
            Resource::Personnel => self.personnel,
            Resource::FileBytes => self.file_bytes,
        }
    }
}

/// The limits of every plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    pub free: PlanLimits,
    pub basic: PlanLimits,
    pub premium: PlanLimits,
    pub enterprise: PlanLimits,
}

const GIB: u64 = 1024 * 1024 * 1024;

impl Default for Limits {
    /// The seed's numbers: free 100 work orders / 50 clients, basic 500/200,
    /// premium 2,000/1,000, enterprise unlimited.
    fn default() -> Self {
        Limits {
            free: PlanLimits {
                work_orders: Some(100),
                clients: Some(50),
                users: Some(5),
                personnel: Some(10),
                file_bytes: Some(GIB),
                requests_per_second: Some(50),
                concurrent_requests: Some(10),
                work_ms_per_second: Some(150),
                statement_timeout_ms: 5_000,
            },
            basic: PlanLimits {
                work_orders: Some(500),
                clients: Some(200),
                users: Some(20),
                personnel: Some(50),
                file_bytes: Some(10 * GIB),
                requests_per_second: Some(100),
                concurrent_requests: Some(20),
                work_ms_per_second: Some(250),
                statement_timeout_ms: 10_000,
            },
            premium: PlanLimits {
                work_orders: Some(2_000),
                clients: Some(1_000),
                users: Some(100),
                personnel: Some(200),
                file_bytes: Some(100 * GIB),
                requests_per_second: Some(300),
                concurrent_requests: Some(50),
                work_ms_per_second: Some(1_000),
                statement_timeout_ms: 30_000,
            },
            enterprise: PlanLimits {
                work_orders: None,
                clients: None,
                users: None,
                personnel: None,
                file_bytes: None,
                requests_per_second: None,
                concurrent_requests: Some(200),
                work_ms_per_second: None,
                statement_timeout_ms: 45_000,
            },
        }
    }
}

impl Limits {
    pub fn for_plan(&self, p: Plan) -> &PlanLimits {
        match p {
            Plan::Free => &self.free,
            Plan::Basic => &self.basic,
            Plan::Premium => &self.premium,
            Plan::Enterprise => &self.enterprise,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_defaults() {
        let l = Limits::default();
        assert_eq!(l.for_plan(Plan::Free).of(Resource::WorkOrders), Some(100));
        assert_eq!(l.for_plan(Plan::Free).of(Resource::Clients), Some(50));
        assert_eq!(l.for_plan(Plan::Basic).of(Resource::WorkOrders), Some(500));
        assert_eq!(l.for_plan(Plan::Premium).of(Resource::Clients), Some(1_000));
        assert_eq!(l.for_plan(Plan::Enterprise).of(Resource::WorkOrders), None);
    }
}
