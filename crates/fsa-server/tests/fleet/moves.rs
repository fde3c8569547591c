//! Online moves through the admin API: every direction, across engines,
//! with writers running, and with a second service process on the catalog.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use fsa_testkit::{Backend, Json, TestApp};
use serde_json::json;

use super::{clusters, server};

/// Everything a tenant's admin can read, keyed for comparison.
async fn everything(app: &TestApp, token: &str) -> BTreeMap<String, Json> {
    let mut out = BTreeMap::new();
    for path in [
        "/api/v1/clients",
        "/api/v1/personnel",
        "/api/v1/users",
        "/api/v1/work-orders",
    ] {
        let mut cursor: Option<String> = None;
        loop {
            let url = match &cursor {
                Some(c) => format!("{path}?limit=200&cursor={c}"),
                None => format!("{path}?limit=200"),
            };
            let (s, b) = app.get(&url, token).await;
            assert_eq!(s, 200, "{url}: {b}");
            for item in b["items"].as_array().unwrap() {
                let id = item["id"].as_str().unwrap().to_owned();
                if path.ends_with("work-orders") {
                    let (_, tasks) = app
                        .get(&format!("/api/v1/work-orders/{id}/tasks"), token)
                        .await;
                    out.insert(format!("tasks:{id}"), tasks["items"].clone());
                }
                out.insert(format!("{path}:{id}"), item.clone());
            }
            match b["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => break,
            }
        }
    }
    out
}

async fn fill(app: &TestApp, token: &str, n: usize) {
    let (_, c) = app
        .post("/api/v1/clients", token, json!({"name": "Harbor View"}))
        .await;
    let (_, p) = app
        .post(
            "/api/v1/personnel",
            token,
            json!({"name": "Tom Tech", "skills": ["hvac"]}),
        )
        .await;
    for i in 0..n {
        let (s, w) = app
            .post("/api/v1/work-orders", token, json!({"client_id": c["id"], "title": format!("job {i}"), "assigned_to": p["id"], "attributes": {"i": i, "nested": {"b": 1, "a": [1, 2]}}, "due_date": "2027-03-01"}))
            .await;
        assert_eq!(s, 201, "{w}");
        if i % 3 == 0 {
            app.post(
                &format!("/api/v1/work-orders/{}/tasks", w["id"].as_str().unwrap()),
                token,
                json!({"title": "step"}),
            )
            .await;
        }
        if i % 4 == 0 {
            app.patch(
                &format!("/api/v1/work-orders/{}", w["id"].as_str().unwrap()),
                token,
                json!({"status": "scheduled"}),
            )
            .await;
        }
    }
}

