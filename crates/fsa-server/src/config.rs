//! Configuration: defaults, then a TOML file (`--config` or `FSA_CONFIG`),
//! then `FSA_*` environment variables (`__` for nesting, e.g.
//! `FSA_POOLS__SHARED__MAX_CONNECTIONS=80`). With nothing configured the
//! service runs on embedded SQLite under `./fsa-data/` on 127.0.0.1:8080.
//!
//! Secrets (`admin_token`, `jwt_secret`) not configured are generated once
//! and kept in `<data_dir>/secrets.toml`, readable by the owner only.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use fsa_core::{PlacementKind, Region};
use fsa_store::router::{RouterSettings, Servers};
use fsa_store::server::{PoolSettings, Server};
use fsa_store::url::DbUrl;
use rand::Rng;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Address the HTTP server listens on.
    pub listen: SocketAddr,
    /// Folder for the embedded databases and generated secrets.
    pub data_dir: PathBuf,
    /// Catalog and default server: `postgres://…` or `sqlite://…`. Default:
    /// `sqlite://<data_dir>/catalog.db`.
    pub database_url: Option<String>,
    /// Bearer token for `/admin/*`.
    pub admin_token: Option<String>,
    /// Secret that signs user tokens (HS256).
    pub jwt_secret: Option<String>,
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
    pub login: crate::login_limits::LoginLimits,
    /// File stores (`[files.stores.<name>]`), the plan → store map
    /// (`[files.plans]`), the largest upload and the collector's timing.
    pub files: fsa_app::files::FilesConfig,
    /// `/metrics` (`[metrics] enabled`; on by default).
    pub metrics: MetricsConfig,
    /// The advisor's thresholds, its cap of moves per run and the cost
    /// table's rates (`[advice]`).
    pub advice: fsa_app::advice::AdviceConfig,
    /// The HTTP connections: header timeout, connection cap, trusted
    /// proxies (`[server]`).
    pub server: HttpServer,
}

/// The `[server]` section: what one client's connection may hold.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpServer {
    /// Seconds a connection has to send a request's whole header, from
    /// when it is accepted and, on HTTP/1, from the end of the previous
    /// response (so it is also how long a kept-alive connection may idle).
    pub header_timeout: f64,
    /// Connections served at once; at the cap, new ones wait in the
    /// listen backlog until one closes.
    pub max_connections: usize,
    /// Addresses and CIDRs of proxies whose `Forwarded`/`X-Forwarded-For`
    /// is believed about the client's address (nobody's by default; a list,
    /// or from the environment one comma-separated string).
    #[serde(deserialize_with = "crate::proxies::one_or_many")]
    pub trusted_proxies: Vec<String>,
}

impl Default for HttpServer {
    fn default() -> Self {
        HttpServer {
            header_timeout: 10.0,
            max_connections: 10_000,
            trusted_proxies: Vec::new(),
        }
    }
}

impl HttpServer {
    /// The header timeout, refused when it is not a positive number of
    /// seconds: 0 would close every connection at once, not disable it.
    pub fn header_timeout(&self) -> Result<Duration, String> {
        Duration::try_from_secs_f64(self.header_timeout)
            .ok()
            .filter(|d| !d.is_zero())
            .ok_or_else(|| {
                format!(
                    "invalid configuration: server.header_timeout (FSA_SERVER__HEADER_TIMEOUT) is {}; it is a number of seconds above 0",
                    self.header_timeout
                )
            })
    }
}

