//! A placement database as one end of a copy: the operations the move
//! protocol needs, on either engine. The protocol ([`crate::phase`]) never
//! asks which engine an end runs; where the engines truly differ (locks,
//! snapshots, binary `COPY`, checksums in SQL, index deferral) this module
//! says so in one place, and everything else is one SQL text run through
//! [`on_conn!`] for both.
//!
//! Endpoint connections run as the configured (owner) user, not the
//! application role: they see every tenant's rows of the database and take
//! the tenant's write lock exclusively.

use fsa_core::Residency;
use sqlx::pool::PoolConnection;
use sqlx::{Executor, Postgres, QueryBuilder, Sqlite};
use uuid::Uuid;

use crate::rows::{TableRow, tenant_table};
use fsa_store::db::Pool;
use fsa_store::error::StoreError;

/// A connection to one placement database.
pub enum Endpoint {
    Pg(PoolConnection<Postgres>),
    Sqlite(PoolConnection<Sqlite>),
}

/// Runs `$body` with `$c` bound to the connection of whichever engine the
/// endpoint holds; `$body` is compiled once per engine.
macro_rules! on_conn {
    ($end:expr, $c:ident => $body:expr) => {
        match $end {
            Endpoint::Pg($c) => $body,
            Endpoint::Sqlite($c) => $body,
        }
    };
}

/// The tenant's state row in a placement database.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct TenantState {
    #[sqlx(try_from = "String")]
    pub state: Residency,
    pub epoch: i64,
    pub next_wo_number: i64,
}

/// The largest number of bound values in one statement (SQLite's default
/// limit is 32,766; PostgreSQL's 65,535).
const MAX_BINDS: usize = 30_000;

fn table_name(table: &str) -> Result<&'static str, StoreError> {
    tenant_table(table).ok_or_else(|| StoreError::Config(format!("unknown tenant table {table}")))
}

impl Endpoint {
    pub async fn acquire(pool: &Pool) -> Result<Self, StoreError> {
        Ok(match pool {
            Pool::Pg(p) => Endpoint::Pg(p.acquire().await?),
            Pool::Sqlite(p) => Endpoint::Sqlite(p.acquire().await?),
        })
    }

    async fn exec(&mut self, sql: &'static str) -> Result<(), StoreError> {
        on_conn!(self, c => { c.execute(sql).await?; });
        Ok(())
    }

    /// Begins the transaction of a snapshot read (repeatable read on PostgreSQL).
    pub async fn begin_snapshot(&mut self) -> Result<(), StoreError> {
        match self {
            Endpoint::Pg(c) => {
                c.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                    .await?;
                c.execute("SELECT 1").await?;
            }
            Endpoint::Sqlite(c) => {
                c.execute("BEGIN").await?;
                c.execute("SELECT value FROM fsa_counter").await?;
            }
        }
        Ok(())
    }

