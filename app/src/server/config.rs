//! Settings read once at start-up (the CLI fills this from flags and environment).

use secrecy::SecretString;
use std::{net::SocketAddr, path::PathBuf, time::Duration};

#[derive(Clone)]
pub struct Config {
    /// sqlite://… or postgres://…; `None` means a SQLite file in `data_dir`.
    pub database_url: Option<String>,
    pub data_dir: PathBuf,
    pub listen: SocketAddr,
    /// Where the compiled site (pkg/, CSS, public assets) is served from.
    pub site_root: PathBuf,
    pub encryption_key: Option<SecretString>,
    pub old_encryption_keys: Vec<SecretString>,
    pub public_url: Option<String>,
    pub twilio: TwilioEnv,
    pub twilio_api_base: String,
    pub twilio_trunking_base: String,
    pub twilio_timeout: Duration,
    pub livekit: LiveKitEnv,
    pub livekit_timeout: Duration,
    /// A provisioning run whose worker has not renewed its heartbeat for this long is taken
    /// over (resumed, or its roll back finished) by any instance.
    pub provisioning_lease: Duration,
    pub session_idle: Duration,
    pub session_absolute: Duration,
    /// Trust the first address in X-Forwarded-For (set when behind a reverse proxy).
    pub trust_proxy: bool,
    /// Run against in-process fakes of Twilio and LiveKit (`dial serve --sandbox`).
    pub sandbox: bool,
}

/// Twilio values given in the environment; each one overrides the stored value.
#[derive(Clone, Default)]
pub struct TwilioEnv {
    pub account_sid: Option<String>,
    pub auth_token: Option<SecretString>,
    pub sip_address: Option<String>,
    pub sip_username: Option<String>,
    pub sip_password: Option<SecretString>,
}

#[derive(Clone, Default)]
pub struct LiveKitEnv {
    pub url: Option<String>,
    pub api_key: Option<String>,
    pub api_secret: Option<SecretString>,
    pub sip_uri: Option<String>,
}

impl Config {
    /// A configuration for tests and tools: everything default, data in `data_dir`.
    pub fn for_data_dir(data_dir: PathBuf) -> Self {
        Config {
            database_url: None,
            site_root: data_dir.join("site"),
            data_dir,
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            encryption_key: None,
            old_encryption_keys: Vec::new(),
            public_url: None,
            twilio: TwilioEnv::default(),
            twilio_api_base: "https://api.twilio.com".into(),
            twilio_trunking_base: "https://trunking.twilio.com".into(),
            twilio_timeout: Duration::from_secs(10),
            livekit: LiveKitEnv::default(),
            livekit_timeout: Duration::from_secs(10),
            provisioning_lease: Duration::from_secs(30),
            session_idle: Duration::from_secs(12 * 3600),
            session_absolute: Duration::from_secs(7 * 24 * 3600),
            trust_proxy: false,
            sandbox: false,
        }
    }

    /// The database URL in force: the configured one, or the SQLite file in the data dir.
    pub fn effective_database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.clone(),
            None => format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("dial.db").display()
            ),
        }
    }

    /// Cookies get the Secure flag when Dial is served over https.
    pub fn secure_cookies(&self) -> bool {
        self.public_url
            .as_deref()
            .is_some_and(|u| u.starts_with("https://"))
    }
}
