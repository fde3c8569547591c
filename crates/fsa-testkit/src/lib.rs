//! Test support for fsa.
//!
//! # Layout
//! - [`TestDb`]: a uniquely named catalog database on the local PostgreSQL
//!   server (127.0.0.1:5432, or `FSA_TEST_PG_URL`); it and every placement
//!   database named after it are dropped at the end.
//! - [`local_pg_base`], [`PgCluster::base_url`]: a server's URL with the
//!   least-privileged login [`TEST_LOGIN`] (not a superuser), bootstrapped
//!   once per server as `fsa db bootstrap` does; the superuser's URL
//!   ([`local_pg_admin_base`], [`PgCluster::admin_url`]) is for that and for
//!   test-only administration.
//! - [`PgCluster`]: a throwaway PostgreSQL cluster of its own (initdb on a
//!   free port), for tests that need another server or one to stop.
//! - [`TestApp`]: the service running on port 0 over SQLite or PostgreSQL,
//!   with an HTTP client and helpers.
//! - [`s3`]: an S3 protocol server (moto) and a bucket of a test's own.
//! - [`files`]: multipart uploads as a client sends them; waiting for a move
//!   to end.
//! - [`store`]: a router over one server and a tenant onboarded on it, for
//!   the store's and the mover's own tests.

mod app;
mod cluster;
pub mod files;
mod login;
pub mod s3;
pub mod store;

pub use app::{Backend, Json, TestApp};
pub use cluster::PgCluster;
pub use login::{TEST_LOGIN, admin_base_for, least_privileged_base};

use sqlx::{Connection, Executor, PgConnection};

/// The local PostgreSQL server's base URL, without a database, with the
/// least-privileged login every service, CLI and app under test uses.
pub fn local_pg_base() -> String {
    login::least_privileged_base(&local_pg_admin_base())
}

/// The local PostgreSQL server's base URL as its superuser
/// (`FSA_TEST_PG_URL`, by default `postgres://postgres@127.0.0.1:5432`):
/// for the bootstrap and test-only administration (dropping leftovers,
/// tampering with roles), never for the code under test.
pub fn local_pg_admin_base() -> String {
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

    /// Drops the catalog and its placement databases, as the server's
    /// superuser (a test may hold connections of its own to them).
    pub async fn drop_all(base: &str, prefix: &str) -> anyhow::Result<()> {
        let admin = admin_base_for(base);
        let mut conn = PgConnection::connect(&format!("{admin}/postgres")).await?;
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

/// Waits until a child process stopped at a pause point (`FSA_MOVE_PAUSE_AT`
/// names it; the process writes `pause_file` there); fails if it exits
/// first (with its stderr) or never gets there.
pub async fn wait_for_pause(
    child: &mut std::process::Child,
    pause_file: &std::path::Path,
    point: &str,
) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !pause_file.exists() {
        if let Ok(Some(status)) = child.try_wait() {
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                use std::io::Read;
                let _ = e.read_to_string(&mut err);
            }
            panic!("the process exited ({status}) before reaching {point}: {err}");
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the process never reached {point}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

/// Starts `n` throwaway clusters side by side.
pub async fn clusters(n: usize) -> Vec<PgCluster> {
    let handles: Vec<_> = (0..n)
        .map(|_| tokio::task::spawn_blocking(PgCluster::start))
        .collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(
            h.await
                .expect("a cluster starts")
                .expect("a cluster starts"),
        );
    }
    out
}

/// A database server of the configuration, in `region`.
pub fn server(name: &str, region: &str, url: String) -> fsa_server::config::ServerConfig {
    fsa_server::config::ServerConfig {
        name: name.into(),
        region: fsa_core::Region::parse(region).expect("a region"),
        url: url.into(),
    }
}
