//! The online tenant move against a raw pipe of the same rows, in one run.
//!
//! A tenant of N work orders (≈ 3.1 × N rows) is bulk-loaded into the shared
//! placement; each run pipes its rows with binary `COPY … TO STDOUT` →
//! `COPY … FROM STDIN` into a scratch database of the same schema (the
//! baseline), then moves it with the mover (shared ↔ dedicated) and prints
//! the ratio of the two rates. Then the fence (the write pause) is measured
//! over several moves of a 1,000-work-order tenant and of the big one, with
//! 8 writers driving the tenant through the HTTP API.
//!
//! `cargo run --release -p fsa-bench --bin move_bench -- --work-orders 1000000 --runs 3 --fence-samples 20`

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use fsa_core::PlacementKind;
use fsa_move::rows::{ClientRow, FileRow, PersonnelRow, TableRow, TaskRow, UserRow, WorkOrderRow};
use fsa_move::{MoveRequest, Mover, Report, Target};
use fsa_store::{Router, Ts};
use futures::StreamExt;
use serde_json::json;
use sqlx::{Connection, Executor, PgConnection};
use uuid::Uuid;

#[derive(Parser, Clone)]
struct Args {
    /// Work orders of the big tenant (2 tasks each, a file for every 10th).
    #[arg(long, default_value_t = 1_000_000)]
    work_orders: i64,
    /// Clients of the big tenant.
    #[arg(long, default_value_t = 20_000)]
    clients: i64,
    /// Measured moves of the big tenant (each with its own pipe baseline).
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Moves of the 1,000-work-order tenant under load, for the fence.
    #[arg(long, default_value_t = 20)]
    fence_samples: usize,
    /// Moves of the big tenant under load, for the fence (each is a full move).
    #[arg(long, default_value_t = 2)]
    big_fence_samples: usize,
    /// Concurrent HTTP writers during the fence measurements.
    #[arg(long, default_value_t = 8)]
    writers: usize,
    /// Skip the `psql | psql` shell pipe.
    #[arg(long)]
    skip_psql: bool,
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432")]
    pg_url: String,
}

const EMAIL: &str = "admin@bench.example";
const PASSWORD: &str = "bench-password-1";

fn pct(v: &[f64], p: f64) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return f64::NAN;
    }
    let rank = ((p * v.len() as f64).ceil() as usize).clamp(1, v.len());
    v[rank - 1]
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

