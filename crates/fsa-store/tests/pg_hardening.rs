//! PostgreSQL hardening: an application role that could bypass row-level
//! security is refused; placements migrate under the least-privileged
//! login `fsa db bootstrap` makes; a tenant's client search reads only its
//! own index entries.

use std::sync::Arc;

use fsa_core::Region;
use fsa_store::repo::clients::{self, ClientFilter};
use fsa_store::router::RouterSettings;
use fsa_store::server::{PoolSettings, Server};
use fsa_store::url::DbUrl;
use fsa_store::{Mode, Router, StoreError};
use fsa_testkit::{PgCluster, TestDb};
use sqlx::{Connection, Executor, PgConnection};

use common::onboard;
use fsa_testkit::store as common;

async fn router_for(url: &DbUrl, prefix: &str) -> Result<Arc<Router>, StoreError> {
    common::try_router(url, prefix, RouterSettings::default()).await
}

async fn explain(c: &mut PgConnection, sql: String) -> String {
    let lines: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("EXPLAIN {sql}")))
        .fetch_all(c)
        .await
        .unwrap();
    lines.join("\n")
}

async fn admin(base: &str, db: &str) -> PgConnection {
    PgConnection::connect(&format!("{base}/{db}"))
        .await
        .unwrap()
}

/// Roles belong to the whole server, so this runs on a cluster of its own.
#[tokio::test]
async fn an_app_role_that_bypasses_row_level_security_is_refused() {
    let cluster = PgCluster::start().unwrap();
    let base = cluster.base_url();
    let url = DbUrl::new(format!("{base}/fsa_role"));
    let server = Server::from_url("default", Region::default_region(), &url, "fsa_role").unwrap();
    // Only a superuser can make fsa_app unsafe.
    let mut pg = admin(&cluster.admin_url(), "postgres").await;

    // A role made by hand before fsa ever ran.
    let placement = uuid::Uuid::now_v7();
    for (attrs, word) in [
        ("SUPERUSER", "SUPERUSER"),
        ("NOSUPERUSER BYPASSRLS", "BYPASSRLS"),
        ("SUPERUSER BYPASSRLS", "SUPERUSER and BYPASSRLS"),
    ] {
        // One placement throughout: its database, made on the first pass,
        // is its own on the next ones.
        pg.execute(sqlx::AssertSqlSafe(format!(
            "DO $$ BEGIN CREATE ROLE fsa_app NOLOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$; \
             ALTER ROLE fsa_app NOSUPERUSER NOBYPASSRLS; ALTER ROLE fsa_app {attrs}"
        )))
        .await
        .unwrap();
        let Err(e) = router_for(&url, "fsa_role").await else {
            panic!("an fsa_app with {attrs} was accepted at start");
        };
        assert!(
            matches!(&e, StoreError::UnsafeAppRole { attributes, .. } if *attributes == word),
            "{e}"
        );
        let text = e.to_string();
        assert!(
            text.contains("fsa_app") && text.contains("NOBYPASSRLS"),
            "{text}"
        );
        // Provisioning (and `fsa db migrate`) refuse it too.
        let e = server
            .provision("fsa_role_shared", placement)
            .await
            .unwrap_err();
        assert!(matches!(e, StoreError::UnsafeAppRole { .. }), "{e}");
    }

    pg.execute("ALTER ROLE fsa_app NOSUPERUSER NOBYPASSRLS")
        .await
        .unwrap();
    let router = router_for(&url, "fsa_role").await.unwrap();
    let tenant = onboard(&router, "role-ok").await;
    router
        .begin(tenant, Mode::Read)
        .await
        .unwrap()
        .commit()
        .await
        .unwrap();

    // Made BYPASSRLS while the service runs: a new session refuses to serve.
    pg.execute("ALTER ROLE fsa_app BYPASSRLS").await.unwrap();
    let pool = server
        .open_pool(
            "fsa_role_shared",
            &PoolSettings::default_for(fsa_core::PlacementKind::Shared),
        )
        .unwrap();
    let e = pool.ping().await.unwrap_err();
    assert!(e.to_string().contains("BYPASSRLS"), "{e}");
    pool.close().await;
    router.close().await;
    router.catalog().pool().close().await;
    pg.close().await.unwrap();
}

