//! 300 dedicated databases on one server under a connection budget of 40:
//! concurrent requests spread over all 300 tenants, zero failures, and the
//! server's connection count (from pg_stat_activity) never above the budget.
//! `FSA_SCALE_SECS` sets the load's duration (default 60).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use fsa_testkit::{Backend, TestApp};
use futures::StreamExt;
use serde_json::json;

use super::{clusters, server};

const TENANTS: usize = 300;
const BUDGET: u32 = 40;
const WORKERS: usize = 16;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_hundred_databases_under_a_budget_of_forty() {
    let secs: u64 = std::env::var("FSA_SCALE_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let cl = clusters(1).await;
    let base = cl[0].base_url();
    let app = Arc::new(
        TestApp::start_with(Backend::Postgres, |c| {
            c.servers = vec![server("us", "US", format!("{base}/postgres"))];
            c.connection_budget = BUDGET;
            c.budget_wait_secs = 20.0;
            c.pools.dedicated.max_connections = 2;
            c.pools.dedicated.min_connections = 0;
        })
        .await
        .unwrap(),
    );
    let prefix = app.db.as_ref().unwrap().name.clone();

    // Onboard 300 enterprise tenants, four at a time.
    let slugs: Vec<String> = (0..TENANTS).map(|i| format!("ent-{i:03}")).collect();
    let tokens: Vec<String> = futures::stream::iter(slugs.clone())
        .map(|slug| {
            let app = app.clone();
            async move {
                app.create_tenant(&slug, "enterprise", "US").await;
                app.login_admin(&slug).await
            }
        })
        .buffered(4)
        .collect()
        .await;
    let (_, ps) = app.get("/admin/placements", &app.admin_token).await;
    let dedicated = ps
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["kind"] == "dedicated")
        .count();
    assert_eq!(dedicated, TENANTS);

    // Watch the server's connections to the placement databases.
    let stop = Arc::new(AtomicBool::new(false));
    let peak = Arc::new(AtomicU64::new(0));
    let watcher = {
        let (stop, peak, prefix) = (stop.clone(), peak.clone(), prefix.clone());
        let url = format!("{base}/postgres");
        tokio::spawn(async move {
            use sqlx::Connection;
            let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
            while !stop.load(Ordering::Relaxed) {
                let n: i64 = sqlx::query_scalar(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname LIKE $1 || '%' AND pid <> pg_backend_pid()",
                )
                .bind(&prefix)
                .fetch_one(&mut conn)
                .await
                .unwrap();
                peak.fetch_max(n as u64, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };

    let ok = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let until = Instant::now() + Duration::from_secs(secs);
    let tokens = Arc::new(tokens);
    let workers: Vec<_> = (0..WORKERS)
        .map(|w| {
            let (app, tokens, ok, failed) =
                (app.clone(), tokens.clone(), ok.clone(), failed.clone());
            tokio::spawn(async move {
                let mut i = w * 7919;
                while Instant::now() < until {
                    i = i.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                    let t = &tokens[(i >> 8) % TENANTS];
                    let (s, body) = if i % 5 == 0 {
                        app.post("/api/v1/clients", t, json!({"name": "Scale client"}))
                            .await
                    } else {
                        app.get("/api/v1/work-orders?limit=5", t).await
                    };
                    if (200..300).contains(&s) {
                        ok.fetch_add(1, Ordering::Relaxed);
                    } else {
                        failed.fetch_add(1, Ordering::Relaxed);
                        eprintln!("request failed: {s} {body}");
                    }
                }
            })
        })
        .collect();
    for w in workers {
        w.await.unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    watcher.await.unwrap();

    let stats = app.state.router.pool_stats();
    let (ok, failed, peak) = (
        ok.load(Ordering::Relaxed),
        failed.load(Ordering::Relaxed),
        peak.load(Ordering::Relaxed),
    );
    eprintln!(
        "scale: {ok} ok, {failed} failed in {secs} s; peak server connections {peak} (budget {BUDGET}); pools opened {} evicted {}",
        stats.opened_total, stats.evicted_total
    );
    assert_eq!(failed, 0, "no request may fail");
    assert!(ok > 0);
    assert!(
        peak <= BUDGET as u64,
        "the server saw {peak} connections, over the budget of {BUDGET}"
    );
    assert!(
        stats.evicted_total > 0,
        "300 databases under this budget require closing idle pools"
    );
    match Arc::try_unwrap(app) {
        Ok(app) => app.stop().await,
        Err(_) => panic!("app still shared"),
    }
}
