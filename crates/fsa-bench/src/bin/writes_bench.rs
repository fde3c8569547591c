//! Writes: creating work orders through the API, against the same SQL run
//! by `pgbench` on the same placement in the same run, at two tenant sizes
//! (the rate must not fall as the tenant grows: the plan's work-order limit
//! is checked on every create); and SQLite, the embedded default, under
//! concurrent writers (latency percentiles and errors).
//!
//! `cargo run --release -p fsa-bench --bin writes_bench -- --runs 3`
//!
//! Both sides connect to PostgreSQL the same way: the service's pools and
//! pgbench use `sslmode=disable` on 127.0.0.1 (`--sslmode` changes both).

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use clap::Parser;
use fsa_bench::pgbench;
use fsa_bench::stats::{median, percentile};
use fsa_testkit::{Backend, TestApp};
use serde_json::json;
use sqlx::Connection;

#[derive(Parser)]
struct Args {
    /// Work orders of the tenant at the first measurement.
    #[arg(long, default_value_t = 1_000)]
    small: i64,
    /// Work orders of the tenant at the second measurement.
    #[arg(long, default_value_t = 100_000)]
    large: i64,
    /// Concurrent API clients (and pgbench clients).
    #[arg(long, default_value_t = 8)]
    clients: usize,
    /// Concurrent writers on SQLite.
    #[arg(long, default_value_t = 16)]
    sqlite_writers: usize,
    /// Seconds per measurement.
    #[arg(long, default_value_t = 10)]
    secs: u64,
    /// Repetitions; the summary gives medians.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// sslmode of both the service's and pgbench's connections.
    #[arg(long, default_value = "disable")]
    sslmode: String,
    /// Skip the PostgreSQL part.
    #[arg(long)]
    skip_pg: bool,
    /// Skip the SQLite part.
    #[arg(long)]
    skip_sqlite: bool,
}

/// Latencies (ms) of successful creates, and the count of failures.
struct Load {
    ok: Vec<f64>,
    failed: u64,
    secs: f64,
}

impl Load {
    fn rps(&self) -> f64 {
        self.ok.len() as f64 / self.secs
    }
    fn pct(&self, p: f64) -> f64 {
        let mut v = self.ok.clone();
        v.sort_by(f64::total_cmp);
        percentile(&v, p * 100.0)
    }
}

/// `writers` clients creating work orders for `secs`.
async fn create_load(
    app: &Arc<TestApp>,
    token: &str,
    client: &str,
    writers: usize,
    secs: u64,
) -> anyhow::Result<Load> {
    let started = Instant::now();
    let until = started + Duration::from_secs(secs);
    let tasks: Vec<_> = (0..writers)
        .map(|w| {
            let (app, token, client) = (app.clone(), token.to_owned(), client.to_owned());
            tokio::spawn(async move {
                let (mut ok, mut failed, mut i) = (Vec::new(), 0u64, 0u64);
                while Instant::now() < until {
                    i += 1;
                    let t0 = Instant::now();
                    let (s, _) = app
                        .post(
                            "/api/v1/work-orders",
                            &token,
                            json!({"client_id": client, "title": format!("w{w} {i}"), "attributes": {"source": "bench"}}),
                        )
                        .await;
                    if s == 201 {
                        ok.push(t0.elapsed().as_secs_f64() * 1000.0);
                    } else {
                        failed += 1;
                    }
                }
                (ok, failed)
            })
        })
        .collect();
    let mut load = Load {
        ok: Vec::new(),
        failed: 0,
        secs: 0.0,
    };
    for t in tasks {
        let (ok, failed) = t.await?;
        load.ok.extend(ok);
        load.failed += failed;
    }
    load.secs = started.elapsed().as_secs_f64();
    Ok(load)
}

