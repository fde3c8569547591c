//! A tenant's files move with it when a plan change changes its store:
//! basic (local disk) → premium (S3) → basic, with uploads running through
//! each move; every object is checked by SHA-256 at the target, and the
//! source store holds nothing of the tenant after cleanup.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use fsa_testkit::files::move_by_id_end;

use super::*;

/// Changes the tenant's plan; returns the move it scheduled.
async fn change_plan(app: &TestApp, slug: &str, plan: &str) -> String {
    let (s, t) = app
        .patch(
            &format!("/admin/tenants/{slug}"),
            &app.admin_token,
            json!({ "plan": plan }),
        )
        .await;
    assert_eq!(s, 200, "{t}");
    t["move"]["id"]
        .as_str()
        .expect("a move was scheduled")
        .to_owned()
}

/// Waits for a move to be done; fails on a rollback.
async fn done(app: &TestApp, id: &str) -> Json {
    let m = move_by_id_end(app, id).await;
    assert_eq!(m["state"], "done", "{m}");
    m
}

fn local_keys(app: &TestApp, tenant: &str) -> Vec<String> {
    local_objects(app)
        .into_iter()
        .filter(|k| k.starts_with(&format!("tenants/{tenant}/")))
        .collect()
}

/// Uploads small files until `stop`; returns each acknowledged file's id
/// and SHA-256. Counts 5xx answers in `fivexx`.
async fn uploader(
    app: Arc<TestApp>,
    token: String,
    wo: String,
    stop: Arc<AtomicBool>,
    fivexx: Arc<AtomicU64>,
    seed: u8,
) -> BTreeMap<String, String> {
    let mut acked = BTreeMap::new();
    let mut i = 0u32;
    while !stop.load(Ordering::Relaxed) {
        i += 1;
        let bytes = data(2_000 + i as usize, seed.wrapping_add(i as u8));
        let (s, f) = upload(&app, &token, &wo, &format!("during-{i}.pdf"), &bytes).await;
        if s >= 500 {
            fivexx.fetch_add(1, Ordering::Relaxed);
            eprintln!("upload during the move: {s} {f}");
        } else if s == 201 {
            acked.insert(f["id"].as_str().unwrap().to_owned(), sha(&bytes));
        }
        tokio::time::sleep(Duration::from_millis(15)).await;
    }
    acked
}

/// Every file reads back whole with its SHA-256.
async fn all_read_back(app: &TestApp, token: &str, files: &BTreeMap<String, String>) {
    for (id, want) in files {
        let (s, h, got) = download(app, token, id, reqwest::Method::GET, None).await;
        assert_eq!(s, 200, "file {id}");
        assert_eq!(&sha(&got), want, "file {id}");
        assert_eq!(header(&h, "etag"), format!("\"{want}\""));
    }
}

