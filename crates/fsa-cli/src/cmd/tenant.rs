//! `fsa tenant create|list|show`.

use fsa_core::{Plan, Region};
use fsa_server::config::Config;
use fsa_server::dto::CreateTenant;
use fsa_server::onboarding;

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
    /// Show one tenant with its placement.
    Show {
        slug: String,
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(config: Config, cmd: Command) -> anyhow::Result<()> {
    let state = super::state(config).await?;
    let router = &state.router;
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
            let req = CreateTenant {
                slug,
                name,
                plan,
                region,
                admin_email,
                admin_password,
                isolation_requested: false,
            };
            let t = onboarding::create_tenant(router, req)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
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
            let ts = onboarding::tenant_views(router)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            if json {
                super::print_json(&ts)?;
            } else {
                println!(
                    "{:<24} {:<11} {:<8} {:<8} {:<24} {:>5}",
                    "SLUG", "PLAN", "REGION", "STATE", "PLACEMENT", "EPOCH"
                );
                for t in ts {
                    println!(
                        "{:<24} {:<11} {:<8} {:<8} {:<24} {:>5}",
                        t.slug, t.plan, t.region, t.state, t.placement.name, t.epoch
                    );
                }
            }
        }
        Command::Show { slug, json } => {
            let t = onboarding::tenant_view(router, &slug)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            if json {
                super::print_json(&t)?;
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
            }
        }
    }
    state.router.close().await;
    Ok(())
}
