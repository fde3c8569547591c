//! Who may call the operator's new surfaces: health, a tenant's figures,
//! analytics and the advisor answer the operator's token only. A tenant's
//! own admin gets 403, a missing or wrong token 401, and nothing changes;
//! a hostile tenant name in a path is a clean refusal, never a 5xx.

use fsa_testkit::{Backend, TestApp};
use reqwest::Method;
use serde_json::json;

use super::assert_problem;

const READS: [&str; 4] = [
    "/admin/health",
    "/admin/tenants/acc-a/stats",
    "/admin/analytics/work-orders?group_by=status",
    "/admin/advice",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_operator_reads_the_fleet_or_applies_advice() {
    let app = TestApp::start(Backend::Sqlite).await.unwrap();
    app.create_tenant("acc-a", "free", "default").await;
    // A tenant asking for isolation is advised a move: what `apply` would
    // schedule if anyone but the operator could call it.
    let (s, t) = app
        .patch(
            "/admin/tenants/acc-a",
            &app.admin_token,
            json!({"isolation_requested": true}),
        )
        .await;
    assert_eq!(s, 200, "{t}");
    let (_, advice) = app.get("/admin/advice", &app.admin_token).await;
    assert_ne!(advice["items"], json!([]), "{advice}");
    let tenant_admin = app.login_admin("acc-a").await;

    for path in READS {
        let (s, b) = app.get(path, &tenant_admin).await;
        assert_problem(s, &b, 403, "admin_token_required");
        let (s, b) = app.get(path, "wrong").await;
        assert_problem(s, &b, 401, "token_invalid");
        let (s, b) = app.call(Method::GET, path, None, None).await;
        assert_eq!(s, 401, "{path} without a token: {b}");
        let (s, b) = app.get(path, &app.admin_token).await;
        assert_eq!(s, 200, "{path} for the operator: {b}");
    }
    let (s, b) = app
        .post("/admin/advice/apply", &tenant_admin, json!({}))
        .await;
    assert_problem(s, &b, 403, "admin_token_required");
    let (s, b) = app.post("/admin/advice/apply", "wrong", json!({})).await;
    assert_problem(s, &b, 401, "token_invalid");
    let (s, b) = app
        .call(Method::POST, "/admin/advice/apply", None, Some(json!({})))
        .await;
    assert_eq!(s, 401, "{b}");
    let (_, moves) = app.get("/admin/moves", &app.admin_token).await;
    assert_eq!(moves, json!([]), "a refused apply scheduled nothing");

    // A tenant's admin cannot ask for isolation (a dedicated database) on
    // its own: that is the operator's PATCH.
    let (s, b) = app
        .patch(
            "/admin/tenants/acc-a",
            &tenant_admin,
            json!({"isolation_requested": false}),
        )
        .await;
    assert_problem(s, &b, 403, "admin_token_required");
    let (s, b) = app
        .patch(
            "/admin/tenants/acc-a",
            &app.admin_token,
            json!({"isolation_requested": "yes"}),
        )
        .await;
    assert!(
        (400..500).contains(&s) && b["code"].is_string(),
        "a non-boolean isolation_requested is refused: {s} {b}"
    );
    let (_, t) = app.get("/admin/tenants/acc-a", &app.admin_token).await;
    assert_eq!(
        t["isolation_requested"], true,
        "the refused changes changed nothing: {t}"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_tenant_names_in_the_stats_path_are_refused_cleanly() {
    let app = TestApp::start(Backend::Sqlite).await.unwrap();
    let long = "a".repeat(300);
    for slug in [
        long.as_str(),
        "%C3%A9t%C3%A9",
        "..%2F..%2Fetc",
        "a%20b",
        "a%00b",
        "UPPER",
        "-x",
    ] {
        let (s, b) = app
            .get(&format!("/admin/tenants/{slug}/stats"), &app.admin_token)
            .await;
        assert!(
            (s == 400 || s == 404) && b["code"].is_string(),
            "{slug}: {s} {b}"
        );
    }
    app.stop().await;
}