/// Loads a tenant's rows directly (as the superuser, past row-level
/// security): clients, work orders, 2 tasks per work order, a file for every
/// 10th, a few personnel.
async fn load_tenant(
    conn: &mut PgConnection,
    tenant: Uuid,
    n_wo: i64,
    n_clients: i64,
    verbose: bool,
) -> anyhow::Result<()> {
    let started = Instant::now();
    // Rows consistent by construction: no foreign-key checks or triggers
    // (row_version is set here as the trigger would).
    conn.execute("SET session_replication_role = replica")
        .await?;
    sqlx::query(
        "INSERT INTO clients (tenant_id, id, name, contact_name, email, phone, address, created_at, updated_at, row_version)
         SELECT $1, gen_random_uuid(), 'Client ' || g, 'Contact ' || g, 'client' || g || '@example.com',
                '+1555' || lpad(g::text, 7, '0'), g || ' Main Street, Springfield',
                now() - make_interval(days => (g % 365)::int), now(), nextval('fsa_row_version')
         FROM generate_series(1, $2) g",
    )
    .bind(tenant)
    .bind(n_clients)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "INSERT INTO personnel (tenant_id, id, name, email, skills, created_at, updated_at, row_version)
         SELECT $1, gen_random_uuid(), 'Tech ' || g, 'tech' || g || '@example.com', '[\"hvac\"]', now(), now(),
                nextval('fsa_row_version')
         FROM generate_series(1, 20) g",
    )
    .bind(tenant)
    .execute(&mut *conn)
    .await?;
    conn.execute("DROP TABLE IF EXISTS mb_clients").await?;
    sqlx::query(
        "CREATE TEMP TABLE mb_clients AS
         SELECT (row_number() OVER (ORDER BY id)) - 1 AS n, id FROM clients WHERE tenant_id = $1",
    )
    .bind(tenant)
    .execute(&mut *conn)
    .await?;
    conn.execute("ALTER TABLE mb_clients ADD PRIMARY KEY (n)")
        .await?;
    conn.execute("ANALYZE mb_clients").await?;
    let chunk = 100_000i64;
    let mut lo = 1i64;
    while lo <= n_wo {
        let hi = (lo + chunk - 1).min(n_wo);
        sqlx::query(
            "INSERT INTO work_orders (tenant_id, id, number, client_id, title, description, status, priority,
                                      due_date, created_at, updated_at, attributes, row_version)
             SELECT $1, gen_random_uuid(), 1000 + g, c.id, 'Work order ' || g,
                    'Service visit for unit ' || g || ': inspect, clean and report.',
                    (ARRAY['open','scheduled','in_progress','on_hold','completed','cancelled'])[1 + g % 6],
                    (ARRAY['low','normal','high','urgent'])[1 + (g / 7) % 4],
                    (now() - make_interval(mins => (g % 525600)::int) + interval '14 days')::date,
                    now() - make_interval(mins => (g % 525600)::int),
                    now() - make_interval(mins => (g % 525600)::int),
                    '{}', nextval('fsa_row_version')
             FROM generate_series($2::bigint, $3::bigint) g
             JOIN mb_clients c ON c.n = g % $4",
        )
        .bind(tenant)
        .bind(lo)
        .bind(hi)
        .bind(n_clients)
        .execute(&mut *conn)
        .await?;
        conn.execute("ANALYZE work_orders").await?;
        sqlx::query(
            "INSERT INTO tasks (tenant_id, id, work_order_id, title, status, position, created_at, updated_at, row_version)
             SELECT w.tenant_id, gen_random_uuid(), w.id, 'Step ' || p || ' of ' || w.title,
                    (ARRAY['todo','in_progress','done'])[1 + (w.number + p) % 3], p, w.created_at, w.updated_at,
                    nextval('fsa_row_version')
             FROM work_orders w CROSS JOIN generate_series(1, 2) p
             WHERE w.tenant_id = $1 AND w.number BETWEEN 1000 + $2 AND 1000 + $3",
        )
        .bind(tenant)
        .bind(lo)
        .bind(hi)
        .execute(&mut *conn)
        .await?;
        sqlx::query(
            "INSERT INTO file_metadata (tenant_id, id, work_order_id, file_type, file_name, size_bytes, content_type,
                                        storage_key, sha256, created_at, updated_at, row_version)
             SELECT w.tenant_id, gen_random_uuid(), w.id, 'photo', 'photo-' || w.number || '.jpg', 100000 + w.number % 5000,
                    'image/jpeg', 'files/' || w.id, md5(w.id::text) || md5(w.title), w.created_at, w.updated_at,
                    nextval('fsa_row_version')
             FROM work_orders w
             WHERE w.tenant_id = $1 AND w.number BETWEEN 1000 + $2 AND 1000 + $3 AND w.number % 10 = 0",
        )
        .bind(tenant)
        .bind(lo)
        .bind(hi)
        .execute(&mut *conn)
        .await?;
        if verbose {
            println!(
                "  loaded {hi}/{n_wo} work orders ({:.0} s)",
                started.elapsed().as_secs_f64()
            );
        }
        lo = hi + 1;
    }
    conn.execute("DROP TABLE mb_clients").await?;
    conn.execute("SET session_replication_role = DEFAULT")
        .await?;
    // The load ran with triggers off: the usage counters are set from it.
    fsa_store::repo::usage::recount_pg(&mut *conn, tenant).await?;
    sqlx::query(
        "UPDATE tenant_state SET next_wo_number = (SELECT coalesce(max(number), 999) + 1 FROM work_orders WHERE tenant_id = $1)
         WHERE tenant_id = $1",
    )
    .bind(tenant)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

async fn tenant_rows(conn: &mut PgConnection, tenant: Uuid) -> anyhow::Result<i64> {
    let mut n = 0i64;
    for table in fsa_move::rows::TABLES {
        let c: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT count(*) FROM {table} WHERE tenant_id = $1"
        )))
        .bind(tenant)
        .fetch_one(&mut *conn)
        .await?;
        n += c;
    }
    Ok(n)
}

