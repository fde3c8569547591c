//! `fsa health`: can the catalog and every placement database be reached?

use fsa_server::config::Config;
use serde::Serialize;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct Check {
    name: String,
    ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

pub async fn run(config: Config, args: Args) -> anyhow::Result<()> {
    let app = super::app(config).await?;
    let mut checks = vec![Check {
        name: "catalog".into(),
        ok: true,
        error: None,
    }];
    for p in app.router().catalog().placements().await? {
        let handle = app.router().placement(p.placement.id).await;
        let result = match handle {
            Ok(h) => h.pool().ping().await.map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        checks.push(Check {
            name: p.placement.name,
            ok: result.is_ok(),
            error: result.err(),
        });
    }
    let healthy = checks.iter().all(|c| c.ok);
    if args.json {
        super::print_json(&serde_json::json!({ "healthy": healthy, "checks": checks }))?;
    } else {
        for c in &checks {
            println!(
                "{:<28} {}",
                c.name,
                if c.ok {
                    "ok".to_owned()
                } else {
                    format!("FAILED: {}", c.error.as_deref().unwrap_or(""))
                }
            );
        }
    }
    app.router().close().await;
    if healthy {
        Ok(())
    } else {
        anyhow::bail!("some databases are unreachable")
    }
}
