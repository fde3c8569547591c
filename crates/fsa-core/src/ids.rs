//! Identifiers. Every id is a UUIDv7 made by the application, never a
//! database sequence: sequences of two databases collide once a tenant moves.

use std::fmt;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A new time-ordered id (UUIDv7).
pub fn new_id() -> Uuid {
    Uuid::now_v7()
}

/// The tenant a request or job acts for.
///
/// Deliberately not `Deserialize`: a tenant id never comes from a request
/// body or path. It is made from a verified token ([`TenantId::from_verified`])
/// or by an admin job that looked the tenant up in the catalog.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct TenantId(Uuid);

impl TenantId {
    /// A tenant id whose origin was verified: a signed token's claim, or the
    /// catalog row an admin job read.
    pub fn from_verified(id: Uuid) -> Self {
        TenantId(id)
    }

    /// A new tenant's id, made at onboarding.
    pub fn generate() -> Self {
        TenantId(new_id())
    }

    pub fn as_uuid(&self) -> Uuid {
        self.0
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A tenant's slug: lowercase letters, digits and dashes, 2 to 63 characters,
/// starting with a letter. It names the tenant at login and in admin paths.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Slug(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "slug must be 2 to 63 characters of lowercase letters, digits and dashes, starting with a letter"
)]
pub struct SlugError;

impl Slug {
    pub fn parse(s: &str) -> Result<Self, SlugError> {
        let ok = (2..=63).contains(&s.len())
            && s.starts_with(|c: char| c.is_ascii_lowercase())
            && !s.ends_with('-')
            && s.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if ok {
            Ok(Slug(s.to_owned()))
        } else {
            Err(SlugError)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Slug {
    type Error = SlugError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Slug::parse(&s)
    }
}

impl From<Slug> for String {
    fn from(s: Slug) -> String {
        s.0
    }
}

impl fmt::Display for Slug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_time_ordered() {
        let a = new_id();
        let b = new_id();
        assert!(a < b);
        assert_eq!(a.get_version_num(), 7);
    }

    #[test]
    fn slugs() {
        assert!(Slug::parse("acme").is_ok());
        assert!(Slug::parse("acme-2").is_ok());
        for bad in [
            "",
            "a",
            "Acme",
            "2acme",
            "acme-",
            "ac me",
            "acme_1",
            &"a".repeat(64),
        ] {
            assert!(Slug::parse(bad).is_err(), "{bad:?} accepted");
        }
    }
}
