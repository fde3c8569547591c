//! fsa's HTTP surface: the application services of `fsa_app` behind HTTP.
//!
//! # Layout
//! - [`config`]: `fsa_app::config` under its former path.
//! - [`conn`]: the accept loop: header timeout, connection cap, graceful
//!   shutdown.
//! - [`auth`]: password hashes, user tokens, the `Caller` and `Operator` extractors.
//! - [`error`]: `ApiError`, the one problem+json error type.
//! - [`extract`]: JSON, path and query extractors with problem+json rejections.
//! - [`dto`]: request bodies and query strings, with validation helpers.
//! - [`bucket`]: the token bucket both limiters use.
//! - [`tokens`]: user tokens (HS256 JWTs) and the operator token.
//! - [`metric_names`]: the metric families' names.
//! - [`limiter`]: per-tenant request rate and concurrency limits.
//! - [`login_limits`]: login attempts per tenant and email and per address.
//! - [`observe`]: each request's id (header, log span, problem `instance`),
//!   its metrics and its tenant's figures.
//! - [`prometheus`]: the Prometheus recorder and `/metrics`.
//! - [`passwords`]: argon2 work, bounded, and the same for unknown users.
//! - [`proxies`]: the client's address behind trusted proxies.
//! - [`security`]: security events, logged and counted.
//! - [`standing`]: whether a token's user still stands as the token says.
//! - [`json`]: list pages written as JSON without serde's general path.
//! - [`openapi`]: the document's common problem responses and create bodies.
//! - [`routes`]: one module per resource; each returns an `OpenApiRouter`
//!   so `/openapi.json` is generated from the handlers themselves.

pub mod auth;
pub mod bucket;
pub mod config;
pub mod conn;
pub mod dto;
pub mod error;
pub mod extract;
pub mod json;
pub mod limiter;
pub mod login_limits;
pub mod metric_names;
pub mod observe;
pub mod openapi;
pub mod passwords;
pub mod prometheus;
pub mod proxies;
pub mod routes;
pub mod security;
pub mod standing;
pub mod state;
pub mod tokens;

use std::future::Future;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::net::TcpListener;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::TraceLayer;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_swagger_ui::SwaggerUi;

use crate::error::{PROBLEM_JSON, problem};
use crate::state::AppState;
use crate::tokens::Tokens;
use fsa_app::config::Config;

/// The whole HTTP application.
pub fn app(state: AppState) -> axum::Router {
    let (routes, openapi) = api_routes().split_for_parts();
    let openapi = openapi::finish(openapi, &state.app.region_names());
    let body_limit = state.config.body_limit_bytes;
    if state.config.metrics.enabled {
        prometheus::handle();
    }
    let observing = state.clone();
    routes
        .route("/health", get(routes::health::health))
        .route("/ready", get(routes::health::ready))
        .route("/metrics", get(prometheus::render))
        .merge(SwaggerUi::new("/docs").external_url_unchecked("/openapi.json", openapi))
        .fallback(|| async { problem(StatusCode::NOT_FOUND, "route_not_found", "no such route") })
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(middleware::from_fn(retry_moved_reads))
        .layer(middleware::from_fn(problem_errors))
        .layer(CatchPanicLayer::custom(|_| {
            problem(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "internal error",
            )
        }))
        .layer(TraceLayer::new_for_http())
        .layer(middleware::from_fn_with_state(observing, observe::observe))
        .with_state(state)
}

/// Every documented route, with the document generated from the handlers.
fn api_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .merge(routes::auth::router())
        .merge(routes::clients::router())
        .merge(routes::personnel::router())
        .merge(routes::work_orders::router())
        .merge(routes::tasks::router())
        .merge(routes::files::router())
        .merge(routes::users::router())
        .merge(routes::usage::router())
        .merge(routes::admin::router())
        .merge(routes::backups::router())
}

/// The OpenAPI document `/openapi.json` serves, for a deployment that
/// accepts `regions`.
pub fn openapi_document(regions: &[String]) -> serde_json::Value {
    openapi::finish(api_routes().split_for_parts().1, regions)
}

