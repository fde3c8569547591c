//! A PostgreSQL server's streaming replicas, as the server itself reports
//! them (`pg_stat_replication`): for `fsa health`, so an operator running
//! a replica beside a dedicated server sees how far behind it is.
//!
//! The lag columns are visible to a login with the privileges of
//! `pg_read_all_stats` (`fsa db bootstrap` grants `pg_monitor`); to any
//! other they read as unknown.

use std::time::Duration;

use serde::Serialize;
use sqlx::{ConnectOptions, Connection};

use super::{Server, ServerSpec};

/// One streaming replica of a server.
#[derive(Debug, Clone, Serialize, PartialEq, sqlx::FromRow)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Replica {
    /// The replica's `application_name` (its `cluster_name`, or what its
    /// `primary_conninfo` says).
    pub name: String,
    /// Where it connects from; null when not over TCP.
    pub client: Option<String>,
    /// `streaming`, `catchup`, `startup`, …; null when this login may not
    /// see it.
    pub state: Option<String>,
    /// `async`, `sync`, `potential` or `quorum`.
    pub sync_state: Option<String>,
    /// WAL the server has written that the replica has not yet replayed.
    pub lag_bytes: Option<i64>,
    /// How long ago the last WAL the replica replayed was written here, as
    /// the server measured it; null when idle or unknown.
    pub replay_lag_ms: Option<f64>,
}

impl Server {
    /// The server's streaming replicas; `None` for SQLite or when the server
    /// does not answer within `wait`.
    pub async fn replicas(&self, wait: Duration) -> Option<Vec<Replica>> {
        let ServerSpec::Postgres { options, .. } = &self.spec else {
            return None;
        };
        let ask = async {
            let mut conn = options.clone().database("postgres").connect().await?;
            let rows: Vec<Replica> = sqlx::query_as(
                "SELECT application_name::text AS name, host(client_addr) AS client,
                        state::text AS state, sync_state::text AS sync_state,
                        pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::bigint AS lag_bytes,
                        (extract(epoch FROM replay_lag) * 1000)::float8 AS replay_lag_ms
                 FROM pg_stat_replication ORDER BY application_name, pid",
            )
            .fetch_all(&mut conn)
            .await?;
            conn.close().await?;
            Ok::<_, sqlx::Error>(rows)
        };
        tokio::time::timeout(wait, ask).await.ok()?.ok()
    }
}
