//! The command line. Every setting is a flag and an environment variable; `dial serve
//! --help` lists them all with their defaults.

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use dial_app::server::{
    config::{Config, LiveKitEnv, TwilioEnv},
    db::Db,
    keys, users,
};
use secrecy::{ExposeSecret, SecretString};
use std::{net::SocketAddr, path::PathBuf, time::Duration};

#[derive(Parser, Debug)]
#[command(
    name = "dial",
    version,
    about = "Self-hosted control plane for AI voice agents on the phone network"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Serve the dashboard, the webhooks and the API (migrates the database first).
    Serve(Box<ServeArgs>),
    /// Apply database migrations and exit.
    Migrate(StoreArgs),
    /// Create an administrator without the browser (for headless installs).
    CreateAdmin(CreateAdminArgs),
    /// Re-encrypt every stored secret under a new encryption key.
    RotateKey(RotateKeyArgs),
    /// Serve only the Twilio and LiveKit fakes, for other tools to point at.
    Sandbox(SandboxArgs),
    /// Check the set-up and scan for drift against the configured database, Twilio and
    /// LiveKit, without serving; exits non-zero when something must be fixed.
    Doctor(Box<DoctorArgs>),
}

#[derive(Args, Debug)]
pub struct DoctorArgs {
    /// The same settings as `dial serve` (flags or environment).
    #[command(flatten)]
    pub serve: ServeArgs,
    /// Print the report as JSON, for machines.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct SandboxArgs {
    /// Port of the fake Twilio (REST and Elastic SIP Trunking APIs on one port); 0 picks one.
    #[arg(long, default_value_t = 4010)]
    pub twilio_port: u16,
    /// Port of the fake LiveKit (Twirp SIP, RoomService, AgentDispatchService); 0 picks one.
    #[arg(long, default_value_t = 4020)]
    pub livekit_port: u16,
    /// Keep the fakes' numbers, trunks and dispatch rules in this directory between runs
    /// (by default they live in memory only).
    #[arg(long)]
    pub state_dir: Option<PathBuf>,
    /// Account SID the fake Twilio accepts.
    #[arg(long, default_value = dial_app::server::sandbox::DEFAULT_TWILIO_ACCOUNT_SID)]
    pub twilio_account_sid: String,
    /// Auth token the fake Twilio accepts.
    #[arg(long, default_value = dial_app::server::sandbox::DEFAULT_TWILIO_AUTH_TOKEN)]
    pub twilio_auth_token: SecretArg,
    /// API key the fake LiveKit accepts.
    #[arg(long, default_value = dial_app::server::sandbox::DEFAULT_LIVEKIT_API_KEY)]
    pub livekit_api_key: String,
    /// API secret the fake LiveKit accepts.
    #[arg(long, default_value = dial_app::server::sandbox::DEFAULT_LIVEKIT_API_SECRET)]
    pub livekit_api_secret: SecretArg,
    /// Post the fake LiveKit's webhooks to this URL.
    #[arg(long)]
    pub livekit_webhook_url: Option<String>,
}

#[derive(Args, Debug, Clone)]
pub struct StoreArgs {
    /// Database URL: sqlite://path?mode=rwc or postgres://user@host/db. Default: a SQLite
    /// file dial.db in the data directory.
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: Option<String>,
    /// Directory for the SQLite database and the generated encryption key.
    #[arg(long, env = "DIAL_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
    /// Key for secrets at rest: 32 bytes as 64 hex digits or base64. Default: generated into
    /// <data dir>/encryption.key on first run (set it explicitly in production).
    #[arg(long, env = "DIAL_ENCRYPTION_KEY", hide_env_values = true)]
    pub encryption_key: Option<SecretArg>,
    /// Previous encryption keys still accepted for reading, comma-separated.
    #[arg(
        long,
        env = "DIAL_ENCRYPTION_OLD_KEYS",
        hide_env_values = true,
        value_delimiter = ','
    )]
    pub encryption_old_keys: Vec<SecretArg>,
}

