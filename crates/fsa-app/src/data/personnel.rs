//! Personnel: everyone reads them; admins and dispatchers manage them.

use fsa_core::{Permission, Resource};
use fsa_store::Mode;
use fsa_store::page::Page;
use fsa_store::repo::personnel::{self, Personnel, PersonnelFields};
use uuid::Uuid;

use super::Data;
use crate::AppError;

impl Data<'_> {
    pub async fn personnel(
        &self,
        is_active: Option<bool>,
        after: Option<Uuid>,
        limit: i64,
    ) -> Result<Page<Personnel>, AppError> {
        let mut tx = self.begin(Permission::ReadData, Mode::Read).await?;
        let page = personnel::list(&mut tx, is_active, after, limit).await?;
        tx.commit().await?;
        Ok(page)
    }

    /// Creates a personnel record within the plan's `personnel`.
    pub async fn create_personnel(&self, f: PersonnelFields) -> Result<Personnel, AppError> {
        let mut tx = self.begin(Permission::ManageData, Mode::Write).await?;
        self.check_limit(&mut tx, Resource::Personnel, 1).await?;
        let p = personnel::create(&mut tx, f).await?;
        tx.commit().await?;
        Ok(p)
    }

    pub async fn person(&self, id: Uuid) -> Result<Personnel, AppError> {
        let mut tx = self.begin(Permission::ReadData, Mode::Read).await?;
        let p = personnel::get(&mut tx, id).await?;
        tx.commit().await?;
        Ok(p)
    }

    pub async fn update_personnel(
        &self,
        id: Uuid,
        f: PersonnelFields,
    ) -> Result<Personnel, AppError> {
        let mut tx = self.begin(Permission::ManageData, Mode::Write).await?;
        let p = personnel::update(&mut tx, id, f).await?;
        tx.commit().await?;
        Ok(p)
    }

    /// Deletes a record no work order or task is assigned to (`in_use`
    /// otherwise).
    pub async fn delete_personnel(&self, id: Uuid) -> Result<(), AppError> {
        let mut tx = self.begin(Permission::ManageData, Mode::Write).await?;
        personnel::delete(&mut tx, id).await?;
        tx.commit().await?;
        Ok(())
    }
}
