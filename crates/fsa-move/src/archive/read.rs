//! Reading a backup back: its manifest, every part checked against its
//! size and SHA-256, and each table's rows counted and summed against the
//! manifest. A flipped byte or a missing part is [`ArchiveError::Damaged`],
//! found before anything is written anywhere.

use std::io::Write;

use bytes::Bytes;
use flate2::write::GzDecoder;
use fsa_store::objects::{FileError, Store};
use futures::StreamExt;
use sha2::Digest;
use uuid::Uuid;

use super::ArchiveError;
use super::crypt::{Cipher, Opener};
use super::manifest::{self, FORMAT, MANIFEST, Manifest, Part};

/// A manifest larger than this is not one of ours.
const MAX_MANIFEST: u64 = 64 * 1024 * 1024;

/// Backup `id`'s manifest; `None` when it has none (never finished).
pub async fn manifest(store: &Store, id: Uuid) -> Result<Option<Manifest>, ArchiveError> {
    let got = match store.get(&manifest::key(id, MANIFEST), None).await {
        Ok(g) => g,
        Err(FileError::Missing) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let mut body = fsa_store::objects::read::body(got);
    let mut text = Vec::new();
    while let Some(chunk) = body.next().await {
        text.extend_from_slice(&chunk?);
        if text.len() as u64 > MAX_MANIFEST {
            return Err(ArchiveError::Damaged("the manifest is too large".into()));
        }
    }
    let m: Manifest = serde_json::from_slice(&text)
        .map_err(|e| ArchiveError::Damaged(format!("the manifest does not parse: {e}")))?;
    if m.format != FORMAT {
        return Err(ArchiveError::Format(format!(
            "format {} is not {FORMAT}, the one this fsa reads",
            m.format
        )));
    }
    if m.id != id {
        return Err(ArchiveError::Damaged(format!(
            "the manifest in {id}'s folder names backup {}",
            m.id
        )));
    }
    Ok(Some(m))
}

/// A part's bytes as they stream; a missing part is damage.
async fn open_part(
    store: &Store,
    id: Uuid,
    path: &str,
) -> Result<futures::stream::BoxStream<'static, Result<Bytes, std::io::Error>>, ArchiveError> {
    match store.get(&manifest::key(id, path), None).await {
        Ok(got) => Ok(fsa_store::objects::read::body(got)),
        Err(FileError::Missing) => Err(ArchiveError::Damaged(format!("part {path} is missing"))),
        Err(e) => Err(e.into()),
    }
}

/// Reads a part to its end, checking its size and SHA-256, and hands each
/// chunk as stored to `each`.
async fn read_part(
    store: &Store,
    id: Uuid,
    part: &Part,
    mut each: impl FnMut(&[u8]) -> Result<(), ArchiveError>,
) -> Result<(), ArchiveError> {
    let mut body = open_part(store, id, &part.path).await?;
    let mut hash = sha2::Sha256::new();
    let mut size = 0u64;
    while let Some(chunk) = body.next().await {
        let chunk: Bytes = chunk?;
        size += chunk.len() as u64;
        if size > part.bytes {
            break;
        }
        hash.update(&chunk);
        each(&chunk)?;
    }
    let sha256 = fsa_store::objects::put::hex(&hash.finalize());
    if size != part.bytes || sha256 != part.sha256 {
        return Err(ArchiveError::Damaged(format!(
            "part {} has {size} bytes with SHA-256 {sha256}; the manifest says {} bytes, {}",
            part.path, part.bytes, part.sha256
        )));
    }
    Ok(())
}

/// A table's rows read back from a backup, a batch at a time, the part's
/// size and SHA-256 checked at its end and the rows' count and checksum
/// kept as they pass.
pub struct RowReader {
    table: String,
    part: Part,
    body: futures::stream::BoxStream<'static, Result<Bytes, std::io::Error>>,
    gz: Option<GzDecoder<Vec<u8>>>,
    opener: Option<Opener>,
    hash: sha2::Sha256,
    size: u64,
    rest: Vec<u8>,
    rows: u64,
    sum: u64,
}