async fn pipe_table<R: TableRow>(
    src: &mut PgConnection,
    dst: &mut PgConnection,
    tenant: Uuid,
) -> anyhow::Result<(u64, u64)> {
    let mut out = src
        .copy_out_raw(&format!(
            "COPY (SELECT {} FROM {} WHERE tenant_id = '{tenant}') TO STDOUT (FORMAT binary)",
            R::COLUMN_LIST,
            R::TABLE
        ))
        .await?;
    let mut into = dst
        .copy_in_raw(&format!(
            "COPY {} ({}) FROM STDIN (FORMAT binary)",
            R::TABLE,
            R::COLUMN_LIST
        ))
        .await?;
    let mut bytes = 0u64;
    while let Some(chunk) = out.next().await {
        let chunk = chunk?;
        bytes += chunk.len() as u64;
        into.send(chunk).await?;
    }
    let rows = into.finish().await?;
    Ok((rows, bytes))
}

/// The baseline: every table of the tenant through binary COPY, source to
/// scratch, one table after the other (the mover's order).
async fn pipe(src_url: &str, dst_url: &str, tenant: Uuid) -> anyhow::Result<(u64, u64, f64)> {
    let mut src = PgConnection::connect(src_url).await?;
    let mut dst = PgConnection::connect(dst_url).await?;
    let started = Instant::now();
    let mut rows = 0;
    let mut bytes = 0;
    for (r, b) in [
        pipe_table::<UserRow>(&mut src, &mut dst, tenant).await?,
        pipe_table::<ClientRow>(&mut src, &mut dst, tenant).await?,
        pipe_table::<PersonnelRow>(&mut src, &mut dst, tenant).await?,
        pipe_table::<WorkOrderRow>(&mut src, &mut dst, tenant).await?,
        pipe_table::<TaskRow>(&mut src, &mut dst, tenant).await?,
        pipe_table::<FileRow>(&mut src, &mut dst, tenant).await?,
    ] {
        rows += r;
        bytes += b;
    }
    let secs = started.elapsed().as_secs_f64();
    src.close().await?;
    dst.close().await?;
    Ok((rows, bytes, secs))
}

fn psql_table<R: TableRow>(src_url: &str, dst_url: &str, tenant: Uuid) -> String {
    format!(
        "psql -X -q -v ON_ERROR_STOP=1 -d '{src_url}' -c \"COPY (SELECT {cols} FROM {t} WHERE tenant_id = '{tenant}') TO STDOUT (FORMAT binary)\" \
         | psql -X -q -v ON_ERROR_STOP=1 -d '{dst_url}' -c \"COPY {t} ({cols}) FROM STDIN (FORMAT binary)\"",
        cols = R::COLUMN_LIST,
        t = R::TABLE
    )
}