#[derive(Args, Debug, Clone)]
pub struct ServeArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// Address to listen on.
    #[arg(long, env = "DIAL_LISTEN", default_value = "127.0.0.1:3000")]
    pub listen: SocketAddr,
    /// Serve `GET /metrics` (Prometheus) on the main listener to requests that carry this
    /// token (`Authorization: Bearer …`). Off when neither this nor --metrics-listen is set.
    #[arg(long, env = "DIAL_METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<SecretArg>,
    /// Serve `GET /metrics` without a token on this address of its own (e.g. 127.0.0.1:9100
    /// or a private interface).
    #[arg(long, env = "DIAL_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,
    /// Directory holding the compiled site (pkg/ with the WASM, JS and CSS, and public assets).
    #[arg(long, env = "DIAL_SITE_ROOT", default_value = "target/site")]
    pub site_root: PathBuf,
    /// Public base URL (https://…) at which Twilio and LiveKit reach Dial; overrides the
    /// value saved on the Twilio page and turns on Secure cookies when https.
    #[arg(long, env = "DIAL_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Twilio Account SID (overrides the saved value; the page shows it read-only).
    #[arg(long, env = "DIAL_TWILIO_ACCOUNT_SID")]
    pub twilio_account_sid: Option<String>,
    /// Twilio Auth Token (overrides the saved value).
    #[arg(long, env = "DIAL_TWILIO_AUTH_TOKEN", hide_env_values = true)]
    pub twilio_auth_token: Option<SecretArg>,
    /// Elastic SIP trunk termination domain, e.g. abc123.pstn.twilio.com.
    #[arg(long, env = "DIAL_TWILIO_SIP_ADDRESS")]
    pub twilio_sip_address: Option<String>,
    /// SIP credential username for the trunk.
    #[arg(long, env = "DIAL_TWILIO_SIP_USERNAME")]
    pub twilio_sip_username: Option<String>,
    /// SIP credential password for the trunk.
    #[arg(long, env = "DIAL_TWILIO_SIP_PASSWORD", hide_env_values = true)]
    pub twilio_sip_password: Option<SecretArg>,
    /// Twilio REST API base URL.
    #[arg(
        long,
        env = "DIAL_TWILIO_API_BASE",
        default_value = "https://api.twilio.com"
    )]
    pub twilio_api_base: String,
    /// Twilio Elastic SIP Trunking API base URL.
    #[arg(
        long,
        env = "DIAL_TWILIO_TRUNKING_BASE",
        default_value = "https://trunking.twilio.com"
    )]
    pub twilio_trunking_base: String,
    /// Seconds to wait for Twilio before giving up.
    #[arg(long, env = "DIAL_TWILIO_TIMEOUT_SECS", default_value_t = 10)]
    pub twilio_timeout_secs: u64,
    /// LiveKit server URL, e.g. wss://project.livekit.cloud.
    #[arg(long, env = "DIAL_LIVEKIT_URL")]
    pub livekit_url: Option<String>,
    /// LiveKit API key.
    #[arg(long, env = "DIAL_LIVEKIT_API_KEY")]
    pub livekit_api_key: Option<String>,
    /// LiveKit API secret.
    #[arg(long, env = "DIAL_LIVEKIT_API_SECRET", hide_env_values = true)]
    pub livekit_api_secret: Option<SecretArg>,
    /// LiveKit project SIP URI host, e.g. abcd1234.sip.livekit.cloud.
    #[arg(long, env = "DIAL_LIVEKIT_SIP_URI")]
    pub livekit_sip_uri: Option<String>,
    /// Seconds to wait for LiveKit before giving up.
    #[arg(long, env = "DIAL_LIVEKIT_TIMEOUT_SECS", default_value_t = 10)]
    pub livekit_timeout_secs: u64,
    /// The most LiveKit reads a second this instance spends following ringing calls
    /// (LiveKit Cloud limits API requests per project: instances sharing a project should
    /// divide its budget between them).
    #[arg(long, env = "DIAL_LIVEKIT_READS_PER_SECOND", default_value_t = dial_app::server::calls::follow::READS_PER_SECOND, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub livekit_reads_per_second: u32,
    /// Seconds after which an unfinished provisioning run whose worker stopped (a crash, a
    /// restart) is resumed by this or another instance.
    #[arg(long, env = "DIAL_PROVISIONING_LEASE_SECS", default_value_t = 30)]
    pub provisioning_lease_secs: u64,
    /// Seconds after which a campaign dial claimed by an instance that stopped renewing
    /// its claim (a crash, a kill) is reconciled by another instance.
    #[arg(long, env = "DIAL_CAMPAIGN_LEASE_SECS", default_value_t = 30)]
    pub campaign_lease_secs: u64,
    /// Minutes between scheduled drift scans (Twilio and LiveKit compared with Dial's
    /// records; one instance at a time); 0 scans only when asked.
    #[arg(long, env = "DIAL_DRIFT_SCAN_MINUTES", default_value_t = 15)]
    pub drift_scan_minutes: u64,
    /// Sign a user out after this many minutes without a request.
    #[arg(long, env = "DIAL_SESSION_IDLE_MINUTES", default_value_t = 720)]
    pub session_idle_minutes: u64,
    /// Sign a user out this many hours after login, active or not.
    #[arg(long, env = "DIAL_SESSION_MAX_HOURS", default_value_t = 168)]
    pub session_max_hours: u64,
    /// Take the client address from X-Forwarded-For (only behind a reverse proxy you run).
    #[arg(long, env = "DIAL_TRUST_PROXY", default_value_t = false)]
    pub trust_proxy: bool,
    /// Sandbox: run against in-process fakes of Twilio and LiveKit (no real numbers or
    /// calls). Data goes to <data dir>/sandbox unless DATABASE_URL is set.
    #[arg(long, env = "DIAL_SANDBOX", default_value_t = false)]
    pub sandbox: bool,
    /// Further host names Dial answers to (comma-separated), besides the public URL's host,
    /// localhost and IP addresses; any other `Host` is refused (DNS rebinding).
    #[arg(long, env = "DIAL_ALLOWED_HOSTS", value_delimiter = ',')]
    pub allowed_hosts: Vec<String>,
    /// With DIAL_TRUST_PROXY: the proxies (addresses or CIDR ranges, comma-separated) whose
    /// X-Forwarded-For entries are believed. Default: loopback.
    #[arg(long, env = "DIAL_TRUSTED_PROXIES", value_delimiter = ',', value_parser = parse_proxy)]
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// The addresses (or CIDR ranges, comma-separated) Twilio's SIP signalling comes from,
    /// allowed on Twilio numbers' LiveKit inbound trunks. Default: Twilio's published
    /// signalling gateways (its media range is not needed).
    #[arg(long, env = "DIAL_TWILIO_SIGNALLING_ADDRESSES", value_delimiter = ',', value_parser = parse_proxy)]
    pub twilio_signalling_addresses: Vec<ipnet::IpNet>,
    /// Let webhook endpoints be on private, loopback and link-local addresses (refused by
    /// default, so an endpoint cannot reach inside Dial's network; always allowed in
    /// sandbox mode).
    #[arg(long, env = "DIAL_WEBHOOKS_ALLOW_PRIVATE", default_value_t = false)]
    pub webhooks_allow_private: bool,
    /// Seconds each webhook delivery attempt may take.
    #[arg(long, env = "DIAL_WEBHOOKS_TIMEOUT_SECS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=60))]
    pub webhooks_timeout_secs: u64,
}

