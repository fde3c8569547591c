//! Placements across servers and regions, outages, and many databases under
//! a connection budget — with real PostgreSQL clusters.

mod migrations;
mod moves;
mod names;
mod outage;
mod regions;
mod scale;

use fsa_server::config::ServerConfig;
use fsa_testkit::PgCluster;

/// Starts `n` throwaway clusters side by side.
pub async fn clusters(n: usize) -> Vec<PgCluster> {
    let handles: Vec<_> = (0..n)
        .map(|_| tokio::task::spawn_blocking(PgCluster::start))
        .collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap().unwrap());
    }
    out
}

pub fn server(name: &str, region: &str, url: String) -> ServerConfig {
    ServerConfig {
        name: name.into(),
        region: fsa_core::Region::parse(region).unwrap(),
        url,
    }
}
