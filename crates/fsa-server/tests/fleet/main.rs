//! Placements across servers and regions, outages, and many databases under
//! a connection budget — with real PostgreSQL clusters.

mod backups;
mod jobs;
mod migrations;
mod moves;
mod names;
mod outage;
mod regions;
mod replicas;
mod scale;
mod usage;

pub use fsa_testkit::{clusters, server};
