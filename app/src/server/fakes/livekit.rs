//! A fake LiveKit server: Twirp `livekit.SIP`, `livekit.RoomService` and
//! `livekit.AgentDispatchService` over protobuf (what the `livekit-api` crate sends) and
//! JSON, with JWT verification and grants, LiveKit's validation and conflict rules and
//! error codes, IDs in LiveKit's formats, simulated outbound and inbound calls, and
//! webhooks signed as LiveKit signs them (with knobs to duplicate, delay, hold, reorder
//! and drop them).
//!
//! Known differences from the real server: JSON responses use snake_case names but, like
//! pbjson, omit fields that hold default values; rooms are never closed by an empty
//! timeout, only when their last SIP participant leaves or when deleted.

use super::faults::{Faults, Recorded};
pub use crate::server::sip_rules::normalize_number;
use crate::server::sip_rules::{
    check_inbound_conflict, check_rule_conflict, normalized_set, rule_pin,
};
use axum::{
    body::Bytes,
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::post,
    Router,
};
use base64::{engine::general_purpose::STANDARD, Engine};
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
    sync::{Arc, Mutex},
    time::Duration,
};
use tokio::sync::{mpsc, oneshot};

// ---------------------------------------------------------------------------------------
// Errors

/// A Twirp error as LiveKit sends it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TwirpError {
    pub code: &'static str,
    pub msg: String,
    pub meta: BTreeMap<String, String>,
}

impl TwirpError {
    pub fn new(code: &'static str, msg: impl Into<String>) -> Self {
        TwirpError {
            code,
            msg: msg.into(),
            meta: BTreeMap::new(),
        }
    }

    fn invalid(msg: impl Into<String>) -> Self {
        Self::new("invalid_argument", msg)
    }

    fn not_found(msg: impl Into<String>) -> Self {
        Self::new("not_found", msg)
    }

