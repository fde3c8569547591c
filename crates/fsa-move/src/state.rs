//! The states of a move, as the catalog's `moves.state` column holds them.
//!
//! ```text
//! planned → provisioning → copying → catching_up → verifying → fenced → switched → cleaning → done
//!                  (any state before switched) → failed → rolled_back
//! ```

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Where a move is. Saved after every step, so a crash resumes it (or rolls
/// it back) from the last saved state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MoveState {
    /// Recorded, not started.
    Planned,
    /// The target is chosen (and created when new) and checked.
    Provisioning,
    /// The bulk copy from a snapshot of the source.
    Copying,
    /// Copy passes over what changed since the last snapshot.
    CatchingUp,
    /// Counts and checksums of both sides, then checked deltas.
    Verifying,
    /// The write pause: the last delta, the source marked `moved_out`.
    Fenced,
    /// The catalog points the tenant at the target.
    Switched,
    /// The source loses the tenant's rows after the grace period.
    Cleaning,
    Done,
    /// Failed before the switch; being rolled back.
    Failed,
    RolledBack,
}

impl MoveState {
    pub const ALL: [MoveState; 11] = [
        MoveState::Planned,
        MoveState::Provisioning,
        MoveState::Copying,
        MoveState::CatchingUp,
        MoveState::Verifying,
        MoveState::Fenced,
        MoveState::Switched,
        MoveState::Cleaning,
        MoveState::Done,
        MoveState::Failed,
        MoveState::RolledBack,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            MoveState::Planned => "planned",
            MoveState::Provisioning => "provisioning",
            MoveState::Copying => "copying",
            MoveState::CatchingUp => "catching_up",
            MoveState::Verifying => "verifying",
            MoveState::Fenced => "fenced",
            MoveState::Switched => "switched",
            MoveState::Cleaning => "cleaning",
            MoveState::Done => "done",
            MoveState::Failed => "failed",
            MoveState::RolledBack => "rolled_back",
        }
    }

    /// The move has ended (either way) and holds no lease.
    pub fn is_finished(self) -> bool {
        matches!(self, MoveState::Done | MoveState::RolledBack)
    }

    /// Before the switch: a failure here rolls the move back, and the
    /// source still serves the tenant.
    pub fn before_switch(self) -> bool {
        matches!(
            self,
            MoveState::Planned
                | MoveState::Provisioning
                | MoveState::Copying
                | MoveState::CatchingUp
                | MoveState::Verifying
                | MoveState::Fenced
                | MoveState::Failed
        )
    }
}

impl fmt::Display for MoveState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for MoveState {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        MoveState::ALL
            .into_iter()
            .find(|m| m.as_str() == s)
            .ok_or_else(|| format!("unknown move state `{s}`"))
    }
}

impl TryFrom<String> for MoveState {
    type Error = String;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl PartialEq<&str> for MoveState {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_match_serde() {
        for s in MoveState::ALL {
            assert_eq!(s.as_str().parse::<MoveState>().unwrap(), s);
            assert_eq!(
                serde_json::to_value(s).unwrap(),
                serde_json::Value::String(s.as_str().into())
            );
        }
        assert!("copied".parse::<MoveState>().is_err());
    }

    #[test]
    fn only_done_and_rolled_back_are_finished() {
        let finished: Vec<_> = MoveState::ALL
            .into_iter()
            .filter(|s| s.is_finished())
            .collect();
        assert_eq!(finished, [MoveState::Done, MoveState::RolledBack]);
        assert!(!MoveState::Switched.before_switch());
        assert!(MoveState::Fenced.before_switch());
    }
}
