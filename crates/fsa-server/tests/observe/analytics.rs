//! Analytics across SQLite and PostgreSQL placements equal the sum of the
//! tenants' own counts; a stopped server's placement is named in a partial
//! answer.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use fsa_testkit::{Backend, Json, PgCluster, TestApp};
use serde_json::json;

use super::assert_problem;
use super::health::server;

/// Creates `n` work orders for the tenant, `scheduled` of them scheduled.
async fn work_orders(app: &TestApp, token: &str, n: usize, scheduled: usize) {
    let (s, c) = app
        .post("/api/v1/clients", token, json!({"name": "Client"}))
        .await;
    assert_eq!(s, 201, "{c}");
    for i in 0..n {
        let (s, wo) = app
            .post(
                "/api/v1/work-orders",
                token,
                json!({"client_id": c["id"], "title": format!("wo {i}")}),
            )
            .await;
        assert_eq!(s, 201, "{wo}");
        if i < scheduled {
            let path = format!("/api/v1/work-orders/{}", wo["id"].as_str().unwrap());
            let (s, b) = app
                .patch(&path, token, json!({"status": "scheduled"}))
                .await;
            assert_eq!(s, 200, "{b}");
        }
    }
}

/// The tenant's work orders by status, as the tenant's own API lists them.
async fn own_counts(app: &TestApp, token: &str) -> BTreeMap<String, i64> {
    let mut out = BTreeMap::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/work-orders?limit=200&cursor={c}"),
            None => "/api/v1/work-orders?limit=200".to_owned(),
        };
        let (s, b) = app.get(&path, token).await;
        assert_eq!(s, 200, "{b}");
        for wo in b["items"].as_array().unwrap() {
            *out.entry(wo["status"].as_str().unwrap().to_owned())
                .or_default() += 1;
        }
        match b["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return out,
        }
    }
}

fn groups(b: &Json) -> BTreeMap<String, i64> {
    b["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            (
                g["key"].as_str().unwrap().to_owned(),
                g["count"].as_i64().unwrap(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn analytics_add_up_across_engines_and_name_a_down_placement() {
    let root = tempfile::tempdir().unwrap();
    let lite = format!("sqlite://{}", root.path().join("lite").display());
    let mut asia = tokio::task::spawn_blocking(PgCluster::start)
        .await
        .unwrap()
        .unwrap();
    let servers = vec![
        server("lite", "US", lite),
        server("asia", "ASIA", format!("{}/postgres", asia.base_url())),
    ];
    let app = TestApp::start_with(Backend::Postgres, |c| {
        c.servers = servers;
    })
    .await
    .unwrap();
    // (slug, plan, region, work orders, of them scheduled)
    let tenants = [
        ("an-free", "free", "default", 5, 2),
        ("an-prem", "premium", "default", 4, 1),
        ("an-us", "free", "US", 3, 0),
        ("an-us-ent", "enterprise", "US", 6, 3),
        ("an-asia", "free", "ASIA", 2, 1),
    ];
    let mut by_status: BTreeMap<String, i64> = BTreeMap::new();
    let mut by_plan: BTreeMap<String, i64> = BTreeMap::new();
    let mut by_region: BTreeMap<String, i64> = BTreeMap::new();
    let mut without_asia: BTreeMap<String, i64> = BTreeMap::new();
    for (slug, plan, region, n, scheduled) in tenants {
        app.create_tenant(slug, plan, region).await;
        let token = app.login_admin(slug).await;
        work_orders(&app, &token, n, scheduled).await;
        let own = own_counts(&app, &token).await;
        let total: i64 = own.values().sum();
        assert_eq!(total, n as i64);
        for (status, k) in own {
            *by_status.entry(status.clone()).or_default() += k;
            if region != "ASIA" {
                *without_asia.entry(status).or_default() += k;
            }
        }
        *by_plan.entry(plan.to_owned()).or_default() += total;
        *by_region.entry(region.to_owned()).or_default() += total;
    }

    let admin = app.admin_token.clone();
    let (s, b) = app.get("/admin/analytics/work-orders", &admin).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(groups(&b), by_status, "{b}");
    assert!(b["placements"]["queried"].as_u64().unwrap() >= 5, "{b}");
    assert_eq!(b["placements"]["failed"], json!([]), "{b}");
    let (_, b) = app
        .get("/admin/analytics/work-orders?group_by=status", &admin)
        .await;
    assert_eq!(groups(&b), by_status, "{b}");
    let (_, b) = app
        .get("/admin/analytics/work-orders?group_by=plan", &admin)
        .await;
    assert_eq!(groups(&b), by_plan, "{b}");
    let (_, b) = app
        .get("/admin/analytics/work-orders?group_by=region", &admin)
        .await;
    assert_eq!(groups(&b), by_region, "{b}");

    let (s, b) = app
        .get("/admin/analytics/work-orders?group_by=tenant", &admin)
        .await;
    assert_problem(s, &b, 400, "invalid_query");
    let (s, b) = app
        .get("/admin/analytics/work-orders?group_by=", &admin)
        .await;
    assert_problem(s, &b, 400, "invalid_query");
    let (s, b) = app.get("/admin/analytics/work-orders", "wrong").await;
    assert_problem(s, &b, 401, "token_invalid");

    // The ASIA server stops: a partial answer that names its placement.
    let asia_placement = app
        .state
        .app
        .tenant("an-asia")
        .await
        .unwrap()
        .placement
        .name;
    tokio::task::block_in_place(|| asia.stop()).unwrap();
    let started = Instant::now();
    let (s, b) = app.get("/admin/analytics/work-orders", &admin).await;
    assert_eq!(s, 200, "{b}");
    assert!(started.elapsed() < Duration::from_secs(15));
    assert_eq!(b["placements"]["failed"], json!([asia_placement]), "{b}");
    assert_eq!(groups(&b), without_asia, "{b}");
    app.stop().await;
}
