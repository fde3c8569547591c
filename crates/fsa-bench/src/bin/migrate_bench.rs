//! Schema migrations across a fleet: `fsa db migrate`'s runner over N SQLite
//! and M PostgreSQL placements, each with a populated `clients` table, against
//! a sequential loop of the same statements through `sqlite3` and `psql`,
//! in the same run. The migration is realistic: a column and an index on the
//! populated table. Each round adds its own column (the runner's as a new
//! migration version, the loop's under another name), the order alternating;
//! the ratio is the runner's time over the loop's, median of the rounds.
//!
//! Then creating a PostgreSQL placement from the template database against
//! creating it and running every migration.
//!
//! `cargo run --release -p fsa-bench --bin migrate_bench -- --sqlite 1000 --postgres 300`

use std::process::Command;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use clap::Parser;
use fsa_app::schema::{MigrateOptions, Quiet, migrate_fleet};
use fsa_core::{Plan, Region, TenantId};
use fsa_store::catalog::{NewTenant, Placement};
use fsa_store::db::Pool;
use fsa_store::schema::MigrationSet;
use fsa_store::server::{ServerSpec, create_pg_database};
use fsa_testkit::{Backend, PgCluster, TestApp};
use futures::StreamExt;

#[derive(Parser)]
struct Args {
    /// SQLite placements.
    #[arg(long, default_value_t = 1000)]
    sqlite: usize,
    /// PostgreSQL placements.
    #[arg(long, default_value_t = 300)]
    postgres: usize,
    /// Rows in each placement's `clients` table.
    #[arg(long, default_value_t = 2000)]
    rows: i64,
    /// Rounds of (runner, loop).
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// The runner's `--concurrency`.
    #[arg(long, default_value_t = 4)]
    concurrency: usize,
    /// PostgreSQL placements created each way for the template comparison.
    #[arg(long, default_value_t = 20)]
    creations: usize,
}

const PG_FILL: &str = "INSERT INTO clients (tenant_id, id, name, email, created_at, updated_at)
    SELECT $1, gen_random_uuid(), 'Client ' || g, 'c' || g || '@example.test', now(), now()
    FROM generate_series(1, $2) g";
const SQLITE_FILL: &str =
    "WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < $2)
    INSERT INTO clients (tenant_id, id, name, email, created_at, updated_at)
    SELECT $1, randomblob(16), 'Client ' || n, 'c' || n || '@example.test',
        '2026-01-01T00:00:00.000000Z', '2026-01-01T00:00:00.000000Z' FROM g";

