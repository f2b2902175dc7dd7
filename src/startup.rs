//! Building the application: open and migrate the store, load and check the encryption
//! key, bind the listener (port 0 in tests), and assemble the router.

use crate::router;
use anyhow::Context;
use dial_app::server::{
    auth::sessions::DbSessionStore,
    config::{Config, LiveKitEnv, TwilioEnv},
    db::Db,
    keys,
    sandbox::{Sandbox, SandboxCredentials, SANDBOX_SIP_URI},
    state::AppState,
    twilio,
};
use leptos::prelude::LeptosOptions;
use std::{net::SocketAddr, time::Duration};
use tokio::net::TcpListener;
use tower_sessions::ExpiredDeletion;

pub struct Application {
    listener: TcpListener,
    state: AppState,
    router: axum::Router,
}

impl Application {
    pub async fn build(mut config: Config) -> anyhow::Result<Self> {
        dial_app::server::files::create_private_dir(&config.data_dir).with_context(|| {
            format!(
                "could not create the data directory {}",
                config.data_dir.display()
            )
        })?;
        let db = Db::connect(&config.effective_database_url()).await?;
        db.migrate().await?;
        let (keyring, _source) = keys::load_keyring(&config)?;
        keys::check_key(&db, &keyring).await?;

        let listener = TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("could not listen on {}", config.listen))?;
        let address = listener.local_addr()?;
        let sandbox = if config.sandbox {
            Some(start_sandbox(&mut config, address).await?)
        } else {
            None
        };
        // A site built by `scripts/build` names its content-hashed files in `hash.txt`;
        // Leptos reads it (by absolute path) for the script and WASM names.
        let hash_file = crate::assets::hash_file(&config.site_root);
        let leptos_options = LeptosOptions::builder()
            .output_name("dial")
            .site_root(config.site_root.display().to_string())
            .site_pkg_dir("pkg")
            .site_addr(address)
            .hash_files(hash_file.is_file())
            .hash_file(std::sync::Arc::from(hash_file.display().to_string()))
            .build();
        // Metrics: the recorder before anything counts (a no-op otherwise).
        if config.metrics_enabled() && crate::metrics::install().is_none() {
            anyhow::bail!("could not start the metrics recorder");
        }
        let metrics_listener = match config.metrics_listen {
            Some(address) => Some(
                TcpListener::bind(address)
                    .await
                    .with_context(|| format!("could not listen for metrics on {address}"))?,
            ),
            None => None,
        };
        let state = AppState::new(db.clone(), keyring, config, leptos_options);
        if let Some(sandbox) = sandbox {
            twilio::settings::seed_sandbox(&state, &sandbox.credentials, address.port())
                .await
                .map_err(|e| {
                    anyhow::anyhow!("could not fill in the sandbox's Twilio settings: {e}")
                })?;
            state.set_sandbox(sandbox);
        }

        // The public URL may come from the Twilio page rather than the environment.
        if let Err(e) = twilio::settings::refresh_https(&state).await {
            tracing::warn!(error = %e, "could not read the public URL from the settings");
        }

        // First run on an address others can reach: whoever reaches the page first must
        // also be able to read this server's log.
        if !address.ip().is_loopback() && !state.has_users().await? {
            let code = dial_app::server::users::new_setup_code();
            tracing::warn!(
                setup_code = %code,
                "no administrator yet and Dial listens on {address}: the first-run page asks for this one-time setup code \
                 (or create the administrator with `dial create-admin`)"
            );
            state.set_setup_code(&code);
        }

        // Provisioning runs a crash or restart interrupted are resumed from the database.
        dial_app::server::assignment::spawn_resumer(state.clone());
        // Calls whose last webhooks were lost are closed against LiveKit's rooms.
        dial_app::server::calls::spawn_reconciler(state.clone());
        // Running campaigns are dialled by every instance, sharing the work through the
        // database.
        dial_app::server::campaigns::engine::spawn(state.clone());
        // Events in the outbox go to the endpoints that hear them.
        dial_app::server::event_hooks::spawn_worker(state.clone());
        // Some instance compares Twilio and LiveKit with Dial's records now and then.
        dial_app::server::assignment::drift::spawn(state.clone());
        // On PostgreSQL: live changes go to, and come from, the other instances.
        dial_app::server::changes::spawn(&state);
        if let Some(listener) = metrics_listener {
            if let Ok(address) = listener.local_addr() {
                tracing::info!(%address, "serving /metrics");
            }
            let router = crate::metrics::separate_router(state.clone());
            let stop = state.clone();
            tokio::spawn(async move {
                let served = axum::serve(listener, router)
                    .with_graceful_shutdown(async move { stop.shutting_down().await })
                    .await;
                if let Err(e) = served {
                    tracing::error!(error = %e, "the metrics listener stopped");
                }
            });
        }

