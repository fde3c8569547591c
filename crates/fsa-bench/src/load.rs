//! Filling one shared placement: tenants onboarded through the service's
//! own code, then clients and work orders bulk-loaded as the superuser.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use anyhow::{Context, anyhow, bail};
use fsa_core::{PlacementKind, Plan};
use fsa_server::state::AppState;
use futures::{StreamExt, TryStreamExt};
use sqlx::postgres::PgPoolOptions;
use sqlx::{Executor, PgPool};
use uuid::Uuid;

use crate::stats::thousands;

/// The password of every bench tenant's admin.
pub const PASSWORD: &str = "bench-password-1";

/// One onboarded tenant and how many work orders it gets.
#[derive(Debug, Clone)]
pub struct BenchTenant {
    pub id: Uuid,
    pub slug: String,
    pub admin_email: String,
    pub work_orders: u64,
}

/// The loaded data set.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// The placement database's name.
    pub placement_db: String,
    /// The largest tenant first, then the small ones.
    pub tenants: Vec<BenchTenant>,
}

impl Dataset {
    pub fn largest(&self) -> &BenchTenant {
        &self.tenants[0]
    }

    pub fn small(&self) -> &[BenchTenant] {
        &self.tenants[1..]
    }
}

/// Sizes of the data set.
#[derive(Debug, Clone, Copy)]
pub struct Sizes {
    pub tenants: u64,
    pub work_orders: u64,
    pub largest: u64,
    pub clients_per_tenant: u64,
}

impl Sizes {
    pub fn check(&self) -> anyhow::Result<()> {
        if self.tenants < 2 {
            bail!("--tenants must be at least 2 (one large tenant and small ones)");
        }
        if self.largest > self.work_orders {
            bail!("--largest must not exceed --work-orders");
        }
        if self.clients_per_tenant == 0 {
            bail!("--clients-per-tenant must be at least 1");
        }
        Ok(())
    }

    /// Work orders per tenant: the largest first, the rest spread evenly.
    pub fn per_tenant(&self) -> Vec<u64> {
        let small = self.tenants - 1;
        let rest = self.work_orders - self.largest;
        let (base, extra) = (rest / small, rest % small);
        std::iter::once(self.largest)
            .chain((0..small).map(|i| base + u64::from(i < extra)))
            .collect()
    }
}

/// Onboards the tenants through `fsa_app::App::create_tenant`
/// (one argon2 hash each), `concurrency` at a time after the first.
pub async fn onboard(
    state: &AppState,
    sizes: Sizes,
    concurrency: usize,
) -> anyhow::Result<Vec<BenchTenant>> {
    let counts = sizes.per_tenant();
    let started = Instant::now();
    let total = counts.len();
    let slugs: Vec<String> = (0..total)
        .map(|i| {
            if i == 0 {
                "bench-large".to_owned()
            } else {
                format!("bench-{i:04}")
            }
        })
        .collect();
    let create = |i: usize| {
        let slug = slugs[i].clone();
        let app = state.app.clone();
        async move {
            let admin_email = format!("admin@{slug}.bench.test");
            let req = fsa_app::Onboarding {
                slug: slug.clone(),
                name: format!("Bench tenant {slug}"),
                plan: Plan::Free,
                region: None,
                admin_email: admin_email.clone(),
                admin_password: PASSWORD.to_owned(),
                isolation_requested: false,
            };
            let view = app
                .create_tenant(req)
                .await
                .map_err(|e| anyhow!("onboarding {slug}: {e} ({e:?})"))?;
            if view.placement.kind != PlacementKind::Shared {
                bail!(
                    "tenant {slug} went to a {} placement, not shared",
                    view.placement.kind
                );
            }
            Ok::<_, anyhow::Error>((i, view.id, view.placement.database, admin_email))
        }
    };
    // The first tenant alone: it provisions the shared placement.
    let first = create(0).await?;
    let mut done = vec![first];
    let step = (total / 10).max(1);
    let mut rest = futures::stream::iter(1..total)
        .map(create)
        .buffer_unordered(concurrency.max(1));
    while let Some(r) = rest.try_next().await? {
        done.push(r);
        if done.len().is_multiple_of(step) || done.len() == total {
            println!(
                "  onboarded {}/{} tenants ({:.1} s)",
                done.len(),
                total,
                started.elapsed().as_secs_f64()
            );
        }
    }
    done.sort_by_key(|d| d.0);
    let db = &done[0].2;
    if let Some(other) = done.iter().find(|d| &d.2 != db) {
        bail!(
            "tenants landed on more than one placement database ({db} and {})",
            other.2
        );
    }
    Ok(done
        .into_iter()
        .map(|(i, id, _, admin_email)| BenchTenant {
            id,
            slug: slugs[i].clone(),
            admin_email,
            work_orders: counts[i],
        })
        .collect())
}