/// The service's create, as one pgbench transaction: the tenant's begin
/// (context, statement timeout, shared write lock, state check), the limit
/// check under the state row's lock, the client reference, the next number
/// and the insert.
fn create_script(tenant: &str, client: &str) -> String {
    format!(
        "BEGIN;
SELECT fsa_begin('{tenant}'::uuid, true, 30000);
SELECT 1 FROM tenant_state WHERE tenant_id = '{tenant}' FOR UPDATE;
SELECT used FROM tenant_usage WHERE tenant_id = '{tenant}' AND resource = 'work_orders';
SELECT 1 FROM clients WHERE tenant_id = '{tenant}' AND id = '{client}';
UPDATE tenant_state SET next_wo_number = next_wo_number + 1 WHERE tenant_id = '{tenant}' RETURNING next_wo_number - 1 AS num \\gset
INSERT INTO work_orders (tenant_id, id, number, client_id, title, status, priority, attributes, created_at, updated_at)
VALUES ('{tenant}', gen_random_uuid(), :num, '{client}', 'pgbench', 'open', 'normal', '{{\"source\": \"bench\"}}', now(), now()) RETURNING *;
COMMIT;
"
    )
}

/// Adds work orders to the tenant in one statement (triggers on: the usage
/// counter follows) until it holds `n`.
async fn grow(
    conn: &mut sqlx::PgConnection,
    tenant: uuid::Uuid,
    client: uuid::Uuid,
    n: i64,
) -> anyhow::Result<()> {
    let have: i64 = sqlx::query_scalar("SELECT count(*) FROM work_orders WHERE tenant_id = $1")
        .bind(tenant)
        .fetch_one(&mut *conn)
        .await?;
    if have >= n {
        return Ok(());
    }
    let mut tx = conn.begin().await?;
    let first: i64 = sqlx::query_scalar(
        "UPDATE tenant_state SET next_wo_number = next_wo_number + $2 WHERE tenant_id = $1 RETURNING next_wo_number - $2",
    )
    .bind(tenant)
    .bind(n - have)
    .fetch_one(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO work_orders (tenant_id, id, number, client_id, title, status, priority, created_at, updated_at)
         SELECT $1, gen_random_uuid(), $3 + g, $2, 'grown ' || g,
                (ARRAY['open','scheduled','in_progress','completed'])[1 + g % 4], 'normal', now(), now()
         FROM generate_series(0, $4 - 1) g",
    )
    .bind(tenant)
    .bind(client)
    .bind(first)
    .bind(n - have)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    sqlx::query("ANALYZE work_orders")
        .execute(&mut *conn)
        .await?;
    Ok(())
}

