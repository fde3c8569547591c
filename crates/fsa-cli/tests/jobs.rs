//! `fsa advise --apply` beside a running `fsa serve`: the move it schedules
//! is a job the service's runner takes at once and drives to its switch
//! (the command does not drive it, and no lease has to run out); the
//! service's /metrics counts it from the catalog; `fsa jobs --json` and
//! `GET /admin/jobs` list it.

use std::time::{Duration, Instant};

use fsa_testkit::{Backend, Json, TestApp};
use serde_json::json;

const FSA: &str = env!("CARGO_BIN_EXE_fsa");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn advise_apply_is_driven_by_the_serving_process() {
    let app = TestApp::start(Backend::Postgres).await.unwrap();
    let admin = app.admin_token.clone();
    app.create_tenant("apart", "free", "default").await;
    let (s, b) = app
        .patch(
            "/admin/tenants/apart",
            &admin,
            json!({"isolation_requested": true}),
        )
        .await;
    assert_eq!(s, 200, "{b}");

    let started = Instant::now();
    let out = tokio::task::spawn_blocking({
        let mut c = app.cli(FSA);
        c.args(["advise", "--apply", "--json"]);
        move || c.output().unwrap()
    })
    .await
    .unwrap();
    let took = started.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        !stderr.contains("driven by this command"),
        "the command drove the move itself: {stderr}"
    );
    let v: Json = serde_json::from_slice(&out.stdout).unwrap();
    let id = v["applied"][0]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no move scheduled: {v}"))
        .to_owned();
    // The command returned once the service had switched the tenant.
    let (_, m) = app.get(&format!("/admin/moves/{id}"), &admin).await;
    assert!(
        ["cleaning", "done"].contains(&m["state"].as_str().unwrap_or("")),
        "{m}"
    );
    assert!(took < Duration::from_secs(30), "took {took:?}");
    let (_, t) = app.get("/admin/tenants/apart", &admin).await;
    assert_eq!(t["placement"]["kind"], "dedicated", "{t}");

    // The serving process reports the fleet's moves, read from the catalog.
    let metrics = app.metrics_text().await;
    let counted: f64 = ["cleaning", "done"]
        .iter()
        .filter_map(|s| {
            metrics
                .lines()
                .find(|l| l.starts_with(&format!("fsa_moves_total{{state=\"{s}\"}}")))
                .and_then(|l| l.rsplit(' ').next())
                .and_then(|n| n.parse::<f64>().ok())
        })
        .sum();
    assert_eq!(counted, 1.0, "{metrics}");

    // Both faces list the move's jobs.
    let (s, jobs) = app.get("/admin/jobs", &admin).await;
    assert_eq!(s, 200, "{jobs}");
    let names: Vec<&str> = jobs["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|j| j["name"].as_str())
        .collect();
    assert!(names.contains(&format!("move/{id}").as_str()), "{jobs}");
    assert!(names.contains(&"moves.resume"), "{jobs}");
    for j in jobs["jobs"].as_array().unwrap() {
        for key in [
            "name", "state", "last_run", "next_run", "failures", "holder",
        ] {
            assert!(j.get(key).is_some(), "{key} missing: {j}");
        }
    }
    let out = tokio::task::spawn_blocking({
        let mut c = app.cli(FSA);
        c.args(["jobs", "--json"]);
        move || c.output().unwrap()
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cli: Json = serde_json::from_slice(&out.stdout).unwrap();
    let cli_job = cli["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["name"] == format!("move/{id}"))
        .unwrap_or_else(|| panic!("{cli}"))
        .clone();
    assert_eq!(cli_job["state"], "done", "{cli_job}");
    app.stop().await;
}

/// The admin jobs list is the operator's: no token or a tenant's token is
/// refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_jobs_list_needs_the_admin_token() {
    let app = TestApp::start(Backend::Sqlite).await.unwrap();
    app.create_tenant("someone", "free", "default").await;
    let tenant = app.login_admin("someone").await;
    assert_eq!(app.get("/admin/jobs", "").await.0, 401);
    assert_eq!(app.get("/admin/jobs", "wrong").await.0, 401);
    let (s, b) = app.get("/admin/jobs", &tenant).await;
    assert!(s == 401 || s == 403, "{s} {b}");
    app.stop().await;
}
