//! The LiveKit client: the `livekit-api` crate's SIP, Room and AgentDispatch services with
//! the URL, key and secret from settings. Every LiveKit call Dial makes goes through this
//! type; errors keep LiveKit's Twirp code and message (and the SIP status of a failed call).

pub mod settings;
pub mod transfer;
pub mod webhooks;

pub use livekit_protocol as proto;

use livekit_api::services::{
    agent_dispatch::AgentDispatchClient,
    room::{CreateRoomOptions, RoomClient},
    sip::{
        CreateSIPDispatchRuleOptions, CreateSIPInboundTrunkOptions, CreateSIPParticipantOptions,
        ListSIPDispatchRuleFilter, ListSIPInboundTrunkFilter, ListSIPOutboundTrunkFilter,
        SIPClient,
    },
    ServiceError, SipCallError, TwirpError,
};
use secrecy::{ExposeSecret, SecretString};
use std::{collections::HashMap, time::Duration};

#[derive(Debug, thiserror::Error)]
pub enum LiveKitError {
    /// LiveKit answered with a Twirp error.
    #[error("LiveKit {code}: {message}")]
    Twirp {
        code: String,
        message: String,
        meta: HashMap<String, String>,
    },
    /// A call failed with a SIP status (486 busy, 480 unavailable, 603 declined, ...).
    #[error("the call failed with SIP {status} {reason} ({code})")]
    Sip {
        code: String,
        status: u16,
        reason: String,
    },
    #[error("could not reach LiveKit: {0}")]
    Network(String),
    #[error("LiveKit sent a response Dial could not read: {0}")]
    Decode(String),
    #[error("could not sign a LiveKit token: {0}")]
    Token(String),
}

impl LiveKitError {
    pub fn code(&self) -> Option<&str> {
        match self {
            LiveKitError::Twirp { code, .. } | LiveKitError::Sip { code, .. } => Some(code),
            _ => None,
        }
    }

    pub fn is_not_found(&self) -> bool {
        self.code() == Some("not_found")
    }

