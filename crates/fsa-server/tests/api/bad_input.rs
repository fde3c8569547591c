//! Bad input: every case is a 4xx problem+json with a `code`, never a 500,
//! and nothing is half-written.

use fsa_testkit::{Backend, TestApp};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::Method;
use serde_json::json;

use super::{all_pages, assert_problem, client, work_order};

async fn raw(
    app: &TestApp,
    method: Method,
    path: &str,
    token: Option<&str>,
    content_type: Option<&str>,
    body: Vec<u8>,
) -> (u16, String, serde_json::Value) {
    let mut req = app
        .client
        .request(method, format!("{}{path}", app.base))
        .body(body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(ct) = content_type {
        req = req.header("content-type", ct);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    let ct = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = res.json().await.unwrap_or(serde_json::Value::Null);
    (status, ct, body)
}

async fn bad_input(backend: Backend) {
    let app = TestApp::start(backend).await.unwrap();
    app.create_tenant("bad-a", "free", "default").await;
    app.create_tenant("bad-b", "free", "default").await;
    let ta = app.login_admin("bad-a").await;
    let tb = app.login_admin("bad-b").await;
    let ca = client(&app, &ta, "Alpha Client").await;
    let cb = client(&app, &tb, "Bravo Client").await;
    let w = work_order(&app, &ta, &ca, "First", None).await;
    let wid = w["id"].as_str().unwrap().to_owned();
    let json_ct = Some("application/json");

    // Body problems.
    let (s, ct, b) = raw(
        &app,
        Method::POST,
        "/api/v1/clients",
        Some(&ta),
        json_ct,
        b"{not json".to_vec(),
    )
    .await;
    assert_problem(s, &b, 400, "malformed_json");
    assert!(ct.starts_with("application/problem+json"), "{ct}");
    let (s, _, b) = raw(
        &app,
        Method::POST,
        "/api/v1/clients",
        Some(&ta),
        json_ct,
        br#"{"name": 42}"#.to_vec(),
    )
    .await;
    assert_problem(s, &b, 422, "validation_failed");
    let (s, _, b) = raw(
        &app,
        Method::POST,
        "/api/v1/clients",
        Some(&ta),
        json_ct,
        br#"{"name": "x", "tenant_id": "00000000-0000-0000-0000-000000000000"}"#.to_vec(),
    )
    .await;
    assert_problem(s, &b, 422, "validation_failed");
    let (s, _, b) = raw(
        &app,
        Method::POST,
        "/api/v1/clients",
        Some(&ta),
        None,
        br#"{"name": "x"}"#.to_vec(),
    )
    .await;
    assert_problem(s, &b, 415, "unsupported_media_type");
    let big = format!(r#"{{"name": "{}"}}"#, "x".repeat(2 * 1024 * 1024));
    let (s, _, b) = raw(
        &app,
        Method::POST,
        "/api/v1/clients",
        Some(&ta),
        json_ct,
        big.into_bytes(),
    )
    .await;
    assert_problem(s, &b, 413, "payload_too_large");
    let (s, b) = app
        .post("/api/v1/clients", &ta, json!({"name": "   "}))
        .await;
    assert_problem(s, &b, 422, "validation_failed");
    let (s, b) = app
        .post(
            "/api/v1/work-orders",
            &ta,
            json!({"client_id": ca, "title": "x", "attributes": [1, 2]}),
        )
        .await;
    assert_problem(s, &b, 422, "validation_failed");
    let (s, b) = app
        .post(
            "/api/v1/work-orders",
            &ta,
            json!({"client_id": ca, "title": "x", "status": "completed"}),
        )
        .await;
    assert_problem(s, &b, 422, "validation_failed");
    let (s, b) = app
        .post(
            "/api/v1/work-orders",
            &ta,
            json!({"client_id": ca, "title": "x", "due_date": "tomorrow"}),
        )
        .await;
    assert_problem(s, &b, 422, "validation_failed");

    // A work order pointing at another tenant's client: refused, nothing written.
    let (s, b) = app
        .post(
            "/api/v1/work-orders",
            &ta,
            json!({"client_id": cb, "title": "Sneaky"}),
        )
        .await;
    assert_problem(s, &b, 422, "validation_failed");
    assert_eq!(b["field"], "client_id");
    let (s, b) = app
        .patch(
            &format!("/api/v1/work-orders/{wid}"),
            &ta,
            json!({"client_id": cb}),
        )
        .await;
    assert_problem(s, &b, 422, "validation_failed");
    let next = work_order(&app, &ta, &ca, "Second", None).await;
    assert_eq!(
        next["number"], 1001,
        "a refused create does not use up a number"
    );
    assert_eq!(all_pages(&app, &ta, "/api/v1/work-orders").await.len(), 2);
    let (_, still) = app.get(&format!("/api/v1/work-orders/{wid}"), &ta).await;
    assert_eq!(still["client_id"], ca.as_str());

    // Lifecycle.
    let (s, b) = app
        .patch(
            &format!("/api/v1/work-orders/{wid}"),
            &ta,
            json!({"status": "in_progress"}),
        )
        .await;
    assert_problem(s, &b, 409, "invalid_transition");
    let (s, b) = app
        .patch(
            &format!("/api/v1/work-orders/{wid}"),
            &ta,
            json!({"status": "done"}),
        )
        .await;
    assert_problem(s, &b, 422, "validation_failed");

    // Paths and queries.
    let (s, b) = app.get("/api/v1/work-orders/not-a-uuid", &ta).await;
    assert_problem(s, &b, 400, "invalid_id");
    let (s, b) = app.get("/api/v1/work-orders?cursor=garbage!", &ta).await;
    assert_problem(s, &b, 400, "invalid_cursor");
    let (_, page) = app.get("/api/v1/work-orders?limit=1", &ta).await;
    let cursor = page["next_cursor"].as_str().unwrap();
    let (s, b) = app
        .get(
            &format!("/api/v1/work-orders?sort=due_date&cursor={cursor}"),
            &ta,
        )
        .await;
    assert_problem(s, &b, 400, "invalid_cursor");
    let (s, b) = app
        .get(&format!("/api/v1/clients?cursor={cursor}"), &ta)
        .await;
    assert_problem(s, &b, 400, "invalid_cursor");
    let (s, b) = app.get("/api/v1/work-orders?limit=0", &ta).await;
    assert_problem(s, &b, 422, "validation_failed");
    let (s, b) = app.get("/api/v1/work-orders?limit=100000", &ta).await;
    assert_problem(s, &b, 422, "validation_failed");
    let (s, b) = app.get("/api/v1/work-orders?status=bogus", &ta).await;
    assert_problem(s, &b, 400, "invalid_query");
    let (s, b) = app.get("/api/v1/work-orders?sort=title", &ta).await;
    assert_problem(s, &b, 400, "invalid_query");
    let (s, b) = app
        .get(
            "/api/v1/work-orders?due_from=2027-02-01&due_to=2027-01-01",
            &ta,
        )
        .await;
    assert_problem(s, &b, 422, "validation_failed");
    let (s, b) = app.get("/api/v1/nothing-here", &ta).await;
    assert_problem(s, &b, 404, "route_not_found");
    let (s, _, b) = raw(
        &app,
        Method::PUT,
        "/api/v1/clients",
        Some(&ta),
        json_ct,
        b"{}".to_vec(),
    )
    .await;
    assert_problem(s, &b, 405, "method_not_allowed");

    // Tokens.
    let (s, b) = app
        .call(Method::GET, "/api/v1/work-orders", None, None)
        .await;
    assert_problem(s, &b, 401, "token_missing");
    let (s, b) = app.get("/api/v1/work-orders", "not.a.token").await;
    assert_problem(s, &b, 401, "token_invalid");
    let claims = json!({"sub": uuid::Uuid::now_v7(), "tid": uuid::Uuid::now_v7(), "ten": "bad-a", "role": "admin", "iat": 0, "exp": 4_000_000_000i64});
    let forged = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(b"guessed"),
    )
    .unwrap();
    let (s, b) = app.get("/api/v1/work-orders", &forged).await;
    assert_problem(s, &b, 401, "token_invalid");
    let secret = app.state.config.expose_jwt_secret().to_owned();
    let me = app.get("/api/v1/me", &ta).await.1;
    let tenant = app.get("/admin/tenants/bad-a", &app.admin_token).await.1;
    let expired_claims = json!({"iss": "fsa", "aud": "fsa-api", "sub": me["id"], "tid": tenant["id"], "ten": "bad-a", "role": "admin", "tv": 0, "iat": 1_000, "exp": 2_000});
    let expired = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &expired_claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap();
    let (s, b) = app.get("/api/v1/work-orders", &expired).await;
    assert_problem(s, &b, 401, "token_expired");
    let (s, b) = app.get("/admin/tenants", &ta).await;
    assert_problem(s, &b, 403, "admin_token_required");
    let (s, b) = app.get("/api/v1/work-orders", &app.admin_token).await;
    assert_problem(s, &b, 401, "token_invalid");
    let (s, b) = app.call(Method::POST, "/api/v1/auth/login", None, Some(json!({"tenant": "bad-a", "email": "admin@bad-a.test", "password": "wrong-password"}))).await;
    assert_problem(s, &b, 401, "invalid_credentials");
    let (s, b) = app.call(Method::POST, "/api/v1/auth/login", None, Some(json!({"tenant": "nobody", "email": "admin@bad-a.test", "password": "password-bad-a"}))).await;
    assert_problem(s, &b, 401, "invalid_credentials");

    // Onboarding.
    let admin = app.admin_token.clone();
    let tenant = |slug: &str, plan: &str, pw: &str| json!({"slug": slug, "name": "X", "plan": plan, "admin_email": "a@x.test", "admin_password": pw});
    let (s, b) = app
        .post(
            "/admin/tenants",
            &admin,
            tenant("Bad Slug", "free", "long-enough"),
        )
        .await;
    assert_problem(s, &b, 422, "validation_failed");
    let (s, b) = app
        .post(
            "/admin/tenants",
            &admin,
            tenant("bad-a", "free", "long-enough"),
        )
        .await;
    assert_problem(s, &b, 409, "slug_taken");
    let (s, b) = app
        .post(
            "/admin/tenants",
            &admin,
            tenant("new-one", "gold", "long-enough"),
        )
        .await;
    assert_problem(s, &b, 422, "validation_failed");
    let (s, b) = app
        .post("/admin/tenants", &admin, tenant("new-one", "free", "short"))
        .await;
    assert_problem(s, &b, 422, "validation_failed");
    let (s, b) = app.post("/admin/tenants", &admin, json!({"slug": "new-one", "name": "X", "plan": "free", "region": "MARS", "admin_email": "a@x.test", "admin_password": "long-enough"})).await;
    assert_problem(s, &b, 422, "validation_failed");
    let (s, b) = app.get("/admin/tenants/nobody", &admin).await;
    assert_problem(s, &b, 404, "not_found");
    // A cleanup delay past a year, or past what any integer holds, is
    // refused before anything is planned (it once overflowed: a panic).
    for cleanup in ["99999999999999999999d", "213503982334601d", "366d", "-1h"] {
        let (s, b) = app
            .post(
                "/admin/tenants/bad-a/move",
                &admin,
                json!({"to": "pooled", "cleanup": cleanup}),
            )
            .await;
        assert_problem(s, &b, 422, "validation_failed");
        assert_eq!(b["field"], "cleanup", "{b}");
    }
    let (_, moves) = app.get("/admin/moves", &admin).await;
    assert!(
        moves["items"]
            .as_array()
            .or(moves.as_array())
            .is_none_or(|m| m.is_empty()),
        "no refused move was recorded: {moves}"
    );
    let (_, all) = app.get("/admin/tenants", &admin).await;
    assert_eq!(
        all.as_array().unwrap().len(),
        2,
        "no refused onboarding left a tenant behind"
    );

    // Users.
    let (s, b) = app.post("/api/v1/users", &ta, json!({"email": "admin@bad-a.test", "name": "Dup", "role": "viewer", "password": "long-enough"})).await;
    assert_problem(s, &b, 409, "conflict");
    let (s, b) = app.post("/api/v1/users", &ta, json!({"email": "no-at-sign", "name": "X", "role": "viewer", "password": "long-enough"})).await;
    assert_problem(s, &b, 422, "validation_failed");
    let (s, b) = app
        .patch(
            &format!("/api/v1/users/{}", me["id"].as_str().unwrap()),
            &ta,
            json!({"role": "viewer"}),
        )
        .await;
    assert_problem(s, &b, 409, "last_admin");

    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_on_sqlite() {
    bad_input(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_on_postgres() {
    bad_input(Backend::Postgres).await;
}
