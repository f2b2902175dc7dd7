//! LiveKit's client signalling (`/rtc/v1`), enough for a browser running
//! `livekit-client` 2.23 to `room.connect(url, token)`, publish its microphone and
//! `publishDtmf` against the fake.
//!
//! What is real: the routes and their answers follow livekit/livekit
//! `pkg/service/rtcservice.go` (`/rtc/v1` WebSocket, `/rtc/v1/validate`), the token checks
//! `pkg/service/auth.go` and `pkg/service/utils.go` (`ValidateConnectRequest`), with the
//! same statuses and plain-text bodies; the `join_request` parameter is decoded as
//! rtcservice.go decodes it; frames are binary protobuf `SignalRequest`/`SignalResponse`;
//! the join response carries what `pkg/rtc/room.go` puts in it (ping 5 s / 15 s, no ICE
//! servers, `subscriber_primary` false on v1, permissions from the grants as
//! livekit/protocol `auth/grants.go` `ToPermission`). The publisher offer riding in the join
//! request, and every later offer, is answered by a real WebRTC peer (webrtc-rs) with
//! host candidates on 127.0.0.1 only, embedded in the answer; the client's trickled
//! candidates are added. Data packets on `_reliable`/`_lossy`/`_data_track` are decoded
//! and their `sip_dtmf` recorded ([`FakeLiveKit::dtmf_received`]). Rooms are made on join
//! as livekit-server does by default (`pkg/config/config.go`, `Room.AutoCreate: true`),
//! with `room_started`; joins and leaves are participants like any other (Twirp
//! `ListParticipants`/`RemoveParticipant`/`DeleteRoom`, `participant_joined`/`_left`).
//!
//! From a browser: `new Room().connect("ws://<fake>", token)` with a token signed by the
//! fake's key and secret. The fake's peer offers only 127.0.0.1, so Chromium needs
//! `--allow-loopback-in-peer-connection` (to gather loopback candidates itself) and
//! `--disable-features=WebRtcHideLocalIpsWithMdns` (to send plain addresses, not `.local`
//! names). `GET /fake/clients` answers `{"joins": [ClientJoin...], "dtmf": [ReceivedDtmf...]}`
//! with the fields of [`ClientJoin`] and [`ReceivedDtmf`] (and `Access-Control-Allow-Origin:
//! *`), for tests in the page.
//!
//! Known differences from livekit-server:
//! - Only the v1 path (single peer connection). `/rtc` and `/rtc/validate` (v0) answer 404
//!   with an empty body; the client would then fall back to v0 and fail, which never
//!   happens since `/rtc/v1` works.
//! - No media forwarding and no subscriber side: incoming RTP is read and dropped, data
//!   packets go to nobody else, other participants are neither listed in the join
//!   response nor announced (`update`), and no `track_published` webhook is sent for a
//!   browser's track.
//! - Token errors use golang-jwt's words for the usual cases (bad signature, expired, no
//!   `exp`, not yet valid); rarer ones carry jsonwebtoken's text. The fake's `faults`
//!   knobs do not apply to these routes.
//! - Reliable data packets' sequence numbers are not checked; JSON signalling frames are
//!   ignored (`livekit-client` sends binary).
//! - A socket that closes without `leave` ends the participant at once (livekit-server
//!   keeps it a while for a resume); resume/reconnect is not supported.
//! - What [`FakeLiveKit::client_joins`] and [`FakeLiveKit::dtmf_received`] hold is not
//!   saved in the state file.

use super::*;
use axum::{
    extract::{
        ws::{rejection::WebSocketUpgradeRejection, Message as WsMessage, WebSocket},
        Query, WebSocketUpgrade,
    },
    http::header,
};
use livekit_api::access_token::{AccessTokenError, VideoGrants};
use proto::{signal_request::Message as Request, signal_response::Message as Reply};
use std::io::Read;
use tokio::sync::watch;
use webrtc::data_channel::{DataChannel, DataChannelEvent};
use webrtc::media_stream::track_remote::TrackRemote;
use webrtc::peer_connection::{
    MediaEngine, PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler,
    RTCConfigurationBuilder, RTCIceCandidateInit, RTCIceGatheringState, RTCPeerConnectionState,
    RTCSessionDescription,
};

