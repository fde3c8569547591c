//! `fsa health`: the catalog (it must answer for the command to run) and,
//! per placement, whether its database answers, its size and its tenants;
//! per PostgreSQL server, its streaming replicas and their lag.
//! `--json` prints what `GET /admin/health` answers. This command is not
//! the service: it has served no requests, so its query times are null and
//! its connection counts 0; the service's `/admin/health` has live ones.
//! Exits non-zero when a placement is unreachable.

use fsa_app::config::Config;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[arg(long)]
    json: bool,
}

pub async fn run(config: Config, args: Args) -> anyhow::Result<()> {
    let app = super::app(config).await?;
    let health = app.health().await;
    app.router().close().await;
    let health = health?;
    let unreachable: Vec<&str> = health
        .placements
        .iter()
        .filter(|p| !p.reachable)
        .map(|p| p.name.as_str())
        .collect();
    if args.json {
        super::print_json(&health)?;
    } else {
        println!("catalog ok");
        let plans: Vec<String> = health
            .tenants_by_plan
            .iter()
            .map(|(plan, n)| format!("{plan} {n}"))
            .collect();
        println!("tenants: {}", plans.join(", "));
        super::print_table(
            [
                "NAME", "KIND", "REGION", "SERVER", "STATE", "SIZE", "TENANTS",
            ],
            health.placements.iter().map(|p| {
                [
                    p.name.clone(),
                    p.kind.to_string(),
                    p.region.clone(),
                    p.server.clone(),
                    if p.reachable { "ok" } else { "UNREACHABLE" }.to_owned(),
                    p.size_bytes
                        .map_or_else(|| "-".to_owned(), |b| format!("{:.1} MB", b as f64 / 1e6)),
                    p.tenants.to_string(),
                ]
            }),
        );
        let replicas: Vec<_> = health
            .servers
            .iter()
            .flat_map(|s| {
                s.replicas
                    .iter()
                    .flatten()
                    .map(move |r| (s.name.clone(), r))
            })
            .collect();
        if !replicas.is_empty() {
            println!();
            super::print_table(
                ["SERVER", "REPLICA", "STATE", "SYNC", "LAG", "REPLAY LAG"],
                replicas.into_iter().map(|(server, r)| {
                    [
                        server,
                        r.name.clone(),
                        r.state.clone().unwrap_or_else(|| "-".into()),
                        r.sync_state.clone().unwrap_or_else(|| "-".into()),
                        r.lag_bytes
                            .map_or_else(|| "-".to_owned(), |b| format!("{b} B")),
                        r.replay_lag_ms
                            .map_or_else(|| "-".to_owned(), |ms| format!("{ms:.0} ms")),
                    ]
                }),
            );
        }
    }
    if unreachable.is_empty() {
        Ok(())
    } else {
        anyhow::bail!("unreachable placements: {}", unreachable.join(", "))
    }
}
