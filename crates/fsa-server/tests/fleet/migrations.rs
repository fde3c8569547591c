//! Schema migrations across 50 placements, half PostgreSQL and half SQLite:
//! an injected migration that fails on one placement leaves the other 49
//! migrated, the ledger naming the failure and its tenants still served; a
//! rerun completes; an edited migration is refused everywhere; a dry run
//! changes nothing; a failed canary stops the run before the rest.

use std::sync::atomic::AtomicBool;

use fsa_app::schema::{MigrateOptions, Quiet, migrate_fleet, status};
use fsa_store::catalog::Placement;
use fsa_store::db::Pool;
use fsa_store::on_pool;
use fsa_store::schema::MigrationSet;
use fsa_testkit::{Backend, TestApp};
use serde_json::json;

use super::server;

const PROBE: &str = "ALTER TABLE work_orders ADD COLUMN probe_note text; \
     CREATE INDEX work_orders_probe_idx ON work_orders (tenant_id, probe_note);";

fn opts(concurrency: usize, canary: usize, dry_run: bool) -> MigrateOptions {
    MigrateOptions {
        concurrency,
        canary,
        dry_run,
    }
}

async fn admin_pool(app: &TestApp, p: &Placement) -> Pool {
    app.state
        .router
        .servers()
        .get(&p.server)
        .unwrap()
        .open_admin_connection_pool(&p.db_name)
        .await
        .unwrap()
}

