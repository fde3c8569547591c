//! Every response carries its request's id, and every problem body names
//! it as its `instance`; an incoming id is kept only when it is sane.

use fsa_testkit::{Backend, TestApp};

#[tokio::test]
async fn a_problem_names_the_request_id_of_its_header() {
    let app = TestApp::start(Backend::Sqlite).await.unwrap();
    let cases: [(Option<String>, bool); 5] = [
        (None, false),
        (Some("client-id_42.a:b".into()), true),
        (Some("x".repeat(129)), false),
        (Some("evil\tid".into()), false),
        (Some("with space".into()), false),
    ];
    for (incoming, kept) in cases {
        let mut req = app
            .client
            .get(format!("{}/admin/tenants/nobody-here", app.base))
            .bearer_auth(&app.admin_token);
        if let Some(id) = &incoming {
            req = req.header("x-request-id", id.as_bytes());
        }
        let res = req.send().await.unwrap();
        assert_eq!(res.status().as_u16(), 404);
        let id = res
            .headers()
            .get("x-request-id")
            .expect("x-request-id on the response")
            .to_str()
            .unwrap()
            .to_owned();
        let body: serde_json::Value = res.json().await.unwrap();
        assert_eq!(body["code"], "not_found", "{body}");
        assert_eq!(body["instance"], format!("urn:fsa:request:{id}"), "{body}");
        if kept {
            assert_eq!(Some(&id), incoming.as_ref());
        } else {
            assert!(uuid::Uuid::parse_str(&id).is_ok(), "{incoming:?} → {id}");
        }
    }
    // Problems made outside handlers (no route, no token) carry it too,
    // and a success carries the header.
    for (path, token, status) in [
        ("/no/such/route", None::<&str>, 404),
        ("/admin/tenants", None, 401),
        ("/health", None, 200),
    ] {
        let mut req = app.client.get(format!("{}{path}", app.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let res = req.send().await.unwrap();
        assert_eq!(res.status().as_u16(), status, "{path}");
        let id = res.headers()["x-request-id"].to_str().unwrap().to_owned();
        if status >= 400 {
            let body: serde_json::Value = res.json().await.unwrap();
            assert_eq!(body["instance"], format!("urn:fsa:request:{id}"), "{path}");
        }
    }
    app.stop().await;
}
