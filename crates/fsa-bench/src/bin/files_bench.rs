//! Files through the API against `object_store` directly, in the same run.
//!
//! The service runs as a subprocess (`fsa serve`, SQLite catalog, the local
//! store in its data directory, the premium plan's store a bucket on an S3
//! server: moto, started here from `--moto` or named by `--s3-endpoint`).
//! For each store (local, S3), each run:
//!
//! 1. uploads a file of `--bytes` through `POST /api/v1/work-orders/{id}/files`
//!    (multipart, streamed from a generator: the client holds one 1 MiB
//!    block, never the file) and puts the same bytes straight into the same
//!    store with `put_multipart` the way the service writes (parts of the
//!    store's part size, two in flight); ratio = direct time / API time;
//! 2. downloads that file through `GET /api/v1/files/{id}/content` (streamed,
//!    bytes counted and dropped) and gets the same object straight from the
//!    store (streamed the same way); same ratio;
//! 3. samples the service's RSS (`/proc/<pid>/status`, every 10 ms, and its
//!    `VmHWM` reset through `clear_refs` just before) during the upload.
//!
//! The order of the API and direct sides alternates from run to run, and the
//! page cache's dirty pages are written out (`sync`) before each timed step.
//!
//! `--move` adds the move of a basic tenant with `--files` files (`--bytes`
//! in all) from the local store to S3 (a plan change to premium) against a
//! raw copy of the same objects (get from the local store, put to a bucket,
//! `--concurrency` at a time). When the objects are not in the target bucket
//! after the move, it says so instead of printing a ratio.
//!
//! `cargo run --release -p fsa-bench --bin files_bench -- --moto .venv-s3/bin/moto_server --move`

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail, ensure};
use bytes::Bytes;
use clap::Parser;
use futures::{Stream, StreamExt, TryStreamExt};
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, WriteMultipart};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::process::{Child, Command};

#[derive(Parser)]
#[command(
    name = "files_bench",
    about = "Files through the API vs object_store directly (local and S3)"
)]
struct Args {
    /// Size of the file uploaded and downloaded (e.g. 1GiB, 64MiB, 1000000);
    /// with `--move`, also the tenant's bytes in all.
    #[arg(long, default_value = "1GiB", value_parser = parse_bytes)]
    bytes: u64,
    /// Runs; every ratio is the median of the runs' ratios.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Also print the results as JSON (after the table).
    #[arg(long)]
    json: bool,
    /// Also measure a move of a tenant's files local → S3 against a raw copy.
    #[arg(long = "move")]
    with_move: bool,
    /// Only the move (implies `--move`).
    #[arg(long)]
    move_only: bool,
    /// Files of the moved tenant (`--bytes` in all).
    #[arg(long, default_value_t = 1000)]
    files: usize,
    /// Objects copied at once by the raw copy, and uploads at once when
    /// filling the moved tenant.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Stores to measure: `local`, `s3` or both.
    #[arg(long, value_delimiter = ',', default_values = ["local", "s3"])]
    stores: Vec<String>,
    /// The `fsa` binary (default: `fsa` beside this binary).
    #[arg(long)]
    fsa_bin: Option<PathBuf>,
    /// A running S3 server (moto); else one is started from `--moto`.
    #[arg(long, env = "FSA_TEST_S3_ENDPOINT")]
    s3_endpoint: Option<String>,
    /// moto's `moto_server` (default: `.venv-s3/bin/moto_server` in the workspace).
    #[arg(long)]
    moto: Option<PathBuf>,
    /// Longest wait for the move to finish, in seconds.
    #[arg(long, default_value_t = 1800)]
    move_timeout: u64,
}

/// How the service writes (`fsa_app::files`): parts of 5 MiB to S3, 1 MiB
/// to a local folder, two parts in flight. The direct side does the same.
const S3_PART_BYTES: usize = 5 * 1024 * 1024;
const LOCAL_PART_BYTES: usize = 1024 * 1024;
const PARTS_IN_FLIGHT: usize = 2;
/// The generator's block: every chunk sent is a slice of it.
const BLOCK: usize = 1024 * 1024;
const MIB: f64 = 1024.0 * 1024.0;
const BOUNDARY: &str = "fsa-bench-boundary-5b7e21c94d";
const ACCESS_KEY: &str = "test";
const SECRET_KEY: &str = "test";

fn parse_bytes(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (n, unit) = s.split_at(split);
    let n: u64 = n.parse().map_err(|_| format!("{s:?}: a number of bytes"))?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        "g" | "gib" => 1 << 30,
        "kb" => 1000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        u => return Err(format!("unknown unit {u:?} (KiB, MiB, GiB)")),
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("{s:?} is too large"))
}

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

fn human(bytes: u64) -> String {
    let b = bytes as f64;
    if b >= 1024.0 * MIB {
        format!("{:.2} GiB", b / 1024.0 / MIB)
    } else {
        format!("{:.1} MiB", b / MIB)
    }
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// Writes dirty pages out, so that one side's writes are not paid by the next.
async fn sync() {
    let _ = Command::new("sync").status().await;
}

// ---------------------------------------------------------------------------
// The generator.

/// `size` bytes as slices of `block`; nothing but the block is held.
fn chunks(block: &Bytes, size: u64) -> impl Stream<Item = Bytes> + Send + 'static {
    let block = block.clone();
    let mut left = size;
    futures::stream::iter(std::iter::from_fn(move || {
        if left == 0 {
            return None;
        }
        let n = left.min(block.len() as u64) as usize;
        left -= n as u64;
        Some(block.slice(..n))
    }))
}

