//! Isolation: tenant A's token with tenant B's ids, in paths, filters,
//! cursors and bodies, never returns or changes anything of B. And in a
//! shared PostgreSQL placement, row-level security alone confines a plain
//! `SELECT * FROM work_orders` to the tenant set for the transaction.

use std::sync::Arc;

use fsa_testkit::{Backend, Json, TestApp};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::json;

use super::{all_pages, client, work_order};

/// Tenant B's world, and what A owns to aim with.
struct World {
    app: TestApp,
    ta: String,
    tb: String,
    a_client: String,
    a_wo: String,
    /// Every id of B's rows.
    b_ids: Vec<String>,
    b_client: String,
    b_personnel: String,
    b_user: String,
    b_wo: String,
    b_task: String,
    b_cursor: String,
}

async fn setup(backend: Backend) -> World {
    let app = TestApp::start(backend).await.unwrap();
    app.create_tenant("iso-a", "free", "default").await;
    let b_tenant = app.create_tenant("iso-b", "free", "default").await;
    let ta = app.login_admin("iso-a").await;
    let tb = app.login_admin("iso-b").await;
    let a_client = client(&app, &ta, "Alpha Plumbing Client").await;
    let a_wo = work_order(&app, &ta, &a_client, "Alpha job", None).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let b_client = client(&app, &tb, "Bravo Secret Client").await;
    let (_, u) = app.post("/api/v1/users", &tb, json!({"email": "tech@iso-b.test", "name": "Bravo Tech", "role": "technician", "password": "bravo-password"})).await;
    let b_user = u["id"].as_str().unwrap().to_owned();
    let (_, p) = app
        .post(
            "/api/v1/personnel",
            &tb,
            json!({"name": "Bravo Person", "user_id": b_user}),
        )
        .await;
    let b_personnel = p["id"].as_str().unwrap().to_owned();
    let mut b_wos = Vec::new();
    for n in 0..3 {
        let (s, w) = app
            .post("/api/v1/work-orders", &tb, json!({"client_id": b_client, "title": format!("Bravo secret job {n}"), "assigned_to": b_personnel}))
            .await;
        assert_eq!(s, 201, "{w}");
        b_wos.push(w["id"].as_str().unwrap().to_owned());
    }
    let (_, t) = app
        .post(
            &format!("/api/v1/work-orders/{}/tasks", b_wos[0]),
            &tb,
            json!({"title": "Bravo task"}),
        )
        .await;
    let b_task = t["id"].as_str().unwrap().to_owned();
    let (_, page) = app.get("/api/v1/work-orders?limit=1", &tb).await;
    let b_cursor = page["next_cursor"].as_str().unwrap().to_owned();
    let mut b_ids = vec![
        b_tenant["id"].as_str().unwrap().to_owned(),
        b_client.clone(),
        b_user.clone(),
        b_personnel.clone(),
        b_task.clone(),
    ];
    b_ids.extend(b_wos.iter().cloned());
    World {
        app,
        ta,
        tb,
        a_client,
        a_wo,
        b_ids,
        b_client,
        b_personnel,
        b_user,
        b_wo: b_wos[0].clone(),
        b_task,
        b_cursor,
    }
}

/// Everything B has, as B sees it.
async fn snapshot_b(w: &World) -> Vec<Json> {
    let mut all = Vec::new();
    for path in [
        "/api/v1/clients",
        "/api/v1/personnel",
        "/api/v1/users",
        "/api/v1/work-orders",
    ] {
        all.extend(all_pages(&w.app, &w.tb, path).await);
    }
    all.extend(
        all_pages(
            &w.app,
            &w.tb,
            &format!("/api/v1/work-orders/{}/tasks", w.b_wo),
        )
        .await,
    );
    all
}

