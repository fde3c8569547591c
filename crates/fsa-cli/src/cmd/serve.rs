//! `fsa serve`: the HTTP service.

use std::net::SocketAddr;

use fsa_app::config::Config;

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
    warn_superuser_logins(&state.router).await;
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

/// Row-level security binds tenant sessions only while their login cannot
/// undo `SET ROLE fsa_app`: a superuser login is one `RESET ROLE` away from
/// every tenant's rows and the server itself. The service still starts
/// (an installation moves to a least-privileged login when its operator
/// can), but says so at every start.
async fn warn_superuser_logins(router: &fsa_store::Router) {
    for server in router.servers().all() {
        let check = server.login_is_superuser();
        match tokio::time::timeout(std::time::Duration::from_secs(5), check).await {
            Ok(Ok(Some(true))) => {
                tracing::warn!(
                    server = %server.name,
                    "the service logs in to this PostgreSQL server as a superuser; create a \
                     least-privileged login once with `fsa db bootstrap` and use it in the URL"
                );
            }
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                tracing::warn!(server = %server.name, error = %e, "cannot check whether the login is a superuser")
            }
            Err(_) => {
                tracing::warn!(server = %server.name, "cannot check in time whether the login is a superuser")
            }
        }
    }
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
