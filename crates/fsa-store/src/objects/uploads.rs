//! Uploads left unfinished in a store: neither completed nor aborted.
//!
//! An upload is aborted on every failure path and when dropped
//! ([`super::put`]), but a process killed mid-upload runs no code: on S3
//! the upload's parts stay in the bucket, billed, and no object listing
//! shows them; on a local store the staging file (`<key>#<n>`, which
//! `object_store` writes before renaming it into place) stays on disk and
//! no listing shows it either. The collector finds them here and aborts
//! those older than its grace period.
//!
//! object_store has no API to list multipart uploads, so S3's
//! `ListMultipartUploads` is sent here, signed by object_store's own SigV4
//! signer with the store's own credentials; the abort is object_store's.
//! Only keys under the store's prefix and `tenants/` are looked at: a
//! bucket may be shared, and the service writes nowhere else.

use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use object_store::aws::{AmazonS3, AwsAuthorizer};
use object_store::client::{HttpClient, HttpRequest, HttpRequestBody};
use object_store::multipart::MultipartStore;
use serde::Deserialize;

use super::{FileError, Store};

/// The folder of keys the service writes (`tenants/<tenant>/<file>`).
const TENANTS: &str = "tenants";

/// An upload neither completed nor aborted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leftover {
    /// Its key in the store (below the store's prefix, as object keys are).
    pub key: String,
    /// S3's upload id; none for a local staging file.
    pub upload_id: Option<String>,
    /// When it began (S3's `Initiated`; a staging file's last write).
    pub initiated: DateTime<Utc>,
}

/// Where a store's unfinished uploads are.
#[derive(Debug, Clone)]
pub(crate) enum Uploads {
    /// The local store's folder.
    Local(PathBuf),
    S3(Arc<S3Uploads>),
}

/// What listing and aborting an S3 store's uploads takes.
#[derive(Debug)]
pub(crate) struct S3Uploads {
    /// The bucket, unprefixed: aborts name full keys.
    pub(crate) s3: Arc<AmazonS3>,
    /// A client with the store's own timeouts.
    pub(crate) http: HttpClient,
    /// `<endpoint>/<bucket>`: path style, as the store's client uses.
    pub(crate) bucket_url: String,
    pub(crate) region: String,
    /// The store's prefix with a trailing `/`, or empty.
    pub(crate) prefix: String,
}

impl Store {
    /// The uploads left unfinished in this store, of any age.
    pub async fn leftover_uploads(&self) -> Result<Vec<Leftover>, FileError> {
        match &self.uploads {
            Uploads::Local(root) => {
                let root = root.clone();
                tokio::task::spawn_blocking(move || local_leftovers(&root))
                    .await
                    .map_err(|e| self.error(generic(e)))?
                    .map_err(|e| self.error(generic(e)))
            }
            Uploads::S3(s3) => s3.list().await.map_err(|e| self.error(e)),
        }
    }

    /// Aborts an unfinished upload (its parts, or its staging file, are
    /// deleted); one already gone is not an error.
    pub async fn abort_upload(&self, upload: &Leftover) -> Result<(), FileError> {
        match &self.uploads {
            Uploads::Local(root) => {
                let path = staging_path(root, &upload.key).ok_or_else(|| {
                    self.error(generic(format!("{:?} is no staging file", upload.key)))
                })?;
                match tokio::fs::remove_file(&path).await {
                    Ok(()) => Ok(()),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                    Err(e) => Err(self.error(generic(e))),
                }
            }
            Uploads::S3(s3) => {
                let Some(id) = &upload.upload_id else {
                    return Err(self.error(generic("an S3 upload without its id")));
                };
                let key = object_store::path::Path::parse(format!("{}{}", s3.prefix, upload.key))
                    .map_err(|e| self.error(e.into()))?;
                match s3.s3.abort_multipart(&key, id).await {
                    Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
                    Err(e) => Err(self.error(e)),
                }
            }
        }
    }
}

fn generic(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> object_store::Error {
    object_store::Error::Generic {
        store: "uploads",
        source: e.into(),
    }
}

/// Whether a file name is object_store's staging file of `<name>`:
/// `<name>#<digits>` (a key never ends so: object_store refuses such keys).
fn is_staging(name: &str) -> bool {
    name.rsplit_once('#').is_some_and(|(base, n)| {
        !base.is_empty() && !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())
    })
}

/// The path of a staging file's key under `root`, if the key names one
/// and stays under `root`.
fn staging_path(root: &Path, key: &str) -> Option<PathBuf> {
    let rel = Path::new(key);
    let inside =
        rel.starts_with(TENANTS) && rel.components().all(|c| matches!(c, Component::Normal(_)));
    let name = rel.file_name()?.to_str()?;
    (inside && is_staging(name)).then(|| root.join(rel))
}

