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
