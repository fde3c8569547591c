//! Tenants of every plan in every region land on the right server and kind;
//! the pooled placement overflows into a second one at capacity + 1; every
//! enterprise tenant gets its own database; and a direct look at each
//! database finds each tenant's rows exactly where the catalog says.

use std::collections::HashMap;

use fsa_testkit::{Backend, Json, TestApp};
use serde_json::json;

use super::{clusters, server};

const REGIONS: [(&str, &str); 3] = [("EU", "eu"), ("US", "us"), ("ASIA", "asia")];
const PLANS: [&str; 7] = [
    "free",
    "basic",
    "premium",
    "premium",
    "premium",
    "enterprise",
    "enterprise",
];

/// Onboards every plan in every region, gives each tenant one work order
/// through the API, checks placements; returns (slug, tenant, wo id).
async fn onboard_all(app: &TestApp) -> Vec<(String, Json)> {
    let mut out = Vec::new();
    for (region, server_name) in REGIONS {
        let mut seen: Vec<Json> = Vec::new();
        for (i, plan) in PLANS.iter().enumerate() {
            let slug = format!("{}-{plan}-{i}", server_name);
            let t = app.create_tenant(&slug, plan, region).await;
            let p = &t["placement"];
            assert_eq!(p["region"], region, "{t}");
            assert_eq!(p["server"], server_name, "{t}");
            let want_kind = match *plan {
                "free" | "basic" => "shared",
                "premium" => "pooled",
                _ => "dedicated",
            };
            assert_eq!(p["kind"], want_kind, "{t}");
            seen.push(t.clone());
            out.push((slug, t));
        }
        let pid = |i: usize| seen[i]["placement"]["id"].clone();
        assert_eq!(
            pid(0),
            pid(1),
            "free and basic share the region's shared placement"
        );
        assert_eq!(pid(2), pid(3), "premium tenants pool up to capacity (2)");
        assert_ne!(
            pid(3),
            pid(4),
            "premium tenant number capacity + 1 opens a second pooled database"
        );
        assert_ne!(
            pid(5),
            pid(6),
            "each enterprise tenant has its own database"
        );
        assert_ne!(pid(0), pid(2));
    }
    // Every tenant works through the API.
    for (slug, t) in &out {
        let token = app.login_admin(slug).await;
        let (s, c) = app
            .post(
                "/api/v1/clients",
                &token,
                json!({"name": format!("Client of {slug}")}),
            )
            .await;
        assert_eq!(s, 201, "{c}");
        let (s, w) = app
            .post(
                "/api/v1/work-orders",
                &token,
                json!({"client_id": c["id"], "title": "Visit"}),
            )
            .await;
        assert_eq!(s, 201, "{w}");
        let (s, list) = app.get("/api/v1/work-orders", &token).await;
        assert_eq!(s, 200);
        assert_eq!(list["items"].as_array().unwrap().len(), 1, "{slug}: {list}");
        assert_eq!(t["epoch"], 1);
    }
    out
}

/// Placement id → (server, database, tenant count) from the admin API.
async fn placements(app: &TestApp) -> HashMap<String, (String, String, i64, Json)> {
    let (s, ps) = app.get("/admin/placements", &app.admin_token).await;
    assert_eq!(s, 200);
    ps.as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["id"].as_str().unwrap().to_owned(),
                (
                    p["server"].as_str().unwrap().to_owned(),
                    p["database"].as_str().unwrap().to_owned(),
                    p["tenant_count"].as_i64().unwrap(),
                    p.clone(),
                ),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_plan_in_every_region_on_postgres() {
    use sqlx::Connection;

    let cl = clusters(3).await;
    let urls: HashMap<&str, String> = REGIONS
        .iter()
        .zip(&cl)
        .map(|((_, name), c)| (*name, c.base_url()))
        .collect();
    let servers = REGIONS
        .iter()
        .zip(&cl)
        .map(|((region, name), c)| server(name, region, format!("{}/postgres", c.base_url())))
        .collect();
    let app = TestApp::start_with(Backend::Postgres, |c| {
        c.servers = servers;
        c.pooled_capacity = 2;
    })
    .await
    .unwrap();
    let tenants = onboard_all(&app).await;
    let ps = placements(&app).await;
    assert_eq!(
        ps.len(),
        3 * 5,
        "per region: one shared, two pooled, two dedicated"
    );

    // A direct look at every placement database on every server.
    for (id, (srv, db, count, view)) in &ps {
        assert!(view["size_bytes"].as_i64().unwrap_or(0) > 0, "{view}");
        let mut conn = sqlx::PgConnection::connect(&format!("{}/{db}", urls[srv.as_str()]))
            .await
            .unwrap();
        let rows: Vec<(uuid::Uuid, i64)> =
            sqlx::query_as("SELECT tenant_id, count(*) FROM work_orders GROUP BY tenant_id")
                .fetch_all(&mut conn)
                .await
                .unwrap();
        let here: Vec<&Json> = tenants
            .iter()
            .map(|(_, t)| t)
            .filter(|t| t["placement"]["id"] == id.as_str())
            .collect();
        assert_eq!(here.len() as i64, *count, "tenant count of {db}");
        assert_eq!(
            rows.len(),
            here.len(),
            "{db} holds rows of exactly its tenants: {rows:?}"
        );
        for (tenant_id, n) in rows {
            assert_eq!(n, 1);
            assert!(
                here.iter().any(|t| t["id"] == tenant_id.to_string()),
                "{db} holds rows of {tenant_id}, which the catalog puts elsewhere"
            );
        }
        conn.close().await.unwrap();
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_plan_in_every_region_on_sqlite() {
    let dirs = tempfile::tempdir().unwrap();
    let root = dirs.path().to_path_buf();
    let servers = REGIONS
        .iter()
        .map(|(region, name)| {
            server(
                name,
                region,
                format!("sqlite://{}", root.join(name).display()),
            )
        })
        .collect();
    let app = TestApp::start_with(Backend::Sqlite, |c| {
        c.servers = servers;
        c.pooled_capacity = 2;
    })
    .await
    .unwrap();
    let tenants = onboard_all(&app).await;
    let ps = placements(&app).await;
    assert_eq!(ps.len(), 15);
    for (id, (srv, db, count, view)) in &ps {
        let file = root.join(srv).join(format!("{db}.db"));
        assert!(file.is_file(), "{} is missing", file.display());
        assert!(view["size_bytes"].as_i64().unwrap_or(0) > 0, "{view}");
        let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", file.display()))
            .await
            .unwrap();
        let rows: Vec<(uuid::Uuid, i64)> =
            sqlx::query_as("SELECT tenant_id, count(*) FROM work_orders GROUP BY tenant_id")
                .fetch_all(&pool)
                .await
                .unwrap();
        let here: Vec<&Json> = tenants
            .iter()
            .map(|(_, t)| t)
            .filter(|t| t["placement"]["id"] == id.as_str())
            .collect();
        assert_eq!(here.len() as i64, *count);
        assert_eq!(rows.len(), here.len(), "{db}: {rows:?}");
        for (tenant_id, n) in rows {
            assert_eq!(n, 1);
            assert!(here.iter().any(|t| t["id"] == tenant_id.to_string()));
        }
        pool.close().await;
    }
    app.stop().await;
}
