//! The fake LiveKit's `/rtc/v1` signalling, driven as livekit-client drives it: a
//! WebSocket of binary protobuf, and (in one test) a real WebRTC peer that sends DTMF on
//! its `_reliable` data channel.

use base64::{engine::general_purpose::URL_SAFE, Engine};
use dial_fakes::livekit::FakeLiveKit;
use futures_util::{SinkExt, StreamExt};
use livekit_api::access_token::{AccessToken, VideoGrants};
use livekit_protocol as proto;
use prost::Message;
use proto::{signal_request::Message as Request, signal_response::Message as Reply};
use serde_json::json;
use sha2::{Digest, Sha256};
use std::{net::SocketAddr, sync::Arc, time::Duration};
use tokio::net::TcpStream;
use tokio_tungstenite::{tungstenite, MaybeTlsStream, WebSocketStream};

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

const KEY: &str = "devkey";
const SECRET: &str = "devsecret-that-is-long-enough-for-hs256";

async fn start() -> (FakeLiveKit, SocketAddr) {
    let fake = FakeLiveKit::new(KEY, SECRET);
    let addr = fake
        .serve("127.0.0.1:0".parse().unwrap())
        .await
        .expect("serve");
    (fake, addr)
}

fn join_grants(room: &str) -> VideoGrants {
    VideoGrants {
        room_join: true,
        room: room.into(),
        ..Default::default()
    }
}

fn token(identity: &str, grants: VideoGrants) -> String {
    AccessToken::with_api_key(KEY, SECRET)
        .with_identity(identity)
        .with_name(&format!("{identity} name"))
        .with_grants(grants)
        .to_jwt()
        .expect("jwt")
}

/// HS256 by hand, for tokens `AccessToken` will not make (expired, no `exp`).
fn sign(claims: serde_json::Value, secret: &str) -> String {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
    let header = B64.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let body = B64.encode(claims.to_string());
    let input = format!("{header}.{body}");
    let mut key = [0u8; 64];
    key[..secret.len()].copy_from_slice(secret.as_bytes());
    let pad = |byte: u8| key.iter().map(|k| k ^ byte).collect::<Vec<u8>>();
    let inner = Sha256::digest([pad(0x36), input.as_bytes().to_vec()].concat());
    let mac = Sha256::digest([pad(0x5c), inner.to_vec()].concat());
    format!("{input}.{}", B64.encode(mac))
}

fn join_param(join: &proto::JoinRequest, gzip: bool) -> String {
    let plain = join.encode_to_vec();
    let wrapped = if gzip {
        use std::io::Write;
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(&plain).unwrap();
        proto::WrappedJoinRequest {
            compression: proto::wrapped_join_request::Compression::Gzip as i32,
            join_request: encoder.finish().unwrap(),
        }
    } else {
        proto::WrappedJoinRequest {
            compression: 0,
            join_request: plain,
        }
    };
    // livekit-client keeps the padding, which URLSearchParams percent-encodes.
    URL_SAFE.encode(wrapped.encode_to_vec()).replace('=', "%3D")
}

fn query(token: &str, join: &proto::JoinRequest) -> String {
    format!(
        "access_token={token}&join_request={}",
        join_param(join, true)
    )
}

async fn validate(addr: SocketAddr, token: &str) -> (u16, String, Option<String>) {
    let url = format!(
        "http://{addr}/rtc/v1/validate?{}",
        query(token, &Default::default())
    );
    let response = reqwest::get(url).await.expect("validate");
    let cors = response
        .headers()
        .get("access-control-allow-origin")
        .map(|v| v.to_str().unwrap().to_string());
    (
        response.status().as_u16(),
        response.text().await.unwrap(),
        cors,
    )
}

