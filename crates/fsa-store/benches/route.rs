//! The cost of resolving a tenant's route on a warm cache, with 10,000
//! tenants in the catalog (target: under 5 µs). Run with
//! `cargo bench -p fsa-store --bench route`.

use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use fsa_core::{Region, TenantId};
use fsa_store::catalog::open_catalog;
use fsa_store::router::{RouterSettings, Servers};
use fsa_store::server::Server;
use fsa_store::url::DbUrl;
use fsa_store::{Router, on_pool};

const TENANTS: usize = 10_000;

async fn setup(dir: &std::path::Path) -> (Arc<Router>, Vec<TenantId>) {
    let url = DbUrl::new(format!("sqlite://{}/catalog.db", dir.display()));
    let catalog = open_catalog(&url).await.expect("catalog");
    let server = Server::from_url("default", Region::default_region(), &url, "").expect("server");
    let placement = fsa_core::new_id();
    let mut ids = Vec::with_capacity(TENANTS);
    on_pool!(catalog.pool(), c => {
        sqlx::query("INSERT INTO servers (name, region, engine) VALUES ('default', 'default', 'sqlite')").execute(c).await.expect("server row");
        sqlx::query("INSERT INTO placements (id, name, kind, region, server, db_name, state) VALUES ($1, 'shared-default-1', 'shared', 'default', 'default', 'shared_default_1', 'ready')")
            .bind(placement).execute(c).await.expect("placement row");
        let mut tx = c.begin().await.expect("tx");
        for i in 0..TENANTS {
            let id = TenantId::generate();
            ids.push(id);
            sqlx::query("INSERT INTO tenants (id, slug, name, plan, region, placement_id, epoch, state, created_at, updated_at)
                         VALUES ($1, $2, $2, 'free', 'default', $3, 1, 'active', '2026-01-01T00:00:00.000000Z', '2026-01-01T00:00:00.000000Z')")
                .bind(id.as_uuid()).bind(format!("t{i}")).bind(placement).execute(&mut *tx).await.expect("tenant row");
        }
        tx.commit().await.expect("commit");
    });
    let settings = RouterSettings {
        route_ttl: std::time::Duration::from_secs(3600),
        ..RouterSettings::default()
    };
    let router = Router::new(catalog, Servers::new(server, vec![]), settings)
        .await
        .expect("router");
    (router, ids)
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let (router, ids) = rt.block_on(setup(dir.path()));
    // Warm: every route cached, the placement's pool open.
    rt.block_on(async {
        for id in &ids {
            router.route(*id).await.expect("route");
        }
        let r = router.route(ids[0]).await.expect("route");
        drop(router.lease(r.placement_id).await.expect("lease"));
    });
    let mut i = 0usize;
    c.bench_function("route (warm, 10k tenants)", |b| {
        b.to_async(&rt).iter(|| {
            i = (i + 7919) % TENANTS;
            let id = ids[i];
            let router = &router;
            async move { router.route(id).await.expect("route") }
        })
    });
    let mut j = 0usize;
    c.bench_function("route + pool lease (warm, 10k tenants)", |b| {
        b.to_async(&rt).iter(|| {
            j = (j + 7919) % TENANTS;
            let id = ids[j];
            let router = &router;
            async move {
                let r = router.route(id).await.expect("route");
                router
                    .lease(r.placement_id)
                    .await
                    .expect("lease")
                    .placement
                    .id
            }
        })
    });
    rt.block_on(router.close());
}

criterion_group!(benches, bench);
criterion_main!(benches);
