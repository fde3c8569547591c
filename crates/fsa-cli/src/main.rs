//! The `fsa` binary. One module per command under `cmd/`, each with its
//! arguments and an async `run`. The configuration and the services come
//! from `fsa_app`; `fsa_server` is named by `cmd/serve.rs` alone, so the
//! HTTP surface stays out of every other command's way.

mod cmd;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// mimalloc: the service allocates and frees many small buffers per request
/// (rows, JSON), where it is markedly cheaper than the system allocator.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
#[command(
    name = "fsa",
    version,
    about = "Multi-tenant Field Service Automation: service and operator tools"
)]
struct Cli {
    /// A TOML configuration file (also FSA_CONFIG).
    #[arg(long, global = true, env = "FSA_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the HTTP service.
    Serve(cmd::serve::Args),
    /// Onboard and inspect tenants.
    #[command(subcommand)]
    Tenant(cmd::tenant::Command),
    /// Inspect placements.
    #[command(subcommand)]
    Placement(cmd::placement::Command),
    /// Inspect and cancel tenant moves.
    #[command(subcommand)]
    Move(cmd::moves::Command),
    /// File store maintenance.
    #[command(subcommand)]
    Files(cmd::files::Command),
    /// Database maintenance.
    #[command(subcommand)]
    Db(cmd::db::Command),
    /// The fleet's health: tenants by plan; per placement reachability, size, tenants.
    Health(cmd::health::Args),
    /// Work orders across every placement, grouped by status, plan or region.
    Analytics(cmd::analytics::Args),
    /// The advisor: proposed moves with their evidence; `--apply` schedules them.
    Advise(cmd::advise::Args),
    /// Background jobs: state, last and next run, failures, holder.
    Jobs(cmd::jobs::Args),
    /// Backups of one tenant: run, list, verify, restore as a new tenant.
    #[command(subcommand)]
    Backup(cmd::backup::Command),
    /// Demo data for a first look around.
    #[command(subcommand)]
    Demo(cmd::demo::Command),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let serving = matches!(cli.command, Command::Serve(_));
    if !serving {
        // A command whose output is piped into `head` ends quietly when the
        // pipe closes, as command-line tools do, instead of panicking.
        // SAFETY: restoring the default disposition of a signal before any
        // other thread starts.
        #[cfg(unix)]
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
    }
    cmd::init_tracing(serving);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        let config = fsa_app::config::Config::load(cli.config.as_deref())?;
        match cli.command {
            Command::Serve(a) => cmd::serve::run(config, a).await,
            Command::Tenant(c) => cmd::tenant::run(config, c).await,
            Command::Placement(c) => cmd::placement::run(config, c).await,
            Command::Db(c) => cmd::db::run(config, c).await,
            Command::Files(c) => cmd::files::run(config, c).await,
            Command::Move(c) => cmd::moves::run(config, c).await,
            Command::Health(a) => cmd::health::run(config, a).await,
            Command::Analytics(a) => cmd::analytics::run(config, a).await,
            Command::Advise(a) => cmd::advise::run(config, a).await,
            Command::Jobs(a) => cmd::jobs::run(config, a).await,
            Command::Backup(c) => cmd::backup::run(config, c).await,
            Command::Demo(c) => cmd::demo::run(config, c).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn verify_cli() {
        super::Cli::command().debug_assert();
    }
}
