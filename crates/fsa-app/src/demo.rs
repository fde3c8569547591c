//! The demo seed: a few tenants of each plan with clients, technicians,
//! work orders in every status, tasks and files, so a newcomer can look
//! around (`fsa demo seed`). It writes as the service does, in one
//! transaction per work order, without the plans' limits (the seed is the
//! operator's, not a tenant user's).

use fsa_core::{Plan, Priority, Region, Role, TenantId, WorkOrderStatus};
use fsa_store::Mode;
use fsa_store::repo::clients::{self, ClientFields};
use fsa_store::repo::personnel::{self, PersonnelFields};
use fsa_store::repo::tasks::{self, TaskFields};
use fsa_store::repo::users::{self, NewUser};
use fsa_store::repo::work_orders::{self, StatusChange, WorkOrderFields};

use crate::{App, AppError, Onboarding};

/// Every demo user's password.
pub const PASSWORD: &str = "demo-password";

pub const TENANTS: &[(&str, &str, Plan, &str)] = &[
    ("acme-plumbing", "Acme Plumbing", Plan::Free, "EU"),
    ("bright-electric", "Bright Electric", Plan::Basic, "US"),
    ("coolair-hvac", "CoolAir HVAC", Plan::Basic, "EU"),
    ("delta-facilities", "Delta Facilities", Plan::Premium, "EU"),
    (
        "evergreen-grounds",
        "Evergreen Grounds",
        Plan::Premium,
        "ASIA",
    ),
    (
        "fortress-security",
        "Fortress Security",
        Plan::Enterprise,
        "US",
    ),
];

const CLIENTS: &[&str] = &[
    "Harbor View Apartments",
    "Maple Street Dental",
    "Northside Bakery",
    "Riverside Clinic",
    "Summit Office Park",
    "Lakeside School",
    "Oak & Pine Hotel",
    "City Library",
];

/// The path through the lifecycle to each status.
fn path_to(s: WorkOrderStatus) -> &'static [WorkOrderStatus] {
    use WorkOrderStatus::*;
    match s {
        Open => &[],
        Scheduled => &[Scheduled],
        InProgress => &[Scheduled, InProgress],
        OnHold => &[Scheduled, InProgress, OnHold],
        Completed => &[Scheduled, InProgress, Completed],
        Cancelled => &[Cancelled],
    }
}

/// A demo tenant the seed created.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Seeded {
    pub slug: String,
    pub plan: Plan,
    pub placement: String,
    pub admin_email: String,
}

impl App {
    /// Creates the demo tenants that do not exist yet, with `per_tenant`
    /// work orders each; `progress(slug, work_orders)` is told of each step.
    pub async fn seed_demo(
        &self,
        per_tenant: usize,
        progress: &(dyn Fn(&str, u64) + Send + Sync),
    ) -> Result<Vec<Seeded>, AppError> {
        let mut created = Vec::new();
        for (i, (slug, name, plan, region)) in TENANTS.iter().enumerate() {
            progress(slug, 0);
            if self.router.catalog().tenant_by_slug(slug).await?.is_some() {
                progress(slug, per_tenant as u64);
                continue;
            }
            let req = Onboarding {
                slug: (*slug).into(),
                name: (*name).into(),
                plan: *plan,
                region: Some(
                    Region::parse(region)
                        .map_err(|e| AppError::validation("region", e.to_string()))?,
                ),
                admin_email: format!("admin@{slug}.example"),
                admin_password: PASSWORD.into(),
                isolation_requested: false,
            };
            let t = self.create_tenant(req).await?;
            let tenant = TenantId::from_verified(t.id);
            self.seed_demo_tenant(tenant, *plan, slug, i, per_tenant, progress)
                .await?;
            created.push(Seeded {
                slug: (*slug).into(),
                plan: *plan,
                placement: t.placement.name,
                admin_email: format!("admin@{slug}.example"),
            });
        }
        Ok(created)
    }

