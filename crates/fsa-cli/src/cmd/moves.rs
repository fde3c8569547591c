//! `fsa tenant move` and `fsa move list|show|cancel`.

use std::sync::{Arc, Mutex};

use fsa_app::config::Config;
use fsa_app::{AppError, MoveOrder, MoveView};
use fsa_core::Region;
use fsa_move::Progress;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use uuid::Uuid;

#[derive(Debug, clap::Args)]
pub struct MoveArgs {
    slug: String,
    /// `shared`, `pooled`, `dedicated` or a placement id.
    #[arg(long)]
    to: String,
    #[arg(long)]
    region: Option<Region>,
    /// When the source's copy is deleted: `now` or a duration (30s, 15m, 2h).
    #[arg(long, default_value = "1h")]
    cleanup: String,
    #[arg(long)]
    reason: Option<String>,
    /// Check and show what would happen; change nothing.
    #[arg(long)]
    dry_run: bool,
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Recent moves, newest first.
    List {
        #[arg(long)]
        json: bool,
    },
    /// One move with its report.
    Show {
        id: Uuid,
        #[arg(long)]
        json: bool,
    },
    /// Cancel a move before its switch; it rolls back.
    Cancel {
        id: Uuid,
        #[arg(long)]
        json: bool,
    },
    /// Resume or roll back every unfinished move (what `fsa serve` does at start).
    Resume {
        #[arg(long)]
        json: bool,
    },
}

/// A bar per table and a line per phase.
pub(crate) struct Bars {
    multi: MultiProgress,
    phase: ProgressBar,
    tables: Mutex<Vec<(String, ProgressBar)>>,
}

impl Bars {
    /// Bars on stderr; hidden when the output is JSON.
    pub(crate) fn new(json: bool) -> Arc<Bars> {
        let multi = MultiProgress::new();
        if json {
            multi.set_draw_target(indicatif::ProgressDrawTarget::hidden());
        }
        let phase = multi.add(ProgressBar::new_spinner());
        phase.set_style(
            ProgressStyle::with_template("{spinner} move {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        phase.enable_steady_tick(std::time::Duration::from_millis(120));
        Arc::new(Bars {
            multi,
            phase,
            tables: Mutex::new(Vec::new()),
        })
    }

    pub(crate) fn finish(&self) {
        self.phase.finish_and_clear();
    }
}

impl Progress for Bars {
    fn phase(&self, state: &str) {
        self.phase.set_message(state.to_owned());
        self.phase.tick();
    }

    fn table(&self, table: &str, rows: u64) {
        let mut tables = self.tables.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, bar)) = tables.iter().find(|(t, _)| t == table) {
            bar.set_position(rows);
            return;
        }
        let bar = self.multi.add(ProgressBar::new_spinner());
        bar.set_style(
            ProgressStyle::with_template("  {msg:14} {pos:>10} rows")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.set_message(table.to_owned());
        bar.set_position(rows);
        tables.push((table.to_owned(), bar));
    }
}

impl MoveArgs {
    fn order(&self) -> MoveOrder {
        MoveOrder {
            to: self.to.clone(),
            region: self.region.clone(),
            cleanup: Some(self.cleanup.clone()),
            reason: self.reason.clone(),
            requested_by: "cli".to_owned(),
        }
    }
}

/// The CLI's words for a tenant or move that does not exist.
fn no_tenant(slug: &str) -> impl FnOnce(AppError) -> anyhow::Error + '_ {
    move |e| match e {
        AppError::NotFound("tenant") => anyhow::anyhow!("no tenant `{slug}`"),
        e => e.into(),
    }
}

fn no_move(id: Uuid) -> impl FnOnce(AppError) -> anyhow::Error {
    move |e| match e {
        AppError::NotFound("move") => anyhow::anyhow!("no move {id}"),
        e => e.into(),
    }
}

