//! A server's streaming replica in `/admin/health`: a real replica
//! (`pg_basebackup -R` from a throwaway cluster) shows up by name with its
//! state and lag, the server without one shows none, and a stopped replica
//! goes away.

use std::time::{Duration, Instant};

use fsa_testkit::{Backend, Json, PgCluster, TestApp};

use super::{clusters, server};

/// The health of server `name`, once `done` holds for it (within 30 s).
async fn server_health(app: &TestApp, name: &str, done: impl Fn(&Json) -> bool) -> Json {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (s, h) = app.get("/admin/health", &app.admin_token).await;
        assert_eq!(s, 200, "{h}");
        let found = h["servers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("no server {name}: {h}"));
        if done(&found) {
            return found;
        }
        assert!(Instant::now() < deadline, "server {name}: {found}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_shows_a_servers_streaming_replica_and_its_lag() {
    let primary = clusters(1).await.pop().unwrap();
    let replica = {
        let p = &primary;
        tokio::task::block_in_place(|| p.start_replica("fsa-eu-replica")).unwrap()
    };
    let url = format!("{}/postgres", primary.base_url());
    let app = TestApp::start_with(Backend::Postgres, |c| {
        c.servers = vec![server("eu", "EU", url)];
    })
    .await
    .unwrap();
    app.create_tenant("replicated", "enterprise", "EU").await;

    let eu = server_health(&app, "eu", |s| {
        s["replicas"]
            .as_array()
            .is_some_and(|r| r.iter().any(|r| r["state"] == "streaming"))
    })
    .await;
    assert_eq!(eu["engine"], "postgres", "{eu}");
    assert_eq!(eu["reachable"], true, "{eu}");
    let r = &eu["replicas"][0];
    assert_eq!(r["name"], "fsa-eu-replica", "{eu}");
    assert_eq!(r["sync_state"], "async", "{eu}");
    assert!(r["lag_bytes"].as_i64().is_some_and(|b| b >= 0), "{eu}");
    assert_eq!(r["client"], "127.0.0.1", "{eu}");
    // The catalog's own server streams to nobody.
    let default = server_health(&app, "default", |_| true).await;
    assert_eq!(default["replicas"], serde_json::json!([]), "{default}");

    // A replica that stops is gone from the list.
    drop(replica);
    server_health(&app, "eu", |s| s["replicas"] == serde_json::json!([])).await;
    app.stop().await;
    drop::<PgCluster>(primary);
}