fn statements(column: &str) -> String {
    format!(
        "ALTER TABLE clients ADD COLUMN {column} text; \
         CREATE INDEX clients_{column}_idx ON clients (tenant_id, {column});"
    )
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let cluster = tokio::task::spawn_blocking(PgCluster::start).await??;
    let base = cluster.base_url();
    let lite_dir = tempfile::tempdir()?;
    let lite_url = format!("sqlite://{}", lite_dir.path().display());
    let app = TestApp::start_with(Backend::Postgres, |c| {
        c.servers = vec![
            fsa_server::config::ServerConfig {
                name: "pg".into(),
                region: Region::parse("EU").unwrap_or_else(|_| Region::default_region()),
                url: format!("{base}/postgres").into(),
            },
            fsa_server::config::ServerConfig {
                name: "lite".into(),
                region: Region::parse("US").unwrap_or_else(|_| Region::default_region()),
                url: lite_url.into(),
            },
        ];
    })
    .await?;
    let router = app.state.router.clone();

    eprintln!(
        "making {} SQLite and {} PostgreSQL placements of {} clients each…",
        args.sqlite, args.postgres, args.rows
    );
    let started = Instant::now();
    let wanted: Vec<(usize, &str)> = (0..args.postgres)
        .map(|i| (i, "EU"))
        .chain((0..args.sqlite).map(|i| (i, "US")))
        .collect();
    let made: Vec<anyhow::Result<()>> = futures::stream::iter(wanted)
        .map(|(i, region)| {
            let router = router.clone();
            async move {
                let t = NewTenant {
                    id: TenantId::generate(),
                    slug: format!("m-{}-{i}", region.to_lowercase()),
                    name: format!("Tenant {i}"),
                    plan: Plan::Enterprise,
                    region: Region::parse(region)?,
                    isolation_requested: false,
                };
                let (alloc, tx) = router.begin_onboarding(&t).await?;
                tx.commit().await?;
                router.activate(t.id).await?;
                let p = alloc.placement;
                let server = router
                    .servers()
                    .get(&p.server)
                    .ok_or_else(|| anyhow::anyhow!("no server {}", p.server))?;
                let pool = server.open_admin_connection_pool(&p.db_name).await?;
                match &pool {
                    Pool::Pg(c) => {
                        sqlx::query(PG_FILL)
                            .bind(t.id.as_uuid())
                            .bind(args.rows)
                            .execute(c)
                            .await?;
                    }
                    Pool::Sqlite(c) => {
                        sqlx::query(SQLITE_FILL)
                            .bind(t.id.as_uuid())
                            .bind(args.rows)
                            .execute(c)
                            .await?;
                    }
                }
                pool.close().await;
                Ok(())
            }
        })
        .buffer_unordered(4)
        .collect()
        .await;
    for r in made {
        r?;
    }
    eprintln!("made in {:.0} s", started.elapsed().as_secs_f64());

    let placements: Vec<Placement> = router
        .catalog()
        .placements()
        .await?
        .into_iter()
        .map(|p| p.placement)
        .filter(|p| p.state == fsa_core::PlacementState::Ready)
        .collect();
    let files: Vec<String> = placements
        .iter()
        .filter(|p| p.server == "lite")
        .map(|p| format!("{}/{}.db", lite_dir.path().display(), p.db_name))
        .collect();
    let pg_dbs: Vec<String> = placements
        .iter()
        .filter(|p| p.server == "pg")
        .map(|p| p.db_name.clone())
        .collect();
    // The catalog's default server (the local PostgreSQL) holds any other
    // placement; the loop covers it too, so both sides do the same work.
    let other: Vec<&Placement> = placements
        .iter()
        .filter(|p| p.server != "lite" && p.server != "pg")
        .collect();
    let local = fsa_testkit::local_pg_base();

    let mut set = MigrationSet::binary();
    let first = set.latest() + 1;
    let mut ratios = Vec::new();
    let stop = AtomicBool::new(false);
    for round in 0..args.rounds {
        let version = first + round as i64;
        let ours = statements(&format!("fleet_{round}"));
        let theirs = statements(&format!("loop_{round}"));
        set = set.with(version, &format!("bench column {round}"), &ours, &ours);
        let mut fleet = Duration::ZERO;
        let mut looped = Duration::ZERO;
        for side in [round % 2, 1 - round % 2] {
            let t = Instant::now();
            if side == 0 {
                let r = migrate_fleet(
                    &app.state.app,
                    &set,
                    MigrateOptions {
                        concurrency: args.concurrency,
                        canary: 0,
                        dry_run: false,
                    },
                    &Quiet,
                    &stop,
                )
                .await?;
                anyhow::ensure!(r.complete(), "the runner failed: {:?}", r.failed);
                anyhow::ensure!(r.migrated == placements.len(), "migrated {}", r.migrated);
                fleet = t.elapsed();
            } else {
                let (files, pg_dbs, base, theirs) =
                    (files.clone(), pg_dbs.clone(), base.clone(), theirs.clone());
                let others: Vec<String> = other.iter().map(|p| p.db_name.clone()).collect();
                let local = local.clone();
                tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
                    for f in &files {
                        let s = Command::new("sqlite3").arg(f).arg(&theirs).status()?;
                        anyhow::ensure!(s.success(), "sqlite3 {f}");
                    }
                    for (b, db) in pg_dbs
                        .iter()
                        .map(|d| (&base, d))
                        .chain(others.iter().map(|d| (&local, d)))
                    {
                        let s = Command::new("psql")
                            .args(["-X", "-q", "-v", "ON_ERROR_STOP=1"])
                            .arg(format!("{b}/{db}"))
                            .args(["-c", &theirs])
                            .status()?;
                        anyhow::ensure!(s.success(), "psql {db}");
                    }
                    Ok(())
                })
                .await??;
                looped = t.elapsed();
            }
        }
        let ratio = fleet.as_secs_f64() / looped.as_secs_f64();
        println!(
            "round {round}: fsa db migrate (concurrency {}) {:.2} s, sequential sqlite3/psql loop {:.2} s, ratio {ratio:.3}",
            args.concurrency,
            fleet.as_secs_f64(),
            looped.as_secs_f64()
        );
        ratios.push(ratio);
    }
    println!(
        "migrate {} SQLite + {} PostgreSQL placements: median ratio {:.3} (target <= 0.5)",
        files.len(),
        pg_dbs.len() + other.len(),
        median(ratios)
    );

    // A new placement: copied from the template, or made and migrated.
    let server = router
        .servers()
        .get("pg")
        .ok_or_else(|| anyhow::anyhow!("no pg server"))?
        .clone();
    let ServerSpec::Postgres { options, .. } = &server.spec else {
        anyhow::bail!("pg is not PostgreSQL");
    };
    let (mut from_template, mut from_migrations) = (Vec::new(), Vec::new());
    for i in 0..args.creations {
        let a = server.db_name_for(&format!("bench-template-{i}"));
        let t = Instant::now();
        server.provision(&a, uuid::Uuid::now_v7()).await?;
        from_template.push(t.elapsed().as_secs_f64() * 1000.0);
        let b = server.db_name_for(&format!("bench-migrations-{i}"));
        let t = Instant::now();
        create_pg_database(options, &b).await?;
        server.migrate(&b).await?;
        from_migrations.push(t.elapsed().as_secs_f64() * 1000.0);
        server.drop_database(&a).await?;
        server.drop_database(&b).await?;
    }
    let (tm, mm) = (median(from_template), median(from_migrations));
    println!(
        "new PostgreSQL placement: from the template {tm:.0} ms, from migrations {mm:.0} ms (median of {}), ratio {:.2}",
        args.creations,
        tm / mm
    );
    app.stop().await;
    drop(cluster);
    Ok(())
}
