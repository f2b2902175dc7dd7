//! A fake LiveKit server: Twirp `livekit.SIP`, `livekit.RoomService` and
//! `livekit.AgentDispatchService` over protobuf (what the `livekit-api` crate sends) and
//! JSON, with JWT verification and grants, LiveKit's validation and conflict rules and
//! error codes, IDs in LiveKit's formats, simulated outbound and inbound calls, and
//! webhooks signed as LiveKit signs them (with knobs to duplicate, delay, hold, reorder
//! and drop them).
//!
//! Call sequences follow livekit/sip: an inbound SIP participant joins `ringing` and is
//! answered when the room's agent publishes audio (`agent_answers`); an outbound one
//! joins `dialing`, rings, then is answered or fails with the Twirp code and
//! `disconnect_reason` LiveKit gives (see `calls.rs`). No webhook is sent for a status
//! change, as with LiveKit.
//!
//! Rooms live as livekit-server's do (see `rooms.rs`): a room outlives its last participant
//! by its `departure_timeout` (20 s by default) and a room nobody joined closes after its
//! `empty_timeout` (5 minutes); agents do not keep a room open. `room_finished` is sent
//! when it really closes. [`CallTiming::room_second`] shortens both for tests.
//!
//! Browsers join rooms through LiveKit's client signalling, `/rtc/v1`, with a real WebRTC
//! peer for their data channels (see `rtc.rs`).
//!
//! Known differences from the real server: JSON responses use snake_case names but, like
//! pbjson, omit fields that hold default values.

use crate::{
    faults::{Faults, Recorded},
    store::{StateError, StateFile},
};
use axum::{
    body::Bytes,
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post},
    Router,
};
use base64::{engine::general_purpose::STANDARD, Engine};
pub use dial_sip::normalize_number;
use dial_sip::{check_inbound_conflict, check_rule_conflict, normalized_set, rule_pin};
use livekit_api::access_token::{AccessToken, Claims, TokenVerifier};
use livekit_protocol as proto;
use prost::Message;
use proto::{participant_info, sip_dispatch_rule::Rule};
use serde::{de::DeserializeOwned, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::{
    collections::{BTreeMap, HashMap},
    net::{IpAddr, SocketAddr},
    path::Path as FilePath,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};
use tokio::sync::{mpsc, oneshot};

mod callees;
mod calls;
mod carrier;
mod rooms;
mod rtc;
mod sip;
mod transfer;
mod twirp;
mod webhooks;

pub use callees::{CallLength, CallLengthError, MixError, OutcomeMix, LONGEST_CALL};
pub use carrier::{DialPeer, DialledCall, InviteRefused};
pub use rtc::{ClientJoin, ReceivedDtmf, SERVER_VERSION};
use sip::*;
pub use transfer::{ReferPeer, ReferredCall};
pub use twirp::TwirpError;
use twirp::*;
pub use webhooks::sign_webhook;

// ---------------------------------------------------------------------------------------
// State

/// How an outbound call to a number ends (set per callee by tests or the sandbox user).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallOutcome {
    Answer,
    /// SIP 486 Busy Here.
    Busy,
    /// SIP 480 Temporarily Unavailable, after the ringing timeout.
    NoAnswer,
    /// SIP 603 Decline.
    Declined,
    /// The carrier refused the trunk's credentials (SIP 407), before ringing.
    TrunkAuthFailure,
}

/// How the carrier answers a transfer's REFER (see `transfer.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransferOutcome {
    Succeed,
    /// Refused with this SIP status (403 by the REFER's answer, 486 or 603 reported by a
    /// NOTIFY from the transfer target, ...): the call stays connected.
    Fail(u16),
}

/// A room's `empty_timeout` when neither CreateRoom nor the dispatch rule's room
/// configuration sets one: livekit/livekit `pkg/config/config.go` (`DefaultConfig`,
/// `Room.EmptyTimeout: 5 * 60`).
pub const DEFAULT_EMPTY_TIMEOUT_SECS: u32 = 5 * 60;

/// A room's `departure_timeout` by default: livekit/livekit `pkg/config/config.go`
/// (`Room.DepartureTimeout: 20`).
pub const DEFAULT_DEPARTURE_TIMEOUT_SECS: u32 = 20;

