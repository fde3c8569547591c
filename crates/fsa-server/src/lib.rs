//! fsa's HTTP surface.
//!
//! # Layout
//! - [`config`]: defaults, TOML file, `FSA_*` variables; generated secrets.
//! - [`auth`]: password hashes, user tokens, the `Caller` and `Operator` extractors.
//! - [`error`]: `ApiError`, the one problem+json error type.
//! - [`extract`]: JSON, path and query extractors with problem+json rejections.
//! - [`dto`]: request bodies and query strings, with validation helpers.
//! - [`limiter`]: per-tenant request rate and concurrency limits.
//! - [`moves`]: scheduling, reading and cancelling tenant moves.
//! - [`onboarding`]: tenant creation and admin reads, shared with the CLI.
//! - [`routes`]: one module per resource; each returns an `OpenApiRouter`
//!   so `/openapi.json` is generated from the handlers themselves.

pub mod auth;
pub mod config;
pub mod dto;
pub mod error;
pub mod extract;
pub mod limiter;
pub mod moves;
pub mod onboarding;
pub mod routes;
pub mod state;

use std::future::Future;
use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use fsa_store::Router;
use fsa_store::catalog::open_catalog;
use tokio::net::TcpListener;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::TraceLayer;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_swagger_ui::SwaggerUi;

use crate::auth::Tokens;
use crate::config::Config;
use crate::error::{PROBLEM_JSON, problem};
use crate::state::AppState;

#[derive(OpenApi)]
#[openapi(
    info(title = "fsa", description = "Multi-tenant Field Service Automation API. Errors are application/problem+json with a `code`."),
    modifiers(&BearerSchemes)
)]
struct ApiDoc;

struct BearerSchemes;

impl Modify for BearerSchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let bearer = || {
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            )
        };
        components.add_security_scheme("bearer", bearer());
        components.add_security_scheme(
            "admin",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The whole HTTP application.
pub fn app(state: AppState) -> axum::Router {
    let (routes, openapi) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(routes::auth::router())
        .merge(routes::clients::router())
        .merge(routes::personnel::router())
        .merge(routes::work_orders::router())
        .merge(routes::tasks::router())
        .merge(routes::users::router())
        .merge(routes::usage::router())
        .merge(routes::admin::router())
        .split_for_parts();
    let body_limit = state.config.body_limit_bytes;
    routes
        .route("/health", get(routes::health::health))
        .route("/ready", get(routes::health::ready))
        .merge(SwaggerUi::new("/docs").url("/openapi.json", openapi))
        .fallback(|| async { problem(StatusCode::NOT_FOUND, "route_not_found", "no such route") })
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(middleware::from_fn(problem_errors))
        .layer(CatchPanicLayer::custom(|_| {
            problem(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "internal error",
            )
        }))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
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

/// Opens the catalog, applies migrations, and builds the router and state.
/// Returns the state and where generated secrets are kept, if they were.
pub async fn build_state(
    mut config: Config,
) -> anyhow::Result<(AppState, Option<std::path::PathBuf>)> {
    let secrets = config.ensure_secrets()?;
    let catalog = open_catalog(&config.database_url()).await?;
    let router = Router::new(catalog, config.servers()?, config.router_settings()).await?;
    let tokens = Tokens::new(
        config.jwt_secret.as_deref().unwrap_or_default(),
        config.admin_token.as_deref().unwrap_or_default(),
        config.token_ttl(),
    );
    Ok((
        AppState {
            router,
            tokens,
            limiter: Arc::new(limiter::Limiter::default()),
            config: Arc::new(config),
        },
        secrets,
    ))
}

/// Serves the application on `listener` until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let router = state.router.clone();
    moves::resume_in_background(router.clone());
    axum::serve(listener, app(state))
        .with_graceful_shutdown(shutdown)
        .await?;
    router.close().await;
    Ok(())
}
