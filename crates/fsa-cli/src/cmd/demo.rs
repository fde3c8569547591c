//! `fsa demo seed`: a few tenants of each plan with clients, technicians,
//! work orders in every status and tasks, so a newcomer can look around
//! ([`fsa_app::demo`] seeds; this renders).

use fsa_app::config::Config;
use fsa_app::demo::{PASSWORD, TENANTS};
use indicatif::{ProgressBar, ProgressStyle};

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Create the demo tenants (skips those that exist).
    Seed {
        /// Work orders per tenant.
        #[arg(long, default_value_t = 36)]
        work_orders: usize,
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(config: Config, cmd: Command) -> anyhow::Result<()> {
    let Command::Seed {
        work_orders: per_tenant,
        json,
    } = cmd;
    let app = super::app(config).await?;
    let bar = ProgressBar::new((TENANTS.len() * per_tenant) as u64);
    bar.set_style(
        ProgressStyle::with_template("{msg:24} [{bar:30}] {pos}/{len} work orders")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    if json {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let progress = |slug: &str, n: u64| {
        bar.set_message(slug.to_owned());
        bar.inc(n);
    };
    let created = app.seed_demo(per_tenant, &progress).await;
    app.router().close().await;
    let created = created?;
    bar.finish_and_clear();
    if json {
        super::print_json(&serde_json::json!({ "created": created, "password": PASSWORD }))?;
    } else {
        println!("demo tenants ready; every user's password is `{PASSWORD}`:");
        for (slug, _, plan, region) in TENANTS {
            println!(
                "  {slug:<20} {plan:<11} {region:<5} admin@{slug}.example, dispatch@…, tech1@…, viewer@…"
            );
        }
        println!(
            "log in: curl -s localhost:8080/api/v1/auth/login -H 'content-type: application/json' \\\n  -d '{{\"tenant\":\"acme-plumbing\",\"email\":\"admin@acme-plumbing.example\",\"password\":\"{PASSWORD}\"}}'"
        );
    }
    Ok(())
}
