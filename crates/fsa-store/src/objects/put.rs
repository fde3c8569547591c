//! An upload streamed into a store while its SHA-256 is computed.
//!
//! The first part (the store's `part_bytes`) is held; a file that ends
//! within it is stored with one put. A longer one becomes a multipart upload
//! whose parts are sent while the next are read, at most
//! [`PARTS_IN_FLIGHT`] at a time, so memory stays near
//! `part_bytes × (PARTS_IN_FLIGHT + 1)` whatever the file's size. On any failure (too large, the body broken,
//! the store failing) the partial upload is aborted, and so it is when the
//! upload is dropped before it finished (its client went away while the
//! request ran): an S3 store keeps and bills the parts of an upload that is
//! neither completed nor aborted, and no listing of objects shows them.

use bytes::Bytes;
use futures::{Stream, StreamExt};
use object_store::{ObjectStoreExt, PutPayload, WriteMultipart};
use sha2::{Digest, Sha256};

use super::{FileError, Store};

/// Parts being sent at once.
pub const PARTS_IN_FLIGHT: usize = 2;

/// What was stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    pub size: u64,
    /// Lowercase hex.
    pub sha256: String,
}

/// Streams `body` to `key` in `store`, refusing more than `max` bytes.
pub async fn put_stream<S, E>(
    store: &Store,
    key: &str,
    mut body: S,
    max: u64,
) -> Result<Stored, FileError>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let path = Store::path(key);
    let mut hash = Sha256::new();
    let mut size: u64 = 0;
    let mut head: Vec<Bytes> = Vec::new();
    let mut held = 0usize;
    let next = |chunk: Option<Result<Bytes, E>>,
                hash: &mut Sha256,
                size: &mut u64|
     -> Result<Option<Bytes>, FileError> {
        match chunk {
            None => Ok(None),
            Some(Err(e)) => Err(FileError::Body(e.to_string())),
            Some(Ok(b)) => {
                *size += b.len() as u64;
                if *size > max {
                    return Err(FileError::TooLarge { limit: max });
                }
                hash.update(&b);
                Ok(Some(b))
            }
        }
    };
    // The first part, held: most files end within it.
    loop {
        if held >= store.part_bytes {
            break;
        }
        match next(body.next().await, &mut hash, &mut size)? {
            Some(b) => {
                held += b.len();
                head.push(b);
            }
            None => {
                let payload: PutPayload = head.into_iter().collect();
                store
                    .objects
                    .put(&path, payload)
                    .await
                    .map_err(|e| store.error(e))?;
                return Ok(Stored {
                    size,
                    sha256: hex(&hash.finalize()),
                });
            }
        }
    }
    let upload = store
        .objects
        .put_multipart(&path)
        .await
        .map_err(|e| store.error(e))?;
    let mut w = Unfinished::new(
        WriteMultipart::new_with_chunk_size(upload, store.part_bytes),
        store,
        key,
    );
    for b in head {
        w.put(b);
    }
    let streamed: Result<(), FileError> = async {
        loop {
            w.wait_for_capacity(PARTS_IN_FLIGHT)
                .await
                .map_err(|e| store.error(e))?;
            match next(body.next().await, &mut hash, &mut size)? {
                Some(b) => w.put(b),
                None => return Ok(()),
            }
        }
    }
    .await;
    if let Err(e) = streamed {
        w.abort().await;
        return Err(e);
    }
    w.finish().await.map_err(|e| store.error(e))?;
    Ok(Stored {
        size,
        sha256: hex(&hash.finalize()),
    })
}

/// A multipart upload that is aborted unless it is finished, also when it
/// is dropped half-way (the abort then runs as a task of its own).
struct Unfinished {
    upload: Option<WriteMultipart>,
    store: String,
    key: String,
}

impl Unfinished {
    fn new(upload: WriteMultipart, store: &Store, key: &str) -> Self {
        Unfinished {
            upload: Some(upload),
            store: store.name.clone(),
            key: key.to_owned(),
        }
    }

    fn put(&mut self, b: Bytes) {
        if let Some(w) = &mut self.upload {
            w.put(b);
        }
    }

    async fn wait_for_capacity(&mut self, parts: usize) -> object_store::Result<()> {
        match &mut self.upload {
            Some(w) => w.wait_for_capacity(parts).await,
            None => Ok(()),
        }
    }

    async fn finish(mut self) -> object_store::Result<()> {
        match self.upload.take() {
            Some(w) => w.finish().await.map(|_| ()),
            None => Ok(()),
        }
    }

    async fn abort(mut self) {
        if let Some(w) = self.upload.take()
            && let Err(e) = w.abort().await
        {
            tracing::warn!(store = %self.store, key = %self.key, error = %e, "aborting an upload failed");
        }
    }
}

impl Drop for Unfinished {
    fn drop(&mut self) {
        let Some(w) = self.upload.take() else { return };
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let (store, key) = (
            std::mem::take(&mut self.store),
            std::mem::take(&mut self.key),
        );
        rt.spawn(async move {
            match w.abort().await {
                Ok(()) => tracing::info!(store = %store, key = %key, "an upload whose request ended was aborted"),
                Err(e) => tracing::warn!(store = %store, key = %key, error = %e, "aborting an upload whose request ended failed"),
            }
        });
    }
}

/// Lowercase hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::objects::{FileStores, FilesConfig};

    fn chunks(total: usize, chunk: usize) -> impl Stream<Item = Result<Bytes, String>> + Unpin {
        let mut sent = 0;
        futures::stream::iter(std::iter::from_fn(move || {
            if sent >= total {
                return None;
            }
            let n = chunk.min(total - sent);
            let b: Vec<u8> = (sent..sent + n).map(|i| (i % 251) as u8).collect();
            sent += n;
            Some(Ok(Bytes::from(b)))
        }))
    }

    fn expected(total: usize) -> String {
        let b: Vec<u8> = (0..total).map(|i| (i % 251) as u8).collect();
        hex(&Sha256::digest(&b))
    }

    #[tokio::test]
    async fn small_and_multipart_uploads_hash_what_they_store() {
        let dir = tempfile::tempdir().unwrap();
        let (stores, _) = FileStores::open(&FilesConfig::default(), dir.path()).unwrap();
        let store = stores.for_plan(fsa_core::Plan::Free);
        let part = store.part_bytes;
        for total in [0, 10, part, part * 2 + 17] {
            let key = format!("tenants/t/{total}");
            let s = put_stream(store, &key, chunks(total, 64 * 1024), u64::MAX)
                .await
                .unwrap();
            assert_eq!(s.size, total as u64);
            assert_eq!(s.sha256, expected(total));
            let back = store.get(&key, None).await.unwrap().bytes().await.unwrap();
            assert_eq!(hex(&Sha256::digest(&back)), s.sha256);
        }
    }

    #[tokio::test]
    async fn too_large_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let (stores, _) = FileStores::open(&FilesConfig::default(), dir.path()).unwrap();
        let store = stores.for_plan(fsa_core::Plan::Free);
        for total in [1000, store.part_bytes * 3] {
            let max = total as u64 - 1;
            let e = put_stream(store, "tenants/t/big", chunks(total, 4096), max)
                .await
                .unwrap_err();
            assert!(matches!(e, FileError::TooLarge { .. }), "{e}");
            assert!(matches!(
                store.head("tenants/t/big").await,
                Err(FileError::Missing)
            ));
        }
    }
}
