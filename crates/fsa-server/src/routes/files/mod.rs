//! `/api/v1/work-orders/{id}/files` and `/api/v1/files/{id}`: files of work
//! orders, kept in the file store of the tenant's plan.
//!
//! An upload is streamed to the store while its SHA-256 is computed, then
//! its row commits in a write transaction that checks the plan's
//! `file_bytes` under the tenant's lock (as every limit is checked), so a
//! burst of uploads cannot overrun it; an upload refused there, or failing
//! after its object was stored, deletes the object. A crash in between
//! leaves an object without a row, which `fsa files gc` collects.
//!
//! Who may: uploading follows the work-order updates (a technician on the
//! orders assigned to them), deleting the work-order deletes (dispatchers
//! and admins); reading follows the work-order reads.

use axum::Json;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use fsa_app::data::{NewUpload, UploadTarget};
use fsa_app::files::{Store, upload};
use fsa_store::page::Page;
use fsa_store::repo::files::FileMeta;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::auth::Caller;
use crate::dto::PageQuery;
use crate::error::{ApiError, problem};
use crate::extract::{ApiPath, ApiQuery};
use crate::state::AppState;

mod form;

use form::{Form, multipart_error};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        // An upload is bounded by `files.max_file_bytes` as it streams, and
        // its framing by the form reader, not by the body limit of JSON
        // requests.
        .layer(DefaultBodyLimit::disable())
        .merge(
            OpenApiRouter::new()
                .routes(routes!(get, delete))
                .routes(routes!(content)),
        )
}

/// The multipart form of an upload. (Derived for its schema, which, as
/// JSON bodies do, refuses parts it does not name; never deserialized.)
#[derive(ToSchema, serde::Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct FileUpload {
    /// The file; its file name and content type are kept.
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
    /// What the file is (`photo`, `report`, …); default `attachment`.
    #[schema(max_length = 100)]
    file_type: Option<String>,
}

/// The `file_type` of an upload that names none.
const DEFAULT_FILE_TYPE: &str = "attachment";
/// Bytes of a text part.
const MAX_TEXT_PART: usize = 1024;
/// What a form may add to its file: boundaries, part headers, `file_type`.
const FORM_OVERHEAD: u64 = 64 * 1024;

/// Lists a work order's files, oldest first.
#[utoipa::path(get, path = "/api/v1/work-orders/{id}/files", tag = "files", params(("id" = Uuid, Path), PageQuery), security(("bearer" = [])),
    responses((status = 200, body = inline(Page<FileMeta>)), (status = 404)))]
async fn list(
    State(app): State<AppState>,
    caller: Caller,
    ApiPath(wo): ApiPath<Uuid>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> Result<Json<Page<FileMeta>>, ApiError> {
    let after = super::id_cursor(q.cursor.as_deref())?;
    let limit = super::limit(q.limit)?;
    Ok(Json(app.app.data(&caller).files(wo, after, limit).await?))
}

/// Uploads a file to a work order (`multipart/form-data`: part `file`, and
/// optionally `file_type`).
#[utoipa::path(post, path = "/api/v1/work-orders/{id}/files", tag = "files", params(("id" = Uuid, Path)),
    request_body(content = FileUpload, content_type = "multipart/form-data"), security(("bearer" = [])),
    responses((status = 201, body = FileMeta), (status = 404),
        (status = 400, description = "`invalid_multipart`: the body is not a readable multipart form"),
        (status = 403, description = "`plan_limit_reached`: the plan's `file_bytes` would be exceeded"),
        (status = 413, description = "`file_too_large`: the file is over `files.max_file_bytes`"),
        (status = 415, description = "`unsupported_media_type`: the body is not multipart/form-data"),
        (status = 422, description = "`validation_failed`: no `file` part, two of them, a part of another name, or a bad `file_type`"),
        (status = 503, description = "`store_unavailable`: the file store does not answer")))]
