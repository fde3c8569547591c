//! fsa's data layer.
//!
//! # Layout
//! - [`db`]: the two engines behind one [`db::Pool`]; the `on_pool!` and
//!   `on_tx!` macros run the same query code against PostgreSQL or SQLite.
//! - [`url`]: database URLs that never print their password.
//! - [`server`]: a database server (a PostgreSQL URL or a folder of SQLite
//!   files): creating, opening and migrating placement databases on it.
//! - [`bootstrap`]: the one-time set-up of a PostgreSQL server by a
//!   superuser: the role `fsa_app` and the service's least-privileged login.
//! - [`backups`]: the catalog's `backups` rows.
//! - [`catalog`]: the control plane (servers, placements, tenants).
//! - [`jobs`]: the catalog's `jobs` table (schedule, lease, failures of every
//!   background job); fsa-app's runner executes them.
//! - [`fleet`]: queries across every active tenant of a placement (analytics).
//! - [`router`]: tenant → (placement, epoch), cached, and one lazily opened
//!   pool per placement; [`router::Router::begin`] opens a tenant transaction.
//! - [`migrations`]: the migrations this binary holds and a database's own
//!   record of those it applied.
//! - [`schema`]: the placement migrations, the catalog's ledger of what each
//!   placement applied, and migrating one placement step by step.
//! - [`pools`]: the pool cache under a global connection budget.
//! - [`session`]: pooled PostgreSQL sessions that keep a tenant context, so a
//!   read is one statement.
//! - [`tx`]: [`tx::TenantTx`], the only way to reach tenant rows. It carries
//!   the [`fsa_core::TenantId`] and, on PostgreSQL, sets the row-level
//!   security context for the transaction.
//! - [`repo`]: tenant-scoped repositories, one module per aggregate.
//! - [`objects`]: the file stores (local disk, S3) by plan, and objects
//!   streamed into them while hashed; used by uploads and by moves.
//! - [`stats`]: per-tenant and per-placement figures the service measures
//!   itself (requests, latency, transaction time), bounded in memory.
//! - [`ts`]: a UTC timestamp stored identically sortable on both engines.
//!
//! Every placement has the same schema (`migrations/{postgres,sqlite}/placement`);
//! the catalog has its own (`migrations/{postgres,sqlite}/catalog`).

pub mod backups;
pub mod bootstrap;
pub mod catalog;
pub mod db;
pub mod error;
pub mod fleet;
pub mod jobs;
pub mod migrations;
pub mod objects;
pub mod page;
pub mod pools;
pub mod repo;
pub mod router;
pub mod schema;
pub mod secret;
pub mod server;
pub mod session;
pub mod stats;
pub mod ts;
pub mod tx;
pub mod url;

pub use error::StoreError;
pub use router::{Mode, Router};
pub use ts::Ts;
pub use tx::TenantTx;