/// livekit-server's version the join response announces (livekit-client refuses a join
/// without one: `Room.ts`, "unknown server version").
pub const SERVER_VERSION: &str = "1.9.0";

/// A browser (or other signalling client) that joined a room through `/rtc/v1`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClientJoin {
    pub room: String,
    pub identity: String,
    pub sid: String,
    pub name: String,
    pub can_publish: bool,
    pub can_subscribe: bool,
    pub can_publish_data: bool,
    /// Unix seconds.
    pub joined_at: i64,
    /// It left, was removed, or its room was deleted.
    pub left: bool,
}

/// A `sip_dtmf` data packet a client sent on its data channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReceivedDtmf {
    pub room: String,
    pub identity: String,
    pub code: u32,
    pub digit: String,
}

/// The signalling clients' part of the fake's world.
#[derive(Default)]
pub(super) struct Clients {
    joins: Vec<ClientJoin>,
    dtmf: Vec<ReceivedDtmf>,
    /// Open sessions by (room, identity): their number and how to tell them to go.
    sessions: HashMap<(String, String), (u64, mpsc::UnboundedSender<proto::DisconnectReason>)>,
    next_session: u64,
}

impl FakeLiveKit {
    /// Every `/rtc/v1` join so far, oldest first.
    pub fn client_joins(&self) -> Vec<ClientJoin> {
        self.world
            .lock()
            .map(|w| w.clients.joins.clone())
            .unwrap_or_default()
    }

