//! File stores: where a tenant's file objects live, by plan.
//!
//! Below the services and the move engine alike: an upload writes here, and
//! a move whose tenant changes store copies from one to the other.
//!
//! A plan names a store (`[files.plans]`); a store is a folder on local disk
//! (`file://…`) or an S3 bucket with an optional prefix (`s3://bucket/p`),
//! both through `object_store`. A plan whose store is not configured uses
//! the local one (a warning at start says so), so the embedded default needs
//! nothing. Object keys are `tenants/<tenant id>/<file id>`: made by the
//! service, never from a user's file name.
//!
//! - [`put`]: an object streamed to a store while its SHA-256 is computed
//!   (an upload, or a move's copy).
//! - [`read`]: an object's bytes as a stream, a local file in large pieces.
//! - [`uploads`]: uploads left unfinished (a process killed mid-upload),
//!   which the collector aborts.

pub mod put;
pub mod read;
pub mod uploads;

pub use put::{PARTS_IN_FLIGHT, Stored, hex, put_stream};
pub use read::body;
pub use uploads::Leftover;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use fsa_core::{Plan, TenantId};
use object_store::aws::AmazonS3Builder;
use object_store::client::{HttpConnector, ReqwestConnector};
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::prefix::PrefixStore;
use object_store::{ObjectStore, ObjectStoreExt};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The name of the store every unconfigured one falls back to.
pub const LOCAL: &str = "local";

/// `[files]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FilesConfig {
    /// The largest upload, in bytes; 413 above.
    pub max_file_bytes: u64,
    /// Stores by name. `local` defaults to `files/` under the data directory.
    pub stores: BTreeMap<String, StoreConfig>,
    /// The store of each plan.
    pub plans: PlanStores,
    /// Objects younger than this (seconds) are never collected: longer than
    /// an upload can take, so an upload whose row is not committed yet is
    /// not mistaken for an orphan.
    pub gc_grace_seconds: u64,
    /// How often `fsa serve` collects (seconds; 0: never).
    pub gc_every_seconds: u64,
}

impl Default for FilesConfig {
    fn default() -> Self {
        FilesConfig {
            max_file_bytes: 100 * 1024 * 1024,
            stores: BTreeMap::new(),
            plans: PlanStores::default(),
            gc_grace_seconds: 3600,
            gc_every_seconds: 3600,
        }
    }
}

/// `[files.stores.<name>]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// `file:///path` (or `file://./relative`) or `s3://bucket[/prefix]`.
    pub url: String,
    /// Any S3-compatible server, e.g. `http://127.0.0.1:9000`.
    #[serde(default)]
    pub endpoint: Option<String>,
    #[serde(default)]
    pub region: Option<String>,
    /// Credentials; default `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_key_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_access_key: Option<crate::secret::Secret>,
}

/// `[files.plans]`: plan → store name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PlanStores {
    pub free: String,
    pub basic: String,
    pub premium: String,
    pub enterprise: String,
}

impl Default for PlanStores {
    fn default() -> Self {
        PlanStores {
            free: LOCAL.into(),
            basic: LOCAL.into(),
            premium: "premium".into(),
            enterprise: "enterprise".into(),
        }
    }
}

impl PlanStores {
    pub fn of(&self, p: Plan) -> &str {
        match p {
            Plan::Free => &self.free,
            Plan::Basic => &self.basic,
            Plan::Premium => &self.premium,
            Plan::Enterprise => &self.enterprise,
        }
    }
}

/// Why a file operation failed.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// A store's configuration is wrong (at start).
    #[error("files.stores.{store}: {detail}")]
    Config { store: String, detail: String },
    /// The upload is larger than `max_file_bytes`.
    #[error("the file is larger than {limit} bytes")]
    TooLarge { limit: u64 },
    /// The request body could not be read to its end.
    #[error("the upload could not be read: {0}")]
    Body(String),
    /// The object is not in the store.
    #[error("the file's content is missing from its store")]
    Missing,
    /// The store did not answer, or failed.
    #[error("file store {store} failed: {source}")]
    Store {
        store: String,
        #[source]
        source: object_store::Error,
    },
}

impl FileError {
    fn store(store: &str, e: object_store::Error) -> Self {
        match e {
            object_store::Error::NotFound { .. } => FileError::Missing,
            source => FileError::Store {
                store: store.to_owned(),
                source,
            },
        }
    }
}

/// One store, opened.
#[derive(Debug, Clone)]
pub struct Store {
    /// Its name in the configuration.
    pub name: String,
    /// What it is, for logs and reports: a folder or `s3://bucket/prefix`.
    pub location: String,
    pub objects: Arc<dyn ObjectStore>,
    /// Bytes per part of a multipart upload: S3 needs 5 MiB; a local file
    /// is written in smaller ones, which keeps an upload's memory low.
    pub part_bytes: usize,
    /// Where its unfinished uploads are found and aborted.
    uploads: uploads::Uploads,
}

