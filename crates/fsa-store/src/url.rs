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

    pub fn redacted(&self) -> String {
        match ::url::Url::parse(&self.0) {
            Ok(mut u) if u.password().is_some() => {
                let _ = u.set_password(Some("***"));
                u.to_string()
            }
            Ok(_) => self.0.clone(),
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
    }
}
