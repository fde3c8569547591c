//! Configuration: defaults, then a TOML file (`--config` or `FSA_CONFIG`),
//! then `FSA_*` environment variables (`__` for nesting, e.g.
//! `FSA_POOLS__SHARED__MAX_CONNECTIONS=80`). With nothing configured the
//! service runs on embedded SQLite under `./fsa-data/` on 127.0.0.1:8080.
//!
//! Secrets (`admin_token`, `jwt_secret`) not configured are generated once
//! and kept in `<data_dir>/secrets.toml`, readable by the owner only
//! (`secrets.rs`).
//!
//! The HTTP server's own sections (`[server]`, `[login]`, `[metrics]`) are
//! plain settings here ([`server`]), so every command reads one
//! configuration; what they drive lives in `fsa-server`.

mod secrets;
pub mod server;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use fsa_core::{PlacementKind, Region};
use fsa_store::router::{RouterSettings, Servers};
use fsa_store::secret::Secret;
use fsa_store::server::{PoolSettings, Server};
use fsa_store::url::DbUrl;
use serde::{Deserialize, Serialize};

pub use secrets::{MIN_ADMIN_TOKEN_CHARS, MIN_JWT_SECRET_BYTES, random_secret};
pub use server::{HttpServer, LoginLimits, MetricsConfig, one_or_many};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Address the HTTP server listens on.
    pub listen: SocketAddr,
    /// Folder for the embedded databases and generated secrets.
    pub data_dir: PathBuf,
    /// Catalog and default server: `postgres://…` or `sqlite://…`. Default:
    /// `sqlite://<data_dir>/catalog.db`.
    pub database_url: Option<Secret>,
    /// Bearer token for `/admin/*`.
    pub admin_token: Option<Secret>,
    /// Secret that signs user tokens (HS256).
    pub jwt_secret: Option<Secret>,
    /// Lifetime of a user token, in seconds.
    pub token_ttl_secs: u64,
    /// Largest request body accepted, in bytes.
    pub body_limit_bytes: usize,
    /// Tenants per pooled placement.
    pub pooled_capacity: i32,
    /// Seconds a cached route is trusted without asking the catalog.
    pub route_ttl_secs: u64,
    /// Connections all placement pools together may hold.
    pub connection_budget: u32,
    /// Seconds a request waits for room in the connection budget before 503.
    pub budget_wait_secs: f64,
    /// Pool sizes per placement kind.
    pub pools: Pools,
    /// How long the source keeps a moved tenant's rows when a move does not
    /// say (`now` or a duration such as `1h`).
    pub move_cleanup: String,
    /// Limits per plan (`[limits.free]` …; omit a key for unlimited).
    pub limits: fsa_core::Limits,
    /// Further servers, by name: each serves one region.
    pub servers: Vec<ServerConfig>,
    /// Login attempt limits and password hashing concurrency.
    pub login: LoginLimits,
    /// File stores (`[files.stores.<name>]`), the plan → store map
    /// (`[files.plans]`), the largest upload and the collector's timing.
    pub files: crate::files::FilesConfig,
    /// `/metrics` (`[metrics] enabled`; on by default).
    pub metrics: MetricsConfig,
    /// The advisor's thresholds, its cap of moves per run and the cost
    /// table's rates (`[advice]`).
    pub advice: crate::advice::AdviceConfig,
    /// The HTTP connections: header timeout, connection cap, trusted
    /// proxies (`[server]`).
    pub server: HttpServer,
    /// The jobs runner: poll interval, lease, concurrency, attempts,
    /// shutdown grace (`[jobs]`).
    pub jobs: crate::jobs::JobsConfig,
    /// The backup store and the schedules per plan (`[backups]`).
    pub backups: crate::backups::BackupsConfig,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pools {
    pub shared: PoolSettings,
    pub pooled: PoolSettings,
    pub dedicated: PoolSettings,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    pub name: String,
    pub region: Region,
    /// Its URL, password included: a secret.
    pub url: Secret,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("fsa-data"),
            database_url: None,
            admin_token: None,
            jwt_secret: None,
            token_ttl_secs: 3600,
            body_limit_bytes: 1024 * 1024,
            pooled_capacity: 8,
            route_ttl_secs: 5,
            connection_budget: 200,
            budget_wait_secs: 5.0,
            pools: Pools {
                shared: PoolSettings::default_for(PlacementKind::Shared),
                pooled: PoolSettings::default_for(PlacementKind::Pooled),
                dedicated: PoolSettings::default_for(PlacementKind::Dedicated),
            },
            servers: vec![],
            limits: fsa_core::Limits::default(),
            move_cleanup: "1h".to_owned(),
            login: LoginLimits::default(),
            files: crate::files::FilesConfig::default(),
            metrics: MetricsConfig::default(),
            advice: crate::advice::AdviceConfig::default(),
            server: HttpServer::default(),
            jobs: crate::jobs::JobsConfig::default(),
            backups: crate::backups::BackupsConfig::default(),
        }
    }
}