fn parse_proxy(text: &str) -> Result<ipnet::IpNet, String> {
    dial_sip::parse_address(text).ok_or_else(|| {
        format!(
            "{:?} is not an IP address or CIDR range (e.g. 10.0.0.0/8)",
            text.trim()
        )
    })
}

#[derive(Args, Debug)]
pub struct CreateAdminArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// The new administrator's username.
    #[arg(long)]
    pub username: String,
    /// Read the password from this environment variable instead of standard input.
    #[arg(long, default_value = "DIAL_ADMIN_PASSWORD")]
    pub password_env: String,
}

#[derive(Args, Debug)]
pub struct RotateKeyArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// The new key (64 hex digits or base64). Default: a newly generated key.
    #[arg(long, env = "DIAL_NEW_ENCRYPTION_KEY", hide_env_values = true)]
    pub new_key: Option<SecretArg>,
}

fn non_empty(v: Option<String>) -> Option<String> {
    v.filter(|s| !s.trim().is_empty())
}

/// A secret given as a flag or in the environment. Its `Debug` prints nothing of it, so
/// the argument structs can derive `Debug` without leaking.
#[derive(Clone)]
pub struct SecretArg(SecretString);

impl std::str::FromStr for SecretArg {
    type Err = std::convert::Infallible;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Ok(SecretArg(SecretString::from(text.to_string())))
    }
}

impl std::fmt::Debug for SecretArg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

