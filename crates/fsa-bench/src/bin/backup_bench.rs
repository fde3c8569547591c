//! A backup and a restore of one tenant against `pg_dump -Fc` and
//! `pg_restore` of a database that holds only that tenant, in one run.
//!
//! An enterprise tenant (its own database) gets N work orders, 2 tasks each,
//! N/50 clients (rows only: file objects are copied as they are, a cost of
//! the store, not of the format). Each run times `fsa backup` of it (rows to
//! gzip'd JSON lines with their checksums, to a local backup store) against
//! `pg_dump -Fc` of its database, then the restore of that backup as a new
//! tenant (a new database provisioned, the rows loaded, read back and
//! checked against the manifest) against `CREATE DATABASE` + `pg_restore`
//! of the dump. Ratios are fsa's time over the tool's (≤ 1.0: fsa is as
//! fast or faster).
//!
//! `cargo run --release -p fsa-bench --bin backup_bench -- --work-orders 1000000 --runs 3`

use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, bail};
use clap::Parser;
use fsa_app::Onboarding;
use fsa_core::Plan;
use fsa_move::NoProgress;
use sqlx::{Connection, Executor, PgConnection};

#[derive(Parser)]
struct Args {
    #[arg(long, default_value_t = 1_000_000)]
    work_orders: i64,
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// A PostgreSQL server URL that may create databases (the tools run
    /// with it too).
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432")]
    pg_url: String,
    /// Where pg_dump and pg_restore are.
    #[arg(long, default_value = "/usr/lib/postgresql/15/bin")]
    pg_bin: String,
}

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// Loads the tenant's rows straight into its database, as the rows the
/// service writes would be (row versions from the database's counter).
async fn load(url: &str, tenant: uuid::Uuid, n: i64) -> anyhow::Result<()> {
    let mut c = PgConnection::connect(url).await?;
    let clients = (n / 50).max(1);
    c.execute("SET session_replication_role = replica").await?;
    sqlx::query(
        "INSERT INTO clients (tenant_id, id, name, email, phone, address, created_at, updated_at, row_version)
         SELECT $1, gen_random_uuid(), 'Client ' || g, 'client' || g || '@example.com', '+1555' || g,
                g || ' Main Street', now(), now(), nextval('fsa_row_version')
         FROM generate_series(1, $2) g",
    )
    .bind(tenant)
    .bind(clients)
    .execute(&mut c)
    .await?;
    sqlx::query(
        "INSERT INTO work_orders (tenant_id, id, number, client_id, title, description, status, priority,
                                  created_at, updated_at, attributes, row_version)
         SELECT $1, gen_random_uuid(), 1000 + g, c.id, 'Work order ' || g,
                'Service visit for unit ' || g || ': inspect, clean and report.',
                (ARRAY['open','scheduled','in_progress','completed'])[1 + g % 4],
                (ARRAY['low','normal','high','urgent'])[1 + (g / 7) % 4],
                now() - make_interval(mins => (g % 525600)::int), now(), '{}', nextval('fsa_row_version')
         FROM generate_series(1, $2) g
         JOIN (SELECT id, row_number() OVER (ORDER BY id) - 1 AS k FROM clients WHERE tenant_id = $1) c
           ON c.k = g % $3",
    )
    .bind(tenant)
    .bind(n)
    .bind(clients)
    .execute(&mut c)
    .await?;
    sqlx::query(
        "INSERT INTO tasks (tenant_id, id, work_order_id, title, status, position, created_at, updated_at, row_version)
         SELECT w.tenant_id, gen_random_uuid(), w.id, 'Step ' || p, 'todo', p, w.created_at, w.updated_at,
                nextval('fsa_row_version')
         FROM work_orders w CROSS JOIN generate_series(1, 2) p WHERE w.tenant_id = $1",
    )
    .bind(tenant)
    .execute(&mut c)
    .await?;
    c.execute("SET session_replication_role = DEFAULT").await?;
    // The load ran with triggers off: the usage counters are set from it.
    fsa_store::repo::usage::recount_pg(&mut c, tenant).await?;
    sqlx::query("UPDATE tenant_state SET next_wo_number = 1000 + $2 + 1 WHERE tenant_id = $1")
        .bind(tenant)
        .bind(n)
        .execute(&mut c)
        .await?;
    c.execute("VACUUM ANALYZE").await?;
    c.close().await?;
    Ok(())
}

