//! Sandbox mode: both fakes in-process on loopback, Dial pointed at them, sandbox
//! credentials filled in. Nothing in sandbox mode can reach a real provider: the provider
//! base URLs are forced to the fakes whatever the environment says.

pub mod ui;

use dial_fakes::{livekit::FakeLiveKit, twilio::FakeTwilio};
use std::{net::SocketAddr, path::Path};

/// The files in the data directory that keep the simulated providers' worlds between runs.
pub const TWILIO_STATE_FILE: &str = "sandbox-twilio.json";
pub const LIVEKIT_STATE_FILE: &str = "sandbox-livekit.json";

/// Why the fakes could not start.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error(transparent)]
    State(#[from] dial_fakes::StateError),
    #[error("could not listen on loopback: {0}")]
    Listen(#[from] std::io::Error),
}

/// The credentials the fakes accept (flags of `dial sandbox`, defaults here). `Debug`
/// names the SID and key but not the token or secret.
#[derive(Clone)]
pub struct SandboxCredentials {
    pub twilio_account_sid: String,
    pub twilio_auth_token: String,
    pub livekit_api_key: String,
    pub livekit_api_secret: String,
}

impl std::fmt::Debug for SandboxCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SandboxCredentials")
            .field("twilio_account_sid", &self.twilio_account_sid)
            .field("twilio_auth_token", &"[redacted]")
            .field("livekit_api_key", &self.livekit_api_key)
            .field("livekit_api_secret", &"[redacted]")
            .finish()
    }
}

pub const DEFAULT_TWILIO_ACCOUNT_SID: &str = "ACd1a1d1a1d1a1d1a1d1a1d1a1d1a1d1a1";
pub const DEFAULT_TWILIO_AUTH_TOKEN: &str = "5a4db0c5a4db0c5a4db0c5a4db0c5a4d";
pub const DEFAULT_LIVEKIT_API_KEY: &str = "APIdialsandbox";
pub const DEFAULT_LIVEKIT_API_SECRET: &str = "dial-sandbox-secret-not-for-production";
/// Numbers on the sandbox's Twilio account from the start (bought "outside Dial").
pub const SANDBOX_EXISTING_NUMBERS: &[&str] = &["+12125550120", "+12125550121"];
/// What the sandbox tells Twilio's fake to use as LiveKit's SIP host (never dialled).
pub const SANDBOX_SIP_URI: &str = "dial-sandbox.sip.livekit.cloud";

impl Default for SandboxCredentials {
    fn default() -> Self {
        SandboxCredentials {
            twilio_account_sid: DEFAULT_TWILIO_ACCOUNT_SID.into(),
            twilio_auth_token: DEFAULT_TWILIO_AUTH_TOKEN.into(),
            livekit_api_key: DEFAULT_LIVEKIT_API_KEY.into(),
            livekit_api_secret: DEFAULT_LIVEKIT_API_SECRET.into(),
        }
    }
}

/// The running fakes.
#[derive(Clone)]
pub struct Sandbox {
    pub twilio: FakeTwilio,
    pub livekit: FakeLiveKit,
    pub twilio_url: String,
    pub livekit_url: String,
    pub credentials: SandboxCredentials,
}

impl Sandbox {
    /// Starts both fakes (port 0 picks free ports). With a `state_dir`, they keep their
    /// worlds there ([`TWILIO_STATE_FILE`], [`LIVEKIT_STATE_FILE`]): a restarted sandbox
    /// has the numbers, trunks and dispatch rules it had.
    pub async fn start(
        credentials: SandboxCredentials,
        twilio_addr: SocketAddr,
        livekit_addr: SocketAddr,
        state_dir: Option<&Path>,
    ) -> Result<Sandbox, SandboxError> {
        let first_run = state_dir.is_none_or(|dir| !dir.join(TWILIO_STATE_FILE).exists());
        // The simulated LiveKit keeps its default timing: calls ring and answer in a
        // fraction of a second, but rooms live as long as LiveKit's (20 s after the last
        // participant, 5 minutes unused) and a dial waits as long as LiveKit's 80 s. Dial
        // ends a call on its participant's leave, not on the room's close, so nothing
        // waits on that: room_finished arrives 20 s after the call, as from LiveKit.
        let (twilio, livekit) = match state_dir {
            Some(dir) => (
                FakeTwilio::with_state_file(&dir.join(TWILIO_STATE_FILE))?,
                FakeLiveKit::with_state_file(
                    &credentials.livekit_api_key,
                    &credentials.livekit_api_secret,
                    &dir.join(LIVEKIT_STATE_FILE),
                )?,
            ),
            None => (
                FakeTwilio::new(),
                FakeLiveKit::new(
                    &credentials.livekit_api_key,
                    &credentials.livekit_api_secret,
                ),
            ),
        };
        twilio.add_account(
            &credentials.twilio_account_sid,
            &credentials.twilio_auth_token,
            "Dial Sandbox",
        );
        // Numbers the sandbox account "already had" before Dial, to try "Import from Twilio"
        // (on the first run only: in a restored world, one released stays released).
        if first_run {
            for number in SANDBOX_EXISTING_NUMBERS {
                twilio.give_number(&credentials.twilio_account_sid, number);
            }
        }
        // LiveKit's REFERs for calls through Twilio trunks are answered by Twilio's fake.
        dial_fakes::link(&twilio, &livekit);
        let twilio_bound = twilio.serve(twilio_addr).await?;
        let livekit_bound = livekit.serve(livekit_addr).await?;
        Ok(Sandbox {
            twilio,
            livekit,
            twilio_url: format!("http://{twilio_bound}"),
            livekit_url: format!("http://{livekit_bound}"),
            credentials,
        })
    }
}
