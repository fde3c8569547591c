//! Extractors whose rejections are problem+json: a malformed body, a path id
//! that is not a UUID or a bad query string never reach a handler and never
//! produce axum's plain-text errors. And [`PageJson`], the response of the
//! hottest lists.

use axum::body::Bytes;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde::de::{DeserializeOwned, Deserializer, Visitor};

use crate::error::ApiError;
use crate::json::WriteJson;

/// The address of the client: the connection's peer, or the client a
/// trusted proxy names ([`crate::proxies`]); a forwarding header from anyone
/// else is not believed. The unspecified address when the service runs
/// without connection info (in-process tests).
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub std::net::IpAddr);

impl FromRequestParts<crate::state::AppState> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &crate::state::AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(ClientAddr(crate::auth::client_of(parts, state)))
    }
}

/// A JSON object body. Syntax errors are 400 `malformed_json`; wrong types,
/// missing or unknown fields, a NUL character in any text 422
/// `validation_failed`; a body over the limit 413; a missing
/// `Content-Type: application/json` 415.
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_json(req.headers()) {
            return Err(ApiError::Status {
                status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
                code: "unsupported_media_type",
                detail: "send the body as Content-Type: application/json".into(),
            });
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge
            } else {
                ApiError::bad_request("bad_body", e.body_text())
            }
        })?;
        let axum::Json(ObjectBody(v)) =
            axum::Json::<ObjectBody<T>>::from_bytes(&bytes).map_err(json_rejection)?;
        if has_nul(&bytes) {
            return Err(ApiError::Validation {
                detail: "text must not contain the NUL character (\\u0000)".into(),
                field: None,
            });
        }
        Ok(ApiJson(v))
    }
}

/// `application/json` or `application/<anything>+json`, as axum's `Json`.
fn is_json(headers: &axum::http::HeaderMap) -> bool {
    let Some(ct) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = ct.split(';').next().unwrap_or_default().trim();
    let Some((kind, sub)) = essence.split_once('/') else {
        return false;
    };
    kind.eq_ignore_ascii_case("application")
        && (sub.eq_ignore_ascii_case("json")
            || sub.len() > 5 && sub[sub.len() - 5..].eq_ignore_ascii_case("+json"))
}

/// Whether valid JSON text holds a NUL character: the escape `\u0000` whose
/// backslash is not itself escaped. No database column of the API takes one
/// (PostgreSQL's text and jsonb refuse it), on either engine.
fn has_nul(json: &[u8]) -> bool {
    let mut backslashes = 0usize;
    for (i, b) in json.iter().enumerate() {
        if *b == b'\\' {
            backslashes += 1;
            continue;
        }
        if backslashes % 2 == 1 && *b == b'u' && json[i..].starts_with(b"u0000") {
            return true;
        }
        backslashes = 0;
    }
    false
}

/// A body that is a JSON object. serde's derived structs also take an array
/// of their fields in order (`[null, "x"]`); the API's bodies are objects,
/// as the schema says, and anything else is refused.
struct ObjectBody<T>(T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for ObjectBody<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        T::deserialize(StructAsMap(d)).map(ObjectBody)
    }
}

/// Reads a struct from a map only.
struct StructAsMap<D>(D);

impl<'de, D: Deserializer<'de>> Deserializer<'de> for StructAsMap<D> {
    type Error = D::Error;

    fn deserialize_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value, D::Error> {
        self.0.deserialize_any(v)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, D::Error> {
        self.0.deserialize_map(v)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map enum identifier ignored_any
    }
}

fn json_rejection(rej: JsonRejection) -> ApiError {
    match rej {
        JsonRejection::JsonDataError(e) => ApiError::Validation {
            detail: e.body_text(),
            field: None,
        },
        JsonRejection::JsonSyntaxError(e) => ApiError::bad_request("malformed_json", e.body_text()),
        JsonRejection::MissingJsonContentType(_) => ApiError::Status {
            status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
            code: "unsupported_media_type",
            detail: "send the body as Content-Type: application/json".into(),
        },
        other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge,
        other => ApiError::bad_request("bad_body", other.body_text()),
    }
}

/// Path parameters; a value of the wrong shape (an id that is not a UUID) is
/// 400 `invalid_id`.
pub struct ApiPath<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiPath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        if parts.uri.path().contains("%00") {
            return Err(ApiError::bad_request(
                "invalid_path",
                "a path parameter holds the NUL character",
            ));
        }
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(v)) => Ok(ApiPath(v)),
            Err(PathRejection::FailedToDeserializePathParams(e)) => Err(ApiError::bad_request(
                "invalid_id",
                format!("a path parameter is malformed: {}", e.body_text()),
            )),
            Err(e) => Err(ApiError::bad_request("invalid_path", e.body_text())),
        }
    }
}

/// Query parameters; anything that does not parse is 400 `invalid_query`.
pub struct ApiQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        if parts.uri.query().is_some_and(|q| q.contains("%00")) {
            return Err(ApiError::bad_request(
                "invalid_query",
                "a query parameter holds the NUL character",
            ));
        }
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(ApiQuery(v)),
            Err(QueryRejection::FailedToDeserializeQueryString(e)) => {
                Err(ApiError::bad_request("invalid_query", e.body_text()))
            }
            Err(e) => Err(ApiError::bad_request("invalid_query", e.body_text())),
        }
    }
}

/// A JSON response written by [`WriteJson`] into a buffer sized once: the
/// same bytes as `axum::Json` would send, with less work per row.
pub struct PageJson<T>(pub T);

impl<T: WriteJson> IntoResponse for PageJson<T> {
    fn into_response(self) -> Response {
        (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            crate::json::to_vec(&self.0),
        )
            .into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Body {
        a: Option<i32>,
        b: Option<String>,
    }

    #[test]
    fn a_body_is_an_object_never_an_array_of_its_fields() {
        let ok: ObjectBody<Body> = serde_json::from_str(r#"{"a": 1, "b": "x"}"#).unwrap();
        assert_eq!((ok.0.a, ok.0.b.as_deref()), (Some(1), Some("x")));
        assert!(serde_json::from_str::<Body>("[null, null]").is_ok());
        assert!(serde_json::from_str::<ObjectBody<Body>>("[null, null]").is_err());
        assert!(serde_json::from_str::<ObjectBody<Body>>(r#"{"c": 1}"#).is_err());
    }

    #[test]
    fn nul_characters_are_found_only_where_json_has_them() {
        assert!(has_nul(br#"{"b": "a\u0000"}"#));
        assert!(has_nul(br#"{"b": "\\\u0000"}"#));
        assert!(!has_nul(br#"{"b": "\\u0000"}"#));
        assert!(!has_nul(br#"{"b": "u0000 \u0001"}"#));
    }

    #[test]
    fn json_content_types() {
        let h = |v: &str| {
            let mut m = axum::http::HeaderMap::new();
            m.insert(header::CONTENT_TYPE, HeaderValue::from_str(v).unwrap());
            is_json(&m)
        };
        assert!(h("application/json"));
        assert!(h("Application/JSON; charset=utf-8"));
        assert!(h("application/problem+json"));
        assert!(!h("text/plain"));
        assert!(!h("application/jsonx"));
        assert!(!is_json(&axum::http::HeaderMap::new()));
    }
}
