//! `fsa db migrate` stopped by Ctrl-C (SIGINT) part way: the placements in
//! flight finish, no other starts, nothing is left `migrating`, the exit is
//! non-zero; a rerun migrates exactly the rest; `fsa db status --json`
//! then shows every placement current.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use fsa_store::db::Pool;
use fsa_store::on_pool;
use fsa_testkit::{Backend, Json, TestApp};

const FSA: &str = env!("CARGO_BIN_EXE_fsa");

fn fsa(app: &TestApp) -> Command {
    app.cli(FSA)
}

async fn pools(app: &TestApp) -> Vec<Pool> {
    let mut out = Vec::new();
    for p in app.state.router.catalog().placements().await.unwrap() {
        let p = p.placement;
        let server = app.state.router.servers().get(&p.server).unwrap();
        out.push(server.open_admin_connection_pool(&p.db_name).await.unwrap());
    }
    out
}

fn latest() -> i64 {
    fsa_store::schema::MigrationSet::binary().latest()
}

async fn has_latest(pool: &Pool) -> bool {
    on_pool!(pool, c => sqlx::query_scalar::<_, i64>("SELECT count(*) FROM _sqlx_migrations WHERE version = $1")
        .bind(latest())
        .fetch_one(c).await.unwrap())
        == 1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_stops_between_placements_and_a_rerun_resumes() {
    let app = TestApp::start(Backend::Sqlite).await.unwrap();
    for i in 0..40 {
        app.create_tenant(&format!("sig-{i}"), "enterprise", "default")
            .await;
    }
    let pools = pools(&app).await;
    let total = pools.len();
    assert!(total >= 40);
    // Every placement one version behind: the latest migration (written to
    // run again over itself) not yet recorded.
    for p in &pools {
        on_pool!(p, c => { sqlx::query("DELETE FROM _sqlx_migrations WHERE version = $1").bind(latest()).execute(c).await.unwrap(); });
    }

    let mut child = fsa(&app)
        .args(["db", "migrate", "--concurrency", "1"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let pid = child.id() as libc::pid_t;
    let reader = std::thread::spawn(move || {
        let mut lines = Vec::new();
        let mut signalled = false;
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.starts_with("migrated ") {
                let n = lines
                    .iter()
                    .filter(|l: &&String| l.starts_with("migrated "))
                    .count();
                if n + 1 == 5 && !signalled {
                    // SAFETY: signalling our own child process.
                    unsafe { libc::kill(pid, libc::SIGINT) };
                    signalled = true;
                }
            }
            lines.push(line);
        }
        lines
    });
    let exit = child.wait().unwrap();
    let lines = reader.join().unwrap();
    let text = lines.join("\n");
    assert!(!exit.success(), "an interrupted run exits non-zero: {text}");
    assert!(text.contains("interrupted"), "{text}");

    let mut done = 0;
    for p in &pools {
        done += usize::from(has_latest(p).await);
    }
    assert!(
        (5..total).contains(&done),
        "stopped part way: {done} of {total} migrated\n{text}"
    );
    let states = app.state.router.catalog().schema_states().await.unwrap();
    assert!(
        states.iter().all(|s| s.state != "migrating"),
        "nothing left half way: {states:?}"
    );

    // The rerun does exactly the rest.
    let out = fsa(&app)
        .args(["db", "migrate", "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Json = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["migrated"], total - done, "{report}");
    assert_eq!(report["current"], done, "{report}");
    for p in &pools {
        assert!(has_latest(p).await);
    }

    let out = fsa(&app).args(["db", "status", "--json"]).output().unwrap();
    assert!(out.status.success());
    let status: Json = serde_json::from_slice(&out.stdout).unwrap();
    let latest = status["latest"].as_i64().unwrap();
    assert_eq!(latest, fsa_store::schema::MigrationSet::binary().latest());
    let rows = status["placements"].as_array().unwrap();
    assert_eq!(rows.len(), total);
    for r in rows {
        assert_eq!(r["version"], latest, "{r}");
        assert_eq!(r["state"], "current", "{r}");
        assert!(r["name"].is_string());
    }

    // `fsa serve` migrates only the catalog, and names at start the
    // placements that are not current.
    let catalog = app.state.router.catalog();
    let first = catalog.placements().await.unwrap()[0].placement.clone();
    catalog
        .set_schema_state(first.id, latest - 1, "failed", Some("injected"))
        .await
        .unwrap();
    let mut serve = fsa(&app)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut said = Vec::new();
    for line in BufReader::new(serve.stderr.take().unwrap())
        .lines()
        .map_while(Result::ok)
    {
        let listening = line.contains("listening on");
        said.push(line);
        if listening {
            break;
        }
    }
    let _ = serve.kill();
    let _ = serve.wait();
    let said = said.join("\n");
    assert!(
        said.contains("1 placement(s) not at schema") && said.contains(&first.name),
        "{said}"
    );

    for p in pools {
        p.close().await;
    }
    app.stop().await;
}
