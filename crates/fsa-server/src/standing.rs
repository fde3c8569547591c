//! Whether a token's user still stands as the token says: exists, is
//! active, and has the role and token version the token was issued with.
//!
//! Asking the placement on every request would add a round trip to every
//! request, so the answer is cached per (tenant, user) for at most
//! `max_age` (one second by default). A change made by this process (a
//! user patched or deleted) drops its entry at once, after its commit; a
//! change made by another process is seen within `max_age`.
//!
//! A lookup that started before a change and ends after it must not put
//! the old answer back: every drop bumps a generation, and a lookup stores
//! its answer only if the generation it started under is still current.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fsa_core::TenantId;
use fsa_store::repo::users::{self, Standing};
use fsa_store::{Mode, Router};
use uuid::Uuid;

use crate::auth::Claims;
use crate::error::ApiError;

const SHARDS: usize = 32;
/// A shard is swept of expired entries when it has grown by this many.
const SWEEP_EVERY: usize = 1024;

struct Entry {
    standing: Option<Standing>,
    at: Instant,
}

struct Shard {
    map: HashMap<(TenantId, Uuid), Entry>,
    next_sweep: usize,
}

pub struct StandingCache {
    shards: Box<[Mutex<Shard>]>,
    generation: AtomicU64,
    max_age: Duration,
}

impl StandingCache {
    pub fn new(max_age: Duration) -> Self {
        StandingCache {
            shards: (0..SHARDS)
                .map(|_| {
                    Mutex::new(Shard {
                        map: HashMap::new(),
                        next_sweep: SWEEP_EVERY,
                    })
                })
                .collect(),
            generation: AtomicU64::new(0),
            max_age,
        }
    }

    fn shard(&self, user: Uuid) -> std::sync::MutexGuard<'_, Shard> {
        // The low bits of a UUIDv7 are random.
        let i = (user.as_u128() as usize) % SHARDS;
        self.shards[i].lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Refuses the token (401 `token_revoked`) unless its user stands as
    /// its claims say.
    pub async fn check(
        &self,
        router: &Arc<Router>,
        tenant: TenantId,
        claims: &Claims,
    ) -> Result<(), ApiError> {
        let standing = self.standing(router, tenant, claims.sub).await?;
        match standing {
            Some(s) if s.is_active && s.role == claims.role && s.token_version == claims.tv => {
                Ok(())
            }
            _ => Err(revoked()),
        }
    }

    async fn standing(
        &self,
        router: &Arc<Router>,
        tenant: TenantId,
        user: Uuid,
    ) -> Result<Option<Standing>, ApiError> {
        let key = (tenant, user);
        if let Some(e) = self.shard(user).map.get(&key)
            && e.at.elapsed() < self.max_age
        {
            return Ok(e.standing);
        }
        let generation = self.generation.load(Ordering::Acquire);
        let started = Instant::now();
        let mut tx = router.begin(tenant, Mode::Read).await?;
        let standing = users::standing(&mut tx, user).await?;
        tx.commit().await?;
        let mut shard = self.shard(user);
        if self.generation.load(Ordering::Acquire) == generation {
            if shard.map.len() >= shard.next_sweep {
                let max_age = self.max_age;
                shard.map.retain(|_, e| e.at.elapsed() < max_age);
                shard.next_sweep = shard.map.len() + SWEEP_EVERY;
            }
            // Aged from when the lookup began: the row may have changed
            // any time after.
            shard.map.insert(
                key,
                Entry {
                    standing,
                    at: started,
                },
            );
        }
        Ok(standing)
    }

    /// Forgets what is known of a user; call after a change to it commits.
    pub fn invalidate(&self, tenant: TenantId, user: Uuid) {
        let mut shard = self.shard(user);
        shard.map.remove(&(tenant, user));
        self.generation.fetch_add(1, Ordering::AcqRel);
    }
}

pub fn revoked() -> ApiError {
    ApiError::Unauthorized {
        code: "token_revoked",
        detail:
            "the token's user was deleted, deactivated, or changed role or password; log in again"
                .into(),
    }
}