    async fn seed_demo_tenant(
        &self,
        tenant: TenantId,
        plan: Plan,
        slug: &str,
        i: usize,
        per_tenant: usize,
        progress: &(dyn Fn(&str, u64) + Send + Sync),
    ) -> Result<(), AppError> {
        let hash = crate::password::hash(PASSWORD)?;
        let mut tx = self.router.begin(tenant, Mode::Write).await?;
        users::create(
            &mut tx,
            NewUser {
                email: format!("dispatch@{slug}.example"),
                name: "Dana Dispatcher".into(),
                role: Role::Dispatcher,
                password_hash: hash.clone(),
            },
        )
        .await?;
        users::create(
            &mut tx,
            NewUser {
                email: format!("viewer@{slug}.example"),
                name: "Val Viewer".into(),
                role: Role::Viewer,
                password_hash: hash.clone(),
            },
        )
        .await?;
        let mut techs = Vec::new();
        for (n, tech) in ["Tom Tech", "Tia Tech", "Theo Tech"].iter().enumerate() {
            let u = users::create(
                &mut tx,
                NewUser {
                    email: format!("tech{}@{slug}.example", n + 1),
                    name: (*tech).into(),
                    role: Role::Technician,
                    password_hash: hash.clone(),
                },
            )
            .await?;
            let p = personnel::create(
                &mut tx,
                PersonnelFields {
                    name: Some((*tech).into()),
                    skills: Some(vec!["plumbing".into(), "electrical".into()]),
                    user_id: Some(Some(u.id)),
                    ..Default::default()
                },
            )
            .await?;
            techs.push(p.id);
        }
        let mut client_ids = Vec::new();
        for c in CLIENTS.iter().skip(i % 3).take(5) {
            let c = clients::create(
                &mut tx,
                ClientFields {
                    name: Some((*c).into()),
                    address: Some(Some("1 Main Street".into())),
                    ..Default::default()
                },
            )
            .await?;
            client_ids.push(c.id);
        }
        tx.commit().await?;
        for n in 0..per_tenant {
            let mut tx = self.router.begin(tenant, Mode::Write).await?;
            let status = WorkOrderStatus::ALL[n % WorkOrderStatus::ALL.len()];
            let w = work_orders::create(
                &mut tx,
                WorkOrderFields {
                    client_id: Some(client_ids[n % client_ids.len()]),
                    title: Some(format!(
                        "{} visit #{}",
                        [
                            "Boiler service",
                            "Leak repair",
                            "Panel inspection",
                            "Filter change"
                        ][n % 4],
                        n + 1
                    )),
                    description: Some(Some("Demo work order".into())),
                    priority: Some(Priority::ALL[n % Priority::ALL.len()]),
                    due_date: Some(
                        chrono::Utc::now()
                            .date_naive()
                            .checked_add_days(chrono::Days::new((n % 30) as u64)),
                    ),
                    assigned_to: Some(Some(techs[n % techs.len()])),
                    attributes: Some(
                        serde_json::json!({ "site_access": "front desk", "visit": n + 1 }),
                    ),
                    ..Default::default()
                },
            )
            .await?;
            for step in path_to(status) {
                work_orders::update(
                    &mut tx,
                    w.id,
                    WorkOrderFields::default(),
                    Some(StatusChange {
                        to: *step,
                        may_reopen: false,
                    }),
                    None,
                )
                .await?;
            }
            for (k, title) in ["Arrive on site", "Diagnose", "Fix and test"]
                .iter()
                .enumerate()
            {
                tasks::create(
                    &mut tx,
                    w.id,
                    TaskFields {
                        title: Some((*title).into()),
                        position: Some(k as i32 + 1),
                        ..Default::default()
                    },
                )
                .await?;
            }
            tx.commit().await?;
            // A few small files: a photo's stand-in and a signed report.
            if n < 3 {
                self.add_file(
                    tenant,
                    plan,
                    crate::files::WholeFile {
                        work_order_id: w.id,
                        file_name: format!("report-{}.txt", n + 1),
                        content_type: "text/plain; charset=utf-8".into(),
                        file_type: "report".into(),
                        bytes: bytes::Bytes::from(format!(
                            "Service report for work order #{}\nSigned: Tom Tech\n",
                            n + 1
                        )),
                    },
                )
                .await?;
            }
            progress(slug, 1);
        }
        Ok(())
    }
}