/// Rows of work orders per insert statement (the largest tenant is loaded
/// in chunks of this many, each a statement of its own).
const CHUNK: u64 = 100_000;

const CLIENTS_SQL: &str = "INSERT INTO clients (tenant_id, id, name, contact_name, email, phone, address, created_at, updated_at)
SELECT t.id, gen_random_uuid(), 'Client ' || c, 'Contact ' || c, 'client' || c || '@example.test',
       '+1 555 01' || lpad(c::text, 2, '0'), c || ' Main Street',
       now() - interval '400 days', now() - interval '400 days'
FROM unnest($1::uuid[]) AS t(id), generate_series(1, $2::int) AS c";

/// Work orders `$2..=$3` of `$4` for tenant `$1`: numbered from 1000 as the
/// service numbers them, created evenly over the past year in number order,
/// ids UUIDv7-like (time-ordered, as `fsa_core::new_id` makes them), status
/// ~30% open / 15% scheduled / 10% in progress / 5% on hold / 35% completed
/// / 5% cancelled, priority 20/50/20/10% low/normal/high/urgent, a client
/// of the tenant's round robin.
const WORK_ORDERS_SQL: &str = "INSERT INTO work_orders (tenant_id, id, number, client_id, title, description, status, held_from,
    priority, due_date, scheduled_start, scheduled_end, assigned_to, attributes, created_at, updated_at)
SELECT $1::uuid,
       (lpad(to_hex((extract(epoch FROM g.t) * 1000)::bigint), 12, '0') || '7' || substr(g.h, 1, 3)
        || substr('89ab', 1 + (floor(g.r * 4))::int % 4, 1) || substr(g.h, 4, 15))::uuid,
       999 + g.i,
       c.ids[1 + (g.i % cardinality(c.ids))::int],
       'WO ' || (999 + g.i) || ': ' || (ARRAY['Boiler service', 'AC repair', 'Fire alarm check', 'Pump inspection', 'Electrical fault', 'Leak repair'])[1 + (g.i % 6)::int],
       CASE WHEN g.i % 3 = 0 THEN NULL ELSE 'Customer reported a problem; technician to inspect, fix and report back.' END,
       g.st,
       CASE WHEN g.st = 'on_hold' THEN 'open' END,
       CASE WHEN g.p < 0.2 THEN 'low' WHEN g.p < 0.7 THEN 'normal' WHEN g.p < 0.9 THEN 'high' ELSE 'urgent' END,
       CASE WHEN g.i % 2 = 0 THEN (g.t + interval '14 days')::date END,
       CASE WHEN g.st IN ('scheduled', 'in_progress', 'completed') THEN g.t + interval '2 days' END,
       CASE WHEN g.st IN ('scheduled', 'in_progress', 'completed') THEN g.t + interval '2 days 3 hours' END,
       NULL,
       '{}'::jsonb,
       g.t,
       least(now(), g.t + CASE WHEN g.st = 'open' THEN interval '0' ELSE interval '3 days' END)
FROM (SELECT s.i, s.t, md5(random()::text) AS h, random() AS r, random() AS p,
             CASE WHEN s.u < 0.30 THEN 'open' WHEN s.u < 0.45 THEN 'scheduled' WHEN s.u < 0.55 THEN 'in_progress'
                  WHEN s.u < 0.60 THEN 'on_hold' WHEN s.u < 0.95 THEN 'completed' ELSE 'cancelled' END AS st
      FROM (SELECT i, now() - interval '365 days' * (1 - i::float8 / $4::float8) AS t, random() AS u
            FROM generate_series($2::bigint, $3::bigint) AS i) s) g,
     (SELECT array_agg(id ORDER BY id) AS ids FROM clients WHERE tenant_id = $1::uuid) c";

/// Bulk-loads clients and work orders into the placement as the superuser
/// (which bypasses row-level security), then fixes the work order counters
/// and runs `VACUUM ANALYZE`.
pub async fn bulk_load(
    placement_url: &str,
    tenants: &[BenchTenant],
    clients_per_tenant: u64,
    concurrency: usize,
) -> anyhow::Result<()> {
    let concurrency = concurrency.max(1);
    let pool = PgPoolOptions::new()
        .max_connections(concurrency as u32)
        .after_connect(|conn, _| {
            Box::pin(async move {
                // Loading only: losing the last commits on a crash is fine.
                conn.execute("SET synchronous_commit = off").await?;
                Ok(())
            })
        })
        .connect(placement_url)
        .await
        .context("connecting to the placement database as superuser")?;
    let result = load_rows(&pool, tenants, clients_per_tenant, concurrency).await;
    pool.close().await;
    result
}

