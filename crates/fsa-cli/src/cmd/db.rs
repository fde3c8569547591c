//! `fsa db migrate`: brings the catalog and every placement database up to
//! the schema embedded in this binary.

use fsa_server::config::Config;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Apply pending migrations to the catalog and every placement.
    Migrate {
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(config: Config, cmd: Command) -> anyhow::Result<()> {
    let Command::Migrate { json } = cmd;
    // Opening the state migrates the catalog.
    let app = super::app(config).await?;
    let placements = app.router().catalog().placements().await?;
    let mut done = Vec::new();
    for p in placements {
        let p = p.placement;
        let server = app.router().servers().get(&p.server).ok_or_else(|| {
            anyhow::anyhow!(
                "placement {} is on unconfigured server {}",
                p.name,
                p.server
            )
        })?;
        server.migrate(&p.db_name).await?;
        if !json {
            println!("migrated {} ({})", p.name, p.db_name);
        }
        done.push(p.name);
    }
    if json {
        super::print_json(&serde_json::json!({ "catalog": "migrated", "placements": done }))?;
    }
    app.router().close().await;
    Ok(())
}
