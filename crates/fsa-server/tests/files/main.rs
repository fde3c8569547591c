//! Files of work orders through the API: on the local store and on an S3
//! server (moto, over HTTP), on SQLite and on PostgreSQL.

use std::sync::Arc;
use std::time::{Duration, Instant};

use fsa_testkit::files::{BOUNDARY, form, send_form, tenant_with_order};
use fsa_testkit::s3::{TestBucket, closed_port};
use fsa_testkit::{Backend, Json, TestApp};
use object_store::ObjectStoreExt;
use object_store::path::Path as ObjectPath;
use serde_json::json;
use sha2::{Digest, Sha256};

mod moves;

fn sha(b: &[u8]) -> String {
    Sha256::digest(b)
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect()
}

/// An S3 store on a port nothing listens on.
fn down_store(port: u16) -> fsa_app::files::StoreConfig {
    fsa_app::files::StoreConfig {
        url: "s3://nowhere".into(),
        endpoint: Some(format!("http://127.0.0.1:{port}")),
        region: None,
        access_key_id: Some("test".into()),
        secret_access_key: Some("test".into()),
    }
}

/// Bytes that differ from one offset to the next.
fn data(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| ((i as u64 * 7919 + seed as u64 * 31) % 251) as u8)
        .collect()
}

async fn upload(app: &TestApp, token: &str, wo: &str, name: &str, bytes: &[u8]) -> (u16, Json) {
    send_form(
        app,
        token,
        wo,
        form(
            &format!("filename=\"{name}\""),
            "application/pdf",
            bytes,
            Some("report"),
        ),
    )
    .await
}

/// GET (or HEAD) of a file's content: status, headers, bytes.
async fn download(
    app: &TestApp,
    token: &str,
    id: &str,
    method: reqwest::Method,
    range: Option<&str>,
) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
    let mut req = app
        .client
        .request(method, format!("{}/api/v1/files/{id}/content", app.base))
        .bearer_auth(token);
    if let Some(r) = range {
        req = req.header("range", r);
    }
    let res = req.send().await.expect("the download is sent");
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    (
        status,
        headers,
        res.bytes().await.unwrap_or_default().to_vec(),
    )
}

fn header<'a>(h: &'a reqwest::header::HeaderMap, name: &str) -> &'a str {
    h.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
}

fn local_objects(app: &TestApp) -> Vec<String> {
    fn walk(dir: &std::path::Path, root: &std::path::Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, root, out);
            } else {
                out.push(p.strip_prefix(root).unwrap().display().to_string());
            }
        }
    }
    let root = app.dir.path().join("files");
    let mut out = Vec::new();
    walk(&root, &root, &mut out);
    out.sort();
    out
}

