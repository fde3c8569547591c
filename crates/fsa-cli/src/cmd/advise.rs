//! `fsa advise`: the advisor's rules over the fleet (thresholds in
//! `[advice]`), each advice with its evidence; `--apply` schedules the
//! advised moves, at most `[advice] max_moves_per_run` of them. The CLI has
//! no live request figures (it is not the service), so the rules on
//! database time see none; the service's `GET /admin/advice` does.

use fsa_app::advice::Action;
use fsa_app::config::Config;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Schedule the advised moves (a cap per run).
    #[arg(long)]
    apply: bool,
    #[arg(long)]
    json: bool,
}

pub async fn run(config: Config, args: Args) -> anyhow::Result<()> {
    let cfg = config.advice.clone();
    let app = super::app(config).await?;
    let result = if args.apply {
        app.apply_advice(&cfg)
            .await
            .map(|a| (a.advice, Some(a.applied)))
    } else {
        app.advice(&cfg).await.map(|a| (a, None))
    };
    let (advice, applied) = match result {
        Ok(r) => r,
        Err(e) => {
            app.router().close().await;
            return Err(e.into());
        }
    };
    if args.json {
        let mut v = serde_json::to_value(&advice)?;
        if let Some(a) = &applied {
            v["applied"] = serde_json::to_value(a)?;
        }
        super::print_json(&v)?;
    } else {
        if advice.items.is_empty() {
            println!("no advice: the fleet follows the rules");
        }
        super::print_table(
            ["RULE", "TENANT", "PLACEMENT", "ACTION"],
            advice.items.iter().map(|i| {
                [
                    i.rule.clone(),
                    i.tenant.clone().unwrap_or_default(),
                    i.placement.clone().unwrap_or_default(),
                    match &i.action {
                        Action::Move(m) => format!("move {} to {}", m.tenant, m.to),
                        Action::Note(n) => n.clone(),
                    },
                ]
            }),
        );
        println!(
            "cost estimate (monthly, the seed's table): as is ${:.0}, as advised ${:.0}",
            advice.cost.as_is_monthly_usd, advice.cost.advised_monthly_usd
        );
        for a in applied.iter().flatten() {
            match (&a.id, &a.error) {
                (Some(id), _) => println!("scheduled move {id}: {} to {}", a.tenant, a.to),
                (None, e) => println!(
                    "not scheduled: {} to {}: {}",
                    a.tenant,
                    a.to,
                    e.as_deref().unwrap_or("")
                ),
            }
        }
    }
    // The moves run in this process: wait until each has switched (or
    // rolled back); its cleanup resumes at the service's next start.
    for id in applied.iter().flatten().filter_map(|a| a.id) {
        loop {
            match app.move_view(id).await {
                Ok(m)
                    if matches!(
                        m.state.as_str(),
                        "switched" | "cleaning" | "done" | "rolled_back"
                    ) =>
                {
                    break;
                }
                Ok(_) => tokio::time::sleep(std::time::Duration::from_millis(200)).await,
                Err(e) => {
                    eprintln!("move {id}: {e}");
                    break;
                }
            }
        }
    }
    app.router().close().await;
    Ok(())
}
