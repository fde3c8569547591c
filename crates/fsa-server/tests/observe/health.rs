//! `GET /admin/health` on a fleet of three PostgreSQL servers, one of them
//! stopped: that one's placements are reported unreachable, the others are
//! complete, and the answer comes in bounded time. A tenant's own figures
//! count its requests.

use std::time::{Duration, Instant};

pub use fsa_testkit::server;
use fsa_testkit::{Backend, TestApp, clusters};
use serde_json::json;

use super::assert_problem;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_names_the_stopped_server_and_completes_the_others() {
    let mut cl = clusters(3).await;
    let servers = vec![
        server("eu", "EU", format!("{}/postgres", cl[0].base_url())),
        server("us", "US", format!("{}/postgres", cl[1].base_url())),
        server("asia", "ASIA", format!("{}/postgres", cl[2].base_url())),
    ];
    let app = TestApp::start_with(Backend::Postgres, |c| {
        c.servers = servers;
    })
    .await
    .unwrap();
    app.create_tenant("h-eu-a", "free", "EU").await;
    app.create_tenant("h-eu-b", "free", "EU").await;
    app.create_tenant("h-us", "premium", "US").await;
    app.create_tenant("h-asia", "enterprise", "ASIA").await;
    let token = app.login_admin("h-eu-a").await;
    for _ in 0..5 {
        assert_eq!(app.get("/api/v1/clients", &token).await.0, 200);
    }
    let (s, b) = app
        .post("/api/v1/clients", &token, json!({"name": "Acme"}))
        .await;
    assert_eq!(s, 201, "{b}");

    // The tenant's own figures: six requests, each with its transaction.
    let (s, stats) = app
        .get("/admin/tenants/h-eu-a/stats", &app.admin_token)
        .await;
    assert_eq!(s, 200, "{stats}");
    assert_eq!(stats["tenant"], "h-eu-a");
    assert_eq!(stats["requests"], 6, "{stats}");
    assert!(stats["transactions"].as_u64().unwrap() >= 6, "{stats}");
    assert!(stats["latency_p95_ms"].as_f64().unwrap() > 0.0, "{stats}");
    assert!(stats["db_time_ms"].as_f64().unwrap() > 0.0, "{stats}");
    assert_eq!(stats["usage"]["usage"]["clients"]["used"], 1, "{stats}");
    assert_eq!(stats["usage"]["files"]["bytes"], 0, "{stats}");
    let (s, other) = app
        .get("/admin/tenants/h-eu-b/stats", &app.admin_token)
        .await;
    assert_eq!(s, 200);
    assert_eq!(other["requests"], 0, "{other}");
    let (s, b) = app
        .get("/admin/tenants/nobody/stats", &app.admin_token)
        .await;
    assert_problem(s, &b, 404, "not_found");

    tokio::task::block_in_place(|| cl[2].stop()).unwrap();
    let started = Instant::now();
    let (s, h) = app.get("/admin/health", &app.admin_token).await;
    assert_eq!(s, 200, "{h}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "health took {:?}",
        started.elapsed()
    );
    assert_eq!(
        h["tenants_by_plan"],
        json!({"free": 2, "basic": 0, "premium": 1, "enterprise": 1}),
        "{h}"
    );
    let placements = h["placements"].as_array().unwrap();
    let keys = [
        "id",
        "name",
        "kind",
        "region",
        "server",
        "reachable",
        "size_bytes",
        "tenants",
        "tenants_by_plan",
        "connections",
        "avg_query_ms",
        "p95_query_ms",
    ];
    let mut servers_seen = std::collections::BTreeSet::new();
    for p in placements {
        let obj = p.as_object().unwrap();
        let mut have: Vec<&str> = obj.keys().map(String::as_str).collect();
        have.sort_unstable();
        let mut want = keys.to_vec();
        want.sort_unstable();
        assert_eq!(have, want, "{p}");
        let server = p["server"].as_str().unwrap();
        servers_seen.insert(server.to_owned());
        if server == "asia" {
            assert_eq!(p["reachable"], false, "{p}");
            assert!(p["size_bytes"].is_null(), "{p}");
        } else {
            assert_eq!(p["reachable"], true, "{p}");
            assert!(p["size_bytes"].as_i64().unwrap() > 0, "{p}");
        }
    }
    assert!(
        servers_seen.is_superset(&["asia".to_owned(), "eu".to_owned(), "us".to_owned()].into())
    );
    let eu = placements
        .iter()
        .find(|p| p["server"] == "eu" && p["kind"] == "shared")
        .expect("the EU shared placement");
    assert_eq!(eu["tenants"], 2, "{eu}");
    assert_eq!(eu["tenants_by_plan"], json!({"free": 2}), "{eu}");
    assert!(eu["connections"].as_u64().unwrap() >= 1, "{eu}");
    assert!(eu["avg_query_ms"].as_f64().unwrap() > 0.0, "{eu}");
    assert!(eu["p95_query_ms"].as_f64().unwrap() > 0.0, "{eu}");
    let asia = placements
        .iter()
        .find(|p| p["server"] == "asia" && p["kind"] == "dedicated")
        .expect("the dedicated placement");
    assert_eq!(asia["tenants_by_plan"], json!({"enterprise": 1}), "{asia}");

    // The admin token is required.
    let (s, b) = app
        .call(reqwest::Method::GET, "/admin/health", None, None)
        .await;
    assert_problem(s, &b, 401, "token_missing");
    let (s, b) = app.get("/admin/health", "not-the-token").await;
    assert_problem(s, &b, 401, "token_invalid");
    let (s, _) = app
        .get("/admin/tenants/h-eu-a/stats", "not-the-token")
        .await;
    assert_eq!(s, 401);
    app.stop().await;
}
