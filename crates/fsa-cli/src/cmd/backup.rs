//! `fsa backup run|list|verify|restore`: backups of one tenant, made here
//! with progress (`run`), listed from the catalog, checked part by part
//! against their manifest (`verify`), and restored as a new tenant
//! (`restore --as`). `--json` on each.

use fsa_app::AppError;
use fsa_app::backups::BackupView;
use fsa_app::config::Config;
use uuid::Uuid;

use super::moves::Bars;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Back up one tenant, or every tenant.
    Run {
        #[arg(long, conflicts_with = "all", required_unless_present = "all")]
        tenant: Option<String>,
        #[arg(long)]
        all: bool,
        #[arg(long)]
        json: bool,
    },
    /// The newest backups, of one tenant with --tenant.
    List {
        #[arg(long)]
        tenant: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Re-read every part of a backup and check it against its manifest.
    Verify {
        id: Uuid,
        #[arg(long)]
        json: bool,
    },
    /// Restore a backup as a new tenant (--as), or over its own tenant.
    Restore {
        id: Uuid,
        /// The new tenant's slug; without it, the backup's tenant is
        /// restored in place (its current state backed up first).
        #[arg(long = "as", value_name = "SLUG")]
        as_slug: Option<String>,
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(config: Config, cmd: Command) -> anyhow::Result<()> {
    let app = super::app(config).await?;
    let result = command(&app, cmd).await;
    app.router().close().await;
    result
}

fn no_backup(id: Uuid) -> impl FnOnce(AppError) -> anyhow::Error {
    move |e| match e {
        AppError::NotFound("backup") => anyhow::anyhow!("no backup {id}"),
        e => e.into(),
    }
}

async fn command(app: &fsa_app::App, cmd: Command) -> anyhow::Result<()> {
    match cmd {
        Command::Run { tenant, all, json } => {
            let slugs = match tenant {
                Some(s) => vec![s],
                None if all => app.tenants().await?.into_iter().map(|t| t.slug).collect(),
                None => anyhow::bail!("--tenant or --all"),
            };
            let mut made = Vec::new();
            let mut failed = 0;
            for slug in slugs {
                let bars = Bars::new(json);
                let b = app.backup_now(&slug, "operator", bars.clone()).await;
                bars.finish();
                match b {
                    Ok(b) => {
                        if !json {
                            println!(
                                "backup {} of {}: {} bytes",
                                b.id,
                                b.tenant,
                                b.size_bytes.unwrap_or(0)
                            );
                        }
                        made.push(b);
                    }
                    Err(AppError::NotFound("tenant")) => anyhow::bail!("no tenant {slug}"),
                    Err(e) => {
                        eprintln!("backup of {slug} failed: {e}");
                        failed += 1;
                    }
                }
            }
            if json {
                super::print_json(&made)?;
            }
            if failed > 0 {
                anyhow::bail!("{failed} backups failed");
            }
            Ok(())
        }
        Command::List { tenant, json } => {
            let list = app.backups(tenant.as_deref()).await.map_err(|e| match e {
                AppError::NotFound("tenant") => {
                    anyhow::anyhow!("no tenant {}", tenant.clone().unwrap_or_default())
                }
                e => e.into(),
            })?;
            if json {
                return super::print_json(&list);
            }
            print_list(&list);
            Ok(())
        }
        Command::Verify { id, json } => {
            let r = app.verify_backup(id).await.map_err(no_backup(id))?;
            if json {
                super::print_json(&r)?;
            } else {
                println!(
                    "backup {id} is intact: {} parts, {} bytes, {} rows",
                    r.parts, r.bytes, r.rows
                );
            }
            Ok(())
        }
        Command::Restore { id, as_slug, json } => {
            let bars = Bars::new(json);
            let Some(as_slug) = as_slug else {
                let r = app.restore_in_place(id, bars.clone()).await;
                bars.finish();
                let r = r.map_err(no_backup(id))?;
                if json {
                    super::print_json(&r)?;
                } else {
                    println!(
                        "backup {id} restored over {} ({} rows, {} files); its state before is backup {}",
                        r.tenant, r.rows, r.objects, r.before
                    );
                }
                return Ok(());
            };
            let r = app.restore_as(id, &as_slug, bars.clone()).await;
            bars.finish();
            let r = r.map_err(no_backup(id))?;
            if json {
                super::print_json(&r)?;
            } else {
                println!(
                    "backup {id} restored as {} ({} rows, {} files) on {}",
                    r.tenant.slug, r.rows, r.objects, r.tenant.placement.name
                );
            }
            Ok(())
        }
    }
}

fn print_list(list: &[BackupView]) {
    super::print_table(
        [
            "ID", "TENANT", "PLAN", "STATE", "CREATED", "BYTES", "REASON",
        ],
        list.iter().map(|b| {
            [
                b.id.to_string(),
                b.tenant.clone(),
                b.plan.clone(),
                b.state.clone(),
                b.created_at.format("%Y-%m-%d %H:%M:%S").to_string(),
                b.size_bytes
                    .map_or_else(|| "-".to_owned(), |n| n.to_string()),
                b.reason.clone(),
            ]
        }),
    );
}
