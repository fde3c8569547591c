//! The composition root: from a [`Config`], the catalog (migrated), the
//! file stores and the router, and the [`App`] on them. The HTTP server and
//! the CLI open the services the same way; secrets are not read here.

use fsa_store::Router;
use fsa_store::StoreError;
use fsa_store::catalog::open_catalog;

use crate::App;
use crate::config::{Config, ConfigError};

/// Why the services could not be opened. Store and configuration errors
/// pass through unchanged, so they read (and chain) as they would alone.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A setting checked only when the services are built.
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

/// Opens the catalog, applies migrations, and builds the router and the
/// application services on it. Returns what the service warns about at
/// start (plans whose file store is not configured) for the caller to log
/// at the level that suits it.
pub async fn open(config: &Config) -> Result<(App, Vec<String>), OpenError> {
    let move_cleanup = crate::moves::parse_cleanup(&config.move_cleanup)
        .map_err(|e| OpenError::Invalid(format!("move_cleanup: {e}")))?;
    let catalog = open_catalog(&config.database_url()).await?;
    let (files, warnings) = crate::files::FileStores::open(&config.files, &config.data_dir)
        .map_err(|e| OpenError::Invalid(e.to_string()))?;
    let backups = crate::backups::BackupSettings::open(&config.backups, &config.data_dir)
        .map_err(|e| OpenError::Invalid(format!("backups: {e}")))?;
    let router = Router::new(catalog, config.servers()?, config.router_settings()).await?;
    Ok((
        App::new(router, config.limits.clone(), move_cleanup, files, backups),
        warnings,
    ))
}