/// One plan change with an uploader running through its move; returns the
/// move's report.
async fn move_with_uploads(
    app: &Arc<TestApp>,
    token: &str,
    wo: &str,
    plan: &str,
    files: &mut BTreeMap<String, String>,
    seed: u8,
) -> Json {
    let stop = Arc::new(AtomicBool::new(false));
    let fivexx = Arc::new(AtomicU64::new(0));
    let up = tokio::spawn(uploader(
        app.clone(),
        token.to_owned(),
        wo.to_owned(),
        stop.clone(),
        fivexx.clone(),
        seed,
    ));
    tokio::time::sleep(Duration::from_millis(100)).await;
    let id = change_plan(app, "carrier", plan).await;
    let m = done(app, &id).await;
    stop.store(true, Ordering::Relaxed);
    files.extend(up.await.unwrap());
    assert_eq!(fivexx.load(Ordering::Relaxed), 0, "no upload saw a 5xx");
    m["report"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_move_with_the_tenant_local_to_s3_and_back() {
    let bucket = TestBucket::new().await;
    let premium = bucket.store_config("fsa");
    let app = Arc::new(
        TestApp::start_with(Backend::Sqlite, move |c| {
            c.files.stores.insert("premium".into(), premium);
            // Longer than an upload that straddles the switch takes.
            c.move_cleanup = "1s".into();
        })
        .await
        .unwrap(),
    );
    let (tenant, token, wo) = tenant_with_order(&app, "carrier", "basic").await;
    let mut files = BTreeMap::new();
    // One byte, a few hundred kB, and one over S3's 5 MiB part.
    for (i, len) in [1usize, 300_000, 6 * 1024 * 1024 + 7]
        .into_iter()
        .enumerate()
    {
        let bytes = data(len, i as u8);
        let (s, f) = upload(&app, &token, &wo, &format!("before-{i}.pdf"), &bytes).await;
        assert_eq!(s, 201, "{f}");
        files.insert(f["id"].as_str().unwrap().to_owned(), sha(&bytes));
    }
    let before = files.len() as u64;
    assert_eq!(local_keys(&app, &tenant).len(), files.len());

    // basic → premium: local disk → S3.
    let report = move_with_uploads(&app, &token, &wo, "premium", &mut files, 10).await;
    let r = &report["files"];
    assert_eq!(r["from_store"], "local", "{r}");
    assert_eq!(r["to_store"], "premium", "{r}");
    assert!(r["objects"].as_u64().unwrap() >= before, "{r}");
    assert_eq!(r["checksums_verified"], r["objects"], "{r}");
    assert!(r["copied"].as_u64().unwrap() >= before, "{r}");
    assert!(r["bytes"].as_u64().unwrap() >= 6 * 1024 * 1024, "{r}");
    assert_eq!(r["missing_count"], 0, "{r}");
    assert_eq!(
        report["objects"], r["objects"],
        "the report's own figures: {report}"
    );
    assert_eq!(report["checksums_verified"], r["objects"], "{report}");
    assert!(r["deleted_at_source"].as_u64().unwrap() >= before, "{r}");
    assert!(
        local_keys(&app, &tenant).is_empty(),
        "nothing of the tenant left on local disk: {:?}",
        local_keys(&app, &tenant)
    );
    let want: Vec<String> = files
        .keys()
        .map(|id| format!("fsa/tenants/{tenant}/{id}"))
        .collect();
    assert_eq!(bucket.keys(&format!("fsa/tenants/{tenant}")).await, want);
    let token = app.login_admin("carrier").await;
    all_read_back(&app, &token, &files).await;

    // premium → basic: S3 → local disk.
    let report = move_with_uploads(&app, &token, &wo, "basic", &mut files, 20).await;
    let r = &report["files"];
    assert_eq!(r["from_store"], "premium", "{r}");
    assert_eq!(r["to_store"], "local", "{r}");
    assert_eq!(r["checksums_verified"], r["objects"], "{r}");
    assert!(
        bucket
            .keys(&format!("fsa/tenants/{tenant}"))
            .await
            .is_empty(),
        "nothing of the tenant left in the bucket"
    );
    let want: Vec<String> = files
        .keys()
        .map(|id| format!("tenants/{tenant}/{id}"))
        .collect();
    assert_eq!(local_keys(&app, &tenant), want);
    let token = app.login_admin("carrier").await;
    all_read_back(&app, &token, &files).await;
    match Arc::try_unwrap(app) {
        Ok(app) => app.stop().await,
        Err(_) => panic!("the app is still shared"),
    }
}

/// A service whose premium plan's store is a bucket (cleanup at once), and
/// a basic tenant `carrier` with `n` files of `size` bytes (`data(size, i)`):
/// the bucket, the service, the tenant's id, a token and the files' ids.
async fn basic_tenant_with_files(
    n: u8,
    size: usize,
) -> (TestBucket, TestApp, String, String, Vec<String>) {
    let bucket = TestBucket::new().await;
    let premium = bucket.store_config("fsa");
    let app = TestApp::start_with(Backend::Sqlite, move |c| {
        c.files.stores.insert("premium".into(), premium);
        c.move_cleanup = "0s".into();
    })
    .await
    .unwrap();
    let (tenant, token, wo) = tenant_with_order(&app, "carrier", "basic").await;
    let mut ids = Vec::new();
    for i in 0..n {
        let (s, f) = upload(&app, &token, &wo, "f.pdf", &data(size, i)).await;
        assert_eq!(s, 201, "{f}");
        ids.push(f["id"].as_str().unwrap().to_owned());
    }
    (bucket, app, tenant, token, ids)
}

/// An object whose bytes no longer match its row's SHA-256 stops the move
/// before its switch: it rolls back, the copies already made leave the
/// target store, and the tenant stays where it was with every file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_object_rolls_the_move_back_and_its_copies_leave_the_target() {
    let (bucket, app, tenant, token, ids) = basic_tenant_with_files(12, 50_000).await;
    // One object changes on disk behind the service's back.
    let damaged = format!("tenants/{tenant}/{}", ids[11]);
    std::fs::write(
        app.dir.path().join("files").join(&damaged),
        b"not what was uploaded",
    )
    .unwrap();

    let id = change_plan(&app, "carrier", "premium").await;
    let m = move_by_id_end(&app, &id).await;
    assert_eq!(
        m["state"], "rolled_back",
        "a damaged object must stop the move: {m}"
    );
    let why = m["report"]["rolled_back_because"].as_str().unwrap_or("");
    assert!(why.contains(&damaged), "the cause names the object: {m}");
    assert!(
        bucket
            .keys(&format!("fsa/tenants/{tenant}"))
            .await
            .is_empty(),
        "the copies left the target store"
    );
    let (_, t) = app.get("/admin/tenants/carrier", &app.admin_token).await;
    assert_eq!(t["plan"], "basic", "{t}");
    assert_eq!(local_keys(&app, &tenant).len(), 12);
    let (s, _, got) = download(&app, &token, &ids[0], reqwest::Method::GET, None).await;
    assert_eq!((s, sha(&got)), (200, sha(&data(50_000, 0))));
    app.stop().await;
}

/// A target store that is down fails the move before its switch, within
/// seconds: it rolls back and names the store; the tenant keeps its plan,
/// its placement and every file, readable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_store_that_is_down_rolls_the_move_back() {
    let port = closed_port();
    let app = TestApp::start_with(Backend::Sqlite, move |c| {
        c.files.stores.insert("premium".into(), down_store(port));
        c.move_cleanup = "0s".into();
    })
    .await
    .unwrap();
    let (tenant, token, wo) = tenant_with_order(&app, "carrier", "basic").await;
    let bytes = data(10_000, 9);
    let (s, f) = upload(&app, &token, &wo, "f.pdf", &bytes).await;
    assert_eq!(s, 201, "{f}");
    let (_, before) = app.get("/admin/tenants/carrier", &app.admin_token).await;

    let started = Instant::now();
    let id = change_plan(&app, "carrier", "premium").await;
    let m = move_by_id_end(&app, &id).await;
    assert_eq!(
        m["state"], "rolled_back",
        "a store that is down cannot take the files: {m}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "the move gave up within seconds"
    );
    let why = m["report"]["rolled_back_because"].as_str().unwrap_or("");
    assert!(why.contains("premium"), "the cause names the store: {m}");
    let (_, after) = app.get("/admin/tenants/carrier", &app.admin_token).await;
    assert_eq!(after["plan"], "basic", "{after}");
    assert_eq!(after["placement"]["id"], before["placement"]["id"]);
    assert_eq!(local_keys(&app, &tenant).len(), 1);
    let (s, _, got) = download(
        &app,
        &token,
        f["id"].as_str().unwrap(),
        reqwest::Method::GET,
        None,
    )
    .await;
    assert_eq!((s, sha(&got)), (200, sha(&bytes)));
    app.stop().await;
}