/// Part sizes of multipart uploads.
const S3_PART_BYTES: usize = 5 * 1024 * 1024;
const LOCAL_PART_BYTES: usize = 1024 * 1024;

impl Store {
    /// The key of a tenant's file.
    pub fn key(tenant: TenantId, file: Uuid) -> String {
        format!("tenants/{tenant}/{file}")
    }

    pub fn path(key: &str) -> ObjectPath {
        ObjectPath::from(key)
    }

    /// Deletes an object; one already gone is not an error.
    pub async fn delete(&self, key: &str) -> Result<(), FileError> {
        match self.objects.delete(&Self::path(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(FileError::store(&self.name, e)),
        }
    }

    /// An object's bytes, or a range of them.
    pub async fn get(
        &self,
        key: &str,
        range: Option<std::ops::Range<u64>>,
    ) -> Result<object_store::GetResult, FileError> {
        let opts = object_store::GetOptions {
            range: range.map(object_store::GetRange::Bounded),
            ..Default::default()
        };
        self.objects
            .get_opts(&Self::path(key), opts)
            .await
            .map_err(|e| FileError::store(&self.name, e))
    }

    /// Whether the object is there (a HEAD).
    pub async fn head(&self, key: &str) -> Result<object_store::ObjectMeta, FileError> {
        self.objects
            .head(&Self::path(key))
            .await
            .map_err(|e| FileError::store(&self.name, e))
    }

    /// The objects under `prefix` (a folder of keys, e.g. `tenants/<id>`):
    /// their keys and sizes.
    pub async fn list(&self, prefix: &str) -> Result<Vec<(String, u64)>, FileError> {
        use futures::TryStreamExt;
        let listed: Vec<object_store::ObjectMeta> = self
            .objects
            .list(Some(&Self::path(prefix)))
            .try_collect()
            .await
            .map_err(|e| FileError::store(&self.name, e))?;
        Ok(listed
            .into_iter()
            .map(|o| (o.location.to_string(), o.size))
            .collect())
    }

    /// Reads an object to its end: its size and SHA-256 (lowercase hex).
    pub async fn digest(&self, key: &str) -> Result<Stored, FileError> {
        use futures::StreamExt;
        use sha2::Digest;
        let mut body = read::body(self.get(key, None).await?);
        let mut hash = sha2::Sha256::new();
        let mut size = 0u64;
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| FileError::Store {
                store: self.name.clone(),
                source: object_store::Error::Generic {
                    store: "read",
                    source: Box::new(e),
                },
            })?;
            size += chunk.len() as u64;
            hash.update(&chunk);
        }
        Ok(Stored {
            size,
            sha256: hex(&hash.finalize()),
        })
    }

    /// Makes the error of an operation on this store.
    pub fn error(&self, e: object_store::Error) -> FileError {
        FileError::store(&self.name, e)
    }
}

/// Every configured store and which plan uses which.
#[derive(Debug, Clone)]
pub struct FileStores {
    stores: BTreeMap<String, Store>,
    plans: PlanStores,
    pub max_file_bytes: u64,
    pub gc_grace: Duration,
    pub gc_every: Duration,
}

/// How long a store's client waits to connect.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a request may wait for the next bytes from a store. There is
/// no limit on a whole request: a 1 GiB download to a slow client takes as
/// long as it takes, and a store that stalls is still given up within this.
const READ_TIMEOUT: Duration = Duration::from_secs(30);

impl FileStores {
    /// Opens the stores of `cfg`; the local one defaults to `files/` under
    /// `data_dir`. Returns the warnings to log (plans whose store is not
    /// configured and fall back to the local one).
    pub fn open(cfg: &FilesConfig, data_dir: &Path) -> Result<(Self, Vec<String>), FileError> {
        let mut warnings = Vec::new();
        let mut stores = BTreeMap::new();
        let local = match cfg.stores.get(LOCAL) {
            Some(s) => open_store(LOCAL, s)?,
            None => open_local(LOCAL, &data_dir.join("files"))?,
        };
        stores.insert(LOCAL.to_owned(), local);
        let mut plans = cfg.plans.clone();
        for plan in [Plan::Free, Plan::Basic, Plan::Premium, Plan::Enterprise] {
            let name = cfg.plans.of(plan).to_owned();
            let slot = match plan {
                Plan::Free => &mut plans.free,
                Plan::Basic => &mut plans.basic,
                Plan::Premium => &mut plans.premium,
                Plan::Enterprise => &mut plans.enterprise,
            };
            if stores.contains_key(&name) {
                continue;
            }
            match cfg.stores.get(&name) {
                Some(s) => {
                    stores.insert(name.clone(), open_store(&name, s)?);
                }
                None => {
                    warnings.push(format!(
                        "files: the {plan} plan's store {name:?} is not configured; its files go to the local store"
                    ));
                    *slot = LOCAL.to_owned();
                }
            }
        }
        // Stores no plan names are opened too: the collector looks at them.
        for (name, s) in &cfg.stores {
            if !stores.contains_key(name) {
                stores.insert(name.clone(), open_store(name, s)?);
            }
        }
        Ok((
            FileStores {
                stores,
                plans,
                max_file_bytes: cfg.max_file_bytes,
                gc_grace: Duration::from_secs(cfg.gc_grace_seconds),
                gc_every: Duration::from_secs(cfg.gc_every_seconds),
            },
            warnings,
        ))
    }