impl RowReader {
    /// Opens table `table`'s part of backup `m` (with its key, when it is
    /// encrypted).
    pub async fn open(
        store: &Store,
        m: &Manifest,
        table: &str,
        cipher: Option<&Cipher>,
    ) -> Result<Self, ArchiveError> {
        let cipher = super::key_for(m, cipher)?;
        let part = m
            .rows_part(table)
            .ok_or_else(|| ArchiveError::Damaged(format!("the manifest has no part for {table}")))?
            .clone();
        let body = open_part(store, m.id, &part.path).await?;
        let opener = cipher.map(|c| c.opener(&part.path));
        Ok(RowReader {
            table: table.to_owned(),
            part,
            body,
            opener,
            gz: Some(GzDecoder::new(Vec::new())),
            hash: sha2::Sha256::new(),
            size: 0,
            rest: Vec::new(),
            rows: 0,
            sum: 0,
        })
    }

    /// The next rows, up to `batch`, as read; an empty batch at the end,
    /// once the part was checked whole.
    pub async fn next(&mut self, batch: usize) -> Result<Vec<serde_json::Value>, ArchiveError> {
        let mut out = Vec::new();
        loop {
            self.take_lines(&mut out, batch)?;
            if out.len() >= batch || self.gz.is_none() {
                return Ok(out);
            }
            match self.body.next().await {
                Some(chunk) => {
                    let chunk = chunk?;
                    self.size += chunk.len() as u64;
                    if self.size > self.part.bytes {
                        return Err(self.damaged());
                    }
                    self.hash.update(&chunk);
                    let plain = match &mut self.opener {
                        Some(o) => Bytes::from(o.push(&chunk)?),
                        None => chunk,
                    };
                    if let Some(d) = &mut self.gz {
                        let written = d.write_all(&plain);
                        let got = std::mem::take(d.get_mut());
                        written.map_err(|e| self.undecodable(e))?;
                        self.rest.extend_from_slice(&got);
                    }
                }
                None => {
                    let sha256 = fsa_store::objects::put::hex(&self.hash.clone().finalize());
                    if self.size != self.part.bytes || sha256 != self.part.sha256 {
                        return Err(self.damaged());
                    }
                    if let Some(mut d) = self.gz.take() {
                        if let Some(o) = self.opener.take() {
                            let last = o.finish()?;
                            d.write_all(&last).map_err(|e| self.undecodable(e))?;
                        }
                        let tail = d.finish().map_err(|e| self.undecodable(e))?;
                        self.rest.extend_from_slice(&tail);
                    }
                    self.take_lines(&mut out, usize::MAX)?;
                    if !self.rest.is_empty() {
                        return Err(ArchiveError::Damaged(format!(
                            "part {} ends inside a row",
                            self.part.path
                        )));
                    }
                    return Ok(out);
                }
            }
        }
    }

    /// Rows read so far and their checksum (the manifest's figures once the
    /// reader is at its end).
    pub fn figures(&self) -> (u64, String) {
        (self.rows, format!("{:016x}", self.sum))
    }

    fn take_lines(
        &mut self,
        out: &mut Vec<serde_json::Value>,
        batch: usize,
    ) -> Result<(), ArchiveError> {
        let mut start = 0;
        while out.len() < batch {
            let Some(n) = self.rest[start..].iter().position(|b| *b == b'\n') else {
                break;
            };
            let line = &self.rest[start..start + n];
            let table = &self.table;
            let v: serde_json::Value = serde_json::from_slice(line).map_err(|e| {
                ArchiveError::Damaged(format!("a row of {table} does not parse: {e}"))
            })?;
            self.rows += 1;
            self.sum = self.sum.wrapping_add(crate::rows::digest_value(&v));
            out.push(v);
            start += n + 1;
        }
        self.rest.drain(..start);
        Ok(())
    }

    fn damaged(&self) -> ArchiveError {
        ArchiveError::Damaged(format!(
            "part {} is not as the manifest says ({} bytes, SHA-256 {})",
            self.part.path, self.part.bytes, self.part.sha256
        ))
    }

    fn undecodable(&self, e: std::io::Error) -> ArchiveError {
        ArchiveError::Damaged(format!("part {} does not decompress: {e}", self.part.path))
    }
}

/// What `verify` found: every part intact and every table's figures equal
/// to the manifest's.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Verified {
    pub parts: usize,
    pub bytes: u64,
    pub rows: u64,
}

