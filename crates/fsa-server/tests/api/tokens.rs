//! Tokens end with their user: demoted, deactivated, deleted users and new
//! passwords end the old tokens at once; suspended tenants are refused;
//! the last admin stays, even against two admins racing; logins are
//! limited and cost the same whether or not the tenant and email exist;
//! tokens carry a checked issuer and audience.

use std::time::{Duration, Instant};

use fsa_server::auth::Claims;
use fsa_testkit::{Backend, Json, TestApp};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::Method;
use serde_json::json;

use super::assert_problem;

/// Creates a user with `role` through the admin's token; returns its id.
async fn user(app: &TestApp, admin: &str, email: &str, role: &str, password: &str) -> String {
    let (s, b) = app
        .post(
            "/api/v1/users",
            admin,
            json!({"email": email, "name": email, "role": role, "password": password}),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    b["id"].as_str().unwrap().to_owned()
}

/// A login's status and body.
async fn try_login(app: &TestApp, slug: &str, email: &str, password: &str) -> (u16, Json) {
    app.call(
        Method::POST,
        "/api/v1/auth/login",
        None,
        Some(json!({"tenant": slug, "email": email, "password": password})),
    )
    .await
}

async fn me_status(app: &TestApp, token: &str) -> (u16, Json) {
    app.get("/api/v1/me", token).await
}

fn assert_revoked(status: u16, body: &Json) {
    assert_problem(status, body, 401, "token_revoked");
}

async fn revocation(backend: Backend) {
    let app = TestApp::start(backend).await.unwrap();
    app.create_tenant("tok", "premium", "EU").await;
    let admin = app.login_admin("tok").await;
    let pw = "a long password 1";
    let demoted = user(&app, &admin, "demoted@tok.test", "dispatcher", pw).await;
    let deactivated = user(&app, &admin, "deactivated@tok.test", "dispatcher", pw).await;
    let deleted = user(&app, &admin, "deleted@tok.test", "dispatcher", pw).await;
    let repassed = user(&app, &admin, "repassed@tok.test", "dispatcher", pw).await;
    let renamed = user(&app, &admin, "renamed@tok.test", "dispatcher", pw).await;
    let t_demoted = app.login("tok", "demoted@tok.test", pw).await;
    let t_deactivated = app.login("tok", "deactivated@tok.test", pw).await;
    let t_deleted = app.login("tok", "deleted@tok.test", pw).await;
    let t_repassed = app.login("tok", "repassed@tok.test", pw).await;
    let t_renamed = app.login("tok", "renamed@tok.test", pw).await;
    // Each token works, and its user's standing is now cached.
    for t in [
        &t_demoted,
        &t_deactivated,
        &t_deleted,
        &t_repassed,
        &t_renamed,
    ] {
        let (s, b) = me_status(&app, t).await;
        assert_eq!(s, 200, "{b}");
    }

    // Demoted: the old token is refused at once; a fresh login works, as a viewer.
    let (s, b) = app
        .patch(
            &format!("/api/v1/users/{demoted}"),
            &admin,
            json!({"role": "viewer"}),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let (s, b) = me_status(&app, &t_demoted).await;
    assert_revoked(s, &b);
    let (s, b) = app.get("/api/v1/clients", &t_demoted).await;
    assert_revoked(s, &b);
    let fresh = app.login("tok", "demoted@tok.test", pw).await;
    let (s, b) = me_status(&app, &fresh).await;
    assert_eq!((s, b["role"].as_str()), (200, Some("viewer")), "{b}");

    // Deactivated: refused at once, and no login.
    let (s, b) = app
        .patch(
            &format!("/api/v1/users/{deactivated}"),
            &admin,
            json!({"is_active": false}),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let (s, b) = me_status(&app, &t_deactivated).await;
    assert_revoked(s, &b);
    let (s, b) = try_login(&app, "tok", "deactivated@tok.test", pw).await;
    assert_problem(s, &b, 401, "invalid_credentials");
    // Active again: a fresh login works, the old token stays dead.
    let (s, b) = app
        .patch(
            &format!("/api/v1/users/{deactivated}"),
            &admin,
            json!({"is_active": true}),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let (s, b) = me_status(&app, &t_deactivated).await;
    assert_revoked(s, &b);
    let fresh = app.login("tok", "deactivated@tok.test", pw).await;
    assert_eq!(me_status(&app, &fresh).await.0, 200);

    // Deleted: refused at once.
    let (s, b) = app
        .delete(&format!("/api/v1/users/{deleted}"), &admin)
        .await;
    assert_eq!(s, 204, "{b}");
    let (s, b) = me_status(&app, &t_deleted).await;
    assert_revoked(s, &b);

    // A new password: refused at once; the new password logs in, the old one not.
    let new_pw = "a long password 2";
    let (s, b) = app
        .patch(
            &format!("/api/v1/users/{repassed}"),
            &admin,
            json!({"password": new_pw}),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let (s, b) = me_status(&app, &t_repassed).await;
    assert_revoked(s, &b);
    let (s, b) = try_login(&app, "tok", "repassed@tok.test", pw).await;
    assert_problem(s, &b, 401, "invalid_credentials");
    let fresh = app.login("tok", "repassed@tok.test", new_pw).await;
    assert_eq!(me_status(&app, &fresh).await.0, 200);

    // A change of name alone ends nothing.
    let (s, b) = app
        .patch(
            &format!("/api/v1/users/{renamed}"),
            &admin,
            json!({"name": "Someone Else"}),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(me_status(&app, &t_renamed).await.0, 200);
    // The admin's own token was never touched.
    assert_eq!(me_status(&app, &admin).await.0, 200);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_tokens_are_refused_at_once_on_sqlite() {
    revocation(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_tokens_are_refused_at_once_on_postgres() {
    revocation(Backend::Postgres).await;
}

/// A change made elsewhere (another `fsa` process, which cannot drop this
/// one's cache) ends the token within the cache's second.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_made_elsewhere_ends_the_token_within_a_second() {
    let app = TestApp::start(Backend::Postgres).await.unwrap();
    let t = app.create_tenant("tok-far", "premium", "EU").await;
    let admin = app.login_admin("tok-far").await;
    let pw = "a long password 1";
    let id = user(&app, &admin, "far@tok-far.test", "dispatcher", pw).await;
    let token = app.login("tok-far", "far@tok-far.test", pw).await;
    assert_eq!(me_status(&app, &token).await.0, 200);
    // Deactivate the user straight in the store, as another process would.
    let tenant = fsa_core::TenantId::from_verified(t["id"].as_str().unwrap().parse().unwrap());
    let mut tx = app
        .state
        .router
        .begin(tenant, fsa_store::Mode::Write)
        .await
        .unwrap();
    fsa_store::repo::users::update(
        &mut tx,
        id.parse().unwrap(),
        fsa_store::repo::users::UserPatch {
            is_active: Some(false),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let changed = Instant::now();
    loop {
        let (s, b) = me_status(&app, &token).await;
        if s == 401 {
            assert_revoked(s, &b);
            break;
        }
        assert_eq!(s, 200, "{b}");
        assert!(
            changed.elapsed() < Duration::from_millis(1500),
            "the token still works {:?} after its user was deactivated",
            changed.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    app.stop().await;
}

/// The token version moves with the user's row: a token ended before a
/// move stays ended after it, and a token still good stays good.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_move_revives_no_token() {
    let app = TestApp::start(Backend::Sqlite).await.unwrap();
    app.create_tenant("tok-mv", "premium", "EU").await;
    let admin = app.login_admin("tok-mv").await;
    let pw = "a long password 1";
    let id = user(&app, &admin, "mv@tok-mv.test", "dispatcher", pw).await;
    let old = app.login("tok-mv", "mv@tok-mv.test", pw).await;
    let (s, b) = app
        .patch(
            &format!("/api/v1/users/{id}"),
            &admin,
            json!({"role": "viewer"}),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let fresh = app.login("tok-mv", "mv@tok-mv.test", pw).await;
    let (s, m) = app
        .post(
            "/admin/tenants/tok-mv/move",
            &app.admin_token,
            json!({"to": "dedicated", "cleanup": "now"}),
        )
        .await;
    assert_eq!(s, 202, "{m}");
    let m = super::wait_for_move(&app, m["id"].as_str().unwrap()).await;
    assert_eq!(m["state"], "done", "{m}");
    // Past the cache's second, so the answers below come from the new placement.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (s, b) = me_status(&app, &old).await;
    assert_revoked(s, &b);
    let (s, b) = me_status(&app, &fresh).await;
    assert_eq!((s, b["role"].as_str()), (200, Some("viewer")), "{b}");
    assert_eq!(me_status(&app, &admin).await.0, 200);
    app.stop().await;
}

async fn self_promotion(backend: Backend) {
    let app = TestApp::start(backend).await.unwrap();
    app.create_tenant("tok-self", "premium", "EU").await;
    let first = app.login_admin("tok-self").await;
    let pw = "a long password 1";
    let second_id = user(&app, &first, "second@tok-self.test", "admin", pw).await;
    let second = app.login("tok-self", "second@tok-self.test", pw).await;
    assert_eq!(me_status(&app, &second).await.0, 200);
    let (s, b) = app
        .patch(
            &format!("/api/v1/users/{second_id}"),
            &first,
            json!({"role": "viewer"}),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    // With its old admin token: refused.
    let (s, b) = app
        .patch(
            &format!("/api/v1/users/{second_id}"),
            &second,
            json!({"role": "admin"}),
        )
        .await;
    assert_revoked(s, &b);
    // With a fresh (viewer) token: forbidden.
    let viewer = app.login("tok-self", "second@tok-self.test", pw).await;
    let (s, b) = app
        .patch(
            &format!("/api/v1/users/{second_id}"),
            &viewer,
            json!({"role": "admin"}),
        )
        .await;
    assert_problem(s, &b, 403, "forbidden");
    let (s, b) = app.get(&format!("/api/v1/users/{second_id}"), &first).await;
    assert_eq!((s, b["role"].as_str()), (200, Some("viewer")), "{b}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_demoted_admin_cannot_promote_itself_back_on_sqlite() {
    self_promotion(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_demoted_admin_cannot_promote_itself_back_on_postgres() {
    self_promotion(Backend::Postgres).await;
}

/// Active admins of the tenant, asked with `token`.
async fn active_admins(app: &TestApp, token: &str) -> usize {
    let (s, b) = app.get("/api/v1/users?role=admin&limit=200", token).await;
    assert_eq!(s, 200, "{b}");
    b["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|u| u["is_active"] == true)
        .count()
}

/// Two admins remove each other at the same moment, many times over, by
/// demotion, deactivation and deletion: never does the tenant end with no
/// admin, and exactly one of each pair succeeds.
async fn last_admin_race(backend: Backend, rounds: usize) {
    let app = TestApp::start(backend).await.unwrap();
    app.create_tenant("tok-race", "premium", "EU").await;
    let pw = "a long password 1";
    let mut survivor = app.login_admin("tok-race").await;
    let mut survivor_id = me_status(&app, &survivor).await.1["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut outcomes = std::collections::BTreeMap::new();
    for round in 0..rounds {
        let email = format!("admin{round}@tok-race.test");
        let other_id = user(&app, &survivor, &email, "admin", pw).await;
        let other = app.login("tok-race", &email, pw).await;
        let (a_path, b_path) = (
            format!("/api/v1/users/{other_id}"),
            format!("/api/v1/users/{survivor_id}"),
        );
        let ((sa, ba), (sb, bb)) = match round % 3 {
            0 => {
                let body = json!({"role": "viewer"});
                tokio::join!(
                    app.patch(&a_path, &survivor, body.clone()),
                    app.patch(&b_path, &other, body.clone())
                )
            }
            1 => {
                let body = json!({"is_active": false});
                tokio::join!(
                    app.patch(&a_path, &survivor, body.clone()),
                    app.patch(&b_path, &other, body.clone())
                )
            }
            _ => tokio::join!(app.delete(&a_path, &survivor), app.delete(&b_path, &other)),
        };
        let ok = |s: u16| s == 200 || s == 204;
        assert!(
            ok(sa) != ok(sb),
            "round {round}: exactly one must succeed: {sa} {ba} / {sb} {bb}"
        );
        let (loser_status, loser_body) = if ok(sa) { (sb, &bb) } else { (sa, &ba) };
        let code = loser_body["code"].as_str().unwrap_or_default().to_owned();
        assert!(
            (loser_status == 409 && code == "last_admin")
                || (loser_status == 401 && code == "token_revoked"),
            "round {round}: {loser_status} {loser_body}"
        );
        *outcomes.entry(code).or_insert(0) += 1;
        if !ok(sa) {
            // The other admin won: it is the one that stays.
            survivor = other;
            survivor_id = other_id;
        }
        assert_eq!(
            active_admins(&app, &survivor).await,
            1,
            "round {round}: one admin remains"
        );
    }
    eprintln!("{backend:?}: losers by code over {rounds} rounds: {outcomes:?}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_admins_removing_each_other_leave_one_on_sqlite() {
    last_admin_race(Backend::Sqlite, 12).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_admins_removing_each_other_leave_one_on_postgres() {
    last_admin_race(Backend::Postgres, 24).await;
}

/// The race at the store, where the check must hold: two write transactions
/// each demote the other admin, the second begun before the first commits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_last_admin_check_holds_between_open_transactions_on_postgres() {
    use fsa_store::repo::users::{self, UserPatch};
    let app = TestApp::start(Backend::Postgres).await.unwrap();
    let t = app.create_tenant("tok-tx", "premium", "EU").await;
    let admin = app.login_admin("tok-tx").await;
    let a: uuid::Uuid = me_status(&app, &admin).await.1["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let b: uuid::Uuid = user(&app, &admin, "b@tok-tx.test", "admin", "a long password 1")
        .await
        .parse()
        .unwrap();
    let tenant = fsa_core::TenantId::from_verified(t["id"].as_str().unwrap().parse().unwrap());
    let router = app.state.router.clone();
    let demote = || UserPatch {
        role: Some(fsa_core::Role::Viewer),
        ..Default::default()
    };
    let mut first = router.begin(tenant, fsa_store::Mode::Write).await.unwrap();
    users::update(&mut first, b, demote()).await.unwrap();
    let second = {
        let router = router.clone();
        tokio::spawn(async move {
            let mut tx = router.begin(tenant, fsa_store::Mode::Write).await?;
            let r = users::update(&mut tx, a, demote()).await;
            if r.is_ok() {
                tx.commit().await?;
            }
            r.map(|_| ())
        })
    };
    // The second waits on the admins' locks while the first is open.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!second.is_finished(), "the second write did not wait");
    first.commit().await.unwrap();
    let r = second.await.unwrap();
    assert!(
        matches!(r, Err(fsa_store::StoreError::LastAdmin)),
        "the second demotion must be refused: {r:?}"
    );
    assert_eq!(active_admins(&app, &admin).await, 1);
    app.stop().await;
}

async fn suspension(backend: Backend) {
    let app = TestApp::start(backend).await.unwrap();
    app.create_tenant("tok-sus", "premium", "EU").await;
    app.create_tenant("tok-nbr", "premium", "EU").await;
    let token = app.login_admin("tok-sus").await;
    let neighbour = app.login_admin("tok-nbr").await;
    assert_eq!(me_status(&app, &token).await.0, 200);

    // A PATCH refused for another of its fields suspends nothing.
    let (s, b) = app
        .patch(
            "/admin/tenants/tok-sus",
            &app.admin_token,
            json!({"state": "suspended", "region": "NOWHERE"}),
        )
        .await;
    assert_problem(s, &b, 422, "validation_failed");
    assert_eq!(me_status(&app, &token).await.0, 200, "still served");

    let (s, b) = app
        .patch(
            "/admin/tenants/tok-sus",
            &app.admin_token,
            json!({"state": "suspended"}),
        )
        .await;
    assert_eq!((s, b["state"].as_str()), (200, Some("suspended")), "{b}");
    let (s, b) = me_status(&app, &token).await;
    assert_problem(s, &b, 403, "tenant_suspended");
    let (s, b) = app.get("/api/v1/work-orders", &token).await;
    assert_problem(s, &b, 403, "tenant_suspended");
    let (s, b) = try_login(&app, "tok-sus", "admin@tok-sus.test", "password-tok-sus").await;
    assert_problem(s, &b, 403, "tenant_suspended");
    let (s, b) = app.get("/admin/tenants/tok-sus", &app.admin_token).await;
    assert_eq!((s, b["state"].as_str()), (200, Some("suspended")), "{b}");
    // The neighbour is not touched.
    assert_eq!(me_status(&app, &neighbour).await.0, 200);
    // A bad state is refused.
    let (s, b) = app
        .patch(
            "/admin/tenants/tok-sus",
            &app.admin_token,
            json!({"state": "deleted"}),
        )
        .await;
    assert_eq!(s, 422, "{b}");

    // Resumed: the same token works again, and logins.
    let (s, b) = app
        .patch(
            "/admin/tenants/tok-sus",
            &app.admin_token,
            json!({"state": "active"}),
        )
        .await;
    assert_eq!((s, b["state"].as_str()), (200, Some("active")), "{b}");
    assert_eq!(me_status(&app, &token).await.0, 200);
    app.login_admin("tok-sus").await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_suspended_tenant_gets_403_until_resumed_on_sqlite() {
    suspension(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_suspended_tenant_gets_403_until_resumed_on_postgres() {
    suspension(Backend::Postgres).await;
}

/// A login from a client bound to `from` (any 127.x address is loopback).
async fn login_from(
    app: &TestApp,
    from: [u8; 4],
    slug: &str,
    email: &str,
    password: &str,
) -> (u16, Option<String>, Json) {
    let client = reqwest::Client::builder()
        .local_address(std::net::IpAddr::from(from))
        .build()
        .unwrap();
    let res = client
        .post(format!("{}/api/v1/auth/login", app.base))
        .json(&json!({"tenant": slug, "email": email, "password": password}))
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let retry = res
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    (status, retry, res.json().await.unwrap_or(Json::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logins_are_limited_per_account() {
    let app = TestApp::start_with(Backend::Sqlite, |c| {
        c.login.account_attempts = 3;
        c.login.account_refill_per_minute = 1.0;
    })
    .await
    .unwrap();
    app.create_tenant("tok-lim", "premium", "EU").await;
    let here = [127, 0, 0, 1];
    // Successful logins do not count.
    for _ in 0..5 {
        app.login_admin("tok-lim").await;
    }
    for _ in 0..3 {
        let (s, _, b) = login_from(&app, here, "tok-lim", "admin@tok-lim.test", "wrong").await;
        assert_problem(s, &b, 401, "invalid_credentials");
    }
    let (s, retry, b) = login_from(&app, here, "tok-lim", "admin@tok-lim.test", "wrong").await;
    assert_problem(s, &b, 429, "rate_limited");
    let retry: u64 = retry.expect("Retry-After").parse().unwrap();
    assert!((1..=60).contains(&retry), "Retry-After {retry}");
    // Throttled even with the right password, and in any case of the email.
    let (s, _, b) = login_from(
        &app,
        here,
        "tok-lim",
        "ADMIN@tok-lim.test",
        "password-tok-lim",
    )
    .await;
    assert_problem(s, &b, 429, "rate_limited");
    // Another email of the tenant, and the same email of another tenant, are not.
    let (s, _, b) = login_from(&app, here, "tok-lim", "someone@tok-lim.test", "wrong").await;
    assert_problem(s, &b, 401, "invalid_credentials");
    let (s, _, b) = login_from(&app, here, "tok-other", "admin@tok-lim.test", "wrong").await;
    assert_problem(s, &b, 401, "invalid_credentials");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logins_are_limited_per_client_address() {
    let app = TestApp::start_with(Backend::Sqlite, |c| {
        c.login.address_attempts = 4;
        c.login.address_refill_per_minute = 1.0;
    })
    .await
    .unwrap();
    app.create_tenant("tok-addr", "premium", "EU").await;
    let (here, there) = ([127, 0, 0, 1], [127, 0, 0, 2]);
    for n in 0..4 {
        let email = format!("guess{n}@tok-addr.test");
        let (s, _, b) = login_from(&app, here, "tok-addr", &email, "wrong").await;
        assert_problem(s, &b, 401, "invalid_credentials");
    }
    let (s, retry, b) = login_from(&app, here, "tok-addr", "guess9@tok-addr.test", "wrong").await;
    assert_problem(s, &b, 429, "rate_limited");
    assert!(retry.is_some(), "Retry-After");
    // Another client is not affected.
    let (s, _, b) = login_from(&app, there, "tok-addr", "guess9@tok-addr.test", "wrong").await;
    assert_problem(s, &b, 401, "invalid_credentials");
    let (s, _, b) = login_from(
        &app,
        there,
        "tok-addr",
        "admin@tok-addr.test",
        "password-tok-addr",
    )
    .await;
    assert_eq!(s, 200, "{b}");
    app.stop().await;
}

/// Every failed login does one argon2 verification, whether the tenant and
/// email exist or not, and whether the user is active.
async fn same_work(backend: Backend) {
    let app = TestApp::start(backend).await.unwrap();
    app.create_tenant("tok-work", "premium", "EU").await;
    let admin = app.login_admin("tok-work").await;
    let pw = "a long password 1";
    let id = user(&app, &admin, "off@tok-work.test", "viewer", pw).await;
    let (s, b) = app
        .patch(
            &format!("/api/v1/users/{id}"),
            &admin,
            json!({"is_active": false}),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let passwords = app.state.passwords.clone();
    for (slug, email, what) in [
        ("tok-work", "admin@tok-work.test", "a wrong password"),
        ("tok-work", "nobody@tok-work.test", "an unknown email"),
        ("no-such-tenant", "admin@tok-work.test", "an unknown tenant"),
        ("tok-work", "off@tok-work.test", "an inactive user"),
    ] {
        let before = passwords.verifications();
        let (s, b) = try_login(&app, slug, email, "wrong password").await;
        assert_problem(s, &b, 401, "invalid_credentials");
        assert_eq!(
            passwords.verifications() - before,
            1,
            "{what} costs one verification"
        );
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_tenant_and_email_cost_a_verification_on_sqlite() {
    same_work(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_tenant_and_email_cost_a_verification_on_postgres() {
    same_work(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_need_the_right_issuer_and_audience() {
    let app = TestApp::start(Backend::Sqlite).await.unwrap();
    app.create_tenant("tok-aud", "premium", "EU").await;
    let token = app.login_admin("tok-aud").await;
    let claims: Claims = app.state.tokens.verify(&token).unwrap();
    let key = EncodingKey::from_secret(app.state.config.expose_jwt_secret().as_bytes());
    let sign = |v: &Json| jsonwebtoken::encode(&Header::new(Algorithm::HS256), v, &key).unwrap();
    let base = serde_json::to_value(&claims).unwrap();
    // The same claims, signed here: accepted (the forgery below is only in
    // the claim changed).
    assert_eq!(me_status(&app, &sign(&base)).await.0, 200);
    for (claim, value) in [
        ("aud", Some("fsa-admin")),
        ("aud", None),
        ("iss", Some("another-issuer")),
        ("iss", None),
    ] {
        let mut v = base.clone();
        match value {
            Some(x) => v[claim] = x.into(),
            None => {
                v.as_object_mut().unwrap().remove(claim);
            }
        }
        let (s, b) = me_status(&app, &sign(&v)).await;
        assert_eq!(s, 401, "{claim} = {value:?}: {b}");
        assert_problem(s, &b, 401, "token_invalid");
    }
    // A token of the old shape (no token version) is refused too.
    let mut v = base.clone();
    v.as_object_mut().unwrap().remove("tv");
    let (s, b) = me_status(&app, &sign(&v)).await;
    assert_problem(s, &b, 401, "token_invalid");
    app.stop().await;
}

/// Login time for an unknown email as a ratio to a wrong password for a
/// known one (medians of several runs). Prints; see docs/BENCHMARKS.md.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a benchmark: run with --ignored --nocapture"]
async fn login_timing_unknown_email_against_wrong_password() {
    let app = TestApp::start(Backend::Postgres).await.unwrap();
    app.create_tenant("tok-bench", "premium", "EU").await;
    app.login_admin("tok-bench").await;
    let time = |slug: &'static str, email: &'static str| {
        let app = &app;
        async move {
            let started = Instant::now();
            let (s, _) = try_login(app, slug, email, "wrong password").await;
            assert_eq!(s, 401);
            started.elapsed().as_secs_f64() * 1000.0
        }
    };
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (runs, per_run) = (7, 15);
    let (mut email_ratios, mut tenant_ratios) = (Vec::new(), Vec::new());
    let (mut unknown_all, mut wrong_all) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        let (mut unknown, mut wrong, mut no_tenant) = (Vec::new(), Vec::new(), Vec::new());
        // Interleaved, each first in turn, so drift in the machine's load
        // hits all alike.
        for i in 0..per_run {
            for k in 0..3 {
                match (i + k) % 3 {
                    0 => unknown.push(time("tok-bench", "nobody@tok-bench.test").await),
                    1 => wrong.push(time("tok-bench", "admin@tok-bench.test").await),
                    _ => no_tenant.push(time("no-such-tenant", "admin@tok-bench.test").await),
                }
            }
        }
        let (u, w, t) = (median(unknown), median(wrong), median(no_tenant));
        unknown_all.push(u);
        wrong_all.push(w);
        email_ratios.push(u / w);
        tenant_ratios.push(t / w);
    }
    let ratio = median(email_ratios.clone());
    let tenant_ratio = median(tenant_ratios);
    println!(
        "login: unknown email {:.1} ms, wrong password {:.1} ms (medians of {runs} runs of {per_run}); \
         ratio {ratio:.3} (runs: {}); unknown tenant / wrong password {tenant_ratio:.3}",
        median(unknown_all),
        median(wrong_all),
        email_ratios
            .iter()
            .map(|r| format!("{r:.3}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    for (what, r) in [
        ("an unknown email", ratio),
        ("an unknown tenant", tenant_ratio),
    ] {
        assert!(
            (0.8..=1.25).contains(&r),
            "{what} must cost what a wrong password costs: ratio {r:.3}"
        );
    }
    app.stop().await;
}