async fn postgres(args: &Args) -> anyhow::Result<()> {
    let pgbench = pgbench::pgbench_path().context("pgbench not found")?;
    let ssl = args.sslmode.clone();
    let app = Arc::new(
        TestApp::start_with(Backend::Postgres, |c| {
            c.limits.free.work_orders = Some(10_000_000);
            c.limits.free.requests_per_second = None;
            c.limits.free.concurrent_requests = None;
            c.limits.free.work_ms_per_second = None;
            // The catalog's server is the placements' server: its URL's
            // sslmode is every pool's.
            c.database_url = c
                .database_url
                .take()
                .map(|u| format!("{}?sslmode={ssl}", u.expose()).into());
        })
        .await?,
    );
    let t = app.create_tenant("writer", "free", "default").await;
    let tenant: uuid::Uuid = t["id"].as_str().unwrap_or_default().parse()?;
    let db = t["placement"]["database"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let url = format!(
        "{}/{db}?sslmode={}",
        fsa_testkit::local_pg_base(),
        args.sslmode
    );
    let mut conn = sqlx::PgConnection::connect(&url).await?;
    let token = app.login_admin("writer").await;
    let (s, c) = app
        .post("/api/v1/clients", &token, json!({"name": "Bench Client"}))
        .await;
    ensure!(s == 201, "client: {c}");
    let client = c["id"].as_str().unwrap_or_default().to_owned();
    let script = std::env::temp_dir().join(format!("fsa-writes-{}.sql", uuid::Uuid::new_v4()));
    std::fs::write(&script, create_script(&tenant.to_string(), &client))?;

    let mut rows = Vec::new();
    for size in [args.small, args.large] {
        let mut api = Vec::new();
        let mut raw = Vec::new();
        let mut p99 = Vec::new();
        for run in 1..=args.runs {
            grow(&mut conn, tenant, client.parse()?, size).await?;
            let l = create_load(&app, &token, &client, args.clients, args.secs).await?;
            ensure!(l.failed == 0, "{} creates failed", l.failed);
            grow(&mut conn, tenant, client.parse()?, size).await?;
            let r = pgbench::run(&pgbench, &script, &url, args.clients, 2, args.secs)
                .await?
                .tps;
            println!(
                "  {size} work orders, run {run}: API {:.0} creates/s (p50 {:.1} ms, p99 {:.1} ms), pgbench {:.0}/s, ratio {:.2}",
                l.rps(),
                l.pct(0.5),
                l.pct(0.99),
                r,
                l.rps() / r
            );
            api.push(l.rps());
            raw.push(r);
            p99.push(l.pct(0.99));
        }
        rows.push((size, median(&api), median(&raw), median(&p99)));
    }
    let _ = std::fs::remove_file(&script);
    println!(
        "creates, PostgreSQL, {} clients, sslmode={}, work-order limit checked on each:",
        args.clients, args.sslmode
    );
    for (size, api, raw, p99) in &rows {
        println!(
            "  at {size:>7} work orders: API {api:.0}/s, pgbench {raw:.0}/s, ratio {:.2} (target >= 0.6), API p99 {p99:.1} ms",
            api / raw
        );
    }
    if let [(_, a, _, _), (_, b, _, _)] = rows[..] {
        println!(
            "  API rate at the large size / at the small size: {:.2} (target: within 20%)",
            b / a
        );
    }
    match Arc::try_unwrap(app) {
        Ok(app) => app.stop().await,
        Err(_) => anyhow::bail!("the app is still shared"),
    }
    Ok(())
}

async fn sqlite(args: &Args) -> anyhow::Result<()> {
    let mut p99s = Vec::new();
    let mut p50s = Vec::new();
    let mut rates = Vec::new();
    let mut failed = 0;
    for run in 1..=args.runs {
        let app = Arc::new(
            TestApp::start_with(Backend::Sqlite, |c| {
                c.limits.free.work_orders = Some(10_000_000);
                c.limits.free.requests_per_second = None;
                c.limits.free.concurrent_requests = None;
                c.limits.free.work_ms_per_second = None;
            })
            .await?,
        );
        app.create_tenant("writer", "free", "default").await;
        let token = app.login_admin("writer").await;
        let (s, c) = app
            .post("/api/v1/clients", &token, json!({"name": "Bench Client"}))
            .await;
        ensure!(s == 201, "client: {c}");
        let client = c["id"].as_str().unwrap_or_default().to_owned();
        let l = create_load(&app, &token, &client, args.sqlite_writers, args.secs).await?;
        println!(
            "  run {run}: {:.0} creates/s, p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms, {} failed",
            l.rps(),
            l.pct(0.5),
            l.pct(0.99),
            l.pct(1.0),
            l.failed
        );
        p99s.push(l.pct(0.99));
        p50s.push(l.pct(0.5));
        rates.push(l.rps());
        failed += l.failed;
        match Arc::try_unwrap(app) {
            Ok(app) => app.stop().await,
            Err(_) => anyhow::bail!("the app is still shared"),
        }
    }
    println!(
        "creates, SQLite, {} writers: {:.0}/s, p50 {:.1} ms, p99 {:.1} ms (target < 50 ms), {failed} failed (target 0); medians of {} runs",
        args.sqlite_writers,
        median(&rates),
        median(&p50s),
        median(&p99s),
        args.runs
    );
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if !args.skip_sqlite {
        sqlite(&args).await?;
    }
    if !args.skip_pg {
        postgres(&args).await?;
    }
    Ok(())
}
