//! `fsa-bench`: benchmarks of fsa against raw baselines, run by hand.
//! Results are recorded in `docs/BENCHMARKS.md`.
//!
//! `fsa-bench list` fills one shared placement on the local PostgreSQL
//! server with skewed tenants, then measures the work order list: at the
//! database (p50/p99 of the exact statement, as the service runs it) and
//! through the HTTP API against `pgbench` running the same statement.
//!
//! `fsa-bench metrics`, `analytics` and `advisor` measure the cost of
//! `/metrics` on that list, analytics across databases in parallel against
//! one after another, and the advisor at 10,000 tenants.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, anyhow, ensure};
use clap::{Parser, Subcommand};
use sqlx::Connection;
use uuid::Uuid;

use fsa_bench::load::{Dataset, Sizes};
use fsa_bench::stats::{Summary, median, thousands};
use fsa_bench::{api, cpu, dblat, drop_all, load, observe, pgbench, redact};

#[derive(Parser)]
#[command(
    name = "fsa-bench",
    version,
    about = "Benchmarks of fsa against raw baselines"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Work order list on one shared placement: DB latency and API vs pgbench.
    List(ListArgs),
    /// The list through the API with /metrics counting on and off.
    Metrics(observe::MetricsArgs),
    /// Analytics across N databases: in parallel against one after another.
    Analytics(observe::AnalyticsArgs),
    /// The advisor's rules over a synthetic fleet of N tenants.
    Advisor(observe::AdvisorArgs),
}