/// A block of pseudo-random bytes (xorshift), different for each seed.
fn block(seed: u64) -> Bytes {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut v = Vec::with_capacity(BLOCK);
    while v.len() < BLOCK {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.extend_from_slice(&x.to_le_bytes());
    }
    v.truncate(BLOCK);
    Bytes::from(v)
}

async fn sha256_of(block: &Bytes, size: u64) -> String {
    let mut h = Sha256::new();
    let mut s = std::pin::pin!(chunks(block, size));
    while let Some(c) = s.next().await {
        h.update(&c);
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

// ---------------------------------------------------------------------------
// The S3 server.

struct S3Server {
    endpoint: String,
    _moto: Option<Child>,
}

impl S3Server {
    async fn start(args: &Args) -> anyhow::Result<Self> {
        if let Some(e) = args.s3_endpoint.as_deref().filter(|e| !e.is_empty()) {
            return Ok(S3Server {
                endpoint: e.trim_end_matches('/').to_owned(),
                _moto: None,
            });
        }
        let bin = args.moto.clone().unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv-s3/bin/moto_server")
        });
        ensure!(
            bin.exists(),
            "{} not found: pass --moto or --s3-endpoint (moto: `python3 -m venv .venv-s3 && .venv-s3/bin/pip install 'moto[server]'`)",
            bin.display()
        );
        let port = free_port()?;
        let child = Command::new(&bin)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        let endpoint = format!("http://127.0.0.1:{port}");
        let client = reqwest::Client::builder().no_proxy().build()?;
        let started = Instant::now();
        while client.get(&endpoint).send().await.is_err() {
            ensure!(
                started.elapsed() < Duration::from_secs(60),
                "moto_server did not answer on {endpoint}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(S3Server {
            endpoint,
            _moto: Some(child),
        })
    }

    async fn create_bucket(&self, bucket: &str) -> anyhow::Result<()> {
        let res = reqwest::Client::builder()
            .no_proxy()
            .build()?
            .put(format!("{}/{bucket}", self.endpoint))
            .send()
            .await
            .with_context(|| format!("the S3 server at {} does not answer", self.endpoint))?;
        ensure!(
            res.status().is_success(),
            "creating bucket {bucket}: {}",
            res.status()
        );
        Ok(())
    }

    async fn delete_bucket(&self, bucket: &str) {
        let store = self.store(bucket);
        if let Ok(all) = store.list(None).try_collect::<Vec<_>>().await {
            for o in all {
                let _ = store.delete(&o.location).await;
            }
        }
        if let Ok(c) = reqwest::Client::builder().no_proxy().build() {
            let _ = c.delete(format!("{}/{bucket}", self.endpoint)).send().await;
        }
    }

    /// A client of `bucket`, as the service makes one (but with room for a
    /// slow whole-object GET).
    fn store(&self, bucket: &str) -> Arc<dyn ObjectStore> {
        let client = object_store::ClientOptions::new()
            .with_connect_timeout(Duration::from_secs(2))
            .with_timeout(Duration::from_secs(3600))
            .with_allow_http(true);
        Arc::new(
            AmazonS3Builder::new()
                .with_endpoint(&self.endpoint)
                .with_region("us-east-1")
                .with_bucket_name(bucket)
                .with_access_key_id(ACCESS_KEY)
                .with_secret_access_key(SECRET_KEY)
                .with_client_options(client)
                .build()
                .expect("an S3 client of a well-formed configuration"),
        )
    }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

// ---------------------------------------------------------------------------
// The service.

struct Service {
    base: String,
    admin: String,
    child: Child,
    log: PathBuf,
    client: reqwest::Client,
}

impl Service {
    async fn start(
        bin: &Path,
        data_dir: &Path,
        s3: &S3Server,
        bucket: &str,
        max_file_bytes: u64,
    ) -> anyhow::Result<Self> {
        ensure!(
            bin.is_file(),
            "{} not found; build it with `cargo build --release -p fsa-cli` or pass --fsa-bin",
            bin.display()
        );
        let listen = format!("127.0.0.1:{}", free_port()?);
        let log = data_dir.join("fsa-serve.log");
        let out = std::fs::File::create(&log)?;
        let err = out.try_clone()?;
        let admin = format!("admin-{}", uuid::Uuid::new_v4().simple());
        let mut cmd = Command::new(bin);
        cmd.arg("serve")
            .arg("--listen")
            .arg(&listen)
            .env_remove("FSA_CONFIG")
            .env_remove("FSA_DATABASE_URL")
            .env("FSA_DATA_DIR", data_dir)
            .env("FSA_ADMIN_TOKEN", &admin)
            .env(
                "FSA_JWT_SECRET",
                format!("jwt-{}", uuid::Uuid::new_v4().simple()),
            )
            .env("FSA_FILES__MAX_FILE_BYTES", max_file_bytes.to_string())
            .env("FSA_FILES__GC_EVERY_SECONDS", "0")
            .env("FSA_FILES__STORES__PREMIUM__URL", format!("s3://{bucket}"))
            .env("FSA_FILES__STORES__PREMIUM__ENDPOINT", &s3.endpoint)
            .env("FSA_FILES__STORES__PREMIUM__REGION", "us-east-1")
            .env("FSA_FILES__STORES__PREMIUM__ACCESS_KEY_ID", ACCESS_KEY)
            .env("FSA_FILES__STORES__PREMIUM__SECRET_ACCESS_KEY", SECRET_KEY)
            // The move finishes (its cleanup included) without a grace period.
            .env("FSA_MOVE_CLEANUP", "0s")
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .kill_on_drop(true);
        // One client sending flat out would be held back by the plan's
        // limits; the limiter still runs on every request.
        for plan in ["BASIC", "PREMIUM"] {
            cmd.env(
                format!("FSA_LIMITS__{plan}__REQUESTS_PER_SECOND"),
                "10000000",
            )
            .env(format!("FSA_LIMITS__{plan}__CONCURRENT_REQUESTS"), "10000")
            .env(
                format!("FSA_LIMITS__{plan}__WORK_MS_PER_SECOND"),
                "100000000",
            )
            .env(
                format!("FSA_LIMITS__{plan}__FILE_BYTES"),
                (1u64 << 50).to_string(),
            );
        }
        let child = cmd
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        let mut svc = Service {
            base: format!("http://{listen}"),
            admin,
            child,
            log,
            client: reqwest::Client::builder().no_proxy().build()?,
        };
        svc.wait_ready().await?;
        Ok(svc)
    }

    async fn wait_ready(&mut self) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "fsa serve exited with {status}; log:\n{}",
                    self.log_tail(40)
                );
            }
            let ready = self
                .client
                .get(format!("{}/ready", self.base))
                .timeout(Duration::from_secs(2))
                .send()
                .await
                .is_ok_and(|r| r.status() == reqwest::StatusCode::OK);
            if ready {
                return Ok(());
            }
            ensure!(
                Instant::now() < deadline,
                "fsa serve not ready after 60 s; log:\n{}",
                self.log_tail(40)
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn pid(&self) -> anyhow::Result<u32> {
        self.child
            .id()
            .ok_or_else(|| anyhow!("fsa serve has exited"))
    }

    fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    async fn stop(mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.start_kill();
            let _ = self.child.wait().await;
        }
    }

    /// A JSON request; fails unless the status is `want`.
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<Value>,
        want: u16,
    ) -> anyhow::Result<Value> {
        let mut req = self
            .client
            .request(method.clone(), format!("{}{path}", self.base))
            .bearer_auth(token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req
            .send()
            .await
            .with_context(|| format!("{method} {path}"))?;
        let status = res.status().as_u16();
        let text = res.text().await.unwrap_or_default();
        ensure!(status == want, "{method} {path}: {status} {text}");
        Ok(if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).with_context(|| format!("{method} {path}: {text}"))?
        })
    }

    /// A tenant with an admin, a client and a work order: (tenant id,
    /// token, work order id).
    async fn tenant(&self, slug: &str, plan: &str) -> anyhow::Result<(String, String, String)> {
        let t = self
            .call(
                reqwest::Method::POST,
                "/admin/tenants",
                &self.admin,
                Some(json!({
                    "slug": slug, "name": format!("Bench {slug}"), "plan": plan, "region": "default",
                    "admin_email": format!("admin@{slug}.test"), "admin_password": format!("password-{slug}-bench"),
                })),
                201,
            )
            .await?;
        let id = t["id"]
            .as_str()
            .ok_or_else(|| anyhow!("tenant without id: {t}"))?
            .to_owned();
        let token = self.login(slug).await?;
        let c = self
            .call(
                reqwest::Method::POST,
                "/api/v1/clients",
                &token,
                Some(json!({"name": "Bench client"})),
                201,
            )
            .await?;
        let w = self
            .call(
                reqwest::Method::POST,
                "/api/v1/work-orders",
                &token,
                Some(json!({"client_id": c["id"], "title": "Bench order"})),
                201,
            )
            .await?;
        let wo = w["id"]
            .as_str()
            .ok_or_else(|| anyhow!("work order without id: {w}"))?
            .to_owned();
        Ok((id, token, wo))
    }

    async fn login(&self, slug: &str) -> anyhow::Result<String> {
        let res = self
            .client
            .post(format!("{}/api/v1/auth/login", self.base))
            .json(&json!({"tenant": slug, "email": format!("admin@{slug}.test"), "password": format!("password-{slug}-bench")}))
            .send()
            .await?;
        let status = res.status();
        let body: Value = res.json().await.unwrap_or(Value::Null);
        ensure!(status.is_success(), "login {slug}: {status} {body}");
        Ok(body["token"]
            .as_str()
            .ok_or_else(|| anyhow!("login {slug}: no token in {body}"))?
            .to_owned())
    }

    /// Uploads `size` bytes of the generator as a file of `wo`, streamed;
    /// returns the time to the 201 and the file's metadata.
    async fn upload(
        &self,
        token: &str,
        wo: &str,
        name: &str,
        block: &Bytes,
        size: u64,
    ) -> anyhow::Result<(Duration, Value)> {
        let head = Bytes::from(format!(
            "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file_type\"\r\n\r\nbench\r\n\
             --{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n\
             Content-Type: application/octet-stream\r\n\r\n"
        ));
        let tail = Bytes::from(format!("\r\n--{BOUNDARY}--\r\n"));
        let length = head.len() as u64 + size + tail.len() as u64;
        let body = futures::stream::once(async move { head })
            .chain(chunks(block, size))
            .chain(futures::stream::once(async move { tail }))
            .map(Ok::<_, std::io::Error>);
        let started = Instant::now();
        let res = self
            .client
            .post(format!("{}/api/v1/work-orders/{wo}/files", self.base))
            .bearer_auth(token)
            .header(
                reqwest::header::CONTENT_TYPE,
                format!("multipart/form-data; boundary={BOUNDARY}"),
            )
            .header(reqwest::header::CONTENT_LENGTH, length)
            .body(reqwest::Body::wrap_stream(body))
            .send()
            .await
            .context("the upload")?;
        let status = res.status().as_u16();
        let text = res.text().await.unwrap_or_default();
        let took = started.elapsed();
        ensure!(status == 201, "upload: {status} {text}");
        Ok((took, serde_json::from_str(&text)?))
    }

    /// Downloads a file's content to its end, counting and dropping the
    /// bytes; returns the time and the count.
    async fn download(&self, token: &str, id: &str) -> anyhow::Result<(Duration, u64)> {
        let started = Instant::now();
        let mut res = self
            .client
            .get(format!("{}/api/v1/files/{id}/content", self.base))
            .bearer_auth(token)
            .send()
            .await
            .context("the download")?;
        ensure!(res.status() == 200, "download: {}", res.status());
        let mut n = 0u64;
        while let Some(c) = res.chunk().await.context("the download's body")? {
            n += c.len() as u64;
        }
        Ok((started.elapsed(), n))
    }
}

