//! `fsa backup` against a backup store in an S3 bucket (the S3 test
//! server): run, list, verify and restore as a new tenant, each with
//! `--json`; a part changed in the bucket is refused by verify and restore
//! (non-zero exit, nothing created); a backup killed (SIGKILL) after its
//! row parts is never listed as done, and the schedule's pass fails it and
//! collects what it wrote; a restore killed after its first table leaves no
//! routable tenant (as a new tenant) or the tenant as it was (in place), and
//! a rerun completes.

use std::process::{Command, Stdio};

use fsa_testkit::files::{tenant_with_order, upload};
use fsa_testkit::s3::{ACCESS_KEY, SECRET_KEY, TestBucket};
use fsa_testkit::{Backend, Json, TestApp, wait_for_pause};
use object_store::ObjectStoreExt;
use object_store::path::Path as ObjectPath;

const FSA: &str = env!("CARGO_BIN_EXE_fsa");

/// The CLI on the service's catalog, with the backup store in `bucket`.
fn fsa(app: &TestApp, bucket: &TestBucket) -> Command {
    let mut c = app.cli(FSA);
    c.env(
        "FSA_BACKUPS__URL",
        format!("s3://{}/backups", bucket.bucket),
    )
    .env("FSA_BACKUPS__ENDPOINT", &bucket.endpoint)
    .env("FSA_BACKUPS__REGION", "us-east-1")
    .env("FSA_BACKUPS__ACCESS_KEY_ID", ACCESS_KEY)
    .env("FSA_BACKUPS__SECRET_ACCESS_KEY", SECRET_KEY);
    c
}

