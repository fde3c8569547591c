//! The names fsa gives databases, on PostgreSQL: long slugs never share a
//! database, a database that is not fsa's is never adopted (nor dropped),
//! and a dedicated placement serves one tenant.

use fsa_core::Region;
use fsa_testkit::{Backend, Json, TestApp};
use serde_json::json;
use sqlx::{Connection, Executor, PgConnection};

use super::moves::move_tenant;

/// A 56-character slug that differs from its sibling in the last one only.
fn long_slug(last: char) -> String {
    let slug = format!("acme-field-service-{}{last}", "x".repeat(36));
    assert_eq!(slug.len(), 56);
    slug
}

async fn maintenance(app: &TestApp) -> PgConnection {
    let base = &app.db.as_ref().expect("postgres").base;
    PgConnection::connect(&format!("{base}/postgres"))
        .await
        .unwrap()
}

async fn database_exists(app: &TestApp, name: &str) -> bool {
    let mut c = maintenance(app).await;
    let found = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
        .bind(name)
        .fetch_one(&mut c)
        .await
        .unwrap();
    c.close().await.unwrap();
    found
}

async fn db_name_of(app: &TestApp, slug: &str) -> String {
    let catalog = app.state.router.catalog();
    let t = catalog.tenant_by_slug(slug).await.unwrap().unwrap();
    catalog
        .placement(t.placement_id)
        .await
        .unwrap()
        .unwrap()
        .db_name
}

/// A client and `n` work orders; returns the admin's token.
async fn fill(app: &TestApp, slug: &str, n: usize) -> String {
    let token = app.login_admin(slug).await;
    let (s, c) = app
        .post("/api/v1/clients", &token, json!({"name": "Harbor"}))
        .await;
    assert_eq!(s, 201, "{c}");
    for i in 0..n {
        let (s, w) = app
            .post(
                "/api/v1/work-orders",
                &token,
                json!({"client_id": c["id"], "title": format!("{slug} job {i}")}),
            )
            .await;
        assert_eq!(s, 201, "{w}");
    }
    token
}

async fn work_orders(app: &TestApp, token: &str) -> Vec<Json> {
    let (s, b) = app.get("/api/v1/work-orders?limit=200", token).await;
    assert_eq!(s, 200, "{b}");
    b["items"].as_array().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_long_slugs_get_two_databases_and_moving_one_out_leaves_the_other() {
    let app = TestApp::start(Backend::Postgres).await.unwrap();
    let (a, b) = (long_slug('a'), long_slug('b'));
    app.create_tenant(&a, "enterprise", "default").await;
    app.create_tenant(&b, "enterprise", "default").await;
    let (db_a, db_b) = (db_name_of(&app, &a).await, db_name_of(&app, &b).await);
    assert_ne!(
        db_a, db_b,
        "each enterprise tenant has a database of its own"
    );
    for db in [&db_a, &db_b] {
        assert!(db.len() <= 63, "{db} fits PostgreSQL's names");
        assert!(
            database_exists(&app, db).await,
            "{db} exists under its own name"
        );
    }
    let token_a = fill(&app, &a, 3).await;
    let token_b = fill(&app, &b, 4).await;

    // A leaves its database; the cleanup drops it, and only it.
    let m = move_tenant(&app, &a, json!({"to": "shared", "cleanup": "now"})).await;
    assert_eq!(m["state"], "done", "{m}");
    assert_eq!(m["report"]["source_dropped"], true, "{m}");
    assert!(!database_exists(&app, &db_a).await);
    assert!(database_exists(&app, &db_b).await, "B's database stays");
    assert_eq!(work_orders(&app, &token_a).await.len(), 3);
    assert_eq!(work_orders(&app, &token_b).await.len(), 4, "B lost nothing");

    // B, long slug and all, moves to a dedicated database of a new name.
    let m = move_tenant(&app, &b, json!({"to": "dedicated", "cleanup": "now"})).await;
    assert_eq!(m["state"], "done", "{m}");
    let db_b2 = db_name_of(&app, &b).await;
    assert!(db_b2.len() <= 63 && db_b2 != db_b, "{db_b2}");
    assert!(database_exists(&app, &db_b2).await);
    assert!(
        !database_exists(&app, &db_b).await,
        "the old one is dropped"
    );
    assert_eq!(work_orders(&app, &token_b).await.len(), 4);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_that_is_not_fsas_is_refused_and_left_alone() {
    let app = TestApp::start(Backend::Postgres).await.unwrap();
    let slug = "taken-name";
    // Someone else's database under the very name the tenant's would get.
    let server = app
        .state
        .router
        .servers()
        .for_region(&Region::default_region());
    let name = server.db_name_for(&format!("dedicated-default-{slug}"));
    let mut c = maintenance(&app).await;
    c.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
        .await
        .unwrap();
    c.close().await.unwrap();
    let base = &app.db.as_ref().unwrap().base;
    let mut theirs = PgConnection::connect(&format!("{base}/{name}"))
        .await
        .unwrap();
    theirs
        .execute("CREATE TABLE ledger (amount int); INSERT INTO ledger VALUES (42)")
        .await
        .unwrap();
    theirs.close().await.unwrap();

    let body = json!({
        "slug": slug, "name": "Taken", "plan": "enterprise", "region": "default",
        "admin_email": "admin@taken.test", "admin_password": "a long password",
    });
    let (s, p) = app
        .post("/admin/tenants", &app.admin_token, body.clone())
        .await;
    assert_eq!(s, 409, "{p}");
    assert_eq!(p["code"], "database_taken", "{p}");
    let (s, _) = app
        .get(&format!("/admin/tenants/{slug}"), &app.admin_token)
        .await;
    assert_eq!(s, 404, "the failed onboarding left no tenant");
    let mut theirs = PgConnection::connect(&format!("{base}/{name}"))
        .await
        .unwrap();
    let kept: i32 = sqlx::query_scalar("SELECT amount FROM ledger")
        .fetch_one(&mut theirs)
        .await
        .unwrap();
    assert_eq!(kept, 42, "their database is untouched");
    theirs.close().await.unwrap();

    // Onboarding again takes another name.
    let (s, t) = app.post("/admin/tenants", &app.admin_token, body).await;
    assert_eq!(s, 201, "{t}");
    assert_ne!(db_name_of(&app, slug).await, name);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_move_into_a_taken_dedicated_placement_is_refused() {
    let app = TestApp::start(Backend::Postgres).await.unwrap();
    let owner = app.create_tenant("owner-co", "enterprise", "default").await;
    app.create_tenant("guest-co", "basic", "default").await;
    let token = fill(&app, "owner-co", 2).await;
    let taken = owner["placement"]["id"].as_str().unwrap().to_owned();
    let (s, p) = app
        .post(
            "/admin/tenants/guest-co/move",
            &app.admin_token,
            json!({"to": taken, "cleanup": "now"}),
        )
        .await;
    assert_eq!(s, 409, "{p}");
    assert_eq!(p["code"], "preflight_failed", "{p}");
    assert_eq!(p["reason"], "dedicated_placement_taken", "{p}");
    assert_eq!(work_orders(&app, &token).await.len(), 2);
    app.stop().await;
}
