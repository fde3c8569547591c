//! What an operator asks for: a tenant to a placement kind or to one
//! placement, with a grace period and a reason.

use std::fmt;
use std::time::Duration;

use fsa_core::{PlacementKind, Plan, Region};
use serde::{Serialize, Serializer};
use uuid::Uuid;

/// Where a move goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A placement of this kind in the move's region, chosen (or created)
    /// by the placement policy.
    Kind(PlacementKind),
    /// This placement.
    Placement(Uuid),
}

impl Target {
    pub fn parse(s: &str) -> Result<Self, String> {
        if let Ok(k) = s.parse::<PlacementKind>() {
            return Ok(Target::Kind(k));
        }
        s.parse::<Uuid>()
            .map(Target::Placement)
            .map_err(|_| format!("`{s}` is neither shared, pooled, dedicated nor a placement id"))
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Kind(k) => write!(f, "{k}"),
            Target::Placement(id) => write!(f, "{id}"),
        }
    }
}

impl Serialize for Target {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl TryFrom<String> for Target {
    type Error = String;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        Target::parse(&s)
    }
}

/// A request to move a tenant.
#[derive(Debug, Clone)]
pub struct MoveRequest {
    pub to: Target,
    pub region: Option<Region>,
    /// How long the source keeps the tenant's rows after the switch.
    pub cleanup_after: Duration,
    pub requested_by: String,
    pub reason: String,
    /// A plan the tenant takes when switched.
    pub plan_after: Option<Plan>,
}
