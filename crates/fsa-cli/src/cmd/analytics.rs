//! `fsa analytics`: work orders across every placement, grouped by status,
//! plan or region; `--json` prints what `GET /admin/analytics/work-orders`
//! answers. Exits non-zero when a placement did not answer (the counts of
//! the others are still printed).

use fsa_app::analytics::{AnalyticsOptions, GroupBy};
use fsa_app::config::Config;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// `status`, `plan` or `region`.
    #[arg(long, default_value = "status", value_parser = ["status", "plan", "region"])]
    group_by: String,
    /// Placements asked at once.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Seconds one placement has to answer.
    #[arg(long, default_value_t = 10)]
    timeout_secs: u64,
    #[arg(long)]
    json: bool,
}

pub async fn run(config: Config, args: Args) -> anyhow::Result<()> {
    let group_by: GroupBy = args.group_by.parse()?;
    let app = super::app(config).await?;
    let opts = AnalyticsOptions {
        concurrency: args.concurrency,
        timeout: std::time::Duration::from_secs(args.timeout_secs),
    };
    let result = app.work_order_analytics_with(group_by, opts).await;
    app.router().close().await;
    let a = result?;
    if args.json {
        super::print_json(&a)?;
    } else {
        super::print_table(
            [args.group_by.to_uppercase().as_str(), "WORK ORDERS"],
            a.groups
                .iter()
                .map(|g| [g.key.clone(), g.count.to_string()]),
        );
        println!(
            "placements: {} queried, {} failed{}",
            a.placements.queried,
            a.placements.failed.len(),
            if a.placements.failed.is_empty() {
                String::new()
            } else {
                format!(" ({})", a.placements.failed.join(", "))
            }
        );
    }
    if a.placements.failed.is_empty() {
        Ok(())
    } else {
        anyhow::bail!(
            "placements that did not answer: {}",
            a.placements.failed.join(", ")
        )
    }
}