async fn create(
    State(app): State<AppState>,
    caller: Caller,
    ApiPath(wo): ApiPath<Uuid>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<FileMeta>), ApiError> {
    let target = app.app.data(&caller).begin_upload(wo).await?;
    // A body that says it is larger than any accepted file and its form is
    // refused before it is read; one that does not say is counted as it
    // streams.
    let max = app.app.files().max_file_bytes;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max.saturating_add(FORM_OVERHEAD)) {
        return Err(ApiError::FileTooLarge { limit: max });
    }
    let mut form = Form::new(&headers, body, max)?;
    // The upload runs to its end (stored and committed, or refused and its
    // object deleted) even when its client goes away meanwhile: a request
    // dropped half-way would leave an object no row names, or an S3
    // multipart upload neither completed nor aborted.
    let task =
        tokio::spawn(async move { store_file(&app, &caller, &target, &mut form, max).await });
    let meta = task.await.map_err(|e| ApiError::Internal(e.into()))??;
    Ok((StatusCode::CREATED, Json(meta)))
}

/// Streams the form's file to the plan's store, then commits its row under
/// the plan's `file_bytes`; the object is deleted if the row does not
/// commit.
async fn store_file(
    app: &AppState,
    caller: &Caller,
    target: &UploadTarget,
    form: &mut Form,
    max: u64,
) -> Result<FileMeta, ApiError> {
    let mut upload = Upload {
        store: app.app.files().for_plan(caller.plan),
        key: target.key(),
        stored: None,
    };
    let read = upload.read(form, max).await;
    let committed = async {
        let up = read?;
        Ok(app.app.data(caller).commit_upload(target, up).await?)
    }
    .await;
    if committed.is_err() {
        upload.discard().await;
    }
    committed
}

/// An upload in progress: what it stored, to be deleted if it fails.
struct Upload<'a> {
    store: &'a Store,
    key: &'a str,
    stored: Option<upload::Stored>,
}

impl Upload<'_> {
    /// Reads the form, streaming its `file` part to the store.
    async fn read(&mut self, form: &mut Form, max: u64) -> Result<NewUpload, ApiError> {
        let mut file_type: Option<String> = None;
        let mut file: Option<(String, String)> = None;
        while let Some(field) = form.next().await? {
            match field.name() {
                Some("file") => {
                    if file.is_some() {
                        return Err(ApiError::validation("file", "send one file per upload"));
                    }
                    let name = clean_name(field.file_name().unwrap_or_default());
                    let content_type = field
                        .content_type()
                        .map(|t| t.as_ref())
                        .filter(|t| valid_content_type(t))
                        .unwrap_or("application/octet-stream")
                        .to_owned();
                    let stored = upload::put_stream(self.store, self.key, field, max).await?;
                    self.stored = Some(stored);
                    file = Some((name, content_type));
                }
                Some("file_type") => file_type = Some(text_part(field, "file_type").await?),
                other => {
                    let name: String = other.unwrap_or_default().chars().take(100).collect();
                    return Err(ApiError::validation(
                        name.clone(),
                        format!("unknown part {name:?}: an upload has `file` and `file_type`"),
                    ));
                }
            }
        }
        let (Some((name, content_type)), Some(stored)) = (file, self.stored.clone()) else {
            return Err(ApiError::validation(
                "file",
                "the form has no part named `file`",
            ));
        };
        Ok(NewUpload {
            file_type: clean_file_type(file_type)?,
            stored,
            file_name: name,
            content_type,
        })
    }

    /// Deletes what was stored; a failure leaves an orphan for the collector.
    async fn discard(&mut self) {
        if self.stored.take().is_some()
            && let Err(e) = self.store.delete(self.key).await
        {
            tracing::warn!(store = %self.store.name, key = self.key, error = %e, "deleting a refused upload's object failed; the files gc will");
        }
    }
}

/// A small text part, read up to [`MAX_TEXT_PART`] bytes.
async fn text_part(mut field: multer::Field<'_>, name: &str) -> Result<String, ApiError> {
    let mut buf = Vec::new();
    while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
        if buf.len() + chunk.len() > MAX_TEXT_PART {
            return Err(ApiError::validation(
                name,
                format!("{name} is at most {MAX_TEXT_PART} bytes"),
            ));
        }
        buf.extend_from_slice(&chunk);
    }
    String::from_utf8(buf).map_err(|_| ApiError::validation(name, format!("{name} is not UTF-8")))
}

