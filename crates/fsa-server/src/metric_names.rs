//! The names of the service's metric families: a leaf, so the code that
//! counts (errors, auth, limits) names them without reaching `/metrics`.

pub const HTTP_REQUESTS: &str = "fsa_http_requests_total";
pub const HTTP_DURATION: &str = "fsa_http_request_duration_seconds";
pub const POOL_CONNECTIONS: &str = "fsa_pool_connections";
pub const CONNECTION_BUDGET: &str = "fsa_connection_budget";
pub const LIMIT_REFUSALS: &str = "fsa_limit_refusals_total";
pub const MOVE_FENCE: &str = "fsa_move_fence_seconds";
pub const MOVES: &str = "fsa_moves_total";
pub const BACKUP_AGE: &str = "fsa_backup_age_seconds";
