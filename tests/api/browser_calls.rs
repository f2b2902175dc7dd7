//! Calling from the browser against the sandbox's LiveKit, whose `/rtc/v1` takes a
//! client's signalling connection as LiveKit does: the tokens Dial mints (grants per
//! action and role, for one room, minutes long), the SIP participant created only once the
//! browser has joined, hang-up removing both, a browser that cannot join leaving nothing
//! behind, listening in, take-over removing the agent, and the audit entries.
//!
//! The "browser" here is a WebSocket client speaking LiveKit's signalling protocol
//! (`SignalRequest`/`SignalResponse` protobufs, as livekit-client 2.23 sends them) without
//! a peer connection: the fake records the join on the signalling connection, as LiveKit
//! lists a participant once its join is accepted. The Playwright spec `browser_call.spec.ts`
//! drives the real livekit-client in Chromium, WebRTC included.

use crate::{assignment::*, helpers::*};
use base64::Engine;
use dial_app::{
    error::AppError,
    model::{BrowserJoin, CallDetail, CallRow, CallStatus},
};
use futures::StreamExt;
use livekit_api::access_token::{Claims, TokenVerifier};
use livekit_protocol as proto;
use prost::Message;
use std::{net::IpAddr, time::Duration};
use tokio_tungstenite::tungstenite;

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The sandbox's LiveKit credentials (dial_app::server::sandbox defaults).
fn verify(join: &BrowserJoin) -> Claims {
    TokenVerifier::with_api_key(
        dial_app::server::sandbox::DEFAULT_LIVEKIT_API_KEY,
        dial_app::server::sandbox::DEFAULT_LIVEKIT_API_SECRET,
    )
    .verify(&join.token)
    .expect("a token signed with the project's key")
}

/// Joins the room of `join` the way livekit-client 2.23 does (`/rtc/v1`, the token as
/// `access_token`, a `WrappedJoinRequest` as `join_request`), returning the open socket
/// once LiveKit's `JoinResponse` arrived.
async fn join_room(join: &BrowserJoin) -> Socket {
    let request = proto::JoinRequest {
        client_info: Some(proto::ClientInfo {
            sdk: proto::client_info::Sdk::Js as i32,
            version: "2.23.0".into(),
            protocol: 17,
            ..Default::default()
        }),
        ..Default::default()
    };
    let wrapped = proto::WrappedJoinRequest {
        compression: proto::wrapped_join_request::Compression::None as i32,
        join_request: request.encode_to_vec(),
    };
    let encoded = base64::engine::general_purpose::URL_SAFE.encode(wrapped.encode_to_vec());
    let mut url = url::Url::parse(&join.url).expect("LiveKit's URL");
    let scheme = if url.scheme() == "https" { "wss" } else { "ws" };
    url.set_scheme(scheme).expect("ws scheme");
    url.set_path("/rtc/v1");
    url.query_pairs_mut()
        .append_pair("access_token", &join.token)
        .append_pair("join_request", &encoded);
    let (mut socket, _) = tokio_tungstenite::connect_async(url.as_str())
        .await
        .expect("LiveKit takes the browser's connection");
    let first = tokio::time::timeout(Duration::from_secs(5), socket.next())
        .await
        .expect("a first message within 5 s")
        .expect("a message")
        .expect("not an error");
    let tungstenite::Message::Binary(bytes) = first else {
        panic!("a binary SignalResponse, not {first:?}");
    };
    let response = proto::SignalResponse::decode(bytes.as_ref()).expect("a SignalResponse");
    assert!(
        matches!(
            response.message,
            Some(proto::signal_response::Message::Join(_))
        ),
        "LiveKit answers a join with its JoinResponse first"
    );
    socket
}

/// Whether LiveKit closes the socket (after its `leave`) within a few seconds.
async fn closed_by_livekit(socket: &mut Socket) -> bool {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        match tokio::time::timeout_at(deadline, socket.next()).await {
            Err(_) => return false,
            Ok(None) | Ok(Some(Err(_))) | Ok(Some(Ok(tungstenite::Message::Close(_)))) => {
                return true
            }
            Ok(Some(Ok(_))) => continue,
        }
    }
}