/// Moves through the admin API and waits for the end; returns the move.
/// With a delayed cleanup, it returns once the move is switched and cleaning.
pub(super) async fn move_tenant(app: &TestApp, slug: &str, body: Json) -> Json {
    let delayed = body["cleanup"] != "now";
    let (s, m) = app
        .post(
            &format!("/admin/tenants/{slug}/move"),
            &app.admin_token,
            body,
        )
        .await;
    assert_eq!(s, 202, "{m}");
    assert!(m["id"].is_string() && m["state"].is_string(), "{m}");
    let id = m["id"].as_str().unwrap().to_owned();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let (_, m) = app
            .get(&format!("/admin/moves/{id}"), &app.admin_token)
            .await;
        if m["state"] == "done"
            || m["state"] == "rolled_back"
            || (delayed && m["state"] == "cleaning")
        {
            return m;
        }
        assert!(Instant::now() < deadline, "move did not finish: {m}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

fn assert_verified(m: &Json) {
    assert_eq!(m["state"], "done", "{m}");
    for (table, r) in m["report"]["tables"].as_object().unwrap() {
        assert_eq!(r["rows"], r["source_rows"], "{table}: {m}");
        assert_eq!(r["checksum"], r["source_checksum"], "{table}: {m}");
    }
    let remaining = m["report"]["cleanup_remaining"]
        .as_object()
        .expect("cleanup recorded");
    assert!(
        remaining.values().all(|v| v == 0),
        "rows left at the source: {m}"
    );
    assert!(m["report"]["fence_ms"].as_u64().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_direction_on_postgres_leaves_neighbours_untouched() {
    let app = TestApp::start_with(Backend::Postgres, |c| c.pooled_capacity = 3)
        .await
        .unwrap();
    app.create_tenant("mover", "free", "default").await;
    app.create_tenant("shared-neighbour", "free", "default")
        .await;
    app.create_tenant("pooled-neighbour", "premium", "default")
        .await;
    let t = app.login_admin("mover").await;
    let sn = app.login_admin("shared-neighbour").await;
    let pn = app.login_admin("pooled-neighbour").await;
    fill(&app, &t, 40).await;
    fill(&app, &sn, 10).await;
    fill(&app, &pn, 10).await;
    let before = everything(&app, &t).await;
    let (sn0, pn0) = (everything(&app, &sn).await, everything(&app, &pn).await);

    let mut epoch = 1;
    for to in [
        "dedicated",
        "pooled",
        "shared",
        "pooled",
        "dedicated",
        "shared",
    ] {
        let (_, was) = app.get("/admin/tenants/mover", &app.admin_token).await;
        let m = move_tenant(
            &app,
            "mover",
            json!({"to": to, "cleanup": "now", "reason": "test"}),
        )
        .await;
        assert_verified(&m);
        epoch += 1;
        let (_, ten) = app.get("/admin/tenants/mover", &app.admin_token).await;
        assert_eq!(ten["placement"]["kind"], to, "{ten}");
        assert_eq!(ten["epoch"], epoch);
        // Out of its own database, the tenant leaves no empty one behind.
        let from_dedicated = was["placement"]["kind"] == "dedicated";
        assert_eq!(m["report"]["source_dropped"], from_dedicated, "{m}");
        if from_dedicated {
            let db = was["placement"]["database"].as_str().unwrap();
            let base = fsa_testkit::local_pg_base();
            let mut pg =
                <sqlx::PgConnection as sqlx::Connection>::connect(&format!("{base}/postgres"))
                    .await
                    .unwrap();
            let exists: bool =
                sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
                    .bind(db)
                    .fetch_one(&mut pg)
                    .await
                    .unwrap();
            assert!(!exists, "{db} was dropped");
            let (_, placements) = app.get("/admin/placements", &app.admin_token).await;
            let listed = placements
                .as_array()
                .unwrap()
                .iter()
                .find(|p| p["database"] == db)
                .cloned()
                .unwrap_or_default();
            assert_eq!(listed["state"], "retired", "{placements}");
            assert_eq!(listed["tenant_count"], 0, "{placements}");
        }
        assert_eq!(m["report"]["tables"]["work_orders"]["rows"], 40);
        assert_eq!(
            everything(&app, &t).await,
            before,
            "the tenant reads the same after moving to {to}"
        );
        // The old token still works and writes land.
        let (s, _) = app.get("/api/v1/me", &t).await;
        assert_eq!(s, 200);
    }
    assert_eq!(
        everything(&app, &sn).await,
        sn0,
        "the shared neighbour is untouched"
    );
    assert_eq!(
        everything(&app, &pn).await,
        pn0,
        "the pooled neighbour is untouched"
    );
    // A new work order continues the tenant's numbering.
    let (_, c) = app.get("/api/v1/clients", &t).await;
    let (s, w) = app
        .post(
            "/api/v1/work-orders",
            &t,
            json!({"client_id": c["items"][0]["id"], "title": "after six moves"}),
        )
        .await;
    assert_eq!(s, 201);
    assert_eq!(w["number"], 1040);
    // A second move while one runs is refused; a move to where it is, too.
    let (s, e) = app
        .post(
            "/admin/tenants/mover/move",
            &app.admin_token,
            json!({"to": "elsewhere"}),
        )
        .await;
    assert_eq!(
        (s, e["code"].as_str()),
        (422, Some("validation_failed")),
        "{e}"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_to_postgres_and_back() {
    let cl = clusters(1).await;
    let pg = format!("{}/postgres", cl[0].base_url());
    let app = TestApp::start_with(Backend::Sqlite, |c| {
        c.servers = vec![server("eu-pg", "EU", pg)]
    })
    .await
    .unwrap();
    app.create_tenant("traveller", "basic", "default").await;
    let t = app.login_admin("traveller").await;
    fill(&app, &t, 30).await;
    let before = everything(&app, &t).await;

    let m = move_tenant(
        &app,
        "traveller",
        json!({"to": "shared", "region": "EU", "cleanup": "now"}),
    )
    .await;
    assert_verified(&m);
    let (_, ten) = app.get("/admin/tenants/traveller", &app.admin_token).await;
    assert_eq!(ten["placement"]["server"], "eu-pg");
    assert_eq!(ten["region"], "EU");
    assert_eq!(
        everything(&app, &t).await,
        before,
        "SQLite → PostgreSQL keeps every row"
    );

    let m = move_tenant(
        &app,
        "traveller",
        json!({"to": "shared", "region": "default", "cleanup": "now"}),
    )
    .await;
    assert_verified(&m);
    let (_, ten) = app.get("/admin/tenants/traveller", &app.admin_token).await;
    assert_eq!(ten["placement"]["server"], "default");
    assert_eq!(
        everything(&app, &t).await,
        before,
        "PostgreSQL → SQLite keeps every row"
    );
    let (_, q) = app.get("/api/v1/clients?q=harb", &t).await;
    assert_eq!(
        q["items"].as_array().unwrap().len(),
        1,
        "the SQLite name search index follows the rows"
    );
    app.stop().await;
}

/// A writer's own work orders, as the service acknowledged them.
type Acked = BTreeMap<String, Json>;

async fn writer(
    app: Arc<TestApp>,
    token: Arc<String>,
    client: String,
    stop: Arc<AtomicBool>,
    n: usize,
) -> (Acked, u64) {
    let mut mine: Acked = BTreeMap::new();
    let mut fivexx = 0;
    let mut i = 0usize;
    while !stop.load(Ordering::Relaxed) {
        i += 1;
        let ids: Vec<String> = mine.keys().cloned().collect();
        let pick = |k: usize| ids.get((k * 7 + n) % ids.len().max(1)).cloned();
        let (s, body, id) = match i % 5 {
            0 | 1 => {
                let (s, b) = app
                    .post(
                        "/api/v1/work-orders",
                        &token,
                        json!({"client_id": client, "title": format!("w{n}-{i}")}),
                    )
                    .await;
                let id = b["id"].as_str().map(str::to_owned);
                (s, b, id)
            }
            2 if !ids.is_empty() => {
                let id = pick(i).unwrap();
                let (s, b) = app
                    .patch(
                        &format!("/api/v1/work-orders/{id}"),
                        &token,
                        json!({"title": format!("w{n}-{i}-edited"), "attributes": {"edit": i}}),
                    )
                    .await;
                (s, b, Some(id))
            }
            3 if !ids.is_empty() => {
                let id = pick(i).unwrap();
                let next = match mine[&id]["status"].as_str() {
                    Some("open") => "scheduled",
                    Some("scheduled") => "in_progress",
                    Some("in_progress") => "completed",
                    _ => "cancelled",
                };
                let (s, b) = app
                    .patch(
                        &format!("/api/v1/work-orders/{id}"),
                        &token,
                        json!({"status": next}),
                    )
                    .await;
                (s, b, Some(id))
            }
            4 if ids.len() > 3 => {
                let id = pick(i).unwrap();
                let (s, b) = app
                    .delete(&format!("/api/v1/work-orders/{id}"), &token)
                    .await;
                (s, b, Some(id))
            }
            _ => {
                let (s, b) = app.get("/api/v1/work-orders?limit=5", &token).await;
                (s, b, None)
            }
        };
        if s >= 500 {
            fivexx += 1;
            eprintln!("writer {n}: {s} {body}");
            continue;
        }
        match (s, id) {
            (201 | 200, Some(id)) if body["id"].is_string() => {
                mine.insert(id, body);
            }
            (204, Some(id)) => {
                mine.remove(&id);
            }
            _ => {}
        }
    }
    (mine, fivexx)
}

/// The tenant tables' index names of a local PostgreSQL database, and the
/// rows left in its `fsa_deferred_indexes`.
async fn indexes_of(db: &str) -> (Vec<String>, i64) {
    use sqlx::Connection;
    let mut c = sqlx::PgConnection::connect(&format!("{}/{db}", fsa_testkit::local_pg_base()))
        .await
        .unwrap();
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT indexname::text FROM pg_indexes WHERE schemaname = 'public' \
         AND tablename IN ('users', 'clients', 'personnel', 'work_orders', 'tasks', 'file_metadata') \
         ORDER BY 1",
    )
    .fetch_all(&mut c)
    .await
    .unwrap();
    let pending: i64 = sqlx::query_scalar("SELECT count(*) FROM fsa_deferred_indexes")
        .fetch_one(&mut c)
        .await
        .unwrap();
    c.close().await.unwrap();
    (names, pending)
}

async fn writers_during_a_move(to: &str) {
    let app = Arc::new(
        TestApp::start_with(Backend::Postgres, |c| c.pooled_capacity = 3)
            .await
            .unwrap(),
    );
    app.create_tenant("busy", "free", "default").await;
    let token = Arc::new(app.login_admin("busy").await);
    let (_, c) = app
        .post("/api/v1/clients", &token, json!({"name": "Client"}))
        .await;
    let client = c["id"].as_str().unwrap().to_owned();
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..8)
        .map(|n| {
            tokio::spawn(writer(
                app.clone(),
                token.clone(),
                client.clone(),
                stop.clone(),
                n,
            ))
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (_, before) = app.get("/admin/tenants/busy", &app.admin_token).await;
    let m = move_tenant(&app, "busy", json!({"to": to, "cleanup": "now"})).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    let mut acked = Acked::new();
    let mut fivexx = 0;
    for w in writers {
        let (mine, f) = w.await.unwrap();
        acked.extend(mine);
        fivexx += f;
    }
    assert_eq!(fivexx, 0, "no writer saw a 5xx");
    assert_verified(&m);
    // Indexes deferred for the bulk load into a database of its own are all
    // built again: the target has the source's.
    let (_, after) = app.get("/admin/tenants/busy", &app.admin_token).await;
    let (want, _) = indexes_of(before["placement"]["database"].as_str().unwrap()).await;
    let (got, pending) = indexes_of(after["placement"]["database"].as_str().unwrap()).await;
    assert_eq!(got, want, "the target's indexes");
    assert_eq!(pending, 0, "no index left to build");
    if to == "dedicated" {
        assert!(
            m["report"]["indexes_built_after_load"].as_u64().unwrap() > 0,
            "a new dedicated database gets its indexes after the bulk load: {m}"
        );
    }
    assert!(
        m["report"]["catch_up_rows"].as_u64().unwrap()
            + m["report"]["fence_delta_rows"].as_u64().unwrap()
            > 0,
        "writes happened during the move: {m}"
    );
    // The target holds exactly the acknowledged state.
    let now = everything(&app, &token).await;
    let found: BTreeMap<String, Json> = now
        .into_iter()
        .filter(|(k, _)| k.starts_with("/api/v1/work-orders:"))
        .map(|(k, v)| (k.trim_start_matches("/api/v1/work-orders:").to_owned(), v))
        .collect();
    assert_eq!(
        found.len(),
        acked.len(),
        "nothing lost, nothing duplicated, no deleted row back"
    );
    for (id, want) in &acked {
        let got = found
            .get(id)
            .unwrap_or_else(|| panic!("acknowledged work order {id} is missing"));
        for field in ["title", "status", "attributes", "updated_at", "number"] {
            assert_eq!(got[field], want[field], "{id}.{field}");
        }
    }
    eprintln!(
        "moved with 8 writers: {} work orders, fence {} ms, {} catch-up passes",
        acked.len(),
        m["report"]["fence_ms"],
        m["report"]["catch_up_passes"]
    );
    match Arc::try_unwrap(app) {
        Ok(app) => app.stop().await,
        Err(_) => panic!("app still shared"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_writers_during_a_move_to_dedicated() {
    writers_during_a_move("dedicated").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_writers_during_a_move_to_pooled() {
    writers_during_a_move("pooled").await;
}

/// A second service process on the same catalog: after the switch it writes
/// to the target only, never to the source.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_process_never_writes_to_the_source_after_the_switch() {
    use sqlx::Connection;

    let a = TestApp::start(Backend::Postgres).await.unwrap();
    let url = a.db.as_ref().unwrap().url();
    let (secret, admin) = (
        a.state.config.jwt_secret.clone(),
        a.state.config.admin_token.clone(),
    );
    let b = TestApp::start_with(Backend::Sqlite, |c| {
        c.database_url = Some(url.into());
        c.jwt_secret = secret;
        c.admin_token = admin;
        c.route_ttl_secs = 3600;
    })
    .await
    .unwrap();
    let tenant = a.create_tenant("twice", "free", "default").await;
    let t = a.login_admin("twice").await;
    fill(&a, &t, 5).await;
    // Process B has the route cached.
    assert_eq!(b.get("/api/v1/work-orders", &t).await.0, 200);

    let m = move_tenant(&a, "twice", json!({"to": "dedicated", "cleanup": "1h"})).await;
    assert_eq!(m["state"], "cleaning", "{m}");
    let source_db = tenant["placement"]["database"].as_str().unwrap();
    let mut src =
        sqlx::PgConnection::connect(&format!("{}/{source_db}", fsa_testkit::local_pg_base()))
            .await
            .unwrap();
    let tenant_id = uuid::Uuid::parse_str(tenant["id"].as_str().unwrap()).unwrap();
    const COUNT: &str = "SELECT count(*) FROM work_orders WHERE tenant_id = $1";
    let at_switch: i64 = sqlx::query_scalar(COUNT)
        .bind(tenant_id)
        .fetch_one(&mut src)
        .await
        .unwrap();
    let (_, c) = b.get("/api/v1/clients", &t).await;
    for i in 0..5 {
        let (s, w) = b
            .post(
                "/api/v1/work-orders",
                &t,
                json!({"client_id": c["items"][0]["id"], "title": format!("via B {i}")}),
            )
            .await;
        assert_eq!(s, 201, "{w}");
    }
    let after: i64 = sqlx::query_scalar(COUNT)
        .bind(tenant_id)
        .fetch_one(&mut src)
        .await
        .unwrap();
    assert_eq!(
        after, at_switch,
        "process B wrote to the source after the switch"
    );
    let (_, list) = a.get("/api/v1/work-orders?limit=200", &t).await;
    assert_eq!(
        list["items"].as_array().unwrap().len(),
        10,
        "B's writes are at the target"
    );
    src.close().await.unwrap();
    b.stop().await;
    a.stop().await;
}

/// Bad move requests are refused with a problem and change nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_move_requests_are_refused_and_change_nothing() {
    let app = TestApp::start(Backend::Sqlite).await.unwrap();
    app.create_tenant("stays", "free", "default").await;
    let (_, before) = app.get("/admin/tenants/stays", &app.admin_token).await;
    let unknown = uuid::Uuid::now_v7().to_string();
    for (path, body) in [
        ("/admin/tenants/stays/move", json!({"to": unknown})),
        (
            "/admin/tenants/stays/move",
            json!({"to": "dedicated", "cleanup": "soon"}),
        ),
        (
            "/admin/tenants/stays/move",
            json!({"to": "dedicated", "region": "MARS"}),
        ),
        ("/admin/tenants/stays/move", json!({"to": 42})),
        (
            "/admin/tenants/stays/move",
            json!({"to": "dedicated", "extra": true}),
        ),
        ("/admin/tenants/nobody/move", json!({"to": "dedicated"})),
    ] {
        let (s, e) = app.post(path, &app.admin_token, body.clone()).await;
        assert!((400..500).contains(&s), "{body}: {s} {e}");
        assert!(e["code"].is_string(), "{body}: {e}");
    }
    // A tenant token is not an operator.
    let t = app.login_admin("stays").await;
    let (s, _) = app
        .post("/admin/tenants/stays/move", &t, json!({"to": "dedicated"}))
        .await;
    assert_eq!(s, 403);
    let (_, after) = app.get("/admin/tenants/stays", &app.admin_token).await;
    assert_eq!(after, before, "nothing moved");
    let (_, moves) = app.get("/admin/moves", &app.admin_token).await;
    assert!(
        !moves.to_string().contains(before["id"].as_str().unwrap()),
        "no move was recorded: {moves}"
    );
    app.stop().await;
}