#[derive(Debug, clap::Args)]
struct ListArgs {
    /// PostgreSQL server (superuser, no database); a fresh catalog database
    /// `fsa_bench_<random>` is made on it and dropped at the end.
    #[arg(
        long,
        env = "FSA_BENCH_PG_URL",
        default_value = "postgres://postgres@127.0.0.1:5432"
    )]
    pg_url: String,
    /// sslmode of both sides' connections to PostgreSQL: the service's
    /// pools and pgbench's.
    #[arg(long, default_value = "disable")]
    sslmode: String,
    /// Tenants on the shared placement (one large, the rest small).
    #[arg(long, default_value_t = 1_000)]
    tenants: u64,
    /// Work orders in all.
    #[arg(long, default_value_t = 3_000_000)]
    work_orders: u64,
    /// Work orders of the largest tenant.
    #[arg(long, default_value_t = 1_000_000)]
    largest: u64,
    /// Clients per tenant (work orders refer to them round robin).
    #[arg(long, default_value_t = 20)]
    clients_per_tenant: u64,
    /// Times to repeat the measurements (DB latency, API, pgbench) on the
    /// same data; the summary gives medians.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Timed list statements per group (small tenants; largest tenant) per run.
    #[arg(long, default_value_t = 2_000)]
    db_iterations: usize,
    /// Untimed list statements before each group.
    #[arg(long, default_value_t = 200)]
    db_warmup: usize,
    /// Small tenants the DB latency is sampled over (round robin).
    #[arg(long, default_value_t = 20)]
    small_sample: usize,
    /// HTTP connections and pgbench clients.
    #[arg(long, default_value_t = 8)]
    connections: usize,
    /// wrk threads and pgbench threads (-j).
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Seconds measured, for the API and for pgbench.
    #[arg(long, default_value_t = 15)]
    duration: u64,
    /// Seconds of untimed load before each measurement (API and pgbench).
    #[arg(long, default_value_t = 3)]
    warmup: u64,
    /// Tenants onboarded at once (each hashes an argon2 password).
    #[arg(long, default_value_t = 4)]
    onboard_concurrency: usize,
    /// Connections bulk-loading work orders at once.
    #[arg(long, default_value_t = 2)]
    load_concurrency: usize,
    /// HTTP load generator.
    #[arg(long, value_enum, default_value_t = api::Driver::Auto)]
    driver: api::Driver,
    /// The `fsa` binary to serve the API (default: `fsa` beside this binary,
    /// i.e. target/release/fsa).
    #[arg(long)]
    fsa_bin: Option<PathBuf>,
    /// The pgbench binary (default: on PATH, else PostgreSQL 15's).
    #[arg(long)]
    pgbench: Option<PathBuf>,
    /// Skip the diagnostic pgbench of the service's transaction shape.
    #[arg(long)]
    skip_diagnostics: bool,
    /// Keep the databases and the temporary folder (for a look afterwards).
    #[arg(long)]
    keep: bool,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Cmd::List(a) => list(a).await,
            Cmd::Metrics(a) => observe::metrics(a).await,
            Cmd::Analytics(a) => observe::analytics(a).await,
            Cmd::Advisor(a) => observe::advisor(a),
        }
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn list(args: ListArgs) -> anyhow::Result<()> {
    let sizes = Sizes {
        tenants: args.tenants,
        work_orders: args.work_orders,
        largest: args.largest,
        clients_per_tenant: args.clients_per_tenant,
    };
    sizes.check()?;
    ensure!(args.runs >= 1, "--runs must be at least 1");
    ensure!(args.connections >= 1, "--connections must be at least 1");
    let fsa_bin = match &args.fsa_bin {
        Some(p) => p.clone(),
        None => std::env::current_exe()?.with_file_name("fsa"),
    };
    let pgbench = match &args.pgbench {
        Some(p) => p.clone(),
        None => pgbench::pgbench_path().ok_or_else(|| anyhow!("pgbench not found"))?,
    };
    let base = args.pg_url.trim_end_matches('/').to_owned();
    let id = Uuid::new_v4().simple().to_string();
    let name = format!("fsa_bench_{}", &id[..12]);
    let dir = std::env::temp_dir().join(&name);
    std::fs::create_dir_all(&dir)?;
    println!(
        "catalog database: {name} on {}; sslmode={} for the service and pgbench",
        redact(&base),
        args.sslmode
    );
    println!("temporary folder: {}", dir.display());
    let result = tokio::select! {
        r = run_list(&args, sizes, &base, &name, &dir, &fsa_bin, &pgbench) => r,
        _ = tokio::signal::ctrl_c() => Err(anyhow!("interrupted")),
    };
    if args.keep {
        println!("kept databases {name}* and {}", dir.display());
    } else {
        match drop_all(&base, &name).await {
            Ok(n) => println!("dropped {n} databases named {name}*"),
            Err(e) => eprintln!("warning: could not drop databases {name}*: {e:#}"),
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
    result
}

struct RunResult {
    small: Summary,
    large: Summary,
    api: api::LoadResult,
    pg: pgbench::PgbenchResult,
    shaped: Option<pgbench::PgbenchResult>,
    api_cpu: cpu::CpuReport,
    pg_cpu: cpu::CpuReport,
}

impl RunResult {
    fn ratio(&self) -> f64 {
        self.api.rps / self.pg.tps
    }

    /// CPU µs per API request of the service, its database backends and
    /// the load generator.
    fn api_cpu_per_op(&self) -> Option<f64> {
        let v = self.api_cpu.measured();
        (v > 0.0).then(|| v * 1e6 / self.api.requests.max(1) as f64)
    }

    fn pg_cpu_per_op(&self) -> Option<f64> {
        let v = self.pg_cpu.measured();
        (v > 0.0).then(|| v * 1e6 / self.pg.transactions.max(1) as f64)
    }

    /// The ratio the CPU cost per operation predicts when the benchmark has
    /// the machine to itself (throughput ∝ 1 / CPU per operation): robust
    /// to other load on the machine, which the req/s ratio is not.
    fn cpu_ratio(&self) -> Option<f64> {
        Some(self.pg_cpu_per_op()? / self.api_cpu_per_op()?)
    }
}

async fn run_list(
    args: &ListArgs,
    sizes: Sizes,
    base: &str,
    name: &str,
    dir: &Path,
    fsa_bin: &Path,
    pgbench_bin: &Path,
) -> anyhow::Result<()> {
    // The service's pools connect with the catalog URL's sslmode.
    let catalog_url = format!("{base}/{name}?sslmode={}", args.sslmode);
    let admin_token = format!("bench-admin-{}", Uuid::new_v4().simple());
    let jwt_secret = format!("bench-jwt-{}", Uuid::new_v4().simple());

    // 1-2. Onboard through the service's own code, then bulk-load.
    println!(
        "\n== data: {} tenants, {} work orders, largest tenant {}",
        thousands(sizes.tenants),
        thousands(sizes.work_orders),
        thousands(sizes.largest)
    );
    let started = Instant::now();
    let config = fsa_server::config::Config {
        database_url: Some(catalog_url.clone().into()),
        admin_token: Some(admin_token.clone().into()),
        jwt_secret: Some(jwt_secret.clone().into()),
        data_dir: dir.join("onboarding"),
        ..Default::default()
    };
    let (state, _) = fsa_server::build_state(config).await?;
    let onboarded = load::onboard(&state, sizes, args.onboard_concurrency).await;
    let placement_db = match &onboarded {
        Ok(_) => {
            let placements = state.router.catalog().placements().await?;
            let shared: Vec<_> = placements
                .into_iter()
                .filter(|p| p.placement.kind == fsa_core::PlacementKind::Shared)
                .collect();
            ensure!(
                shared.len() == 1,
                "expected one shared placement, found {}",
                shared.len()
            );
            shared[0].placement.db_name.clone()
        }
        Err(_) => String::new(),
    };
    state.router.close().await;
    state.router.catalog().pool().close().await;
    drop(state);
    let tenants = onboarded?;
    println!(
        "  onboarded {} tenants onto {placement_db} in {:.1} s",
        tenants.len(),
        started.elapsed().as_secs_f64()
    );
    let data = Dataset {
        placement_db,
        tenants,
    };
    let placement_url = format!("{base}/{}", data.placement_db);
    load::bulk_load(
        &placement_url,
        &data.tenants,
        sizes.clients_per_tenant,
        args.load_concurrency,
    )
    .await?;
    println!("  data ready in {:.1} s", started.elapsed().as_secs_f64());

    // Who is measured.
    let small = data.small();
    let step = (small.len() / args.small_sample.clamp(1, small.len())).max(1);
    let sample: Vec<Uuid> = small
        .iter()
        .step_by(step)
        .take(args.small_sample.max(1))
        .map(|t| t.id)
        .collect();
    let api_tenant = &small[small.len() / 2];
    let largest = data.largest();
    let mut ids = sample.clone();
    ids.push(largest.id);
    ids.push(api_tenant.id);
    let open = dblat::open_counts(&placement_url, &ids).await?;
    let open_of = |t: &Uuid| open.get(t).copied().unwrap_or(0);
    let sample: Vec<(Uuid, u64)> = sample.iter().map(|t| (*t, open_of(t))).collect();
    let large = [(largest.id, open_of(&largest.id))];
    println!(
        "\n== measured: DB latency over {} small tenants (~{} work orders, ~{} open each) and the largest ({} work orders, {} open)",
        sample.len(),
        thousands(small[0].work_orders),
        thousands(sample.first().map(|s| s.1).unwrap_or(0)),
        thousands(largest.work_orders),
        thousands(large[0].1)
    );
    println!(
        "   API and pgbench: tenant {} ({} work orders, {} open)",
        api_tenant.slug,
        thousands(api_tenant.work_orders),
        thousands(open_of(&api_tenant.id))
    );

    let mut conn = dblat::app_connection(&placement_url).await?;
    let plan = dblat::explain(&mut conn, largest.id).await?;
    println!(
        "\n== EXPLAIN (ANALYZE, BUFFERS) of the list for the largest tenant (as fsa_app, after fsa_session):\n{plan}"
    );
    conn.close().await?;

    let script = dir.join("list.sql");
    std::fs::write(
        &script,
        format!("{};\n", dblat::list_sql_literal(api_tenant.id)),
    )?;
    let shaped_script = dir.join("list-service-tx.sql");
    std::fs::write(&shaped_script, dblat::service_shaped_script(api_tenant.id))?;
    let pgbench_url = format!(
        "{placement_url}?application_name=fsa-bench-pgbench&sslmode={}",
        args.sslmode
    );
    // Connects as the superuser and switches to the application role, as
    // the service's pool does, so row-level security applies.
    let pgbench_app_url = format!(
        "{pgbench_url}&options=-c%20role%3Dfsa_app%20-c%20fsa.tenant_id%3D{}",
        api_tenant.id
    );

    // 4. The service as a subprocess.
    let serve_dir = dir.join("serve");
    std::fs::create_dir_all(&serve_dir)?;
    let service = api::Service::start(api::ServiceSpec {
        bin: fsa_bin,
        catalog_url: &catalog_url,
        admin_token: &admin_token,
        jwt_secret: &jwt_secret,
        data_dir: &serve_dir,
        env: &[],
    })
    .await?;
    println!(
        "\n== service: {} serving on {}",
        fsa_bin.display(),
        service.base
    );
    let setup = Setup {
        args,
        service: &service,
        base,
        catalog_db: name,
        placement_db: &data.placement_db,
        placement_url: &placement_url,
        sample: &sample,
        large: &large,
        api_tenant,
        api_open: open_of(&api_tenant.id),
        pgbench_bin,
        script: &script,
        shaped_script: &shaped_script,
        pgbench_url: &pgbench_url,
        pgbench_app_url: &pgbench_app_url,
    };
    let measured = measure_runs(&setup).await;
    let problems = service.log_problems();
    let log_lines = service.log_tail(usize::MAX).lines().count();
    service.stop().await?;
    let runs = measured?;
    println!(
        "\nservice log: {log_lines} lines, {} at WARN/ERROR",
        problems.len()
    );
    for p in problems.iter().take(20) {
        println!("  {p}");
    }

    print_summary(args, sizes, &runs, largest.work_orders);
    Ok(())
}

/// What stays the same across runs.
struct Setup<'a> {
    args: &'a ListArgs,
    service: &'a api::Service,
    base: &'a str,
    catalog_db: &'a str,
    placement_db: &'a str,
    placement_url: &'a str,
    sample: &'a [(Uuid, u64)],
    large: &'a [(Uuid, u64)],
    api_tenant: &'a load::BenchTenant,
    api_open: u64,
    pgbench_bin: &'a Path,
    script: &'a Path,
    shaped_script: &'a Path,
    pgbench_url: &'a str,
    pgbench_app_url: &'a str,
}

impl Setup<'_> {
    fn classes(&self) -> cpu::Classes {
        cpu::Classes {
            service_pid: self.service.pid(),
            placement_db: self.placement_db.to_owned(),
            catalog_db: self.catalog_db.to_owned(),
        }
    }

    async fn xacts(&self) -> anyhow::Result<(i64, i64)> {
        // Backends report their counters when idle, at most once a second.
        tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
        let m = dblat::xact_counts(self.base, &[self.placement_db, self.catalog_db]).await?;
        Ok((
            m.get(self.placement_db).copied().unwrap_or(0),
            m.get(self.catalog_db).copied().unwrap_or(0),
        ))
    }

    async fn pgbench(
        &self,
        script: &Path,
        url: &str,
        secs: u64,
    ) -> anyhow::Result<pgbench::PgbenchResult> {
        pgbench::run(
            self.pgbench_bin,
            script,
            url,
            self.args.connections,
            self.args.threads,
            secs,
        )
        .await
    }
}

