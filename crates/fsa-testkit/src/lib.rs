//! Test support for fsa.
//!
//! # Layout
//! - [`TestDb`]: a uniquely named catalog database on the local PostgreSQL
//!   server (127.0.0.1:5432, or `FSA_TEST_PG_URL`); it and every placement
//!   database named after it are dropped at the end.
//! - [`PgCluster`]: a throwaway PostgreSQL cluster of its own (initdb on a
//!   free port), for tests that need another server or one to stop.
//! - [`TestApp`]: the service running on port 0 over SQLite or PostgreSQL,
//!   with an HTTP client and helpers.
//! - [`s3`]: an S3 protocol server (moto) and a bucket of a test's own.
//! - [`store`]: a router over one server and a tenant onboarded on it, for
//!   the store's and the mover's own tests.

mod app;
mod cluster;
pub mod s3;
pub mod store;

pub use app::{Backend, Json, TestApp};
pub use cluster::PgCluster;

use sqlx::{Connection, Executor, PgConnection};

/// The local PostgreSQL server's base URL, without a database.
pub fn local_pg_base() -> String {
    std::env::var("FSA_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_owned())
}

/// A unique catalog database name on a PostgreSQL server; dropped (with
/// every database whose name starts with it) when this is dropped.
pub struct TestDb {
    pub base: String,
    pub name: String,
}

impl TestDb {
    pub fn new() -> Self {
        Self::on(local_pg_base())
    }

    pub fn on(base: String) -> Self {
        let id = uuid::Uuid::new_v4().simple().to_string();
        TestDb {
            base,
            name: format!("fsa_t_{}", &id[..12]),
        }
    }

    pub fn url(&self) -> String {
        format!("{}/{}", self.base, self.name)
    }

    /// Drops the catalog and its placement databases.
    pub async fn drop_all(base: &str, prefix: &str) -> anyhow::Result<()> {
        let mut conn = PgConnection::connect(&format!("{base}/postgres")).await?;
        let names: Vec<String> =
            sqlx::query_scalar("SELECT datname FROM pg_database WHERE datname LIKE $1 || '%'")
                .bind(prefix)
                .fetch_all(&mut conn)
                .await?;
        for n in names {
            conn.execute(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS \"{n}\" WITH (FORCE)"
            )))
            .await?;
        }
        conn.close().await?;
        Ok(())
    }
}

impl Default for TestDb {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let base = self.base.clone();
        let name = self.name.clone();
        // Drop runs inside or outside a runtime; a thread of its own works in both.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            rt.block_on(TestDb::drop_all(&base, &name)).ok()
        })
        .join();
    }
}
