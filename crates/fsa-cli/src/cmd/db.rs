//! `fsa db migrate` and `fsa db status`: the schema of the catalog and of
//! every placement database, migrated in waves and recorded in the
//! catalog's ledger. `fsa db bootstrap`: the one-time set-up of a
//! PostgreSQL server by a superuser (the service's least-privileged login).

use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use fsa_app::config::Config;
use fsa_app::schema::{self, FleetReport, MigrateOptions, MigrateProgress, PlacementOutcome};
use fsa_store::bootstrap;
use fsa_store::schema::MigrationSet;
use fsa_store::url::DbUrl;
use indicatif::{ProgressBar, ProgressStyle};

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Apply pending migrations to the catalog, then to every placement:
    /// `--canary` placements first (the ones with the fewest tenants), then
    /// the rest `--concurrency` at a time. A placement that fails is named
    /// and the others go on; a rerun resumes. Ctrl-C stops between
    /// placements.
    Migrate {
        /// Placements migrated at once (at most the connection budget).
        #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=256))]
        concurrency: u16,
        /// Placements migrated first; if one fails, the run stops there.
        #[arg(long, default_value_t = 0)]
        canary: u16,
        /// Show what would be applied, change nothing.
        #[arg(long)]
        dry_run: bool,
        #[arg(long)]
        json: bool,
    },
    /// The schema version and state of every placement, from the ledger.
    Status {
        #[arg(long)]
        json: bool,
    },
    /// Once per PostgreSQL server, as a superuser (or a role with
    /// CREATEROLE): creates the role fsa_app (NOLOGIN, NOSUPERUSER,
    /// NOBYPASSRLS) and the service's login (LOGIN, CREATEDB, NOSUPERUSER,
    /// NOCREATEROLE, NOBYPASSRLS, member of fsa_app). The service then
    /// connects with that login, never as a superuser. A rerun changes
    /// nothing and says so; it does not touch an existing login's password
    /// unless --reset-password.
    Bootstrap {
        /// The server, as a role that may create roles, e.g.
        /// postgres://postgres@db.internal/postgres (also FSA_BOOTSTRAP_URL).
        /// Used for this command only; it is not the service's URL.
        #[arg(long, env = "FSA_BOOTSTRAP_URL", hide_env_values = true)]
        url: String,
        /// The login to create for the service.
        #[arg(long, default_value = "fsa")]
        login: String,
        /// The environment variable holding the login's password. Without
        /// it, a new password is generated and printed once.
        #[arg(long, value_name = "VAR", conflicts_with = "no_password")]
        password_env: Option<String>,
        /// Make the login without a password (it authenticates by peer,
        /// certificate or another method of pg_hba.conf).
        #[arg(long)]
        no_password: bool,
        /// Set the password of a login that exists already.
        #[arg(long, conflicts_with = "no_password")]
        reset_password: bool,
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(config: Config, cmd: Command) -> anyhow::Result<()> {
    match cmd {
        Command::Migrate {
            concurrency,
            canary,
            dry_run,
            json,
        } => {
            migrate(
                config,
                MigrateOptions {
                    concurrency: concurrency.into(),
                    canary: canary.into(),
                    dry_run,
                },
                json,
            )
            .await
        }
        Command::Status { json } => status(config, json).await,
        Command::Bootstrap {
            url,
            login,
            password_env,
            no_password,
            reset_password,
            json,
        } => {
            bootstrap(
                &url,
                login,
                PasswordSource::from_flags(password_env, no_password),
                reset_password,
                json,
            )
            .await
        }
    }
}

/// Where the login's password comes from.
enum PasswordSource {
    Env(String),
    Generate,
    None,
}

impl PasswordSource {
    fn from_flags(env: Option<String>, none: bool) -> Self {
        match (env, none) {
            (Some(var), _) => PasswordSource::Env(var),
            (None, true) => PasswordSource::None,
            (None, false) => PasswordSource::Generate,
        }
    }
}

/// 32 characters from 62: about 190 bits, and nothing that needs quoting
/// in a URL or a shell.
fn generate_password() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    (0..32)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

#[derive(serde::Serialize)]
struct BootstrapOutput {
    #[serde(flatten)]
    report: bootstrap::BootstrapReport,
    /// A generated password, shown this once.
    #[serde(skip_serializing_if = "Option::is_none")]
    generated_password: Option<String>,
}

async fn bootstrap(
    url: &str,
    login: String,
    source: PasswordSource,
    reset_password: bool,
    json: bool,
) -> anyhow::Result<()> {
    let url = DbUrl::new(url);
    anyhow::ensure!(
        url.is_postgres(),
        "--url must be a postgres:// URL (got {url}); a SQLite installation needs no bootstrap"
    );
    bootstrap::validate_login(&login)?;
    let (password, generated) = match source {
        PasswordSource::Env(var) => match std::env::var(&var) {
            Ok(p) if !p.is_empty() => (Some(p), false),
            _ => anyhow::bail!("--password-env {var}: the variable is not set or empty"),
        },
        PasswordSource::Generate => (Some(generate_password()), true),
        PasswordSource::None => (None, false),
    };
    let request = bootstrap::BootstrapRequest {
        login,
        password: password.clone().map(bootstrap::Secret::new),
        reset_password,
    };
    let report = bootstrap::bootstrap(&url, &request).await?;
    // A generated password that was not set (the login existed) is not
    // the login's: showing it would mislead.
    let generated_password = password.filter(|_| generated && report.password_set);
    if json {
        return super::print_json(&BootstrapOutput {
            report,
            generated_password,
        });
    }
    if report.changes.is_empty() {
        println!(
            "{}: nothing to do; {} and the login {} are in place",
            report.server, report.app_role, report.login
        );
    } else {
        for c in &report.changes {
            println!("{c}");
        }
    }
    if let Some(p) = generated_password {
        println!("password of {} (shown this once): {p}", report.login);
    }
    println!(
        "the service connects as {}: postgres://{}:<password>@<host>/<catalog database>",
        report.login, report.login
    );
    Ok(())
}

/// Shows the run as a bar on a terminal, and as a line per placement on a
/// log (stderr not a terminal), so a long run is never silent.
struct Bar {
    bar: ProgressBar,
    lines: bool,
}

impl MigrateProgress for Bar {
    fn start(&self, total: usize) {
        self.bar.set_length(total as u64);
    }

    fn done(&self, o: &PlacementOutcome) {
        self.bar.inc(1);
        let line = match &o.error {
            Some(e) => format!("{} {}: {e}", o.state, o.name),
            None => format!("{} {} ({} ms)", o.state, o.name, o.duration_ms),
        };
        if self.lines {
            eprintln!("{line}");
        } else if o.state == "failed" {
            self.bar.println(line);
        }
    }
}

async fn migrate(config: Config, opts: MigrateOptions, json: bool) -> anyhow::Result<()> {
    // Opening the services migrates the catalog.
    let app = super::app(config).await?;
    let stop = Arc::new(AtomicBool::new(false));
    let on_signal = stop.clone();
    let watcher = tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            on_signal.store(true, Ordering::SeqCst);
            eprintln!("fsa: stopping after the placements in flight (Ctrl-C again to abort)");
            if tokio::signal::ctrl_c().await.is_ok() {
                std::process::exit(130);
            }
        }
    });
    let terminal = std::io::stderr().is_terminal();
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} placements ({elapsed})")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_message(if opts.dry_run {
        "checking"
    } else {
        "migrating"
    });
    if !terminal {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let progress = Bar {
        bar,
        lines: !terminal,
    };
    let set = MigrationSet::binary();
    let report = schema::migrate_fleet(&app, &set, opts, &progress, &stop).await;
    progress.bar.finish_and_clear();
    watcher.abort();
    app.router().close().await;
    let report = report?;
    if json {
        super::print_json(&report)?;
    } else {
        print_report(&report);
    }
    if !report.failed.is_empty() {
        anyhow::bail!(
            "{} placement(s) failed to migrate: {}; fix the cause and run `fsa db migrate` again",
            report.failed.len(),
            report.failed.join(", ")
        );
    }
    match report.stopped {
        Some("interrupted") => anyhow::bail!(
            "interrupted: {} placement(s) not migrated; run `fsa db migrate` again to resume",
            report.not_run.len()
        ),
        Some(reason) => anyhow::bail!("stopped: {reason}"),
        None => Ok(()),
    }
}

