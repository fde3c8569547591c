//! `fsa placement list`.

use fsa_app::config::Config;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// List placements with kind, region, server and tenant count.
    List {
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(config: Config, cmd: Command) -> anyhow::Result<()> {
    let app = super::app(config).await?;
    let Command::List { json } = cmd;
    let ps = app.placements().await?;
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
    app.router().close().await;
    Ok(())
}
