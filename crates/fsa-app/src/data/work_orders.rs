//! Work orders. A technician sees the orders assigned to them only, and may
//! change only their status and attributes.

use fsa_core::{Permission, Resource, WorkOrderStatus};
use fsa_store::Mode;
use fsa_store::page::Page;
use fsa_store::repo::work_orders::{
    self, StatusChange, WorkOrder, WorkOrderFields, WorkOrderFilter,
};
use uuid::Uuid;

use super::Data;
use crate::AppError;

/// What a change of a work order asks: fields, and a new status.
#[derive(Debug, Default)]
pub struct WorkOrderChange {
    pub fields: WorkOrderFields,
    pub status: Option<WorkOrderStatus>,
}

impl WorkOrderChange {
    /// Whether it changes nothing but the status and the attributes (what a
    /// technician may change).
    fn only_status_and_attributes(&self) -> bool {
        let f = &self.fields;
        f.client_id.is_none()
            && f.title.is_none()
            && f.description.is_none()
            && f.priority.is_none()
            && f.due_date.is_none()
            && f.scheduled_start.is_none()
            && f.scheduled_end.is_none()
            && f.assigned_to.is_none()
    }
}

impl Data<'_> {
    /// A page of work orders; a technician's filter is narrowed to their
    /// own (asking for someone else's finds none).
    pub async fn work_orders(
        &self,
        mut filter: WorkOrderFilter,
    ) -> Result<Page<WorkOrder>, AppError> {
        let mut tx = self.begin(Permission::ReadData, Mode::Read).await?;
        if let Some(me) = self.assigned_scope(&mut tx).await? {
            if filter.assigned_to.is_some_and(|a| a != me) {
                tx.commit().await?;
                return Ok(Page {
                    items: vec![],
                    next_cursor: None,
                });
            }
            filter.assigned_to = Some(me);
        }
        let page = work_orders::list(&mut tx, filter).await?;
        tx.commit().await?;
        Ok(page)
    }

    /// Creates a work order in status `open` with the tenant's next number,
    /// within the plan's `work_orders`.
    pub async fn create_work_order(&self, f: WorkOrderFields) -> Result<WorkOrder, AppError> {
        let mut tx = self.begin(Permission::ManageData, Mode::Write).await?;
        self.check_limit(&mut tx, Resource::WorkOrders, 1).await?;
        let w = work_orders::create(&mut tx, f).await?;
        tx.commit().await?;
        Ok(w)
    }

    pub async fn work_order(&self, id: Uuid) -> Result<WorkOrder, AppError> {
        let mut tx = self.begin(Permission::ReadData, Mode::Read).await?;
        let scope = self.assigned_scope(&mut tx).await?;
        let w = work_orders::get(&mut tx, id, scope).await?;
        tx.commit().await?;
        Ok(w)
    }

    /// Changes fields and/or the status (`invalid_transition` when the
    /// lifecycle forbids it; only roles that may reopen reopen).
    pub async fn update_work_order(
        &self,
        id: Uuid,
        change: WorkOrderChange,
    ) -> Result<WorkOrder, AppError> {
        let manages = self.user.role.can(Permission::ManageData);
        if !manages {
            self.user.require(Permission::UpdateAssigned)?;
            if !change.only_status_and_attributes() {
                return Err(AppError::Forbidden(
                    "a technician may change only status and attributes".into(),
                ));
            }
        }
        let status = change.status.map(|to| StatusChange {
            to,
            may_reopen: self.user.role.can(Permission::Reopen),
        });
        let mut tx = self.begin(Permission::UpdateAssigned, Mode::Write).await?;
        let scope = if manages {
            None
        } else {
            self.assigned_scope(&mut tx).await?
        };
        let w = work_orders::update(&mut tx, id, change.fields, status, scope).await?;
        tx.commit().await?;
        Ok(w)
    }

    /// Deletes a work order with its tasks and files; the files' objects
    /// leave the store once the rows are gone.
    pub async fn delete_work_order(&self, id: Uuid) -> Result<(), AppError> {
        let mut tx = self.begin(Permission::ManageData, Mode::Write).await?;
        let keys = work_orders::delete(&mut tx, id).await?;
        tx.commit().await?;
        self.app.files().remove(self.user.plan, keys).await;
        Ok(())
    }
}
