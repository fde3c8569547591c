//! The mover killed (SIGKILL) in each state in turn, with writers running,
//! then resumed by `fsa move resume`: every run ends `done` or `rolled_back`,
//! the tenant holds exactly its acknowledged writes, no writer sees a 5xx,
//! and the side the tenant left holds none of its rows.

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use fsa_testkit::files::move_end;
use fsa_testkit::{Backend, Json, TestApp, wait_for_pause};
use serde_json::json;

const FSA: &str = env!("CARGO_BIN_EXE_fsa");

fn fsa(app: &TestApp, dir: &std::path::Path) -> Command {
    let mut c = Command::new(FSA);
    c.env("FSA_DATABASE_URL", app.db.as_ref().expect("postgres").url())
        .env("FSA_DATA_DIR", dir)
        .env("FSA_ADMIN_TOKEN", app.state.config.expose_admin_token())
        .env("FSA_JWT_SECRET", app.state.config.expose_jwt_secret())
        .env("FSA_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    c
}

/// Writes work orders of its own until stopped; returns what was acknowledged.
async fn writer(
    app: Arc<TestApp>,
    token: String,
    client: String,
    stop: Arc<AtomicBool>,
    fivexx: Arc<AtomicU64>,
    n: usize,
) -> BTreeMap<String, Json> {
    let mut mine: BTreeMap<String, Json> = BTreeMap::new();
    let mut i = 0usize;
    while !stop.load(Ordering::Relaxed) {
        i += 1;
        let existing: Vec<String> = mine.keys().cloned().collect();
        let (s, b, id) = if i.is_multiple_of(3) && !existing.is_empty() {
            let id = existing[(i * 7 + n) % existing.len()].clone();
            if i.is_multiple_of(9) {
                let (s, b) = app
                    .delete(&format!("/api/v1/work-orders/{id}"), &token)
                    .await;
                (s, b, Some(id))
            } else {
                let (s, b) = app
                    .patch(
                        &format!("/api/v1/work-orders/{id}"),
                        &token,
                        json!({"title": format!("w{n}-{i}-edit")}),
                    )
                    .await;
                (s, b, Some(id))
            }
        } else {
            let (s, b) = app
                .post(
                    "/api/v1/work-orders",
                    &token,
                    json!({"client_id": client, "title": format!("w{n}-{i}")}),
                )
                .await;
            let id = b["id"].as_str().map(str::to_owned);
            (s, b, id)
        };
        if s >= 500 {
            fivexx.fetch_add(1, Ordering::Relaxed);
            eprintln!("writer {n}: {s} {b}");
            continue;
        }
        match (s, id) {
            (200 | 201, Some(id)) => {
                mine.insert(id, b);
            }
            (204, Some(id)) => {
                mine.remove(&id);
            }
            _ => {}
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    mine
}

async fn kill_at(app: &Arc<TestApp>, point: &str) -> String {
    let slug = format!("kill-{}", point.replace('_', "-"));
    let tenant = app.create_tenant(&slug, "basic", "default").await;
    let token = app.login_admin(&slug).await;
    let (_, c) = app
        .post("/api/v1/clients", &token, json!({"name": "Client"}))
        .await;
    let client = c["id"].as_str().unwrap().to_owned();
    let stop = Arc::new(AtomicBool::new(false));
    let fivexx = Arc::new(AtomicU64::new(0));
    let writers: Vec<_> = (0..4)
        .map(|n| {
            tokio::spawn(writer(
                app.clone(),
                token.clone(),
                client.clone(),
                stop.clone(),
                fivexx.clone(),
                n,
            ))
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(400)).await;

    let dir = tempfile::tempdir().unwrap();
    let pause_file = dir.path().join("paused");
    let mut child = fsa(app, dir.path())
        .args([
            "tenant",
            "move",
            &slug,
            "--to",
            "dedicated",
            "--cleanup",
            "now",
            "--json",
        ])
        .env("FSA_MOVE_PAUSE_AT", point)
        .env("FSA_MOVE_PAUSE_FILE", &pause_file)
        .spawn()
        .unwrap();
    wait_for_pause(&mut child, &pause_file, point).await;
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();

    let out = tokio::task::block_in_place(|| {
        fsa(app, dir.path())
            .args(["move", "resume", "--json"])
            .stdout(Stdio::piped())
            .output()
    })
    .unwrap();
    assert!(
        out.status.success(),
        "resume failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let resumed: Json = serde_json::from_slice(&out.stdout).unwrap();
    let m = match resumed
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["tenant"] == slug.as_str())
        .cloned()
    {
        Some(m) => m,
        // The service under test is a live process on the same catalog: its
        // own resume loop may have taken the move over first. It ends it.
        None => move_end(app, &slug).await,
    };
    let state = m["state"].as_str().unwrap().to_owned();
    assert!(
        state == "done" || state == "rolled_back",
        "killed at {point}: ended {state}: {m}"
    );

    tokio::time::sleep(Duration::from_millis(400)).await;
    stop.store(true, Ordering::Relaxed);
    let mut acked = BTreeMap::new();
    for w in writers {
        acked.extend(w.await.unwrap());
    }
    assert_eq!(
        fivexx.load(Ordering::Relaxed),
        0,
        "killed at {point}: a writer saw a 5xx"
    );

    // Exactly the acknowledged work orders, as acknowledged.
    let mut found = BTreeMap::new();
    let mut cursor: Option<String> = None;
    loop {
        let url = match &cursor {
            Some(c) => format!("/api/v1/work-orders?limit=200&cursor={c}"),
            None => "/api/v1/work-orders?limit=200".to_owned(),
        };
        let (s, b) = app.get(&url, &token).await;
        assert_eq!(s, 200, "{b}");
        for w in b["items"].as_array().unwrap() {
            found.insert(w["id"].as_str().unwrap().to_owned(), w.clone());
        }
        match b["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(
        found.len(),
        acked.len(),
        "killed at {point}: lost or extra work orders"
    );
    for (id, want) in &acked {
        let got = &found[id];
        assert_eq!(
            (&got["title"], &got["updated_at"]),
            (&want["title"], &want["updated_at"]),
            "killed at {point}: {id}"
        );
    }

    // The side the tenant is not on holds none of its rows.
    let (_, now) = app
        .get(&format!("/admin/tenants/{slug}"), &app.admin_token)
        .await;
    let left_db = if state == "done" {
        assert_eq!(now["placement"]["kind"], "dedicated");
        tenant["placement"]["database"].as_str().unwrap().to_owned()
    } else {
        assert_eq!(
            now["placement"]["id"], tenant["placement"]["id"],
            "a rolled back move leaves the tenant where it was"
        );
        match m["to"].as_str() {
            Some(to) => {
                let (_, ps) = app.get("/admin/placements", &app.admin_token).await;
                let p = ps
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|p| p["id"] == to)
                    .unwrap()
                    .clone();
                assert_eq!(
                    p["state"], "retired",
                    "the rolled back target is retired: {p}"
                );
                return state;
            }
            None => return state,
        }
    };
    let base = fsa_testkit::local_pg_base();
    let pool = sqlx::PgPool::connect(&format!("{base}/{left_db}"))
        .await
        .unwrap();
    let tid = uuid::Uuid::parse_str(tenant["id"].as_str().unwrap()).unwrap();
    for table in [
        "work_orders",
        "clients",
        "users",
        "tombstones",
        "tenant_state",
    ] {
        let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT count(*) FROM {table} WHERE tenant_id = $1"
        )))
        .bind(tid)
        .fetch_one(&pool)
        .await
        .unwrap();
        assert_eq!(
            n, 0,
            "killed at {point}: {table} still holds the tenant at the source"
        );
    }
    pool.close().await;
    state
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mover_killed_in_every_state_resumes_or_rolls_back() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter("warn")
        .with_test_writer()
        .try_init();
    let app = Arc::new(TestApp::start(Backend::Postgres).await.unwrap());
    let mut outcomes = Vec::new();
    for point in [
        "provisioning",
        "copying",
        "catching_up",
        "verifying",
        "fenced",
        "fence-committed",
        "switched",
        "cleaning",
    ] {
        let state = kill_at(&app, point).await;
        eprintln!("killed at {point}: {state}");
        outcomes.push((point, state));
    }
    assert!(
        outcomes.iter().any(|(_, s)| s == "rolled_back"),
        "{outcomes:?}"
    );
    assert!(outcomes.iter().any(|(_, s)| s == "done"), "{outcomes:?}");
    match Arc::try_unwrap(app) {
        Ok(app) => app.stop().await,
        Err(_) => panic!("app still shared"),
    }
}