async fn measure_runs(s: &Setup<'_>) -> anyhow::Result<Vec<RunResult>> {
    let args = s.args;
    let token = s
        .service
        .login(
            &s.api_tenant.slug,
            &s.api_tenant.admin_email,
            load::PASSWORD,
        )
        .await
        .context("logging in")?;
    let page = s.api_open.min(50) as usize;
    s.service.probe(&token, page).await?;
    let drive = |secs| {
        api::drive(
            args.driver,
            &s.service.base,
            &token,
            args.connections,
            args.threads,
            secs,
        )
    };
    let mut runs = Vec::new();
    for run in 1..=args.runs {
        println!("\n== run {run}/{}", args.runs);
        // 3. DB-level latency.
        let mut conn = dblat::app_connection(s.placement_url).await?;
        let small = dblat::measure(&mut conn, s.sample, args.db_iterations, args.db_warmup)
            .await?
            .summary();
        println!("  db list, small tenants:  {small}");
        let large = dblat::measure(&mut conn, s.large, args.db_iterations, args.db_warmup)
            .await?
            .summary();
        println!("  db list, largest tenant: {large}");
        conn.close().await?;

        // 4. The API, then pgbench, on the same tenant.
        if args.warmup > 0 {
            drive(args.warmup).await?;
        }
        let x0 = s.xacts().await?;
        let sampler = cpu::Sampler::start(s.classes(), &["wrk", "pgbench"]);
        let api_r = drive(args.duration).await?;
        let api_cpu = sampler.finish();
        let x1 = s.xacts().await?;
        println!(
            "  api ({}): {} requests in {:.2} s = {:.1} req/s, {} not 200, client p50/p99 {} / {} ms",
            api_r.driver,
            thousands(api_r.requests),
            api_r.secs,
            api_r.rps,
            api_r.errors,
            fmt_opt(api_r.p50_ms),
            fmt_opt(api_r.p99_ms)
        );
        let per_req = |d: i64| d as f64 / api_r.requests.max(1) as f64;
        println!(
            "    transactions per request: placement db {:.2}, catalog db {:.3}",
            per_req(x1.0 - x0.0),
            per_req(x1.1 - x0.1)
        );
        println!("    {}", api_cpu.line(api_r.requests));
        ensure!(
            api_r.errors == 0,
            "{} API responses were not 200; service log tail:\n{}",
            api_r.errors,
            s.service.log_tail(20)
        );
        s.service.probe(&token, page).await?;

        if args.warmup > 0 {
            s.pgbench(s.script, s.pgbench_url, args.warmup).await?;
        }
        let sampler = cpu::Sampler::start(s.classes(), &["wrk", "pgbench"]);
        let pg = s.pgbench(s.script, s.pgbench_url, args.duration).await?;
        let pg_cpu = sampler.finish();
        println!(
            "  pgbench: {} transactions = {:.1} tps, {} failed, latency avg {} ms",
            thousands(pg.transactions),
            pg.tps,
            pg.failed,
            fmt_opt(pg.latency_avg_ms)
        );
        println!("    {}", pg_cpu.line(pg.transactions));
        ensure!(pg.failed == 0, "pgbench reported failed transactions");

        // Diagnostic: pgbench doing what the service's database does for a
        // read on a session that holds the tenant (the list as fsa_app,
        // under row-level security), i.e. the database's share of an API
        // request without HTTP and Rust.
        let shaped = if args.skip_diagnostics {
            None
        } else {
            let sampler = cpu::Sampler::start(s.classes(), &["wrk", "pgbench"]);
            let r = s
                .pgbench(s.shaped_script, s.pgbench_app_url, args.duration)
                .await?;
            let c = sampler.finish();
            println!(
                "  diagnostic pgbench, service's read (the list as fsa_app under row-level security): {:.1} tps, {} failed, latency avg {} ms",
                r.tps,
                r.failed,
                fmt_opt(r.latency_avg_ms)
            );
            println!("    {}", c.line(r.transactions));
            Some(r)
        };
        let r = RunResult {
            small,
            large,
            api: api_r,
            pg,
            shaped,
            api_cpu,
            pg_cpu,
        };
        println!("  ratio api/pgbench: {:.3}", r.ratio());
        if let Some(c) = r.cpu_ratio() {
            println!(
                "  cpu per operation: api {:.0} µs (service + postgres + wrk), pgbench {:.0} µs (postgres + pgbench); ratio pgbench/api {c:.3}",
                r.api_cpu_per_op().unwrap_or(0.0),
                r.pg_cpu_per_op().unwrap_or(0.0)
            );
        }
        runs.push(r);
    }
    Ok(runs)
}