/// The staging files under `<root>/tenants`.
fn local_leftovers(root: &Path) -> std::io::Result<Vec<Leftover>> {
    let mut found = Vec::new();
    let mut dirs = vec![PathBuf::from(TENANTS)];
    while let Some(rel) = dirs.pop() {
        let entries = match std::fs::read_dir(root.join(&rel)) {
            Ok(entries) => entries,
            // Not made yet, or removed meanwhile (a delete prunes empty folders).
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        for entry in entries {
            let entry = entry?;
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            let meta = match entry.metadata() {
                Ok(m) => m,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            let path = rel.join(&name);
            if meta.is_dir() {
                dirs.push(path);
            } else if meta.is_file() && is_staging(&name) {
                let Some(key) = path.to_str() else { continue };
                found.push(Leftover {
                    key: key.replace(std::path::MAIN_SEPARATOR, "/"),
                    upload_id: None,
                    initiated: meta.modified()?.into(),
                });
            }
        }
    }
    Ok(found)
}

/// `ListMultipartUploadsResult`, the fields used.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListResult {
    #[serde(default)]
    is_truncated: bool,
    #[serde(default)]
    next_key_marker: Option<String>,
    #[serde(default)]
    next_upload_id_marker: Option<String>,
    #[serde(default, rename = "Upload")]
    uploads: Vec<ListedUpload>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListedUpload {
    key: String,
    upload_id: String,
    initiated: String,
}

/// Query strings as SigV4 canonicalizes them (RFC 3986 unreserved kept),
/// so the URL sent is the one signed.
const QUERY: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

fn query(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| {
            format!(
                "{}={}",
                percent_encoding::utf8_percent_encode(k, QUERY),
                percent_encoding::utf8_percent_encode(v, QUERY)
            )
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// A page's uploads under `prefix`, keys made relative to it; those the
/// server returned from elsewhere (it should not) and those whose start
/// cannot be read are left out, so never aborted.
fn parse_page(
    body: &[u8],
    prefix: &str,
) -> Result<(Vec<Leftover>, ListResult), object_store::Error> {
    let mut page: ListResult = quick_xml::de::from_reader(body).map_err(generic)?;
    let mut found = Vec::new();
    for u in std::mem::take(&mut page.uploads) {
        let Some(key) = u
            .key
            .strip_prefix(prefix)
            .filter(|k| k.starts_with(&format!("{TENANTS}/")))
        else {
            continue;
        };
        let Ok(initiated) = DateTime::parse_from_rfc3339(u.initiated.trim()) else {
            tracing::warn!(
                key,
                initiated = u.initiated,
                "an unfinished upload's start is unreadable; it is kept"
            );
            continue;
        };
        found.push(Leftover {
            key: key.to_owned(),
            upload_id: Some(u.upload_id),
            initiated: initiated.with_timezone(&Utc),
        });
    }
    Ok((found, page))
}

impl S3Uploads {
    /// Every page of `ListMultipartUploads` under `<prefix>tenants/`.
    async fn list(&self) -> Result<Vec<Leftover>, object_store::Error> {
        let credential = self.s3.credentials().get_credential().await?;
        let scope = format!("{}{TENANTS}/", self.prefix);
        let mut found = Vec::new();
        let mut markers: Option<(String, String)> = None;
        loop {
            let mut pairs = vec![("prefix", scope.as_str()), ("uploads", "")];
            if let Some((key, id)) = &markers {
                pairs.push(("key-marker", key));
                pairs.push(("upload-id-marker", id));
            }
            let mut req = HttpRequest::new(HttpRequestBody::empty());
            *req.uri_mut() = format!("{}?{}", self.bucket_url, query(&pairs))
                .parse()
                .map_err(generic)?;
            AwsAuthorizer::new(&credential, "s3", &self.region).try_authorize(&mut req, None)?;
            let res = self.http.execute(req).await.map_err(generic)?;
            let status = res.status();
            let body = res.into_body().bytes().await.map_err(generic)?;
            if !status.is_success() {
                // S3's error document names the error, never the secret.
                let detail = String::from_utf8_lossy(&body[..body.len().min(512)]).into_owned();
                return Err(generic(format!(
                    "ListMultipartUploads answered {status}: {detail}"
                )));
            }
            let (uploads, page) = parse_page(&body, &self.prefix)?;
            found.extend(uploads);
            if !page.is_truncated {
                return Ok(found);
            }
            let next = (
                page.next_key_marker.unwrap_or_default(),
                page.next_upload_id_marker.unwrap_or_default(),
            );
            // A truncated page with no new marker would be asked for forever.
            if next.0.is_empty() || markers.as_ref() == Some(&next) {
                return Err(generic(
                    "ListMultipartUploads is truncated but names no next marker",
                ));
            }
            markers = Some(next);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use object_store::local::LocalFileSystem;
    use object_store::{ObjectStoreExt, PutPayload};

    #[test]
    fn a_page_keeps_only_the_stores_own_uploads() {
        let xml = br#"<?xml version="1.0" encoding="UTF-8"?>
<ListMultipartUploadsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Bucket>b</Bucket>
  <KeyMarker></KeyMarker>
  <UploadIdMarker></UploadIdMarker>
  <NextKeyMarker>p/tenants/t/2</NextKeyMarker>
  <NextUploadIdMarker>id-2</NextUploadIdMarker>
  <MaxUploads>2</MaxUploads>
  <IsTruncated>true</IsTruncated>
  <Upload>
    <Key>p/tenants/t/1</Key>
    <UploadId>id-1</UploadId>
    <Initiator><ID>x</ID><DisplayName>x</DisplayName></Initiator>
    <StorageClass>STANDARD</StorageClass>
    <Initiated>2024-05-01T10:00:00.000Z</Initiated>
  </Upload>
  <Upload>
    <Key>other/tenants/t/2</Key>
    <UploadId>id-2</UploadId>
    <Initiated>2024-05-01T10:00:00.000Z</Initiated>
  </Upload>
  <Upload>
    <Key>p/tenants/t/3</Key>
    <UploadId>id-3</UploadId>
    <Initiated>yesterday</Initiated>
  </Upload>
  <Prefix>p/tenants/</Prefix>
</ListMultipartUploadsResult>"#;
        let (found, page) = parse_page(xml, "p/").unwrap();
        assert_eq!(
            found,
            vec![Leftover {
                key: "tenants/t/1".into(),
                upload_id: Some("id-1".into()),
                initiated: "2024-05-01T10:00:00Z".parse().unwrap(),
            }]
        );
        assert!(page.is_truncated);
        assert_eq!(page.next_key_marker.as_deref(), Some("p/tenants/t/2"));
        assert_eq!(page.next_upload_id_marker.as_deref(), Some("id-2"));

        let empty = br#"<ListMultipartUploadsResult><IsTruncated>false</IsTruncated></ListMultipartUploadsResult>"#;
        let (found, page) = parse_page(empty, "").unwrap();
        assert!(found.is_empty() && !page.is_truncated);
        assert!(parse_page(b"<html>not S3</html", "").is_err());
    }

    #[test]
    fn queries_are_encoded_as_signed() {
        assert_eq!(
            query(&[("prefix", "a b/tenants/"), ("uploads", "")]),
            "prefix=a%20b%2Ftenants%2F&uploads="
        );
    }

    #[test]
    fn staging_files_are_told_from_keys() {
        assert!(is_staging("0190-abc#1"));
        assert!(is_staging("x#123"));
        assert!(!is_staging("x#"));
        assert!(!is_staging("x#1a"));
        assert!(!is_staging("#1"));
        assert!(!is_staging("plain"));
        let root = Path::new("/data/files");
        assert_eq!(
            staging_path(root, "tenants/t/f#2"),
            Some(root.join("tenants/t/f#2"))
        );
        assert_eq!(staging_path(root, "tenants/t/f"), None);
        assert_eq!(staging_path(root, "tenants/../../etc/x#1"), None);
        assert_eq!(staging_path(root, "/etc/x#1"), None);
        assert_eq!(staging_path(root, "other/x#1"), None);
    }

    /// A process killed mid-upload is an upload never completed, aborted
    /// nor dropped: `mem::forget` leaves object_store's staging file as the
    /// kill does.
    #[tokio::test]
    async fn a_local_upload_never_finished_leaves_a_staging_file_that_is_swept() {
        let dir = tempfile::tempdir().unwrap();
        let store = super::super::open_local("local", dir.path()).unwrap();
        let fs = LocalFileSystem::new_with_prefix(dir.path()).unwrap();
        let key = "tenants/t/0190aaaa-0000-7000-8000-000000000001";
        let mut up = fs.put_multipart(&Store::path(key)).await.unwrap();
        up.put_part(PutPayload::from_static(b"part")).await.unwrap();
        std::mem::forget(up);
        // Invisible to a listing, as to the collector's orphan pass.
        assert!(store.list("tenants").await.unwrap().is_empty());

        let found = store.leftover_uploads().await.unwrap();
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].key, format!("{key}#1"));
        assert!(found[0].upload_id.is_none());
        assert!(dir.path().join(&found[0].key).is_file());
        store.abort_upload(&found[0]).await.unwrap();
        assert!(!dir.path().join(&found[0].key).exists());
        assert!(store.leftover_uploads().await.unwrap().is_empty());
        // Twice is not an error; a key that is no staging file is refused.
        store.abort_upload(&found[0]).await.unwrap();
        let not_staging = Leftover {
            key: key.into(),
            ..found[0].clone()
        };
        assert!(store.abort_upload(&not_staging).await.is_err());
    }
}
