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

/// How long a serving process has to take a scheduled move before this
/// command drives it itself.
const CLAIM_WAIT: std::time::Duration = std::time::Duration::from_secs(3);

pub async fn run(config: Config, args: Args) -> anyhow::Result<()> {
    let cfg = config.advice.clone();
    let jobs = config.jobs.clone();
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
    // A serving process's jobs runner drives each move; with none, this
    // process does. Either way the command returns once each has switched
    // (or rolled back); cleanups are jobs a serving process runs.
    for id in applied.iter().flatten().filter_map(|a| a.id) {
        match app.wait_for_move(id, &jobs, CLAIM_WAIT).await {
            Ok((m, here)) => {
                if here {
                    eprintln!(
                        "move {id}: no serving process took it within {}s; driven by this command",
                        CLAIM_WAIT.as_secs()
                    );
                }
                if !args.json {
                    println!("move {id}: {}", m.state);
                }
            }
            Err(e) => eprintln!("move {id}: {e}"),
        }
    }
    app.router().close().await;
    Ok(())
}