/// How long livekit-server waits for the SIP service to answer CreateSIPParticipant with
/// `wait_until_answered` (livekit/livekit `pkg/service/sip.go`, `CreateSIPParticipant`:
/// 80 s, or 30 s without it — time enough to join the room, which the fake does at once).
pub const SIP_WAIT_UNTIL_ANSWERED: Duration = Duration::from_secs(80);

/// The SIP bridge's ringing timeout when the request names none (livekit/sip
/// `pkg/sip/participant.go`, `defaultRingingTimeout`). livekit-api 0.10 sends 30 s itself
/// when it waits for the answer (`services/dial_timeout.rs`, `DEFAULT_RINGING_TIMEOUT`).
pub const DEFAULT_RINGING_TIMEOUT: Duration = Duration::from_secs(3 * 60);

#[derive(Debug, Clone, Copy)]
pub struct CallTiming {
    pub ringing_after: Duration,
    pub answer_after: Duration,
    /// An inbound call's agent joins and publishes audio this long after the call
    /// arrives (and so answers it); `None`: only [`FakeLiveKit::agent_answers`] does.
    pub agent_answers_after: Option<Duration>,
    /// How long one second of a room's `empty_timeout` and `departure_timeout` lasts here:
    /// 1 s, as on livekit-server; tests that wait for `room_finished` shorten it. The
    /// rooms still report their timeouts in seconds, as LiveKit's do.
    pub room_second: Duration,
    /// How long CreateSIPParticipant with `wait_until_answered` waits for the answer
    /// before failing `deadline_exceeded` ([`SIP_WAIT_UNTIL_ANSWERED`]; tests shorten it).
    pub sip_wait_until_answered: Duration,
}

impl Default for CallTiming {
    fn default() -> Self {
        CallTiming {
            ringing_after: Duration::from_millis(100),
            answer_after: Duration::from_millis(300),
            agent_answers_after: Some(Duration::from_millis(150)),
            room_second: Duration::from_secs(1),
            sip_wait_until_answered: SIP_WAIT_UNTIL_ANSWERED,
        }
    }
}

/// A call as the fake saw it (for assertions and the sandbox page).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FakeCall {
    pub call_id: String,
    pub direction: &'static str,
    pub room: String,
    pub identity: String,
    pub from: String,
    pub to: String,
    /// The caller ID the request named (`sip_number`), if it named one.
    pub sip_number: Option<String>,
    pub trunk_id: String,
    pub dtmf: String,
    pub display_name: Option<String>,
    pub play_dialtone: bool,
    /// The last `sip.callStatus` (a rejected or unanswered call keeps its last one).
    pub status: String,
    /// The call is over (it left LiveKit).
    pub ended: bool,
    pub transfers: Vec<String>,
    /// How the callee answers an outbound call (by its number, the mix or the default;
    /// see `callees.rs`); `None` for an inbound call, and for one the carrier refused
    /// before it reached the callee.
    pub outcome: Option<CallOutcome>,
}

#[derive(Debug, Clone, Default)]
struct RoomState {
    room: proto::Room,
    participants: Vec<proto::ParticipantInfo>,
    dispatches: Vec<proto::AgentDispatch>,
    /// When the room was made, the first participant that is not an agent joined, and
    /// the last participant left (livekit/livekit `pkg/rtc/room.go`: `CreationTime`,
    /// `joinedAt`, `leftAt`), for its closing (`rooms.rs`, `close_if_empty`).
    created_at: Option<Instant>,
    first_joined_at: Option<Instant>,
    last_left_at: Option<Instant>,
}

#[derive(Default)]
struct World {
    inbound: Vec<proto::SipInboundTrunkInfo>,
    outbound: Vec<proto::SipOutboundTrunkInfo>,
    rules: Vec<proto::SipDispatchRuleInfo>,
    rooms: BTreeMap<String, RoomState>,
    outcomes: HashMap<String, CallOutcome>,
    default_outcome: Option<CallOutcome>,
    /// Callees without an outcome of their own, by proportion (`callees.rs`).
    outcome_mix: Option<OutcomeMix>,
    /// How long answered calls last before the callee hangs up.
    call_length: Option<CallLength>,
    transfers: HashMap<String, TransferOutcome>,
    /// The carrier that answers REFERs (the sandbox links the Twilio fake).
    refer_peer: Option<ReferPeer>,
    /// The carrier that answers outbound calls' INVITEs (`carrier.rs`).
    dial_peer: Option<DialPeer>,
    calls: Vec<FakeCall>,
    /// Waiters of `wait_until_answered` calls, by call id.
    waiters: HashMap<String, oneshot::Sender<Result<(), TwirpError>>>,
    /// What an outbound call's answer turns into attributes, by call id: the header
    /// option and `headers_to_attributes` in force for it.
    answer_headers: HashMap<String, (i32, HashMap<String, String>)>,
    timing: CallTiming,
    /// Browsers and other signalling clients (`rtc.rs`); not saved in the state file.
    clients: rtc::Clients,
}

