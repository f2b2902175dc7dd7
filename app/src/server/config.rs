//! Settings read once at start-up (the CLI fills this from flags and environment).

use secrecy::SecretString;
use std::{net::SocketAddr, path::PathBuf, time::Duration};

#[derive(Clone)]
pub struct Config {
    /// sqlite://… or postgres://…; `None` means a SQLite file in `data_dir`.
    pub database_url: Option<String>,
    pub data_dir: PathBuf,
    pub listen: SocketAddr,
    /// `GET /metrics` on the main listener, for requests bearing this token
    /// (`DIAL_METRICS_TOKEN`).
    pub metrics_token: Option<SecretString>,
    /// `GET /metrics` without a token on an address of its own (`DIAL_METRICS_LISTEN`).
    pub metrics_listen: Option<SocketAddr>,
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
    /// The most reads a second this process makes to follow ringing calls
    /// (`DIAL_LIVEKIT_READS_PER_SECOND`; see `calls::follow`).
    pub livekit_reads_per_second: u32,
    /// A provisioning run whose worker has not renewed its heartbeat for this long is taken
    /// over (resumed, or its roll back finished) by any instance.
    pub provisioning_lease: Duration,
    /// A campaign contact claimed by an instance that has not renewed the claim for this
    /// long is reconciled by any instance (`campaigns::engine`).
    pub campaign_lease: Duration,
    /// How often some instance scans Twilio and LiveKit for drift
    /// (`DIAL_DRIFT_SCAN_MINUTES`; `None`: never on a schedule, only when asked).
    pub drift_scan_every: Option<Duration>,
    pub session_idle: Duration,
    pub session_absolute: Duration,
    /// Read the client's address from X-Forwarded-For (set when behind a reverse proxy).
    pub trust_proxy: bool,
    /// The proxies whose X-Forwarded-For entries are believed (`DIAL_TRUSTED_PROXIES`;
    /// loopback when empty). The client is the right-most address that is not one of them.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// The addresses Twilio's calls come from, for Twilio numbers' LiveKit inbound
    /// trunks (`DIAL_TWILIO_SIGNALLING_ADDRESSES`); empty: Twilio's published gateways.
    pub twilio_signalling_addresses: Vec<ipnet::IpNet>,
    /// Run against in-process fakes of Twilio and LiveKit (`dial serve --sandbox`).
    pub sandbox: bool,
    /// Host names (besides the public URL's, localhost names and IP literals) that
    /// requests may name in `Host` (`DIAL_ALLOWED_HOSTS`).
    pub allowed_hosts: Vec<String>,
    /// Event webhooks out: where deliveries may go, their time-out and retries.
    pub webhooks: crate::server::event_hooks::Settings,
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
            metrics_token: None,
            metrics_listen: None,
            encryption_key: None,
            old_encryption_keys: Vec::new(),
            public_url: None,
            allowed_hosts: Vec::new(),
            trusted_proxies: Vec::new(),
            twilio_signalling_addresses: Vec::new(),
            twilio: TwilioEnv::default(),
            twilio_api_base: "https://api.twilio.com".into(),
            twilio_trunking_base: "https://trunking.twilio.com".into(),
            twilio_timeout: Duration::from_secs(10),
            livekit: LiveKitEnv::default(),
            livekit_timeout: Duration::from_secs(10),
            livekit_reads_per_second: crate::server::calls::follow::READS_PER_SECOND,
            provisioning_lease: Duration::from_secs(30),
            campaign_lease: Duration::from_secs(30),
            drift_scan_every: Some(Duration::from_secs(15 * 60)),
            session_idle: Duration::from_secs(12 * 3600),
            session_absolute: Duration::from_secs(7 * 24 * 3600),
            trust_proxy: false,
            sandbox: false,
            webhooks: Default::default(),
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

    /// Whether a request naming `host` (the `Host` header, with or without a port) may be
    /// answered. Refusing other names stops DNS rebinding: a page on `evil.example` whose
    /// name resolves to this server's address sends `Host: evil.example`. IP literals
    /// cannot be rebound and are always accepted, so are localhost names, the public
    /// URL's host and `DIAL_ALLOWED_HOSTS`.
    pub fn host_allowed(&self, host: &str) -> bool {
        let name = host_name(host);
        if name.is_empty() {
            return false;
        }
        if name.parse::<std::net::IpAddr>().is_ok()
            || name.eq_ignore_ascii_case("localhost")
            || name.to_ascii_lowercase().ends_with(".localhost")
        {
            return true;
        }
        let public = self
            .public_url
            .as_deref()
            .and_then(|u| url::Url::parse(u).ok())
            .and_then(|u| u.host_str().map(str::to_string));
        public
            .iter()
            .chain(self.allowed_hosts.iter())
            .any(|allowed| host_name(allowed).eq_ignore_ascii_case(name))
    }
}

impl Config {
    /// Whether `GET /metrics` is served (a token or an address of its own is set).
    pub fn metrics_enabled(&self) -> bool {
        self.metrics_token.is_some() || self.metrics_listen.is_some()
    }

