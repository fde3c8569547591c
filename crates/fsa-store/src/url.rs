//! Database URLs that never show their password.

use std::fmt;

/// A database URL (`postgres://…` or `sqlite://…`). `Display` and `Debug`
/// replace the password with `***`, so a URL can go into logs and errors.
#[derive(Clone, PartialEq, Eq)]
pub struct DbUrl(String);

impl DbUrl {
    pub fn new(url: impl Into<String>) -> Self {
        DbUrl(url.into())
    }

    /// The URL with its password, for connecting only.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_postgres(&self) -> bool {
        self.0.starts_with("postgres://") || self.0.starts_with("postgresql://")
    }

    pub fn is_sqlite(&self) -> bool {
        self.0.starts_with("sqlite:")
    }

    /// The connect options of a `postgres://` URL, TLS settings included
    /// (`sslmode`: `disable`, `allow`, `prefer`, `require`, `verify-ca`,
    /// `verify-full`; `sslrootcert`, `sslcert`, `sslkey`). Every connection
    /// fsa makes to the server derives from these options (`.database(…)`
    /// changes only the database), so the TLS settings hold for the
    /// catalog, for provisioning and for every placement pool alike.
    ///
    /// A wrong setting is refused here, at start, rather than at the first
    /// connection: an unknown `sslmode`, or a certificate file that does
    /// not exist.
    pub fn pg_options(&self) -> Result<sqlx::postgres::PgConnectOptions, String> {
        use std::str::FromStr;
        let parsed = ::url::Url::parse(&self.0).map_err(|e| format!("bad URL {self}: {e}"))?;
        for (key, value) in parsed.query_pairs() {
            let file = matches!(
                &*key,
                "sslrootcert"
                    | "ssl-root-cert"
                    | "ssl-ca"
                    | "sslcert"
                    | "ssl-cert"
                    | "sslkey"
                    | "ssl-key"
            );
            if file && !std::path::Path::new(&*value).is_file() {
                return Err(format!("URL {self}: {key} {value} is not a readable file"));
            }
        }
        sqlx::postgres::PgConnectOptions::from_str(&self.0).map_err(|e| match e {
            sqlx::Error::Configuration(inner) => format!(
                "URL {self}: {inner} (sslmode is one of disable, allow, prefer, require, verify-ca, verify-full)"
            ),
            other => format!("bad URL {self}: {other}"),
        })
    }

    pub fn redacted(&self) -> String {
        match ::url::Url::parse(&self.0) {
            Ok(u) if u.password().is_none() && !u.query_pairs().any(|(k, _)| k == "password") => {
                self.0.clone()
            }
            Ok(mut u) => {
                if u.password().is_some() {
                    let _ = u.set_password(Some("***"));
                }
                // A password may also come as a query parameter.
                if u.query_pairs().any(|(k, _)| k == "password") {
                    let pairs: Vec<(String, String)> = u
                        .query_pairs()
                        .map(|(k, v)| {
                            let v = if k == "password" {
                                "***".into()
                            } else {
                                v.into_owned()
                            };
                            (k.into_owned(), v)
                        })
                        .collect();
                    u.query_pairs_mut().clear().extend_pairs(pairs);
                }
                u.to_string()
            }
            // Unparseable: show only the scheme, in case the rest holds a secret.
            Err(_) => match self.0.split_once("://") {
                Some((scheme, _)) => format!("{scheme}://***"),
                None => "***".to_owned(),
            },
        }
    }
}

impl fmt::Display for DbUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl fmt::Debug for DbUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DbUrl({})", self.redacted())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_never_printed() {
        let u = DbUrl::new("postgres://fsa:s3cret@db.example:5432/fsa");
        assert_eq!(u.to_string(), "postgres://fsa:***@db.example:5432/fsa");
        assert!(!format!("{u:?}").contains("s3cret"));
        assert!(
            !DbUrl::new("postgres://fsa:s3cret@[bad")
                .to_string()
                .contains("s3cret")
        );
        assert_eq!(
            DbUrl::new("sqlite://./fsa-data/catalog.db").to_string(),
            "sqlite://./fsa-data/catalog.db"
        );
        let q = DbUrl::new("postgres://fsa@db.example/fsa?sslmode=require&password=s3cret");
        assert!(!q.to_string().contains("s3cret"), "{q}");
        assert!(q.to_string().contains("sslmode=require"), "{q}");
    }

    #[test]
    fn tls_settings_are_kept_and_bad_ones_refused() {
        use sqlx::postgres::PgSslMode;
        let opts = DbUrl::new("postgres://fsa:pw@db.example/fsa?sslmode=require")
            .pg_options()
            .unwrap();
        assert!(matches!(opts.get_ssl_mode(), PgSslMode::Require));
        // Choosing another database keeps the TLS settings.
        let other = opts.database("fsa_shared_eu");
        assert!(matches!(other.get_ssl_mode(), PgSslMode::Require));
        for mode in ["disable", "prefer", "verify-ca", "verify-full"] {
            DbUrl::new(format!("postgres://h/db?sslmode={mode}"))
                .pg_options()
                .unwrap();
        }

        let err = DbUrl::new("postgres://fsa:s3cret@h/db?sslmode=verify-fool")
            .pg_options()
            .unwrap_err();
        assert!(err.contains("verify-fool"), "{err}");
        assert!(err.contains("verify-full"), "{err}");
        assert!(!err.contains("s3cret"), "{err}");

        let err = DbUrl::new("postgres://h/db?sslmode=verify-full&sslrootcert=/nonexistent/ca.pem")
            .pg_options()
            .unwrap_err();
        assert!(err.contains("/nonexistent/ca.pem"), "{err}");
    }
}
