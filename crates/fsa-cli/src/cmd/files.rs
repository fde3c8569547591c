//! `fsa files gc`.

use fsa_app::config::Config;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Find file objects no row names (deleted once older than
    /// `files.gc_grace_seconds`), uploads never finished (aborted once as
    /// old) and rows whose objects are missing (reported only), over every
    /// store and tenant.
    Gc {
        /// Report only; delete nothing.
        #[arg(long)]
        dry_run: bool,
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(config: Config, cmd: Command) -> anyhow::Result<()> {
    let app = super::app(config).await?;
    let Command::Gc { dry_run, json } = cmd;
    let report = app.files_gc(dry_run).await;
    app.router().close().await;
    let report = report?;
    if json {
        return super::print_json(&report);
    }
    println!(
        "{} objects, {} rows; {} orphan objects ({} deleted{}), {} younger than the grace period kept; {} rows missing their object",
        report.objects,
        report.rows,
        report.orphans.len(),
        report.deleted,
        if dry_run { ", dry run" } else { "" },
        report.young_orphans,
        report.missing.len(),
    );
    println!(
        "{} unfinished uploads ({} aborted{}), {} younger than the grace period kept",
        report.incomplete_uploads.len(),
        report.incomplete_uploads_aborted,
        if dry_run { ", dry run" } else { "" },
        report.young_incomplete_uploads,
    );
    if !report.orphans.is_empty() {
        println!("\norphan objects:");
        super::print_table(
            ["STORE", "KEY", "BYTES", "MODIFIED", "DELETED"],
            report.orphans.iter().map(|o| {
                [
                    o.store.clone(),
                    o.key.clone(),
                    o.size.to_string(),
                    o.last_modified.to_rfc3339(),
                    o.deleted.to_string(),
                ]
            }),
        );
    }
    if !report.incomplete_uploads.is_empty() {
        println!("\nunfinished uploads:");
        super::print_table(
            ["STORE", "KEY", "UPLOAD", "INITIATED", "ABORTED"],
            report.incomplete_uploads.iter().map(|u| {
                [
                    u.store.clone(),
                    u.key.clone(),
                    u.upload_id.clone().unwrap_or_else(|| "-".into()),
                    u.initiated.to_rfc3339(),
                    u.aborted.to_string(),
                ]
            }),
        );
    }
    if !report.missing.is_empty() {
        println!("\nrows whose object is missing:");
        super::print_table(
            ["TENANT", "FILE", "STORE", "KEY"],
            report.missing.iter().map(|m| {
                [
                    m.tenant.clone(),
                    m.file_id.to_string(),
                    m.store.clone(),
                    m.key.clone(),
                ]
            }),
        );
    }
    for s in &report.failed_stores {
        eprintln!("store {} skipped ({}): {}", s.store, s.step, s.error);
    }
    for s in &report.skipped_tenants {
        eprintln!(
            "tenant {} skipped (its objects kept): {}",
            s.tenant, s.error
        );
    }
    Ok(())
}