/// The login `fsa db bootstrap` makes (CREATEDB, member of fsa_app, neither
/// superuser nor CREATEROLE) provisions a placement, `btree_gin` included (a
/// trusted extension), and owns it; the policies bind fsa_app and let the
/// owner's maintenance connections through.
#[tokio::test]
async fn placements_migrate_under_the_least_privileged_login() {
    let cluster = PgCluster::start().unwrap();
    let base = cluster.base_url();
    let url = DbUrl::new(format!("{base}/postgres"));
    let server = Server::from_url("default", Region::default_region(), &url, "").unwrap();
    assert_eq!(server.login_is_superuser().await.unwrap(), Some(false));
    server
        .provision("fsa_owned", uuid::Uuid::now_v7())
        .await
        .unwrap();
    let mut c = admin(&base, "fsa_owned").await;
    let (me, su, createrole): (String, bool, bool) = sqlx::query_as(
        "SELECT rolname::text, rolsuper, rolcreaterole FROM pg_roles WHERE rolname = current_user",
    )
    .fetch_one(&mut c)
    .await
    .unwrap();
    assert_eq!(me, fsa_testkit::TEST_LOGIN);
    assert!(!su && !createrole);
    let (owner, indexed, tables_owned, forced): (String, bool, i64, i64) = sqlx::query_as(
        "SELECT (SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database()), \
         EXISTS (SELECT 1 FROM pg_indexes WHERE indexname = 'clients_tenant_name_search_idx'), \
         (SELECT count(*) FROM pg_class WHERE relrowsecurity AND relowner = (SELECT oid FROM pg_roles WHERE rolname = current_user)), \
         (SELECT count(*) FROM pg_class WHERE relforcerowsecurity)",
    )
    .fetch_one(&mut c)
    .await
    .unwrap();
    assert_eq!(owner, fsa_testkit::TEST_LOGIN);
    assert!(indexed);
    assert_eq!(
        tables_owned, 9,
        "the login owns every tenant table and the usage counters"
    );
    assert_eq!(forced, 0, "no table binds its owner");

    // A row of some tenant: the owner sees it, fsa_app without that
    // tenant's context does not, and cannot write one either.
    let tenant = uuid::Uuid::now_v7();
    sqlx::query("INSERT INTO tenant_state (tenant_id) VALUES ($1)")
        .bind(tenant)
        .execute(&mut c)
        .await
        .unwrap();
    c.execute("SET ROLE fsa_app").await.unwrap();
    let seen: i64 = sqlx::query_scalar("SELECT count(*) FROM tenant_state")
        .fetch_one(&mut c)
        .await
        .unwrap();
    assert_eq!(seen, 0, "row-level security binds fsa_app");
    let write = sqlx::query("INSERT INTO tenant_state (tenant_id) VALUES ($1)")
        .bind(uuid::Uuid::now_v7())
        .execute(&mut c)
        .await;
    assert!(write.is_err(), "fsa_app wrote a row outside its context");
    // Usage counters move only with the rows: fsa_app may read its own,
    // never set one, not even in its own tenant's context.
    sqlx::query("SELECT set_config('fsa.tenant_id', $1, false)")
        .bind(tenant.to_string())
        .execute(&mut c)
        .await
        .unwrap();
    let forged = sqlx::query(
        "INSERT INTO tenant_usage (tenant_id, resource, used) VALUES ($1, 'work_orders', -1000000)",
    )
    .bind(tenant)
    .execute(&mut c)
    .await;
    assert!(forged.is_err(), "fsa_app set its own usage counter");
    c.execute("RESET ROLE").await.unwrap();
    let seen: i64 = sqlx::query_scalar("SELECT count(*) FROM tenant_state")
        .fetch_one(&mut c)
        .await
        .unwrap();
    assert_eq!(seen, 1, "the owner's maintenance sees every row");
    c.close().await.unwrap();

    // The owner drops what it made, as a move's cleanup does.
    server.drop_database("fsa_owned").await.unwrap();
    assert!(!server.database_exists("fsa_owned").await.unwrap());
}

