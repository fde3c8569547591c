//! Raw `pgbench` running the same list statement, as the baseline.

use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow, ensure};
use tokio::process::Command;

/// pgbench on PATH, else PostgreSQL 15's.
pub fn pgbench_path() -> Option<PathBuf> {
    crate::which("pgbench").or_else(|| {
        let p = PathBuf::from("/usr/lib/postgresql/15/bin/pgbench");
        p.is_file().then_some(p)
    })
}

#[derive(Debug, Clone)]
pub struct PgbenchResult {
    pub tps: f64,
    pub transactions: u64,
    pub failed: u64,
    pub latency_avg_ms: Option<f64>,
}

/// `pgbench -n -M prepared -c <clients> -j <threads> -T <secs> -f <script> <url>`.
pub async fn run(
    pgbench: &Path,
    script: &Path,
    db_url: &str,
    clients: usize,
    threads: usize,
    secs: u64,
) -> anyhow::Result<PgbenchResult> {
    let out = Command::new(pgbench)
        .arg("-n")
        .arg("-M")
        .arg("prepared")
        .arg("-c")
        .arg(clients.to_string())
        .arg("-j")
        .arg(threads.clamp(1, clients).to_string())
        .arg("-T")
        .arg(secs.to_string())
        .arg("-f")
        .arg(script)
        .arg(db_url)
        .output()
        .await
        .with_context(|| format!("running {}", pgbench.display()))?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    ensure!(
        out.status.success(),
        "pgbench failed: {}\n{text}{err}",
        out.status
    );
    parse(&text).with_context(|| format!("reading pgbench's output:\n{text}{err}"))
}

fn parse(text: &str) -> anyhow::Result<PgbenchResult> {
    let mut tps = None;
    let mut transactions = None;
    let mut failed = 0;
    let mut latency = None;
    for line in text.lines() {
        let l = line.trim();
        if let Some(v) = l.strip_prefix("tps = ") {
            // "tps = 1234.567890 (without initial connection time)"
            tps = v
                .split_whitespace()
                .next()
                .map(str::parse::<f64>)
                .transpose()?;
        } else if let Some(v) = l.strip_prefix("number of transactions actually processed:") {
            transactions = v
                .split_whitespace()
                .next()
                .map(str::parse::<u64>)
                .transpose()?;
        } else if let Some(v) = l.strip_prefix("number of failed transactions:") {
            failed = v
                .split_whitespace()
                .next()
                .map(str::parse::<u64>)
                .transpose()?
                .unwrap_or(0);
        } else if let Some(v) = l.strip_prefix("latency average =") {
            latency = v
                .split_whitespace()
                .next()
                .map(str::parse::<f64>)
                .transpose()?;
        }
    }
    Ok(PgbenchResult {
        tps: tps.ok_or_else(|| anyhow!("no tps line"))?,
        transactions: transactions.ok_or_else(|| anyhow!("no transaction count"))?,
        failed,
        latency_avg_ms: latency,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_pgbench_output() {
        let text = "transaction type: list.sql
scaling factor: 1
query mode: prepared
number of clients: 8
number of threads: 2
maximum number of tries: 1
duration: 15 s
number of transactions actually processed: 150000
number of failed transactions: 0 (0.000%)
latency average = 0.800 ms
initial connection time = 12.345 ms
tps = 10000.123456 (without initial connection time)
";
        let r = super::parse(text).unwrap();
        assert_eq!(r.transactions, 150000);
        assert_eq!(r.failed, 0);
        assert_eq!(r.latency_avg_ms, Some(0.8));
        assert!((r.tps - 10000.123456).abs() < 1e-9);
    }
}
