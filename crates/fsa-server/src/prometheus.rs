//! `/metrics`: Prometheus text through the `metrics` facade and its
//! Prometheus exporter.
//!
//! The recorder is the process's one global recorder, installed once (the
//! first app built installs it; later apps in the same process share it).
//! If something else installed a global recorder first, `/metrics` answers
//! with the families' descriptions only.
//!
//! No label has one value per tenant: requests are counted by plan, route
//! template and status; per-tenant figures live in the router's
//! [`fsa_store::stats::Stats`] and the admin API.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, LazyLock, Mutex, OnceLock, RwLock};

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use metrics::{Counter, Histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::state::AppState;

pub use crate::metric_names::*;

/// Every family, its type and help text. A family with no sample yet is
/// still listed (HELP and TYPE lines), so a scraper sees every name.
const FAMILIES: &[(&str, &str, &str)] = &[
    (
        HTTP_REQUESTS,
        "counter",
        "HTTP requests answered, by plan (none for requests without a tenant), route template and status.",
    ),
    (
        crate::security::EVENTS,
        "counter",
        "Security events by kind: login_failed, login_limited, admin_token_refused, token_refused, unknown_id.",
    ),
    (
        HTTP_DURATION,
        "histogram",
        "HTTP request latency in seconds, by plan and route template.",
    ),
    (
        POOL_CONNECTIONS,
        "gauge",
        "Connections open in each placement's pool in this process, by placement id.",
    ),
    (
        CONNECTION_BUDGET,
        "gauge",
        "The global connection budget: total, reserved by open pools, free, and open connections.",
    ),
    (
        LIMIT_REFUSALS,
        "counter",
        "Requests refused by a plan limit (plan_limit) or a rate limit (rate, work, concurrency, login).",
    ),
    (
        MOVE_FENCE,
        "histogram",
        "Write pause (fence) of each tenant move, in seconds.",
    ),
    (
        MOVES,
        "gauge",
        "The fleet's tenant moves by state, read from the catalog (the same in every process, whichever drove them).",
    ),
    (
        BACKUP_AGE,
        "gauge",
        "Per plan, the age in seconds of the oldest among its tenants' newest finished backups, read from the catalog (no samples until backups exist).",
    ),
];

const HTTP_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
const FENCE_BUCKETS: &[f64] = &[
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// One route template's request metrics: its label, and the handles of its
/// counter and histogram per plan and status, kept so that a request does
/// not build and look up its metric keys again (that cost showed in the
/// list benchmark). Bounded: routes × plans × statuses.
#[derive(Debug)]
pub struct RouteMetrics {
    /// The template as a label (`/api/v1/work-orders/:id`).
    pub label: String,
    /// Whether the template has a path parameter (an id a caller names).
    pub names_an_id: bool,
    handles: RwLock<HashMap<(&'static str, u16), Handles>>,
}

/// A request counter and latency histogram of one route, plan and status.
type Handles = (Counter, Histogram);

impl RouteMetrics {
    /// Counts a request of `plan` answered with `status` after `secs`.
    pub fn record(&self, plan: &'static str, status: u16, secs: f64) {
        if let Some((c, h)) = self
            .handles
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&(plan, status))
        {
            c.increment(1);
            h.record(secs);
            return;
        }
        let c = metrics::counter!(HTTP_REQUESTS, "plan" => plan, "route" => self.label.clone(), "status" => status.to_string());
        let h = metrics::histogram!(HTTP_DURATION, "plan" => plan, "route" => self.label.clone());
        c.increment(1);
        h.record(secs);
        self.handles
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert((plan, status), (c, h));
    }
}

/// The request metrics of every route template seen, like the recorder
/// they feed: one per process.
static ROUTES: LazyLock<RwLock<HashMap<String, Arc<RouteMetrics>>>> =
    LazyLock::new(Default::default);

/// The metrics of a route template (`None`: no route matched).
pub fn route(template: Option<&str>) -> Arc<RouteMetrics> {
    let key = template.unwrap_or("");
    if let Some(r) = ROUTES.read().unwrap_or_else(|e| e.into_inner()).get(key) {
        return r.clone();
    }
    let label = template.map_or_else(|| "unmatched".to_owned(), route_label);
    ROUTES
        .write()
        .unwrap_or_else(|e| e.into_inner())
        .entry(key.to_owned())
        .or_insert_with(|| {
            Arc::new(RouteMetrics {
                names_an_id: label.contains("/:"),
                label,
                handles: RwLock::new(HashMap::new()),
            })
        })
        .clone()
}

/// Installs the process's recorder on first call; its handle after that.
/// `None` when another global recorder was installed first.
pub fn handle() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Full(HTTP_DURATION.into()), HTTP_BUCKETS)
                .and_then(|b| {
                    b.set_buckets_for_metric(Matcher::Full(MOVE_FENCE.into()), FENCE_BUCKETS)
                });
            match builder.and_then(|b| b.install_recorder()) {
                Ok(h) => Some(h),
                Err(e) => {
                    tracing::warn!(error = %e, "metrics recorder not installed; /metrics lists names only");
                    None
                }
            }
        })
        .as_ref()
}