/// Webhook delivery knobs.
#[derive(Debug, Clone, Default)]
pub struct WebhookKnobs {
    /// Send every Nth event twice.
    pub duplicate_every: Option<u32>,
    /// Drop every Nth event.
    pub drop_every: Option<u32>,
    /// Wait this long before each send.
    pub delay: Option<Duration>,
    /// Keep events until [`FakeLiveKit::release_webhooks`] (to reorder or inspect them).
    pub hold: bool,
}

#[derive(Default)]
struct Webhooks {
    url: Option<String>,
    knobs: WebhookKnobs,
    counter: u32,
    held: Vec<(String, Vec<u8>)>,
    sent: Vec<proto::WebhookEvent>,
}

/// The result of a simulated inbound call that LiveKit routed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundRouted {
    pub call_id: String,
    pub trunk_id: String,
    pub rule_id: String,
    pub room: String,
    pub participant_identity: String,
    pub participant_name: String,
    /// (agent name, metadata) of each agent dispatched into the room.
    pub agents: Vec<(String, String)>,
}

/// Why LiveKit refused a simulated inbound call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InboundRejected {
    #[error(
        "no inbound trunk accepts calls to {to} from {from} (LiveKit answers 404 to the carrier)"
    )]
    NoTrunk { to: String, from: String },
    #[error("more than one inbound trunk matches calls to {to}: {trunks:?}")]
    SeveralTrunks { to: String, trunks: Vec<String> },
    #[error("inbound trunk {trunk} matched, but no dispatch rule accepts the call")]
    NoRule { trunk: String },
    #[error("the dispatch rule requires a PIN, and the caller gave a wrong one")]
    WrongPin,
}

/// What a state file holds: the SIP trunks and dispatch rules (each list as the protobuf
/// of its List response, base64), and the outcomes, mix and call length the sandbox user
/// chose (the last two absent from files written before they existed).
#[derive(Serialize, serde::Deserialize)]
struct Saved {
    inbound: String,
    outbound: String,
    rules: String,
    outcomes: BTreeMap<String, CallOutcome>,
    default_outcome: Option<CallOutcome>,
    #[serde(default)]
    outcome_mix: Option<OutcomeMix>,
    #[serde(default)]
    call_length: Option<CallLength>,
}

impl World {
    fn saved(&self) -> Saved {
        let inbound = proto::ListSipInboundTrunkResponse {
            items: self.inbound.clone(),
        };
        let outbound = proto::ListSipOutboundTrunkResponse {
            items: self.outbound.clone(),
        };
        let rules = proto::ListSipDispatchRuleResponse {
            items: self.rules.clone(),
        };
        Saved {
            inbound: STANDARD.encode(inbound.encode_to_vec()),
            outbound: STANDARD.encode(outbound.encode_to_vec()),
            rules: STANDARD.encode(rules.encode_to_vec()),
            outcomes: self.outcomes.clone().into_iter().collect(),
            default_outcome: self.default_outcome,
            outcome_mix: self.outcome_mix.clone(),
            call_length: self.call_length,
        }
    }

    fn restore(saved: Saved) -> Result<World, String> {
        fn list<M: Message + Default>(text: &str) -> Result<M, String> {
            let bytes = STANDARD.decode(text).map_err(|e| e.to_string())?;
            M::decode(bytes.as_slice()).map_err(|e| e.to_string())
        }
        Ok(World {
            inbound: list::<proto::ListSipInboundTrunkResponse>(&saved.inbound)?.items,
            outbound: list::<proto::ListSipOutboundTrunkResponse>(&saved.outbound)?.items,
            rules: list::<proto::ListSipDispatchRuleResponse>(&saved.rules)?.items,
            outcomes: saved.outcomes.into_iter().collect(),
            default_outcome: saved.default_outcome,
            outcome_mix: saved.outcome_mix,
            call_length: saved.call_length,
            ..World::default()
        })
    }
}

