pub use crate::common::*;
use dial::startup::Application;
use dial_app::{error::AppError, server::config::Config, server::state::AppState};
use dial_fakes::livekit::sign_webhook;
use reqwest::{header, Response, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::{
    io::Write,
    path::PathBuf,
    sync::{Arc, Mutex, OnceLock},
};

pub const OWNER: &str = "olivia";
pub const OWNER_PASSWORD: &str = "owner password 1";

/// Every log line written by any app in this test binary.
pub fn captured_logs() -> String {
    let buf = log_buffer().lock().map(|b| b.clone()).unwrap_or_default();
    String::from_utf8_lossy(&buf).into_owned()
}

fn log_buffer() -> &'static Arc<Mutex<Vec<u8>>> {
    static BUF: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    BUF.get_or_init(|| Arc::new(Mutex::new(Vec::new())))
}

#[derive(Clone)]
struct BufWriter(Arc<Mutex<Vec<u8>>>);

impl Write for BufWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut b) = self.0.lock() {
            b.extend_from_slice(data);
        }
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn init_logs() {
    static INIT: OnceLock<()> = OnceLock::new();
    INIT.get_or_init(|| {
        let writer = BufWriter(log_buffer().clone());
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("debug"))
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .try_init();
    });
}

pub struct TestApp {
    pub address: String,
    pub state: AppState,
    pub client: reqwest::Client,
    pub config: Config,
    /// Bodies of every response this app sent to the test.
    pub bodies: Arc<Mutex<Vec<String>>>,
    _dir: Arc<tempfile::TempDir>,
}

pub struct Spawn {
    pub config: Config,
    pub dir: Arc<tempfile::TempDir>,
}

impl Spawn {
    pub async fn new() -> Spawn {
        init_logs();
        let dir = Arc::new(tempfile::tempdir().expect("temp dir"));
        let mut config = Config::for_data_dir(dir.path().to_path_buf());
        config.database_url = Some(fresh_database_url(dir.path()).await);
        config.site_root = PathBuf::from("target/site");
        Spawn { config, dir }
    }

    pub async fn start(self) -> TestApp {
        let app = Application::build(self.config.clone())
            .await
            .expect("build app");
        let address = format!("http://{}", app.address());
        let state = app.state().clone();
        tokio::spawn(app.run());
        TestApp {
            address,
            state,
            client: new_client(),
            config: self.config,
            bodies: Arc::new(Mutex::new(Vec::new())),
            _dir: self.dir,
        }
    }
}

pub async fn spawn_app() -> TestApp {
    Spawn::new().await.start().await
}

/// An app with the first admin created and signed in on `app.client`.
pub async fn spawn_with_admin() -> TestApp {
    let app = spawn_app().await;
    app.setup_admin().await;
    app
}

impl TestApp {
    /// First run: creates the admin and signs it in on `self.client`.
    pub async fn setup_admin(&self) {
        self.call::<()>(
            &self.client,
            "setup",
            &[
                ("username", ADMIN),
                ("password", ADMIN_PASSWORD),
                ("password_confirm", ADMIN_PASSWORD),
            ],
        )
        .await
        .expect("first-run setup");
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    /// Restarts the app on the same database and data directory (a new process would see the same).
    pub async fn restart(&self) -> TestApp {
        let spawn = Spawn {
            config: self.config.clone(),
            dir: self._dir.clone(),
        };
        spawn.start().await
    }

    async fn record(&self, response: Response) -> (StatusCode, reqwest::header::HeaderMap, String) {
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.text().await.unwrap_or_default();
        if let Ok(mut b) = self.bodies.lock() {
            b.push(body.clone());
        }
        (status, headers, body)
    }

    /// Calls a server function the way the hydrated page does (form body, JSON answer).
    pub async fn call<T: DeserializeOwned>(
        &self,
        client: &reqwest::Client,
        endpoint: &str,
        form: &[(&str, &str)],
    ) -> Result<T, AppError> {
        let response = client
            .post(self.url(&format!("/api/{endpoint}")))
            .header(header::ACCEPT, "application/json")
            .form(form)
            .send()
            .await
            .expect("request");
        let (status, _, body) = self.record(response).await;
        if status.is_success() {
            Ok(serde_json::from_str(&body)
                .unwrap_or_else(|e| panic!("decode {endpoint} answer {body:?}: {e}")))
        } else {
            Err(serde_json::from_str(&body)
                .unwrap_or_else(|e| panic!("decode {endpoint} error {status} {body:?}: {e}")))
        }
    }

    pub async fn get_page(
        &self,
        client: &reqwest::Client,
        path: &str,
    ) -> (StatusCode, Option<String>, String) {
        let response = client
            .get(self.url(path))
            .header(header::ACCEPT, "text/html")
            .send()
            .await
            .expect("request");
        let (status, headers, body) = self.record(response).await;
        let location = headers
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        (status, location, body)
    }

    pub async fn login(
        &self,
        client: &reqwest::Client,
        username: &str,
        password: &str,
    ) -> Result<(), AppError> {
        self.call::<()>(
            client,
            "login",
            &[("username", username), ("password", password)],
        )
        .await
    }

    /// Creates an owner (as the admin on `self.client`) and returns a client signed in as them.
    pub async fn owner_client(&self) -> (reqwest::Client, String) {
        let user: dial_app::model::UserRow = self
            .call(
                &self.client,
                "users/create",
                &[
                    ("username", OWNER),
                    ("password", OWNER_PASSWORD),
                    ("role", "owner"),
                ],
            )
            .await
            .expect("create owner");
        let client = new_client();
        self.login(&client, OWNER, OWNER_PASSWORD)
            .await
            .expect("owner login");
        (client, user.id)
    }

    pub fn all_bodies(&self) -> String {
        self.bodies.lock().map(|b| b.join("\n")).unwrap_or_default()
    }

    pub async fn audit_actions(&self) -> Vec<String> {
        sqlx::query_scalar("SELECT action FROM audit_log ORDER BY id")
            .fetch_all(&self.state.db.pool)
            .await
            .expect("audit rows")
    }
}

/// Posts LiveKit webhooks to an app in sandbox mode, signed with its sandbox LiveKit
/// credentials (or, to see one refused, with another secret).
pub struct Webhooks {
    pub url: String,
    pub key: String,
    pub secret: String,
    pub client: reqwest::Client,
}

impl Webhooks {
    pub fn for_app(app: &TestApp) -> Webhooks {
        let sandbox = app.state.sandbox().expect("sandbox");
        Webhooks {
            url: app.url("/webhooks/livekit"),
            key: sandbox.credentials.livekit_api_key.clone(),
            secret: sandbox.credentials.livekit_api_secret.clone(),
            client: reqwest::Client::new(),
        }
    }

    pub async fn post_signed_with(&self, secret: &str, body: &Value) -> reqwest::StatusCode {
        let bytes = serde_json::to_vec(body).unwrap();
        let token = sign_webhook(&self.key, secret, &bytes);
        self.client
            .post(&self.url)
            .header("content-type", "application/webhook+json")
            .header("authorization", token)
            .body(bytes)
            .send()
            .await
            .expect("post webhook")
            .status()
    }

    pub async fn post(&self, body: &Value) -> reqwest::StatusCode {
        self.post_signed_with(&self.secret.clone(), body).await
    }
}
