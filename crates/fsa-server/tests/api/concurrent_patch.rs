//! PATCHes of different fields of one row, sent at the same time: every
//! change survives (none is lost by a read–merge–write of the whole row
//! racing another).

use fsa_testkit::{Backend, Json, TestApp};
use futures::future::join_all;
use serde_json::json;

use super::{client, work_order};

const ROUNDS: usize = 8;

/// Sends every `(field, value)` as its own PATCH of `path`, all at once,
/// then checks that the row holds every value.
async fn patch_together(app: &TestApp, token: &str, path: &str, changes: &[(&str, Json)]) {
    let sent = join_all(
        changes
            .iter()
            .map(|(field, value)| app.patch(path, token, json!({ *field: value }))),
    )
    .await;
    for (s, b) in sent {
        assert_eq!(s, 200, "{path}: {b}");
    }
    let (s, row) = app.get(path, token).await;
    assert_eq!(s, 200, "{row}");
    for (field, value) in changes {
        assert_eq!(&row[*field], value, "{path}: {field} lost in {row}");
    }
}

async fn concurrent_patches(backend: Backend) {
    let app = TestApp::start(backend).await.unwrap();
    app.create_tenant("patchy", "enterprise", "default").await;
    let t = app.login_admin("patchy").await;
    let c = client(&app, &t, "Shared Client").await;
    let w = work_order(&app, &t, &c, "Job", None).await;
    let wid = w["id"].as_str().unwrap().to_owned();

    for round in 0..ROUNDS {
        let id = client(&app, &t, &format!("Client {round}")).await;
        patch_together(
            &app,
            &t,
            &format!("/api/v1/clients/{id}"),
            &[
                ("contact_name", json!(format!("Contact {round}"))),
                ("email", json!(format!("c{round}@patchy.test"))),
                ("phone", json!(format!("555-01{round:02}"))),
                ("address", json!(format!("{round} Main St"))),
            ],
        )
        .await;

        let (s, p) = app
            .post(
                "/api/v1/personnel",
                &t,
                json!({"name": format!("Tech {round}")}),
            )
            .await;
        assert_eq!(s, 201, "{p}");
        patch_together(
            &app,
            &t,
            &format!("/api/v1/personnel/{}", p["id"].as_str().unwrap()),
            &[
                ("name", json!(format!("Technician {round}"))),
                ("email", json!(format!("t{round}@patchy.test"))),
                ("phone", json!(format!("555-02{round:02}"))),
                ("skills", json!(["plumbing", format!("skill {round}")])),
            ],
        )
        .await;

        let (s, task) = app
            .post(
                &format!("/api/v1/work-orders/{wid}/tasks"),
                &t,
                json!({"title": format!("Task {round}")}),
            )
            .await;
        assert_eq!(s, 201, "{task}");
        patch_together(
            &app,
            &t,
            &format!(
                "/api/v1/work-orders/{wid}/tasks/{}",
                task["id"].as_str().unwrap()
            ),
            &[
                ("title", json!(format!("Renamed task {round}"))),
                ("status", json!("done")),
                ("position", json!(100 + round)),
            ],
        )
        .await;

        let (s, u) = app
            .post(
                "/api/v1/users",
                &t,
                json!({"email": format!("u{round}@patchy.test"), "name": format!("User {round}"),
                       "role": "viewer", "password": "long-enough-password"}),
            )
            .await;
        assert_eq!(s, 201, "{u}");
        patch_together(
            &app,
            &t,
            &format!("/api/v1/users/{}", u["id"].as_str().unwrap()),
            &[
                ("name", json!(format!("Renamed user {round}"))),
                ("role", json!("dispatcher")),
                ("is_active", json!(false)),
            ],
        )
        .await;
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_patches_of_different_fields_all_survive_on_sqlite() {
    concurrent_patches(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_patches_of_different_fields_all_survive_on_postgres() {
    concurrent_patches(Backend::Postgres).await;
}
