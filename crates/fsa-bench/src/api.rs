//! The service as a subprocess (`fsa serve`) and an HTTP load generator
//! against it: `wrk` when present, else a reqwest client in this process.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail, ensure};
use tokio::process::{Child, Command};

use crate::stats::Samples;

/// The request driven: one page of open work orders, newest first.
pub const LIST_PATH: &str = "/api/v1/work-orders?status=open&limit=50";

/// `fsa serve` running on a free local port.
pub struct Service {
    pub base: String,
    child: Child,
    pub log: PathBuf,
}

/// Settings of the service subprocess.
pub struct ServiceSpec<'a> {
    pub bin: &'a Path,
    pub catalog_url: &'a str,
    pub admin_token: &'a str,
    pub jwt_secret: &'a str,
    pub data_dir: &'a Path,
    /// Further environment variables for the service.
    pub env: &'a [(&'a str, &'a str)],
}

impl Service {
    pub async fn start(spec: ServiceSpec<'_>) -> anyhow::Result<Self> {
        ensure!(
            spec.bin.is_file(),
            "{} not found; build it with `cargo build --release -p fsa-cli` or pass --fsa-bin",
            spec.bin.display()
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let listen = format!("127.0.0.1:{port}");
        let log = spec.data_dir.join("fsa-serve.log");
        let out = std::fs::File::create(&log)?;
        let err = out.try_clone()?;
        let mut cmd = Command::new(spec.bin);
        cmd.arg("serve")
            .arg("--listen")
            .arg(&listen)
            .env_remove("FSA_CONFIG")
            .env("FSA_DATABASE_URL", spec.catalog_url)
            .env("FSA_ADMIN_TOKEN", spec.admin_token)
            .env("FSA_JWT_SECRET", spec.jwt_secret)
            .env("FSA_DATA_DIR", spec.data_dir)
            // The free plan allows 50 requests/s, 10 at once and 150 ms of
            // work per second per tenant;
            // a throughput test from one tenant needs them out of the way.
            // The limiter still runs on every request.
            .env("FSA_LIMITS__FREE__REQUESTS_PER_SECOND", "10000000")
            .env("FSA_LIMITS__FREE__CONCURRENT_REQUESTS", "10000")
            .env("FSA_LIMITS__FREE__WORK_MS_PER_SECOND", "100000000")
            .envs(spec.env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .kill_on_drop(true);
        let child = cmd
            .spawn()
            .with_context(|| format!("starting {}", spec.bin.display()))?;
        let mut svc = Service {
            base: format!("http://{listen}"),
            child,
            log,
        };
        svc.wait_ready(Duration::from_secs(60)).await?;
        Ok(svc)
    }

    async fn wait_ready(&mut self, timeout: Duration) -> anyhow::Result<()> {
        let client = reqwest::Client::new();
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "fsa serve exited with {status} before it was ready; log:\n{}",
                    self.log_tail(40)
                );
            }
            let ready = client
                .get(format!("{}/ready", self.base))
                .timeout(Duration::from_secs(2))
                .send()
                .await
                .is_ok_and(|r| r.status() == reqwest::StatusCode::OK);
            if ready {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "fsa serve not ready after {timeout:?}; log:\n{}",
                    self.log_tail(40)
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    pub fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// Lines of the service's log at WARN or ERROR level.
    pub fn log_problems(&self) -> Vec<String> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains(" WARN ") || l.contains(" ERROR ") || l.contains("panicked"))
            .map(str::to_owned)
            .collect()
    }

    pub async fn stop(mut self) -> anyhow::Result<()> {
        if self.child.try_wait()?.is_none() {
            self.child.start_kill()?;
            self.child.wait().await?;
        }
        Ok(())
    }

    /// Logs in as a tenant's user; returns the bearer token.
    pub async fn login(&self, tenant: &str, email: &str, password: &str) -> anyhow::Result<String> {
        let res = reqwest::Client::new()
            .post(format!("{}/api/v1/auth/login", self.base))
            .json(&serde_json::json!({ "tenant": tenant, "email": email, "password": password }))
            .send()
            .await?;
        let status = res.status();
        let body: serde_json::Value = res.json().await?;
        ensure!(status.is_success(), "login failed: {status} {body}");
        body.get("token")
            .and_then(|t| t.as_str())
            .map(str::to_owned)
            .ok_or_else(|| anyhow!("login answered without a token: {body}"))
    }