/// A `file_type`: control characters dropped, trimmed, at most 100
/// characters; `attachment` when absent or blank.
fn clean_file_type(t: Option<String>) -> Result<String, ApiError> {
    let t: String = t
        .unwrap_or_default()
        .chars()
        .filter(|c| !c.is_control())
        .collect();
    let t = t.trim();
    if t.chars().count() > 100 {
        return Err(ApiError::validation(
            "file_type",
            "file_type is at most 100 characters",
        ));
    }
    Ok(if t.is_empty() {
        DEFAULT_FILE_TYPE.to_owned()
    } else {
        t.to_owned()
    })
}

/// Whether `c` is a control, format or separator character: the C0/C1
/// controls, the bidirectional overrides and isolates (a name such as
/// `invoice\u{202E}fdp.exe` shows as `invoiceexe.pdf`), zero-width and other
/// invisible format characters, and the line and paragraph separators.
fn is_hidden(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{00AD}' | '\u{061C}' | '\u{06DD}' | '\u{070F}' | '\u{180E}'
            | '\u{200B}'..='\u{200F}' | '\u{2028}'..='\u{202E}' | '\u{2060}'..='\u{206F}'
            | '\u{0600}'..='\u{0605}' | '\u{FEFF}' | '\u{FFF9}'..='\u{FFFB}')
}

/// The file name as kept: control, bidirectional and invisible characters
/// dropped, at most 255 characters; `file` when none is left. (It is data
/// only: the object key never holds it, and a download's
/// Content-Disposition is made safe.)
fn clean_name(name: &str) -> String {
    let n: String = name.chars().filter(|c| !is_hidden(*c)).take(255).collect();
    let n = n.trim();
    if n.is_empty() {
        "file".to_owned()
    } else {
        n.to_owned()
    }
}

/// A content type that can be sent back as a header: `type/subtype` and
/// parameters, visible ASCII.
fn valid_content_type(t: &str) -> bool {
    t.len() <= 255
        && t.split(';').next().is_some_and(|m| {
            m.trim()
                .split_once('/')
                .is_some_and(|(a, b)| !a.is_empty() && !b.trim().is_empty())
        })
        && t.bytes().all(|b| (0x20..0x7f).contains(&b))
        && HeaderValue::from_str(t).is_ok()
}

#[utoipa::path(get, path = "/api/v1/files/{id}", tag = "files", params(("id" = Uuid, Path)), security(("bearer" = [])),
    responses((status = 200, body = FileMeta), (status = 404)))]
async fn get(
    State(app): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<FileMeta>, ApiError> {
    Ok(Json(app.app.data(&caller).file(id).await?))
}

/// Deletes a file: its row, then its object.
#[utoipa::path(delete, path = "/api/v1/files/{id}", tag = "files", params(("id" = Uuid, Path)), security(("bearer" = [])),
    responses((status = 204), (status = 404)))]
async fn delete(
    State(app): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<StatusCode, ApiError> {
    app.app.data(&caller).delete_file(id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A file's bytes, with `Range` (one range: 206, or 416 when it is past the
/// end). HEAD answers the same headers without the bytes.
#[utoipa::path(get, path = "/api/v1/files/{id}/content", tag = "files", params(("id" = Uuid, Path),
        ("Range" = Option<String>, Header, description = "One byte range, `bytes=first-last`, `bytes=first-` or `bytes=-suffix`")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The file's bytes, with its Content-Type, an ETag (its SHA-256) and Content-Disposition: attachment",
            content_type = "application/octet-stream", body = Vec<u8>),
        (status = 206, description = "The range asked for, with Content-Range", content_type = "application/octet-stream", body = Vec<u8>),
        (status = 404),
        (status = 416, description = "`range_not_satisfiable`: the range starts past the end; Content-Range gives the size"),
        (status = 503, description = "`store_unavailable`: the file store does not answer")))]
