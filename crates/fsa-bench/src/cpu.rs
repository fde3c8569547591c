//! Where the CPU goes during a measurement: a sampler that reads `/proc`
//! every 100 ms and sums each process's CPU time by class (the service, the
//! PostgreSQL backends of the bench databases, the load generator, this
//! process), plus the machine's total busy time. Linux only; elsewhere it
//! reports nothing.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// How processes are classified.
#[derive(Debug, Clone)]
pub struct Classes {
    pub service_pid: Option<u32>,
    /// Backends whose command line names this database.
    pub placement_db: String,
    pub catalog_db: String,
}

pub const SERVICE: &str = "fsa service";
pub const PG_PLACEMENT: &str = "postgres (placement db)";
pub const PG_CATALOG: &str = "postgres (catalog db)";
pub const LOADGEN: &str = "load generator (wrk/pgbench)";
pub const BENCH: &str = "fsa-bench";

/// CPU seconds by class over a measurement, and the machine's busy seconds.
#[derive(Debug, Clone, Default)]
pub struct CpuReport {
    pub secs: f64,
    pub by_class: Vec<(&'static str, f64)>,
    pub system_busy: f64,
    pub cores: usize,
    pub loadavg_end: String,
}

impl CpuReport {
    /// CPU seconds of the processes that serve and drive the benchmark (all
    /// classes but this bench process and the rest of the machine).
    pub fn measured(&self) -> f64 {
        self.by_class
            .iter()
            .filter(|(c, _)| *c != BENCH)
            .map(|(_, v)| v)
            .sum()
    }

    /// Busy CPU time not in any class (other work on the machine, kernel
    /// threads, other PostgreSQL processes).
    pub fn other(&self) -> f64 {
        (self.system_busy - self.by_class.iter().map(|(_, v)| v).sum::<f64>()).max(0.0)
    }

    /// The share of the machine's CPU capacity used by other work.
    pub fn other_share(&self) -> f64 {
        if self.secs == 0.0 {
            return 0.0;
        }
        self.other() / (self.secs * self.cores.max(1) as f64)
    }

    /// One line: each class in CPU-seconds and µs per operation.
    pub fn line(&self, ops: u64) -> String {
        if self.secs == 0.0 {
            return "cpu: not measured".into();
        }
        let per = |v: f64| v * 1e6 / (ops.max(1) as f64);
        let mut parts: Vec<String> = self
            .by_class
            .iter()
            .filter(|(_, v)| *v > 0.0)
            .map(|(c, v)| format!("{c} {v:.2} s ({:.0} µs/op)", per(*v)))
            .collect();
        parts.push(format!(
            "other {:.2} s ({:.0} µs/op)",
            self.other(),
            per(self.other())
        ));
        format!(
            "cpu over {:.1} s: {}; machine busy {:.0}% of {} cores; loadavg {}",
            self.secs,
            parts.join(", "),
            self.system_busy * 100.0 / (self.secs * self.cores.max(1) as f64),
            self.cores,
            self.loadavg_end
        )
    }
}

pub struct Sampler {
    stop: Arc<AtomicBool>,
    handle: Option<std::thread::JoinHandle<CpuReport>>,
}

impl Sampler {
    pub fn start(classes: Classes, loadgen_names: &'static [&'static str]) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::spawn(move || sample(classes, loadgen_names, &flag));
        Sampler {
            stop,
            handle: Some(handle),
        }
    }

    pub fn finish(mut self) -> CpuReport {
        self.stop.store(true, Ordering::Relaxed);
        self.handle
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default()
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn clock_ticks() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

/// Busy and total jiffies of the machine, from the first line of /proc/stat.
fn system_jiffies() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/stat").ok()?;
    let line = text.lines().next()?;
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|s| s.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal
    let busy = v.first()? + v.get(1)? + v.get(2)? + v.get(5)? + v.get(6)? + v.get(7)?;
    Some(busy)
}

