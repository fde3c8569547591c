//! The least-privileged login of the tests: made on each server once per
//! test process, by its superuser, as `fsa db bootstrap` makes the
//! service's login, so that every service, CLI and app under test runs as
//! production should (no superuser, no BYPASSRLS, no CREATEROLE).

use std::collections::{HashMap, HashSet};
use std::sync::{LazyLock, Mutex};

use fsa_store::bootstrap::{BootstrapError, BootstrapRequest, Secret, bootstrap};
use fsa_store::url::DbUrl;

/// The login the code under test connects with.
pub const TEST_LOGIN: &str = "fsa_test";
/// Test servers trust local connections; a password keeps the URLs right
/// for a server that asks for one.
const TEST_PASSWORD: &str = "fsa_test_pw";

/// Servers bootstrapped by this process, by their superuser base URL.
static DONE: LazyLock<Mutex<HashSet<String>>> = LazyLock::new(|| Mutex::new(HashSet::new()));
/// The superuser base URL of every least-privileged base URL handed out.
static ADMIN_OF: LazyLock<Mutex<HashMap<String, String>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

/// The base URL of `admin_base`'s server with [`TEST_LOGIN`], after making
/// sure the login exists there (once per process and server). Panics when
/// it cannot be made: no test of that server could run as intended.
pub fn least_privileged_base(admin_base: &str) -> String {
    let mut done = DONE.lock().unwrap_or_else(|e| e.into_inner());
    if !done.contains(admin_base) {
        bootstrap_blocking(admin_base);
        done.insert(admin_base.to_owned());
    }
    drop(done);
    registered(admin_base)
}

/// Makes the login on a server just started, whatever this process did
/// before on the same address: a throwaway cluster's port may be one an
/// earlier cluster of the same test had.
pub(crate) fn bootstrap_new_server(admin_base: &str) {
    let mut done = DONE.lock().unwrap_or_else(|e| e.into_inner());
    bootstrap_blocking(admin_base);
    done.insert(admin_base.to_owned());
}

/// The login's base URL, remembered with its superuser's.
pub(crate) fn registered(admin_base: &str) -> String {
    let login_base = with_login(admin_base);
    ADMIN_OF
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(login_base.clone(), admin_base.to_owned());
    login_base
}

/// Runs the bootstrap on a thread of its own, so that it works inside and
/// outside a runtime alike.
fn bootstrap_blocking(admin_base: &str) {
    let admin = admin_base.to_owned();
    let made = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        rt.block_on(bootstrap_login(&admin))
    })
    .join();
    match made {
        Ok(Ok(())) => {}
        Ok(Err(e)) => panic!(
            "cannot bootstrap the test login on {}: {e:#}",
            DbUrl::new(admin_base)
        ),
        Err(_) => panic!("the test login's bootstrap panicked"),
    }
}

/// The superuser base URL of a base URL [`least_privileged_base`] handed
/// out; any other URL is its own.
pub fn admin_base_for(base: &str) -> String {
    ADMIN_OF
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(base)
        .cloned()
        .unwrap_or_else(|| base.to_owned())
}

/// Test processes bootstrap the same server at once, and the first
/// placement migration of a superuser login elsewhere may create fsa_app
/// beside them: a role made by someone else between the look and the
/// creation is a retry, after which everything is found in place.
async fn bootstrap_login(admin_base: &str) -> anyhow::Result<()> {
    let url = DbUrl::new(format!("{admin_base}/postgres"));
    let request = BootstrapRequest {
        login: TEST_LOGIN.to_owned(),
        password: Some(Secret::new(TEST_PASSWORD)),
        reset_password: false,
    };
    let mut tries = 0;
    loop {
        match bootstrap(&url, &request).await {
            Ok(_) => return Ok(()),
            Err(BootstrapError::Store(e)) if tries < 5 && is_race(&e) => tries += 1,
            Err(e) => return Err(e.into()),
        }
    }
}

/// duplicate_object, or unique_violation when two creations of one role
/// meet in pg_authid's index.
fn is_race(e: &fsa_store::StoreError) -> bool {
    match e {
        fsa_store::StoreError::Database(sqlx::Error::Database(db)) => {
            matches!(db.code().as_deref(), Some("42710" | "23505"))
        }
        _ => false,
    }
}

/// `admin_base` with the test login's user and password.
fn with_login(admin_base: &str) -> String {
    let mut url = match url::Url::parse(admin_base) {
        Ok(u) => u,
        Err(e) => panic!("bad PostgreSQL base URL {}: {e}", DbUrl::new(admin_base)),
    };
    let _ = url.set_username(TEST_LOGIN);
    let _ = url.set_password(Some(TEST_PASSWORD));
    url.to_string().trim_end_matches('/').to_owned()
}
