//! Authentication: HS256 user tokens that carry the
//! tenant and role, and the operator token of `/admin`.
//!
//! The tenant of a request comes from its verified token only. A token is
//! honoured while its tenant is not suspended and its user still exists, is
//! active and has the role and token version the token names
//! ([`crate::standing`]); its issuer and audience are checked with its
//! signature.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use fsa_app::data::User;
use fsa_core::TenantId;

use crate::error::ApiError;
use crate::state::AppState;
pub use crate::tokens::{AUDIENCE, Claims, ISSUER, Tokens};

fn bearer(parts: &Parts) -> Result<&str, ApiError> {
    let value = parts
        .headers
        .get(AUTHORIZATION)
        .ok_or_else(|| ApiError::Unauthorized {
            code: "token_missing",
            detail: "send Authorization: Bearer <token>".into(),
        })?;
    value
        .to_str()
        .ok()
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| ApiError::Unauthorized {
            code: "token_invalid",
            detail: "the Authorization header is not a Bearer token".into(),
        })
}

/// How long a refused request waits before its 429 is sent.
const REFUSAL_PACE: std::time::Duration = std::time::Duration::from_millis(200);

/// The user a request acts for, from a verified token: fsa-app's
/// [`User`] (what the use cases take), with what only the HTTP face keeps.
#[derive(Debug, Clone)]
pub struct Caller {
    pub user: User,
    pub slug: String,
    /// Counts this request against the tenant's concurrency limit.
    _in_flight: Option<Arc<crate::limiter::InFlight>>,
}

impl std::ops::Deref for Caller {
    type Target = User;

    fn deref(&self) -> &User {
        &self.user
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    #[tracing::instrument(name = "auth.caller", level = "debug", skip_all, fields(tenant.id = tracing::field::Empty))]
    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let claims = match bearer(parts).and_then(|t| state.tokens.verify(t)) {
            Ok(claims) => claims,
            Err(e) => return Err(refused_token(parts, state, e)),
        };
        let tenant = TenantId::from_verified(claims.tid);
        tracing::Span::current().record("tenant.id", tracing::field::display(tenant));
        let route = state.router.route(tenant).await?;
        if let Some(ctx) = parts.extensions.get::<crate::observe::RequestCtx>() {
            ctx.set_tenant(tenant, route.plan, route.placement_id);
        }
        if route.suspended {
            return Err(ApiError::tenant_suspended());
        }
        let limits = state.config.limits.for_plan(route.plan);
        let admitted = state.limiter.admit(tenant, limits);
        if admitted.is_err() {
            // Refusals are paced: a client that retries at once instead of
            // honouring Retry-After waits on an idle connection rather than
            // spending its neighbours' CPU on a stream of 429s.
            tokio::time::sleep(REFUSAL_PACE).await;
        }
        let in_flight = admitted.map_err(|r| {
            use crate::limiter::Refusal;
            let reason = match r {
                Refusal::Rate { .. } => "rate",
                Refusal::Work { .. } => "work",
                Refusal::Concurrency => "concurrency",
            };
            if state.config.metrics.enabled {
                metrics::counter!(crate::metric_names::LIMIT_REFUSALS, "plan" => route.plan.as_str(), "reason" => reason)
                    .increment(1);
            }
            let (allowed, what, retry_after) = match r {
                Refusal::Rate { retry_after } => (
                    limits.requests_per_second,
                    "requests per second",
                    retry_after,
                ),
                Refusal::Work { retry_after } => (
                    limits.work_ms_per_second,
                    "ms of request work per second",
                    retry_after,
                ),
                Refusal::Concurrency => (limits.concurrent_requests, "requests at once", 1),
            };
            ApiError::RateLimited {
                detail: format!(
                    "the {} plan allows {} {what}",
                    route.plan,
                    allowed.unwrap_or(0)
                ),
                retry_after,
            }
        })?;
        // After admission: a tenant over its rate costs no user lookup.
        if let Err(e) = state
            .standing
            .check(&state.router, tenant, route, &claims)
            .await
        {
            return Err(if e.status() == axum::http::StatusCode::UNAUTHORIZED {
                refused_token(parts, state, e)
            } else {
                e
            });
        }
        Ok(Caller {
            user: User {
                tenant,
                user_id: claims.sub,
                role: claims.role,
                plan: route.plan,
                route,
            },
            slug: claims.ten,
            _in_flight: in_flight.map(Arc::new),
        })
    }
}

/// The operator, authenticated by the admin token.
#[derive(Debug, Clone, Copy)]
pub struct Operator;

impl FromRequestParts<AppState> for Operator {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let refused = match bearer(parts) {
            Ok(token) if state.tokens.is_admin_token(token) => return Ok(Operator),
            Ok(token) if state.tokens.verify(token).is_ok() => ApiError::Forbidden {
                code: "admin_token_required",
                detail: "a tenant user's token does not give access to /admin".into(),
            },
            Ok(_) => ApiError::Unauthorized {
                code: "token_invalid",
                detail: "the admin token is not valid".into(),
            },
            Err(e) => e,
        };
        crate::security::record(
            crate::security::Kind::AdminTokenRefused,
            Some(client_of(parts, state)),
            &[("path", parts.uri.path()), ("code", refused.code())],
        );
        Err(refused)
    }
}

/// The client of a request, as the login limits see it.
pub fn client_of(parts: &Parts, state: &AppState) -> std::net::IpAddr {
    let peer = parts
        .extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map_or(std::net::Ipv4Addr::UNSPECIFIED.into(), |c| c.0.ip());
    state.proxies.client(peer, &parts.headers)
}

/// A tenant API request whose token is missing, forged, expired or
/// revoked: a security event, then the refusal.
fn refused_token(parts: &Parts, state: &AppState, e: ApiError) -> ApiError {
    crate::security::record(
        crate::security::Kind::TokenRefused,
        Some(client_of(parts, state)),
        &[("path", parts.uri.path()), ("code", e.code())],
    );
    e
}
