//! The benchmark library of fsa: the service as a subprocess and an HTTP
//! load driver ([`api`]), CPU accounting ([`cpu`]), statement latency at the
//! database ([`dblat`]), synthetic fleets ([`load`]), `pgbench` as the
//! baseline ([`pgbench`]) and summaries ([`stats`]). The `fsa-bench` binary
//! and each `src/bin/*_bench.rs` are thin drivers over it; results are
//! recorded in `docs/BENCHMARKS.md`.

use std::path::PathBuf;

use sqlx::{Connection, Executor, PgConnection};

pub mod api;
pub mod cpu;
pub mod dblat;
pub mod load;
pub mod observe;
pub mod pgbench;
pub mod stats;

/// The first executable called `name` on PATH.
pub fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    })
}

/// The URL without its password, for printing.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let cred = &url[s + 3..at];
            match cred.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..s + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// Drops every database whose name starts with `prefix`.
pub async fn drop_all(base: &str, prefix: &str) -> anyhow::Result<usize> {
    let mut conn = PgConnection::connect(&format!("{base}/postgres")).await?;
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT datname::text FROM pg_database WHERE starts_with(datname::text, $1)",
    )
    .bind(prefix)
    .fetch_all(&mut conn)
    .await?;
    for n in &names {
        conn.execute(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            fsa_store::server::quote_ident(n)
        )))
        .await?;
    }
    conn.close().await?;
    Ok(names.len())
}

#[cfg(test)]
mod tests {
    #[test]
    fn redacts_passwords() {
        assert_eq!(
            super::redact("postgres://u:secret@h:5432"),
            "postgres://u:***@h:5432"
        );
        assert_eq!(
            super::redact("postgres://postgres@127.0.0.1:5432"),
            "postgres://postgres@127.0.0.1:5432"
        );
    }
}
