//! The mover killed (SIGKILL) in the middle of copying a tenant's file
//! objects to another store, then resumed by `fsa move resume`: the move
//! ends `done`, does not copy again what reached the target before the
//! kill, every object is at the target store with its SHA-256, and the
//! source store holds none of the tenant's.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use fsa_testkit::s3::{ACCESS_KEY, SECRET_KEY, TestBucket};
use fsa_testkit::{Backend, Json, TestApp};
use futures::TryStreamExt;
use object_store::ObjectStoreExt;
use object_store::path::Path as ObjectPath;
use serde_json::json;
use sha2::{Digest, Sha256};

const FSA: &str = env!("CARGO_BIN_EXE_fsa");
const FILES: usize = 40;
const BOUNDARY: &str = "fsa-kill-boundary-5d1a";

fn sha(b: &[u8]) -> String {
    Sha256::digest(b)
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect()
}

fn data(len: usize, seed: usize) -> Vec<u8> {
    (0..len)
        .map(|i| ((i * 31 + seed * 7) % 253) as u8)
        .collect()
}

async fn upload(app: &TestApp, token: &str, wo: &str, bytes: &[u8]) -> String {
    let mut body = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"p.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
    let res = app
        .client
        .post(format!("{}/api/v1/work-orders/{wo}/files", app.base))
        .bearer_auth(token)
        .header(
            "content-type",
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .body(body)
        .send()
        .await
        .expect("the upload is sent");
    assert_eq!(res.status().as_u16(), 201);
    let f: Json = res.json().await.expect("a file");
    f["id"].as_str().expect("an id").to_owned()
}

fn fsa(app: &TestApp, bucket: &TestBucket) -> Command {
    let mut c = Command::new(FSA);
    c.env("FSA_DATABASE_URL", app.db.as_ref().expect("postgres").url())
        .env("FSA_DATA_DIR", app.dir.path())
        .env(
            "FSA_ADMIN_TOKEN",
            app.state.config.admin_token.clone().unwrap_or_default(),
        )
        .env(
            "FSA_JWT_SECRET",
            app.state.config.jwt_secret.clone().unwrap_or_default(),
        )
        .env("FSA_MOVE_CLEANUP", "0s")
        .env(
            "FSA_FILES__STORES__PREMIUM__URL",
            format!("s3://{}/fsa", bucket.bucket),
        )
        .env("FSA_FILES__STORES__PREMIUM__ENDPOINT", &bucket.endpoint)
        .env("FSA_FILES__STORES__PREMIUM__REGION", "us-east-1")
        .env("FSA_FILES__STORES__PREMIUM__ACCESS_KEY_ID", ACCESS_KEY)
        .env("FSA_FILES__STORES__PREMIUM__SECRET_ACCESS_KEY", SECRET_KEY)
        .env("FSA_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    c
}

async fn bucket_keys(bucket: &TestBucket, tenant: &str) -> Vec<String> {
    let prefix = ObjectPath::from(format!("fsa/tenants/{tenant}"));
    let mut keys: Vec<String> = bucket
        .objects()
        .list(Some(&prefix))
        .try_collect::<Vec<_>>()
        .await
        .expect("the bucket lists")
        .into_iter()
        .map(|o| o.location.to_string())
        .collect();
    keys.sort();
    keys
}

/// The tenant's latest move once it has ended.
async fn move_end(app: &TestApp, slug: &str) -> Json {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let (_, moves) = app.get("/admin/moves", &app.admin_token).await;
        let m = moves
            .as_array()
            .into_iter()
            .flatten()
            .chain(moves["items"].as_array().into_iter().flatten())
            .find(|m| m["tenant"] == slug)
            .cloned()
            .expect("the tenant's move is listed");
        if m["state"] == "done" || m["state"] == "rolled_back" {
            let (_, m) = app
                .get(
                    &format!("/admin/moves/{}", m["id"].as_str().unwrap()),
                    &app.admin_token,
                )
                .await;
            return m;
        }
        assert!(Instant::now() < deadline, "the move never ended: {m}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_move_killed_while_copying_objects_resumes_and_loses_nothing() {
    let bucket = TestBucket::new().await;
    let premium = bucket.store_config("fsa");
    let app = TestApp::start_with(Backend::Postgres, move |c| {
        c.files.stores.insert("premium".into(), premium);
        c.move_cleanup = "0s".into();
    })
    .await
    .unwrap();
    let slug = "kill-objects";
    let t = app.create_tenant(slug, "basic", "default").await;
    let tenant = t["id"].as_str().unwrap().to_owned();
    let token = app.login_admin(slug).await;
    let (_, c) = app
        .post("/api/v1/clients", &token, json!({"name": "Client"}))
        .await;
    let (s, w) = app
        .post(
            "/api/v1/work-orders",
            &token,
            json!({"client_id": c["id"], "title": "Photos"}),
        )
        .await;
    assert_eq!(s, 201, "{w}");
    let wo = w["id"].as_str().unwrap().to_owned();
    let mut files = Vec::new();
    for i in 0..FILES {
        let bytes = data(20_000 + i, i);
        files.push((upload(&app, &token, &wo, &bytes).await, sha(&bytes)));
    }

    // basic → premium, from the CLI, stopped after the first objects were
    // copied, and killed there.
    let dir = tempfile::tempdir().unwrap();
    let pause_file = dir.path().join("paused");
    let mut child = fsa(&app, &bucket)
        .args(["tenant", "set-plan", slug, "premium", "--json"])
        .env("FSA_MOVE_PAUSE_AT", "copying-objects")
        .env("FSA_MOVE_PAUSE_FILE", &pause_file)
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !pause_file.exists() {
        if let Ok(Some(status)) = child.try_wait() {
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                use std::io::Read;
                let _ = e.read_to_string(&mut err);
            }
            panic!("the mover exited ({status}) before copying objects: {err}");
        }
        assert!(Instant::now() < deadline, "the mover never copied objects");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let copied_before = bucket_keys(&bucket, &tenant).await.len();
    assert!(
        copied_before > 0 && copied_before < FILES,
        "killed in the middle of the objects: {copied_before} of {FILES} at the target"
    );
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();

    let out = tokio::task::block_in_place(|| {
        fsa(&app, &bucket)
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
    let m = move_end(&app, slug).await;
    assert_eq!(m["state"], "done", "{m}");
    let r = &m["report"]["files"];
    assert_eq!(r["objects"], FILES as u64, "{r}");
    assert_eq!(r["checksums_verified"], FILES as u64, "{r}");
    assert_eq!(
        r["copied"],
        (FILES - copied_before) as u64,
        "what reached the target before the kill is not copied again: {r}"
    );
    assert_eq!(r["deleted_at_source"], FILES as u64, "{r}");

    let mut want: Vec<String> = files
        .iter()
        .map(|(id, _)| format!("fsa/tenants/{tenant}/{id}"))
        .collect();
    want.sort();
    assert_eq!(bucket_keys(&bucket, &tenant).await, want);
    let local = app.dir.path().join("files/tenants").join(&tenant);
    let left = std::fs::read_dir(&local).map(|d| d.count()).unwrap_or(0);
    assert_eq!(left, 0, "nothing of the tenant left on local disk");
    for (id, want) in &files {
        let key = ObjectPath::from(format!("fsa/tenants/{tenant}/{id}"));
        let got = bucket
            .objects()
            .get(&key)
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        assert_eq!(&sha(&got), want, "object {id}");
    }
    let token = app.login_admin(slug).await;
    let res = app
        .client
        .get(format!("{}/api/v1/files/{}/content", app.base, files[0].0))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    assert_eq!(sha(&res.bytes().await.unwrap()), files[0].1);
    app.stop().await;
}
