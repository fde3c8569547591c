//! A tenant's own data, as its users reach it: every use case of the tenant
//! API (clients, personnel, work orders and their tasks and files, users,
//! usage) as a method of [`Data`], the handle [`crate::App::data`] gives for
//! one [`User`].
//!
//! A use case checks the user's permission, opens the transaction on the
//! route the user's authentication looked up, narrows what a technician
//! sees to the work assigned to them, checks the plan's limit on a create
//! and calls the repository. The faces (the HTTP routes, the demo seed)
//! parse their input into the repository's field types first and render
//! what comes back; none of them opens a tenant transaction of its own.
//!
//! The other actors are the operator, whose use cases ([`crate::tenants`],
//! [`crate::moves`], [`crate::backups`]) take no user, and the jobs
//! ([`crate::jobs`]), which run as the service.

mod clients;
mod files;
mod personnel;
mod tasks;
mod users;
mod work_orders;

pub(crate) use files::insert_file;
pub use files::{NewUpload, UploadTarget};
pub use work_orders::WorkOrderChange;

use fsa_core::{Permission, Plan, Resource, Role, TenantId};
use fsa_store::repo::personnel as personnel_repo;
use fsa_store::router::Route;
use fsa_store::{Mode, TenantTx};
use uuid::Uuid;

use crate::{App, AppError};

/// A tenant user as their verified token and the tenant's route name them:
/// who acts, in which tenant, with which role, under which plan.
#[derive(Debug, Clone)]
pub struct User {
    pub tenant: TenantId,
    pub user_id: Uuid,
    pub role: Role,
    /// The tenant's plan, from the route cache.
    pub plan: Plan,
    /// The tenant's route, looked up once for the request; the use case's
    /// transaction begins on it.
    pub route: Route,
}

impl User {
    /// Refuses what the user's role does not allow.
    pub fn require(&self, p: Permission) -> Result<(), AppError> {
        if self.role.can(p) {
            Ok(())
        } else {
            Err(AppError::Forbidden(format!(
                "the role {} may not do this",
                self.role
            )))
        }
    }
}

/// One user's use cases over their tenant's data.
pub struct Data<'a> {
    app: &'a App,
    user: &'a User,
}

impl App {
    /// The use cases of `user`'s tenant data, as `user`.
    pub fn data<'a>(&'a self, user: &'a User) -> Data<'a> {
        Data { app: self, user }
    }
}

impl Data<'_> {
    /// Opens a transaction on the user's route after checking `p`.
    async fn begin(&self, p: Permission, mode: Mode) -> Result<TenantTx, AppError> {
        self.user.require(p)?;
        Ok(self
            .app
            .router()
            .begin_with_route(self.user.tenant, self.user.route, mode)
            .await?)
    }

    /// For a technician, the personnel record their work is assigned to (a
    /// technician without one sees nothing); `None` for every other role.
    async fn assigned_scope(&self, tx: &mut TenantTx) -> Result<Option<Uuid>, AppError> {
        if !self.user.role.sees_only_assigned() {
            return Ok(None);
        }
        Ok(Some(
            personnel_repo::id_for_user(tx, self.user.user_id)
                .await?
                .unwrap_or(Uuid::nil()),
        ))
    }

    /// A technician reaches a work order (its tasks, its files) only when it
    /// is assigned to them; anything else is `entity` not found.
    async fn check_assigned(
        &self,
        tx: &mut TenantTx,
        work_order_id: Uuid,
        entity: &'static str,
    ) -> Result<(), AppError> {
        if let Some(me) = self.assigned_scope(tx).await?
            && !fsa_store::repo::work_orders::is_assigned_to(tx, work_order_id, me).await?
        {
            return Err(AppError::NotFound(entity));
        }
        Ok(())
    }

    /// Refuses adding `adding` of `r` past the plan's limit (in the write
    /// transaction that adds them).
    async fn check_limit(
        &self,
        tx: &mut TenantTx,
        r: Resource,
        adding: u64,
    ) -> Result<(), AppError> {
        crate::usage::check_adding(tx, self.app.limits(), self.user.plan, r, adding).await
    }

    /// The tenant's usage against its plan's limits.
    pub async fn usage(&self) -> Result<crate::Usage, AppError> {
        let mut tx = self.begin(Permission::ReadData, Mode::Read).await?;
        let u = crate::usage::usage_of(&mut tx, self.user.plan, self.app.limits()).await?;
        tx.commit().await?;
        Ok(u)
    }
}
