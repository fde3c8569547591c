//! One story, run on both engines: onboard two tenants, log in, create,
//! list with pagination, filter, update, change status, delete.

use fsa_testkit::{Backend, TestApp};
use serde_json::json;

use super::{all_pages, assert_problem, client, ids, work_order};

async fn story(backend: Backend) {
    let app = TestApp::start(backend).await.unwrap();

    // Onboarding through the admin API.
    let a = app.create_tenant("story-a", "free", "EU").await;
    assert_eq!(a["slug"], "story-a");
    assert_eq!(a["plan"], "free");
    assert_eq!(a["placement"]["kind"], "shared");
    assert_eq!(a["epoch"], 1);
    let b = app.create_tenant("story-b", "basic", "EU").await;
    assert_eq!(
        b["placement"]["id"], a["placement"]["id"],
        "free and basic tenants of a region share a placement"
    );

    let ta = app.login_admin("story-a").await;
    let tb = app.login_admin("story-b").await;
    let (s, me) = app.get("/api/v1/me", &ta).await;
    assert_eq!(s, 200);
    assert_eq!(me["email"], "admin@story-a.test");
    assert_eq!(me["role"], "admin");
    assert_eq!(me["tenant"], "story-a");

    // Clients, with name search.
    let harbor = client(&app, &ta, "Harbor View Apartments").await;
    let maple = client(&app, &ta, "Maple Street Dental").await;
    let b_client = client(&app, &tb, "Harbor Lights Diner").await;
    let (s, found) = app.get("/api/v1/clients?q=harb", &ta).await;
    assert_eq!(s, 200);
    assert_eq!(
        ids(found["items"].as_array().unwrap()),
        vec![harbor.clone()],
        "search finds A's Harbor only: {found}"
    );

    // Work orders: numbers per tenant, status open.
    let mut created = Vec::new();
    for n in 0..7 {
        let c = if n % 2 == 0 { &harbor } else { &maple };
        let due = format!("2027-01-{:02}", 10 - n);
        let w = work_order(&app, &ta, c, &format!("Boiler service {n}"), Some(&due)).await;
        assert_eq!(w["status"], "open");
        assert_eq!(w["number"], 1000 + n);
        assert_eq!(w["reference"], format!("WO-{}", 1000 + n));
        created.push(w["id"].as_str().unwrap().to_owned());
    }
    let wb = work_order(&app, &tb, &b_client, "Grease trap", None).await;
    assert_eq!(wb["number"], 1000, "numbers are per tenant");

    // List with pagination: newest first, every order once.
    let listed = all_pages(&app, &ta, "/api/v1/work-orders?limit=3").await;
    let mut newest_first = created.clone();
    newest_first.reverse();
    assert_eq!(ids(&listed), newest_first);
    let (_, first) = app.get("/api/v1/work-orders?limit=3", &ta).await;
    assert_eq!(first["items"].as_array().unwrap().len(), 3);
    assert!(first["next_cursor"].is_string());

    // Filters.
    let by_client = all_pages(
        &app,
        &ta,
        &format!("/api/v1/work-orders?client_id={maple}&limit=2"),
    )
    .await;
    assert_eq!(by_client.len(), 3);
    assert!(by_client.iter().all(|w| w["client_id"] == maple.as_str()));
    let by_due = all_pages(
        &app,
        &ta,
        "/api/v1/work-orders?due_from=2027-01-05&due_to=2027-01-07",
    )
    .await;
    assert_eq!(by_due.len(), 3, "{by_due:?}");
    let by_text = all_pages(&app, &ta, "/api/v1/work-orders?q=service%206").await;
    assert_eq!(ids(&by_text), vec![created[6].clone()]);
    let by_due_sort = all_pages(&app, &ta, "/api/v1/work-orders?sort=due_date&limit=2").await;
    assert_eq!(
        ids(&by_due_sort),
        newest_first,
        "the latest created are due soonest"
    );

    // Update and the status lifecycle.
    let w0 = &created[0];
    let (s, w) = app
        .patch(&format!("/api/v1/work-orders/{w0}"), &ta, json!({"title": "Boiler service (urgent)", "priority": "urgent", "attributes": {"floor": 3}}))
        .await;
    assert_eq!(s, 200, "{w}");
    assert_eq!(w["title"], "Boiler service (urgent)");
    assert_eq!(w["attributes"]["floor"], 3);
    for to in [
        "scheduled",
        "in_progress",
        "on_hold",
        "in_progress",
        "completed",
    ] {
        let (s, w) = app
            .patch(
                &format!("/api/v1/work-orders/{w0}"),
                &ta,
                json!({"status": to}),
            )
            .await;
        assert_eq!(s, 200, "to {to}: {w}");
        assert_eq!(w["status"], to);
    }
    let (s, e) = app
        .patch(
            &format!("/api/v1/work-orders/{}", created[1]),
            &ta,
            json!({"status": "completed"}),
        )
        .await;
    assert_problem(s, &e, 409, "invalid_transition");
    assert_eq!(e["allowed"], json!(["scheduled", "cancelled"]));
    let open = all_pages(&app, &ta, "/api/v1/work-orders?status=open").await;
    assert_eq!(open.len(), 6);
    let done = all_pages(&app, &ta, "/api/v1/work-orders?status=completed").await;
    assert_eq!(ids(&done), vec![w0.clone()]);

    // Tasks under a work order.
    let w1 = &created[1];
    for t in ["Arrive", "Diagnose", "Fix"] {
        let (s, task) = app
            .post(
                &format!("/api/v1/work-orders/{w1}/tasks"),
                &ta,
                json!({"title": t}),
            )
            .await;
        assert_eq!(s, 201, "{task}");
        assert_eq!(task["status"], "todo");
    }
    let (_, tasks) = app
        .get(&format!("/api/v1/work-orders/{w1}/tasks"), &ta)
        .await;
    let tasks = tasks["items"].as_array().unwrap().clone();
    assert_eq!(
        tasks
            .iter()
            .map(|t| t["position"].as_i64().unwrap())
            .collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    let t0 = tasks[0]["id"].as_str().unwrap();
    let (s, t) = app
        .patch(
            &format!("/api/v1/work-orders/{w1}/tasks/{t0}"),
            &ta,
            json!({"status": "done"}),
        )
        .await;
    assert_eq!((s, t["status"].as_str()), (200, Some("done")));

    // Delete: the order and its tasks go; B is untouched.
    let (s, _) = app.delete(&format!("/api/v1/work-orders/{w1}"), &ta).await;
    assert_eq!(s, 204);
    let (s, e) = app.get(&format!("/api/v1/work-orders/{w1}"), &ta).await;
    assert_problem(s, &e, 404, "not_found");
    let (s, e) = app
        .get(&format!("/api/v1/work-orders/{w1}/tasks/{t0}"), &ta)
        .await;
    assert_problem(s, &e, 404, "not_found");
    assert_eq!(all_pages(&app, &ta, "/api/v1/work-orders").await.len(), 6);
    assert_eq!(
        ids(&all_pages(&app, &tb, "/api/v1/work-orders").await),
        vec![wb["id"].as_str().unwrap().to_owned()]
    );

    // A client with work orders cannot be deleted; one without can.
    let (s, e) = app.delete(&format!("/api/v1/clients/{harbor}"), &ta).await;
    assert_problem(s, &e, 409, "in_use");
    let spare = client(&app, &ta, "Spare Client").await;
    let (s, _) = app.delete(&format!("/api/v1/clients/{spare}"), &ta).await;
    assert_eq!(s, 204);

    // Users and roles: a viewer reads but cannot write.
    let (s, u) = app
        .post("/api/v1/users", &ta, json!({"email": "viewer@story-a.test", "name": "Vera", "role": "viewer", "password": "viewer-password"}))
        .await;
    assert_eq!(s, 201, "{u}");
    let tv = app
        .login("story-a", "viewer@story-a.test", "viewer-password")
        .await;
    let (s, _) = app.get("/api/v1/work-orders", &tv).await;
    assert_eq!(s, 200);
    let (s, e) = app
        .post("/api/v1/clients", &tv, json!({"name": "Nope"}))
        .await;
    assert_problem(s, &e, 403, "forbidden");

    // Admin reads.
    let (s, t) = app.get("/admin/tenants/story-a", &app.admin_token).await;
    assert_eq!(s, 200);
    assert_eq!(t["placement"]["kind"], "shared");
    assert_eq!(t["epoch"], 1);
    let (s, ps) = app.get("/admin/placements", &app.admin_token).await;
    assert_eq!(s, 200);
    let shared = ps
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == a["placement"]["id"])
        .unwrap()
        .clone();
    assert_eq!(shared["tenant_count"], 2);
    assert_eq!(shared["kind"], "shared");
    let (s, all) = app.get("/admin/tenants", &app.admin_token).await;
    assert_eq!(s, 200);
    assert_eq!(all.as_array().unwrap().len(), 2);

    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn story_on_sqlite() {
    story(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn story_on_postgres() {
    story(Backend::Postgres).await;
}
