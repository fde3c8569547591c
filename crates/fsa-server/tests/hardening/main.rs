//! The service under attack: login limits aimed at an owner, tenant states
//! read off the login, metrics that could name customers, the file quota
//! and S3 uploads cut off by their clients, files served back, forwarding
//! headers, and the security events that make an attack visible.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use fsa_testkit::files::{BOUNDARY, form, new_client, new_work_order, send_form};
use fsa_testkit::s3::TestBucket;
use fsa_testkit::{Backend, Json, TestApp};
use serde_json::json;
use tokio::io::AsyncWriteExt;

/// An HTTP client whose connections come from `ip` (any 127/8 address is
/// this machine's loopback), so tests can play clients at several addresses.
fn client_from(ip: [u8; 4]) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(IpAddr::V4(Ipv4Addr::from(ip)))
        .build()
        .expect("a client")
}

async fn login_as(
    app: &TestApp,
    client: &reqwest::Client,
    headers: &[(&str, &str)],
    slug: &str,
    email: &str,
    password: &str,
) -> (u16, Json) {
    let mut req = client
        .post(format!("{}/api/v1/auth/login", app.base))
        .json(&json!({"tenant": slug, "email": email, "password": password}));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let res = req.send().await.expect("the login is sent");
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Json::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_attacker_elsewhere_never_locks_the_owner_out() {
    let app = TestApp::start_with(Backend::Sqlite, |c| {
        c.login = Default::default();
    })
    .await
    .unwrap();
    app.create_tenant("victim", "basic", "default").await;
    let attacker = client_from([127, 0, 0, 1]);
    let owner = client_from([127, 0, 0, 2]);
    // 1,000 wrong passwords for the owner's email from one address, twenty
    // at a time.
    let mut statuses = std::collections::BTreeMap::<u16, usize>::new();
    for _ in 0..50 {
        let guesses: Vec<String> = (0..20).map(|i| format!("guess-{i}")).collect();
        let batch: Vec<_> = guesses
            .iter()
            .map(|g| login_as(&app, &attacker, &[], "victim", "admin@victim.test", g))
            .collect();
        for (s, _) in futures::future::join_all(batch).await {
            *statuses.entry(s).or_default() += 1;
        }
    }
    assert_eq!(
        statuses.keys().copied().collect::<Vec<_>>(),
        vec![401, 429],
        "{statuses:?}"
    );
    assert!(statuses[&429] >= 900, "{statuses:?}");
    // The attacker's address is spent, its right password too ...
    let (s, _) = login_as(
        &app,
        &attacker,
        &[],
        "victim",
        "admin@victim.test",
        "password-victim",
    )
    .await;
    assert_eq!(s, 429);
    // ... but the owner, from an address that has not failed, is in at once.
    let started = Instant::now();
    let (s, b) = login_as(
        &app,
        &owner,
        &[],
        "victim",
        "admin@victim.test",
        "password-victim",
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert!(started.elapsed() < Duration::from_secs(5));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_suspended_tenant_answers_like_a_wrong_password_until_the_password_is_right() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let app = TestApp::start(backend).await.unwrap();
        app.create_tenant("paused", "basic", "default").await;
        let (s, b) = app
            .patch(
                "/admin/tenants/paused",
                &app.admin_token,
                json!({"state": "suspended"}),
            )
            .await;
        assert_eq!(s, 200, "{b}");
        let client = reqwest::Client::new();
        let timed = |slug: &'static str, email: &'static str, password: &'static str| {
            let (app, client) = (&app, &client);
            async move {
                let mut best = Duration::MAX;
                let mut answer = (0, Json::Null);
                for _ in 0..3 {
                    let started = Instant::now();
                    answer = login_as(app, client, &[], slug, email, password).await;
                    best = best.min(started.elapsed());
                }
                (answer, best)
            }
        };
        let ((s, unknown), unknown_took) = timed("nobody-here", "a@b.test", "wrong").await;
        assert_eq!(s, 401);
        let ((s, wrong), wrong_took) = timed("paused", "admin@paused.test", "wrong").await;
        assert_eq!(s, 401, "{wrong}");
        assert_eq!(wrong["code"], unknown["code"]);
        assert_eq!(wrong["detail"], unknown["detail"]);
        let ((s, nobody), nobody_took) = timed("paused", "nobody@paused.test", "wrong").await;
        assert_eq!(s, 401, "{nobody}");
        // The same argon2 work whichever it is: a suspended tenant is not
        // told apart by a fast answer.
        for took in [wrong_took, nobody_took] {
            assert!(
                took * 3 > unknown_took,
                "{backend:?}: {took:?} against {unknown_took:?} for an unknown tenant"
            );
        }
        let ((s, right), _) = timed("paused", "admin@paused.test", "password-paused").await;
        assert_eq!(s, 403, "{right}");
        assert_eq!(right["code"], "tenant_suspended");
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_of_a_fleet_with_dedicated_tenants_name_no_tenant() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let app = TestApp::start(backend).await.unwrap();
        let slugs = ["globex-secret", "initech-private"];
        let mut placements = Vec::new();
        for slug in slugs {
            let t = app.create_tenant(slug, "enterprise", "default").await;
            assert_eq!(t["placement"]["kind"], "dedicated");
            placements.push(t["placement"]["id"].as_str().unwrap().to_owned());
            let token = app.login_admin(slug).await;
            assert_eq!(app.get("/api/v1/clients", &token).await.0, 200);
        }
        let text = app.metrics_text().await;
        for slug in slugs {
            assert!(!text.contains(slug), "{backend:?}: /metrics names {slug}");
            assert!(
                !text.contains(&slug[..7]),
                "{backend:?}: /metrics names {slug}"
            );
        }
        // The pools are there, by placement id.
        for id in &placements {
            assert!(
                text.contains(&format!("fsa_pool_connections{{placement=\"{id}\"}}")),
                "{backend:?}: no pool gauge for {id}"
            );
        }
        app.stop().await;
    }
}

