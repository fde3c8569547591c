//! The tenant's users: admins manage them; dispatchers may read them.
//!
//! Passwords arrive hashed: hashing is the face's to bound (the HTTP
//! server hashes a bounded number at once), and so is forgetting a changed
//! user's cached standing.

use fsa_core::{Permission, Resource, Role};
use fsa_store::Mode;
use fsa_store::page::Page;
use fsa_store::repo::users::{self, NewUser, User, UserPatch};
use uuid::Uuid;

use super::Data;
use crate::{App, AppError};

impl Data<'_> {
    pub async fn users(
        &self,
        role: Option<Role>,
        after: Option<Uuid>,
        limit: i64,
    ) -> Result<Page<User>, AppError> {
        let mut tx = self.begin(Permission::ReadUsers, Mode::Read).await?;
        let page = users::list(&mut tx, role, after, limit).await?;
        tx.commit().await?;
        Ok(page)
    }

    /// Creates a user within the plan's `users` (`email_taken` when the
    /// email is the tenant's already).
    pub async fn create_user(&self, new: NewUser) -> Result<User, AppError> {
        let mut tx = self.begin(Permission::ManageUsers, Mode::Write).await?;
        self.check_limit(&mut tx, Resource::Users, 1).await?;
        let u = users::create(&mut tx, new).await?;
        tx.commit().await?;
        Ok(u)
    }

    pub async fn tenant_user(&self, id: Uuid) -> Result<User, AppError> {
        let mut tx = self.begin(Permission::ReadUsers, Mode::Read).await?;
        let u = users::get(&mut tx, id).await?;
        tx.commit().await?;
        Ok(u)
    }

    /// Changes a user. The store refuses to take the tenant's last active
    /// admin away (`last_admin`), under a lock, so two admins demoting each
    /// other at once cannot both succeed. A new role, a deactivation or a
    /// new password bumps the user's token version.
    pub async fn update_user(&self, id: Uuid, patch: UserPatch) -> Result<User, AppError> {
        let mut tx = self.begin(Permission::ManageUsers, Mode::Write).await?;
        let u = users::update(&mut tx, id, patch).await?;
        tx.commit().await?;
        Ok(u)
    }

    /// Deletes a user other than the one acting (`self_delete`).
    pub async fn delete_user(&self, id: Uuid) -> Result<(), AppError> {
        if id == self.user.user_id {
            return Err(AppError::Conflict {
                code: "self_delete",
                detail: "a user cannot delete themselves".into(),
            });
        }
        let mut tx = self.begin(Permission::ManageUsers, Mode::Write).await?;
        users::delete(&mut tx, id).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The acting user and the personnel record their work is assigned to;
    /// `None` when the user is gone (their token names no one).
    pub async fn me(&self) -> Result<Option<(User, Option<Uuid>)>, AppError> {
        let mut tx = self.begin(Permission::ReadData, Mode::Read).await?;
        let user = match users::get(&mut tx, self.user.user_id).await {
            Ok(u) => u,
            Err(fsa_store::StoreError::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let personnel_id =
            fsa_store::repo::personnel::id_for_user(&mut tx, self.user.user_id).await?;
        tx.commit().await?;
        Ok(Some((user, personnel_id)))
    }
}

impl App {
    /// The account a login names: the tenant by its slug, when it is not
    /// being deleted, and its active user of that email. `None` when either
    /// is missing (the face answers as to a wrong password, at the same
    /// cost). A suspended tenant is returned: it may hear so only once the
    /// password is right.
    pub async fn login_account(
        &self,
        slug: &str,
        email: &str,
    ) -> Result<Option<(fsa_store::catalog::Tenant, User)>, AppError> {
        let tenant = self.router().catalog().tenant_by_slug(slug.trim()).await?;
        let Some(tenant) = tenant.filter(|t| t.state == fsa_core::Lifecycle::Active) else {
            return Ok(None);
        };
        let mut tx = self.router().begin(tenant.tenant_id(), Mode::Read).await?;
        let user = users::by_email(&mut tx, email.trim()).await?;
        tx.commit().await?;
        Ok(user.filter(|u| u.is_active).map(|u| (tenant, u)))
    }
}
