//! The service on port 0, with an HTTP client.

use fsa_server::config::Config;
use fsa_server::state::AppState;
use reqwest::Method;
pub use serde_json::Value as Json;
use serde_json::json;

use crate::TestDb;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub struct TestApp {
    pub base: String,
    pub admin_token: String,
    pub client: reqwest::Client,
    pub state: AppState,
    pub backend: Backend,
    /// The PostgreSQL catalog database, when on PostgreSQL.
    pub db: Option<TestDb>,
    pub dir: tempfile::TempDir,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl TestApp {
    /// The service on a fresh catalog of the given backend.
    pub async fn start(backend: Backend) -> anyhow::Result<Self> {
        Self::start_with(backend, |_| {}).await
    }

    /// As [`TestApp::start`], letting the test adjust the configuration.
    pub async fn start_with(
        backend: Backend,
        adjust: impl FnOnce(&mut Config),
    ) -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new().prefix("fsa-test-").tempdir()?;
        let db = (backend == Backend::Postgres).then(TestDb::new);
        let mut config = Config {
            listen: "127.0.0.1:0".parse()?,
            data_dir: dir.path().to_path_buf(),
            database_url: db.as_ref().map(|d| d.url().into()),
            admin_token: Some(format!("admin-{}", uuid::Uuid::new_v4().simple()).into()),
            jwt_secret: Some(format!("jwt-{}", uuid::Uuid::new_v4().simple()).into()),
            ..Config::default()
        };
        // Tests drive requests faster than a plan allows; the tests of the
        // limits themselves set them back.
        for p in [
            &mut config.limits.free,
            &mut config.limits.basic,
            &mut config.limits.premium,
            &mut config.limits.enterprise,
        ] {
            p.requests_per_second = None;
            p.concurrent_requests = None;
            p.work_ms_per_second = None;
        }
        // Every test logs in from 127.0.0.1, many times; the tests of login
        // limits set them back.
        config.login.account_attempts = 0;
        config.login.address_attempts = 0;
        // Backups run when a test asks (the schedule's tests give it the
        // time), never at a random moment of another test.
        config.backups.schedule = false;
        adjust(&mut config);
        let admin_token = config.expose_admin_token().to_owned();
        let (state, _) = fsa_server::build_state(config).await?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let base = format!("http://{}", listener.local_addr()?);
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let serving = state.clone();
        let task = tokio::spawn(async move {
            let _ = fsa_server::serve(listener, serving, async {
                let _ = rx.await;
            })
            .await;
        });
        Ok(TestApp {
            base,
            admin_token,
            client: reqwest::Client::new(),
            state,
            backend,
            db,
            dir,
            shutdown: Some(tx),
            task: Some(task),
        })
    }

    /// Stops the server and closes its pools.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
        self.state.router.close().await;
        self.state.router.catalog().pool().close().await;
    }

    /// The `fsa` binary `bin` set up as this service's operator would run
    /// it: its data directory, catalog, tokens; warnings only in its log.
    pub fn cli(&self, bin: &str) -> std::process::Command {
        let mut c = std::process::Command::new(bin);
        c.env("FSA_DATA_DIR", self.dir.path())
            .env("FSA_ADMIN_TOKEN", self.state.config.expose_admin_token())
            .env("FSA_JWT_SECRET", self.state.config.expose_jwt_secret())
            .env("FSA_LOG", "warn");
        match &self.db {
            Some(db) => c.env("FSA_DATABASE_URL", db.url()),
            None => c.env_remove("FSA_DATABASE_URL"),
        };
        c
    }

    /// Sends a request; returns the status and the JSON body (`Null` when empty).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Json>,
    ) -> (u16, Json) {
        let mut req = self
            .client
            .request(method, format!("{}{}", self.base, path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.expect("request failed to send");
        let status = res.status().as_u16();
        let bytes = res.bytes().await.unwrap_or_default();
        let json = if bytes.is_empty() {
            Json::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Json::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        (status, json)
    }

    pub async fn get(&self, path: &str, token: &str) -> (u16, Json) {
        self.call(Method::GET, path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Json) -> (u16, Json) {
        self.call(Method::POST, path, Some(token), Some(body)).await
    }

    pub async fn patch(&self, path: &str, token: &str, body: Json) -> (u16, Json) {
        self.call(Method::PATCH, path, Some(token), Some(body))
            .await
    }

    pub async fn delete(&self, path: &str, token: &str) -> (u16, Json) {
        self.call(Method::DELETE, path, Some(token), None).await
    }

    /// `/metrics` as text.
    pub async fn metrics_text(&self) -> String {
        let res = self
            .client
            .get(format!("{}/metrics", self.base))
            .send()
            .await
            .expect("/metrics answers");
        assert_eq!(res.status().as_u16(), 200);
        res.text().await.expect("/metrics has a body")
    }

    /// Onboards a tenant through `POST /admin/tenants`; its admin is
    /// `admin@<slug>.test` with password `password-<slug>`.
    pub async fn create_tenant(&self, slug: &str, plan: &str, region: &str) -> Json {
        let (status, body) = self
            .post(
                "/admin/tenants",
                &self.admin_token,
                json!({
                    "slug": slug, "name": format!("Tenant {slug}"), "plan": plan, "region": region,
                    "admin_email": format!("admin@{slug}.test"), "admin_password": format!("password-{slug}"),
                }),
            )
            .await;
        assert_eq!(status, 201, "create tenant {slug}: {body}");
        body
    }

    /// Logs in as the tenant's admin made by [`TestApp::create_tenant`].
    pub async fn login_admin(&self, slug: &str) -> String {
        self.login(
            slug,
            &format!("admin@{slug}.test"),
            &format!("password-{slug}"),
        )
        .await
    }

    pub async fn login(&self, slug: &str, email: &str, password: &str) -> String {
        let (status, body) = self
            .call(
                Method::POST,
                "/api/v1/auth/login",
                None,
                Some(json!({"tenant": slug, "email": email, "password": password})),
            )
            .await;
        assert_eq!(status, 200, "login {email}@{slug}: {body}");
        body["token"].as_str().expect("token").to_owned()
    }
}
