//! `Ts` read from PostgreSQL's binary timestamps is the instant chrono reads.

use chrono::{DateTime, Utc};
use fsa_store::Ts;
use sqlx::{Connection, PgConnection};

#[tokio::test]
async fn timestamps_decode_as_chrono_decodes_them() {
    let base = fsa_testkit::local_pg_base();
    let mut conn = PgConnection::connect(&format!("{base}/postgres"))
        .await
        .unwrap();
    for text in [
        "2026-11-27 03:04:05.123456+00",
        "2000-01-01 00:00:00+00",
        "1999-12-31 23:59:59.999999+00",
        "1970-01-01 00:00:00+00",
        "1901-02-03 04:05:06.7+00",
        "4000-06-30 12:00:00.000001+00",
        "0001-01-01 00:00:00+00",
    ] {
        let (ts, dt): (Ts, DateTime<Utc>) =
            sqlx::query_as("SELECT $1::timestamptz, $1::timestamptz")
                .bind(text)
                .fetch_one(&mut conn)
                .await
                .unwrap();
        assert_eq!(ts.0, dt, "{text}");
    }
    conn.close().await.unwrap();
}