/// The ways A's token can aim at B.
#[derive(Debug, Clone)]
enum Attack {
    Get(&'static str),
    Patch(&'static str, String),
    Delete(&'static str),
    ListByBClient,
    ListAssignedToB,
    ListWithBCursor,
    ClientsWithBCursor,
    CreateWoForBClient(String),
    CreateWoAssignedToB,
    MoveAWoToBClient,
    AssignAWoToB,
    CreateTaskOnBWo,
    LinkPersonnelToBUser,
    TasksOfBWo,
}

fn attack() -> impl Strategy<Value = Attack> {
    let kind = prop::sample::select(vec![
        "client",
        "personnel",
        "user",
        "work-order",
        "task",
        "task-via-a",
    ]);
    let title = "[A-Za-z ]{1,16}";
    prop_oneof![
        kind.clone().prop_map(Attack::Get),
        (kind.clone(), title).prop_map(|(k, t)| Attack::Patch(k, t)),
        kind.prop_map(Attack::Delete),
        Just(Attack::ListByBClient),
        Just(Attack::ListAssignedToB),
        Just(Attack::ListWithBCursor),
        Just(Attack::ClientsWithBCursor),
        title.prop_map(Attack::CreateWoForBClient),
        Just(Attack::CreateWoAssignedToB),
        Just(Attack::MoveAWoToBClient),
        Just(Attack::AssignAWoToB),
        Just(Attack::CreateTaskOnBWo),
        Just(Attack::LinkPersonnelToBUser),
        Just(Attack::TasksOfBWo),
    ]
}

fn path_of(w: &World, kind: &str) -> String {
    match kind {
        "client" => format!("/api/v1/clients/{}", w.b_client),
        "personnel" => format!("/api/v1/personnel/{}", w.b_personnel),
        "user" => format!("/api/v1/users/{}", w.b_user),
        "work-order" => format!("/api/v1/work-orders/{}", w.b_wo),
        "task" => format!("/api/v1/work-orders/{}/tasks/{}", w.b_wo, w.b_task),
        _ => format!("/api/v1/work-orders/{}/tasks/{}", w.a_wo, w.b_task),
    }
}

fn patch_body(kind: &str, title: &str) -> Json {
    match kind {
        "client" | "personnel" | "user" => json!({"name": title}),
        _ => json!({"title": title}),
    }
}

async fn run_attack(w: &World, a: &Attack) -> (u16, Json) {
    let app = &w.app;
    let ta = &w.ta;
    match a {
        Attack::Get(k) => app.get(&path_of(w, k), ta).await,
        Attack::Patch(k, t) => app.patch(&path_of(w, k), ta, patch_body(k, t)).await,
        Attack::Delete(k) => app.delete(&path_of(w, k), ta).await,
        Attack::ListByBClient => {
            app.get(&format!("/api/v1/work-orders?client_id={}", w.b_client), ta)
                .await
        }
        Attack::ListAssignedToB => {
            app.get(
                &format!("/api/v1/work-orders?assigned_to={}", w.b_personnel),
                ta,
            )
            .await
        }
        Attack::ListWithBCursor => {
            app.get(&format!("/api/v1/work-orders?cursor={}", w.b_cursor), ta)
                .await
        }
        Attack::ClientsWithBCursor => {
            app.get(&format!("/api/v1/clients?cursor={}", w.b_cursor), ta)
                .await
        }
        Attack::CreateWoForBClient(t) => {
            app.post(
                "/api/v1/work-orders",
                ta,
                json!({"client_id": w.b_client, "title": t}),
            )
            .await
        }
        Attack::CreateWoAssignedToB => {
            app.post(
                "/api/v1/work-orders",
                ta,
                json!({"client_id": w.a_client, "title": "x", "assigned_to": w.b_personnel}),
            )
            .await
        }
        Attack::MoveAWoToBClient => {
            app.patch(
                &format!("/api/v1/work-orders/{}", w.a_wo),
                ta,
                json!({"client_id": w.b_client}),
            )
            .await
        }
        Attack::AssignAWoToB => {
            app.patch(
                &format!("/api/v1/work-orders/{}", w.a_wo),
                ta,
                json!({"assigned_to": w.b_personnel}),
            )
            .await
        }
        Attack::CreateTaskOnBWo => {
            app.post(
                &format!("/api/v1/work-orders/{}/tasks", w.b_wo),
                ta,
                json!({"title": "x"}),
            )
            .await
        }
        Attack::LinkPersonnelToBUser => {
            app.post(
                "/api/v1/personnel",
                ta,
                json!({"name": "x", "user_id": w.b_user}),
            )
            .await
        }
        Attack::TasksOfBWo => {
            app.get(&format!("/api/v1/work-orders/{}/tasks", w.b_wo), ta)
                .await
        }
    }
}

fn isolation(backend: Backend) {
    let rt = Arc::new(
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap(),
    );
    let w = rt.block_on(setup(backend));
    let before = rt.block_on(snapshot_b(&w));
    let a_before = rt.block_on(all_pages(&w.app, &w.ta, "/api/v1/work-orders"));
    let mut runner = TestRunner::new(Config {
        cases: 96,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&attack(), |a| {
            let (status, body) = rt.block_on(run_attack(&w, &a));
            let text = body.to_string();
            for id in &w.b_ids {
                prop_assert!(!text.contains(id.as_str()), "{a:?} leaked {id}: {text}");
            }
            prop_assert!(!text.contains("Bravo"), "{a:?} leaked B's data: {text}");
            match status {
                // A list may answer, with A's own rows only (a cursor of B's
                // holds a position, not a tenant).
                200 => {
                    let items = body["items"].as_array();
                    prop_assert!(items.is_some(), "{a:?}: {text}");
                    for item in items.into_iter().flatten() {
                        let id = item["id"].as_str().unwrap_or_default();
                        prop_assert!(
                            id == w.a_wo || id == w.a_client,
                            "{a:?} returned a row not of A: {text}"
                        );
                    }
                }
                404 | 422 | 400 => prop_assert!(body["code"].is_string(), "{a:?}: {text}"),
                _ => prop_assert!(false, "{a:?} answered {status}: {text}"),
            }
            Ok(())
        })
        .unwrap();
    let after = rt.block_on(snapshot_b(&w));
    assert_eq!(before, after, "B's data changed");
    let a_after = rt.block_on(all_pages(&w.app, &w.ta, "/api/v1/work-orders"));
    assert_eq!(a_before, a_after, "a refused write changed A's work orders");
    rt.block_on(w.app.stop());
}

#[test]
fn cross_tenant_ids_reach_nothing_on_sqlite() {
    isolation(Backend::Sqlite);
}

#[test]
fn cross_tenant_ids_reach_nothing_on_postgres() {
    isolation(Backend::Postgres);
}

/// With the tenant setting on A, a plain SELECT under the service's role
/// returns only A's rows, though B's are in the same tables; with no setting
/// it returns none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn row_level_security_confines_plain_selects() {
    use sqlx::{Connection, Executor, Row};

    let app = TestApp::start(Backend::Postgres).await.unwrap();
    let a = app.create_tenant("rls-a", "free", "default").await;
    let b = app.create_tenant("rls-b", "free", "default").await;
    assert_eq!(a["placement"]["id"], b["placement"]["id"]);
    for (slug, n) in [("rls-a", 3), ("rls-b", 5)] {
        let t = app.login_admin(slug).await;
        let c = client(&app, &t, "Client").await;
        for i in 0..n {
            work_order(&app, &t, &c, &format!("job {i}"), None).await;
        }
    }
    let db = a["placement"]["database"].as_str().unwrap();
    let url = format!("{}/{db}", fsa_testkit::local_pg_base());
    let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
    let total: i64 = sqlx::query_scalar("SELECT count(*) FROM work_orders")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(total, 8, "the superuser sees both tenants' rows");

    conn.execute("SET ROLE fsa_app").await.unwrap();
    let a_id = a["id"].as_str().unwrap();
    let mut tx = conn.begin().await.unwrap();
    sqlx::query("SELECT set_config('fsa.tenant_id', $1, true)")
        .bind(a_id)
        .execute(&mut *tx)
        .await
        .unwrap();
    let rows = sqlx::query("SELECT * FROM work_orders")
        .fetch_all(&mut *tx)
        .await
        .unwrap();
    assert_eq!(rows.len(), 3);
    for r in &rows {
        let tid: uuid::Uuid = r.get("tenant_id");
        assert_eq!(tid.to_string(), a_id);
    }
    // Writing a row for B under A's setting is refused by the policy.
    let b_id: uuid::Uuid = b["id"].as_str().unwrap().parse().unwrap();
    let err = sqlx::query("UPDATE tenant_state SET epoch = epoch WHERE tenant_id = $1 RETURNING 1")
        .bind(b_id)
        .fetch_optional(&mut *tx)
        .await
        .unwrap();
    assert!(
        err.is_none(),
        "B's state row is invisible under A's setting"
    );
    tx.commit().await.unwrap();

    let none: i64 = sqlx::query_scalar("SELECT count(*) FROM work_orders")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(none, 0, "without a tenant setting nothing is visible");
    conn.close().await.unwrap();
    app.stop().await;
}
