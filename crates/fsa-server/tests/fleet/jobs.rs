//! The jobs runner, one property per test, on both catalog engines: a job
//! runs in one process of two; a job whose process dies mid-run is retried
//! by another; shutdown waits for a job's safe point; a move's cleanup that
//! fell due while no process ran runs after a restart.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::time::Duration;

use fsa_app::jobs::{Job, JobCx, JobsConfig, Outcome, Runner};
use fsa_store::catalog::Catalog;
use fsa_store::jobs::Jobs;
use fsa_testkit::{Backend, TestApp};
use futures::FutureExt;
use futures::future::BoxFuture;
use serde_json::json;
use tokio::time::Instant;

/// A runner configuration for tests: quick polls, short leases.
fn quick() -> JobsConfig {
    JobsConfig {
        poll_ms: 50,
        lease_secs: 1,
        concurrency: 4,
        max_attempts: 5,
        shutdown_grace_secs: 5,
    }
}

/// A test job: counts its runs and the most that ran at once, and holds
/// each run for `hold` (or until told to stop, when `until_stopped`).
struct Probe {
    kind: &'static str,
    runs: AtomicUsize,
    now: AtomicUsize,
    most: AtomicUsize,
    hold: Duration,
    until_stopped: bool,
    stopped_cleanly: AtomicBool,
    last_attempt: AtomicU32,
    /// A run that never ends (its process is killed while it runs).
    hang: bool,
}

impl Probe {
    fn new(kind: &'static str, hold: Duration) -> Arc<Self> {
        Arc::new(Probe {
            kind,
            runs: AtomicUsize::new(0),
            now: AtomicUsize::new(0),
            most: AtomicUsize::new(0),
            hold,
            until_stopped: false,
            stopped_cleanly: AtomicBool::new(false),
            last_attempt: AtomicU32::new(0),
            hang: false,
        })
    }
}

struct ProbeJob(Arc<Probe>);

impl Job for ProbeJob {
    fn kind(&self) -> &'static str {
        self.0.kind
    }

    fn run(&self, cx: JobCx) -> BoxFuture<'static, Result<Outcome, String>> {
        let p = self.0.clone();
        async move {
            p.runs.fetch_add(1, Ordering::SeqCst);
            p.last_attempt.store(cx.attempt, Ordering::SeqCst);
            let now = p.now.fetch_add(1, Ordering::SeqCst) + 1;
            p.most.fetch_max(now, Ordering::SeqCst);
            if p.hang {
                std::future::pending::<()>().await;
            }
            let outcome = if p.until_stopped {
                cx.stop.cancelled().await;
                // The safe point: what it did so far is recorded.
                tokio::time::sleep(Duration::from_millis(200)).await;
                p.stopped_cleanly.store(true, Ordering::SeqCst);
                Outcome::Stopped
            } else {
                tokio::time::sleep(p.hold).await;
                Outcome::Done
            };
            p.now.fetch_sub(1, Ordering::SeqCst);
            Ok(outcome)
        }
        .boxed()
    }
}

fn runner(catalog: &Catalog, name: &str, probe: &Arc<Probe>) -> Runner {
    Runner::new(catalog.clone(), name, quick()).with(Arc::new(ProbeJob(probe.clone())))
}

async fn state_of(catalog: &Catalog, name: &str) -> fsa_store::jobs::JobRow {
    Jobs::new(catalog)
        .get(name)
        .await
        .unwrap()
        .expect("job recorded")
}