async fn load_rows(
    pool: &PgPool,
    tenants: &[BenchTenant],
    clients_per_tenant: u64,
    concurrency: usize,
) -> anyhow::Result<()> {
    let started = Instant::now();
    let ids: Vec<Uuid> = tenants.iter().map(|t| t.id).collect();
    sqlx::query(CLIENTS_SQL)
        .bind(&ids)
        .bind(i32::try_from(clients_per_tenant).context("--clients-per-tenant too large")?)
        .execute(pool)
        .await
        .context("inserting clients")?;
    println!(
        "  clients: {} ({:.1} s)",
        thousands(clients_per_tenant * tenants.len() as u64),
        started.elapsed().as_secs_f64()
    );

    // Jobs: (tenant, first, last, total); the largest tenant's chunks first
    // so the long pole starts early.
    let mut jobs = Vec::new();
    for t in tenants {
        let mut from = 1;
        while from <= t.work_orders {
            let to = (from + CHUNK - 1).min(t.work_orders);
            jobs.push((t.id, from, to, t.work_orders));
            from = to + 1;
        }
    }
    let total: u64 = tenants.iter().map(|t| t.work_orders).sum();
    let loaded = Arc::new(AtomicU64::new(0));
    let reported = Arc::new(AtomicU64::new(0));
    let step = (total / 20).max(1);
    let wo_started = Instant::now();
    futures::stream::iter(jobs)
        .map(|(tenant, from, to, n)| {
            let loaded = loaded.clone();
            let reported = reported.clone();
            async move {
                sqlx::query(WORK_ORDERS_SQL)
                    .bind(tenant)
                    .bind(from as i64)
                    .bind(to as i64)
                    .bind(n as f64)
                    .execute(pool)
                    .await
                    .with_context(|| format!("inserting work orders {from}..={to} of {tenant}"))?;
                let now = loaded.fetch_add(to - from + 1, Ordering::Relaxed) + (to - from + 1);
                let mark = now / step;
                if reported.fetch_max(mark, Ordering::Relaxed) < mark {
                    let secs = wo_started.elapsed().as_secs_f64();
                    println!(
                        "  work orders: {}/{} ({:.0}%, {:.0} s, {:.0} rows/s)",
                        thousands(now),
                        thousands(total),
                        now as f64 * 100.0 / total as f64,
                        secs,
                        now as f64 / secs.max(0.001)
                    );
                }
                Ok::<_, anyhow::Error>(())
            }
        })
        .buffer_unordered(concurrency)
        .try_collect::<()>()
        .await?;

    sqlx::query(
        "UPDATE tenant_state s SET next_wo_number = m.n + 1, updated_at = now()
         FROM (SELECT tenant_id, max(number) AS n FROM work_orders GROUP BY tenant_id) m
         WHERE s.tenant_id = m.tenant_id",
    )
    .execute(pool)
    .await
    .context("setting next_wo_number")?;
    let t = Instant::now();
    pool.execute("VACUUM ANALYZE")
        .await
        .context("VACUUM ANALYZE")?;
    println!("  VACUUM ANALYZE: {:.1} s", t.elapsed().as_secs_f64());

    let (count, tenants_with_wo): (i64, i64) =
        sqlx::query_as("SELECT count(*), count(DISTINCT tenant_id) FROM work_orders")
            .fetch_one(pool)
            .await?;
    if count as u64 != total {
        bail!("expected {total} work orders, found {count}");
    }
    let sizes: Vec<(String, i64)> = sqlx::query_as(
        "SELECT c.relname::text, pg_relation_size(c.oid) FROM pg_class c
         WHERE c.relname = 'work_orders' OR c.oid IN (SELECT indexrelid FROM pg_index WHERE indrelid = 'work_orders'::regclass)
         ORDER BY 1",
    )
    .fetch_all(pool)
    .await?;
    println!(
        "  loaded {} work orders of {} tenants in {:.1} s",
        thousands(count as u64),
        tenants_with_wo,
        started.elapsed().as_secs_f64()
    );
    for (name, bytes) in sizes {
        println!("    {name}: {:.1} MiB", bytes as f64 / (1024.0 * 1024.0));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spread_is_skewed_and_exact() {
        let s = Sizes {
            tenants: 1000,
            work_orders: 3_000_000,
            largest: 1_000_000,
            clients_per_tenant: 20,
        };
        let v = s.per_tenant();
        assert_eq!(v.len(), 1000);
        assert_eq!(v[0], 1_000_000);
        assert_eq!(v.iter().sum::<u64>(), 3_000_000);
        assert!(v[1..].iter().all(|n| (2002..=2003).contains(n)));
    }
}