impl SecretArg {
    fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

fn secret(v: Option<SecretArg>) -> Option<SecretString> {
    v.filter(|s| !s.expose().trim().is_empty()).map(|s| s.0)
}

impl StoreArgs {
    pub fn config(&self) -> Config {
        let mut config = Config::for_data_dir(self.data_dir.clone());
        config.database_url = non_empty(self.database_url.clone());
        config.encryption_key = secret(self.encryption_key.clone());
        config.old_encryption_keys = self
            .encryption_old_keys
            .iter()
            .filter(|k| !k.expose().trim().is_empty())
            .map(|k| SecretString::from(k.expose().trim().to_string()))
            .collect();
        config
    }
}

impl ServeArgs {
    pub fn config(&self) -> Config {
        let mut config = self.store.config();
        config.listen = self.listen;
        config.metrics_token = secret(self.metrics_token.clone());
        config.metrics_listen = self.metrics_listen;
        config.site_root = self.site_root.clone();
        config.public_url =
            non_empty(self.public_url.clone()).map(|u| u.trim_end_matches('/').to_string());
        config.twilio = TwilioEnv {
            account_sid: non_empty(self.twilio_account_sid.clone()),
            auth_token: secret(self.twilio_auth_token.clone()),
            sip_address: non_empty(self.twilio_sip_address.clone()),
            sip_username: non_empty(self.twilio_sip_username.clone()),
            sip_password: secret(self.twilio_sip_password.clone()),
        };
        config.twilio_api_base = self.twilio_api_base.clone();
        config.twilio_trunking_base = self.twilio_trunking_base.clone();
        config.twilio_timeout = Duration::from_secs(self.twilio_timeout_secs.max(1));
        config.livekit = LiveKitEnv {
            url: non_empty(self.livekit_url.clone()),
            api_key: non_empty(self.livekit_api_key.clone()),
            api_secret: secret(self.livekit_api_secret.clone()),
            sip_uri: non_empty(self.livekit_sip_uri.clone()),
        };
        config.livekit_timeout = Duration::from_secs(self.livekit_timeout_secs.max(1));
        config.livekit_reads_per_second = self.livekit_reads_per_second;
        config.provisioning_lease = Duration::from_secs(self.provisioning_lease_secs.max(1));
        config.campaign_lease = Duration::from_secs(self.campaign_lease_secs.max(1));
        config.drift_scan_every = (self.drift_scan_minutes > 0)
            .then(|| Duration::from_secs(self.drift_scan_minutes * 60));
        config.session_idle = Duration::from_secs(self.session_idle_minutes.max(1) * 60);
        config.session_absolute = Duration::from_secs(self.session_max_hours.max(1) * 3600);
        config.trust_proxy = self.trust_proxy;
        config.sandbox = self.sandbox;
        config.trusted_proxies = self.trusted_proxies.clone();
        config.twilio_signalling_addresses = self.twilio_signalling_addresses.clone();
        config.webhooks.allow_private = self.webhooks_allow_private;
        config.webhooks.timeout = Duration::from_secs(self.webhooks_timeout_secs);
        config.allowed_hosts = self
            .allowed_hosts
            .iter()
            .map(|h| h.trim().to_string())
            .filter(|h| !h.is_empty())
            .collect();
        if self.sandbox && config.database_url.is_none() {
            config.data_dir = config.data_dir.join("sandbox");
        }
        config
    }
}

async fn open_store(config: &Config) -> anyhow::Result<Db> {
    dial_app::server::files::create_private_dir(&config.data_dir).with_context(|| {
        format!(
            "could not create the data directory {}",
            config.data_dir.display()
        )
    })?;
    let db = Db::connect(&config.effective_database_url()).await?;
    db.migrate().await?;
    Ok(db)
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => {
            let app = crate::startup::Application::build(args.config()).await?;
            tracing::info!("Dial is listening on http://{}", app.address());
            app.run().await?;
            Ok(())
        }
        Command::Sandbox(args) => {
            use dial_app::server::sandbox::{Sandbox, SandboxCredentials};
            let credentials = SandboxCredentials {
                twilio_account_sid: args.twilio_account_sid,
                twilio_auth_token: args.twilio_auth_token.expose().to_string(),
                livekit_api_key: args.livekit_api_key,
                livekit_api_secret: args.livekit_api_secret.expose().to_string(),
            };
            let sandbox = Sandbox::start(
                credentials,
                SocketAddr::from(([127, 0, 0, 1], args.twilio_port)),
                SocketAddr::from(([127, 0, 0, 1], args.livekit_port)),
                args.state_dir.as_deref(),
            )
            .await
            .context("could not start the fakes")?;
            sandbox
                .livekit
                .set_webhook_url(args.livekit_webhook_url.clone());
            let c = &sandbox.credentials;
            println!(
                "Dial sandbox: fakes of Twilio and LiveKit on loopback (no real numbers or calls)."
            );
            println!("Twilio REST base:        {}", sandbox.twilio_url);
            println!("Twilio trunking base:    {}", sandbox.twilio_url);
            println!("Twilio account SID:      {}", c.twilio_account_sid);
            println!("Twilio auth token:       {}", c.twilio_auth_token);
            println!("LiveKit URL:             {}", sandbox.livekit_url);
            println!("LiveKit API key:         {}", c.livekit_api_key);
            println!("LiveKit API secret:      {}", c.livekit_api_secret);
            match &args.livekit_webhook_url {
                Some(url) => println!("LiveKit webhooks go to:  {url}"),
                None => println!("LiveKit webhooks:        off (--livekit-webhook-url)"),
            }
            println!("Press Ctrl-C to stop.");
            tokio::signal::ctrl_c().await?;
            Ok(())
        }
        Command::Doctor(args) => {
            let diagnosis = crate::doctor::diagnose(args.serve.config()).await?;
            if args.json {
                println!("{}", serde_json::to_string_pretty(&diagnosis)?);
            } else {
                print!("{}", crate::doctor::render(&diagnosis));
            }
            if diagnosis.ok {
                Ok(())
            } else {
                Err(anyhow::anyhow!(
                    "dial doctor found something to fix (see the report)"
                ))
            }
        }
        Command::Migrate(args) => {
            let config = args.config();
            open_store(&config).await?;
            println!("Database is up to date.");
            Ok(())
        }
        Command::CreateAdmin(args) => {
            let config = args.store.config();
            let db = open_store(&config).await?;
            let password = match std::env::var(&args.password_env) {
                Ok(p) if !p.is_empty() => p,
                _ => {
                    eprintln!(
                        "Password for {} (input is not hidden; or set {}):",
                        args.username, args.password_env
                    );
                    let mut line = String::new();
                    std::io::stdin().read_line(&mut line)?;
                    line.trim_end_matches(['\r', '\n']).to_string()
                }
            };
            let user = users::create_admin_cli(&db, &args.username, SecretString::from(password))
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            println!("Created administrator {}.", user.username);
            Ok(())
        }
        Command::RotateKey(args) => {
            let config = args.store.config();
            let db = open_store(&config).await?;
            let rotation = keys::rotate(&db, &config, secret(args.new_key))
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            dial_app::server::audit::record(
                &db,
                &dial_app::server::audit::Actor::system("dial rotate-key"),
                "encryption.key_rotated",
                Some(&rotation.new_key_id),
                Some(&format!("{} secret(s) re-encrypted", rotation.rewritten)),
            )
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
            println!(
                "Re-encrypted {} secret(s) under key {}.",
                rotation.rewritten, rotation.new_key_id
            );
            if config.encryption_key.is_some() {
                println!(
                    "Set DIAL_ENCRYPTION_KEY={} and restart Dial. Until every instance runs with it, \
                     keep the old key in DIAL_ENCRYPTION_OLD_KEYS.",
                    rotation.new_key.expose_secret()
                );
            } else {
                println!(
                    "The new key is in {}; the old one is kept in encryption.old-keys.",
                    config.data_dir.display()
                );
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// No `Debug` of the command line holds a secret given as a flag.
    #[test]
    fn debug_output_of_the_arguments_names_no_secret() {
        let secrets = [
            "k3y-0123456789abcdef",
            "t0ken-0123456789abcdef",
            "s1p-pass-0123456789",
            "lk-s3cret-0123456789",
            "0ld-k3y-0123456789",
        ];
        let cli = Cli::try_parse_from([
            "dial",
            "serve",
            "--encryption-key",
            secrets[0],
            "--twilio-auth-token",
            secrets[1],
            "--twilio-sip-password",
            secrets[2],
            "--livekit-api-secret",
            secrets[3],
            "--encryption-old-keys",
            secrets[4],
        ])
        .expect("arguments parse");
        let shown = format!("{cli:?}");
        for secret in secrets {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
        let Command::Serve(args) = cli.command else {
            panic!("serve");
        };
        let config = args.config();
        assert_eq!(
            config
                .twilio
                .auth_token
                .as_ref()
                .map(|t| t.expose_secret().to_string()),
            Some(secrets[1].to_string())
        );
        let sandbox = Cli::try_parse_from([
            "dial",
            "sandbox",
            "--twilio-auth-token",
            secrets[1],
            "--livekit-api-secret",
            secrets[3],
        ])
        .expect("sandbox arguments parse");
        let shown = format!("{sandbox:?}");
        assert!(
            !shown.contains(secrets[1]) && !shown.contains(secrets[3]),
            "{shown}"
        );
        let credentials = dial_app::server::sandbox::SandboxCredentials::default();
        let shown = format!("{credentials:?}");
        assert!(
            !shown.contains(&credentials.twilio_auth_token)
                && !shown.contains(&credentials.livekit_api_secret),
            "{shown}"
        );
    }
}