async fn wait_for(what: &str, mut f: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !f().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn one_job_runs_in_one_process_of_two(backend: Backend) {
    let app = TestApp::start(backend).await.unwrap();
    let catalog = app.state.router.catalog().clone();
    // A recurring job due every 100 ms that takes 150 ms: two processes
    // would overlap it if both ran it.
    let probe = Probe::new("test.singleton", Duration::from_millis(150));
    let a = runner(&catalog, "process-a", &probe)
        .every(
            "test.singleton",
            "test.singleton",
            Duration::from_millis(100),
        )
        .start()
        .await
        .unwrap();
    let b = runner(&catalog, "process-b", &probe)
        .every(
            "test.singleton",
            "test.singleton",
            Duration::from_millis(100),
        )
        .start()
        .await
        .unwrap();
    // And a one-shot job both could claim: it runs once.
    let once = Probe::new("test.once", Duration::from_millis(300));
    let c = runner(&catalog, "process-c", &once).start().await.unwrap();
    let d = runner(&catalog, "process-d", &once).start().await.unwrap();
    assert!(
        Jobs::new(&catalog)
            .schedule_once("test.once/1", "test.once", None, 0)
            .await
            .unwrap()
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    for r in [a, b, c, d] {
        r.shutdown().await;
    }
    let runs = probe.runs.load(Ordering::SeqCst);
    assert!(runs >= 4, "the recurring job ran {runs} times in 2 s");
    assert_eq!(
        probe.most.load(Ordering::SeqCst),
        1,
        "two processes ran it at once"
    );
    assert_eq!(
        once.runs.load(Ordering::SeqCst),
        1,
        "the one-shot job ran twice"
    );
    assert_eq!(state_of(&catalog, "test.once/1").await.state, "done");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_runs_in_one_process_of_two_on_postgres() {
    one_job_runs_in_one_process_of_two(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_runs_in_one_process_of_two_on_sqlite() {
    one_job_runs_in_one_process_of_two(Backend::Sqlite).await;
}

async fn killed_mid_run_is_retried(backend: Backend) {
    let app = TestApp::start(backend).await.unwrap();
    let catalog = app.state.router.catalog().clone();
    let mut hanging = Probe::new("test.work", Duration::ZERO);
    Arc::get_mut(&mut hanging).unwrap().hang = true;
    let a = runner(&catalog, "process-a", &hanging)
        .start()
        .await
        .unwrap();
    Jobs::new(&catalog)
        .schedule_once("test.work/1", "test.work", None, 0)
        .await
        .unwrap();
    wait_for("the first run", async || {
        hanging.runs.load(Ordering::SeqCst) == 1
    })
    .await;
    let row = state_of(&catalog, "test.work/1").await;
    assert_eq!(row.state, "running");
    assert_eq!(row.holder.as_deref(), Some("process-a"));
    // Its process dies: nothing is recorded, the lease runs out.
    a.kill();
    let healthy = Probe::new("test.work", Duration::from_millis(10));
    let started = Instant::now();
    let b = runner(&catalog, "process-b", &healthy)
        .start()
        .await
        .unwrap();
    wait_for("the retry", async || {
        state_of(&catalog, "test.work/1").await.state == "done"
    })
    .await;
    b.shutdown().await;
    assert_eq!(healthy.runs.load(Ordering::SeqCst), 1);
    assert_eq!(
        healthy.last_attempt.load(Ordering::SeqCst),
        2,
        "the dead process's run counts as a failed attempt"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "retried {:?} after the kill, with a 1 s lease",
        started.elapsed()
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_killed_mid_run_is_retried_on_postgres() {
    killed_mid_run_is_retried(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_killed_mid_run_is_retried_on_sqlite() {
    killed_mid_run_is_retried(Backend::Sqlite).await;
}

/// A job that fails is retried with backoff and, out of attempts, is
/// `failed` with its error visible.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_job_is_retried_then_failed_with_its_error() {
    struct Fails(Arc<AtomicUsize>);
    impl Job for Fails {
        fn kind(&self) -> &'static str {
            "test.fails"
        }
        fn run(&self, _: JobCx) -> BoxFuture<'static, Result<Outcome, String>> {
            let n = self.0.clone();
            async move {
                n.fetch_add(1, Ordering::SeqCst);
                Err("the disk is full".to_owned())
            }
            .boxed()
        }
    }
    let app = TestApp::start(Backend::Sqlite).await.unwrap();
    let catalog = app.state.router.catalog().clone();
    let tries = Arc::new(AtomicUsize::new(0));
    let cfg = JobsConfig {
        max_attempts: 2,
        ..quick()
    };
    let r = Runner::new(catalog.clone(), "process-a", cfg)
        .with(Arc::new(Fails(tries.clone())))
        .start()
        .await
        .unwrap();
    Jobs::new(&catalog)
        .schedule_once("test.fails/1", "test.fails", None, 0)
        .await
        .unwrap();
    wait_for("the job to fail for good", async || {
        state_of(&catalog, "test.fails/1").await.state == "failed"
    })
    .await;
    r.shutdown().await;
    assert_eq!(tries.load(Ordering::SeqCst), 2);
    let row = state_of(&catalog, "test.fails/1").await;
    assert_eq!(row.failures, 2);
    assert_eq!(row.last_error.as_deref(), Some("the disk is full"));
    let (s, list) = app.get("/admin/jobs", &app.admin_token).await;
    assert_eq!(s, 200, "{list}");
    let job = list["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["name"] == "test.fails/1")
        .unwrap_or_else(|| panic!("listed: {list}"))
        .clone();
    assert_eq!(job["state"], "failed");
    assert_eq!(job["failures"], 2);
    assert!(
        job["last_run"].is_string() && job["next_run"].is_null(),
        "{job}"
    );
    app.stop().await;
}

async fn shutdown_waits_for_a_safe_point(backend: Backend) {
    let app = TestApp::start(backend).await.unwrap();
    let catalog = app.state.router.catalog().clone();
    let mut p = Probe::new("test.long", Duration::ZERO);
    Arc::get_mut(&mut p).unwrap().until_stopped = true;
    let r = runner(&catalog, "process-a", &p).start().await.unwrap();
    Jobs::new(&catalog)
        .schedule_once("test.long/1", "test.long", None, 0)
        .await
        .unwrap();
    wait_for("the run", async || p.runs.load(Ordering::SeqCst) == 1).await;
    r.shutdown().await;
    assert!(
        p.stopped_cleanly.load(Ordering::SeqCst),
        "shutdown returned before the job reached its safe point"
    );
    let row = state_of(&catalog, "test.long/1").await;
    assert_eq!(row.state, "scheduled", "stopped, due again for any process");
    assert_eq!(row.holder, None);
    assert_eq!(row.failures, 0, "a stop is not a failure");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_waits_for_a_safe_point_on_postgres() {
    shutdown_waits_for_a_safe_point(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_waits_for_a_safe_point_on_sqlite() {
    shutdown_waits_for_a_safe_point(Backend::Sqlite).await;
}

/// A move waits at `cleaning` with no driver (its lease given up, its
/// cleanup a job); the service stops; the cleanup falls due while nothing
/// runs; a service started again on the same catalog cleans up.
async fn a_due_cleanup_runs_after_a_restart(backend: Backend) {
    let mut a = TestApp::start(backend).await.unwrap();
    let (secret, admin) = (
        a.state.config.jwt_secret.clone(),
        a.state.config.admin_token.clone(),
    );
    a.create_tenant("later", "free", "default").await;
    let (s, m) = a
        .post(
            "/admin/tenants/later/move",
            &a.admin_token,
            json!({"to": "dedicated", "cleanup": "3s"}),
        )
        .await;
    assert_eq!(s, 202, "{m}");
    let id = m["id"].as_str().unwrap().to_owned();
    wait_for("the switch", async || {
        a.get(&format!("/admin/moves/{id}"), &a.admin_token).await.1["state"] == "cleaning"
    })
    .await;
    let catalog = a.state.router.catalog().clone();
    let move_id = uuid::Uuid::parse_str(&id).unwrap();
    // Saved `cleaning`, the driver schedules the cleanup job and gives the
    // move's lease up: the grace period holds none.
    wait_for("the lease given up", async || {
        fsa_move::Ledger::new(&catalog)
            .move_owner(move_id)
            .await
            .unwrap()
            .is_none()
    })
    .await;
    let cleanup = state_of(&catalog, &format!("move-cleanup/{id}")).await;
    assert_eq!(cleanup.state, "scheduled");
    // The service stops; its catalog stays.
    let db = a.db.take();
    let dir = std::mem::replace(&mut a.dir, tempfile::tempdir().unwrap());
    a.stop().await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    let url = db.as_ref().map(|d| d.url().into());
    let data_dir = dir.path().to_path_buf();
    let b = TestApp::start_with(Backend::Sqlite, move |c| {
        c.database_url = url;
        c.data_dir = data_dir;
        c.jwt_secret = secret;
        c.admin_token = admin;
    })
    .await
    .unwrap();
    wait_for("the cleanup after the restart", async || {
        b.get(&format!("/admin/moves/{id}"), &b.admin_token).await.1["state"] == "done"
    })
    .await;
    let (_, m) = b.get(&format!("/admin/moves/{id}"), &b.admin_token).await;
    assert!(
        m["report"]["cleanup_remaining"]
            .as_object()
            .is_some_and(|r| r.values().all(|v| v == 0)),
        "{m}"
    );
    let (_, jobs) = b.get("/admin/jobs", &b.admin_token).await;
    let names: Vec<&str> = jobs["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|j| j["name"].as_str())
        .collect();
    assert!(names.contains(&"moves.resume"), "{jobs}");
    b.stop().await;
    drop(db);
    drop(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_due_cleanup_runs_after_a_restart_on_postgres() {
    a_due_cleanup_runs_after_a_restart(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_due_cleanup_runs_after_a_restart_on_sqlite() {
    a_due_cleanup_runs_after_a_restart(Backend::Sqlite).await;
}