/// The shortest JWT secret accepted, in bytes: HS256's key is as strong as
/// the secret, and 32 bytes is its hash's size.
pub const MIN_JWT_SECRET_BYTES: usize = 32;
/// The shortest admin token accepted, in characters.
pub const MIN_ADMIN_TOKEN_CHARS: usize = 32;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// Whether requests are counted for `/metrics`. Off, `/metrics` lists
    /// the metric names without samples; the per-tenant figures of the
    /// admin API are kept either way.
    pub enabled: bool,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig { enabled: true }
    }
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
    pub url: String,
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
            login: crate::login_limits::LoginLimits::default(),
            files: fsa_app::files::FilesConfig::default(),
            metrics: MetricsConfig::default(),
            advice: fsa_app::advice::AdviceConfig::default(),
            server: HttpServer::default(),
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
            Some(u) => DbUrl::new(u.clone()),
            None => DbUrl::new(format!(
                "sqlite://{}",
                self.data_dir.join("catalog.db").display()
            )),
        }
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
                &DbUrl::new(s.url.clone()),
                &prefix,
            )?);
        }
        Ok(Servers::new(default, others))
    }

    /// Fills in missing secrets from `<data_dir>/secrets.toml`, generating
    /// and saving them there the first time. Returns the file's path when it
    /// was used.
    ///
    /// At every start, whether or not the secrets are configured elsewhere,
    /// the data directory (when there is one) is made owner-only (0700) and
    /// so is the secrets file (0600); a secrets file that is a symbolic link
    /// or not a regular file is refused, never followed.
    pub fn ensure_secrets(&mut self) -> Result<Option<PathBuf>, ConfigError> {
        let generate = self.admin_token.is_none() || self.jwt_secret.is_none();
        // The embedded catalog lives in the data directory too.
        let used = generate || self.database_url.is_none();
        private_dir(&self.data_dir, used).map_err(|source| ConfigError::DataDir {
            path: self.data_dir.clone(),
            source,
        })?;
        let path = self.data_dir.join("secrets.toml");
        let err = |source| ConfigError::Secrets {
            path: path.clone(),
            source,
        };
        let text = read_private(&path).map_err(err)?;
        if !generate {
            return Ok(None);
        }
        #[derive(Serialize, Deserialize, Default)]
        struct Secrets {
            admin_token: Option<String>,
            jwt_secret: Option<String>,
        }
        let mut saved: Secrets = match text {
            Some(text) => toml_from_str(&text).map_err(|e| err(std::io::Error::other(e)))?,
            None => Secrets::default(),
        };
        let mut changed = false;
        for slot in [&mut saved.admin_token, &mut saved.jwt_secret] {
            if slot.is_none() {
                *slot = Some(random_secret());
                changed = true;
            }
        }
        if changed {
            let text = format!(
                "# Generated by fsa on first start. Keep private.\nadmin_token = \"{}\"\njwt_secret = \"{}\"\n",
                saved.admin_token.as_deref().unwrap_or_default(),
                saved.jwt_secret.as_deref().unwrap_or_default()
            );
            write_private(&path, &text).map_err(err)?;
        }
        if self.admin_token.is_none() {
            self.admin_token = saved.admin_token;
        }
        if self.jwt_secret.is_none() {
            self.jwt_secret = saved.jwt_secret;
        }
        Ok(Some(path))
    }

    /// Refuses a secret too short to be one: a guessable admin token opens
    /// every tenant, a short JWT secret lets anyone sign tokens. Secrets not
    /// configured pass (they are generated long enough).
    pub fn check_secrets(&self) -> Result<(), ConfigError> {
        if let Some(s) = &self.jwt_secret
            && s.len() < MIN_JWT_SECRET_BYTES
        {
            return Err(ConfigError::ShortJwtSecret(s.len()));
        }
        if let Some(t) = &self.admin_token {
            let n = t.chars().count();
            if n < MIN_ADMIN_TOKEN_CHARS {
                return Err(ConfigError::ShortAdminToken(n));
            }
        }
        Ok(())
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

pub fn random_secret() -> String {
    use std::fmt::Write;
    let bytes: [u8; 32] = rand::rng().random();
    bytes.iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// Makes `dir` owner-only (0700), creating it so when `create` and it is
/// missing. A data directory that is a symbolic link (to another volume,
/// say) is followed: the folder it names is the one made private.
fn private_dir(dir: &Path, create: bool) -> std::io::Result<()> {
    match std::fs::metadata(dir) {
        Ok(m) if !m.is_dir() => Err(std::io::Error::other("it is not a directory")),
        Ok(m) => restrict(dir, None, &m, 0o700),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && create => {
            let mut b = std::fs::DirBuilder::new();
            b.recursive(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::DirBuilderExt;
                b.mode(0o700);
            }
            b.create(dir)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// Sets `mode` on `path` (through `file` when it is open) when its
/// permissions allow more than the owner.
#[cfg(unix)]
fn restrict(
    path: &Path,
    file: Option<&std::fs::File>,
    m: &std::fs::Metadata,
    mode: u32,
) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let have = m.permissions().mode() & 0o777;
    if have & 0o077 != 0 {
        tracing::warn!(path = %path.display(), mode = format!("{have:o}"), "made owner-only");
        let mode = std::fs::Permissions::from_mode(mode);
        match file {
            Some(f) => f.set_permissions(mode)?,
            None => std::fs::set_permissions(path, mode)?,
        }
    }
    Ok(())
}

#[cfg(not(unix))]
fn restrict(
    _: &Path,
    _: Option<&std::fs::File>,
    _: &std::fs::Metadata,
    _: u32,
) -> std::io::Result<()> {
    Ok(())
}

/// Reads the secrets file, if there is one, after making it owner-only. A
/// symbolic link or anything but a regular file is refused: the file is
/// looked at without following links, opened, and the open file checked to
/// be that same file, so a link swapped in between is refused too.
fn read_private(path: &Path) -> std::io::Result<Option<String>> {
    use std::io::Read;
    let link = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    if link.file_type().is_symlink() {
        return Err(std::io::Error::other(
            "it is a symbolic link; fsa does not follow one for its secrets",
        ));
    }
    if !link.is_file() {
        return Err(std::io::Error::other("it is not a regular file"));
    }
    let mut f = std::fs::File::open(path)?;
    let opened = f.metadata()?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if (opened.dev(), opened.ino()) != (link.dev(), link.ino()) {
            return Err(std::io::Error::other("it changed while being opened"));
        }
    }
    restrict(path, Some(&f), &opened, 0o600)?;
    let mut text = String::new();
    f.read_to_string(&mut text)?;
    Ok(Some(text))
}

/// Writes the secrets file owner-only: into a new file beside it, then
/// renamed over it, so an existing file's looser mode or a link in its
/// place is replaced, never written through.
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension(format!("tmp-{}", fsa_core::new_id().simple()));
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let written = (|| {
        let mut f = opts.open(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn secrets_are_generated_once_and_private() {
        let dir = std::env::temp_dir().join(format!("fsa-secrets-{}", fsa_core::new_id()));
        let mut a = Config {
            data_dir: dir.clone(),
            ..Config::default()
        };
        let path = a.ensure_secrets().unwrap().unwrap();
        let mut b = Config {
            data_dir: dir.clone(),
            ..Config::default()
        };
        b.ensure_secrets().unwrap();
        assert_eq!(a.admin_token, b.admin_token);
        assert_eq!(a.jwt_secret.as_ref().map(String::len), Some(64));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[cfg(unix)]
    fn mode(p: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[cfg(unix)]
    fn set_mode(p: &Path, mode: u32) {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn loose_permissions_are_tightened_at_every_start() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let mut first = Config {
            data_dir: data.clone(),
            ..Config::default()
        };
        let path = first.ensure_secrets().unwrap().unwrap();
        assert_eq!(mode(&data), 0o700);
        assert_eq!(mode(&path), 0o600);

        // Loosened by hand (a restore, a careless chmod): the next start
        // tightens both, and the secrets stay.
        set_mode(&data, 0o755);
        set_mode(&path, 0o644);
        let mut again = Config {
            data_dir: data.clone(),
            ..Config::default()
        };
        again.ensure_secrets().unwrap();
        assert_eq!(mode(&data), 0o700);
        assert_eq!(mode(&path), 0o600);
        assert_eq!(again.jwt_secret, first.jwt_secret);

        // Also when every secret is configured and the file is not read.
        set_mode(&data, 0o777);
        set_mode(&path, 0o666);
        let mut configured = Config {
            data_dir: data.clone(),
            admin_token: Some("t".into()),
            jwt_secret: Some("s".into()),
            ..Config::default()
        };
        assert_eq!(configured.ensure_secrets().unwrap(), None);
        assert_eq!(mode(&data), 0o700);
        assert_eq!(mode(&path), 0o600);
    }

    #[cfg(unix)]
    #[test]
    fn a_new_data_dir_and_secrets_file_are_owner_only() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("nested").join("data");
        let mut c = Config {
            data_dir: data.clone(),
            ..Config::default()
        };
        let path = c.ensure_secrets().unwrap().unwrap();
        assert_eq!(mode(&data), 0o700);
        assert_eq!(mode(&path), 0o600);
        // No temporary file is left beside it.
        let names: Vec<_> = std::fs::read_dir(&data)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("secrets.toml")]);
    }

    #[cfg(unix)]
    #[test]
    fn a_symlinked_secrets_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir(&data).unwrap();
        let elsewhere = dir.path().join("elsewhere.toml");
        std::fs::write(&elsewhere, "admin_token = \"a\"\njwt_secret = \"b\"\n").unwrap();
        set_mode(&elsewhere, 0o644);
        std::os::unix::fs::symlink(&elsewhere, data.join("secrets.toml")).unwrap();
        let mut c = Config {
            data_dir: data.clone(),
            ..Config::default()
        };
        let e = c.ensure_secrets().unwrap_err();
        assert!(matches!(e, ConfigError::Secrets { .. }), "{e}");
        assert!(e.to_string().contains("symbolic link"), "{e}");
        assert_eq!(c.admin_token, None);
        // The link's target is neither read into the config nor changed.
        assert_eq!(mode(&elsewhere), 0o644);

        // A dangling link (to a file fsa would otherwise create) likewise.
        std::fs::remove_file(data.join("secrets.toml")).unwrap();
        std::os::unix::fs::symlink(dir.path().join("nothing.toml"), data.join("secrets.toml"))
            .unwrap();
        assert!(c.ensure_secrets().is_err());
        assert!(!dir.path().join("nothing.toml").exists());

        // A folder in its place is not a secrets file either.
        std::fs::remove_file(data.join("secrets.toml")).unwrap();
        std::fs::create_dir(data.join("secrets.toml")).unwrap();
        assert!(c.ensure_secrets().is_err());
    }

    #[test]
    fn a_data_dir_that_is_a_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("data");
        std::fs::write(&file, "").unwrap();
        let mut c = Config {
            data_dir: file,
            ..Config::default()
        };
        assert!(matches!(
            c.ensure_secrets(),
            Err(ConfigError::DataDir { .. })
        ));
    }
}
