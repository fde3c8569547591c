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
use chrono::Utc;
use fsa_core::{Permission, Role, TenantId};
use fsa_store::router::Route;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::ApiError;
use crate::state::AppState;

/// The `iss` of fsa's user tokens.
pub const ISSUER: &str = "fsa";
/// The `aud` of fsa's user tokens: the tenant API.
pub const AUDIENCE: &str = "fsa-api";

/// The claims of a user token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub aud: String,
    /// The user's id.
    pub sub: Uuid,
    /// The tenant's id.
    pub tid: Uuid,
    /// The tenant's slug, for logs.
    pub ten: String,
    pub role: Role,
    /// The user's token version when the token was issued.
    pub tv: i64,
    pub iat: i64,
    pub exp: i64,
}

#[derive(Clone)]
pub struct Tokens {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    ttl: chrono::Duration,
    admin_token: Arc<str>,
}

impl Tokens {
    pub fn new(jwt_secret: &str, admin_token: &str, ttl: std::time::Duration) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 5;
        validation.set_required_spec_claims(&["exp", "sub", "iss", "aud"]);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        Tokens {
            encoding: EncodingKey::from_secret(jwt_secret.as_bytes()),
            decoding: DecodingKey::from_secret(jwt_secret.as_bytes()),
            validation,
            ttl: chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::hours(1)),
            admin_token: admin_token.into(),
        }
    }

    /// Issues a token for a user of `role` at `token_version`; returns it
    /// with its expiry.
    pub fn issue(
        &self,
        tenant: TenantId,
        slug: &str,
        user: Uuid,
        role: Role,
        token_version: i64,
    ) -> Result<(String, chrono::DateTime<Utc>), ApiError> {
        let now = Utc::now();
        let exp = now + self.ttl;
        let claims = Claims {
            iss: ISSUER.to_owned(),
            aud: AUDIENCE.to_owned(),
            sub: user,
            tid: tenant.as_uuid(),
            ten: slug.to_owned(),
            role,
            tv: token_version,
            iat: now.timestamp(),
            exp: exp.timestamp(),
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| ApiError::Internal(e.into()))?;
        Ok((token, exp))
    }

    pub fn verify(&self, token: &str) -> Result<Claims, ApiError> {
        use jsonwebtoken::errors::ErrorKind;
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map(|d| d.claims)
            .map_err(|e| match e.kind() {
                ErrorKind::ExpiredSignature => ApiError::Unauthorized {
                    code: "token_expired",
                    detail: "the token has expired; log in again".into(),
                },
                _ => ApiError::Unauthorized {
                    code: "token_invalid",
                    detail: "the token is not valid".into(),
                },
            })
    }

    /// Compared in constant time, so the time of a refusal does not tell
    /// how much of a guess was right.
    fn is_admin_token(&self, token: &str) -> bool {
        use subtle::ConstantTimeEq;
        token.as_bytes().ct_eq(self.admin_token.as_bytes()).into()
    }
}

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

/// The user a request acts for, from a verified token.
#[derive(Debug, Clone)]
pub struct Caller {
    pub tenant: TenantId,
    pub slug: String,
    pub user_id: Uuid,
    pub role: Role,
    /// The tenant's plan, from the route cache.
    pub plan: fsa_core::Plan,
    /// The tenant's route, looked up once for the request; the handler's
    /// transaction begins on it (`routes::begin`).
    pub route: Route,
    /// Counts this request against the tenant's concurrency limit.
    _in_flight: Option<Arc<crate::limiter::InFlight>>,
}

impl Caller {
    pub fn require(&self, p: Permission) -> Result<(), ApiError> {
        if self.role.can(p) {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!(
                "the role {} may not do this",
                self.role
            )))
        }
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
                metrics::counter!(crate::prometheus::LIMIT_REFUSALS, "plan" => route.plan.as_str(), "reason" => reason)
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
            tenant,
            slug: claims.ten,
            user_id: claims.sub,
            role: claims.role,
            plan: route.plan,
            route,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_reject_forgeries() {
        let t = Tokens::new("secret-a", "admin", std::time::Duration::from_secs(60));
        let tenant = TenantId::generate();
        let (tok, _) = t
            .issue(tenant, "acme", Uuid::now_v7(), Role::Dispatcher, 0)
            .unwrap();
        let c = t.verify(&tok).unwrap();
        assert_eq!(c.tid, tenant.as_uuid());
        let other = Tokens::new("secret-b", "admin", std::time::Duration::from_secs(60));
        assert_eq!(other.verify(&tok).unwrap_err().code(), "token_invalid");
        let expired = Tokens::new("secret-a", "admin", std::time::Duration::ZERO);
        let mut claims = c.clone();
        claims.exp = Utc::now().timestamp() - 120;
        let old = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &expired.encoding)
            .unwrap();
        assert_eq!(t.verify(&old).unwrap_err().code(), "token_expired");
    }

    #[test]
    fn issuer_and_audience_are_required_and_checked() {
        let t = Tokens::new("secret-a", "admin", std::time::Duration::from_secs(60));
        let (tok, _) = t
            .issue(TenantId::generate(), "acme", Uuid::now_v7(), Role::Admin, 0)
            .unwrap();
        let good = t.verify(&tok).unwrap();
        let sign = |v: serde_json::Value| {
            jsonwebtoken::encode(&Header::new(Algorithm::HS256), &v, &t.encoding).unwrap()
        };
        let base = serde_json::to_value(&good).unwrap();
        for (key, value) in [
            ("iss", Some("someone-else")),
            ("aud", Some("fsa-admin")),
            ("iss", None),
            ("aud", None),
        ] {
            let mut v = base.clone();
            match value {
                Some(x) => v[key] = x.into(),
                None => {
                    v.as_object_mut().unwrap().remove(key);
                }
            }
            let err = t.verify(&sign(v)).unwrap_err();
            assert_eq!(err.code(), "token_invalid", "{key} = {value:?}");
        }
    }
}
