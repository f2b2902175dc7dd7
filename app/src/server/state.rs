//! The application state every handler and server function reaches through context.

use super::{config::Config, crypto::Keyring, db::Db, sandbox::Sandbox};
use leptos::prelude::LeptosOptions;
use std::sync::{
    atomic::{AtomicBool, Ordering},
    Arc, OnceLock,
};

/// The application state: a handle to what every request and background task shares.
/// Cloning it (axum does for each extractor and middleware layer of every request) is one
/// reference count; cloning the fields one by one copied the site options' and the
/// sandbox's strings, about 6 % of the CPU a webhook took (`perf`, `cargo bench --bench
/// webhooks`).
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// What [`AppState`] shares.
pub struct Shared {
    pub db: Db,
    pub keyring: Keyring,
    pub config: Config,
    pub http: reqwest::Client,
    pub leptos_options: LeptosOptions,
    /// Set once the first admin exists; it never goes back (users are disabled, not deleted).
    pub(crate) has_users: AtomicBool,
    /// The in-process fakes, in sandbox mode (set once, at start: [`AppState::set_sandbox`]).
    sandbox: OnceLock<Sandbox>,
    /// Every change to a call session, for the pages following calls live.
    pub call_changes: tokio::sync::broadcast::Sender<CallChange>,
    /// Run and campaign changes, and every change heard from other instances
    /// (`changes.rs`): the live stream listens here too.
    pub changes: tokio::sync::broadcast::Sender<super::changes::Change>,
    /// Handles that features start on first use (the LiveKit webhook writer's queue, …),
    /// one per type: the state holds them without knowing what they are.
    handles: std::sync::Mutex<http::Extensions>,
    /// Becomes true when the process starts shutting down: streams end, work stops taking
    /// new jobs.
    pub shutdown: tokio::sync::watch::Sender<bool>,
    /// The one-time code the first-run form asks for when Dial listens beyond loopback
    /// and has no users yet (printed in the log at start; set once, at start).
    setup_code: OnceLock<String>,
    /// The host of the effective public URL when it is https (kept by
    /// `twilio::settings::refresh_https`): requests that reach Dial by that name get
    /// `Secure` cookies and HSTS.
    pub https_host: std::sync::RwLock<Option<String>>,
    /// Requests being handled now (counted by the router), for the shutdown log.
    pub in_flight: std::sync::atomic::AtomicUsize,
    /// The time campaigns go by (windows, quiet hours, retries); tests move it.
    pub clock: Clock,
}

/// The wall clock, plus an offset tests can move forward (the calling window, quiet
/// hours and retry delays are hours long).
#[derive(Clone, Default)]
pub struct Clock {
    offset_ms: Arc<std::sync::atomic::AtomicI64>,
}

impl Clock {
    /// Now, in milliseconds since the epoch.
    pub fn now_ms(&self) -> i64 {
        super::now_ms() + self.offset_ms.load(Ordering::Relaxed)
    }

    /// Now, in seconds since the epoch.
    pub fn now(&self) -> i64 {
        self.now_ms().div_euclid(1000)
    }

    /// Moves the clock forward (tests).
    pub fn advance(&self, by: std::time::Duration) {
        self.offset_ms
            .fetch_add(by.as_millis() as i64, Ordering::Relaxed);
    }
}

/// "This call changed" (and whose it is, so each viewer hears only about calls it may see).
#[derive(Debug, Clone)]
pub struct CallChange {
    pub call_id: String,
    pub owner_id: Option<String>,
}

impl AppState {
    pub fn new(db: Db, keyring: Keyring, config: Config, leptos_options: LeptosOptions) -> Self {
        let https = config
            .public_url
            .as_deref()
            .and_then(super::config::https_host);
        let http = reqwest::Client::builder()
            .user_agent(concat!("dial/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_default();
        AppState(Arc::new(Shared {
            db,
            keyring,
            config,
            https_host: std::sync::RwLock::new(https),
            http,
            leptos_options,
            has_users: AtomicBool::new(false),
            sandbox: OnceLock::new(),
            call_changes: tokio::sync::broadcast::channel(1024).0,
            changes: tokio::sync::broadcast::channel(1024).0,
            handles: Default::default(),
            setup_code: OnceLock::new(),
            shutdown: tokio::sync::watch::channel(false).0,
            in_flight: Default::default(),
            clock: Clock::default(),
        }))
    }

    /// The in-process fakes, in sandbox mode.
    pub fn sandbox(&self) -> Option<&Sandbox> {
        self.sandbox.get()
    }

    /// Puts the sandbox's fakes in the state, once, at start (a second call changes
    /// nothing).
    pub fn set_sandbox(&self, sandbox: Sandbox) {
        let _ = self.sandbox.set(sandbox);
    }

    /// The first-run form's one-time code, if Dial asks for one.
    pub fn setup_code(&self) -> Option<&str> {
        self.setup_code.get().map(String::as_str)
    }

    /// Sets the first-run form's one-time code, once, at start.
    pub fn set_setup_code(&self, code: &str) {
        let _ = self.setup_code.set(code.to_string());
    }

    /// The handle of type `T`, made by `start` the first time it is asked for.
    pub fn handle<T: Clone + Send + Sync + 'static>(&self, start: impl FnOnce() -> T) -> T {
        let mut handles = self
            .handles
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match handles.get::<T>() {
            Some(handle) => handle.clone(),
            None => {
                let handle = start();
                handles.insert(handle.clone());
                handle
            }
        }
    }

    /// Resolves once shutdown has begun.
    pub async fn shutting_down(&self) {
        let mut watch = self.shutdown.subscribe();
        // An error means the sender is gone, which is a shutdown too.
        let _ = watch.wait_for(|down| *down).await;
    }

    /// Whether any user exists (cached once true).
    pub async fn has_users(&self) -> Result<bool, sqlx::Error> {
        if self.has_users.load(Ordering::Relaxed) {
            return Ok(true);
        }
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users")
            .fetch_one(&self.db.pool)
            .await?;
        if count > 0 {
            self.has_users.store(true, Ordering::Relaxed);
        }
        Ok(count > 0)
    }
}

impl axum::extract::FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}
