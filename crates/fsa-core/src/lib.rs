//! Domain types of fsa, free of I/O.
//!
//! # Layout
//! - [`ids`]: [`TenantId`] and the other identifiers. A `TenantId` is only made
//!   from a verified token or by an admin job; every tenant-scoped repository
//!   takes one, so an unscoped tenant query cannot be written.
//! - [`plan`]: plans, regions, placement kinds and the policy that maps a plan
//!   to a placement kind.
//! - [`limits`]: what each plan may store and how hard it may push.
//! - [`role`]: user roles and what each may do.
//! - [`state`]: the lifecycle states of tenants, placements and residencies.
//! - [`status`]: the work order lifecycle.

pub mod ids;
pub mod limits;
pub mod plan;
pub mod role;
pub mod state;
pub mod status;

pub use ids::{TenantId, new_id};
pub use limits::{Limits, PlanLimits, Resource};
pub use plan::{PlacementKind, Plan, Region};
pub use role::{Permission, Role};
pub use state::{Lifecycle, PlacementState, Residency};
pub use status::{Priority, TaskStatus, TransitionError, WorkOrderStatus};

/// A value that is not one of the names its type accepts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{value}` is not a valid {kind}; expected one of: {expected}")]
pub struct ParseNameError {
    pub kind: &'static str,
    pub value: String,
    pub expected: &'static str,
}

/// Implements `as_str`, `FromStr`, `Display` and serde for a fieldless enum
/// whose wire names are fixed strings.
macro_rules! named_enum {
    ($ty:ident, $kind:literal, { $($variant:ident => $name:literal),+ $(,)? }) => {
        impl $ty {
            pub const ALL: &'static [$ty] = &[$($ty::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($ty::$variant => $name),+ }
            }
        }

        impl std::str::FromStr for $ty {
            type Err = $crate::ParseNameError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($name => Ok($ty::$variant),)+
                    _ => Err($crate::ParseNameError {
                        kind: $kind,
                        value: s.to_owned(),
                        expected: concat!($($name, " "),+),
                    }),
                }
            }
        }

        impl TryFrom<String> for $ty {
            type Error = $crate::ParseNameError;
            fn try_from(s: String) -> Result<Self, Self::Error> {
                s.parse()
            }
        }

        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.pad(self.as_str())
            }
        }

        impl serde::Serialize for $ty {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }

        impl utoipa::PartialSchema for $ty {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::schema::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .enum_values(Some([$($name),+]))
                    .into()
            }
        }

        impl utoipa::ToSchema for $ty {}
    };
}
pub(crate) use named_enum;
