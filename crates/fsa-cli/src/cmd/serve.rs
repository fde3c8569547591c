//! `fsa serve`: the HTTP service.

use std::net::SocketAddr;

use fsa_server::config::Config;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Address to listen on (overrides FSA_LISTEN).
    #[arg(long)]
    listen: Option<SocketAddr>,
}

pub async fn run(mut config: Config, args: Args) -> anyhow::Result<()> {
    if let Some(l) = args.listen {
        config.listen = l;
    }
    let listen = config.listen;
    let url = config.database_url();
    let (state, secrets) = fsa_server::build_state(config).await?;
    if let Some(path) = secrets {
        eprintln!(
            "fsa: admin token and JWT secret are kept in {} (owner-only)",
            path.display()
        );
    }
    report_schema(&state.app).await;
    let listener = tokio::net::TcpListener::bind(listen).await?;
    tracing::info!(catalog = %url, listen = %listener.local_addr()?, "fsa serving");
    eprintln!(
        "fsa: listening on http://{} (API docs at /docs)",
        listener.local_addr()?
    );
    fsa_server::serve(listener, state, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await?;
    Ok(())
}

/// Start migrates the catalog only; placements are migrated by `fsa db
/// migrate`, in waves. A placement behind is still served (migrations are
/// additive), and named here so that nobody has to guess.
async fn report_schema(app: &fsa_app::App) {
    match fsa_app::schema::status(app).await {
        Ok(status) => {
            let behind = status.behind();
            if !behind.is_empty() {
                let names: Vec<String> = behind
                    .iter()
                    .take(10)
                    .map(|p| {
                        format!(
                            "{} ({}, {})",
                            p.name,
                            p.version
                                .map_or_else(|| "unrecorded".into(), |v| format!("v{v}")),
                            p.state
                        )
                    })
                    .collect();
                tracing::warn!(
                    latest = status.latest,
                    behind = behind.len(),
                    "placements not at the latest schema"
                );
                eprintln!(
                    "fsa: {} placement(s) not at schema {}: {}{}; run `fsa db migrate`",
                    behind.len(),
                    status.latest,
                    names.join(", "),
                    if behind.len() > 10 { ", …" } else { "" }
                );
            }
        }
        Err(e) => tracing::warn!(error = %e, "cannot read the placements' schema state"),
    }
}
