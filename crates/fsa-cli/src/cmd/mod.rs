//! The commands of `fsa`.

pub mod advise;
pub mod analytics;
pub mod backup;
pub mod db;
pub mod demo;
pub mod files;
pub mod health;
pub mod jobs;
pub mod moves;
pub mod placement;
pub mod serve;
pub mod tenant;

use fsa_app::App;
use fsa_app::config::Config;
use serde::Serialize;

/// Logs to stderr; `FSA_LOG` sets the filter (default `info` for the
/// service, `warn` for other commands), `FSA_LOG_FORMAT=json` gives JSON lines.
pub fn init_tracing(serving: bool) {
    use tracing_subscriber::EnvFilter;
    let default = if serving { "info,sqlx=warn" } else { "warn" };
    let filter = EnvFilter::try_from_env("FSA_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if std::env::var("FSA_LOG_FORMAT").is_ok_and(|v| v == "json") {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// Opens the catalog and router as the service would, and the application
/// services on them. The data directory is prepared as `fsa serve` prepares
/// it (made owner-only, its secrets file written on first use), so the first
/// command of an installation leaves what a first start would.
pub async fn app(mut config: Config) -> anyhow::Result<App> {
    config.ensure_secrets()?;
    let (app, warnings) = fsa_app::open(&config).await?;
    // The service warns of these at start; a command is not the place.
    for w in warnings {
        tracing::debug!("{w}");
    }
    Ok(app)
}

/// Prints `value` as pretty JSON.
/// Prints rows under a header as plain columns as wide as their widest
/// cell, so a long name shifts its column rather than the ones after it.
pub fn print_table<const N: usize>(header: [&str; N], rows: impl IntoIterator<Item = [String; N]>) {
    let mut table = comfy_table::Table::new();
    table
        .load_style(comfy_table::presets::NOTHING)
        .set_content_arrangement(comfy_table::ContentArrangement::Disabled)
        .set_header(header);
    for row in rows {
        table.add_row(row);
    }
    for column in table.column_iter_mut() {
        column.set_padding((0, 2));
    }
    println!("{}", table.trim_fmt());
}

pub fn print_json<T: Serialize>(value: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}