// ---------------------------------------------------------------------------
// Straight to the store.

async fn direct_put(
    store: &Arc<dyn ObjectStore>,
    key: &ObjectPath,
    part_bytes: usize,
    block: &Bytes,
    size: u64,
) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let upload = store.put_multipart(key).await?;
    let mut w = WriteMultipart::new_with_chunk_size(upload, part_bytes);
    let mut s = std::pin::pin!(chunks(block, size));
    while let Some(c) = s.next().await {
        w.wait_for_capacity(PARTS_IN_FLIGHT).await?;
        w.put(c);
    }
    w.finish().await?;
    Ok(started.elapsed())
}

async fn direct_get(
    store: &Arc<dyn ObjectStore>,
    key: &ObjectPath,
) -> anyhow::Result<(Duration, u64)> {
    let started = Instant::now();
    let mut s = store.get(key).await?.into_stream();
    let mut n = 0u64;
    while let Some(c) = s.next().await {
        n += c?.len() as u64;
    }
    Ok((started.elapsed(), n))
}

/// Reads an object with sequential ranged GETs of `piece` bytes: streamed
/// too (one piece held), with reads far larger than `into_stream`'s 8 KiB
/// from a local file. A second baseline for the local store.
async fn direct_get_ranges(
    store: &Arc<dyn ObjectStore>,
    key: &ObjectPath,
    size: u64,
    piece: u64,
) -> anyhow::Result<(Duration, u64)> {
    let started = Instant::now();
    let mut n = 0u64;
    while n < size {
        let b = store.get_range(key, n..(n + piece).min(size)).await?;
        ensure!(!b.is_empty(), "an empty range at {n}");
        n += b.len() as u64;
    }
    Ok((started.elapsed(), n))
}

