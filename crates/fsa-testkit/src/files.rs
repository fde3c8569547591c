//! Files through the API: multipart forms as a client sends them, and the
//! tenant's latest move once it ended.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::{Json, TestApp};

/// A client of the tenant whose admin holds `token`; its id.
pub async fn new_client(app: &TestApp, token: &str) -> String {
    let (s, c) = app
        .post("/api/v1/clients", token, json!({"name": "Client"}))
        .await;
    assert_eq!(s, 201, "{c}");
    c["id"].as_str().expect("a client id").to_owned()
}

/// A work order of `client`; its id.
pub async fn new_work_order(app: &TestApp, token: &str, client: &str) -> String {
    let (s, w) = app
        .post(
            "/api/v1/work-orders",
            token,
            json!({"client_id": client, "title": "Order"}),
        )
        .await;
    assert_eq!(s, 201, "{w}");
    w["id"].as_str().expect("a work order id").to_owned()
}

/// A tenant of `plan` with a client and a work order: the tenant's id, its
/// admin's token and the order's id.
pub async fn tenant_with_order(app: &TestApp, slug: &str, plan: &str) -> (String, String, String) {
    let t = app.create_tenant(slug, plan, "default").await;
    let token = app.login_admin(slug).await;
    let client = new_client(app, &token).await;
    let wo = new_work_order(app, &token, &client).await;
    (t["id"].as_str().expect("a tenant id").to_owned(), token, wo)
}

pub const BOUNDARY: &str = "fsa-test-boundary-0c9e4f";

/// A multipart form with a `file` part named by the raw `disposition` tail
/// (e.g. `filename="a.txt"`) and optionally a `file_type` part.
pub fn form(
    disposition: &str,
    content_type: &str,
    bytes: &[u8],
    file_type: Option<&str>,
) -> Vec<u8> {
    let mut body = Vec::new();
    if let Some(t) = file_type {
        body.extend_from_slice(
            format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file_type\"\r\n\r\n{t}\r\n"
            )
            .as_bytes(),
        );
    }
    body.extend_from_slice(
        format!(
            "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; {disposition}\r\nContent-Type: {content_type}\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
    body
}

/// Sends a form to `POST /api/v1/work-orders/{wo}/files`.
pub async fn send_form(app: &TestApp, token: &str, wo: &str, body: Vec<u8>) -> (u16, Json) {
    let res = app
        .client
        .post(format!("{}/api/v1/work-orders/{wo}/files", app.base))
        .bearer_auth(token)
        .header(
            "content-type",
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .body(body)
        .send()
        .await
        .expect("the upload is sent");
    let status = res.status().as_u16();
    let body = res.bytes().await.unwrap_or_default();
    (status, serde_json::from_slice(&body).unwrap_or(Json::Null))
}

/// Uploads `bytes` as a file of the work order `wo`; returns the new
/// file's id (and fails on anything but 201).
pub async fn upload(app: &TestApp, token: &str, wo: &str, name: &str, bytes: &[u8]) -> String {
    let body = form(
        &format!("filename=\"{name}\""),
        "application/octet-stream",
        bytes,
        None,
    );
    let (s, f) = send_form(app, token, wo, body).await;
    assert_eq!(s, 201, "upload {name}: {f}");
    f["id"].as_str().expect("a file id").to_owned()
}

/// The tenant's latest move, read whole once it has ended (`done` or
/// `rolled_back`).
pub async fn move_end(app: &TestApp, slug: &str) -> Json {
    let (_, moves) = app.get("/admin/moves", &app.admin_token).await;
    let m = moves
        .as_array()
        .into_iter()
        .flatten()
        .chain(moves["items"].as_array().into_iter().flatten())
        .find(|m| m["tenant"] == slug)
        .cloned()
        .expect("the tenant's move is listed");
    move_by_id_end(app, m["id"].as_str().expect("a move id")).await
}

/// A move by id, once it has ended.
pub async fn move_by_id_end(app: &TestApp, id: &str) -> Json {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let (_, m) = app
            .get(&format!("/admin/moves/{id}"), &app.admin_token)
            .await;
        if m["state"] == "done" || m["state"] == "rolled_back" {
            return m;
        }
        assert!(Instant::now() < deadline, "the move did not end: {m}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