/// Environment variables that are not configuration keys but are read
/// elsewhere (the log format, the config file's path).
const ENV_NOT_KEYS: &[&str] = &[
    "FSA_CONFIG",
    "FSA_LOG",
    "FSA_LOG_FORMAT",
    "FSA_ADMIN_PASSWORD",
    "FSA_MOVE_PAUSE_AT",
    "FSA_MOVE_PAUSE_FILE",
    "FSA_TEST_PG_URL",
    "FSA_BOOTSTRAP_URL",
    "FSA_PG_BIN",
    "FSA_SCALE_SECS",
    "FSA_TEST_S3_ENDPOINT",
];

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("invalid configuration: {0}")]
    Invalid(#[from] Box<figment::Error>),
    #[error("cannot keep the data directory {path} owner-only: {source}")]
    DataDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot keep secrets in {path}: {source}")]
    Secrets {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Store(#[from] fsa_store::StoreError),
    #[error(
        "invalid configuration: jwt_secret (FSA_JWT_SECRET) is {0} bytes; the minimum is {MIN_JWT_SECRET_BYTES} bytes"
    )]
    ShortJwtSecret(usize),
    #[error(
        "invalid configuration: admin_token (FSA_ADMIN_TOKEN) is {0} characters; the minimum is {MIN_ADMIN_TOKEN_CHARS} characters"
    )]
    ShortAdminToken(usize),
}

impl Config {
    /// Loads defaults, then `file` (if given), then `FSA_*` variables.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let mut fig = Figment::from(Serialized::defaults(Config::default()));
        if let Some(f) = file {
            fig = fig.merge(Toml::file_exact(f));
        }
        fig = fig.merge(
            // Only configuration keys: other FSA_ variables (the log
            // format, test aids) are warned about below, not rejected.
            Env::prefixed("FSA_")
                .filter(|k| {
                    KNOWN_KEYS.contains(
                        &k.as_str()
                            .split("__")
                            .next()
                            .unwrap_or_default()
                            .to_ascii_lowercase()
                            .as_str(),
                    )
                })
                .split("__"),
        );
        for (key, _) in std::env::vars() {
            if key.starts_with("FSA_") && !ENV_NOT_KEYS.contains(&key.as_str()) {
                let name = key["FSA_".len()..].to_ascii_lowercase();
                let top = name.split("__").next().unwrap_or_default();
                if !KNOWN_KEYS.contains(&top) {
                    tracing::warn!(variable = %key, "unknown FSA_ environment variable ignored");
                }
            }
        }
        let cfg: Config = fig.extract().map_err(Box::new)?;
        Ok(cfg)
    }

    pub fn database_url(&self) -> DbUrl {
        match &self.database_url {
            Some(u) => DbUrl::new(u.expose()),
            None => DbUrl::new(format!(
                "sqlite://{}",
                self.data_dir.join("catalog.db").display()
            )),
        }
    }

    /// The admin token, for the one check of it (and a test that presents
    /// it); empty when not configured.
    pub fn expose_admin_token(&self) -> &str {
        self.admin_token.as_ref().map_or("", Secret::expose)
    }

    /// The secret that signs user tokens, for the signer only.
    pub fn expose_jwt_secret(&self) -> &str {
        self.jwt_secret.as_ref().map_or("", Secret::expose)
    }

    pub fn token_ttl(&self) -> Duration {
        Duration::from_secs(self.token_ttl_secs)
    }

    pub fn router_settings(&self) -> RouterSettings {
        RouterSettings {
            shared: self.pools.shared.clone(),
            pooled: self.pools.pooled.clone(),
            dedicated: self.pools.dedicated.clone(),
            route_ttl: Duration::from_secs(self.route_ttl_secs),
            pooled_capacity: self.pooled_capacity,
            connection_budget: self.connection_budget,
            budget_wait: Duration::try_from_secs_f64(self.budget_wait_secs)
                .unwrap_or(Duration::from_secs(5)),
            limits: self.limits.clone(),
        }
    }

    /// The servers: the default one from `database_url` (its placement
    /// databases are named after the catalog database, so several catalogs
    /// can share one PostgreSQL server) and those configured.
    pub fn servers(&self) -> Result<Servers, ConfigError> {
        let url = self.database_url();
        let prefix = db_prefix(&url);
        let default = Server::from_url("default", Region::default_region(), &url, &prefix)?;
        let mut others = Vec::new();
        for s in &self.servers {
            others.push(Server::from_url(
                &s.name,
                s.region.clone(),
                &DbUrl::new(s.url.expose()),
                &prefix,
            )?);
        }
        Ok(Servers::new(default, others))
    }
}