        let store = DbSessionStore::new(db.clone());
        tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_secs(600));
            loop {
                every.tick().await;
                if let Err(e) = store.delete_expired().await {
                    tracing::warn!(error = %e, "could not delete expired sessions");
                }
                if let Err(e) = dial_app::server::users::prune_login_throttle(&db).await {
                    tracing::warn!(error = %e, "could not forget old sign-in throttles");
                }
            }
        });

        let router = router::build(state.clone());
        Ok(Application {
            listener,
            state,
            router,
        })
    }

    pub fn address(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    pub fn port(&self) -> u16 {
        self.address().port()
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until SIGTERM or Ctrl-C, then shuts down in bounded time: new connections
    /// stop at once, live-update streams end, requests in flight get
    /// [`SHUTDOWN_DEADLINE`] to finish, and whatever is still running then is cut short
    /// and logged. Provisioning runs need nothing here: a run whose heartbeat stops is
    /// resumed by the next process (its lease).
    ///
    /// Connections are served by hyper directly (not `axum::serve`, which sets no timer)
    /// so that a client has [`HEADER_READ_TIMEOUT`] to send its request head: a
    /// connection that trickles headers (slowloris) is closed instead of held forever.
    pub async fn run(self) -> std::io::Result<()> {
        use hyper_util::{
            rt::{TokioExecutor, TokioIo, TokioTimer},
            server::{conn::auto::Builder, graceful::GracefulShutdown},
            service::TowerToHyperService,
        };
        let Application {
            listener,
            state,
            router,
        } = self;
        let mut builder = Builder::new(TokioExecutor::new());
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(HEADER_READ_TIMEOUT);
        builder.http2().timer(TokioTimer::new());
        let graceful = GracefulShutdown::new();
        let signal = shutdown_signal();
        tokio::pin!(signal);
        loop {
            let (stream, peer) = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        // Out of file descriptors and the like: wait a moment, go on.
                        tracing::warn!(error = %e, "could not accept a connection");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
                () = &mut signal => break,
            };
            let service = tower::ServiceExt::map_request(
                router.clone(),
                move |mut request: axum::http::Request<hyper::body::Incoming>| {
                    request
                        .extensions_mut()
                        .insert(axum::extract::ConnectInfo(peer));
                    request
                },
            );
            let connection = builder
                .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service))
                .into_owned();
            let connection = graceful.watch(connection);
            tokio::spawn(async move {
                if let Err(e) = connection.await {
                    tracing::debug!(error = %e, %peer, "connection ended with an error");
                }
            });
        }
        drop(listener);
        tracing::info!(
            in_flight = state.in_flight.load(std::sync::atomic::Ordering::Relaxed),
            deadline_secs = SHUTDOWN_DEADLINE.as_secs(),
            "shutting down: no new connections; streams closed; waiting for requests in flight"
        );
        state.shutdown.send_replace(true);
        match tokio::time::timeout(SHUTDOWN_DEADLINE, graceful.shutdown()).await {
            Ok(()) => tracing::info!("shut down: every request finished"),
            Err(_) => tracing::warn!(
                cut_short = state.in_flight.load(std::sync::atomic::Ordering::Relaxed),
                "shut down at the deadline: requests still running were cut short \
                 (provisioning runs resume in the next process)"
            ),
        }
        Ok(())
    }
}

/// How long a client may take to send a request's head (method, path, headers).
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// How long requests in flight may take to finish once shutdown begins.
pub const SHUTDOWN_DEADLINE: Duration = Duration::from_secs(5);

/// Starts the fakes and points every provider setting at them, so nothing in sandbox mode
/// can reach a real provider.
async fn start_sandbox(config: &mut Config, address: SocketAddr) -> anyhow::Result<Sandbox> {
    let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
    let sandbox = Sandbox::start(
        SandboxCredentials::default(),
        loopback,
        loopback,
        Some(&config.data_dir),
    )
    .await
    .context("could not start the sandbox's Twilio and LiveKit fakes")?;
    let twilio_env = &config.twilio;
    if twilio_env.account_sid.is_some()
        || twilio_env.auth_token.is_some()
        || config.livekit.url.is_some()
    {
        tracing::warn!("sandbox mode: DIAL_TWILIO_* and DIAL_LIVEKIT_* are ignored; Dial talks only to its fakes");
    }
    config.twilio = TwilioEnv::default();
    config.twilio_api_base = sandbox.twilio_url.clone();
    config.twilio_trunking_base = sandbox.twilio_url.clone();
    config.livekit = LiveKitEnv {
        url: Some(sandbox.livekit_url.clone()),
        api_key: Some(sandbox.credentials.livekit_api_key.clone()),
        api_secret: Some(secrecy::SecretString::from(
            sandbox.credentials.livekit_api_secret.clone(),
        )),
        sip_uri: Some(SANDBOX_SIP_URI.to_string()),
    };
    sandbox.livekit.set_webhook_url(Some(format!(
        "http://127.0.0.1:{}/webhooks/livekit",
        address.port()
    )));
    tracing::info!(twilio = %sandbox.twilio_url, livekit = %sandbox.livekit_url, "sandbox: fakes started");
    Ok(sandbox)
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
}