async fn psql_pipe(src_url: &str, dst_url: &str, tenant: Uuid) -> anyhow::Result<f64> {
    let script = [
        psql_table::<UserRow>(src_url, dst_url, tenant),
        psql_table::<ClientRow>(src_url, dst_url, tenant),
        psql_table::<PersonnelRow>(src_url, dst_url, tenant),
        psql_table::<WorkOrderRow>(src_url, dst_url, tenant),
        psql_table::<TaskRow>(src_url, dst_url, tenant),
        psql_table::<FileRow>(src_url, dst_url, tenant),
    ]
    .join("\n");
    let started = Instant::now();
    let out = tokio::process::Command::new("bash")
        .arg("-c")
        .arg(format!("set -eo pipefail\n{script}"))
        .output()
        .await
        .context("running psql")?;
    let secs = started.elapsed().as_secs_f64();
    if !out.status.success() {
        bail!(
            "psql pipe failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(secs)
}

struct MoveOutcome {
    report: Report,
    rows: u64,
    to_switch_ms: f64,
    total_ms: f64,
    from: String,
    to: String,
}

async fn placement_of(
    router: &Router,
    slug: &str,
) -> anyhow::Result<fsa_store::catalog::Placement> {
    let catalog = router.catalog();
    let t = catalog
        .tenant_by_slug(slug)
        .await?
        .with_context(|| format!("no tenant {slug}"))?;
    catalog
        .placement(t.placement_id)
        .await?
        .with_context(|| format!("tenant {slug} has no placement"))
}

/// Moves the tenant to the other side (shared ↔ dedicated), cleanup at once.
async fn move_once(router: &Arc<Router>, slug: &str) -> anyhow::Result<MoveOutcome> {
    let from = placement_of(router, slug).await?;
    let to = if from.kind == PlacementKind::Shared {
        PlacementKind::Dedicated
    } else {
        PlacementKind::Shared
    };
    let mover = Mover::new(router.clone());
    let tenant = router
        .catalog()
        .tenant_by_slug(slug)
        .await?
        .with_context(|| format!("no tenant {slug}"))?;
    let wall0 = chrono::Utc::now();
    let started = Instant::now();
    let m = mover
        .plan(
            &tenant,
            MoveRequest {
                to: Target::Kind(to),
                region: None,
                cleanup_after: Duration::ZERO,
                requested_by: "bench".into(),
                reason: "bench".into(),
                plan_after: None,
            },
        )
        .await?;
    let done = mover.run(m.id).await?;
    let total_ms = started.elapsed().as_secs_f64() * 1000.0;
    if done.state != "done" {
        bail!(
            "move {} ended {}: {}",
            done.id,
            done.state,
            done.error.as_deref().unwrap_or("")
        );
    }
    let report: Report = done.report.clone();
    let to_switch_ms = done
        .switched_at
        .map(|Ts(s)| (s - wall0).num_microseconds().unwrap_or(0) as f64 / 1000.0)
        .unwrap_or(f64::NAN);
    let rows = report.tables.values().map(|t| t.rows).sum();
    let to_p = placement_of(router, slug).await?;
    Ok(MoveOutcome {
        report,
        rows,
        to_switch_ms,
        total_ms,
        from: format!("{} ({})", from.kind, from.db_name),
        to: format!("{} ({})", to_p.kind, to_p.db_name),
    })
}

#[derive(Default)]
struct WriterStats {
    ok: AtomicU64,
    non2xx: AtomicU64,
    errors5xx: AtomicU64,
    transport: AtomicU64,
    /// Longest request, in microseconds.
    max_us: AtomicU64,
    slow_100ms: AtomicU64,
}

async fn login(http: &reqwest::Client, base: &str, slug: &str) -> anyhow::Result<String> {
    let res = http
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"tenant": slug, "email": EMAIL, "password": PASSWORD}))
        .send()
        .await?;
    let status = res.status();
    let body: serde_json::Value = res.json().await?;
    body["token"]
        .as_str()
        .map(str::to_owned)
        .with_context(|| format!("login of {slug} failed: {status} {body}"))
}

async fn writer(
    http: reqwest::Client,
    base: String,
    token: String,
    clients: Arc<Vec<String>>,
    w: usize,
    stop: Arc<AtomicBool>,
    stats: Arc<WriterStats>,
) {
    let mut mine: Vec<String> = Vec::new();
    let mut i = 0usize;
    while !stop.load(Ordering::Relaxed) {
        i += 1;
        let started = Instant::now();
        let req = match (i + w) % 3 {
            0 => http
                .post(format!("{base}/api/v1/work-orders"))
                .json(&json!({
                    "client_id": clients[(i * 7 + w) % clients.len()],
                    "title": format!("writer {w} job {i}"),
                })),
            1 if !mine.is_empty() => http
                .patch(format!(
                    "{base}/api/v1/work-orders/{}",
                    mine[(i / 3) % mine.len()]
                ))
                .json(&json!({"title": format!("writer {w} edit {i}")})),
            _ => http.get(format!("{base}/api/v1/work-orders?limit=5")),
        };
        let is_create = (i + w).is_multiple_of(3);
        match req.bearer_auth(&token).send().await {
            Ok(res) => {
                let status = res.status();
                let body = res.bytes().await;
                let us = started.elapsed().as_micros() as u64;
                stats.max_us.fetch_max(us, Ordering::Relaxed);
                if us > 100_000 {
                    stats.slow_100ms.fetch_add(1, Ordering::Relaxed);
                }
                if status.is_success() {
                    stats.ok.fetch_add(1, Ordering::Relaxed);
                    if is_create
                        && let Ok(b) = body
                        && let Ok(v) = serde_json::from_slice::<serde_json::Value>(&b)
                        && let Some(id) = v["id"].as_str()
                    {
                        mine.push(id.to_owned());
                    }
                } else {
                    stats.non2xx.fetch_add(1, Ordering::Relaxed);
                    if status.is_server_error() {
                        stats.errors5xx.fetch_add(1, Ordering::Relaxed);
                    }
                    if stats.non2xx.load(Ordering::Relaxed) <= 5 {
                        let text = body
                            .map(|b| String::from_utf8_lossy(&b).into_owned())
                            .unwrap_or_default();
                        eprintln!("  writer {w}: {status} {text}");
                    }
                }
            }
            Err(e) => {
                stats.transport.fetch_add(1, Ordering::Relaxed);
                eprintln!("  writer {w}: transport error {e}");
            }
        }
    }
}

