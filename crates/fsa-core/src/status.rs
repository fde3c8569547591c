//! The work order lifecycle:
//! `open → scheduled → in_progress → completed`; `on_hold` from `scheduled` or
//! `in_progress` and back to where it was; `cancelled` from anything but
//! `completed`; an admin may reopen a completed order (back to `open`).

use crate::named_enum;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WorkOrderStatus {
    Open,
    Scheduled,
    InProgress,
    OnHold,
    Completed,
    Cancelled,
}

named_enum!(WorkOrderStatus, "work order status", {
    Open => "open",
    Scheduled => "scheduled",
    InProgress => "in_progress",
    OnHold => "on_hold",
    Completed => "completed",
    Cancelled => "cancelled",
});

/// A status change the lifecycle does not allow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a work order cannot go from {from} to {to}")]
pub struct TransitionError {
    pub from: WorkOrderStatus,
    pub to: WorkOrderStatus,
    pub allowed: Vec<WorkOrderStatus>,
}

impl WorkOrderStatus {
    /// The statuses an order may go to from `self`. `held_from` is the status
    /// an `on_hold` order was put on hold from; `may_reopen` is whether the
    /// actor may reopen a completed order.
    pub fn allowed_next(self, held_from: Option<WorkOrderStatus>, may_reopen: bool) -> Vec<Self> {
        use WorkOrderStatus::*;
        match self {
            Open => vec![Scheduled, Cancelled],
            Scheduled => vec![InProgress, OnHold, Cancelled],
            InProgress => vec![Completed, OnHold, Cancelled],
            OnHold => {
                let back = match held_from {
                    Some(s @ (Scheduled | InProgress)) => s,
                    // An order is only put on hold from those two; an unknown
                    // origin goes back to the start of the active path.
                    _ => Scheduled,
                };
                vec![back, Cancelled]
            }
            Completed if may_reopen => vec![Open],
            Completed | Cancelled => vec![],
        }
    }

    /// Checks a transition; on success returns what `held_from` becomes.
    pub fn transition(
        self,
        to: WorkOrderStatus,
        held_from: Option<WorkOrderStatus>,
        may_reopen: bool,
    ) -> Result<Option<WorkOrderStatus>, TransitionError> {
        let allowed = self.allowed_next(held_from, may_reopen);
        if !allowed.contains(&to) {
            return Err(TransitionError {
                from: self,
                to,
                allowed,
            });
        }
        Ok((to == WorkOrderStatus::OnHold).then_some(self))
    }
}

/// A task's status; any change between them is allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TaskStatus {
    Todo,
    InProgress,
    Done,
}

named_enum!(TaskStatus, "task status", {
    Todo => "todo",
    InProgress => "in_progress",
    Done => "done",
});

/// A work order's priority.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Priority {
    Low,
    Normal,
    High,
    Urgent,
}

named_enum!(Priority, "priority", {
    Low => "low",
    Normal => "normal",
    High => "high",
    Urgent => "urgent",
});

#[cfg(test)]
mod tests {
    use super::WorkOrderStatus::*;

    #[test]
    fn happy_path() {
        assert!(Open.transition(Scheduled, None, false).is_ok());
        assert!(Scheduled.transition(InProgress, None, false).is_ok());
        assert!(InProgress.transition(Completed, None, false).is_ok());
    }

    #[test]
    fn hold_returns_where_it_was() {
        assert_eq!(
            InProgress.transition(OnHold, None, false),
            Ok(Some(InProgress))
        );
        assert!(
            OnHold
                .transition(InProgress, Some(InProgress), false)
                .is_ok()
        );
        let err = OnHold
            .transition(Scheduled, Some(InProgress), false)
            .unwrap_err();
        assert_eq!(err.allowed, vec![InProgress, Cancelled]);
    }

    #[test]
    fn cancel_from_anything_but_completed() {
        for s in [Open, Scheduled, InProgress, OnHold] {
            assert!(
                s.transition(Cancelled, Some(Scheduled), false).is_ok(),
                "{s}"
            );
        }
        assert!(Completed.transition(Cancelled, None, true).is_err());
    }

    #[test]
    fn only_admins_reopen() {
        assert!(Completed.transition(Open, None, false).is_err());
        assert!(Completed.transition(Open, None, true).is_ok());
        assert!(Cancelled.transition(Open, None, true).is_err());
    }

    #[test]
    fn skipping_is_refused() {
        let err = Open.transition(Completed, None, true).unwrap_err();
        assert_eq!(err.allowed, vec![Scheduled, Cancelled]);
    }
}