    fn status(&self) -> StatusCode {
        match self.code {
            "invalid_argument" | "malformed" | "out_of_range" => StatusCode::BAD_REQUEST,
            "not_found" | "bad_route" => StatusCode::NOT_FOUND,
            "unauthenticated" => StatusCode::UNAUTHORIZED,
            "permission_denied" => StatusCode::FORBIDDEN,
            "already_exists" | "aborted" => StatusCode::CONFLICT,
            "failed_precondition" => StatusCode::PRECONDITION_FAILED,
            "resource_exhausted" => StatusCode::TOO_MANY_REQUESTS,
            "deadline_exceeded" => StatusCode::REQUEST_TIMEOUT,
            "unimplemented" => StatusCode::NOT_IMPLEMENTED,
            "unavailable" => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// A call that failed with a SIP status.
    fn sip(code: &'static str, status: u16, reason: &str) -> Self {
        let mut e = Self::new(code, format!("sip status: {status}: {reason}"));
        e.meta.insert("sip_status_code".into(), status.to_string());
        e.meta.insert("sip_status".into(), reason.to_string());
        e
    }

    fn into_response(self) -> Response {
        (
            self.status(),
            axum::Json(json!({ "code": self.code, "msg": self.msg, "meta": self.meta })),
        )
            .into_response()
    }
}

// ---------------------------------------------------------------------------------------
// Numbers and matching rules (WIRE.md)

fn validate_inbound(t: &proto::SipInboundTrunkInfo) -> Result<(), TwirpError> {
    let has_auth = !t.auth_username.is_empty() && !t.auth_password.is_empty();
    if !has_auth && t.allowed_addresses.is_empty() && t.numbers.is_empty() {
        return Err(TwirpError::invalid(
            "for security, one of the fields must be set: AuthUsername+AuthPassword, AllowedAddresses or Numbers",
        ));
    }
    for address in &t.allowed_addresses {
        if parse_cidr(address).is_none() {
            return Err(TwirpError::invalid(format!(
                "invalid allowed address {address:?}: expected an IP address or CIDR"
            )));
        }
    }
    Ok(())
}

fn validate_outbound(t: &proto::SipOutboundTrunkInfo) -> Result<(), TwirpError> {
    let a = t.address.trim();
    if a.is_empty() {
        return Err(TwirpError::invalid("no trunk address specified"));
    }
    let lower = a.to_ascii_lowercase();
    if lower.starts_with("sip:") || lower.starts_with("sips:") {
        return Err(TwirpError::invalid(format!(
            "trunk address should be a hostname or IP, not SIP URI: {a:?}"
        )));
    }
    if a.contains('@') || a.contains(';') || lower.contains("transport=") {
        return Err(TwirpError::invalid(format!(
            "trunk address should be a hostname or IP (without user or parameters): {a:?}"
        )));
    }
    if t.numbers.is_empty() {
        return Err(TwirpError::invalid("no trunk numbers specified"));
    }
    if proto::SipTransport::try_from(t.transport).is_err() {
        return Err(TwirpError::invalid(format!(
            "invalid transport {}",
            t.transport
        )));
    }
    Ok(())
}

fn parse_cidr(s: &str) -> Option<(IpAddr, u8)> {
    let (ip, bits) = match s.split_once('/') {
        Some((ip, bits)) => (ip.parse::<IpAddr>().ok()?, bits.parse::<u8>().ok()?),
        None => {
            let ip = s.parse::<IpAddr>().ok()?;
            (ip, if ip.is_ipv4() { 32 } else { 128 })
        }
    };
    let max = if ip.is_ipv4() { 32 } else { 128 };
    (bits <= max).then_some((ip, bits))
}

fn cidr_contains(cidr: &str, ip: IpAddr) -> bool {
    let Some((net, bits)) = parse_cidr(cidr) else {
        return false;
    };
    match (net, ip) {
        (IpAddr::V4(n), IpAddr::V4(i)) => {
            let mask = if bits == 0 {
                0
            } else {
                u32::MAX << (32 - u32::from(bits))
            };
            (u32::from(n) & mask) == (u32::from(i) & mask)
        }
        (IpAddr::V6(n), IpAddr::V6(i)) => {
            let mask = if bits == 0 {
                0
            } else {
                u128::MAX << (128 - u32::from(bits))
            };
            (u128::from(n) & mask) == (u128::from(i) & mask)
        }
        _ => false,
    }
}

// ---------------------------------------------------------------------------------------
// State

/// How an outbound call to a number ends (set per callee by tests or the sandbox user).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
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

/// How a transfer to a destination ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransferOutcome {
    Succeed,
    /// Fails with this SIP status (486, 603, 408, ...).
    Fail(u16),
}

#[derive(Debug, Clone, Copy)]
pub struct CallTiming {
    pub ringing_after: Duration,
    pub answer_after: Duration,
}

impl Default for CallTiming {
    fn default() -> Self {
        CallTiming {
            ringing_after: Duration::from_millis(100),
            answer_after: Duration::from_millis(300),
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
    pub trunk_id: String,
    pub dtmf: String,
    pub display_name: Option<String>,
    pub play_dialtone: bool,
    pub status: String,
    pub transfers: Vec<String>,
}

#[derive(Debug, Clone, Default)]
struct RoomState {
    room: proto::Room,
    participants: Vec<proto::ParticipantInfo>,
    dispatches: Vec<proto::AgentDispatch>,
}

#[derive(Default)]
struct World {
    inbound: Vec<proto::SipInboundTrunkInfo>,
    outbound: Vec<proto::SipOutboundTrunkInfo>,
    rules: Vec<proto::SipDispatchRuleInfo>,
    rooms: BTreeMap<String, RoomState>,
    outcomes: HashMap<String, CallOutcome>,
    default_outcome: Option<CallOutcome>,
    transfers: HashMap<String, TransferOutcome>,
    calls: Vec<FakeCall>,
    /// Waiters of `wait_until_answered` calls, by call id.
    waiters: HashMap<String, oneshot::Sender<Result<(), TwirpError>>>,
    timing: CallTiming,
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

#[derive(Clone)]
pub struct FakeLiveKit {
    world: Arc<Mutex<World>>,
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
    crate::server::now()
}

fn pb_duration(d: &Option<pbjson_types::Duration>) -> Option<Duration> {
    d.as_ref().and_then(|d| {
        let secs = u64::try_from(d.seconds).ok()?;
        Some(Duration::from_secs(secs) + Duration::from_nanos(u64::try_from(d.nanos).unwrap_or(0)))
    })
}

impl FakeLiveKit {
    pub fn new(api_key: &str, api_secret: &str) -> Self {
        let (sender, mut receiver) = mpsc::unbounded_channel::<(String, Vec<u8>)>();
        let http = reqwest::Client::new();
        let fake = FakeLiveKit {
            world: Arc::new(Mutex::new(World::default())),
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
    }

    /// How calls to numbers without their own outcome end (default: answered).
    pub fn set_default_outcome(&self, outcome: CallOutcome) {
        if let Ok(mut w) = self.world.lock() {
            w.default_outcome = Some(outcome);
        }
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

    // -- Webhooks -------------------------------------------------------------------------

    fn emit(&self, event: &str, room: &proto::Room, participant: Option<&proto::ParticipantInfo>) {
        let webhook = proto::WebhookEvent {
            event: event.to_string(),
            room: Some(room.clone()),
            participant: participant.cloned(),
            id: id("EV_"),
            created_at: now_secs(),
            ..Default::default()
        };
        let Ok(body) = serde_json::to_vec(&webhook) else {
            return;
        };
        let Ok(mut w) = self.webhooks.lock() else {
            return;
        };
        w.sent.push(webhook);
        let Some(url) = w.url.clone() else { return };
        w.counter += 1;
        let n = w.counter;
        if w.knobs.drop_every.is_some_and(|d| d > 0 && n % d == 0) {
            return;
        }
        let copies = if w.knobs.duplicate_every.is_some_and(|d| d > 0 && n % d == 0) {
            2
        } else {
            1
        };
        for _ in 0..copies {
            if w.knobs.hold {
                w.held.push((url.clone(), body.clone()));
            } else if let Some(delay) = w.knobs.delay {
                let sender = self.sender.clone();
                let item = (url.clone(), body.clone());
                tokio::spawn(async move {
                    tokio::time::sleep(delay).await;
                    let _ = sender.send(item);
                });
            } else {
                let _ = self.sender.send((url.clone(), body.clone()));
            }
        }
    }

    // -- Rooms and participants -----------------------------------------------------------

    fn ensure_room(&self, world: &mut World, name: &str, metadata: &str) -> (proto::Room, bool) {
        if let Some(r) = world.rooms.get(name) {
            return (r.room.clone(), false);
        }
        let room = proto::Room {
            sid: id("RM_"),
            name: name.to_string(),
            metadata: metadata.to_string(),
            creation_time: now_secs(),
            creation_time_ms: now_secs() * 1000,
            empty_timeout: 300,
            departure_timeout: 20,
            ..Default::default()
        };
        world.rooms.insert(
            name.to_string(),
            RoomState {
                room: room.clone(),
                ..Default::default()
            },
        );
        (room, true)
    }

    fn set_status(
        &self,
        room: &str,
        identity: &str,
        status: &str,
    ) -> Option<(proto::Room, proto::ParticipantInfo)> {
        let mut w = self.world.lock().ok()?;
        if let Some(call) = w
            .calls
            .iter_mut()
            .find(|c| c.room == room && c.identity == identity)
        {
            call.status = status.to_string();
        }
        let r = w.rooms.get_mut(room)?;
        let p = r.participants.iter_mut().find(|p| p.identity == identity)?;
        p.attributes
            .insert("sip.callStatus".into(), status.to_string());
        if status == "active" {
            p.state = participant_info::State::Active as i32;
        }
        Some((r.room.clone(), p.clone()))
    }

    /// Ends a SIP participant's call: status hangup, removed from the room, webhooks; the
    /// room closes when no participant is left.
    fn end_call(&self, room: &str, identity: &str, aborted: bool) {
        let removed = {
            let Ok(mut w) = self.world.lock() else { return };
            if let Some(call) = w
                .calls
                .iter_mut()
                .find(|c| c.room == room && c.identity == identity && c.status != "hangup")
            {
                call.status = "hangup".into();
            }
            let Some(r) = w.rooms.get_mut(room) else {
                return;
            };
            let Some(index) = r.participants.iter().position(|p| p.identity == identity) else {
                return;
            };
            let mut p = r.participants.remove(index);
            p.attributes
                .insert("sip.callStatus".into(), "hangup".into());
            p.state = participant_info::State::Disconnected as i32;
            let empty = r.participants.is_empty();
            let room_info = r.room.clone();
            if empty {
                w.rooms.remove(room);
            }
            Some((room_info, p, empty))
        };
        if let Some((room_info, p, empty)) = removed {
            self.emit(
                if aborted {
                    "participant_connection_aborted"
                } else {
                    "participant_left"
                },
                &room_info,
                Some(&p),
            );
            if empty {
                self.emit("room_finished", &room_info, None);
            }
        }
    }

    // -- Inbound calls --------------------------------------------------------------------

    /// "A call arrives for `to` from `from`" (from the carrier at `source`): runs LiveKit's
    /// matching and, when it routes, creates the room, the SIP participant and the agent
    /// dispatches, and sends the webhooks.
    pub fn simulate_inbound(
        &self,
        to: &str,
        from: &str,
        source: IpAddr,
        pin: Option<&str>,
        twilio_call_sid: Option<&str>,
    ) -> Result<InboundRouted, InboundRejected> {
        let to_n = normalize_number(to);
        let from_n = normalize_number(from);
        let (room, participant, routed, created) = {
            let mut w = self.world.lock().map_err(|_| InboundRejected::NoTrunk {
                to: to_n.clone(),
                from: from_n.clone(),
            })?;
            // Trunks that accept the call; a trunk naming the number beats a wildcard one.
            let accepts = |t: &proto::SipInboundTrunkInfo| {
                let number_ok = t.numbers.is_empty() || normalized_set(&t.numbers).contains(&to_n);
                let address_ok = t.allowed_addresses.is_empty()
                    || t.allowed_addresses.iter().any(|a| cidr_contains(a, source));
                let caller_ok = t.allowed_numbers.is_empty()
                    || normalized_set(&t.allowed_numbers).contains(&from_n);
                number_ok && address_ok && caller_ok
            };
            let candidates: Vec<&proto::SipInboundTrunkInfo> =
                w.inbound.iter().filter(|t| accepts(t)).collect();
            let specific: Vec<&proto::SipInboundTrunkInfo> = candidates
                .iter()
                .copied()
                .filter(|t| !t.numbers.is_empty())
                .collect();
            let pool = if specific.is_empty() {
                candidates
            } else {
                specific
            };
            let best: Vec<&proto::SipInboundTrunkInfo> =
                if pool.iter().any(|t| !t.allowed_numbers.is_empty()) {
                    pool.into_iter()
                        .filter(|t| !t.allowed_numbers.is_empty())
                        .collect()
                } else {
                    pool
                };
            let trunk = match best.as_slice() {
                [] => {
                    return Err(InboundRejected::NoTrunk {
                        to: to_n,
                        from: from_n,
                    })
                }
                [one] => (*one).clone(),
                many => {
                    return Err(InboundRejected::SeveralTrunks {
                        to: to_n,
                        trunks: many.iter().map(|t| t.sip_trunk_id.clone()).collect(),
                    })
                }
            };
            // Rules for this trunk (a rule naming the trunk beats a rule for all trunks).
            let rule_ok = |r: &proto::SipDispatchRuleInfo| {
                (r.trunk_ids.is_empty() || r.trunk_ids.contains(&trunk.sip_trunk_id))
                    && (r.inbound_numbers.is_empty()
                        || normalized_set(&r.inbound_numbers).contains(&from_n))
                    && (r.numbers.is_empty() || normalized_set(&r.numbers).contains(&to_n))
            };
            let mut rules: Vec<&proto::SipDispatchRuleInfo> =
                w.rules.iter().filter(|r| rule_ok(r)).collect();
            rules.sort_by_key(|r| r.trunk_ids.is_empty());
            if rules.is_empty() {
                return Err(InboundRejected::NoRule {
                    trunk: trunk.sip_trunk_id,
                });
            }
            let given_pin = pin.unwrap_or("");
            let rule = rules
                .iter()
                .find(|r| {
                    let p = rule_pin(r);
                    p.is_empty() || p == given_pin
                })
                .map(|r| (*r).clone())
                .ok_or(InboundRejected::WrongPin)?;
            let suffix = || uuid::Uuid::new_v4().simple().to_string()[..12].to_string();
            let room_name = match rule.rule.as_ref().and_then(|r| r.rule.as_ref()) {
                Some(Rule::DispatchRuleDirect(d)) => d.room_name.clone(),
                Some(Rule::DispatchRuleIndividual(i)) => {
                    if i.no_randomness {
                        format!("{}_{}", i.room_prefix, from_n)
                    } else {
                        format!("{}_{}_{}", i.room_prefix, from_n, suffix())
                    }
                }
                Some(Rule::DispatchRuleCallee(c)) => {
                    if c.randomize {
                        format!("{}_{}_{}", c.room_prefix, to_n, suffix())
                    } else {
                        format!("{}_{}", c.room_prefix, to_n)
                    }
                }
                None => {
                    return Err(InboundRejected::NoRule {
                        trunk: trunk.sip_trunk_id,
                    })
                }
            };
            let config = rule.room_config.clone().unwrap_or_default();
            let (room, created) = self.ensure_room(&mut w, &room_name, &config.metadata);
            let call_id = id("SCL_");
            let identity = format!("sip_{from_n}");
            let mut attributes: HashMap<String, String> = rule.attributes.clone();
            attributes.insert("sip.callID".into(), call_id.clone());
            attributes.insert("sip.callStatus".into(), "active".into());
            attributes.insert(
                "sip.phoneNumber".into(),
                if rule.hide_phone_number {
                    String::new()
                } else {
                    from_n.clone()
                },
            );
            attributes.insert("sip.trunkID".into(), trunk.sip_trunk_id.clone());
            attributes.insert("sip.ruleID".into(), rule.sip_dispatch_rule_id.clone());
            attributes.insert("sip.trunkPhoneNumber".into(), to_n.clone());
            attributes.insert("sip.hostname".into(), source.to_string());
            if let Some(sid) = twilio_call_sid {
                attributes.insert("sip.twilio.callSid".into(), sid.to_string());
                attributes.insert("sip.twilio.accountSid".into(), String::new());
            }
            let participant = proto::ParticipantInfo {
                sid: id("PA_"),
                identity: identity.clone(),
                name: format!("Phone {from_n}"),
                state: participant_info::State::Active as i32,
                joined_at: now_secs(),
                joined_at_ms: now_secs() * 1000,
                kind: participant_info::Kind::Sip as i32,
                attributes,
                ..Default::default()
            };
            let mut agents = Vec::new();
            let r = w.rooms.entry(room_name.clone()).or_default();
            r.participants.push(participant.clone());
            for agent in &config.agents {
                r.dispatches.push(proto::AgentDispatch {
                    id: id("AD_"),
                    agent_name: agent.agent_name.clone(),
                    room: room_name.clone(),
                    metadata: agent.metadata.clone(),
                    ..Default::default()
                });
                agents.push((agent.agent_name.clone(), agent.metadata.clone()));
            }
            w.calls.push(FakeCall {
                call_id: call_id.clone(),
                direction: "inbound",
                room: room_name.clone(),
                identity: identity.clone(),
                from: from_n.clone(),
                to: to_n.clone(),
                trunk_id: trunk.sip_trunk_id.clone(),
                dtmf: String::new(),
                display_name: None,
                play_dialtone: false,
                status: "active".into(),
                transfers: Vec::new(),
            });
            let routed = InboundRouted {
                call_id,
                trunk_id: trunk.sip_trunk_id.clone(),
                rule_id: rule.sip_dispatch_rule_id.clone(),
                room: room_name,
                participant_identity: identity,
                participant_name: participant.name.clone(),
                agents,
            };
            (room, participant, routed, created)
        };
        if created {
            self.emit("room_started", &room, None);
        }
        self.emit("participant_joined", &room, Some(&participant));
        Ok(routed)
    }

    /// Adds an inbound trunk without LiveKit's checks — a trunk created before LiveKit
    /// enforced its conflict rules, which real projects can still hold.
    pub fn insert_legacy_inbound_trunk(&self, mut trunk: proto::SipInboundTrunkInfo) -> String {
        trunk.sip_trunk_id = id("ST_");
        let trunk_id = trunk.sip_trunk_id.clone();
        if let Ok(mut w) = self.world.lock() {
            w.inbound.push(trunk);
        }
        trunk_id
    }

    /// The caller hangs up a call (inbound or outbound) from the phone side.
    pub fn hang_up_from_phone(&self, room: &str, identity: &str) {
        self.end_call(room, identity, false);
    }

    // -- Twirp methods --------------------------------------------------------------------

    fn sip_method(
        &self,
        method: &str,
        body: Body<'_>,
        claims: &Claims,
    ) -> Result<Vec<u8>, TwirpError> {
        let admin = claims.sip.admin;
        let need_admin = || {
            if admin {
                Ok(())
            } else {
                Err(TwirpError::new("unauthenticated", "permissions denied"))
            }
        };
        match method {
            "CreateSIPInboundTrunk" => {
                need_admin()?;
                let req: proto::CreateSipInboundTrunkRequest = body.decode()?;
                let mut trunk = req
                    .trunk
                    .ok_or_else(|| TwirpError::invalid("trunk is required"))?;
                if !trunk.sip_trunk_id.is_empty() {
                    return Err(TwirpError::invalid("trunk ID must be empty"));
                }
                validate_inbound(&trunk)?;
                trunk.sip_trunk_id = id("ST_");
                let mut w = self.lock()?;
                check_inbound_conflict(&trunk, &w.inbound)
                    .map_err(|c| TwirpError::invalid(c.message))?;
                w.inbound.push(trunk.clone());
                body.encode(&trunk)
            }
            "UpdateSIPInboundTrunk" => {
                need_admin()?;
                let req: proto::UpdateSipInboundTrunkRequest = body.decode()?;
                let mut w = self.lock()?;
                let index = w
                    .inbound
                    .iter()
                    .position(|t| t.sip_trunk_id == req.sip_trunk_id)
                    .ok_or_else(|| TwirpError::not_found("requested sip trunk does not exist"))?;
                let mut trunk = w.inbound[index].clone();
                match req.action {
                    Some(proto::update_sip_inbound_trunk_request::Action::Replace(mut t)) => {
                        t.sip_trunk_id = trunk.sip_trunk_id.clone();
                        trunk = t;
                    }
                    Some(proto::update_sip_inbound_trunk_request::Action::Update(u)) => {
                        apply_list(&mut trunk.numbers, u.numbers);
                        apply_list(&mut trunk.allowed_addresses, u.allowed_addresses);
                        apply_list(&mut trunk.allowed_numbers, u.allowed_numbers);
                        if let Some(v) = u.auth_username {
                            trunk.auth_username = v;
                        }
                        if let Some(v) = u.auth_password {
                            trunk.auth_password = v;
                        }
                        if let Some(v) = u.name {
                            trunk.name = v;
                        }
                        if let Some(v) = u.metadata {
                            trunk.metadata = v;
                        }
                    }
                    None => return Err(TwirpError::invalid("action is required")),
                }
                validate_inbound(&trunk)?;
                check_inbound_conflict(&trunk, &w.inbound)
                    .map_err(|c| TwirpError::invalid(c.message))?;
                w.inbound[index] = trunk.clone();
                body.encode(&trunk)
            }
            "GetSIPInboundTrunk" => {
                need_admin()?;
                let req: proto::GetSipInboundTrunkRequest = body.decode()?;
                let w = self.lock()?;
                let trunk = w
                    .inbound
                    .iter()
                    .find(|t| t.sip_trunk_id == req.sip_trunk_id)
                    .cloned()
                    .ok_or_else(|| TwirpError::not_found("requested sip trunk does not exist"))?;
                body.encode(&proto::GetSipInboundTrunkResponse { trunk: Some(trunk) })
            }
            "ListSIPInboundTrunk" => {
                need_admin()?;
                let req: proto::ListSipInboundTrunkRequest = body.decode()?;
                let w = self.lock()?;
                let wanted = normalized_set(&req.numbers);
                let items = w
                    .inbound
                    .iter()
                    .filter(|t| req.trunk_ids.is_empty() || req.trunk_ids.contains(&t.sip_trunk_id))
                    .filter(|t| {
                        wanted.is_empty()
                            || normalized_set(&t.numbers)
                                .iter()
                                .any(|n| wanted.contains(n))
                    })
                    .cloned()
                    .collect();
                body.encode(&proto::ListSipInboundTrunkResponse { items })
            }
            "CreateSIPOutboundTrunk" => {
                need_admin()?;
                let req: proto::CreateSipOutboundTrunkRequest = body.decode()?;
                let mut trunk = req
                    .trunk
                    .ok_or_else(|| TwirpError::invalid("trunk is required"))?;
                if !trunk.sip_trunk_id.is_empty() {
                    return Err(TwirpError::invalid("trunk ID must be empty"));
                }
                validate_outbound(&trunk)?;
                trunk.sip_trunk_id = id("ST_");
                self.lock()?.outbound.push(trunk.clone());
                body.encode(&trunk)
            }
            "UpdateSIPOutboundTrunk" => {
                need_admin()?;
                let req: proto::UpdateSipOutboundTrunkRequest = body.decode()?;
                let mut w = self.lock()?;
                let index = w
                    .outbound
                    .iter()
                    .position(|t| t.sip_trunk_id == req.sip_trunk_id)
                    .ok_or_else(|| TwirpError::not_found("requested sip trunk does not exist"))?;
                let mut trunk = w.outbound[index].clone();
                match req.action {
                    Some(proto::update_sip_outbound_trunk_request::Action::Replace(mut t)) => {
                        t.sip_trunk_id = trunk.sip_trunk_id.clone();
                        trunk = t;
                    }
                    Some(proto::update_sip_outbound_trunk_request::Action::Update(u)) => {
                        if let Some(v) = u.address {
                            trunk.address = v;
                        }
                        if let Some(v) = u.transport {
                            trunk.transport = v;
                        }
                        if let Some(v) = u.destination_country {
                            trunk.destination_country = v;
                        }
                        apply_list(&mut trunk.numbers, u.numbers);
                        if let Some(v) = u.auth_username {
                            trunk.auth_username = v;
                        }
                        if let Some(v) = u.auth_password {
                            trunk.auth_password = v;
                        }
                        if let Some(v) = u.name {
                            trunk.name = v;
                        }
                        if let Some(v) = u.metadata {
                            trunk.metadata = v;
                        }
                    }
                    None => return Err(TwirpError::invalid("action is required")),
                }
                validate_outbound(&trunk)?;
                w.outbound[index] = trunk.clone();
                body.encode(&trunk)
            }
            "GetSIPOutboundTrunk" => {
                need_admin()?;
                let req: proto::GetSipOutboundTrunkRequest = body.decode()?;
                let w = self.lock()?;
                let trunk = w
                    .outbound
                    .iter()
                    .find(|t| t.sip_trunk_id == req.sip_trunk_id)
                    .cloned()
                    .ok_or_else(|| TwirpError::not_found("requested sip trunk does not exist"))?;
                body.encode(&proto::GetSipOutboundTrunkResponse { trunk: Some(trunk) })
            }
            "ListSIPOutboundTrunk" => {
                need_admin()?;
                let req: proto::ListSipOutboundTrunkRequest = body.decode()?;
                let w = self.lock()?;
                let wanted = normalized_set(&req.numbers);
                let items = w
                    .outbound
                    .iter()
                    .filter(|t| req.trunk_ids.is_empty() || req.trunk_ids.contains(&t.sip_trunk_id))
                    .filter(|t| {
                        wanted.is_empty()
                            || normalized_set(&t.numbers)
                                .iter()
                                .any(|n| wanted.contains(n))
                    })
                    .cloned()
                    .collect();
                body.encode(&proto::ListSipOutboundTrunkResponse { items })
            }
            "DeleteSIPTrunk" => {
                need_admin()?;
                let req: proto::DeleteSipTrunkRequest = body.decode()?;
                let mut w = self.lock()?;
                // LiveKit answers success for an unknown id.
                w.inbound.retain(|t| t.sip_trunk_id != req.sip_trunk_id);
                w.outbound.retain(|t| t.sip_trunk_id != req.sip_trunk_id);
                body.encode(&proto::SipTrunkInfo {
                    sip_trunk_id: req.sip_trunk_id,
                    ..Default::default()
                })
            }
            "CreateSIPDispatchRule" => {
                need_admin()?;
                let req: proto::CreateSipDispatchRuleRequest = body.decode()?;
                let mut rule = match req.dispatch_rule {
                    Some(r) => r,
                    // The older flat form of the request.
                    #[allow(deprecated)]
                    None => proto::SipDispatchRuleInfo {
                        rule: req.rule,
                        trunk_ids: req.trunk_ids,
                        hide_phone_number: req.hide_phone_number,
                        inbound_numbers: req.inbound_numbers,
                        name: req.name,
                        metadata: req.metadata,
                        attributes: req.attributes,
                        room_config: req.room_config,
                        ..Default::default()
                    },
                };
                if rule.rule.as_ref().and_then(|r| r.rule.as_ref()).is_none() {
                    return Err(TwirpError::invalid("dispatch rule is required"));
                }
                rule.sip_dispatch_rule_id = id("SDR_");
                let mut w = self.lock()?;
                check_rule_conflict(&rule, &w.rules).map_err(|c| TwirpError::invalid(c.message))?;
                w.rules.push(rule.clone());
                body.encode(&rule)
            }
            "UpdateSIPDispatchRule" => {
                need_admin()?;
                let req: proto::UpdateSipDispatchRuleRequest = body.decode()?;
                let mut w = self.lock()?;
                let index = w
                    .rules
                    .iter()
                    .position(|r| r.sip_dispatch_rule_id == req.sip_dispatch_rule_id)
                    .ok_or_else(|| {
                        TwirpError::not_found("requested dispatch rule does not exist")
                    })?;
                let mut rule = w.rules[index].clone();
                match req.action {
                    Some(proto::update_sip_dispatch_rule_request::Action::Replace(mut r)) => {
                        r.sip_dispatch_rule_id = rule.sip_dispatch_rule_id.clone();
                        rule = r;
                    }
                    Some(proto::update_sip_dispatch_rule_request::Action::Update(u)) => {
                        apply_list(&mut rule.trunk_ids, u.trunk_ids);
                        if let Some(r) = u.rule {
                            rule.rule = Some(r);
                        }
                        if let Some(v) = u.name {
                            rule.name = v;
                        }
                        if let Some(v) = u.metadata {
                            rule.metadata = v;
                        }
                        if !u.attributes.is_empty() {
                            rule.attributes = u.attributes;
                        }
                    }
                    None => return Err(TwirpError::invalid("action is required")),
                }
                if rule.rule.as_ref().and_then(|r| r.rule.as_ref()).is_none() {
                    return Err(TwirpError::invalid("dispatch rule is required"));
                }
                check_rule_conflict(&rule, &w.rules).map_err(|c| TwirpError::invalid(c.message))?;
                w.rules[index] = rule.clone();
                body.encode(&rule)
            }
            "ListSIPDispatchRule" => {
                need_admin()?;
                let req: proto::ListSipDispatchRuleRequest = body.decode()?;
                let w = self.lock()?;
                let items = w
                    .rules
                    .iter()
                    .filter(|r| {
                        req.dispatch_rule_ids.is_empty()
                            || req.dispatch_rule_ids.contains(&r.sip_dispatch_rule_id)
                    })
                    .filter(|r| {
                        req.trunk_ids.is_empty()
                            || r.trunk_ids.iter().any(|t| req.trunk_ids.contains(t))
                    })
                    .cloned()
                    .collect();
                body.encode(&proto::ListSipDispatchRuleResponse { items })
            }
            "DeleteSIPDispatchRule" => {
                need_admin()?;
                let req: proto::DeleteSipDispatchRuleRequest = body.decode()?;
                let mut w = self.lock()?;
                let index = w
                    .rules
                    .iter()
                    .position(|r| r.sip_dispatch_rule_id == req.sip_dispatch_rule_id)
                    .ok_or_else(|| {
                        TwirpError::not_found("requested dispatch rule does not exist")
                    })?;
                let rule = w.rules.remove(index);
                body.encode(&rule)
            }
            _ => Err(TwirpError::new(
                "bad_route",
                format!("unknown method livekit.SIP/{method}"),
            )),
        }
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, World>, TwirpError> {
        self.world
            .lock()
            .map_err(|_| TwirpError::new("internal", "state lock poisoned"))
    }

    /// Starts an outbound call; resolves when it is dialing, or (with
    /// `wait_until_answered`) when it is answered or fails.
    async fn create_sip_participant(
        &self,
        req: proto::CreateSipParticipantRequest,
        claims: &Claims,
    ) -> Result<proto::SipParticipantInfo, TwirpError> {
        if !claims.sip.call {
            return Err(TwirpError::new("unauthenticated", "permissions denied"));
        }
        if req.sip_call_to.is_empty() {
            return Err(TwirpError::invalid("call-to number must be set"));
        }
        if req.sip_call_to.contains('@') {
            return Err(TwirpError::invalid(
                "call-to number must not contain '@' (a number or user part only)",
            ));
        }
        if req.room_name.is_empty() {
            return Err(TwirpError::invalid("room name must be set"));
        }
        if req
            .display_name
            .as_ref()
            .is_some_and(|d| d.chars().count() > 128)
        {
            return Err(TwirpError::invalid(
                "display name must be at most 128 characters",
            ));
        }
        for c in req.dtmf.chars() {
            if !(c.is_ascii_digit() || matches!(c, '*' | '#' | 'w' | 'A' | 'B' | 'C' | 'D')) {
                return Err(TwirpError::invalid(format!("invalid DTMF character {c:?}")));
            }
        }
        let to = normalize_number(&req.sip_call_to);
        let (room, participant, outcome, timing, call_id, created) = {
            let mut w = self.lock()?;
            let trunk = w
                .outbound
                .iter()
                .find(|t| t.sip_trunk_id == req.sip_trunk_id)
                .cloned()
                .ok_or_else(|| {
                    TwirpError::not_found(format!(
                        "requested sip trunk {:?} does not exist",
                        req.sip_trunk_id
                    ))
                })?;
            let outcome = w
                .outcomes
                .get(&to)
                .copied()
                .or(w.default_outcome)
                .unwrap_or(CallOutcome::Answer);
            let (room, created) = self.ensure_room(&mut w, &req.room_name, "");
            let identity = if req.participant_identity.is_empty() {
                format!("sip_{to}")
            } else {
                req.participant_identity.clone()
            };
            if w.rooms
                .get(&req.room_name)
                .is_some_and(|r| r.participants.iter().any(|p| p.identity == identity))
            {
                return Err(TwirpError::new(
                    "already_exists",
                    format!(
                        "participant {identity:?} is already in room {:?}",
                        req.room_name
                    ),
                ));
            }
            let call_id = id("SCL_");
            let from = if req.sip_number.is_empty() {
                trunk.numbers.first().cloned().unwrap_or_default()
            } else {
                req.sip_number.clone()
            };
            let mut attributes = req.participant_attributes.clone();
            attributes.insert("sip.callID".into(), call_id.clone());
            attributes.insert("sip.callStatus".into(), "dialing".into());
            attributes.insert("sip.phoneNumber".into(), to.clone());
            attributes.insert("sip.trunkID".into(), trunk.sip_trunk_id.clone());
            attributes.insert("sip.trunkPhoneNumber".into(), normalize_number(&from));
            attributes.insert("sip.hostname".into(), trunk.address.clone());
            if trunk.address.ends_with("pstn.twilio.com") {
                attributes.insert(
                    "sip.twilio.callSid".into(),
                    format!("CA{}", uuid::Uuid::new_v4().simple()),
                );
            }
            let participant = proto::ParticipantInfo {
                sid: id("PA_"),
                identity: identity.clone(),
                name: if req.participant_name.is_empty() {
                    format!("Phone {to}")
                } else {
                    req.participant_name.clone()
                },
                metadata: req.participant_metadata.clone(),
                state: participant_info::State::Joining as i32,
                joined_at: now_secs(),
                joined_at_ms: now_secs() * 1000,
                kind: participant_info::Kind::Sip as i32,
                attributes,
                ..Default::default()
            };
            if let Some(r) = w.rooms.get_mut(&req.room_name) {
                r.participants.push(participant.clone());
            }
            w.calls.push(FakeCall {
                call_id: call_id.clone(),
                direction: "outbound",
                room: req.room_name.clone(),
                identity,
                from: normalize_number(&from),
                to: to.clone(),
                trunk_id: trunk.sip_trunk_id.clone(),
                dtmf: req.dtmf.clone(),
                display_name: req.display_name.clone(),
                play_dialtone: req.play_dialtone,
                status: "dialing".into(),
                transfers: Vec::new(),
            });
            (room, participant, outcome, w.timing, call_id, created)
        };
        if created {
            self.emit("room_started", &room, None);
        }
        self.emit("participant_joined", &room, Some(&participant));

        let waiter = if req.wait_until_answered {
            let (tx, rx) = oneshot::channel();
            if let Ok(mut w) = self.world.lock() {
                w.waiters.insert(call_id.clone(), tx);
            }
            Some(rx)
        } else {
            None
        };
        let ringing_timeout = pb_duration(&req.ringing_timeout).unwrap_or(Duration::from_secs(30));
        let max_duration = pb_duration(&req.max_call_duration);
        let fake = self.clone();
        let (room_name, identity) = (req.room_name.clone(), participant.identity.clone());
        let id_for_task = call_id.clone();
        tokio::spawn(async move {
            fake.progress_call(
                &room_name,
                &identity,
                &id_for_task,
                outcome,
                timing,
                ringing_timeout,
                max_duration,
            )
            .await;
        });
        let info = proto::SipParticipantInfo {
            participant_id: participant.sid.clone(),
            participant_identity: participant.identity.clone(),
            room_name: req.room_name.clone(),
            sip_call_id: call_id,
        };
        match waiter {
            None => Ok(info),
            Some(rx) => match rx.await {
                Ok(Ok(())) => Ok(info),
                Ok(Err(e)) => Err(e),
                Err(_) => Err(TwirpError::new("internal", "the call ended unexpectedly")),
            },
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn progress_call(
        &self,
        room: &str,
        identity: &str,
        call_id: &str,
        outcome: CallOutcome,
        timing: CallTiming,
        ringing_timeout: Duration,
        max_duration: Option<Duration>,
    ) {
        let finish = |result: Result<(), TwirpError>| {
            if let Ok(mut w) = self.world.lock() {
                if let Some(tx) = w.waiters.remove(call_id) {
                    let _ = tx.send(result);
                }
            }
        };
        if outcome == CallOutcome::TrunkAuthFailure {
            tokio::time::sleep(timing.ringing_after / 2).await;
            finish(Err(TwirpError::sip(
                "permission_denied",
                407,
                "Proxy Authentication Required",
            )));
            self.end_call(room, identity, true);
            return;
        }
        tokio::time::sleep(timing.ringing_after).await;
        if self.set_status(room, identity, "ringing").is_none() {
            finish(Err(TwirpError::new(
                "aborted",
                "the call was removed while dialing",
            )));
            return;
        }
        let (wait, failure) = match outcome {
            CallOutcome::Answer => (timing.answer_after, None),
            CallOutcome::Busy => (
                timing.answer_after / 2,
                Some(TwirpError::sip("failed_precondition", 486, "Busy Here")),
            ),
            CallOutcome::Declined => (
                timing.answer_after,
                Some(TwirpError::sip("permission_denied", 603, "Decline")),
            ),
            CallOutcome::NoAnswer => (
                ringing_timeout,
                Some(TwirpError::sip(
                    "deadline_exceeded",
                    480,
                    "Temporarily Unavailable",
                )),
            ),
            CallOutcome::TrunkAuthFailure => (Duration::ZERO, None),
        };
        tokio::time::sleep(wait).await;
        match failure {
            Some(e) => {
                finish(Err(e));
                self.end_call(room, identity, true);
            }
            None => {
                if self.set_status(room, identity, "active").is_none() {
                    finish(Err(TwirpError::new(
                        "aborted",
                        "the call was removed while ringing",
                    )));
                    return;
                }
                finish(Ok(()));
                if let Some(max) = max_duration.filter(|d| !d.is_zero()) {
                    tokio::time::sleep(max).await;
                    self.end_call(room, identity, false);
                }
            }
        }
    }

    async fn transfer(
        &self,
        req: proto::TransferSipParticipantRequest,
        claims: &Claims,
    ) -> Result<(), TwirpError> {
        if !claims.sip.call {
            return Err(TwirpError::new("unauthenticated", "permissions denied"));
        }
        let to = req.transfer_to.trim();
        if !(to.starts_with("tel:") || to.starts_with("sip:")) {
            return Err(TwirpError::invalid(format!(
                "transfer destination must be a tel: or sip: URI, got {to:?}"
            )));
        }
        let outcome = {
            let w = self.lock()?;
            let room = w.rooms.get(&req.room_name).ok_or_else(|| {
                TwirpError::not_found(format!("room {:?} not found", req.room_name))
            })?;
            let p = room
                .participants
                .iter()
                .find(|p| p.identity == req.participant_identity)
                .ok_or_else(|| {
                    TwirpError::not_found(format!(
                        "participant {:?} not found",
                        req.participant_identity
                    ))
                })?;
            if p.kind != participant_info::Kind::Sip as i32 {
                return Err(TwirpError::new(
                    "failed_precondition",
                    "participant is not a SIP participant",
                ));
            }
            if p.attributes.get("sip.callStatus").map(String::as_str) != Some("active") {
                return Err(TwirpError::new(
                    "failed_precondition",
                    "can only transfer an active call",
                ));
            }
            w.transfers
                .get(to)
                .copied()
                .unwrap_or(TransferOutcome::Succeed)
        };
        if let Ok(mut w) = self.world.lock() {
            if let Some(c) = w
                .calls
                .iter_mut()
                .find(|c| c.room == req.room_name && c.identity == req.participant_identity)
            {
                c.transfers.push(to.to_string());
            }
        }
        let timing = self.lock()?.timing;
        tokio::time::sleep(timing.answer_after).await;
        match outcome {
            TransferOutcome::Succeed => {
                // The call leaves LiveKit once the REFER succeeds.
                self.end_call(&req.room_name, &req.participant_identity, false);
                Ok(())
            }
            TransferOutcome::Fail(status) => {
                let (code, reason) = match status {
                    486 => ("failed_precondition", "Busy Here"),
                    603 => ("permission_denied", "Decline"),
                    408 | 480 => ("deadline_exceeded", "Temporarily Unavailable"),
                    _ => ("unavailable", "Service Unavailable"),
                };
                Err(TwirpError::sip(code, status, reason))
            }
        }
    }

    fn room_method(
        &self,
        method: &str,
        body: Body<'_>,
        claims: &Claims,
    ) -> Result<Vec<u8>, TwirpError> {
        let denied = || TwirpError::new("unauthenticated", "permissions denied");
        match method {
            "CreateRoom" => {
                if !claims.video.room_create {
                    return Err(denied());
                }
                let req: proto::CreateRoomRequest = body.decode()?;
                if req.name.is_empty() {
                    return Err(TwirpError::invalid("room name must be set"));
                }
                let (room, created) = {
                    let mut w = self.lock()?;
                    let (room, created) = self.ensure_room(&mut w, &req.name, &req.metadata);
                    if let Some(r) = w.rooms.get_mut(&req.name) {
                        for agent in &req.agents {
                            r.dispatches.push(proto::AgentDispatch {
                                id: id("AD_"),
                                agent_name: agent.agent_name.clone(),
                                room: req.name.clone(),
                                metadata: agent.metadata.clone(),
                                ..Default::default()
                            });
                        }
                    }
                    (room, created)
                };
                if created {
                    self.emit("room_started", &room, None);
                }
                body.encode(&room)
            }
            "ListRooms" => {
                if !claims.video.room_list {
                    return Err(denied());
                }
                let req: proto::ListRoomsRequest = body.decode()?;
                let w = self.lock()?;
                let rooms = w
                    .rooms
                    .values()
                    .filter(|r| req.names.is_empty() || req.names.contains(&r.room.name))
                    .map(|r| {
                        let mut room = r.room.clone();
                        room.num_participants = u32::try_from(r.participants.len()).unwrap_or(0);
                        room
                    })
                    .collect();
                body.encode(&proto::ListRoomsResponse { rooms })
            }
            "DeleteRoom" => {
                if !claims.video.room_create {
                    return Err(denied());
                }
                let req: proto::DeleteRoomRequest = body.decode()?;
                let removed = self.lock()?.rooms.remove(&req.room);
                if let Some(r) = removed {
                    for p in &r.participants {
                        if let Ok(mut w) = self.world.lock() {
                            if let Some(c) = w
                                .calls
                                .iter_mut()
                                .find(|c| c.room == req.room && c.identity == p.identity)
                            {
                                c.status = "hangup".into();
                            }
                        }
                        self.emit("participant_left", &r.room, Some(p));
                    }
                    self.emit("room_finished", &r.room, None);
                }
                body.encode(&proto::DeleteRoomResponse {})
            }
            "ListParticipants" | "GetParticipant" | "RemoveParticipant" => {
                if !claims.video.room_admin {
                    return Err(denied());
                }
                if method == "ListParticipants" {
                    let req: proto::ListParticipantsRequest = body.decode()?;
                    self.check_room_grant(claims, &req.room)?;
                    let w = self.lock()?;
                    let room = w.rooms.get(&req.room).ok_or_else(|| {
                        TwirpError::not_found(format!("room {:?} not found", req.room))
                    })?;
                    return body.encode(&proto::ListParticipantsResponse {
                        participants: room.participants.clone(),
                    });
                }
                let req: proto::RoomParticipantIdentity = body.decode()?;
                self.check_room_grant(claims, &req.room)?;
                let participant = {
                    let w = self.lock()?;
                    let room = w.rooms.get(&req.room).ok_or_else(|| {
                        TwirpError::not_found(format!("room {:?} not found", req.room))
                    })?;
                    room.participants
                        .iter()
                        .find(|p| p.identity == req.identity)
                        .cloned()
                        .ok_or_else(|| {
                            TwirpError::not_found(format!(
                                "participant {:?} not found",
                                req.identity
                            ))
                        })?
                };
                if method == "GetParticipant" {
                    body.encode(&participant)
                } else {
                    self.end_call(&req.room, &req.identity, false);
                    body.encode(&proto::RemoveParticipantResponse {})
                }
            }
            _ => Err(TwirpError::new(
                "bad_route",
                format!("unknown method livekit.RoomService/{method}"),
            )),
        }
    }

    fn check_room_grant(&self, claims: &Claims, room: &str) -> Result<(), TwirpError> {
        if !claims.video.room.is_empty() && claims.video.room != room {
            return Err(TwirpError::new("unauthenticated", "permissions denied"));
        }
        Ok(())
    }

    fn dispatch_method(
        &self,
        method: &str,
        body: Body<'_>,
        claims: &Claims,
    ) -> Result<Vec<u8>, TwirpError> {
        if !claims.video.room_admin {
            return Err(TwirpError::new("unauthenticated", "permissions denied"));
        }
        match method {
            "CreateDispatch" => {
                let req: proto::CreateAgentDispatchRequest = body.decode()?;
                if req.room.is_empty() {
                    return Err(TwirpError::invalid("room must be set"));
                }
                let dispatch = proto::AgentDispatch {
                    id: id("AD_"),
                    agent_name: req.agent_name.clone(),
                    room: req.room.clone(),
                    metadata: req.metadata.clone(),
                    ..Default::default()
                };
                let (room, created) = {
                    let mut w = self.lock()?;
                    let (room, created) = self.ensure_room(&mut w, &req.room, "");
                    if let Some(r) = w.rooms.get_mut(&req.room) {
                        r.dispatches.push(dispatch.clone());
                    }
                    (room, created)
                };
                if created {
                    self.emit("room_started", &room, None);
                }
                body.encode(&dispatch)
            }
            "ListDispatch" => {
                let req: proto::ListAgentDispatchRequest = body.decode()?;
                let w = self.lock()?;
                let agent_dispatches = w
                    .rooms
                    .get(&req.room)
                    .map(|r| r.dispatches.clone())
                    .unwrap_or_default();
                body.encode(&proto::ListAgentDispatchResponse { agent_dispatches })
            }
            "DeleteDispatch" => {
                let req: proto::DeleteAgentDispatchRequest = body.decode()?;
                let mut w = self.lock()?;
                let r = w
                    .rooms
                    .get_mut(&req.room)
                    .ok_or_else(|| TwirpError::not_found("room not found"))?;
                let index = r
                    .dispatches
                    .iter()
                    .position(|d| d.id == req.dispatch_id)
                    .ok_or_else(|| TwirpError::not_found("dispatch not found"))?;
                let d = r.dispatches.remove(index);
                body.encode(&d)
            }
            _ => Err(TwirpError::new(
                "bad_route",
                format!("unknown method livekit.AgentDispatchService/{method}"),
            )),
        }
    }
}

fn apply_list(target: &mut Vec<String>, update: Option<proto::ListUpdate>) {
    let Some(u) = update else { return };
    if u.clear {
        target.clear();
    }
    if !u.set.is_empty() {
        *target = u.set;
    }
    for add in u.add {
        if !target.contains(&add) {
            target.push(add);
        }
    }
    target.retain(|v| !u.remove.contains(v));
}

/// `Authorization` for a webhook: the bare JWT, with the body's SHA-256 as a claim.
pub fn sign_webhook(api_key: &str, api_secret: &str, body: &[u8]) -> String {
    let hash = STANDARD.encode(Sha256::digest(body));
    AccessToken::with_api_key(api_key, api_secret)
        .with_ttl(Duration::from_secs(300))
        .with_sha256(&hash)
        .to_jwt()
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------------------
// Wire encoding: protobuf or JSON, chosen by the request's content type.

#[derive(Clone, Copy)]
struct Body<'a> {
    bytes: &'a [u8],
    json: bool,
}

impl Body<'_> {
    fn decode<T: Message + Default + DeserializeOwned>(&self) -> Result<T, TwirpError> {
        if self.json {
            let text = if self.bytes.is_empty() {
                b"{}".as_slice()
            } else {
                self.bytes
            };
            serde_json::from_slice(text).map_err(|e| {
                TwirpError::new(
                    "malformed",
                    format!("the request could not be decoded: {e}"),
                )
            })
        } else {
            T::decode(self.bytes).map_err(|e| {
                TwirpError::new(
                    "malformed",
                    format!("the request could not be decoded: {e}"),
                )
            })
        }
    }

    fn encode<T: Message + Serialize>(&self, value: &T) -> Result<Vec<u8>, TwirpError> {
        if self.json {
            let v = serde_json::to_value(value)
                .map_err(|e| TwirpError::new("internal", e.to_string()))?;
            serde_json::to_vec(&snake_keys(v))
                .map_err(|e| TwirpError::new("internal", e.to_string()))
        } else {
            Ok(value.encode_to_vec())
        }
    }
}

fn snake(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// pbjson writes camelCase names; LiveKit's Twirp JSON uses the proto (snake_case) names.
/// Keys of string maps (attributes, headers) are left alone.
fn snake_keys(v: Value) -> Value {
    fn walk(v: Value, is_map: bool) -> Value {
        match v {
            Value::Object(map) => Value::Object(
                map.into_iter()
                    .map(|(k, v)| {
                        let child_is_map = matches!(
                            k.as_str(),
                            "attributes"
                                | "headers"
                                | "headersToAttributes"
                                | "attributesToHeaders"
                                | "tags"
                        );
                        (if is_map { k } else { snake(&k) }, walk(v, child_is_map))
                    })
                    .collect(),
            ),
            Value::Array(items) => {
                Value::Array(items.into_iter().map(|i| walk(i, false)).collect())
            }
            other => other,
        }
    }
    walk(v, false)
}

async fn handle(
    State(fake): State<FakeLiveKit>,
    Path((service, method)): Path<(String, String)>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Response {
    let json = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let recorded = Recorded {
        method: "POST".into(),
        path: format!("/twirp/{service}/{method}"),
        query: String::new(),
        body: if json {
            String::from_utf8_lossy(&bytes).into_owned()
        } else {
            format!("<{} bytes of protobuf>", bytes.len())
        },
    };
    if let Some((status, body)) = fake.faults.before(recorded).await {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        return (status, axum::Json(body)).into_response();
    }
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let Some(token) = token else {
        return TwirpError::new("unauthenticated", "no authorization header").into_response();
    };
    let claims = match TokenVerifier::with_api_key(&fake.api_key, &fake.api_secret).verify(token) {
        Ok(c) => c,
        Err(e) => {
            return TwirpError::new("unauthenticated", format!("invalid token: {e}"))
                .into_response()
        }
    };
    let body = Body {
        bytes: &bytes,
        json,
    };
    let result = match service.as_str() {
        "livekit.SIP" if method == "CreateSIPParticipant" => {
            match body.decode::<proto::CreateSipParticipantRequest>() {
                Ok(req) => match fake.create_sip_participant(req, &claims).await {
                    Ok(info) => body.encode(&info),
                    Err(e) => Err(e),
                },
                Err(e) => Err(e),
            }
        }
        "livekit.SIP" if method == "TransferSIPParticipant" => {
            match body.decode::<proto::TransferSipParticipantRequest>() {
                Ok(req) => {
                    if !claims.video.room_admin {
                        Err(TwirpError::new("unauthenticated", "permissions denied"))
                    } else {
                        match fake.transfer(req, &claims).await {
                            Ok(()) => body.encode(&pbjson_types::Empty {}),
                            Err(e) => Err(e),
                        }
                    }
                }
                Err(e) => Err(e),
            }
        }
        "livekit.SIP" => fake.sip_method(&method, body, &claims),
        "livekit.RoomService" => fake.room_method(&method, body, &claims),
        "livekit.AgentDispatchService" => fake.dispatch_method(&method, body, &claims),
        _ => Err(TwirpError::new(
            "bad_route",
            format!("unknown service {service}"),
        )),
    };
    match result {
        Ok(bytes) => (
            StatusCode::OK,
            [(
                "content-type",
                if json {
                    "application/json"
                } else {
                    "application/protobuf"
                },
            )],
            bytes,
        )
            .into_response(),
        Err(e) => e.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_normalise_like_livekit() {
        assert_eq!(normalize_number("+1 (415) 555-0100"), "+14155550100");
        assert_eq!(normalize_number("14155550100"), "+14155550100");
        assert_eq!(normalize_number("alice"), "alice");
        assert_eq!(
            normalize_number("sip:alice@example.com"),
            "sip:alice@example.com"
        );
    }

    #[test]
    fn cidr_matching() {
        assert!(cidr_contains(
            "54.172.60.0/30",
            "54.172.60.2".parse().unwrap()
        ));
        assert!(!cidr_contains(
            "54.172.60.0/30",
            "54.172.60.4".parse().unwrap()
        ));
        assert!(cidr_contains("127.0.0.1", "127.0.0.1".parse().unwrap()));
        assert!(parse_cidr("not an ip").is_none());
    }

    #[test]
    fn json_keys_become_snake_case_but_map_keys_stay() {
        let v = json!({"sipTrunkId": "ST_1", "attributes": {"sip.callID": "x", "someKey": "y"}, "items": [{"roomName": "r"}]});
        let s = snake_keys(v);
        assert_eq!(s["sip_trunk_id"], "ST_1");
        assert_eq!(s["attributes"]["someKey"], "y");
        assert_eq!(s["items"][0]["room_name"], "r");
    }
}
