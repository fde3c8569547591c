//! The work order list query at the database, run as the service runs it.

use std::time::Instant;

use anyhow::{Context, bail, ensure};
use fsa_store::repo::work_orders::WorkOrder;
use sqlx::{Connection, Executor, PgConnection};
use uuid::Uuid;

use crate::stats::Samples;

/// What the service runs before a read when its pooled session does not
/// already hold the tenant (`fsa_store::session::Session::enter`): sets the
/// session's tenant context and statement timeout and checks the state row.
pub const ENTER_SQL: &str = "SELECT fsa_session($1, $2)";

const COLS: &str = "id, number, client_id, title, description, status, held_from, priority, due_date, scheduled_start, scheduled_end, assigned_to, attributes, created_at, updated_at";

/// The list statement `fsa_store::repo::work_orders::list` builds for a
/// status filter, newest first, no cursor.
pub const LIST_SQL: &str = "SELECT id, number, client_id, title, description, status, held_from, priority, due_date, scheduled_start, scheduled_end, assigned_to, attributes, created_at, updated_at FROM work_orders WHERE tenant_id = $1 AND status = $2 ORDER BY created_at DESC, id DESC LIMIT $3";

/// The API's page size is 50; the repository asks for one more to know
/// whether there is a next page.
pub const LIMIT: i64 = 51;
pub const STATUS: &str = "open";

/// The free plan's statement timeout, as the service sets it per session.
const STATEMENT_TIMEOUT_MS: i32 = 5000;

/// The list statement with the tenant and status inlined (for pgbench and
/// EXPLAIN).
pub fn list_sql_literal(tenant: Uuid) -> String {
    format!(
        "SELECT {COLS} FROM work_orders WHERE tenant_id = '{tenant}' AND status = '{STATUS}' ORDER BY created_at DESC, id DESC LIMIT {LIMIT}"
    )
}

/// A pgbench script doing what the service's database does per list
/// request on a session that already holds the tenant: the list statement
/// alone, under row-level security (whose state check runs once per
/// statement). Run it as `fsa_app` with `fsa.tenant_id` set for the session.
pub fn service_shaped_script(tenant: Uuid) -> String {
    format!("{};\n", list_sql_literal(tenant))
}

/// Transactions committed or rolled back so far in each named database.
pub async fn xact_counts(
    server_url: &str,
    dbs: &[&str],
) -> anyhow::Result<std::collections::HashMap<String, i64>> {
    let mut conn = PgConnection::connect(&format!("{server_url}/postgres")).await?;
    let names: Vec<String> = dbs.iter().map(|s| (*s).to_owned()).collect();
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "SELECT datname::text, xact_commit + xact_rollback FROM pg_stat_database WHERE datname = ANY($1)",
    )
    .bind(&names)
    .fetch_all(&mut conn)
    .await?;
    conn.close().await?;
    Ok(rows.into_iter().collect())
}

/// A connection as the service's placement pool makes it: the superuser's
/// login, switched to the application role so row-level security applies.
pub async fn app_connection(placement_url: &str) -> anyhow::Result<PgConnection> {
    let mut conn = PgConnection::connect(placement_url)
        .await
        .context("connecting to the placement database")?;
    conn.execute("SET ROLE fsa_app").await?;
    Ok(conn)
}

/// Runs the list `iterations` times over `tenants` in turn, as the service
/// runs a read: the session's tenant context set first (`fsa_session`, which
/// the service skips when the session already holds the tenant), then the
/// list statement, which alone is timed (execute + fetch of all rows +
/// decoding into the service's `WorkOrder`). `warmup` untimed iterations go
/// first.
pub async fn measure(
    conn: &mut PgConnection,
    tenants: &[(Uuid, u64)],
    iterations: usize,
    warmup: usize,
) -> anyhow::Result<Samples> {
    ensure!(!tenants.is_empty(), "no tenants to measure");
    let mut samples = Samples::with_capacity(iterations);
    let mut entered = None;
    for i in 0..warmup + iterations {
        let (tenant, expected) = tenants[i % tenants.len()];
        if entered != Some(tenant) {
            sqlx::query(ENTER_SQL)
                .bind(tenant)
                .bind(STATEMENT_TIMEOUT_MS)
                .execute(&mut *conn)
                .await
                .with_context(|| format!("entering tenant {tenant}"))?;
            entered = Some(tenant);
        }
        let started = Instant::now();
        let rows: Vec<WorkOrder> = sqlx::query_as(LIST_SQL)
            .bind(tenant)
            .bind(STATUS)
            .bind(LIMIT)
            .fetch_all(&mut *conn)
            .await?;
        let elapsed = started.elapsed();
        let want = expected.min(LIMIT as u64) as usize;
        if rows.len() != want {
            bail!(
                "tenant {tenant}: list returned {} rows, expected {want}",
                rows.len()
            );
        }
        if i >= warmup {
            samples.push(elapsed);
        }
    }
    Ok(samples)
}

/// Open work orders per tenant, counted as the superuser.
pub async fn open_counts(
    placement_url: &str,
    tenants: &[Uuid],
) -> anyhow::Result<std::collections::HashMap<Uuid, u64>> {
    let mut conn = PgConnection::connect(placement_url).await?;
    let rows: Vec<(Uuid, i64)> = sqlx::query_as(
        "SELECT tenant_id, count(*) FROM work_orders WHERE tenant_id = ANY($1) AND status = 'open' GROUP BY tenant_id",
    )
    .bind(tenants)
    .fetch_all(&mut conn)
    .await?;
    conn.close().await?;
    Ok(rows.into_iter().map(|(t, n)| (t, n as u64)).collect())
}

/// EXPLAIN (ANALYZE, BUFFERS) of the list for `tenant`, as the application
/// role with the tenant's session context: once with literals (the plan a fresh
/// statement gets) and once as a prepared statement forced to its generic
/// plan (what a cached prepared statement may switch to after five runs).
pub async fn explain(conn: &mut PgConnection, tenant: Uuid) -> anyhow::Result<String> {
    let mut out = String::new();
    let mut tx = conn.begin().await?;
    sqlx::query(ENTER_SQL)
        .bind(tenant)
        .bind(STATEMENT_TIMEOUT_MS)
        .execute(&mut *tx)
        .await?;
    let custom: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "EXPLAIN (ANALYZE, BUFFERS) {}",
        list_sql_literal(tenant)
    )))
    .fetch_all(&mut *tx)
    .await?;
    out.push_str("-- custom plan (literals):\n");
    for l in custom {
        out.push_str(&l);
        out.push('\n');
    }
    tx.execute("SET LOCAL plan_cache_mode = force_generic_plan")
        .await?;
    tx.execute(sqlx::AssertSqlSafe(format!(
        "PREPARE bench_list(uuid, text, bigint) AS {LIST_SQL}"
    )))
    .await?;
    let generic: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "EXPLAIN (ANALYZE, BUFFERS) EXECUTE bench_list('{tenant}', '{STATUS}', {LIMIT})"
    )))
    .fetch_all(&mut *tx)
    .await?;
    tx.execute("DEALLOCATE bench_list").await?;
    tx.commit().await?;
    out.push_str("-- generic plan (prepared, plan_cache_mode = force_generic_plan):\n");
    for l in generic {
        out.push_str(&l);
        out.push('\n');
    }
    Ok(out)
}