/// A row whose object no store holds (lost before the move) does not hold
/// the tenant back: the move carries the rest and reports the lost one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_object_lost_before_the_move_is_reported_and_the_rest_move() {
    let (bucket, app, tenant, _, ids) = basic_tenant_with_files(3, 5_000).await;
    let lost = format!("tenants/{tenant}/{}", ids[0]);
    std::fs::remove_file(app.dir.path().join("files").join(&lost)).unwrap();

    let id = change_plan(&app, "carrier", "premium").await;
    let m = done(&app, &id).await;
    let r = &m["report"]["files"];
    assert_eq!(r["missing_count"], 1, "{r}");
    assert_eq!(r["missing"], json!([lost]), "{r}");
    assert_eq!(r["objects"], 2, "{r}");
    assert_eq!(r["checksums_verified"], 2, "{r}");
    let want: Vec<String> = ids[1..]
        .iter()
        .map(|id| format!("fsa/tenants/{tenant}/{id}"))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    assert_eq!(bucket.keys(&format!("fsa/tenants/{tenant}")).await, want);
    let token = app.login_admin("carrier").await;
    let (s, _, got) = download(&app, &token, &ids[1], reqwest::Method::GET, None).await;
    assert_eq!((s, sha(&got)), (200, sha(&data(5_000, 1))));
    app.stop().await;
}
