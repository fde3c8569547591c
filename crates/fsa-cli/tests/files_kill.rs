//! The mover killed (SIGKILL) in the middle of copying a tenant's file
//! objects to another store, then resumed by `fsa move resume`: the move
//! ends `done`, does not copy again what reached the target before the
//! kill, every object is at the target store with its SHA-256, and the
//! source store holds none of the tenant's.

use std::process::{Command, Stdio};

use fsa_testkit::files::{move_end, upload};
use fsa_testkit::s3::{ACCESS_KEY, SECRET_KEY, TestBucket};
use fsa_testkit::{Backend, TestApp, wait_for_pause};
use object_store::ObjectStoreExt;
use object_store::path::Path as ObjectPath;
use serde_json::json;
use sha2::{Digest, Sha256};

const FSA: &str = env!("CARGO_BIN_EXE_fsa");
const FILES: usize = 40;

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

/// The CLI on the service's catalog and stores, with the premium store
/// given in the environment's form.
fn fsa(app: &TestApp, bucket: &TestBucket) -> Command {
    let mut c = app.cli(FSA);
    c.env("FSA_MOVE_CLEANUP", "0s")
        .env(
            "FSA_FILES__STORES__PREMIUM__URL",
            format!("s3://{}/fsa", bucket.bucket),
        )
        .env("FSA_FILES__STORES__PREMIUM__ENDPOINT", &bucket.endpoint)
        .env("FSA_FILES__STORES__PREMIUM__REGION", "us-east-1")
        .env("FSA_FILES__STORES__PREMIUM__ACCESS_KEY_ID", ACCESS_KEY)
        .env("FSA_FILES__STORES__PREMIUM__SECRET_ACCESS_KEY", SECRET_KEY)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    c
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
        files.push((
            upload(&app, &token, &wo, "p.jpg", &bytes).await,
            sha(&bytes),
        ));
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
    wait_for_pause(&mut child, &pause_file, "copying-objects").await;
    let copied_before = bucket.keys(&format!("fsa/tenants/{tenant}")).await.len();
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
    assert_eq!(bucket.keys(&format!("fsa/tenants/{tenant}")).await, want);
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
