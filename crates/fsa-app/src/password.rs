//! argon2id password hashes (PHC strings with a random salt).

use argon2::Argon2;
use argon2::password_hash::PasswordHasher;

use crate::AppError;

/// Hashes a password with argon2id and a random salt (PHC string).
pub fn hash(password: &str) -> Result<String, AppError> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| AppError::PasswordHash(e.to_string()))
}

/// Runs argon2 off the async workers.
pub async fn hash_blocking(password: String) -> Result<String, AppError> {
    tokio::task::spawn_blocking(move || hash(&password)).await?
}

#[cfg(test)]
mod tests {
    use argon2::password_hash::PasswordVerifier;

    use super::*;

    #[test]
    fn hashes_verify() {
        let h = hash("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"));
        let argon2 = Argon2::default();
        assert!(argon2.verify_password(b"correct horse", h.as_str()).is_ok());
        assert!(argon2.verify_password(b"wrong horse", h.as_str()).is_err());
    }
}