#[derive(Clone)]
pub struct FakeLiveKit {
    world: Arc<Mutex<World>>,
    /// Where the SIP objects are saved after every change (sandbox mode), if anywhere.
    store: Option<Arc<StateFile>>,
    webhooks: Arc<Mutex<Webhooks>>,
    sender: mpsc::UnboundedSender<(String, Vec<u8>)>,
    api_key: String,
    api_secret: String,
    pub faults: Faults,
}

fn id(prefix: &str) -> String {
    let u = uuid::Uuid::new_v4().simple().to_string();
    format!("{prefix}{}", &u[..12])
}

fn now_secs() -> i64 {
    crate::now()
}

fn pb_duration(d: &Option<pbjson_types::Duration>) -> Option<Duration> {
    d.as_ref().and_then(|d| {
        let secs = u64::try_from(d.seconds).ok()?;
        Some(Duration::from_secs(secs) + Duration::from_nanos(u64::try_from(d.nanos).unwrap_or(0)))
    })
}

impl FakeLiveKit {
    /// A fake that keeps its SIP trunks, dispatch rules and chosen outcomes in the JSON
    /// file at `path`: read now if it exists, written after every change.
    pub fn with_state_file(
        api_key: &str,
        api_secret: &str,
        path: &FilePath,
    ) -> Result<Self, StateError> {
        let (file, saved) = StateFile::open::<Saved>(path)?;
        let world = match saved {
            Some(saved) => World::restore(saved).map_err(|reason| StateError::Parse {
                path: path.display().to_string(),
                source: serde::de::Error::custom(reason),
            })?,
            None => World::default(),
        };
        let mut fake = FakeLiveKit::new(api_key, api_secret);
        fake.world = Arc::new(Mutex::new(world));
        fake.store = Some(Arc::new(file));
        Ok(fake)
    }

    /// Writes the SIP objects to the state file, if the fake has one and they changed.
    pub(crate) fn save(&self) {
        let Some(store) = &self.store else {
            return;
        };
        // The world is read inside `save`, so the last write is the newest world.
        store.save(|| self.world.lock().ok().map(|w| w.saved()));
    }

    pub fn new(api_key: &str, api_secret: &str) -> Self {
        let (sender, mut receiver) = mpsc::unbounded_channel::<(String, Vec<u8>)>();
        let http = reqwest::Client::new();
        let fake = FakeLiveKit {
            world: Arc::new(Mutex::new(World::default())),
            store: None,
            webhooks: Arc::new(Mutex::new(Webhooks::default())),
            sender,
            api_key: api_key.to_string(),
            api_secret: api_secret.to_string(),
            faults: Faults::default(),
        };
        // One sender task keeps each room's events in order, as LiveKit does.
        let signer = (fake.api_key.clone(), fake.api_secret.clone());
        tokio::spawn(async move {
            while let Some((url, body)) = receiver.recv().await {
                let token = sign_webhook(&signer.0, &signer.1, &body);
                let result = http
                    .post(&url)
                    .header("content-type", "application/webhook+json")
                    .header("authorization", token)
                    .body(body)
                    .timeout(Duration::from_secs(5))
                    .send()
                    .await;
                if let Err(e) = result {
                    tracing::debug!(error = %e, "fake LiveKit could not deliver a webhook");
                }
            }
        });
        fake
    }

    pub fn api_key(&self) -> &str {
        &self.api_key
    }

    pub fn set_webhook_url(&self, url: Option<String>) {
        if let Ok(mut w) = self.webhooks.lock() {
            w.url = url;
        }
    }

    pub fn set_webhook_knobs(&self, knobs: WebhookKnobs) {
        if let Ok(mut w) = self.webhooks.lock() {
            w.knobs = knobs;
        }
    }

    /// Sends the held webhooks, in the order `order` gives (indexes into the held list);
    /// `None` keeps their order.
    pub fn release_webhooks(&self, order: Option<Vec<usize>>) {
        let held = match self.webhooks.lock() {
            Ok(mut w) => std::mem::take(&mut w.held),
            Err(_) => return,
        };
        let order = order.unwrap_or_else(|| (0..held.len()).collect());
        for i in order {
            if let Some(item) = held.get(i) {
                let _ = self.sender.send(item.clone());
            }
        }
    }