/// Re-reads every part of backup `m` and checks it against the manifest:
/// sizes, SHA-256s, and per table the row count and checksum.
pub async fn verify(
    store: &Store,
    m: &Manifest,
    cipher: Option<&Cipher>,
) -> Result<Verified, ArchiveError> {
    let cipher = super::key_for(m, cipher)?;
    let mut out = Verified {
        parts: 0,
        bytes: 0,
        rows: 0,
    };
    for (table, sum) in &m.tables {
        let mut r = RowReader::open(store, m, table, cipher).await?;
        while !r.next(4096).await?.is_empty() {}
        let (n, checksum) = r.figures();
        if n != sum.rows || checksum != sum.checksum {
            return Err(ArchiveError::Damaged(format!(
                "{table}: {n} rows with checksum {checksum}; the manifest says {} rows, {}",
                sum.rows, sum.checksum
            )));
        }
        out.rows += n;
    }
    for part in &m.parts {
        if part.table.is_none() {
            match cipher {
                None => read_part(store, m.id, part, |_| Ok(())).await?,
                Some(c) => {
                    // Opened whole: its chunks authenticate, and its
                    // plaintext is the object its path names.
                    let mut opener = c.opener(&part.path);
                    let mut hash = sha2::Sha256::new();
                    read_part(store, m.id, part, |chunk| {
                        hash.update(opener.push(chunk)?);
                        Ok(())
                    })
                    .await?;
                    hash.update(opener.finish()?);
                    let sha256 = fsa_store::objects::put::hex(&hash.finalize());
                    if part.path != manifest::object_path(&sha256) {
                        return Err(ArchiveError::Damaged(format!(
                            "part {} holds an object with SHA-256 {sha256}",
                            part.path
                        )));
                    }
                }
            }
        }
        out.parts += 1;
        out.bytes += part.bytes;
    }
    Ok(out)
}

/// Copies file object `sha256` of backup `m` to `key` in `to`, streamed,
/// and checks what arrived against the manifest.
pub async fn copy_object(
    store: &Store,
    m: &Manifest,
    cipher: Option<&Cipher>,
    sha256: &str,
    to: &Store,
    key: &str,
) -> Result<(), ArchiveError> {
    let cipher = super::key_for(m, cipher)?;
    let path = manifest::object_path(sha256);
    let part = m
        .parts
        .iter()
        .find(|p| p.path == path)
        .ok_or_else(|| ArchiveError::Damaged(format!("the manifest has no object {sha256}")))?;
    let mut body = open_part(store, m.id, &path).await?;
    let Some(c) = cipher else {
        let stored = fsa_store::objects::put_stream(to, key, body, part.bytes).await?;
        if stored.sha256 != part.sha256 || stored.size != part.bytes {
            let _ = to.delete(key).await;
            return Err(ArchiveError::Damaged(format!(
                "part {path} has {} bytes with SHA-256 {}; the manifest says {} bytes, {}",
                stored.size, stored.sha256, part.bytes, part.sha256
            )));
        }
        return Ok(());
    };
    // Sealed: opened as it streams; the plaintext must be the object the
    // path names (every chunk authenticated, the last one included).
    use futures::SinkExt;
    let mut opener = c.opener(&path);
    let (mut tx, rx) = futures::channel::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    let produce = async move {
        while let Some(chunk) = body.next().await {
            let plain = opener.push(&chunk?)?;
            if !plain.is_empty() && tx.send(Ok(Bytes::from(plain))).await.is_err() {
                return Ok(());
            }
        }
        let last = opener.finish()?;
        let _ = tx.send(Ok(Bytes::from(last))).await;
        Ok::<_, ArchiveError>(())
    };
    let consume = fsa_store::objects::put_stream(to, key, rx, u64::MAX);
    let (opened, stored) = futures::join!(produce, consume);
    let checked = opened.and_then(|()| {
        let stored = stored?;
        if stored.sha256 == sha256 {
            Ok(())
        } else {
            Err(ArchiveError::Damaged(format!(
                "part {path} opens to an object with SHA-256 {}",
                stored.sha256
            )))
        }
    });
    if checked.is_err() {
        let _ = to.delete(key).await;
    }
    checked
}