fn print_report(r: &FleetReport) {
    let verb = if r.dry_run { "would apply" } else { "applied" };
    super::print_table(
        ["PLACEMENT", "SERVER", "STATE", "FROM", "TO", "STEPS", "MS"],
        r.placements.iter().map(|o| {
            let opt = |v: Option<i64>| v.map_or_else(|| "-".into(), |v| v.to_string());
            [
                o.name.clone(),
                o.server.clone(),
                o.state.to_owned(),
                opt(o.from),
                opt(o.to),
                o.steps
                    .iter()
                    .map(|s| s.version.to_string())
                    .collect::<Vec<_>>()
                    .join(","),
                o.duration_ms.to_string(),
            ]
        }),
    );
    println!(
        "catalog migrated; schema {}: {} placement(s) {verb}, {} current, {} failed, {} not run",
        r.latest,
        if r.dry_run {
            r.placements.iter().filter(|o| o.state == "pending").count()
        } else {
            r.migrated
        },
        r.current,
        r.failed.len(),
        r.not_run.len()
    );
    for o in r.placements.iter().filter(|o| o.state == "failed") {
        println!("failed {}: {}", o.name, o.error.as_deref().unwrap_or(""));
    }
}

async fn status(config: Config, json: bool) -> anyhow::Result<()> {
    let app = super::app(config).await?;
    let status = schema::status(&app).await;
    app.router().close().await;
    let status = status?;
    if json {
        return super::print_json(&status);
    }
    super::print_table(
        ["PLACEMENT", "SERVER", "VERSION", "STATE", "ERROR"],
        status.placements.iter().map(|p| {
            [
                p.name.clone(),
                p.server.clone(),
                p.version.map_or_else(|| "-".into(), |v| v.to_string()),
                p.state.clone(),
                p.error.clone().unwrap_or_default(),
            ]
        }),
    );
    let behind = status.behind().len();
    println!(
        "latest schema {}; {} placement(s), {behind} not current",
        status.latest,
        status.placements.len()
    );
    Ok(())
}
