//! The tests run the code under test as production should run it: under a
//! login that is neither superuser nor BYPASSRLS nor CREATEROLE. A test kit
//! that handed out a superuser URL again would pass every other test while
//! hiding every privilege the service lacks; this test fails instead.

use fsa_store::bootstrap::scram_verifier;
use fsa_testkit::{TEST_LOGIN, TestDb, local_pg_admin_base, local_pg_base};
use sqlx::{Connection, Executor, PgConnection};

#[tokio::test]
async fn the_tests_log_in_as_a_least_privileged_login() {
    let db = TestDb::new();
    assert!(db.url().starts_with(&local_pg_base()));
    let mut c = PgConnection::connect(&format!("{}/postgres", db.base))
        .await
        .unwrap();
    let (name, su, bypass, createrole, createdb, member): (String, bool, bool, bool, bool, bool) =
        sqlx::query_as(
            "SELECT rolname::text, rolsuper, rolbypassrls, rolcreaterole, rolcreatedb, \
             pg_has_role(current_user, 'fsa_app', 'MEMBER') \
             FROM pg_roles WHERE rolname = current_user",
        )
        .fetch_one(&mut c)
        .await
        .unwrap();
    assert_eq!(name, TEST_LOGIN);
    assert!(!su, "the tests' login is a superuser");
    assert!(!bypass, "the tests' login has BYPASSRLS");
    assert!(!createrole, "the tests' login may create roles");
    assert!(createdb && member);
    // What a superuser login could do from any session, this one cannot.
    let program = c.execute("COPY (SELECT 1) TO PROGRAM 'true'").await;
    assert!(program.is_err(), "COPY TO PROGRAM ran");
    c.close().await.unwrap();
}

/// The verifier the bootstrap sends instead of a password is the one
/// PostgreSQL itself makes from that password and salt.
#[tokio::test]
async fn the_password_verifier_is_postgres_own() {
    let mut c = PgConnection::connect(&format!("{}/postgres", local_pg_admin_base()))
        .await
        .unwrap();
    let role = format!(
        "fsa_scram_{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    let made = async {
        c.execute("SET password_encryption = 'scram-sha-256'")
            .await?;
        c.execute(sqlx::AssertSqlSafe(format!(
            "CREATE ROLE {role} PASSWORD 'pencil'"
        )))
        .await?;
        sqlx::query_scalar::<_, String>("SELECT rolpassword FROM pg_authid WHERE rolname = $1")
            .bind(&role)
            .fetch_one(&mut c)
            .await
    }
    .await;
    let _ = c
        .execute(sqlx::AssertSqlSafe(format!("DROP ROLE IF EXISTS {role}")))
        .await;
    c.close().await.unwrap();
    let theirs = made.unwrap();
    // SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>
    let rest = theirs.strip_prefix("SCRAM-SHA-256$").unwrap();
    let (iterations, rest) = rest.split_once(':').unwrap();
    let (salt, _) = rest.split_once('$').unwrap();
    use base64::Engine;
    let salt = base64::engine::general_purpose::STANDARD
        .decode(salt)
        .unwrap();
    let ours = scram_verifier("pencil", &salt, iterations.parse().unwrap());
    assert_eq!(ours, theirs);
    assert_ne!(scram_verifier("pencil2", &salt, 4096), theirs);
}
