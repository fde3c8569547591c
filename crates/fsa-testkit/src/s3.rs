//! An S3 protocol server for file-store tests: moto's, over HTTP.
//!
//! `FSA_TEST_S3_ENDPOINT` names a running one (`.ci/run` starts it); when
//! it is unset, a test starts its own from `.venv-s3` at the workspace's
//! root. With neither, the test fails and says how to get one: a test of
//! the S3 store never passes without S3.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fsa_app::files::StoreConfig;
use futures::TryStreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::{ObjectStore, ObjectStoreExt};

/// moto accepts any credentials; these are the tests'.
pub const ACCESS_KEY: &str = "test";
pub const SECRET_KEY: &str = "test";

/// A moto server this process started; stopped when dropped.
struct Moto(Child);

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A bucket of its own on an S3 server; emptied and deleted when dropped.
pub struct TestBucket {
    pub endpoint: String,
    pub bucket: String,
    _moto: Option<Moto>,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A port nothing listens on (bound, then let go).
pub fn closed_port() -> u16 {
    free_port()
}

async fn answers(client: &reqwest::Client, endpoint: &str) -> bool {
    client.get(endpoint).send().await.is_ok()
}

/// The endpoint of an S3 server: `FSA_TEST_S3_ENDPOINT`, or moto started
/// from `.venv-s3`.
async fn server() -> (String, Option<Moto>) {
    if let Ok(e) = std::env::var("FSA_TEST_S3_ENDPOINT")
        && !e.is_empty()
    {
        return (e.trim_end_matches('/').to_owned(), None);
    }
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let bin = root.join(".venv-s3/bin/moto_server");
    assert!(
        bin.exists(),
        "this test needs an S3 server: set FSA_TEST_S3_ENDPOINT (`.ci/run` does), or install moto with \
         `python3 -m venv .venv-s3 && .venv-s3/bin/pip install 'moto[server]'` at the workspace root"
    );
    let port = free_port();
    let child = Command::new(&bin)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("moto_server starts");
    let moto = Moto(child);
    let endpoint = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let started = Instant::now();
    while !answers(&client, &endpoint).await {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "moto_server did not answer on {endpoint}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    (endpoint, Some(moto))
}

impl TestBucket {
    /// A new, uniquely named bucket.
    pub async fn new() -> Self {
        let (endpoint, moto) = server().await;
        let bucket = format!(
            "fsa-test-{}",
            &uuid::Uuid::new_v4().simple().to_string()[..16]
        );
        let res = reqwest::Client::new()
            .put(format!("{endpoint}/{bucket}"))
            .send()
            .await
            .unwrap_or_else(|e| panic!("the S3 server at {endpoint} does not answer: {e}"));
        assert!(
            res.status().is_success(),
            "creating bucket {bucket}: {}",
            res.status()
        );
        TestBucket {
            endpoint,
            bucket,
            _moto: moto,
        }
    }

    /// The store configuration for this bucket (under `prefix`, if any).
    pub fn store_config(&self, prefix: &str) -> StoreConfig {
        let url = if prefix.is_empty() {
            format!("s3://{}", self.bucket)
        } else {
            format!("s3://{}/{prefix}", self.bucket)
        };
        StoreConfig {
            url,
            endpoint: Some(self.endpoint.clone()),
            region: Some("us-east-1".into()),
            access_key_id: Some(ACCESS_KEY.into()),
            secret_access_key: Some(SECRET_KEY.into()),
        }
    }

    /// The bucket, straight (no prefix).
    pub fn objects(&self) -> Arc<dyn ObjectStore> {
        Arc::new(
            AmazonS3Builder::new()
                .with_endpoint(&self.endpoint)
                .with_allow_http(true)
                .with_region("us-east-1")
                .with_bucket_name(&self.bucket)
                .with_access_key_id(ACCESS_KEY)
                .with_secret_access_key(SECRET_KEY)
                .build()
                .expect("an S3 client"),
        )
    }

    /// The keys under `prefix` in the bucket, sorted.
    pub async fn keys(&self, prefix: &str) -> Vec<String> {
        let prefix = object_store::path::Path::from(prefix);
        let mut keys: Vec<String> = self
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

    async fn remove(endpoint: String, bucket: String, objects: Arc<dyn ObjectStore>) {
        let all: Vec<_> = objects.list(None).try_collect().await.unwrap_or_default();
        for o in all {
            let _ = objects.delete(&o.location).await;
        }
        let _ = reqwest::Client::new()
            .delete(format!("{endpoint}/{bucket}"))
            .send()
            .await;
    }
}

impl Drop for TestBucket {
    fn drop(&mut self) {
        let (endpoint, bucket, objects) =
            (self.endpoint.clone(), self.bucket.clone(), self.objects());
        // Drop runs inside or outside a runtime; a thread of its own works in both.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            rt.block_on(TestBucket::remove(endpoint, bucket, objects));
            Some(())
        })
        .join();
    }
}
