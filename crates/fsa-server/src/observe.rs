//! What every request leaves behind: its id (the `x-request-id` header,
//! every log line's `request_id`, every problem body's `instance`), its
//! count and latency in the Prometheus metrics (by plan and route
//! template), and its tenant's figures in the router's stats.
//!
//! A request id sent by the client is kept when it is 1 to
//! [`MAX_ID_LEN`] characters of `A-Z a-z 0-9 - _ . :`; anything else (too
//! long, control characters, spaces) is replaced by a fresh UUID, so a log
//! line cannot be forged or bloated through it. A problem's `instance` is
//! `urn:fsa:request:<id>`.

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;
use fsa_core::{Plan, TenantId};
use tracing::Instrument;
use uuid::Uuid;

use crate::error::PROBLEM_JSON;
use crate::state::AppState;

pub static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The longest incoming request id kept.
pub const MAX_ID_LEN: usize = 128;

/// The largest problem body given an `instance` (problem bodies are small;
/// a larger one is passed on as it is).
const MAX_PROBLEM_BYTES: usize = 64 * 1024;

/// The request's id, span, and the tenant the request turned out to act
/// for (set by the `Caller` extractor), in the request's extensions.
#[derive(Clone, Debug)]
pub struct RequestCtx(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    id: String,
    span: tracing::Span,
    tenant: OnceLock<(TenantId, Plan)>,
}

impl RequestCtx {
    pub fn id(&self) -> &str {
        &self.0.id
    }

    /// Names the request's tenant, plan and placement: on the request's
    /// span (so on every later log line of it) and for its metrics.
    pub fn set_tenant(&self, tenant: TenantId, plan: Plan, placement: Uuid) {
        if self.0.tenant.set((tenant, plan)).is_ok() {
            self.0
                .span
                .record("tenant.id", tracing::field::display(tenant));
            self.0.span.record("tenant.plan", plan.as_str());
            self.0
                .span
                .record("placement.id", tracing::field::display(placement));
        }
    }

    fn tenant(&self) -> Option<(TenantId, Plan)> {
        self.0.tenant.get().copied()
    }
}

/// The incoming id if it is sane, else a new one.
pub fn request_id(incoming: Option<&HeaderValue>) -> String {
    incoming
        .and_then(|v| v.to_str().ok())
        .filter(|s| {
            !s.is_empty()
                && s.len() <= MAX_ID_LEN
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
        })
        .map(str::to_owned)
        .unwrap_or_else(|| Uuid::new_v4().to_string())
}

/// A problem's `instance` for a request id.
pub fn instance(id: &str) -> String {
    format!("urn:fsa:request:{id}")
}

/// The outermost layer: the request's id and span, then its metrics and
/// figures once answered.
pub async fn observe(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let started = Instant::now();
    let id = request_id(req.headers().get(&REQUEST_ID));
    let route = crate::prometheus::route(
        req.extensions()
            .get::<MatchedPath>()
            .map(MatchedPath::as_str),
    );
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        method = %req.method(),
        route = %route.label,
        tenant.id = tracing::field::Empty,
        tenant.plan = tracing::field::Empty,
        placement.id = tracing::field::Empty,
    );
    let ctx = RequestCtx(Arc::new(Inner {
        id,
        span: span.clone(),
        tenant: OnceLock::new(),
    }));
    req.extensions_mut().insert(ctx.clone());
    // The client, for a security event should the id named be unknown:
    // worked out only on routes that name one (never on a list's path).
    let client = route.names_an_id.then(|| {
        let peer = req
            .extensions()
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map_or(std::net::Ipv4Addr::UNSPECIFIED.into(), |c| c.0.ip());
        state.proxies.client(peer, req.headers())
    });
    let mut res = next.run(req).instrument(span.clone()).await;

    let elapsed = started.elapsed();
    let tenant = ctx.tenant();
    if state.config.metrics.enabled {
        let plan = tenant.map_or("none", |(_, p)| p.as_str());
        route.record(plan, res.status().as_u16(), elapsed.as_secs_f64());
    }
    if let Some((t, _)) = tenant {
        state.router.stats().record_request(t, elapsed);
        // A tenant's user naming an id its tenant does not have: another
        // tenant's id, or a guess.
        if let Some(client) = client
            && res.status() == axum::http::StatusCode::NOT_FOUND
        {
            let _in = span.enter();
            crate::security::record(
                crate::security::Kind::UnknownId,
                Some(client),
                &[("route", route.label.as_str())],
            );
        }
    }
    if let Ok(v) = HeaderValue::from_str(ctx.id()) {
        res.headers_mut().insert(REQUEST_ID.clone(), v);
    }
    if is_problem(&res) {
        res = with_instance(res, ctx.id()).await;
    }
    res
}

fn is_problem(res: &Response) -> bool {
    res.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with(PROBLEM_JSON))
}

/// The problem body with `instance` set to the request's.
async fn with_instance(res: Response, id: &str) -> Response {
    let (mut parts, body) = res.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_PROBLEM_BYTES).await else {
        // Larger than any problem we write, or a failed body: nothing to
        // add to; the client gets the header.
        parts.headers.remove(header::CONTENT_LENGTH);
        return Response::from_parts(parts, Body::empty());
    };
    let body = match serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(&bytes) {
        Ok(mut problem) => {
            problem.insert("instance".into(), instance(id).into());
            serde_json::to_vec(&problem).map_or(bytes, Into::into)
        }
        Err(_) => bytes,
    };
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sane_ids_are_kept_and_hostile_ones_replaced() {
        let keep = HeaderValue::from_static("abc-123_x.y:z");
        assert_eq!(request_id(Some(&keep)), "abc-123_x.y:z");
        let long = HeaderValue::from_str(&"a".repeat(MAX_ID_LEN + 1)).unwrap();
        let spaced = HeaderValue::from_static("a b");
        let tabbed = HeaderValue::from_bytes(b"a\tb").unwrap();
        let quoted = HeaderValue::from_static("a\"b");
        for bad in [
            Some(&long),
            Some(&spaced),
            Some(&tabbed),
            Some(&quoted),
            None,
        ] {
            let id = request_id(bad);
            assert!(Uuid::parse_str(&id).is_ok(), "{bad:?} → {id}");
        }
    }
}