/// Uploads, reads back whole, by range and by HEAD, lists and deletes one
/// file of `tenant`; checks the object's key in its store.
async fn round_trip(app: &TestApp, tenant: &str, token: &str, wo: &str, bytes: &[u8]) -> Json {
    let (s, f) = upload(app, token, wo, "site photo.pdf", bytes).await;
    assert_eq!(s, 201, "{f}");
    let id = f["id"].as_str().unwrap().to_owned();
    assert_eq!(f["work_order_id"], wo);
    assert_eq!(f["file_type"], "report");
    assert_eq!(f["filename"], "site photo.pdf");
    assert_eq!(f["content_type"], "application/pdf");
    assert_eq!(f["size"], bytes.len());
    assert_eq!(f["sha256"], sha(bytes));
    assert!(f["created_at"].is_string(), "{f}");
    assert!(f.get("storage_key").is_none(), "{f}");

    let (s, meta) = app.get(&format!("/api/v1/files/{id}"), token).await;
    assert_eq!(s, 200, "{meta}");
    assert_eq!(meta, f);
    let (s, list) = app
        .get(&format!("/api/v1/work-orders/{wo}/files"), token)
        .await;
    assert_eq!(s, 200, "{list}");
    assert!(
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["id"] == id.as_str())
    );
    assert!(list["next_cursor"].is_null());

    let (s, h, back) = download(app, token, &id, reqwest::Method::GET, None).await;
    assert_eq!(s, 200);
    assert_eq!(sha(&back), sha(bytes), "what comes back is what went in");
    assert_eq!(header(&h, "content-type"), "application/pdf");
    assert_eq!(header(&h, "content-length"), bytes.len().to_string());
    assert_eq!(header(&h, "etag"), format!("\"{}\"", sha(bytes)));
    assert_eq!(
        header(&h, "content-disposition"),
        "attachment; filename=\"site photo.pdf\"; filename*=UTF-8''site%20photo.pdf"
    );

    let (s, h, part) = download(
        app,
        token,
        &id,
        reqwest::Method::GET,
        Some("bytes=100-1099"),
    )
    .await;
    assert_eq!(s, 206);
    assert_eq!(part, &bytes[100..1100]);
    assert_eq!(
        header(&h, "content-range"),
        format!("bytes 100-1099/{}", bytes.len())
    );
    assert_eq!(header(&h, "content-length"), "1000");
    let (s, _, tail) = download(app, token, &id, reqwest::Method::GET, Some("bytes=-10")).await;
    assert_eq!(s, 206);
    assert_eq!(tail, &bytes[bytes.len() - 10..]);

    let past = format!("bytes={}-", bytes.len());
    let (s, h, body) = download(app, token, &id, reqwest::Method::GET, Some(&past)).await;
    assert_eq!(s, 416);
    assert_eq!(
        header(&h, "content-range"),
        format!("bytes */{}", bytes.len())
    );
    let problem: Json = serde_json::from_slice(&body).unwrap();
    assert_eq!(problem["code"], "range_not_satisfiable");

    let (s, h, body) = download(app, token, &id, reqwest::Method::HEAD, None).await;
    assert_eq!(s, 200);
    assert!(body.is_empty());
    assert_eq!(header(&h, "content-length"), bytes.len().to_string());
    assert_eq!(header(&h, "etag"), format!("\"{}\"", sha(bytes)));

    let (s, u) = app.get("/api/v1/usage", token).await;
    assert_eq!(s, 200);
    assert_eq!(u["files"]["count"], 1, "{u}");
    assert_eq!(u["files"]["bytes"], bytes.len(), "{u}");
    assert_eq!(u["usage"]["file_bytes"]["used"], bytes.len(), "{u}");
    let _ = tenant;
    f
}

