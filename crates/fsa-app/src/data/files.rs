//! A work order's files. A technician reaches the files of work orders
//! assigned to them only.
//!
//! An upload has two steps around the bytes, which the face streams to the
//! plan's store itself: [`Data::begin_upload`] checks the work order and
//! names the object; [`Data::commit_upload`] writes the row under the
//! plan's `file_bytes`. A row that does not commit leaves the face to
//! delete its object.

use fsa_core::{Limits, Permission, Plan, Resource, new_id};
use fsa_store::page::Page;
use fsa_store::repo::files::{self, FileMeta, NewFile};
use fsa_store::{Mode, TenantTx};
use uuid::Uuid;

use super::Data;
use crate::AppError;
use crate::files::{Store, upload::Stored};

/// Where an upload goes: the work order, the file's id and its object's
/// key. Only [`Data::begin_upload`] makes one, after its checks, so a
/// face cannot name another tenant's object or skip the work order's.
#[derive(Debug, Clone)]
pub struct UploadTarget {
    work_order_id: Uuid,
    id: Uuid,
    key: String,
}

impl UploadTarget {
    pub(crate) fn new(tenant: fsa_core::TenantId, work_order_id: Uuid) -> Self {
        let id = new_id();
        UploadTarget {
            work_order_id,
            id,
            key: Store::key(tenant, id),
        }
    }

    /// The object's key in the store of the user's plan.
    pub fn key(&self) -> &str {
        &self.key
    }
}

/// What an upload stored, with the names it came with.
#[derive(Debug, Clone)]
pub struct NewUpload {
    pub file_type: String,
    pub file_name: String,
    pub content_type: String,
    pub stored: Stored,
}

impl Data<'_> {
    /// A work order's files, oldest first.
    pub async fn files(
        &self,
        work_order_id: Uuid,
        after: Option<Uuid>,
        limit: i64,
    ) -> Result<Page<FileMeta>, AppError> {
        let mut tx = self.begin(Permission::ReadData, Mode::Read).await?;
        self.check_assigned(&mut tx, work_order_id, "work order")
            .await?;
        let page = files::list(&mut tx, work_order_id, after, limit).await?;
        tx.commit().await?;
        Ok(page)
    }

    pub async fn file(&self, id: Uuid) -> Result<FileMeta, AppError> {
        let mut tx = self.begin(Permission::ReadData, Mode::Read).await?;
        let f = files::get(&mut tx, id).await?;
        self.check_assigned(&mut tx, f.work_order_id, "file")
            .await?;
        tx.commit().await?;
        Ok(f)
    }

    /// Deletes a file: its row, then its object.
    pub async fn delete_file(&self, id: Uuid) -> Result<(), AppError> {
        let mut tx = self.begin(Permission::ManageData, Mode::Write).await?;
        let f = files::delete(&mut tx, id).await?;
        tx.commit().await?;
        self.app
            .files()
            .remove(self.user.plan, [f.storage_key])
            .await;
        Ok(())
    }

    /// Checks that the user may add a file to the work order, before any
    /// byte is read, and names the file and its object.
    pub async fn begin_upload(&self, work_order_id: Uuid) -> Result<UploadTarget, AppError> {
        let mut tx = self.begin(Permission::UpdateAssigned, Mode::Read).await?;
        files::require_work_order(&mut tx, work_order_id).await?;
        self.check_assigned(&mut tx, work_order_id, "work order")
            .await?;
        tx.commit().await?;
        Ok(UploadTarget::new(self.user.tenant, work_order_id))
    }

    /// Writes the row of a stored upload under the plan's `file_bytes`.
    /// A technician's work order is checked again in this transaction: one
    /// taken from them while the bytes streamed gets no file.
    pub async fn commit_upload(
        &self,
        target: &UploadTarget,
        up: NewUpload,
    ) -> Result<FileMeta, AppError> {
        let mut tx = self.begin(Permission::UpdateAssigned, Mode::Write).await?;
        self.check_assigned(&mut tx, target.work_order_id, "work order")
            .await?;
        let meta = insert_file(&mut tx, self.app.limits(), self.user.plan, target, up).await?;
        tx.commit().await?;
        Ok(meta)
    }
}

/// The row of a stored file, refused past the plan's `file_bytes`: the one
/// commit of an upload and of the demo seed's whole files.
pub(crate) async fn insert_file(
    tx: &mut TenantTx,
    limits: &Limits,
    plan: Plan,
    target: &UploadTarget,
    up: NewUpload,
) -> Result<FileMeta, AppError> {
    crate::usage::check_adding(tx, limits, plan, Resource::FileBytes, up.stored.size).await?;
    Ok(files::create(
        tx,
        NewFile {
            id: target.id,
            work_order_id: target.work_order_id,
            file_type: up.file_type,
            file_name: up.file_name,
            content_type: up.content_type,
            size_bytes: i64::try_from(up.stored.size).unwrap_or(i64::MAX),
            sha256: up.stored.sha256,
            storage_key: target.key.clone(),
        },
    )
    .await?)
}