async fn content(
    State(app): State<AppState>,
    caller: Caller,
    method: Method,
    headers: HeaderMap,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Response, ApiError> {
    let f = app.app.data(&caller).file(id).await?;
    let size = u64::try_from(f.size_bytes).unwrap_or(0);
    let range = match parse_range(headers.get(header::RANGE), size) {
        Ok(r) => r,
        Err(Unsatisfiable) => {
            let mut res = problem(
                StatusCode::RANGE_NOT_SATISFIABLE,
                "range_not_satisfiable",
                "the range starts past the end of the file",
            );
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{size}")) {
                res.headers_mut().insert(header::CONTENT_RANGE, v);
            }
            return Ok(res);
        }
    };
    let stores = app.app.files();
    let (status, length) = match &range {
        Some(r) => (StatusCode::PARTIAL_CONTENT, r.end - r.start),
        None => (StatusCode::OK, size),
    };
    let body = if method == Method::HEAD {
        stores.locate(caller.plan, &f.storage_key).await?;
        Body::empty()
    } else {
        let got = stores
            .read(caller.plan, &f.storage_key, range.clone())
            .await?;
        Body::from_stream(fsa_app::files::body(got))
    };
    let mut res = (status, body).into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(&f.content_type)
            .unwrap_or(HeaderValue::from_static("application/octet-stream")),
    );
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    if let Ok(v) = HeaderValue::from_str(&format!("\"{}\"", f.sha256)) {
        h.insert(header::ETAG, v);
    }
    if let Ok(v) = HeaderValue::from_str(&content_disposition(&f.file_name)) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    // The bytes are a user's: never sniffed into another type, and, should
    // a browser render them (an HTML or SVG upload opened in a tab), run in
    // a sandbox without scripts, forms or the service's origin.
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("sandbox; default-src 'none'"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("private"));
    if let Some(r) = &range
        && let Ok(v) = HeaderValue::from_str(&format!("bytes {}-{}/{size}", r.start, r.end - 1))
    {
        h.insert(header::CONTENT_RANGE, v);
    }
    Ok(res)
}

/// A range that starts past the end of the file.
#[derive(Debug, PartialEq, Eq)]
struct Unsatisfiable;

/// The byte range a `Range` header asks for, as a half-open range within
/// `size`. `None` (the whole file) for no header, or one this does not
/// serve (several ranges, another unit, a malformed one): RFC 9110 lets a
/// server ignore those.
fn parse_range(
    h: Option<&HeaderValue>,
    size: u64,
) -> Result<Option<std::ops::Range<u64>>, Unsatisfiable> {
    let Some(spec) = h
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().strip_prefix("bytes="))
    else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None);
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return Ok(None);
    };
    let num = |s: &str| -> Option<u64> {
        let s = s.trim();
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            None
        } else {
            s.parse().ok()
        }
    };
    match (first.trim().is_empty(), last.trim().is_empty()) {
        // bytes=-n: the last n bytes.
        (true, false) => {
            let Some(n) = num(last) else { return Ok(None) };
            if n == 0 || size == 0 {
                return Err(Unsatisfiable);
            }
            Ok(Some(size.saturating_sub(n)..size))
        }
        // bytes=a-: from a to the end.
        (false, true) => {
            let Some(a) = num(first) else { return Ok(None) };
            if a >= size {
                return Err(Unsatisfiable);
            }
            Ok(Some(a..size))
        }
        (false, false) => {
            let (Some(a), Some(b)) = (num(first), num(last)) else {
                return Ok(None);
            };
            if b < a {
                return Ok(None);
            }
            if a >= size {
                return Err(Unsatisfiable);
            }
            Ok(Some(a..b.min(size - 1) + 1))
        }
        (true, true) => Ok(None),
    }
}

/// What RFC 5987's `attr-char` leaves unencoded in `filename*`: letters,
/// digits and ``!#$&+-.^_`|~``.
const ATTR_CHAR: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'!')
    .remove(b'#')
    .remove(b'$')
    .remove(b'&')
    .remove(b'+')
    .remove(b'-')
    .remove(b'.')
    .remove(b'^')
    .remove(b'_')
    .remove(b'`')
    .remove(b'|')
    .remove(b'~');

