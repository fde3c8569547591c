//! A server that stops: its tenants get 503 `placement_unavailable`, tenants
//! on other servers are unaffected, and service resumes without a restart
//! when it returns.

use std::time::{Duration, Instant};

use fsa_testkit::{Backend, TestApp};

use super::{clusters, server};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_server_fails_its_tenants_only_and_recovers() {
    let mut cl = clusters(2).await;
    let servers = vec![
        server("eu", "EU", format!("{}/postgres", cl[0].base_url())),
        server("us", "US", format!("{}/postgres", cl[1].base_url())),
    ];
    let app = TestApp::start_with(Backend::Postgres, |c| {
        c.servers = servers;
        c.pools.shared.acquire_timeout = Duration::from_secs(2);
    })
    .await
    .unwrap();
    app.create_tenant("out-eu", "free", "EU").await;
    app.create_tenant("out-us", "free", "US").await;
    let eu = app.login_admin("out-eu").await;
    let us = app.login_admin("out-us").await;
    assert_eq!(app.get("/api/v1/clients", &eu).await.0, 200);
    assert_eq!(app.get("/api/v1/clients", &us).await.0, 200);

    tokio::task::block_in_place(|| cl[0].stop()).unwrap();
    let (s, body) = app.get("/api/v1/clients", &eu).await;
    assert_eq!(s, 503, "{body}");
    assert_eq!(body["code"], "placement_unavailable");
    // Now marked down: answered at once, with Retry-After.
    let started = Instant::now();
    let res = app
        .client
        .get(format!("{}/api/v1/clients", app.base))
        .bearer_auth(&eu)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 503);
    assert!(res.headers().get("retry-after").is_some());
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "a known-down server fails fast"
    );
    for _ in 0..5 {
        let (s, b) = app.get("/api/v1/clients", &us).await;
        assert_eq!(s, 200, "the other region is unaffected: {b}");
    }

    tokio::task::block_in_place(|| cl[0].start_again()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (s, body) = app.get("/api/v1/clients", &eu).await;
        if s == 200 {
            break;
        }
        assert_eq!(s, 503, "only 503 while recovering: {body}");
        assert!(Instant::now() < deadline, "the EU tenant did not recover");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (s, _) = app
        .post(
            "/api/v1/clients",
            &eu,
            serde_json::json!({"name": "After the outage"}),
        )
        .await;
    assert_eq!(s, 201);
    app.stop().await;
}
