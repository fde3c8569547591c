//! `fsa tenant create|list|show|set-plan|set-region|suspend|resume|move`.

use fsa_app::config::Config;
use fsa_app::{App, AppError, Onboarding, PlanChange, RunMove, TenantChange, TenantState};
use fsa_core::{Plan, Region};

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Onboard a tenant with its first admin user.
    Create {
        slug: String,
        #[arg(long)]
        name: String,
        #[arg(long, default_value = "free")]
        plan: Plan,
        #[arg(long)]
        region: Option<Region>,
        #[arg(long)]
        admin_email: String,
        /// The admin's password (or FSA_ADMIN_PASSWORD).
        #[arg(long, env = "FSA_ADMIN_PASSWORD", hide_env_values = true)]
        admin_password: String,
        #[arg(long)]
        json: bool,
    },
    /// List tenants.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Show one tenant with its placement and its usage against its plan's limits.
    Show {
        slug: String,
        #[arg(long)]
        json: bool,
    },
    /// Move a tenant online to another placement, verified.
    Move(super::moves::MoveArgs),
    /// Change a tenant's plan.
    SetPlan {
        slug: String,
        plan: Plan,
        #[arg(long)]
        json: bool,
    },
    /// Change a tenant's region.
    SetRegion {
        slug: String,
        region: Region,
        #[arg(long)]
        json: bool,
    },
    /// Suspend a tenant: its requests and logins get 403 `tenant_suspended`.
    Suspend {
        slug: String,
        #[arg(long)]
        json: bool,
    },
    /// Lift a tenant's suspension.
    Resume {
        slug: String,
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(config: Config, cmd: Command) -> anyhow::Result<()> {
    let cmd = match cmd {
        Command::Move(args) => return super::moves::run_move(config, args).await,
        other => other,
    };
    let app = super::app(config).await?;
    match cmd {
        Command::Create {
            slug,
            name,
            plan,
            region,
            admin_email,
            admin_password,
            json,
        } => {
            let req = Onboarding {
                slug,
                name,
                plan,
                region,
                admin_email,
                admin_password,
                isolation_requested: false,
            };
            let t = app.create_tenant(req).await?;
            if json {
                super::print_json(&t)?;
            } else {
                println!(
                    "created tenant {} ({}) on placement {} ({})",
                    t.slug, t.plan, t.placement.name, t.placement.kind
                );
            }
        }
        Command::List { json } => {
            let ts = app.tenants().await?;
            if json {
                super::print_json(&ts)?;
            } else {
                super::print_table(
                    ["SLUG", "PLAN", "REGION", "STATE", "PLACEMENT", "EPOCH"],
                    ts.into_iter().map(|t| {
                        [
                            t.slug,
                            t.plan.to_string(),
                            t.region.to_string(),
                            t.state.to_string(),
                            t.placement.name,
                            t.epoch.to_string(),
                        ]
                    }),
                );
            }
        }
        Command::Show { slug, json } => {
            let t = app.tenant(&slug).await?;
            let usage = app
                .usage(fsa_core::TenantId::from_verified(t.id), t.plan)
                .await?;
            if json {
                let mut v = serde_json::to_value(&t)?;
                v["usage"] = serde_json::to_value(&usage)?;
                super::print_json(&v)?;
            } else {
                println!(
                    "tenant     {} ({})\nid         {}\nplan       {}\nregion     {}\nstate      {}\nepoch      {}\nplacement  {} ({}, server {}, database {})",
                    t.slug,
                    t.name,
                    t.id,
                    t.plan,
                    t.region,
                    t.state,
                    t.epoch,
                    t.placement.name,
                    t.placement.kind,
                    t.placement.server,
                    t.placement.database
                );
                println!("usage");
                for (name, u) in &usage.usage {
                    let limit = u.limit.map_or("unlimited".to_owned(), |l| l.to_string());
                    let flag = if u.over_limit { "  OVER LIMIT" } else { "" };
                    println!("  {name:<12} {:>10} / {limit}{flag}", u.used);
                }
                println!(
                    "files      {} files, {} bytes in store {}",
                    usage.files.count,
                    usage.files.bytes,
                    app.files().store_name(t.plan)
                );
            }
        }
        Command::SetPlan { slug, plan, json } => {
            let req = TenantChange {
                plan: Some(plan),
                ..TenantChange::default()
            };
            change_here(&app, &slug, req, json).await?;
        }
        Command::Move(_) => anyhow::bail!("a tenant move is dispatched before the services open"),
        Command::SetRegion { slug, region, json } => {
            let req = TenantChange {
                region: Some(region),
                ..TenantChange::default()
            };
            change_here(&app, &slug, req, json).await?;
        }
        Command::Suspend { slug, json } => {
            set_state(&app, &slug, TenantState::Suspended, json).await?;
        }
        Command::Resume { slug, json } => {
            set_state(&app, &slug, TenantState::Active, json).await?;
        }
    }
    app.router().close().await;
    Ok(())
}

/// Suspends a tenant or lifts its suspension, as `PATCH /admin/tenants/{slug}`
/// {state} does.
async fn set_state(app: &App, slug: &str, to: TenantState, json: bool) -> anyhow::Result<()> {
    let req = TenantChange {
        state: Some(to),
        ..TenantChange::default()
    };
    let c = app.change_tenant(slug, req).await?;
    if json {
        super::print_json(&c.tenant)
    } else {
        println!("{} is {}", c.tenant.slug, c.tenant.state);
        Ok(())
    }
}

/// A plan or region change, running the move it needs here to its end
/// with progress bars, then printed.
async fn change_here(app: &App, slug: &str, req: TenantChange, json: bool) -> anyhow::Result<()> {
    let bars = super::moves::Bars::new(json);
    let change = app
        .change_tenant_with(slug, req, RunMove::Here(bars.clone()))
        .await;
    bars.finish();
    print_change(change, json)
}

fn print_change(result: Result<PlanChange, AppError>, json: bool) -> anyhow::Result<()> {
    let c = result?;
    if json {
        super::print_json(&c)?;
    } else {
        println!(
            "{} is now on {} in {} ({})",
            c.tenant.slug, c.tenant.plan, c.tenant.region, c.tenant.placement.name
        );
        if let Some(m) = &c.r#move {
            println!("  move {}: {}", m.id, m.state);
        }
        for o in &c.over_limit {
            println!(
                "  over the limit of {}: {} used, {} allowed (data kept; new ones refused)",
                o.resource, o.used, o.limit
            );
        }
    }
    match &c.r#move {
        Some(m) if m.state == "rolled_back" || m.state == "failed" => {
            anyhow::bail!(
                "the move the change needed ended {} (`fsa move show {}`)",
                m.state,
                m.id
            )
        }
        _ => Ok(()),
    }
}
