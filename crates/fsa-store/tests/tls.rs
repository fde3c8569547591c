//! Encrypted connections: `sslmode` and `sslrootcert` in a PostgreSQL URL
//! hold for every connection fsa makes, against a throwaway cluster that
//! accepts TLS only, with a certificate for `localhost` from a CA of its own.

use fsa_core::Region;
use fsa_store::Mode;
use fsa_store::catalog::open_catalog;
use fsa_store::repo::clients::{self, ClientFields};
use fsa_store::router::RouterSettings;
use fsa_store::server::Server;
use fsa_store::url::DbUrl;
use fsa_testkit::PgCluster;
use sqlx::{ConnectOptions, Connection};

use fsa_testkit::store as common;

fn url(host: &str, cluster: &PgCluster, db: &str, query: &str) -> DbUrl {
    DbUrl::new(format!(
        "postgres://{}@{host}:{}/{db}?{query}",
        fsa_testkit::TEST_LOGIN,
        cluster.port
    ))
}

/// Connects with the URL's options and says whether the session is
/// encrypted, after a real query.
async fn encrypted(url: &DbUrl) -> Result<bool, sqlx::Error> {
    let opts = url
        .pg_options()
        .map_err(|e| sqlx::Error::Configuration(e.into()))?;
    let mut conn = opts.connect().await?;
    let one: i32 = sqlx::query_scalar("SELECT 1").fetch_one(&mut conn).await?;
    assert_eq!(one, 1);
    let ssl: bool = sqlx::query_scalar("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        .fetch_one(&mut conn)
        .await?;
    conn.close().await?;
    Ok(ssl)
}

/// A connection refused because the server's certificate did not pass.
fn certificate_refused(e: &sqlx::Error) -> bool {
    format!("{e:?}").contains("InvalidCertificate")
}

#[tokio::test]
async fn tls_is_verified_as_the_url_asks() {
    let cluster = PgCluster::start_tls(&["localhost"]).unwrap();
    let ca = cluster.ca_file();
    let other = cluster.other_ca_file();
    let (ca, other) = (ca.display(), other.display());

    // verify-full: the right CA and the certificate's host name.
    let good = url(
        "localhost",
        &cluster,
        "postgres",
        &format!("sslmode=verify-full&sslrootcert={ca}"),
    );
    assert!(encrypted(&good).await.unwrap());

    // The right CA, but a host name the certificate does not name.
    let wrong_host = url(
        "127.0.0.1",
        &cluster,
        "postgres",
        &format!("sslmode=verify-full&sslrootcert={ca}"),
    );
    let e = encrypted(&wrong_host).await.unwrap_err();
    assert!(certificate_refused(&e), "{e:?}");
    // verify-ca checks the chain, not the name.
    let ca_only = url(
        "127.0.0.1",
        &cluster,
        "postgres",
        &format!("sslmode=verify-ca&sslrootcert={ca}"),
    );
    assert!(encrypted(&ca_only).await.unwrap());

    // A CA that did not sign the server's certificate.
    for mode in ["verify-full", "verify-ca"] {
        let wrong_ca = url(
            "localhost",
            &cluster,
            "postgres",
            &format!("sslmode={mode}&sslrootcert={other}"),
        );
        let e = encrypted(&wrong_ca).await.unwrap_err();
        assert!(certificate_refused(&e), "{mode}: {e:?}");
    }

    // require: encrypted, nothing verified.
    assert!(
        encrypted(&url("127.0.0.1", &cluster, "postgres", "sslmode=require"))
            .await
            .unwrap()
    );
    // prefer, sqlx's default, takes TLS where the server offers it.
    assert!(
        encrypted(&url("127.0.0.1", &cluster, "postgres", "sslmode=prefer"))
            .await
            .unwrap()
    );
    // This server refuses a connection without TLS.
    assert!(
        encrypted(&url("127.0.0.1", &cluster, "postgres", "sslmode=disable"))
            .await
            .is_err()
    );
}

/// The catalog, a provisioned placement (its creation, migrations and the
/// application role's check) and a tenant's requests, all over
/// `verify-full`: the server accepts nothing else, so every connection fsa
/// made carried the URL's TLS settings.
#[tokio::test]
async fn catalog_placement_and_tenant_queries_run_over_verify_full() {
    let cluster = PgCluster::start_tls(&["localhost"]).unwrap();
    let query = format!(
        "sslmode=verify-full&sslrootcert={}",
        cluster.ca_file().display()
    );
    let catalog_url = url("localhost", &cluster, "fsa_tls", &query);
    let router = common::try_router(&catalog_url, "fsa_tls", RouterSettings::default())
        .await
        .unwrap();
    let t = common::onboard(&router, "secure").await;
    let mut tx = router.begin(t, Mode::Write).await.unwrap();
    let c = clients::create(
        &mut tx,
        ClientFields {
            name: Some("Encrypted Client".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let mut tx = router.begin(t, Mode::Read).await.unwrap();
    assert_eq!(
        clients::get(&mut tx, c.id).await.unwrap().name,
        "Encrypted Client"
    );
    tx.commit().await.unwrap();

    // Every session the service holds on this server is encrypted.
    let admin = url("localhost", &cluster, "postgres", &query);
    let mut conn = admin.pg_options().unwrap().connect().await.unwrap();
    let (all, encrypted): (i64, i64) = sqlx::query_as(
        "SELECT count(*), count(*) FILTER (WHERE s.ssl) FROM pg_stat_activity a \
         JOIN pg_stat_ssl s USING (pid) WHERE a.backend_type = 'client backend'",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert!(
        all >= 2,
        "the catalog's and the placement's sessions: {all}"
    );
    assert_eq!(all, encrypted);
    conn.close().await.unwrap();
    router.close().await;
    router.catalog().pool().close().await;
}

#[tokio::test]
async fn a_bad_sslmode_is_a_configuration_error_at_start() {
    let bad = DbUrl::new("postgres://postgres:pw@localhost:1/fsa?sslmode=verify_full");
    let Err(e) = open_catalog(&bad).await else {
        panic!("a bad sslmode was accepted");
    };
    let text = e.to_string();
    assert!(matches!(e, fsa_store::StoreError::Config(_)), "{text}");
    assert!(
        text.contains("verify_full") && text.contains("FSA_DATABASE_URL"),
        "{text}"
    );
    assert!(!text.contains("pw@"), "{text}");
    let e = Server::from_url("eu-1", Region::default_region(), &bad, "fsa").unwrap_err();
    assert!(e.to_string().contains("eu-1"), "{e}");
}
