//! The served OpenAPI document, and inputs its schema refuses that the
//! server once took (or failed on): what `scripts/fuzz-openapi.sh` found,
//! kept as tests that need no Python.

use fsa_testkit::{Backend, TestApp};
use reqwest::Method;
use serde_json::json;

use super::{assert_problem, client};

async fn spec(backend: Backend) {
    let app = TestApp::start(backend).await.unwrap();
    let (s, doc) = app.call(Method::GET, "/openapi.json", None, None).await;
    assert_eq!(s, 200);
    assert_eq!(doc["openapi"], "3.1.0");
    let create = &doc["paths"]["/api/v1/clients"]["post"];
    assert_eq!(
        create["requestBody"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/NewClient"
    );
    assert!(create["responses"]["415"]["content"]["application/problem+json"].is_object());
    let region = &doc["components"]["schemas"]["CreateTenant"]["properties"]["region"];
    assert!(
        region["pattern"].as_str().unwrap().contains("[Dd][Ee][Ff]"),
        "{region}"
    );

    app.create_tenant("spec-a", "free", "default").await;
    let t = app.login_admin("spec-a").await;
    let c = client(&app, &t, "Alpha").await;

    // A NUL in any text is refused on both engines (PostgreSQL's text and
    // jsonb cannot hold one: it was a 500 there).
    for (path, body) in [
        ("/api/v1/clients", json!({"name": "a\u{0}b"})),
        (
            "/api/v1/personnel",
            json!({"name": "Ann", "phone": "1\u{0}"}),
        ),
        (
            "/api/v1/work-orders",
            json!({"client_id": c, "title": "T", "attributes": {"k": ["\u{0}"]}}),
        ),
        (
            "/api/v1/work-orders",
            json!({"client_id": c, "title": "T", "attributes": {"\u{0}": 1}}),
        ),
    ] {
        let (s, b) = app.post(path, &t, body).await;
        assert_problem(s, &b, 422, "validation_failed");
    }
    let (s, b) = app.get("/api/v1/clients?q=a%00b", &t).await;
    assert_problem(s, &b, 400, "invalid_query");
    let (s, b) = app.get("/admin/tenants/spec%00a", &app.admin_token).await;
    assert_problem(s, &b, 400, "invalid_path");

    // A body is an object, never an array of its fields.
    let (s, b) = app
        .call(
            Method::PATCH,
            &format!("/api/v1/clients/{c}"),
            Some(&t),
            Some(json!([null, null])),
        )
        .await;
    assert_problem(s, &b, 422, "validation_failed");

    // Integers as JSON Schema has them; an email as its format has it.
    let (s, b) = app.get("/api/v1/clients?limit=2.0", &t).await;
    assert_eq!(s, 200, "{b}");
    let (s, b) = app
        .post(
            "/api/v1/users",
            &t,
            json!({"email": "0@0.com*", "name": "X", "role": "viewer", "password": "long-enough"}),
        )
        .await;
    assert_problem(s, &b, 422, "validation_failed");

    // Lengths count what is sent, spaces included.
    let (s, b) = app
        .post(
            "/api/v1/clients",
            &t,
            json!({"name": format!("{}{}", "n".repeat(190), " ".repeat(20))}),
        )
        .await;
    assert_problem(s, &b, 422, "validation_failed");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spec_on_sqlite() {
    spec(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spec_on_postgres() {
    spec(Backend::Postgres).await;
}
