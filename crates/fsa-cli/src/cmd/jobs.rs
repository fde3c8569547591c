//! `fsa jobs`: every background job of the fleet, from the catalog: its
//! state, last and next run, failures since its last success and the
//! process running it. `--json` prints what `GET /admin/jobs` answers.

use fsa_app::config::Config;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[arg(long)]
    json: bool,
}

pub async fn run(config: Config, args: Args) -> anyhow::Result<()> {
    let app = super::app(config).await?;
    let jobs = app.jobs().await;
    app.router().close().await;
    let jobs = jobs?;
    if args.json {
        return super::print_json(&jobs);
    }
    let when = |t: Option<chrono::DateTime<chrono::Utc>>| {
        t.map_or_else(
            || "-".to_owned(),
            |t| t.format("%Y-%m-%d %H:%M:%S").to_string(),
        )
    };
    super::print_table(
        [
            "NAME", "STATE", "LAST RUN", "NEXT RUN", "FAILURES", "HOLDER",
        ],
        jobs.jobs.iter().map(|j| {
            [
                j.name.clone(),
                j.state.clone(),
                when(j.last_run),
                when(j.next_run),
                j.failures.to_string(),
                j.holder.clone().unwrap_or_else(|| "-".to_owned()),
            ]
        }),
    );
    for j in jobs.jobs.iter().filter(|j| j.failures > 0) {
        if let Some(e) = &j.last_error {
            println!("{}: {e}", j.name);
        }
    }
    Ok(())
}