    /// The store a plan's files go to.
    pub fn for_plan(&self, plan: Plan) -> &Store {
        self.stores
            .get(self.plans.of(plan))
            .or_else(|| self.stores.get(LOCAL))
            .expect("the local store is always open")
    }

    /// The name of the store a plan's files go to.
    pub fn store_name(&self, plan: Plan) -> &str {
        &self.for_plan(plan).name
    }

    /// Every store, by name.
    pub fn all(&self) -> impl Iterator<Item = &Store> {
        self.stores.values()
    }

    pub fn get(&self, name: &str) -> Option<&Store> {
        self.stores.get(name)
    }

    /// The store that holds `key`: the plan's, or else the first other
    /// store that has it. A tenant whose plan changed stores keeps its
    /// earlier files where they were uploaded until they are copied over,
    /// and they must stay readable and deletable meanwhile. One HEAD per
    /// store is the price of a miss only; a hit in the plan's store costs
    /// one HEAD.
    pub async fn locate(&self, plan: Plan, key: &str) -> Result<&Store, FileError> {
        let first = self.for_plan(plan);
        let missing = match first.head(key).await {
            Ok(_) => return Ok(first),
            Err(e @ FileError::Missing) => e,
            Err(e) => return Err(e),
        };
        for store in self.all().filter(|s| s.name != first.name) {
            if store.head(key).await.is_ok() {
                return Ok(store);
            }
        }
        Err(missing)
    }

    /// Deletes files' objects from the stores that hold them, once their
    /// rows are gone, a few at a time. A failure is logged and left to the
    /// collector: the rows are gone, so the objects are orphans it deletes
    /// after its grace period.
    pub async fn remove<I>(&self, plan: Plan, keys: I)
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        use futures::StreamExt;
        futures::stream::iter(keys)
            .for_each_concurrent(8, |key| async move {
                let key = key.as_ref();
                let store = match self.locate(plan, key).await {
                    Ok(store) => store,
                    Err(FileError::Missing) => return,
                    // A store that does not answer: try the plan's own.
                    Err(_) => self.for_plan(plan),
                };
                if let Err(e) = store.delete(key).await {
                    tracing::warn!(store = %store.name, key, error = %e, "deleting a file's object failed; the files gc will");
                }
            })
            .await;
    }

    /// An object's bytes (or a range of them) from the plan's store, or on
    /// a miss from the store that holds it ([`FileStores::locate`]): one
    /// request when the plan's store has it, as it does but for files
    /// uploaded before a plan change.
    pub async fn read(
        &self,
        plan: Plan,
        key: &str,
        range: Option<std::ops::Range<u64>>,
    ) -> Result<object_store::GetResult, FileError> {
        match self.for_plan(plan).get(key, range.clone()).await {
            Err(FileError::Missing) => self.locate(plan, key).await?.get(key, range).await,
            other => other,
        }
    }
}

