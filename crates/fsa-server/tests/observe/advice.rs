//! The advisor through the API: nothing on a healthy fleet; an isolation
//! request advised with its evidence; `apply` schedules exactly the advised
//! moves, within the cap per run; once moved, nothing more is advised.

use std::time::{Duration, Instant};

use fsa_testkit::{Backend, Json, TestApp};
use serde_json::json;

use super::assert_problem;

async fn wait_switched(app: &TestApp, id: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (s, m) = app
            .get(&format!("/admin/moves/{id}"), &app.admin_token)
            .await;
        assert_eq!(s, 200, "{m}");
        match m["state"].as_str().unwrap() {
            "switched" | "cleaning" | "done" => return,
            "failed" | "rolled_back" => panic!("move failed: {m}"),
            _ => {}
        }
        assert!(Instant::now() < deadline, "move did not switch: {m}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn moves_of(advice: &Json) -> Vec<(String, String)> {
    advice["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|i| {
            let m = i["action"].get("move")?;
            Some((
                m["tenant"].as_str()?.to_owned(),
                m["to"].as_str()?.to_owned(),
            ))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn advice_is_applied_exactly_and_within_the_cap() {
    let app = TestApp::start_with(Backend::Sqlite, |c| {
        c.advice.max_moves_per_run = 1;
    })
    .await
    .unwrap();
    for slug in ["adv-a", "adv-b", "adv-c"] {
        app.create_tenant(slug, "free", "default").await;
    }
    app.create_tenant("adv-p", "premium", "default").await;
    let admin = app.admin_token.clone();

    let (s, healthy) = app.get("/admin/advice", &admin).await;
    assert_eq!(s, 200, "{healthy}");
    assert_eq!(healthy["items"], json!([]), "{healthy}");
    assert_eq!(
        healthy["cost"]["as_is_monthly_usd"],
        healthy["cost"]["advised_monthly_usd"]
    );

    for slug in ["adv-a", "adv-b"] {
        let (s, b) = app
            .patch(
                &format!("/admin/tenants/{slug}"),
                &admin,
                json!({"isolation_requested": true}),
            )
            .await;
        assert_eq!(s, 200, "{b}");
        assert_eq!(b["isolation_requested"], true, "{b}");
    }
    let (s, advice) = app.get("/admin/advice", &admin).await;
    assert_eq!(s, 200);
    let advised = moves_of(&advice);
    assert_eq!(
        advised,
        [
            ("adv-a".to_owned(), "dedicated".to_owned()),
            ("adv-b".to_owned(), "dedicated".to_owned())
        ],
        "{advice}"
    );
    let first = &advice["items"][0];
    assert_eq!(first["rule"], "isolation_requested");
    assert_eq!(first["tenant"], "adv-a");
    assert_eq!(first["evidence"]["isolation_requested"], true);
    assert_eq!(first["evidence"]["placement_kind"], "shared");
    assert!(
        advice["cost"]["advised_monthly_usd"].as_f64().unwrap()
            > advice["cost"]["as_is_monthly_usd"].as_f64().unwrap()
    );

    // One move per run: the first advised one, and no other.
    let (s, applied) = app.post("/admin/advice/apply", &admin, json!({})).await;
    assert_eq!(s, 202, "{applied}");
    let applied = applied["applied"].as_array().unwrap().clone();
    assert_eq!(applied.len(), 1, "{applied:?}");
    assert_eq!(applied[0]["tenant"], "adv-a");
    assert_eq!(applied[0]["to"], "dedicated");
    let id = applied[0]["id"].as_str().unwrap().to_owned();
    let (_, moves) = app.get("/admin/moves", &admin).await;
    let moves = moves.as_array().unwrap();
    assert_eq!(moves.len(), 1, "{moves:?}");
    assert_eq!(moves[0]["tenant"], "adv-a");
    assert_eq!(moves[0]["target"], "dedicated");
    wait_switched(&app, &id).await;

    // The next run takes the next one; then nothing is left to advise, and
    // the isolated tenants are never proposed back.
    let (_, advice) = app.get("/admin/advice", &admin).await;
    assert_eq!(
        moves_of(&advice),
        [("adv-b".to_owned(), "dedicated".to_owned())]
    );
    let (s, applied) = app.post("/admin/advice/apply", &admin, json!({})).await;
    assert_eq!(s, 202);
    let id = applied["applied"][0]["id"].as_str().unwrap().to_owned();
    wait_switched(&app, &id).await;
    let (_, advice) = app.get("/admin/advice", &admin).await;
    assert_eq!(advice["items"], json!([]), "{advice}");
    let (_, moves) = app.get("/admin/moves", &admin).await;
    assert_eq!(moves.as_array().unwrap().len(), 2);

    let (s, b) = app.get("/admin/advice", "wrong").await;
    assert_problem(s, &b, 401, "token_invalid");
    let (s, b) = app.post("/admin/advice/apply", "wrong", json!({})).await;
    assert_problem(s, &b, 401, "token_invalid");
    app.stop().await;
}