/// Runs a read (GET, HEAD) once more when it found its tenant moved to
/// another database after it began (503 `tenant_moved`): a read changes
/// nothing, and the second run is routed to where the tenant is now. The
/// DESIGN's "refresh the route and retry once on the new placement", for
/// the reads that learn of the move from a statement rather than when they
/// begin (writes learn of it when they begin, under the tenant's lock).
async fn retry_moved_reads(req: Request, next: Next) -> Response {
    if !matches!(*req.method(), Method::GET | Method::HEAD) {
        return next.run(req).await;
    }
    let (parts, body) = req.into_parts();
    let mut again = Request::builder()
        .method(parts.method.clone())
        .uri(parts.uri.clone())
        .version(parts.version);
    if let Some(h) = again.headers_mut() {
        h.extend(parts.headers.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    if let Some(ctx) = parts.extensions.get::<observe::RequestCtx>() {
        again = again.extension(ctx.clone());
    }
    let res = next.clone().run(Request::from_parts(parts, body)).await;
    if res.extensions().get::<error::RetryableRead>().is_none() {
        return res;
    }
    match again.body(Body::empty()) {
        Ok(req) => next.run(req).await,
        Err(_) => res,
    }
}

/// Turns any error response that is not already problem+json (axum's own
/// 405, a body-limit rejection outside our extractors) into one.
async fn problem_errors(req: Request, next: Next) -> Response {
    let res = next.run(req).await;
    let status = res.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return res;
    }
    let is_problem = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with(PROBLEM_JSON));
    if is_problem {
        return res;
    }
    let code = match status {
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::NOT_FOUND => "route_not_found",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        s if s.is_server_error() => "internal",
        _ => "bad_request",
    };
    let detail = status.canonical_reason().unwrap_or("error");
    let mut out = problem(status, code, detail);
    for (k, v) in res.headers() {
        if k == header::ALLOW || k == header::RETRY_AFTER {
            out.headers_mut().insert(k.clone(), v.clone());
        }
    }
    out.into_response()
}

/// How long a user's standing (role, active, token version) is trusted
/// without asking its placement again.
const STANDING_MAX_AGE: std::time::Duration = std::time::Duration::from_secs(1);

/// [`fsa_app::open`], logging its start warnings at debug level: kept for
/// the code that opens the services through this crate.
pub async fn open_app(config: &Config) -> anyhow::Result<fsa_app::App> {
    let (app, warnings) = fsa_app::open(config).await?;
    for w in warnings {
        tracing::debug!("{w}");
    }
    Ok(app)
}

/// Opens the catalog, applies migrations, and builds the router and state.
/// Returns the state and where generated secrets are kept, if they were.
pub async fn build_state(
    mut config: Config,
) -> anyhow::Result<(AppState, Option<std::path::PathBuf>)> {
    // Before anything is written, and again for what the secrets file held.
    config.check_secrets()?;
    let secrets = config.ensure_secrets()?;
    config.check_secrets()?;
    config
        .server
        .header_timeout()
        .map_err(|e| anyhow::anyhow!(e))?;
    let (app, warnings) = fsa_app::open(&config).await?;
    for w in warnings {
        tracing::warn!("{w}");
    }
    let proxies = proxies::TrustedProxies::parse(&config.server.trusted_proxies)
        .map_err(|e| anyhow::anyhow!("invalid configuration: {e}"))?;
    let tokens = Tokens::new(
        config.expose_jwt_secret(),
        config.expose_admin_token(),
        config.token_ttl(),
    );
    Ok((
        AppState {
            router: app.router().clone(),
            app,
            tokens,
            limiter: Arc::new(limiter::Limiter::default()),
            passwords: Arc::new(passwords::Passwords::new(config.login.hash_concurrency)),
            logins: Arc::new(login_limits::LoginLimiter::new(config.login.clone())),
            standing: Arc::new(standing::StandingCache::new(STANDING_MAX_AGE)),
            proxies: Arc::new(proxies),
            config: Arc::new(config),
        },
        secrets,
    ))
}

/// Serves the application on `listener` until `shutdown` completes, with
/// this process's jobs runner beside it (file collection, moves and their
/// cleanups, the resume of stopped moves). At shutdown the HTTP server
/// drains first, then the runner lets its jobs reach a safe point.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let router = state.router.clone();
    let runner = state
        .app
        .runner(&state.config.jobs)
        .start()
        .await
        .map_err(std::io::Error::other)?;
    // The dummy hash is made before the first login can be answered.
    state.passwords.warm().await;
    let limits = conn::Limits::from_config(&state.config.server);
    conn::serve(listener, app(state), limits, shutdown).await;
    runner.shutdown().await;
    router.close().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use axum::routing::post;
    use fsa_store::StoreError;
    use tower::ServiceExt;

    use super::*;
    use crate::error::ApiError;

    /// A handler that fails its first call as a statement that found its
    /// tenant moved away, and answers after that.
    fn moved_once(calls: Arc<AtomicUsize>) -> axum::Router {
        let handler = move || {
            let calls = calls.clone();
            async move {
                if calls.fetch_add(1, Ordering::SeqCst) == 0 {
                    Err(ApiError::from(StoreError::StaleRoute))
                } else {
                    Ok("answered")
                }
            }
        };
        axum::Router::new()
            .route("/read", get(handler.clone()))
            .route("/write", post(handler))
            .layer(middleware::from_fn(retry_moved_reads))
    }

    #[tokio::test]
    async fn a_read_that_found_its_tenant_moved_runs_once_more() {
        let calls = Arc::new(AtomicUsize::new(0));
        let res = moved_once(calls.clone())
            .oneshot(
                Request::get("/read")
                    .header("authorization", "Bearer x")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_write_is_never_run_twice() {
        let calls = Arc::new(AtomicUsize::new(0));
        let res = moved_once(calls.clone())
            .oneshot(Request::post("/write").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }
}