const KNOWN_KEYS: &[&str] = &[
    "listen",
    "data_dir",
    "database_url",
    "admin_token",
    "jwt_secret",
    "token_ttl_secs",
    "body_limit_bytes",
    "pooled_capacity",
    "route_ttl_secs",
    "connection_budget",
    "budget_wait_secs",
    "pools",
    "servers",
    "limits",
    "move_cleanup",
    "login",
    "files",
    "metrics",
    "advice",
    "server",
    "jobs",
    "backups",
];

fn toml_from_str<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, String> {
    Figment::from(Toml::string(text))
        .extract()
        .map_err(|e| e.to_string())
}

/// The catalog database's name for PostgreSQL (placement databases start
/// with it); empty for SQLite, whose placements are files in their folder.
fn db_prefix(url: &DbUrl) -> String {
    if !url.is_postgres() {
        return String::new();
    }
    // From the parsed URL: a query such as `sslrootcert=/etc/fsa/ca.pem`
    // has slashes of its own.
    url.pg_options()
        .ok()
        .and_then(|o| o.get_database().map(str::to_owned))
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "fsa".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_section_can_come_from_the_environment() {
        let v = serde_json::to_value(Config::default()).unwrap();
        for key in v.as_object().unwrap().keys() {
            assert!(
                KNOWN_KEYS.contains(&key.as_str()),
                "{key} is not in KNOWN_KEYS"
            );
        }
    }

    #[test]
    fn file_stores_from_toml() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("fsa.toml");
        std::fs::write(
            &file,
            "[files]\nmax_file_bytes = 1000\n[files.stores.premium]\nurl = \"s3://fsa-premium/p\"\nendpoint = \"http://127.0.0.1:9000\"\n[files.plans]\nbasic = \"premium\"\n",
        )
        .unwrap();
        let c = Config::load(Some(&file)).unwrap();
        assert_eq!(c.files.max_file_bytes, 1000);
        assert_eq!(c.files.plans.basic, "premium");
        assert_eq!(c.files.plans.free, "local");
        let premium = &c.files.stores["premium"];
        assert_eq!(premium.url, "s3://fsa-premium/p");
        assert_eq!(premium.endpoint.as_deref(), Some("http://127.0.0.1:9000"));
    }

    #[test]
    fn prefix_from_catalog_name() {
        assert_eq!(
            db_prefix(&DbUrl::new(
                "postgres://u:p@h:5432/fsa_test?sslmode=disable"
            )),
            "fsa_test"
        );
        assert_eq!(db_prefix(&DbUrl::new("sqlite://./fsa-data/catalog.db")), "");
        assert_eq!(db_prefix(&DbUrl::new("postgres://u@h:5432")), "fsa");
        // The query's own slashes do not name the database.
        let ca = std::env::temp_dir().join(format!("fsa-ca-{}.pem", fsa_core::new_id()));
        std::fs::write(&ca, "").unwrap();
        assert_eq!(
            db_prefix(&DbUrl::new(format!(
                "postgres://u@h/fsa_prod?sslmode=verify-full&sslrootcert={}",
                ca.display()
            ))),
            "fsa_prod"
        );
        std::fs::remove_file(ca).unwrap();
    }
}
