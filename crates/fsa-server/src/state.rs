//! The state every handler shares.

use std::sync::Arc;

use fsa_store::Router;

use crate::tokens::Tokens;
use fsa_app::config::Config;

#[derive(Clone)]
pub struct AppState {
    /// Tenant → placement routing and the placement pools.
    pub router: Arc<Router>,
    /// The application services, on the same router.
    pub app: fsa_app::App,
    /// Signs and checks user tokens; knows the admin token.
    pub tokens: Tokens,
    /// Per-tenant rate and concurrency limits.
    pub limiter: Arc<crate::limiter::Limiter>,
    pub config: Arc<Config>,
    /// Hashes and verifies passwords, a bounded number at once.
    pub passwords: Arc<crate::passwords::Passwords>,
    /// Login attempts per tenant and email and per client address.
    pub logins: Arc<crate::login_limits::LoginLimiter>,
    /// Whether tokens' users still stand as their tokens say.
    pub standing: Arc<crate::standing::StandingCache>,
    /// Whose forwarding headers name the client (`[server] trusted_proxies`).
    pub proxies: Arc<crate::proxies::TrustedProxies>,
}
