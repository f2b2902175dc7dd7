//! Building the application: open and migrate the store, load and check the encryption
//! key, bind the listener (port 0 in tests), and assemble the router.

use crate::router;
use anyhow::Context;
use dial_app::server::{
    config::{Config, LiveKitEnv, TwilioEnv},
    db::Db,
    keys,
    sandbox::{Sandbox, SandboxCredentials, SANDBOX_SIP_URI},
    sessions::DbSessionStore,
    state::AppState,
    twilio_settings,
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
        std::fs::create_dir_all(&config.data_dir).with_context(|| {
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
        let leptos_options = LeptosOptions::builder()
            .output_name("dial")
            .site_root(config.site_root.display().to_string())
            .site_pkg_dir("pkg")
            .site_addr(address)
            .build();
        let mut state = AppState::new(db.clone(), keyring, config, leptos_options);
        if let Some(sandbox) = sandbox {
            twilio_settings::seed_sandbox(&state, &sandbox.credentials, address.port())
                .await
                .map_err(|e| {
                    anyhow::anyhow!("could not fill in the sandbox's Twilio settings: {e}")
                })?;
            state.sandbox = Some(sandbox);
        }

        // Provisioning runs a crash or restart interrupted are resumed from the database.
        dial_app::server::provisioning::spawn_resumer(state.clone());
        // Calls whose last webhooks were lost are closed against LiveKit's rooms.
        dial_app::server::calls::spawn_reconciler(state.clone());

        let store = DbSessionStore::new(db);
        tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_secs(600));
            loop {
                every.tick().await;
                if let Err(e) = store.delete_expired().await {
                    tracing::warn!(error = %e, "could not delete expired sessions");
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

    pub async fn run(self) -> std::io::Result<()> {
        axum::serve(
            self.listener,
            self.router
                .into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown_signal())
        .await
    }
}

/// Starts the fakes and points every provider setting at them, so nothing in sandbox mode
/// can reach a real provider.
async fn start_sandbox(config: &mut Config, address: SocketAddr) -> anyhow::Result<Sandbox> {
    let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
    let sandbox = Sandbox::start(SandboxCredentials::default(), loopback, loopback)
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
