//! User roles and their permissions.
//!
//! | role | may |
//! |---|---|
//! | viewer | read clients, personnel, work orders and tasks |
//! | technician | read clients and personnel; read and update the work orders assigned to them and their tasks |
//! | dispatcher | manage clients, personnel, work orders and tasks; read users |
//! | admin | everything a dispatcher may, manage users, reopen a completed work order |

use crate::named_enum;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    Admin,
    Dispatcher,
    Technician,
    Viewer,
}

named_enum!(Role, "role", {
    Admin => "admin",
    Dispatcher => "dispatcher",
    Technician => "technician",
    Viewer => "viewer",
});

/// What a request wants to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    /// Read clients, personnel, work orders and tasks (a technician's reads of
    /// work orders are narrowed to their own by [`Role::sees_only_assigned`]).
    ReadData,
    /// Create, change and delete clients, personnel, work orders and tasks.
    ManageData,
    /// Change the status and notes of a work order assigned to oneself, and its tasks.
    UpdateAssigned,
    /// List and read users.
    ReadUsers,
    /// Create, change and delete users.
    ManageUsers,
    /// Move a completed work order back to `open`.
    Reopen,
}

impl Role {
    pub fn can(self, p: Permission) -> bool {
        use Permission::*;
        match self {
            Role::Admin => true,
            Role::Dispatcher => matches!(p, ReadData | ManageData | UpdateAssigned | ReadUsers),
            Role::Technician => matches!(p, ReadData | UpdateAssigned),
            Role::Viewer => matches!(p, ReadData),
        }
    }

    /// A technician sees only the work orders assigned to them.
    pub fn sees_only_assigned(self) -> bool {
        self == Role::Technician
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matrix() {
        use Permission::*;
        assert!(Role::Viewer.can(ReadData));
        assert!(!Role::Viewer.can(UpdateAssigned));
        assert!(Role::Technician.can(UpdateAssigned));
        assert!(!Role::Technician.can(ManageData));
        assert!(Role::Dispatcher.can(ManageData));
        assert!(!Role::Dispatcher.can(ManageUsers));
        assert!(!Role::Dispatcher.can(Reopen));
        assert!(Role::Admin.can(ManageUsers));
        assert!(Role::Admin.can(Reopen));
    }
}