    /// One list request, checked: 200 and a page of `expected` items.
    pub async fn probe(&self, token: &str, expected: usize) -> anyhow::Result<()> {
        let res = reqwest::Client::new()
            .get(format!("{}{LIST_PATH}", self.base))
            .bearer_auth(token)
            .send()
            .await?;
        let status = res.status();
        let body: serde_json::Value = res.json().await?;
        ensure!(status == reqwest::StatusCode::OK, "list: {status} {body}");
        let items = body
            .get("items")
            .and_then(|i| i.as_array())
            .map(Vec::len)
            .ok_or_else(|| anyhow!("list answered without items: {body}"))?;
        ensure!(
            items == expected,
            "list gave {items} items, expected {expected}"
        );
        Ok(())
    }
}

/// The outcome of one load run.
#[derive(Debug, Clone)]
pub struct LoadResult {
    pub requests: u64,
    pub errors: u64,
    pub secs: f64,
    pub rps: f64,
    /// Client-side latency percentiles (ms) when the driver reports them.
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub driver: &'static str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Driver {
    /// `wrk` if it is on PATH, else reqwest.
    Auto,
    Wrk,
    Reqwest,
}

pub fn wrk_path() -> Option<PathBuf> {
    crate::which("wrk")
}

/// Drives `GET LIST_PATH` with `connections` keep-alive connections for
/// `secs` seconds.
pub async fn drive(
    driver: Driver,
    base: &str,
    token: &str,
    connections: usize,
    threads: usize,
    secs: u64,
) -> anyhow::Result<LoadResult> {
    let wrk = match driver {
        Driver::Reqwest => None,
        Driver::Wrk => Some(wrk_path().ok_or_else(|| anyhow!("wrk not found on PATH"))?),
        Driver::Auto => wrk_path(),
    };
    match wrk {
        Some(w) => run_wrk(&w, base, token, connections, threads, secs).await,
        None => run_reqwest(base, token, connections, secs).await,
    }
}

async fn run_wrk(
    wrk: &Path,
    base: &str,
    token: &str,
    connections: usize,
    threads: usize,
    secs: u64,
) -> anyhow::Result<LoadResult> {
    let out = Command::new(wrk)
        .arg(format!("-t{}", threads.clamp(1, connections)))
        .arg(format!("-c{connections}"))
        .arg(format!("-d{secs}s"))
        .arg("--timeout")
        .arg("10s")
        .arg("--latency")
        .arg("-H")
        .arg(format!("Authorization: Bearer {token}"))
        .arg(format!("{base}{LIST_PATH}"))
        .output()
        .await
        .context("running wrk")?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    ensure!(
        out.status.success(),
        "wrk failed: {}\n{text}{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    parse_wrk(&text).with_context(|| format!("reading wrk's output:\n{text}"))
}

fn parse_wrk(text: &str) -> anyhow::Result<LoadResult> {
    let mut requests = None;
    let mut secs = None;
    let mut rps = None;
    let mut errors = 0;
    let mut p50 = None;
    let mut p99 = None;
    for line in text.lines() {
        let l = line.trim();
        if let Some(v) = l.strip_prefix("Requests/sec:") {
            rps = Some(v.trim().parse::<f64>()?);
        } else if let Some(v) = l.strip_prefix("Non-2xx or 3xx responses:") {
            errors += v.trim().parse::<u64>()?;
        } else if let Some(v) = l.strip_prefix("Socket errors:") {
            // "connect 0, read 0, write 0, timeout 0"
            for part in v.split(',') {
                if let Some(n) = part.split_whitespace().nth(1) {
                    errors += n.parse::<u64>()?;
                }
            }
        } else if l.contains(" requests in ") {
            // "12345 requests in 15.00s, 12.34MB read"
            let mut w = l.split_whitespace();
            requests = w.next().map(str::parse::<u64>).transpose()?;
            secs = w
                .nth(2)
                .map(|s| parse_duration_ms(s.trim_end_matches(',')))
                .transpose()?
                .map(|ms| ms / 1000.0);
        } else if let Some(v) = l.strip_prefix("50%") {
            p50 = Some(parse_duration_ms(v.trim())?);
        } else if let Some(v) = l.strip_prefix("99%") {
            p99 = Some(parse_duration_ms(v.trim())?);
        }
    }
    let requests = requests.ok_or_else(|| anyhow!("no request count"))?;
    Ok(LoadResult {
        requests,
        errors,
        secs: secs.ok_or_else(|| anyhow!("no duration"))?,
        rps: rps.ok_or_else(|| anyhow!("no Requests/sec"))?,
        p50_ms: p50,
        p99_ms: p99,
        driver: "wrk",
    })
}

/// wrk's durations: "812.00us", "1.23ms", "15.00s", "1.00m".
fn parse_duration_ms(s: &str) -> anyhow::Result<f64> {
    let (num, factor) = if let Some(n) = s.strip_suffix("us") {
        (n, 0.001)
    } else if let Some(n) = s.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1000.0)
    } else if let Some(n) = s.strip_suffix('m') {
        (n, 60_000.0)
    } else if let Some(n) = s.strip_suffix('h') {
        (n, 3_600_000.0)
    } else {
        bail!("unknown duration `{s}`")
    };
    Ok(num.parse::<f64>()? * factor)
}

