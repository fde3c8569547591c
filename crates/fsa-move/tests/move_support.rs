//! The move support every placement carries, on both engines: a
//! `row_version` from one counter per database, bumped on every insert and
//! update; a tombstone for every delete (cascades included); a state row per
//! tenant.

use fsa_core::TenantId;
use fsa_store::db::Pool;
use fsa_store::repo::clients::{self, ClientFields};
use fsa_store::repo::tasks::{self, TaskFields};
use fsa_store::repo::work_orders::{self, WorkOrderFields};
use fsa_store::router::RouterSettings;
use fsa_store::url::DbUrl;
use fsa_store::{Mode, Router, on_pool};
use fsa_testkit::TestDb;

use common::{onboard, router_for};
use fsa_testkit::store as common;
use uuid::Uuid;

/// A client and one work order for it.
async fn one_work_order(router: &std::sync::Arc<Router>, t: TenantId) {
    let mut tx = router.begin(t, Mode::Write).await.unwrap();
    let c = clients::create(
        &mut tx,
        ClientFields {
            name: Some("Client".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    work_orders::create(
        &mut tx,
        WorkOrderFields {
            client_id: Some(c.id),
            title: Some("Job".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
}

async fn version(pool: &Pool, table: &str, id: Uuid) -> i64 {
    let sql = match table {
        "clients" => "SELECT row_version FROM clients WHERE id = $1",
        "work_orders" => "SELECT row_version FROM work_orders WHERE id = $1",
        _ => "SELECT row_version FROM tasks WHERE id = $1",
    };
    on_pool!(pool, c => sqlx::query_scalar(sql).bind(id).fetch_one(c).await.unwrap())
}

async fn tombstones(pool: &Pool, tenant: TenantId) -> Vec<(String, Uuid, i64)> {
    on_pool!(pool, c => sqlx::query_as("SELECT table_name, row_id, row_version FROM tombstones WHERE tenant_id = $1 ORDER BY row_version")
        .bind(tenant.as_uuid()).fetch_all(c).await.unwrap())
}

async fn exercise(router: &std::sync::Arc<Router>) {
    let a = onboard(router, "mv-a").await;
    let b = onboard(router, "mv-b").await;
    let route = router.route(a).await.unwrap();
    let handle = router.placement(route.placement_id).await.unwrap();
    let server = router.servers().get(&handle.placement.server).unwrap();
    let admin = server
        .open_admin_connection_pool(&handle.placement.db_name)
        .await
        .unwrap();

    let mut tx = router.begin(a, Mode::Write).await.unwrap();
    let c = clients::create(
        &mut tx,
        ClientFields {
            name: Some("Client".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let w = work_orders::create(
        &mut tx,
        WorkOrderFields {
            client_id: Some(c.id),
            title: Some("Job".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let t = tasks::create(
        &mut tx,
        w.id,
        TaskFields {
            title: Some("Step".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();

    let vc = version(&admin, "clients", c.id).await;
    let vw = version(&admin, "work_orders", w.id).await;
    let vt = version(&admin, "tasks", t.id).await;
    assert!(
        0 < vc && vc < vw && vw < vt,
        "one counter, increasing: {vc} {vw} {vt}"
    );

    // B's writes draw from the same counter.
    let mut tx = router.begin(b, Mode::Write).await.unwrap();
    let cb = clients::create(
        &mut tx,
        ClientFields {
            name: Some("B".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    assert!(version(&admin, "clients", cb.id).await > vt);

    // An update bumps the version above everything before it.
    let mut tx = router.begin(a, Mode::Write).await.unwrap();
    work_orders::update(
        &mut tx,
        w.id,
        WorkOrderFields {
            title: Some("Job 2".into()),
            ..Default::default()
        },
        None,
        None,
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let vw2 = version(&admin, "work_orders", w.id).await;
    assert!(vw2 > version(&admin, "clients", cb.id).await);

    // Deleting the work order cascades to its task; both leave tombstones,
    // versioned above every earlier write.
    let mut tx = router.begin(a, Mode::Write).await.unwrap();
    work_orders::delete(&mut tx, w.id).await.unwrap();
    tx.commit().await.unwrap();
    let stones = tombstones(&admin, a).await;
    let mut seen: Vec<(String, Uuid)> = stones.iter().map(|(t, id, _)| (t.clone(), *id)).collect();
    seen.sort();
    let mut want = vec![("tasks".to_owned(), t.id), ("work_orders".to_owned(), w.id)];
    want.sort();
    assert_eq!(seen, want);
    assert!(stones.iter().all(|(_, _, v)| *v > vw2));
    assert!(
        tombstones(&admin, b).await.is_empty(),
        "B has no tombstones"
    );

    // The state row: active, epoch 1, and the number counter moved on.
    let (state, epoch, next): (String, i64, i64) = on_pool!(&admin, c => sqlx::query_as("SELECT state, epoch, next_wo_number FROM tenant_state WHERE tenant_id = $1")
        .bind(a.as_uuid()).fetch_one(c).await.unwrap());
    assert_eq!((state.as_str(), epoch, next), ("active", 1, 1001));

    // A tenant marked moved_out in its placement is refused there: the router
    // refreshes its route, finds the same placement, and reports the move.
    on_pool!(&admin, c => sqlx::query("UPDATE tenant_state SET state = 'moved_out' WHERE tenant_id = $1").bind(b.as_uuid()).execute(c).await.unwrap().rows_affected());
    let err = router
        .begin(b, Mode::Read)
        .await
        .err()
        .expect("a moved-out tenant is not served");
    assert!(matches!(err, fsa_store::StoreError::Moved(_)), "{err}");
    admin.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn move_support_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = DbUrl::new(format!("sqlite://{}/catalog.db", dir.path().display()));
    let router = router_for(&url, "").await;
    exercise(&router).await;
    router.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn move_support_on_postgres() {
    let db = TestDb::new();
    let url = DbUrl::new(db.url());
    let router = router_for(&url, &db.name).await;
    exercise(&router).await;
    router.close().await;
}

/// A move cancelled before its switch rolls back: the source as it was, the
/// target clean and retired.
async fn cancel(router: &std::sync::Arc<Router>) {
    use fsa_move::{MoveRequest, Mover, Target};

    let t = onboard(router, "cancel-me").await;
    one_work_order(router, t).await;
    let before = router.route(t).await.unwrap();
    let tenant = router.catalog().tenant_by_id(t).await.unwrap().unwrap();
    let mover = Mover::new(router.clone());
    let req = MoveRequest {
        to: Target::Kind(fsa_core::PlacementKind::Dedicated),
        region: None,
        cleanup_after: std::time::Duration::ZERO,
        requested_by: "test".into(),
        reason: "cancel".into(),
        plan_after: None,
    };
    let planned = mover.plan(&tenant, req.clone()).await.unwrap();
    // A second move of the same tenant is refused while this one is open.
    assert!(mover.plan(&tenant, req).await.is_err());
    // A move another live process holds (its lease and its liveness lock)
    // is left to it, by `run` and by `resume_all`; once that process is
    // gone, the move is taken over at once, its lease unexpired or not.
    let catalog = router.catalog();
    let elsewhere = fsa_move::lease::MoveLease::acquire(catalog, planned.id, "elsewhere:1:abcd")
        .await
        .unwrap();
    assert!(matches!(
        mover.run(planned.id).await,
        Err(fsa_move::MoveError::Owned(h)) if h == "elsewhere:1:abcd"
    ));
    assert!(mover.resume_all().await.unwrap().is_empty());
    assert!(
        !fsa_move::Ledger::new(catalog)
            .claim_move(planned.id, "third:2:abcd", 60_000, false)
            .await
            .unwrap(),
        "a held lease is not taken"
    );
    drop(elsewhere);
    assert!(
        fsa_move::Ledger::new(router.catalog())
            .request_cancel(planned.id)
            .await
            .unwrap()
    );
    let m = mover.run(planned.id).await.unwrap();
    assert_eq!(
        fsa_move::Ledger::new(catalog)
            .move_owner(m.id)
            .await
            .unwrap(),
        None,
        "released when finished"
    );
    assert_eq!(m.state, "rolled_back");
    assert_eq!(m.error.as_deref(), Some("cancelled"));
    assert_eq!(
        router.route(t).await.unwrap(),
        before,
        "the tenant stays where it was"
    );
    let target = router
        .catalog()
        .placement(m.to_placement.unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        target.state,
        fsa_core::PlacementState::Retired,
        "the dedicated placement made for the move is retired"
    );
    let mut tx = router.begin(t, Mode::Read).await.unwrap();
    let page = work_orders::list(
        &mut tx,
        work_orders::WorkOrderFilter {
            limit: 10,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(page.items.len(), 1, "the source kept the tenant's rows");
    tx.commit().await.unwrap();
    assert!(
        !fsa_move::Ledger::new(router.catalog())
            .request_cancel(m.id)
            .await
            .unwrap(),
        "a finished move cannot be cancelled"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_move_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = DbUrl::new(format!("sqlite://{}/catalog.db", dir.path().display()));
    let router = router_for(&url, "").await;
    cancel(&router).await;
    router.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_move_on_postgres() {
    let db = TestDb::new();
    let url = DbUrl::new(db.url());
    let router = router_for(&url, &db.name).await;
    cancel(&router).await;
    router.close().await;
}

/// A source whose state row does not hold the tenant as active (it moved
/// out, or is half-way in) is never copied from: the move rolls back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_source_not_holding_the_tenant_as_active_is_refused() {
    use fsa_move::{MoveRequest, Mover, Target};

    let dir = tempfile::tempdir().unwrap();
    let url = DbUrl::new(format!("sqlite://{}/catalog.db", dir.path().display()));
    let router = router_for(&url, "").await;
    let t = onboard(&router, "not-active").await;
    one_work_order(&router, t).await;
    let route = router.route(t).await.unwrap();
    let handle = router.placement(route.placement_id).await.unwrap();
    let admin = router
        .servers()
        .get(&handle.placement.server)
        .unwrap()
        .open_admin_connection_pool(&handle.placement.db_name)
        .await
        .unwrap();
    on_pool!(&admin, c => sqlx::query("UPDATE tenant_state SET state = 'moved_out' WHERE tenant_id = $1")
        .bind(t.as_uuid()).execute(c).await.unwrap().rows_affected());
    let tenant = router.catalog().tenant_by_id(t).await.unwrap().unwrap();
    let mover = Mover::new(router.clone());
    let req = MoveRequest {
        to: Target::Kind(fsa_core::PlacementKind::Dedicated),
        region: None,
        cleanup_after: std::time::Duration::ZERO,
        requested_by: "test".into(),
        reason: "refused source".into(),
        plan_after: None,
    };
    let planned = mover.plan(&tenant, req).await.unwrap();
    let m = mover.run(planned.id).await.unwrap();
    assert_eq!(m.state, "rolled_back");
    assert!(
        m.error
            .as_deref()
            .unwrap_or_default()
            .contains("the source holds the tenant as moved_out"),
        "refused before copying: {:?}",
        m.error
    );
    let report: serde_json::Value = serde_json::to_value(&m.report).unwrap();
    assert_eq!(report["bytes"], 0, "nothing was copied: {report}");
    let after = router.catalog().tenant_by_id(t).await.unwrap().unwrap();
    assert_eq!(
        (after.placement_id, after.epoch),
        (tenant.placement_id, tenant.epoch)
    );
    admin.close().await;
    router.close().await;
}

/// A lease stolen at each pause point of a move (another owner written into
/// the catalog, as a second process taking over would): the first driver
/// stops before its next step, having switched nothing it should not; a new
/// driver then finishes the move; the tenant was switched exactly once and
/// lost nothing, and the dedicated source it left is gone.
async fn stolen_lease(router: &std::sync::Arc<Router>) {
    use fsa_move::{MoveError, MoveRequest, Mover, PauseHook, Target};
    use fsa_store::StoreError;

    const POINTS: [(&str, &str); 8] = [
        ("provisioning", "provisioning"),
        ("copying", "copying"),
        ("catching_up", "catching_up"),
        ("verifying", "verifying"),
        ("fenced", "fenced"),
        ("fence-committed", "fenced"),
        ("switched", "switched"),
        ("cleaning", "cleaning"),
    ];
    let catalog = router.catalog().clone();
    for (i, (point, state_at_point)) in POINTS.into_iter().enumerate() {
        let t = onboard(router, &format!("stolen-{i}")).await;
        for _ in 0..3 {
            one_work_order(router, t).await;
        }
        let before = catalog.tenant_by_id(t).await.unwrap().unwrap();
        let req = MoveRequest {
            to: Target::Kind(fsa_core::PlacementKind::Dedicated),
            region: None,
            cleanup_after: std::time::Duration::ZERO,
            requested_by: "test".into(),
            reason: "stolen lease".into(),
            plan_after: None,
        };
        let pool = catalog.pool().clone();
        let hook: PauseHook = std::sync::Arc::new(move |p| {
            let pool = pool.clone();
            Box::pin(async move {
                if p == point {
                    on_pool!(&pool, c => sqlx::query(
                        "UPDATE moves SET owner = 'thief:1:00000000', lease_until_ms = lease_until_ms + 600000 WHERE tenant_id = $1")
                        .bind(t.as_uuid()).execute(c).await.unwrap().rows_affected());
                }
            })
        });
        let first = Mover::new(router.clone()).with_pause_hook(hook);
        let planned = first.plan(&before, req).await.unwrap();
        let err = first.run(planned.id).await.unwrap_err();
        assert!(
            matches!(err, MoveError::Store(StoreError::LeaseLost(id)) if id == planned.id),
            "{point}: {err}"
        );
        let stopped = fsa_move::Ledger::new(&catalog)
            .get_move(planned.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stopped.state, state_at_point, "{point}: stopped at once");
        assert_eq!(
            fsa_move::Ledger::new(&catalog)
                .move_owner(planned.id)
                .await
                .unwrap()
                .as_deref(),
            Some("thief:1:00000000"),
            "{point}: the stopped driver did not take the lease back"
        );
        let switched = !matches!(
            state_at_point,
            "provisioning" | "copying" | "catching_up" | "verifying" | "fenced"
        );
        let mid = catalog.tenant_by_id(t).await.unwrap().unwrap();
        assert_eq!(
            mid.epoch,
            before.epoch + i64::from(switched),
            "{point}: the stopped driver switched only what it had switched before the theft"
        );

        // The thief is no live process (nobody holds the move's liveness
        // lock): a new driver takes the move over and finishes it. Stopped
        // before its fence ran, a move found in `fenced` rolls back, as after
        // a crash there.
        let second = Mover::new(router.clone());
        let end = second.run(planned.id).await.unwrap();
        let after = catalog.tenant_by_id(t).await.unwrap().unwrap();
        if point == "fenced" {
            assert_eq!(end.state, "rolled_back", "{point}: {:?}", end.error);
            assert_eq!(after.epoch, before.epoch, "{point}: never switched");
            assert_eq!(after.placement_id, before.placement_id);
        } else {
            assert_eq!(end.state, "done", "{point}: {:?}", end.error);
            assert_eq!(
                after.epoch,
                before.epoch + 1,
                "{point}: switched exactly once"
            );
            assert_eq!(Some(after.placement_id), end.to_placement);
            let report: serde_json::Value = serde_json::to_value(&end.report).unwrap();
            let left: i64 = report["cleanup_remaining"]
                .as_object()
                .unwrap()
                .values()
                .map(|v| v.as_i64().unwrap())
                .sum();
            assert_eq!(left, 0, "{point}: the source holds nothing of the tenant");
        }
        let mut tx = router.begin(t, Mode::Read).await.unwrap();
        let page = work_orders::list(
            &mut tx,
            work_orders::WorkOrderFilter {
                limit: 50,
                ..Default::default()
            },
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
        assert_eq!(page.items.len(), 3, "{point}: nothing lost");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stolen_lease_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = DbUrl::new(format!("sqlite://{}/catalog.db", dir.path().display()));
    let router = router_for(&url, "").await;
    stolen_lease(&router).await;
    router.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stolen_lease_on_postgres() {
    let db = TestDb::new();
    let url = DbUrl::new(db.url());
    let router = router_for(&url, &db.name).await;
    stolen_lease(&router).await;
    router.close().await;
}

/// A read on a pooled session that already holds a tenant's context skips
/// `fsa_session`, so the state check rides on row-level security: a tenant
/// marked moved out in its placement makes every statement fail with
/// `StaleRoute` — also one that would have found no rows — never an empty
/// or stale answer; back to active, the next read (which checks the context
/// again after the failure) sees its rows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warm_session_read_of_a_moved_tenant_fails_and_recovers() {
    use fsa_store::StoreError;
    use fsa_store::repo::work_orders::WorkOrderFilter;

    let db = TestDb::new();
    let url = DbUrl::new(db.url());
    // No sessions opened in the background: they would join the idle
    // sessions after A's and be handed out first, without A's context.
    let mut settings = RouterSettings::default();
    settings.shared.min_connections = 0;
    let router = common::try_router(&url, &db.name, settings).await.unwrap();
    let a = onboard(&router, "warm-a").await;
    let b = onboard(&router, "warm-b").await;
    one_work_order(&router, a).await;

    let list = |status| WorkOrderFilter {
        status,
        limit: 50,
        ..Default::default()
    };
    // B holds a session of the same pool throughout, so A's reads below
    // keep getting the one session that holds A's context.
    let lease_holder = router.begin(b, Mode::Read).await.unwrap();
    // Warm a session with A's context.
    for _ in 0..3 {
        let mut tx = router.begin(a, Mode::Read).await.unwrap();
        let page = work_orders::list(&mut tx, list(None)).await.unwrap();
        assert_eq!(page.items.len(), 1);
        tx.commit().await.unwrap();
    }

    let route = router.route(a).await.unwrap();
    let handle = router.placement(route.placement_id).await.unwrap();
    let admin = router
        .servers()
        .get(&handle.placement.server)
        .unwrap()
        .open_admin_connection_pool(&handle.placement.db_name)
        .await
        .unwrap();
    let set_state = |state: &'static str| {
        let admin = admin.clone();
        async move {
            on_pool!(&admin, c => sqlx::query("UPDATE tenant_state SET state = $1 WHERE tenant_id = $2")
                .bind(state).bind(a.as_uuid()).execute(c).await.unwrap().rows_affected());
        }
    };
    set_state("moved_out").await;
    // A read that begins now finds A's context set on its session and sends
    // its statement alone.
    let mut tx = router.begin(a, Mode::Read).await.unwrap();
    let err = work_orders::list(&mut tx, list(Some(fsa_core::WorkOrderStatus::Cancelled)))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            work_orders::WorkOrderError::Store(StoreError::StaleRoute)
        ),
        "{err:?}"
    );
    drop(tx);
    // Beginning anew checks the context again and sees the state (after
    // the router's bounded wait for a new route, which never comes here).
    let err = router.begin(a, Mode::Read).await.err().unwrap();
    assert!(matches!(err, StoreError::Moved(_)), "{err:?}");

    set_state("active").await;
    let mut tx = router.begin(a, Mode::Read).await.unwrap();
    let page = work_orders::list(&mut tx, list(None)).await.unwrap();
    assert_eq!(page.items.len(), 1);
    tx.commit().await.unwrap();
    // B, sharing the placement, never noticed.
    let mut other = lease_holder;
    let page = work_orders::list(&mut other, list(None)).await.unwrap();
    assert!(page.items.is_empty());
    other.commit().await.unwrap();
    admin.close().await;
    router.close().await;
}

/// One pooled session serving two tenants in turn switches its context
/// every time. Row-level security keys on that context, so a read whose
/// session still held the other tenant would see none of its own rows (its
/// query names its tenant; the policy names the other): each read seeing
/// exactly its own rows shows the switch happened.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_session_serves_tenants_in_turn_and_sees_only_each_one() {
    use fsa_store::repo::work_orders::WorkOrderFilter;

    let db = TestDb::new();
    let url = DbUrl::new(db.url());
    let router = router_for(&url, &db.name).await;
    let a = onboard(&router, "turn-a").await;
    let b = onboard(&router, "turn-b").await;
    one_work_order(&router, a).await;
    one_work_order(&router, b).await;
    one_work_order(&router, b).await;
    // One read at a time: the pool hands out its most recently used
    // session, so the same session alternates between the tenants.
    for (tenant, want) in [(a, 1), (b, 2), (a, 1), (a, 1), (b, 2), (a, 1)] {
        let mut tx = router.begin(tenant, Mode::Read).await.unwrap();
        let page = work_orders::list(
            &mut tx,
            WorkOrderFilter {
                limit: 50,
                ..Default::default()
            },
        )
        .await
        .unwrap();
        assert_eq!(page.items.len(), want, "rows seen for {tenant}");
        tx.commit().await.unwrap();
    }
    router.close().await;
}

/// Rolls a placement back one schema version, to what a placement not yet
/// migrated holds: migration 8 undone (no usage counters, no triggers
/// keeping them; version 7).
async fn roll_back_one_version(pool: &Pool) {
    match pool {
        Pool::Pg(p) => {
            for sql in [
                "DROP FUNCTION fsa_usage_add, fsa_usage_remove, fsa_usage_resize CASCADE",
                "DROP TABLE tenant_usage",
                "DELETE FROM _sqlx_migrations WHERE version = 8",
            ] {
                sqlx::query(sql).execute(p).await.unwrap();
            }
        }
        Pool::Sqlite(p) => {
            let triggers: Vec<String> = sqlx::query_scalar(
                "SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE '%_usage_%'",
            )
            .fetch_all(p)
            .await
            .unwrap();
            for t in triggers {
                sqlx::query(sqlx::AssertSqlSafe(format!("DROP TRIGGER {t}")))
                    .execute(p)
                    .await
                    .unwrap();
            }
            for sql in [
                "DROP TABLE tenant_usage",
                "DELETE FROM _sqlx_migrations WHERE version = 8",
            ] {
                sqlx::query(sql).execute(p).await.unwrap();
            }
        }
    }
}

async fn schema_version(pool: &Pool) -> i64 {
    on_pool!(pool, c => sqlx::query_scalar::<_, i64>("SELECT max(version) FROM _sqlx_migrations WHERE success")
        .fetch_one(c).await.unwrap())
}

/// A move from a placement one schema version behind (a fleet rollout that
/// has not reached it yet): the preflight brings the source up to date, as
/// `fsa db migrate` would, the move copies every row, and the catalog's
/// ledger records the step.
async fn from_a_source_one_version_behind(router: &std::sync::Arc<Router>) {
    use fsa_move::{MoveRequest, Mover, Target};

    let t = onboard(router, "behind").await;
    one_work_order(router, t).await;
    let route = router.route(t).await.unwrap();
    let source = router.placement(route.placement_id).await.unwrap();
    let admin = router
        .servers()
        .get(&source.placement.server)
        .unwrap()
        .open_admin_connection_pool(&source.placement.db_name)
        .await
        .unwrap();
    roll_back_one_version(&admin).await;
    let latest = fsa_store::schema::MigrationSet::binary().latest();
    assert!(schema_version(&admin).await < latest);
    let tenant = router.catalog().tenant_by_id(t).await.unwrap().unwrap();
    let mover = Mover::new(router.clone());
    let req = MoveRequest {
        to: Target::Kind(fsa_core::PlacementKind::Dedicated),
        region: None,
        cleanup_after: std::time::Duration::ZERO,
        requested_by: "test".into(),
        reason: "source behind".into(),
        plan_after: None,
    };
    let planned = mover.plan(&tenant, req).await.unwrap();
    let m = mover.run(planned.id).await.unwrap();
    assert_eq!(m.state, "done", "{:?}", m.error);
    assert_eq!(
        schema_version(&admin).await,
        latest,
        "the source was migrated"
    );
    let ledger = router.catalog().ledger(source.placement.id).await.unwrap();
    assert!(
        ledger.iter().any(|e| e.version == latest),
        "the ledger records the source's step: {ledger:?}"
    );
    let state = router
        .catalog()
        .schema_state(source.placement.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((state.version, state.state.as_str()), (latest, "current"));
    let mut tx = router.begin(t, Mode::Read).await.unwrap();
    let page = work_orders::list(
        &mut tx,
        work_orders::WorkOrderFilter {
            limit: 10,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(page.items.len(), 1, "the moved tenant's work order");
    tx.commit().await.unwrap();
    admin.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn move_from_a_source_one_version_behind_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = DbUrl::new(format!("sqlite://{}/catalog.db", dir.path().display()));
    let router = router_for(&url, "").await;
    from_a_source_one_version_behind(&router).await;
    router.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn move_from_a_source_one_version_behind_on_postgres() {
    let db = TestDb::new();
    let url = DbUrl::new(db.url());
    let router = router_for(&url, &db.name).await;
    from_a_source_one_version_behind(&router).await;
    router.close().await;
}
