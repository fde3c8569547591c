//! The catalog's `backups` table: one row per backup, `running` while its
//! parts are written, `done` with its manifest (as JSON text) once the
//! manifest is in the backup store, or `failed` with why.

use serde::Serialize;
use sqlx::FromRow;
use uuid::Uuid;

use crate::catalog::Catalog;
use crate::error::StoreError;
use crate::on_pool;
use crate::ts::Ts;

#[derive(Debug, Clone, Serialize, FromRow)]
pub struct BackupRow {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub tenant_slug: String,
    pub plan: String,
    pub state: String,
    /// `operator`, `schedule`, or `before restore`.
    pub reason: String,
    pub size_bytes: Option<i64>,
    pub manifest: Option<String>,
    pub error: Option<String>,
    pub created_at: Ts,
    pub finished_at: Option<Ts>,
}

macro_rules! cols {
    () => {
        "id, tenant_id, tenant_slug, plan, state, reason, size_bytes, manifest, error, created_at, finished_at"
    };
}

/// The backups rows of a catalog.
#[derive(Clone, Copy)]
pub struct Backups<'a>(&'a Catalog);

impl<'a> Backups<'a> {
    pub fn new(catalog: &'a Catalog) -> Self {
        Backups(catalog)
    }

    /// Records a backup that starts now.
    pub async fn start(
        &self,
        id: Uuid,
        tenant_id: Uuid,
        slug: &str,
        plan: &str,
        reason: &str,
    ) -> Result<(), StoreError> {
        on_pool!(self.0.pool(), c => sqlx::query(
            "INSERT INTO backups (id, tenant_id, tenant_slug, plan, state, reason, created_at)
             VALUES ($1, $2, $3, $4, 'running', $5, $6)")
            .bind(id).bind(tenant_id).bind(slug).bind(plan).bind(reason).bind(Ts::now())
            .execute(c).await?.rows_affected());
        Ok(())
    }

    /// Records a backup whose manifest was written.
    pub async fn done(&self, id: Uuid, size_bytes: i64, manifest: &str) -> Result<(), StoreError> {
        on_pool!(self.0.pool(), c => sqlx::query(
            "UPDATE backups SET state = 'done', size_bytes = $2, manifest = $3, finished_at = $4
             WHERE id = $1")
            .bind(id).bind(size_bytes).bind(manifest).bind(Ts::now())
            .execute(c).await?.rows_affected());
        Ok(())
    }

    /// Records a backup that failed (or whose process stopped).
    pub async fn failed(&self, id: Uuid, error: &str) -> Result<(), StoreError> {
        on_pool!(self.0.pool(), c => sqlx::query(
            "UPDATE backups SET state = 'failed', error = $2, finished_at = $3
             WHERE id = $1 AND state = 'running'")
            .bind(id).bind(error).bind(Ts::now())
            .execute(c).await?.rows_affected());
        Ok(())
    }

    pub async fn get(&self, id: Uuid) -> Result<Option<BackupRow>, StoreError> {
        Ok(
            on_pool!(self.0.pool(), c => sqlx::query_as(concat!("SELECT ", cols!(), " FROM backups WHERE id = $1"))
            .bind(id).fetch_optional(c).await?),
        )
    }

    /// The newest `limit` backups, of one tenant or of all, newest first.
    pub async fn list(
        &self,
        tenant: Option<Uuid>,
        limit: i64,
    ) -> Result<Vec<BackupRow>, StoreError> {
        Ok(match tenant {
            Some(t) => on_pool!(self.0.pool(), c => sqlx::query_as(concat!("SELECT ", cols!(),
                " FROM backups WHERE tenant_id = $1 ORDER BY created_at DESC, id LIMIT $2"))
                .bind(t).bind(limit).fetch_all(c).await?),
            None => on_pool!(self.0.pool(), c => sqlx::query_as(concat!("SELECT ", cols!(),
                " FROM backups ORDER BY created_at DESC, id LIMIT $1"))
                .bind(limit).fetch_all(c).await?),
        })
    }

    /// Backups still `running`: a process that died left them so.
    pub async fn running(&self) -> Result<Vec<BackupRow>, StoreError> {
        Ok(
            on_pool!(self.0.pool(), c => sqlx::query_as(concat!("SELECT ", cols!(),
            " FROM backups WHERE state = 'running'")).fetch_all(c).await?),
        )
    }

    /// Per tenant and state, when its newest backup in that state started.
    pub async fn newest_by_state(&self) -> Result<Vec<(Uuid, String, Ts)>, StoreError> {
        Ok(on_pool!(self.0.pool(), c => sqlx::query_as(
            "SELECT tenant_id, state, max(created_at) FROM backups GROUP BY tenant_id, state")
            .fetch_all(c).await?))
    }

    /// Ended backups of `plan` that started before `before`.
    pub async fn older_than(&self, plan: &str, before: Ts) -> Result<Vec<BackupRow>, StoreError> {
        Ok(
            on_pool!(self.0.pool(), c => sqlx::query_as(concat!("SELECT ", cols!(),
            " FROM backups WHERE plan = $1 AND created_at < $2 AND state IN ('done', 'failed')"))
            .bind(plan).bind(before).fetch_all(c).await?),
        )
    }

    /// Per plan, when its tenants' newest finished backup started, the
    /// oldest of those (`fsa_backup_age_seconds`).
    pub async fn oldest_newest_by_plan(&self) -> Result<Vec<(String, Ts)>, StoreError> {
        Ok(on_pool!(self.0.pool(), c => sqlx::query_as(
            "SELECT plan, min(newest) FROM (SELECT plan, tenant_id, max(created_at) AS newest FROM backups
             WHERE state = 'done' GROUP BY plan, tenant_id) AS t GROUP BY plan")
            .fetch_all(c).await?))
    }

    /// Forgets a backup's row (its parts are deleted first).
    pub async fn delete(&self, id: Uuid) -> Result<(), StoreError> {
        on_pool!(self.0.pool(), c => sqlx::query("DELETE FROM backups WHERE id = $1")
            .bind(id).execute(c).await?.rows_affected());
        Ok(())
    }
}