/// The piece of [`direct_get_ranges`].
const RANGE_PIECE: u64 = 8 * 1024 * 1024;

// ---------------------------------------------------------------------------
// The service's memory.

/// A field of `/proc/<pid>/status`, in KiB.
fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
}

struct RssWatch {
    pid: u32,
    baseline_kib: u64,
    hwm_reset: bool,
    stop: Arc<AtomicBool>,
    sampler: std::thread::JoinHandle<(u64, usize)>,
}

#[derive(Debug, Clone, Copy)]
struct Rss {
    baseline_kib: u64,
    /// The highest of the samples and, when it could be reset, VmHWM.
    peak_kib: u64,
    samples: usize,
    hwm_used: bool,
}

impl Rss {
    fn growth_mib(&self) -> f64 {
        self.peak_kib.saturating_sub(self.baseline_kib) as f64 / 1024.0
    }
}

impl RssWatch {
    fn start(pid: u32) -> anyhow::Result<Self> {
        // "5" resets the peak RSS (VmHWM) to the current RSS.
        let hwm_reset = std::fs::write(format!("/proc/{pid}/clear_refs"), "5").is_ok();
        let baseline_kib =
            status_kib(pid, "VmRSS").ok_or_else(|| anyhow!("no VmRSS for pid {pid}"))?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let sampler = std::thread::spawn(move || {
            let (mut peak, mut n) = (0u64, 0usize);
            loop {
                if let Some(v) = status_kib(pid, "VmRSS") {
                    peak = peak.max(v);
                    n += 1;
                }
                if flag.load(Ordering::Relaxed) {
                    return (peak, n);
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        });
        Ok(RssWatch {
            pid,
            baseline_kib,
            hwm_reset,
            stop,
            sampler,
        })
    }

    fn finish(self) -> Rss {
        self.stop.store(true, Ordering::Relaxed);
        let (sampled, samples) = self.sampler.join().unwrap_or((0, 0));
        let hwm = if self.hwm_reset {
            status_kib(self.pid, "VmHWM").unwrap_or(0)
        } else {
            0
        };
        Rss {
            baseline_kib: self.baseline_kib,
            peak_kib: sampled.max(hwm),
            samples,
            hwm_used: self.hwm_reset,
        }
    }
}

// ---------------------------------------------------------------------------
// The transfer part.

struct Target {
    /// `local` or `s3`.
    name: &'static str,
    store: Arc<dyn ObjectStore>,
    part_bytes: usize,
    /// Per run: the tenant's id and its work order.
    tenants: Vec<(String, String)>,
}

#[derive(Debug, Default)]
struct Measured {
    up_api: Vec<f64>,
    up_direct: Vec<f64>,
    down_api: Vec<f64>,
    down_direct: Vec<f64>,
    /// The local store only: [`direct_get_ranges`].
    down_ranges: Vec<f64>,
    rss: Vec<Rss>,
}

impl Measured {
    fn ratios(api: &[f64], direct: &[f64]) -> Vec<f64> {
        api.iter().zip(direct).map(|(a, d)| d / a).collect()
    }
    fn up_ratios(&self) -> Vec<f64> {
        Self::ratios(&self.up_api, &self.up_direct)
    }
    fn down_ratios(&self) -> Vec<f64> {
        Self::ratios(&self.down_api, &self.down_direct)
    }
}

fn rate(bytes: u64, secs: f64) -> f64 {
    bytes as f64 / MIB / secs
}

async fn transfer_run(
    svc: &Service,
    t: &Target,
    run: usize,
    block: &Bytes,
    size: u64,
    sha: &str,
    m: &mut Measured,
) -> anyhow::Result<()> {
    let slug = format!("{}-{run}", t.name);
    let (tenant_id, wo) = &t.tenants[run];
    let token = svc.login(&slug).await?;
    let direct_key = ObjectPath::from(format!("bench-direct/{}-{run}", t.name));
    let pid = svc.pid()?;
    let api_first = run.is_multiple_of(2);

    // Upload.
    let mut up_api = None;
    let mut up_direct = None;
    let mut file = Value::Null;
    for side in [api_first, !api_first] {
        sync().await;
        if side {
            let watch = RssWatch::start(pid)?;
            let r = svc.upload(&token, wo, "bench.bin", block, size).await;
            let rss = watch.finish();
            let (took, f) = r?;
            ensure!(
                f["size"].as_u64() == Some(size),
                "the service stored {} bytes, not {size}",
                f["size"]
            );
            ensure!(
                f["sha256"].as_str() == Some(sha),
                "the service's SHA-256 {} is not the generator's {sha}",
                f["sha256"]
            );
            up_api = Some(took);
            file = f;
            m.rss.push(rss);
        } else {
            up_direct = Some(direct_put(&t.store, &direct_key, t.part_bytes, block, size).await?);
        }
    }
    sync().await;
    let id = file["id"]
        .as_str()
        .ok_or_else(|| anyhow!("upload without id: {file}"))?
        .to_owned();
    let stored_key = ObjectPath::from(format!("tenants/{tenant_id}/{id}"));

    // Download the same object both ways.
    let mut down_api = None;
    let mut down_direct = None;
    for side in [api_first, !api_first] {
        if side {
            let (took, n) = svc.download(&token, &id).await?;
            ensure!(n == size, "the API sent {n} bytes of {size}");
            down_api = Some(took);
        } else {
            let (took, n) = direct_get(&t.store, &stored_key).await?;
            ensure!(n == size, "the store sent {n} bytes of {size}");
            down_direct = Some(took);
        }
    }
    // The local store's second baseline, after both sides.
    let ranges = if t.name == "local" {
        let (took, n) = direct_get_ranges(&t.store, &stored_key, size, RANGE_PIECE).await?;
        ensure!(n == size, "the store sent {n} bytes of {size}");
        Some(took.as_secs_f64())
    } else {
        None
    };
    let (ua, ud, da, dd) = (
        up_api.map_or(f64::NAN, |d| d.as_secs_f64()),
        up_direct.map_or(f64::NAN, |d| d.as_secs_f64()),
        down_api.map_or(f64::NAN, |d| d.as_secs_f64()),
        down_direct.map_or(f64::NAN, |d| d.as_secs_f64()),
    );
    let rss = m.rss.last().copied();
    println!(
        "run {run} {:>5}: upload API {ua:.2} s ({:.0} MiB/s), direct {ud:.2} s ({:.0} MiB/s), ratio {:.3} | \
         download API {da:.2} s ({:.0} MiB/s), direct {dd:.2} s ({:.0} MiB/s), ratio {:.3} | \
         RSS {:.1} → {:.1} MiB (+{:.1}) [{} first]{}",
        t.name,
        rate(size, ua),
        rate(size, ud),
        ud / ua,
        rate(size, da),
        rate(size, dd),
        dd / da,
        rss.map_or(0.0, |r| r.baseline_kib as f64 / 1024.0),
        rss.map_or(0.0, |r| r.peak_kib as f64 / 1024.0),
        rss.map_or(0.0, |r| r.growth_mib()),
        if api_first { "API" } else { "direct" },
        ranges.map_or(String::new(), |r| format!(
            " | get_range in 8 MiB pieces {r:.2} s ({:.0} MiB/s), ratio {:.3}",
            rate(size, r),
            r / da
        )),
    );
    if let Some(r) = ranges {
        m.down_ranges.push(r);
    }
    m.up_api.push(ua);
    m.up_direct.push(ud);
    m.down_api.push(da);
    m.down_direct.push(dd);

    // Leave nothing behind: moto holds objects in memory, the disk is shared.
    svc.call(
        reqwest::Method::DELETE,
        &format!("/api/v1/files/{id}"),
        &token,
        None,
        204,
    )
    .await?;
    t.store.delete(&direct_key).await?;
    sync().await;
    Ok(())
}

// ---------------------------------------------------------------------------
// The move part.

#[derive(Debug, Default)]
struct MoveRun {
    raw_s: f64,
    move_s: f64,
    /// Objects (and bytes) found in the target bucket after the move.
    moved_objects: usize,
    moved_bytes: u64,
    objects: usize,
    bytes: u64,
    report: Value,
}

impl MoveRun {
    fn complete(&self) -> bool {
        self.moved_objects == self.objects && self.moved_bytes == self.bytes
    }
}

async fn list_under(
    store: &Arc<dyn ObjectStore>,
    prefix: &str,
) -> anyhow::Result<Vec<object_store::ObjectMeta>> {
    let p = ObjectPath::from(prefix);
    Ok(store.list(Some(&p)).try_collect().await?)
}

#[allow(clippy::too_many_arguments)]
async fn move_run(
    svc: &Service,
    args: &Args,
    run: usize,
    local: &Arc<dyn ObjectStore>,
    premium: &Arc<dyn ObjectStore>,
    raw: &Arc<dyn ObjectStore>,
    block: &Bytes,
) -> anyhow::Result<MoveRun> {
    let per_file = (args.bytes / args.files as u64).max(1);
    let slug = format!("mv-{run}");
    let (tenant_id, token, wo) = svc.tenant(&slug, "basic").await?;
    let filled = Instant::now();
    let uploads: Vec<anyhow::Result<()>> = futures::stream::iter(0..args.files)
        .map(|i| {
            let (token, wo) = (token.clone(), wo.clone());
            async move {
                svc.upload(&token, &wo, &format!("f{i}.bin"), block, per_file)
                    .await
                    .map(|_| ())
            }
        })
        .buffer_unordered(args.concurrency)
        .collect()
        .await;
    for u in uploads {
        u?;
    }
    let prefix = format!("tenants/{tenant_id}/");
    let objects = list_under(local, &prefix).await?;
    ensure!(
        objects.len() == args.files,
        "{} objects in the local store for {slug}, not {}",
        objects.len(),
        args.files
    );
    let bytes: u64 = objects.iter().map(|o| o.size).sum();
    eprintln!(
        "move run {run}: {} files of {} uploaded through the API in {:.1} s",
        args.files,
        human(per_file),
        filled.elapsed().as_secs_f64()
    );
    sync().await;

    // The raw copy: local store → a bucket, the same objects.
    let started = Instant::now();
    let copied: Vec<anyhow::Result<u64>> = futures::stream::iter(objects.iter())
        .map(|o| async move {
            let b = local.get(&o.location).await?.bytes().await?;
            let n = b.len() as u64;
            raw.put(&o.location, b.into()).await?;
            Ok(n)
        })
        .buffer_unordered(args.concurrency)
        .collect()
        .await;
    let raw_s = started.elapsed().as_secs_f64();
    let mut raw_bytes = 0;
    for c in copied {
        raw_bytes += c?;
    }
    ensure!(
        raw_bytes == bytes,
        "the raw copy copied {raw_bytes} of {bytes} bytes"
    );
    for o in list_under(raw, &prefix).await? {
        raw.delete(&o.location).await?;
    }

    // The move: a plan change to premium, whose store is the S3 bucket.
    let started = Instant::now();
    let change = svc
        .call(
            reqwest::Method::PATCH,
            &format!("/admin/tenants/{slug}"),
            &svc.admin,
            Some(json!({"plan": "premium"})),
            200,
        )
        .await?;
    let move_id = change["move"]["id"]
        .as_str()
        .ok_or_else(|| anyhow!("the plan change scheduled no move: {change}"))?
        .to_owned();
    let deadline = started + Duration::from_secs(args.move_timeout);
    let view = loop {
        let m = svc
            .call(
                reqwest::Method::GET,
                &format!("/admin/moves/{move_id}"),
                &svc.admin,
                None,
                200,
            )
            .await?;
        match m["state"].as_str() {
            Some("done") => break m,
            Some("rolled_back") => bail!("the move rolled back: {m}"),
            _ => {}
        }
        ensure!(Instant::now() < deadline, "the move did not finish: {m}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let move_s = started.elapsed().as_secs_f64();
    let there = list_under(premium, &prefix).await?;
    let r = MoveRun {
        raw_s,
        move_s,
        moved_objects: there.len(),
        moved_bytes: there.iter().map(|o| o.size).sum(),
        objects: objects.len(),
        bytes,
        report: view["report"].clone(),
    };
    println!(
        "move run {run}: raw copy {raw_s:.2} s ({:.0} MiB/s, {} at once), move {move_s:.2} s to done; \
         in the target bucket after the move: {} of {} objects",
        rate(bytes, raw_s),
        args.concurrency,
        r.moved_objects,
        r.objects,
    );
    println!("move run {run}: the move's report: {}", r.report);
    // Leave nothing in moto, nor on disk.
    for o in there {
        premium.delete(&o.location).await?;
    }
    for o in list_under(local, &prefix).await? {
        local.delete(&o.location).await?;
    }
    Ok(r)
}

// ---------------------------------------------------------------------------

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    ensure!(args.runs >= 1, "--runs must be at least 1");
    ensure!(args.bytes >= 1, "--bytes must be at least 1");
    ensure!(args.files >= 1, "--files must be at least 1");
    ensure!(args.concurrency >= 1, "--concurrency must be at least 1");
    for s in &args.stores {
        ensure!(
            s == "local" || s == "s3",
            "--stores: {s:?} is neither local nor s3"
        );
    }
    let with_move = args.with_move || args.move_only;
    let fsa_bin = match &args.fsa_bin {
        Some(p) => p.clone(),
        None => std::env::current_exe()?.with_file_name("fsa"),
    };
    let load_start = loadavg();
    let dir = tempfile::Builder::new()
        .prefix("fsa-files-bench-")
        .tempdir()?;
    let s3 = S3Server::start(&args).await?;
    let tag = &uuid::Uuid::new_v4().simple().to_string()[..12];
    let bucket = format!("fsa-bench-{tag}");
    let raw_bucket = format!("fsa-bench-raw-{tag}");
    s3.create_bucket(&bucket).await?;
    s3.create_bucket(&raw_bucket).await?;
    let serve_dir = dir.path().join("serve");
    std::fs::create_dir_all(&serve_dir)?;
    let svc = Service::start(
        &fsa_bin,
        &serve_dir,
        &s3,
        &bucket,
        args.bytes.max(100 << 20) + (1 << 20),
    )
    .await?;
    println!(
        "files benchmark: {} file, {} run(s); service {} (pid {}), S3 {} (bucket {bucket}); load {load_start}",
        human(args.bytes),
        args.runs,
        fsa_bin.display(),
        svc.pid()?,
        s3.endpoint,
    );
    let files_dir = serve_dir.join("files");
    std::fs::create_dir_all(&files_dir)?;
    let local: Arc<dyn ObjectStore> =
        Arc::new(LocalFileSystem::new_with_prefix(files_dir.canonicalize()?)?);
    let premium = s3.store(&bucket);
    let raw = s3.store(&raw_bucket);

    let result = async {
        let mut results: Vec<(&'static str, Measured)> = Vec::new();
        if !args.move_only {
            let block = block(1);
            let sha = sha256_of(&block, args.bytes).await;
            let mut targets = Vec::new();
            for name in ["local", "s3"] {
                if !args.stores.iter().any(|s| s == name) {
                    continue;
                }
                let (plan, store, part_bytes) = if name == "local" {
                    ("basic", local.clone(), LOCAL_PART_BYTES)
                } else {
                    ("premium", premium.clone(), S3_PART_BYTES)
                };
                let mut tenants = Vec::new();
                for run in 0..args.runs {
                    let (id, _, wo) = svc.tenant(&format!("{name}-{run}"), plan).await?;
                    tenants.push((id, wo));
                }
                targets.push(Target {
                    name,
                    store,
                    part_bytes,
                    tenants,
                });
            }
            for t in &targets {
                let mut m = Measured::default();
                for run in 0..args.runs {
                    transfer_run(&svc, t, run, &block, args.bytes, &sha, &mut m).await?;
                }
                results.push((t.name, m));
            }
        }
        let mut moves = Vec::new();
        if with_move {
            let block = block(2);
            for run in 0..args.runs {
                moves.push(move_run(&svc, &args, run, &local, &premium, &raw, &block).await?);
            }
        }
        Ok::<_, anyhow::Error>((results, moves))
    }
    .await;
    let log_problems: Vec<String> = std::fs::read_to_string(&svc.log)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains(" WARN ") || l.contains(" ERROR ") || l.contains("panicked"))
        .map(str::to_owned)
        .collect();
    if result.is_err() {
        eprintln!("service log (tail):\n{}", svc.log_tail(30));
    }
    svc.stop().await;
    s3.delete_bucket(&bucket).await;
    s3.delete_bucket(&raw_bucket).await;
    let (results, moves) = result?;
    let load_end = loadavg();

    // The table.
    println!();
    println!(
        "== medians of {} run(s), {} file; load {load_start} → {load_end}",
        args.runs,
        human(args.bytes)
    );
    println!(
        "| store | operation | API s (MiB/s) | direct s (MiB/s) | ratio direct/API (per run) | target ≥ 0.8 |"
    );
    println!("|---|---|---|---|---|---|");
    let mut json_stores = serde_json::Map::new();
    for (name, m) in &results {
        let mut entry = serde_json::Map::new();
        for (op, api, direct, ratios) in [
            ("upload", &m.up_api, &m.up_direct, m.up_ratios()),
            ("download", &m.down_api, &m.down_direct, m.down_ratios()),
        ] {
            let (a, d, r) = (median(api), median(direct), median(&ratios));
            println!(
                "| {name} | {op} | {a:.2} ({:.0}) | {d:.2} ({:.0}) | **{r:.2}** ({}) | {} |",
                rate(args.bytes, a),
                rate(args.bytes, d),
                ratios
                    .iter()
                    .map(|r| format!("{r:.2}"))
                    .collect::<Vec<_>>()
                    .join(", "),
                if r >= 0.8 { "met" } else { "not met" },
            );
            entry.insert(
                op.into(),
                json!({"api_s": api, "direct_s": direct, "ratios": ratios, "median_ratio": r,
                       "median_api_mib_s": rate(args.bytes, a), "median_direct_mib_s": rate(args.bytes, d)}),
            );
        }
        if !m.down_ranges.is_empty() {
            let ratios = Measured::ratios(&m.down_api, &m.down_ranges);
            let (a, d, r) = (median(&m.down_api), median(&m.down_ranges), median(&ratios));
            println!(
                "| {name} | download vs `get_range` in 8 MiB pieces | {a:.2} ({:.0}) | {d:.2} ({:.0}) | {r:.2} ({}) | (context) |",
                rate(args.bytes, a),
                rate(args.bytes, d),
                ratios
                    .iter()
                    .map(|r| format!("{r:.2}"))
                    .collect::<Vec<_>>()
                    .join(", "),
            );
            entry.insert(
                "download_vs_get_range".into(),
                json!({"api_s": m.down_api, "direct_s": m.down_ranges, "ratios": ratios, "median_ratio": r,
                       "piece_bytes": RANGE_PIECE}),
            );
        }
        let growth: Vec<f64> = m.rss.iter().map(Rss::growth_mib).collect();
        entry.insert(
            "upload_rss".into(),
            json!({
                "baseline_mib": m.rss.iter().map(|r| r.baseline_kib as f64 / 1024.0).collect::<Vec<_>>(),
                "peak_mib": m.rss.iter().map(|r| r.peak_kib as f64 / 1024.0).collect::<Vec<_>>(),
                "growth_mib": growth,
                "samples": m.rss.iter().map(|r| r.samples).collect::<Vec<_>>(),
                "vmhwm_reset": m.rss.iter().all(|r| r.hwm_used),
            }),
        );
        json_stores.insert((*name).into(), Value::Object(entry));
    }
    if !results.is_empty() {
        println!();
        println!(
            "| store | service RSS during the upload: baseline → peak (growth), per run | largest growth | target < 64 MiB |"
        );
        println!("|---|---|---|---|");
        for (name, m) in &results {
            let worst = m.rss.iter().map(Rss::growth_mib).fold(0.0, f64::max);
            println!(
                "| {name} | {} | **{worst:.1} MiB** | {} |",
                m.rss
                    .iter()
                    .map(|r| format!(
                        "{:.1} → {:.1} (+{:.1})",
                        r.baseline_kib as f64 / 1024.0,
                        r.peak_kib as f64 / 1024.0,
                        r.growth_mib()
                    ))
                    .collect::<Vec<_>>()
                    .join("; "),
                if worst < 64.0 { "met" } else { "not met" },
            );
        }
    }
    let mut json_move = Value::Null;
    if with_move {
        println!();
        let raw: Vec<f64> = moves.iter().map(|r| r.raw_s).collect();
        let mv: Vec<f64> = moves.iter().map(|r| r.move_s).collect();
        let per_file = (args.bytes / args.files as u64).max(1);
        let complete = moves.iter().all(MoveRun::complete);
        let bytes = moves.first().map_or(0, |r| r.bytes);
        println!(
            "move of a basic tenant with {} files of {} ({}) local → S3 (plan change to premium), against a raw copy of the same objects ({} at once)",
            args.files,
            human(per_file),
            human(bytes),
            args.concurrency
        );
        println!(
            "raw copy median {:.2} s ({:.0} MiB/s); move median {:.2} s to done",
            median(&raw),
            rate(bytes, median(&raw)),
            median(&mv)
        );
        let ratios: Vec<f64> = moves.iter().map(|r| r.raw_s / r.move_s).collect();
        if complete {
            println!(
                "ratio raw copy / move: **{:.2}** (per run: {})",
                median(&ratios),
                ratios
                    .iter()
                    .map(|r| format!("{r:.2}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        } else {
            let found: Vec<String> = moves
                .iter()
                .map(|r| format!("{} of {}", r.moved_objects, r.objects))
                .collect();
            println!(
                "files did not move: the move does not copy objects in this build \
                 (objects under tenants/<tenant id>/ in the target bucket after the move: {}); no ratio",
                found.join(", ")
            );
        }
        json_move = json!({
            "files": args.files,
            "file_bytes": per_file,
            "bytes": bytes,
            "concurrency": args.concurrency,
            "raw_copy_s": raw,
            "move_s": mv,
            "objects_moved": moves.iter().map(|r| r.moved_objects).collect::<Vec<_>>(),
            "bytes_moved": moves.iter().map(|r| r.moved_bytes).collect::<Vec<_>>(),
            "files_moved": complete,
            "ratios": if complete { json!(ratios) } else { Value::Null },
            "median_ratio": if complete { json!(median(&ratios)) } else { Value::Null },
            "reports": moves.iter().map(|r| r.report.clone()).collect::<Vec<_>>(),
        });
    }
    if !log_problems.is_empty() {
        println!();
        println!(
            "the service logged {} warning(s)/error(s); the first: {}",
            log_problems.len(),
            log_problems[0]
        );
    }
    if args.json {
        let out = json!({
            "bytes": args.bytes,
            "runs": args.runs,
            "load_start": load_start,
            "load_end": load_end,
            "fsa_bin": fsa_bin.display().to_string(),
            "transfer": Value::Object(json_stores),
            "move": json_move,
            "service_log_problems": log_problems.len(),
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
    }
    Ok(())
}