    /// The DTMF digits clients in room `room` sent (`publishDtmf`), oldest first.
    pub fn dtmf_received(&self, room: &str) -> Vec<ReceivedDtmf> {
        self.world
            .lock()
            .map(|w| {
                w.clients
                    .dtmf
                    .iter()
                    .filter(|d| d.room == room)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Tells the signalling client `identity` in `room`, if one is connected, that the
    /// server removed it: it gets `leave{reason, DISCONNECT}` and its socket closes
    /// (livekit/livekit `pkg/rtc/participant_signal.go`, `sendLeaveRequest`). The caller
    /// has already removed the participant.
    pub(super) fn kick_client(&self, room: &str, identity: &str, reason: proto::DisconnectReason) {
        let session = {
            let Ok(mut w) = self.world.lock() else { return };
            mark_left(&mut w, room, identity);
            w.clients
                .sessions
                .remove(&(room.to_string(), identity.to_string()))
        };
        if let Some((_, kick)) = session {
            let _ = kick.send(reason);
        }
    }

    fn record_dtmf(&self, room: &str, identity: &str, dtmf: proto::SipDtmf) {
        if let Ok(mut w) = self.world.lock() {
            w.clients.dtmf.push(ReceivedDtmf {
                room: room.to_string(),
                identity: identity.to_string(),
                code: dtmf.code,
                digit: dtmf.digit,
            });
        }
    }
}

fn mark_left(w: &mut World, room: &str, identity: &str) {
    for j in w.clients.joins.iter_mut() {
        if j.room == room && j.identity == identity {
            j.left = true;
        }
    }
}

// ---------------------------------------------------------------------------------------
// Routes

/// A refusal as livekit-server writes it: the status and the error's text
/// (livekit/livekit `pkg/service/utils.go`, `HandleError`).
type Refusal = (StatusCode, String);

fn refuse(status: StatusCode, body: impl Into<String>) -> Refusal {
    (status, body.into())
}

/// `Access-Control-Allow-Origin: *`, which livekit-server sets on the validate paths
/// before checking anything (livekit/livekit `pkg/service/auth.go`), so a page on another
/// origin can read why it was refused.
fn with_cors(mut response: Response) -> Response {
    response.headers_mut().insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        header::HeaderValue::from_static("*"),
    );
    response
}

/// `/rtc` and `/rtc/validate`: the v0 path is not served (see the module docs).
pub(super) async fn v0(uri: axum::http::Uri) -> Response {
    let response = StatusCode::NOT_FOUND.into_response();
    if uri.path().ends_with("/validate") {
        with_cors(response)
    } else {
        response
    }
}

/// `GET /rtc/v1/validate`: the checks the WebSocket makes, answered as text
/// (livekit/livekit `pkg/service/rtcservice.go`, `validate`: 200 `success`).
pub(super) async fn validate(
    State(fake): State<FakeLiveKit>,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    with_cors(match fake.admit(&headers, &params) {
        Ok(_) => refuse(StatusCode::OK, "success").into_response(),
        Err(refused) => refused.into_response(),
    })
}

/// `GET /rtc/v1`: the signalling WebSocket, refused with the validate answer's status
/// and body before the upgrade (livekit/livekit `pkg/service/rtcservice.go`, `ServeHTTP`).
pub(super) async fn signal(
    State(fake): State<FakeLiveKit>,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let admitted = match fake.admit(&headers, &params) {
        Ok(admitted) => admitted,
        Err(refused) => return refused.into_response(),
    };
    // rtcservice.go: a request that is not an upgrade gets an empty 404.
    let Ok(upgrade) = upgrade else {
        return StatusCode::NOT_FOUND.into_response();
    };
    upgrade.on_upgrade(move |socket| async move { fake.session(admitted, socket).await })
}

/// `GET /fake/clients`: what [`FakeLiveKit::client_joins`] and the DTMF received say, for
/// browser tests: `{"joins": [ClientJoin...], "dtmf": [ReceivedDtmf...]}`.
pub(super) async fn clients_json(State(fake): State<FakeLiveKit>) -> Response {
    let (joins, dtmf) = fake
        .world
        .lock()
        .map(|w| (w.clients.joins.clone(), w.clients.dtmf.clone()))
        .unwrap_or_default();
    with_cors(axum::Json(json!({ "joins": joins, "dtmf": dtmf })).into_response())
}

// ---------------------------------------------------------------------------------------
// Admission

/// A connection the checks let in.
pub(super) struct Admitted {
    room: String,
    claims: Claims,
    join: proto::JoinRequest,
}

/// golang-jwt v5's words for what jsonwebtoken found (livekit/protocol
/// `auth/verifier.go` returns golang-jwt's error, which auth.go appends).
fn jwt_words(e: &AccessTokenError) -> String {
    use jsonwebtoken::errors::ErrorKind;
    let AccessTokenError::Encoding(e) = e else {
        return e.to_string();
    };
    match e.kind() {
        ErrorKind::ExpiredSignature => "token has invalid claims: token is expired".into(),
        ErrorKind::ImmatureSignature => "token has invalid claims: token is not valid yet".into(),
        ErrorKind::InvalidSignature => "token signature is invalid: signature is invalid".into(),
        ErrorKind::MissingRequiredClaim(claim) => format!(
            "token has invalid claims: token is missing required claim: {claim} claim is required"
        ),
        ErrorKind::InvalidIssuer => "token has invalid claims: token has invalid issuer".into(),
        ErrorKind::InvalidAlgorithm => "token is unverifiable: signing method is invalid".into(),
        _ => format!("token is malformed: {e}"),
    }
}

impl FakeLiveKit {
    /// The token and join request checks, in livekit-server's order: auth.go's middleware
    /// (header, parse, API key, signature and expiry), then rtcservice.go
    /// (`validateInternal`: a video grant, the `join_request` parameter) and utils.go
    /// (`ValidateConnectRequest`: roomJoin, identity, room name, room).
    fn admit(
        &self,
        headers: &HeaderMap,
        params: &HashMap<String, String>,
    ) -> Result<Admitted, Refusal> {
        let unauthorized = |body: String| refuse(StatusCode::UNAUTHORIZED, body);
        // auth.go: the Authorization header wins over the access_token parameter.
        let token = match headers.get(header::AUTHORIZATION) {
            Some(value) => {
                let value = value.to_str().unwrap_or_default();
                match value.strip_prefix("Bearer ") {
                    Some(token) => Some(token.trim().to_string()),
                    None => {
                        return Err(unauthorized(
                            "invalid authorization header. Must start with Bearer ".into(),
                        ))
                    }
                }
            }
            None => params.get("access_token").cloned(),
        }
        .filter(|t| !t.is_empty());
        let claims = match token {
            None => None,
            Some(token) => {
                // auth.go: unparseable, then an unknown key, then the verifier's verdict.
                let unverified = Claims::from_unverified(&token)
                    .map_err(|_| unauthorized("invalid authorization token".into()))?;
                if unverified.iss != self.api_key {
                    return Err(unauthorized("invalid API key".into()));
                }
                let verified = TokenVerifier::with_api_key(&self.api_key, &self.api_secret)
                    .verify(&token)
                    .map_err(|e| {
                        unauthorized(format!("invalid authorization token: {}", jwt_words(&e)))
                    })?;
                Some(verified)
            }
        };
        // rtcservice.go / utils.go: no claims, or no video grant at all.
        let claims = claims
            .filter(|c| c.video != VideoGrants::default())
            .ok_or_else(|| unauthorized("no permissions to access the room".into()))?;
        // rtcservice.go: v1 needs the join request.
        let encoded = params
            .get("join_request")
            .filter(|j| !j.is_empty())
            .ok_or_else(|| refuse(StatusCode::BAD_REQUEST, "join_request is required"))?;
        let join = decode_join_request(encoded).map_err(|e| refuse(StatusCode::BAD_REQUEST, e))?;
        // utils.go, ValidateConnectRequest (auth.go, EnsureJoinPermission).
        if !claims.video.room_join {
            return Err(unauthorized("permissions denied".into()));
        }
        if claims.sub.is_empty() {
            return Err(refuse(StatusCode::BAD_REQUEST, "identity cannot be empty"));
        }
        // utils.go: the room always comes from the token.
        let room = claims.video.room.clone();
        if room.is_empty() {
            return Err(refuse(StatusCode::BAD_REQUEST, "no room name"));
        }
        // utils.go: a missing room is refused only when auto-create is off, and
        // livekit-server's default config has it on (pkg/config/config.go) — as here.
        Ok(Admitted { room, claims, join })
    }
}

/// The `join_request` parameter: URL-safe padded base64 of a `WrappedJoinRequest` whose
/// payload is a `JoinRequest`, plain or gzipped, with rtcservice.go's error texts.
fn decode_join_request(encoded: &str) -> Result<proto::JoinRequest, &'static str> {
    use base64::engine::general_purpose::URL_SAFE;
    use proto::wrapped_join_request::Compression;
    // http.DefaultMaxHeaderBytes bounds what livekit-server reads.
    const LIMIT: u64 = 1 << 20;
    let bytes = URL_SAFE
        .decode(encoded)
        .map_err(|_| "cannot base64 decode wrapped join request")?;
    let wrapped = proto::WrappedJoinRequest::decode(bytes.as_slice())
        .map_err(|_| "cannot unmarshal wrapped join request")?;
    let payload = match Compression::try_from(wrapped.compression) {
        Ok(Compression::None) => wrapped.join_request,
        Ok(Compression::Gzip) => {
            let mut plain = Vec::new();
            flate2::read::GzDecoder::new(wrapped.join_request.as_slice())
                .take(LIMIT + 1)
                .read_to_end(&mut plain)
                .map_err(|_| "cannot read decompressed join request")?;
            if plain.len() as u64 > LIMIT {
                return Err("cannot read decompressed join request");
            }
            plain
        }
        // rtcservice.go: an unknown compression leaves the join request empty.
        Err(_) => Vec::new(),
    };
    proto::JoinRequest::decode(payload.as_slice()).map_err(|_| "cannot unmarshal join request")
}

/// The token's sources as `TrackSource`s (livekit/protocol `auth/grants.go`,
/// `GetCanPublishSources`, by the lower-case names).
fn sources(grants: &VideoGrants) -> Vec<i32> {
    grants
        .can_publish_sources
        .iter()
        .filter_map(|s| match s.as_str() {
            "camera" => Some(proto::TrackSource::Camera),
            "microphone" => Some(proto::TrackSource::Microphone),
            "screen_share" => Some(proto::TrackSource::ScreenShare),
            "screen_share_audio" => Some(proto::TrackSource::ScreenShareAudio),
            _ => None,
        })
        .map(|s| s as i32)
        .collect()
}

/// livekit/protocol `auth/grants.go`, `ToPermission`: publish, subscribe and data default
/// to allowed when the grant leaves them out.
fn permission(grants: &VideoGrants) -> proto::ParticipantPermission {
    proto::ParticipantPermission {
        can_subscribe: grants.can_subscribe.unwrap_or(true),
        can_publish: grants.can_publish.unwrap_or(true),
        can_publish_data: grants.can_publish_data.unwrap_or(true),
        can_publish_sources: sources(grants),
        hidden: grants.hidden,
        can_update_metadata: grants.can_update_own_metadata.unwrap_or(false),
        ..Default::default()
    }
}

/// livekit/livekit `pkg/rtc/participant.go`, `CanPublishSource`: publishing allowed and
/// the source among the allowed ones, if the token lists any.
fn can_publish_source(p: &proto::ParticipantPermission, source: i32) -> bool {
    p.can_publish && (p.can_publish_sources.is_empty() || p.can_publish_sources.contains(&source))
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

fn reply(message: Reply) -> WsMessage {
    WsMessage::Binary(
        proto::SignalResponse {
            message: Some(message),
        }
        .encode_to_vec()
        .into(),
    )
}

/// livekit/livekit `pkg/rtc/participant_signal.go`, `sendLeaveRequest`: `leave` with the
/// reason and DISCONNECT.
fn leave(reason: proto::DisconnectReason) -> WsMessage {
    reply(Reply::Leave(proto::LeaveRequest {
        reason: reason as i32,
        action: proto::leave_request::Action::Disconnect as i32,
        ..Default::default()
    }))
}

// ---------------------------------------------------------------------------------------
// The session

/// How a session ended.
enum Ended {
    /// The client asked to leave, or its socket went.
    ByClient { send_leave: bool },
    /// The server removed it (already out of the room).
    Kicked(proto::DisconnectReason),
}

impl FakeLiveKit {
    async fn session(self, admitted: Admitted, mut socket: WebSocket) {
        let Admitted { room, claims, join } = admitted;
        let identity = claims.sub.clone();
        let permission = permission(&claims.video);
        let now = now_secs();
        let participant = proto::ParticipantInfo {
            sid: id("PA_"),
            identity: identity.clone(),
            name: claims.name.clone(),
            state: participant_info::State::Joined as i32,
            metadata: if join.metadata.is_empty() {
                claims.metadata.clone()
            } else {
                join.metadata.clone()
            },
            attributes: claims.attributes.clone(),
            joined_at: now,
            joined_at_ms: now * 1000,
            permission: Some(permission.clone()),
            kind: participant_info::Kind::Standard as i32,
            ..Default::default()
        };
        // A second connection with the same identity replaces the first
        // (livekit/livekit `pkg/rtc/room.go`, `Join`: DUPLICATE_IDENTITY).
        let duplicate = self
            .participants(&room)
            .iter()
            .any(|p| p.identity == identity);
        if duplicate {
            self.end_call(&room, &identity, proto::DisconnectReason::DuplicateIdentity);
            self.kick_client(&room, &identity, proto::DisconnectReason::DuplicateIdentity);
        }
        let (kick_tx, mut kick_rx) = mpsc::unbounded_channel();
        let joined = {
            let Ok(mut w) = self.world.lock() else { return };
            let (room_info, created) = self.ensure_room(&mut w, &room, "");
            if let Some(r) = w.rooms.get_mut(&room) {
                r.participants.push(participant.clone());
            }
            Self::joined(&mut w, &room, &participant);
            w.clients.joins.push(ClientJoin {
                room: room.clone(),
                identity: identity.clone(),
                sid: participant.sid.clone(),
                name: participant.name.clone(),
                can_publish: permission.can_publish,
                can_subscribe: permission.can_subscribe,
                can_publish_data: permission.can_publish_data,
                joined_at: now,
                left: false,
            });
            w.clients.next_session += 1;
            let number = w.clients.next_session;
            w.clients
                .sessions
                .insert((room.clone(), identity.clone()), (number, kick_tx));
            (room_info, created, number)
        };
        let (room_info, created, number) = joined;
        if created {
            self.emit("room_started", &room_info, None);
        }
        self.emit("participant_joined", &room_info, Some(&participant));

        // The join response first (rtcservice.go), with room.go's values.
        let join_response = proto::JoinResponse {
            room: Some(room_info),
            participant: Some(participant.clone()),
            server_version: SERVER_VERSION.into(),
            server_info: Some(proto::ServerInfo {
                edition: proto::server_info::Edition::Standard as i32,
                version: SERVER_VERSION.into(),
                protocol: 16,
                ..Default::default()
            }),
            ping_timeout: 15,
            ping_interval: 5,
            subscriber_primary: false,
            fast_publish: permission.can_publish,
            ..Default::default()
        };
        let mut ended = Ended::ByClient { send_leave: false };
        if socket.send(reply(Reply::Join(join_response))).await.is_ok() {
            let mut peer = None;
            if let Some(offer) = &join.publisher_offer {
                peer = self
                    .answer(&mut socket, &mut peer, offer, &room, &identity, &permission)
                    .await;
            }
            ended = loop {
                tokio::select! {
                    reason = kick_rx.recv() => {
                        break match reason {
                            Some(reason) => Ended::Kicked(reason),
                            None => Ended::Kicked(proto::DisconnectReason::UnknownReason),
                        };
                    }
                    message = socket.recv() => {
                        let bytes = match message {
                            Some(Ok(WsMessage::Binary(bytes))) => bytes,
                            Some(Ok(WsMessage::Close(_))) | Some(Err(_)) | None => {
                                break Ended::ByClient { send_leave: false };
                            }
                            Some(Ok(_)) => continue,
                        };
                        let Ok(request) = proto::SignalRequest::decode(bytes.as_ref()) else {
                            continue;
                        };
                        match request.message {
                            Some(Request::Leave(_)) => break Ended::ByClient { send_leave: true },
                            Some(message) => {
                                let next = self
                                    .handle(&mut socket, peer.take(), message, &room, &identity, &permission)
                                    .await;
                                peer = next;
                            }
                            None => {}
                        }
                    }
                }
            };
            if let Some(peer) = peer {
                let _ = peer.pc.close().await;
            }
        }
        match ended {
            Ended::Kicked(reason) => {
                let _ = socket.send(leave(reason)).await;
            }
            Ended::ByClient { send_leave } => {
                // Still ours: not kicked meanwhile (the kick removes the session first).
                let ours = self
                    .world
                    .lock()
                    .map(|mut w| {
                        let key = (room.clone(), identity.clone());
                        if w.clients
                            .sessions
                            .get(&key)
                            .is_some_and(|(n, _)| *n == number)
                        {
                            w.clients.sessions.remove(&key);
                            mark_left(&mut w, &room, &identity);
                            true
                        } else {
                            false
                        }
                    })
                    .unwrap_or(false);
                if ours {
                    // livekit/livekit `pkg/rtc/room.go`, `RemoveParticipant`, then
                    // `participant_signal.go`: leave{CLIENT_INITIATED, DISCONNECT} back.
                    self.end_call(&room, &identity, proto::DisconnectReason::ClientInitiated);
                }
                if send_leave {
                    let _ = socket
                        .send(leave(proto::DisconnectReason::ClientInitiated))
                        .await;
                }
            }
        }
        let _ = socket.send(WsMessage::Close(None)).await;
    }

    /// One request after the join (livekit/livekit `pkg/rtc/signalhandler.go`); returns the
    /// peer connection, made if an offer needed one.
    async fn handle(
        &self,
        socket: &mut WebSocket,
        mut peer: Option<Peer>,
        message: Request,
        room: &str,
        identity: &str,
        permission: &proto::ParticipantPermission,
    ) -> Option<Peer> {
        match message {
            // rtcservice.go answers pings in its read loop.
            Request::Ping(_) => {
                let _ = socket.send(reply(Reply::Pong(now_ms()))).await;
            }
            Request::PingReq(ping) => {
                let pong = proto::Pong {
                    last_ping_timestamp: ping.timestamp,
                    timestamp: now_ms(),
                };
                let _ = socket.send(reply(Reply::PongResp(pong))).await;
            }
            Request::Offer(offer) => {
                return self
                    .answer(socket, &mut peer, &offer, room, identity, permission)
                    .await;
            }
            Request::Trickle(trickle) => {
                if let Some(peer) = &peer {
                    if let Ok(candidate) =
                        serde_json::from_str::<RTCIceCandidateInit>(&trickle.candidate_init)
                    {
                        if !candidate.candidate.is_empty() {
                            if let Err(e) = peer.pc.add_ice_candidate(candidate).await {
                                tracing::debug!(error = %e, "fake LiveKit: bad ICE candidate");
                            }
                        }
                    }
                }
            }
            Request::AddTrack(req) => {
                let response = self.add_track(room, identity, permission, req);
                let _ = socket.send(reply(response)).await;
            }
            _ => {}
        }
        peer
    }

    /// livekit/livekit `pkg/rtc/participant.go`, `AddTrack`: NOT_ALLOWED for a source the
    /// grants refuse, else `track_published` with the new track, which the participant
    /// then lists.
    fn add_track(
        &self,
        room: &str,
        identity: &str,
        permission: &proto::ParticipantPermission,
        req: proto::AddTrackRequest,
    ) -> Reply {
        if !can_publish_source(permission, req.source) {
            return Reply::RequestResponse(proto::RequestResponse {
                reason: proto::request_response::Reason::NotAllowed as i32,
                message: "does not have permission to publish".into(),
                request: Some(proto::request_response::Request::AddTrack(req)),
                ..Default::default()
            });
        }
        let audio = req.r#type == proto::TrackType::Audio as i32;
        let track = proto::TrackInfo {
            sid: id("TR_"),
            r#type: req.r#type,
            name: req.name.clone(),
            muted: req.muted,
            width: req.width,
            height: req.height,
            source: req.source,
            mime_type: if audio {
                "audio/opus".into()
            } else {
                String::new()
            },
            disable_red: req.disable_red,
            stream: req.stream.clone(),
            audio_features: req.audio_features.clone(),
            ..Default::default()
        };
        if let Ok(mut w) = self.world.lock() {
            if let Some(p) = w
                .rooms
                .get_mut(room)
                .and_then(|r| r.participants.iter_mut().find(|p| p.identity == identity))
            {
                p.tracks.push(track.clone());
            }
        }
        Reply::TrackPublished(proto::TrackPublishedResponse {
            cid: req.cid,
            track: Some(track),
        })
    }

    /// Answers an offer with the same id (PCTransport.ts drops an answer whose id is not the
    /// offer's), making the peer connection on the first; candidates ride in the answer.
    async fn answer(
        &self,
        socket: &mut WebSocket,
        peer: &mut Option<Peer>,
        offer: &proto::SessionDescription,
        room: &str,
        identity: &str,
        permission: &proto::ParticipantPermission,
    ) -> Option<Peer> {
        let current = match peer.take() {
            Some(p) => p,
            None => match Peer::new(self.clone(), room, identity, permission).await {
                Ok(p) => p,
                Err(e) => {
                    tracing::warn!(error = %e, "fake LiveKit could not make a peer connection");
                    return None;
                }
            },
        };
        match current.answer(&offer.sdp).await {
            Ok(sdp) => {
                let answer = proto::SessionDescription {
                    r#type: "answer".into(),
                    sdp,
                    id: offer.id,
                    ..Default::default()
                };
                let _ = socket.send(reply(Reply::Answer(answer))).await;
            }
            Err(e) => tracing::warn!(error = %e, "fake LiveKit could not answer an offer"),
        }
        Some(current)
    }
}

// ---------------------------------------------------------------------------------------
// WebRTC

/// The client's publisher peer connection, as the fake's side of it.
struct Peer {
    pc: Arc<dyn PeerConnection>,
    gathered: watch::Receiver<bool>,
}

impl Peer {
    /// A peer connection on 127.0.0.1 with no STUN or TURN: host candidates only.
    async fn new(
        fake: FakeLiveKit,
        room: &str,
        identity: &str,
        permission: &proto::ParticipantPermission,
    ) -> Result<Peer, String> {
        let (gathered_tx, gathered) = watch::channel(false);
        let events = Arc::new(PeerEvents {
            fake,
            room: room.to_string(),
            identity: identity.to_string(),
            can_publish_data: permission.can_publish_data,
            gathered: gathered_tx,
        });
        let mut media = MediaEngine::default();
        media.register_default_codecs().map_err(|e| e.to_string())?;
        let pc = PeerConnectionBuilder::new()
            .with_configuration(RTCConfigurationBuilder::new().build())
            .with_media_engine(media)
            .with_handler(events)
            .with_udp_addrs(vec!["127.0.0.1:0"])
            .build()
            .await
            .map_err(|e| e.to_string())?;
        Ok(Peer {
            pc: Arc::new(pc),
            gathered,
        })
    }

    /// The answer's SDP, once gathering is done (or after 3 s), with the candidates in it.
    async fn answer(&self, offer: &str) -> Result<String, String> {
        let offer = RTCSessionDescription::offer(offer.to_string()).map_err(|e| e.to_string())?;
        self.pc
            .set_remote_description(offer)
            .await
            .map_err(|e| e.to_string())?;
        let answer = self
            .pc
            .create_answer(None)
            .await
            .map_err(|e| e.to_string())?;
        self.pc
            .set_local_description(answer)
            .await
            .map_err(|e| e.to_string())?;
        let mut gathered = self.gathered.clone();
        let _ = tokio::time::timeout(Duration::from_secs(3), gathered.wait_for(|done| *done)).await;
        self.pc
            .local_description()
            .await
            .map(|d| d.sdp)
            .ok_or_else(|| "no local description".to_string())
    }
}

struct PeerEvents {
    fake: FakeLiveKit,
    room: String,
    identity: String,
    can_publish_data: bool,
    gathered: watch::Sender<bool>,
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for PeerEvents {
    async fn on_ice_gathering_state_change(&self, state: RTCIceGatheringState) {
        if state == RTCIceGatheringState::Complete {
            let _ = self.gathered.send(true);
        }
    }

    /// The participant becomes ACTIVE once its transport is up (livekit/livekit
    /// `pkg/rtc/participant.go`, `updateState(ACTIVE)` when the primary transport is
    /// fully established).
    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        if state != RTCPeerConnectionState::Connected {
            return;
        }
        if let Ok(mut w) = self.fake.world.lock() {
            if let Some(p) = w.rooms.get_mut(&self.room).and_then(|r| {
                r.participants
                    .iter_mut()
                    .find(|p| p.identity == self.identity)
            }) {
                p.state = participant_info::State::Active as i32;
            }
        }
    }

    /// livekit/livekit `pkg/rtc/transport.go` takes `_reliable`, `_lossy` and
    /// `_data_track`; `pkg/rtc/participant.go` (`onDataMessage`) drops everything from a
    /// participant without `can_publish_data` and takes `sip_dtmf` packets.
    async fn on_data_channel(&self, channel: Arc<dyn DataChannel>) {
        let (fake, room, identity) = (self.fake.clone(), self.room.clone(), self.identity.clone());
        let allowed = self.can_publish_data;
        tokio::spawn(async move {
            let label = channel.label().await.unwrap_or_default();
            let known = matches!(label.as_str(), "_reliable" | "_lossy" | "_data_track");
            while let Some(event) = channel.poll().await {
                match event {
                    DataChannelEvent::OnMessage(message) if known && allowed => {
                        let Ok(packet) = proto::DataPacket::decode(&message.data[..]) else {
                            continue;
                        };
                        if let Some(proto::data_packet::Value::SipDtmf(dtmf)) = packet.value {
                            fake.record_dtmf(&room, &identity, dtmf);
                        }
                    }
                    DataChannelEvent::OnClose => break,
                    _ => {}
                }
            }
        });
    }

    /// Media is not forwarded: the track's packets are read and dropped.
    async fn on_track(&self, track: Arc<dyn TrackRemote>) {
        tokio::spawn(async move { while track.poll().await.is_some() {} });
    }
}
