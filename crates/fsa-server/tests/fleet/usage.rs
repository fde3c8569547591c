//! Usage counters follow the tenant's rows: through creates and deletes,
//! moves in every direction on both engines, and restores; and a limit is
//! enforced from them exactly, at the target of a move too.

use fsa_testkit::files::{tenant_with_order, upload};
use fsa_testkit::{Backend, Json, TestApp};
use serde_json::json;

use super::moves::move_tenant;

/// Items of every page of `path`.
async fn count_pages(app: &TestApp, token: &str, path: &str) -> i64 {
    let mut n = 0;
    let mut cursor: Option<String> = None;
    loop {
        let url = match &cursor {
            Some(c) => format!("{path}?limit=200&cursor={c}"),
            None => format!("{path}?limit=200"),
        };
        let (s, b) = app.get(&url, token).await;
        assert_eq!(s, 200, "{url}: {b}");
        n += b["items"].as_array().unwrap().len() as i64;
        match b["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return n,
        }
    }
}

/// The tenant's usage as `/api/v1/usage` reports it (from the counters)
/// equals its rows as the API lists them; returns the usage.
pub(super) async fn assert_usage_is_counted(app: &TestApp, token: &str, file_bytes: i64) -> Json {
    let (s, u) = app.get("/api/v1/usage", token).await;
    assert_eq!(s, 200, "{u}");
    for (resource, path) in [
        ("work_orders", "/api/v1/work-orders"),
        ("clients", "/api/v1/clients"),
        ("users", "/api/v1/users"),
        ("personnel", "/api/v1/personnel"),
    ] {
        let listed = count_pages(app, token, path).await;
        assert_eq!(
            u["usage"][resource]["used"].as_i64(),
            Some(listed),
            "{resource}: {u}"
        );
    }
    assert_eq!(
        u["usage"]["file_bytes"]["used"].as_i64(),
        Some(file_bytes),
        "{u}"
    );
    u
}

/// The work-order limit of every plan here.
const LIMIT: u64 = 25;

async fn counters_follow_moves(backend: Backend) {
    let app = TestApp::start_with(backend, |c| {
        c.pooled_capacity = 3;
        for plan in [
            &mut c.limits.free,
            &mut c.limits.basic,
            &mut c.limits.premium,
            &mut c.limits.enterprise,
        ] {
            plan.work_orders = Some(LIMIT);
        }
    })
    .await
    .unwrap();
    let (_, neighbour, _) = tenant_with_order(&app, "counted-beside", "free").await;
    let (_, token, first) = tenant_with_order(&app, "counted", "free").await;
    upload(&app, &token, &first, "a.txt", b"0123456789").await;
    let (_, c) = app.get("/api/v1/clients", &token).await;
    let client = c["items"][0]["id"].as_str().unwrap().to_owned();
    let mut orders = Vec::new();
    for i in 0..20 {
        let (s, w) = app
            .post(
                "/api/v1/work-orders",
                &token,
                json!({"client_id": client, "title": format!("job {i}")}),
            )
            .await;
        assert_eq!(s, 201, "{w}");
        orders.push(w["id"].as_str().unwrap().to_owned());
    }
    for id in orders.iter().step_by(3) {
        let (s, _) = app
            .delete(&format!("/api/v1/work-orders/{id}"), &token)
            .await;
        assert_eq!(s, 204);
    }
    for name in ["Spare", "Other"] {
        let (s, b) = app
            .post("/api/v1/clients", &token, json!({"name": name}))
            .await;
        assert_eq!(s, 201, "{b}");
    }
    let u = assert_usage_is_counted(&app, &token, 10).await;
    // 1 + 20 created, 7 deleted.
    assert_eq!(u["usage"]["work_orders"]["used"], 14, "{u}");
    let beside = assert_usage_is_counted(&app, &neighbour, 0).await;

    for to in ["dedicated", "pooled", "shared"] {
        let m = move_tenant(&app, "counted", json!({"to": to, "cleanup": "now"})).await;
        assert_eq!(m["state"], "done", "{m}");
        // At the target the counters equal the rows the move brought, and
        // the neighbour's did not change while the source was cleaned.
        assert_usage_is_counted(&app, &token, 10).await;
        assert_eq!(assert_usage_is_counted(&app, &neighbour, 0).await, beside);
    }

    // The limit is enforced from the counters at the target, exactly.
    for i in 14..LIMIT {
        let (s, w) = app
            .post(
                "/api/v1/work-orders",
                &token,
                json!({"client_id": client, "title": format!("up to {i}")}),
            )
            .await;
        assert_eq!(s, 201, "{w}");
    }
    let (s, w) = app
        .post(
            "/api/v1/work-orders",
            &token,
            json!({"client_id": client, "title": "one over"}),
        )
        .await;
    assert_eq!(s, 403, "{w}");
    assert_eq!(w["code"], "plan_limit_reached", "{w}");
    assert_eq!(w["used"], LIMIT, "{w}");
    assert_usage_is_counted(&app, &token, 10).await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_counters_follow_moves_on_postgres() {
    counters_follow_moves(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_counters_follow_moves_on_sqlite() {
    counters_follow_moves(Backend::Sqlite).await;
}