/// Placements whose pool gauge this process has set, so a closed pool's
/// gauge goes back to 0 rather than keeping its last value.
static POOL_NAMES: Mutex<Option<HashSet<String>>> = Mutex::new(None);

/// Sets the gauges that are read rather than counted: the pools and the
/// connection budget.
fn sample_gauges(state: &AppState) {
    let stats = state.router.pool_stats();
    for (label, value) in [
        ("total", stats.budget),
        ("reserved", stats.reserved_connections),
        (
            "free",
            stats.budget.saturating_sub(stats.reserved_connections),
        ),
        ("open", stats.open_connections),
    ] {
        metrics::gauge!(CONNECTION_BUDGET, "state" => label).set(f64::from(value));
    }
    let open = state.router.pool_connections();
    let mut seen = POOL_NAMES.lock().unwrap_or_else(|e| e.into_inner());
    let seen = seen.get_or_insert_with(HashSet::new);
    // By the placement's id: a dedicated placement's name is made from its
    // tenant's slug, and /metrics is open to anyone who can reach it.
    let now: HashSet<String> = open.iter().map(|(id, _, _)| id.to_string()).collect();
    for gone in seen.difference(&now) {
        metrics::gauge!(POOL_CONNECTIONS, "placement" => gone.clone()).set(0.0);
    }
    for (id, _, size) in open {
        let id = id.to_string();
        metrics::gauge!(POOL_CONNECTIONS, "placement" => id.clone()).set(f64::from(size));
        seen.insert(id);
    }
}

/// Adds HELP and TYPE lines for every family the exporter did not render
/// (no sample yet), and HELP lines to the ones it did.
fn complete(rendered: String) -> String {
    let mut out = String::with_capacity(rendered.len() + 2048);
    for (name, kind, help) in FAMILIES {
        if !rendered.contains(&format!("# TYPE {name} ")) {
            out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} {kind}\n"));
        }
    }
    for line in rendered.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let name = rest.split(' ').next().unwrap_or_default();
            if let Some((_, _, help)) = FAMILIES.iter().find(|(n, _, _)| *n == name) {
                out.push_str(&format!("# HELP {name} {help}\n"));
            }
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// Sets the series read from the catalog: the fleet's moves by state. A
/// catalog that cannot answer leaves the last figures.
async fn sample_catalog(state: &AppState) {
    match state.app.move_counts().await {
        Ok(counts) => {
            for (s, n) in counts {
                metrics::gauge!(MOVES, "state" => s.as_str()).set(n as f64);
            }
        }
        Err(e) => tracing::warn!(error = %e, "reading the fleet's moves for /metrics failed"),
    }
    match state.app.backup_ages().await {
        Ok(ages) => {
            for (plan, age) in ages {
                metrics::gauge!(BACKUP_AGE, "plan" => plan).set(age);
            }
        }
        Err(e) => tracing::warn!(error = %e, "reading the fleet's backups for /metrics failed"),
    }
}

/// `GET /metrics`.
pub async fn render(State(state): State<AppState>) -> Response {
    let text = match handle() {
        Some(h) if state.config.metrics.enabled => {
            sample_gauges(&state);
            sample_catalog(&state).await;
            h.run_upkeep();
            h.render()
        }
        _ => String::new(),
    };
    let mut res = complete(text).into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    res
}

/// The route template as a label: `/api/v1/work-orders/{id}` is written
/// `/api/v1/work-orders/:id`, since braces inside a label value trip simple
/// Prometheus text parsers (they are valid, but not everyone reads them).
pub fn route_label(template: &str) -> String {
    template
        .split('/')
        .map(
            |seg| match seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                Some(name) => format!(":{}", name.trim_start_matches('*')),
                None => seg.to_owned(),
            },
        )
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_labels_are_templates_without_braces() {
        assert_eq!(route_label("/api/v1/work-orders"), "/api/v1/work-orders");
        assert_eq!(
            route_label("/api/v1/work-orders/{id}/tasks/{task_id}"),
            "/api/v1/work-orders/:id/tasks/:task_id"
        );
        assert_eq!(route_label("/docs/{*rest}"), "/docs/:rest");
    }

    #[test]
    fn every_family_is_listed_even_without_samples() {
        let text =
            complete("# TYPE fsa_moves_total gauge\nfsa_moves_total{state=\"done\"} 2\n".into());
        for (name, kind, _) in FAMILIES {
            assert!(
                text.contains(&format!("# TYPE {name} {kind}")),
                "{name}: {text}"
            );
            assert_eq!(
                text.matches(&format!("# TYPE {name} ")).count(),
                1,
                "{name}"
            );
        }
        assert!(text.contains("fsa_moves_total{state=\"done\"} 2"));
        let parsed = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned())))
            .expect("parses");
        assert_eq!(parsed.samples.len(), 1);
    }
}
