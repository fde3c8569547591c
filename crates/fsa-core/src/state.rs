//! The states the catalog and the placement databases record, by name.
//!
//! Each is stored as text (a `CHECK` constraint lists the names) and read
//! back into its enum, so a state is compared and matched, never spelled.

use crate::named_enum;

/// A tenant's lifecycle in the catalog (`tenants.state`). Suspension is a
/// separate flag: a suspended tenant is still `active` here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Lifecycle {
    /// Being created (or restored as a new tenant): not routable yet.
    Provisioning,
    /// Routable.
    Active,
}

named_enum!(Lifecycle, "tenant lifecycle", {
    Provisioning => "provisioning",
    Active => "active",
});

/// A placement's state in the catalog (`placements.state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PlacementState {
    /// Its database is being created.
    Provisioning,
    /// It serves tenants and takes new ones.
    Ready,
    /// It takes no tenant any more.
    Retired,
}

named_enum!(PlacementState, "placement state", {
    Provisioning => "provisioning",
    Ready => "ready",
    Retired => "retired",
});

/// How a placement database holds a tenant (its `tenant_state` row): the
/// one placement that serves it holds it `active`; a move's target holds it
/// `moving_in` until the switch, and its source `moved_out` after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Residency {
    Active,
    MovingIn,
    MovedOut,
}

named_enum!(Residency, "tenant residency", {
    Active => "active",
    MovingIn => "moving_in",
    MovedOut => "moved_out",
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for s in Residency::ALL {
            assert_eq!(s.as_str().parse::<Residency>().unwrap(), *s);
        }
        for s in PlacementState::ALL {
            assert_eq!(s.as_str().parse::<PlacementState>().unwrap(), *s);
        }
        for s in Lifecycle::ALL {
            assert_eq!(s.as_str().parse::<Lifecycle>().unwrap(), *s);
        }
        let e = "gone".parse::<Residency>().unwrap_err();
        assert!(e.to_string().contains("active moving_in moved_out"), "{e}");
    }
}