/// Moves a tenant back and forth `samples` times under HTTP writers; prints
/// and returns the fence times.
async fn fence_phase(
    router: &Arc<Router>,
    base: &str,
    slug: &str,
    samples: usize,
    writers: usize,
) -> anyhow::Result<Vec<f64>> {
    let http = reqwest::Client::new();
    let token = login(&http, base, slug).await?;
    let res = http
        .get(format!("{base}/api/v1/clients?limit=50"))
        .bearer_auth(&token)
        .send()
        .await?;
    let body: serde_json::Value = res.json().await?;
    let clients: Vec<String> = body["items"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|c| c["id"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    if clients.is_empty() {
        bail!("tenant {slug} has no clients: {body}");
    }
    let clients = Arc::new(clients);
    let stop = Arc::new(AtomicBool::new(false));
    let stats = Arc::new(WriterStats::default());
    let tasks: Vec<_> = (0..writers)
        .map(|w| {
            tokio::spawn(writer(
                http.clone(),
                base.to_owned(),
                token.clone(),
                clients.clone(),
                w,
                stop.clone(),
                stats.clone(),
            ))
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let started = Instant::now();
    let mut fences = Vec::new();
    let mut result = Ok(());
    for i in 0..samples {
        match move_once(router, slug).await {
            Ok(o) => {
                let r = &o.report;
                println!(
                    "  {slug} move {}: {} -> {}: fence {} ms (lock {} + delta {} + commit {} + switch {}; delta {} rows), catch-up {} passes / {} rows, copy {} ms, verify {} ms, to switch {:.0} ms",
                    i + 1,
                    o.from,
                    o.to,
                    r.fence_ms,
                    r.fence_steps.lock_ms,
                    r.fence_steps.delta_ms,
                    r.fence_steps.commit_ms,
                    r.fence_steps.switch_ms,
                    r.fence_delta_rows,
                    r.catch_up_passes,
                    r.catch_up_rows,
                    r.copy_ms,
                    r.verify_ms,
                    o.to_switch_ms
                );
                fences.push(r.fence_ms as f64);
            }
            Err(e) => {
                result = Err(e);
                break;
            }
        }
    }
    let secs = started.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await?;
    }
    result?;
    let ok = stats.ok.load(Ordering::Relaxed);
    println!(
        "  {slug}: fence p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms over {} moves (target p99 < 100 ms: {})",
        pct(&fences, 0.5),
        pct(&fences, 0.99),
        pct(&fences, 1.0),
        fences.len(),
        if pct(&fences, 0.99) < 100.0 {
            "met"
        } else {
            "MISSED"
        }
    );
    println!(
        "  {slug}: writers: {ok} ok ({:.0}/s), {} non-2xx, {} 5xx, {} transport errors; longest request {:.0} ms, {} requests > 100 ms",
        ok as f64 / secs,
        stats.non2xx.load(Ordering::Relaxed),
        stats.errors5xx.load(Ordering::Relaxed),
        stats.transport.load(Ordering::Relaxed),
        stats.max_us.load(Ordering::Relaxed) as f64 / 1000.0,
        stats.slow_100ms.load(Ordering::Relaxed)
    );
    Ok(fences)
}

async fn onboard(app: &fsa_app::App, slug: &str) -> anyhow::Result<fsa_app::TenantView> {
    app.create_tenant(fsa_app::Onboarding {
        slug: slug.into(),
        name: format!("Bench {slug}"),
        plan: fsa_core::Plan::Free,
        region: None,
        admin_email: EMAIL.into(),
        admin_password: PASSWORD.into(),
        isolation_requested: false,
    })
    .await
    .map_err(|e| anyhow::anyhow!("onboarding {slug}: {e:?}"))
}

async fn run(
    args: &Args,
    base: &str,
    name: &str,
    data_dir: &std::path::Path,
) -> anyhow::Result<()> {
    let mut config = fsa_server::config::Config {
        database_url: Some(format!("{base}/{name}").into()),
        admin_token: Some(fsa_server::config::random_secret().into()),
        jwt_secret: Some(fsa_server::config::random_secret().into()),
        data_dir: data_dir.to_owned(),
        ..Default::default()
    };
    for l in [
        &mut config.limits.free,
        &mut config.limits.basic,
        &mut config.limits.premium,
        &mut config.limits.enterprise,
    ] {
        l.requests_per_second = None;
        l.concurrent_requests = None;
        l.work_ms_per_second = None;
        l.work_orders = None;
        l.clients = None;
    }
    let (state, _) = fsa_server::build_state(config).await?;
    let router = state.router.clone();
    let result = bench(args, base, name, &state).await;
    router.close().await;
    result
}

async fn bench(
    args: &Args,
    base: &str,
    name: &str,
    state: &fsa_server::state::AppState,
) -> anyhow::Result<()> {
    let router = state.router.clone();
    let big = onboard(&state.app, "big").await?;
    let shared_db = big.placement.database.clone();
    println!(
        "catalog {name}; tenant `big` on {} placement {shared_db}",
        big.placement.kind
    );
    let mut conn = PgConnection::connect(&format!("{base}/{shared_db}")).await?;
    for i in 0..3 {
        let n = onboard(&state.app, &format!("neighbour-{i}")).await?;
        load_tenant(&mut conn, n.id, 50, 10, false).await?;
    }
    let small = onboard(&state.app, "small").await?;
    load_tenant(&mut conn, small.id, 1000, 50, false).await?;
    println!(
        "loading `big`: {} work orders, {} clients…",
        args.work_orders, args.clients
    );
    let started = Instant::now();
    load_tenant(&mut conn, big.id, args.work_orders, args.clients, true).await?;
    conn.execute("VACUUM ANALYZE").await?;
    let big_rows = tenant_rows(&mut conn, big.id).await?;
    conn.close().await?;
    println!(
        "loaded `big`: {big_rows} rows ({:.2} × work orders) in {:.0} s",
        big_rows as f64 / args.work_orders.max(1) as f64,
        started.elapsed().as_secs_f64()
    );

    // Throughput: pipe baseline and move, per run.
    let admin_server = fsa_store::server::Server::from_url(
        "x",
        fsa_core::Region::default_region(),
        &fsa_store::url::DbUrl::new(format!("{base}/postgres")),
        "",
    )?;
    let mut copy_ratios = Vec::new();
    let mut switch_ratios = Vec::new();
    let mut pipe_rates = Vec::new();
    let mut psql_rates = Vec::new();
    let mut copy_rates = Vec::new();
    let mut switch_rates = Vec::new();
    let mut verify_ms = Vec::new();
    for run in 1..=args.runs {
        let src = placement_of(&router, "big").await?;
        let scratch = format!("{name}_scratch");
        let scratch_id = uuid::Uuid::now_v7();
        admin_server.provision(&scratch, scratch_id).await?;
        let piped = pipe(
            &format!("{base}/{}", src.db_name),
            &format!("{base}/{scratch}"),
            big.id,
        )
        .await;
        admin_server.drop_database(&scratch).await?;
        let (prow, pbytes, psecs) = piped?;
        let prate = prow as f64 / psecs;
        println!(
            "run {run}: pipe (sqlx binary COPY) from {}: {prow} rows, {:.1} MB in {psecs:.2} s = {prate:.0} rows/s",
            src.db_name,
            pbytes as f64 / 1e6
        );
        pipe_rates.push(prate);
        if !args.skip_psql {
            admin_server.provision(&scratch, scratch_id).await?;
            let piped = psql_pipe(
                &format!("{base}/{}", src.db_name),
                &format!("{base}/{scratch}"),
                big.id,
            )
            .await;
            admin_server.drop_database(&scratch).await?;
            let secs = piped?;
            let rate = prow as f64 / secs;
            println!("run {run}: pipe (psql | psql): {secs:.2} s = {rate:.0} rows/s");
            psql_rates.push(rate);
        }
        let o = move_once(&router, "big").await?;
        let r = &o.report;
        let crate_ = o.rows as f64 / (r.copy_ms.max(1) as f64 / 1000.0);
        let srate = o.rows as f64 / (o.to_switch_ms / 1000.0);
        println!(
            "run {run}: move {} -> {}: {} rows, {:.1} MB (JSON); copy {} ms = {crate_:.0} rows/s; catch-up {} passes / {} rows; verify {} ms; fence {} ms; plan→switch {:.0} ms = {srate:.0} rows/s; with cleanup {:.0} ms",
            o.from,
            o.to,
            o.rows,
            r.bytes as f64 / 1e6,
            r.copy_ms,
            r.catch_up_passes,
            r.catch_up_rows,
            r.verify_ms,
            r.fence_ms,
            o.to_switch_ms,
            o.total_ms
        );
        println!(
            "run {run}: ratio copy/pipe {:.3}, to-switch/pipe {:.3} (target ≥ 0.7)",
            crate_ / prate,
            srate / prate
        );
        copy_ratios.push(crate_ / prate);
        switch_ratios.push(srate / prate);
        copy_rates.push(crate_);
        switch_rates.push(srate);
        verify_ms.push(r.verify_ms as f64);
    }
    if args.runs > 0 {
        println!(
            "medians over {} runs: pipe {:.0} rows/s{}; move copy {:.0} rows/s; move to switch {:.0} rows/s; verify {:.0} ms",
            args.runs,
            median(&pipe_rates),
            if psql_rates.is_empty() {
                String::new()
            } else {
                format!(" (psql|psql {:.0} rows/s)", median(&psql_rates))
            },
            median(&copy_rates),
            median(&switch_rates),
            median(&verify_ms)
        );
        let (c, s) = (median(&copy_ratios), median(&switch_ratios));
        println!(
            "median ratio copy/pipe {c:.3} ({}), to-switch/pipe {s:.3} ({}) — target ≥ 0.7",
            if c >= 0.7 { "met" } else { "MISSED" },
            if s >= 0.7 { "met" } else { "MISSED" }
        );
    }

    // The fence under load, through the real HTTP service.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let server = tokio::spawn(fsa_server::serve(
        listener,
        state.clone(),
        std::future::pending(),
    ));
    let http_base = format!("http://{addr}");
    let fenced = async {
        if args.fence_samples > 0 {
            println!(
                "fence under load: `small` (1000 work orders), {} moves, {} writers",
                args.fence_samples, args.writers
            );
            fence_phase(
                &router,
                &http_base,
                "small",
                args.fence_samples,
                args.writers,
            )
            .await?;
        }
        if args.big_fence_samples > 0 {
            println!(
                "fence under load: `big` ({} work orders), {} moves, {} writers",
                args.work_orders, args.big_fence_samples, args.writers
            );
            fence_phase(
                &router,
                &http_base,
                "big",
                args.big_fence_samples,
                args.writers,
            )
            .await?;
        }
        anyhow::Ok(())
    }
    .await;
    server.abort();
    fenced
}

async fn cleanup(base: &str, name: &str) -> anyhow::Result<Vec<String>> {
    let mut conn = PgConnection::connect(&format!("{base}/postgres")).await?;
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT datname FROM pg_database WHERE starts_with(datname, $1) ORDER BY datname",
    )
    .bind(name)
    .fetch_all(&mut conn)
    .await?;
    for db in &names {
        conn.execute(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS \"{db}\" WITH (FORCE)"
        )))
        .await?;
    }
    conn.close().await?;
    Ok(names)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let base = args.pg_url.trim_end_matches('/').to_owned();
    let name = format!("fsa_mb_{}", &Uuid::new_v4().simple().to_string()[..8]);
    let data_dir = std::env::temp_dir().join(&name);
    std::fs::create_dir_all(&data_dir)?;
    println!(
        "move bench: {} work orders, {} runs, {} + {} fence samples, {} writers",
        args.work_orders, args.runs, args.fence_samples, args.big_fence_samples, args.writers
    );
    let started = Instant::now();
    let result = run(&args, &base, &name, &data_dir).await;
    match cleanup(&base, &name).await {
        Ok(dropped) => println!("dropped {}", dropped.join(", ")),
        Err(e) => eprintln!("cleanup failed: {e:#}"),
    }
    let _ = std::fs::remove_dir_all(&data_dir);
    println!("total {:.0} s", started.elapsed().as_secs_f64());
    result
}
