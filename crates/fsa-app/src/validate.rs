//! Checks of operator and tenant input, with the field each refusal names.

use fsa_core::Region;
use fsa_store::Router;

use crate::AppError;

/// A trimmed, non-empty text of at most `max` characters as sent (the
/// schema's `maxLength` counts what is sent, spaces included).
pub fn text(field: &str, s: String, max: usize) -> Result<String, AppError> {
    at_most(field, &s, max)?;
    let t = s.trim();
    if t.is_empty() {
        return Err(AppError::validation(
            field,
            format!("{field} must not be empty"),
        ));
    }
    Ok(t.to_owned())
}

/// Refuses a text longer than `max` characters.
pub fn at_most(field: &str, s: &str, max: usize) -> Result<(), AppError> {
    if s.chars().count() > max {
        return Err(AppError::validation(
            field,
            format!("{field} must be at most {max} characters"),
        ));
    }
    Ok(())
}

/// An address as the schema's `format: email` has it (RFC 5321's mailbox
/// with a dot-atom local part and a host name of two labels or more), kept
/// in lower case.
pub fn email(v: &str) -> Result<String, AppError> {
    let atext = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+/=?^_`{|}~-".contains(c);
    let label = |l: &str| {
        (1..=63).contains(&l.len())
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    };
    let ok = v.len() <= 254
        && v.rsplit_once('@').is_some_and(|(local, domain)| {
            (1..=64).contains(&local.len())
                && local
                    .split('.')
                    .all(|a| !a.is_empty() && a.chars().all(atext))
                && domain.split('.').count() >= 2
                && domain.split('.').all(label)
        });
    if ok {
        Ok(v.to_lowercase())
    } else {
        Err(AppError::validation(
            "email",
            "email is not a valid address",
        ))
    }
}

pub fn password(v: &str) -> Result<(), AppError> {
    let n = v.chars().count();
    if (8..=256).contains(&n) {
        Ok(())
    } else {
        Err(AppError::validation(
            "password",
            "password must be 8 to 256 characters",
        ))
    }
}

/// The regions a tenant may be placed in: the standard three, `default`,
/// and any region a configured server serves.
pub fn known_region(router: &Router, r: &Region) -> bool {
    matches!(r.as_str(), "EU" | "US" | "ASIA" | "default")
        || router.servers().all().any(|s| &s.region == r)
}

/// The names of every region [`known_region`] accepts.
pub fn region_names(router: &Router) -> Vec<String> {
    let mut names: Vec<String> = ["EU", "US", "ASIA", "default"]
        .into_iter()
        .map(String::from)
        .collect();
    for s in router.servers().all() {
        if !names.iter().any(|n| n == s.region.as_str()) {
            names.push(s.region.as_str().to_owned());
        }
    }
    names
}

/// Refuses a region no server is configured for.
pub(crate) fn check_region(router: &Router, region: &Region) -> Result<(), AppError> {
    if known_region(router, region) {
        Ok(())
    } else {
        Err(AppError::validation(
            "region",
            format!("region {region} is not configured"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_as_the_schema_has_them() {
        for ok in [
            "a@b.co",
            "Ann.Lee+x@mail.example.com",
            "{=g7l@6.08njmksm.io",
            "o'neil@x-y.io",
        ] {
            assert!(email(ok).is_ok(), "{ok}");
        }
        assert_eq!(email("Ann@X.IO").unwrap(), "ann@x.io");
        for bad in [
            "",
            "a",
            "a@b",
            "@b.co",
            "a@.b.co",
            "a@b.co.",
            "a..b@c.io",
            "0@0.com*",
            " a@b.co",
            "a b@c.io",
            "a@-b.io",
            "a@b_c.io",
            "\"a\"@b.io",
        ] {
            assert!(email(bad).is_err(), "{bad}");
        }
        assert!(email(&format!("{}@b.io", "a".repeat(65))).is_err());
    }
}