async fn connect(
    addr: SocketAddr,
    token: &str,
    join: &proto::JoinRequest,
) -> Result<Socket, (u16, String)> {
    let url = format!("ws://{addr}/rtc/v1?{}", query(token, join));
    match tokio_tungstenite::connect_async(url).await {
        Ok((socket, _)) => Ok(socket),
        Err(tungstenite::Error::Http(response)) => Err((
            response.status().as_u16(),
            String::from_utf8_lossy(response.body().as_deref().unwrap_or_default()).into_owned(),
        )),
        Err(e) => panic!("connect: {e}"),
    }
}

/// The next signal response, or `None` once the socket closed.
async fn next(socket: &mut Socket) -> Option<Reply> {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .expect("a message within 10 s");
        match message {
            Some(Ok(tungstenite::Message::Binary(bytes))) => {
                return proto::SignalResponse::decode(bytes.as_ref())
                    .expect("SignalResponse")
                    .message;
            }
            Some(Ok(tungstenite::Message::Close(_))) | None | Some(Err(_)) => return None,
            Some(Ok(_)) => continue,
        }
    }
}

async fn send(socket: &mut Socket, request: Request) {
    let bytes = proto::SignalRequest {
        message: Some(request),
    }
    .encode_to_vec();
    socket
        .send(tungstenite::Message::Binary(bytes.into()))
        .await
        .expect("send");
}

async fn join(socket: &mut Socket) -> proto::JoinResponse {
    match next(socket).await {
        Some(Reply::Join(join)) => join,
        other => panic!("expected join, got {other:?}"),
    }
}

async fn twirp(addr: SocketAddr, method: &str, body: serde_json::Value) -> reqwest::StatusCode {
    let admin = AccessToken::with_api_key(KEY, SECRET)
        .with_grants(VideoGrants {
            room_admin: true,
            room_create: true,
            ..Default::default()
        })
        .to_jwt()
        .unwrap();
    reqwest::Client::new()
        .post(format!("http://{addr}/twirp/livekit.RoomService/{method}"))
        .bearer_auth(admin)
        .json(&body)
        .send()
        .await
        .unwrap()
        .status()
}

fn events(fake: &FakeLiveKit) -> Vec<String> {
    fake.webhook_events().into_iter().map(|e| e.event).collect()
}

#[tokio::test]
async fn refusals_carry_livekits_status_and_text() {
    let (_fake, addr) = start().await;
    let forged = AccessToken::with_api_key(KEY, "another-secret-that-is-long-enough")
        .with_identity("alice")
        .with_grants(join_grants("r"))
        .to_jwt()
        .unwrap();
    let (status, body, cors) = validate(addr, &forged).await;
    assert_eq!(status, 401);
    assert!(
        body.starts_with("invalid authorization token: token signature is invalid"),
        "{body}"
    );
    assert_eq!(cors.as_deref(), Some("*"));
    let refused = connect(addr, &forged, &Default::default()).await.err();
    assert_eq!(refused.map(|r| r.0), Some(401));

    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let past = now - 3600;
    let video = json!({"roomJoin": true, "room": "r"});
    let expired = sign(
        json!({"iss": KEY, "sub": "alice", "exp": past, "nbf": past - 60, "video": video}),
        SECRET,
    );
    assert_eq!(
        validate(addr, &expired).await.1,
        "invalid authorization token: token has invalid claims: token is expired"
    );
    let no_exp = sign(json!({"iss": KEY, "sub": "alice", "video": video}), SECRET);
    let (status, body, _) = validate(addr, &no_exp).await;
    assert_eq!(status, 401);
    assert!(body.contains("exp"), "{body}");
    let wrong_key = AccessToken::with_api_key("otherkey", SECRET)
        .with_identity("alice")
        .with_grants(join_grants("r"))
        .to_jwt()
        .unwrap();
    assert_eq!(
        validate(addr, &wrong_key).await.1,
        "invalid API key".to_string()
    );

    let no_join = token(
        "alice",
        VideoGrants {
            room: "r".into(),
            room_list: true,
            ..Default::default()
        },
    );
    assert_eq!(
        validate(addr, &no_join).await,
        (401, "permissions denied".into(), Some("*".into()))
    );
    let refused = connect(addr, &no_join, &Default::default()).await.err();
    assert_eq!(refused, Some((401, "permissions denied".into())));

    // AccessToken refuses to make these two.
    let no_identity = sign(
        json!({"iss": KEY, "exp": now + 600, "video": video}),
        SECRET,
    );
    assert_eq!(
        validate(addr, &no_identity).await,
        (400, "identity cannot be empty".into(), Some("*".into()))
    );
    let no_room = sign(
        json!({"iss": KEY, "sub": "alice", "exp": now + 600, "video": {"roomJoin": true}}),
        SECRET,
    );
    assert_eq!(validate(addr, &no_room).await.1, "no room name");

    // A join request that is not base64, and none at all.
    let good = token("alice", join_grants("r"));
    let url = format!("http://{addr}/rtc/v1/validate?access_token={good}&join_request=*");
    let response = reqwest::get(url).await.unwrap();
    assert_eq!(response.status().as_u16(), 400);
    assert_eq!(
        response.text().await.unwrap(),
        "cannot base64 decode wrapped join request"
    );
    let url = format!("http://{addr}/rtc/v1/validate?access_token={good}");
    let response = reqwest::get(url).await.unwrap();
    assert_eq!(response.text().await.unwrap(), "join_request is required");

    // v0 is not served: 404, empty.
    let response = reqwest::get(format!("http://{addr}/rtc/validate?access_token={good}"))
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 404);
    assert_eq!(response.text().await.unwrap(), "");
}