/// A tenant of `plan` with a client; its admin's token and the client's id.
async fn tenant_with_client(app: &TestApp, slug: &str, plan: &str) -> (String, String) {
    app.create_tenant(slug, plan, "default").await;
    let token = app.login_admin(slug).await;
    let client = new_client(app, &token).await;
    (token, client)
}

/// Bytes of every object in the local store.
fn stored_bytes(app: &TestApp) -> u64 {
    fn walk(dir: &std::path::Path) -> u64 {
        std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| {
                let p = e.path();
                if p.is_dir() {
                    walk(&p)
                } else {
                    e.metadata().map_or(0, |m| m.len())
                }
            })
            .sum()
    }
    walk(&app.dir.path().join("files"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_delete_upload_never_outgrows_file_bytes() {
    const LIMIT: u64 = 100_000;
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let app = TestApp::start_with(backend, |c| c.limits.basic.file_bytes = Some(LIMIT))
            .await
            .unwrap();
        let (token, client) = tenant_with_client(&app, "quota", "basic").await;
        let bytes = vec![7u8; 60_000];
        for round in 0..5 {
            let wo = new_work_order(&app, &token, &client).await;
            let (s, b) = send_form(
                &app,
                &token,
                &wo,
                form(
                    "filename=\"a.bin\"",
                    "application/octet-stream",
                    &bytes,
                    None,
                ),
            )
            .await;
            assert_eq!(s, 201, "{backend:?} round {round}: {b}");
            assert!(stored_bytes(&app) <= LIMIT, "{backend:?} round {round}");
            // A second file is over the plan, whatever was deleted before.
            let (s, b) = send_form(
                &app,
                &token,
                &wo,
                form(
                    "filename=\"b.bin\"",
                    "application/octet-stream",
                    &bytes,
                    None,
                ),
            )
            .await;
            assert_eq!(s, 403, "{backend:?} round {round}: {b}");
            assert_eq!(b["code"], "plan_limit_reached");
            // Deleting the order takes its files' bytes out of the store at
            // once, not hours later.
            assert_eq!(
                app.delete(&format!("/api/v1/work-orders/{wo}"), &token)
                    .await
                    .0,
                204
            );
            assert_eq!(stored_bytes(&app), 0, "{backend:?} round {round}");
        }
        app.stop().await;
    }
}

/// The incomplete multipart uploads in a bucket (S3 `ListMultipartUploads`).
async fn open_uploads(bucket: &TestBucket) -> usize {
    let res = reqwest::Client::new()
        .get(format!("{}/{}?uploads", bucket.endpoint, bucket.bucket))
        .send()
        .await
        .expect("the S3 server answers");
    assert!(res.status().is_success(), "{}", res.status());
    res.text().await.unwrap().matches("<UploadId>").count()
}

/// Sends `body` as an upload over a raw connection and closes it without
/// waiting for the answer.
async fn send_and_hang_up(app: &TestApp, token: &str, wo: &str, body: &[u8], send: usize) {
    let addr: SocketAddr = app.base.trim_start_matches("http://").parse().unwrap();
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /api/v1/work-orders/{wo}/files HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: multipart/form-data; boundary={BOUNDARY}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(&body[..send]).await.unwrap();
    s.flush().await.unwrap();
    drop(s);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_uploads_cut_off_by_their_clients_leave_no_parts_behind() {
    let bucket = TestBucket::new().await;
    let premium = bucket.store_config("fsa");
    let app = TestApp::start_with(Backend::Sqlite, move |c| {
        c.files.stores.insert("premium".into(), premium);
    })
    .await
    .unwrap();
    let (token, client) = tenant_with_client(&app, "cutoff", "premium").await;
    let wo = new_work_order(&app, &token, &client).await;
    // Large enough for a multipart upload (parts of 5 MiB).
    let bytes: Vec<u8> = (0..12 * 1024 * 1024).map(|i| (i % 253) as u8).collect();
    let body = form(
        "filename=\"big.bin\"",
        "application/octet-stream",
        &bytes,
        None,
    );
    // Half the body, then gone; then the whole body, then gone before the
    // answer.
    for send in [body.len() / 2, body.len()] {
        send_and_hang_up(&app, &token, &wo, &body, send).await;
        let started = Instant::now();
        loop {
            // Nothing in flight any more: no upload left open.
            tokio::time::sleep(Duration::from_millis(200)).await;
            if open_uploads(&bucket).await == 0 {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "an incomplete multipart upload is left after {send} of {} bytes",
                body.len()
            );
        }
    }
    // The whole body made a file, whose object is there; the half one
    // nothing.
    let started = Instant::now();
    let files = loop {
        let (s, page) = app
            .get(&format!("/api/v1/work-orders/{wo}/files"), &token)
            .await;
        assert_eq!(s, 200);
        let items = page["items"].as_array().unwrap().clone();
        if !items.is_empty() || started.elapsed() > Duration::from_secs(30) {
            break items;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(files.len(), 1, "{files:?}");
    assert_eq!(files[0]["size"], bytes.len());
    assert_eq!(bucket.keys("fsa/tenants").await.len(), 1);
    assert_eq!(open_uploads(&bucket).await, 0);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_are_served_sandboxed_under_clean_names() {
    let app = TestApp::start(Backend::Sqlite).await.unwrap();
    let (token, client) = tenant_with_client(&app, "served", "basic").await;
    let wo = new_work_order(&app, &token, &client).await;
    let page = b"<html><script>alert(document.cookie)</script></html>";
    // "invoice<RLO>lmth.pdf" shows as "invoicefdp.html" where bidi is honoured.
    let name = "invoice\u{202E}lmth.pdf\u{200B}\u{2066}";
    let (s, f) = send_form(
        &app,
        &token,
        &wo,
        form(&format!("filename=\"{name}\""), "text/html", page, None),
    )
    .await;
    assert_eq!(s, 201, "{f}");
    assert_eq!(f["filename"], "invoicelmth.pdf");
    let res = app
        .client
        .get(format!(
            "{}/api/v1/files/{}/content",
            app.base,
            f["id"].as_str().unwrap()
        ))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let h = res.headers();
    let get = |n: &str| {
        h.get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    assert_eq!(get("x-content-type-options"), "nosniff");
    assert!(
        get("content-security-policy").starts_with("sandbox"),
        "{h:?}"
    );
    let disposition = get("content-disposition");
    assert!(disposition.starts_with("attachment;"), "{disposition}");
    assert!(!disposition.contains("%E2%80%AE"), "{disposition}");
    assert!(
        disposition.contains("filename*=UTF-8''invoicelmth.pdf"),
        "{disposition}"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarding_headers_are_believed_from_trusted_proxies_only() {
    let limits = |c: &mut fsa_server::config::Config| {
        c.login = Default::default();
        c.login.address_attempts = 2;
        c.login.account_attempts = 100;
    };
    // Nobody trusted: a header cannot buy a fresh address.
    let app = TestApp::start_with(Backend::Sqlite, limits).await.unwrap();
    app.create_tenant("proxied", "basic", "default").await;
    let client = reqwest::Client::new();
    let mut last = 0;
    for i in 0..3 {
        let xff = format!("198.51.100.{i}");
        last = login_as(
            &app,
            &client,
            &[("x-forwarded-for", &xff)],
            "proxied",
            "a@proxied.test",
            "x",
        )
        .await
        .0;
    }
    assert_eq!(last, 429);
    app.stop().await;

    // 127.0.0.1 is the trusted balancer: its clients count apart.
    let app = TestApp::start_with(Backend::Sqlite, move |c| {
        limits(c);
        c.server.trusted_proxies = vec!["127.0.0.1/32".into()];
    })
    .await
    .unwrap();
    app.create_tenant("proxied", "basic", "default").await;
    let attempt = |headers: Vec<(&'static str, String)>| {
        let (app, client) = (&app, &client);
        async move {
            let h: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
            login_as(app, client, &h, "proxied", "a@proxied.test", "x")
                .await
                .0
        }
    };
    let one = || vec![("x-forwarded-for", "203.0.113.1".to_owned())];
    assert_eq!(attempt(one()).await, 401);
    assert_eq!(attempt(one()).await, 401);
    assert_eq!(attempt(one()).await, 429);
    // Another client behind the balancer, by either header.
    assert_eq!(
        attempt(vec![("x-forwarded-for", "203.0.113.2".into())]).await,
        401
    );
    assert_eq!(
        attempt(vec![("forwarded", "for=\"203.0.113.3:4711\"".into())]).await,
        401
    );
    // A client that writes the header itself stands left of what the
    // balancer adds: it is still 203.0.113.1.
    assert_eq!(
        attempt(vec![("x-forwarded-for", "10.9.9.9, 203.0.113.1".into())]).await,
        429
    );
    app.stop().await;

    // A bad entry stops the start, naming it.
    let e = TestApp::start_with(Backend::Sqlite, |c| {
        c.server.trusted_proxies = vec!["balancer.internal".into()];
    })
    .await
    .err()
    .expect("a bad trusted_proxies entry is refused");
    assert!(e.to_string().contains("balancer.internal"), "{e}");
}

/// The value of `fsa_security_events_total{kind}` in a scrape.
fn events(text: &str, kind: &str) -> f64 {
    let prefix = format!("fsa_security_events_total{{kind=\"{kind}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .map_or(0.0, |v| v.trim().parse().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn security_events_are_counted() {
    let app = TestApp::start(Backend::Sqlite).await.unwrap();
    let (token, _) = tenant_with_client(&app, "watched", "basic").await;
    let before = app.metrics_text().await;
    let client = reqwest::Client::new();
    assert_eq!(
        login_as(&app, &client, &[], "watched", "admin@watched.test", "wrong")
            .await
            .0,
        401
    );
    assert_eq!(
        app.get("/admin/tenants", "not-the-admin-token").await.0,
        401
    );
    assert_eq!(app.get("/admin/tenants", &token).await.0, 403);
    assert_eq!(app.get("/api/v1/clients", "forged").await.0, 401);
    let other = format!("/api/v1/work-orders/{}", uuid::Uuid::now_v7());
    assert_eq!(app.get(&other, &token).await.0, 404);
    let after = app.metrics_text().await;
    for (kind, at_least) in [
        ("login_failed", 1.0),
        ("admin_token_refused", 2.0),
        ("token_refused", 1.0),
        ("unknown_id", 1.0),
    ] {
        assert!(
            events(&after, kind) - events(&before, kind) >= at_least,
            "{kind}: {} then {}",
            events(&before, kind),
            events(&after, kind)
        );
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_forms_are_clean_refusals_and_store_nothing() {
    let app = TestApp::start(Backend::Sqlite).await.unwrap();
    let (token, client) = tenant_with_client(&app, "forms", "basic").await;
    let wo = new_work_order(&app, &token, &client).await;
    let part = |name: &str| {
        format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\nx\r\n")
    };
    // Seventeen parts: one over the most a form may have.
    let mut many: String = (0..17).map(|_| part("file_type")).collect();
    many.push_str(&format!("--{BOUNDARY}--\r\n"));
    let (s, b) = send_form(&app, &token, &wo, many.into_bytes()).await;
    assert_eq!(s, 400, "{b}");
    assert_eq!(b["code"], "invalid_multipart");
    // A part header of 2 MiB, whole and well formed otherwise.
    let long = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a\"\r\nX-Pad: {}\r\n\r\nx\r\n--{BOUNDARY}--\r\n",
        "p".repeat(2 * 1024 * 1024)
    );
    let (s, b) = send_form(&app, &token, &wo, long.into_bytes()).await;
    assert_eq!(s, 400, "{b}");
    assert_eq!(b["code"], "invalid_multipart");
    assert!(b["detail"].as_str().unwrap().contains("headers"), "{b}");
    // A body that ends inside the file part.
    let mut cut = form(
        "filename=\"a.bin\"",
        "application/octet-stream",
        &[1u8; 5000],
        None,
    );
    cut.truncate(2000);
    let (s, b) = send_form(&app, &token, &wo, cut).await;
    assert_eq!(s, 400, "{b}");
    assert_eq!(b["code"], "invalid_multipart");
    // multipart/form-data without a boundary, and not a form at all.
    for ctype in ["multipart/form-data", "application/json"] {
        let res = app
            .client
            .post(format!("{}/api/v1/work-orders/{wo}/files", app.base))
            .bearer_auth(&token)
            .header("content-type", ctype)
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 415, "{ctype}");
    }
    assert_eq!(stored_bytes(&app), 0);
    // The same tenant's good upload still goes through.
    let (s, b) = send_form(
        &app,
        &token,
        &wo,
        form("filename=\"ok.txt\"", "text/plain", b"fine", None),
    )
    .await;
    assert_eq!(s, 201, "{b}");
    app.stop().await;
}