    /// Begins a transaction holding the tenant's write lock exclusively:
    /// tenant writers wait (they do not fail) until it ends.
    pub async fn begin_exclusive(&mut self, tenant: Uuid) -> Result<(), StoreError> {
        match self {
            Endpoint::Pg(c) => {
                c.execute("BEGIN").await?;
                sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1::text, 7))")
                    .bind(tenant)
                    .execute(&mut **c)
                    .await?;
            }
            Endpoint::Sqlite(c) => {
                c.execute("BEGIN IMMEDIATE").await?;
            }
        }
        Ok(())
    }

    /// In the transaction begun, checks foreign keys at commit only.
    pub async fn defer_constraints(&mut self) -> Result<(), StoreError> {
        match self {
            Endpoint::Pg(_) => self.exec("SET CONSTRAINTS ALL DEFERRED").await,
            Endpoint::Sqlite(_) => self.exec("PRAGMA defer_foreign_keys = ON").await,
        }
    }

    /// Begins a write transaction whose foreign keys are checked at commit,
    /// so a delta's rows may arrive in any order.
    pub async fn begin_deferred(&mut self) -> Result<(), StoreError> {
        match self {
            Endpoint::Pg(_) => {
                self.exec("BEGIN").await?;
                self.exec("SET CONSTRAINTS ALL DEFERRED").await
            }
            Endpoint::Sqlite(_) => {
                self.exec("BEGIN IMMEDIATE").await?;
                self.exec("PRAGMA defer_foreign_keys = ON").await
            }
        }
    }

    pub async fn commit(&mut self) -> Result<(), StoreError> {
        self.exec("COMMIT").await
    }

    pub async fn rollback(&mut self) -> Result<(), StoreError> {
        self.exec("ROLLBACK").await
    }

    /// The database's row-version counter: every row written before now has
    /// a version at or below it.
    pub async fn counter(&mut self) -> Result<i64, StoreError> {
        Ok(match self {
            Endpoint::Pg(c) => {
                let (last, called): (i64, bool) =
                    sqlx::query_as("SELECT last_value, is_called FROM fsa_row_version")
                        .fetch_one(&mut **c)
                        .await?;
                if called { last } else { 0 }
            }
            Endpoint::Sqlite(c) => {
                sqlx::query_scalar("SELECT value FROM fsa_counter WHERE id = 1")
                    .fetch_one(&mut **c)
                    .await?
            }
        })
    }

    /// The tenant's rows of a table above a version, in version order.
    pub async fn page<R: TableRow>(
        &mut self,
        tenant: Uuid,
        above: i64,
        limit: i64,
    ) -> Result<Vec<R>, StoreError> {
        Ok(on_conn!(self, c => sqlx::query_as(R::SELECT_PAGE)
            .bind(tenant)
            .bind(above)
            .bind(limit)
            .fetch_all(&mut **c)
            .await?))
    }

    /// The tenant's rows of a table with the given ids (those that exist).
    pub async fn many<R: TableRow>(
        &mut self,
        tenant: Uuid,
        ids: &[Uuid],
    ) -> Result<Vec<R>, StoreError> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(1_000) {
            on_conn!(self, c => {
                let mut qb = QueryBuilder::new(R::SELECT_WHERE);
                qb.push("tenant_id = ").push_bind(tenant).push(" AND id IN (");
                let mut sep = qb.separated(", ");
                for id in chunk {
                    sep.push_bind(*id);
                }
                qb.push(")");
                out.extend(qb.build_query_as::<R>().fetch_all(&mut **c).await?);
            });
        }
        Ok(out)
    }

    /// Inserts or overwrites rows.
    pub async fn upsert<R: TableRow>(&mut self, rows: &[R]) -> Result<(), StoreError> {
        let per = (MAX_BINDS / R::COLUMNS).max(1);
        for chunk in rows.chunks(per) {
            on_conn!(self, c => {
                let mut qb = QueryBuilder::new(R::INSERT_HEAD);
                qb.push_values(chunk, |mut b, r| r.push(&mut b));
                qb.push(R::ON_CONFLICT);
                qb.build().execute(&mut **c).await?;
            });
        }
        Ok(())
    }

    /// Tombstones of the tenant above a version: (table, row id).
    pub async fn tombstones(
        &mut self,
        tenant: Uuid,
        above: i64,
    ) -> Result<Vec<(String, Uuid)>, StoreError> {
        const SQL: &str = "SELECT table_name, row_id FROM tombstones WHERE tenant_id = $1 AND row_version > $2 ORDER BY row_version";
        Ok(on_conn!(self, c => sqlx::query_as(SQL)
            .bind(tenant)
            .bind(above)
            .fetch_all(&mut **c)
            .await?))
    }

    /// Deletes one row of a tenant table.
    pub async fn delete_row(
        &mut self,
        table: &str,
        tenant: Uuid,
        id: Uuid,
    ) -> Result<(), StoreError> {
        // Only a tenant table's rows are deleted one by one (a tombstone
        // names one); `table` is then one of this crate's own names.
        let table = crate::rows::TABLES
            .iter()
            .find(|t| **t == table)
            .ok_or_else(|| StoreError::Config(format!("unknown tenant table {table}")))?;
        let sql = format!("DELETE FROM {table} WHERE tenant_id = $1 AND id = $2");
        on_conn!(self, c => {
            sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(tenant)
            .bind(id)
            .execute(&mut **c)
            .await?;
        });
        Ok(())
    }

    /// Deletes up to `batch` of the tenant's rows of `table` (a purge: no
    /// tombstones for rows nothing will copy again); returns how many.
    pub async fn delete_batch(
        &mut self,
        table: &str,
        tenant: Uuid,
        batch: i64,
    ) -> Result<u64, StoreError> {
        let table = table_name(table)?;
        let key = if table == "tombstones" {
            "row_version"
        } else {
            "id"
        };
        let sql = format!(
            "DELETE FROM {table} WHERE tenant_id = $1 AND {key} IN (SELECT {key} FROM {table} WHERE tenant_id = $1 LIMIT $2)"
        );
        Ok(on_conn!(self, c => {
            let mut tx = sqlx::Connection::begin(&mut **c).await?;
            if fsa_store::db::is_pg(&*tx) {
                tx.execute("SELECT set_config('fsa.purge', 'on', true)").await?;
            }
            let n = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(tenant)
                .bind(batch)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            tx.commit().await?;
            n
        }))
    }

    /// Deletes every row of the tenant, children first, then the tombstones
    /// that made and its state row, inside the transaction the caller began
    /// (and holds the tenant's write lock in): a purge, all or nothing with
    /// what the caller writes next.
    pub async fn clear_in_tx(&mut self, tenant: Uuid) -> Result<(), StoreError> {
        if let Endpoint::Pg(c) = self {
            c.execute("SELECT set_config('fsa.purge', 'on', true)")
                .await?;
        }
        for table in crate::rows::TABLES.iter().rev().chain(&["tombstones"]) {
            let sql = format!("DELETE FROM {} WHERE tenant_id = $1", table_name(table)?);
            on_conn!(self, c => {
                sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(tenant)
                    .execute(&mut **c)
                    .await?;
            });
        }
        if let Endpoint::Pg(c) = self {
            c.execute("SELECT set_config('fsa.purge', 'off', true)")
                .await?;
        }
        self.delete_state(tenant).await
    }

    /// How many rows of the tenant `table` holds.
    pub async fn count(&mut self, table: &str, tenant: Uuid) -> Result<i64, StoreError> {
        let table = table_name(table)?;
        let sql = format!("SELECT count(*) FROM {table} WHERE tenant_id = $1");
        Ok(
            on_conn!(self, c => sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .bind(tenant)
            .fetch_one(&mut **c)
            .await?),
        )
    }

    /// The tenant's file rows: each object's key, SHA-256 and size.
    pub async fn file_objects(
        &mut self,
        tenant: Uuid,
    ) -> Result<Vec<(String, String, i64)>, StoreError> {
        const SQL: &str =
            "SELECT storage_key, sha256, size_bytes FROM file_metadata WHERE tenant_id = $1";
        Ok(on_conn!(self, c => sqlx::query_as(SQL)
            .bind(tenant)
            .fetch_all(&mut **c)
            .await?))
    }

    /// The tenant's state row.
    pub async fn state(&mut self, tenant: Uuid) -> Result<Option<TenantState>, StoreError> {
        const SQL: &str =
            "SELECT state, epoch, next_wo_number FROM tenant_state WHERE tenant_id = $1";
        Ok(on_conn!(self, c => sqlx::query_as(SQL)
            .bind(tenant)
            .fetch_optional(&mut **c)
            .await?))
    }

    /// How many tenants other than `tenant` have a state row here (any
    /// state: active, moved out, moving in).
    pub async fn other_tenants(&mut self, tenant: Uuid) -> Result<i64, StoreError> {
        const SQL: &str = "SELECT count(*) FROM tenant_state WHERE tenant_id <> $1";
        Ok(on_conn!(self, c => sqlx::query_scalar(SQL)
            .bind(tenant)
            .fetch_one(&mut **c)
            .await?))
    }

    /// How many tenants have a state row here.
    pub async fn tenants_present(&mut self) -> Result<i64, StoreError> {
        self.other_tenants(Uuid::nil()).await
    }

    /// Writes the tenant's state row.
    pub async fn put_state(
        &mut self,
        tenant: Uuid,
        state: Residency,
        epoch: i64,
        next_wo_number: i64,
    ) -> Result<(), StoreError> {
        const SQL: &str = "INSERT INTO tenant_state (tenant_id, state, epoch, next_wo_number) VALUES ($1, $2, $3, $4)
                           ON CONFLICT (tenant_id) DO UPDATE SET state = excluded.state, epoch = excluded.epoch,
                           next_wo_number = excluded.next_wo_number";
        on_conn!(self, c => {
            sqlx::query(SQL)
            .bind(tenant)
            .bind(state.as_str())
            .bind(epoch)
            .bind(next_wo_number)
            .execute(&mut **c)
            .await?;
        });
        Ok(())
    }

    pub async fn delete_state(&mut self, tenant: Uuid) -> Result<(), StoreError> {
        on_conn!(self, c => {
            sqlx::query("DELETE FROM tenant_state WHERE tenant_id = $1")
            .bind(tenant)
            .execute(&mut **c)
            .await?;
        });
        Ok(())
    }

    /// The latest placement migration this binary holds for the engine.
    pub fn latest_schema(&self) -> i64 {
        let m = match self {
            Endpoint::Pg(_) => &*fsa_store::server::PG_PLACEMENT,
            Endpoint::Sqlite(_) => &fsa_store::server::SQLITE_PLACEMENT,
        };
        m.iter().map(|x| x.version).max().unwrap_or(0)
    }

    /// The number of schema migrations applied.
    pub async fn schema_version(&mut self) -> Result<i64, StoreError> {
        const SQL: &str = "SELECT coalesce(max(version), 0) FROM _sqlx_migrations WHERE success";
        Ok(on_conn!(self, c => sqlx::query_scalar(SQL).fetch_one(&mut **c).await?))
    }

    /// Streams all the tenant's rows of `R` from this end's snapshot to
    /// `dst` by the fastest path the two ends share, if they share one
    /// faster than pages of rows: binary `COPY` between two PostgreSQL
    /// databases. Returns (rows, bytes), or `None` without one.
    pub async fn bulk_copy<R: TableRow>(
        &mut self,
        dst: &mut Endpoint,
        tenant: Uuid,
    ) -> Result<Option<(u64, u64)>, StoreError> {
        match (self, dst) {
            (Endpoint::Pg(src), Endpoint::Pg(dst)) => {
                copy_binary::<R>(src, dst, tenant).await.map(Some)
            }
            _ => Ok(None),
        }
    }

    /// Count and checksum of the tenant's rows of `R` at both ends, computed
    /// by the databases themselves when both can (PostgreSQL: the sum of the
    /// first 64 bits of the md5 of each row's text, in UTC, equal on two
    /// databases holding equal rows). `None` when they cannot: the caller
    /// hashes the canonical rows itself.
    pub async fn sql_digests<R: TableRow>(
        &mut self,
        dst: &mut Endpoint,
        tenant: Uuid,
    ) -> Result<Option<[(u64, String); 2]>, StoreError> {
        match (self, dst) {
            (Endpoint::Pg(src), Endpoint::Pg(dst)) => Ok(Some([
                sql_digest::<R>(src, tenant).await?,
                sql_digest::<R>(dst, tenant).await?,
            ])),
            _ => Ok(None),
        }
    }
    /// Before a bulk load into a PostgreSQL database that holds no other
    /// tenant: drops the tenant tables' secondary (non-unique) indexes and
    /// keeps their definitions in `fsa_deferred_indexes`, in one transaction,
    /// so that `restore_indexes` builds them once after the load. Returns how
    /// many it dropped; on SQLite or a database with other tenants, none.
    pub async fn defer_indexes(&mut self, tenant: Uuid) -> Result<usize, StoreError> {
        let Endpoint::Pg(c) = self else { return Ok(0) };
        let mut tx = sqlx::Connection::begin(&mut **c).await?;
        let others: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM tenant_state WHERE tenant_id <> $1)")
                .bind(tenant)
                .fetch_one(&mut *tx)
                .await?;
        if others {
            return Ok(0);
        }
        let found: Vec<(String, String)> = sqlx::query_as(
            "SELECT i.relname::text, pg_get_indexdef(i.oid) \
             FROM pg_index x \
             JOIN pg_class i ON i.oid = x.indexrelid \
             JOIN pg_class t ON t.oid = x.indrelid \
             JOIN pg_namespace n ON n.oid = t.relnamespace \
             WHERE n.nspname = current_schema() AND t.relname = ANY($1) AND NOT x.indisunique",
        )
        .bind(&crate::rows::TABLES[..])
        .fetch_all(&mut *tx)
        .await?;
        for (name, definition) in &found {
            sqlx::query("INSERT INTO fsa_deferred_indexes (name, definition) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING")
                .bind(name)
                .bind(definition)
                .execute(&mut *tx)
                .await?;
            // The name comes from the catalog of this database, quoted.
            let drop = format!("DROP INDEX \"{}\"", name.replace('"', "\"\""));
            tx.execute(sqlx::AssertSqlSafe(drop)).await?;
        }
        tx.commit().await?;
        Ok(found.len())
    }

    /// Builds the indexes `defer_indexes` dropped (also after a crash between
    /// the two); returns how many it built.
    pub async fn restore_indexes(&mut self) -> Result<usize, StoreError> {
        let Endpoint::Pg(c) = self else { return Ok(0) };
        let pending: Vec<(String, String)> =
            sqlx::query_as("SELECT name, definition FROM fsa_deferred_indexes ORDER BY name")
                .fetch_all(&mut **c)
                .await?;
        for (name, definition) in &pending {
            let create = definition.replacen("CREATE INDEX ", "CREATE INDEX IF NOT EXISTS ", 1);
            c.execute(sqlx::AssertSqlSafe(create)).await?;
            sqlx::query("DELETE FROM fsa_deferred_indexes WHERE name = $1")
                .bind(name)
                .execute(&mut **c)
                .await?;
        }
        Ok(pending.len())
    }
}