async fn start(
    app: &TestApp,
    client: &reqwest::Client,
    number_id: &str,
    to: &str,
) -> Result<BrowserJoin, AppError> {
    app.call(
        client,
        "calls/browser/start",
        &[("number_id", number_id), ("to", to)],
    )
    .await
}

async fn detail(app: &TestApp, id: &str) -> CallDetail {
    app.call(&app.client, "calls/get", &[("id", id)])
        .await
        .expect("the call")
}

async fn wait_until(app: &TestApp, id: &str, done: impl Fn(&CallRow) -> bool) -> CallRow {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let call = detail(app, id).await.call;
        if done(&call) {
            return call;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{id} stayed {:?} ({:?})",
            call.status,
            call.outcome
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A sandbox app with a number of the admin's on Twilio; returns the number's id.
async fn ready(e164: &str) -> (TestApp, String) {
    let app = provisioning_app().await;
    let number = twilio_number(&app, e164).await;
    lift_call_rate_limits(&app);
    (app, number.id)
}

fn is_sip(p: &proto::ParticipantInfo) -> bool {
    p.kind == proto::participant_info::Kind::Sip as i32
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_from_the_browser_dials_only_after_the_browser_joined_and_hang_up_ends_both() {
    let (app, number) = ready("+14155550134").await;
    let (_, livekit) = fakes(&app);

    let join = start(&app, &app.client, &number, "+14155550100")
        .await
        .expect("the call starts");
    assert_eq!(join.call.status, CallStatus::Dialing);
    assert_eq!(join.call.placed_by.as_deref(), Some("admin"));
    assert!(join.room.starts_with("dial-browser-"), "{}", join.room);
    assert_eq!(join.identity, "dial:admin");
    assert!(join.can_publish);
    // The token: this room alone, this person, speaking (microphone and DTMF), minutes.
    let claims = verify(&join);
    assert_eq!(claims.sub, "dial:admin");
    assert_eq!(claims.name, "admin");
    assert!(claims.video.room_join);
    assert_eq!(claims.video.room, join.room);
    assert_eq!(claims.video.can_publish, Some(true));
    assert_eq!(
        claims.video.can_publish_sources,
        vec!["microphone".to_string()]
    );
    assert_eq!(claims.video.can_publish_data, Some(true));
    assert_eq!(claims.video.can_subscribe, Some(true));
    assert!(!claims.video.room_admin && !claims.video.room_create && !claims.video.room_list);
    assert!(!claims.sip.admin && !claims.sip.call);
    let lifetime = i64::try_from(claims.exp).unwrap() - unix_now();
    assert!(
        (540..=600).contains(&lifetime),
        "token lifetime {lifetime} s"
    );
    // Nothing is dialled yet, and Dial refuses to dial before the browser is in the room.
    assert!(livekit.participants(&join.room).is_empty());
    let early = app
        .call::<CallRow>(
            &app.client,
            "calls/browser/joined",
            &[("id", &join.call.id)],
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&early, AppError::Conflict { message } if message.contains("has not joined the call's room yet")),
        "{early:?}"
    );
    assert!(livekit.participants(&join.room).iter().all(|p| !is_sip(p)));

    // The browser joins: now the phone is dialled into the room, without an agent.
    let mut socket = join_room(&join).await;
    let listed = livekit.participants(&join.room);
    assert!(
        listed.iter().any(|p| p.identity == "dial:admin"),
        "{listed:?}"
    );
    let dialled = app
        .call::<CallRow>(
            &app.client,
            "calls/browser/joined",
            &[("id", &join.call.id)],
        )
        .await
        .expect("dialled once the browser joined");
    assert_eq!(dialled.id, join.call.id);
    let answered = wait_until(&app, &join.call.id, |c| c.status == CallStatus::Answered).await;
    assert_eq!(answered.to, "+14155550100");
    let in_room = livekit.participants(&join.room);
    assert!(
        in_room
            .iter()
            .any(|p| is_sip(p) && p.identity == "sip_+14155550100"),
        "{in_room:?}"
    );
    assert!(livekit.agent_dispatches(&join.room).is_empty(), "no agent");
    // Asking again dials nothing more.
    let again = app
        .call::<CallRow>(
            &app.client,
            "calls/browser/joined",
            &[("id", &join.call.id)],
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&again, AppError::Conflict { message } if message.contains("already being dialled")),
        "{again:?}"
    );

    // Hang up: the room goes, with the phone and the browser in it.
    let ended: CallRow = app
        .call(&app.client, "calls/hangup", &[("id", &join.call.id)])
        .await
        .expect("hung up");
    assert_eq!(ended.status, CallStatus::Ended);
    assert_eq!(ended.end_reason.as_deref(), Some("hung up by admin"));
    assert!(livekit.participants(&join.room).is_empty());
    assert!(!livekit.rooms().contains(&join.room));
    assert!(
        closed_by_livekit(&mut socket).await,
        "LiveKit disconnects the browser"
    );
    let actions = app.audit_actions().await;
    assert!(
        actions.contains(&"call.place_browser".to_string()),
        "{actions:?}"
    );
    assert!(actions.contains(&"call.hangup".to_string()), "{actions:?}");
    let kinds: Vec<String> = detail(&app, &join.call.id)
        .await
        .timeline
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert!(kinds.contains(&"browser.joined".to_string()), "{kinds:?}");
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_that_cannot_join_leaves_no_room_and_no_call_behind() {
    let (app, number) = ready("+14155550135").await;
    let (_, livekit) = fakes(&app);
    let join = start(&app, &app.client, &number, "+14155550100")
        .await
        .unwrap();
    assert!(livekit.rooms().contains(&join.room));
    let bad: AppError = app
        .call::<CallRow>(
            &app.client,
            "calls/browser/abandon",
            &[("id", &join.call.id), ("reason", "bored")],
        )
        .await
        .unwrap_err();
    assert!(bad.field("reason").is_some(), "{bad:?}");
    let ended: CallRow = app
        .call(
            &app.client,
            "calls/browser/abandon",
            &[("id", &join.call.id), ("reason", "microphone_denied")],
        )
        .await
        .expect("abandoned");
    assert_eq!(ended.status, CallStatus::Ended);
    assert_eq!(
        ended.ended_by().as_deref(),
        Some("Not placed: the browser was not allowed to use the microphone")
    );
    assert!(!livekit.rooms().contains(&join.room), "the room is gone");
    assert!(
        livekit.calls().iter().all(|c| c.room != join.room),
        "nothing dialled"
    );
    // Too late to join now.
    let late = app
        .call::<CallRow>(
            &app.client,
            "calls/browser/joined",
            &[("id", &join.call.id)],
        )
        .await
        .unwrap_err();
    assert!(matches!(late, AppError::Conflict { .. }), "{late:?}");

    // Bad input changes nothing: no call is recorded for it.
    let before = app.audit_actions().await.len();
    let refused = start(&app, &app.client, &number, "not a number")
        .await
        .unwrap_err();
    assert!(refused.field("to").is_some(), "{refused:?}");
    let refused = start(&app, &app.client, "no-such-number", "+14155550100")
        .await
        .unwrap_err();
    assert!(refused.field("number_id").is_some(), "{refused:?}");
    assert_eq!(app.audit_actions().await.len(), before);
}

/// An inbound call to an assigned number, answered by its agent; Dial's call id and the room.
async fn answered_inbound(app: &TestApp, number_e164: &str) -> (String, String) {
    let (_, livekit) = fakes(app);
    let routed = livekit
        .simulate_inbound(
            number_e164,
            "+15105550123",
            IpAddr::from([54, 172, 60, 1]),
            None,
            Some("CA77"),
        )
        .expect("routed");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let found: Option<(String, String)> =
            sqlx::query_as("SELECT id, status FROM call_sessions WHERE sip_call_id = $1")
                .bind(&routed.call_id)
                .fetch_optional(&app.state.db.pool)
                .await
                .unwrap();
        if let Some((id, status)) = found {
            if status == "answered" {
                return (id, routed.room);
            }
        }
        assert!(std::time::Instant::now() < deadline, "not answered");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listening_in_and_take_over_grant_the_least_and_are_audited() {
    let app = provisioning_app().await;
    let (_, livekit) = fakes(&app);
    let admin = user_id(&app, ADMIN).await;
    let number = twilio_number(&app, "+14155550136").await;
    let assistant = insert_assistant(&app, &admin, "Desk", "desk-agent", "desk-").await;
    assign(&app, &app.client, &number.id, &assistant)
        .await
        .unwrap();
    let (call, room) = answered_inbound(&app, number.e164.as_str()).await;
    let agent = |p: &proto::ParticipantInfo| p.kind == proto::participant_info::Kind::Agent as i32;
    assert!(
        livekit.participants(&room).iter().any(agent),
        "the agent is in"
    );

    // Listening: subscribe only.
    let listen: BrowserJoin = app
        .call(
            &app.client,
            "calls/browser/listen",
            &[("id", &call), ("mode", "listen")],
        )
        .await
        .expect("a listening token");
    assert!(!listen.can_publish);
    let claims = verify(&listen);
    assert_eq!(claims.video.room, room);
    assert_eq!(claims.video.can_subscribe, Some(true));
    assert_eq!(claims.video.can_publish, Some(false));
    assert_eq!(claims.video.can_publish_data, Some(false));
    assert!(claims.video.can_publish_sources.is_empty());
    let mut listening = join_room(&listen).await;
    // A listener cannot take the call over.
    let refused = app
        .call::<CallRow>(&app.client, "calls/browser/take-over", &[("id", &call)])
        .await
        .unwrap_err();
    assert!(
        matches!(&refused, AppError::Conflict { message } if message.contains("Join the call speaking first")),
        "{refused:?}"
    );
    assert!(livekit.participants(&room).iter().any(agent));
    listening.close(None).await.ok();

    // Speaking, then taking over: the agent leaves; the caller stays.
    let speak: BrowserJoin = app
        .call(
            &app.client,
            "calls/browser/listen",
            &[("id", &call), ("mode", "speak")],
        )
        .await
        .expect("a speaking token");
    assert_eq!(verify(&speak).video.can_publish, Some(true));
    let _speaking = join_room(&speak).await;
    let taken: CallRow = app
        .call(&app.client, "calls/browser/take-over", &[("id", &call)])
        .await
        .expect("taken over");
    assert!(taken.is_live(), "the call goes on, with the person");
    let left = livekit.participants(&room);
    assert!(!left.iter().any(agent), "{left:?}");
    assert!(left.iter().any(is_sip) && left.iter().any(|p| p.identity == "dial:admin"));
    let actions = app.audit_actions().await;
    for action in ["call.listen", "call.join", "call.take_over"] {
        assert!(
            actions.contains(&action.to_string()),
            "{action}: {actions:?}"
        );
    }
    let kinds: Vec<String> = detail(&app, &call)
        .await
        .timeline
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(
        kinds.iter().filter(|k| *k == "browser.listen").count(),
        2,
        "{kinds:?}"
    );
    assert!(kinds.contains(&"browser.take_over".to_string()));

    // A mode that is neither is refused.
    let bad = app
        .call::<BrowserJoin>(
            &app.client,
            "calls/browser/listen",
            &[("id", &call), ("mode", "watch")],
        )
        .await
        .unwrap_err();
    assert!(bad.field("mode").is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_owners_call_is_not_found_for_every_browser_action() {
    let app = provisioning_app().await;
    let admin = user_id(&app, ADMIN).await;
    let number = twilio_number(&app, "+14155550137").await;
    let assistant = insert_assistant(&app, &admin, "Desk", "desk-agent", "desk-").await;
    assign(&app, &app.client, &number.id, &assistant)
        .await
        .unwrap();
    let (call, _) = answered_inbound(&app, number.e164.as_str()).await;
    let placed = start(&app, &app.client, &number.id, "+14155550100")
        .await
        .unwrap();
    let (owner, _) = app.owner_client().await;
    for mode in ["listen", "speak"] {
        let e = app
            .call::<BrowserJoin>(
                &owner,
                "calls/browser/listen",
                &[("id", &call), ("mode", mode)],
            )
            .await
            .unwrap_err();
        assert!(matches!(e, AppError::NotFound { .. }), "{mode}: {e:?}");
    }
    let e = app
        .call::<CallRow>(&owner, "calls/browser/take-over", &[("id", &call)])
        .await
        .unwrap_err();
    assert!(matches!(e, AppError::NotFound { .. }), "{e:?}");
    for (endpoint, extra) in [
        ("calls/browser/joined", None),
        ("calls/browser/abandon", Some(("reason", "left"))),
    ] {
        let mut form = vec![("id", placed.call.id.as_str())];
        form.extend(extra);
        let e = app
            .call::<CallRow>(&owner, endpoint, &form)
            .await
            .unwrap_err();
        assert!(matches!(e, AppError::NotFound { .. }), "{endpoint}: {e:?}");
    }
    // An owner cannot call from a number that is not theirs either.
    let e = start(&app, &owner, &number.id, "+14155550100")
        .await
        .unwrap_err();
    assert!(e.field("number_id").is_some(), "{e:?}");
    // And the placed call is untouched.
    assert_eq!(
        detail(&app, &placed.call.id).await.call.status,
        CallStatus::Dialing
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_json_api_starts_a_browser_call_with_an_api_key() {
    let (app, number) = ready("+14155550138").await;
    let key: dial_app::model::CreatedKey = app
        .call(&app.client, "api-keys/create", &[("name", "Softphone")])
        .await
        .expect("key");
    let key = key.secret;
    let response = reqwest::Client::new()
        .post(app.url("/api/v1/calls/browser"))
        .bearer_auth(&key)
        .json(&serde_json::json!({ "number_id": number, "to": "+14155550100" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let join: BrowserJoin = response.json().await.unwrap();
    assert_eq!(verify(&join).video.room, join.room);
    let response = reqwest::Client::new()
        .post(app.url(&format!("/api/v1/calls/{}/browser/joined", join.call.id)))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 409, "not joined yet");
    let response = reqwest::Client::new()
        .post(app.url(&format!("/api/v1/calls/{}/browser/abandon", join.call.id)))
        .bearer_auth(&key)
        .json(&serde_json::json!({ "reason": "livekit_unreachable" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let row: CallRow = response.json().await.unwrap();
    assert_eq!(row.status, CallStatus::Ended);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_number_on_another_sip_carrier_calls_from_the_browser_through_its_own_trunk() {
    let app = provisioning_app().await;
    let (_, livekit) = fakes(&app);
    lift_call_rate_limits(&app);
    let carrier: String = app
        .call(
            &app.client,
            "carriers/create",
            &[
                ("name", "SignalWire"),
                ("kind", "signalwire"),
                ("sip_address", "dial.sip.signalwire.com"),
                ("transport", "tls"),
                ("auth_username", "dial"),
                ("auth_password", "carrier-secret-42"),
            ],
        )
        .await
        .expect("carrier");
    let number: String = app
        .call(
            &app.client,
            "carriers/add-number",
            &[
                ("carrier_id", &carrier),
                ("e164", "+16465550100"),
                ("country", "US"),
            ],
        )
        .await
        .expect("number");
    let join = start(&app, &app.client, &number, "+14155550100")
        .await
        .expect("the call starts");
    let _browser = join_room(&join).await;
    app.call::<CallRow>(
        &app.client,
        "calls/browser/joined",
        &[("id", &join.call.id)],
    )
    .await
    .expect("dialled");
    wait_until(&app, &join.call.id, |c| c.status == CallStatus::Answered).await;
    let call = livekit
        .calls()
        .into_iter()
        .find(|c| c.room == join.room)
        .expect("the phone was dialled into the browser's room");
    assert_eq!(
        call.sip_number.as_deref(),
        Some("+16465550100"),
        "its caller ID"
    );
    let trunk = livekit
        .outbound_trunks()
        .into_iter()
        .find(|t| t.sip_trunk_id == call.trunk_id)
        .expect("the number's outbound trunk");
    assert_eq!(trunk.address, "dial.sip.signalwire.com");
    assert_eq!(trunk.transport, proto::SipTransport::Tls as i32);
    assert_eq!(trunk.numbers, vec!["+16465550100".to_string()]);
}