/// `attachment` with the file name made safe: no control characters,
/// quotes, backslashes or path separators, no leading dots; an ASCII
/// `filename` and the UTF-8 one as RFC 6266's `filename*`.
fn content_disposition(name: &str) -> String {
    let safe: String = name
        .chars()
        .filter(|c| {
            !is_hidden(*c) && !matches!(c, '"' | '\\' | '/' | ':' | '*' | '?' | '<' | '>' | '|')
        })
        .collect();
    let safe = safe.trim().trim_start_matches('.').trim();
    let safe = if safe.is_empty() { "file" } else { safe };
    let ascii: String = safe
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '%' && c != ';' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let encoded = percent_encoding::utf8_percent_encode(safe, ATTR_CHAR);
    format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(v: &str, size: u64) -> Result<Option<std::ops::Range<u64>>, Unsatisfiable> {
        parse_range(Some(&HeaderValue::from_str(v).unwrap()), size)
    }

    #[test]
    fn ranges() {
        assert_eq!(range("bytes=0-9", 100), Ok(Some(0..10)));
        assert_eq!(range("bytes=90-200", 100), Ok(Some(90..100)));
        assert_eq!(range("bytes=10-", 100), Ok(Some(10..100)));
        assert_eq!(range("bytes=-10", 100), Ok(Some(90..100)));
        assert_eq!(range("bytes=-200", 100), Ok(Some(0..100)));
        assert_eq!(range("bytes=100-", 100), Err(Unsatisfiable));
        assert_eq!(range("bytes=100-200", 100), Err(Unsatisfiable));
        assert_eq!(range("bytes=-0", 100), Err(Unsatisfiable));
        assert_eq!(range("bytes=0-", 0), Err(Unsatisfiable));
        assert_eq!(range("bytes=5-1", 100), Ok(None));
        assert_eq!(range("bytes=0-1,5-6", 100), Ok(None));
        assert_eq!(range("items=0-1", 100), Ok(None));
        assert_eq!(range("bytes=x-1", 100), Ok(None));
        assert_eq!(range("bytes=+1-2", 100), Ok(None));
        assert_eq!(parse_range(None, 100), Ok(None));
    }

    #[test]
    fn hostile_names_are_made_safe() {
        let d = content_disposition("../../etc/passwd");
        assert_eq!(
            d,
            "attachment; filename=\"etcpasswd\"; filename*=UTF-8''etcpasswd"
        );
        let d = content_disposition("a\"b\r\nSet-Cookie: x=1.txt");
        assert!(!d.contains('\r') && !d.contains('\n'), "{d}");
        assert!(HeaderValue::from_str(&d).is_ok());
        assert!(
            d.starts_with("attachment; filename=\"abSet-Cookie x=1.txt\""),
            "{d}"
        );
        let d = content_disposition("invoice\u{202E}fdp.exe\u{200B}");
        assert!(d.contains("filename*=UTF-8''invoicefdp.exe"), "{d}");
        assert_eq!(
            clean_name("a\u{2066}b\u{2069}c\u{FEFF}.txt\u{0007}"),
            "abc.txt"
        );
        assert_eq!(clean_name("\u{202E}\u{200F}"), "file");
        let d = content_disposition("résumé 1.pdf");
        assert!(d.contains("filename=\"r_sum_ 1.pdf\""), "{d}");
        assert!(
            d.contains("filename*=UTF-8''r%C3%A9sum%C3%A9%201.pdf"),
            "{d}"
        );
        assert_eq!(
            content_disposition("\"\"/"),
            "attachment; filename=\"file\"; filename*=UTF-8''file"
        );
    }

    #[test]
    fn content_types() {
        assert!(valid_content_type("image/png"));
        assert!(valid_content_type("text/plain; charset=utf-8"));
        assert!(!valid_content_type("nonsense"));
        assert!(!valid_content_type("a/b\r\nx: y"));
    }
}