#[tokio::test]
async fn validate_succeeds_without_making_the_room() {
    let (fake, addr) = start().await;
    let ok = token("alice", join_grants("lobby"));
    assert_eq!(
        validate(addr, &ok).await,
        (200, "success".into(), Some("*".into()))
    );
    // An uncompressed join request is taken too.
    let join = proto::JoinRequest {
        metadata: "plain".into(),
        ..Default::default()
    };
    let plain = join_param(&join, false);
    let url = format!("http://{addr}/rtc/v1/validate?access_token={ok}&join_request={plain}");
    assert_eq!(
        reqwest::get(url).await.unwrap().text().await.unwrap(),
        "success"
    );
    assert!(fake.rooms().is_empty());
}

#[tokio::test]
async fn join_makes_the_room_and_the_participant_with_the_grants_permissions() {
    let (fake, addr) = start().await;
    let listen_only = token(
        "listener",
        VideoGrants {
            can_publish: Some(false),
            ..join_grants("lobby")
        },
    );
    let mut socket = connect(addr, &listen_only, &Default::default())
        .await
        .expect("upgrade");
    let join = join(&mut socket).await;
    let room = join.room.expect("room");
    assert_eq!(room.name, "lobby");
    assert!(room.sid.starts_with("RM_"));
    let me = join.participant.expect("participant");
    assert!(me.sid.starts_with("PA_"), "{}", me.sid);
    assert_eq!(me.identity, "listener");
    assert_eq!(me.name, "listener name");
    assert_eq!(me.kind, proto::participant_info::Kind::Standard as i32);
    let permission = me.permission.expect("permission");
    assert!(!permission.can_publish);
    assert!(permission.can_subscribe && permission.can_publish_data);
    let server = join.server_info.expect("server info");
    assert!(!server.version.is_empty());
    assert_eq!(server.edition, proto::server_info::Edition::Standard as i32);
    assert_eq!((join.ping_interval, join.ping_timeout), (5, 15));
    assert!(!join.subscriber_primary && !join.fast_publish);
    assert!(join.ice_servers.is_empty());

    assert_eq!(fake.rooms(), vec!["lobby".to_string()]);
    let listed = fake.participants("lobby");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].sid, me.sid);
    let joins = fake.client_joins();
    assert_eq!(joins.len(), 1);
    assert_eq!(
        (joins[0].can_publish, joins[0].can_subscribe, joins[0].left),
        (false, true, false)
    );
    assert_eq!(events(&fake), vec!["room_started", "participant_joined"]);

    // And /fake/clients says the same.
    let clients: serde_json::Value = reqwest::get(format!("http://{addr}/fake/clients"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(clients["joins"][0]["identity"], "listener");
    assert_eq!(clients["joins"][0]["can_publish"], false);
    assert_eq!(clients["dtmf"], json!([]));
}

#[tokio::test]
async fn pings_are_answered() {
    let (_fake, addr) = start().await;
    let mut socket = connect(addr, &token("alice", join_grants("r")), &Default::default())
        .await
        .unwrap();
    join(&mut socket).await;
    send(&mut socket, Request::Ping(1234)).await;
    assert!(matches!(next(&mut socket).await, Some(Reply::Pong(ms)) if ms > 1234));
    send(
        &mut socket,
        Request::PingReq(proto::Ping {
            timestamp: 42,
            rtt: 7,
        }),
    )
    .await;
    match next(&mut socket).await {
        Some(Reply::PongResp(pong)) => {
            assert_eq!(pong.last_ping_timestamp, 42);
            assert!(pong.timestamp > 42);
        }
        other => panic!("expected pong_resp, got {other:?}"),
    }
}

fn microphone(cid: &str) -> Request {
    Request::AddTrack(proto::AddTrackRequest {
        cid: cid.into(),
        name: "mic".into(),
        r#type: proto::TrackType::Audio as i32,
        source: proto::TrackSource::Microphone as i32,
        ..Default::default()
    })
}

#[tokio::test]
async fn add_track_is_published_when_the_grants_allow_it() {
    let (fake, addr) = start().await;
    let mut socket = connect(addr, &token("alice", join_grants("r")), &Default::default())
        .await
        .unwrap();
    join(&mut socket).await;
    send(&mut socket, microphone("track-1")).await;
    let published = match next(&mut socket).await {
        Some(Reply::TrackPublished(published)) => published,
        other => panic!("expected track_published, got {other:?}"),
    };
    assert_eq!(published.cid, "track-1");
    let track = published.track.expect("track");
    assert!(track.sid.starts_with("TR_"));
    assert_eq!(track.source, proto::TrackSource::Microphone as i32);
    assert_eq!(fake.participants("r")[0].tracks, vec![track]);

    // Cameras only: the microphone is refused.
    let cameras = token(
        "bob",
        VideoGrants {
            can_publish_sources: vec!["camera".into()],
            ..join_grants("r")
        },
    );
    let mut socket = connect(addr, &cameras, &Default::default()).await.unwrap();
    join(&mut socket).await;
    send(&mut socket, microphone("track-2")).await;
    match next(&mut socket).await {
        Some(Reply::RequestResponse(response)) => {
            assert_eq!(
                response.reason,
                proto::request_response::Reason::NotAllowed as i32
            );
            assert!(matches!(
                response.request,
                Some(proto::request_response::Request::AddTrack(ref req)) if req.cid == "track-2"
            ));
        }
        other => panic!("expected request_response, got {other:?}"),
    }
}

#[tokio::test]
async fn removing_the_participant_sends_leave_and_closes() {
    let (fake, addr) = start().await;
    let mut socket = connect(addr, &token("alice", join_grants("r")), &Default::default())
        .await
        .unwrap();
    join(&mut socket).await;
    let status = twirp(
        addr,
        "RemoveParticipant",
        json!({"room": "r", "identity": "alice"}),
    )
    .await;
    assert!(status.is_success());
    match next(&mut socket).await {
        Some(Reply::Leave(leave)) => {
            assert_eq!(
                leave.reason,
                proto::DisconnectReason::ParticipantRemoved as i32
            );
            assert_eq!(
                leave.action,
                proto::leave_request::Action::Disconnect as i32
            );
        }
        other => panic!("expected leave, got {other:?}"),
    }
    assert!(next(&mut socket).await.is_none(), "the socket closes");
    assert!(fake.participants("r").is_empty());
    assert!(fake.client_joins()[0].left);

    // Deleting the room does the same, with ROOM_DELETED.
    let mut socket = connect(addr, &token("bob", join_grants("r")), &Default::default())
        .await
        .unwrap();
    join(&mut socket).await;
    assert!(twirp(addr, "DeleteRoom", json!({"room": "r"}))
        .await
        .is_success());
    match next(&mut socket).await {
        Some(Reply::Leave(leave)) => {
            assert_eq!(leave.reason, proto::DisconnectReason::RoomDeleted as i32)
        }
        other => panic!("expected leave, got {other:?}"),
    }
    assert!(next(&mut socket).await.is_none());
}

#[tokio::test]
async fn a_client_that_leaves_is_removed_and_answered() {
    let (fake, addr) = start().await;
    let mut socket = connect(addr, &token("alice", join_grants("r")), &Default::default())
        .await
        .unwrap();
    join(&mut socket).await;
    send(
        &mut socket,
        Request::Leave(proto::LeaveRequest {
            reason: proto::DisconnectReason::ClientInitiated as i32,
            action: proto::leave_request::Action::Disconnect as i32,
            ..Default::default()
        }),
    )
    .await;
    match next(&mut socket).await {
        Some(Reply::Leave(leave)) => {
            assert_eq!(
                leave.reason,
                proto::DisconnectReason::ClientInitiated as i32
            )
        }
        other => panic!("expected leave, got {other:?}"),
    }
    assert!(next(&mut socket).await.is_none());
    assert!(fake.participants("r").is_empty());
    assert!(fake.client_joins()[0].left);
    let left = fake
        .webhook_events()
        .into_iter()
        .find(|e| e.event == "participant_left")
        .expect("participant_left");
    assert_eq!(
        left.participant.map(|p| p.identity).as_deref(),
        Some("alice")
    );

    // A socket that just closes is removed too.
    let mut socket = connect(addr, &token("bob", join_grants("r")), &Default::default())
        .await
        .unwrap();
    join(&mut socket).await;
    socket.close(None).await.unwrap();
    for _ in 0..100 {
        if fake.participants("r").is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(fake.participants("r").is_empty());
}

// ---------------------------------------------------------------------------------------
// The WebRTC path

mod peer {
    use std::sync::Arc;
    use tokio::sync::{mpsc, watch};
    use webrtc::data_channel::{DataChannel, DataChannelEvent};
    use webrtc::peer_connection::{PeerConnectionEventHandler, RTCIceGatheringState};

    pub struct Events {
        pub gathered: watch::Sender<bool>,
    }

    #[async_trait::async_trait]
    impl PeerConnectionEventHandler for Events {
        async fn on_ice_gathering_state_change(&self, state: RTCIceGatheringState) {
            if state == RTCIceGatheringState::Complete {
                let _ = self.gathered.send(true);
            }
        }
    }

    /// Reports when `channel` opens.
    pub fn watch_open(channel: Arc<dyn DataChannel>, opened: mpsc::UnboundedSender<()>) {
        tokio::spawn(async move {
            while let Some(event) = channel.poll().await {
                if let DataChannelEvent::OnOpen = event {
                    let _ = opened.send(());
                }
            }
        });
    }
}

/// Joins as `caller` with `grants`, offering a `_reliable` data channel as
/// livekit-client's publisher does, completes ICE, DTLS and SCTP with the fake's answer,
/// sends DTMF `5` as `publishDtmf` does, and returns what the fake recorded within `wait`.
async fn dtmf_over_webrtc(
    grants: VideoGrants,
    wait: Duration,
) -> Vec<dial_fakes::livekit::ReceivedDtmf> {
    use webrtc::peer_connection::{
        PeerConnection, PeerConnectionBuilder, RTCConfigurationBuilder, RTCSessionDescription,
    };
    let (fake, addr) = start().await;
    let (gathered_tx, mut gathered) = tokio::sync::watch::channel(false);
    let (opened_tx, mut opened) = tokio::sync::mpsc::unbounded_channel();
    let pc = PeerConnectionBuilder::new()
        .with_configuration(RTCConfigurationBuilder::new().build())
        .with_handler(Arc::new(peer::Events {
            gathered: gathered_tx,
        }))
        .with_udp_addrs(vec!["127.0.0.1:0"])
        .build()
        .await
        .expect("peer connection");
    let reliable = pc
        .create_data_channel("_reliable", None)
        .await
        .expect("data channel");
    peer::watch_open(reliable.clone(), opened_tx);
    let offer = pc.create_offer(None).await.expect("offer");
    pc.set_local_description(offer).await.expect("local");
    tokio::time::timeout(Duration::from_secs(5), gathered.wait_for(|g| *g))
        .await
        .expect("gathered")
        .unwrap();
    let offer = pc.local_description().await.expect("offer sdp");
    let join_request = proto::JoinRequest {
        publisher_offer: Some(proto::SessionDescription {
            r#type: "offer".into(),
            sdp: offer.sdp,
            id: 1,
            ..Default::default()
        }),
        ..Default::default()
    };
    let mut socket = connect(addr, &token("caller", grants), &join_request)
        .await
        .unwrap();
    join(&mut socket).await;
    let answer = match next(&mut socket).await {
        Some(Reply::Answer(answer)) => answer,
        other => panic!("expected answer, got {other:?}"),
    };
    assert_eq!(answer.id, 1);
    assert!(answer.sdp.contains("127.0.0.1"), "{}", answer.sdp);
    pc.set_remote_description(RTCSessionDescription::answer(answer.sdp).unwrap())
        .await
        .expect("remote");
    tokio::time::timeout(Duration::from_secs(15), opened.recv())
        .await
        .expect("the data channel opens");
    // A later offer (livekit-client renegotiates after publishing) is answered with its id.
    let again = pc.create_offer(None).await.expect("second offer");
    pc.set_local_description(again.clone())
        .await
        .expect("local again");
    send(
        &mut socket,
        Request::Offer(proto::SessionDescription {
            r#type: "offer".into(),
            sdp: again.sdp,
            id: 2,
            ..Default::default()
        }),
    )
    .await;
    let answer = match next(&mut socket).await {
        Some(Reply::Answer(answer)) => answer,
        other => panic!("expected the second answer, got {other:?}"),
    };
    assert_eq!(answer.id, 2);
    pc.set_remote_description(RTCSessionDescription::answer(answer.sdp).unwrap())
        .await
        .expect("remote again");
    assert_eq!(
        fake.participants("r")[0].state,
        proto::participant_info::State::Active as i32,
        "connected"
    );
    let packet = proto::DataPacket {
        value: Some(proto::data_packet::Value::SipDtmf(proto::SipDtmf {
            code: 5,
            digit: "5".into(),
        })),
        sequence: 1,
        ..Default::default()
    };
    reliable
        .send(bytes::BytesMut::from(packet.encode_to_vec().as_slice()))
        .await
        .expect("send");
    let deadline = tokio::time::Instant::now() + wait;
    let mut received = fake.dtmf_received("r");
    while received.is_empty() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
        received = fake.dtmf_received("r");
    }
    drop(socket);
    let _ = pc.close().await;
    received
}

#[tokio::test]
async fn dtmf_on_the_reliable_data_channel_is_recorded() {
    let received = dtmf_over_webrtc(join_grants("r"), Duration::from_secs(5)).await;
    assert_eq!(received.len(), 1);
    assert_eq!(
        (
            received[0].identity.as_str(),
            received[0].code,
            received[0].digit.as_str()
        ),
        ("caller", 5, "5")
    );
}

#[tokio::test]
async fn dtmf_from_a_participant_without_can_publish_data_is_dropped() {
    let grants = VideoGrants {
        can_publish_data: Some(false),
        ..join_grants("r")
    };
    // The channel opens and the packet is sent; the fake drops it.
    assert!(dtmf_over_webrtc(grants, Duration::from_secs(1))
        .await
        .is_empty());
}
