//! 1,000 dedicated databases on one PostgreSQL server under a connection
//! budget of 100: requests spread over every tenant through the HTTP API.
//! Prints throughput, p50/p99 latency, pool opens per second, failures, and
//! the server's peak connection count.
//!
//! `cargo run --release -p fsa-bench --bin fleet_bench -- --tenants 1000 --budget 100 --secs 30`

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use fsa_testkit::{Backend, PgCluster, TestApp};
use futures::StreamExt;

#[derive(Parser)]
struct Args {
    #[arg(long, default_value_t = 1000)]
    tenants: usize,
    #[arg(long, default_value_t = 100)]
    budget: u32,
    #[arg(long, default_value_t = 30)]
    secs: u64,
    #[arg(long, default_value_t = 32)]
    workers: usize,
    /// Connections per dedicated pool.
    #[arg(long, default_value_t = 2)]
    pool_max: u32,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let cluster = tokio::task::spawn_blocking(PgCluster::start).await??;
    let base = cluster.base_url();
    let app = Arc::new(
        TestApp::start_with(Backend::Postgres, |c| {
            c.servers = vec![fsa_server::config::ServerConfig {
                name: "fleet".into(),
                region: fsa_core::Region::parse("US")
                    .unwrap_or_else(|_| fsa_core::Region::default_region()),
                url: format!("{base}/postgres").into(),
            }];
            c.connection_budget = args.budget;
            c.budget_wait_secs = 30.0;
            c.pools.dedicated.max_connections = args.pool_max;
            c.pools.dedicated.min_connections = 0;
        })
        .await?,
    );
    let prefix = app.db.as_ref().map(|d| d.name.clone()).unwrap_or_default();
    eprintln!(
        "onboarding {} enterprise tenants (a database each)…",
        args.tenants
    );
    let started = Instant::now();
    let slugs: Vec<String> = (0..args.tenants).map(|i| format!("fleet-{i:04}")).collect();
    let tokens: Vec<String> = futures::stream::iter(slugs)
        .map(|slug| {
            let app = app.clone();
            async move {
                app.create_tenant(&slug, "enterprise", "US").await;
                app.login_admin(&slug).await
            }
        })
        .buffered(4)
        .collect()
        .await;
    eprintln!("onboarded in {:.0} s", started.elapsed().as_secs_f64());

    let stop = Arc::new(AtomicBool::new(false));
    let peak = Arc::new(AtomicU64::new(0));
    let watcher = {
        let (stop, peak, prefix, url) = (
            stop.clone(),
            peak.clone(),
            prefix.clone(),
            format!("{base}/postgres"),
        );
        tokio::spawn(async move {
            use sqlx::Connection;
            let Ok(mut conn) = sqlx::PgConnection::connect(&url).await else {
                return;
            };
            while !stop.load(Ordering::Relaxed) {
                if let Ok(n) = sqlx::query_scalar::<_, i64>(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname LIKE $1 || '%' AND pid <> pg_backend_pid()",
                )
                .bind(&prefix)
                .fetch_one(&mut conn)
                .await
                {
                    peak.fetch_max(n as u64, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    let opened_before = app.state.router.pool_stats().opened_total;
    let failed = Arc::new(AtomicU64::new(0));
    let tokens = Arc::new(tokens);
    let until = Instant::now() + Duration::from_secs(args.secs);
    let workers: Vec<_> = (0..args.workers)
        .map(|w| {
            let (app, tokens, failed) = (app.clone(), tokens.clone(), failed.clone());
            tokio::spawn(async move {
                let mut lat = Vec::new();
                let mut x = (w as u64 + 1) * 0x9E37_79B9_7F4A_7C15;
                while Instant::now() < until {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    let t = &tokens[(x % tokens.len() as u64) as usize];
                    let t0 = Instant::now();
                    let (s, _) = app.get("/api/v1/work-orders?limit=20", t).await;
                    lat.push(t0.elapsed().as_secs_f64() * 1000.0);
                    if s != 200 {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
                lat
            })
        })
        .collect();
    let mut lat: Vec<f64> = Vec::new();
    for w in workers {
        lat.extend(w.await?);
    }
    stop.store(true, Ordering::Relaxed);
    watcher.await?;
    lat.sort_by(f64::total_cmp);
    let pct = |p: f64| {
        lat.get(((lat.len() as f64 - 1.0) * p).round() as usize)
            .copied()
            .unwrap_or(0.0)
    };
    let stats = app.state.router.pool_stats();
    let opens = stats.opened_total - opened_before;
    println!(
        "fleet: {} dedicated databases, budget {} connections, {} workers, {} s",
        args.tenants, args.budget, args.workers, args.secs
    );
    println!(
        "  requests      {} ({:.0} req/s), failed {}",
        lat.len(),
        lat.len() as f64 / args.secs as f64,
        failed.load(Ordering::Relaxed)
    );
    println!(
        "  latency       p50 {:.2} ms, p99 {:.2} ms",
        pct(0.50),
        pct(0.99)
    );
    println!(
        "  pool opens    {} ({:.1} per s), evictions {}",
        opens,
        opens as f64 / args.secs as f64,
        stats.evicted_total
    );
    println!(
        "  peak server connections {} (budget {})",
        peak.load(Ordering::Relaxed),
        args.budget
    );
    match Arc::try_unwrap(app) {
        Ok(app) => app.stop().await,
        Err(_) => anyhow::bail!("app still shared"),
    }
    drop(cluster);
    Ok(())
}