async fn run_reqwest(
    base: &str,
    token: &str,
    connections: usize,
    secs: u64,
) -> anyhow::Result<LoadResult> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(connections)
        .build()?;
    let url = format!("{base}{LIST_PATH}");
    let stop = Arc::new(AtomicBool::new(false));
    let errors = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let (client, url, token) = (client.clone(), url.clone(), token.to_owned());
        let (stop, errors) = (stop.clone(), errors.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = Samples::with_capacity(100_000);
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let t = Instant::now();
                let ok = match client.get(&url).bearer_auth(&token).send().await {
                    Ok(res) => {
                        let ok = res.status() == reqwest::StatusCode::OK;
                        ok & res.bytes().await.is_ok()
                    }
                    Err(_) => false,
                };
                lat.push(t.elapsed());
                n += 1;
                if !ok {
                    errors.fetch_add(1, Ordering::Relaxed);
                }
            }
            (n, lat)
        }));
    }
    tokio::time::sleep(Duration::from_secs(secs)).await;
    stop.store(true, Ordering::Relaxed);
    let mut requests = 0;
    let mut all = Samples::default();
    for t in tasks {
        let (n, lat) = t.await?;
        requests += n;
        all.extend(lat);
    }
    let elapsed = started.elapsed().as_secs_f64();
    let s = all.summary();
    Ok(LoadResult {
        requests,
        errors: errors.load(Ordering::Relaxed),
        secs: elapsed,
        rps: requests as f64 / elapsed,
        p50_ms: Some(s.p50),
        p99_ms: Some(s.p99),
        driver: "reqwest",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_wrk_output() {
        let text = "Running 15s test @ http://127.0.0.1:1/api/v1/work-orders?status=open&limit=50
  2 threads and 8 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     2.10ms    1.02ms  30.11ms   90.00%
    Req/Sec     1.90k   100.00     2.10k    70.00%
  Latency Distribution
     50%    1.90ms
     75%    2.40ms
     90%    3.00ms
     99%  812.00us
  57000 requests in 15.01s, 150.00MB read
  Non-2xx or 3xx responses: 3
  Socket errors: connect 0, read 1, write 0, timeout 2
Requests/sec:   3797.47
Transfer/sec:     10.00MB
";
        let r = parse_wrk(text).unwrap();
        assert_eq!(r.requests, 57000);
        assert_eq!(r.errors, 6);
        assert!((r.secs - 15.01).abs() < 1e-9);
        assert!((r.rps - 3797.47).abs() < 1e-9);
        assert_eq!(r.p50_ms, Some(1.9));
        assert!((r.p99_ms.unwrap() - 0.812).abs() < 1e-9);
    }
}
