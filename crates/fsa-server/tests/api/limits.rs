//! Plan limits hold under concurrency, rates are limited per tenant, slow
//! statements are cancelled, and a downgrade keeps data but refuses more.

use std::sync::Arc;
use std::time::{Duration, Instant};

use fsa_testkit::{Backend, TestApp};
use serde_json::json;

use super::{all_pages, assert_problem, client, work_order};

async fn race(backend: Backend) {
    let app = Arc::new(
        TestApp::start_with(backend, |c| {
            c.limits.free.work_orders = Some(10);
            c.limits.free.clients = Some(5);
        })
        .await
        .unwrap(),
    );
    app.create_tenant("race", "free", "default").await;
    let t = Arc::new(app.login_admin("race").await);
    let c = client(&app, &t, "First").await;
    for i in 0..9 {
        work_order(&app, &t, &c, &format!("wo {i}"), None).await;
    }
    for i in 0..3 {
        client(&app, &t, &format!("client {i}")).await;
    }
    // 50 concurrent creates of each kind at limit − 1.
    for (path, body, resource, limit) in [
        (
            "/api/v1/work-orders",
            json!({"client_id": c, "title": "racer"}),
            "work_orders",
            10,
        ),
        ("/api/v1/clients", json!({"name": "racer"}), "clients", 5),
    ] {
        let tasks: Vec<_> = (0..50)
            .map(|_| {
                let (app, t, body) = (app.clone(), t.clone(), body.clone());
                tokio::spawn(async move { app.post(path, &t, body).await })
            })
            .collect();
        let mut created = 0;
        for task in tasks {
            let (s, b) = task.await.unwrap();
            if s == 201 {
                created += 1;
            } else {
                assert_problem(s, &b, 403, "plan_limit_reached");
                assert_eq!(b["resource"], resource);
                assert_eq!(b["limit"], limit);
                assert_eq!(b["plan"], "free");
            }
        }
        assert_eq!(
            created, 1,
            "exactly one of 50 concurrent {resource} creates at limit − 1 succeeds"
        );
        assert_eq!(all_pages(&app, &t, path).await.len(), limit as usize);
    }
    let (s, u) = app.get("/api/v1/usage", &t).await;
    assert_eq!(s, 200);
    assert_eq!(u["plan"], "free");
    assert_eq!(
        u["usage"]["work_orders"],
        json!({"used": 10, "limit": 10, "over_limit": false})
    );
    assert_eq!(u["usage"]["clients"]["used"], 5);
    match Arc::try_unwrap(app) {
        Ok(app) => app.stop().await,
        Err(_) => panic!("app still shared"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_creates_at_the_limit_on_sqlite() {
    race(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_creates_at_the_limit_on_postgres() {
    race(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_over_the_rate_get_429_and_neighbours_do_not() {
    let app = TestApp::start_with(Backend::Sqlite, |c| {
        c.limits.free.requests_per_second = Some(5);
    })
    .await
    .unwrap();
    app.create_tenant("busy", "free", "default").await;
    app.create_tenant("calm", "basic", "default").await;
    let busy = app.login_admin("busy").await;
    let calm = app.login_admin("calm").await;
    let mut limited = 0;
    let sent = (0..12).map(|_| {
        app.client
            .get(format!("{}/api/v1/clients", app.base))
            .bearer_auth(&busy)
            .send()
    });
    for res in futures::future::join_all(sent).await {
        let res = res.unwrap();
        if res.status().as_u16() == 429 {
            assert!(res.headers().get("retry-after").is_some());
            let b: serde_json::Value = res.json().await.unwrap();
            assert_eq!(b["code"], "rate_limited");
            limited += 1;
        } else {
            assert_eq!(res.status().as_u16(), 200);
        }
    }
    assert!(
        limited >= 5,
        "12 requests at once against 5/s: {limited} limited"
    );
    for _ in 0..12 {
        assert_eq!(
            app.get("/api/v1/clients", &calm).await.0,
            200,
            "another tenant is not limited"
        );
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_statement_is_cancelled_with_503() {
    use sqlx::{Connection, Executor};

    let app = TestApp::start_with(Backend::Postgres, |c| {
        c.limits.free.statement_timeout_ms = 300;
    })
    .await
    .unwrap();
    let tenant = app.create_tenant("slow", "free", "default").await;
    let t = app.login_admin("slow").await;
    let c = client(&app, &t, "Client").await;
    work_order(&app, &t, &c, "job", None).await;
    // Another session holds the table; the tenant's query waits on it.
    let db = tenant["placement"]["database"].as_str().unwrap();
    let mut blocker =
        sqlx::PgConnection::connect(&format!("{}/{db}", fsa_testkit::local_pg_base()))
            .await
            .unwrap();
    blocker
        .execute("BEGIN; LOCK TABLE work_orders IN ACCESS EXCLUSIVE MODE")
        .await
        .unwrap();
    let started = Instant::now();
    let (s, b) = app.get("/api/v1/work-orders", &t).await;
    assert_problem(s, &b, 503, "statement_timeout");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "cancelled by the plan's timeout, not hung"
    );
    blocker.execute("ROLLBACK").await.unwrap();
    assert_eq!(app.get("/api/v1/work-orders", &t).await.0, 200);
    blocker.close().await.unwrap();
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_downgrade_keeps_data_and_refuses_more() {
    let app = TestApp::start_with(Backend::Sqlite, |c| {
        c.limits.basic.work_orders = Some(6);
        c.limits.free.work_orders = Some(3);
        c.move_cleanup = "now".into();
    })
    .await
    .unwrap();
    app.create_tenant("down", "basic", "default").await;
    let t = app.login_admin("down").await;
    let c = client(&app, &t, "Client").await;
    for i in 0..5 {
        work_order(&app, &t, &c, &format!("wo {i}"), None).await;
    }
    let admin = app.admin_token.clone();
    let (s, b) = app
        .patch("/admin/tenants/down", &admin, json!({"plan": "free"}))
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["plan"], "free");
    assert_eq!(
        b["over_limit"],
        json!([{"resource": "work_orders", "used": 5, "limit": 3}])
    );
    assert_eq!(
        all_pages(&app, &t, "/api/v1/work-orders").await.len(),
        5,
        "data is kept"
    );
    let (s, e) = app
        .post(
            "/api/v1/work-orders",
            &t,
            json!({"client_id": c, "title": "one more"}),
        )
        .await;
    assert_problem(s, &e, 403, "plan_limit_reached");
    let (_, u) = app.get("/api/v1/usage", &t).await;
    assert_eq!(u["usage"]["work_orders"]["over_limit"], true);
    // Back up: creates work again.
    let (s, _) = app
        .patch("/admin/tenants/down", &admin, json!({"plan": "basic"}))
        .await;
    assert_eq!(s, 200);
    let (s, _) = app
        .post(
            "/api/v1/work-orders",
            &t,
            json!({"client_id": c, "title": "one more"}),
        )
        .await;
    assert_eq!(s, 201);
    // An upgrade to enterprise moves the tenant into a dedicated database;
    // the plan takes effect at the switch.
    let (s, b) = app
        .patch("/admin/tenants/down", &admin, json!({"plan": "enterprise"}))
        .await;
    assert_eq!(s, 200, "{b}");
    let id = b["move"]["id"]
        .as_str()
        .expect("a move was scheduled")
        .to_owned();
    let m = super::wait_for_move(&app, &id).await;
    assert_eq!(m["state"], "done", "{m}");
    let (_, after) = app.get("/admin/tenants/down", &admin).await;
    assert_eq!(after["plan"], "enterprise");
    assert_eq!(after["placement"]["kind"], "dedicated");
    assert_eq!(after["epoch"], 2);
    assert_eq!(
        all_pages(&app, &t, "/api/v1/work-orders").await.len(),
        6,
        "every work order moved"
    );
    let (s, _) = app
        .post(
            "/api/v1/work-orders",
            &t,
            json!({"client_id": c, "title": "unlimited now"}),
        )
        .await;
    assert_eq!(s, 201);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_over_the_work_budget_get_429_and_neighbours_do_not() {
    // A budget of 1 ms of work per second: the first request spends it.
    let app = TestApp::start_with(Backend::Sqlite, |c| {
        c.limits.free.work_ms_per_second = Some(1);
    })
    .await
    .unwrap();
    app.create_tenant("heavy", "free", "default").await;
    app.create_tenant("light", "basic", "default").await;
    let heavy = app.login_admin("heavy").await;
    let light = app.login_admin("light").await;
    // Requests pass while the budget lasts; their time adds up until one is
    // refused (1 ms of work refills in a second, far slower than they come).
    let mut served = 0;
    let res = loop {
        let res = app
            .client
            .get(format!("{}/api/v1/work-orders", app.base))
            .bearer_auth(&heavy)
            .send()
            .await
            .unwrap();
        if res.status().as_u16() != 200 || served == 50 {
            break res;
        }
        served += 1;
    };
    assert!(served >= 1, "the first request is within the budget");
    assert_eq!(res.status().as_u16(), 429);
    assert!(res.headers().get("retry-after").is_some());
    let b: serde_json::Value = res.json().await.unwrap();
    assert_eq!(b["code"], "rate_limited", "{b}");
    assert!(
        b["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("ms of request work"),
        "{b}"
    );
    // The budget shows in the usage: the test kit lifts it for the basic plan.
    let (_, usage) = app.get("/api/v1/usage", &light).await;
    assert!(
        usage
            .as_object()
            .unwrap()
            .contains_key("work_ms_per_second"),
        "{usage}"
    );
    assert!(usage["work_ms_per_second"].is_null(), "{usage}");
    for _ in 0..5 {
        assert_eq!(
            app.get("/api/v1/work-orders", &light).await.0,
            200,
            "another tenant is not limited"
        );
    }
    // The debt is paid within two seconds.
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    assert_eq!(app.get("/api/v1/work-orders", &heavy).await.0, 200);
    app.stop().await;
}