async fn run(mut c: Command, args: &[&str]) -> (bool, Json, String) {
    c.args(args);
    let out = tokio::task::spawn_blocking(move || c.output().unwrap())
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let json = serde_json::from_str(&stdout).unwrap_or(Json::Null);
    (
        out.status.success(),
        json,
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backups_in_a_bucket_run_list_verify_and_restore() {
    let bucket = TestBucket::new().await;
    let backups = bucket.store_config("backups");
    let app = TestApp::start_with(Backend::Postgres, move |c| {
        c.backups.url = Some(backups.url);
        c.backups.endpoint = backups.endpoint;
        c.backups.region = backups.region;
        c.backups.access_key_id = backups.access_key_id;
        c.backups.secret_access_key = backups.secret_access_key;
    })
    .await
    .unwrap();
    let (_, token, wo) = tenant_with_order(&app, "acme", "premium").await;
    upload(&app, &token, &wo, "photo.jpg", &[7u8; 300_000]).await;

    let (ok, made, err) = run(
        fsa(&app, &bucket),
        &["backup", "run", "--tenant", "acme", "--json"],
    )
    .await;
    assert!(ok, "{err}");
    let id = made[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(made[0]["state"], "done", "{made}");
    assert_eq!(made[0]["manifest"]["files"]["objects"], 1, "{made}");

    let (ok, list, err) = run(fsa(&app, &bucket), &["backup", "list", "--json"]).await;
    assert!(ok, "{err}");
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    // The service reads the same catalog: its API lists it.
    let (s, b) = app
        .get(&format!("/admin/backups/{id}"), &app.admin_token)
        .await;
    assert_eq!(s, 200, "{b}");

    let (ok, v, err) = run(fsa(&app, &bucket), &["backup", "verify", &id, "--json"]).await;
    assert!(ok, "{err}");
    assert_eq!(v["ok"], true, "{v}");

    let (ok, r, err) = run(
        fsa(&app, &bucket),
        &["backup", "restore", &id, "--as", "acme-copy", "--json"],
    )
    .await;
    assert!(ok, "{err}");
    assert_eq!(r["tenant"]["slug"], "acme-copy", "{r}");
    assert_eq!(r["tenant"]["placement"]["kind"], "pooled", "{r}");
    assert_eq!(r["objects"], 1, "{r}");
    let copy = app
        .login("acme-copy", "admin@acme.test", "password-acme")
        .await;
    let (s, files) = app
        .get(&format!("/api/v1/work-orders/{wo}/files"), &copy)
        .await;
    assert_eq!(s, 200, "{files}");
    assert_eq!(files["items"][0]["size"], 300_000, "{files}");

    // A changed part in the bucket: verify and restore refuse it.
    let store = bucket.store_config("backups");
    let objects = fsa_store::objects::open_store("t", &store).unwrap();
    let key = ObjectPath::from(format!("{id}/rows/work_orders.jsonl.gz"));
    let mut bytes = objects
        .objects
        .get(&key)
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap()
        .to_vec();
    let last = bytes.len() - 3;
    bytes[last] ^= 0xff;
    objects.objects.put(&key, bytes.into()).await.unwrap();
    let (ok, _, err) = run(fsa(&app, &bucket), &["backup", "verify", &id]).await;
    assert!(!ok, "a damaged backup verified");
    assert!(err.contains("damaged"), "{err}");
    let (ok, _, err) = run(
        fsa(&app, &bucket),
        &["backup", "restore", &id, "--as", "from-damaged"],
    )
    .await;
    assert!(!ok, "a damaged backup restored");
    assert!(err.contains("damaged"), "{err}");
    let (s, _) = app
        .get("/admin/tenants/from-damaged", &app.admin_token)
        .await;
    assert_eq!(s, 404, "nothing was created");

    // Bad input: an unknown backup, an unknown tenant.
    let unknown = uuid::Uuid::now_v7().to_string();
    let (ok, _, err) = run(fsa(&app, &bucket), &["backup", "verify", &unknown]).await;
    assert!(!ok && err.contains("no backup"), "{err}");
    let (ok, _, err) = run(fsa(&app, &bucket), &["backup", "run", "--tenant", "nobody"]).await;
    assert!(!ok && err.contains("no tenant"), "{err}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_killed_midway_is_never_listed_and_is_collected() {
    let bucket = TestBucket::new().await;
    let app = TestApp::start(Backend::Sqlite).await.unwrap();
    tenant_with_order(&app, "halfway", "free").await;
    let pause = app.dir.path().join("paused");
    let mut c = fsa(&app, &bucket);
    c.args(["backup", "run", "--tenant", "halfway"])
        .env("FSA_MOVE_PAUSE_AT", "backup_rows")
        .env("FSA_MOVE_PAUSE_FILE", &pause)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    wait_for_pause(&mut child, &pause, "backup_rows").await;
    child.kill().unwrap();
    child.wait().unwrap();

    let (_, list, _) = run(fsa(&app, &bucket), &["backup", "list", "--json"]).await;
    let b = &list[0];
    assert_ne!(b["state"], "done", "{list}");
    let id = b["id"].as_str().unwrap().to_owned();
    let store = fsa_store::objects::open_store("t", &bucket.store_config("backups")).unwrap();
    let all = store.list("").await.unwrap();
    assert!(
        !store.list(&id).await.unwrap().is_empty(),
        "its row parts were written: {all:?}"
    );
    let (ok, _, err) = run(fsa(&app, &bucket), &["backup", "verify", &id]).await;
    assert!(!ok && err.contains("running"), "{err}");
    // Six hours on, the schedule's pass (here on the same catalog and
    // bucket) takes it for abandoned.
    let later = chrono::Utc::now() + chrono::Duration::hours(7);
    let config = {
        let mut c = app.state.config.as_ref().clone();
        let s = bucket.store_config("backups");
        c.backups.url = Some(s.url);
        c.backups.endpoint = s.endpoint;
        c.backups.region = s.region;
        c.backups.access_key_id = s.access_key_id;
        c.backups.secret_access_key = s.secret_access_key;
        c
    };
    let (other, _) = fsa_app::open(&config).await.unwrap();
    let pass = other.backup_schedule(later).await.unwrap();
    assert!(
        pass.abandoned.iter().any(|a| a.to_string() == id),
        "{pass:?}"
    );
    assert!(
        store.list(&id).await.unwrap().is_empty(),
        "its parts were collected"
    );
    let (_, b) = app
        .get(&format!("/admin/backups/{id}"), &app.admin_token)
        .await;
    assert_eq!(b["state"], "failed", "{b}");
    other.router().close().await;
    app.stop().await;
}

/// Work order titles of a tenant, sorted.
async fn titles(app: &TestApp, token: &str) -> Vec<String> {
    let (s, list) = app.get("/api/v1/work-orders?limit=200", token).await;
    assert_eq!(s, 200, "{list}");
    let mut t: Vec<String> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["title"].as_str().unwrap().to_owned())
        .collect();
    t.sort();
    t
}

async fn add_order(app: &TestApp, token: &str, title: &str) {
    let (_, c) = app.get("/api/v1/clients", token).await;
    let (s, w) = app
        .post(
            "/api/v1/work-orders",
            token,
            serde_json::json!({"client_id": c["items"][0]["id"], "title": title}),
        )
        .await;
    assert_eq!(s, 201, "{w}");
}

/// `fsa backup restore` (the local backup store) killed with SIGKILL after
/// its first table was loaded.
async fn kill_restore(app: &TestApp, args: &[&str]) {
    let pause = app
        .dir
        .path()
        .join(format!("paused-{}", uuid::Uuid::new_v4()));
    let mut c = app.cli(FSA);
    c.args(args)
        .env("FSA_MOVE_PAUSE_AT", "restore_rows")
        .env("FSA_MOVE_PAUSE_FILE", &pause)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    wait_for_pause(&mut child, &pause, "restore_rows").await;
    child.kill().unwrap();
    child.wait().unwrap();
}

async fn backed_up(app: &TestApp, slug: &str) -> String {
    let (ok, made, err) = run(app.cli(FSA), &["backup", "run", "--tenant", slug, "--json"]).await;
    assert!(ok, "{err}");
    made[0]["id"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restore_as_killed_midway_is_not_routable_and_a_rerun_completes() {
    let app = TestApp::start(Backend::Postgres).await.unwrap();
    let (_, token, _) = tenant_with_order(&app, "source", "free").await;
    for i in 0..5 {
        add_order(&app, &token, &format!("order {i}")).await;
    }
    let want = titles(&app, &token).await;
    let id = backed_up(&app, "source").await;

    kill_restore(&app, &["backup", "restore", &id, "--as", "copy"]).await;
    // Killed part way: no tenant anyone can log in to.
    let (s, b) = app
        .call(
            reqwest::Method::POST,
            "/api/v1/auth/login",
            None,
            Some(serde_json::json!({"tenant": "copy", "email": "admin@source.test", "password": "password-source"})),
        )
        .await;
    assert_eq!(s, 401, "a half-restored tenant took a login: {b}");

    // The rerun starts again and completes: the same rows, once.
    let (ok, r, err) = run(
        app.cli(FSA),
        &["backup", "restore", &id, "--as", "copy", "--json"],
    )
    .await;
    assert!(ok, "{err}");
    assert_eq!(r["tenant"]["state"], "active", "{r}");
    let copy = app
        .login("copy", "admin@source.test", "password-source")
        .await;
    assert_eq!(titles(&app, &copy).await, want);
    // A tenant of that name that is not an interrupted restore is not
    // touched: the slug is taken.
    let (ok, _, err) = run(app.cli(FSA), &["backup", "restore", &id, "--as", "copy"]).await;
    assert!(!ok && err.contains("exists"), "{err}");
    assert_eq!(titles(&app, &copy).await, want);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restore_in_place_killed_midway_changes_nothing_and_a_rerun_completes() {
    let app = TestApp::start(Backend::Sqlite).await.unwrap();
    let (_, token, _) = tenant_with_order(&app, "undo", "free").await;
    add_order(&app, &token, "in the backup").await;
    let at_backup = titles(&app, &token).await;
    let id = backed_up(&app, "undo").await;
    add_order(&app, &token, "after the backup").await;
    let before_kill = titles(&app, &token).await;

    kill_restore(&app, &["backup", "restore", &id]).await;
    // The restore's transaction never committed: the tenant is as it was,
    // and serves writes.
    assert_eq!(titles(&app, &token).await, before_kill);
    add_order(&app, &token, "after the kill").await;

    let (ok, _, err) = run(app.cli(FSA), &["backup", "restore", &id, "--json"]).await;
    assert!(ok, "{err}");
    assert_eq!(titles(&app, &token).await, at_backup);
    app.stop().await;
}
