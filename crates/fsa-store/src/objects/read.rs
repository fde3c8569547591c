//! An object's bytes as a stream, read in large pieces.
//!
//! An S3 store's are its response body. A local file is read here
//! [`FILE_CHUNK`] bytes at a time (one blocking task each), not through
//! `GetResult::into_stream`, which reads 8 KiB per blocking task: a 1 GiB
//! download was 131,072 tasks and as many body frames, and ran at a fifth
//! of the speed of a plain read of the file. Downloads, a move's copies and
//! its read-backs all read this way.

use bytes::Bytes;
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use object_store::GetResultPayload;

/// Bytes read from a local file per chunk.
pub const FILE_CHUNK: u64 = 256 * 1024;

/// The bytes of a read, as a stream (see the module's note).
pub fn body(got: object_store::GetResult) -> BoxStream<'static, Result<Bytes, std::io::Error>> {
    match got.payload {
        GetResultPayload::File(file, _) => file_chunks(file, got.range),
        GetResultPayload::Stream(s) => s.map_err(std::io::Error::other).boxed(),
    }
}

/// `range` of `file`, [`FILE_CHUNK`] bytes at a time. A file shorter than
/// the range (changed underneath) ends the stream with an error, so the
/// response is cut short rather than padded.
pub fn file_chunks(
    file: std::fs::File,
    range: std::ops::Range<u64>,
) -> BoxStream<'static, Result<Bytes, std::io::Error>> {
    use std::io::{Read, Seek, SeekFrom};
    let state = (file, range.start, range.end, false);
    futures::stream::try_unfold(state, |(mut file, pos, end, positioned)| async move {
        if pos >= end {
            return Ok(None);
        }
        let n = (end - pos).min(FILE_CHUNK);
        let (file, buf) = tokio::task::spawn_blocking(move || {
            if !positioned {
                file.seek(SeekFrom::Start(pos))?;
            }
            let mut buf = Vec::with_capacity(n as usize);
            (&mut file).take(n).read_to_end(&mut buf)?;
            if (buf.len() as u64) < n {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "the file is shorter than its recorded size",
                ));
            }
            Ok((file, buf))
        })
        .await
        .map_err(std::io::Error::other)??;
        Ok(Some((Bytes::from(buf), (file, pos + n, end, true))))
    })
    .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn local_files_are_read_in_large_chunks_within_their_range() {
        use std::io::Write;
        let len = FILE_CHUNK as usize * 2 + 1000;
        let bytes: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(&bytes).unwrap();
        for range in [
            0..len as u64,
            10..len as u64 - 10,
            5..6,
            FILE_CHUNK - 1..FILE_CHUNK + 1,
        ] {
            let chunks: Vec<Bytes> = file_chunks(f.try_clone().unwrap(), range.clone())
                .try_collect()
                .await
                .unwrap();
            assert!(chunks.iter().all(|c| c.len() as u64 <= FILE_CHUNK));
            assert_eq!(
                chunks.len() as u64,
                (range.end - range.start).div_ceil(FILE_CHUNK)
            );
            assert_eq!(
                chunks.concat(),
                &bytes[range.start as usize..range.end as usize]
            );
        }
        // A file shorter than the range asked for is an error, not padding.
        let r: Result<Vec<Bytes>, _> = file_chunks(f, 0..len as u64 + 1).try_collect().await;
        assert_eq!(r.unwrap_err().kind(), std::io::ErrorKind::UnexpectedEof);
    }
}
