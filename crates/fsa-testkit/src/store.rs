//! What the store's integration tests share: a router over one server, and
//! onboarding a free tenant on it.

use std::sync::Arc;

use fsa_core::{Plan, Region, TenantId};
use fsa_store::catalog::{NewTenant, open_catalog};
use fsa_store::router::{RouterSettings, Servers};
use fsa_store::server::Server;
use fsa_store::url::DbUrl;
use fsa_store::{Router, StoreError};

/// A router over the catalog at `url`, whose default server is the same
/// database server (placement databases named after `prefix`).
pub async fn try_router(
    url: &DbUrl,
    prefix: &str,
    settings: RouterSettings,
) -> Result<Arc<Router>, StoreError> {
    let catalog = open_catalog(url).await?;
    let server = Server::from_url("default", Region::default_region(), url, prefix)?;
    Router::new(catalog, Servers::new(server, vec![]), settings).await
}

pub async fn router_for(url: &DbUrl, prefix: &str) -> Arc<Router> {
    try_router(url, prefix, RouterSettings::default())
        .await
        .unwrap()
}

/// Onboards a free tenant (no users) and makes it routable.
pub async fn onboard(router: &Router, slug: &str) -> TenantId {
    let t = NewTenant {
        id: TenantId::generate(),
        slug: slug.into(),
        name: slug.into(),
        plan: Plan::Free,
        region: Region::default_region(),
        isolation_requested: false,
    };
    let (_, tx) = router.begin_onboarding(&t).await.unwrap();
    tx.commit().await.unwrap();
    router.activate(t.id).await.unwrap();
    t.id
}
