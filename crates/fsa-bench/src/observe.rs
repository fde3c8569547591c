//! Benchmarks of the observability issue:
//! - `metrics`: the Foundation list through the API with `/metrics`
//!   counting on and off, two services on the same data, runs alternated;
//! - `analytics`: work orders counted across N databases in parallel (within
//!   the budget) against the same queries one after another;
//! - `advisor`: the advisor's rules over a synthetic fleet of N tenants.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use fsa_app::advice::{AdviceConfig, FleetFacts, PlacementFact, TenantFact, advise};
use fsa_app::analytics::{AnalyticsOptions, GroupBy};
use fsa_core::{PlacementKind, Plan};
use uuid::Uuid;

use crate::api;
use crate::load::{self, Dataset, Sizes};
use crate::stats::{median, thousands};

#[derive(Debug, clap::Args)]
pub struct MetricsArgs {
    #[arg(
        long,
        env = "FSA_BENCH_PG_URL",
        default_value = "postgres://postgres@127.0.0.1:5432"
    )]
    pg_url: String,
    #[arg(long, default_value_t = 100)]
    tenants: u64,
    #[arg(long, default_value_t = 200_000)]
    work_orders: u64,
    #[arg(long, default_value_t = 50_000)]
    largest: u64,
    /// Measured runs per side (alternated on, off, off, on, …).
    #[arg(long, default_value_t = 3)]
    runs: usize,
    #[arg(long, default_value_t = 8)]
    connections: usize,
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Seconds per measured run.
    #[arg(long, default_value_t = 10)]
    duration: u64,
    #[arg(long, default_value_t = 2)]
    warmup: u64,
    #[arg(long, value_enum, default_value_t = api::Driver::Auto)]
    driver: api::Driver,
    /// The `fsa` binary (default: `fsa` beside this binary).
    #[arg(long)]
    fsa_bin: Option<PathBuf>,
    /// Both services with metrics on: the spread between two identical
    /// services, to read the on/off ratio against.
    #[arg(long)]
    same: bool,
}

#[derive(Debug, clap::Args)]
pub struct AnalyticsArgs {
    #[arg(
        long,
        env = "FSA_BENCH_PG_URL",
        default_value = "postgres://postgres@127.0.0.1:5432"
    )]
    pg_url: String,
    /// Dedicated databases (one enterprise tenant each).
    #[arg(long, default_value_t = 300)]
    databases: usize,
    /// Placements asked at once in the parallel run.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// On SQLite files in a temporary folder instead of PostgreSQL.
    #[arg(long)]
    sqlite: bool,
}

#[derive(Debug, clap::Args)]
pub struct AdvisorArgs {
    #[arg(long, default_value_t = 10_000)]
    tenants: usize,
    #[arg(long, default_value_t = 5)]
    runs: usize,
}

/// A fresh catalog database name and a temporary folder; dropped after.
struct Scratch {
    base: String,
    name: String,
    dir: PathBuf,
}

impl Scratch {
    fn new(pg_url: &str) -> anyhow::Result<Self> {
        let id = Uuid::new_v4().simple().to_string();
        let name = format!("fsa_bench_{}", &id[..12]);
        let dir = std::env::temp_dir().join(&name);
        std::fs::create_dir_all(&dir)?;
        Ok(Scratch {
            base: pg_url.trim_end_matches('/').to_owned(),
            name,
            dir,
        })
    }