    pub fn sip_status(&self) -> Option<u16> {
        match self {
            LiveKitError::Sip { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// LiveKit's failure at the boundary: its own code, and its message without repeating
/// "LiveKit" (the error's display already names the provider).
impl From<LiveKitError> for crate::error::AppError {
    fn from(e: LiveKitError) -> Self {
        let message = match &e {
            LiveKitError::Twirp { message, .. } => message.clone(),
            other => other.to_string(),
        };
        crate::error::AppError::Upstream {
            provider: "LiveKit".into(),
            code: e.code().map(str::to_string),
            message,
        }
    }
}

impl From<ServiceError> for LiveKitError {
    fn from(err: ServiceError) -> Self {
        if let Some(sip) = SipCallError::from_error(&err) {
            if let Some(status) = sip.sip_status_code() {
                return LiveKitError::Sip {
                    code: sip.code().to_string(),
                    status: u16::try_from(status).unwrap_or(0),
                    reason: sip.sip_status().unwrap_or_default().to_string(),
                };
            }
        }
        match err {
            ServiceError::Twirp(TwirpError::Twirp(code)) => LiveKitError::Twirp {
                code: code.code,
                message: code.msg,
                meta: code.meta,
            },
            ServiceError::Twirp(TwirpError::Request(e)) => {
                let mut cause: &dyn std::error::Error = &e;
                while let Some(next) = cause.source() {
                    cause = next;
                }
                if e.is_timeout() {
                    LiveKitError::Network("the request timed out".to_string())
                } else {
                    LiveKitError::Network(cause.to_string())
                }
            }
            ServiceError::Twirp(TwirpError::Prost(e)) => LiveKitError::Decode(e.to_string()),
            ServiceError::Twirp(TwirpError::Url(e)) => LiveKitError::Network(e.to_string()),
            ServiceError::AccessToken(e) => LiveKitError::Token(e.to_string()),
            ServiceError::Env(e) => LiveKitError::Token(e.to_string()),
        }
    }
}

pub type Result<T> = std::result::Result<T, LiveKitError>;

/// What a person's browser may do in a call's room: listen (subscribe only) or speak
/// (publish the microphone and send DTMF too).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JoinGrants {
    Listen,
    Speak,
}

/// An inbound trunk as Dial creates it.
#[derive(Debug, Clone, Default)]
pub struct InboundTrunkSpec {
    pub name: String,
    pub numbers: Vec<String>,
    pub metadata: String,
    pub allowed_addresses: Vec<String>,
    pub allowed_numbers: Vec<String>,
    pub auth_username: Option<String>,
    pub auth_password: Option<SecretString>,
}

/// An outbound trunk as Dial creates it.
#[derive(Debug, Clone)]
pub struct OutboundTrunkSpec {
    pub name: String,
    pub address: String,
    pub numbers: Vec<String>,
    pub transport: proto::SipTransport,
    pub metadata: String,
    pub auth_username: String,
    pub auth_password: SecretString,
    pub destination_country: Option<String>,
}

/// Options of an outbound call (all of CreateSIPParticipant's that Dial uses).
#[derive(Debug, Clone, Default)]
pub struct CallOptions {
    pub participant_identity: String,
    pub participant_name: Option<String>,
    pub participant_metadata: Option<String>,
    pub participant_attributes: HashMap<String, String>,
    /// The caller ID: one of the trunk's numbers.
    pub sip_number: Option<String>,
    pub display_name: Option<String>,
    pub dtmf: Option<String>,
    pub play_dialtone: bool,
    pub wait_until_answered: bool,
    pub ringing_timeout: Option<Duration>,
    pub max_call_duration: Option<Duration>,
}

/// How long Dial waits for CreateSIPParticipant: longer than livekit-server waits for its
/// SIP service (livekit/livekit `pkg/service/sip.go`, `CreateSIPParticipant`: 30 s to join
/// the room, 80 s with `wait_until_answered`), so that Dial hears LiveKit's own answer —
/// `deadline_exceeded` "request timed out" when it stopped waiting, and the call was
/// cancelled with it (livekit/sip `pkg/sip/client.go`). Giving up earlier (Dial's usual
/// 10 s) would not stop the call: livekit-server's request to the SIP service is not
/// cancelled when its caller goes (livekit/psrpc has no cancel message for a unary
/// request, `internal/internal.proto`), so the phone could ring for a call Dial recorded
/// as failed. With `wait_until_answered` livekit-api 0.10 also keeps it above the ringing
/// timeout + 2 s (`services/dial_timeout.rs`).
pub fn dial_timeout(wait_until_answered: bool) -> Duration {
    const MARGIN: Duration = Duration::from_secs(5);
    let livekit_waits = if wait_until_answered {
        Duration::from_secs(80)
    } else {
        Duration::from_secs(30)
    };
    livekit_waits + MARGIN
}

/// LiveKit's API, in two kinds of client. livekit-api 0.10 replays a request against
/// other LiveKit Cloud regions after a transport error or a 5xx (up to 3 attempts, for
/// `*.livekit.cloud` / `*.livekit.run` hosts and time-outs of 5 s or more:
/// `services/failover.rs`). Replaying a read is harmless, so reads keep failover; a
/// request that changes something — above all one that dials a phone or transfers a
/// call — may have been carried out when its answer was lost, and a replay would dial
/// the person again. Those go through clients with failover off.
pub struct LiveKitClient {
    /// Reads (lists and gets): failover on.
    sip: SIPClient,
    room: RoomClient,
    dispatch: AgentDispatchClient,
    /// Everything with an effect: failover off.
    sip_act: SIPClient,
    room_act: RoomClient,
    dispatch_act: AgentDispatchClient,
    /// Dial's own Twirp calls (TransferSIPParticipant, whose answer livekit-api drops):
    /// sent once, failover off.
    twirp: transfer::TwirpCaller,
}

impl LiveKitClient {
    pub fn new(url: &str, api_key: &str, api_secret: &SecretString, timeout: Duration) -> Self {
        let secret = api_secret.expose_secret();
        let sip = || SIPClient::with_api_key(url, api_key, secret).with_request_timeout(timeout);
        let room = || RoomClient::with_api_key(url, api_key, secret).with_request_timeout(timeout);
        let dispatch = || {
            AgentDispatchClient::with_api_key(url, api_key, secret).with_request_timeout(timeout)
        };
        LiveKitClient {
            sip: sip(),
            room: room(),
            dispatch: dispatch(),
            sip_act: sip().with_failover(false),
            room_act: room().with_failover(false),
            dispatch_act: dispatch().with_failover(false),
            twirp: transfer::TwirpCaller {
                http: reqwest::Client::new(),
                url: url.to_string(),
                api_key: api_key.to_string(),
                api_secret: api_secret.clone(),
                timeout,
            },
        }
    }

    // -- Trunks ---------------------------------------------------------------------------

    pub async fn create_inbound_trunk(
        &self,
        spec: InboundTrunkSpec,
    ) -> Result<proto::SipInboundTrunkInfo> {
        crate::server::metrics::livekit("create_inbound_trunk", async {
            let options = CreateSIPInboundTrunkOptions {
                metadata: Some(spec.metadata),
                allowed_addresses: Some(spec.allowed_addresses),
                allowed_numbers: Some(spec.allowed_numbers),
                auth_username: spec.auth_username,
                auth_password: spec.auth_password.map(|p| p.expose_secret().to_string()),
                ..Default::default()
            };
            Ok(self
                .sip_act
                .create_sip_inbound_trunk(spec.name, spec.numbers, options)
                .await?)
        })
        .await
    }

    pub async fn list_inbound_trunks(&self) -> Result<Vec<proto::SipInboundTrunkInfo>> {
        crate::server::metrics::livekit("list_inbound_trunks", async {
            Ok(self
                .sip
                .list_sip_inbound_trunk(ListSIPInboundTrunkFilter::All)
                .await?)
        })
        .await
    }

    pub async fn get_inbound_trunk(&self, id: &str) -> Result<Option<proto::SipInboundTrunkInfo>> {
        Ok(self
            .list_inbound_trunks()
            .await?
            .into_iter()
            .find(|t| t.sip_trunk_id == id))
    }

    pub async fn update_inbound_trunk(
        &self,
        id: &str,
        update: proto::SipInboundTrunkUpdate,
    ) -> Result<proto::SipInboundTrunkInfo> {
        crate::server::metrics::livekit("update_inbound_trunk", async {
            Ok(self
                .sip_act
                .update_sip_inbound_trunk(id.to_string(), update)
                .await?)
        })
        .await
    }

    pub async fn create_outbound_trunk(
        &self,
        spec: OutboundTrunkSpec,
    ) -> Result<proto::SipOutboundTrunkInfo> {
        crate::server::metrics::livekit("create_outbound_trunk", async {
            // Dial's own request, so the admin's destination country goes in the create
            // itself (livekit-api 0.10 sends it empty; see `TwirpCaller::create_outbound_trunk`).
            self.twirp
                .create_outbound_trunk(proto::SipOutboundTrunkInfo {
                    name: spec.name,
                    address: spec.address,
                    numbers: spec.numbers,
                    transport: spec.transport as i32,
                    metadata: spec.metadata,
                    auth_username: spec.auth_username,
                    auth_password: spec.auth_password.expose_secret().to_string(),
                    destination_country: spec.destination_country.unwrap_or_default(),
                    ..Default::default()
                })
                .await
        })
        .await
    }

    pub async fn list_outbound_trunks(&self) -> Result<Vec<proto::SipOutboundTrunkInfo>> {
        crate::server::metrics::livekit("list_outbound_trunks", async {
            Ok(self
                .sip
                .list_sip_outbound_trunk(ListSIPOutboundTrunkFilter::All)
                .await?)
        })
        .await
    }

    pub async fn get_outbound_trunk(
        &self,
        id: &str,
    ) -> Result<Option<proto::SipOutboundTrunkInfo>> {
        Ok(self
            .list_outbound_trunks()
            .await?
            .into_iter()
            .find(|t| t.sip_trunk_id == id))
    }

    pub async fn update_outbound_trunk(
        &self,
        id: &str,
        update: proto::SipOutboundTrunkUpdate,
    ) -> Result<proto::SipOutboundTrunkInfo> {
        crate::server::metrics::livekit("update_outbound_trunk", async {
            Ok(self
                .sip_act
                .update_sip_outbound_trunk(id.to_string(), update)
                .await?)
        })
        .await
    }

    /// Deletes an inbound or outbound trunk. LiveKit answers success for unknown ids.
    pub async fn delete_trunk(&self, id: &str) -> Result<()> {
        crate::server::metrics::livekit("delete_trunk", async {
            self.sip_act.delete_sip_trunk(id).await?;
            Ok(())
        })
        .await
    }

    // -- Dispatch rules -------------------------------------------------------------------

    pub async fn create_dispatch_rule(
        &self,
        rule: proto::sip_dispatch_rule::Rule,
        options: CreateSIPDispatchRuleOptions,
    ) -> Result<proto::SipDispatchRuleInfo> {
        crate::server::metrics::livekit("create_dispatch_rule", async {
            Ok(self.sip_act.create_sip_dispatch_rule(rule, options).await?)
        })
        .await
    }

    pub async fn list_dispatch_rules(&self) -> Result<Vec<proto::SipDispatchRuleInfo>> {
        crate::server::metrics::livekit("list_dispatch_rules", async {
            Ok(self
                .sip
                .list_sip_dispatch_rule(ListSIPDispatchRuleFilter::All)
                .await?)
        })
        .await
    }

    pub async fn update_dispatch_rule(
        &self,
        id: &str,
        update: proto::SipDispatchRuleUpdate,
    ) -> Result<proto::SipDispatchRuleInfo> {
        crate::server::metrics::livekit("update_dispatch_rule", async {
            Ok(self
                .sip_act
                .update_sip_dispatch_rule(id.to_string(), update)
                .await?)
        })
        .await
    }

    /// Replaces a dispatch rule as a whole (rule, trunks, room configuration) in one call,
    /// so calls never see a moment without a rule.
    pub async fn replace_dispatch_rule(
        &self,
        id: &str,
        rule: proto::SipDispatchRuleInfo,
    ) -> Result<proto::SipDispatchRuleInfo> {
        crate::server::metrics::livekit("replace_dispatch_rule", async {
            Ok(self
                .sip_act
                .update_sip_dispatch_rule_replace(id.to_string(), rule)
                .await?)
        })
        .await
    }

    /// Deletes a dispatch rule; an unknown id is LiveKit's not_found.
    pub async fn delete_dispatch_rule(&self, id: &str) -> Result<()> {
        crate::server::metrics::livekit("delete_dispatch_rule", async {
            self.sip_act.delete_sip_dispatch_rule(id).await?;
            Ok(())
        })
        .await
    }

    // -- Calls ----------------------------------------------------------------------------

    /// Places a call. Dial waits for the answer longer than livekit-server waits for its
    /// SIP service ([`dial_timeout`]).
    pub async fn create_sip_participant(
        &self,
        trunk_id: &str,
        call_to: &str,
        room: &str,
        call: CallOptions,
    ) -> Result<proto::SipParticipantInfo> {
        crate::server::metrics::livekit("create_sip_participant", async {
            let options = CreateSIPParticipantOptions {
                participant_identity: call.participant_identity,
                participant_name: call.participant_name,
                participant_metadata: call.participant_metadata,
                participant_attributes: (!call.participant_attributes.is_empty())
                    .then_some(call.participant_attributes),
                display_name: call.display_name,
                sip_number: call.sip_number,
                dtmf: call.dtmf,
                play_dialtone: Some(call.play_dialtone),
                wait_until_answered: Some(call.wait_until_answered),
                ringing_timeout: call.ringing_timeout,
                max_call_duration: call.max_call_duration,
                timeout: Some(dial_timeout(call.wait_until_answered)),
                ..Default::default()
            };
            Ok(self
                .sip_act
                .create_sip_participant(
                    trunk_id.to_string(),
                    call_to.to_string(),
                    room.to_string(),
                    options,
                    None,
                )
                .await?)
        })
        .await
    }

    /// Transfers the call (SIP REFER) and reads LiveKit's answer: a transfer that did
    /// not complete — refused with a SIP status, or reported in the answer's status — is
    /// `Ok(NotCompleted)`; `Err` is everything else (no such room, LiveKit unreachable).
    pub async fn transfer_sip_participant(
        &self,
        room: &str,
        identity: &str,
        transfer_to: &str,
        play_dialtone: bool,
        ringing_timeout: Option<Duration>,
    ) -> Result<transfer::TransferReport> {
        crate::server::metrics::livekit("transfer_sip_participant", async {
            let request = proto::TransferSipParticipantRequest {
                participant_identity: identity.to_string(),
                room_name: room.to_string(),
                transfer_to: transfer_to.to_string(),
                play_dialtone,
                ..Default::default()
            };
            self.twirp.transfer(request, ringing_timeout).await
        })
        .await
    }

    // -- Rooms ----------------------------------------------------------------------------

    pub async fn create_room(&self, name: &str, metadata: &str) -> Result<proto::Room> {
        crate::server::metrics::livekit("create_room", async {
            let options = CreateRoomOptions {
                metadata: metadata.to_string(),
                ..Default::default()
            };
            Ok(self.room_act.create_room(name, options).await?)
        })
        .await
    }

    pub async fn list_rooms(&self, names: Vec<String>) -> Result<Vec<proto::Room>> {
        crate::server::metrics::livekit("list_rooms", async {
            Ok(self.room.list_rooms(names).await?)
        })
        .await
    }

    pub async fn delete_room(&self, name: &str) -> Result<()> {
        crate::server::metrics::livekit("delete_room", async {
            Ok(self.room_act.delete_room(name).await?)
        })
        .await
    }

    pub async fn list_participants(&self, room: &str) -> Result<Vec<proto::ParticipantInfo>> {
        crate::server::metrics::livekit("list_participants", async {
            Ok(self.room.list_participants(room).await?)
        })
        .await
    }

    pub async fn get_participant(
        &self,
        room: &str,
        identity: &str,
    ) -> Result<proto::ParticipantInfo> {
        crate::server::metrics::livekit("get_participant", async {
            Ok(self.room.get_participant(room, identity).await?)
        })
        .await
    }

    /// Removes a participant; for a SIP participant this hangs the call up.
    pub async fn remove_participant(&self, room: &str, identity: &str) -> Result<()> {
        crate::server::metrics::livekit("remove_participant", async {
            Ok(self.room_act.remove_participant(room, identity).await?)
        })
        .await
    }

    // -- Browsers ---------------------------------------------------------------------------

    /// LiveKit's URL, as configured (a browser opens its signalling WebSocket there).
    pub fn url(&self) -> &str {
        &self.twirp.url
    }

    /// An access token for a person's browser to join `room` alone: `roomJoin` for that
    /// room, the identity and name given, and no more than `grants` allow (a listener can
    /// neither publish nor send data), valid for `ttl` (LiveKit refreshes the token of a
    /// participant that stays connected; `livekit/livekit` `pkg/rtc/participant.go`).
    pub fn join_token(
        &self,
        room: &str,
        identity: &str,
        name: &str,
        grants: JoinGrants,
        ttl: Duration,
    ) -> Result<String> {
        use livekit_api::access_token::{AccessToken, VideoGrants};
        let speak = grants == JoinGrants::Speak;
        AccessToken::with_api_key(&self.twirp.api_key, self.twirp.api_secret.expose_secret())
            .with_identity(identity)
            .with_name(name)
            .with_ttl(ttl)
            .with_grants(VideoGrants {
                room_join: true,
                room: room.to_string(),
                can_subscribe: Some(true),
                can_publish: Some(speak),
                // Only the microphone: no camera, no screen share.
                can_publish_sources: if speak {
                    vec!["microphone".into()]
                } else {
                    Vec::new()
                },
                // DTMF travels as a data packet (`SipDTMF`).
                can_publish_data: Some(speak),
                can_update_own_metadata: Some(false),
                ..Default::default()
            })
            .to_jwt()
            .map_err(|e| LiveKitError::Token(e.to_string()))
    }

    // -- Agents ---------------------------------------------------------------------------

    pub async fn dispatch_agent(
        &self,
        room: &str,
        agent_name: &str,
        metadata: &str,
    ) -> Result<proto::AgentDispatch> {
        crate::server::metrics::livekit("dispatch_agent", async {
            let request = proto::CreateAgentDispatchRequest {
                agent_name: agent_name.to_string(),
                room: room.to_string(),
                metadata: metadata.to_string(),
                ..Default::default()
            };
            Ok(self.dispatch_act.create_dispatch(request).await?)
        })
        .await
    }

    pub async fn list_dispatches(&self, room: &str) -> Result<Vec<proto::AgentDispatch>> {
        crate::server::metrics::livekit("list_dispatches", async {
            Ok(self.dispatch.list_dispatch(room.to_string()).await?)
        })
        .await
    }
}