    /// The client's address for a request from `peer` carrying `forwarded`
    /// (X-Forwarded-For): walking from the right, each hop added by a trusted proxy is
    /// passed over; the first address that is not a trusted proxy is the client. Entries
    /// to its left were written by the client itself and are never believed.
    pub fn client_address(
        &self,
        peer: std::net::IpAddr,
        forwarded: Option<&str>,
    ) -> std::net::IpAddr {
        if !self.trust_proxy {
            return peer;
        }
        let loopback = [
            ipnet::IpNet::from(std::net::IpAddr::from([127, 0, 0, 1])),
            ipnet::IpNet::from(std::net::IpAddr::from(std::net::Ipv6Addr::LOCALHOST)),
        ];
        let trusted = |ip: &std::net::IpAddr| {
            if self.trusted_proxies.is_empty() {
                ip.is_loopback() || loopback.iter().any(|n| n.contains(ip))
            } else {
                self.trusted_proxies.iter().any(|n| n.contains(ip))
            }
        };
        let mut client = peer;
        let hops: Vec<&str> = forwarded
            .map(|f| f.split(',').map(str::trim).collect())
            .unwrap_or_default();
        for hop in hops.iter().rev() {
            if !trusted(&client) {
                break;
            }
            match hop.parse::<std::net::IpAddr>() {
                Ok(ip) => client = ip,
                // A malformed entry: stop at the last address we could trust.
                Err(_) => break,
            }
        }
        client
    }
}

/// The host of `url` when it is an https URL.
pub fn https_host(url: &str) -> Option<String> {
    let url = url::Url::parse(url).ok()?;
    (url.scheme() == "https")
        .then(|| url.host_str().map(str::to_ascii_lowercase))
        .flatten()
}

/// Whether a request that named `host` reached Dial by the https public URL's host.
pub fn is_https_host(https_host: Option<&str>, host: &str) -> bool {
    https_host.is_some_and(|h| h.eq_ignore_ascii_case(host_name(host)))
}

/// The name part of a `Host` value: `example.com:3000` → `example.com`, `[::1]:3000` → `::1`.
fn host_name(host: &str) -> &str {
    let host = host.trim();
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or("");
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    }
}

#[cfg(test)]
mod host_tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn only_known_names_and_ip_literals_are_served() {
        let mut config = Config::for_data_dir(PathBuf::from("/tmp"));
        config.public_url = Some("https://dial.example.com".into());
        config.allowed_hosts = vec!["dial.internal".into()];
        for ok in [
            "127.0.0.1:3000",
            "[::1]:3000",
            "10.0.0.5",
            "localhost:3000",
            "LOCALHOST",
            "app.localhost:3000",
            "dial.example.com",
            "DIAL.example.com:443",
            "dial.internal:8080",
        ] {
            assert!(config.host_allowed(ok), "{ok}");
        }
        for refused in [
            "evil.example",
            "evil.example:3000",
            "",
            "dial.example.com.evil.example",
            "[evil",
        ] {
            assert!(!config.host_allowed(refused), "{refused}");
        }
    }

    #[test]
    fn the_client_is_the_right_most_address_no_trusted_proxy_wrote() {
        let mut config = Config::for_data_dir(PathBuf::from("/tmp"));
        let proxy: std::net::IpAddr = "10.0.0.2".parse().unwrap();
        let ip = |s: &str| s.parse::<std::net::IpAddr>().unwrap();
        // Not trusting proxies: the peer, whatever the header says.
        assert_eq!(config.client_address(proxy, Some("1.2.3.4")), proxy);
        config.trust_proxy = true;
        config.trusted_proxies = vec!["10.0.0.0/24".parse().unwrap()];
        // The client put a fake first hop; the proxy appended the real address.
        assert_eq!(
            config.client_address(proxy, Some("6.6.6.6, 203.0.113.9")),
            ip("203.0.113.9")
        );
        // Two trusted proxies in a row.
        assert_eq!(
            config.client_address(proxy, Some("6.6.6.6, 203.0.113.9, 10.0.0.3")),
            ip("203.0.113.9")
        );
        // A peer that is not a trusted proxy is the client.
        assert_eq!(
            config.client_address(ip("198.51.100.1"), Some("6.6.6.6")),
            ip("198.51.100.1")
        );
        assert_eq!(config.client_address(proxy, Some("garbage")), proxy);
    }

    proptest! {
        /// Fuzz target: any X-Forwarded-For value is read without a panic.
        #[test]
        fn any_forwarded_header_is_read(header in any::<String>()) {
            let mut config = Config::for_data_dir(PathBuf::from("/tmp"));
            config.trust_proxy = true;
            let _ = config.client_address("127.0.0.1".parse().unwrap(), Some(&header));
        }

        /// Fuzz target: any Host header is decided without a panic.
        #[test]
        fn any_host_header_is_decided(host in any::<String>()) {
            let config = Config::for_data_dir(PathBuf::from("/tmp"));
            let _ = config.host_allowed(&host);
        }
    }
}