    async fn drop_all(&self) {
        match crate::drop_all(&self.base, &self.name).await {
            Ok(n) => println!("dropped {n} databases named {}*", self.name),
            Err(e) => eprintln!("warning: could not drop {}*: {e:#}", self.name),
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn config(scratch: &Scratch, url: String) -> fsa_server::config::Config {
    fsa_server::config::Config {
        database_url: Some(url.into()),
        admin_token: Some(format!("bench-admin-{}", Uuid::new_v4().simple()).into()),
        jwt_secret: Some(format!("bench-jwt-{}", Uuid::new_v4().simple()).into()),
        data_dir: scratch.dir.join("data"),
        ..Default::default()
    }
}

pub async fn metrics(args: MetricsArgs) -> anyhow::Result<()> {
    let scratch = Scratch::new(&args.pg_url)?;
    let r = run_metrics(&args, &scratch).await;
    scratch.drop_all().await;
    r
}

async fn run_metrics(args: &MetricsArgs, s: &Scratch) -> anyhow::Result<()> {
    let fsa_bin = match &args.fsa_bin {
        Some(p) => p.clone(),
        None => std::env::current_exe()?.with_file_name("fsa"),
    };
    let sizes = Sizes {
        tenants: args.tenants,
        work_orders: args.work_orders,
        largest: args.largest,
        clients_per_tenant: 20,
    };
    sizes.check()?;
    let catalog_url = format!("{}/{}", s.base, s.name);
    let cfg = config(s, catalog_url.clone());
    let (admin_token, jwt_secret) = (
        cfg.expose_admin_token().to_owned(),
        cfg.expose_jwt_secret().to_owned(),
    );
    println!(
        "== data: {} tenants, {} work orders",
        thousands(sizes.tenants),
        thousands(sizes.work_orders)
    );
    let (state, _) = fsa_server::build_state(cfg).await?;
    let tenants = load::onboard(&state, sizes, 4).await?;
    let placements = state.router.catalog().placements().await?;
    let placement_db = placements
        .iter()
        .find(|p| p.placement.kind == PlacementKind::Shared)
        .map(|p| p.placement.db_name.clone())
        .context("no shared placement")?;
    state.router.close().await;
    state.router.catalog().pool().close().await;
    drop(state);
    let data = Dataset {
        placement_db,
        tenants,
    };
    let placement_url = format!("{}/{}", s.base, data.placement_db);
    load::bulk_load(&placement_url, &data.tenants, sizes.clients_per_tenant, 2).await?;
    let tenant = &data.small()[data.small().len() / 2];

    let mut services = Vec::new();
    let off = if args.same { "true" } else { "false" };
    for (side, env) in [("on", "true"), ("off", off)] {
        let dir = s.dir.join(format!("serve-{side}"));
        std::fs::create_dir_all(&dir)?;
        let svc = api::Service::start(api::ServiceSpec {
            bin: &fsa_bin,
            catalog_url: &catalog_url,
            admin_token: &admin_token,
            jwt_secret: &jwt_secret,
            data_dir: &dir,
            env: &[("FSA_METRICS__ENABLED", env)],
        })
        .await?;
        let token = svc
            .login(&tenant.slug, &tenant.admin_email, load::PASSWORD)
            .await?;
        services.push((side, svc, token));
    }
    let mut on = Vec::new();
    let mut off = Vec::new();
    for run in 0..args.runs * 2 {
        // on, off, off, on, on, off, …: neither side always goes first.
        let side = if (run / 2 + run) % 2 == 0 { 0 } else { 1 };
        let (name, svc, token) = &services[side];
        let drive = |secs| {
            api::drive(
                args.driver,
                &svc.base,
                token,
                args.connections,
                args.threads,
                secs,
            )
        };
        if args.warmup > 0 {
            drive(args.warmup).await?;
        }
        let r = drive(args.duration).await?;
        ensure!(r.errors == 0, "{} responses were not 200", r.errors);
        println!(
            "  metrics {name:>3}: {:.1} req/s (p50/p99 {:?}/{:?} ms, {})",
            r.rps, r.p50_ms, r.p99_ms, r.driver
        );
        if side == 0 {
            on.push(r.rps);
        } else {
            off.push(r.rps);
        }
    }
    let scrape = reqwest::get(format!("{}/metrics", services[0].1.base))
        .await?
        .text()
        .await?;
    let counted = scrape
        .lines()
        .filter(|l| l.starts_with("fsa_http_requests_total{"))
        .count();
    for (_, svc, _) in services {
        svc.stop().await?;
    }
    let (m_on, m_off) = (median(&on), median(&off));
    println!(
        "\n== list with metrics on vs off ({} runs each, {} s, {} connections): on {:.1} req/s, off {:.1} req/s, ratio on/off {:.3} (target >= 0.95); {} request series scraped",
        args.runs,
        args.duration,
        args.connections,
        m_on,
        m_off,
        m_on / m_off,
        counted
    );
    Ok(())
}

pub async fn analytics(args: AnalyticsArgs) -> anyhow::Result<()> {
    let scratch = Scratch::new(&args.pg_url)?;
    let r = run_analytics(&args, &scratch).await;
    scratch.drop_all().await;
    r
}

async fn run_analytics(args: &AnalyticsArgs, s: &Scratch) -> anyhow::Result<()> {
    let url = if args.sqlite {
        format!("sqlite://{}", s.dir.join("catalog.db").display())
    } else {
        format!("{}/{}", s.base, s.name)
    };
    let (state, _) = fsa_server::build_state(config(s, url)).await?;
    let app = state.app.clone();
    let started = Instant::now();
    let slugs: Vec<String> = (0..args.databases).map(|i| format!("an-{i}")).collect();
    futures::future::try_join_all(slugs.chunks(8).map(|chunk| {
        let app = app.clone();
        async move {
            for slug in chunk {
                app.create_tenant(fsa_app::Onboarding {
                    slug: slug.clone(),
                    name: slug.clone(),
                    plan: Plan::Enterprise,
                    region: None,
                    admin_email: format!("admin@{slug}.test"),
                    admin_password: load::PASSWORD.to_owned(),
                    isolation_requested: false,
                })
                .await?;
            }
            Ok::<_, fsa_app::AppError>(())
        }
    }))
    .await?;
    println!(
        "== {} dedicated databases ({}) onboarded in {:.1} s",
        args.databases,
        if args.sqlite { "SQLite" } else { "PostgreSQL" },
        started.elapsed().as_secs_f64()
    );
    let mut par = Vec::new();
    let mut seq = Vec::new();
    for run in 0..args.runs * 2 {
        let parallel = (run / 2 + run) % 2 == 0;
        let opts = AnalyticsOptions {
            concurrency: if parallel { args.concurrency } else { 1 },
            timeout: Duration::from_secs(60),
        };
        let t = Instant::now();
        let a = app.work_order_analytics_with(GroupBy::Status, opts).await?;
        let secs = t.elapsed().as_secs_f64();
        ensure!(
            a.placements.failed.is_empty() && a.placements.queried >= args.databases,
            "placements failed: {:?}",
            a.placements.failed
        );
        println!(
            "  {}: {} placements in {:.3} s",
            if parallel { "parallel  " } else { "one by one" },
            a.placements.queried,
            secs
        );
        if parallel { &mut par } else { &mut seq }.push(secs);
    }
    state.router.close().await;
    state.router.catalog().pool().close().await;
    let (p, q) = (median(&par), median(&seq));
    println!(
        "\n== analytics over {} databases: parallel ({} at once) {:.3} s, one after another {:.3} s, ratio {:.3}x (target <= 0.25x)",
        args.databases,
        args.concurrency,
        p,
        q,
        p / q
    );
    Ok(())
}

/// A synthetic fleet: shared placements of 100 tenants, pooled of 8,
/// dedicated of one; some tenants misplaced, some asking for isolation,
/// some heavy.
pub fn synthetic_fleet(n: usize) -> FleetFacts {
    let mut f = FleetFacts::default();
    let mut shared: Option<PlacementFact> = None;
    let mut pooled: Option<PlacementFact> = None;
    let placement = |kind: PlacementKind, i: usize| PlacementFact {
        id: Uuid::now_v7(),
        name: format!("{}-{i}", kind.as_str()),
        kind,
        region: ["EU", "US", "ASIA"][i % 3].to_owned(),
        server: format!("srv-{}", i % 7),
        size_bytes: Some(((i * 7919) % 200) as i64 * 1_000_000_000),
        avg_query_ms: Some(((i * 31) % 150) as f64),
    };
    for i in 0..n {
        let plan = match i % 10 {
            0..=4 => Plan::Free,
            5..=6 => Plan::Basic,
            7..=8 => Plan::Premium,
            _ => Plan::Enterprise,
        };
        // Every 50th tenant sits where its plan does not place it.
        let kind = if i % 50 == 3 {
            PlacementKind::Shared
        } else {
            plan.placement_kind()
        };
        let p = match kind {
            PlacementKind::Shared => {
                if shared.as_ref().is_none_or(|_| i % 100 == 0) {
                    let p = placement(kind, i);
                    f.placements.push(p.clone());
                    shared = Some(p);
                }
                shared.as_ref().map(|p| p.id)
            }
            PlacementKind::Pooled => {
                if pooled.as_ref().is_none_or(|_| i % 80 == 7) {
                    let p = placement(kind, i);
                    f.placements.push(p.clone());
                    pooled = Some(p);
                }
                pooled.as_ref().map(|p| p.id)
            }
            PlacementKind::Dedicated => {
                let p = placement(kind, i);
                f.placements.push(p.clone());
                Some(p.id)
            }
        };
        f.tenants.push(TenantFact {
            slug: format!("t-{i}"),
            plan,
            region: ["EU", "US", "ASIA"][i % 3].to_owned(),
            placement: p.unwrap_or_default(),
            isolation_requested: i % 97 == 0,
            db_time_ms: ((i * 13) % 1000) as f64,
            work_orders: Some(((i * 17) % 5000) as i64),
        });
    }
    f
}

pub fn advisor(args: AdvisorArgs) -> anyhow::Result<()> {
    let facts = synthetic_fleet(args.tenants);
    let cfg = AdviceConfig::default();
    let mut times = Vec::new();
    let mut items = 0;
    for _ in 0..args.runs.max(1) {
        let t = Instant::now();
        let (advice, _) = advise(&facts, &cfg);
        times.push(t.elapsed().as_secs_f64() * 1000.0);
        items = advice.len();
    }
    println!(
        "== advisor over {} tenants and {} placements: median {:.2} ms over {} runs ({} advice items)",
        thousands(args.tenants as u64),
        thousands(facts.placements.len() as u64),
        median(&times),
        times.len(),
        items
    );
    Ok(())
}