fn fmt_opt(v: Option<f64>) -> String {
    v.map(|v| format!("{v:.2}")).unwrap_or_else(|| "-".into())
}

fn print_summary(args: &ListArgs, sizes: Sizes, runs: &[RunResult], largest: u64) {
    let m = |f: &dyn Fn(&RunResult) -> f64| median(&runs.iter().map(f).collect::<Vec<_>>());
    let small_p50 = m(&|r| r.small.p50);
    let small_p99 = m(&|r| r.small.p99);
    let large_p50 = m(&|r| r.large.p50);
    let large_p99 = m(&|r| r.large.p99);
    let rps = m(&|r| r.api.rps);
    let tps = m(&|r| r.pg.tps);
    let ratio = m(&|r| r.ratio());
    let ok = |b: bool| if b { "met" } else { "MISSED" };
    let driver = runs.first().map(|r| r.api.driver).unwrap_or("-");
    println!(
        "\n== summary: medians of {} runs ({} tenants, {} work orders on one shared placement)",
        runs.len(),
        thousands(sizes.tenants),
        thousands(sizes.work_orders)
    );
    println!(
        "db list p50/p99 small tenants: {small_p50:.2} / {small_p99:.2} ms (target p99 < 5 ms: {})",
        ok(small_p99 < 5.0)
    );
    println!(
        "db list p50/p99 largest tenant ({} WO): {large_p50:.2} / {large_p99:.2} ms (target p99 < 5 ms: {})",
        thousands(largest),
        ok(large_p99 < 5.0)
    );
    println!(
        "api GET {}: {rps:.0} req/s ({} connections, {driver})",
        api::LIST_PATH,
        args.connections
    );
    println!(
        "pgbench same SQL: {tps:.0} tps ({} clients)",
        args.connections
    );
    println!(
        "ratio api/pgbench: {ratio:.2} (target >= 0.5: {})",
        ok(ratio >= 0.5)
    );
    let shaped: Vec<f64> = runs
        .iter()
        .filter_map(|r| r.shaped.as_ref().map(|p| p.tps))
        .collect();
    if !shaped.is_empty() {
        println!(
            "(diagnostic) pgbench, service's transaction shape: {:.0} tps; api/that: {:.2}",
            median(&shaped),
            rps / median(&shaped)
        );
    }
    let cpu_ratios: Vec<f64> = runs.iter().filter_map(RunResult::cpu_ratio).collect();
    if !cpu_ratios.is_empty() {
        println!(
            "(cross-check) cpu per operation: api {:.0} µs, pgbench {:.0} µs; cpu-normalized ratio {:.2}",
            median(
                &runs
                    .iter()
                    .filter_map(RunResult::api_cpu_per_op)
                    .collect::<Vec<_>>()
            ),
            median(
                &runs
                    .iter()
                    .filter_map(RunResult::pg_cpu_per_op)
                    .collect::<Vec<_>>()
            ),
            median(&cpu_ratios)
        );
        println!(
            "machine busy with other work during the api / pgbench measurements: {:.0}% / {:.0}% of its cpu (median)",
            median(
                &runs
                    .iter()
                    .map(|r| r.api_cpu.other_share() * 100.0)
                    .collect::<Vec<_>>()
            ),
            median(
                &runs
                    .iter()
                    .map(|r| r.pg_cpu.other_share() * 100.0)
                    .collect::<Vec<_>>()
            )
        );
    }
    println!("per run:");
    for (i, r) in runs.iter().enumerate() {
        println!(
            "  run {}: small p50/p99 {:.2}/{:.2} ms, largest p50/p99 {:.2}/{:.2} ms, api {:.0} req/s, pgbench {:.0} tps, ratio {:.2}, cpu-normalized ratio {}, other load {:.0}%/{:.0}%",
            i + 1,
            r.small.p50,
            r.small.p99,
            r.large.p50,
            r.large.p99,
            r.api.rps,
            r.pg.tps,
            r.ratio(),
            fmt_opt(r.cpu_ratio()),
            r.api_cpu.other_share() * 100.0,
            r.pg_cpu.other_share() * 100.0
        );
    }
}
