//! Backups through the admin API, on both engines: a backup of one tenant
//! (rows and files) at one snapshot, its manifest, verify; restored as a new
//! tenant, which equals the backup while the original goes on; a flipped
//! byte or a missing part refused with nothing changed; the schedule runs a
//! due backup and prunes an expired one, with the time given to it.

use std::time::Duration;

use fsa_testkit::files::{tenant_with_order, upload};
use fsa_testkit::{Backend, Json, TestApp};
use serde_json::json;
use tokio::time::Instant;

async fn wait_for(what: &str, mut f: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !f().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Backs `slug` up through the API and waits for it; returns the backup.
async fn backup(app: &TestApp, slug: &str) -> Json {
    let (s, b) = app
        .post("/admin/backups", &app.admin_token, json!({"tenant": slug}))
        .await;
    assert_eq!(s, 202, "{b}");
    assert_eq!(b["state"], "running", "{b}");
    let id = b["id"].as_str().unwrap().to_owned();
    let mut last = Json::Null;
    wait_for("the backup", async || {
        last = app
            .get(&format!("/admin/backups/{id}"), &app.admin_token)
            .await
            .1;
        last["state"] != "running"
    })
    .await;
    assert_eq!(last["state"], "done", "{last}");
    last
}

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

async fn add_order(app: &TestApp, token: &str, title: &str) -> String {
    let (_, c) = app.get("/api/v1/clients", token).await;
    let (s, w) = app
        .post(
            "/api/v1/work-orders",
            token,
            json!({"client_id": c["items"][0]["id"], "title": title}),
        )
        .await;
    assert_eq!(s, 201, "{w}");
    w["id"].as_str().unwrap().to_owned()
}

/// A file's content, read through the API.
async fn content(app: &TestApp, token: &str, file: &str) -> Vec<u8> {
    let res = app
        .client
        .get(format!("{}/api/v1/files/{file}/content", app.base))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    res.bytes().await.unwrap().to_vec()
}

/// A writer creating work orders titled `<label> <i>` until `stop` (or
/// `limit` of them); answers the statuses of those that were not 201.
fn spawn_writer(
    app: &TestApp,
    token: &str,
    client_id: &str,
    label: &str,
    limit: Option<usize>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> tokio::task::JoinHandle<Vec<u16>> {
    let (base, client, token, client_id, label) = (
        app.base.clone(),
        app.client.clone(),
        token.to_owned(),
        client_id.to_owned(),
        label.to_owned(),
    );
    tokio::spawn(async move {
        let mut failed = Vec::new();
        let mut i = 0;
        while !stop.load(std::sync::atomic::Ordering::SeqCst) && limit.is_none_or(|l| i < l) {
            if limit.is_some() {
                tokio::time::sleep(Duration::from_millis(15)).await;
            }
            let res = client
                .post(format!("{base}/api/v1/work-orders"))
                .bearer_auth(&token)
                .json(&json!({"client_id": client_id, "title": format!("{label} {i}")}))
                .send()
                .await
                .unwrap();
            if res.status() != 201 {
                failed.push(res.status().as_u16());
            }
            i += 1;
        }
        failed
    })
}

async fn restore_as(app: &TestApp, id: &str, slug: &str) -> (u16, Json) {
    app.post(
        &format!("/admin/backups/{id}/restore"),
        &app.admin_token,
        json!({"as": slug}),
    )
    .await
}

async fn a_backup_restores_as_a_clone(backend: Backend) {
    let app = TestApp::start(backend).await.unwrap();
    // A neighbour on the same placement, to be left alone.
    let (_, neighbour, _) = tenant_with_order(&app, "next-door", "free").await;
    let (orig_id, token, wo) = tenant_with_order(&app, "orig", "free").await;
    add_order(&app, &token, "second").await;
    let file = upload(&app, &token, &wo, "plan.pdf", b"the plan, version 1").await;
    let at_backup = titles(&app, &token).await;

    let b = backup(&app, "orig").await;
    let id = b["id"].as_str().unwrap().to_owned();
    let m = &b["manifest"];
    assert_eq!(m["format"], "fsa-backup/1", "{b}");
    assert_eq!(m["tenant"]["id"], orig_id.as_str());
    assert_eq!(m["tables"]["work_orders"]["rows"], 2, "{m}");
    assert_eq!(m["tables"]["file_metadata"]["rows"], 1, "{m}");
    assert_eq!(m["tables"]["users"]["rows"], 1, "{m}");
    assert_eq!(m["files"]["objects"], 1, "{m}");
    assert!(m["checksum"].as_str().unwrap().contains("SHA-256"), "{m}");
    for p in m["parts"].as_array().unwrap() {
        assert_eq!(p["sha256"].as_str().unwrap().len(), 64, "{p}");
    }
    assert!(b["size_bytes"].as_i64().unwrap() > 0);
    // /metrics reads the backups' age per plan from the catalog.
    let metrics = app.metrics_text().await;
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("fsa_backup_age_seconds{plan=\"free\"}")),
        "{metrics}"
    );
    let (s, v) = app
        .post(
            &format!("/admin/backups/{id}/verify"),
            &app.admin_token,
            json!({}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["ok"], true);
    assert_eq!(
        v["rows"],
        m["tables"]
            .as_object()
            .unwrap()
            .values()
            .map(|t| t["rows"].as_u64().unwrap())
            .sum::<u64>()
    );

    // The original goes on: an edit, a delete, an addition.
    add_order(&app, &token, "after the backup").await;
    let n_neighbour = titles(&app, &neighbour).await;
    add_order(&app, &neighbour, "neighbour after the backup").await;

    let (s, r) = restore_as(&app, &id, "clone").await;
    assert_eq!(s, 202, "{r}");
    wait_for("the clone", async || {
        app.get("/admin/tenants/clone", &app.admin_token).await.1["state"] == "active"
    })
    .await;
    let (_, clone) = app.get("/admin/tenants/clone", &app.admin_token).await;
    assert_ne!(clone["id"], orig_id.as_str(), "a new tenant id");
    // Its users came with it: the original admin's login works there.
    let clone_token = app.login("clone", "admin@orig.test", "password-orig").await;
    assert_eq!(titles(&app, &clone_token).await, at_backup);
    // Its file too, under the new tenant.
    let (s, files) = app
        .get(&format!("/api/v1/work-orders/{wo}/files"), &clone_token)
        .await;
    assert_eq!(s, 200, "{files}");
    let clone_file = files["items"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(clone_file, file, "the same file id");
    assert_eq!(
        content(&app, &clone_token, &clone_file).await,
        b"the plan, version 1"
    );
    // Its usage counters came with its rows.
    super::usage::assert_usage_is_counted(&app, &clone_token, 19).await;
    // The original and its neighbour are as they were left.
    assert_eq!(titles(&app, &token).await.len(), 3);
    let mut expected = n_neighbour.clone();
    expected.push("neighbour after the backup".into());
    expected.sort();
    assert_eq!(titles(&app, &neighbour).await, expected);
    // A second restore under the same name is refused.
    let (s, r) = restore_as(&app, &id, "clone").await;
    assert_eq!(s, 409, "{r}");
    assert_eq!(r["code"], "slug_taken");
    // The list names it.
    let (s, list) = app
        .get("/admin/backups?tenant=orig", &app.admin_token)
        .await;
    assert_eq!(s, 200, "{list}");
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_restores_as_a_clone_on_postgres() {
    a_backup_restores_as_a_clone(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_restores_as_a_clone_on_sqlite() {
    a_backup_restores_as_a_clone(Backend::Sqlite).await;
}

async fn damaged_backups_are_refused(backend: Backend) {
    let app = TestApp::start(backend).await.unwrap();
    let (_, token, wo) = tenant_with_order(&app, "fragile", "free").await;
    upload(&app, &token, &wo, "a.txt", b"some bytes").await;
    let dir = app.dir.path().join("backups");

    // A flipped byte in a row part.
    let b = backup(&app, "fragile").await;
    let id = b["id"].as_str().unwrap().to_owned();
    let part = dir.join(&id).join("rows/work_orders.jsonl.gz");
    let mut bytes = std::fs::read(&part).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x01;
    std::fs::write(&part, bytes).unwrap();
    let (s, v) = app
        .post(
            &format!("/admin/backups/{id}/verify"),
            &app.admin_token,
            json!({}),
        )
        .await;
    assert_eq!(s, 409, "{v}");
    assert_eq!(v["code"], "backup_damaged", "{v}");
    assert!(v["detail"].as_str().unwrap().contains("work_orders"), "{v}");
    let (s, r) = restore_as(&app, &id, "from-flipped").await;
    assert_eq!(s, 202, "{r}");
    let job = r["id"].as_str().unwrap().to_owned();
    wait_for("the restore job to give up", async || {
        let (_, jobs) = app.get("/admin/jobs", &app.admin_token).await;
        jobs["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .any(|j| j["name"] == job.as_str() && j["failures"].as_i64().unwrap_or(0) > 0)
    })
    .await;
    let (s, _) = app
        .get("/admin/tenants/from-flipped", &app.admin_token)
        .await;
    assert_eq!(s, 404, "a damaged backup made no tenant");

    // A missing object part.
    let b = backup(&app, "fragile").await;
    let id = b["id"].as_str().unwrap().to_owned();
    let objects = dir.join(&id).join("objects");
    for f in std::fs::read_dir(&objects).unwrap() {
        std::fs::remove_file(f.unwrap().path()).unwrap();
    }
    let (s, v) = app
        .post(
            &format!("/admin/backups/{id}/verify"),
            &app.admin_token,
            json!({}),
        )
        .await;
    assert_eq!(s, 409, "{v}");
    assert!(v["detail"].as_str().unwrap().contains("missing"), "{v}");

    // A manifest edited in the store no longer matches the catalog's.
    let b = backup(&app, "fragile").await;
    let id = b["id"].as_str().unwrap().to_owned();
    let mpath = dir.join(&id).join("manifest.json");
    let text = std::fs::read_to_string(&mpath).unwrap();
    std::fs::write(&mpath, text.replace("\"rows\": 1", "\"rows\": 2")).unwrap();
    let (s, v) = app
        .post(
            &format!("/admin/backups/{id}/verify"),
            &app.admin_token,
            json!({}),
        )
        .await;
    assert_eq!(s, 409, "{v}");
    assert_eq!(v["code"], "backup_damaged", "{v}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damaged_backups_are_refused_on_postgres() {
    damaged_backups_are_refused(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damaged_backups_are_refused_on_sqlite() {
    damaged_backups_are_refused(Backend::Sqlite).await;
}

/// Bad requests: an unknown tenant, an unknown backup, no `as`, a bad slug,
/// a tenant token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_requests_are_checked() {
    let app = TestApp::start(Backend::Sqlite).await.unwrap();
    let (_, token, _) = tenant_with_order(&app, "checked", "free").await;
    let admin = app.admin_token.clone();
    let (s, b) = app
        .post("/admin/backups", &admin, json!({"tenant": "nobody"}))
        .await;
    assert_eq!(s, 404, "{b}");
    let (s, _) = app
        .post("/admin/backups", &token, json!({"tenant": "checked"}))
        .await;
    assert!(s == 401 || s == 403, "a tenant token: {s}");
    let (s, b) = app.post("/admin/backups", &admin, json!({})).await;
    assert!(s == 400 || s == 422, "{s} {b}");
    let unknown = uuid::Uuid::now_v7();
    let (s, _) = app.get(&format!("/admin/backups/{unknown}"), &admin).await;
    assert_eq!(s, 404);
    let b = backup(&app, "checked").await;
    let id = b["id"].as_str().unwrap();
    let (s, r) = app
        .post(
            &format!("/admin/backups/{id}/restore"),
            &admin,
            json!({"as": 5}),
        )
        .await;
    assert!(s == 400 || s == 422, "{s} {r}");
    let (s, r) = app
        .post(
            &format!("/admin/backups/{unknown}/restore"),
            &admin,
            json!({}),
        )
        .await;
    assert_eq!(s, 404, "{r}");
    let (s, r) = restore_as(&app, id, "Not A Slug").await;
    assert!(s == 400 || s == 422, "{s} {r}");
    let (s, r) = restore_as(&app, id, "checked").await;
    assert_eq!(s, 409, "{r}");
    app.stop().await;
}

/// The schedule at given times: a tenant is due a backup a day after its
/// last; one older than its plan keeps is pruned, its newest never.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_schedule_runs_due_backups_and_prunes_expired_ones() {
    let app = TestApp::start(Backend::Sqlite).await.unwrap();
    tenant_with_order(&app, "daily", "free").await;
    let now = chrono::Utc::now();
    let hour = chrono::Duration::hours(1);
    let day = chrono::Duration::days(1);
    let sched = &app.state.app;
    let wait_done = async |id: uuid::Uuid| {
        wait_for("a scheduled backup", async || {
            sched.backup(id).await.unwrap().state == "done"
        })
        .await;
    };
    // Within a day of its creation the first one is due (its offset in
    // the period comes from its id).
    let pass = sched.backup_schedule(now + day + hour).await.unwrap();
    assert_eq!(pass.started.len(), 1, "{pass:?}");
    let first = pass.started[0];
    wait_done(first).await;
    // An hour later nothing is due.
    let pass = sched.backup_schedule(now + hour).await.unwrap();
    assert!(
        pass.started.is_empty() && pass.pruned.is_empty(),
        "{pass:?}"
    );
    // Eight days on: due again; the first is past the free plan's 7 days
    // but is the newest finished one, so it stays until the next is done.
    let later = now + day * 8;
    let pass = sched.backup_schedule(later).await.unwrap();
    assert_eq!(pass.started.len(), 1, "{pass:?}");
    assert!(pass.pruned.is_empty(), "{pass:?}");
    let second = pass.started[0];
    wait_done(second).await;
    let pass = sched.backup_schedule(later).await.unwrap();
    assert_eq!(pass.pruned, vec![first], "{pass:?}");
    assert!(
        !app.dir
            .path()
            .join("backups")
            .join(first.to_string())
            .join("manifest.json")
            .exists()
    );
    let (s, _) = app
        .get(&format!("/admin/backups/{first}"), &app.admin_token)
        .await;
    assert_eq!(s, 404);
    let (_, b) = app
        .get(&format!("/admin/backups/{second}"), &app.admin_token)
        .await;
    assert_eq!(b["state"], "done");
    assert_eq!(b["reason"], "schedule");
    app.stop().await;
}

async fn a_backup_restores_in_place(backend: Backend) {
    let app = TestApp::start(backend).await.unwrap();
    let (_, neighbour, _) = tenant_with_order(&app, "beside", "free").await;
    let (tenant_id, token, wo) = tenant_with_order(&app, "undo", "free").await;
    let keep = add_order(&app, &token, "kept").await;
    let file = upload(&app, &token, &wo, "before.txt", b"as it was").await;
    let at_backup = titles(&app, &token).await;
    let b = backup(&app, "undo").await;
    let id = b["id"].as_str().unwrap().to_owned();

    // After the backup: a delete, an edit, an addition; and the neighbour
    // writes too.
    let (s, _) = app
        .delete(&format!("/api/v1/work-orders/{keep}"), &token)
        .await;
    assert_eq!(s, 204);
    let (s, e) = app
        .patch(
            &format!("/api/v1/work-orders/{wo}"),
            &token,
            json!({"title": "edited"}),
        )
        .await;
    assert_eq!(s, 200, "{e}");
    add_order(&app, &token, "added after").await;
    add_order(&app, &neighbour, "neighbour after").await;
    let neighbour_before = titles(&app, &neighbour).await;

    // A writer keeps writing while the restore runs: no request fails.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (_, c) = app.get("/api/v1/clients", &token).await;
    let client_id = c["items"][0]["id"].as_str().unwrap().to_owned();
    // Below the free plan's 100 work orders.
    let writer = spawn_writer(&app, &token, &client_id, "during", Some(60), stop.clone());
    let (s, r) = app
        .post(
            &format!("/admin/backups/{id}/restore"),
            &app.admin_token,
            json!({}),
        )
        .await;
    assert_eq!(s, 202, "{r}");
    assert_eq!(r["tenant"], "undo", "{r}");
    let job = r["id"].as_str().unwrap().to_owned();
    wait_for("the restore in place", async || {
        let (_, jobs) = app.get("/admin/jobs", &app.admin_token).await;
        if let Some(e) = jobs["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|j| j["name"] == job.as_str() && j["failures"].as_i64().unwrap_or(0) > 0)
        {
            panic!("the restore failed: {e}");
        }
        jobs["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .any(|j| j["name"] == job.as_str() && j["state"] == "done")
    })
    .await;
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let codes = writer.await.unwrap();
    let (_, jobs) = app.get("/admin/jobs", &app.admin_token).await;
    assert!(
        codes.iter().all(|c| *c == 201),
        "a writer failed during the restore: {:?} {jobs}",
        codes
            .iter()
            .filter(|c| **c != 201)
            .take(3)
            .collect::<Vec<_>>()
    );

    // The tenant is the backup, plus what was written after the restore
    // committed (what was written before it is in the backup taken first).
    let now: Vec<String> = titles(&app, &token)
        .await
        .into_iter()
        .filter(|t| !t.starts_with("during "))
        .collect();
    assert_eq!(now, at_backup);
    let (_, t) = app.get("/admin/tenants/undo", &app.admin_token).await;
    assert_eq!(t["id"], tenant_id.as_str());
    assert_eq!(content(&app, &token, &file).await, b"as it was");
    // Its usage counters say what the restored rows hold.
    super::usage::assert_usage_is_counted(&app, &token, 9).await;
    // The neighbour's writes after the backup are intact.
    assert_eq!(titles(&app, &neighbour).await, neighbour_before);
    // The state before the restore was backed up first.
    let (_, list) = app
        .get("/admin/backups?tenant=undo", &app.admin_token)
        .await;
    let before = list
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["reason"] == "before restore")
        .unwrap_or_else(|| panic!("{list}"))
        .clone();
    assert_eq!(before["state"], "done");
    assert!(
        before["manifest"]["tables"]["work_orders"]["rows"]
            .as_u64()
            .unwrap()
            >= 2,
        "{before}"
    );
    // Writes go on after it.
    add_order(&app, &token, "next").await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_restores_in_place_on_postgres() {
    a_backup_restores_in_place(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_restores_in_place_on_sqlite() {
    a_backup_restores_in_place(Backend::Sqlite).await;
}

/// Writers keep writing while backups run: no request fails, and each
/// backup is one snapshot: its work orders are exactly those numbered
/// below the counter it recorded (numbers come from the tenant's counter,
/// so tables read at different moments would disagree).
async fn backups_under_writers_are_snapshots(backend: Backend) {
    let app = TestApp::start_with(backend, |c| {
        c.limits.free.work_orders = None;
    })
    .await
    .unwrap();
    let (_, token, _) = tenant_with_order(&app, "busy", "free").await;
    let (_, c) = app.get("/api/v1/clients", &token).await;
    let client_id = c["items"][0]["id"].as_str().unwrap().to_owned();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writers: Vec<_> = (0..4)
        .map(|w| {
            spawn_writer(
                &app,
                &token,
                &client_id,
                &format!("w{w}"),
                None,
                stop.clone(),
            )
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    for _ in 0..3 {
        let b = backup(&app, "busy").await;
        let m = &b["manifest"];
        let rows = m["tables"]["work_orders"]["rows"].as_u64().unwrap();
        let next = m["next_wo_number"].as_u64().unwrap();
        assert!(rows > 1, "{m}");
        // Numbers start at 1000.
        assert_eq!(rows + 1000, next, "not one snapshot: {m}");
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    for w in writers {
        let failed = w.await.unwrap();
        assert!(
            failed.is_empty(),
            "writes failed during the backups: {failed:?}"
        );
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backups_under_writers_are_snapshots_on_postgres() {
    backups_under_writers_are_snapshots(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backups_under_writers_are_snapshots_on_sqlite() {
    backups_under_writers_are_snapshots(Backend::Sqlite).await;
}

/// With `[backups] key` set every part is sealed: the bucket holds no
/// plaintext; the backup verifies and restores with its key, and without
/// it (or with another) verify and restore refuse with `backup_key`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_encrypted_backup_needs_its_key() {
    const KEY: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    let mut a = TestApp::start_with(Backend::Sqlite, |c| {
        c.backups.key = Some(fsa_app::backups::BackupKey(KEY.into()));
    })
    .await
    .unwrap();
    let (secret, admin) = (
        a.state.config.jwt_secret.clone(),
        a.state.config.admin_token.clone(),
    );
    let (_, token, wo) = tenant_with_order(&a, "sealed", "free").await;
    add_order(&a, &token, "a secret title").await;
    let file = upload(&a, &token, &wo, "s.txt", b"a secret file").await;
    let b = backup(&a, "sealed").await;
    let id = b["id"].as_str().unwrap().to_owned();
    let enc = &b["manifest"]["encryption"];
    assert!(enc["key_id"].as_str().is_some_and(|k| k.len() == 16), "{b}");
    assert!(
        !enc.to_string().contains(KEY),
        "the manifest names the key: {enc}"
    );
    // No part holds the plaintext.
    let folder = a.dir.path().join("backups").join(&id);
    let mut parts = 0;
    for entry in walk(&folder) {
        if entry.ends_with("manifest.json") {
            continue;
        }
        let bytes = std::fs::read(&entry).unwrap();
        assert!(
            !contains(&bytes, b"a secret file"),
            "{entry:?} holds plaintext"
        );
        assert!(!bytes.starts_with(&[0x1f, 0x8b]), "{entry:?} is plain gzip");
        parts += 1;
    }
    assert_eq!(parts, 7, "six row parts and one object");
    let (s, v) = a
        .post(
            &format!("/admin/backups/{id}/verify"),
            &a.admin_token,
            json!({}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let (s, r) = restore_as(&a, &id, "sealed-copy").await;
    assert_eq!(s, 202, "{r}");
    wait_for("the clone", async || {
        a.get("/admin/tenants/sealed-copy", &a.admin_token).await.1["state"] == "active"
    })
    .await;
    let copy = a
        .login("sealed-copy", "admin@sealed.test", "password-sealed")
        .await;
    assert_eq!(content(&a, &copy, &file).await, b"a secret file");

    // The same catalog and store, without the key, then with another.
    let dir = std::mem::replace(&mut a.dir, tempfile::tempdir().unwrap());
    a.stop().await;
    for key in [None, Some("ff".repeat(32))] {
        let data_dir = dir.path().to_path_buf();
        let (secret, admin) = (secret.clone(), admin.clone());
        let b = TestApp::start_with(Backend::Sqlite, move |c| {
            c.data_dir = data_dir;
            c.jwt_secret = secret;
            c.admin_token = admin;
            c.backups.key = key.map(|k| fsa_app::backups::BackupKey(k.into()));
        })
        .await
        .unwrap();
        let (s, v) = b
            .post(
                &format!("/admin/backups/{id}/verify"),
                &b.admin_token,
                json!({}),
            )
            .await;
        assert_eq!(s, 409, "{v}");
        assert_eq!(v["code"], "backup_key", "{v}");
        let (s, r) = restore_as(&b, &id, "no-key").await;
        assert_eq!(s, 409, "{r}");
        assert_eq!(r["code"], "backup_key", "{r}");
        b.stop().await;
    }
    drop(dir);
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}
