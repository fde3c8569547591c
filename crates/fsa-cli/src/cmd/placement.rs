//! `fsa placement list`.

use fsa_server::config::Config;
use fsa_server::onboarding;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// List placements with kind, region, server and tenant count.
    List {
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(config: Config, cmd: Command) -> anyhow::Result<()> {
    let state = super::state(config).await?;
    let Command::List { json } = cmd;
    let ps = onboarding::placement_views(&state.router)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    if json {
        super::print_json(&ps)?;
    } else {
        println!(
            "{:<28} {:<10} {:<8} {:<10} {:>8} DATABASE",
            "NAME", "KIND", "REGION", "SERVER", "TENANTS"
        );
        for p in ps {
            println!(
                "{:<28} {:<10} {:<8} {:<10} {:>8} {}",
                p.name,
                p.kind,
                p.region,
                p.server,
                p.tenant_count.unwrap_or(0),
                p.database
            );
        }
    }
    state.router.close().await;
    Ok(())
}