async fn tool(bin: &str, args: &[&str]) -> anyhow::Result<f64> {
    let started = Instant::now();
    let out = tokio::process::Command::new(bin)
        .args(args)
        .output()
        .await
        .with_context(|| format!("running {bin}"))?;
    if !out.status.success() {
        bail!("{bin}: {}", String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(started.elapsed().as_secs_f64())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let a = Args::parse();
    let dir = tempfile::tempdir()?;
    let catalog = format!("fsa_bb_{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let config = fsa_app::config::Config {
        data_dir: dir.path().to_path_buf(),
        database_url: Some(format!("{}/{catalog}", a.pg_url).into()),
        ..Default::default()
    };
    let result = run(&a, &config, dir.path()).await;
    // Every database this run made starts with the catalog's name.
    let mut admin = PgConnection::connect(&format!("{}/postgres", a.pg_url)).await?;
    let names: Vec<String> =
        sqlx::query_scalar("SELECT datname FROM pg_database WHERE datname LIKE $1 || '%'")
            .bind(&catalog)
            .fetch_all(&mut admin)
            .await?;
    for n in names {
        admin
            .execute(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS \"{n}\" WITH (FORCE)"
            )))
            .await?;
    }
    result
}

async fn run(
    a: &Args,
    config: &fsa_app::config::Config,
    dir: &std::path::Path,
) -> anyhow::Result<()> {
    let (app, _) = fsa_app::open(config).await?;
    let t = app
        .create_tenant(Onboarding {
            slug: "big".into(),
            name: "Big".into(),
            plan: Plan::Enterprise,
            region: None,
            admin_email: "admin@big.example".into(),
            admin_password: "a long bench password".into(),
            isolation_requested: false,
        })
        .await?;
    let db = t.placement.database.clone();
    let db_url = format!("{}/{db}", a.pg_url);
    let started = Instant::now();
    load(&db_url, t.id, a.work_orders).await?;
    println!(
        "loaded {} work orders ({} rows) into {db} in {:.0} s",
        a.work_orders,
        a.work_orders * 3 + a.work_orders / 50 + 1,
        started.elapsed().as_secs_f64()
    );
    let dump = dir.join("tenant.dump");
    let dump_s = dump.to_string_lossy().to_string();
    let (pg_dump, pg_restore) = (
        format!("{}/pg_dump", a.pg_bin),
        format!("{}/pg_restore", a.pg_bin),
    );
    let (mut backup_r, mut size_r, mut restore_r) = (Vec::new(), Vec::new(), Vec::new());
    for run in 1..=a.runs {
        let started = Instant::now();
        let b = app.backup_now("big", "bench", Arc::new(NoProgress)).await?;
        let backup_s = started.elapsed().as_secs_f64();
        let fsa_bytes = b.size_bytes.unwrap_or(0) as f64;
        let dump_time = tool(&pg_dump, &["-Fc", "-f", &dump_s, "-d", &db_url]).await?;
        let dump_bytes = std::fs::metadata(&dump)?.len() as f64;

        let started = Instant::now();
        app.restore_as(b.id, &format!("big-copy-{run}"), Arc::new(NoProgress))
            .await?;
        let restore_s = started.elapsed().as_secs_f64();
        let target = format!("{db}_r{run}");
        let started = Instant::now();
        let mut admin = PgConnection::connect(&format!("{}/postgres", a.pg_url)).await?;
        admin
            .execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{target}\"")))
            .await?;
        admin.close().await?;
        tool(
            &pg_restore,
            &["-d", &format!("{}/{target}", a.pg_url), &dump_s],
        )
        .await?;
        let pg_restore_s = started.elapsed().as_secs_f64();

        println!(
            "run {run}: backup {backup_s:.2} s, {:.1} MB | pg_dump -Fc {dump_time:.2} s, {:.1} MB | \
             restore as new tenant {restore_s:.2} s | CREATE DATABASE + pg_restore {pg_restore_s:.2} s",
            fsa_bytes / 1e6,
            dump_bytes / 1e6
        );
        backup_r.push(backup_s / dump_time);
        size_r.push(fsa_bytes / dump_bytes);
        restore_r.push(restore_s / pg_restore_s);
    }
    println!(
        "median of {}: backup time / pg_dump time {:.2} (target <= 1.0); size / dump size {:.2}; \
         restore time / pg_restore time {:.2} (target <= 1.0)",
        a.runs,
        median(&backup_r),
        median(&size_r),
        median(&restore_r)
    );
    app.router().close().await;
    Ok(())
}