/// (comm, utime + stime in jiffies) of a process.
fn proc_stat(pid: u32) -> Option<(String, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let comm = text.get(open + 1..close)?.to_owned();
    let rest: Vec<&str> = text.get(close + 1..)?.split_whitespace().collect();
    let utime: u64 = rest.get(11)?.parse().ok()?;
    let stime: u64 = rest.get(12)?.parse().ok()?;
    Some((comm, utime + stime))
}

fn cmdline(pid: u32) -> String {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| String::from_utf8_lossy(&b).replace('\0', " "))
        .unwrap_or_default()
}

fn classify(
    pid: u32,
    comm: &str,
    classes: &Classes,
    loadgen: &[&str],
    own: u32,
) -> Option<&'static str> {
    if Some(pid) == classes.service_pid {
        return Some(SERVICE);
    }
    if pid == own {
        return Some(BENCH);
    }
    if loadgen.contains(&comm) {
        return Some(LOADGEN);
    }
    if comm == "postgres" {
        // "postgres: [<cluster name>: ]<user> <database> <host>(<port>) <state>"
        let cmd = cmdline(pid);
        if cmd.starts_with("postgres: ") {
            let names = |db: &str| cmd.split_whitespace().take(5).any(|t| t == db);
            if names(&classes.placement_db) {
                return Some(PG_PLACEMENT);
            }
            if names(&classes.catalog_db) {
                return Some(PG_CATALOG);
            }
        }
    }
    None
}

fn scan(
    classes: &Classes,
    loadgen: &[&str],
    own: u32,
    known: &mut HashMap<u32, Option<&'static str>>,
) -> HashMap<u32, u64> {
    let mut out = HashMap::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return out;
    };
    for e in dir.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let Some((comm, ticks)) = proc_stat(pid) else {
            continue;
        };
        let class = match known.get(&pid) {
            Some(c) => *c,
            None => {
                // Only a match is remembered: a child between fork and exec
                // still has its parent's name, and a backend just forked
                // still shows the postmaster's command line.
                let c = classify(pid, &comm, classes, loadgen, own);
                if c.is_some() {
                    known.insert(pid, c);
                }
                c
            }
        };
        if class.is_some() {
            out.insert(pid, ticks);
        }
    }
    out
}

fn sample(classes: Classes, loadgen: &[&str], stop: &AtomicBool) -> CpuReport {
    if !std::path::Path::new("/proc/stat").exists() {
        return CpuReport::default();
    }
    let tck = clock_ticks();
    let own = std::process::id();
    let mut known = HashMap::new();
    let started = Instant::now();
    let sys0 = system_jiffies().unwrap_or(0);
    let base = scan(&classes, loadgen, own, &mut known);
    let mut last = base.clone();
    loop {
        let done = stop.load(Ordering::Relaxed);
        for (pid, t) in scan(&classes, loadgen, own, &mut known) {
            last.insert(pid, t);
        }
        if done {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let sys1 = system_jiffies().unwrap_or(sys0);
    let mut sums: HashMap<&'static str, u64> = HashMap::new();
    for (pid, t) in &last {
        let Some(Some(class)) = known.get(pid) else {
            continue;
        };
        // A process that started during the measurement counts from zero.
        let from = base.get(pid).copied().unwrap_or(0);
        *sums.entry(class).or_default() += t.saturating_sub(from);
    }
    let by_class = [SERVICE, PG_PLACEMENT, PG_CATALOG, LOADGEN, BENCH]
        .into_iter()
        .map(|c| (c, sums.get(c).copied().unwrap_or(0) as f64 / tck))
        .collect();
    CpuReport {
        secs: started.elapsed().as_secs_f64(),
        by_class,
        system_busy: sys1.saturating_sub(sys0) as f64 / tck,
        cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        loadavg_end: std::fs::read_to_string("/proc/loadavg")
            .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
            .unwrap_or_default(),
    }
}
