//! Password hashing and checking for requests, with bounded work.
//!
//! argon2 is meant to be expensive (tens of milliseconds of CPU and 19 MiB
//! per call), so a flood of logins could take every core from the API.
//! Hashes and verifications therefore run off the async workers and at most
//! `hash_concurrency` at once (a semaphore; by default one per core); the
//! others wait their turn.
//!
//! A login whose tenant or email does not exist (or whose user is inactive)
//! verifies the password against a dummy hash made once with the same
//! parameters, so it costs what a wrong password costs and its timing does
//! not tell which tenants and emails exist.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use tokio::sync::Semaphore;

use crate::error::ApiError;
use fsa_app::password::{hash as hash_password, verify as verify_password};

pub struct Passwords {
    permits: Arc<Semaphore>,
    /// A hash of a password nobody knows, with the default parameters.
    dummy: Arc<OnceLock<String>>,
    /// Verifications run (real or dummy), for tests and metrics.
    verifications: AtomicU64,
}

impl Passwords {
    /// `concurrency` 0 means one per core.
    pub fn new(concurrency: usize) -> Self {
        let n = if concurrency == 0 {
            std::thread::available_parallelism().map_or(2, |n| n.get())
        } else {
            concurrency
        };
        Passwords {
            permits: Arc::new(Semaphore::new(n)),
            dummy: Arc::new(OnceLock::new()),
            verifications: AtomicU64::new(0),
        }
    }

    /// Hashes a new password (argon2id, random salt).
    pub async fn hash(&self, password: String) -> Result<String, ApiError> {
        let permit = self.permit().await?;
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            hash_password(&password).map_err(ApiError::from)
        })
        .await
        .map_err(|e| ApiError::Internal(e.into()))?
    }

    /// Whether `password` matches the PHC string `phc`.
    pub async fn verify(&self, password: String, phc: String) -> bool {
        self.verify_inner(password, Some(phc)).await
    }

    /// Spends the work of a verification on a login that cannot succeed
    /// (unknown tenant or email, inactive user); always false.
    pub async fn verify_nobody(&self, password: String) {
        self.verify_inner(password, None).await;
    }

    /// How many verifications (real and dummy) have run.
    pub fn verifications(&self) -> u64 {
        self.verifications.load(Ordering::Relaxed)
    }

    /// Makes the dummy hash now, so the first unknown-email login does not
    /// pay for it (its timing would stand out).
    pub async fn warm(&self) {
        let dummy = self.dummy.clone();
        let _ = tokio::task::spawn_blocking(move || {
            dummy_hash(&dummy);
        })
        .await;
    }

    async fn verify_inner(&self, password: String, phc: Option<String>) -> bool {
        let Ok(permit) = self.permit().await else {
            return false;
        };
        self.verifications.fetch_add(1, Ordering::Relaxed);
        let dummy = self.dummy.clone();
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            match phc {
                Some(p) => verify_password(&password, &p),
                None => {
                    verify_password(&password, dummy_hash(&dummy));
                    false
                }
            }
        })
        .await
        .unwrap_or(false)
    }

    /// A permit owned by the blocking task that does the work: a client
    /// that hangs up drops its request, not the permit, so the work that
    /// still runs stays counted.
    async fn permit(&self) -> Result<tokio::sync::OwnedSemaphorePermit, ApiError> {
        self.permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| ApiError::Internal(e.into()))
    }
}

/// The dummy hash, made on first use (on a blocking thread).
fn dummy_hash(cell: &OnceLock<String>) -> &str {
    cell.get_or_init(|| hash_password(&fsa_app::config::random_secret()).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn unknown_users_cost_a_verification() {
        let p = Passwords::new(1);
        let h = p.hash("right".into()).await.unwrap();
        assert!(p.verify("right".into(), h.clone()).await);
        assert!(!p.verify("wrong".into(), h).await);
        p.verify_nobody("anything".into()).await;
        assert_eq!(p.verifications(), 3);
    }
}