    /// Every webhook event generated so far (sent, held or dropped), oldest first.
    pub fn webhook_events(&self) -> Vec<proto::WebhookEvent> {
        self.webhooks
            .lock()
            .map(|w| w.sent.clone())
            .unwrap_or_default()
    }

    pub fn set_timing(&self, timing: CallTiming) {
        if let Ok(mut w) = self.world.lock() {
            w.timing = timing;
        }
    }

    /// How calls to `number` end; `None` for the number resets it to the default.
    pub fn set_outcome(&self, number: &str, outcome: CallOutcome) {
        if let Ok(mut w) = self.world.lock() {
            w.outcomes.insert(normalize_number(number), outcome);
        }
        self.save();
    }

    /// How calls to numbers without their own outcome end (default: answered).
    pub fn set_default_outcome(&self, outcome: CallOutcome) {
        if let Ok(mut w) = self.world.lock() {
            w.default_outcome = Some(outcome);
        }
        self.save();
    }

    pub fn outcomes(&self) -> (CallOutcome, Vec<(String, CallOutcome)>) {
        self.world
            .lock()
            .map(|w| {
                let mut list: Vec<(String, CallOutcome)> =
                    w.outcomes.iter().map(|(k, v)| (k.clone(), *v)).collect();
                list.sort_by(|a, b| a.0.cmp(&b.0));
                (w.default_outcome.unwrap_or(CallOutcome::Answer), list)
            })
            .unwrap_or((CallOutcome::Answer, Vec::new()))
    }

    pub fn set_transfer_outcome(&self, destination: &str, outcome: TransferOutcome) {
        if let Ok(mut w) = self.world.lock() {
            w.transfers.insert(destination.to_string(), outcome);
        }
    }

    pub fn calls(&self) -> Vec<FakeCall> {
        self.world
            .lock()
            .map(|w| w.calls.clone())
            .unwrap_or_default()
    }

    pub fn inbound_trunks(&self) -> Vec<proto::SipInboundTrunkInfo> {
        self.world
            .lock()
            .map(|w| w.inbound.clone())
            .unwrap_or_default()
    }

    pub fn outbound_trunks(&self) -> Vec<proto::SipOutboundTrunkInfo> {
        self.world
            .lock()
            .map(|w| w.outbound.clone())
            .unwrap_or_default()
    }

    pub fn dispatch_rules(&self) -> Vec<proto::SipDispatchRuleInfo> {
        self.world
            .lock()
            .map(|w| w.rules.clone())
            .unwrap_or_default()
    }

    pub fn rooms(&self) -> Vec<String> {
        self.world
            .lock()
            .map(|w| w.rooms.keys().cloned().collect())
            .unwrap_or_default()
    }

    pub fn participants(&self, room: &str) -> Vec<proto::ParticipantInfo> {
        self.world
            .lock()
            .ok()
            .and_then(|w| w.rooms.get(room).map(|r| r.participants.clone()))
            .unwrap_or_default()
    }

    pub fn agent_dispatches(&self, room: &str) -> Vec<proto::AgentDispatch> {
        self.world
            .lock()
            .ok()
            .and_then(|w| w.rooms.get(room).map(|r| r.dispatches.clone()))
            .unwrap_or_default()
    }

    pub fn router(&self) -> Router {
        Router::new()
            .route("/twirp/{service}/{method}", post(handle))
            .route("/rtc/v1", get(rtc::signal))
            .route("/rtc/v1/validate", get(rtc::validate))
            .route("/rtc", get(rtc::v0))
            .route("/rtc/validate", get(rtc::v0))
            .route("/fake/clients", get(rtc::clients_json))
            .with_state(self.clone())
    }

    pub async fn serve(&self, addr: SocketAddr) -> std::io::Result<SocketAddr> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let bound = listener.local_addr()?;
        let router = self.router();
        tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, router).await {
                tracing::error!(error = %e, "fake LiveKit stopped");
            }
        });
        Ok(bound)
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, World>, TwirpError> {
        self.world
            .lock()
            .map_err(|_| TwirpError::new("internal", "state lock poisoned"))
    }
}
