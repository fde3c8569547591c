//! Plans, regions and placement kinds.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::named_enum;

/// A tenant's commercial plan. It decides limits and the placement kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Plan {
    Free,
    Basic,
    Premium,
    Enterprise,
}

named_enum!(Plan, "plan", {
    Free => "free",
    Basic => "basic",
    Premium => "premium",
    Enterprise => "enterprise",
});

/// The three shapes of a placement database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PlacementKind {
    /// Many free and basic tenants in one database, isolated by row-level security.
    Shared,
    /// Up to a configured number of premium tenants in one database.
    Pooled,
    /// Exactly one tenant.
    Dedicated,
}

named_enum!(PlacementKind, "placement kind", {
    Shared => "shared",
    Pooled => "pooled",
    Dedicated => "dedicated",
});

impl Plan {
    /// The placement kind the policy gives a tenant of this plan.
    pub fn placement_kind(self) -> PlacementKind {
        match self {
            Plan::Free | Plan::Basic => PlacementKind::Shared,
            Plan::Premium => PlacementKind::Pooled,
            Plan::Enterprise => PlacementKind::Dedicated,
        }
    }
}

/// A region name such as `EU`, `US`, `ASIA` or `default`. Which regions exist
/// is configuration; the name is an uppercase word or `default`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Region(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("region must be `default` or 1 to 16 letters, digits or dashes (such as EU, US, ASIA)")]
pub struct RegionError;

impl Region {
    pub const DEFAULT: &'static str = "default";

    pub fn default_region() -> Self {
        Region(Self::DEFAULT.to_owned())
    }

    /// Parses a region name; letters are uppercased (`eu` is `EU`) except
    /// for `default`.
    pub fn parse(s: &str) -> Result<Self, RegionError> {
        if s.eq_ignore_ascii_case(Self::DEFAULT) {
            return Ok(Self::default_region());
        }
        let ok =
            (1..=16).contains(&s.len()) && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
        if ok {
            Ok(Region(s.to_ascii_uppercase()))
        } else {
            Err(RegionError)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for Region {
    type Err = RegionError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Region::parse(s)
    }
}

impl TryFrom<String> for Region {
    type Error = RegionError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Region::parse(&s)
    }
}

impl From<Region> for String {
    fn from(r: Region) -> String {
        r.0
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_names_round_trip() {
        for p in Plan::ALL {
            assert_eq!(p.as_str().parse::<Plan>().unwrap(), *p);
        }
        assert!("gold".parse::<Plan>().is_err());
    }

    #[test]
    fn policy() {
        assert_eq!(Plan::Free.placement_kind(), PlacementKind::Shared);
        assert_eq!(Plan::Basic.placement_kind(), PlacementKind::Shared);
        assert_eq!(Plan::Premium.placement_kind(), PlacementKind::Pooled);
        assert_eq!(Plan::Enterprise.placement_kind(), PlacementKind::Dedicated);
    }

    #[test]
    fn regions() {
        assert_eq!(Region::parse("eu").unwrap().as_str(), "EU");
        assert_eq!(Region::parse("Default").unwrap().as_str(), "default");
        assert!(Region::parse("").is_err());
        assert!(Region::parse("eu west").is_err());
    }
}