async fn exec(pool: &Pool, sql: &'static str) {
    on_pool!(pool, c => { sqlx::query(sql).execute(c).await.unwrap(); });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_placements_one_failing_then_a_rerun() {
    let root = tempfile::tempdir().unwrap();
    let lite = format!("sqlite://{}", root.path().join("lite").display());
    let app = TestApp::start_with(Backend::Postgres, |c| {
        c.servers = vec![server("lite", "US", lite)];
    })
    .await
    .unwrap();
    for i in 0..50 {
        let region = if i % 2 == 0 { "default" } else { "US" };
        app.create_tenant(&format!("mig-{i}"), "enterprise", region)
            .await;
    }
    let catalog = app.state.router.catalog();
    let all: Vec<Placement> = catalog
        .placements()
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.placement)
        .filter(|p| p.state == fsa_core::PlacementState::Ready)
        .collect();
    assert!(all.len() >= 50, "a database per enterprise tenant");
    let engines: Vec<_> = all
        .iter()
        .map(|p| app.state.router.servers().get(&p.server).unwrap().engine())
        .collect();
    assert!(engines.contains(&fsa_store::db::Engine::Postgres));
    assert!(engines.contains(&fsa_store::db::Engine::Sqlite));

    // Every new placement is recorded at the binary's latest version.
    let before = status(&app.state.app).await.unwrap();
    assert_eq!(before.placements.len(), all.len());
    assert!(
        before
            .placements
            .iter()
            .all(|p| p.state == "current" && p.version == Some(before.latest)),
        "{before:?}"
    );

    // One PostgreSQL placement already has the column the migration adds.
    let failing_tenant = catalog.tenant_by_slug("mig-0").await.unwrap().unwrap();
    let failing = catalog
        .placement(failing_tenant.placement_id)
        .await
        .unwrap()
        .unwrap();
    let failing_pool = admin_pool(&app, &failing).await;
    exec(
        &failing_pool,
        "ALTER TABLE work_orders ADD COLUMN probe_note text",
    )
    .await;

    let latest = MigrationSet::binary().latest();
    let set = MigrationSet::binary().with(latest + 1, "probe note", PROBE, PROBE);
    let stop = AtomicBool::new(false);
    let r = migrate_fleet(&app.state.app, &set, opts(4, 0, false), &Quiet, &stop)
        .await
        .unwrap();
    assert_eq!(r.migrated, all.len() - 1, "{r:?}");
    assert_eq!(r.failed, vec![failing.name.clone()]);
    assert!(r.not_run.is_empty() && r.stopped.is_none());
    let error = r
        .placements
        .iter()
        .find(|o| o.name == failing.name)
        .and_then(|o| o.error.clone())
        .unwrap();
    assert!(
        error.contains(&format!("migration {}", latest + 1)) && error.contains("probe_note"),
        "the failure names the migration and the cause: {error}"
    );

    // The ledger: the failure named, everyone else one step further.
    let state = catalog.schema_state(failing.id).await.unwrap().unwrap();
    assert_eq!((state.state.as_str(), state.version), ("failed", latest));
    assert!(state.error.unwrap_or_default().contains("probe_note"));
    for p in all.iter().filter(|p| p.id != failing.id) {
        let ledger = catalog.ledger(p.id).await.unwrap();
        let step = ledger.iter().find(|e| e.version == latest + 1);
        assert!(
            step.is_some_and(|e| e.description == "probe note" && e.checksum.len() == 96),
            "{}: {ledger:?}",
            p.name
        );
        let s = catalog.schema_state(p.id).await.unwrap().unwrap();
        assert_eq!((s.state.as_str(), s.version), ("current", latest + 1));
    }
    let shown = status(&app.state.app).await.unwrap();
    let row = shown
        .placements
        .iter()
        .find(|p| p.name == failing.name)
        .unwrap();
    assert_eq!(row.state, "failed");

    // The failed placement's tenant is served, one version behind.
    let token = app.login_admin("mig-0").await;
    let (s, c) = app
        .post("/api/v1/clients", &token, json!({"name": "Still served"}))
        .await;
    assert_eq!(s, 201, "{c}");
    let (s, _) = app.get("/api/v1/work-orders", &token).await;
    assert_eq!(s, 200);

    // The cause fixed, a rerun migrates that one and nothing else.
    exec(
        &failing_pool,
        "ALTER TABLE work_orders DROP COLUMN probe_note",
    )
    .await;
    let r = migrate_fleet(&app.state.app, &set, opts(4, 0, false), &Quiet, &stop)
        .await
        .unwrap();
    assert_eq!((r.migrated, r.current), (1, all.len() - 1), "{r:?}");
    assert!(r.complete());
    let s = catalog.schema_state(failing.id).await.unwrap().unwrap();
    assert_eq!((s.state.as_str(), s.version), ("current", latest + 1));

    // An edited migration (same version, other SQL) is refused everywhere
    // and changes nothing.
    let edited = MigrationSet::binary().with(
        latest + 1,
        "probe note",
        "ALTER TABLE work_orders ADD COLUMN other_note text",
        "ALTER TABLE work_orders ADD COLUMN other_note text",
    );
    let r = migrate_fleet(&app.state.app, &edited, opts(4, 0, false), &Quiet, &stop)
        .await
        .unwrap();
    assert_eq!(r.failed.len(), all.len(), "{r:?}");
    assert!(r.placements.iter().all(|o| {
        o.error
            .as_deref()
            .is_some_and(|e| e.contains("checksum") && e.contains("refusing"))
    }));
    let columns: i64 = on_pool!(&failing_pool, c => sqlx::query_scalar(
        "SELECT count(*) FROM information_schema.columns WHERE table_name = 'work_orders' AND column_name = 'other_note'"
    ).fetch_one(c).await.unwrap());
    assert_eq!(columns, 0);
    // Back to the true migration: all current again.
    let r = migrate_fleet(&app.state.app, &set, opts(4, 0, false), &Quiet, &stop)
        .await
        .unwrap();
    assert_eq!(r.current, all.len(), "{r:?}");

    // A dry run of one more says what it would apply and applies nothing.
    let next = set.clone().with(
        latest + 2,
        "probe index",
        "CREATE INDEX work_orders_probe2_idx ON work_orders (tenant_id, created_at)",
        "CREATE INDEX work_orders_probe2_idx ON work_orders (tenant_id, created_at)",
    );
    let r = migrate_fleet(&app.state.app, &next, opts(4, 0, true), &Quiet, &stop)
        .await
        .unwrap();
    assert!(
        r.placements.iter().all(|o| o.state == "pending"
            && o.steps.len() == 1
            && o.steps[0].version == latest + 2),
        "{r:?}"
    );
    for p in &all {
        assert!(
            !catalog
                .ledger(p.id)
                .await
                .unwrap()
                .iter()
                .any(|e| e.version == latest + 2)
        );
    }

    // A canary that fails stops the run before the rest. The canary is the
    // placement with the fewest tenants (then by name).
    let mut order = catalog.placements().await.unwrap();
    order.retain(|p| p.placement.state == fsa_core::PlacementState::Ready);
    order.sort_by(|a, b| {
        (a.tenant_count, &a.placement.name).cmp(&(b.tenant_count, &b.placement.name))
    });
    let canary = order[0].placement.clone();
    let canary_pool = admin_pool(&app, &canary).await;
    exec(
        &canary_pool,
        "CREATE INDEX work_orders_probe2_idx ON work_orders (tenant_id)",
    )
    .await;
    let r = migrate_fleet(&app.state.app, &next, opts(4, 1, false), &Quiet, &stop)
        .await
        .unwrap();
    assert_eq!(r.stopped, Some("canary_failed"));
    assert_eq!(r.failed, vec![canary.name.clone()]);
    assert_eq!(r.not_run.len(), all.len() - 1);
    assert_eq!(r.migrated, 0);

    canary_pool.close().await;
    failing_pool.close().await;
    app.stop().await;
}