pub fn open_store(name: &str, s: &StoreConfig) -> Result<Store, FileError> {
    let bad = |detail: String| FileError::Config {
        store: name.to_owned(),
        detail,
    };
    if let Some(path) = s.url.strip_prefix("file://") {
        if path.is_empty() {
            return Err(bad("a file:// url needs a path".into()));
        }
        return open_local(name, Path::new(path));
    }
    let Some(rest) = s.url.strip_prefix("s3://") else {
        return Err(bad(format!(
            "url {:?} is neither file://… nor s3://bucket[/prefix]",
            s.url
        )));
    };
    let (bucket, prefix) = match rest.split_once('/') {
        Some((b, p)) => (b, p.trim_matches('/')),
        None => (rest, ""),
    };
    if bucket.is_empty() {
        return Err(bad("an s3:// url needs a bucket".into()));
    }
    let options = object_store::ClientOptions::new()
        .with_connect_timeout(CONNECT_TIMEOUT)
        .with_timeout_disabled()
        .with_read_timeout(READ_TIMEOUT)
        .with_allow_http(
            s.endpoint
                .as_deref()
                .is_some_and(|e| e.starts_with("http://")),
        );
    // A store that is down answers within seconds: few retries, soon given up.
    let retry = object_store::RetryConfig {
        backoff: object_store::BackoffConfig {
            init_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(1),
            base: 2.0,
        },
        max_retries: 2,
        retry_timeout: Duration::from_secs(5),
    };
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let region = s.region.clone().unwrap_or_else(|| "us-east-1".into());
    let mut b = AmazonS3Builder::new()
        .with_bucket_name(bucket)
        .with_region(region.clone())
        .with_client_options(options.clone())
        .with_retry(retry);
    if let Some(e) = &s.endpoint {
        b = b.with_endpoint(e.clone());
    }
    if let Some(k) = s.access_key_id.clone().or_else(|| env("AWS_ACCESS_KEY_ID")) {
        b = b.with_access_key_id(k);
    }
    if let Some(k) = s
        .secret_access_key
        .as_ref()
        .map(|k| k.expose().to_owned())
        .or_else(|| env("AWS_SECRET_ACCESS_KEY"))
    {
        b = b.with_secret_access_key(k);
    }
    if let Some(t) = env("AWS_SESSION_TOKEN") {
        b = b.with_token(t);
    }
    let s3 = Arc::new(b.build().map_err(|e| bad(e.to_string()))?);
    let objects: Arc<dyn ObjectStore> = if prefix.is_empty() {
        s3.clone()
    } else {
        Arc::new(PrefixStore::new(s3.clone(), prefix))
    };
    // The bucket's URL as the builder makes it: path style, since the
    // builder is never asked for virtual-hosted requests here.
    let bucket_url = match &s.endpoint {
        Some(e) => format!("{}/{bucket}", e.trim_end_matches('/')),
        None => format!("https://s3.{region}.amazonaws.com/{bucket}"),
    };
    let uploads = uploads::S3Uploads {
        s3,
        http: ReqwestConnector::default()
            .connect(&options)
            .map_err(|e| bad(e.to_string()))?,
        bucket_url,
        region,
        prefix: if prefix.is_empty() {
            String::new()
        } else {
            format!("{prefix}/")
        },
    };
    Ok(Store {
        name: name.to_owned(),
        location: s.url.clone(),
        objects,
        part_bytes: S3_PART_BYTES,
        uploads: uploads::Uploads::S3(Arc::new(uploads)),
    })
}

pub fn open_local(name: &str, dir: &Path) -> Result<Store, FileError> {
    let bad = |detail: String| FileError::Config {
        store: name.to_owned(),
        detail,
    };
    std::fs::create_dir_all(dir).map_err(|e| bad(format!("{}: {e}", dir.display())))?;
    let dir: PathBuf = dir
        .canonicalize()
        .map_err(|e| bad(format!("{}: {e}", dir.display())))?;
    let fs = LocalFileSystem::new_with_prefix(&dir).map_err(|e| bad(e.to_string()))?;
    Ok(Store {
        name: name.to_owned(),
        location: dir.display().to_string(),
        objects: Arc::new(fs.with_automatic_cleanup(true)),
        part_bytes: LOCAL_PART_BYTES,
        uploads: uploads::Uploads::Local(dir),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unconfigured_plans_fall_back_to_local_with_a_warning() {
        let dir = tempfile::tempdir().unwrap();
        let (stores, warnings) = FileStores::open(&FilesConfig::default(), dir.path()).unwrap();
        assert_eq!(stores.store_name(Plan::Free), LOCAL);
        assert_eq!(stores.store_name(Plan::Premium), LOCAL);
        assert_eq!(stores.store_name(Plan::Enterprise), LOCAL);
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(dir.path().join("files").is_dir());
        assert_eq!(stores.all().count(), 1);
    }

    #[test]
    fn s3_urls_name_a_bucket_and_a_prefix() {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = FilesConfig::default();
        cfg.stores.insert(
            "premium".into(),
            StoreConfig {
                url: "s3://fsa-premium/some/prefix".into(),
                endpoint: Some("http://127.0.0.1:9".into()),
                region: None,
                access_key_id: Some("k".into()),
                secret_access_key: Some("s".into()),
            },
        );
        let (stores, warnings) = FileStores::open(&cfg, dir.path()).unwrap();
        assert_eq!(stores.store_name(Plan::Premium), "premium");
        assert_eq!(stores.store_name(Plan::Enterprise), LOCAL);
        assert_eq!(warnings.len(), 1);
        cfg.stores.get_mut("premium").unwrap().url = "ftp://x".into();
        assert!(matches!(
            FileStores::open(&cfg, dir.path()),
            Err(FileError::Config { .. })
        ));
    }

    #[test]
    fn keys_come_from_ids_only() {
        let t = TenantId::generate();
        let f = Uuid::now_v7();
        assert_eq!(Store::key(t, f), format!("tenants/{t}/{f}"));
    }
}