/// Streams the tenant's rows of a table from a PostgreSQL connection
/// (inside its snapshot) to another with binary `COPY`; returns (rows, bytes).
async fn copy_binary<R: TableRow>(
    src: &mut sqlx::PgConnection,
    dst: &mut sqlx::PgConnection,
    tenant: Uuid,
) -> Result<(u64, u64), StoreError> {
    use futures::StreamExt;
    // The tenant id is a formatted UUID, not input text.
    let out_sql = format!(
        "COPY (SELECT {} FROM {} WHERE tenant_id = '{tenant}') TO STDOUT (FORMAT binary)",
        R::COLUMN_LIST,
        R::TABLE
    );
    let in_sql = format!(
        "COPY {} ({}) FROM STDIN (FORMAT binary)",
        R::TABLE,
        R::COLUMN_LIST
    );
    let mut sink = dst.copy_in_raw(&in_sql).await?;
    let mut stream = src.copy_out_raw(&out_sql).await?;
    let mut bytes = 0u64;
    let mut failed = None;
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(c) => {
                bytes += c.len() as u64;
                if let Err(e) = sink.send(c).await {
                    failed = Some(e);
                    break;
                }
            }
            Err(e) => {
                failed = Some(e);
                break;
            }
        }
    }
    drop(stream);
    if let Some(e) = failed {
        let _ = sink.abort("copy source failed").await;
        return Err(e.into());
    }
    let rows = sink.finish().await?;
    Ok((rows, bytes))
}

/// Count and checksum of the tenant's rows of a table computed by
/// PostgreSQL itself.
async fn sql_digest<R: TableRow>(
    c: &mut sqlx::PgConnection,
    tenant: Uuid,
) -> Result<(u64, String), StoreError> {
    c.execute("SET TIME ZONE 'UTC'").await?;
    let sql = format!(
        "SELECT count(*), coalesce(sum(('x' || substr(md5(t::text), 1, 16))::bit(64)::bigint), 0)::text \
             FROM (SELECT {} FROM {} WHERE tenant_id = $1) t",
        R::COLUMN_LIST,
        R::TABLE
    );
    let (n, sum): (i64, String) = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(tenant)
        .fetch_one(&mut *c)
        .await?;
    Ok((n as u64, sum))
}
