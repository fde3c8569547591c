//! An upload's `multipart/form-data` body, read in bounded memory whatever
//! the client sends.
//!
//! The parser (multer) holds everything it has read while it looks for the
//! end of a part's headers, so a part header that never ends would grow
//! without bound. Each wait for the next part is therefore given a budget of
//! body bytes ([`FRAMING_BYTES`]): the headers of a part, a preamble, the
//! rest of a small text part, and what the parser reads ahead with them. A
//! body that spends more is refused (400 `invalid_multipart`) and its
//! connection closed unread. The file part itself is streamed to the store
//! and bounded by `files.max_file_bytes` as it goes; the whole body by that
//! plus the framing of [`MAX_PARTS`] parts.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll};

use axum::body::Body;
use axum::http::{HeaderMap, StatusCode, header};
use bytes::Bytes;
use futures::Stream;

use crate::error::ApiError;

/// Parts an upload may have (the file and its type; more are refused).
pub const MAX_PARTS: usize = 16;

/// Body bytes one wait for the next part may read: a part's headers and
/// what the parser reads ahead with them (one read of the connection is at
/// most about 400 KiB).
pub const FRAMING_BYTES: u64 = 1024 * 1024;

/// A form being read: the parser, and the meter of its framing.
pub struct Form {
    parts: multer::Multipart<'static>,
    meter: Arc<Meter>,
    read: usize,
}

/// What the body stream counts while the parser looks for a part.
#[derive(Default)]
struct Meter {
    framing: AtomicBool,
    spent: AtomicU64,
}

/// The body as the parser reads it: metered while it looks for a part.
struct Metered {
    body: axum::body::BodyDataStream,
    meter: Arc<Meter>,
}

/// The parser's error for a body that spent its framing budget.
#[derive(Debug, thiserror::Error)]
#[error("a part's headers are over {FRAMING_BYTES} bytes")]
struct FramingTooLong;

impl Stream for Metered {
    type Item = Result<Bytes, Box<dyn std::error::Error + Send + Sync>>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        match Pin::new(&mut self.body).poll_next(cx) {
            Poll::Ready(Some(Ok(chunk))) => {
                if self.meter.framing.load(Ordering::Relaxed) {
                    let spent = self
                        .meter
                        .spent
                        .fetch_add(chunk.len() as u64, Ordering::Relaxed)
                        + chunk.len() as u64;
                    if spent > FRAMING_BYTES {
                        return Poll::Ready(Some(Err(Box::new(FramingTooLong))));
                    }
                }
                Poll::Ready(Some(Ok(chunk)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(Box::new(e)))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl Form {
    /// The form of a request whose file may be up to `max_file` bytes; 415
    /// `unsupported_media_type` when the body is not multipart/form-data.
    pub fn new(headers: &HeaderMap, body: Body, max_file: u64) -> Result<Form, ApiError> {
        let boundary = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| multer::parse_boundary(v).ok())
            .ok_or_else(|| ApiError::Status {
                status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
                code: "unsupported_media_type",
                detail: "send the file as multipart/form-data with a part named `file`".into(),
            })?;
        let meter = Arc::new(Meter::default());
        let whole = max_file.saturating_add(FRAMING_BYTES.saturating_mul(MAX_PARTS as u64 + 1));
        let limits =
            multer::Constraints::new().size_limit(multer::SizeLimit::new().whole_stream(whole));
        let stream = Metered {
            body: body.into_data_stream(),
            meter: meter.clone(),
        };
        Ok(Form {
            parts: multer::Multipart::with_constraints(stream, boundary, limits),
            meter,
            read: 0,
        })
    }

    /// The next part, or `None` at the end of the form. The part before it
    /// must have been read to its end (its bytes are not framing).
    pub async fn next(&mut self) -> Result<Option<multer::Field<'static>>, ApiError> {
        self.meter.spent.store(0, Ordering::Relaxed);
        self.meter.framing.store(true, Ordering::Relaxed);
        let next = self.parts.next_field().await;
        self.meter.framing.store(false, Ordering::Relaxed);
        let field = next.map_err(multipart_error)?;
        if field.is_some() {
            self.read += 1;
            if self.read > MAX_PARTS {
                return Err(ApiError::bad_request(
                    "invalid_multipart",
                    format!("an upload has at most {MAX_PARTS} parts"),
                ));
            }
        }
        Ok(field)
    }
}

/// 400 `invalid_multipart` naming what is wrong with the form, without the
/// body's bytes.
pub fn multipart_error(e: multer::Error) -> ApiError {
    let detail = match &e {
        multer::Error::StreamReadFailed(inner) if inner.is::<FramingTooLong>() => inner.to_string(),
        multer::Error::StreamReadFailed(_) => "the body could not be read to its end".into(),
        multer::Error::StreamSizeExceeded { limit } => {
            format!("the form is over {limit} bytes")
        }
        other => other.to_string(),
    };
    ApiError::bad_request("invalid_multipart", detail)
}
