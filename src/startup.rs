//! Building the application: open and migrate the store, load and check the encryption
//! key, bind the listener (port 0 in tests), and assemble the router.

use crate::router;
use anyhow::Context;
use dial_app::server::{config::Config, db::Db, keys, sessions::DbSessionStore, state::AppState};
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
    pub async fn build(config: Config) -> anyhow::Result<Self> {
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
        let leptos_options = LeptosOptions::builder()
            .output_name("dial")
            .site_root(config.site_root.display().to_string())
            .site_pkg_dir("pkg")
            .site_addr(address)
            .build();
        let state = AppState::new(db.clone(), keyring, config, leptos_options);

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
