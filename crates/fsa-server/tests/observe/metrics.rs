//! `/metrics` after known traffic, parsed by a Prometheus text parser: the
//! counts equal the traffic, routes are templates, and no label names a
//! tenant.

use std::collections::HashMap;

use fsa_testkit::{Backend, TestApp};
use prometheus_parse::{Scrape, Value};
use serde_json::json;

async fn scrape(app: &TestApp) -> Scrape {
    let res = app
        .client
        .get(format!("{}/metrics", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let ctype = res.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(ctype.starts_with("text/plain"), "{ctype}");
    let text = res.text().await.unwrap();
    Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).expect("Prometheus text")
}

/// The value of the one sample of `metric` whose labels include `labels`
/// (a histogram's count), 0 when there is none.
fn value(s: &Scrape, metric: &str, labels: &[(&str, &str)]) -> f64 {
    let found: Vec<f64> = s
        .samples
        .iter()
        .filter(|x| x.metric == metric)
        .filter(|x| labels.iter().all(|(k, v)| x.labels.get(k) == Some(*v)))
        .map(|x| match &x.value {
            Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => *v,
            Value::Histogram(b) => b.iter().map(|c| c.count).fold(0.0, f64::max),
            Value::Summary(_) => panic!("{metric} is a summary, not a histogram"),
        })
        .collect();
    assert!(found.len() <= 1, "{metric} {labels:?}: {found:?}");
    found.first().copied().unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_the_traffic_by_plan_route_and_status() {
    let app = TestApp::start_with(Backend::Postgres, |c| {
        c.limits.basic.clients = Some(2);
    })
    .await
    .unwrap();
    let tenant = app.create_tenant("metrics-basic", "basic", "default").await;
    let token = app.login_admin("metrics-basic").await;
    let before = scrape(&app).await;

    for _ in 0..7 {
        assert_eq!(app.get("/api/v1/personnel", &token).await.0, 200);
    }
    for _ in 0..3 {
        let path = format!("/api/v1/personnel/{}", uuid::Uuid::now_v7());
        assert_eq!(app.get(&path, &token).await.0, 404);
    }
    let mut refused = 0;
    for i in 0..4 {
        let (s, b) = app
            .post("/api/v1/clients", &token, json!({"name": format!("c{i}")}))
            .await;
        if s == 403 {
            assert_eq!(b["code"], "plan_limit_reached");
            refused += 1;
        }
    }
    assert_eq!(refused, 2);
    let after = scrape(&app).await;

    let delta = |metric: &str, labels: &[(&str, &str)]| {
        value(&after, metric, labels) - value(&before, metric, labels)
    };
    let req = "fsa_http_requests_total";
    let dur = "fsa_http_request_duration_seconds";
    let list = [("plan", "basic"), ("route", "/api/v1/personnel")];
    let one = [("plan", "basic"), ("route", "/api/v1/personnel/:id")];
    assert_eq!(delta(req, &[list[0], list[1], ("status", "200")]), 7.0);
    let reqs: Vec<String> = after
        .samples
        .iter()
        .filter(|x| x.metric == req)
        .map(|x| format!("{:?} {:?}", x.labels, x.value))
        .collect();
    assert_eq!(
        delta(req, &[one[0], one[1], ("status", "404")]),
        3.0,
        "{reqs:#?}"
    );
    assert_eq!(
        delta(
            req,
            &[
                ("plan", "basic"),
                ("route", "/api/v1/clients"),
                ("status", "201")
            ]
        ),
        2.0
    );
    assert_eq!(
        delta(
            req,
            &[
                ("plan", "basic"),
                ("route", "/api/v1/clients"),
                ("status", "403")
            ]
        ),
        2.0
    );
    assert_eq!(delta(dur, &list), 7.0);
    assert_eq!(delta(dur, &one), 3.0);
    assert_eq!(
        delta(
            "fsa_limit_refusals_total",
            &[("plan", "basic"), ("reason", "plan_limit")]
        ),
        2.0
    );
    // The budget and the pool of the tenant's placement.
    assert_eq!(
        value(&after, "fsa_connection_budget", &[("state", "total")]),
        f64::from(app.state.config.connection_budget)
    );
    let placement = tenant["placement"]["id"].as_str().unwrap();
    assert!(value(&after, "fsa_pool_connections", &[("placement", placement)]) >= 1.0);

    // No label value names the tenant; no route is a raw path.
    let tenant_id = tenant["id"].as_str().unwrap();
    let mut routes: HashMap<String, ()> = HashMap::new();
    for s in &after.samples {
        for (k, v) in s.labels.iter() {
            assert!(
                !v.contains("metrics-basic") && !v.contains(tenant_id),
                "{} has {k}={v}",
                s.metric
            );
            if k == "route" {
                routes.insert(v.clone(), ());
            }
        }
    }
    assert!(
        routes.keys().all(|r| r == "unmatched" || !r.contains("0-")),
        "{routes:?}"
    );
    // Every family is listed, with or without samples.
    let text = app
        .client
        .get(format!("{}/metrics", app.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for name in [
        req,
        dur,
        "fsa_pool_connections",
        "fsa_connection_budget",
        "fsa_limit_refusals_total",
        "fsa_move_fence_seconds",
        "fsa_moves_total",
        "fsa_backup_age_seconds",
    ] {
        assert!(text.contains(&format!("# TYPE {name} ")), "{name} missing");
    }
    assert!(text.contains("# TYPE fsa_http_request_duration_seconds histogram"));
    app.stop().await;
}
