//! Noisy neighbour: the small tenants' list p99 on a shared placement while
//! its largest tenant runs at full speed, as a ratio to the same p99 with it
//! idle, in one run — with the plan limits on (the product's defaults) and,
//! for contrast, off.
//!
//! `cargo run --release -p fsa-bench --bin noisy_bench -- --small 20 --big-work-orders 200000 --secs 15`

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use fsa_testkit::{Backend, TestApp};
use serde_json::json;
use sqlx::Connection;

#[derive(Parser)]
struct Args {
    #[arg(long, default_value_t = 20)]
    small: usize,
    #[arg(long, default_value_t = 1000)]
    small_work_orders: i64,
    #[arg(long, default_value_t = 200_000)]
    big_work_orders: i64,
    /// Seconds per phase.
    #[arg(long, default_value_t = 15)]
    secs: u64,
    /// Concurrent requests of the small tenants together.
    #[arg(long, default_value_t = 4)]
    small_workers: usize,
    /// Concurrent requests of the noisy tenant.
    #[arg(long, default_value_t = 16)]
    noisy_workers: usize,
    /// The noisy tenant's clients wait out `Retry-After` on a 429, as the
    /// problem asks, instead of retrying at once.
    #[arg(long)]
    honor_retry_after: bool,
}

async fn load(conn: &mut sqlx::PgConnection, tenant: uuid::Uuid, n: i64) -> anyhow::Result<()> {
    let client: uuid::Uuid = sqlx::query_scalar(
        "INSERT INTO clients (tenant_id, id, name, created_at, updated_at) VALUES ($1, gen_random_uuid(), 'Client', now(), now()) RETURNING id",
    )
    .bind(tenant)
    .fetch_one(&mut *conn)
    .await?;
    sqlx::query(
        "INSERT INTO work_orders (tenant_id, id, number, client_id, title, status, priority, created_at, updated_at)
         SELECT $1, gen_random_uuid(), 10000 + g, $2, 'job ' || g,
                (ARRAY['open','scheduled','in_progress','on_hold','completed','cancelled'])[1 + g % 6], 'normal',
                now() - make_interval(secs => g), now()
         FROM generate_series(1, $3) g",
    )
    .bind(tenant)
    .bind(client)
    .bind(n)
    .execute(&mut *conn)
    .await?;
    sqlx::query("UPDATE tenant_state SET next_wo_number = 10001 + $2 WHERE tenant_id = $1")
        .bind(tenant)
        .bind(n)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

fn p99(mut v: Vec<f64>) -> (f64, f64, usize) {
    v.sort_by(f64::total_cmp);
    let at = |p: f64| {
        v.get(((v.len() as f64 - 1.0) * p).round() as usize)
            .copied()
            .unwrap_or(0.0)
    };
    (at(0.5), at(0.99), v.len())
}

/// Small tenants' list latencies for `secs`, optionally with the noisy tenant busy.
async fn phase(
    app: &Arc<TestApp>,
    small: &Arc<Vec<String>>,
    noisy: Option<(&str, &str)>,
    args: &Args,
) -> anyhow::Result<(Vec<f64>, u64, u64)> {
    let backoff = args.honor_retry_after;
    let stop = Arc::new(AtomicBool::new(false));
    let noisy_ok = Arc::new(AtomicU64::new(0));
    let noisy_limited = Arc::new(AtomicU64::new(0));
    let mut noise = Vec::new();
    if let Some((token, client)) = noisy {
        for w in 0..args.noisy_workers {
            let (app, stop, ok, limited, token, client) = (
                app.clone(),
                stop.clone(),
                noisy_ok.clone(),
                noisy_limited.clone(),
                token.to_owned(),
                client.to_owned(),
            );
            noise.push(tokio::spawn(async move {
                let mut i = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    i += 1;
                    let (s, _) = if (i + w as u64).is_multiple_of(4) {
                        app.post(
                            "/api/v1/work-orders",
                            &token,
                            json!({"client_id": client, "title": "noise"}),
                        )
                        .await
                    } else {
                        app.get("/api/v1/work-orders?status=open&limit=200&q=job", &token)
                            .await
                    };
                    match s {
                        200 | 201 => {
                            ok.fetch_add(1, Ordering::Relaxed);
                        }
                        _ => {
                            limited.fetch_add(1, Ordering::Relaxed);
                            if backoff {
                                tokio::time::sleep(Duration::from_secs(1)).await;
                            }
                        }
                    }
                }
            }));
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    let until = Instant::now() + Duration::from_secs(args.secs);
    let workers: Vec<_> = (0..args.small_workers)
        .map(|w| {
            let (app, small) = (app.clone(), small.clone());
            tokio::spawn(async move {
                let mut lat = Vec::new();
                let mut i = w;
                while Instant::now() < until {
                    i += 7;
                    let t = &small[i % small.len()];
                    let t0 = Instant::now();
                    let (s, _) = app.get("/api/v1/work-orders?status=open&limit=50", t).await;
                    if s == 200 {
                        lat.push(t0.elapsed().as_secs_f64() * 1000.0);
                    }
                }
                lat
            })
        })
        .collect();
    let mut lat = Vec::new();
    for w in workers {
        lat.extend(w.await?);
    }
    stop.store(true, Ordering::Relaxed);
    for n in noise {
        n.await?;
    }
    Ok((
        lat,
        noisy_ok.load(Ordering::Relaxed),
        noisy_limited.load(Ordering::Relaxed),
    ))
}

async fn run(args: &Args, limits_on: bool) -> anyhow::Result<()> {
    let app = Arc::new(
        TestApp::start_with(Backend::Postgres, |c| {
            if limits_on {
                c.limits = fsa_core::Limits::default();
            }
            c.limits.basic.work_orders = None;
            c.limits.free.work_orders = None;
        })
        .await?,
    );
    let big = app.create_tenant("noisy", "basic", "default").await;
    let db = big["placement"]["database"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let mut conn =
        sqlx::PgConnection::connect(&format!("{}/{db}", fsa_testkit::local_pg_base())).await?;
    load(
        &mut conn,
        big["id"].as_str().unwrap_or_default().parse()?,
        args.big_work_orders,
    )
    .await?;
    let mut small = Vec::new();
    for i in 0..args.small {
        let slug = format!("small-{i:02}");
        let t = app.create_tenant(&slug, "free", "default").await;
        load(
            &mut conn,
            t["id"].as_str().unwrap_or_default().parse()?,
            args.small_work_orders,
        )
        .await?;
        small.push(app.login_admin(&slug).await);
    }
    sqlx::query("VACUUM ANALYZE").execute(&mut conn).await?;
    conn.close().await?;
    let noisy_token = app.login_admin("noisy").await;
    let (_, clients) = app.get("/api/v1/clients", &noisy_token).await;
    let client = clients["items"][0]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let small = Arc::new(small);

    let (idle, _, _) = phase(&app, &small, None, args).await?;
    let (busy, ok, limited) = phase(&app, &small, Some((&noisy_token, &client)), args).await?;
    let (i50, i99, n_idle) = p99(idle);
    let (b50, b99, n_busy) = p99(busy);
    println!(
        "plan limits {}{}",
        if limits_on { "ON (defaults)" } else { "OFF" },
        if args.honor_retry_after {
            ", noisy client honours Retry-After"
        } else {
            ", noisy client retries at once"
        }
    );
    println!("  small tenants idle neighbour: p50 {i50:.2} ms p99 {i99:.2} ms ({n_idle} requests)");
    println!("  small tenants busy neighbour: p50 {b50:.2} ms p99 {b99:.2} ms ({n_busy} requests)");
    println!(
        "  noisy tenant: {ok} requests served ({:.0}/s), {limited} refused (429)",
        ok as f64 / args.secs as f64
    );
    println!(
        "  ratio p99 busy/idle: {:.2} (target <= 1.5)",
        b99 / i99.max(f64::EPSILON)
    );
    match Arc::try_unwrap(app) {
        Ok(app) => app.stop().await,
        Err(_) => anyhow::bail!("app still shared"),
    }
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    println!(
        "noisy neighbour: {} small tenants x {} work orders and one of {} on one shared PostgreSQL placement; {} s per phase",
        args.small, args.small_work_orders, args.big_work_orders, args.secs
    );
    run(&args, true).await?;
    if !args.honor_retry_after {
        run(&args, false).await?;
    }
    Ok(())
}
