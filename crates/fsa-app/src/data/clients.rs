//! Clients: everyone reads them; admins and dispatchers manage them.

use fsa_core::{Permission, Resource};
use fsa_store::Mode;
use fsa_store::page::Page;
use fsa_store::repo::clients::{self, Client, ClientFields, ClientFilter};
use uuid::Uuid;

use super::Data;
use crate::AppError;

impl Data<'_> {
    pub async fn clients(&self, filter: ClientFilter) -> Result<Page<Client>, AppError> {
        let mut tx = self.begin(Permission::ReadData, Mode::Read).await?;
        let page = clients::list(&mut tx, filter).await?;
        tx.commit().await?;
        Ok(page)
    }

    /// Creates a client within the plan's `clients`.
    pub async fn create_client(&self, f: ClientFields) -> Result<Client, AppError> {
        let mut tx = self.begin(Permission::ManageData, Mode::Write).await?;
        self.check_limit(&mut tx, Resource::Clients, 1).await?;
        let c = clients::create(&mut tx, f).await?;
        tx.commit().await?;
        Ok(c)
    }

    pub async fn client(&self, id: Uuid) -> Result<Client, AppError> {
        let mut tx = self.begin(Permission::ReadData, Mode::Read).await?;
        let c = clients::get(&mut tx, id).await?;
        tx.commit().await?;
        Ok(c)
    }

    pub async fn update_client(&self, id: Uuid, f: ClientFields) -> Result<Client, AppError> {
        let mut tx = self.begin(Permission::ManageData, Mode::Write).await?;
        let c = clients::update(&mut tx, id, f).await?;
        tx.commit().await?;
        Ok(c)
    }

    /// Deletes a client no work order refers to (`in_use` otherwise).
    pub async fn delete_client(&self, id: Uuid) -> Result<(), AppError> {
        let mut tx = self.begin(Permission::ManageData, Mode::Write).await?;
        clients::delete(&mut tx, id).await?;
        tx.commit().await?;
        Ok(())
    }
}