async fn delete_and_gone(app: &TestApp, token: &str, id: &str) {
    let (s, _) = app.delete(&format!("/api/v1/files/{id}"), token).await;
    assert_eq!(s, 204);
    let (s, b) = app.get(&format!("/api/v1/files/{id}"), token).await;
    assert_eq!(s, 404, "{b}");
    let (s, _, _) = download(app, token, id, reqwest::Method::GET, None).await;
    assert_eq!(s, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trip_on_the_local_store_and_on_s3() {
    let bucket = TestBucket::new().await;
    let premium = bucket.store_config("fsa");
    let app = TestApp::start_with(Backend::Sqlite, move |c| {
        c.files.stores.insert("premium".into(), premium);
    })
    .await
    .unwrap();

    // Basic: the local store, files/ under the data directory.
    let (basic_id, basic, wo) = tenant_with_order(&app, "basic-co", "basic").await;
    let bytes = data(300_000, 1);
    let f = round_trip(&app, &basic_id, &basic, &wo, &bytes).await;
    let id = f["id"].as_str().unwrap();
    assert_eq!(
        local_objects(&app),
        vec![format!("tenants/{basic_id}/{id}")]
    );
    delete_and_gone(&app, &basic, id).await;
    assert!(local_objects(&app).is_empty());

    // Premium: the S3 bucket under its prefix; large enough for a
    // multipart upload (parts of 5 MiB).
    let (premium_id, prem, wo) = tenant_with_order(&app, "premium-co", "premium").await;
    let bytes = data(11 * 1024 * 1024 + 123, 2);
    let f = round_trip(&app, &premium_id, &prem, &wo, &bytes).await;
    let id = f["id"].as_str().unwrap();
    let key = ObjectPath::from(format!("fsa/tenants/{premium_id}/{id}"));
    let head = bucket
        .objects()
        .head(&key)
        .await
        .expect("the object is in the bucket");
    assert_eq!(head.size, bytes.len() as u64);
    assert!(
        local_objects(&app).is_empty(),
        "nothing of premium's on local disk"
    );
    delete_and_gone(&app, &prem, id).await;
    assert!(bucket.objects().head(&key).await.is_err());
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_over_the_maximum_is_413_and_leaves_nothing() {
    let app = TestApp::start_with(Backend::Sqlite, |c| c.files.max_file_bytes = 64 * 1024)
        .await
        .unwrap();
    let (_, token, wo) = tenant_with_order(&app, "small", "basic").await;
    // Refused as it streams (the body is within the form's overhead), and
    // before it is read (the body says it is far larger).
    for size in [64 * 1024 + 1, 100 * 1024, 300 * 1024] {
        let (s, b) = upload(&app, &token, &wo, "big.bin", &data(size, 3)).await;
        assert_eq!(s, 413, "{size}: {b}");
        assert_eq!(b["code"], "file_too_large");
        assert_eq!(b["limit"], 64 * 1024);
        assert!(local_objects(&app).is_empty(), "{:?}", local_objects(&app));
    }
    let (s, b) = upload(&app, &token, &wo, "fits.bin", &data(64 * 1024, 3)).await;
    assert_eq!(s, 201, "{b}");
    // A form with a part it does not know, or without `file`, is refused
    // and leaves nothing behind.
    let mut extra = form("filename=\"a.txt\"", "text/plain", b"a", None);
    let tail = format!("--{BOUNDARY}--\r\n");
    extra.truncate(extra.len() - tail.len());
    extra.extend_from_slice(
        format!(
            "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"other\"\r\n\r\nx\r\n{tail}"
        )
        .as_bytes(),
    );
    let (s, b) = send_form(&app, &token, &wo, extra).await;
    assert_eq!(s, 422, "{b}");
    let only_type = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file_type\"\r\n\r\nphoto\r\n--{BOUNDARY}--\r\n"
    );
    let (s, b) = send_form(&app, &token, &wo, only_type.into_bytes()).await;
    assert_eq!(s, 422, "{b}");
    assert_eq!(b["field"], "file");
    assert_eq!(local_objects(&app).len(), 1, "{:?}", local_objects(&app));
    app.stop().await;
}

async fn quota_race(backend: Backend) {
    // 20 uploads of 1,000 bytes at once; the quota holds 10 of them.
    let app = Arc::new(
        TestApp::start_with(backend, |c| c.limits.basic.file_bytes = Some(10_500))
            .await
            .unwrap(),
    );
    let (_, token, wo) = tenant_with_order(&app, "quota", "basic").await;
    let token = Arc::new(token);
    let tasks: Vec<_> = (0..20u8)
        .map(|i| {
            let (app, token, wo) = (app.clone(), token.clone(), wo.clone());
            tokio::spawn(async move {
                upload(&app, &token, &wo, &format!("f{i}.bin"), &data(1000, i)).await
            })
        })
        .collect();
    let mut sizes = 0;
    let mut ok = 0;
    for t in tasks {
        let (s, b) = t.await.unwrap();
        if s == 201 {
            ok += 1;
            sizes += b["size"].as_u64().unwrap();
        } else {
            assert_eq!(s, 403, "{b}");
            assert_eq!(b["code"], "plan_limit_reached");
            assert_eq!(b["resource"], "file_bytes");
            assert_eq!(b["limit"], 10_500);
            assert_eq!(b["plan"], "basic");
        }
    }
    assert_eq!(ok, 10, "exactly as many uploads succeed as fit");
    let (s, u) = app.get("/api/v1/usage", &token).await;
    assert_eq!(s, 200);
    assert_eq!(u["usage"]["file_bytes"]["used"], sizes, "{u}");
    assert_eq!(u["files"]["count"], 10, "{u}");
    assert_eq!(
        local_objects(&app).len(),
        10,
        "refused uploads' objects are deleted"
    );
    match Arc::try_unwrap(app) {
        Ok(app) => app.stop().await,
        Err(_) => panic!("app still shared"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_file_bytes_quota_holds_under_concurrent_uploads_on_postgres() {
    quota_race(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_file_bytes_quota_holds_under_concurrent_uploads_on_sqlite() {
    quota_race(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_tenants_file_is_404_like_a_missing_one() {
    let app = TestApp::start(Backend::Postgres).await.unwrap();
    let (_, a, wo) = tenant_with_order(&app, "owner", "basic").await;
    let (_, b, _) = tenant_with_order(&app, "other", "basic").await;
    let (s, f) = upload(&app, &a, &wo, "mine.txt", b"private").await;
    assert_eq!(s, 201, "{f}");
    let id = f["id"].as_str().unwrap();
    let missing = uuid::Uuid::now_v7().to_string();
    for id in [id, missing.as_str()] {
        let (s, meta) = app.get(&format!("/api/v1/files/{id}"), &b).await;
        assert_eq!(s, 404);
        assert_eq!(meta["code"], "not_found");
        assert_eq!(meta["detail"], "file not found");
        let (s, _, body) = download(&app, &b, id, reqwest::Method::GET, None).await;
        assert_eq!(s, 404);
        let body: Json = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["detail"], "file not found");
        let (s, del) = app.delete(&format!("/api/v1/files/{id}"), &b).await;
        assert_eq!(s, 404);
        assert_eq!(del["detail"], "file not found");
    }
    let (s, list) = app
        .get(&format!("/api/v1/work-orders/{wo}/files"), &b)
        .await;
    assert_eq!(s, 404, "{list}");
    let (s, up) = upload(&app, &b, &wo, "intruder.txt", b"x").await;
    assert_eq!(s, 404, "{up}");
    // Still there for its owner.
    let (s, _, back) = download(&app, &a, id, reqwest::Method::GET, None).await;
    assert_eq!((s, back.as_slice()), (200, &b"private"[..]));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_file_names_come_back_safe_and_never_reach_the_key() {
    let app = TestApp::start(Backend::Sqlite).await.unwrap();
    let (tenant, token, wo) = tenant_with_order(&app, "hostile", "basic").await;
    for disposition in [
        "filename=\"../../etc/passwd\"",
        "filename=\"..\\\\..\\\\boot.ini\"",
        "filename=\"a\\\"b;c.txt\"",
        "filename*=UTF-8''..%2F..%2Fetc%2Fpasswd%22%0D%0ASet-Cookie%3A%20x%3D1",
    ] {
        let (s, f) = send_form(
            &app,
            &token,
            &wo,
            form(disposition, "text/plain", b"hello", None),
        )
        .await;
        assert_eq!(s, 201, "{disposition}: {f}");
        let id = f["id"].as_str().unwrap();
        assert_eq!(f["file_type"], "attachment");
        let (s, h, _) = download(&app, &token, id, reqwest::Method::GET, None).await;
        assert_eq!(s, 200);
        let cd = header(&h, "content-disposition");
        assert!(cd.starts_with("attachment; filename=\""), "{cd}");
        let ascii = cd
            .split("filename=\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .unwrap();
        for bad in ['/', '\\', '"', '\r', '\n'] {
            assert!(!ascii.contains(bad), "{disposition}: {cd}");
        }
        assert!(!ascii.starts_with('.'), "{cd}");
        assert!(!cd.contains('\r') && !cd.contains('\n'), "{cd}");
        let star = cd.split("filename*=UTF-8''").nth(1).unwrap();
        assert!(
            !star.contains('/') && !star.contains("%2F") && !star.contains('"'),
            "{cd}"
        );
    }
    for key in local_objects(&app) {
        let parts: Vec<&str> = key.split('/').collect();
        assert_eq!(parts.len(), 3, "{key}");
        assert_eq!(parts[0], "tenants");
        assert_eq!(parts[1], tenant);
        assert!(uuid::Uuid::parse_str(parts[2]).is_ok(), "{key}");
    }
    assert_eq!(local_objects(&app).len(), 4);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_s3_store_that_is_down_is_503_quickly() {
    let port = closed_port();
    let app = TestApp::start_with(Backend::Sqlite, move |c| {
        c.files.stores.insert("premium".into(), down_store(port));
    })
    .await
    .unwrap();
    let (_, token, wo) = tenant_with_order(&app, "down", "premium").await;
    for size in [10, 6 * 1024 * 1024] {
        let started = Instant::now();
        let (s, b) = upload(&app, &token, &wo, "x.bin", &data(size, 5)).await;
        assert_eq!(s, 503, "{b}");
        assert_eq!(b["code"], "store_unavailable");
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "answered in {:?}",
            started.elapsed()
        );
    }
    let (s, u) = app.get("/api/v1/usage", &token).await;
    assert_eq!(s, 200);
    assert_eq!(u["files"]["count"], 0);
    app.stop().await;
}

/// An object with no row, and a row whose object vanished, on a store.
async fn gc_finds_orphans_and_missing(backend: Backend) {
    let bucket = TestBucket::new().await;
    let premium = bucket.store_config("");
    let app = TestApp::start_with(backend, move |c| {
        c.files.stores.insert("premium".into(), premium);
        c.files.gc_grace_seconds = 0;
    })
    .await
    .unwrap();
    let (basic_id, basic, basic_wo) = tenant_with_order(&app, "gc-basic", "basic").await;
    let (premium_id, prem, premium_wo) = tenant_with_order(&app, "gc-premium", "premium").await;
    let files = app.state.app.files();
    let local = files.get("local").unwrap().objects.clone();
    let s3 = files.get("premium").unwrap().objects.clone();
    let mut orphans = Vec::new();
    let mut missing = Vec::new();
    for (tenant, token, wo, store) in [
        (&basic_id, &basic, &basic_wo, &local),
        (&premium_id, &prem, &premium_wo, &s3),
    ] {
        // Kept: a file with its object.
        let (s, _) = upload(&app, token, wo, "kept.txt", b"kept").await;
        assert_eq!(s, 201);
        // Missing: a file whose object is deleted behind the service's back.
        let (s, f) = upload(&app, token, wo, "gone.txt", b"gone").await;
        assert_eq!(s, 201);
        let gone = format!("tenants/{tenant}/{}", f["id"].as_str().unwrap());
        store
            .delete(&ObjectPath::from(gone.as_str()))
            .await
            .unwrap();
        missing.push(gone);
        // Orphan: an object with no row.
        let orphan = format!("tenants/{tenant}/{}", uuid::Uuid::now_v7());
        store
            .put(
                &ObjectPath::from(orphan.as_str()),
                b"orphan".to_vec().into(),
            )
            .await
            .unwrap();
        orphans.push(orphan);
    }
    let keys = |r: &fsa_app::files::gc::GcReport| {
        let mut o: Vec<String> = r.orphans.iter().map(|o| o.key.clone()).collect();
        let mut m: Vec<String> = r.missing.iter().map(|m| m.key.clone()).collect();
        o.sort();
        m.sort();
        (o, m)
    };
    orphans.sort();
    missing.sort();

    let dry = app.state.app.files_gc(true).await.unwrap();
    assert_eq!(keys(&dry), (orphans.clone(), missing.clone()), "{dry:?}");
    assert_eq!(dry.deleted, 0);
    assert_eq!(dry.rows, 4);
    for (o, store) in orphans.iter().zip([&local, &s3]) {
        assert!(
            store.head(&ObjectPath::from(o.as_str())).await.is_ok(),
            "a dry run deletes nothing"
        );
    }

    let real = app.state.app.files_gc(false).await.unwrap();
    assert_eq!(keys(&real), (orphans.clone(), missing.clone()), "{real:?}");
    assert_eq!(real.deleted, 2);
    for (o, store) in orphans.iter().zip([&local, &s3]) {
        assert!(
            store.head(&ObjectPath::from(o.as_str())).await.is_err(),
            "the orphan is deleted"
        );
    }
    // Rows whose objects are missing are reported, not deleted.
    for token in [&basic, &prem] {
        let (_, u) = app.get("/api/v1/usage", token).await;
        assert_eq!(u["files"]["count"], 2, "{u}");
    }
    let again = app.state.app.files_gc(false).await.unwrap();
    assert!(again.orphans.is_empty(), "{again:?}");
    assert_eq!(again.missing.len(), 2);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gc_finds_orphans_and_missing_objects_on_local_and_s3_on_sqlite() {
    gc_finds_orphans_and_missing(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gc_finds_orphans_and_missing_objects_on_local_and_s3_on_postgres() {
    gc_finds_orphans_and_missing(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gc_keeps_young_orphans() {
    let app = TestApp::start(Backend::Sqlite).await.unwrap();
    let (tenant, _, _) = tenant_with_order(&app, "young", "basic").await;
    let local = app.state.app.files().get("local").unwrap().objects.clone();
    let key = format!("tenants/{tenant}/{}", uuid::Uuid::now_v7());
    local
        .put(
            &ObjectPath::from(key.as_str()),
            b"uploading".to_vec().into(),
        )
        .await
        .unwrap();
    let r = app.state.app.files_gc(false).await.unwrap();
    assert!(r.orphans.is_empty());
    assert_eq!(r.young_orphans, 1);
    assert!(local.head(&ObjectPath::from(key.as_str())).await.is_ok());
    app.stop().await;
}

/// The keys of the bucket's multipart uploads in progress, asked without
/// the service (moto answers unsigned requests).
async fn bucket_uploads(bucket: &TestBucket) -> Vec<String> {
    let xml = reqwest::get(format!("{}/{}?uploads", bucket.endpoint, bucket.bucket))
        .await
        .expect("the S3 server answers")
        .text()
        .await
        .expect("a listing");
    let mut keys: Vec<String> = xml
        .split("<Key>")
        .skip(1)
        .filter_map(|s| s.split_once("</Key>").map(|(k, _)| k.to_owned()))
        .collect();
    keys.sort();
    keys
}

/// An upload begun, one part sent, then never completed nor aborted, as a
/// process killed mid-upload leaves it (`forget` runs no drop).
async fn leave_unfinished(store: &dyn object_store::ObjectStore, key: &str) {
    let mut up = store
        .put_multipart(&ObjectPath::from(key))
        .await
        .expect("an upload begins");
    up.put_part(b"a part".to_vec().into())
        .await
        .expect("a part is sent");
    std::mem::forget(up);
}

/// Unfinished uploads on S3 (parts no object listing shows) and on the
/// local store (a staging file), swept by the collector through the
/// router and stores of a running app.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gc_aborts_unfinished_uploads_under_its_own_prefix_only() {
    let bucket = TestBucket::new().await;
    let app = TestApp::start(Backend::Sqlite).await.unwrap();
    let (tenant, _, _) = tenant_with_order(&app, "unfinished", "basic").await;
    let data = tempfile::tempdir().unwrap();
    let stores = |grace: u64| {
        let mut cfg = fsa_app::files::FilesConfig::default();
        cfg.stores
            .insert("premium".into(), bucket.store_config("fsa/store"));
        cfg.gc_grace_seconds = grace;
        fsa_app::files::FileStores::open(&cfg, data.path())
            .unwrap()
            .0
    };
    let ours = format!("fsa/store/tenants/{tenant}/{}", uuid::Uuid::now_v7());
    // The same bucket under another prefix: another service's, never touched.
    let theirs = format!("fsa/other/tenants/{tenant}/{}", uuid::Uuid::now_v7());
    let raw = bucket.objects();
    leave_unfinished(raw.as_ref(), &ours).await;
    leave_unfinished(raw.as_ref(), &theirs).await;
    let local_key = format!("tenants/{tenant}/{}", uuid::Uuid::now_v7());
    let local = stores(0).get("local").unwrap().objects.clone();
    leave_unfinished(local.as_ref(), &local_key).await;
    let staging = data.path().join("files").join(format!("{local_key}#1"));
    assert!(staging.is_file());
    let both = {
        let mut v = vec![ours.clone(), theirs.clone()];
        v.sort();
        v
    };
    assert_eq!(bucket_uploads(&bucket).await, both);
    let collect = |grace: u64, dry_run: bool| {
        let stores = stores(grace);
        let router = app.state.app.router().clone();
        async move {
            fsa_app::files::gc::collect(&router, &stores, dry_run)
                .await
                .unwrap()
        }
    };

    // moto says every upload began on 2010-11-10: a grace of a century is
    // long whatever the server says.
    let long = collect(100 * 365 * 24 * 3600, false).await;
    assert!(long.incomplete_uploads.is_empty(), "{long:?}");
    assert_eq!(long.young_incomplete_uploads, 2, "{long:?}");
    assert_eq!(long.incomplete_uploads_aborted, 0);
    assert_eq!(bucket_uploads(&bucket).await, both);
    assert!(staging.is_file());

    let dry = collect(0, true).await;
    let mut found: Vec<(String, String, bool)> = dry
        .incomplete_uploads
        .iter()
        .map(|u| (u.store.clone(), u.key.clone(), u.aborted))
        .collect();
    found.sort();
    let local_staging = format!("{local_key}#1");
    let store_key = ours.trim_start_matches("fsa/store/").to_owned();
    assert_eq!(
        found,
        vec![
            ("local".into(), local_staging.clone(), false),
            ("premium".into(), store_key.clone(), false),
        ],
        "{dry:?}"
    );
    assert_eq!(dry.incomplete_uploads_aborted, 0);
    assert!(dry.failed_stores.is_empty(), "{dry:?}");
    assert_eq!(
        bucket_uploads(&bucket).await,
        both,
        "a dry run aborts nothing"
    );
    assert!(staging.is_file());

    let real = collect(0, false).await;
    assert_eq!(real.incomplete_uploads.len(), 2, "{real:?}");
    assert!(real.incomplete_uploads.iter().all(|u| u.aborted));
    assert_eq!(real.incomplete_uploads_aborted, 2);
    assert_eq!(bucket_uploads(&bucket).await, vec![theirs.clone()]);
    assert!(!staging.exists());
    // Nothing an object listing shows was touched or made.
    assert!(real.orphans.is_empty(), "{real:?}");

    let again = collect(0, false).await;
    assert!(again.incomplete_uploads.is_empty(), "{again:?}");
    assert_eq!(bucket_uploads(&bucket).await, vec![theirs]);
    app.stop().await;
}

/// A store that does not answer is reported; the others are still swept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gc_reports_a_store_that_is_down_and_sweeps_the_others() {
    let bucket = TestBucket::new().await;
    let app = TestApp::start(Backend::Sqlite).await.unwrap();
    let (tenant, _, _) = tenant_with_order(&app, "storedown", "basic").await;
    let data = tempfile::tempdir().unwrap();
    let mut cfg = fsa_app::files::FilesConfig::default();
    cfg.stores.insert("premium".into(), bucket.store_config(""));
    cfg.stores
        .insert("enterprise".into(), down_store(closed_port()));
    cfg.gc_grace_seconds = 0;
    let stores = fsa_app::files::FileStores::open(&cfg, data.path())
        .unwrap()
        .0;
    let key = format!("tenants/{tenant}/{}", uuid::Uuid::now_v7());
    leave_unfinished(bucket.objects().as_ref(), &key).await;
    let r = fsa_app::files::gc::collect(app.state.app.router(), &stores, false)
        .await
        .unwrap();
    let mut failed: Vec<(String, &str)> = r
        .failed_stores
        .iter()
        .map(|f| (f.store.clone(), f.step))
        .collect();
    failed.sort();
    assert_eq!(
        failed,
        vec![
            ("enterprise".into(), "objects"),
            ("enterprise".into(), "uploads"),
        ],
        "{r:?}"
    );
    assert_eq!(r.incomplete_uploads_aborted, 1, "{r:?}");
    assert!(bucket_uploads(&bucket).await.is_empty());
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_follow_the_work_order_rules() {
    let app = TestApp::start(Backend::Sqlite).await.unwrap();
    let (_, admin, wo) = tenant_with_order(&app, "roles", "basic").await;
    for (email, role) in [
        ("tech@roles.test", "technician"),
        ("view@roles.test", "viewer"),
    ] {
        let (s, b) = app
            .post(
                "/api/v1/users",
                &admin,
                json!({"email": email, "name": role, "role": role, "password": "a long password"}),
            )
            .await;
        assert_eq!(s, 201, "{b}");
        if role == "technician" {
            let (s, p) = app
                .post(
                    "/api/v1/personnel",
                    &admin,
                    json!({"name": "Tech", "user_id": b["id"]}),
                )
                .await;
            assert_eq!(s, 201, "{p}");
            let (s, w) = app
                .patch(
                    &format!("/api/v1/work-orders/{wo}"),
                    &admin,
                    json!({"assigned_to": p["id"]}),
                )
                .await;
            assert_eq!(s, 200, "{w}");
        }
    }
    let tech = app
        .login("roles", "tech@roles.test", "a long password")
        .await;
    let viewer = app
        .login("roles", "view@roles.test", "a long password")
        .await;
    let (_, c) = app.get("/api/v1/clients", &admin).await;
    let (s, other) = app
        .post(
            "/api/v1/work-orders",
            &admin,
            json!({"client_id": c["items"][0]["id"], "title": "Not the tech's"}),
        )
        .await;
    assert_eq!(s, 201);
    let other = other["id"].as_str().unwrap();

    // A technician uploads to an order assigned to them, not to another.
    let (s, f) = upload(&app, &tech, &wo, "photo.jpg", b"jpeg").await;
    assert_eq!(s, 201, "{f}");
    let (s, b) = upload(&app, &tech, other, "photo.jpg", b"jpeg").await;
    assert_eq!(s, 404, "{b}");
    let (s, f2) = upload(&app, &admin, other, "plan.pdf", b"pdf").await;
    assert_eq!(s, 201, "{f2}");
    let (s, _) = app
        .get(
            &format!("/api/v1/files/{}", f2["id"].as_str().unwrap()),
            &tech,
        )
        .await;
    assert_eq!(s, 404, "a technician sees only their orders' files");
    // A viewer reads, never writes.
    let id = f["id"].as_str().unwrap();
    let (s, _, back) = download(&app, &viewer, id, reqwest::Method::GET, None).await;
    assert_eq!((s, back.as_slice()), (200, &b"jpeg"[..]));
    let (s, b) = upload(&app, &viewer, &wo, "x.txt", b"x").await;
    assert_eq!(s, 403, "{b}");
    // Deleting is for those who delete work orders.
    let (s, b) = app.delete(&format!("/api/v1/files/{id}"), &tech).await;
    assert_eq!(s, 403, "{b}");
    let (s, _) = app.delete(&format!("/api/v1/files/{id}"), &admin).await;
    assert_eq!(s, 204);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_collects_orphans_by_itself() {
    let app = TestApp::start_with(Backend::Sqlite, |c| {
        c.files.gc_every_seconds = 1;
        c.files.gc_grace_seconds = 0;
    })
    .await
    .unwrap();
    let (tenant, token, wo) = tenant_with_order(&app, "periodic", "basic").await;
    let (s, f) = upload(&app, &token, &wo, "kept.txt", b"kept").await;
    assert_eq!(s, 201, "{f}");
    let local = app.state.app.files().get("local").unwrap().objects.clone();
    let orphan = ObjectPath::from(format!("tenants/{tenant}/{}", uuid::Uuid::now_v7()));
    local.put(&orphan, b"orphan".to_vec().into()).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while local.head(&orphan).await.is_ok() {
        assert!(Instant::now() < deadline, "the orphan is still there");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (s, _, back) = download(
        &app,
        &token,
        f["id"].as_str().unwrap(),
        reqwest::Method::GET,
        None,
    )
    .await;
    assert_eq!((s, back.as_slice()), (200, &b"kept"[..]));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_work_orders_files_list_in_pages() {
    let app = TestApp::start(Backend::Postgres).await.unwrap();
    let (_, token, wo) = tenant_with_order(&app, "pages", "basic").await;
    let mut ids = Vec::new();
    for i in 0..5u8 {
        let (s, f) = upload(&app, &token, &wo, &format!("f{i}.txt"), &data(10, i)).await;
        assert_eq!(s, 201, "{f}");
        ids.push(f["id"].as_str().unwrap().to_owned());
    }
    let path = format!("/api/v1/work-orders/{wo}/files?limit=2");
    let (s, first) = app.get(&path, &token).await;
    assert_eq!(s, 200, "{first}");
    assert_eq!(first["items"].as_array().unwrap().len(), 2);
    let mut seen = Vec::new();
    let mut page = first;
    loop {
        for i in page["items"].as_array().unwrap() {
            seen.push(i["id"].as_str().unwrap().to_owned());
        }
        let Some(c) = page["next_cursor"].as_str() else {
            break;
        };
        let (s, next) = app.get(&format!("{path}&cursor={c}"), &token).await;
        assert_eq!(s, 200, "{next}");
        page = next;
    }
    assert_eq!(seen, ids, "oldest first, each once");
    let (s, b) = app.get(&format!("{path}&cursor=nonsense"), &token).await;
    assert_eq!(s, 400, "{b}");
    assert_eq!(b["code"], "invalid_cursor");
    app.stop().await;
}

/// A technician's upload to an order taken from them while its bytes
/// stream gets no file: the row's transaction checks the order again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_reassigned_mid_upload_gets_no_file() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = TestApp::start(Backend::Sqlite).await.unwrap();
    let (_, admin, wo) = tenant_with_order(&app, "midway", "basic").await;
    let (s, u) = app
        .post(
            "/api/v1/users",
            &admin,
            json!({"email": "tech@midway.test", "name": "Tech", "role": "technician", "password": "a long password"}),
        )
        .await;
    assert_eq!(s, 201, "{u}");
    let (s, p) = app
        .post(
            "/api/v1/personnel",
            &admin,
            json!({"name": "Tech", "user_id": u["id"]}),
        )
        .await;
    assert_eq!(s, 201, "{p}");
    let order = format!("/api/v1/work-orders/{wo}");
    let (s, _) = app
        .patch(&order, &admin, json!({"assigned_to": p["id"]}))
        .await;
    assert_eq!(s, 200);
    let tech = app
        .login("midway", "tech@midway.test", "a long password")
        .await;

    let body = form(
        "filename=\"late.jpg\"",
        "image/jpeg",
        &data(64 * 1024, 3),
        None,
    );
    let (first, rest) = body.split_at(body.len() / 2);
    let addr = app.base.trim_start_matches("http://").to_owned();
    let mut conn = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "POST {order}/files HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {tech}\r\n\
         Content-Type: multipart/form-data; boundary={BOUNDARY}\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n",
        body.len()
    );
    conn.write_all(head.as_bytes()).await.unwrap();
    conn.write_all(first).await.unwrap();
    // The route has checked the order and is streaming the bytes.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (s, _) = app
        .patch(&order, &admin, json!({"assigned_to": null}))
        .await;
    assert_eq!(s, 200);
    conn.write_all(rest).await.unwrap();
    let mut answer = String::new();
    conn.read_to_string(&mut answer).await.unwrap();
    assert!(
        answer.starts_with("HTTP/1.1 404"),
        "the order is no longer the technician's: {answer}"
    );
    let (s, files) = app.get(&format!("{order}/files"), &admin).await;
    assert_eq!(s, 200);
    assert_eq!(files["items"], json!([]), "no row for the refused upload");
}