pub async fn run_move(config: Config, args: MoveArgs) -> anyhow::Result<()> {
    let app = super::app(config).await?;
    if args.dry_run {
        let preview = app
            .preview_move(&args.slug, args.order())
            .await
            .map_err(no_tenant(&args.slug))?;
        let tenant = &preview.tenant;
        let from = preview.from;
        let plan = serde_json::json!({
            "tenant": tenant.slug, "from": from, "to": args.to,
            "region": args.region.as_ref().unwrap_or(&tenant.region), "cleanup": args.cleanup, "dry_run": true,
        });
        if args.json {
            super::print_json(&plan)?;
        } else {
            println!(
                "would move {} from {} to {} in {} (cleanup {})",
                tenant.slug, from, args.to, plan["region"], args.cleanup
            );
        }
        return Ok(());
    }
    let bars = Bars::new(args.json);
    let view = app
        .run_move(&args.slug, args.order(), bars.clone())
        .await
        .map_err(no_tenant(&args.slug))?;
    bars.finish();
    print_move(&view, args.json)?;
    app.router().close().await;
    if view.state == "done" {
        Ok(())
    } else {
        anyhow::bail!("the move ended {}", view.state)
    }
}

fn print_move(v: &MoveView, json: bool) -> anyhow::Result<()> {
    if json {
        return super::print_json(v);
    }
    println!("move {} of {}: {}", v.id, v.tenant, v.state);
    println!(
        "  from {} to {} ({} in {})",
        v.from,
        v.to.map(|t| t.to_string()).unwrap_or_else(|| "-".into()),
        v.target,
        v.region
    );
    if let Some(e) = &v.error {
        println!("  error: {e}");
    }
    let r = &v.report;
    println!(
        "  copy {} ms, {} catch-up passes, verify {} ms, fence {} ms ({} delta rows), {} bytes",
        r["copy_ms"],
        r["catch_up_passes"],
        r["verify_ms"],
        r["fence_ms"],
        r["fence_delta_rows"],
        r["bytes"]
    );
    if let Some(tables) = r["tables"].as_object() {
        for (t, x) in tables {
            println!(
                "  {t:<14} {:>10} rows  checksum {} (source {})",
                x["rows"],
                x["checksum"].as_str().unwrap_or(""),
                x["source_checksum"].as_str().unwrap_or("")
            );
        }
    }
    let f = &r["files"];
    if f.is_object() {
        println!(
            "  files: store {} → {}: {} objects ({} bytes), {} SHA-256 read back; {} copied ({} bytes) in {} ms; {} deleted at the source",
            f["from_store"].as_str().unwrap_or(""),
            f["to_store"].as_str().unwrap_or(""),
            f["objects"],
            f["object_bytes"],
            f["checksums_verified"],
            f["copied"],
            f["bytes"],
            f["copy_ms"],
            f["deleted_at_source"],
        );
        if f["missing_count"].as_u64().unwrap_or(0) > 0 {
            println!(
                "  files: {} rows whose object no store held (lost before the move; see `fsa files gc`)",
                f["missing_count"]
            );
        }
    }
    Ok(())
}

pub async fn run(config: Config, cmd: Command) -> anyhow::Result<()> {
    let app = super::app(config).await?;
    match cmd {
        Command::List { json } => {
            let views = app.moves(100).await?;
            if json {
                super::print_json(&views)?;
            } else {
                super::print_table(
                    ["ID", "TENANT", "STATE", "TARGET", "CREATED"],
                    views.into_iter().map(|v| {
                        [
                            v.id.to_string(),
                            v.tenant,
                            v.state,
                            v.target,
                            v.created_at.0.to_rfc3339(),
                        ]
                    }),
                );
            }
        }
        Command::Show { id, json } => {
            print_move(&app.move_view(id).await.map_err(no_move(id))?, json)?;
        }
        Command::Resume { json } => {
            let views = app.resume_moves().await?;
            if json {
                super::print_json(&views)?;
            } else if views.is_empty() {
                println!("no unfinished moves");
            } else {
                for v in views {
                    println!("move {} of {}: {}", v.id, v.tenant, v.state);
                }
            }
        }
        Command::Cancel { id, json } => {
            app.cancel_move(id).await.map_err(no_move(id))?;
            if json {
                super::print_json(&serde_json::json!({"id": id, "cancel_requested": true}))?;
            } else {
                println!("cancel requested for move {id}; it rolls back at its next step");
            }
        }
    }
    app.router().close().await;
    Ok(())
}
