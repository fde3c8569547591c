//! Throwaway PostgreSQL clusters: `initdb` into a temporary folder, started
//! on a free port, stopped and removed on drop. As root, the cluster runs as
//! the `postgres` user (initdb refuses root).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

const BIN: &str = "/usr/lib/postgresql/15/bin";

pub struct PgCluster {
    dir: tempfile::TempDir,
    pub port: u16,
    running: bool,
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout.starts_with(b"0"))
        .unwrap_or(false)
}

fn run_pg(args: &[&str]) -> anyhow::Result<()> {
    let (prog, rest) = args
        .split_first()
        .ok_or_else(|| anyhow::anyhow!("no command"))?;
    let bin = std::env::var("FSA_PG_BIN").unwrap_or_else(|_| BIN.to_owned());
    let exe = Path::new(&bin).join(prog);
    let out = if is_root() {
        Command::new("runuser")
            .arg("-u")
            .arg("postgres")
            .arg("--")
            .arg(&exe)
            .args(rest)
            .output()?
    } else {
        Command::new(&exe).args(rest).output()?
    };
    if !out.status.success() {
        anyhow::bail!(
            "{prog} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

impl PgCluster {
    /// Creates and starts a new cluster (trust auth, fsync off).
    pub fn start() -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new().prefix("fsa-pg-").tempdir()?;
        if is_root() {
            let status = Command::new("chown")
                .arg("-R")
                .arg("postgres:postgres")
                .arg(dir.path())
                .status()?;
            anyhow::ensure!(status.success(), "chown of the cluster folder failed");
        }
        let data = dir.path().join("data");
        let data_s = data.to_string_lossy().to_string();
        run_pg(&[
            "initdb",
            "-D",
            &data_s,
            "-U",
            "postgres",
            "-A",
            "trust",
            "--no-sync",
            "-E",
            "UTF8",
        ])?;
        let mut cluster = PgCluster {
            dir,
            port: 0,
            running: false,
        };
        cluster.port = free_port()?;
        cluster.start_again()?;
        Ok(cluster)
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The server's base URL, without a database.
    pub fn base_url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}", self.port)
    }

    /// Stops the server (fast shutdown); its data stays.
    pub fn stop(&mut self) -> anyhow::Result<()> {
        let data = self.data().to_string_lossy().to_string();
        run_pg(&["pg_ctl", "-D", &data, "-m", "fast", "-w", "stop"])?;
        self.running = false;
        Ok(())
    }

    /// Starts a stopped server again on the same port.
    pub fn start_again(&mut self) -> anyhow::Result<()> {
        let data = self.data().to_string_lossy().to_string();
        let log = self
            .dir
            .path()
            .join("server.log")
            .to_string_lossy()
            .to_string();
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200",
            self.port,
            self.dir.path().display()
        );
        run_pg(&[
            "pg_ctl", "-D", &data, "-l", &log, "-o", &opts, "-w", "start",
        ])?;
        self.running = true;
        Ok(())
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        if self.running {
            let _ = self.stop();
        }
    }
}
