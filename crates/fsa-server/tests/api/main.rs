//! The HTTP API as a client sees it, on SQLite and on PostgreSQL.

mod bad_input;
mod concurrent_patch;
mod conn;
mod isolation;
mod limits;
mod spec;
mod story;
mod tokens;

use fsa_testkit::{Json, TestApp};
use serde_json::json;

/// Creates a client and returns its id.
pub async fn client(app: &TestApp, token: &str, name: &str) -> String {
    let (s, b) = app
        .post("/api/v1/clients", token, json!({"name": name}))
        .await;
    assert_eq!(s, 201, "{b}");
    b["id"].as_str().unwrap().to_owned()
}

/// Creates a work order and returns it.
pub async fn work_order(
    app: &TestApp,
    token: &str,
    client_id: &str,
    title: &str,
    due: Option<&str>,
) -> Json {
    let (s, b) = app
        .post(
            "/api/v1/work-orders",
            token,
            json!({"client_id": client_id, "title": title, "due_date": due}),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    b
}

/// Follows `next_cursor` through every page of a list; returns the items.
pub async fn all_pages(app: &TestApp, token: &str, path: &str) -> Vec<Json> {
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let sep = if path.contains('?') { '&' } else { '?' };
        let url = match &cursor {
            Some(c) => format!("{path}{sep}cursor={c}"),
            None => path.to_owned(),
        };
        let (s, b) = app.get(&url, token).await;
        assert_eq!(s, 200, "{url}: {b}");
        items.extend(b["items"].as_array().unwrap().iter().cloned());
        match b["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return items,
        }
    }
}

pub fn ids(items: &[Json]) -> Vec<String> {
    items
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_owned())
        .collect()
}

/// Asserts a problem+json error with the given status and code.
pub fn assert_problem(status: u16, body: &Json, want_status: u16, want_code: &str) {
    assert_eq!(
        status, want_status,
        "expected {want_status} {want_code}, got {body}"
    );
    assert_eq!(body["code"], want_code, "{body}");
    assert_eq!(body["status"], want_status, "{body}");
}

/// Polls a move until it is finished (bounded); returns its view.
pub async fn wait_for_move(app: &TestApp, id: &str) -> Json {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let (s, m) = app
            .get(&format!("/admin/moves/{id}"), &app.admin_token)
            .await;
        assert_eq!(s, 200, "{m}");
        if m["state"] == "done" || m["state"] == "rolled_back" {
            return m;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "move {id} did not finish: {m}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
