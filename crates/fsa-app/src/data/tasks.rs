//! A work order's tasks. A technician reaches the tasks of work orders
//! assigned to them only, and may change only a task's status.

use fsa_core::Permission;
use fsa_store::Mode;
use fsa_store::repo::tasks::{self, Task, TaskFields};
use uuid::Uuid;

use super::Data;
use crate::AppError;

impl Data<'_> {
    pub async fn tasks(&self, work_order_id: Uuid) -> Result<Vec<Task>, AppError> {
        let mut tx = self.begin(Permission::ReadData, Mode::Read).await?;
        self.check_assigned(&mut tx, work_order_id, "work order")
            .await?;
        let items = tasks::list(&mut tx, work_order_id).await?;
        tx.commit().await?;
        Ok(items)
    }

    pub async fn create_task(&self, work_order_id: Uuid, f: TaskFields) -> Result<Task, AppError> {
        let mut tx = self.begin(Permission::ManageData, Mode::Write).await?;
        let t = tasks::create(&mut tx, work_order_id, f).await?;
        tx.commit().await?;
        Ok(t)
    }

    pub async fn task(&self, work_order_id: Uuid, id: Uuid) -> Result<Task, AppError> {
        let mut tx = self.begin(Permission::ReadData, Mode::Read).await?;
        self.check_assigned(&mut tx, work_order_id, "work order")
            .await?;
        let t = tasks::get(&mut tx, work_order_id, id).await?;
        tx.commit().await?;
        Ok(t)
    }

    pub async fn update_task(
        &self,
        work_order_id: Uuid,
        id: Uuid,
        f: TaskFields,
    ) -> Result<Task, AppError> {
        let manages = self.user.role.can(Permission::ManageData);
        if !manages && (f.title.is_some() || f.assignee_id.is_some() || f.position.is_some()) {
            self.user.require(Permission::UpdateAssigned)?;
            return Err(AppError::Forbidden(
                "a technician may change only a task's status".into(),
            ));
        }
        let mut tx = self.begin(Permission::UpdateAssigned, Mode::Write).await?;
        if !manages {
            self.check_assigned(&mut tx, work_order_id, "work order")
                .await?;
        }
        let t = tasks::update(&mut tx, work_order_id, id, f).await?;
        tx.commit().await?;
        Ok(t)
    }

    pub async fn delete_task(&self, work_order_id: Uuid, id: Uuid) -> Result<(), AppError> {
        let mut tx = self.begin(Permission::ManageData, Mode::Write).await?;
        tasks::delete(&mut tx, work_order_id, id).await?;
        tx.commit().await?;
        Ok(())
    }
}