/// The client search of one tenant uses the index that starts with
/// `tenant_id`, with the tenant as an index condition: a neighbour's many
/// matching names are never read.
#[tokio::test]
async fn a_tenant_search_never_reads_its_neighbours_rows() {
    let db = TestDb::new();
    let url = DbUrl::new(db.url());
    let router = router_for(&url, &db.name).await.unwrap();
    let ours = onboard(&router, "search-ours").await;
    let noisy = onboard(&router, "search-noisy").await;
    let route = router.route(ours).await.unwrap();
    let placement_db = router
        .placement_record(route.placement_id)
        .await
        .unwrap()
        .db_name;
    let mut c = admin(&db.base, &placement_db).await;
    // Thousands of matching names for the neighbour; thousands of clients
    // for us too, of which few match (so reading all of ours costs more
    // than the search index).
    for (tenant, name, n) in [
        (noisy, "Acme Plumbing", 5_000),
        (ours, "Other Trade", 5_000),
        (ours, "Acme Plumbing", 20),
        (ours, "Zephyr Roofing", 5),
    ] {
        sqlx::query(
            "INSERT INTO clients (tenant_id, id, name, is_active, created_at, updated_at) \
             SELECT $1, gen_random_uuid(), $2 || ' ' || g, true, now(), now() \
             FROM generate_series(1, $3) g",
        )
        .bind(tenant.as_uuid())
        .bind(name)
        .bind(n)
        .execute(&mut c)
        .await
        .unwrap();
    }
    // VACUUM too: the GIN index's own statistics (its metapage), which the
    // planner costs it by, are brought up to date by VACUUM, not ANALYZE.
    c.execute("VACUUM ANALYZE clients").await.unwrap();

    let mut tx = router.begin(ours, Mode::Read).await.unwrap();
    let page = clients::list(
        &mut tx,
        ClientFilter {
            q: Some("acme plumb".into()),
            limit: 100,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(page.items.len(), 20);

    let search = |words: &str| {
        format!(
            "FROM clients c WHERE c.name_search @@ to_tsquery('simple', '{words}') \
             AND c.tenant_id = '{}'",
            ours.as_uuid()
        )
    };

    // Without row-level security in the way (the configured user: moves,
    // backups, maintenance), a word few rows have is found through the
    // tenant-first search index, the tenant and the words both index
    // conditions.
    let plan = explain(&mut c, format!("SELECT c.id {}", search("zephyr:*"))).await;
    let at = plan
        .find("Bitmap Index Scan on clients_tenant_name_search_idx")
        .unwrap_or_else(|| panic!("the search does not use the tenant's index:\n{plan}"));
    let cond = plan[at..]
        .lines()
        .find(|l| l.contains("Index Cond"))
        .unwrap_or_else(|| panic!("no index condition:\n{plan}"));
    assert!(
        cond.contains("tenant_id =") && cond.contains("name_search @@"),
        "the tenant and the words are not both index conditions:\n{plan}"
    );

    // As the service runs it: under the application role, with row-level
    // security. PostgreSQL does not let a function that is not LEAKPROOF
    // (`@@` is not) act as an index condition ahead of a policy, so the
    // words filter rows; the tenant is the index condition of whichever
    // index serves the query, so a neighbour's matches are never read,
    // whether the words are rare or the neighbour has thousands of them,
    // and whether the whole match or the repository's page (ORDER BY id
    // LIMIT) is asked for.
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "SET ROLE fsa_app; SELECT fsa_session('{}'::uuid, 0)",
        ours.as_uuid()
    )))
    .execute(&mut c)
    .await
    .unwrap();
    for sql in [
        format!("SELECT c.id {}", search("zephyr:*")),
        format!("SELECT c.id {}", search("acme:* & plumb:*")),
        format!(
            "SELECT c.id {} ORDER BY c.id LIMIT 101",
            search("acme:* & plumb:*")
        ),
    ] {
        let plan = explain(&mut c, sql).await;
        assert!(!plan.contains("Seq Scan"), "{plan}");
        assert!(plan.contains("Index Cond"), "{plan}");
        for line in plan.lines().filter(|l| l.contains("Index Cond")) {
            assert!(line.contains("tenant_id ="), "{plan}");
        }
    }
    c.close().await.unwrap();
    router.close().await;
    router.catalog().pool().close().await;
}
