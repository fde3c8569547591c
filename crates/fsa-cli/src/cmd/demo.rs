//! `fsa demo seed`: a few tenants of each plan with clients, technicians,
//! work orders in every status and tasks, so a newcomer can look around.

use fsa_app::Onboarding;
use fsa_app::config::Config;
use fsa_core::{Plan, Priority, Region, Role, WorkOrderStatus};
use fsa_store::Mode;
use fsa_store::repo::clients::{self, ClientFields};
use fsa_store::repo::personnel::{self, PersonnelFields};
use fsa_store::repo::tasks::{self, TaskFields};
use fsa_store::repo::users::{self, NewUser};
use fsa_store::repo::work_orders::{self, StatusChange, WorkOrderFields};
use indicatif::{ProgressBar, ProgressStyle};

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Create the demo tenants (skips those that exist).
    Seed {
        /// Work orders per tenant.
        #[arg(long, default_value_t = 36)]
        work_orders: usize,
        #[arg(long)]
        json: bool,
    },
}

const PASSWORD: &str = "demo-password";

const TENANTS: &[(&str, &str, Plan, &str)] = &[
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

pub async fn run(config: Config, cmd: Command) -> anyhow::Result<()> {
    let Command::Seed {
        work_orders: per_tenant,
        json,
    } = cmd;
    let app = super::app(config).await?;
    let router = app.router();
    let bar = ProgressBar::new((TENANTS.len() * per_tenant) as u64);
    bar.set_style(
        ProgressStyle::with_template("{msg:24} [{bar:30}] {pos}/{len} work orders")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    if json {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let mut created = Vec::new();
    for (i, (slug, name, plan, region)) in TENANTS.iter().enumerate() {
        bar.set_message(*slug);
        if router.catalog().tenant_by_slug(slug).await?.is_some() {
            bar.inc(per_tenant as u64);
            continue;
        }
        let req = Onboarding {
            slug: (*slug).into(),
            name: (*name).into(),
            plan: *plan,
            region: Some(Region::parse(region)?),
            admin_email: format!("admin@{slug}.example"),
            admin_password: PASSWORD.into(),
            isolation_requested: false,
        };
        let t = app.create_tenant(req).await?;
        let tenant = fsa_core::TenantId::from_verified(t.id);
        let hash = fsa_app::password::hash(PASSWORD)?;
        let mut tx = router.begin(tenant, Mode::Write).await?;
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
            let mut tx = router.begin(tenant, Mode::Write).await?;
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
                app.add_file(
                    tenant,
                    *plan,
                    fsa_app::files::WholeFile {
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
            bar.inc(1);
        }
        created.push(serde_json::json!({ "slug": slug, "plan": plan, "placement": t.placement.name, "admin_email": format!("admin@{slug}.example") }));
    }
    bar.finish_and_clear();
    if json {
        super::print_json(&serde_json::json!({ "created": created, "password": PASSWORD }))?;
    } else {
        println!("demo tenants ready; every user's password is `{PASSWORD}`:");
        for (slug, _, plan, region) in TENANTS {
            println!(
                "  {slug:<20} {plan:<11} {region:<5} admin@{slug}.example, dispatch@…, tech1@…, viewer@…"
            );
        }
        println!(
            "log in: curl -s localhost:8080/api/v1/auth/login -H 'content-type: application/json' \\\n  -d '{{\"tenant\":\"acme-plumbing\",\"email\":\"admin@acme-plumbing.example\",\"password\":\"{PASSWORD}\"}}'"
        );
    }
    router.close().await;
    Ok(())
}
