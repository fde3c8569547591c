//! `[backups]`: the backup store and, per plan, how often a tenant is
//! backed up and how long its backups are kept.

use std::time::Duration;

use fsa_core::Plan;
use serde::{Deserialize, Serialize};

/// `[backups]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BackupsConfig {
    /// `file:///path` or `s3://bucket[/prefix]`; default `backups/` under
    /// the data directory.
    pub url: Option<String>,
    /// An S3-compatible server, as for file stores.
    pub endpoint: Option<String>,
    pub region: Option<String>,
    /// S3 credentials; default `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_key_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret_access_key: Option<fsa_store::secret::Secret>,
    /// Encrypts every part (AES-256-GCM) when set: 64 hex digits, e.g.
    /// from `openssl rand -hex 32`. Without it backups are plain.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<BackupKey>,
    /// Schedules run by `fsa serve` (false: only backups asked for).
    pub schedule: bool,
    /// Scheduled backups started per minute at most, fleet-wide.
    pub max_started_per_minute: usize,
    /// Per plan: `every` and `keep` (`[backups.plans.premium] every = "4h"`).
    pub plans: BackupPlans,
}

impl Default for BackupsConfig {
    fn default() -> Self {
        BackupsConfig {
            url: None,
            endpoint: None,
            region: None,
            access_key_id: None,
            secret_access_key: None,
            key: None,
            schedule: true,
            max_started_per_minute: 20,
            plans: BackupPlans::default(),
        }
    }
}

/// The backup key's text (64 hex digits): a secret, never printed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct BackupKey(pub fsa_store::secret::Secret);

/// `[backups.plans.<plan>]`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupPlan {
    /// How often: a duration such as `4h` or `1d`.
    #[serde(with = "humantime_serde")]
    pub every: Duration,
    /// How long backups are kept: a duration such as `7d`.
    #[serde(with = "humantime_serde")]
    pub keep: Duration,
}

/// The seed's defaults: free and basic daily, premium every 4 hours,
/// enterprise daily; kept 7, 14, 30 and 90 days.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BackupPlans {
    pub free: BackupPlan,
    pub basic: BackupPlan,
    pub premium: BackupPlan,
    pub enterprise: BackupPlan,
}

impl Default for BackupPlans {
    fn default() -> Self {
        const HOUR: u64 = 3600;
        const DAY: u64 = 24 * HOUR;
        let plan = |every: u64, keep: u64| BackupPlan {
            every: Duration::from_secs(every),
            keep: Duration::from_secs(keep),
        };
        BackupPlans {
            free: plan(DAY, 7 * DAY),
            basic: plan(DAY, 14 * DAY),
            premium: plan(4 * HOUR, 30 * DAY),
            enterprise: plan(DAY, 90 * DAY),
        }
    }
}

impl BackupPlans {
    pub fn of(&self, plan: Plan) -> &BackupPlan {
        match plan {
            Plan::Free => &self.free,
            Plan::Basic => &self.basic,
            Plan::Premium => &self.premium,
            Plan::Enterprise => &self.enterprise,
        }
    }

    /// Every plan's (every, keep), checked.
    pub fn parsed(&self) -> Result<Vec<(Plan, Duration, Duration)>, String> {
        let mut out = Vec::new();
        for plan in [Plan::Free, Plan::Basic, Plan::Premium, Plan::Enterprise] {
            let BackupPlan { every, keep } = *self.of(plan);
            if every < Duration::from_secs(60) {
                return Err(format!("backups.plans.{plan}.every: at least 1m"));
            }
            out.push((plan, every, keep));
        }
        Ok(out)
    }
}
