//! `fsa db bootstrap` on a throwaway cluster (roles belong to the whole
//! server): it makes the service's least-privileged login, a rerun changes
//! nothing, a hostile name and a caller that may not create roles are
//! refused; and `fsa serve` warns when its login is a superuser.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use fsa_testkit::PgCluster;
use serde_json::Value;
use sqlx::{Connection, PgConnection};

const FSA: &str = env!("CARGO_BIN_EXE_fsa");

fn bootstrap(url: &str, args: &[&str]) -> std::process::Output {
    Command::new(FSA)
        .args(["db", "bootstrap", "--url", url])
        .args(args)
        .env("FSA_LOG", "warn")
        .env("SVC_PASSWORD", "a password for the service")
        .output()
        .expect("fsa runs")
}

fn json(out: &std::process::Output) -> Value {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON output")
}

#[tokio::test]
async fn bootstrap_makes_the_login_once_and_refuses_what_it_must() {
    let cluster = PgCluster::start().unwrap();
    let admin = format!("{}/postgres", cluster.admin_url());

    let first = json(&bootstrap(
        &admin,
        &["--login", "svc", "--password-env", "SVC_PASSWORD", "--json"],
    ));
    assert_eq!(first["changed"], true, "{first}");
    assert_eq!(first["password_set"], true, "{first}");
    assert!(first.get("generated_password").is_none(), "{first}");
    assert!(
        first.to_string().contains("created the login svc"),
        "{first}"
    );

    let mut pg = PgConnection::connect(&admin).await.unwrap();
    let row: (bool, bool, bool, bool, bool, bool) = sqlx::query_as(
        "SELECT rolcanlogin, rolcreatedb, rolsuper, rolcreaterole, rolbypassrls, \
         pg_has_role('svc', 'fsa_app', 'MEMBER') FROM pg_roles WHERE rolname = 'svc'",
    )
    .fetch_one(&mut pg)
    .await
    .unwrap();
    assert_eq!(row, (true, true, false, false, false, true));
    let password: String =
        sqlx::query_scalar("SELECT rolpassword FROM pg_authid WHERE rolname = 'svc'")
            .fetch_one(&mut pg)
            .await
            .unwrap();
    assert!(password.starts_with("SCRAM-SHA-256$4096:"), "{password}");

    // A rerun changes nothing and says so.
    let again = json(&bootstrap(
        &admin,
        &["--login", "svc", "--password-env", "SVC_PASSWORD", "--json"],
    ));
    assert_eq!(again["changed"], false, "{again}");
    assert_eq!(again["changes"], serde_json::json!([]), "{again}");
    let text = bootstrap(&admin, &["--login", "svc"]);
    assert!(text.status.success());
    let out = String::from_utf8_lossy(&text.stdout);
    assert!(out.contains("nothing to do"), "{out}");
    assert!(!out.contains("shown this once"), "{out}");
    let unchanged: String =
        sqlx::query_scalar("SELECT rolpassword FROM pg_authid WHERE rolname = 'svc'")
            .fetch_one(&mut pg)
            .await
            .unwrap();
    assert_eq!(unchanged, password, "a rerun keeps the password");

    // A new login without --password-env gets a password shown once.
    let generated = json(&bootstrap(&admin, &["--login", "svc_two", "--json"]));
    let shown = generated["generated_password"].as_str().unwrap_or_default();
    assert!(shown.len() >= 32, "{generated}");

    // Hostile or unsuitable names are refused, and make nothing.
    for name in ["svc\"; DROP ROLE postgres; --", "Svc", "pg_svc", "fsa_app"] {
        let out = bootstrap(&admin, &["--login", name]);
        assert!(!out.status.success(), "{name} was accepted");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("not an acceptable login name"), "{err}");
    }
    let out = bootstrap(&admin, &["--login", "postgres"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("SUPERUSER"), "{err}");
    let roles: i64 =
        sqlx::query_scalar("SELECT count(*) FROM pg_roles WHERE rolname ILIKE '%svc%'")
            .fetch_one(&mut pg)
            .await
            .unwrap();
    assert_eq!(roles, 2, "only svc and svc_two exist");
    let still_super: bool =
        sqlx::query_scalar("SELECT rolsuper FROM pg_roles WHERE rolname = 'postgres'")
            .fetch_one(&mut pg)
            .await
            .unwrap();
    assert!(still_super);

    // The service's own login may not create roles: refused, non-zero.
    let as_service = format!("postgres://svc@127.0.0.1:{}/postgres", cluster.port);
    let out = bootstrap(&as_service, &["--login", "svc_three"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("may not create roles"), "{err}");
    let made: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'svc_three')")
            .fetch_one(&mut pg)
            .await
            .unwrap();
    assert!(!made);
    pg.close().await.unwrap();
}

/// Starts `fsa serve` on the catalog at `url` and returns its stderr up to
/// the line that says it listens.
fn serve_log(url: &str, dir: &std::path::Path) -> String {
    let mut child = Command::new(FSA)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("FSA_DATA_DIR", dir)
        .env("FSA_DATABASE_URL", url)
        .env("FSA_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("fsa serve starts");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut log = String::new();
    while Instant::now() < deadline {
        match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(line) => {
                let done = line.contains("listening on");
                log.push_str(&line);
                log.push('\n');
                if done {
                    break;
                }
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            Err(_) => break,
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        log.contains("listening on"),
        "fsa serve did not start: {log}"
    );
    log
}

#[tokio::test]
async fn serve_warns_when_its_login_is_a_superuser() {
    let cluster = PgCluster::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let log = serve_log(&format!("{}/fsa_warn", cluster.admin_url()), dir.path());
    assert!(
        log.contains("superuser") && log.contains("fsa db bootstrap"),
        "{log}"
    );
    let dir = tempfile::tempdir().unwrap();
    let log = serve_log(&format!("{}/fsa_quiet", cluster.base_url()), dir.path());
    assert!(!log.contains("fsa db bootstrap"), "{log}");
}
