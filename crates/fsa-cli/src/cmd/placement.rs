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
        super::print_table(
            ["NAME", "KIND", "REGION", "SERVER", "TENANTS", "DATABASE"],
            ps.into_iter().map(|p| {
                [
                    p.name,
                    p.kind.to_string(),
                    p.region.to_string(),
                    p.server,
                    p.tenant_count.unwrap_or(0).to_string(),
                    p.database,
                ]
            }),
        );
    }
    state.router.close().await;
    Ok(())
}
